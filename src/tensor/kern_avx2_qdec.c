/*
 * kern_avx2_qdec.c — the AVX2 decode tiles of Q4_K, Q5_K and Q6_K (one Q8_K
 * activation row against up to eight weight rows far apart: kern_avx2_rows_q*_k,
 * kern.h; compiled with -mavx2 -mfma -mf16c; also taken by the AVX-512 table).
 *
 * Bit-identical to the reference (kern_ref_q.c) by the construction of
 * kern_avx2_q.c: per row and super-block the integer sums are exact int32 lanes
 * (maddubs + madd; levels <= 63, activations within [-127, 127]: no saturation),
 * one reduction tree gives the eight rows' isum (and imin) in eight lanes, and each
 * lane performs the reference's float step sum += (dx*d)*isum [- (dx*dmin)*imin] in
 * block order.
 *
 * What makes them fast: everything for a super-block of the eight rows is written
 * out in one function (no calls, nothing prepared goes through memory), the packed
 * 6-bit scales and mins of Q4_K/Q5_K are unpacked with a few vector operations
 * (both 128-bit halves alike, so one in-lane shuffle gives a scale in all sixteen
 * int16 lanes), the mins meet the activation's bsums summed per 32 values (once per
 * super-block for all rows), d/dmin of the eight rows are gathered with one
 * shuffle tree and converted together, the weight vectors that several operations
 * read are loaded once (in_reg), and the rows are prefetched only two and a half
 * super-blocks ahead.  Q2_K/Q3_K keep kdot_rows (kern_x86_q.h).
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/kern_x86_q.h"

/* How far ahead a weight row is prefetched (every 64 bytes of a block): two and a half super-blocks, about the
 * memory latency at the rate the eight streams are consumed; the hardware prefetcher takes the streams further.
 * Measured on the 110M models here: 2048 bytes ahead (kern_avx2_q.c's distance) 20-30% slower decode, two
 * blocks best on one thread, three on two threads (where the two cores' streams meet at the memory). */
#define PF_AHEAD(wbytes) ((wbytes) * 5 / 2)
#define INLINE inline __attribute__((always_inline))

/* v, kept in a register: without this the compiler folds a load that several operations read into each of them
 * (measured: two loads of each 32 bytes of Q4_K levels, ~7% slower; loads are what these loops are short of). */
static INLINE __m256i in_reg(__m256i v)
{
    __asm__("" : "+x"(v));
    return v;
}

static INLINE __m128i load16(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

static INLINE __m128i load4(const unsigned char *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return _mm_cvtsi32_si128(v);
}

/* The eight dwords dd[r] (lane 0 of each) as one vector, row r in lane r. */
static INLINE __m256i gather8(const __m128i dd[8])
{
    const __m128i a = _mm_unpacklo_epi64(_mm_unpacklo_epi32(dd[0], dd[1]), _mm_unpacklo_epi32(dd[2], dd[3]));
    const __m128i b = _mm_unpacklo_epi64(_mm_unpacklo_epi32(dd[4], dd[5]), _mm_unpacklo_epi32(dd[6], dd[7]));
    return _mm256_set_m128i(b, a);
}

/* Lane k = the sum of the four lanes of v[k], k < 8. */
static INLINE __m256i hsum_x8_128(const __m128i v[8])
{
    const __m128i a = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
    const __m128i b = _mm_hadd_epi32(_mm_hadd_epi32(v[4], v[5]), _mm_hadd_epi32(v[6], v[7]));
    return _mm256_set_m128i(b, a);
}

/* The int16 lane (byte idx zero-extended) in all sixteen lanes. */
static INLINE __m256i bcast_u8(__m256i v, int idx)
{
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x8000 | idx)));
}

/* Bit p of every byte of qh moved to bit 4, all other bits cleared (16-bit shifts by at most 4: bits that
 * cross a byte land outside bit 4). */
static INLINE __m256i bit_to_4(__m256i qh, int p)
{
    const __m256i m = _mm256_set1_epi8(0x10);
    if (p < 4)
        return _mm256_and_si256(_mm256_slli_epi16(qh, 4 - p), m);
    if (p > 4)
        return _mm256_and_si256(_mm256_srli_epi16(qh, p - 4), m);
    return _mm256_and_si256(qh, m);
}

/* ---- Q4_K / Q5_K --------------------------------------------------------------------- */

/* One row's super-block wb against the activation block xb: isum lanes, imin lanes (bs8: the activation's sums
 * per 32 values as int16), and in lane 0 of *dd the row's d (low half) and dmin (high half). */
static INLINE void blk_q45(const unsigned char *wb, const unsigned char *xb, __m128i bs8, int q5, __m256i *isum,
                           __m128i *imin, __m128i *dd)
{
    /* the first 16 bytes as dwords [d|dmin, u0, u1, u2] (u: the packed scales), in both halves */
    const __m256i raw = _mm256_broadcastsi128_si256(load16(wb));
    *dd = _mm256_castsi256_si128(raw);
    /* kq_scale_min's rules for all sixteen at once: bytes 0-3 mins 4-7, 4-7 scales 0-3, 8-11 mins 0-3,
     * 12-15 scales 4-7 */
    const __m256i r1 = _mm256_shuffle_epi32(raw, _MM_SHUFFLE(3, 2, 1, 3));   /* [u2, u0, u1, u2] */
    const __m256i v1 = _mm256_and_si256(_mm256_srlv_epi32(r1, _mm256_setr_epi32(4, 0, 0, 0, 4, 0, 0, 0)),
                                        _mm256_setr_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x3f3f3f3f, 0x0f0f0f0f,
                                                          0x0f0f0f0f, 0x3f3f3f3f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m256i r2 = _mm256_shuffle_epi32(raw, _MM_SHUFFLE(1, 0, 0, 2));   /* [u1, ., ., u0] */
    const __m256i v2 = _mm256_and_si256(_mm256_srli_epi16(r2, 2),
                                        _mm256_setr_epi32(0x30303030, 0, 0, 0x30303030, 0x30303030, 0, 0, 0x30303030));
    const __m256i sm = _mm256_or_si256(v1, v2);
    static const int sidx[8] = {4, 5, 6, 7, 12, 13, 14, 15};
    const __m128i mins = _mm_shuffle_epi8(_mm256_castsi256_si128(sm),
                                          _mm_setr_epi8(8, -1, 9, -1, 10, -1, 11, -1, 0, -1, 1, -1, 2, -1, 3, -1));
    *imin = _mm_madd_epi16(bs8, mins);

    const unsigned char *qs = wb + (q5 ? offsetof(block_q5_k_t, qs) : offsetof(block_q4_k_t, qs));
    const unsigned char *q8 = xb + Q8K_Q;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i qh = q5 ? load32(wb + offsetof(block_q5_k_t, qh)) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i q = in_reg(load32(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            lo = _mm256_or_si256(lo, bit_to_4(qh, 2 * c));
            hi = _mm256_or_si256(hi, bit_to_4(qh, 2 * c + 1));
        }
        const __m256i sa = bcast_u8(sm, sidx[2 * c]), sb = bcast_u8(sm, sidx[2 * c + 1]);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(q8 + 64 * c)), sa));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(q8 + 64 * c + 32)), sb));
    }
    *isum = acc;
}

static INLINE void rows_q45(size_t n, const unsigned char *w, size_t w_stride, int nr, const unsigned char *x,
                            float *out, int q5)
{
    const size_t wbytes = q5 ? sizeof(block_q5_k_t) : sizeof(block_q4_k_t);
    __m256 sum = _mm256_setzero_ps();
    for (size_t b = 0; b < n / QK_K; b++) {
        const unsigned char *xb = x + b * Q8K_BYTES;
        const __m128i bs8 = _mm_hadd_epi16(load16(xb + Q8K_BSUMS), load16(xb + Q8K_BSUMS + 16));
        __m256i is[8];
        __m128i im[8], dd[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            if (r >= nr) {
                is[r] = _mm256_setzero_si256();
                im[r] = dd[r] = _mm_setzero_si128();
                continue;
            }
            const unsigned char *wb = w + (size_t)r * w_stride + b * wbytes;
            for (size_t o = 0; o < wbytes; o += 64)
                _mm_prefetch((const char *)(wb + PF_AHEAD(wbytes) + o), _MM_HINT_T0);
            blk_q45(wb, xb, bs8, q5, &is[r], &im[r], &dd[r]);
        }
        /* halves [d0 dmin0 d1 dmin1 ...] -> [d0..d3 dmin0..dmin3 | d4..d7 dmin4..dmin7] -> d, dmin */
        const __m256i h = _mm256_permute4x64_epi64(
            _mm256_shuffle_epi8(gather8(dd), _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0,
                                                              1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15)),
            _MM_SHUFFLE(3, 1, 2, 0));
        const __m256 vd = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
        const __m256 vdmin = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
        float dx;
        memcpy(&dx, xb, sizeof dx);
        const __m256 vdx = _mm256_set1_ps(dx);
        const __m256 c = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(vdx, vd), _mm256_cvtepi32_ps(kq_hsum_i32_x8(is))),
                                       _mm256_mul_ps(_mm256_mul_ps(vdx, vdmin), _mm256_cvtepi32_ps(hsum_x8_128(im))));
        sum = _mm256_add_ps(sum, c);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    memcpy(out, lanes, (size_t)nr * sizeof(float));
}

/* ---- Q6_K ---------------------------------------------------------------------------- */

/* [s[2k] x8 | s[2k+1] x8] from s = eight int16 in both 128-bit halves: one in-lane shuffle. */
static INLINE __m256i pair_in_lanes(__m256i s, int k)
{
    const char a = (char)(4 * k), b = (char)(4 * k + 2);
    return _mm256_shuffle_epi8(s, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                                                   a + 1, a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                                   b, b + 1, b, b + 1, b, b + 1));
}

/* One row's super-block: isum lanes (bs16: the activation's bsums times 16, still int16: |bsums| <= 16 * 128),
 * and in the high half of lane 0 of *dd the row's d. */
static INLINE void blk_q6(const unsigned char *wb, const unsigned char *xb, __m256i bs16, __m256i *isum, __m128i *dd)
{
    const unsigned char *ql = wb + offsetof(block_q6_k_t, ql), *qhp = wb + offsetof(block_q6_k_t, qh);
    const unsigned char *q8 = xb + Q8K_Q;
    *dd = load4(wb + offsetof(block_q6_k_t, d) - 2);
    /* the sixteen int8 scales as int16: scales 0-7 in both halves, 8-15 in both halves, and in order */
    const __m256i s8 = _mm256_broadcastsi128_si256(load16(wb + offsetof(block_q6_k_t, scales)));
    const __m256i sg = _mm256_cmpgt_epi8(_mm256_setzero_si256(), s8);
    const __m256i sc[2] = {_mm256_unpacklo_epi8(s8, sg), _mm256_unpackhi_epi8(s8, sg)};
    /* the level offset: -32 * sum_j scale_j * bsums_j = -2 * sum_j scale_j * (16 bsums_j) */
    const __m256i corr = _mm256_madd_epi16(bs16, _mm256_blend_epi32(sc[0], sc[1], 0xf0));
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i a = in_reg(load32(ql + 64 * h)), b = in_reg(load32(ql + 64 * h + 32));
        const __m256i qh = in_reg(load32(qhp + 32 * h));
        /* The two high bits of value 128h + 32k + l are bits 2k, 2k+1 of qh[l], placed at bits 4-5: shifted in
         * 16-bit lanes, the bits that cross a byte land outside the 0x30 mask. */
        const __m256i hi[4] = {_mm256_and_si256(_mm256_slli_epi16(qh, 4), m30),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30), _mm256_and_si256(qh, m30),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)};
        for (int k = 0; k < 4; k++) {   /* values 128h + 32k + (0..31) */
            const __m256i lo4 = k >= 2 ? _mm256_srli_epi16(k & 1 ? b : a, 4) : (k & 1 ? b : a);
            const __m256i lv = _mm256_or_si256(_mm256_and_si256(lo4, m4), hi[k]);
            const __m256i p16 = _mm256_maddubs_epi16(lv, load32(q8 + 128 * h + 32 * k));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, pair_in_lanes(sc[h], k)));
        }
    }
    *isum = _mm256_sub_epi32(_mm256_sub_epi32(acc, corr), corr);
}

static INLINE void rows_q6(size_t n, const unsigned char *w, size_t w_stride, int nr, const unsigned char *x,
                           float *out)
{
    const size_t wbytes = sizeof(block_q6_k_t);
    __m256 sum = _mm256_setzero_ps();
    for (size_t b = 0; b < n / QK_K; b++) {
        const unsigned char *xb = x + b * Q8K_BYTES;
        const __m256i bs16 = _mm256_slli_epi16(load32(xb + Q8K_BSUMS), 4);
        __m256i is[8];
        __m128i dd[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            if (r >= nr) {
                is[r] = _mm256_setzero_si256();
                dd[r] = _mm_setzero_si128();
                continue;
            }
            const unsigned char *wb = w + (size_t)r * w_stride + b * wbytes;
            for (size_t o = 0; o < wbytes; o += 64)
                _mm_prefetch((const char *)(wb + PF_AHEAD(wbytes) + o), _MM_HINT_T0);
            blk_q6(wb, xb, bs16, &is[r], &dd[r]);
        }
        /* the high halves of the eight dwords -> d */
        const __m256i h = _mm256_permute4x64_epi64(
            _mm256_shuffle_epi8(gather8(dd), _mm256_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1,
                                                              -1, 2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1,
                                                              -1, -1)),
            _MM_SHUFFLE(3, 1, 2, 0));
        const __m256 vd = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
        float dx;
        memcpy(&dx, xb, sizeof dx);
        const __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(dx), vd), _mm256_cvtepi32_ps(kq_hsum_i32_x8(is)));
        sum = _mm256_add_ps(sum, c);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    memcpy(out, lanes, (size_t)nr * sizeof(float));
}

void kern_avx2_rows_q4_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)
{
    rows_q45(n, w, w_stride, nr, x, out, 0);
}

void kern_avx2_rows_q5_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)
{
    rows_q45(n, w, w_stride, nr, x, out, 1);
}

void kern_avx2_rows_q6_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out)
{
    rows_q6(n, w, w_stride, nr, x, out);
}
