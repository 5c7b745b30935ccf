/*
 * bench_kern.c — single-thread micro-benchmark of the kernel tables (not a test,
 * not built by CMake).  For every ISA this CPU supports it measures:
 *   - decode: y = W x over a ~100 MB weight matrix (far out of cache), reported as
 *     GB/s of weight bytes streamed: with dot, row after row, and with dot_tile as
 *     the matmul driver uses it (KERN_TILE_ROWS rows far apart: as many concurrent
 *     read streams), next to a plain memory read loop over the same buffer (one
 *     stream: not the ceiling once there are several);
 *   - prompt: a 64-token batch as the matmul driver runs it, over a matrix that
 *     fits in L2: dot_tile_packed (4 x 4 tiles over packed rows, where the table has
 *     it, packing included), dot_tile (4 x 4 tiles) and dot_x4, in GFLOP/s (2 flops
 *     per weight per activation row).
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

/* Fills buf with rows of the given type quantized from random floats.  Every row is
 * its own: a repeated pattern would let a host that merges identical pages serve the
 * "100 MB" from far fewer physical bytes. */
static void fill_rows(uint32_t type, size_t n, unsigned char *buf, size_t rows)
{
    size_t rb = type_row_bytes(type, n);
    float *f = malloc(n * sizeof *f);
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < n; i++)
            f[i] = rnd();
        quant_row(type, f, buf + r * rb, n);
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

/* Decode-like matvec over the big buffer: best GB/s of weight bytes over REPS passes
 * with dot (returned) and with dot_tile over KERN_TILE_ROWS streams (*tiled), each
 * preceded by a pass of the read loop over the same bytes (best GB/s in *read), so
 * that all see the same machine conditions. */
static double bench_decode(const kern_table_t *t, uint32_t type, size_t n, unsigned char *big, float *y,
                           double *read, double *tiled)
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
    *tiled = 0;
    const size_t run = rows / KERN_TILE_ROWS;
    for (int rep = 0; rep < REPS; rep++) {
        double r = read_pass(big, rows * rb);
        *read = r > *read ? r : *read;
        double t0 = now();
        for (size_t row = 0; row < rows; row++)
            mv->dot(n, big + row * rb, x, &y[row]);
        double g = (double)(rows * rb) / (now() - t0) * 1e-9;
        best = g > best ? g : best;
        t0 = now();
        for (size_t i = 0; i < run; i++) {
            float out[KERN_TILE_ROWS];
            mv->dot_tile(n, big + i * rb, run * rb, KERN_TILE_ROWS, x, 0, 1, out, 1);
            for (int k = 0; k < KERN_TILE_ROWS; k++)
                y[k * run + i] = out[k];
        }
        g = (double)(run * KERN_TILE_ROWS * rb) / (now() - t0) * 1e-9;
        *tiled = g > *tiled ? g : *tiled;
    }
    free(x);
    free(xf);
    return best;
}

/* Prompt-like, as the matmul driver does it for a 64-token batch: over `rows` weight
 * rows that stay in cache, 4 x 4 tiles against 64 activation rows: dot_tile_packed
 * (packing 4 weight rows at a time included in the time; the 64 activation rows are
 * packed once, outside it; 0 when the table has no packed path), dot_tile, and
 * dot_x4; GFLOP/s. */
#define PROMPT_COLS 64
static void bench_prompt(const kern_table_t *t, uint32_t type, size_t n, const unsigned char *w, size_t rows,
                         double *gf_packed, double *gf_tile, double *gf_x4)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    size_t rb = type_row_bytes(type, n), xb = type_row_bytes(mv->act_type, n);
    unsigned char *x = malloc(PROMPT_COLS * xb);
    float *xf = malloc(n * sizeof *xf);
    for (int j = 0; j < PROMPT_COLS; j++) {
        for (size_t i = 0; i < n; i++)
            xf[i] = rnd();
        mv->act_from_f32(xf, x + j * xb, n);
    }
    float out[4], tile[4 * 4];
    volatile float sink = 0;
    rows &= ~(size_t)3;
    const int iters = (int)(2e8 / (double)(n * rows * PROMPT_COLS / 4)) + 1;
    double best4 = 1e9, best_tile = 1e9, best_packed = 1e9;
    unsigned char *wp = NULL, *xp = NULL;
    size_t pw = 0, px = 0;
    if (mv->dot_tile_packed) {
        pw = mv->packed_w_bytes(n);
        px = mv->packed_x_bytes(n);
        wp = malloc(4 * pw);
        xp = malloc(PROMPT_COLS * px);
        for (int j = 0; j < PROMPT_COLS; j++)
            mv->pack_x(n, x + j * xb, xp + j * px);
    }
    for (int rep = 0; rep < REPS; rep++) {
        if (wp) {
            double t0 = now();
            for (int it = 0; it < iters; it++)
                for (size_t r = 0; r < rows; r += 4) {
                    for (int k = 0; k < 4; k++)
                        mv->pack_w(n, w + (r + k) * rb, wp + k * pw);
                    for (int c = 0; c < PROMPT_COLS; c += 4) {
                        mv->dot_tile_packed(n, wp, pw, 4, xp + c * px, px, 4, tile, 4);
                        sink += tile[0];
                    }
                }
            double tp = now() - t0;
            best_packed = tp < best_packed ? tp : best_packed;
        }
        double t0 = now();
        for (int it = 0; it < iters; it++)
            for (size_t r = 0; r < rows; r += 4)
                for (int c = 0; c < PROMPT_COLS; c += 4) {
                    mv->dot_tile(n, w + r * rb, rb, 4, x + c * xb, xb, 4, tile, 4);
                    sink += tile[0];
                }
        double t1 = now();
        for (int it = 0; it < iters; it++)
            for (size_t r = 0; r < rows; r++)
                for (int c = 0; c < PROMPT_COLS; c += 4) {
                    mv->dot_x4(n, w + r * rb, x + c * xb, xb, out);
                    sink += out[0];
                }
        double t2 = now();
        best_tile = t1 - t0 < best_tile ? t1 - t0 : best_tile;
        best4 = t2 - t1 < best4 ? t2 - t1 : best4;
    }
    (void)sink;
    double flops = 2.0 * (double)n * PROMPT_COLS * (double)rows * iters;
    *gf_packed = wp ? flops / best_packed * 1e-9 : 0.0;
    *gf_tile = flops / best_tile * 1e-9;
    *gf_x4 = flops / best4 * 1e-9;
    free(wp);
    free(xp);
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
    static const uint32_t types[] = {TYPE_Q8_0, TYPE_Q4_0, TYPE_F16, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K, TYPE_Q3_K,
                                     TYPE_Q2_K, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_IQ4_NL};
    static const size_t sizes[] = {768, 2048};

    unsigned char *big = malloc(BIG_BYTES + 64);
    float *y = malloc(BIG_BYTES / 18 * sizeof *y + 64);
    if (!big || !y)
        return 1;
    memset(big, 1, BIG_BYTES);
    printf("decode: over a %zu MB matrix, GB/s of weights: dot row by row, dot_tile with %d streams "
           "(plain read loop);\n"
           "prompt: 64 tokens over ~256 KB of weights (in L2), GFLOP/s: packed and unpacked 4x4 tiles (dot_x4 "
           "doing the same work)\n",
           BIG_BYTES >> 20, KERN_TILE_ROWS);

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
                double read, tiled;
                double gbs = bench_decode(&t, type, n, big, y, &read, &tiled);
                size_t rows = ((size_t)256 << 10) / rb;   /* ~256 KB: in L2 with the activations */
                double gpacked, gtile, gx4;
                bench_prompt(&t, type, n, big, rows, &gpacked, &gtile, &gx4);
                printf("%-7s %-5s n=%-5zu decode dot %5.1f, tile %5.1f GB/s (read %5.1f) | prompt packed %5.1f, "
                       "tile %5.1f GFLOP/s (dot_x4 %5.1f)\n",
                       kern_isa_name(isa), type_name(type), n, gbs, tiled, read, gpacked, gtile, gx4);
            }
        }
    }
    free(big);
    free(y);
    return 0;
}
