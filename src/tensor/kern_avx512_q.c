/*
 * kern_avx512_q.c — AVX-512 (F/BW/VL) kernels for Q4_K, Q5_K and Q6_K (compiled
 * with the AVX-512 flags; kern_fill_avx512 calls kern_fill_avx512_q after taking
 * the AVX2 table, whose kernels the other new types keep).
 *
 * The construction of kern_avx2_q.c at twice the width: a super-block is prepared
 * into four 64-byte vectors of unsigned levels (value order) and four vectors of
 * int16 multipliers (one per 16 values, laid out to meet maddubs+madd's pairs);
 * maddubs + VNNI's dpwssd (madd and add in one; the table requires VNNI) give
 * exact int32 sums (levels <= 63, activations within [-127, 127]: no
 * saturation); the level-offset correction and the mins come from the
 * activation's bsums.  Up to eight super-blocks' float contributions are then
 * formed one per lane by the reference's IEEE operations and added one after
 * another, so the result is the reference's (kern_ref_q.c), bit for bit.
 * The packed prompt path's weight packers are here too (they reuse the
 * preparations; kern_kpack.h has the layout, kern_avx512_kpack.c the tiles).
 * All loads are unaligned; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/kern_kpack.h"
#include "tensor/kern_x86_q.h"
#include "tensor/quant.h"

#define PREFETCH_AHEAD 2048

typedef struct {
    __m512i lv[4];    /* levels, 64 per vector, value order */
    __m512i sc[4];    /* int16 multiplier per level pair: vector k covers 16-value groups 4k..4k+3 */
    __m256i corr;     /* int16 per 16 values: multiplier of bsums (level offset) */
    __m256i mins;     /* int16 per 16 values: multiplier of bsums into imin */
    float d, dmin;
} kprep_t;

typedef void (*kprep_fn)(const unsigned char *wb, kprep_t *p);
typedef void (*k1_fn)(const unsigned char *wb, const unsigned char *xb, __m256i *isum, __m256i *imin, float *d,
                      float *dmin);

static inline float half(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

/* The 16 per-16-value int16 multipliers m as four vectors: lane i of vector k is m[4k + i/8]. */
static inline void spread16(__m256i m, __m512i out[4])
{
    const __m512i z = _mm512_castsi256_si512(m);
    for (int k = 0; k < 4; k++) {
        const __m512i idx = _mm512_add_epi16(_mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23,
                                                                                22, 21, 20, 19, 18, 17, 16, 15, 14,
                                                                                13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                                                                2, 1, 0),
                                                                3),
                                             _mm512_set1_epi16((short)(4 * k)));
        out[k] = _mm512_permutexvar_epi16(idx, z);
    }
}

/* Shifts the low 32 bytes right by lo bits and the high 32 by hi (16-bit lanes), then masks each byte. */
static inline __m512i shift_mask(__m512i v, int lo, int hi, int mask)
{
    const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16((short)lo), _mm256_set1_epi16((short)hi), 1);
    return _mm512_and_si512(_mm512_srlv_epi16(v, sh), _mm512_set1_epi8((char)mask));
}

static inline __m512i bcast32(const unsigned char *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* Q4_K/Q5_K scales and mins, as kern_avx2_q.c's prep_scales_mins (word-wise unpacking). */
static inline void prep_scales_mins(const unsigned char *wb, const unsigned char *scales, kprep_t *p)
{
    uint32_t u[3];
    memcpy(u, scales, sizeof u);
    const uint32_t s0 = u[0] & 0x3f3f3f3fu, s1 = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    const uint32_t m0 = u[1] & 0x3f3f3f3fu, m1 = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
    const __m128i sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s1, (int)s0));
    const __m128i mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m1, (int)m0));
    spread16(_mm256_set_m128i(_mm_unpackhi_epi16(sc, sc), _mm_unpacklo_epi16(sc, sc)), p->sc);
    p->corr = _mm256_setzero_si256();
    p->mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn));
    p->d = half(wb);
    p->dmin = half(wb + 2);
}

static inline void prep_q4_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q4_k_t, qs);
    for (int c = 0; c < 4; c++)   /* values 64c..64c+63: low nibbles of qs[32c..], then high */
        p->lv[c] = shift_mask(bcast32(qs + 32 * c), 0, 4, 15);
    prep_scales_mins(wb, wb + offsetof(block_q4_k_t, scales), p);
}

static inline void prep_q5_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *qs = wb + offsetof(block_q5_k_t, qs);
    const __m512i qh = bcast32(wb + offsetof(block_q5_k_t, qh));
    for (int c = 0; c < 4; c++) {
        const __m512i hb = _mm512_slli_epi16(shift_mask(qh, 2 * c, 2 * c + 1, 1), 4);
        p->lv[c] = _mm512_or_si512(shift_mask(bcast32(qs + 32 * c), 0, 4, 15), hb);
    }
    prep_scales_mins(wb, wb + offsetof(block_q5_k_t, scales), p);
}

static inline void prep_q6_k(const unsigned char *wb, kprep_t *p)
{
    const unsigned char *ql = wb + offsetof(block_q6_k_t, ql), *qh = wb + offsetof(block_q6_k_t, qh);
    for (int h = 0; h < 2; h++) {
        const __m512i a = _mm512_loadu_si512((const void *)(ql + 64 * h));   /* values 128h + 0..63 (low), 64..127 (high) */
        const __m512i hq = bcast32(qh + 32 * h);
        const __m512i m4 = _mm512_set1_epi8(15);
        p->lv[2 * h] = _mm512_or_si512(_mm512_and_si512(a, m4), _mm512_slli_epi16(shift_mask(hq, 0, 2, 3), 4));
        p->lv[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), m4),
                                           _mm512_slli_epi16(shift_mask(hq, 4, 6, 3), 4));
    }
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + offsetof(block_q6_k_t, scales))));
    spread16(s16, p->sc);
    p->corr = _mm256_mullo_epi16(s16, _mm256_set1_epi16(-32));
    p->mins = _mm256_setzero_si256();
    p->d = half(wb + offsetof(block_q6_k_t, d));
    p->dmin = 0.0f;
}

/* One prepared super-block against one Q8_K block: isum and imin as eight int32 lanes each. */
static inline void kapply(const kprep_t *p, const unsigned char *xb, int has_corr, int has_min, __m256i *isum,
                          __m256i *imin)
{
    const unsigned char *q8 = xb + Q8K_Q;
    const __m256i bs = _mm256_loadu_si256((const __m256i *)(xb + Q8K_BSUMS));
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < 4; k++) {
        const __m512i p16 = _mm512_maddubs_epi16(p->lv[k], _mm512_loadu_si512((const void *)(q8 + 64 * k)));
        acc = _mm512_dpwssd_epi32(acc, p16, p->sc[k]);   /* acc + madd(p16, sc): exact, no saturation */
    }
    __m256i s = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
    if (has_corr)
        s = _mm256_add_epi32(s, _mm256_madd_epi16(bs, p->corr));
    *isum = s;
    *imin = has_min ? _mm256_madd_epi16(bs, p->mins) : _mm256_setzero_si256();
}

/* ---- the packed prompt path: weight rows (kern_kpack.h; kern_avx512_kpack.c has the rest) ---- */

/* One prepared super-block in the packed layout (q6: levels - 32, no mins). */
static inline void kpack_block(const kprep_t *p, int q6, unsigned char *dst)
{
    __m512i bias = _mm512_setzero_si512();
    for (int k = 0; k < 4; k++) {
        const __m512i lv = q6 ? _mm512_sub_epi8(p->lv[k], _mm512_set1_epi8(32)) : p->lv[k];
        _mm512_storeu_si512(dst + KP_W_LV + 64 * k, lv);
        _mm512_storeu_si512(dst + KP_W_SC + 64 * k, p->sc[k]);
        bias = _mm512_dpwssd_epi32(bias, _mm512_maddubs_epi16(_mm512_set1_epi8((char)0x80), lv), p->sc[k]);
    }
    int16_t m16[16];
    _mm256_storeu_si256((__m256i *)m16, p->mins);
    kpack_w_meta(dst, q6 ? NULL : m16, _mm512_reduce_add_epi32(bias), p->d, p->dmin);
}

KPACK_DEFINE_PACK_W

KQ_DEFINE_KDOT_COLS(PREFETCH_AHEAD)

KERN_DEFINE_DOTS_BY_COLS(q4_k, kdot_cols, sizeof(block_q4_k_t), prep_q4_k, NULL, 0, 1)
KERN_DEFINE_DOTS_BY_COLS(q5_k, kdot_cols, sizeof(block_q5_k_t), prep_q5_k, NULL, 0, 1)
KERN_DEFINE_DOTS_BY_COLS(q6_k, kdot_cols, sizeof(block_q6_k_t), prep_q6_k, NULL, 1, 0)

/* One column with the AVX2 kernels (their fused one-column form measured faster:
 * for one column the preparation dominates; decode tiles are their eight-row form),
 * four with this file's. */
KERN_DEFINE_TILE_BY_ROWS(dot_tile_q4_k_mixed, kern_avx2_rows_q4_k, kern_avx2_dot_q4_k, dot_x4_q4_k)
KERN_DEFINE_TILE_BY_ROWS(dot_tile_q5_k_mixed, kern_avx2_rows_q5_k, kern_avx2_dot_q5_k, dot_x4_q5_k)
KERN_DEFINE_TILE_BY_ROWS(dot_tile_q6_k_mixed, kern_avx2_rows_q6_k, kern_avx2_dot_q6_k, dot_x4_q6_k)

void kern_fill_avx512_q(kern_table_t *t)
{
    (void)dot_q4_k;   /* the macro's one-column versions are not used */
    (void)dot_q5_k;
    (void)dot_q6_k;
    (void)dot_tile_q4_k;
    (void)dot_tile_q5_k;
    (void)dot_tile_q6_k;
    t->q4_k = (kern_matvec_t){.act_type = TYPE_Q8_K, .act_from_f32 = t->q4_k.act_from_f32, .dot = kern_avx2_dot_q4_k,
                              .dot_x4 = dot_x4_q4_k, .dot_tile = dot_tile_q4_k_mixed};
    t->q5_k = (kern_matvec_t){.act_type = TYPE_Q8_K, .act_from_f32 = t->q5_k.act_from_f32, .dot = kern_avx2_dot_q5_k,
                              .dot_x4 = dot_x4_q5_k, .dot_tile = dot_tile_q5_k_mixed};
    t->q6_k = (kern_matvec_t){.act_type = TYPE_Q8_K, .act_from_f32 = t->q6_k.act_from_f32, .dot = kern_avx2_dot_q6_k,
                              .dot_x4 = dot_x4_q6_k, .dot_tile = dot_tile_q6_k_mixed};
    kern_kpack_set(t, pack_w_q4_k, pack_w_q5_k, pack_w_q6_k, kern_avx512_kpack_x, kern_avx512_kpack_tile_min,
                   kern_avx512_kpack_tile);
}
