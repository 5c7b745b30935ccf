/*
 * kern.h — the compute kernels, chosen once at start-up by CPU features.
 *
 * A kern_table_t holds, per weight type, the activation format that type wants,
 * the f32 -> activation conversion, and the dot products of one weight row with
 * one activation row (dot) or with four (dot_x4).  The scalar kernels in
 * kern_scalar.c are the specification; kern_avx2.c, kern_avx512.c and
 * kern_neon.c implement the same contracts, each compiled with its own target
 * flags.  Nothing here allocates or keeps state.
 *
 * Determinism contract (the distributed runtime depends on it): for one table,
 *   - dot_x4(n, w, x, stride, out)[j] == dot(n, w, x + j*stride) bit for bit;
 *   - act_from_f32 produces identical bytes to the scalar reference (quant.h);
 *   - results depend only on the operands, never on alignment or thread.
 * Numerics follow llama.cpp's CPU backend (FORMATS.md): Q8_0/Q4_0 weights take
 * Q8_0 activations, each block's integer dot is scaled by d_w*d_x and summed in
 * f32; F16 weights take F16 activations with f32 accumulation; F32 takes F32.
 */
#ifndef LL_TENSOR_KERN_H
#define LL_TENSOR_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"
#include "util/err.h"

typedef enum {
    KERN_ISA_AUTO = -1,  /* pick the best the CPU supports */
    KERN_ISA_SCALAR = 0,
    KERN_ISA_AVX2 = 1,
    KERN_ISA_AVX512 = 2,
    KERN_ISA_NEON = 3,
} kern_isa_t;

/* Kernels for one weight type.  n is the row length in elements (a multiple of 32
 * for the quantized types).  w points at one weight row stored in the weight type;
 * x at one activation row in act_type. */
typedef struct {
    uint32_t act_type;  /* TYPE_F32, TYPE_F16 or TYPE_Q8_0 */
    void (*act_from_f32)(const float *x, void *y, size_t n);
    void (*dot)(size_t n, const void *w, const void *x, float *out);
    /* out[j] = dot(w, x + j*x_stride_bytes) for j = 0..3 */
    void (*dot_x4)(size_t n, const void *w, const void *x, size_t x_stride_bytes, float *out);
} kern_matvec_t;

typedef struct {
    kern_isa_t isa;
    kern_matvec_t f32, f16, q8_0, q4_0;
    /* attention over the F16 KV cache */
    float (*dot_f16)(size_t n, const uint16_t *a, const uint16_t *b);      /* f32 accumulation */
    void (*axpy_f16)(size_t n, float a, const uint16_t *x, float *y);      /* y[i] += a * x[i] */
} kern_table_t;

/* Fills *t for the requested ISA (KERN_ISA_AUTO: the best this CPU and build
 * support).  ERR_UNSUP, naming the ISA, when the request cannot run here. */
int kern_table_init(kern_table_t *t, kern_isa_t isa, err_t *err);

/* Kernels for a weight type, or NULL when the type has none. */
const kern_matvec_t *kern_matvec_for(const kern_table_t *t, uint32_t weight_type);

/* The best ISA this CPU and build support. */
kern_isa_t kern_isa_best(void);
/* 1 if this CPU and build can run isa. */
int kern_isa_supported(kern_isa_t isa);
const char *kern_isa_name(kern_isa_t isa);               /* "scalar", "avx2", ... */
int kern_isa_parse(const char *s, kern_isa_t *isa);       /* 0 or -1; accepts "auto" */

/* Per-ISA fillers (kern_<isa>.c); each fills every field of *t. */
void kern_fill_scalar(kern_table_t *t);
void kern_fill_avx2(kern_table_t *t);
void kern_fill_avx512(kern_table_t *t);
void kern_fill_neon(kern_table_t *t);

#endif
