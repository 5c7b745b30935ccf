/*
 * stats.c — medians and spreads (see stats.h).
 */
#include "util/stats.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stats_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double stats_half_iqr(const double *v, int n)
{
    return 0.5 * (v[(3 * (n - 1)) / 4] - v[(n - 1) / 4]);
}
