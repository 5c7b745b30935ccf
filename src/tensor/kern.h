/*
 * kern.h — the compute kernels, chosen once at start-up by CPU features.
 *
 * A kern_table_t holds, per weight type, the activation format that type wants,
 * the f32 -> activation conversion, and the dot products of one weight row with
 * one activation row (dot), with four (dot_x4), and of up to KERN_TILE weight
 * rows with up to KERN_TILE activation rows (dot_tile: the register-tiled kernel
 * the matmul driver uses for prompt batches, and with one activation row and
 * weight rows far apart for decode, where several concurrent read streams draw
 * more memory bandwidth than one).  The scalar kernels in
 * kern_scalar.c are the specification; kern_avx2.c, kern_avx512.c and
 * kern_neon.c implement the same contracts, each compiled with its own target
 * flags.  Nothing here allocates or keeps state.
 *
 * Determinism contract (the distributed runtime depends on it): for one table,
 *   - dot_x4(n, w, x, stride, out)[j] == dot(n, w, x + j*stride) bit for bit;
 *   - dot_tile(...) for (r, c) == dot(n, w + r*w_stride, x + c*x_stride) bit for
 *     bit, for every tile shape and every position in the tile;
 *   - act_from_f32 produces identical bytes to the scalar reference (quant.h);
 *   - results depend only on the operands, never on alignment or thread.
 * Numerics follow llama.cpp's CPU backend (FORMATS.md): Q8_0/Q4_0 weights take
 * Q8_0 activations, each block's integer dot is scaled by d_w*d_x and summed in
 * f32; F16 weights take F16 activations with f32 accumulation; F32 takes F32.
 * The other quantized types (kern_ref_q.c is their specification) take Q8_0
 * (Q5_0, IQ4_NL), Q8_1 (Q4_1, Q5_1) or Q8_K (the K-quants) activations.
 */
#ifndef LL_TENSOR_KERN_H
#define LL_TENSOR_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/f16.h"
#include "tensor/types.h"
#include "util/err.h"

typedef enum {
    KERN_ISA_AUTO = -1,  /* pick the best the CPU supports */
    KERN_ISA_SCALAR = 0,
    KERN_ISA_AVX2 = 1,
    KERN_ISA_AVX512 = 2,
    KERN_ISA_NEON = 3,
} kern_isa_t;

/* The tiles dot_tile accepts: nr weight rows by nc activation rows with
 * 1 <= nr <= KERN_TILE_ROWS, 1 <= nc <= KERN_TILE and nr * nc <= KERN_TILE_SIZE
 * (4 x 4 for prompt batches; 8 x 1 for decode, eight read streams at once). */
#define KERN_TILE 4
#define KERN_TILE_ROWS 8
#define KERN_TILE_SIZE 16

/* Kernels for one weight type.  n is the row length in elements (a multiple of 32
 * for the quantized types).  w points at one weight row stored in the weight type;
 * x at one activation row in act_type. */
typedef struct {
    uint32_t act_type;  /* TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q8_1 or TYPE_Q8_K */
    void (*act_from_f32)(const float *x, void *y, size_t n);
    void (*dot)(size_t n, const void *w, const void *x, float *out);
    /* out[j] = dot(w, x + j*x_stride_bytes) for j = 0..3 */
    void (*dot_x4)(size_t n, const void *w, const void *x, size_t x_stride_bytes, float *out);
    /* out[c*ldo + r] = dot(w + r*w_stride, x + c*x_stride) for r < nr, c < nc, for
     * the tile shapes above (strides in bytes, ldo in floats; the strides are
     * arbitrary, e.g. rows far apart).  Only those nr*nc outputs are written. */
    void (*dot_tile)(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                     float *out, size_t ldo);
    /* The packed path, for prompt batches (NULL members when the table has none):
     * pack_w / pack_x turn one weight row / one activation row (act_type, as
     * act_from_f32 made it) into packed_w_bytes(n) / packed_x_bytes(n) bytes laid
     * out for dot_tile_packed, which is dot_tile over packed rows (strides in bytes
     * between packed rows; 1 <= nr, nc <= KERN_TILE) with the same contract:
     * (r, c) == dot(row r, column c) bit for bit.  Packing does once per row what
     * dot_tile redoes in every tile (offsets, correction terms, scale conversion). */
    size_t (*packed_w_bytes)(size_t n);
    size_t (*packed_x_bytes)(size_t n);
    void (*pack_w)(size_t n, const void *w, void *dst);
    void (*pack_x)(size_t n, const void *x, void *dst);
    void (*dot_tile_packed)(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp, size_t xp_stride,
                            int nc, float *out, size_t ldo);
    /* The interleaved path (il_rows 0 and NULL members when the table has none), for
     * decode and batches alike: a matrix is kept, once, as groups of il_rows
     * consecutive rows laid out for the kernel (il_pack_group writes one group of
     * il_group_bytes(n) bytes from nr <= il_rows rows w_stride bytes apart; rows nr..
     * are zero), and an activation row (act_type, as act_from_f32 made it) becomes
     * il_x_bytes(n) bytes (il_pack_x).  il_tile computes, for g < ng groups at
     * wg + g*g_stride and c < nc activation rows at xp + c*xp_stride,
     *   out[c*ldo + il_rows*g + r] = dot(row r of group g, column c)   for every r < il_rows,
     * bit for bit (padding rows give values to be ignored), for the shapes
     * ng = 1: nc 1..KERN_IL_COLS; ng = 2: nc 1..4; ng = 3: nc 1; ng = 4: nc 1..4. */
    int il_rows;
    size_t (*il_group_bytes)(size_t n);
    void (*il_pack_group)(size_t n, const void *w, size_t w_stride, int nr, void *dst);
    size_t (*il_x_bytes)(size_t n);
    void (*il_pack_x)(size_t n, const void *x, void *dst);
    void (*il_tile)(size_t n, const void *wg, size_t g_stride, int ng, const void *xp, size_t xp_stride, int nc,
                    float *out, size_t ldo);
} kern_matvec_t;

/* The most activation rows one il_tile takes, the most groups, and the most rows a
 * group holds (il_rows <= KERN_IL_ROWS_MAX for every table). */
#define KERN_IL_COLS 8
#define KERN_IL_GROUPS 4
#define KERN_IL_ROWS_MAX 16

typedef struct {
    kern_isa_t isa;
    kern_matvec_t f32, f16, q8_0, q4_0;
    kern_matvec_t q4_1, q5_0, q5_1, iq4_nl;              /* kern_ref_q.c: the specification */
    kern_matvec_t q2_k, q3_k, q4_k, q5_k, q6_k;
    /* attention over the F16 KV cache */
    float (*dot_f16)(size_t n, const uint16_t *a, const uint16_t *b);      /* f32 accumulation */
    void (*axpy_f16)(size_t n, float a, const uint16_t *x, float *y);      /* y[i] += a * x[i] */
    /* The same over count positions of the cache at once (rows `stride` halves apart),
     * each value bit-identical to the per-position expression with this table's
     * dot_f16 / axpy_f16:
     *   attn_scores_f16: s[p] = dot_f16(n, q, k + p*stride) * scale, for p < count;
     *   attn_values_f16: for p = 0, 1, .. count-1 in turn,
     *                    axpy_f16(n, f16_to_f32(f32_to_f16(s[p])), v + p*stride, out)
     *                    (the probability rounded to F16, as llama.cpp weights V). */
    void (*attn_scores_f16)(size_t n, const uint16_t *q, const uint16_t *k, size_t stride, size_t count, float scale,
                            float *s);
    void (*attn_values_f16)(size_t n, const float *s, const uint16_t *v, size_t stride, size_t count, float *out);
} kern_table_t;

/* Fills *t for the requested ISA (KERN_ISA_AUTO: the best this CPU and build
 * support).  ERR_UNSUP, naming the ISA, when the request cannot run here. */
int kern_table_init(kern_table_t *t, kern_isa_t isa, err_t *err);

/* Kernels for a weight type, or NULL when the type has none. */
const kern_matvec_t *kern_matvec_for(const kern_table_t *t, uint32_t weight_type);

/* The best ISA this CPU and build support. */
kern_isa_t kern_isa_best(void);
/* 1 if this CPU and build can run isa. */
int kern_isa_supported(kern_isa_t isa);
const char *kern_isa_name(kern_isa_t isa);               /* "scalar", "avx2", ... */
int kern_isa_parse(const char *s, kern_isa_t *isa);       /* 0 or -1; accepts "auto" */

/* A dot_tile made of dot_x4 (for four columns) and dot calls, for tables
 * without a tiled kernel of their own; it keeps the contract trivially. */
static inline void kern_tile_by_dots(void (*dot)(size_t, const void *, const void *, float *),
                                     void (*dot_x4)(size_t, const void *, const void *, size_t, float *), size_t n,
                                     const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                                     float *out, size_t ldo)
{
    for (int r = 0; r < nr; r++) {
        const unsigned char *wr = (const unsigned char *)w + (size_t)r * w_stride;
        if (nc == 4 && dot_x4) {
            float o[4];
            dot_x4(n, wr, x, x_stride, o);
            for (int c = 0; c < 4; c++)
                out[(size_t)c * ldo + (size_t)r] = o[c];
        } else {
            for (int c = 0; c < nc; c++)
                dot(n, wr, (const unsigned char *)x + (size_t)c * x_stride, &out[(size_t)c * ldo + (size_t)r]);
        }
    }
}

/* Defines `static void name(...)`, a dot_tile whose one-column tiles (decode) are
 * rows(n, w, w_stride, nr, x, out), a kernel of its own writing out[r] for r < nr,
 * and whose other shapes are made of dot and dot_x4 as kern_tile_by_dots does. */
#define KERN_DEFINE_TILE_BY_ROWS(name, rows, dot, dot_x4)                                                        \
    static void name(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,   \
                     float *out, size_t ldo)                                                                     \
    {                                                                                                            \
        if (nc == 1)                                                                                             \
            rows(n, w, w_stride, nr, x, out);                                                                    \
        else                                                                                                     \
            kern_tile_by_dots(dot, dot_x4, n, w, w_stride, nr, x, x_stride, nc, out, ldo);                       \
    }

/* Defines `static void name(...)`, a dot_tile from the given dot and dot_x4. */
#define KERN_DEFINE_TILE_BY_DOTS(name, dot, dot_x4)                                                              \
    static void name(size_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,  \
                     float *out, size_t ldo)                                                                     \
    {                                                                                                            \
        kern_tile_by_dots(dot, dot_x4, n, w, w_stride, nr, x, x_stride, nc, out, ldo);                           \
    }

/* Defines `static void dot_NAME`, `dot_x4_NAME` and `dot_tile_NAME` from
 * cols(n, w, x, stride, ncols, out, ...), a kernel computing out[j] for the
 * ncols (1 or 4) activation rows x + j*stride; the extra arguments follow.  With
 * KERN_SET_DOTS(mv, NAME) a table entry takes the three. */
#define KERN_DEFINE_DOTS_BY_COLS(name, cols, ...)                                                                \
    static void dot_##name(size_t n, const void *w, const void *x, float *out)                                  \
    {                                                                                                            \
        cols(n, w, x, 0, 1, out, __VA_ARGS__);                                                                   \
    }                                                                                                            \
    static void dot_x4_##name(size_t n, const void *w, const void *x, size_t stride, float *out)                \
    {                                                                                                            \
        cols(n, w, x, stride, 4, out, __VA_ARGS__);                                                              \
    }                                                                                                            \
    KERN_DEFINE_TILE_BY_DOTS(dot_tile_##name, dot_##name, dot_x4_##name)

#define KERN_SET_DOTS(mv, name)                                                                                  \
    do {                                                                                                         \
        (mv).dot = dot_##name;                                                                                   \
        (mv).dot_x4 = dot_x4_##name;                                                                             \
        (mv).dot_tile = dot_tile_##name;                                                                         \
    } while (0)

/* attn_scores_f16 / attn_values_f16 made of per-position dot_f16 / axpy_f16 calls,
 * for tables without batched versions of their own. */
static inline void kern_attn_scores_by_dots(float (*dot)(size_t, const uint16_t *, const uint16_t *), size_t n,
                                            const uint16_t *q, const uint16_t *k, size_t stride, size_t count,
                                            float scale, float *s)
{
    for (size_t p = 0; p < count; p++)
        s[p] = dot(n, q, k + p * stride) * scale;
}

static inline void kern_attn_values_by_axpys(void (*axpy)(size_t, float, const uint16_t *, float *), size_t n,
                                             const float *s, const uint16_t *v, size_t stride, size_t count,
                                             float *out)
{
    for (size_t p = 0; p < count; p++)
        axpy(n, f16_to_f32(f32_to_f16(s[p])), v + p * stride, out);
}

/* Defines `static void scores(...)` and `static void values(...)` from dot and axpy. */
#define KERN_DEFINE_ATTN_BY_DOTS(scores, values, dot, axpy)                                                      \
    static void scores(size_t n, const uint16_t *q, const uint16_t *k, size_t stride, size_t count, float scale, \
                       float *s)                                                                                 \
    {                                                                                                            \
        kern_attn_scores_by_dots(dot, n, q, k, stride, count, scale, s);                                         \
    }                                                                                                            \
    static void values(size_t n, const float *s, const uint16_t *v, size_t stride, size_t count, float *out)     \
    {                                                                                                            \
        kern_attn_values_by_axpys(axpy, n, s, v, stride, count, out);                                            \
    }

/* Per-ISA fillers (kern_<isa>.c); each fills every field of *t. */
void kern_fill_scalar(kern_table_t *t);
void kern_fill_avx2(kern_table_t *t);
void kern_fill_avx512(kern_table_t *t);
void kern_fill_neon(kern_table_t *t);
/* Sets the matvec entries of the types of kern_ref_q.c to its reference kernels;
 * every filler calls it after setting the rest, then replaces what it has faster. */
void kern_fill_ref_quants(kern_table_t *t);
/* Replace those entries' dot kernels with the ISA's (kern_avx2_q.c, kern_neon_q.c). */
void kern_fill_avx2_q(kern_table_t *t);
/* The AVX2 table's attention over the F16 KV cache (kern_avx2_attn.c). */
void kern_fill_avx2_attn(kern_table_t *t);
/* Its Q8_K activation conversion for the K-quants, byte-identical to quant_row_q8_k (kern_avx2_act.c). */
void kern_fill_avx2_act(kern_table_t *t);
void kern_avx2_act_q8_k(const float *x, void *y, size_t n);
void kern_fill_avx512_q(kern_table_t *t);   /* Q4_K, Q5_K, Q6_K */
/* Q8_0 and Q4_0: the interleaved path and the row-major kernels of its arithmetic (kern_avx512_il.c). */
void kern_fill_avx512_il(kern_table_t *t);
/* kern_avx2_q.c's one-column Q4_K/Q5_K/Q6_K dots, which the AVX-512 table keeps (for
 * one column its own preparation costs more than the wider arithmetic saves; all
 * are bit-identical to the reference, so mixing them keeps every contract). */
void kern_avx2_dot_q4_k(size_t n, const void *w, const void *x, float *out);
void kern_avx2_dot_q5_k(size_t n, const void *w, const void *x, float *out);
void kern_avx2_dot_q6_k(size_t n, const void *w, const void *x, float *out);
/* And the AVX2 decode tiles (kern_avx2_qdec.c), which the AVX-512 table keeps too: out[r] = dot(w + r*w_stride, x)
 * for r < nr (1..KERN_TILE_ROWS). */
void kern_avx2_rows_q4_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out);
void kern_avx2_rows_q5_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out);
void kern_avx2_rows_q6_k(size_t n, const void *w, size_t w_stride, int nr, const void *x, float *out);
void kern_fill_neon_q(kern_table_t *t);
/* The NEON table's vector activation conversions (F16, Q8_0, Q8_K), byte-identical to quant.h (kern_neon_act.c). */
void kern_fill_neon_act(kern_table_t *t);
/* The packed prompt path of Q4_K/Q5_K/Q6_K (kern_kpack.h: layout; kern_avx512_kpack.c):
 * its byte counts, the activation packer, and the tiles with (Q4_K, Q5_K) and without
 * (Q6_K) a min; each table's pack_w are in its kern_<isa>_q.c (the AVX2 and AVX-512
 * packers write the same bytes). */
size_t kern_kpack_w_bytes(size_t n);
size_t kern_kpack_x_bytes(size_t n);
typedef void (*kern_pack_fn)(size_t n, const void *src, void *dst);
typedef void (*kern_tile_packed_fn)(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp,
                                    size_t xp_stride, int nc, float *out, size_t ldo);
/* Sets the packed-path entries of t's Q4_K, Q5_K and Q6_K (with the byte counts above). */
void kern_kpack_set(kern_table_t *t, kern_pack_fn q4_k, kern_pack_fn q5_k, kern_pack_fn q6_k, kern_pack_fn pack_x,
                    kern_tile_packed_fn tile_min, kern_tile_packed_fn tile);
void kern_avx512_kpack_x(size_t n, const void *x, void *dst);
void kern_avx512_kpack_tile_min(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp,
                                size_t xp_stride, int nc, float *out, size_t ldo);
void kern_avx512_kpack_tile(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp, size_t xp_stride,
                            int nc, float *out, size_t ldo);
void kern_avx2_kpack_x(size_t n, const void *x, void *dst);   /* the same for AVX2 (kern_avx2_kpack.c) */
void kern_avx2_kpack_tile_min(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp, size_t xp_stride,
                              int nc, float *out, size_t ldo);
void kern_avx2_kpack_tile(size_t n, const void *wp, size_t wp_stride, int nr, const void *xp, size_t xp_stride,
                          int nc, float *out, size_t ldo);

#endif
