/*
 * kern_avx512_il.c — the AVX-512 (VNNI) table's Q8_0 and Q4_0 kernels: the
 * interleaved path (kern.h: il_*) and the row-major dot, dot_x4 and dot_tile,
 * all computing each output by the same arithmetic:
 *
 *   acc = +0; for every block b in order:
 *       isum = sum over the block's 32 values of w * x      (exact, int32;
 *                                                            Q4_0: w = nibble - 8)
 *       acc  = fma((float)isum, d_w * d_x, acc)             (d_w * d_x rounded to f32)
 *   out = acc.
 *
 * Interleaved weights: a group holds IL_ROWS (16) consecutive rows, block by
 * block; a block of the group is their 16 f16 scales (32 bytes) followed by
 * 64-byte vectors whose 32-bit lane r holds four bytes of row r:
 *   Q8_0: 8 vectors, vector j the values 4j..4j+3 as unsigned bytes w + 128
 *         (w ^ 0x80): 32 + 512 = 544 bytes, 16 x 34 (the rows' own size);
 *   Q4_0: 4 vectors, vector k the stored bytes qs[4k..4k+3]: low nibbles are
 *         values 4k.., high nibbles values 16+4k..: 32 + 256 = 288 = 16 x 18.
 * Interleaved activations (per row, from Q8_0): per block the 32 signed values,
 * the int32 correction (Q8_0: -128 * sum x; Q4_0: -8 * sum x) and d as f32:
 * 40 bytes.  Then one vpdpbusd of a weight vector with four activation values
 * broadcast adds, in lane r, four of row r's products (unsigned weight byte times
 * signed activation, summed exactly in int32), so a block's isum for 16 rows is
 * the correction plus 8 vpdpbusd (Q4_0: the two nibble halves of 4 vectors), and
 * the float step runs once per block for 16 rows: no horizontal reduction
 * anywhere.  Zero rows pad a short group (their outputs are dropped by the
 * caller).  No operand range is assumed (w or x may be -128).
 *
 * The row-major kernels (used where a matrix has not been interleaved: tests,
 * and any caller of dot) compute isum per block with the sign trick and do the
 * same float step in scalar, so every path agrees bit for bit.  The float order
 * differs from the scalar reference table (tested with a tolerance).
 * Compiled with the AVX-512 set of kern_avx512.c; nothing here allocates.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/kern_x86_q.h"

#define IL_ROWS KERN_IL_ROWS_MAX
#define Q8_BYTES sizeof(block_q8_0_t)   /* 34 */
#define Q4_BYTES sizeof(block_q4_0_t)   /* 18 */
#define Q8_QS offsetof(block_q8_0_t, q)
#define Q4_QS offsetof(block_q4_0_t, qs)
#define IL_D 32                          /* the scales, then the vectors */
#define IL_Q8_BLOCK (IL_D + 8 * 64)      /* 544 */
#define IL_Q4_BLOCK (IL_D + 4 * 64)      /* 288 */
#define IL_X_BLOCK 40                    /* 32 values, correction, d */
#define IL_PREFETCH 2048

#define INLINE inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

static inline uint16_t u16_at(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

static inline int32_t i32_at(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float f32_at(const unsigned char *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float f16_value(uint16_t h)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* ---- packing ------------------------------------------------------------------ */

static size_t il_group_bytes_q8_0(size_t n)
{
    return n / QK8_0 * IL_Q8_BLOCK;
}

static size_t il_group_bytes_q4_0(size_t n)
{
    return n / QK4_0 * IL_Q4_BLOCK;
}

static size_t il_x_bytes(size_t n)
{
    return n / QK8_0 * IL_X_BLOCK;
}

/* Rows r < nr of w (w_stride bytes apart) into one group; the others are zero. */
static INLINE void pack_group(size_t n, const unsigned char *w, size_t w_stride, int nr, unsigned char *dst, int q4)
{
    const size_t nb = n / QK8_0, wbytes = q4 ? Q4_BYTES : Q8_BYTES, block = q4 ? IL_Q4_BLOCK : IL_Q8_BLOCK;
    const int vectors = q4 ? 4 : 8;
    memset(dst, 0, nb * block);
    for (size_t b = 0; b < nb; b++) {
        unsigned char *db = dst + b * block;
        for (int r = 0; r < nr; r++) {
            const unsigned char *wb = w + (size_t)r * w_stride + b * wbytes;
            memcpy(db + 2 * r, wb, 2);   /* d (f16) leads both block types */
            const unsigned char *qs = wb + (q4 ? Q4_QS : Q8_QS);
            for (int j = 0; j < vectors; j++)
                for (int e = 0; e < 4; e++)
                    db[IL_D + 64 * j + 4 * r + e] = q4 ? qs[4 * j + e] : (unsigned char)(qs[4 * j + e] ^ 0x80);
        }
    }
}

static void il_pack_group_q8_0(size_t n, const void *w, size_t w_stride, int nr, void *dst)
{
    pack_group(n, w, w_stride, nr, dst, 0);
}

static void il_pack_group_q4_0(size_t n, const void *w, size_t w_stride, int nr, void *dst)
{
    pack_group(n, w, w_stride, nr, dst, 1);
}

/* One Q8_0 activation row into the interleaved activation layout (mult: 128 or 8). */
static INLINE void pack_x(size_t n, const unsigned char *x, unsigned char *dst, int32_t mult)
{
    for (size_t b = 0; b < n / QK8_0; b++, dst += IL_X_BLOCK) {
        const unsigned char *xb = x + b * Q8_BYTES;
        memcpy(dst, xb + Q8_QS, 32);
        int32_t sum = 0;
        for (int i = 0; i < 32; i++)
            sum += (int8_t)xb[Q8_QS + i];
        const int32_t corr = -mult * sum;
        const float d = f16_value(u16_at(xb));
        memcpy(dst + 32, &corr, 4);
        memcpy(dst + 36, &d, 4);
    }
}

static void il_pack_x_q8_0(size_t n, const void *x, void *dst)
{
    pack_x(n, x, dst, 128);
}

static void il_pack_x_q4_0(size_t n, const void *x, void *dst)
{
    pack_x(n, x, dst, 8);
}

/* ---- the interleaved tile ----------------------------------------------------------
 * NG groups (wg + g*g_stride) by NC activation columns, compile-time shapes after
 * inlining; acc[g][c] holds the 16 rows of group g for column c. */

#define IL_MAX_ACC 8

static INLINE void il_tile(size_t nb, const unsigned char *wg, size_t g_stride, const unsigned char *xp,
                           size_t xp_stride, int NG, int NC, int q4, float *out, size_t ldo)
{
    const size_t block = q4 ? IL_Q4_BLOCK : IL_Q8_BLOCK;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[4][IL_MAX_ACC];
    UNROLL
    for (int g = 0; g < NG; g++) {
        UNROLL
        for (int c = 0; c < NC; c++)
            acc[g][c] = _mm512_setzero_ps();
    }
    for (size_t b = 0; b < nb; b++) {
        UNROLL
        for (int g = 0; g < NG; g++) {
            const unsigned char *wb = wg + (size_t)g * g_stride + b * block;
            for (size_t o = 0; o < block; o += 64)
                _mm_prefetch((const char *)(wb + IL_PREFETCH + o), _MM_HINT_T0);
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)wb));
            __m512i v[8];
            if (q4) {
                UNROLL
                for (int k = 0; k < 4; k++) {
                    const __m512i raw = _mm512_loadu_si512(wb + IL_D + 64 * k);
                    v[k] = _mm512_and_si512(raw, m4);
                    v[k + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                }
            } else {
                UNROLL
                for (int j = 0; j < 8; j++)
                    v[j] = _mm512_loadu_si512(wb + IL_D + 64 * j);
            }
            UNROLL
            for (int c = 0; c < NC; c++) {
                const unsigned char *xb = xp + (size_t)c * xp_stride + b * IL_X_BLOCK;
                __m512i isum = _mm512_set1_epi32(i32_at(xb + 32));
                UNROLL
                for (int j = 0; j < 8; j++)   /* Q4_0: v[k] meets values 4k.., v[k+4] values 16+4k.. */
                    isum = _mm512_dpbusd_epi32(isum, v[j], _mm512_set1_epi32(i32_at(xb + 4 * j)));
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(f32_at(xb + 36)));
                acc[g][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[g][c]);
            }
        }
    }
    UNROLL
    for (int g = 0; g < NG; g++) {
        UNROLL
        for (int c = 0; c < NC; c++)
            _mm512_storeu_ps(out + (size_t)c * ldo + (size_t)IL_ROWS * g, acc[g][c]);
    }
}

#define IL_DISPATCH(ng, nc, BODY)                                                                                \
    switch ((ng) * 16 + (nc)) {                                                                                  \
    case 0x11: BODY(1, 1); break;                                                                                \
    case 0x12: BODY(1, 2); break;                                                                                \
    case 0x13: BODY(1, 3); break;                                                                                \
    case 0x14: BODY(1, 4); break;                                                                                \
    case 0x15: BODY(1, 5); break;                                                                                \
    case 0x16: BODY(1, 6); break;                                                                                \
    case 0x17: BODY(1, 7); break;                                                                                \
    case 0x18: BODY(1, 8); break;                                                                                \
    case 0x21: BODY(2, 1); break;                                                                                \
    case 0x22: BODY(2, 2); break;                                                                                \
    case 0x23: BODY(2, 3); break;                                                                                \
    case 0x24: BODY(2, 4); break;                                                                                \
    case 0x31: BODY(3, 1); break;                                                                                \
    case 0x41: BODY(4, 1); break;                                                                                \
    case 0x42: BODY(4, 2); break;                                                                                \
    case 0x43: BODY(4, 3); break;                                                                                \
    case 0x44: BODY(4, 4); break;                                                                                \
    default: break;                                                                                              \
    }

static void il_tile_q8_0(size_t n, const void *wg, size_t g_stride, int ng, const void *xp, size_t xp_stride, int nc,
                         float *out, size_t ldo)
{
#define ILT(G, C) il_tile(n / QK8_0, wg, g_stride, xp, xp_stride, G, C, 0, out, ldo)
    IL_DISPATCH(ng, nc, ILT)
#undef ILT
}

static void il_tile_q4_0(size_t n, const void *wg, size_t g_stride, int ng, const void *xp, size_t xp_stride, int nc,
                         float *out, size_t ldo)
{
#define ILT(G, C) il_tile(n / QK4_0, wg, g_stride, xp, xp_stride, G, C, 1, out, ldo)
    IL_DISPATCH(ng, nc, ILT)
#undef ILT
}

/* ---- row-major kernels, the same arithmetic ------------------------------------- */

/* The 32 weights of block b of a row as signed bytes (Q4_0: nibble - 8, value order). */
static INLINE __m256i row_block(const unsigned char *w, size_t b, int q4)
{
    if (!q4)
        return _mm256_loadu_si256((const __m256i *)(w + b * Q8_BYTES + Q8_QS));
    const __m128i raw = _mm_loadu_si128((const __m128i *)(w + b * Q4_BYTES + Q4_QS));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
}

/* isum of 32 signed weights with 32 activation bytes: w * x = (w + 128) * x - 128 * x, exact. */
static INLINE int32_t block_isum(__m256i wv, const unsigned char *xq)
{
    const __m256i xv = _mm256_loadu_si256((const __m256i *)xq);
    const __m256i u = _mm256_xor_si256(wv, _mm256_set1_epi8((char)0x80));   /* w + 128 as unsigned */
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, xv);
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), xv);
    return kq_hsum_i32(_mm256_sub_epi32(p, s));
}

static INLINE float row_dot(size_t n, const unsigned char *w, const unsigned char *x, int q4)
{
    const size_t wbytes = q4 ? Q4_BYTES : Q8_BYTES;
    __m128 acc = _mm_setzero_ps();
    for (size_t b = 0; b < n / QK8_0; b++) {
        const unsigned char *xb = x + b * Q8_BYTES;
        const int32_t isum = block_isum(row_block(w, b, q4), xb + Q8_QS);
        const float scale = f16_value(u16_at(w + b * wbytes)) * f16_value(u16_at(xb));
        acc = _mm_fmadd_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), isum), _mm_set_ss(scale), acc);
    }
    return _mm_cvtss_f32(acc);
}

static void dot_q8_0(size_t n, const void *w, const void *x, float *out)
{
    *out = row_dot(n, w, x, 0);
}

static void dot_q4_0(size_t n, const void *w, const void *x, float *out)
{
    *out = row_dot(n, w, x, 1);
}

static void dot_x4_q8_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        out[j] = row_dot(n, w, (const unsigned char *)x + (size_t)j * stride, 0);
}

static void dot_x4_q4_0(size_t n, const void *w, const void *x, size_t stride, float *out)
{
    for (int j = 0; j < 4; j++)
        out[j] = row_dot(n, w, (const unsigned char *)x + (size_t)j * stride, 1);
}

KERN_DEFINE_TILE_BY_DOTS(dot_tile_q8_0, dot_q8_0, dot_x4_q8_0)
KERN_DEFINE_TILE_BY_DOTS(dot_tile_q4_0, dot_q4_0, dot_x4_q4_0)

void kern_fill_avx512_il(kern_table_t *t)
{
    kern_matvec_t *mv[2] = {&t->q8_0, &t->q4_0};
    for (int i = 0; i < 2; i++) {
        const int q4 = i == 1;
        mv[i]->dot = q4 ? dot_q4_0 : dot_q8_0;
        mv[i]->dot_x4 = q4 ? dot_x4_q4_0 : dot_x4_q8_0;
        mv[i]->dot_tile = q4 ? dot_tile_q4_0 : dot_tile_q8_0;
        mv[i]->packed_w_bytes = mv[i]->packed_x_bytes = NULL;   /* the interleaved path replaces the packed one */
        mv[i]->pack_w = mv[i]->pack_x = NULL;
        mv[i]->dot_tile_packed = NULL;
        mv[i]->il_rows = IL_ROWS;
        mv[i]->il_group_bytes = q4 ? il_group_bytes_q4_0 : il_group_bytes_q8_0;
        mv[i]->il_pack_group = q4 ? il_pack_group_q4_0 : il_pack_group_q8_0;
        mv[i]->il_x_bytes = il_x_bytes;
        mv[i]->il_pack_x = q4 ? il_pack_x_q4_0 : il_pack_x_q8_0;
        mv[i]->il_tile = q4 ? il_tile_q4_0 : il_tile_q8_0;
    }
}
