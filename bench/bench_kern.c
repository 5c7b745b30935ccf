/*
 * bench_kern.c — single-thread micro-benchmark of the kernel tables (not a test,
 * not built by CMake).  For every ISA this CPU supports it measures:
 *   - decode: y = W x with dot, row after row, over a ~100 MB weight matrix (far
 *     out of cache), reported as GB/s of weight bytes streamed, next to a plain
 *     memory read loop over the same buffer (the ceiling);
 *   - prompt: dot_x4 over a matrix that fits in L2, in GFLOP/s (2 flops per
 *     weight per activation row), next to four dot calls doing the same work.
 * Build by hand, e.g. from the repository root:
 *   gcc -std=c11 -O3 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DLL_HAVE_X86_KERNELS=1 -Isrc \
 *       bench/bench_kern.c <objects of src/util/err.c src/tensor/{types,quant,kern,kern_*}.c> -lm
 * Usage: bench_kern [isa]   (default: every supported ISA)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/kern.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define BIG_BYTES ((size_t)100 << 20)
#define REPS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x12345678u;

static float rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) * 0x1p-23 - 1.0);
}

/* Fills buf with rows of the given type quantized from random floats (one 1 MB pattern,
 * repeated: the values do not matter for speed, the addresses do). */
static void fill_rows(uint32_t type, size_t n, unsigned char *buf, size_t rows)
{
    size_t rb = type_row_bytes(type, n);
    size_t pattern = ((size_t)1 << 20) / rb + 1;
    float *f = malloc(n * sizeof *f);
    for (size_t r = 0; r < rows; r++) {
        if (r < pattern) {
            for (size_t i = 0; i < n; i++)
                f[i] = rnd();
            quant_row(type, f, buf + r * rb, n);
        } else {
            memcpy(buf + r * rb, buf + (r % pattern) * rb, rb);
        }
    }
    free(f);
}

/* Best-of-REPS read bandwidth of a simple loop over buf, in GB/s. */
static double read_bandwidth(const unsigned char *buf, size_t bytes)
{
    const uint64_t *p = (const uint64_t *)buf;
    size_t words = bytes / 8;
    double best = 1e9;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = 0; i + 8 <= words; i += 8) {
            s0 += p[i];
            s1 += p[i + 1];
            s2 += p[i + 2];
            s3 += p[i + 3];
            s4 += p[i + 4];
            s5 += p[i + 5];
            s6 += p[i + 6];
            s7 += p[i + 7];
        }
        sink += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
        double t = now() - t0;
        best = t < best ? t : best;
    }
    (void)sink;
    return (double)bytes / best * 1e-9;
}

/* Decode-like matvec over the big buffer; returns GB/s of weight bytes. */
static double bench_decode(const kern_table_t *t, uint32_t type, size_t n, unsigned char *big, float *y)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    size_t rb = type_row_bytes(type, n);
    size_t rows = BIG_BYTES / rb;
    unsigned char *x = malloc(type_row_bytes(mv->act_type, n));
    float *xf = malloc(n * sizeof *xf);
    for (size_t i = 0; i < n; i++)
        xf[i] = rnd();
    mv->act_from_f32(xf, x, n);
    double best = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (size_t r = 0; r < rows; r++)
            mv->dot(n, big + r * rb, x, &y[r]);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    free(x);
    free(xf);
    return (double)(rows * rb) / best * 1e-9;
}

/* Prompt-like: dot_x4 (and 4x dot) over `rows` rows that stay in cache; GFLOP/s. */
static void bench_prompt(const kern_table_t *t, uint32_t type, size_t n, const unsigned char *w, size_t rows,
                         double *gf_x4, double *gf_dot)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    size_t rb = type_row_bytes(type, n), xb = type_row_bytes(mv->act_type, n);
    unsigned char *x = malloc(4 * xb);
    float *xf = malloc(n * sizeof *xf);
    for (int j = 0; j < 4; j++) {
        for (size_t i = 0; i < n; i++)
            xf[i] = rnd();
        mv->act_from_f32(xf, x + j * xb, n);
    }
    float out[4];
    volatile float sink = 0;
    const int iters = (int)(2e8 / (double)(n * rows)) + 1;   /* ~1e9 flops per timing */
    double best4 = 1e9, best1 = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (int it = 0; it < iters; it++)
            for (size_t r = 0; r < rows; r++) {
                mv->dot_x4(n, w + r * rb, x, xb, out);
                sink += out[0];
            }
        double t1 = now();
        for (int it = 0; it < iters; it++)
            for (size_t r = 0; r < rows; r++)
                for (int j = 0; j < 4; j++) {
                    mv->dot(n, w + r * rb, x + j * xb, &out[j]);
                    sink += out[j];
                }
        double t2 = now();
        best4 = t1 - t0 < best4 ? t1 - t0 : best4;
        best1 = t2 - t1 < best1 ? t2 - t1 : best1;
    }
    (void)sink;
    double flops = 2.0 * (double)n * 4.0 * (double)rows * iters;
    *gf_x4 = flops / best4 * 1e-9;
    *gf_dot = flops / best1 * 1e-9;
    free(x);
    free(xf);
}

int main(int argc, char **argv)
{
    kern_isa_t only = KERN_ISA_AUTO;
    if (argc > 1 && kern_isa_parse(argv[1], &only) != 0) {
        fprintf(stderr, "usage: %s [scalar|avx2|avx512|neon]\n", argv[0]);
        return 2;
    }
    static const uint32_t types[] = {TYPE_Q8_0, TYPE_Q4_0, TYPE_F16};
    static const size_t sizes[] = {768, 2048};

    unsigned char *big = malloc(BIG_BYTES + 64);
    float *y = malloc(BIG_BYTES / 18 * sizeof *y + 64);
    if (!big || !y)
        return 1;
    memset(big, 1, BIG_BYTES);
    printf("memory read loop: %.1f GB/s (%zu MB)\n", read_bandwidth(big, BIG_BYTES), BIG_BYTES >> 20);

    for (int i = KERN_ISA_SCALAR; i <= KERN_ISA_NEON; i++) {
        kern_isa_t isa = (kern_isa_t)i;
        if (!kern_isa_supported(isa) || (only != KERN_ISA_AUTO && only != isa))
            continue;
        kern_table_t t;
        kern_table_init(&t, isa, NULL);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                uint32_t type = types[ti];
                size_t n = sizes[si];
                size_t rb = type_row_bytes(type, n);
                fill_rows(type, n, big, BIG_BYTES / rb);
                double gbs = bench_decode(&t, type, n, big, y);
                size_t rows = ((size_t)512 << 10) / rb;   /* ~512 KB: in L2 */
                double gx4, gdot;
                bench_prompt(&t, type, n, big, rows, &gx4, &gdot);
                printf("%-7s %-5s n=%-5zu dot stream %6.1f GB/s | in-cache dot_x4 %6.1f GFLOP/s, 4x dot %6.1f GFLOP/s\n",
                       kern_isa_name(isa), type_name(type), n, gbs, gx4, gdot);
            }
        }
    }
    free(big);
    free(y);
    return 0;
}
