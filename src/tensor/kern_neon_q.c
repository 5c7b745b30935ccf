/*
 * kern_neon_q.c — NEON kernels for the weight types of kern_ref_q.c: the K-quants
 * Q2_K..Q6_K and the 32-value types Q4_1, Q5_0, Q5_1, IQ4_NL (arm64; chosen at run
 * time through kern_fill_neon, which calls kern_fill_neon_q after filling the
 * rest).
 *
 * 32-value types: a block is prepared into its 32 signed levels (two int8x16, value
 * order; IQ4_NL through a table lookup, the fifth bits of Q5_0/Q5_1 spread from qh
 * with a bit test), then each product is widened (vmull_s8, |product| <= 127*128
 * fits int16) and pair-added into int32 lanes, so the block's integer dot is exact;
 * the reference's float step (isum * (d_w * d_x), plus m_w * s_x for Q4_1/Q5_1)
 * follows in scalar code, block by block in order.  Bit-identical to the reference.
 *
 * K-quants, the same construction as kern_avx2_q.c: a super-block is prepared into
 * 256 unsigned levels (sixteen vectors of 16, value order) and per-16-value integer
 * multipliers (scale, level-offset correction on bsums, min on bsums); each
 * 16-value sub-block's dot is exact (vmull_s8 + vmlal_high_s8: pair sums of
 * levels <= 63 by activations in [-127, 127] stay below 2^15, then a widening
 * horizontal add); then the reference's float step in scalar code.  So results are
 * bit-identical to the reference.  dot_x4 prepares once for four columns; dot_tile
 * is made of dot_x4 and dot.  Nothing here allocates or keeps state.
 */
#include <arm_neon.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"


typedef struct {
    uint8x16_t lv[16];                 /* levels, 16 per vector, value order */
    int32_t sc[16], corr[16], mins[16];  /* per 16 values */
    float d, dmin;
} kprep_t;

typedef void (*kprep_fn)(const unsigned char *wb, kprep_t *p);

static inline float half(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return f16_to_f32(h);
}

static inline uint8x16_t bits(uint8x16_t v, int shift, uint8_t mask)
{
    return vandq_u8(vshlq_u8(v, vdupq_n_s8((int8_t)-shift)), vdupq_n_u8(mask));
}

static inline void prep_k45(const unsigned char *wb, const unsigned char *scales, kprep_t *p)
{
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        kq_scale_min(scales, j, &s, &m);
        p->sc[2 * j] = p->sc[2 * j + 1] = s;
        p->mins[2 * j] = p->mins[2 * j + 1] = m;
        p->corr[2 * j] = p->corr[2 * j + 1] = 0;
    }
    p->d = half(wb);
    p->dmin = half(wb + 2);
}

static void prep_q4_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q4_k_t, qs);
    for (int c = 0; c < 4; c++) {
        const uint8x16_t a = vld1q_u8(qs + 32 * c), b = vld1q_u8(qs + 32 * c + 16);
        p->lv[4 * c + 0] = bits(a, 0, 15);
        p->lv[4 * c + 1] = bits(b, 0, 15);
        p->lv[4 * c + 2] = bits(a, 4, 15);
        p->lv[4 * c + 3] = bits(b, 4, 15);
    }
    prep_k45(wb, wb + offsetof(block_q4_k_t, scales), p);
}

static void prep_q5_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q5_k_t, qs), *qh = wb + offsetof(block_q5_k_t, qh);
    const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
    for (int c = 0; c < 4; c++) {
        const uint8x16_t a = vld1q_u8(qs + 32 * c), b = vld1q_u8(qs + 32 * c + 16);
        p->lv[4 * c + 0] = vorrq_u8(bits(a, 0, 15), vshlq_n_u8(bits(h0, 2 * c, 1), 4));
        p->lv[4 * c + 1] = vorrq_u8(bits(b, 0, 15), vshlq_n_u8(bits(h1, 2 * c, 1), 4));
        p->lv[4 * c + 2] = vorrq_u8(bits(a, 4, 15), vshlq_n_u8(bits(h0, 2 * c + 1, 1), 4));
        p->lv[4 * c + 3] = vorrq_u8(bits(b, 4, 15), vshlq_n_u8(bits(h1, 2 * c + 1, 1), 4));
    }
    prep_k45(wb, wb + offsetof(block_q5_k_t, scales), p);
}

static void prep_q6_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *ql = wb + offsetof(block_q6_k_t, ql), *qh = wb + offsetof(block_q6_k_t, qh);
    const int8_t *sc = (const int8_t *)(wb + offsetof(block_q6_k_t, scales));
    for (int h = 0; h < 2; h++) {
        const uint8x16_t a0 = vld1q_u8(ql + 64 * h), a1 = vld1q_u8(ql + 64 * h + 16);
        const uint8x16_t b0 = vld1q_u8(ql + 64 * h + 32), b1 = vld1q_u8(ql + 64 * h + 48);
        const uint8x16_t h0 = vld1q_u8(qh + 32 * h), h1 = vld1q_u8(qh + 32 * h + 16);
        for (int k = 0; k < 4; k++) {   /* values 128h + 32k + (0..31) */
            const uint8x16_t x0 = k & 1 ? b0 : a0, x1 = k & 1 ? b1 : a1;
            const int sh = k >= 2 ? 4 : 0;
            p->lv[8 * h + 2 * k] = vorrq_u8(bits(x0, sh, 15), vshlq_n_u8(bits(h0, 2 * k, 3), 4));
            p->lv[8 * h + 2 * k + 1] = vorrq_u8(bits(x1, sh, 15), vshlq_n_u8(bits(h1, 2 * k, 3), 4));
        }
    }
    for (int j = 0; j < 16; j++) {
        p->sc[j] = sc[j];
        p->corr[j] = -32 * sc[j];
        p->mins[j] = 0;
    }
    p->d = half(wb + offsetof(block_q6_k_t, d));
    p->dmin = 0.0f;
}

/* Q2_K and Q3_K share the 2-bit layout: values 128h + 32s + (0..31) in bits 2s of qs[32h..]. */
static void prep_2bit(const unsigned char *qs, const unsigned char *hmask, kprep_t *p)
{
    const uint8x16_t m0 = hmask ? vld1q_u8(hmask) : vdupq_n_u8(0), m1 = hmask ? vld1q_u8(hmask + 16) : vdupq_n_u8(0);
    for (int h = 0; h < 2; h++) {
        const uint8x16_t q0 = vld1q_u8(qs + 32 * h), q1 = vld1q_u8(qs + 32 * h + 16);
        for (int s = 0; s < 4; s++) {
            p->lv[8 * h + 2 * s] = vorrq_u8(bits(q0, 2 * s, 3), vshlq_n_u8(bits(m0, 4 * h + s, 1), 2));
            p->lv[8 * h + 2 * s + 1] = vorrq_u8(bits(q1, 2 * s, 3), vshlq_n_u8(bits(m1, 4 * h + s, 1), 2));
        }
    }
}

static void prep_q3_k(const unsigned char *wb, kprep_t *p)
{
    prep_2bit(wb + offsetof(block_q3_k_t, qs), wb + offsetof(block_q3_k_t, hmask), p);   /* u = low2 + 4*hbit */
    for (int j = 0; j < 16; j++) {
        p->sc[j] = q3k_scale(wb + offsetof(block_q3_k_t, scales), j) - 32;
        p->corr[j] = -4 * p->sc[j];
        p->mins[j] = 0;
    }
    p->d = half(wb + offsetof(block_q3_k_t, d));
    p->dmin = 0.0f;
}

static void prep_q2_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *sc = wb + offsetof(block_q2_k_t, scales);
    prep_2bit(wb + offsetof(block_q2_k_t, qs), NULL, p);
    for (int j = 0; j < 16; j++) {
        p->sc[j] = sc[j] & 15;
        p->mins[j] = sc[j] >> 4;
        p->corr[j] = 0;
    }
    p->d = half(wb + offsetof(block_q2_k_t, d));
    p->dmin = half(wb + offsetof(block_q2_k_t, dmin));
}

static inline int32_t dot16(uint8x16_t u, const int8_t *q)
{
    const int8x16_t a = vreinterpretq_s8_u8(u), b = vld1q_s8(q);
    int16x8_t s = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    s = vmlal_high_s8(s, a, b);
    return vaddlvq_s16(s);
}

/* sum plus one block's float step, as the reference. */
static inline float kstep(float sum, const kprep_t *p, const unsigned char *xb, int has_min)
{
    const int8_t *q8 = (const int8_t *)(xb + Q8K_Q);
    int16_t bs[16];
    memcpy(bs, xb + Q8K_BSUMS, sizeof bs);
    int32_t isum = 0, imin = 0;
    for (int j = 0; j < 16; j++) {
        isum += p->sc[j] * dot16(p->lv[j], q8 + 16 * j) + p->corr[j] * bs[j];
        imin += p->mins[j] * bs[j];
    }
    float dx;
    memcpy(&dx, xb, sizeof dx);
    if (has_min)
        return sum + ((dx * p->d) * (float)isum - (dx * p->dmin) * (float)imin);
    return sum + (dx * p->d) * (float)isum;
}

static inline void kdot_cols(size_t n, const void *wv, const void *xv, size_t stride, int ncols, float *out,
                             size_t wbytes, kprep_fn prep, int has_min)
{
    const unsigned char *w = wv, *x = xv;
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t b = 0; b < n / QK_K; b++) {
        kprep_t p;
        prep(w + b * wbytes, &p);
        for (int j = 0; j < ncols; j++)
            sum[j] = kstep(sum[j], &p, x + j * stride + b * Q8K_BYTES, has_min);
    }
    memcpy(out, sum, (size_t)ncols * sizeof(float));
}

KERN_DEFINE_DOTS_BY_COLS(q2_k, kdot_cols, sizeof(block_q2_k_t), prep_q2_k, 1)
KERN_DEFINE_DOTS_BY_COLS(q3_k, kdot_cols, sizeof(block_q3_k_t), prep_q3_k, 0)
KERN_DEFINE_DOTS_BY_COLS(q4_k, kdot_cols, sizeof(block_q4_k_t), prep_q4_k, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_k, kdot_cols, sizeof(block_q5_k_t), prep_q5_k, 1)
KERN_DEFINE_DOTS_BY_COLS(q6_k, kdot_cols, sizeof(block_q6_k_t), prep_q6_k, 0)

/* The decode tile: nr (1..8) weight rows far apart against one activation row, super-block b of every row
 * before b + 1 of any (nr read streams advancing together, each prefetched ahead); each row's sum is kstep's,
 * in block order, so out[r] is dot(row r) bit for bit. */
#define ROWS_PREFETCH 1024
static inline void kdot_rows(size_t n, const void *wv, size_t w_stride, int nr, const void *xv, float *out,
                             size_t wbytes, kprep_fn prep, int has_min)
{
    const unsigned char *w = wv, *x = xv;
    float sum[KERN_TILE_ROWS] = {0};
    for (size_t b = 0; b < n / QK_K; b++) {
        for (int r = 0; r < nr && r < KERN_TILE_ROWS; r++) {
            const unsigned char *wb = w + (size_t)r * w_stride + b * wbytes;
            for (size_t o = 0; o < wbytes; o += 64)
                __builtin_prefetch(wb + ROWS_PREFETCH + o);
            kprep_t p;
            prep(wb, &p);
            sum[r] = kstep(sum[r], &p, x + b * Q8K_BYTES, has_min);
        }
    }
    memcpy(out, sum, (size_t)nr * sizeof(float));
}

/* dot_tile: one-column tiles by kdot_rows, the others by dot and dot_x4. */
#define DEFINE_ROWS_TILE(name, wbytes, prep, has_min)                                                            \
    static void rows_##name(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)         \
    {                                                                                                            \
        kdot_rows(n, w, w_stride, nr, x, out, wbytes, prep, has_min);                                            \
    }                                                                                                            \
    KERN_DEFINE_TILE_BY_ROWS(rows_tile_##name, rows_##name, dot_##name, dot_x4_##name)
DEFINE_ROWS_TILE(q2_k, sizeof(block_q2_k_t), prep_q2_k, 1)
DEFINE_ROWS_TILE(q3_k, sizeof(block_q3_k_t), prep_q3_k, 0)
DEFINE_ROWS_TILE(q4_k, sizeof(block_q4_k_t), prep_q4_k, 1)
DEFINE_ROWS_TILE(q5_k, sizeof(block_q5_k_t), prep_q5_k, 1)
DEFINE_ROWS_TILE(q6_k, sizeof(block_q6_k_t), prep_q6_k, 0)

/* ---- 32-value blocks (Q4_1, Q5_0, Q5_1, IQ4_NL) against Q8_0 / Q8_1 --------------- */

typedef struct {
    int8x16_t lo, hi;  /* levels of values 0..15 and 16..31 */
    float d, m;        /* scale and offset (m = 0 for the types without one) */
} bprep_t;

typedef void (*bprep_fn)(const unsigned char *wb, bprep_t *p);

/* The 32 nibbles of qs in value order (low nibbles first). */
static inline void nibbles(const unsigned char *qs, bprep_t *p)
{
    const uint8x16_t v = vld1q_u8(qs);
    p->lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15)));
    p->hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

/* Adds 16 to the level of value j where bit j of the little-endian u32 at qh is set. */
static inline void fifth_bits(const unsigned char *qh, bprep_t *p)
{
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bit), sixteen = vdupq_n_u8(16);
    const uint8x16_t h0 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t h1 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    p->lo = vorrq_s8(p->lo, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h0, m), sixteen)));
    p->hi = vorrq_s8(p->hi, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h1, m), sixteen)));
}

static void bprep_q4_1(const unsigned char *wb, bprep_t *p)
{
    nibbles(wb + offsetof(block_q4_1_t, qs), p);
    p->d = half(wb);
    p->m = half(wb + 2);
}

static void bprep_q5_1(const unsigned char *wb, bprep_t *p)
{
    nibbles(wb + offsetof(block_q5_1_t, qs), p);
    fifth_bits(wb + offsetof(block_q5_1_t, qh), p);
    p->d = half(wb);
    p->m = half(wb + 2);
}

static void bprep_q5_0(const unsigned char *wb, bprep_t *p)
{
    nibbles(wb + offsetof(block_q5_0_t, qs), p);
    fifth_bits(wb + offsetof(block_q5_0_t, qh), p);
    p->lo = vsubq_s8(p->lo, vdupq_n_s8(16));
    p->hi = vsubq_s8(p->hi, vdupq_n_s8(16));
    p->d = half(wb);
    p->m = 0.0f;
}

static void bprep_iq4_nl(const unsigned char *wb, bprep_t *p)
{
    const int8x16_t table = vld1q_s8(iq4nl_values);
    nibbles(wb + offsetof(block_iq4_nl_t, qs), p);
    p->lo = vqtbl1q_s8(table, vreinterpretq_u8_s8(p->lo));
    p->hi = vqtbl1q_s8(table, vreinterpretq_u8_s8(p->hi));
    p->d = half(wb);
    p->m = 0.0f;
}

/* The exact integer dot of one prepared block with the 32 activations at q. */
static inline int32_t idot32(const bprep_t *p, const int8_t *q)
{
    const int8x16_t x0 = vld1q_s8(q), x1 = vld1q_s8(q + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(p->lo), vget_low_s8(x0)));
    s = vpadalq_s16(s, vmull_high_s8(p->lo, x0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(p->hi), vget_low_s8(x1)));
    s = vpadalq_s16(s, vmull_high_s8(p->hi, x1));
    return vaddvq_s32(s);
}

/* has_m: Q8_1 activations (d, s, q) and sum += isum * (d_w * d_x) + m_w * s_x;
 * otherwise Q8_0 (d, q) and sum += isum * (d_w * d_x), as the reference. */
static inline void bdot_cols(size_t n, const void *wv, const void *xv, size_t stride, int ncols, float *out,
                             size_t wbytes, bprep_fn prep, int has_m)
{
    const unsigned char *w = wv, *x = xv;
    const size_t xbytes = has_m ? sizeof(block_q8_1_t) : sizeof(block_q8_0_t);
    const size_t xq = has_m ? offsetof(block_q8_1_t, q) : offsetof(block_q8_0_t, q);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t b = 0; b < n / QK4_0; b++) {
        bprep_t p;
        prep(w + b * wbytes, &p);
        for (int j = 0; j < ncols; j++) {
            const unsigned char *xb = x + j * stride + b * xbytes;
            const int32_t isum = idot32(&p, (const int8_t *)(xb + xq));
            if (has_m)
                sum[j] += (float)isum * (p.d * half(xb)) + p.m * half(xb + 2);
            else
                sum[j] += (float)isum * (p.d * half(xb));
        }
    }
    memcpy(out, sum, (size_t)ncols * sizeof(float));
}

KERN_DEFINE_DOTS_BY_COLS(q4_1, bdot_cols, sizeof(block_q4_1_t), bprep_q4_1, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_1, bdot_cols, sizeof(block_q5_1_t), bprep_q5_1, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_0, bdot_cols, sizeof(block_q5_0_t), bprep_q5_0, 0)
KERN_DEFINE_DOTS_BY_COLS(iq4_nl, bdot_cols, sizeof(block_iq4_nl_t), bprep_iq4_nl, 0)

void kern_fill_neon_q(kern_table_t *t)
{
    KERN_SET_DOTS(t->q4_1, q4_1);
    KERN_SET_DOTS(t->q5_0, q5_0);
    KERN_SET_DOTS(t->q5_1, q5_1);
    KERN_SET_DOTS(t->iq4_nl, iq4_nl);
    KERN_SET_DOTS(t->q2_k, q2_k);
    KERN_SET_DOTS(t->q3_k, q3_k);
    KERN_SET_DOTS(t->q4_k, q4_k);
    KERN_SET_DOTS(t->q5_k, q5_k);
    KERN_SET_DOTS(t->q6_k, q6_k);
    (void)dot_tile_q2_k;   /* the macro's tiles, replaced by the ones with decode rows */
    (void)dot_tile_q3_k;
    (void)dot_tile_q4_k;
    (void)dot_tile_q5_k;
    (void)dot_tile_q6_k;
    t->q2_k.dot_tile = rows_tile_q2_k;
    t->q3_k.dot_tile = rows_tile_q3_k;
    t->q4_k.dot_tile = rows_tile_q4_k;
    t->q5_k.dot_tile = rows_tile_q5_k;
    t->q6_k.dot_tile = rows_tile_q6_k;
}
