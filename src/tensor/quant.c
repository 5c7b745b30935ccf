/*
 * quant.c — the reference conversions between float32 and F16, Q8_0, Q4_0
 * declared in quant.h, and quant_row/dequant_row, which dispatch on the type to
 * these and to quant_small.c (Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_1) and quant_k.c
 * (the K-quants and Q8_K).  This file is the specification the
 * SIMD kernels are tested against: plain scalar code, no state, no allocation.
 *
 * Numerics follow llama.cpp's reference quantizers exactly, because the golden
 * files were produced by them:
 *   Q8_0  amax = max|x|, d = amax/127, id = d ? 1/d : 0 (computed in f32 from the
 *         unrounded d), q = roundf(x*id) (round half away from zero); the stored
 *         scale is f16(d).  Multiplying by id rather than dividing by d is part of
 *         the contract: the two differ in the last bit for some inputs.
 *   Q8_0 activations (quant_row_q8_0_act): what llama.cpp's CPU backend does at
 *         run time on x86: id = 127/amax, q = round to nearest, ties to even.
 *   Q4_0  max = the value of largest magnitude, sign kept (first one on ties),
 *         d = max/-8, id = d ? 1/d : 0, q = min(15, (int)(x*id + 8.5)); byte j
 *         holds value j in its low nibble and value j+16 in its high nibble.
 *
 * Block pointers may be unaligned (the kernels' activation buffers are plain
 * bytes), so blocks are read and written byte-wise through memcpy, never through
 * a member access on a possibly misaligned struct.
 */
#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#include "tensor/f16.h"

static uint16_t get_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, sizeof v);
}

void quant_row_f16(const float *x, uint16_t *y, size_t n)
{
    unsigned char *out = (unsigned char *)y;
    for (size_t i = 0; i < n; i++)
        put_u16(out + 2 * i, f32_to_f16(x[i]));
}

void dequant_row_f16(const uint16_t *x, float *y, size_t n)
{
    const unsigned char *in = (const unsigned char *)x;
    for (size_t i = 0; i < n; i++)
        y[i] = f16_to_f32(get_u16(in + 2 * i));
}

/* One Q8_0 row: per block amax = max|x|, stored scale f16(amax/127), q = round(x*id).
 * act selects the run-time rule (id = 127/amax, ties to even) over the reference
 * (id = 1/(amax/127), ties away from zero). */
static void q8_0_row(const float *x, block_q8_0_t *y, size_t n, int act)
{
    unsigned char *out = (unsigned char *)y;
    for (size_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        unsigned char *yb = out + b * sizeof(block_q8_0_t);

        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax)
                amax = a;
        }
        const float d = amax / 127.0f;
        const float id = act ? (amax != 0.0f ? 127.0f / amax : 0.0f) : (d != 0.0f ? 1.0f / d : 0.0f);

        put_u16(yb + offsetof(block_q8_0_t, d), f32_to_f16(d));
        int8_t q[QK8_0];
        for (int j = 0; j < QK8_0; j++)   /* |x*id| <= 127 (+1 ulp): fits */
            q[j] = (int8_t)(act ? nearbyintf(xb[j] * id) : roundf(xb[j] * id));   /* nearbyintf: ties to even */
        memcpy(yb + offsetof(block_q8_0_t, q), q, sizeof q);
    }
}

void quant_row_q8_0(const float *x, block_q8_0_t *y, size_t n) { q8_0_row(x, y, n, 0); }
void quant_row_q8_0_act(const float *x, block_q8_0_t *y, size_t n) { q8_0_row(x, y, n, 1); }

void dequant_row_q8_0(const block_q8_0_t *x, float *y, size_t n)
{
    const unsigned char *in = (const unsigned char *)x;
    for (size_t b = 0; b < n / QK8_0; b++) {
        const unsigned char *xb = in + b * sizeof(block_q8_0_t);
        const float d = f16_to_f32(get_u16(xb + offsetof(block_q8_0_t, d)));
        const int8_t *q = (const int8_t *)(xb + offsetof(block_q8_0_t, q));
        for (int j = 0; j < QK8_0; j++)
            y[b * QK8_0 + j] = d * (float)q[j];
    }
}

void quant_row_q4_0(const float *x, block_q4_0_t *y, size_t n)
{
    unsigned char *out = (unsigned char *)y;
    for (size_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        unsigned char *yb = out + b * sizeof(block_q4_0_t);

        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        put_u16(yb + offsetof(block_q4_0_t, d), f32_to_f16(d));
        uint8_t qs[QK4_0 / 2];
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* x*id lies in [-8, 8] (+rounding), so x*id + 8.5 >= 0 and truncation is floor. */
            int lo = (int)(xb[j] * id + 8.5f);
            int hi = (int)(xb[j + QK4_0 / 2] * id + 8.5f);
            lo = lo > 15 ? 15 : lo;
            hi = hi > 15 ? 15 : hi;
            qs[j] = (uint8_t)(lo | (hi << 4));
        }
        memcpy(yb + offsetof(block_q4_0_t, qs), qs, sizeof qs);
    }
}

void dequant_row_q4_0(const block_q4_0_t *x, float *y, size_t n)
{
    const unsigned char *in = (const unsigned char *)x;
    for (size_t b = 0; b < n / QK4_0; b++) {
        const unsigned char *xb = in + b * sizeof(block_q4_0_t);
        const float d = f16_to_f32(get_u16(xb + offsetof(block_q4_0_t, d)));
        const uint8_t *qs = xb + offsetof(block_q4_0_t, qs);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[b * QK4_0 + j] = d * (float)((qs[j] & 0x0f) - 8);
            y[b * QK4_0 + j + QK4_0 / 2] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

int quant_row_act(uint32_t type, const float *x, void *y, size_t n)
{
    if (type != TYPE_Q8_0)
        return quant_row(type, x, y, n);
    if (n % QK8_0 != 0)
        return -1;
    quant_row_q8_0_act(x, y, n);
    return 0;
}

int quant_row(uint32_t type, const float *x, void *y, size_t n)
{
    size_t be = type_block_elems(type);
    if (be == 0 || n % be != 0)
        return -1;
    switch (type) {
    case TYPE_F32: memmove(y, x, n * sizeof(float)); return 0;
    case TYPE_F16: quant_row_f16(x, y, n); return 0;
    case TYPE_Q8_0: quant_row_q8_0(x, y, n); return 0;
    case TYPE_Q4_0: quant_row_q4_0(x, y, n); return 0;
    case TYPE_Q4_1: quant_row_q4_1(x, y, n); return 0;
    case TYPE_Q5_0: quant_row_q5_0(x, y, n); return 0;
    case TYPE_Q5_1: quant_row_q5_1(x, y, n); return 0;
    case TYPE_Q8_1: quant_row_q8_1(x, y, n); return 0;
    case TYPE_IQ4_NL: quant_row_iq4_nl(x, y, n); return 0;
    case TYPE_Q2_K: quant_row_q2_k(x, y, n); return 0;
    case TYPE_Q3_K: quant_row_q3_k(x, y, n); return 0;
    case TYPE_Q4_K: quant_row_q4_k(x, y, n); return 0;
    case TYPE_Q5_K: quant_row_q5_k(x, y, n); return 0;
    case TYPE_Q6_K: quant_row_q6_k(x, y, n); return 0;
    case TYPE_Q8_K: quant_row_q8_k(x, y, n); return 0;
    default: return -1;
    }
}

int dequant_row(uint32_t type, const void *x, float *y, size_t n)
{
    size_t be = type_block_elems(type);
    if (be == 0 || n % be != 0)
        return -1;
    switch (type) {
    case TYPE_F32: memmove(y, x, n * sizeof(float)); return 0;
    case TYPE_F16: dequant_row_f16(x, y, n); return 0;
    case TYPE_Q8_0: dequant_row_q8_0(x, y, n); return 0;
    case TYPE_Q4_0: dequant_row_q4_0(x, y, n); return 0;
    case TYPE_Q4_1: dequant_row_q4_1(x, y, n); return 0;
    case TYPE_Q5_0: dequant_row_q5_0(x, y, n); return 0;
    case TYPE_Q5_1: dequant_row_q5_1(x, y, n); return 0;
    case TYPE_Q8_1: dequant_row_q8_1(x, y, n); return 0;
    case TYPE_IQ4_NL: dequant_row_iq4_nl(x, y, n); return 0;
    case TYPE_Q2_K: dequant_row_q2_k(x, y, n); return 0;
    case TYPE_Q3_K: dequant_row_q3_k(x, y, n); return 0;
    case TYPE_Q4_K: dequant_row_q4_k(x, y, n); return 0;
    case TYPE_Q5_K: dequant_row_q5_k(x, y, n); return 0;
    case TYPE_Q6_K: dequant_row_q6_k(x, y, n); return 0;
    case TYPE_Q8_K: dequant_row_q8_k(x, y, n); return 0;
    default: return -1;
    }
}
