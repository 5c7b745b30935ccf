/*
 * kern_kpack.h — the packed layout of the K-quant prompt path (Q4_K, Q5_K, Q6_K
 * weights against Q8_K activations; kern.h's pack_w / pack_x / dot_tile_packed).
 * Packing does once per row what the unpacked tiles redo in every tile: the
 * weight levels become signed bytes in value order, the scales int16 multipliers
 * laid out for maddubs + madd, the level offset and the activation offset one
 * per-block integer, so the tile's inner loop is only maddubs + dpwssd.
 *
 * Integer identity (exact in int32 for every input): with activations stored as
 * u = q + 128 (q ^ 0x80) and weight levels l (Q4_K, Q5_K: the stored level; Q6_K:
 * the stored level - 32) with per-pair multipliers s,
 *   isum = sum s*l*q = sum s*l*u - bias,  bias = 128 * sum s*l   (per row and block),
 * which is the reference's isum (kern_ref_q.c; Q6_K's -32 offset is inside l);
 * imin = sum over the eight 32-value sub-blocks of min_j * (sum of their q).
 * The float step is the reference's per block, in block order.
 *
 * Packed weight row: KP_W_BLOCK bytes per super-block,
 *   [0, 256)    levels l as int8, value order;
 *   [256, 512)  int16 multipliers, one per pair of values (value order);
 *   [512, 528)  the eight mins as int16 (zeros for Q6_K);
 *   [528, 532)  bias (int32); [532, 536) d (f32); [536, 540) dmin (f32, Q6_K 0);
 *   the rest zero.
 * Packed activation row: KP_X_BLOCK bytes per super-block,
 *   [0, 256)    q ^ 0x80; [256, 272) the eight 32-value sums as int16;
 *   [272, 276)  d (f32); the rest zero.
 * Header only: the constants and the plain-C pieces both x86 tables share; the
 * kernels are in kern_avx2_kpack.c / kern_avx512_kpack.c, the weight packers in
 * kern_avx2_q.c / kern_avx512_q.c (kern_kpack_set fills a table's entries).
 */
#ifndef LL_TENSOR_KERN_KPACK_H
#define LL_TENSOR_KERN_KPACK_H

#define KP_W_BLOCK 576
#define KP_W_LV 0
#define KP_W_SC 256
#define KP_W_META 512   /* mins[8] int16, bias, d, dmin: 32 bytes */
#define KP_W_BIAS 528
#define KP_W_D 532
#define KP_W_DMIN 536

#define KP_X_BLOCK 320
#define KP_X_Q 0
#define KP_X_META 256   /* bsum[8] int16, d: 32 bytes */
#define KP_X_D 272

#include <stdint.h>
#include <string.h>

/* A packed weight block's bytes from KP_W_META on: mins16 holds each of the eight
 * mins twice (once per 16 values, as the preparations make them; NULL: none). */
static inline void kpack_w_meta(unsigned char *dst, const int16_t *mins16, int32_t bias, float d, float dmin)
{
    unsigned char meta[KP_W_BLOCK - KP_W_META] = {0};
    for (int j = 0; j < 8 && mins16; j++)
        memcpy(meta + 2 * j, &mins16[2 * j], 2);
    memcpy(meta + (KP_W_BIAS - KP_W_META), &bias, sizeof bias);
    memcpy(meta + (KP_W_D - KP_W_META), &d, sizeof d);
    memcpy(meta + (KP_W_DMIN - KP_W_META), &dmin, sizeof dmin);
    memcpy(dst + KP_W_META, meta, sizeof meta);
}

/* A packed activation block's bytes from KP_X_META on: sums, the eight 32-value sums
 * as int16; xb, the Q8_K block (for its d). */
static inline void kpack_x_meta(unsigned char *dst, const unsigned char sums[16], const unsigned char *xb)
{
    memset(dst + KP_X_META, 0, KP_X_BLOCK - KP_X_META);
    memcpy(dst + KP_X_META, sums, 16);
    memcpy(dst + KP_X_D, xb, sizeof(float));   /* block_q8_k_t starts with d */
}

/* A tile's four row and four column pointers: those past nr / nc repeat the last. */
static inline void kpack_tile_ptrs(const unsigned char *wp, size_t ws, int nr, const unsigned char *xp, size_t xs,
                                   int nc, const unsigned char *wr[4], const unsigned char *xc[4])
{
    for (int i = 0; i < 4; i++) {
        wr[i] = wp + (size_t)(i < nr ? i : nr - 1) * ws;
        xc[i] = xp + (size_t)(i < nc ? i : nc - 1) * xs;
    }
}

/* out[c*ldo + r] = lanes[4*(r - r0) + c] for r0 <= r < r1, c < nc. */
static inline void kpack_tile_store(const float *lanes, int r0, int r1, int nc, float *out, size_t ldo)
{
    for (int r = r0; r < r1; r++)
        for (int c = 0; c < nc; c++)
            out[(size_t)c * ldo + (size_t)r] = lanes[4 * (r - r0) + c];
}

/* Defines pack_w_q4_k, pack_w_q5_k and pack_w_q6_k from the including file's
 * kprep_t, prep_q4_k / prep_q5_k / prep_q6_k and kpack_block(p, q6, dst). */
#define KPACK_DEFINE_PACK_W                                                                                          static inline void kpack_row(size_t n, const unsigned char *w, unsigned char *dst, size_t wbytes,                                           void (*prep)(const unsigned char *, kprep_t *), int q6)                           {                                                                                                                    for (size_t b = 0; b < n / QK_K; b++) {                                                                              kprep_t p;                                                                                                       prep(w + b * wbytes, &p);                                                                                        kpack_block(&p, q6, dst + b * KP_W_BLOCK);                                                                   }                                                                                                            }                                                                                                                static void pack_w_q4_k(size_t n, const void *w, void *dst)                                                      {                                                                                                                    kpack_row(n, w, dst, sizeof(block_q4_k_t), prep_q4_k, 0);                                                    }                                                                                                                static void pack_w_q5_k(size_t n, const void *w, void *dst)                                                      {                                                                                                                    kpack_row(n, w, dst, sizeof(block_q5_k_t), prep_q5_k, 0);                                                    }                                                                                                                static void pack_w_q6_k(size_t n, const void *w, void *dst)                                                      {                                                                                                                    kpack_row(n, w, dst, sizeof(block_q6_k_t), prep_q6_k, 1);                                                    }

#endif
