/*
 * kern_avx2.c — the kernel table for x86-64 with AVX2, FMA and F16C (compiled
 * with -mavx2 -mfma -mf16c; chosen at run time by kern.c, never called on a CPU
 * without those features).  kern_avx512.c starts from this table and replaces
 * what it does better.
 *
 * Shape of every dot product here: a per-block (or per-chunk) step is split in
 * two halves, "prepare the weight" and "apply it to one activation column".
 * dot runs prepare+apply per block; dot_x4 runs prepare once and apply four
 * times, each column into its own accumulators, in the same block order, with
 * the same accumulator assignment and the same final reduction.  So
 * dot_x4(...)[j] is bit-identical to dot on column j by construction.
 *
 * Quantized dots: per block the 32 int8 products are summed exactly into eight
 * int32 lanes (sign trick: |w| as unsigned bytes, the sign of w moved onto x,
 * then maddubs+madd; pair sums are at most 2*128*127, so nothing saturates
 * as long as activations stay in [-127, 127], which quant_row_q8_0_act guarantees);
 * the lanes are converted to f32 and fused-multiply-added with d_w*d_x into one
 * f32 accumulator vector, block after block (llama.cpp's AVX2 order).
 * Blocks go four at a time so that the four scale products come from one f16
 * conversion and one multiply.  The float order differs from the scalar reference
 * (tested with a tolerance); the integer part is exact.  Weight rows are
 * software-prefetched 2 KB ahead, which decode (memory-bound) needs to approach
 * the read bandwidth.
 *
 * Activation conversions (act_from_f32) are byte-identical to quant.h: the Q8_0
 * path reproduces quant_row_q8_0_act (127/amax, round to nearest even) exactly; the F16 path uses F16C round-to-nearest-even and rewrites NaNs to
 * f32_to_f16's canonical quiet NaN.  All loads are unaligned loads; nothing here
 * allocates or keeps state.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/kern.h"

#define Q8_BYTES sizeof(block_q8_0_t)        /* 34 */
#define Q4_BYTES sizeof(block_q4_0_t)        /* 18 */
#define Q8_QS offsetof(block_q8_0_t, q)       /* 2 */
#define Q4_QS offsetof(block_q4_0_t, qs)      /* 2 */

/* ---- small helpers ------------------------------------------------------------ */

static inline __m256i load32(const unsigned char *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Weight rows are streamed from memory once per token, faster than the hardware
 * prefetcher alone keeps up with: ask now for the bytes PREFETCH_AHEAD beyond the
 * current position (one request per cache line of the span just consumed).  A prefetch
 * never faults, so running past the end of a row is harmless; in a matrix-vector
 * product it warms the next row. */
#define PREFETCH_AHEAD 2048

static inline void prefetch_span(const unsigned char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)(p + PREFETCH_AHEAD + o), _MM_HINT_T0);
}

/* Sum of the 8 lanes, in a fixed order: (lo+hi), then pairs, then the last two. */
static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- Q8_0 / Q4_0 weights against Q8_0 activations -------------------------------
 * Blocks are taken four at a time (a quad), so that the four scales d_w*d_x of a quad
 * are converted and multiplied with one vector operation (and then broadcast from
 * memory, which costs a load rather than a shuffle); every block feeds one f32
 * accumulator per column, in block order — llama.cpp's AVX2 order for these types,
 * so that our sums and its agree bit for bit (two accumulators alternating by block,
 * as here before, changed the 226th greedy token of stories260K-Q8_0-mixed).  The
 * last quad of a row may hold 1..3 blocks. */

/* One weight block made ready for any number of activation columns. */
typedef struct {
    __m256i mag;   /* |w| as unsigned bytes, 32 values in order */
    __m256i sgn;   /* w itself: its sign is moved onto x */
} wblock_t;

static inline wblock_t q8_prep(const unsigned char *wb)
{
    __m256i q = load32(wb + Q8_QS);
    return (wblock_t){_mm256_abs_epi8(q), q};
}

static inline wblock_t q4_prep(const unsigned char *wb)
{
    /* [16 bytes | same 16 bytes]; the upper copy is shifted by 4, so after masking the
     * low half holds values 0..15 (low nibbles) and the high half values 16..31. */
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(wb + Q4_QS)));
    __m256i nib = _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_set_epi64x(4, 4, 0, 0)),
                                   _mm256_set1_epi8(0x0f));
    __m256i q = _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
    return (wblock_t){_mm256_abs_epi8(q), q};
}

/* The f16 scales of cnt (1..4) blocks starting at p, `stride` bytes apart, as f32 lanes
 * (0 for missing blocks). */
static inline __m128 load_d4(const unsigned char *p, size_t stride, int cnt)
{
    uint64_t bits = 0;
    for (int k = 0; k < cnt; k++) {
        uint16_t h;
        memcpy(&h, p + k * stride, sizeof h);
        bits |= (uint64_t)h << (16 * k);
    }
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)bits));
}

/* acc += f32(eight exact int32 partial sums of w.x) * s, for one Q8_0 block xb whose
 * scale product d_w*d_x is s (in every lane). */
static inline __m256 block_apply(wblock_t w, const unsigned char *xb, __m256 s, __m256 acc)
{
    __m256i sx = _mm256_sign_epi8(load32(xb + Q8_QS), w.sgn);
    __m256i p16 = _mm256_maddubs_epi16(w.mag, sx);
    __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), s, acc);
}

/* The prepare function differs per weight type; everything else is shared. */
typedef wblock_t (*prep_fn)(const unsigned char *wb);

/* One quad of cnt blocks at w (weights) and x (activations) into acc[0..1]. */
static inline void quad_dot(const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x, int cnt,
                            __m256 *acc)
{
    float s[4];
    _mm_storeu_ps(s, _mm_mul_ps(load_d4(w, wbytes, cnt), load_d4(x, Q8_BYTES, cnt)));
    for (int k = 0; k < cnt; k++)
        *acc = block_apply(prep(w + k * wbytes), x + k * Q8_BYTES, _mm256_broadcast_ss(&s[k]), *acc);
}

/* The same quad against four activation columns, x + j*stride. */
static inline void quad_dot_x4(const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x,
                               size_t stride, int cnt, __m256 acc[4])
{
    __m128 dw = load_d4(w, wbytes, cnt);
    float s[4][4];   /* broadcast from memory below: the load ports, not the shuffle unit */
    for (int j = 0; j < 4; j++)
        _mm_storeu_ps(s[j], _mm_mul_ps(dw, load_d4(x + j * stride, Q8_BYTES, cnt)));
    for (int k = 0; k < cnt; k++) {
        wblock_t wk = prep(w + k * wbytes);
        for (int j = 0; j < 4; j++)
            acc[j] = block_apply(wk, x + j * stride + k * Q8_BYTES, _mm256_broadcast_ss(&s[j][k]), acc[j]);
    }
}

static inline float qdot(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x)
{
    __m256 acc = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        prefetch_span(w + b * wbytes, 4 * wbytes);
        quad_dot(w + b * wbytes, wbytes, prep, x + b * Q8_BYTES, 4, &acc);
    }
    if (b < nb)
        quad_dot(w + b * wbytes, wbytes, prep, x + b * Q8_BYTES, (int)(nb - b), &acc);
    return hsum8(acc);
}

static inline void qdot_x4(size_t nb, const unsigned char *w, size_t wbytes, prep_fn prep, const unsigned char *x,
                           size_t stride, float *out)
{
    __m256 acc[4];
    for (int j = 0; j < 4; j++)
        acc[j] = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        prefetch_span(w + b * wbytes, 4 * wbytes);
        quad_dot_x4(w + b * wbytes, wbytes, prep, x + b * Q8_BYTES, stride, 4, acc);
    }
    if (b < nb)
        quad_dot_x4(w + b * wbytes, wbytes, prep, x + b * Q8_BYTES, stride, (int)(nb - b), acc);
    for (int j = 0; j < 4; j++)
        out[j] = hsum8(acc[j]);
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
 * Chunks of 16 elements: the first 8 go to acc0, the next 8 to acc1.  A final partial
 * chunk is zero-padded (F16: copied into a small zeroed array; F32: masked loads), so
 * it takes the same path as a full one. */

static inline __m256 h8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Elements i..n-1 (fewer than 16) of a row of halves, copied into pad and zero-filled. */
static inline void f16_tail(size_t n, size_t i, const unsigned char *src, uint16_t pad[16])
{
    memset(pad, 0, 16 * sizeof pad[0]);
    memcpy(pad, src + 2 * i, 2 * (n - i));
}

static float f16_dot(size_t n, const unsigned char *w, const unsigned char *x)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_span(w + 2 * i, 32);
        acc0 = _mm256_fmadd_ps(h8((const uint16_t *)(w + 2 * i)), h8((const uint16_t *)(x + 2 * i)), acc0);
        acc1 = _mm256_fmadd_ps(h8((const uint16_t *)(w + 2 * i + 16)),
                               h8((const uint16_t *)(x + 2 * i + 16)), acc1);
    }
    if (i < n) {
        uint16_t pw[16], px[16];
        f16_tail(n, i, w, pw);
        f16_tail(n, i, x, px);
        acc0 = _mm256_fmadd_ps(h8(pw), h8(px), acc0);
        acc1 = _mm256_fmadd_ps(h8(pw + 8), h8(px + 8), acc1);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static void dot_f16(size_t n, const void *w, const void *x, float *out)
{
    *out = f16_dot(n, w, x);
}

static void dot_x4_f16(size_t n, const void *vw, const void *vx, size_t stride, float *out)
{
    const unsigned char *w = vw, *x = vx;
    __m256 acc0[4], acc1[4];
    for (int j = 0; j < 4; j++)
        acc0[j] = acc1[j] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_span(w + 2 * i, 32);
        __m256 w0 = h8((const uint16_t *)(w + 2 * i)), w1 = h8((const uint16_t *)(w + 2 * i + 16));
        for (int j = 0; j < 4; j++) {
            const unsigned char *xj = x + j * stride + 2 * i;
            acc0[j] = _mm256_fmadd_ps(w0, h8((const uint16_t *)xj), acc0[j]);
            acc1[j] = _mm256_fmadd_ps(w1, h8((const uint16_t *)(xj + 16)), acc1[j]);
        }
    }
    if (i < n) {
        uint16_t pw[16], px[16];
        f16_tail(n, i, w, pw);
        __m256 w0 = h8(pw), w1 = h8(pw + 8);
        for (int j = 0; j < 4; j++) {
            f16_tail(n, i, x + j * stride, px);
            acc0[j] = _mm256_fmadd_ps(w0, h8(px), acc0[j]);
            acc1[j] = _mm256_fmadd_ps(w1, h8(px + 8), acc1[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        out[j] = hsum8(_mm256_add_ps(acc0[j], acc1[j]));
}

/* Lane masks for the first r (0..16) of 16 floats, as two 8-lane halves. */
static inline __m256i tail_mask(size_t r, int half)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r - 8 * half), lane);
}

static inline __m256 f8(const unsigned char *p)
{
    return _mm256_loadu_ps((const float *)p);
}

static inline __m256 f8_masked(const unsigned char *p, __m256i m)
{
    return _mm256_maskload_ps((const float *)p, m);
}

static float f32_dot(size_t n, const unsigned char *w, const unsigned char *x)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_span(w + 4 * i, 64);
        acc0 = _mm256_fmadd_ps(f8(w + 4 * i), f8(x + 4 * i), acc0);
        acc1 = _mm256_fmadd_ps(f8(w + 4 * i + 32), f8(x + 4 * i + 32), acc1);
    }
    if (i < n) {
        __m256i m0 = tail_mask(n - i, 0), m1 = tail_mask(n - i, 1);
        acc0 = _mm256_fmadd_ps(f8_masked(w + 4 * i, m0), f8_masked(x + 4 * i, m0), acc0);
        acc1 = _mm256_fmadd_ps(f8_masked(w + 4 * i + 32, m1), f8_masked(x + 4 * i + 32, m1), acc1);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static void dot_f32(size_t n, const void *w, const void *x, float *out)
{
    *out = f32_dot(n, w, x);
}

static void dot_x4_f32(size_t n, const void *vw, const void *vx, size_t stride, float *out)
{
    const unsigned char *w = vw, *x = vx;
    __m256 acc0[4], acc1[4];
    for (int j = 0; j < 4; j++)
        acc0[j] = acc1[j] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_span(w + 4 * i, 64);
        __m256 w0 = f8(w + 4 * i), w1 = f8(w + 4 * i + 32);
        for (int j = 0; j < 4; j++) {
            const unsigned char *xj = x + j * stride + 4 * i;
            acc0[j] = _mm256_fmadd_ps(w0, f8(xj), acc0[j]);
            acc1[j] = _mm256_fmadd_ps(w1, f8(xj + 32), acc1[j]);
        }
    }
    if (i < n) {
        __m256i m0 = tail_mask(n - i, 0), m1 = tail_mask(n - i, 1);
        __m256 w0 = f8_masked(w + 4 * i, m0), w1 = f8_masked(w + 4 * i + 32, m1);
        for (int j = 0; j < 4; j++) {
            const unsigned char *xj = x + j * stride + 4 * i;
            acc0[j] = _mm256_fmadd_ps(w0, f8_masked(xj, m0), acc0[j]);
            acc1[j] = _mm256_fmadd_ps(w1, f8_masked(xj + 32, m1), acc1[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        out[j] = hsum8(_mm256_add_ps(acc0[j], acc1[j]));
}

/* No tiled kernels of its own yet: dot_tile is made of dot_x4 and dot. */
KERN_DEFINE_TILE_BY_DOTS(dot_tile_f32, dot_f32, dot_x4_f32)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_f16, dot_f16, dot_x4_f16)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q8_0, dot_q8_0, dot_x4_q8_0)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_0, dot_q4_0, dot_x4_q4_0)

/* ---- activation conversions (byte-identical to quant.h) -------------------------- */

static void act_f32(const float *x, void *y, size_t n)
{
    memmove(y, x, n * sizeof(float));
}

/* f32_to_f16 turns every NaN into sign | 0x7e00; F16C keeps payload bits. */
static inline __m128i canonical_nan(__m128i h)
{
    __m128i isnan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    __m128i fixed = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)), _mm_set1_epi16(0x7e00));
    return _mm_blendv_epi8(h, fixed, isnan);
}

static void act_f16(const float *x, void *y, size_t n)
{
    unsigned char *out = y;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(out + 2 * i), canonical_nan(h));
    }
    for (; i < n; i++) {
        uint16_t h = f32_to_f16(x[i]);
        memcpy(out + 2 * i, &h, sizeof h);
    }
}

static void act_q8_0(const float *x, void *y, size_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    unsigned char *out = y;
    for (size_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        unsigned char *yb = out + b * Q8_BYTES;
        __m256 v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm256_loadu_ps(xb + 8 * k);

        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t dh = f32_to_f16(d);
        memcpy(yb, &dh, sizeof dh);

        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvttps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* The two packs interleave 128-bit lanes; the permute restores element order. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(yb + Q8_QS), p);
    }
}

void kern_fill_avx2(kern_table_t *t)
{
    *t = (kern_table_t){
        .isa = KERN_ISA_AVX2,
        .f32 = {.act_type = TYPE_F32, .act_from_f32 = act_f32, .dot = dot_f32, .dot_x4 = dot_x4_f32,
                .dot_tile = dot_tile_f32},
        .f16 = {.act_type = TYPE_F16, .act_from_f32 = act_f16, .dot = dot_f16, .dot_x4 = dot_x4_f16,
                .dot_tile = dot_tile_f16},
        .q8_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q8_0, .dot_x4 = dot_x4_q8_0,
                 .dot_tile = dot_tile_q8_0},
        .q4_0 = {.act_type = TYPE_Q8_0, .act_from_f32 = act_q8_0, .dot = dot_q4_0, .dot_x4 = dot_x4_q4_0,
                 .dot_tile = dot_tile_q4_0},
    };
    kern_fill_avx2_attn(t);
    kern_fill_ref_quants(t);
    kern_fill_avx2_q(t);
    kern_fill_avx2_act(t);
}
