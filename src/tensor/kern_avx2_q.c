/*
 * kern_avx2_q.c — AVX2 kernels for the weight types of kern_ref_q.c (compiled
 * with -mavx2 -mfma -mf16c; chosen at run time through kern_fill_avx2, which
 * calls kern_fill_avx2_q after filling the rest, and inherited by the AVX-512
 * table).  Activation conversions are the reference ones (quant.h).
 *
 * Bit-identical to the reference by construction: every kernel computes each
 * block's integer sums exactly with vector instructions (maddubs + madd), reduces
 * them to one int32 per block, and then performs the reference's float steps
 * (kern_ref_q.c) in the reference's order: K-quants form the float contributions
 * of up to eight super-blocks at once, one per lane (the same IEEE operations per lane),
 * and add them to the sum one after another; the 32-value types do the float step
 * in scalar code.  Results are identical across tables (and across the devices
 * of a ring).
 *
 * K-quants: a super-block is first "prepared" into 256 unsigned levels u (eight
 * vectors of 32 bytes, value order), sixteen int16 multipliers (one per 16 values,
 * laid out per vector as [sub-block 2k x8 | 2k+1 x8] to meet maddubs+madd's pair
 * layout) and, per 16-value sub-block j, int16 multipliers of the activation's
 * bsums[j]: `corr` (the level offset: isum = sum sc*u*x + sum corr_j*bsums_j) and
 * `mins` (imin = sum mins_j*bsums_j).  Levels are at most 63 and activations
 * within [-127, 127] (quant_row_q8_k), so maddubs's pair sums (<= 16002) never
 * saturate; every other sum fits int32.  dot_x4 prepares once and applies to four
 * columns; dot_tile is made of dot_x4 and dot.
 *
 * 32-value types: the levels as signed bytes (Q5_0: -16..15, IQ4_NL: the table
 * values) or unsigned (Q4_1, Q5_1); the signed ones use the sign trick (|w| as the
 * unsigned operand, w's sign moved onto x; pair sums <= 2*127*127).
 *
 * The K-quants' packed prompt path: the weight packers are here (they reuse the
 * preparations; kern_kpack.h has the layout, kern_avx2_kpack.c the tiles).
 *
 * Weight rows are software-prefetched ahead (decode is memory-bound).  All loads
 * are unaligned; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/kern_kpack.h"
#include "tensor/kern_x86_q.h"
#include "tensor/quant.h"

#define PREFETCH_AHEAD 2048

static inline float half(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

static inline float f32_at(const unsigned char *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void prefetch_span(const unsigned char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)(p + PREFETCH_AHEAD + o), _MM_HINT_T0);
}

/* [a x8 | b x8] as int16 lanes. */
static inline __m256i pair16(int a, int b)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

/* [m[2k] x8 | m[2k+1] x8] from sixteen int16 multipliers m. */
static inline __m256i pair_k(__m256i m, int k)
{
    const __m256i sel = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                         2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(m, _mm256_set1_epi32(k)), sel);
}

/* ---- K-quants ------------------------------------------------------------------------ */

typedef struct {
    __m256i lv[8];     /* levels u, 32 per vector, value order */
    __m256i sc[8];     /* int16 multipliers of vector k: [sub-block 2k x8 | 2k+1 x8] */
    __m256i corr;      /* int16 per 16-value sub-block: multiplier of bsums (level offset) */
    __m256i mins;      /* int16 per 16-value sub-block: multiplier of bsums into imin */
    float d, dmin;
} kprep_t;

typedef void (*kprep_fn)(const unsigned char *wb, kprep_t *p);

/* The i-th int16 lane of v (both 128-bit halves hold the same eight) in every lane. */
static inline __m256i lane16(__m256i v, int i)
{
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * i + 1) << 8 | 2 * i)));
}

/* Q4_K/Q5_K: the eight 6-bit scales and mins (one per 32 values) unpacked four at a
 * time with word operations (the rules of kq_scale_min), then d and dmin. */
static inline void prep_scales_mins(const unsigned char *wb, const unsigned char *scales, kprep_t *p)
{
    uint32_t u[3];
    memcpy(u, scales, sizeof u);
    const uint32_t s0 = u[0] & 0x3f3f3f3fu, s1 = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    const uint32_t m0 = u[1] & 0x3f3f3f3fu, m1 = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s1, (int)s0)));
    for (int j = 0; j < 8; j++)
        p->sc[j] = lane16(sc, j);
    const __m128i mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m1, (int)m0));
    p->corr = _mm256_setzero_si256();
    p->mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn));   /* per 16 values */
    p->d = half(wb);
    p->dmin = half(wb + 2);
}

static inline void prep_q4_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q4_k_t, qs);
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int c = 0; c < 4; c++) {
        const __m256i q = load32(qs + 32 * c);
        p->lv[2 * c] = _mm256_and_si256(q, m4);
        p->lv[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    prep_scales_mins(wb, wb + offsetof(block_q4_k_t, scales), p);
}

static inline void prep_q5_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q5_k_t, qs);
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    const __m256i qh = load32(wb + offsetof(block_q5_k_t, qh));
    for (int c = 0; c < 4; c++) {
        const __m256i q = load32(qs + 32 * c);
        /* bit j of qh[l] is the fifth bit of sub-block j's value l */
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
        p->lv[2 * c] = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(h0, 4));
        p->lv[2 * c + 1] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_slli_epi16(h1, 4));
    }
    prep_scales_mins(wb, wb + offsetof(block_q5_k_t, scales), p);
}

static inline void prep_q6_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *ql = wb + offsetof(block_q6_k_t, ql), *qhp = wb + offsetof(block_q6_k_t, qh);
    const int8_t *sc = (const int8_t *)(wb + offsetof(block_q6_k_t, scales));
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i a = load32(ql + 64 * h), b = load32(ql + 64 * h + 32), qh = load32(qhp + 32 * h);
        const __m256i hi0 = _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4);
        const __m256i hi1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4);
        const __m256i hi2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4);
        const __m256i hi3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4);
        p->lv[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(a, m4), hi0);
        p->lv[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(b, m4), hi1);
        p->lv[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), hi2);
        p->lv[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), hi3);
    }
    for (int k = 0; k < 8; k++)
        p->sc[k] = pair16(sc[2 * k], sc[2 * k + 1]);
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
    p->corr = _mm256_mullo_epi16(s16, _mm256_set1_epi16(-32));
    p->mins = _mm256_setzero_si256();
    p->d = half(wb + offsetof(block_q6_k_t, d));
    p->dmin = 0.0f;
}

static inline void prep_q3_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q3_k_t, qs), *scb = wb + offsetof(block_q3_k_t, scales);
    const __m256i hm = load32(wb + offsetof(block_q3_k_t, hmask));
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int h = 0; h < 2; h++) {
        const __m256i q = load32(qs + 32 * h);
        for (int s = 0; s < 4; s++) {
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m2);
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + s), one);
            p->lv[4 * h + s] = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));   /* u = low2 + 4*hbit */
        }
    }
    /* the sixteen 6-bit scales (q3k_scale's rules) four at a time with word operations */
    uint32_t u[3];
    memcpy(u, scb, sizeof u);
    const uint32_t k4 = 0x0f0f0f0fu, k2 = 0x03030303u;
    const __m128i s8 = _mm_set_epi32((int)(((u[1] >> 4) & k4) | ((u[2] >> 6) & k2) << 4),
                                     (int)(((u[0] >> 4) & k4) | ((u[2] >> 4) & k2) << 4),
                                     (int)((u[1] & k4) | ((u[2] >> 2) & k2) << 4), (int)((u[0] & k4) | (u[2] & k2) << 4));
    const __m256i sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(s8), _mm256_set1_epi16(32));
    for (int k = 0; k < 8; k++)
        p->sc[k] = pair_k(sc, k);
    p->corr = _mm256_mullo_epi16(sc, _mm256_set1_epi16(-4));
    p->mins = _mm256_setzero_si256();
    p->d = half(wb + offsetof(block_q3_k_t, d));
    p->dmin = 0.0f;
}

static inline void prep_q2_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *sc = wb + offsetof(block_q2_k_t, scales), *qs = wb + offsetof(block_q2_k_t, qs);
    const __m256i m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i q = load32(qs + 32 * h);
        for (int s = 0; s < 4; s++)
            p->lv[4 * h + s] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m2);
    }
    for (int k = 0; k < 8; k++)
        p->sc[k] = pair16(sc[2 * k] & 15, sc[2 * k + 1] & 15);
    const __m256i b16 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sc));
    p->corr = _mm256_setzero_si256();
    p->mins = _mm256_srli_epi16(b16, 4);
    p->d = half(wb + offsetof(block_q2_k_t, d));
    p->dmin = half(wb + offsetof(block_q2_k_t, dmin));
}

/* ---- one column, fused: levels and multipliers are formed where they are used
 * (nothing prepared is kept, so everything stays in registers); the same integer
 * sums as prep + kapply. */

typedef void (*k1_fn)(const unsigned char *wb, const unsigned char *xb, __m256i *isum, __m256i *imin, float *d,
                      float *dmin);


/* Q4_K/Q5_K: scales as eight int16 in both halves, mins per 16 values. */
static inline void k45_scales(const unsigned char *scales, __m256i *sc, __m256i *mins)
{
    uint32_t u[3];
    memcpy(u, scales, sizeof u);
    const uint32_t s0 = u[0] & 0x3f3f3f3fu, s1 = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    const uint32_t m0 = u[1] & 0x3f3f3f3fu, m1 = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
    *sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s1, (int)s0)));
    const __m128i mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m1, (int)m0));
    *mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn));
}

static inline void k1_q45(const unsigned char *wb, const unsigned char *xb, size_t sc_off, size_t qs_off, int q5,
                          __m256i *isum, __m256i *imin, float *d, float *dmin)
{
    const unsigned char *qs = wb + qs_off, *q8 = xb + Q8K_Q;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256i sc, mins;
    k45_scales(wb + sc_off, &sc, &mins);
    const __m256i qh = q5 ? load32(wb + offsetof(block_q5_k_t, qh)) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i q = load32(qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
        }
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(q8 + 64 * c)), lane16(sc, 2 * c)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(q8 + 64 * c + 32)),
                                                      lane16(sc, 2 * c + 1)));
    }
    *isum = acc;
    *imin = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(xb + Q8K_BSUMS)), mins);
    *d = half(wb);
    *dmin = half(wb + 2);
}

static void k1_q4_k(const unsigned char *wb, const unsigned char *xb, __m256i *isum, __m256i *imin, float *d,
                    float *dmin)
{
    k1_q45(wb, xb, offsetof(block_q4_k_t, scales), offsetof(block_q4_k_t, qs), 0, isum, imin, d, dmin);
}

static void k1_q5_k(const unsigned char *wb, const unsigned char *xb, __m256i *isum, __m256i *imin, float *d,
                    float *dmin)
{
    k1_q45(wb, xb, offsetof(block_q5_k_t, scales), offsetof(block_q5_k_t, qs), 1, isum, imin, d, dmin);
}

/* [s[2k] x8 | s[2k+1] x8] from s = eight int16 in both 128-bit halves: one in-lane shuffle. */
static inline __m256i pair_in_lanes(__m256i s, int k)
{
    const char a = (char)(4 * k), b = (char)(4 * k + 2);
    return _mm256_shuffle_epi8(s, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                                                   a + 1, a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                                   b, b + 1, b, b + 1, b, b + 1));
}

static void k1_q6_k(const unsigned char *wb, const unsigned char *xb, __m256i *isum, __m256i *imin, float *d,
                    float *dmin)
{
    const unsigned char *ql = wb + offsetof(block_q6_k_t, ql), *qhp = wb + offsetof(block_q6_k_t, qh);
    const unsigned char *q8 = xb + Q8K_Q;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const __m256i s16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + offsetof(block_q6_k_t, scales))));
    __m256i acc = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(xb + Q8K_BSUMS)),
                                    _mm256_mullo_epi16(s16, _mm256_set1_epi16(-32)));
    for (int h = 0; h < 2; h++) {
        const __m256i a = load32(ql + 64 * h), b = load32(ql + 64 * h + 32), qh = load32(qhp + 32 * h);
        const __m256i sc = h ? _mm256_permute2x128_si256(s16, s16, 0x11)   /* scales 8h..8h+7, twice */
                             : _mm256_permute2x128_si256(s16, s16, 0x00);
        /* The two high bits of value 128h + 32k + l are bits 2k, 2k+1 of qh[l], placed at bits 4-5: shifted in
         * 16-bit lanes, the bits that cross a byte land outside the 0x30 mask. */
        const __m256i hi[4] = {_mm256_and_si256(_mm256_slli_epi16(qh, 4), m30),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30), _mm256_and_si256(qh, m30),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)};
        for (int k = 0; k < 4; k++) {   /* values 128h + 32k + (0..31) */
            const __m256i lo4 = k >= 2 ? _mm256_srli_epi16(k & 1 ? b : a, 4) : (k & 1 ? b : a);
            const __m256i lv = _mm256_or_si256(_mm256_and_si256(lo4, m4), hi[k]);
            const __m256i p16 = _mm256_maddubs_epi16(lv, load32(q8 + 128 * h + 32 * k));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, pair_in_lanes(sc, k)));
        }
    }
    *isum = acc;
    *imin = _mm256_setzero_si256();
    *d = half(wb + offsetof(block_q6_k_t, d));
    *dmin = 0.0f;
}

/* The exact isum (and imin) of one prepared super-block against one Q8_K block, as
 * eight int32 lanes each (their sums are the block's isum and imin). */
static inline void kapply(const kprep_t *p, const unsigned char *xb, int has_corr, int has_min, __m256i *isum,
                          __m256i *imin)
{
    const unsigned char *q8 = xb + Q8K_Q;
    const __m256i bs = _mm256_loadu_si256((const __m256i *)(xb + Q8K_BSUMS));
    __m256i acc = has_corr ? _mm256_madd_epi16(bs, p->corr) : _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256i p16 = _mm256_maddubs_epi16(p->lv[k], load32(q8 + 32 * k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, p->sc[k]));
    }
    *isum = acc;
    *imin = has_min ? _mm256_madd_epi16(bs, p->mins) : _mm256_setzero_si256();
}

KQ_DEFINE_KDOT_COLS(PREFETCH_AHEAD)
KQ_DEFINE_KDOT_ROWS(PREFETCH_AHEAD)

KERN_DEFINE_DOTS_BY_COLS(q2_k, kdot_cols, sizeof(block_q2_k_t), prep_q2_k, NULL, 0, 1)
KERN_DEFINE_DOTS_BY_COLS(q3_k, kdot_cols, sizeof(block_q3_k_t), prep_q3_k, NULL, 1, 0)
KERN_DEFINE_DOTS_BY_COLS(q4_k, kdot_cols, sizeof(block_q4_k_t), prep_q4_k, k1_q4_k, 0, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_k, kdot_cols, sizeof(block_q5_k_t), prep_q5_k, k1_q5_k, 0, 1)
KERN_DEFINE_DOTS_BY_COLS(q6_k, kdot_cols, sizeof(block_q6_k_t), prep_q6_k, k1_q6_k, 1, 0)

/* Decode tiles (one activation row, up to eight weight rows at once): kdot_rows for Q2_K/Q3_K; the Q4_K/Q5_K/Q6_K
 * ones (kern_avx2_rows_q*_k, exported for the AVX-512 table too) are written out in kern_avx2_qdec.c. */
static void rows_q2_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)
{
    kdot_rows(n, w, w_stride, nr, x, out, sizeof(block_q2_k_t), prep_q2_k, NULL, 0, 1);
}

static void rows_q3_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)
{
    kdot_rows(n, w, w_stride, nr, x, out, sizeof(block_q3_k_t), prep_q3_k, NULL, 1, 0);
}

KERN_DEFINE_TILE_BY_ROWS(rows_tile_q2_k, rows_q2_k, dot_q2_k, dot_x4_q2_k)
KERN_DEFINE_TILE_BY_ROWS(rows_tile_q3_k, rows_q3_k, dot_q3_k, dot_x4_q3_k)
KERN_DEFINE_TILE_BY_ROWS(rows_tile_q4_k, kern_avx2_rows_q4_k, dot_q4_k, dot_x4_q4_k)
KERN_DEFINE_TILE_BY_ROWS(rows_tile_q5_k, kern_avx2_rows_q5_k, dot_q5_k, dot_x4_q5_k)
KERN_DEFINE_TILE_BY_ROWS(rows_tile_q6_k, kern_avx2_rows_q6_k, dot_q6_k, dot_x4_q6_k)

/* For the AVX-512 table, whose one-column Q4_K/Q5_K kernels these are (kern.h). */
void kern_avx2_dot_q4_k(size_t n, const void *w, const void *x, float *out)
{
    dot_q4_k(n, w, x, out);
}

void kern_avx2_dot_q5_k(size_t n, const void *w, const void *x, float *out)
{
    dot_q5_k(n, w, x, out);
}

void kern_avx2_dot_q6_k(size_t n, const void *w, const void *x, float *out)
{
    dot_q6_k(n, w, x, out);
}

/* ---- 32-value blocks ------------------------------------------------------------------ */

/* The 32 nibbles of the 16 bytes at qs, in value order (low nibbles are values 0..15). */
static inline __m256i nibbles32(const unsigned char *qs)
{
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

/* 0x10 in byte j where bit j of the little-endian u32 at qh is set. */
static inline __m256i fifth_bits(const unsigned char *qh)
{
    uint32_t h;
    memcpy(&h, qh, sizeof h);
    const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Exact dot of 32 unsigned levels with 32 int8 activations. */
static inline int32_t idot_u(__m256i u, const unsigned char *xq)
{
    const __m256i p16 = _mm256_maddubs_epi16(u, load32(xq));
    return kq_hsum_i32(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* Exact dot of 32 signed levels (|w| <= 127) with 32 int8 activations. */
static inline int32_t idot_s(__m256i w, const unsigned char *xq)
{
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(load32(xq), w));
    return kq_hsum_i32(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256i lv_q4_1(const unsigned char *wb)
{
    return nibbles32(wb + offsetof(block_q4_1_t, qs));
}

static inline __m256i lv_q5_1(const unsigned char *wb)
{
    return _mm256_or_si256(nibbles32(wb + offsetof(block_q5_1_t, qs)), fifth_bits(wb + offsetof(block_q5_1_t, qh)));
}

static inline __m256i lv_q5_0(const unsigned char *wb)
{
    const __m256i u =
        _mm256_or_si256(nibbles32(wb + offsetof(block_q5_0_t, qs)), fifth_bits(wb + offsetof(block_q5_0_t, qh)));
    return _mm256_sub_epi8(u, _mm256_set1_epi8(16));
}

static inline __m256i lv_iq4_nl(const unsigned char *wb)
{
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4nl_values));
    return _mm256_shuffle_epi8(table, nibbles32(wb + offsetof(block_iq4_nl_t, qs)));
}

typedef __m256i (*lv_fn)(const unsigned char *wb);

/* One block's float step, as the reference: with an offset (Q4_1/Q5_1 against Q8_1)
 * sum += isum * (d_w * d_x) + m_w * s_x, else (Q5_0/IQ4_NL against Q8_0)
 * sum += isum * (d_w * d_x). */
static inline float bstep(float sum, int offset, int32_t isum, float dw, float mw, const unsigned char *xb)
{
    if (offset)
        return sum + ((float)isum * (dw * half(xb)) + mw * half(xb + 2));
    return sum + (float)isum * (dw * half(xb));
}

/* The 32-value types: offset types take unsigned levels and Q8_1, the others signed
 * levels and Q8_0. */
static inline void bdot_x(size_t n, const void *wv, const void *xv, size_t stride, int ncols, float *out,
                          size_t wbytes, lv_fn lv, int offset)
{
    const unsigned char *w = wv, *x = xv;
    const size_t xbytes = offset ? sizeof(block_q8_1_t) : sizeof(block_q8_0_t);
    const size_t xq = offset ? offsetof(block_q8_1_t, q) : offsetof(block_q8_0_t, q);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t b = 0; b < n / QK4_0; b++) {
        const unsigned char *wb = w + b * wbytes;
        if (b % 4 == 0)
            prefetch_span(wb, 4 * wbytes);
        const __m256i v = lv(wb);
        const float dw = half(wb), mw = offset ? half(wb + 2) : 0.0f;
        for (int j = 0; j < ncols; j++) {
            const unsigned char *xb = x + j * stride + b * xbytes;
            const int32_t isum = offset ? idot_u(v, xb + xq) : idot_s(v, xb + xq);
            sum[j] = bstep(sum[j], offset, isum, dw, mw, xb);
        }
    }
    memcpy(out, sum, (size_t)ncols * sizeof(float));
}

KERN_DEFINE_DOTS_BY_COLS(q4_1, bdot_x, sizeof(block_q4_1_t), lv_q4_1, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_1, bdot_x, sizeof(block_q5_1_t), lv_q5_1, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_0, bdot_x, sizeof(block_q5_0_t), lv_q5_0, 0)
KERN_DEFINE_DOTS_BY_COLS(iq4_nl, bdot_x, sizeof(block_iq4_nl_t), lv_iq4_nl, 0)

/* ---- the packed prompt path: weight rows (kern_kpack.h; kern_avx2_kpack.c has the rest) ---- */

/* One prepared super-block in the packed layout (q6: levels - 32, no mins). */
static inline void kpack_block(const kprep_t *p, int q6, unsigned char *dst)
{
    __m256i bias = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256i lv = q6 ? _mm256_sub_epi8(p->lv[k], _mm256_set1_epi8(32)) : p->lv[k];
        _mm256_storeu_si256((__m256i *)(dst + KP_W_LV + 32 * k), lv);
        _mm256_storeu_si256((__m256i *)(dst + KP_W_SC + 32 * k), p->sc[k]);
        bias = _mm256_add_epi32(bias, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8((char)0x80), lv),
                                                        p->sc[k]));
    }
    int16_t m16[16];
    _mm256_storeu_si256((__m256i *)m16, p->mins);
    kpack_w_meta(dst, q6 ? NULL : m16, kq_hsum_i32(bias), p->d, p->dmin);
}

KPACK_DEFINE_PACK_W

void kern_fill_avx2_q(kern_table_t *t)
{
    KERN_SET_DOTS(t->q2_k, q2_k);
    KERN_SET_DOTS(t->q3_k, q3_k);
    KERN_SET_DOTS(t->q4_k, q4_k);
    KERN_SET_DOTS(t->q5_k, q5_k);
    KERN_SET_DOTS(t->q6_k, q6_k);
    (void)dot_tile_q2_k;   /* the macro's tiles: replaced by the ones with decode rows */
    (void)dot_tile_q3_k;
    (void)dot_tile_q4_k;
    (void)dot_tile_q5_k;
    (void)dot_tile_q6_k;
    t->q2_k.dot_tile = rows_tile_q2_k;
    t->q3_k.dot_tile = rows_tile_q3_k;
    t->q4_k.dot_tile = rows_tile_q4_k;
    t->q5_k.dot_tile = rows_tile_q5_k;
    t->q6_k.dot_tile = rows_tile_q6_k;
    KERN_SET_DOTS(t->q4_1, q4_1);
    KERN_SET_DOTS(t->q5_1, q5_1);
    KERN_SET_DOTS(t->q5_0, q5_0);
    KERN_SET_DOTS(t->iq4_nl, iq4_nl);
    kern_kpack_set(t, pack_w_q4_k, pack_w_q5_k, pack_w_q6_k, kern_avx2_kpack_x, kern_avx2_kpack_tile_min,
                   kern_avx2_kpack_tile);
}
