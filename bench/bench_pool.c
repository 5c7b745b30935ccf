/*
 * bench_pool.c — round-trip latency of an empty pool_run.
 *
 * Not part of the CMake build; build by hand, e.g.
 *   gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -pthread \
 *       bench/bench_pool.c src/util/pool.c src/util/err.c -o /tmp/bench_pool
 *   /tmp/bench_pool [n_threads ...]      (default: 1 2)
 * For each thread count it times back-to-back runs (workers stay spinning) and
 * runs separated by a 1 ms idle gap (workers have gone to sleep, so each run
 * pays a wake-up), and prints the mean and median per run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/pool.h"

static void empty_task(void *ctx, int ith, int nth)
{
    (void)ctx;
    (void)ith;
    (void)nth;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times `runs` single runs separated by gap_us of sleep; prints mean and median. */
static void bench(pool_t *p, int runs, long gap_us, double *samples)
{
    for (int r = 0; r < runs; r++) {
        if (gap_us > 0) {
            struct timespec ts = { 0, gap_us * 1000L };
            nanosleep(&ts, NULL);
        }
        double t0 = now_us();
        pool_run(p, empty_task, NULL);
        samples[r] = now_us() - t0;
    }
    double sum = 0.0;
    for (int r = 0; r < runs; r++)
        sum += samples[r];
    qsort(samples, (size_t)runs, sizeof *samples, cmp_double);
    printf("  %-22s runs %7d  mean %8.3f us  median %8.3f us  p99 %8.3f us\n",
           gap_us > 0 ? "after 1 ms idle:" : "back to back:", runs, sum / runs,
           samples[runs / 2], samples[(int)(runs * 0.99)]);
}

int main(int argc, char **argv)
{
    int default_counts[] = { 1, 2 };
    int n_counts = argc > 1 ? argc - 1 : 2;
    enum { HOT_RUNS = 200000, COLD_RUNS = 500 };
    double *samples = malloc(HOT_RUNS * sizeof *samples);
    if (!samples)
        return 1;
    for (int k = 0; k < n_counts; k++) {
        int n = argc > 1 ? atoi(argv[k + 1]) : default_counts[k];
        pool_t *p = NULL;
        err_t err;
        if (pool_create(n, &p, &err) != 0) {
            fprintf(stderr, "pool_create(%d): %s\n", n, err.msg);
            free(samples);
            return 1;
        }
        printf("n_threads = %d\n", n);
        for (int w = 0; w < 1000; w++) /* warm up: threads running and spinning */
            pool_run(p, empty_task, NULL);
        bench(p, HOT_RUNS, 0, samples);
        bench(p, COLD_RUNS, 1000, samples);
        pool_destroy(&p);
    }
    free(samples);
    return 0;
}
