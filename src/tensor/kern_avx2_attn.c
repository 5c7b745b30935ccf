/*
 * kern_avx2_attn.c — attention over the F16 KV cache for the AVX2 table (compiled
 * with -mavx2 -mfma -mf16c; kern_fill_avx2 calls kern_fill_avx2_attn).
 *
 * The per-position kernels are the contract (kern.h): dot_f16 takes chunks of 16
 * halves, the first 8 into accumulator 0 and the next 8 into accumulator 1 by
 * fused multiply-add, a last partial chunk zero-padded, then reduces
 * (acc0 + acc1) by the tree ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)); axpy_f16 is one
 * fma per element.  The batched kernels do the very same operations for several
 * positions at once: scores takes four K rows per pass (q's chunk loaded once for
 * the four) and reduces the four accumulator pairs with one transpose whose adds
 * are the tree's adds; values keeps 64 output columns in registers while every
 * position's fma is applied in turn.  Both prefetch the rows ATTN_PREFETCH_ROWS
 * positions ahead: a head's K and V rows are 2·head_dim bytes a whole cache row
 * apart, which the hardware prefetchers follow poorly.  Results are bit-identical
 * to the per-position kernels (tests/test_kern.c checks).  All loads are unaligned;
 * nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"

#define ATTN_PREFETCH_ROWS 8

static inline __m256 h8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Halves i..i+15 of row p, zero-padded past n into pad (which is returned) when the chunk is partial. */
static inline const uint16_t *chunk16(const uint16_t *p, size_t n, size_t i, uint16_t pad[16])
{
    if (i + 16 <= n)
        return p + i;
    memset(pad, 0, 16 * sizeof pad[0]);
    memcpy(pad, p + i, 2 * (n - i));
    return pad;
}

/* The dots of q with the rows k + j*stride for j < 4 (rows j >= cnt repeat row 0;
 * their lanes are not meaningful), lane j of the result: per row dot_f16's chunks,
 * accumulators and reduction tree. */
static inline __m128 dots4(size_t n, const uint16_t *q, const uint16_t *k, size_t stride, int cnt)
{
    const uint16_t *kr[4];
    __m256 acc0[4], acc1[4];
    for (int j = 0; j < 4; j++) {
        kr[j] = k + (j < cnt ? (size_t)j * stride : 0);
        acc0[j] = acc1[j] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < n; i += 16) {
        uint16_t qpad[16], kpad[16];
        const uint16_t *qc = chunk16(q, n, i, qpad);
        const __m256 q0 = h8(qc), q1 = h8(qc + 8);
        for (int j = 0; j < 4; j++) {
            const uint16_t *kc = chunk16(kr[j], n, i, kpad);
            acc0[j] = _mm256_fmadd_ps(q0, h8(kc), acc0[j]);
            acc1[j] = _mm256_fmadd_ps(q1, h8(kc + 8), acc1[j]);
        }
    }
    __m128 u[4];   /* u[j] = low half + high half of acc0[j] + acc1[j] */
    for (int j = 0; j < 4; j++) {
        const __m256 v = _mm256_add_ps(acc0[j], acc1[j]);
        u[j] = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    }
    _MM_TRANSPOSE4_PS(u[0], u[1], u[2], u[3]);   /* u[l] = lane l of every row */
    return _mm_add_ps(_mm_add_ps(u[0], u[2]), _mm_add_ps(u[1], u[3]));
}

static float dot_f16_kv(size_t n, const uint16_t *a, const uint16_t *b)
{
    return _mm_cvtss_f32(dots4(n, a, b, 0, 1));
}

/* y[i] = fma(a, x[i], y[i]) — one rounding per element, in the vector body and the tail. */
static void axpy_f16(size_t n, float a, const uint16_t *x, float *y)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, h8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, _cvtsh_ss(x[i]), y[i]);
}

static inline void prefetch_row(const uint16_t *row, size_t halves)
{
    for (size_t o = 0; o < 2 * halves; o += 64)
        _mm_prefetch((const char *)row + o, _MM_HINT_T0);
}

static void attn_scores_f16(size_t n, const uint16_t *q, const uint16_t *k, size_t stride, size_t count, float scale,
                            float *s)
{
    const __m128 vscale = _mm_set1_ps(scale);
    for (size_t p = 0; p < count; p += 4) {
        const int cnt = count - p < 4 ? (int)(count - p) : 4;
        for (int j = 0; j < 4; j++)   /* past the last row is harmless: a prefetch never faults */
            prefetch_row(k + (p + ATTN_PREFETCH_ROWS + (size_t)j) * stride, n);
        float r[4];
        _mm_storeu_ps(r, _mm_mul_ps(dots4(n, q, k + p * stride, stride, cnt), vscale));
        memcpy(s + p, r, (size_t)cnt * sizeof(float));
    }
}

/* f16_to_f32(f32_to_f16(s[p])) for the first cnt (<= 8) probabilities into a: F16C
 * rounding (to nearest even, as f32_to_f16), NaNs made f32_to_f16's sign | 0x7e00. */
static inline void round_f16_8(const float *s, size_t cnt, float a[8])
{
    float in[8] = {0};
    memcpy(in, s, cnt * sizeof(float));
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT);
    const __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    const __m128i canon = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)), _mm_set1_epi16(0x7e00));
    _mm256_storeu_ps(a, _mm256_cvtph_ps(_mm_blendv_epi8(h, canon, nan)));
}

/* Columns i0..i0+8*nv-1 of out (nv <= 8 full vectors) take every position's fma in turn. */
static inline void values_block(const float *a_all, const uint16_t *v, size_t stride, size_t count, size_t i0,
                                int nv, float *out)
{
    __m256 o[8];
    for (int k = 0; k < 8; k++)
        o[k] = k < nv ? _mm256_loadu_ps(out + i0 + 8 * k) : _mm256_setzero_ps();
    for (size_t p = 0; p < count; p++) {
        const __m256 va = _mm256_set1_ps(a_all[p]);
        const uint16_t *vr = v + p * stride + i0;
        prefetch_row(vr + ATTN_PREFETCH_ROWS * stride, (size_t)nv * 8);
        for (int k = 0; k < 8; k++)
            if (k < nv)
                o[k] = _mm256_fmadd_ps(va, h8(vr + 8 * k), o[k]);
    }
    for (int k = 0; k < nv; k++)
        _mm256_storeu_ps(out + i0 + 8 * k, o[k]);
}

static void attn_values_f16(size_t n, const float *s, const uint16_t *v, size_t stride, size_t count, float *out)
{
    enum { CHUNK = 256 };   /* probabilities rounded per chunk of positions, on the stack */
    for (size_t p0 = 0; p0 < count; p0 += CHUNK) {
        const size_t pc = count - p0 < CHUNK ? count - p0 : CHUNK;
        float a[CHUNK];
        for (size_t p = 0; p < pc; p += 8)
            round_f16_8(s + p0 + p, pc - p < 8 ? pc - p : 8, a + p);
        const uint16_t *vp = v + p0 * stride;
        size_t i0 = 0;
        for (; i0 + 64 <= n; i0 += 64)
            values_block(a, vp, stride, pc, i0, 8, out);
        if (i0 + 8 <= n) {
            values_block(a, vp, stride, pc, i0, (int)((n - i0) / 8), out);
            i0 += (n - i0) / 8 * 8;
        }
        for (; i0 < n; i0++)   /* the scalar tail of axpy_f16, position by position */
            for (size_t p = 0; p < pc; p++)
                out[i0] = fmaf(a[p], _cvtsh_ss(vp[p * stride + i0]), out[i0]);
    }
}

void kern_fill_avx2_attn(kern_table_t *t)
{
    t->dot_f16 = dot_f16_kv;
    t->axpy_f16 = axpy_f16;
    t->attn_scores_f16 = attn_scores_f16;
    t->attn_values_f16 = attn_values_f16;
}
