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
 * Header only (constants); the kernels are in kern_avx512_kpack.c and kern_avx512_q.c.
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

#endif
