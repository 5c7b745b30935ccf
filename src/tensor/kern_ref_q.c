/*
 * kern_ref_q.c — the reference (scalar) kernels for the weight types beyond
 * F32/F16/Q8_0/Q4_0: Q4_1, Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K..Q6_K.  They
 * are the specification of these types' kernels in every table (kern.h): each
 * SIMD table either replaces them with kernels tested against them, or keeps them.
 *
 * Activations are quantized as llama.cpp's CPU backend does for each weight type
 * (quant.h gives the exact rules): Q8_0 for Q5_0 and IQ4_NL, Q8_1 for Q4_1 and
 * Q5_1, Q8_K (blocks of 256) for the K-quants.  Each block's (or super-block's)
 * integer part is exact in int32; the float part, in one fixed order (block 0
 * first, sum starting at 0):
 *   Q5_0, IQ4_NL  sum += isum * (d_w * d_x)
 *   Q4_1, Q5_1    sum += isum * (d_w * d_x) + m_w * s_x
 *   Q2_K, Q4_K, Q5_K  isum = sum over sub-blocks of scale * (integer dot of the
 *                 sub-block), imin = sum over sub-blocks of min * (sub-block's
 *                 activation sum, from bsums); sum += (d_x * d_w) * isum - (d_x * dmin_w) * imin
 *   Q3_K, Q6_K    isum = sum over sub-blocks of signed scale * integer dot;
 *                 sum += (d_x * d_w) * isum
 * dot_x4 is four calls of dot and dot_tile is made of dot_x4 and dot, so they agree
 * with dot trivially.  Operands are read byte-wise, so any alignment is accepted.
 * kern_fill_ref_quants() puts these kernels into a table; every ISA's filler calls it
 * first and then replaces what it has faster kernels for.
 */
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"

static float get_f16(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return f16_to_f32(h);
}

static float get_f32(const unsigned char *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int32_t get_i16(const unsigned char *p)
{
    int16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}


/* ---- 32-value blocks -------------------------------------------------------------- */

/* The 32 nibbles of qs in value order. */
static void nibbles(const unsigned char *qs, int q[32])
{
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 15;
        q[j + 16] = qs[j] >> 4;
    }
}

static uint32_t u32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t idot32(const int q[32], const int8_t *x)
{
    int32_t s = 0;
    for (int j = 0; j < 32; j++)
        s += q[j] * (int32_t)x[j];
    return s;
}

/* The 32 weight levels of one block of a 32-value type, in value order. */
typedef void (*levels_fn)(const unsigned char *wb, int q[32]);

static void levels_q4_1(const unsigned char *wb, int q[32])
{
    nibbles(wb + offsetof(block_q4_1_t, qs), q);
}

static void levels_q5_1(const unsigned char *wb, int q[32])
{
    nibbles(wb + offsetof(block_q5_1_t, qs), q);
    const uint32_t h = u32_at(wb + offsetof(block_q5_1_t, qh));
    for (int j = 0; j < 32; j++)
        q[j] |= (int)((h >> j) & 1) << 4;
}

static void levels_q5_0(const unsigned char *wb, int q[32])
{
    nibbles(wb + offsetof(block_q5_0_t, qs), q);
    const uint32_t h = u32_at(wb + offsetof(block_q5_0_t, qh));
    for (int j = 0; j < 32; j++)
        q[j] = (q[j] | (int)((h >> j) & 1) << 4) - 16;
}

static void levels_iq4_nl(const unsigned char *wb, int q[32])
{
    nibbles(wb + offsetof(block_iq4_nl_t, qs), q);
    for (int j = 0; j < 32; j++)
        q[j] = iq4nl_values[q[j]];
}

/* Weights with a scale d and an offset m (Q4_1, Q5_1) against Q8_1: per block
 * sum += isum * (d_w * d_x) + m_w * s_x.  d and m are the block's first two halves. */
static inline float dot_offset(size_t n, const unsigned char *w, size_t wbytes, levels_fn levels,
                               const unsigned char *x)
{
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK4_0; b++) {
        const unsigned char *wb = w + b * wbytes, *xb = x + b * sizeof(block_q8_1_t);
        int q[32];
        levels(wb, q);
        const int32_t isum = idot32(q, (const int8_t *)(xb + offsetof(block_q8_1_t, q)));
        const float dw = get_f16(wb), mw = get_f16(wb + 2), dx = get_f16(xb), sx = get_f16(xb + 2);
        sum += (float)isum * (dw * dx) + mw * sx;
    }
    return sum;
}

/* Weights with a scale d only (Q5_0, IQ4_NL) against Q8_0: sum += isum * (d_w * d_x). */
static inline float dot_scaled(size_t n, const unsigned char *w, size_t wbytes, levels_fn levels,
                               const unsigned char *x)
{
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK4_0; b++) {
        const unsigned char *wb = w + b * wbytes, *xb = x + b * sizeof(block_q8_0_t);
        int q[32];
        levels(wb, q);
        const int32_t isum = idot32(q, (const int8_t *)(xb + offsetof(block_q8_0_t, q)));
        sum += (float)isum * (get_f16(wb) * get_f16(xb));
    }
    return sum;
}

static void dot_q4_1(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_offset(n, w, sizeof(block_q4_1_t), levels_q4_1, x);
}

static void dot_q5_1(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_offset(n, w, sizeof(block_q5_1_t), levels_q5_1, x);
}

static void dot_q5_0(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_scaled(n, w, sizeof(block_q5_0_t), levels_q5_0, x);
}

static void dot_iq4_nl(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_scaled(n, w, sizeof(block_iq4_nl_t), levels_iq4_nl, x);
}

/* ---- K-quants against Q8_K ----------------------------------------------------------- */

/* Q4_K (qh NULL) and Q5_K (qh_off: where the fifth bits are) against Q8_K. */
static inline float dot_q45_k(size_t n, const unsigned char *w, size_t wbytes, size_t sc_off, size_t qs_off,
                              int has_qh, size_t qh_off, const unsigned char *x)
{
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK_K; b++) {
        const unsigned char *wb = w + b * wbytes, *xb = x + b * Q8K_BYTES;
        const unsigned char *sc = wb + sc_off, *qs = wb + qs_off, *qh = wb + qh_off;
        const int8_t *q8 = (const int8_t *)(xb + Q8K_Q);
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t s, m;
            kq_scale_min(sc, j, &s, &m);
            const unsigned char *q = qs + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            int32_t d = 0;
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 15) | (has_qh ? ((qh[l] >> j) & 1) << 4 : 0);
                d += v * (int32_t)q8[32 * j + l];
            }
            isum += s * d;
            imin += m * (get_i16(xb + Q8K_BSUMS + 4 * j) + get_i16(xb + Q8K_BSUMS + 4 * j + 2));
        }
        const float dx = get_f32(xb);
        sum += (dx * get_f16(wb)) * (float)isum - (dx * get_f16(wb + 2)) * (float)imin;
    }
    return sum;
}

static void dot_q4_k(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_q45_k(n, w, sizeof(block_q4_k_t), offsetof(block_q4_k_t, scales), offsetof(block_q4_k_t, qs), 0, 0,
                     x);
}

static void dot_q5_k(size_t n, const void *w, const void *x, float *out)
{
    *out = dot_q45_k(n, w, sizeof(block_q5_k_t), offsetof(block_q5_k_t, scales), offsetof(block_q5_k_t, qs), 1,
                     offsetof(block_q5_k_t, qh), x);
}

static void dot_q6_k(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q6_k_t blk;
        memcpy(&blk, wp + b * sizeof blk, sizeof blk);
        const unsigned char *xb = xp + b * Q8K_BYTES;
        const int8_t *q8 = (const int8_t *)(xb + Q8K_Q);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t d = 0;
            for (int i = 0; i < 16; i++)
                d += q6k_level(&blk, 16 * j + i) * (int32_t)q8[16 * j + i];
            isum += blk.scales[j] * d;
        }
        sum += (get_f32(xb) * f16_to_f32(blk.d)) * (float)isum;
    }
    *out = sum;
}

static void dot_q3_k(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q3_k_t blk;
        memcpy(&blk, wp + b * sizeof blk, sizeof blk);
        const unsigned char *xb = xp + b * Q8K_BYTES;
        const int8_t *q8 = (const int8_t *)(xb + Q8K_Q);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t d = 0;
            for (int i = 0; i < 16; i++)
                d += q3k_level(&blk, 16 * j + i) * (int32_t)q8[16 * j + i];
            isum += (q3k_scale(blk.scales, j) - 32) * d;
        }
        sum += (get_f32(xb) * f16_to_f32(blk.d)) * (float)isum;
    }
    *out = sum;
}

static void dot_q2_k(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float sum = 0.0f;
    for (size_t b = 0; b < n / QK_K; b++) {
        const unsigned char *wb = wp + b * sizeof(block_q2_k_t), *xb = xp + b * Q8K_BYTES;
        const unsigned char *sc = wb + offsetof(block_q2_k_t, scales), *qs = wb + offsetof(block_q2_k_t, qs);
        const int8_t *q8 = (const int8_t *)(xb + Q8K_Q);
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 16; j++) {
            const unsigned char *q = qs + 32 * (j / 8) + 16 * (j & 1);
            const int shift = 2 * ((j % 8) / 2);
            int32_t d = 0;
            for (int i = 0; i < 16; i++)
                d += ((q[i] >> shift) & 3) * (int32_t)q8[16 * j + i];
            isum += (sc[j] & 15) * d;
            imin += (sc[j] >> 4) * get_i16(xb + Q8K_BSUMS + 2 * j);
        }
        const float dx = get_f32(xb);
        sum += (dx * get_f16(wb + offsetof(block_q2_k_t, d))) * (float)isum -
               (dx * get_f16(wb + offsetof(block_q2_k_t, dmin))) * (float)imin;
    }
    *out = sum;
}

/* ---- four columns, tiles, conversions, the table ------------------------------------ */

#define DEFINE_X4(name, dot)                                                                                     \
    static void name(size_t n, const void *w, const void *x, size_t stride, float *out)                         \
    {                                                                                                            \
        for (int j = 0; j < 4; j++)                                                                              \
            dot(n, w, (const unsigned char *)x + j * stride, &out[j]);                                           \
    }

DEFINE_X4(dot_x4_q4_1, dot_q4_1)
DEFINE_X4(dot_x4_q5_0, dot_q5_0)
DEFINE_X4(dot_x4_q5_1, dot_q5_1)
DEFINE_X4(dot_x4_iq4_nl, dot_iq4_nl)
DEFINE_X4(dot_x4_q2_k, dot_q2_k)
DEFINE_X4(dot_x4_q3_k, dot_q3_k)
DEFINE_X4(dot_x4_q4_k, dot_q4_k)
DEFINE_X4(dot_x4_q5_k, dot_q5_k)
DEFINE_X4(dot_x4_q6_k, dot_q6_k)

KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_1, dot_q4_1, dot_x4_q4_1)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q5_0, dot_q5_0, dot_x4_q5_0)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q5_1, dot_q5_1, dot_x4_q5_1)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_iq4_nl, dot_iq4_nl, dot_x4_iq4_nl)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q2_k, dot_q2_k, dot_x4_q2_k)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q3_k, dot_q3_k, dot_x4_q3_k)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_k, dot_q4_k, dot_x4_q4_k)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q5_k, dot_q5_k, dot_x4_q5_k)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q6_k, dot_q6_k, dot_x4_q6_k)

static void act_q8_0(const float *x, void *y, size_t n)
{
    quant_row_q8_0_act(x, y, n);
}

#define MV(act, conv, name) \
    (kern_matvec_t){.act_type = act, .act_from_f32 = conv, .dot = dot_##name, .dot_x4 = dot_x4_##name, \
                    .dot_tile = dot_tile_##name}

void kern_fill_ref_quants(kern_table_t *t)
{
    t->q4_1 = MV(TYPE_Q8_1, quant_row_q8_1, q4_1);
    t->q5_1 = MV(TYPE_Q8_1, quant_row_q8_1, q5_1);
    t->q5_0 = MV(TYPE_Q8_0, act_q8_0, q5_0);
    t->iq4_nl = MV(TYPE_Q8_0, act_q8_0, iq4_nl);
    t->q2_k = MV(TYPE_Q8_K, quant_row_q8_k, q2_k);
    t->q3_k = MV(TYPE_Q8_K, quant_row_q8_k, q3_k);
    t->q4_k = MV(TYPE_Q8_K, quant_row_q8_k, q4_k);
    t->q5_k = MV(TYPE_Q8_K, quant_row_q8_k, q5_k);
    t->q6_k = MV(TYPE_Q8_K, quant_row_q8_k, q6_k);
}
