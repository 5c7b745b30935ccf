/*
 * pool.c — the persistent thread pool of pool.h.
 *
 * Owns n_threads - 1 worker pthreads, created once in pool_create and joined in
 * pool_destroy, plus the one mutex and two condition variables they sleep on.
 * It knows nothing of the work: fn(ctx, ith, nth) decides what part ith does.
 *
 * Protocol for one pool_run (one caller thread at a time):
 *   1. the caller stores `pending` = number of workers, then fn and ctx, then
 *      bumps the generation counter `gen` (seq_cst, hence a release);
 *   2. each worker, having seen `gen` change (an acquire), reads fn/ctx, runs its
 *      ith and decrements `pending` (a release);
 *   3. the caller runs ith = 0 itself and waits until `pending` is 0 (acquire);
 *      only then may fn/ctx be overwritten by the next run.
 * So fn and ctx are plain fields: every write happens-before every read through
 * the gen/pending atomics, and a worker cannot miss a generation because the
 * next bump waits for every worker to report the current one.
 *
 * Waiting, on both sides, is "spin, then sleep".  A worker spins on `gen` for
 * about SPIN_NS (pause instructions first, then sched_yield so an oversubscribed
 * or busy machine still makes progress), then registers in `n_sleeping` and
 * sleeps on `wake`; the caller broadcasts `wake` only when `n_sleeping` is
 * non-zero.  The caller likewise spins on `pending`, then sets `caller_sleeping`
 * and sleeps on `done`, which the last worker signals.  Each pair (store my flag,
 * then load yours) uses seq_cst on both sides, so at least one side sees the
 * other: either the sleeper sees the new value and does not sleep, or the waker
 * sees the sleeper and signals under the mutex the sleeper holds until it waits.
 * Hot fields sit on their own cache lines so the spinners do not fight over them.
 */
#include "util/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a waiting thread spins before it sleeps.  A decode step issues
 * dozens of runs a few µs to a few hundred µs apart; a sleep/wake costs tens of
 * µs, so spinning through the usual gaps is cheaper.  Beyond this a thread is
 * probably idle (the coordinator is waiting on the network) and should sleep. */
#define SPIN_NS 100000L
/* Of that, the first part spins on pause alone; the rest also yields the CPU.
 * A pool with more threads than online CPUs yields from the start: there a
 * spinning thread holds the core the thread it waits for needs. */
#define SPIN_PAUSE_NS 5000L
/* The clock is read once per this many pauses, to keep the spin loop tight. */
#define SPIN_CLOCK_EVERY 64
/* An upper bound on n_threads; far beyond any machine we target, it only keeps
 * a wild argument from asking for a huge allocation. */
#define POOL_MAX_THREADS 4096
#define CACHE_LINE 64

struct pool;

typedef struct {
    struct pool *pool;
    int ith;           /* 1..n_threads-1; the caller is 0 */
    pthread_t thread;
} worker_t;

struct pool {
    /* Written by the caller each run, read by workers after they see gen change. */
    alignas(CACHE_LINE) pool_task_fn fn;
    void *ctx;
    int n_threads;     /* including the caller */
    int n_workers;     /* workers actually started (n_threads - 1 once created) */
    long pause_ns;     /* SPIN_PAUSE_NS, or 0 when oversubscribed */
    worker_t *workers; /* [n_threads - 1] */

    alignas(CACHE_LINE) atomic_uint gen;         /* bumped once per run */
    alignas(CACHE_LINE) atomic_int pending;      /* workers yet to finish this run */
    alignas(CACHE_LINE) atomic_int n_sleeping;   /* workers asleep (or about to be) on wake */
    atomic_int caller_sleeping;                  /* caller asleep (or about to be) on done */
    atomic_bool stop;                            /* set once, by pool_destroy */

    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new generation or stop */
    pthread_cond_t done; /* caller: pending reached 0 */
};

/* One pause in a spin loop: lets the sibling hyper-thread run and saves power. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits, without sleeping, until ready(p, arg) holds, for at most SPIN_NS.
 * Returns 1 if it held, 0 on timeout.  The first p->pause_ns spin on a pause
 * instruction; after that each round also yields the CPU, which costs little
 * when the core is otherwise idle and lets the thread we are waiting for run
 * when there are more threads than cores. */
static int spin_until(int (*ready)(struct pool *, unsigned), struct pool *p, unsigned arg)
{
    long long start = 0;
    int yielding = p->pause_ns == 0;
    for (unsigned i = 1;; i++) {
        if (ready(p, arg))
            return 1;
        if (yielding)
            sched_yield();
        else
            cpu_relax();
        if (i % SPIN_CLOCK_EVERY == 0) {
            long long t = now_ns();
            if (start == 0)
                start = t;
            else if (t - start >= SPIN_NS)
                return 0;
            else if (t - start >= p->pause_ns)
                yielding = 1;
        }
    }
}

/* Worker's wait condition: a generation other than `seen`, or stop. */
static int have_work(struct pool *p, unsigned seen)
{
    return atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
           atomic_load_explicit(&p->stop, memory_order_acquire);
}

/* Caller's wait condition: every worker has finished the current run. */
static int all_done(struct pool *p, unsigned unused)
{
    (void)unused;
    return atomic_load_explicit(&p->pending, memory_order_acquire) == 0;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    struct pool *p = w->pool;
    unsigned seen = 0; /* gen starts at 0 and is only bumped after all workers exist */

    for (;;) {
        if (!spin_until(have_work, p, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1); /* seq_cst: pairs with the bump in pool_run */
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);

        p->fn(p->ctx, w->ith, p->n_threads);

        /* seq_cst: pairs with the caller's store to caller_sleeping. */
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* Stops and joins the workers started so far; frees everything.  Used by
 * pool_destroy and by pool_create's error path. */
static void pool_free(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int pool_create(int n_threads, pool_t **out, err_t *err)
{
    if (!out)
        return err_set(err, ERR_INVAL, "pool_create: out is NULL");
    *out = NULL;
    if (n_threads < 1 || n_threads > POOL_MAX_THREADS)
        return err_set(err, ERR_INVAL, "pool_create: n_threads %d outside [1, %d]",
                       n_threads, POOL_MAX_THREADS);

    /* aligned_alloc wants a size that is a multiple of the alignment; sizeof a
     * struct with 64-aligned members already is one. */
    struct pool *p = aligned_alloc(CACHE_LINE, sizeof *p);
    if (!p)
        return err_set(err, ERR_NOMEM, "pool_create: cannot allocate the pool (%zu bytes)",
                       sizeof *p);
    memset(p, 0, sizeof *p);
    p->n_threads = n_threads;
    long n_cpus = sysconf(_SC_NPROCESSORS_ONLN); /* -1 if unknown: assume enough */
    p->pause_ns = (n_cpus > 0 && n_threads > n_cpus) ? 0 : SPIN_PAUSE_NS;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->stop, 0);

    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc != 0) {
        free(p);
        return err_set(err, ERR_STATE, "pool_create: pthread_mutex_init failed: %s", strerror(rc));
    }
    rc = pthread_cond_init(&p->wake, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return err_set(err, ERR_STATE, "pool_create: pthread_cond_init failed: %s", strerror(rc));
    }
    rc = pthread_cond_init(&p->done, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return err_set(err, ERR_STATE, "pool_create: pthread_cond_init failed: %s", strerror(rc));
    }

    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            pool_free(p);
            return err_set(err, ERR_NOMEM, "pool_create: cannot allocate %d worker records",
                           n_threads - 1);
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        worker_t *w = &p->workers[i];
        w->pool = p;
        w->ith = i + 1;
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            pool_free(p); /* joins the p->n_workers already running */
            return err_set(err, rc == EAGAIN ? ERR_NOMEM : ERR_STATE,
                           "pool_create: pthread_create for worker %d of %d failed: %s",
                           i + 1, n_threads - 1, strerror(rc));
        }
        p->n_workers++;
    }
    *out = p;
    return 0;
}

void pool_destroy(pool_t **pp)
{
    if (!pp || !*pp)
        return;
    pool_free(*pp);
    *pp = NULL;
}

int pool_threads(const pool_t *p)
{
    return p ? p->n_threads : 1;
}

/* A NULL pool runs fn(ctx, 0, 1) in the caller, so code paths can be written
 * once and run with or without a pool.  A NULL fn does nothing. */
void pool_run(pool_t *p, pool_task_fn fn, void *ctx)
{
    if (!fn)
        return;
    if (!p || p->n_workers == 0) {
        fn(ctx, 0, 1);
        return;
    }

    atomic_store_explicit(&p->pending, p->n_workers, memory_order_relaxed);
    p->fn = fn;
    p->ctx = ctx;
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes the three stores above */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }

    fn(ctx, 0, p->n_threads);

    if (!spin_until(all_done, p, 0)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1); /* seq_cst: pairs with the workers' decrement */
        while (atomic_load(&p->pending) != 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

/* The first n % nth parts get one extra element.  An invalid (ith, nth) gets the
 * empty range [n, n). */
void pool_split(size_t n, int ith, int nth, size_t *begin, size_t *end)
{
    size_t b = n, e = n;
    if (nth >= 1 && ith >= 0 && ith < nth) {
        size_t parts = (size_t)nth, i = (size_t)ith;
        size_t base = n / parts, extra = n % parts;
        b = i * base + (i < extra ? i : extra); /* <= n: no overflow */
        e = b + base + (i < extra ? 1 : 0);
    }
    if (begin)
        *begin = b;
    if (end)
        *end = e;
}
