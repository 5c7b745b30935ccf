/*
 * quant.h — reference conversion between float32 and the stored types, and the
 * activation formats the kernels take.  These are the specification the SIMD
 * kernels are tested against; they are scalar, exact and allocation-free.
 *   Q8_0: d = amax/127, id = 127/amax (0 when amax == 0), q = round-half-even(x*id).
 *   Q4_0: m = the value of largest magnitude (sign kept), d = m / -8,
 *         q = min(15, (int)(x/d + 8.5)) (8 when d == 0).
 *   Q8_1, Q8_K (activations) and the other weight types: see quant_small.c and
 *         quant_k.c for the exact rules.
 * n must be a multiple of the type's block size (32, or 256 for the K-quants and
 * Q8_K).  Block pointers may be unaligned.
 */
#ifndef LL_TENSOR_QUANT_H
#define LL_TENSOR_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

void quant_row_f16(const float *x, uint16_t *y, size_t n);
void quant_row_q8_0(const float *x, block_q8_0_t *y, size_t n);
/* Q8_0 as llama.cpp's CPU backend quantizes activations at run time on x86
 * (its AVX/AVX2 path, which made the golden files): id = 127/amax and round to
 * nearest, ties to even.  It differs from quant_row_q8_0 (the reference, used
 * for weights as llama-quantize does: id = 1/(amax/127), ties away from zero)
 * only where x·id lands on or next to a half — common when x sits on the F16
 * grid, as bloom's GELU outputs do. */
void quant_row_q8_0_act(const float *x, block_q8_0_t *y, size_t n);
void quant_row_q4_0(const float *x, block_q4_0_t *y, size_t n);
void quant_row_q4_1(const float *x, void *y, size_t n);
void quant_row_q5_0(const float *x, void *y, size_t n);
void quant_row_q5_1(const float *x, void *y, size_t n);
void quant_row_iq4_nl(const float *x, void *y, size_t n);
void quant_row_q8_1(const float *x, void *y, size_t n);   /* activations */
void quant_row_q2_k(const float *x, void *y, size_t n);
void quant_row_q3_k(const float *x, void *y, size_t n);
void quant_row_q4_k(const float *x, void *y, size_t n);
void quant_row_q5_k(const float *x, void *y, size_t n);
void quant_row_q6_k(const float *x, void *y, size_t n);
void quant_row_q8_k(const float *x, void *y, size_t n);   /* activations */

void dequant_row_f16(const uint16_t *x, float *y, size_t n);
void dequant_row_q8_0(const block_q8_0_t *x, float *y, size_t n);
void dequant_row_q4_0(const block_q4_0_t *x, float *y, size_t n);
void dequant_row_q4_1(const void *x, float *y, size_t n);
void dequant_row_q5_0(const void *x, float *y, size_t n);
void dequant_row_q5_1(const void *x, float *y, size_t n);
void dequant_row_iq4_nl(const void *x, float *y, size_t n);
void dequant_row_q8_1(const void *x, float *y, size_t n);
void dequant_row_q2_k(const void *x, float *y, size_t n);
void dequant_row_q3_k(const void *x, float *y, size_t n);
void dequant_row_q4_k(const void *x, float *y, size_t n);
void dequant_row_q5_k(const void *x, float *y, size_t n);
void dequant_row_q6_k(const void *x, float *y, size_t n);
void dequant_row_q8_k(const void *x, float *y, size_t n);

/* Any storage or activation type of types.h; returns 0, or -1 for an unknown type
 * or a bad n. */
int quant_row(uint32_t type, const float *x, void *y, size_t n);
/* The same for activations (what the kernels' act_from_f32 must produce):
 * quant_row_q8_0_act for Q8_0, quant_row otherwise. */
int quant_row_act(uint32_t type, const float *x, void *y, size_t n);
int dequant_row(uint32_t type, const void *x, float *y, size_t n);

/* ---- field accessors shared by the reference kernels (inline) ------------------- */

/* Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes. */
static inline void kq_scale_min(const uint8_t s[K_SCALE_SIZE], int j, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
        *m = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/* The inverse: packs eight 6-bit scales and mins. */
void kq_pack_scale_min(uint8_t s[K_SCALE_SIZE], const uint8_t sc[8], const uint8_t m[8]);

/* Q3_K: the stored 6-bit scale (0..63; used as scale - 32) of sub-block j (0..15). */
static inline int q3k_scale(const uint8_t s[12], int j)
{
    const int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | hi << 4;
}

/* Q3_K: the level (-4..3) of value v (0..255). */
static inline int q3k_level(const block_q3_k_t *b, int v)
{
    const int h = v / 128, s = (v % 128) / 32, l = v % 32;
    const int lo = (b->qs[32 * h + l] >> (2 * s)) & 3;
    return lo - ((b->hmask[l] >> (4 * h + s)) & 1 ? 0 : 4);
}

/* Q6_K: the level (-32..31) of value v (0..255). */
static inline int q6k_level(const block_q6_k_t *b, int v)
{
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const int lo = (b->ql[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0)) & 15;
    const int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

#endif
