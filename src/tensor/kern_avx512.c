/*
 * kern_avx512.c — the kernel table for x86-64 with AVX-512 F/BW/VL and VNNI
 * (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni plus the AVX2 set;
 * chosen at run time by kern.c).  It starts from the AVX2 table (the activation
 * conversions, which are byte-identical to quant.h, are kept) and replaces the
 * dot products, the tiles, the packed path and the attention kernels.
 *
 * Every F32/F16 weight-row dot here is one instance of a register tile of NR
 * weight rows by NC activation columns (compile-time shapes after inlining): each
 * (row, column) pair owns one f32 accumulator vector that goes through the same
 * operations whatever the tile shape and whatever the pair's place in it, and is
 * reduced by the same additions.  dot is the 1x1 tile, dot_x4 the 1x4 tile,
 * dot_tile any shape, dot_tile_packed (F16) the same arithmetic over operands
 * packed beforehand: all agree with dot bit for bit by construction (and
 * test_kern checks it).  Decode uses 8 x 1 tiles over rows far apart (eight read
 * streams); prompt batches 4 x 4 tiles.  Numerics: acc = fma(w, x, acc) per 16
 * elements, then a fixed 16-lane reduction; the float order differs from the
 * scalar reference (tested with a tolerance).  Weight rows are software-prefetched
 * ahead of use.  Q8_0 and Q4_0 are kern_avx512_il.c's (the interleaved path), the
 * K-quants kern_avx512_q.c's.
 *
 * All loads are unaligned or masked loads; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"

/* ---- small helpers ------------------------------------------------------------ */

/* Weight rows are streamed from memory once per token: ask now for the bytes
 * PREFETCH_AHEAD beyond the current position (one request per cache line of the span
 * just consumed).  A prefetch never faults, so running past the end of a row is
 * harmless; in a matrix-vector product it warms the next row.  2 KB measured best
 * for one stream on a Sapphire Rapids-class core; with the eight streams of decode
 * tiles, 1-4 KB (and no prefetch at all) measure within noise of each other. */
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

/* ---- the tile skeleton ----------------------------------------------------------
 * Tiles of NR weight rows by NC activation columns, NR and NC compile-time constants
 * after inlining (the shapes of kern.h); accumulators acc[r][c] are reduced by
 * hsum16, or by hsum16_x4, which performs the very same additions four vectors at
 * a time. */

#define INLINE inline __attribute__((always_inline))
/* Before every loop over tile rows or columns: unrolled early, the accumulator
 * array is split into registers (otherwise gcc keeps it on the stack across the
 * block loop). */
#define UNROLL _Pragma("GCC unroll 16")

/* hsum16 of a, b, c and d in lanes 0..3, each lane computed by the same additions as
 * hsum16 (IEEE addition is commutative, so operand order within an addition does
 * not matter; the pairing does, and it is hsum16's). */
static INLINE __m128 hsum16_x4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    /* halves: lanes i and i+8 */
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    /* quarters: lanes i and i+4 of each half-sum; 128-bit lane g now belongs to vector g */
    __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    /* then (0 + 2, 1 + 3) and (0 + 1), as hsum16's movehl and movehdup steps */
    u = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, _MM_SHUFFLE(3, 2, 3, 2)));
    u = _mm512_add_ps(u, _mm512_movehdup_ps(u));
    const __m512i lane0s = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(lane0s, u));
}

/* Reduces acc[r][c] of an NR x NC tile into out[c*ldo + r], four rows at a time. */
static INLINE void tile_store(__m512 acc[KERN_TILE_ROWS][KERN_TILE], int NR, int NC, float *out, size_t ldo)
{
    const __m512 z = _mm512_setzero_ps();
    UNROLL
    for (int c = 0; c < NC; c++) {
        if (NR == 1) {
            out[(size_t)c * ldo] = hsum16(acc[0][c]);
            continue;
        }
        UNROLL
        for (int r = 0; r < NR; r += 4) {
            __m128 s = hsum16_x4(acc[r][c], acc[r + 1 < NR ? r + 1 : r][c], r + 2 < NR ? acc[r + 2][c] : z,
                                 r + 3 < NR ? acc[r + 3][c] : z);
            int k = NR - r < 4 ? NR - r : 4;
            _mm_mask_storeu_ps(out + (size_t)c * ldo + r, (__mmask8)((1u << k) - 1u), s);
        }
    }
}

/* Calls BODY(R, C) with compile-time R and C for the tile shape (nr, nc). */
#define TILE_DISPATCH(nr, nc, BODY)                                                                              \
    switch ((nr) * 16 + (nc)) {                                                                                   \
    case 0x11: BODY(1, 1); break;                                                                                 \
    case 0x12: BODY(1, 2); break;                                                                                 \
    case 0x13: BODY(1, 3); break;                                                                                 \
    case 0x14: BODY(1, 4); break;                                                                                 \
    case 0x21: BODY(2, 1); break;                                                                                 \
    case 0x22: BODY(2, 2); break;                                                                                 \
    case 0x23: BODY(2, 3); break;                                                                                 \
    case 0x24: BODY(2, 4); break;                                                                                 \
    case 0x31: BODY(3, 1); break;                                                                                 \
    case 0x32: BODY(3, 2); break;                                                                                 \
    case 0x33: BODY(3, 3); break;                                                                                 \
    case 0x34: BODY(3, 4); break;                                                                                 \
    case 0x41: BODY(4, 1); break;                                                                                 \
    case 0x42: BODY(4, 2); break;                                                                                 \
    case 0x43: BODY(4, 3); break;                                                                                 \
    case 0x44: BODY(4, 4); break;                                                                                 \
    case 0x51: BODY(5, 1); break;                                                                                 \
    case 0x52: BODY(5, 2); break;                                                                                 \
    case 0x53: BODY(5, 3); break;                                                                                 \
    case 0x61: BODY(6, 1); break;                                                                                 \
    case 0x62: BODY(6, 2); break;                                                                                 \
    case 0x71: BODY(7, 1); break;                                                                                 \
    case 0x72: BODY(7, 2); break;                                                                                 \
    case 0x81: BODY(8, 1); break;                                                                                 \
    case 0x82: BODY(8, 2); break;                                                                                 \
    default: break;                                                                                              \
    }

/* ---- F16 and F32 weights -----------------------------------------------------------
 * Chunks of 16 elements, one f32 accumulator per (row, column): acc = fma(w, x, acc);
 * the final partial chunk uses masked loads (masked-off elements read as 0 and never
 * fault), so it takes the same path as a full one.  Then hsum16. */

/* Mask of the lanes of sub-chunk k (0..3) that lie below r remaining elements. */
static inline __mmask16 sub_mask(size_t r, int k)
{
    size_t lo = 16 * (size_t)k;
    size_t cnt = r <= lo ? 0 : r - lo >= 16 ? 16 : r - lo;
    return (__mmask16)((1u << cnt) - 1u);
}

static INLINE __m512 fload(const unsigned char *p, __mmask16 m, int f16)
{
    return f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)) : _mm512_maskz_loadu_ps(m, p);
}

static INLINE void ftile_step(const unsigned char *w, size_t w_stride, const unsigned char *x, size_t x_stride,
                              size_t off, __mmask16 m, int f16, int NR, int NC, __m512 acc[KERN_TILE_ROWS][KERN_TILE])
{
    __m512 xv[KERN_TILE];
    UNROLL
    for (int c = 0; c < NC; c++)
        xv[c] = fload(x + (size_t)c * x_stride + off, m, f16);
    UNROLL
    for (int r = 0; r < NR; r++) {
        __m512 wv = fload(w + (size_t)r * w_stride + off, m, f16);
        UNROLL
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
}

static INLINE void ftile(size_t n, const unsigned char *w, size_t w_stride, const unsigned char *x, size_t x_stride,
                         int f16, int NR, int NC, float *out, size_t ldo)
{
    const size_t esz = f16 ? 2 : 4;
    __m512 acc[KERN_TILE_ROWS][KERN_TILE];
    UNROLL
    for (int r = 0; r < NR; r++) {
        UNROLL
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_ps();
    }
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        UNROLL
        for (int r = 0; r < NR; r++)
            prefetch_span(w + (size_t)r * w_stride + esz * i, 32 * esz);
        ftile_step(w, w_stride, x, x_stride, esz * i, 0xffff, f16, NR, NC, acc);
        ftile_step(w, w_stride, x, x_stride, esz * (i + 16), 0xffff, f16, NR, NC, acc);
    }
    for (; i < n; i += 16)
        ftile_step(w, w_stride, x, x_stride, esz * i, sub_mask(n - i, 0), f16, NR, NC, acc);
    tile_store(acc, NR, NC, out, ldo);
}

static INLINE void ftile_any(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                             float *out, size_t ldo, int f16)
{
#define FT(R, C) ftile(n, w, w_stride, x, x_stride, f16, R, C, out, ldo)
    TILE_DISPATCH(nr, nc, FT)
#undef FT
}

static void dot_f16(size_t n, const void *w, const void *x, float *out)
{
    ftile(n, w, 0, x, 0, 1, 1, 1, out, 0);
}

static void dot_x4_f16(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    ftile(n, w, 0, x, stride, 1, 1, 4, out, 1);
}

static void dot_tile_f16(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *out, size_t ldo)
{
    ftile_any(n, w, w_stride, nr, x, x_stride, nc, out, ldo, 1);
}

static void dot_f32(size_t n, const void *w, const void *x, float *out)
{
    ftile(n, w, 0, x, 0, 0, 1, 1, out, 0);
}

static void dot_x4_f32(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    ftile(n, w, 0, x, stride, 0, 1, 4, out, 1);
}

static void dot_tile_f32(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *out, size_t ldo)
{
    ftile_any(n, w, w_stride, nr, x, x_stride, nc, out, ldo, 0);
}

/* ---- F16: the packed path ----------------------------------------------------------
 * Weights converted to f32 once, in chunks of 16 (the last one zero-padded, as
 * dot_tile's masked loads read it); activations stay halves (zero-padded likewise:
 * as f32 they would double the cache traffic of the many columns a tile streams), so
 * the tile converts only activations: the same values in the same order as dot_tile. */

static size_t packed_w_bytes_f16(size_t n)
{
    return (n + 15) / 16 * 64;
}

static size_t packed_x_bytes_f16(size_t n)
{
    return (n + 15) / 16 * 32;
}

static void pack_w_f16(size_t n, const void *src, void *dst)
{
    const unsigned char *p = src;
    float *d = dst;
    for (size_t i = 0; i < n; i += 16)
        _mm512_storeu_ps(d + i, fload(p + 2 * i, sub_mask(n - i, 0), 1));
}

static void pack_x_f16(size_t n, const void *src, void *dst)
{
    const uint16_t *p = src;
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_maskz_loadu_epi16(sub_mask(n - i, 0), p + i));
}

static INLINE void fptile(size_t n, const float *wp, size_t ws, const uint16_t *xp, size_t xs, int NR, int NC,
                          float *out, size_t ldo)
{
    __m512 acc[KERN_TILE_ROWS][KERN_TILE];
    UNROLL
    for (int r = 0; r < NR; r++) {
        UNROLL
        for (int c = 0; c < NC; c++)
            acc[r][c] = _mm512_setzero_ps();
    }
    for (size_t i = 0; i < n; i += 16) {
        __m512 xv[KERN_TILE];
        UNROLL
        for (int c = 0; c < NC; c++) {
            const uint16_t *xc = (const uint16_t *)((const unsigned char *)xp + (size_t)c * xs);
            xv[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(xc + i)));
        }
        UNROLL
        for (int r = 0; r < NR; r++) {
            __m512 wv = _mm512_loadu_ps((const float *)((const unsigned char *)wp + (size_t)r * ws) + i);
            UNROLL
            for (int c = 0; c < NC; c++)
                acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    tile_store(acc, NR, NC, out, ldo);
}

static void dot_tile_packed_f16(size_t n, const void *wp, size_t ws, int nr, const void *xp, size_t xs, int nc,
                                float *out, size_t ldo)
{
#define FPT(R, C) fptile(n, wp, ws, xp, xs, R, C, out, ldo)
    TILE_DISPATCH(nr, nc, FPT)
#undef FPT
}

/* ---- attention over the F16 KV cache -------------------------------------------- */

/* Four accumulators over chunks of 64 elements (a final partial chunk masked). */
static float dot_f16_kv(size_t n, const uint16_t *a, const uint16_t *b)
{
    const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;
    __m512 acc[4];
    UNROLL
    for (int k = 0; k < 4; k++)
        acc[k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        UNROLL
        for (int k = 0; k < 4; k++)
            acc[k] = _mm512_fmadd_ps(fload(pa + 2 * (i + 16 * k), 0xffff, 1), fload(pb + 2 * (i + 16 * k), 0xffff, 1),
                                     acc[k]);
    if (i < n) {
        UNROLL
        for (int k = 0; k < 4; k++) {
            __mmask16 m = sub_mask(n - i, k);
            acc[k] = _mm512_fmadd_ps(fload(pa + 2 * (i + 16 * k), m, 1), fload(pb + 2 * (i + 16 * k), m, 1), acc[k]);
        }
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
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

/* dot_f16_kv of q with the four rows k0 + j*stride_bytes (j < cnt; the others repeat
 * row 0 and are not stored), times scale: per row the very chunks, accumulators and
 * reduction of dot_f16_kv. */
static INLINE void scores4(size_t n, const unsigned char *q, const unsigned char *k0, size_t stride_bytes, int cnt,
                           float scale, float *s)
{
    const unsigned char *kr[4];
    __m512 acc[4][4];
    UNROLL
    for (int j = 0; j < 4; j++) {
        kr[j] = k0 + (j < cnt ? (size_t)j * stride_bytes : 0);
        UNROLL
        for (int k = 0; k < 4; k++)
            acc[j][k] = _mm512_setzero_ps();
    }
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        UNROLL
        for (int k = 0; k < 4; k++) {
            __m512 qv = fload(q + 2 * (i + 16 * k), 0xffff, 1);
            UNROLL
            for (int j = 0; j < 4; j++)
                acc[j][k] = _mm512_fmadd_ps(qv, fload(kr[j] + 2 * (i + 16 * k), 0xffff, 1), acc[j][k]);
        }
    }
    if (i < n) {
        UNROLL
        for (int k = 0; k < 4; k++) {
            __mmask16 m = sub_mask(n - i, k);
            __m512 qv = fload(q + 2 * (i + 16 * k), m, 1);
            UNROLL
            for (int j = 0; j < 4; j++)
                acc[j][k] = _mm512_fmadd_ps(qv, fload(kr[j] + 2 * (i + 16 * k), m, 1), acc[j][k]);
        }
    }
    __m512 v[4];
    UNROLL
    for (int j = 0; j < 4; j++)
        v[j] = _mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3]));
    __m128 r = _mm_mul_ps(hsum16_x4(v[0], v[1], v[2], v[3]), _mm_set1_ps(scale));
    _mm_mask_storeu_ps(s, (__mmask8)((1u << cnt) - 1u), r);
}

/* K and V rows of one head are short and a whole cache row apart, a pattern the
 * hardware prefetchers follow poorly: ask for the rows ATTN_PREFETCH_ROWS positions
 * ahead (a prefetch never faults, so asking past the last row is harmless). */
#define ATTN_PREFETCH_ROWS 8

static INLINE void prefetch_rows(const unsigned char *row, size_t stride_bytes, size_t bytes, int count)
{
    for (int j = 0; j < count; j++)
        for (size_t o = 0; o < bytes; o += 64)
            _mm_prefetch((const char *)(row + (size_t)j * stride_bytes + o), _MM_HINT_T0);
}

static void attn_scores_f16(size_t n, const uint16_t *q, const uint16_t *k, size_t stride, size_t count, float scale,
                            float *s)
{
    const unsigned char *qb = (const unsigned char *)q, *kb = (const unsigned char *)k;
    size_t p = 0;
    for (; p + 4 <= count; p += 4) {
        prefetch_rows(kb + 2 * (p + ATTN_PREFETCH_ROWS) * stride, 2 * stride, 2 * n, 4);
        scores4(n, qb, kb + 2 * p * stride, 2 * stride, 4, scale, s + p);
    }
    if (p < count)
        scores4(n, qb, kb + 2 * p * stride, 2 * stride, (int)(count - p), scale, s + p);
}

/* f16_to_f32(f32_to_f16(x)) of the first cnt lanes of s into a (16 floats): F16C
 * rounding (to nearest even, as f32_to_f16), with NaNs made f32_to_f16's
 * sign | 0x7e00. */
static INLINE void round_f16_16(const float *s, size_t cnt, float *a)
{
    __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps((__mmask16)((1u << cnt) - 1u), s), _MM_FROUND_TO_NEAREST_INT);
    __mmask16 nan = _mm256_cmpgt_epi16_mask(_mm256_and_si256(h, _mm256_set1_epi16(0x7fff)), _mm256_set1_epi16(0x7c00));
    __m256i canon = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16((short)0x8000)), _mm256_set1_epi16(0x7e00));
    _mm512_storeu_ps(a, _mm512_cvtph_ps(_mm256_mask_blend_epi16(nan, h, canon)));
}

/* out, 64 columns at a time held in registers, takes every position's
 * fma(a, v, out) in turn: per element the sequence of count axpy_f16 calls. */
static void attn_values_f16(size_t n, const float *s, const uint16_t *v, size_t stride, size_t count, float *out)
{
    for (size_t i0 = 0; i0 < n; i0 += 64) {
        __mmask16 m[4];
        __m512 o[4];
        UNROLL
        for (int k = 0; k < 4; k++) {
            m[k] = sub_mask(n - i0, k);
            o[k] = _mm512_maskz_loadu_ps(m[k], out + i0 + 16 * k);
        }
        for (size_t p0 = 0; p0 < count; p0 += 16) {
            const size_t pc = count - p0 < 16 ? count - p0 : 16;
            _Alignas(64) float a[16];
            round_f16_16(s + p0, pc, a);
            for (size_t j = 0; j < pc; j++) {
                const __m512 va = _mm512_set1_ps(a[j]);
                const uint16_t *vr = v + (p0 + j) * stride + i0;
                prefetch_rows((const unsigned char *)(vr + ATTN_PREFETCH_ROWS * stride), 0,
                              2 * (n - i0 < 64 ? n - i0 : 64), 1);
                UNROLL
                for (int k = 0; k < 4; k++)
                    o[k] = _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[k], vr + 16 * k)), o[k]);
            }
        }
        UNROLL
        for (int k = 0; k < 4; k++)
            _mm512_mask_storeu_ps(out + i0 + 16 * k, m[k], o[k]);
    }
}

void kern_fill_avx512(kern_table_t *t)
{
    kern_fill_avx2(t);
    t->isa = KERN_ISA_AVX512;
    t->f32.dot = dot_f32;
    t->f32.dot_x4 = dot_x4_f32;
    t->f32.dot_tile = dot_tile_f32;
    t->f16.dot = dot_f16;
    t->f16.dot_x4 = dot_x4_f16;
    t->f16.dot_tile = dot_tile_f16;
    t->f16.packed_w_bytes = packed_w_bytes_f16;
    t->f16.packed_x_bytes = packed_x_bytes_f16;
    t->f16.pack_w = pack_w_f16;
    t->f16.pack_x = pack_x_f16;
    t->f16.dot_tile_packed = dot_tile_packed_f16;
    t->dot_f16 = dot_f16_kv;
    t->axpy_f16 = axpy_f16;
    t->attn_scores_f16 = attn_scores_f16;
    t->attn_values_f16 = attn_values_f16;
    kern_fill_avx512_q(t);
    kern_fill_avx512_il(t);   /* Q8_0, Q4_0 */
}
