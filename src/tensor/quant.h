/*
 * quant.h — reference conversion between float32 and the stored types
 * (F16, Q8_0, Q4_0).  These are the specification the SIMD kernels are tested
 * against; they are scalar, exact and allocation-free.
 *   Q8_0: d = amax/127, id = 1/d (0 when d == 0), q = round-half-away-from-zero(x*id).
 *   Q4_0: m = the value of largest magnitude (sign kept), d = m / -8,
 *         q = min(15, (int)(x/d + 8.5)) (8 when d == 0).
 * n must be a multiple of the block size (32) for the quantized types.
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

void dequant_row_f16(const uint16_t *x, float *y, size_t n);
void dequant_row_q8_0(const block_q8_0_t *x, float *y, size_t n);
void dequant_row_q4_0(const block_q4_0_t *x, float *y, size_t n);

/* Any type of types.h; returns 0, or -1 for an unknown type or a bad n. */
int quant_row(uint32_t type, const float *x, void *y, size_t n);
/* The same for activations (what the kernels' act_from_f32 must produce):
 * quant_row_q8_0_act for Q8_0, quant_row otherwise. */
int quant_row_act(uint32_t type, const float *x, void *y, size_t n);
int dequant_row(uint32_t type, const void *x, float *y, size_t n);

#endif
