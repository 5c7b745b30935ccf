/*
 * kern_avx2_kpack.c — the AVX2 packed prompt path of the K-quants: the packed
 * byte counts (shared with the AVX-512 table), the packed activation row, and the
 * tiles over packed rows (kern_kpack.h: layout and integer identity;
 * kern_avx2_q.c packs the weight rows and fills the table; kern_avx512_kpack.c is
 * the AVX-512 version of the same arithmetic).
 *
 * Sixteen 256-bit registers do not hold a 4 x 4 tile's accumulators, so a tile is
 * done as two 2 x 4 halves: per super-block each (row, column) pair sums
 * madd(maddubs(u, l), s) into one int32 vector (exact: pair sums <= 2*255*32),
 * one reduction tree gives the eight pairs' sums in lanes r*4 + c, minus the row's
 * bias that is the reference's isum; imin comes from the mins and the activation's
 * sub-block sums by four madds over lanes arranged the same way; then each lane
 * adds (dx*d)*isum [- (dx*dmin)*imin] to its own sum, block 0 first: the
 * reference's operations in its order, so every output equals kern_ref_q.c's dot
 * bit for bit.  Loads are unaligned; nothing here allocates or keeps state.
 */
#include <immintrin.h>
#include <string.h>

#include "tensor/kern.h"
#include "tensor/kern_kpack.h"
#include "tensor/kern_x86_q.h"
#include "tensor/types.h"

#define INLINE inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

size_t kern_kpack_w_bytes(size_t n)
{
    return n / QK_K * KP_W_BLOCK;
}

size_t kern_kpack_x_bytes(size_t n)
{
    return n / QK_K * KP_X_BLOCK;
}

void kern_kpack_set(kern_table_t *t, kern_pack_fn q4_k, kern_pack_fn q5_k, kern_pack_fn q6_k, kern_pack_fn pack_x,
                    kern_tile_packed_fn tile_min, kern_tile_packed_fn tile)
{
    kern_matvec_t *const mv[3] = {&t->q4_k, &t->q5_k, &t->q6_k};
    const kern_pack_fn pack_w[3] = {q4_k, q5_k, q6_k};
    for (int i = 0; i < 3; i++) {
        mv[i]->packed_w_bytes = kern_kpack_w_bytes;
        mv[i]->packed_x_bytes = kern_kpack_x_bytes;
        mv[i]->pack_w = pack_w[i];
        mv[i]->pack_x = pack_x;
        mv[i]->dot_tile_packed = i < 2 ? tile_min : tile;
    }
}

void kern_avx2_kpack_x(size_t n, const void *xv, void *dv)
{
    const unsigned char *x = xv;
    unsigned char *dst = dv;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (size_t b = 0; b < n / QK_K; b++, x += sizeof(block_q8_k_t), dst += KP_X_BLOCK) {
        for (int k = 0; k < 8; k++)
            _mm256_storeu_si256((__m256i *)(dst + KP_X_Q + 32 * k),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + offsetof(block_q8_k_t, q) +
                                                                                      32 * k)),
                                                 flip));
        /* bsums of 16 values -> sums of 32 (at most 32*128: int16) */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(x + offsetof(block_q8_k_t, bsums)));
        const __m256i s = _mm256_madd_epi16(bs, _mm256_set1_epi16(1));
        unsigned char sums[16];
        _mm_storeu_si128((__m128i *)sums, _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
        kpack_x_meta(dst, sums, x);
    }
}

static INLINE __m256i i32_at(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

/* Lanes 0..3: a's int32 at p + off; lanes 4..7: b's. */
static INLINE __m256i rows2(const unsigned char *a, const unsigned char *b, size_t off)
{
    return _mm256_blend_epi32(i32_at(a + off), i32_at(b + off), 0xf0);
}

/* Two weight rows w0, w1 (lanes 0..3, 4..7) against four packed columns x[0..3]
 * (lane r*4 + c); the eight sums into lanes. */
static INLINE __m256 khalf(size_t nb, const unsigned char *w0, const unsigned char *w1,
                           const unsigned char *const xin[4], int has_min)
{
    const unsigned char *wr[2] = {w0, w1}, *xc[4] = {xin[0], xin[1], xin[2], xin[3]};
    __m256 sum = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i acc[8];
        UNROLL
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_setzero_si256();
        UNROLL
        for (int k = 0; k < 8; k++) {
            __m256i xq[4];
            UNROLL
            for (int c = 0; c < 4; c++)
                xq[c] = _mm256_loadu_si256((const __m256i *)(xc[c] + KP_X_Q + 32 * k));
            UNROLL
            for (int r = 0; r < 2; r++) {
                const __m256i lv = _mm256_loadu_si256((const __m256i *)(wr[r] + KP_W_LV + 32 * k));
                const __m256i sc = _mm256_loadu_si256((const __m256i *)(wr[r] + KP_W_SC + 32 * k));
                UNROLL
                for (int c = 0; c < 4; c++)
                    acc[4 * r + c] =
                        _mm256_add_epi32(acc[4 * r + c], _mm256_madd_epi16(_mm256_maddubs_epi16(xq[c], lv), sc));
            }
        }
        const __m256i isum = _mm256_sub_epi32(kq_hsum_i32_x8(acc), rows2(wr[0], wr[1], KP_W_BIAS));
        float dx4[4];
        for (int c = 0; c < 4; c++)
            memcpy(&dx4[c], xc[c] + KP_X_D, sizeof(float));
        const __m128 dxq = _mm_loadu_ps(dx4);
        const __m256 dx = _mm256_set_m128(dxq, dxq);
        const __m256 d = _mm256_castsi256_ps(rows2(wr[0], wr[1], KP_W_D));
        __m256 c = _mm256_mul_ps(_mm256_mul_ps(dx, d), _mm256_cvtepi32_ps(isum));
        if (has_min) {
            /* the four columns' sum pairs transposed: s[e] lane c = column c's pair e */
            const __m128i x0 = _mm_loadu_si128((const __m128i *)(xc[0] + KP_X_META));
            const __m128i x1 = _mm_loadu_si128((const __m128i *)(xc[1] + KP_X_META));
            const __m128i x2 = _mm_loadu_si128((const __m128i *)(xc[2] + KP_X_META));
            const __m128i x3 = _mm_loadu_si128((const __m128i *)(xc[3] + KP_X_META));
            const __m128i t0 = _mm_unpacklo_epi32(x0, x1), t1 = _mm_unpacklo_epi32(x2, x3);
            const __m128i t2 = _mm_unpackhi_epi32(x0, x1), t3 = _mm_unpackhi_epi32(x2, x3);
            const __m128i s[4] = {_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1), _mm_unpacklo_epi64(t2, t3),
                                  _mm_unpackhi_epi64(t2, t3)};
            __m256i imin = _mm256_setzero_si256();
            UNROLL
            for (int e = 0; e < 4; e++)   /* mins 2e, 2e+1 against sums 2e, 2e+1 */
                imin = _mm256_add_epi32(imin, _mm256_madd_epi16(rows2(wr[0], wr[1], KP_W_META + 4 * (size_t)e),
                                                                _mm256_set_m128i(s[e], s[e])));
            const __m256 dmin = _mm256_castsi256_ps(rows2(wr[0], wr[1], KP_W_DMIN));
            c = _mm256_sub_ps(c, _mm256_mul_ps(_mm256_mul_ps(dx, dmin), _mm256_cvtepi32_ps(imin)));
        }
        sum = _mm256_add_ps(sum, c);
        UNROLL
        for (int i = 0; i < 4; i++) {
            xc[i] += KP_X_BLOCK;
            if (i < 2)
                wr[i] += KP_W_BLOCK;
        }
    }
    return sum;
}

static INLINE void ktile(size_t n, const unsigned char *wp, size_t ws, int nr, const unsigned char *xp, size_t xs,
                         int nc, float *out, size_t ldo, int has_min)
{
    const unsigned char *wr[4], *xc[4];
    kpack_tile_ptrs(wp, ws, nr, xp, xs, nc, wr, xc);
    for (int h = 0; 2 * h < nr; h++) {
        float lanes[8];
        _mm256_storeu_ps(lanes, khalf(n / QK_K, wr[2 * h], wr[2 * h + 1], xc, has_min));
        kpack_tile_store(lanes, 2 * h, nr < 2 * h + 2 ? nr : 2 * h + 2, nc, out, ldo);
    }
}

void kern_avx2_kpack_tile_min(size_t n, const void *wp, size_t ws, int nr, const void *xp, size_t xs, int nc,
                              float *out, size_t ldo)
{
    ktile(n, wp, ws, nr, xp, xs, nc, out, ldo, 1);
}

void kern_avx2_kpack_tile(size_t n, const void *wp, size_t ws, int nr, const void *xp, size_t xs, int nc, float *out,
                          size_t ldo)
{
    ktile(n, wp, ws, nr, xp, xs, nc, out, ldo, 0);
}
