/*
 * kern_x86_q.h — the float step shared by the x86 K-quant kernels
 * (kern_avx2_q.c, kern_avx512_q.c; both compiled with at least AVX2): the exact
 * int32 lane sums of up to eight super-blocks are reduced together and each
 * block's contribution (dx*d)*isum [- (dx*dmin)*imin] is formed in its own lane
 * by the reference's IEEE operations (kern_ref_q.c), then added to the sum one
 * after another, block 0 first.  Header-only (static inline); no state.
 */
#ifndef LL_TENSOR_KERN_X86_Q_H
#define LL_TENSOR_KERN_X86_Q_H

#include <immintrin.h>
#include <string.h>

#include "tensor/types.h"

/* Lane k = the (exact) sum of the lanes of v[k], for k < 8. */
static inline __m256i kq_hsum_i32_x8(const __m256i v[8])
{
    const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]), t1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]), t3 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* sum plus the contributions of cnt (1..8) consecutive super-blocks whose Q8_K
 * activation blocks start at x; is/im hold their isum/imin lanes, d/dmin their
 * weight scales (lanes >= cnt: zeros). */
static inline float kq_float8(float sum, const __m256i is[8], const __m256i im[8], const float d[8],
                              const float dmin[8], const unsigned char *x, int cnt, int has_min)
{
    float dx[8] = {0}, cf[8];
    for (int k = 0; k < cnt && k < 8; k++)
        memcpy(&dx[k], x + (size_t)k * sizeof(block_q8_k_t), sizeof(float));
    const __m256 vdx = _mm256_loadu_ps(dx);
    __m256 c = _mm256_mul_ps(_mm256_mul_ps(vdx, _mm256_loadu_ps(d)), _mm256_cvtepi32_ps(kq_hsum_i32_x8(is)));
    if (has_min)
        c = _mm256_sub_ps(c, _mm256_mul_ps(_mm256_mul_ps(vdx, _mm256_loadu_ps(dmin)),
                                           _mm256_cvtepi32_ps(kq_hsum_i32_x8(im))));
    _mm256_storeu_ps(cf, c);
    for (int k = 0; k < cnt && k < 8; k++)
        sum += cf[k];
    return sum;
}

/* Defines `static inline void kdot_cols(n, w, x, stride, ncols, out, wbytes, prep,
 * has_corr, has_min)` (the columns form of KERN_DEFINE_DOTS_BY_COLS) for a file's
 * kprep_t, prep functions kprep_fn and
 * kapply(const kprep_t *, xb, has_corr, has_min, __m256i *isum, __m256i *imin),
 * and optionally (k1 not NULL) a fused one-column block function k1_fn:
 * groups of eight super-blocks, weights prefetched `ahead` bytes ahead, each block
 * prepared once for all ncols (<= 4) columns (or, for one column, k1), then
 * kq_float8 per column. */
#define KQ_DEFINE_KDOT_COLS(ahead)                                                                               \
    static inline void kdot_cols(size_t n, const void *wv, const void *xv, size_t stride, int ncols, float *out, \
                                 size_t wbytes, kprep_fn prep, k1_fn k1, int has_corr, int has_min)               \
    {                                                                                                            \
        const unsigned char *w = wv, *x = xv;                                                                    \
        const size_t nb = n / QK_K;                                                                              \
        float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                                 \
        for (size_t b0 = 0; b0 < nb; b0 += 8) {                                                                  \
            const int cnt = nb - b0 < 8 ? (int)(nb - b0) : 8;                                                    \
            __m256i is[4][8], im[4][8];                                                                          \
            float d[8] = {0}, dmin[8] = {0};                                                                     \
            for (int k = 0; k < 8; k++) {                                                                        \
                for (int j = 0; k >= cnt && j < ncols; j++)                                                      \
                    is[j][k] = im[j][k] = _mm256_setzero_si256();                                                \
                if (k >= cnt)                                                                                    \
                    continue;                                                                                    \
                const unsigned char *wb = w + (b0 + (size_t)k) * wbytes;                                         \
                for (size_t o = 0; o < wbytes; o += 64)                                                          \
                    _mm_prefetch((const char *)(wb + (ahead) + o), _MM_HINT_T0);                                 \
                if (ncols == 1 && k1) {                                                                          \
                    k1(wb, x + (b0 + (size_t)k) * sizeof(block_q8_k_t), &is[0][k], &im[0][k], &d[k], &dmin[k]);  \
                    continue;                                                                                    \
                }                                                                                                \
                kprep_t p;                                                                                       \
                prep(wb, &p);                                                                                    \
                d[k] = p.d;                                                                                      \
                dmin[k] = p.dmin;                                                                                \
                for (int j = 0; j < ncols; j++)                                                                  \
                    kapply(&p, x + j * stride + (b0 + (size_t)k) * sizeof(block_q8_k_t), has_corr, has_min,      \
                           &is[j][k], &im[j][k]);                                                                \
            }                                                                                                    \
            for (int j = 0; j < ncols; j++)                                                                      \
                sum[j] = kq_float8(sum[j], is[j], im[j], d, dmin, x + j * stride + b0 * sizeof(block_q8_k_t),    \
                                   cnt, has_min);                                                                \
        }                                                                                                        \
        memcpy(out, sum, (size_t)ncols * sizeof(float));                                                         \
    }

#endif
