/*
 * quant_small.c — reference conversions for the 32-value block types besides
 * Q8_0/Q4_0: Q4_1, Q5_0, Q5_1, IQ4_NL (weights) and Q8_1 (activations for
 * Q4_1/Q5_1 weights).  Declared in quant.h; plain scalar code, no state.
 *
 * Dequantization is the format's definition (types.h).  The weight quantizers are
 * the simple one-pass ones (no error search): they make valid, reasonable files for
 * tests and benchmarks, not llama-quantize's bytes.
 *   Q4_1/Q5_1  d = (max - min) / (2^bits - 1), m = min, q = min(top, (int)((x - min)/d + 0.5));
 *   Q5_0       as Q4_0 with 16 levels each side: d = max/-16, q = min(31, (int)(x/d + 16.5));
 *   IQ4_NL     d = max / -127 (max: the value of largest magnitude, sign kept), each value
 *              takes the level nearest to x/d (the lower one on a tie).
 * Q8_1 follows llama.cpp's x86 CPU backend, which made the golden files: amax = max|x|,
 * d = amax/127, q = round-half-even(x * (127/amax)) (0 when amax is 0), s = half(d * sum q)
 * with d unrounded.
 */
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant.h"

/* Largest |x| in b[0..n) and the value that has it (first on ties). */
static float signed_max(const float *b, int n, float *amax_out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(b[j]) > amax) {
            amax = fabsf(b[j]);
            max = b[j];
        }
    }
    if (amax_out)
        *amax_out = amax;
    return max;
}

static void min_max(const float *b, int n, float *mn, float *mx)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (b[j] < *mn) *mn = b[j];
        if (b[j] > *mx) *mx = b[j];
    }
}

static void pack_nibbles(const uint8_t q[QK4_0], uint8_t qs[QK4_0 / 2])
{
    for (int j = 0; j < QK4_0 / 2; j++)
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + QK4_0 / 2] & 15) << 4);
}

static void unpack_nibbles(const uint8_t qs[QK4_0 / 2], uint8_t q[QK4_0])
{
    for (int j = 0; j < QK4_0 / 2; j++) {
        q[j] = qs[j] & 15;
        q[j + QK4_0 / 2] = qs[j] >> 4;
    }
}

/* Bit j of the little-endian u32 in qh[4] is the fifth bit of value j. */
static void pack_high(const uint8_t q[QK4_0], uint8_t qh[4])
{
    uint32_t h = 0;
    for (int j = 0; j < QK4_0; j++)
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

static uint32_t high_bits(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* Asymmetric 2^bits-level quantization of one block: d, min and the levels. */
static void quant_asym(const float *xb, int top, float *d_out, float *m_out, uint8_t q[QK4_0])
{
    float mn, mx;
    min_max(xb, QK4_0, &mn, &mx);
    const float d = (mx - mn) / (float)top;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK4_0; j++) {
        int v = (int)((xb[j] - mn) * id + 0.5f);
        q[j] = (uint8_t)(v > top ? top : v < 0 ? 0 : v);
    }
    *d_out = d;
    *m_out = mn;
}

void quant_row_q4_1(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q4_1_t blk;
        uint8_t q[QK4_0];
        float d, m;
        quant_asym(x + b * QK4_0, 15, &d, &m, q);
        blk.d = f32_to_f16(d);
        blk.m = f32_to_f16(m);
        pack_nibbles(q, blk.qs);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void quant_row_q5_1(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q5_1_t blk;
        uint8_t q[QK4_0];
        float d, m;
        quant_asym(x + b * QK4_0, 31, &d, &m, q);
        blk.d = f32_to_f16(d);
        blk.m = f32_to_f16(m);
        pack_nibbles(q, blk.qs);
        pack_high(q, blk.qh);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void quant_row_q5_0(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        const float d = signed_max(xb, QK4_0, NULL) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[QK4_0];
        for (int j = 0; j < QK4_0; j++) {
            int v = (int)(xb[j] * id + 16.5f);   /* x*id in [-16, 16]: non-negative, truncation is floor */
            q[j] = (uint8_t)(v > 31 ? 31 : v);
        }
        block_q5_0_t blk;
        blk.d = f32_to_f16(d);
        pack_nibbles(q, blk.qs);
        pack_high(q, blk.qh);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void quant_row_iq4_nl(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        const float d = signed_max(xb, QK4_0, NULL) / (float)iq4nl_values[0];
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[QK4_0];
        for (int j = 0; j < QK4_0; j++) {
            const float v = xb[j] * id;
            int best = 0;
            for (int k = 1; k < 16; k++)
                if (fabsf(v - iq4nl_values[k]) < fabsf(v - iq4nl_values[best]))
                    best = k;
            q[j] = (uint8_t)best;
        }
        block_iq4_nl_t blk;
        blk.d = f32_to_f16(d);
        pack_nibbles(q, blk.qs);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void quant_row_q8_1(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        float amax;
        signed_max(xb, QK4_0, &amax);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        block_q8_1_t blk;
        int32_t sum = 0;
        for (int j = 0; j < QK4_0; j++) {
            blk.q[j] = (int8_t)nearbyintf(xb[j] * id);   /* |x*id| <= 127 (+1 ulp) */
            sum += blk.q[j];
        }
        blk.d = f32_to_f16(d);
        blk.s = f32_to_f16(d * (float)sum);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void dequant_row_q4_1(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q4_1_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d), m = f16_to_f32(blk.m);
        uint8_t q[QK4_0];
        unpack_nibbles(blk.qs, q);
        for (int j = 0; j < QK4_0; j++)
            y[b * QK4_0 + j] = d * (float)q[j] + m;
    }
}

void dequant_row_q5_1(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q5_1_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d), m = f16_to_f32(blk.m);
        const uint32_t h = high_bits(blk.qh);
        uint8_t q[QK4_0];
        unpack_nibbles(blk.qs, q);
        for (int j = 0; j < QK4_0; j++)
            y[b * QK4_0 + j] = d * (float)(q[j] | ((h >> j) & 1) << 4) + m;
    }
}

void dequant_row_q5_0(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q5_0_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d);
        const uint32_t h = high_bits(blk.qh);
        uint8_t q[QK4_0];
        unpack_nibbles(blk.qs, q);
        for (int j = 0; j < QK4_0; j++)
            y[b * QK4_0 + j] = d * (float)((int)(q[j] | ((h >> j) & 1) << 4) - 16);
    }
}

void dequant_row_iq4_nl(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_iq4_nl_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d);
        uint8_t q[QK4_0];
        unpack_nibbles(blk.qs, q);
        for (int j = 0; j < QK4_0; j++)
            y[b * QK4_0 + j] = d * (float)iq4nl_values[q[j]];
    }
}

void dequant_row_q8_1(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK4_0; b++) {
        block_q8_1_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d);
        for (int j = 0; j < QK4_0; j++)
            y[b * QK4_0 + j] = d * (float)blk.q[j];
    }
}
