/*
 * kern_scalar.c — the reference kernels: the specification every SIMD table
 * (kern_avx2.c, kern_avx512.c, kern_neon.c) is tested against, and the table
 * used when no SIMD table can run or when scalar is forced.
 *
 * Each kernel is the plain loop its contract in kern.h describes, in one fixed
 * order (element 0 first, block 0 first):
 *   F32   dot = sum of w[i]*x[i], accumulated in f32;
 *   F16   activation converted with f32_to_f16; dot = sum of f32(w[i])*f32(x[i])
 *         accumulated in f32 (the product of two halves is exact in f32);
 *   Q8_0, Q4_0  activation quantized to Q8_0 by quant_row_q8_0_act; in the order of
 *         llama.cpp's x86 dot (ggml's AVX2 vec_dot and llamafile's tinyBLAS alike):
 *         eight lanes, lane k holding the exact integer sum of elements 4k..4k+3 of
 *         the block, acc[k] = fma(d_w * d_x, lane_k, acc[k]) block after block, then
 *         ((acc0+acc4) + (acc2+acc6)) + ((acc1+acc5) + (acc3+acc7)).  With this order
 *         the Q8_0 golden logits are bit-identical to llama.cpp's (test_golden*).
 *   dot_x4 is four calls of dot and dot_tile calls of dot_x4 and dot, so they
 *   agree with dot trivially.
 * Operands are read byte-wise (memcpy), so any alignment is accepted.  Nothing
 * here allocates or keeps state.
 */
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"

static float get_f32(const unsigned char *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float get_f16(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return f16_to_f32(h);
}

/* ---- activation conversions ---------------------------------------------------- */

static void act_f32(const float *x, void *y, size_t n)
{
    memmove(y, x, n * sizeof(float));
}

static void act_f16(const float *x, void *y, size_t n)
{
    quant_row_f16(x, y, n);
}

static void act_q8_0(const float *x, void *y, size_t n)
{
    quant_row_q8_0_act(x, y, n);
}

/* ---- dot products: w is one weight row, x one activation row, both n long ------ */

static void dot_f32(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += get_f32(wp + 4 * i) * get_f32(xp + 4 * i);
    *out = sum;
}

static void dot_f16_f16(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += get_f16(wp + 2 * i) * get_f16(xp + 2 * i);
    *out = sum;
}

/* One block of 32 integer products into the eight lanes (see the top). */
static void lanes_fma(float acc[8], const int8_t *w, const int8_t *x, float d)
{
    for (int k = 0; k < 8; k++) {
        int32_t lane = 0;
        for (int j = 4 * k; j < 4 * k + 4; j++)
            lane += (int32_t)w[j] * (int32_t)x[j];
        acc[k] = fmaf(d, (float)lane, acc[k]);
    }
}

static float lanes_sum(const float acc[8])
{
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static void dot_q8_0_q8_0(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float acc[8] = {0};
    for (size_t b = 0; b < n / QK8_0; b++) {
        const unsigned char *wb = wp + b * sizeof(block_q8_0_t);
        const unsigned char *xb = xp + b * sizeof(block_q8_0_t);
        const float dw = get_f16(wb + offsetof(block_q8_0_t, d));
        const float dx = get_f16(xb + offsetof(block_q8_0_t, d));
        lanes_fma(acc, (const int8_t *)(wb + offsetof(block_q8_0_t, q)), (const int8_t *)(xb + offsetof(block_q8_0_t, q)),
                  dw * dx);
    }
    *out = lanes_sum(acc);
}

static void dot_q4_0_q8_0(size_t n, const void *w, const void *x, float *out)
{
    const unsigned char *wp = w, *xp = x;
    float acc[8] = {0};
    for (size_t b = 0; b < n / QK4_0; b++) {
        const unsigned char *wb = wp + b * sizeof(block_q4_0_t);
        const unsigned char *xb = xp + b * sizeof(block_q8_0_t);
        const uint8_t *wq = wb + offsetof(block_q4_0_t, qs);
        int8_t wv[QK4_0];   /* the block's values in order: low nibbles are 0..15, high 16..31 */
        for (int j = 0; j < QK4_0 / 2; j++) {
            wv[j] = (int8_t)((wq[j] & 0x0f) - 8);
            wv[j + QK4_0 / 2] = (int8_t)((wq[j] >> 4) - 8);
        }
        const float dw = get_f16(wb + offsetof(block_q4_0_t, d));
        const float dx = get_f16(xb + offsetof(block_q8_0_t, d));
        lanes_fma(acc, wv, (const int8_t *)(xb + offsetof(block_q8_0_t, q)), dw * dx);
    }
    *out = lanes_sum(acc);
}

/* ---- four activation rows: four independent calls ------------------------------ */

static void dot_x4_f32(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        dot_f32(n, w, (const unsigned char *)x + j * stride, &out[j]);
}

static void dot_x4_f16(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        dot_f16_f16(n, w, (const unsigned char *)x + j * stride, &out[j]);
}

static void dot_x4_q8_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        dot_q8_0_q8_0(n, w, (const unsigned char *)x + j * stride, &out[j]);
}

static void dot_x4_q4_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        dot_q4_0_q8_0(n, w, (const unsigned char *)x + j * stride, &out[j]);
}

KERN_DEFINE_TILE_BY_DOTS(dot_tile_f32, dot_f32, dot_x4_f32)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_f16, dot_f16_f16, dot_x4_f16)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q8_0, dot_q8_0_q8_0, dot_x4_q8_0)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_0, dot_q4_0_q8_0, dot_x4_q4_0)

/* ---- attention over the F16 KV cache ------------------------------------------- */

static float dot_f16_kv(size_t n, const uint16_t *a, const uint16_t *b)
{
    float r;
    dot_f16_f16(n, a, b, &r);
    return r;
}

static void axpy_f16(size_t n, float a, const uint16_t *x, float *y)
{
    const unsigned char *xp = (const unsigned char *)x;
    for (size_t i = 0; i < n; i++)
        y[i] += a * get_f16(xp + 2 * i);
}

KERN_DEFINE_ATTN_BY_DOTS(attn_scores_f16, attn_values_f16, dot_f16_kv, axpy_f16)

void kern_fill_scalar(kern_table_t *t)
{
    *t = (kern_table_t){
        .isa = KERN_ISA_SCALAR,
        .f32 = {.act_type = TYPE_F32, .act_from_f32 = act_f32, .dot = dot_f32, .dot_x4 = dot_x4_f32,
                .dot_tile = dot_tile_f32},
        .f16 = {.act_type = TYPE_F16, .act_from_f32 = act_f16, .dot = dot_f16_f16, .dot_x4 = dot_x4_f16,
                .dot_tile = dot_tile_f16},
        .q8_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q8_0_q8_0,
                 .dot_x4 = dot_x4_q8_0, .dot_tile = dot_tile_q8_0},
        .q4_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q4_0_q8_0,
                 .dot_x4 = dot_x4_q4_0, .dot_tile = dot_tile_q4_0},
        .dot_f16 = dot_f16_kv,
        .axpy_f16 = axpy_f16,
        .attn_scores_f16 = attn_scores_f16,
        .attn_values_f16 = attn_values_f16,
    };
    kern_fill_ref_quants(t);
}
