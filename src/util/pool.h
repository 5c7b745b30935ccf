/*
 * pool.h — a persistent thread pool for the forward pass.
 *
 * pool_run(p, fn, ctx) calls fn(ctx, i, n) once for every i in 0..n-1, where n
 * is the pool's thread count; the calling thread runs i = 0 and the pool's
 * n-1 workers run the rest; it returns when all have finished.  Workers spin
 * briefly on a shared generation counter before sleeping on a condition
 * variable, because a decode step issues dozens of short runs per token and a
 * sleep/wake per run would cost more than the work.  Which i does which part of
 * the work is up to fn, so results never depend on scheduling.  pool_run is
 * called from one thread at a time (the executor's); it allocates nothing.
 */
#ifndef LL_UTIL_POOL_H
#define LL_UTIL_POOL_H

#include "util/err.h"

typedef struct pool pool_t;

typedef void (*pool_task_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (the caller counts as one). */
int pool_create(int n_threads, pool_t **out, err_t *err);
void pool_destroy(pool_t **p);

int pool_threads(const pool_t *p);
void pool_run(pool_t *p, pool_task_fn fn, void *ctx);

/* Splits [0, n) into nth nearly equal contiguous parts; part ith is [*begin, *end). */
void pool_split(size_t n, int ith, int nth, size_t *begin, size_t *end);

#endif
