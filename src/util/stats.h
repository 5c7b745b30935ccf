/*
 * stats.h — order statistics of measured samples (medians and spreads of
 * timings).  Sorts the caller's array in place; allocates nothing.
 */
#ifndef LL_UTIL_STATS_H
#define LL_UTIL_STATS_H

/* Sorts v[0..n) ascending and returns its median (n >= 1). */
double stats_median(double *v, int n);
/* Half the interquartile range of v, which must already be sorted (n >= 1). */
double stats_half_iqr(const double *v, int n);

#endif
