/*
 * kern_neon_act.c — activation conversions of the NEON table (AArch64; kern_fill_neon
 * calls kern_fill_neon_act after the rest): F16 (the attention's queries and the KV
 * cache), Q8_0 (Q8_0, Q4_0, Q5_0 and IQ4_NL weights) and Q8_K (the K-quants), each
 * byte-identical to its reference in quant.h:
 *   F16   the hardware's round-to-nearest-even conversion, NaNs rewritten to
 *         f32_to_f16's sign | 0x7e00;
 *   Q8_0  amax = the largest magnitude (NaNs never count: maxNum), d = amax/127 as
 *         F16, q = round-half-even(x * (127/amax)) (0 when amax is 0);
 *   Q8_K  max = the first value of largest magnitude, iscale = -127/max,
 *         q = min(127, round-half-even(iscale * x)), bsums, d = 1/iscale.
 * vcvtnq rounds half to even as nearbyintf does and gives 0 for a NaN, as the
 * reference's conversion does on this architecture; narrowing keeps the low bits.
 * No state.
 */
#include <arm_neon.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"

static void act_f16(const float *x, void *y, size_t n)
{
    uint16_t *out = y;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
        const uint16x4_t nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
        const uint16x4_t canon = vorr_u16(vand_u16(h, vdup_n_u16(0x8000)), vdup_n_u16(0x7e00));
        uint16x4_t r = vbsl_u16(nan, canon, h);
        memcpy(out + i, &r, sizeof r);
    }
    for (; i < n; i++) {
        const uint16_t h = f32_to_f16(x[i]);
        memcpy(out + i, &h, sizeof h);
    }
}

static inline float abs_max(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4)
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));   /* maxNum: a NaN never wins */
    return vmaxnmvq_f32(m);
}

/* Eight int32 lanes (two vectors) narrowed to their low bytes. */
static inline int8x8_t low_bytes(int32x4_t a, int32x4_t b)
{
    return vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b)));
}

static void act_q8_0(const float *x, void *y, size_t n)
{
    unsigned char *out = y;
    for (size_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        unsigned char *yb = out + b * sizeof(block_q8_0_t);
        const float amax = abs_max(xb, QK8_0);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t dh = f32_to_f16(d);
        memcpy(yb + offsetof(block_q8_0_t, d), &dh, sizeof dh);
        const float32x4_t vid = vdupq_n_f32(id);
        int8_t q[QK8_0];
        for (int i = 0; i < QK8_0; i += 8) {
            const int32x4_t a = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xb + i), vid));
            const int32x4_t c = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xb + i + 4), vid));
            vst1_s8(q + i, low_bytes(a, c));
        }
        memcpy(yb + offsetof(block_q8_0_t, q), q, sizeof q);
    }
}

/* The first value of largest magnitude in a super-block (0 when all are 0 or NaN). */
static inline float signed_max_k(const float *xb)
{
    const float amax = abs_max(xb, QK_K);
    if (amax == 0.0f)
        return 0.0f;
    const float32x4_t va = vdupq_n_f32(amax);
    for (int i = 0; i < QK_K; i += 4)
        if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(xb + i)), va)))
            for (int k = 0; k < 4; k++)
                if (__builtin_fabsf(xb[i + k]) == amax)
                    return xb[i + k];
    return 0.0f;   /* not reached: amax is one of the values */
}

static void act_q8_k(const float *x, void *y, size_t n)
{
    const int32x4_t top = vdupq_n_s32(127);
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q8_k_t blk;
        memset(&blk, 0, sizeof blk);
        const float max = signed_max_k(xb);
        if (max != 0.0f) {
            const float iscale = -127.0f / max;
            const float32x4_t vis = vdupq_n_f32(iscale);
            for (int i = 0; i < QK_K; i += 8) {
                const int32x4_t a = vminq_s32(vcvtnq_s32_f32(vmulq_f32(vis, vld1q_f32(xb + i))), top);
                const int32x4_t c = vminq_s32(vcvtnq_s32_f32(vmulq_f32(vis, vld1q_f32(xb + i + 4))), top);
                vst1_s8(blk.q + i, low_bytes(a, c));
            }
            for (int j = 0; j < QK_K / 16; j++)
                blk.bsums[j] = vaddlvq_s8(vld1q_s8(blk.q + 16 * j));
            blk.d = 1.0f / iscale;
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void kern_fill_neon_act(kern_table_t *t)
{
    t->f16.act_from_f32 = act_f16;
    t->q8_0.act_from_f32 = t->q4_0.act_from_f32 = t->q5_0.act_from_f32 = t->iq4_nl.act_from_f32 = act_q8_0;
    t->q2_k.act_from_f32 = t->q3_k.act_from_f32 = t->q4_k.act_from_f32 = t->q5_k.act_from_f32 =
        t->q6_k.act_from_f32 = act_q8_k;
}
