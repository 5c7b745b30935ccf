/*
 * kern_util.h — helpers shared by the kernel tests (test_kern.c, test_kern_q.c):
 * a fixed-seed random generator, activation-like random floats, memory that ends
 * right before an inaccessible page (any over-read faults), and bitwise float
 * comparison.  Header-only (static functions); these tests link only lingua_core.
 */
#ifndef LL_TESTS_KERN_UTIL_H
#define LL_TESTS_KERN_UTIL_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- deterministic random numbers (splitmix64) ----------------------------------- */

typedef struct {
    uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float rng_unit(rng_t *r)
{
    return (float)((double)(rng_next(r) >> 40) * 0x1p-23 - 1.0);
}

static inline int rng_int(rng_t *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Noise of the given scale with rare outliers (x20), like real activations. */
static inline void fill_floats(rng_t *r, float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) {
        float v = rng_unit(r) * scale;
        if (rng_next(r) % 64 == 0)
            v *= 20.0f;
        x[i] = v;
    }
}

/* ---- memory that ends right before an inaccessible page --------------------------- */

typedef struct {
    unsigned char *map;
    size_t len;
    unsigned char *end; /* first byte of the PROT_NONE page */
} guard_t;

static inline int guard_init(guard_t *g, size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (cap + page - 1) / page * page;
    g->len = data + page;
    g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    if (mprotect(g->map + data, page, PROT_NONE) != 0)
        return -1;
    g->end = g->map + data;
    return 0;
}

static inline void guard_fini(guard_t *g)
{
    munmap(g->map, g->len);
}

/* Where len bytes go so that they end gap bytes before the guard page. */
static inline unsigned char *guard_place(const guard_t *g, size_t len, size_t gap)
{
    return g->end - gap - len;
}

static inline int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

#endif
