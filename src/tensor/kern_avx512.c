/*
 * kern_avx512.c — the kernel table for x86-64 with AVX-512 F/BW/VL and VNNI
 * (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni plus the AVX2 set;
 * chosen at run time by kern.c).  It starts from the AVX2 table (the activation
 * conversions, which are byte-identical to quant.h, are kept) and replaces the
 * dot products and axpy with 512-bit versions.
 *
 * As in kern_avx2.c, every dot is "prepare the weight" + "apply it to one
 * activation column"; dot_x4 prepares once and applies four times with the same
 * block order, accumulator assignment and final reduction as dot, so
 * dot_x4(...)[j] is bit-identical to dot on column j by construction.
 *
 * Quantized dots work on quads of four blocks held as two pairs: the 32 quants of
 * block b and of block b+1 fill the low and high halves of one zmm.  The int8
 * products are summed exactly into 16 int32 lanes with VNNI (vpdpbusd: |w| as
 * unsigned bytes, the sign of w moved onto x, which is safe because activations
 * lie in [-127, 127]); the lanes are converted to f32 and fused-multiply-added with
 * the per-half scale d_w*d_x (the four scale products of a quad come from one f16
 * conversion and one multiply).  The two pairs of a quad feed two accumulators; a
 * row's last quad may hold 1..3 blocks, the missing ones reading as zero.  The
 * float order differs from the scalar reference (tested with a tolerance); the
 * integer part is exact.  Weight rows are software-prefetched 2 KB ahead, which
 * decode (memory-bound) needs to approach the read bandwidth.
 *
 * All loads are unaligned or masked loads; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"

#define Q8_BYTES sizeof(block_q8_0_t)        /* 34 */
#define Q4_BYTES sizeof(block_q4_0_t)        /* 18 */
#define Q8_QS offsetof(block_q8_0_t, q)       /* 2 */
#define Q4_QS offsetof(block_q4_0_t, qs)      /* 2 */

/* ---- small helpers ------------------------------------------------------------ */

static inline uint32_t load_u16(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

/* 32 bytes from pa in the low half and 32 from pb in the high half (zeros for a NULL). */
static inline __m512i load_2x32(const unsigned char *pa, const unsigned char *pb)
{
    __m512i lo = pa ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)pa)) : _mm512_setzero_si512();
    return pb ? _mm512_inserti64x4(lo, _mm256_loadu_si256((const __m256i *)pb), 1) : lo;
}

/* Weight rows are streamed from memory once per token, faster than the hardware
 * prefetcher alone keeps up with: ask now for the bytes PREFETCH_AHEAD beyond the
 * current position (one request per cache line of the span just consumed).  A prefetch
 * never faults, so running past the end of a row is harmless; in a matrix-vector
 * product it warms the next row.  2 KB measured best on a Sapphire Rapids-class core. */
#define PREFETCH_AHEAD 2048

static inline void prefetch_span(const unsigned char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)(p + PREFETCH_AHEAD + o), _MM_HINT_T0);
}

/* Sum of the 16 lanes in a fixed order: halves, quarters, then as hsum8 of kern_avx2.c. */
static inline float hsum16(__m512 v)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- Q8_0 / Q4_0 weights against Q8_0 activations -------------------------------
 * The unit of work is a quad: four consecutive blocks, held as two pairs.  Blocks
 * b, b+1 feed accumulator 0 and b+2, b+3 accumulator 1.  The last quad of a row may
 * hold 1..3 blocks: missing blocks read as zero (and a missing second pair is
 * skipped), so the tail takes the same path as the body. */

/* Four weight blocks made ready for any number of activation columns. */
typedef struct {
    __m512i mag[2];   /* |w| as unsigned bytes; pair k holds block 2k in bytes 0..31, 2k+1 in 32..63 */
    __mmask64 neg[2]; /* lanes where w < 0: x is negated there */
    __m128 d;         /* the four weight scales (0 for missing blocks) */
} wquad_t;

/* The f16 scales of cnt (1..4) blocks starting at p, `stride` bytes apart, as f32 lanes. */
static inline __m128 load_d4(const unsigned char *p, size_t stride, int cnt)
{
    uint64_t bits = 0;
    for (int k = 0; k < cnt; k++)
        bits |= (uint64_t)load_u16(p + k * stride) << (16 * k);
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)bits));
}

/* Block k of a quad at p (blocks `stride` bytes apart, data at offset qs), or NULL. */
static inline const unsigned char *quad_part(const unsigned char *p, size_t stride, size_t qs, int k, int cnt)
{
    return k < cnt ? p + k * stride + qs : NULL;
}

static inline wquad_t q8_prep(const unsigned char *w, int cnt)
{
    wquad_t r;
    for (int k = 0; k < 2; k++) {
        __m512i q = load_2x32(quad_part(w, Q8_BYTES, Q8_QS, 2 * k, cnt), quad_part(w, Q8_BYTES, Q8_QS, 2 * k + 1, cnt));
        r.mag[k] = _mm512_abs_epi8(q);
        r.neg[k] = _mm512_movepi8_mask(q);
    }
    r.d = load_d4(w, Q8_BYTES, cnt);
    return r;
}

/* 16 bytes of nibbles at p as [p | p] in one ymm (zero when p is NULL). */
static inline __m256i nib_twice(const unsigned char *p)
{
    return p ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)) : _mm256_setzero_si256();
}

static inline wquad_t q4_prep(const unsigned char *w, int cnt)
{
    wquad_t r;
    for (int k = 0; k < 2; k++) {
        /* [A | A | B | B] in 128-bit lanes; shifting lanes 1 and 3 by 4 and masking leaves
         * block A's values 0..15, 16..31, then block B's. */
        __m512i raw = _mm512_inserti64x4(
            _mm512_castsi256_si512(nib_twice(quad_part(w, Q4_BYTES, Q4_QS, 2 * k, cnt))),
            nib_twice(quad_part(w, Q4_BYTES, Q4_QS, 2 * k + 1, cnt)), 1);
        __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(raw, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)),
                                       _mm512_set1_epi8(0x0f));
        __m512i q = _mm512_sub_epi8(nib, _mm512_set1_epi8(8));   /* missing blocks: x is zero there */
        r.mag[k] = _mm512_abs_epi8(q);
        r.neg[k] = _mm512_movepi8_mask(q);
    }
    r.d = load_d4(w, Q4_BYTES, cnt);
    return r;
}

/* acc[k] += f32(16 exact int32 partial sums of pair k) * (d_w * d_x), for the cnt blocks
 * of Q8_0 activations at x. */
static inline void quad_apply(const wquad_t *w, const unsigned char *x, int cnt, __m512 acc[2])
{
    const __m512i zero = _mm512_setzero_si512();
    __m512 s4 = _mm512_castps128_ps512(_mm_mul_ps(w->d, load_d4(x, Q8_BYTES, cnt)));
    const __m512i spread[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                               _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
    for (int k = 0; k < 2 && 2 * k < cnt; k++) {
        __m512i xq = load_2x32(quad_part(x, Q8_BYTES, Q8_QS, 2 * k, cnt), quad_part(x, Q8_BYTES, Q8_QS, 2 * k + 1, cnt));
        __m512i sx = _mm512_mask_sub_epi8(xq, w->neg[k], zero, xq);
        __m512i p = _mm512_dpbusd_epi32(zero, w->mag[k], sx);
        acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(spread[k], s4), acc[k]);
    }
}

typedef wquad_t (*prep_fn)(const unsigned char *w, int cnt);

static inline float qdot(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x)
{
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        prefetch_span(w + b * wbytes, 4 * wbytes);
        wquad_t q = prep(w + b * wbytes, 4);
        quad_apply(&q, x + b * Q8_BYTES, 4, acc);
    }
    if (b < nb) {
        wquad_t q = prep(w + b * wbytes, (int)(nb - b));
        quad_apply(&q, x + b * Q8_BYTES, (int)(nb - b), acc);
    }
    return hsum16(_mm512_add_ps(acc[0], acc[1]));
}

static inline void qdot_x4(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x,
                           size_t stride, float *out)
{
    __m512 acc[4][2];
    for (int j = 0; j < 4; j++)
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        prefetch_span(w + b * wbytes, 4 * wbytes);
        wquad_t q = prep(w + b * wbytes, 4);
        for (int j = 0; j < 4; j++)
            quad_apply(&q, x + j * stride + b * Q8_BYTES, 4, acc[j]);
    }
    if (b < nb) {
        wquad_t q = prep(w + b * wbytes, (int)(nb - b));
        for (int j = 0; j < 4; j++)
            quad_apply(&q, x + j * stride + b * Q8_BYTES, (int)(nb - b), acc[j]);
    }
    for (int j = 0; j < 4; j++)
        out[j] = hsum16(_mm512_add_ps(acc[j][0], acc[j][1]));
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
 * Chunks of 64 elements, sixteen lanes to each of four accumulators.  The final partial
 * chunk uses masked loads (masked-off elements read as 0 and never fault), so it takes
 * the same path as a full one. */

/* Mask of the lanes of sub-chunk k (0..3) that lie below r remaining elements. */
static inline __mmask16 sub_mask(size_t r, int k)
{
    size_t lo = 16 * (size_t)k;
    size_t cnt = r <= lo ? 0 : r - lo >= 16 ? 16 : r - lo;
    return (__mmask16)((1u << cnt) - 1u);
}

static inline __m512 h16(const unsigned char *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static inline __m512 f32v(const unsigned char *p, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, p);
}

/* One kernel body per element type; esz is the element size in bytes, load the loader. */
typedef __m512 (*load_fn)(const unsigned char *p, __mmask16 m);

static inline float fdot(size_t n, const unsigned char *w, const unsigned char *x, size_t esz, load_fn load)
{
    __m512 acc[4];
    for (int k = 0; k < 4; k++)
        acc[k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_span(w + esz * i, 64 * esz);
        for (int k = 0; k < 4; k++)
            acc[k] = _mm512_fmadd_ps(load(w + esz * (i + 16 * k), 0xffff), load(x + esz * (i + 16 * k), 0xffff),
                                     acc[k]);
    }
    if (i < n) {
        for (int k = 0; k < 4; k++) {
            __mmask16 m = sub_mask(n - i, k);
            acc[k] = _mm512_fmadd_ps(load(w + esz * (i + 16 * k), m), load(x + esz * (i + 16 * k), m), acc[k]);
        }
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

static inline void fdot_x4(size_t n, const unsigned char *w, const unsigned char *x, size_t stride,
                           size_t esz, load_fn load, float *out)
{
    __m512 acc[4][4];
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++)
            acc[j][k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_span(w + esz * i, 64 * esz);
        __m512 wv[4];
        for (int k = 0; k < 4; k++)
            wv[k] = load(w + esz * (i + 16 * k), 0xffff);
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++)
                acc[j][k] = _mm512_fmadd_ps(wv[k], load(x + j * stride + esz * (i + 16 * k), 0xffff), acc[j][k]);
    }
    if (i < n) {
        for (int k = 0; k < 4; k++) {
            __mmask16 m = sub_mask(n - i, k);
            __m512 wv = load(w + esz * (i + 16 * k), m);
            for (int j = 0; j < 4; j++)
                acc[j][k] = _mm512_fmadd_ps(wv, load(x + j * stride + esz * (i + 16 * k), m), acc[j][k]);
        }
    }
    for (int j = 0; j < 4; j++)
        out[j] = hsum16(_mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3])));
}

static void dot_f16(size_t n, const void *w, const void *x, float *out)
{
    *out = fdot(n, w, x, 2, h16);
}

static void dot_x4_f16(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    fdot_x4(n, w, x, stride, 2, h16, out);
}

static void dot_f32(size_t n, const void *w, const void *x, float *out)
{
    *out = fdot(n, w, x, 4, f32v);
}

static void dot_x4_f32(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    fdot_x4(n, w, x, stride, 4, f32v, out);
}

/* ---- attention over the F16 KV cache -------------------------------------------- */

static float dot_f16_kv(size_t n, const uint16_t *a, const uint16_t *b)
{
    return fdot(n, (const unsigned char *)a, (const unsigned char *)b, 2, h16);
}

/* y[i] = fma(a, x[i], y[i]) — one rounding per element, as in the AVX2 table. */
static void axpy_f16(size_t n, float a, const uint16_t *x, float *y)
{
    const __m512 va = _mm512_set1_ps(a);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = sub_mask(n - i, 0);
        __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, xv, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

void kern_fill_avx512(kern_table_t *t)
{
    kern_fill_avx2(t);
    t->isa = KERN_ISA_AVX512;
    t->f32.dot = dot_f32;
    t->f32.dot_x4 = dot_x4_f32;
    t->f16.dot = dot_f16;
    t->f16.dot_x4 = dot_x4_f16;
    t->q8_0.dot = dot_q8_0;
    t->q8_0.dot_x4 = dot_x4_q8_0;
    t->q4_0.dot = dot_q4_0;
    t->q4_0.dot_x4 = dot_x4_q4_0;
    t->dot_f16 = dot_f16_kv;
    t->axpy_f16 = axpy_f16;
}
