/*
 * test_pool.c — the thread pool of util/pool.h.
 *
 * Checks that every ith in 0..n-1 runs exactly once per pool_run, with the
 * right nth, over many runs and for several thread counts (including more
 * threads than cores); that the sleep paths (idle workers, slow workers) still
 * deliver every run; that a sum split into fixed blocks and reduced in block
 * order is bit-identical for every thread count; that pool_split tiles [0, n)
 * exactly; and the argument checks of pool_create / pool_destroy.  Run it under
 * ThreadSanitizer too: the per-ith slots are plain ints, so a missing
 * happens-before edge in the pool shows up as a race report.
 */
#include "util/pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MAX_THREADS 8

typedef struct {
    int hits[MAX_THREADS]; /* runs seen by each ith; written only by that ith */
    int bad_nth;           /* set by ith 0 only, if nth was wrong */
    int want_nth;
    int slow_ith;          /* this ith sleeps a little, to exercise the caller's sleep */
    long slow_ns;
} count_ctx_t;

static void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    nanosleep(&ts, NULL);
}

static void count_task(void *arg, int ith, int nth)
{
    count_ctx_t *c = arg;
    if (ith < 0 || ith >= MAX_THREADS)
        return; /* would show up as missing hits */
    c->hits[ith]++;
    if (ith == 0 && nth != c->want_nth)
        c->bad_nth = 1;
    if (ith == c->slow_ith && c->slow_ns > 0)
        sleep_ns(c->slow_ns);
}

/* runs pool_run `runs` times; after each run every ith must have run once more. */
static void check_each_once(int n, int runs, long gap_ns, int slow_ith, long slow_ns)
{
    pool_t *p = NULL;
    err_t err;
    err_clear(&err);
    int rc = pool_create(n, &p, &err);
    CHECKF(rc == 0 && p != NULL, "pool_create(%d): %s", n, err.msg);
    if (rc != 0)
        return;
    CHECK(pool_threads(p) == n);

    count_ctx_t c;
    memset(&c, 0, sizeof c);
    c.want_nth = n;
    c.slow_ith = slow_ith;
    c.slow_ns = slow_ns;
    int first_bad_run = -1;
    for (int r = 0; r < runs; r++) {
        pool_run(p, count_task, &c);
        for (int i = 0; i < MAX_THREADS; i++) {
            int want = i < n ? r + 1 : 0;
            if (c.hits[i] != want && first_bad_run < 0)
                first_bad_run = r;
        }
        if (gap_ns > 0)
            sleep_ns(gap_ns);
    }
    CHECKF(first_bad_run < 0, "n=%d: wrong hit counts after run %d", n, first_bad_run);
    CHECKF(!c.bad_nth, "n=%d: fn saw the wrong nth", n);
    pool_destroy(&p);
    CHECK(p == NULL);
}

/* ---- deterministic parallel sum ---- */

#define SUM_N 1000003          /* odd, so the blocks are uneven */
#define SUM_BLOCKS 64          /* fixed: does not depend on the thread count */

typedef struct {
    const float *x;            /* [SUM_N] */
    double block_sum[SUM_BLOCKS];
} sum_ctx_t;

/* Blocks are a fixed decomposition of the data; threads take blocks in
 * contiguous runs.  Each block is summed left to right by whichever thread
 * owns it, so every block sum, and the in-order reduction, is the same for
 * any thread count. */
static void sum_task(void *arg, int ith, int nth)
{
    sum_ctx_t *s = arg;
    size_t b0, b1;
    pool_split(SUM_BLOCKS, ith, nth, &b0, &b1);
    for (size_t b = b0; b < b1; b++) {
        size_t i0, i1;
        pool_split(SUM_N, (int)b, SUM_BLOCKS, &i0, &i1);
        double acc = 0.0;
        for (size_t i = i0; i < i1; i++)
            acc += s->x[i] * (double)s->x[i] - 0.25;
        s->block_sum[b] = acc;
    }
}

static void check_parallel_sum(void)
{
    float *x = malloc(SUM_N * sizeof *x);
    CHECK(x != NULL);
    if (!x)
        return;
    uint64_t st = 12345;
    for (size_t i = 0; i < SUM_N; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(st >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }

    double ref = 0.0;
    int have_ref = 0;
    const int counts[] = { 1, 2, 3, 4, 5, 8 };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        pool_t *p = NULL;
        if (pool_create(counts[k], &p, NULL) != 0) {
            CHECKF(0, "pool_create(%d) failed", counts[k]);
            continue;
        }
        sum_ctx_t s;
        memset(&s, 0, sizeof s);
        s.x = x;
        double total = 0.0;
        for (int rep = 0; rep < 3; rep++) {
            pool_run(p, sum_task, &s);
            double t = 0.0;
            for (int b = 0; b < SUM_BLOCKS; b++)
                t += s.block_sum[b];
            if (rep > 0)
                CHECKF(memcmp(&t, &total, sizeof t) == 0, "n=%d: sum changed between runs", counts[k]);
            total = t;
        }
        if (!have_ref) {
            ref = total;
            have_ref = 1;
        }
        CHECKF(memcmp(&total, &ref, sizeof total) == 0,
               "n=%d: sum %.17g differs from single-thread %.17g", counts[k], total, ref);
        pool_destroy(&p);
    }
    free(x);
}

/* ---- pool_split ---- */

static int split_ok(size_t n, int nth)
{
    size_t expect_begin = 0;
    size_t small = n / (size_t)nth, extra = n % (size_t)nth;
    for (int i = 0; i < nth; i++) {
        size_t b = 1, e = 0;
        pool_split(n, i, nth, &b, &e);
        size_t want_len = small + ((size_t)i < extra ? 1 : 0);
        if (b != expect_begin || e < b || e - b != want_len)
            return 0;
        expect_begin = e;
    }
    return expect_begin == n;
}

static void check_split(void)
{
    int bad = 0;
    for (size_t n = 0; n <= 300 && !bad; n++)
        for (int nth = 1; nth <= 40; nth++)
            if (!split_ok(n, nth)) {
                CHECKF(0, "pool_split(n=%zu, nth=%d) does not tile [0,n)", n, nth);
                bad = 1;
                break;
            }
    CHECK(!bad);

    const size_t big[] = { 1000003, (size_t)1 << 33, SIZE_MAX, SIZE_MAX - 7 };
    const int nths[] = { 1, 2, 3, 7, 64, 1000 };
    for (size_t a = 0; a < sizeof big / sizeof big[0]; a++)
        for (size_t b = 0; b < sizeof nths / sizeof nths[0]; b++)
            CHECKF(split_ok(big[a], nths[b]), "pool_split(n=%zu, nth=%d)", big[a], nths[b]);

    /* invalid (ith, nth): an empty range, never out of [0, n] */
    size_t b = 1, e = 2;
    pool_split(10, 3, 3, &b, &e);
    CHECK(b == e && e <= 10);
    pool_split(10, -1, 3, &b, &e);
    CHECK(b == e && e <= 10);
    pool_split(10, 0, 0, &b, &e);
    CHECK(b == e && e <= 10);
}

/* ---- arguments ---- */

static void check_args(void)
{
    err_t err;
    pool_t *p = (pool_t *)&err; /* must be reset to NULL on failure */
    err_clear(&err);
    CHECK(pool_create(0, &p, &err) == ERR_INVAL);
    CHECK(p == NULL);
    CHECK(err.code == ERR_INVAL && err.msg[0] != '\0');
    CHECK(pool_create(-3, &p, NULL) == ERR_INVAL);
    CHECK(pool_create(2, NULL, &err) == ERR_INVAL);

    pool_destroy(NULL);
    p = NULL;
    pool_destroy(&p);
    CHECK(p == NULL);

    /* n = 1: no workers, fn runs in the caller with (0, 1). */
    CHECK(pool_create(1, &p, NULL) == 0);
    count_ctx_t c;
    memset(&c, 0, sizeof c);
    c.want_nth = 1;
    c.slow_ith = -1;
    pool_run(p, count_task, &c);
    CHECK(c.hits[0] == 1 && c.hits[1] == 0 && !c.bad_nth);
    pool_run(p, NULL, &c); /* ignored */
    CHECK(c.hits[0] == 1);
    pool_destroy(&p);

    /* A NULL pool runs serially. */
    CHECK(pool_threads(NULL) == 1);
    pool_run(NULL, count_task, &c);
    CHECK(c.hits[0] == 2 && !c.bad_nth);

    /* Create and destroy without ever running. */
    CHECK(pool_create(4, &p, NULL) == 0);
    pool_destroy(&p);
    CHECK(p == NULL);
}

int main(void)
{
    const int counts[] = { 1, 2, 3, 4, 8 };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        check_each_once(counts[k], 100000, 0, -1, 0);
    /* Idle gaps longer than the spin: workers go to sleep between runs. */
    check_each_once(2, 200, 300000, -1, 0);
    check_each_once(4, 200, 300000, -1, 0);
    /* A slow worker: the caller goes to sleep waiting for it. */
    check_each_once(3, 100, 0, 2, 500000);
    check_each_once(2, 100, 200000, 1, 400000);

    check_parallel_sum();
    check_split();
    check_args();
    return check_finish("test_pool");
}
