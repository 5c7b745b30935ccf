/*
 * kern_x86_q.h — the float step shared by the x86 K-quant kernels
 * (kern_avx2_q.c, kern_avx2_qdec.c, kern_avx512_q.c; all compiled with at least
 * AVX2): the exact int32 lane sums of up to eight super-blocks are reduced
 * together (for at most four, their isum and imin, or the isum of two columns, by
 * one tree) and each block's contribution (dx*d)*isum [- (dx*dmin)*imin] is formed in its own lane
 * by the reference's IEEE operations (kern_ref_q.c), then added to the sum one
 * after another, block 0 first; and the unaligned 32-byte load they all use.
 * Header-only (static inline); no state.
 */
#ifndef LL_TENSOR_KERN_X86_Q_H
#define LL_TENSOR_KERN_X86_Q_H

#include <immintrin.h>
#include <string.h>

#include "tensor/types.h"

/* 32 bytes at p, unaligned. */
static inline __m256i load32(const unsigned char *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Exact sum of the eight int32 lanes. */
static inline int32_t kq_hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

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

/* The same for at most four super-blocks (rows of up to 1024 values, or a row's
 * last group) with fewer reductions; lanes >= cnt of d/dmin and of the sums: zeros.
 * With a min (Q2_K, Q4_K, Q5_K): sum plus cnt (1..4) contributions
 * (dx*d)*isum - (dx*dmin)*imin, one reduction tree giving the four isum lanes and
 * the four imin lanes at once. */
static inline float kq_float4_min(float sum, const __m256i is[4], const __m256i im[4], const float d[4],
                                  const float dmin[4], const unsigned char *x, int cnt)
{
    const __m256i v[8] = {is[0], is[1], is[2], is[3], im[0], im[1], im[2], im[3]};
    const __m256i h = kq_hsum_i32_x8(v);
    float dx[4] = {0}, cf[4];
    for (int k = 0; k < cnt && k < 4; k++)
        memcpy(&dx[k], x + (size_t)k * sizeof(block_q8_k_t), sizeof(float));
    const __m128 vdx = _mm_loadu_ps(dx);
    const __m128 a = _mm_mul_ps(_mm_mul_ps(vdx, _mm_loadu_ps(d)), _mm_cvtepi32_ps(_mm256_castsi256_si128(h)));
    const __m128 b = _mm_mul_ps(_mm_mul_ps(vdx, _mm_loadu_ps(dmin)), _mm_cvtepi32_ps(_mm256_extracti128_si256(h, 1)));
    _mm_storeu_ps(cf, _mm_sub_ps(a, b));
    for (int k = 0; k < cnt && k < 4; k++)
        sum += cf[k];
    return sum;
}

/* Without a min (Q3_K, Q6_K): two columns at once, column a (activations xa) in
 * lanes 0..3 and column b (xb; NULL: none, *sb then receives nothing meaningful)
 * in lanes 4..7, each adding its cnt contributions (dx*d)*isum in block order. */
static inline void kq_float4_pair(float *sa, float *sb, const __m256i isa[4], const __m256i isb[4],
                                  const float d[4], const unsigned char *xa, const unsigned char *xb, int cnt)
{
    const __m256i v[8] = {isa[0], isa[1], isa[2], isa[3], isb[0], isb[1], isb[2], isb[3]};
    const __m256i h = kq_hsum_i32_x8(v);
    float dx[8] = {0}, cf[8];
    for (int k = 0; k < cnt && k < 4; k++) {
        memcpy(&dx[k], xa + (size_t)k * sizeof(block_q8_k_t), sizeof(float));
        if (xb)
            memcpy(&dx[4 + k], xb + (size_t)k * sizeof(block_q8_k_t), sizeof(float));
    }
    const __m128 vd = _mm_loadu_ps(d);
    const __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(dx), _mm256_set_m128(vd, vd)), _mm256_cvtepi32_ps(h));
    _mm256_storeu_ps(cf, c);
    for (int k = 0; k < cnt && k < 4; k++) {
        *sa += cf[k];
        *sb += cf[4 + k];
    }
}

/* Defines `static inline void kdot_cols(n, w, x, stride, ncols, out, wbytes, prep,
 * has_corr, has_min)` (the columns form of KERN_DEFINE_DOTS_BY_COLS) for a file's
 * kprep_t, prep functions kprep_fn and
 * kapply(const kprep_t *, xb, has_corr, has_min, __m256i *isum, __m256i *imin),
 * and optionally (k1 not NULL) a fused one-column block function k1_fn:
 * groups of super-blocks (eight for types with a min while more than four remain,
 * else four: measured fastest), weights prefetched `ahead` bytes ahead, each block
 * prepared once for all ncols (<= 4) columns (or, for one column, k1), then
 * kq_float8 per column, or for a group of at most four kq_float4_min per column
 * or kq_float4_pair per two columns. */
#define KQ_DEFINE_KDOT_COLS(ahead)                                                                               \
    static inline void kdot_cols(size_t n, const void *wv, const void *xv, size_t stride, int ncols, float *out, \
                                 size_t wbytes, kprep_fn prep, k1_fn k1, int has_corr, int has_min)               \
    {                                                                                                            \
        const unsigned char *w = wv, *x = xv;                                                                    \
        const size_t nb = n / QK_K;                                                                              \
        float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                                 \
        for (size_t b0 = 0, g; b0 < nb; b0 += g) {                                                               \
            g = has_min && nb - b0 > 4 ? 8 : 4;   /* this group's blocks: lanes the float step reads */          \
            const int cnt = nb - b0 < g ? (int)(nb - b0) : (int)g;                                               \
            __m256i is[4][8], im[4][8];                                                                          \
            float d[8] = {0}, dmin[8] = {0};                                                                     \
            for (int k = 0; k < (int)g; k++) {                                                                   \
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
            const size_t xo = b0 * sizeof(block_q8_k_t);                                                         \
            if (cnt > 4) {                                                                                       \
                for (int j = 0; j < ncols; j++)                                                                  \
                    sum[j] = kq_float8(sum[j], is[j], im[j], d, dmin, x + j * stride + xo, cnt, has_min);        \
            } else if (has_min) {                                                                                \
                for (int j = 0; j < ncols; j++)                                                                  \
                    sum[j] = kq_float4_min(sum[j], is[j], im[j], d, dmin, x + j * stride + xo, cnt);             \
            } else {                                                                                             \
                for (int j = 0; j < ncols; j += 2) {                                                             \
                    const int two = j + 1 < ncols;                                                               \
                    kq_float4_pair(&sum[j], &sum[j + 1], is[j], two ? is[j + 1] : is[j], d, x + j * stride + xo, \
                                   two ? x + (j + 1) * stride + xo : NULL, cnt);                                 \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
        memcpy(out, sum, (size_t)ncols * sizeof(float));                                                         \
    }

/* Defines `static inline void kdot_rows(n, w, w_stride, nr, x, out, wbytes, prep, k1, has_corr, has_min)`:
 * the decode tile (kern_avx2_q.c's Q2_K/Q3_K; Q4_K..Q6_K have their own, written out, in kern_avx2_qdec.c),
 * nr (1..8) weight rows w + r*w_stride (far apart: nr concurrent read streams) against one activation row x,
 * out[r] for r < nr.  Super-block b of every row is summed (k1, or prep + kapply), then one
 * reduction tree gives the eight rows' isum (a second their imin) in eight lanes, and each lane adds its row's
 * contribution (dx*d)*isum [- (dx*dmin)*imin] to that row's sum: per lane, the reference's operations in the
 * reference's block order, so each out[r] equals dot(row r) bit for bit. */
#define KQ_DEFINE_KDOT_ROWS(ahead)                                                                               \
    static inline void kdot_rows(size_t n, const void *wv, size_t w_stride, int nr, const void *xv, float *out,  \
                                 size_t wbytes, kprep_fn prep, k1_fn k1, int has_corr, int has_min)               \
    {                                                                                                            \
        const unsigned char *w = wv, *x = xv;                                                                    \
        const size_t nb = n / QK_K;                                                                              \
        __m256 sum = _mm256_setzero_ps();                                                                        \
        for (size_t b = 0; b < nb; b++) {                                                                        \
            __m256i is[8], im[8];                                                                                \
            float d[8] = {0}, dmin[8] = {0};                                                                     \
            const unsigned char *xb = x + b * sizeof(block_q8_k_t);                                              \
            for (int r = 0; r < 8; r++) {                                                                        \
                if (r >= nr) {                                                                                   \
                    is[r] = im[r] = _mm256_setzero_si256();                                                      \
                    continue;                                                                                    \
                }                                                                                                \
                const unsigned char *wb = w + (size_t)r * w_stride + b * wbytes;                                 \
                for (size_t o = 0; o < wbytes; o += 64)                                                          \
                    _mm_prefetch((const char *)(wb + (ahead) + o), _MM_HINT_T0);                                 \
                if (k1) {                                                                                        \
                    k1(wb, xb, &is[r], &im[r], &d[r], &dmin[r]);                                                 \
                } else {                                                                                         \
                    kprep_t p;                                                                                   \
                    prep(wb, &p);                                                                                \
                    d[r] = p.d;                                                                                  \
                    dmin[r] = p.dmin;                                                                            \
                    kapply(&p, xb, has_corr, has_min, &is[r], &im[r]);                                           \
                }                                                                                                \
            }                                                                                                    \
            float dx;                                                                                            \
            memcpy(&dx, xb, sizeof dx);                                                                          \
            const __m256 vdx = _mm256_set1_ps(dx);                                                               \
            __m256 c = _mm256_mul_ps(_mm256_mul_ps(vdx, _mm256_loadu_ps(d)), _mm256_cvtepi32_ps(kq_hsum_i32_x8(is))); \
            if (has_min)                                                                                         \
                c = _mm256_sub_ps(c, _mm256_mul_ps(_mm256_mul_ps(vdx, _mm256_loadu_ps(dmin)),                    \
                                                   _mm256_cvtepi32_ps(kq_hsum_i32_x8(im))));                     \
            sum = _mm256_add_ps(sum, c);                                                                         \
        }                                                                                                        \
        float lanes[8];                                                                                          \
        _mm256_storeu_ps(lanes, sum);                                                                            \
        memcpy(out, lanes, (size_t)nr * sizeof(float));                                                          \
    }

#endif
