/*
 * bench_kern.c — single-thread micro-benchmark of the kernel tables (not a test,
 * not built by CMake).  For every ISA this CPU supports it measures:
 *   - decode: y = W x with dot, row after row, over a ~100 MB weight matrix (far
 *     out of cache), reported as GB/s of weight bytes streamed, next to a plain
 *     memory read loop over the same buffer (the ceiling);
 *   - prompt: dot_x4 over a matrix that fits in L2, in GFLOP/s (2 flops per
 *     weight per activation row), next to four dot calls doing the same work.
 * Each decode pass is preceded by a read-loop pass over the same bytes and the best of
 * each is reported, so both see the same conditions on a shared machine.
 * Build by hand against the library (or its objects), e.g. from the repository root:
 *   cmake -S . -B build && cmake --build build --target lingua_core
 *   gcc -std=c11 -O3 -march=native -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc \
 *       bench/bench_kern.c build/liblingua_core.a -lm -lpthread -o bench_kern
 * (-march=native only lets the read loop use the widest loads; the kernels bring
 * their own target flags.)
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
#define REPS 7

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

/* One pass of a plain read loop over buf; returns GB/s. */
static double read_pass(const unsigned char *buf, size_t bytes)
{
    const uint64_t *p = (const uint64_t *)buf;
    size_t words = bytes / 8;
    static volatile uint64_t sink;
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
    return (double)bytes / (now() - t0) * 1e-9;
}

/* Decode-like matvec over the big buffer: best GB/s of weight bytes over REPS passes,
 * each preceded by a pass of the read loop over the same bytes (best GB/s in *read),
 * so that both see the same machine conditions. */
static double bench_decode(const kern_table_t *t, uint32_t type, size_t n, unsigned char *big, float *y,
                           double *read)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    size_t rb = type_row_bytes(type, n);
    size_t rows = BIG_BYTES / rb;
    unsigned char *x = malloc(type_row_bytes(mv->act_type, n));
    float *xf = malloc(n * sizeof *xf);
    for (size_t i = 0; i < n; i++)
        xf[i] = rnd();
    mv->act_from_f32(xf, x, n);
    double best = 0;
    *read = 0;
    for (int rep = 0; rep < REPS; rep++) {
        double r = read_pass(big, rows * rb);
        *read = r > *read ? r : *read;
        double t0 = now();
        for (size_t row = 0; row < rows; row++)
            mv->dot(n, big + row * rb, x, &y[row]);
        double g = (double)(rows * rb) / (now() - t0) * 1e-9;
        best = g > best ? g : best;
    }
    free(x);
    free(xf);
    return best;
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
    printf("decode: dot over a %zu MB matrix, GB/s of weights (plain read loop over the same bytes);\n"
           "prompt: dot_x4 over ~512 KB of weights (in L2), GFLOP/s (four dot calls doing the same work)\n",
           BIG_BYTES >> 20);

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
                double read;
                double gbs = bench_decode(&t, type, n, big, y, &read);
                size_t rows = ((size_t)512 << 10) / rb;   /* ~512 KB: in L2 */
                double gx4, gdot;
                bench_prompt(&t, type, n, big, rows, &gx4, &gdot);
                printf("%-7s %-5s n=%-5zu decode %5.1f GB/s (read %5.1f, %3.0f%%) | prompt dot_x4 %5.1f GFLOP/s "
                       "(4x dot %5.1f)\n",
                       kern_isa_name(isa), type_name(type), n, gbs, read, 100.0 * gbs / read, gx4, gdot);
            }
        }
    }
    free(big);
    free(y);
    return 0;
}
