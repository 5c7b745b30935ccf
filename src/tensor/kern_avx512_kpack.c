/*
 * kern_avx512_kpack.c — the AVX-512 (VNNI) packed prompt path of the K-quants:
 * the packed activation row (pack_x, shared by Q4_K, Q5_K and Q6_K) and the 4 x 4
 * tile over packed rows (kern_kpack.h gives the layout and the integer identity;
 * kern_avx512_q.c packs the weight rows and fills the table; kern_avx2_kpack.c has the
 * byte counts, the AVX2 table's version, and the same layout).
 *
 * Per super-block and tile, each (row, column) pair sums maddubs(u, l) * s into one
 * int32 vector by dpwssd (exact: |u*l + u*l| <= 2*255*32 fits int16, no
 * saturation); one transpose-and-add tree turns the sixteen vectors into one
 * vector whose lane r*4 + c is that pair's sum; minus the row's bias it is the
 * reference's isum.  imin comes from the mins and the activation's sub-block sums
 * by four dpwssd over lanes arranged the same way.  Then each lane adds
 * (dx*d)*isum [- (dx*dmin)*imin] to its own sum, block 0 first: the reference's
 * operations in the reference's order, so every output equals kern_ref_q.c's dot
 * bit for bit.  Loads are unaligned; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/kern_kpack.h"
#include "tensor/types.h"

#define INLINE inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

void kern_avx512_kpack_x(size_t n, const void *xv, void *dv)
{
    const unsigned char *x = xv;
    unsigned char *dst = dv;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (size_t b = 0; b < n / QK_K; b++, x += sizeof(block_q8_k_t), dst += KP_X_BLOCK) {
        for (int k = 0; k < 4; k++)
            _mm512_storeu_si512(dst + KP_X_Q + 64 * k,
                                _mm512_xor_si512(_mm512_loadu_si512(x + offsetof(block_q8_k_t, q) + 64 * k), flip));
        /* bsums of 16 values -> sums of 32 (at most 32*128: int16) */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(x + offsetof(block_q8_k_t, bsums)));
        const __m128i s32 = _mm256_cvtepi32_epi16(_mm256_madd_epi16(bs, _mm256_set1_epi16(1)));
        unsigned char sums[16];
        _mm_storeu_si128((__m128i *)sums, s32);
        kpack_x_meta(dst, sums, x);
    }
}

/* v[L] for L < 16 -> one vector whose lane L is the sum of v[L]'s lanes. */
static INLINE __m512i reduce16(const __m512i v[16])
{
    __m512i t[8], u[4];
    UNROLL
    for (int i = 0; i < 8; i++)
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    UNROLL
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    const __m512i w0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                        _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512i w1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                        _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The 32-byte meta of four rows (or columns) p[0..3] + off as two vectors: element e
 * of row r is int32 index 8r + e of the pair (lo, hi), as permutex2var reads it. */
static INLINE void meta4(const unsigned char *const p[4], size_t off, __m512i *lo, __m512i *hi)
{
    *lo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p[0] + off))),
                             _mm256_loadu_si256((const __m256i *)(p[1] + off)), 1);
    *hi = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p[2] + off))),
                             _mm256_loadu_si256((const __m256i *)(p[3] + off)), 1);
}

/* Lane L of the result: element e of row L/4 (by_row) or of column L%4 of (lo, hi). */
static INLINE __m512i pick(__m512i lo, __m512i hi, int by_row, int e)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i who = by_row ? _mm512_srli_epi32(lane, 2) : _mm512_and_si512(lane, _mm512_set1_epi32(3));
    return _mm512_permutex2var_epi32(lo, _mm512_add_epi32(_mm512_slli_epi32(who, 3), _mm512_set1_epi32(e)), hi);
}

static INLINE void ktile(size_t n, const unsigned char *wp, size_t ws, int nr, const unsigned char *xp, size_t xs,
                         int nc, float *out, size_t ldo, int has_min)
{
    const unsigned char *wr[4], *xc[4];
    kpack_tile_ptrs(wp, ws, nr, xp, xs, nc, wr, xc);
    __m512 sum = _mm512_setzero_ps();
    for (size_t b = 0; b < n / QK_K; b++) {
        if (b) {
            UNROLL
            for (int i = 0; i < 4; i++) {
                wr[i] += KP_W_BLOCK;
                xc[i] += KP_X_BLOCK;
            }
        }
        __m512i acc[16];
        UNROLL
        for (int i = 0; i < 16; i++)
            acc[i] = _mm512_setzero_si512();
        UNROLL
        for (int k = 0; k < 4; k++) {
            __m512i xq[4];
            UNROLL
            for (int c = 0; c < 4; c++)
                xq[c] = _mm512_loadu_si512(xc[c] + KP_X_Q + 64 * k);
            UNROLL
            for (int r = 0; r < 4; r++) {
                const __m512i lv = _mm512_loadu_si512(wr[r] + KP_W_LV + 64 * k);
                const __m512i sc = _mm512_loadu_si512(wr[r] + KP_W_SC + 64 * k);
                UNROLL
                for (int c = 0; c < 4; c++)
                    acc[4 * r + c] = _mm512_dpwssd_epi32(acc[4 * r + c], _mm512_maddubs_epi16(xq[c], lv), sc);
            }
        }
        __m512i wlo, whi, xlo, xhi;
        meta4(wr, KP_W_META, &wlo, &whi);
        meta4(xc, KP_X_META, &xlo, &xhi);
        const __m512i isum = _mm512_sub_epi32(reduce16(acc), pick(wlo, whi, 1, (KP_W_BIAS - KP_W_META) / 4));
        const __m512 dx = _mm512_castsi512_ps(pick(xlo, xhi, 0, (KP_X_D - KP_X_META) / 4));
        const __m512 d = _mm512_castsi512_ps(pick(wlo, whi, 1, (KP_W_D - KP_W_META) / 4));
        __m512 c = _mm512_mul_ps(_mm512_mul_ps(dx, d), _mm512_cvtepi32_ps(isum));
        if (has_min) {
            __m512i imin = _mm512_setzero_si512();
            UNROLL
            for (int e = 0; e < 4; e++)   /* mins 2e, 2e+1 against sums 2e, 2e+1 */
                imin = _mm512_dpwssd_epi32(imin, pick(wlo, whi, 1, e), pick(xlo, xhi, 0, e));
            const __m512 dmin = _mm512_castsi512_ps(pick(wlo, whi, 1, (KP_W_DMIN - KP_W_META) / 4));
            c = _mm512_sub_ps(c, _mm512_mul_ps(_mm512_mul_ps(dx, dmin), _mm512_cvtepi32_ps(imin)));
        }
        sum = _mm512_add_ps(sum, c);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, sum);
    kpack_tile_store(lanes, 0, nr, nc, out, ldo);
}

void kern_avx512_kpack_tile_min(size_t n, const void *wp, size_t ws, int nr, const void *xp, size_t xs, int nc,
                                float *out, size_t ldo)
{
    ktile(n, wp, ws, nr, xp, xs, nc, out, ldo, 1);
}

void kern_avx512_kpack_tile(size_t n, const void *wp, size_t ws, int nr, const void *xp, size_t xs, int nc,
                            float *out, size_t ldo)
{
    ktile(n, wp, ws, nr, xp, xs, nc, out, ldo, 0);
}
