/*
 * test_kern.c — the reference quantizers (quant.c) and every kernel table this
 * CPU can run (kern*.c), against independent double-precision references.
 *
 * What is checked, per ISA (scalar always; avx2/avx512 or neon when supported):
 *   - act_from_f32 gives the same bytes as quant.h, including f16 specials,
 *     Q8_0 rounding ties and Q8_K's NaNs, infinities, zeros, sign and ties;
 *   - dot, for every weight type and awkward sizes, on three kinds of data:
 *       exact:     small integers and power-of-two scales, chosen so that every
 *                  partial sum in any order is exactly representable in f32; the
 *                  result must equal the exact answer (catches any dropped,
 *                  repeated or mis-scaled element or block);
 *       realistic: weights quantized from random floats, activations converted by
 *                  the table itself;
 *       raw:       random codes and scales (every bit pattern, e.g. q = -128);
 *     realistic and raw are held to the rigorous f32 error bound
 *       |dot - ref| <= (n + 8) * 2^-24 * sum_i |w_i x_i|,
 *     where ref is the exact (double) dot of the dequantized operands: a sum of
 *     at most n rounded f32 terms in any order has error at most (n-1)u times
 *     the sum of magnitudes, and each term carries at most a few more roundings
 *     (f32 products, d_w*d_x, the scaling); integer block sums and f16 products
 *     are exact.  A relative bound against |ref| would be meaningless under
 *     cancellation, hence the sum of magnitudes;
 *   - dot_x4(...)[j] == dot on column j, bit for bit;
 *   - dot_tile, for every tile shape (1..KERN_TILE_ROWS weight rows by 1..KERN_TILE
 *     columns) and weight rows near or far apart: output (r, c) == dot of row r
 *     and column c, bit for bit, at the given ldo, nothing else written, the
 *     last operand ending right before a PROT_NONE page; the same for
 *     dot_tile_packed over rows packed by pack_w / pack_x (where the table has it),
 *     the packers writing exactly packed_*_bytes;
 *   - results identical for operands at byte offsets 0..3, with every operand
 *     ending right before a PROT_NONE page (any over-read faults);
 *   - dot_f16 and axpy_f16 against double references, axpy's neighbours untouched;
 *     attn_scores_f16 / attn_values_f16 bit-identical to per-position dot_f16 * scale
 *     and axpy_f16 calls (probabilities rounded to F16 first, specials included).
 * Data come from a fixed-seed generator, so every run sees the same cases.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "kern_il_check.h"
#include "kern_packed_check.h"
#include "kern_util.h"
#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define U32 0x1p-24 /* unit roundoff of f32 */

/* ---- helpers ------------------------------------------------------------------------ */

static uint16_t get_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static const uint32_t all_types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q4_0};

static const size_t quant_sizes[] = {32, 64, 96, 288, 768, 2048, 4096 + 32};
static const size_t float_sizes[] = {0, 1, 3, 17, 32, 64, 96, 172, 173, 288, 768, 2048, 4096 + 32};

#define NMAX (4096 + 32)
#define ROWMAX (NMAX * 4 + 64)

/* Scratch shared by the dot tests (kept off the stack). */
typedef struct {
    guard_t gw, gx;                 /* weight row, four activation rows */
    guard_t gt;                     /* KERN_TILE_ROWS weight rows for dot_tile */
    guard_t gp;                     /* packed rows for dot_tile_packed */
    unsigned char wt[KERN_TILE_ROWS][ROWMAX];  /* their contents */
    unsigned char w[ROWMAX];        /* weight row, built here then placed */
    unsigned char x[4][ROWMAX];     /* activation rows */
    unsigned char ref_act[ROWMAX];  /* reference conversion */
    float f[4][NMAX];               /* f32 sources */
    float wd[NMAX], xd[NMAX];       /* dequantized operands */
} scratch_t;

/* ---- quant.c: known answers and round trips --------------------------------------- */

static void test_quant_known(void)
{
    float x[32];
    block_q8_0_t q8;
    block_q4_0_t q4;

    /* 0..31: amax 31, d = 31/127 -> f16 0x33d0; no element is near a rounding tie. */
    for (int i = 0; i < 32; i++)
        x[i] = (float)i;
    quant_row_q8_0(x, &q8, 32);
    CHECKF(q8.d == 0x33d0, "d = 0x%04x", q8.d);
    for (int i = 0; i < 32; i++)
        CHECKF(q8.q[i] == (int8_t)lround(i * 127.0 / 31.0), "i=%d q=%d", i, q8.q[i]);

    /* All zeros: d = 0 and q = 0 (Q8_0); d = 0/-8 = -0 (0x8000, as llama.cpp writes it)
     * and every nibble 8 (Q4_0). */
    memset(x, 0, sizeof x);
    quant_row_q8_0(x, &q8, 32);
    CHECK(q8.d == 0);
    for (int i = 0; i < 32; i++)
        CHECK(q8.q[i] == 0);
    quant_row_q4_0(x, &q4, 32);
    CHECKF(q4.d == 0x8000, "d = 0x%04x", q4.d);
    for (int i = 0; i < 16; i++)
        CHECK(q4.qs[i] == 0x88);

    /* Activations, amax 127 -> d = 1, id = 127/127 = 1: x*id is x exactly, ties go to
     * even (llama.cpp's x86 run-time quantizer, which made the golden files). */
    static const float tie_x[] = {127, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.5f, 0.49999997f,
                                  -0.49999997f, 3.4999998f, 100.5f, -0.0f};
    static const int tie_q[] = {127, 0, 0, 2, -2, 2, -2, 126, -126, 0, 0, 3, 100, 0};
    memset(x, 0, sizeof x);
    memcpy(x, tie_x, sizeof tie_x);
    quant_row_q8_0_act(x, &q8, 32);
    CHECKF(q8.d == 0x3c00, "d = 0x%04x", q8.d);
    for (size_t i = 0; i < sizeof tie_q / sizeof tie_q[0]; i++)
        CHECKF(q8.q[i] == tie_q[i], "x=%g q=%d want %d", tie_x[i], q8.q[i], tie_q[i]);

    /* Activations: q = x * (127/amax) rounded, not x * (1/d) (d = amax/127) nor x/d: with amax 1 the
     * id is 127 exactly and x = 0x1.224488p-5 gives 4 (x/d gives 5); with amax
     * 0x1.00002ap+0, x = 0x1.c38756p-6 gives 3 (x * (1/d) gives 4). */
    memset(x, 0, sizeof x);
    x[0] = 1.0f;
    x[1] = 0x1.224488p-5f;
    x[2] = -0x1.224488p-5f;
    quant_row_q8_0_act(x, &q8, 32);
    CHECKF(q8.q[1] == (int)nearbyintf(x[1] * 127.0f) && q8.q[2] == -q8.q[1], "q = %d %d", q8.q[1], q8.q[2]);
    x[0] = 0x1.00002ap+0f;
    x[1] = 0x1.c38756p-6f;
    x[2] = 0;
    quant_row_q8_0_act(x, &q8, 32);
    CHECKF(q8.q[1] == (int)nearbyintf(x[1] * (127.0f / x[0])), "q = %d", q8.q[1]);
    CHECKF(q8.q[1] != (int)roundf(x[1] * (1.0f / (x[0] / 127.0f))), "q = %d", q8.q[1]);

    /* Activations (llama.cpp's x86 run-time quantizer): id = 127/amax, ties to even,
     * where the reference rounds ties away from zero. amax 127 gives id 1 exactly. */
    memset(x, 0, sizeof x);
    x[0] = 127.0f;
    x[1] = 62.5f;
    x[2] = -62.5f;
    x[3] = 63.5f;
    x[4] = 0.5f;
    block_q8_0_t qa;
    quant_row_q8_0_act(x, &qa, 32);
    quant_row_q8_0(x, &q8, 32);
    CHECKF(qa.q[0] == 127 && qa.q[1] == 62 && qa.q[2] == -62 && qa.q[3] == 64 && qa.q[4] == 0,
           "act q = %d %d %d %d %d", qa.q[0], qa.q[1], qa.q[2], qa.q[3], qa.q[4]);
    CHECKF(q8.q[1] == 63 && q8.q[2] == -63 && q8.q[3] == 64 && q8.q[4] == 1, "ref q = %d %d %d %d", q8.q[1], q8.q[2],
           q8.q[3], q8.q[4]);
    CHECK(qa.d == q8.d);

    /* Q4_0, largest magnitude negative (-8): d = 1, q = min(15, (int)(x + 8.5)). */
    static const float q4_x[] = {-8, 7, 7.9f, 0, 0.5f, -0.5f, 1.49f, -7.6f};
    static const int q4_q[] = {0, 15, 15, 8, 9, 8, 9, 0};
    memset(x, 0, sizeof x);
    memcpy(x, q4_x, sizeof q4_x);
    x[16] = 3;   /* value 16 lives in the high nibble of byte 0 */
    x[31] = -2;  /* value 31 in the high nibble of byte 15 */
    quant_row_q4_0(x, &q4, 32);
    CHECKF(q4.d == 0x3c00, "d = 0x%04x", q4.d);
    for (size_t i = 0; i < sizeof q4_q / sizeof q4_q[0]; i++)
        CHECKF((q4.qs[i] & 0x0f) == q4_q[i], "x=%g q=%d want %d", q4_x[i], q4.qs[i] & 0x0f, q4_q[i]);
    CHECK(q4.qs[0] >> 4 == 11);
    CHECK(q4.qs[15] >> 4 == 6);

    /* Largest magnitude positive (8): d = -1; x = -8 would be 16 and is clamped to 15. */
    memset(x, 0, sizeof x);
    x[0] = 8;
    x[1] = -7;
    x[2] = -8;
    quant_row_q4_0(x, &q4, 32);
    CHECKF(q4.d == 0xbc00, "d = 0x%04x", q4.d);
    CHECK((q4.qs[0] & 0x0f) == 0 && (q4.qs[1] & 0x0f) == 15 && (q4.qs[2] & 0x0f) == 15);
    CHECK((q4.qs[3] & 0x0f) == 8);

    /* Ties on magnitude: the first one keeps its sign (-4 -> d = 0.5). */
    memset(x, 0, sizeof x);
    x[0] = -4;
    x[1] = 4;
    quant_row_q4_0(x, &q4, 32);
    CHECKF(q4.d == 0x3800, "d = 0x%04x", q4.d);
    CHECK((q4.qs[0] & 0x0f) == 0 && (q4.qs[1] & 0x0f) == 15);

    /* Dequantization of a hand-made block. */
    float y[32];
    q8.d = 0x3800; /* 0.5 */
    for (int i = 0; i < 32; i++)
        q8.q[i] = (int8_t)(i - 16);
    q8.q[0] = -128;
    dequant_row_q8_0(&q8, y, 32);
    CHECK(y[0] == -64.0f && y[1] == -7.5f && y[31] == 7.5f);
    q4.d = 0xc000; /* -2 */
    for (int i = 0; i < 16; i++)
        q4.qs[i] = (uint8_t)(i | ((15 - i) << 4));
    dequant_row_q4_0(&q4, y, 32);
    CHECK(y[0] == 16.0f && y[15] == -14.0f && y[16] == -14.0f && y[31] == 16.0f);

    /* The generic entry points. */
    CHECK(quant_row(TYPE_Q8_0, x, &q8, 33) == -1);
    CHECK(quant_row(99, x, &q8, 32) == -1);
    CHECK(dequant_row(TYPE_Q4_0, &q4, y, 31) == -1);
    CHECK(dequant_row(99, &q4, y, 32) == -1);
    CHECK(quant_row(TYPE_F32, x, y, 32) == 0 && memcmp(x, y, sizeof y) == 0);
    CHECK(quant_row(TYPE_Q4_0, x, &q4, 32) == 0 && dequant_row(TYPE_Q4_0, &q4, y, 32) == 0);
}

/* Half an f16 ulp at |v|: relative 2^-11 for normals, 2^-25 absolute for subnormals. */
static double f16_half_ulp(double v)
{
    return fmax(fabs(v) * 0x1p-11, 0x1p-25);
}

/* Round trips: Q8_0 error <= d/2 per element (plus the rounding of id, and d's f16
 * rounding, which moves each value by at most 127 times half an f16 ulp of d); Q4_0
 * <= |d|/2, or |d| where the clamp at 15 applies (x*id in (7.5, 8]), plus 8 half-ulps
 * of d; F16 <= half an f16 ulp of x.  Scales range over 2^-20..2^10, so d also takes
 * subnormal f16 values. */
static void test_quant_roundtrip(void)
{
    enum { N = 32 * 256 };
    static float x[N], y[N];
    static block_q8_0_t q8[N / 32];
    static block_q4_0_t q4[N / 32];
    static uint16_t h[N];
    rng_t r = {42};
    int bad8 = 0, bad4 = 0, bad16 = 0;
    for (int rep = 0; rep < 8; rep++) {
        float scale = ldexpf(1.0f, rng_int(&r, -20, 10));
        fill_floats(&r, x, N, scale);
        for (int i = 0; i < 32; i++)
            x[rng_int(&r, 0, N - 1)] = 0.0f;

        quant_row_q8_0(x, q8, N);
        dequant_row_q8_0(q8, y, N);
        for (int b = 0; b < N / 32; b++) {
            double amax = 0;   /* (not an fmax() reduction: gcc 12 for aarch64 crashes on it) */
            for (int j = 0; j < 32; j++)
                if (fabs(x[32 * b + j]) > amax)
                    amax = fabs(x[32 * b + j]);
            double d = amax / 127.0;
            double bound = d * 0.5 * (1 + 1e-5) + 127.0 * f16_half_ulp(d) + amax * 1e-6;
            for (int j = 0; j < 32; j++)
                bad8 += fabs((double)x[32 * b + j] - y[32 * b + j]) > bound;
        }

        quant_row_q4_0(x, q4, N);
        dequant_row_q4_0(q4, y, N);
        for (int b = 0; b < N / 32; b++) {
            double m = 0;
            for (int j = 0; j < 32; j++)
                if (fabs(x[32 * b + j]) > fabs(m))
                    m = x[32 * b + j];
            double d = fabs(m) / 8.0;
            for (int j = 0; j < 32; j++) {
                double t = x[32 * b + j] / (m / -8.0);   /* x*id in exact arithmetic */
                double bound = (t > 7.5 - 1e-5 ? d : d * 0.5 * (1 + 1e-5)) + 8.0 * f16_half_ulp(d) + d * 1e-6;
                bad4 += fabs((double)x[32 * b + j] - y[32 * b + j]) > bound;
            }
        }

        quant_row_f16(x, h, N);
        dequant_row_f16(h, y, N);
        for (int i = 0; i < N; i++)
            bad16 += fabs((double)x[i] - y[i]) > f16_half_ulp(x[i]);
    }
    CHECKF(bad8 == 0, "%d Q8_0 values outside the bound", bad8);
    CHECKF(bad4 == 0, "%d Q4_0 values outside the bound", bad4);
    CHECKF(bad16 == 0, "%d F16 values outside the bound", bad16);
}

/* ---- activation conversions --------------------------------------------------------- */

static const uint32_t f32_specials[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff,
    0xffa00000, 0x477fe000, /* 65504 */ 0x477fefff, 0x477ff000, /* 65520 -> inf */ 0x47800000,
    0x33000000, /* 2^-25: tie, rounds to 0 */ 0x33000001, 0x33800000, /* 2^-24 */ 0x387fc000,
    0x38800000, 0x00000001, 0x80000001, 0x3f801000, /* 1 + 2^-11: tie to even */ 0x3f803000,
    0x3f800fff, 0xc0001000, 0x3a7fe000, 0x3a801000, 0x35000000, 0x34c00000,
};

static void test_act(const kern_table_t *t, rng_t *r, scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa);

    /* F16: specials, then random values across the whole exponent range. */
    float sp[sizeof f32_specials / sizeof f32_specials[0]];
    const size_t nsp = sizeof sp / sizeof sp[0];
    memcpy(sp, f32_specials, sizeof sp);
    for (size_t o = 0; o < 4; o++) {
        memset(s->x[0], 0xab, 2 * nsp + 8);
        t->f16.act_from_f32(sp, s->x[0] + o, nsp);
        quant_row_f16(sp, (uint16_t *)s->ref_act, nsp);
        for (size_t i = 0; i < nsp; i++)
            CHECKF(get_u16(s->x[0] + o + 2 * i) == get_u16(s->ref_act + 2 * i), "%s: f16 of 0x%08x: 0x%04x, want 0x%04x",
                   isa, f32_specials[i], get_u16(s->x[0] + o + 2 * i), get_u16(s->ref_act + 2 * i));
        CHECK(s->x[0][o + 2 * nsp] == 0xab);
    }
    for (size_t n = 0; n < 80; n++) {
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)rng_next(r);
            bits = (bits & 0x807fffffu) | ((uint32_t)rng_int(r, 90, 150) << 23);
            memcpy(&s->f[0][i], &bits, 4);
        }
        size_t o = n % 4;
        memset(s->x[0], 0xcd, 2 * n + 8);
        t->f16.act_from_f32(s->f[0], s->x[0] + o, n);
        quant_row_f16(s->f[0], (uint16_t *)s->ref_act, n);
        CHECKF(memcmp(s->x[0] + o, s->ref_act, 2 * n) == 0, "%s: f16 act, n=%zu", isa, n);
        CHECK(s->x[0][o + 2 * n] == 0xcd);
    }

    /* Q8_0: ties (amax 127 -> d = 1; amax 63.5 -> d = 0.5, id = 2), zeros, hand-made
     * values, then random blocks of many scales; output at every byte offset. */
    const size_t nb = 64;
    float *x = s->f[0];
    memset(x, 0, nb * 32 * sizeof(float));
    for (int j = 0; j < 32; j++) {
        x[j] = j == 0 ? -127.0f : (float)(j - 16) + 0.5f;
        x[32 + j] = j == 5 ? 63.5f : (float)(j - 16) * 0.25f;
        x[64 + j] = (float)j;
        x[96 + j] = (j % 2 ? 1 : -1) * (float)j * 1e-3f;
    }
    x[128] = 1.0f;          /* the 1/d cases of test_quant_known */
    x[129] = 0x1.224488p-5f;
    x[130] = -0x1.224488p-5f;
    x[160] = 0x1.00002ap+0f;
    x[161] = 0x1.c38756p-6f;
    for (size_t b = 6; b < nb; b++) {
        float scale = ldexpf(1.0f, rng_int(r, -100, 100));
        fill_floats(r, x + 32 * b, 32, scale);
        if (b % 7 == 0)   /* an exact multiple of amax/127 in every element */
            for (int j = 0; j < 32; j++)
                x[32 * b + j] = (float)rng_int(r, -127, 127) * 0.5f + (j == 0 ? 63.5f : 0.0f);
    }
    quant_row_q8_0_act(x, (block_q8_0_t *)s->ref_act, nb * 32);
    for (size_t o = 0; o < 4; o++) {
        memset(s->x[0], 0xee, nb * 34 + 8);
        t->q8_0.act_from_f32(x, s->x[0] + o, nb * 32);
        for (size_t b = 0; b < nb; b++)
            CHECKF(memcmp(s->x[0] + o + 34 * b, s->ref_act + 34 * b, 34) == 0, "%s: q8_0 act, block %zu, offset %zu",
                   isa, b, o);
        CHECK(s->x[0][o + nb * 34] == 0xee);
        t->q4_0.act_from_f32(x, s->x[1] + o, nb * 32);
        CHECK(memcmp(s->x[1] + o, s->ref_act, nb * 34) == 0);
    }

    /* Q8_K (the K-quants' activations): the blocks above as 8 super-blocks, then
     * super-blocks of NaNs with a finite max, of infinities, of zeros and NaNs only,
     * of a max whose negation comes first (the first of equal magnitude counts), and of
     * products landing on .5 ties; output at every byte offset. */
    const size_t nk = 12;
    float *xk = s->f[1];
    memcpy(xk, x, 8 * QK_K * sizeof(float));
    for (int j = 0; j < QK_K; j++) {
        xk[8 * QK_K + j] = j % 3 ? (float)(j - 128) * 0.01f : NAN;
        xk[9 * QK_K + j] = j == 7 ? -INFINITY : j == 9 ? INFINITY : (float)j;
        xk[10 * QK_K + j] = j % 2 ? NAN : 0.0f;
        xk[11 * QK_K + j] = j == 3 ? -2.54f : j == 200 ? 2.54f : (float)(j % 64 - 32) * 0.01f;
    }
    xk[8 * QK_K + 100] = -7.0f;
    quant_row_q8_k(xk, s->ref_act, nk * QK_K);
    for (size_t o = 0; o < 4; o++) {
        memset(s->x[0], 0xee, nk * sizeof(block_q8_k_t) + 8);
        t->q4_k.act_from_f32(xk, s->x[0] + o, nk * QK_K);
        for (size_t b = 0; b < nk; b++)
            CHECKF(memcmp(s->x[0] + o + sizeof(block_q8_k_t) * b, s->ref_act + sizeof(block_q8_k_t) * b,
                          sizeof(block_q8_k_t)) == 0, "%s: q8_k act, super-block %zu, offset %zu", isa, b, o);
        CHECK(s->x[0][o + nk * sizeof(block_q8_k_t)] == 0xee);
    }

    /* F32 is a copy. */
    t->f32.act_from_f32(x, s->x[0] + 1, 33);
    CHECK(memcmp(s->x[0] + 1, x, 33 * sizeof(float)) == 0);
}

/* ---- dot products ------------------------------------------------------------------- */

typedef enum { DATA_EXACT, DATA_REALISTIC, DATA_RAW } data_kind_t;

static uint16_t pow2_scale(rng_t *r)
{
    static const uint16_t s[] = {0x3c00, 0xbc00, 0x3800, 0xb800}; /* 1, -1, 0.5, -0.5 */
    return s[rng_next(r) % 4];
}

/* Builds the weight row (s->w) and four activation rows (s->x[j]) for one case.
 * Exact data keep every partial sum, in any order, an exactly representable f32:
 * integers |v| <= 16 for F32/F16 (sums < 2^21); for Q8_0/Q4_0 scales of +-1, +-0.5
 * and quant ranges whose products over 4128 elements stay below 2^22 in units of 1/4. */
static void make_case(const kern_table_t *t, uint32_t type, size_t n, data_kind_t kind, int variant, rng_t *r,
                      scratch_t *s)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    const size_t nb = n / 32;
    if (kind == DATA_EXACT) {
        for (size_t i = 0; i < n; i++)
            s->f[0][i] = (float)rng_int(r, -16, 16);
        if (type == TYPE_F32 || type == TYPE_F16) {
            quant_row(type, s->f[0], s->w, n);
            for (int j = 0; j < 4; j++) {
                for (size_t i = 0; i < n; i++)
                    s->f[j][i] = (float)rng_int(r, -16, 16);
                quant_row(type, s->f[j], s->x[j], n);
            }
            return;
        }
        /* variant 0: full-range weights, small activations; variant 1: the reverse. */
        int wmax = type == TYPE_Q4_0 ? 0 : variant == 0 ? 128 : 7;
        int xmax = type == TYPE_Q4_0 ? 100 : variant == 0 ? 7 : 127;
        for (size_t b = 0; b < nb; b++) {
            if (type == TYPE_Q8_0) {
                unsigned char *wb = s->w + 34 * b;
                put_u16(wb, pow2_scale(r));
                for (int k = 0; k < 32; k++)
                    wb[2 + k] = (unsigned char)(int8_t)rng_int(r, -wmax, wmax == 128 ? 127 : wmax);
            } else {
                unsigned char *wb = s->w + 18 * b;
                put_u16(wb, pow2_scale(r));
                for (int k = 0; k < 16; k++)
                    wb[2 + k] = (unsigned char)rng_next(r);
            }
            for (int j = 0; j < 4; j++) {
                unsigned char *xb = s->x[j] + 34 * b;
                put_u16(xb, pow2_scale(r));
                for (int k = 0; k < 32; k++)
                    xb[2 + k] = (unsigned char)(int8_t)rng_int(r, -xmax, xmax);
            }
        }
        return;
    }

    /* Realistic and raw: activations always come from the table's own conversion,
     * checked against the reference here. */
    for (int j = 0; j < 4; j++) {
        fill_floats(r, s->f[j], n, ldexpf(1.0f, rng_int(r, -6, 6)));
        mv->act_from_f32(s->f[j], s->x[j], n);
        quant_row_act(mv->act_type, s->f[j], s->ref_act, n);
        CHECKF(memcmp(s->x[j], s->ref_act, type_row_bytes(mv->act_type, n)) == 0, "%s: %s act, n=%zu",
               kern_isa_name(t->isa), type_name(type), n);
    }
    if (kind == DATA_REALISTIC || type == TYPE_F32 || type == TYPE_F16) {
        float *wf = s->wd;
        fill_floats(r, wf, n, kind == DATA_RAW ? 1e3f : 0.05f);
        quant_row(type, wf, s->w, n);
        return;
    }
    const size_t bs = type_block_bytes(type);
    for (size_t b = 0; b < nb; b++) {
        unsigned char *wb = s->w + bs * b;
        float d = rng_unit(r) * 0.02f;
        put_u16(wb, f32_to_f16(d));
        for (size_t k = 2; k < bs; k++)
            wb[k] = (unsigned char)rng_next(r);
    }
}

/* The scalar specification re-evaluated here in f32, in its documented order:
 * element by element (F32, F16), or per block sum += isum * (d_w * d_x) (Q8_0, Q4_0).
 * The scalar table must match it bit for bit. */
static float spec_dot(uint32_t type, size_t n, const unsigned char *w, const unsigned char *x, scratch_t *s)
{
    float sum = 0.0f;
    if (type == TYPE_F32 || type == TYPE_F16) {
        dequant_row(type, w, s->wd, n);
        dequant_row(type, x, s->xd, n);
        for (size_t i = 0; i < n; i++)
            sum += s->wd[i] * s->xd[i];
        return sum;
    }
    /* Quantized: llama.cpp's x86 order (kern_scalar.c): lane k sums elements 4k..4k+3
     * exactly, acc[k] = fma(d_w * d_x, lane, acc[k]) per block, then a pairwise tree. */
    const size_t bs = type_block_bytes(type);
    float acc[8] = {0};
    for (size_t b = 0; b < n / 32; b++) {
        const unsigned char *wb = w + bs * b, *xb = x + 34 * b;
        const float d = f16_to_f32(get_u16(wb)) * f16_to_f32(get_u16(xb));
        for (int lane = 0; lane < 8; lane++) {
            int32_t isum = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; k++) {
                int wq = type == TYPE_Q8_0 ? (int8_t)wb[2 + k] : k < 16 ? (wb[2 + k] & 15) - 8 : (wb[2 + k - 16] >> 4) - 8;
                isum += wq * (int8_t)xb[2 + k];
            }
            acc[lane] = fmaf(d, (float)isum, acc[lane]);
        }
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* The exact dot of the dequantized operands, and the sum of |products|. */
static void reference_dot(uint32_t wtype, uint32_t xtype, size_t n, const unsigned char *w, const unsigned char *x,
                          scratch_t *s, double *dot, double *mag)
{
    dequant_row(wtype, w, s->wd, n);
    dequant_row(xtype, x, s->xd, n);
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double p = (double)s->wd[i] * (double)s->xd[i];
        d += p;
        m += fabs(p);
    }
    *dot = d;
    *mag = m;
}

static void test_dot_case(const kern_table_t *t, uint32_t type, size_t n, data_kind_t kind, int variant, rng_t *r,
                          scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa);
    const char *tn = type_name(type);
    static const char *kinds[] = {"exact", "realistic", "raw"};
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    const size_t wbytes = type_row_bytes(type, n);
    const size_t xbytes = type_row_bytes(mv->act_type, n);

    make_case(t, type, n, kind, variant, r, s);

    /* Every operand ends right at the guard page (gap 0), or 1..3 bytes before it with its
     * start at every byte offset; the x4 stride varies with the case. */
    float first[4] = {0};
    for (size_t o = 0; o < 4; o++) {
        unsigned char *w = guard_place(&s->gw, wbytes, o);
        memcpy(w, s->w, wbytes);
        size_t stride = xbytes + (o + n) % 4;
        unsigned char *x = guard_place(&s->gx, 3 * stride + xbytes, (4 - o) % 4);
        for (int j = 0; j < 4; j++)
            memcpy(x + j * stride, s->x[j], xbytes);

        float one[4], four[4];
        for (int j = 0; j < 4; j++)
            mv->dot(n, w, x + j * stride, &one[j]);
        memset(four, 0xff, sizeof four);
        mv->dot_x4(n, w, x, stride, four);
        for (int j = 0; j < 4; j++) {
            CHECKF(same_bits(one[j], four[j]), "%s %s n=%zu %s: dot_x4[%d] = %.9g, dot = %.9g", isa, tn, n,
                   kinds[kind], j, four[j], one[j]);
            if (o == 0)
                first[j] = one[j];
            else
                CHECKF(same_bits(one[j], first[j]), "%s %s n=%zu %s: offset %zu gives %.9g, offset 0 %.9g", isa,
                       tn, n, kinds[kind], o, one[j], first[j]);
        }
    }

    for (int j = 0; j < 4; j++) {
        if (t->isa == KERN_ISA_SCALAR)
            CHECKF(same_bits(first[j], spec_dot(type, n, s->w, s->x[j], s)), "scalar %s n=%zu: %.9g, spec %.9g", tn,
                   n, first[j], spec_dot(type, n, s->w, s->x[j], s));
        double ref, mag;
        reference_dot(type, mv->act_type, n, s->w, s->x[j], s, &ref, &mag);
        if (kind == DATA_EXACT) {
            CHECKF((double)first[j] == ref, "%s %s n=%zu exact/%d: dot = %.9g, want %.9g", isa, tn, n, variant,
                   first[j], ref);
        } else {
            double bound = (double)(n + 8) * U32 * mag + 1e-30;
            CHECKF(fabs(first[j] - ref) <= bound, "%s %s n=%zu %s: dot = %.9g, ref %.9g, |err| %.3g > %.3g", isa,
                   tn, n, kinds[kind], first[j], ref, fabs(first[j] - ref), bound);
        }
    }
}

static void test_dots(const kern_table_t *t, rng_t *r, scratch_t *s)
{
    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        uint32_t type = all_types[ti];
        int quant = type == TYPE_Q8_0 || type == TYPE_Q4_0;
        const size_t *sizes = quant ? quant_sizes : float_sizes;
        size_t nsizes = quant ? sizeof quant_sizes / sizeof quant_sizes[0] : sizeof float_sizes / sizeof float_sizes[0];
        for (size_t si = 0; si < nsizes; si++) {
            size_t n = sizes[si];
            test_dot_case(t, type, n, DATA_EXACT, 0, r, s);
            test_dot_case(t, type, n, DATA_EXACT, 1, r, s);
            test_dot_case(t, type, n, DATA_REALISTIC, 0, r, s);
            test_dot_case(t, type, n, DATA_RAW, 0, r, s);
        }
        /* Every block count up to 12 and every float tail up to 70 (all loop shapes). */
        for (size_t n = quant ? 32 : 1; n <= (quant ? 32 * 12 : 70); n += quant ? 32 : 1) {
            test_dot_case(t, type, n, DATA_EXACT, (int)(n % 2), r, s);
            test_dot_case(t, type, n, DATA_REALISTIC, 0, r, s);
        }
    }

    /* A block of ones against ones, scales 1: 32. */
    const kern_matvec_t *mv = &t->q8_0;
    unsigned char w[34], x[34];
    put_u16(w, 0x3c00);
    put_u16(x, 0x3c00);
    memset(w + 2, 1, 32);
    memset(x + 2, 1, 32);
    float out = 0;
    mv->dot(32, w, x, &out);
    CHECKF(out == 32.0f, "%s: ones: %g", kern_isa_name(t->isa), out);
}

/* ---- tiles ------------------------------------------------------------------------------ */

/* Every tile shape against dot, for one weight type and size: KERN_TILE_ROWS weight rows
 * (each its own make_case row) placed w_gap bytes apart, the last one ending at the guard
 * page; four activation columns x_stride apart.  out is filled with a sentinel first. */
static void test_tile_case(const kern_table_t *t, uint32_t type, size_t n, data_kind_t kind, size_t w_gap, rng_t *r,
                           scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa), *tn = type_name(type);
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    const size_t wbytes = type_row_bytes(type, n), xbytes = type_row_bytes(mv->act_type, n);
    for (int k = 0; k < KERN_TILE_ROWS; k++) {
        make_case(t, type, n, kind, k % 2, r, s);
        memcpy(s->wt[k], s->w, wbytes);
    }
    const size_t w_stride = wbytes + w_gap, x_stride = xbytes + (n % 3);
    unsigned char *w = guard_place(&s->gt, (KERN_TILE_ROWS - 1) * w_stride + wbytes, 0);
    unsigned char *x = guard_place(&s->gx, 3 * x_stride + xbytes, 0);
    for (int k = 0; k < KERN_TILE_ROWS; k++)
        memcpy(w + k * w_stride, s->wt[k], wbytes);
    for (int j = 0; j < 4; j++)
        memcpy(x + j * x_stride, s->x[j], xbytes);

    float want[KERN_TILE_ROWS][KERN_TILE];
    for (int k = 0; k < KERN_TILE_ROWS; k++)
        for (int j = 0; j < KERN_TILE; j++)
            mv->dot(n, w + k * w_stride, x + j * x_stride, &want[k][j]);

    enum { LDO = KERN_TILE_ROWS + 3 };
    float out[KERN_TILE * LDO + 8];
    int bad = 0;
    for (int nr = 1; nr <= KERN_TILE_ROWS; nr++) {
        for (int nc = 1; nc <= KERN_TILE && nr * nc <= KERN_TILE_SIZE; nc++) {
            /* Rows from the end of the block, so that the last row read is the one at the guard. */
            const int r0 = KERN_TILE_ROWS - nr;
            memset(out, 0x7f, sizeof out);
            mv->dot_tile(n, w + r0 * w_stride, w_stride, nr, x, x_stride, nc, out, LDO);
            for (int c = 0; c < KERN_TILE; c++) {
                for (int k = 0; k < LDO; k++) {
                    float v = out[c * LDO + k];
                    if (k < nr && c < nc) {
                        if (!same_bits(v, want[r0 + k][c]) && bad++ < 5)
                            CHECKF(0, "%s %s n=%zu gap=%zu tile %dx%d: (%d,%d) = %.9g, dot %.9g", isa, tn, n, w_gap,
                                   nr, nc, k, c, v, want[r0 + k][c]);
                    } else {
                        uint32_t bits;
                        memcpy(&bits, &v, sizeof bits);
                        if (bits != 0x7f7f7f7fu && bad++ < 5)
                            CHECKF(0, "%s %s n=%zu tile %dx%d: wrote outside the tile at (%d,%d)", isa, tn, n, nr, nc,
                                   k, c);
                    }
                }
            }
        }
    }
    CHECKF(bad == 0, "%s %s n=%zu gap=%zu: %d tile mismatches", isa, tn, n, w_gap, bad);

    if (mv->dot_tile_packed)
        check_packed_tiles(mv, &s->gp, isa, tn, n, w + (KERN_TILE_ROWS - KERN_TILE) * w_stride, w_stride, x, x_stride,
                           w_gap % 64, n % 3, (const float(*)[KERN_TILE])want[KERN_TILE_ROWS - KERN_TILE]);
}

static void test_tiles(const kern_table_t *t, rng_t *r, scratch_t *s)
{
    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        uint32_t type = all_types[ti];
        int quant = type == TYPE_Q8_0 || type == TYPE_Q4_0;
        /* every block count up to 12 (every pair/quad/tail shape), then the model sizes */
        static const size_t qn[] = {32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 768, 2048};
        static const size_t fn[] = {1, 3, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 172, 288, 768};
        const size_t *sizes = quant ? qn : fn;
        size_t nsizes = quant ? sizeof qn / sizeof qn[0] : sizeof fn / sizeof fn[0];
        for (size_t si = 0; si < nsizes; si++) {
            size_t n = sizes[si];
            test_tile_case(t, type, n, DATA_REALISTIC, si % 4, r, s);
            test_tile_case(t, type, n, quant ? DATA_RAW : DATA_EXACT, 4096 + 64 * si + si % 3, r, s);
        }
    }
}

/* ---- attention kernels ------------------------------------------------------------- */

static void test_attention(const kern_table_t *t, rng_t *r, scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa);
    static const size_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 80, 128, 129, 256, 1000};
    uint16_t *a = (uint16_t *)s->x[0], *b = (uint16_t *)s->x[1];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (int exact = 0; exact < 2; exact++) {
            for (size_t i = 0; i < n; i++) {
                s->f[0][i] = exact ? (float)rng_int(r, -16, 16) : rng_unit(r) * 2.0f;
                s->f[1][i] = exact ? (float)rng_int(r, -16, 16) : rng_unit(r) * 0.3f;
            }
            float got[2];
            for (size_t e = 0; e < 2; e++) {   /* element offsets 0 and 1 */
                quant_row_f16(s->f[0], a + e, n);
                quant_row_f16(s->f[1], b + e, n);
                got[e] = t->dot_f16(n, a + e, b + e);
            }
            CHECKF(same_bits(got[0], got[1]), "%s: dot_f16 n=%zu depends on alignment", isa, n);
            double ref, mag;
            reference_dot(TYPE_F16, TYPE_F16, n, (unsigned char *)(a + 1), (unsigned char *)(b + 1), s, &ref, &mag);
            double bound = exact ? 0.0 : (double)(n + 8) * U32 * mag;
            CHECKF(fabs(got[0] - ref) <= bound, "%s: dot_f16 n=%zu: %.9g, ref %.9g", isa, n, got[0], ref);
        }

        /* axpy: y[i] += a*x[i]; one or two roundings per element; y[n..] untouched. */
        float *y = s->f[2];
        float a_ = rng_unit(r) * 3.0f;
        for (size_t i = 0; i < n + 16; i++)
            y[i] = rng_unit(r);
        for (size_t i = 0; i < n; i++)
            s->f[0][i] = rng_unit(r);
        quant_row_f16(s->f[0], a + 1, n);
        memcpy(s->f[3], y, (n + 16) * sizeof(float));
        t->axpy_f16(n, a_, a + 1, y);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            double xv = f16_to_f32(a[1 + i]);
            double want = (double)s->f[3][i] + (double)a_ * xv;
            double bound = 2.0 * U32 * (fabs(s->f[3][i]) + fabs(a_ * xv)) + 1e-30;
            bad += fabs(y[i] - want) > bound;
        }
        CHECKF(bad == 0, "%s: axpy_f16 n=%zu: %d elements off", isa, n, bad);
        CHECK(memcmp(y + n, s->f[3] + n, 16 * sizeof(float)) == 0);
    }
}

/* The batched attention kernels against per-position calls of the same table. */
static void test_attention_batched(const kern_table_t *t, rng_t *r, scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa);
    static const size_t dims[] = {1, 7, 16, 17, 32, 48, 63, 64, 65, 80, 128, 130};
    static const size_t counts[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33, 70};
    enum { MAXC = 70 };
    static const uint32_t prob_specials[] = {0x7fc00000, 0xff800001, 0x7fffffff, 0xffa00000, 0x7f800000, 0x3f800000,
                                             0x33000000, 0x33000001, 0x387fc000, 0x3f801000, 0x00000001, 0x80000000};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const size_t n = dims[di], stride = n + (di % 3) * 5;   /* halves between rows */
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            const size_t count = counts[ci];
            const size_t rows_bytes = (count ? (count - 1) * stride + n : 0) * 2;
            /* K (or V) rows ending at the guard page; q in the other buffer. */
            uint16_t *kv = (uint16_t *)guard_place(&s->gp, rows_bytes, 0);
            uint16_t *q = (uint16_t *)s->x[0];
            for (size_t i = 0; i < n; i++)
                s->f[0][i] = rng_unit(r) * 2.0f;
            quant_row_f16(s->f[0], q, n);
            for (size_t p = 0; p < count; p++) {
                for (size_t i = 0; i < n; i++)
                    s->f[1][i] = rng_unit(r);
                quant_row_f16(s->f[1], kv + p * stride, n);
            }
            const float scale = 0.125f + rng_unit(r) * 0.01f;
            float got[MAXC + 1], want[MAXC + 1];
            memset(got, 0x7f, sizeof got);
            t->attn_scores_f16(n, q, kv, stride, count, scale, got);
            int bad = 0;
            for (size_t p = 0; p < count; p++) {
                want[p] = t->dot_f16(n, q, kv + p * stride) * scale;
                bad += !same_bits(got[p], want[p]);
            }
            uint32_t tail;
            memcpy(&tail, &got[count], sizeof tail);
            CHECKF(bad == 0 && tail == 0x7f7f7f7fu, "%s: attn_scores n=%zu count=%zu: %d differ", isa, n, count, bad);

            /* Probabilities: random, with specials (NaN, infinities, F16 rounding ties). */
            float prob[MAXC];
            for (size_t p = 0; p < count; p++) {
                prob[p] = rng_unit(r) * 0.5f + 0.5f;
                if (p % 5 == 3)
                    memcpy(&prob[p], &prob_specials[(p / 5) % (sizeof prob_specials / sizeof prob_specials[0])],
                           sizeof prob[p]);
            }
            float *o1 = s->f[2], *o2 = s->f[3];
            for (size_t i = 0; i < n + 16; i++)
                o1[i] = o2[i] = rng_unit(r);
            t->attn_values_f16(n, prob, kv, stride, count, o1);
            for (size_t p = 0; p < count; p++)
                t->axpy_f16(n, f16_to_f32(f32_to_f16(prob[p])), kv + p * stride, o2);
            CHECKF(memcmp(o1, o2, (n + 16) * sizeof(float)) == 0, "%s: attn_values n=%zu count=%zu differs", isa, n,
                   count);
        }
    }
}

/* ---- dispatch ------------------------------------------------------------------------ */

static void test_dispatch(void)
{
    kern_isa_t isa;
    static const char *names[] = {"auto", "scalar", "avx2", "avx512", "neon"};
    for (size_t i = 0; i < 5; i++) {
        CHECK(kern_isa_parse(names[i], &isa) == 0);
        CHECK(strcmp(kern_isa_name(isa), names[i]) == 0);
    }
    CHECK(kern_isa_parse("AVX2", &isa) == 0 && isa == KERN_ISA_AVX2);
    CHECK(kern_isa_parse("sse", &isa) == -1);
    CHECK(kern_isa_parse("", &isa) == -1);

    kern_table_t t;
    err_t err;
    err_clear(&err);
    CHECK(kern_table_init(&t, KERN_ISA_AUTO, &err) == 0);
    CHECK(t.isa == kern_isa_best() && kern_isa_supported(t.isa));
    CHECK(kern_isa_supported(KERN_ISA_SCALAR));
    CHECK(kern_table_init(&t, (kern_isa_t)7, &err) == ERR_INVAL);
    for (int i = KERN_ISA_SCALAR; i <= KERN_ISA_NEON; i++) {
        int rc = kern_table_init(&t, (kern_isa_t)i, &err);
        if (kern_isa_supported((kern_isa_t)i)) {
            CHECK(rc == 0 && t.isa == (kern_isa_t)i);
        } else {
            CHECKF(rc == ERR_UNSUP && strstr(err.msg, kern_isa_name((kern_isa_t)i)) != NULL, "rc=%d msg=%s", rc,
                   err.msg);
        }
    }
    CHECK(kern_table_init(&t, KERN_ISA_SCALAR, NULL) == 0);
    CHECK(kern_matvec_for(&t, TYPE_F32) == &t.f32 && kern_matvec_for(&t, TYPE_Q4_0) == &t.q4_0);
    CHECK(kern_matvec_for(&t, TYPE_Q8_K) == NULL && kern_matvec_for(&t, 16) == NULL);
    CHECK(t.f32.act_type == TYPE_F32 && t.f16.act_type == TYPE_F16);
    CHECK(t.q8_0.act_type == TYPE_Q8_0 && t.q4_0.act_type == TYPE_Q8_0);
}

int main(void)
{
    test_quant_known();
    test_quant_roundtrip();
    test_dispatch();

    scratch_t *s = calloc(1, sizeof *s);
    if (!s || guard_init(&s->gw, ROWMAX) != 0 || guard_init(&s->gx, 4 * ROWMAX + 64) != 0 ||
        guard_init(&s->gt, KERN_TILE_ROWS * (ROWMAX + 4096 + 64 * 20)) != 0 ||
        guard_init(&s->gp, 8 * (NMAX * 4 + 256)) != 0) {
        fprintf(stderr, "test_kern: cannot allocate test buffers\n");
        return 1;
    }
    char tested[64] = "";
    for (int i = KERN_ISA_SCALAR; i <= KERN_ISA_NEON; i++) {
        kern_isa_t isa = (kern_isa_t)i;
        if (!kern_isa_supported(isa)) {
            printf("test_kern: ISA %s: not supported here, skipped\n", kern_isa_name(isa));
            continue;
        }
        kern_table_t t;
        if (kern_table_init(&t, isa, NULL) != 0) {
            CHECKF(0, "kern_table_init(%s) failed", kern_isa_name(isa));
            continue;
        }
        rng_t r = {1000 + (uint64_t)i};
        int before = check_failures;
        test_act(&t, &r, s);
        test_dots(&t, &r, s);
        test_tiles(&t, &r, s);
        test_interleaved(&t);
        test_attention(&t, &r, s);
        test_attention_batched(&t, &r, s);
        printf("test_kern: ISA %s: tested, %s\n", kern_isa_name(isa), check_failures == before ? "ok" : "FAILED");
        strcat(tested, " ");
        strcat(tested, kern_isa_name(isa));
    }
    printf("test_kern: ISAs tested:%s\n", tested);
    guard_fini(&s->gw);
    guard_fini(&s->gx);
    guard_fini(&s->gt);
    guard_fini(&s->gp);
    free(s);
    return check_finish("test_kern");
}
