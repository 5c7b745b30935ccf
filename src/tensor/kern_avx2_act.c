/*
 * kern_avx2_act.c — activation conversion to Q8_K for the K-quant kernels of the
 * AVX2 table (compiled with -mavx2 -mfma -mf16c; kern_fill_avx2 calls
 * kern_fill_avx2_act after kern_fill_avx2_q, and the AVX-512 table keeps it).
 *
 * Byte-identical to quant_row_q8_k (quant_k.c, the reference): per super-block of
 * 256 values, max = the value of largest magnitude, the first of them (NaNs never
 * count); iscale = -127/max; q = min(127, round-half-even(iscale * x)) kept as
 * its low byte, as the reference's int8_t conversion does (a NaN product gives
 * INT_MIN there and here, hence 0); bsums[j] = the sum of q[16j..16j+15]; d =
 * 1/iscale; a block whose max is 0 is all zeros.  The reference spends a libm
 * call per value; this is one vector multiply, round and convert per 8.  Q5_0 and
 * IQ4_NL take the table's Q8_0 conversion (kern_avx2.c, byte-identical too).
 * Unaligned loads and stores; no state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/quant.h"

/* The first value of largest magnitude in the block (0 when every value is 0 or NaN). */
static inline float block_signed_max(const float *xb)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < QK_K; i += 8)   /* max_ps(a, m) is m when a is NaN */
        m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xb + i), abs_mask), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    if (amax == 0.0f)
        return 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int i = 0; i < QK_K; i += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(xb + i), abs_mask), va,
                                                         _CMP_EQ_OQ));
        if (hit)
            return xb[i + __builtin_ctz((unsigned)hit)];
    }
    return 0.0f;   /* not reached: amax is one of the values */
}

void kern_avx2_act_q8_k(const float *x, void *y, size_t n)
{
    const __m256i low_byte = _mm256_set1_epi32(0xff), top = _mm256_set1_epi32(127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q8_k_t blk;
        memset(&blk, 0, sizeof blk);
        const float max = block_signed_max(xb);
        if (max != 0.0f) {
            const float iscale = -127.0f / max;
            const __m256 vis = _mm256_set1_ps(iscale);
            for (int i = 0; i < QK_K; i += 32) {
                __m256i v[4];
                for (int k = 0; k < 4; k++) {
                    const __m256 p = _mm256_mul_ps(vis, _mm256_loadu_ps(xb + i + 8 * k));
                    const __m256i q = _mm256_cvtps_epi32(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
                    v[k] = _mm256_and_si256(_mm256_min_epi32(q, top), low_byte);   /* the low byte, unsaturated */
                }
                /* 0..255 in every lane: the unsigned packs keep them; the permute restores element order */
                __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]), _mm256_packus_epi32(v[2], v[3]));
                _mm256_storeu_si256((__m256i *)(blk.q + i), _mm256_permutevar8x32_epi32(p, order));
            }
            for (int j = 0; j < QK_K / 16; j += 2) {   /* two sums of 16 per 32 bytes */
                const __m256i q = _mm256_loadu_si256((const __m256i *)(blk.q + 16 * j));
                __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
                s = _mm256_hadd_epi32(s, s);
                s = _mm256_hadd_epi32(s, s);
                blk.bsums[j] = (int16_t)_mm256_cvtsi256_si32(s);
                blk.bsums[j + 1] = (int16_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(s, 1));
            }
            blk.d = 1.0f / iscale;
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void kern_fill_avx2_act(kern_table_t *t)
{
    t->q5_0.act_from_f32 = t->iq4_nl.act_from_f32 = t->q8_0.act_from_f32;   /* the table's own Q8_0 conversion */
    t->q2_k.act_from_f32 = t->q3_k.act_from_f32 = t->q4_k.act_from_f32 = t->q5_k.act_from_f32 =
        t->q6_k.act_from_f32 = kern_avx2_act_q8_k;
}
