/*
 * kern_neon.c — the kernel table for arm64 (baseline ARMv8-A Advanced SIMD, which
 * every arm64 CPU has; compiled only on aarch64 and chosen at run time by kern.c).
 * No optional extension is used: int8 dots are widening multiplies (smull/smlal2)
 * and pairwise widening adds (sadalp), not sdot, and f16 <-> f32 uses the base
 * fcvtl conversions.
 *
 * Shape of every dot product here, as in the x86 files: a per-block (or per-chunk)
 * step split into "prepare the weight" and "apply it to one activation column".
 * dot runs prepare+apply per block; dot_x4 prepares once and applies four times,
 * each column into its own accumulators, with the same block order, accumulator
 * assignment and final reduction.  So dot_x4(...)[j] is bit-identical to dot on
 * column j by construction.
 *
 * Quantized dots: per block, the 32 int8 products are summed exactly into four
 * int32 lanes (each int16 intermediate holds two products, at most 2*128*127 in
 * magnitude since activations lie in [-127, 127]); the lanes are converted to f32
 * and fused-multiply-added with d_w*d_x into one of two f32 accumulators, by block
 * parity.  The float order differs from the scalar reference (tested with a
 * tolerance); the integer part is exact.
 *
 * The activation conversions are the reference ones of quant.h (O(n) per row, so
 * they cost little next to the dots).  No software prefetch: unlike the x86 files
 * this table could not be measured on hardware, and arm64 cores' own prefetchers
 * follow sequential rows.  Operands are loaded as bytes, so any
 * alignment is accepted.  Nothing here allocates or keeps state.
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/quant.h"

#define Q8_BYTES sizeof(block_q8_0_t)        /* 34 */
#define Q4_BYTES sizeof(block_q4_0_t)        /* 18 */
#define Q8_QS offsetof(block_q8_0_t, q)       /* 2 */
#define Q4_QS offsetof(block_q4_0_t, qs)      /* 2 */

/* ---- small helpers ------------------------------------------------------------ */

static inline uint16_t load_u16(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

/* Eight halves at p (any alignment). */
static inline float16x8_t load_h8(const unsigned char *p)
{
    return vreinterpretq_f16_u8(vld1q_u8(p));
}

static inline float load_d(const unsigned char *p)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(load_u16(p)))), 0);
}

/* ---- Q8_0 / Q4_0 weights against Q8_0 activations ------------------------------- */

/* One weight block made ready for any number of activation columns. */
typedef struct {
    int8x16_t lo, hi;  /* values 0..15 and 16..31 */
    float d;           /* weight scale */
} wblock_t;

static inline wblock_t q8_prep(const unsigned char *wb)
{
    return (wblock_t){vld1q_s8((const int8_t *)(wb + Q8_QS)), vld1q_s8((const int8_t *)(wb + Q8_QS + 16)),
                      load_d(wb)};
}

static inline wblock_t q4_prep(const unsigned char *wb)
{
    uint8x16_t v = vld1q_u8(wb + Q4_QS);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
    return (wblock_t){lo, hi, load_d(wb)};
}

/* acc += f32(four exact int32 partial sums of w.x) * (d_w * d_x) for one Q8_0 block xb. */
static inline float32x4_t block_apply(wblock_t w, const unsigned char *xb, float32x4_t acc)
{
    int8x16_t x0 = vld1q_s8((const int8_t *)(xb + Q8_QS));
    int8x16_t x1 = vld1q_s8((const int8_t *)(xb + Q8_QS + 16));
    int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(w.lo), vget_low_s8(x0)), w.lo, x0);
    int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(w.hi), vget_low_s8(x1)), w.hi, x1);
    int32x4_t s = vpadalq_s16(vpaddlq_s16(p0), p1);
    return vfmaq_n_f32(acc, vcvtq_f32_s32(s), w.d * load_d(xb));
}

typedef wblock_t (*prep_fn)(const unsigned char *wb);

static inline float qdot(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x)
{
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = block_apply(prep(w + b * wbytes), x + b * Q8_BYTES, acc0);
        acc1 = block_apply(prep(w + (b + 1) * wbytes), x + (b + 1) * Q8_BYTES, acc1);
    }
    if (b < nb)
        acc0 = block_apply(prep(w + b * wbytes), x + b * Q8_BYTES, acc0);
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

static inline void qdot_x4(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x,
                           size_t stride, float *out)
{
    float32x4_t acc0[4], acc1[4];
    for (int j = 0; j < 4; j++)
        acc0[j] = acc1[j] = vdupq_n_f32(0.0f);
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        wblock_t w0 = prep(w + b * wbytes);
        for (int j = 0; j < 4; j++)
            acc0[j] = block_apply(w0, x + j * stride + b * Q8_BYTES, acc0[j]);
        wblock_t w1 = prep(w + (b + 1) * wbytes);
        for (int j = 0; j < 4; j++)
            acc1[j] = block_apply(w1, x + j * stride + (b + 1) * Q8_BYTES, acc1[j]);
    }
    if (b < nb) {
        wblock_t w0 = prep(w + b * wbytes);
        for (int j = 0; j < 4; j++)
            acc0[j] = block_apply(w0, x + j * stride + b * Q8_BYTES, acc0[j]);
    }
    for (int j = 0; j < 4; j++)
        out[j] = vaddvq_f32(vaddq_f32(acc0[j], acc1[j]));
}

static void dot_q8_0(size_t n, const void *w, const void *x, float *out)
{
    *out = qdot(n / QK8_0, w, Q8_BYTES, q8_prep, x);
}

static void dot_x4_q8_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    qdot_x4(n / QK8_0, w, Q8_BYTES, q8_prep, x, stride, out);
}

static void dot_q4_0(size_t n, const void *w, const void *x, float *out)
{
    *out = qdot(n / QK4_0, w, Q4_BYTES, q4_prep, x);
}

static void dot_x4_q4_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    qdot_x4(n / QK4_0, w, Q4_BYTES, q4_prep, x, stride, out);
}

/* ---- F16 and F32 -----------------------------------------------------------------
 * Chunks of 16 elements, four lanes to each of four accumulators.  A final partial
 * chunk is copied into a zeroed 16-element array and takes the same path. */

typedef struct {
    float32x4_t v[4];
} chunk_t;

static inline chunk_t chunk_f16(const unsigned char *p)
{
    float16x8_t a = load_h8(p), b = load_h8(p + 16);
    return (chunk_t){{vcvt_f32_f16(vget_low_f16(a)), vcvt_high_f32_f16(a), vcvt_f32_f16(vget_low_f16(b)),
                      vcvt_high_f32_f16(b)}};
}

static inline chunk_t chunk_f32(const unsigned char *p)
{
    return (chunk_t){{vreinterpretq_f32_u8(vld1q_u8(p)), vreinterpretq_f32_u8(vld1q_u8(p + 16)),
                      vreinterpretq_f32_u8(vld1q_u8(p + 32)), vreinterpretq_f32_u8(vld1q_u8(p + 48))}};
}

typedef chunk_t (*chunk_fn)(const unsigned char *p);

/* Bytes of elements i..n-1 (fewer than 16) copied into a zeroed 16-element chunk. */
static inline chunk_t chunk_tail(const unsigned char *p, size_t i, size_t n, size_t esz, chunk_fn load)
{
    unsigned char pad[64];
    memset(pad, 0, sizeof pad);
    memcpy(pad, p + esz * i, esz * (n - i));
    return load(pad);
}

static inline float fdot(size_t n, const unsigned char *w, const unsigned char *x, size_t esz, chunk_fn load)
{
    float32x4_t acc[4];
    for (int k = 0; k < 4; k++)
        acc[k] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        chunk_t cw = load(w + esz * i), cx = load(x + esz * i);
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], cw.v[k], cx.v[k]);
    }
    if (i < n) {
        chunk_t cw = chunk_tail(w, i, n, esz, load), cx = chunk_tail(x, i, n, esz, load);
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], cw.v[k], cx.v[k]);
    }
    return vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
}

static inline void fdot_x4(size_t n, const unsigned char *w, const unsigned char *x, size_t stride, size_t esz,
                           chunk_fn load, float *out)
{
    float32x4_t acc[4][4];
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++)
            acc[j][k] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        chunk_t cw = load(w + esz * i);
        for (int j = 0; j < 4; j++) {
            chunk_t cx = load(x + j * stride + esz * i);
            for (int k = 0; k < 4; k++)
                acc[j][k] = vfmaq_f32(acc[j][k], cw.v[k], cx.v[k]);
        }
    }
    if (i < n) {
        chunk_t cw = chunk_tail(w, i, n, esz, load);
        for (int j = 0; j < 4; j++) {
            chunk_t cx = chunk_tail(x + j * stride, i, n, esz, load);
            for (int k = 0; k < 4; k++)
                acc[j][k] = vfmaq_f32(acc[j][k], cw.v[k], cx.v[k]);
        }
    }
    for (int j = 0; j < 4; j++)
        out[j] = vaddvq_f32(vaddq_f32(vaddq_f32(acc[j][0], acc[j][1]), vaddq_f32(acc[j][2], acc[j][3])));
}

static void dot_f16(size_t n, const void *w, const void *x, float *out)
{
    *out = fdot(n, w, x, 2, chunk_f16);
}

static void dot_x4_f16(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    fdot_x4(n, w, x, stride, 2, chunk_f16, out);
}

static void dot_f32(size_t n, const void *w, const void *x, float *out)
{
    *out = fdot(n, w, x, 4, chunk_f32);
}

static void dot_x4_f32(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    fdot_x4(n, w, x, stride, 4, chunk_f32, out);
}

/* No tiled kernels of its own yet: dot_tile is made of dot_x4 and dot. */
KERN_DEFINE_TILE_BY_DOTS(dot_tile_f32, dot_f32, dot_x4_f32)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_f16, dot_f16, dot_x4_f16)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q8_0, dot_q8_0, dot_x4_q8_0)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_0, dot_q4_0, dot_x4_q4_0)

/* ---- attention over the F16 KV cache -------------------------------------------- */

static float dot_f16_kv(size_t n, const uint16_t *a, const uint16_t *b)
{
    return fdot(n, (const unsigned char *)a, (const unsigned char *)b, 2, chunk_f16);
}

/* y[i] = fma(a, x[i], y[i]) — one rounding per element, in the vector body and the tail. */
static void axpy_f16(size_t n, float a, const uint16_t *x, float *y)
{
    const unsigned char *xp = (const unsigned char *)x;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = load_h8(xp + 2 * i);
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vget_low_f16(h)), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vcvt_high_f32_f16(h), a));
    }
    for (; i < n; i++)
        y[i] = fmaf(a, load_d(xp + 2 * i), y[i]);
}

KERN_DEFINE_ATTN_BY_DOTS(attn_scores_f16, attn_values_f16, dot_f16_kv, axpy_f16)

/* ---- activation conversions: the references (kern_neon_act.c replaces them) ----- */

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

void kern_fill_neon(kern_table_t *t)
{
    *t = (kern_table_t){
        .isa = KERN_ISA_NEON,
        .f32 = {.act_type = TYPE_F32, .act_from_f32 = act_f32, .dot = dot_f32, .dot_x4 = dot_x4_f32,
                .dot_tile = dot_tile_f32},
        .f16 = {.act_type = TYPE_F16, .act_from_f32 = act_f16, .dot = dot_f16, .dot_x4 = dot_x4_f16,
                .dot_tile = dot_tile_f16},
        .q8_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q8_0, .dot_x4 = dot_x4_q8_0,
                 .dot_tile = dot_tile_q8_0},
        .q4_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q4_0, .dot_x4 = dot_x4_q4_0,
                 .dot_tile = dot_tile_q4_0},
        .dot_f16 = dot_f16_kv,
        .axpy_f16 = axpy_f16,
        .attn_scores_f16 = attn_scores_f16,
        .attn_values_f16 = attn_values_f16,
    };
    kern_fill_ref_quants(t);
    kern_fill_neon_q(t);
    kern_fill_neon_act(t);
}
