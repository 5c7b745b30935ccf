/*
 * ops.c — the forward pass's operations (see ops.h for the determinism contract).
 * The element-wise operations follow the numerics of llama.cpp's CPU backend
 * (FORMATS.md) so that greedy outputs match its golden files: rmsnorm sums
 * squares in double, scales then multiplies by the weight; layer norm sums mean
 * and variance in double, then scale, weight, shift; rope advances the angle by
 * repeated multiplication with base^(-2/n_rot); softmax sums in double; GELU
 * goes through F16 as llama.cpp's table does.
 * The matmul driver only decides which tiles to ask of the kernel table and who
 * computes them; the arithmetic of every output is the table's dot (kern.h).
 */
#include "exec/ops.h"

#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/types.h"

/* Rows a thread handles per block: the block's weights stay in L1 while every
 * token of the batch passes over them, KERN_TILE tokens at a time.  It is also the
 * unit in which rows are split among threads, so that no two threads write the
 * same cache line of y (16 floats = 64 bytes). */
#define MATMUL_ROW_BLOCK 16
/* Decode reads each weight row once per token: a thread walks its rows as
 * KERN_TILE_ROWS streams, far apart, which draws more bandwidth from memory than one. */
#define MATMUL_STREAMS KERN_TILE_ROWS

/* Batches of at least this many rows convert their activations on the pool (fewer
 * take less time than a pool run). */
#define MATMUL_PAR_CONVERT_ROWS 16
/* Batches of at least this many rows take the packed path when the kernels have one:
 * activations packed once per call, weights once per KERN_TILE rows, both reused by
 * every tile.  Smaller ones are memory-bound and take the multi-stream path of
 * decode (measured crossover: 12-16 rows for the 110M shape). */
#define MATMUL_PACK_MIN_ROWS 12
/* The same for weights with Q8_K activations (the K-quants), whose packed tiles gain
 * more over the unpacked ones (kern_kpack.h). */
#define MATMUL_PACK_MIN_ROWS_K 8
/* The packed weights of KERN_TILE rows live on each thread's stack, and so does one
 * converted activation row on its way to being packed; rows longer than these take
 * the unpacked path.  128 KB: K-quant rows up to 14,336 values (the packed K-quant
 * row is 2.25 bytes a value; rows of 11,008 measured 1.2x faster packed). */
#define MATMUL_WPACK_BYTES (128 << 10)
#define MATMUL_XTMP_BYTES (32 << 10)

typedef struct {
    const kern_matvec_t *mv;
    const model_mat_t *w;
    const float *x;         /* [n_rows][w->n_in] */
    uint8_t *act;           /* [n_rows][act_row]: x converted (and packed, on the packed path) */
    size_t act_row;         /* bytes per row of act */
    int n_rows;
    int packed;
    float *y;               /* [n_rows][w->n_out] */
} matmul_job_t;

/* Rows t0..t1-1 of x (rows of n_in values) converted, then packed by pack into act (act_row bytes a row). */
static void convert_packed(void (*convert)(const float *, void *, size_t), void (*pack)(size_t, const void *, void *),
                           const float *x, size_t n_in, size_t t0, size_t t1, uint8_t *act, size_t act_row)
{
    _Alignas(64) uint8_t tmp[MATMUL_XTMP_BYTES];
    for (size_t t = t0; t < t1; t++) {
        convert(x + t * n_in, tmp, n_in);
        pack(n_in, tmp, act + t * act_row);
    }
}

/* act = x converted (packed: and packed), rows split among threads (each row is
 * done whole, by one). */
static void convert_task(void *ctx, int ith, int nth)
{
    const matmul_job_t *j = ctx;
    const size_t n_in = j->w->n_in;
    size_t t0, t1;
    pool_split((size_t)j->n_rows, ith, nth, &t0, &t1);
    if (!j->packed) {
        for (size_t t = t0; t < t1; t++)
            j->mv->act_from_f32(j->x + t * n_in, j->act + t * j->act_row, n_in);
        return;
    }
    convert_packed(j->mv->act_from_f32, j->mv->pack_x, j->x, n_in, t0, t1, j->act, j->act_row);
}

/* This thread's rows: a contiguous run of whole MATMUL_ROW_BLOCKs (the last may be short). */
static void matmul_rows(size_t n_out, int ith, int nth, size_t *begin, size_t *end)
{
    size_t b, e;
    pool_split((n_out + MATMUL_ROW_BLOCK - 1) / MATMUL_ROW_BLOCK, ith, nth, &b, &e);
    *begin = b * MATMUL_ROW_BLOCK < n_out ? b * MATMUL_ROW_BLOCK : n_out;
    *end = e * MATMUL_ROW_BLOCK < n_out ? e * MATMUL_ROW_BLOCK : n_out;
}

/* Few activation rows (decode, small batches: memory-bound): rows r_begin..r_end-1
 * as interleaved runs, one read stream each, far apart: MATMUL_STREAMS runs for one
 * activation row, KERN_TILE for more (tiles of at most KERN_TILE_SIZE outputs). */
static void matvec_rows(const matmul_job_t *j, size_t r_begin, size_t r_end)
{
    const size_t n_in = j->w->n_in, n_out = j->w->n_out, row_bytes = j->w->row_bytes;
    const uint8_t *wdata = j->w->data;
    const int streams = j->n_rows == 1 ? MATMUL_STREAMS : KERN_TILE;
    const size_t run = (r_end - r_begin) / (size_t)streams;
    float out[KERN_TILE_SIZE];
    for (size_t i = 0; i < run; i++) {
        const uint8_t *w = wdata + (r_begin + i) * row_bytes;
        for (int t = 0; t < j->n_rows; t += KERN_TILE) {
            int nc = j->n_rows - t < KERN_TILE ? j->n_rows - t : KERN_TILE;
            j->mv->dot_tile(n_in, w, run * row_bytes, streams, j->act + (size_t)t * j->act_row, j->act_row, nc, out,
                            (size_t)streams);
            for (int c = 0; c < nc; c++)
                for (int s = 0; s < streams; s++)
                    j->y[(size_t)(t + c) * n_out + r_begin + (size_t)s * run + i] = out[c * streams + s];
        }
    }
    for (size_t r = r_begin + (size_t)streams * run; r < r_end; r += (size_t)streams) {
        int nr = r_end - r < (size_t)streams ? (int)(r_end - r) : streams;
        for (int t = 0; t < j->n_rows; t += KERN_TILE) {
            int nc = j->n_rows - t < KERN_TILE ? j->n_rows - t : KERN_TILE;
            j->mv->dot_tile(n_in, wdata + r * row_bytes, row_bytes, nr, j->act + (size_t)t * j->act_row, j->act_row,
                            nc, j->y + (size_t)t * n_out + r, n_out);
        }
    }
}

/* The packed path: KERN_TILE rows at a time are packed, then meet every column. */
static void matmul_packed(const matmul_job_t *j, size_t r_begin, size_t r_end)
{
    const size_t n_in = j->w->n_in, n_out = j->w->n_out, row_bytes = j->w->row_bytes;
    const size_t pw = j->mv->packed_w_bytes(n_in);
    const uint8_t *wdata = j->w->data;
    _Alignas(64) uint8_t wp[MATMUL_WPACK_BYTES];
    for (size_t r = r_begin; r < r_end; r += KERN_TILE) {
        int nr = r_end - r < KERN_TILE ? (int)(r_end - r) : KERN_TILE;
        for (int k = 0; k < nr; k++)
            j->mv->pack_w(n_in, wdata + (r + (size_t)k) * row_bytes, wp + (size_t)k * pw);
        for (int t = 0; t < j->n_rows; t += KERN_TILE) {
            int nc = j->n_rows - t < KERN_TILE ? j->n_rows - t : KERN_TILE;
            j->mv->dot_tile_packed(n_in, wp, pw, nr, j->act + (size_t)t * j->act_row, j->act_row, nc,
                                   j->y + (size_t)t * n_out + r, n_out);
        }
    }
}

static void matmul_task(void *ctx, int ith, int nth)
{
    const matmul_job_t *j = ctx;
    const size_t n_in = j->w->n_in, n_out = j->w->n_out, row_bytes = j->w->row_bytes;
    const uint8_t *wdata = j->w->data;
    size_t r_begin, r_end;
    matmul_rows(n_out, ith, nth, &r_begin, &r_end);
    if (j->packed) {
        matmul_packed(j, r_begin, r_end);
        return;
    }
    if (j->n_rows < MATMUL_PACK_MIN_ROWS) {
        matvec_rows(j, r_begin, r_end);
        return;
    }
    for (size_t r0 = r_begin; r0 < r_end; r0 += MATMUL_ROW_BLOCK) {
        size_t r1 = r0 + MATMUL_ROW_BLOCK < r_end ? r0 + MATMUL_ROW_BLOCK : r_end;
        for (int t = 0; t < j->n_rows; t += KERN_TILE) {
            int nc = j->n_rows - t < KERN_TILE ? j->n_rows - t : KERN_TILE;
            const uint8_t *x = j->act + (size_t)t * j->act_row;
            for (size_t r = r0; r < r1; r += KERN_TILE) {
                int nr = r1 - r < KERN_TILE ? (int)(r1 - r) : KERN_TILE;
                j->mv->dot_tile(n_in, wdata + r * row_bytes, row_bytes, nr, x, j->act_row, nc,
                                j->y + (size_t)t * n_out + r, n_out);
            }
        }
    }
}

/* ---- the interleaved path (kern.h: il_*) ---- */

size_t ops_il_bytes(const kern_table_t *k, const model_mat_t *w)
{
    const kern_matvec_t *mv = kern_matvec_for(k, w->type);
    if (!mv || !mv->il_rows || type_row_bytes(mv->act_type, w->n_in) > MATMUL_XTMP_BYTES)
        return 0;
    const size_t groups = ((size_t)w->n_out + (size_t)mv->il_rows - 1) / (size_t)mv->il_rows;
    return groups * mv->il_group_bytes(w->n_in);
}

void ops_il_pack(const kern_table_t *k, const model_mat_t *w, uint8_t *dst, size_t g0, size_t g1)
{
    const kern_matvec_t *mv = kern_matvec_for(k, w->type);
    const size_t gb = mv->il_group_bytes(w->n_in), rows = (size_t)mv->il_rows;
    for (size_t g = g0; g < g1; g++) {
        const size_t r0 = g * rows, nr = w->n_out - r0 < rows ? w->n_out - r0 : rows;
        mv->il_pack_group(w->n_in, (const uint8_t *)w->data + r0 * w->row_bytes, w->row_bytes, (int)nr,
                          dst + g * gb);
    }
}

typedef struct {
    const kern_matvec_t *mv;
    const model_mat_t *w;
    const ops_il_t *il;
    const float *x;
    uint8_t *act;           /* [n_rows][act_row]: x converted, then interleaved */
    size_t act_row;
    int n_rows;
    float *y;
} il_job_t;

static void il_convert_task(void *ctx, int ith, int nth)
{
    const il_job_t *j = ctx;
    const size_t n_in = j->w->n_in;
    size_t t0, t1;
    pool_split((size_t)j->n_rows, ith, nth, &t0, &t1);
    convert_packed(j->mv->act_from_f32, j->mv->il_pack_x, j->x, n_in, t0, t1, j->act, j->act_row);
}

/* y rows 16g.. of the groups' outputs (tile layout: out[c*ldo + il_rows*k + r] for the
 * k-th of ng groups), rows at or past n_out dropped. */
static void il_store(const il_job_t *j, const float *out, size_t ldo, const size_t *groups, int ng, int c0, int nc)
{
    const size_t rows = (size_t)j->mv->il_rows, n_out = j->w->n_out;
    for (int k = 0; k < ng; k++) {
        const size_t r0 = groups[k] * rows, nr = n_out - r0 < rows ? n_out - r0 : rows;
        for (int c = 0; c < nc; c++)
            memcpy(j->y + (size_t)(c0 + c) * n_out + r0, out + (size_t)c * ldo + rows * (size_t)k, nr * sizeof(float));
    }
}

static void il_matmul_task(void *ctx, int ith, int nth)
{
    const il_job_t *j = ctx;
    const size_t n_in = j->w->n_in, gb = j->il->group_bytes, rows = (size_t)j->mv->il_rows;
    size_t g0, g1;
    pool_split(j->il->n_groups, ith, nth, &g0, &g1);
    float out[KERN_IL_GROUPS * KERN_IL_COLS * KERN_IL_ROWS_MAX];
    const uint8_t *wg = j->il->data;
    /* Up to 4 rows (decode, and the small batches of a ring's stages): KERN_IL_GROUPS
     * groups far apart, as many read streams as the accumulators allow (ng x nc <= 16) —
     * one stream leaves the core waiting on memory (110M Q8_0, 2 and 4 rows: 1.48x and
     * 1.28x).  More rows: one group at a time against KERN_IL_COLS rows, the group staying
     * in L1 for the next KERN_IL_COLS (two streams there lost 25% on 64-row prompts). */
    const int streams = j->n_rows <= 4 ? KERN_IL_GROUPS : 1;
    const size_t run = streams > 1 ? (g1 - g0) / (size_t)streams : 0;
    for (size_t i = 0; i < run; i++) {
        size_t gs[KERN_IL_GROUPS];
        for (int s = 0; s < streams; s++)
            gs[s] = g0 + (size_t)s * run + i;
        for (int c0 = 0; c0 < j->n_rows; c0 += KERN_IL_COLS) {
            const int nc = j->n_rows - c0 < KERN_IL_COLS ? j->n_rows - c0 : KERN_IL_COLS;
            j->mv->il_tile(n_in, wg + gs[0] * gb, run * gb, streams, j->act + (size_t)c0 * j->act_row, j->act_row, nc,
                           out, rows * (size_t)streams);
            il_store(j, out, rows * (size_t)streams, gs, streams, c0, nc);
        }
    }
    for (size_t g = g0 + (size_t)streams * run; g < g1; g++) {
        const int full = (g + 1) * rows <= j->w->n_out;
        for (int c0 = 0; c0 < j->n_rows; c0 += KERN_IL_COLS) {
            const int nc = j->n_rows - c0 < KERN_IL_COLS ? j->n_rows - c0 : KERN_IL_COLS;
            const uint8_t *xp = j->act + (size_t)c0 * j->act_row;
            if (full) {
                j->mv->il_tile(n_in, wg + g * gb, gb, 1, xp, j->act_row, nc, j->y + (size_t)c0 * j->w->n_out + g * rows,
                               j->w->n_out);
            } else {
                j->mv->il_tile(n_in, wg + g * gb, gb, 1, xp, j->act_row, nc, out, rows);
                il_store(j, out, rows, &g, 1, c0, nc);
            }
        }
    }
}

void ops_matmul_il(ops_ctx_t *c, const model_mat_t *w, const ops_il_t *il, const float *x, int n_rows, float *y)
{
    const kern_matvec_t *mv = kern_matvec_for(c->kern, w->type);
    il_job_t job = {.mv = mv, .w = w, .il = il, .x = x, .act = c->act, .n_rows = n_rows, .y = y};
    job.act_row = (mv->il_x_bytes(w->n_in) + 63) & ~(size_t)63;   /* rows start on cache lines */
    if (n_rows >= MATMUL_PAR_CONVERT_ROWS && pool_threads(c->pool) > 1)
        pool_run(c->pool, il_convert_task, &job);
    else
        il_convert_task(&job, 0, 1);
    pool_run(c->pool, il_matmul_task, &job);
}

size_t ops_act_row_bytes(const kern_table_t *k, const model_mat_t *w)
{
    const kern_matvec_t *mv = kern_matvec_for(k, w->type);
    return mv ? type_row_bytes(mv->act_type, w->n_in) : 0;
}

void ops_matmul(ops_ctx_t *c, const model_mat_t *w, const float *x, int n_rows, float *y)
{
    const kern_matvec_t *mv = kern_matvec_for(c->kern, w->type);
    const size_t act_row = type_row_bytes(mv->act_type, w->n_in);
    matmul_job_t job = {.mv = mv, .w = w, .x = x, .act = c->act, .act_row = act_row, .n_rows = n_rows, .y = y};
    const int pack_min = mv->act_type == TYPE_Q8_K ? MATMUL_PACK_MIN_ROWS_K : MATMUL_PACK_MIN_ROWS;
    if (mv->dot_tile_packed && n_rows >= pack_min && act_row <= MATMUL_XTMP_BYTES &&
        KERN_TILE * mv->packed_w_bytes(w->n_in) <= MATMUL_WPACK_BYTES) {
        const size_t px = (mv->packed_x_bytes(w->n_in) + 63) & ~(size_t)63;   /* rows start on cache lines */
        if ((size_t)n_rows * px <= c->act_cap) {
            job.packed = 1;
            job.act_row = px;
        }
    }
    if (n_rows >= MATMUL_PAR_CONVERT_ROWS && pool_threads(c->pool) > 1)
        pool_run(c->pool, convert_task, &job);
    else
        convert_task(&job, 0, 1);
    pool_run(c->pool, matmul_task, &job);
}

void ops_rmsnorm(float *y, const float *x, const float *weight, int n_rows, int n, float eps)
{
    for (int t = 0; t < n_rows; t++) {
        const float *xr = x + (size_t)t * n;
        float *yr = y + (size_t)t * n;
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / n);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int i = 0; i < n; i++)
            yr[i] = (xr[i] * scale) * weight[i];
    }
}

void ops_rope_angles(float *cs, int n_rot, int pos, float base)
{
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot; i += 2) {
        cs[i] = cosf(theta);
        cs[i + 1] = sinf(theta);
        theta *= theta_scale;
    }
}

void ops_rope_apply(float *row, int n_heads, int head_dim, int n_rot, const float *cs)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (size_t)h * head_dim;
        for (int i = 0; i < n_rot; i += 2) {
            const float x0 = v[i], x1 = v[i + 1];
            v[i] = x0 * cs[i] - x1 * cs[i + 1];
            v[i + 1] = x0 * cs[i + 1] + x1 * cs[i];
        }
    }
}

void ops_rope_apply_neox(float *row, int n_heads, int head_dim, int n_rot, const float *cs)
{
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            const float x0 = v[i], x1 = v[i + half], c = cs[2 * i], s = cs[2 * i + 1];
            v[i] = x0 * c - x1 * s;
            v[i + half] = x0 * s + x1 * c;
        }
    }
}

void ops_layernorm(float *y, const float *x, const float *weight, const float *shift, int n_rows, int n, float eps)
{
    for (int t = 0; t < n_rows; t++) {
        const float *xr = x + (size_t)t * n;
        float *yr = y + (size_t)t * n;
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += (double)xr[i];
        const float mean = (float)(sum / n);
        double sum2 = 0.0;
        for (int i = 0; i < n; i++) {
            const float d = xr[i] - mean;
            yr[i] = d;
            sum2 += (double)(d * d);
        }
        const float var = (float)(sum2 / n);
        const float scale = 1.0f / sqrtf(var + eps);
        /* llama.cpp: normalize, then multiply by the weight, then add the shift (three f32 steps). */
        for (int i = 0; i < n; i++)
            yr[i] = (yr[i] * scale) * weight[i] + shift[i];
    }
}

void ops_bias(float *x, const float *bias, int n_rows, int n)
{
    for (int t = 0; t < n_rows; t++)
        ops_add(x + (size_t)t * n, bias, (size_t)n);
}

void ops_gelu(float *x, size_t n)
{
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v <= -10.0f) {
            x[i] = 0.0f;
        } else if (v < 10.0f) {
            const float h = f16_to_f32(f32_to_f16(v));
            const float g = 0.5f * h * (1.0f + tanhf(sqrt_2_over_pi * h * (1.0f + coef_a * h * h)));
            x[i] = f16_to_f32(f32_to_f16(g));
        }
    }
}

float ops_alibi_slope(int h, int n_head, float max_bias)
{
    const int n_log2 = 1 << (int)floorf(log2f((float)n_head));
    const float m0 = powf(2.0f, -max_bias / (float)n_log2);
    const float m1 = powf(2.0f, -(max_bias / 2.0f) / (float)n_log2);
    return h < n_log2 ? powf(m0, (float)(h + 1)) : powf(m1, (float)(2 * (h - n_log2) + 1));
}

void ops_alibi_add(float *scores, int pos, float slope)
{
    for (int j = 0; j <= pos; j++)
        scores[j] += slope * (float)(j - pos);
}

void ops_swiglu(float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = (g / (1.0f + expf(-g))) * up[i];
    }
}

void ops_add(float *x, const float *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += d[i];
}

void ops_softmax(float *p, int n)
{
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        if (p[i] > max)
            max = p[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        const float e = expf(p[i] - max);
        p[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        p[i] *= inv;
}

/* ---- parallel variants ------------------------------------------------------- */

/* Inputs below this many values run in the caller. */
#define PAR_MIN_VALUES 8192
/* Element ranges are split in multiples of this many floats (one cache line). */
#define PAR_GRAIN 16

typedef struct {
    float *y;
    const float *x;
    const float *w;
    const float *shift;
    size_t n, n_rows;
    float eps;
} par_job_t;

/* This thread's part of n elements: whole grains, the last part taking the rest. */
static void par_range(size_t n, int ith, int nth, size_t *begin, size_t *end)
{
    size_t b, e;
    pool_split((n + PAR_GRAIN - 1) / PAR_GRAIN, ith, nth, &b, &e);
    *begin = b * PAR_GRAIN < n ? b * PAR_GRAIN : n;
    *end = e * PAR_GRAIN < n ? e * PAR_GRAIN : n;
}

static void rmsnorm_task(void *ctx, int ith, int nth)
{
    const par_job_t *j = ctx;
    size_t t0, t1;
    pool_split(j->n_rows, ith, nth, &t0, &t1);
    ops_rmsnorm(j->y + t0 * j->n, j->x + t0 * j->n, j->w, (int)(t1 - t0), (int)j->n, j->eps);
}

static void layernorm_task(void *ctx, int ith, int nth)
{
    const par_job_t *j = ctx;
    size_t t0, t1;
    pool_split(j->n_rows, ith, nth, &t0, &t1);
    ops_layernorm(j->y + t0 * j->n, j->x + t0 * j->n, j->w, j->shift, (int)(t1 - t0), (int)j->n, j->eps);
}

static void gelu_task(void *ctx, int ith, int nth)
{
    const par_job_t *j = ctx;
    size_t b, e;
    par_range(j->n, ith, nth, &b, &e);
    ops_gelu(j->y + b, e - b);
}

static void swiglu_task(void *ctx, int ith, int nth)
{
    const par_job_t *j = ctx;
    size_t b, e;
    par_range(j->n, ith, nth, &b, &e);
    ops_swiglu(j->y + b, j->x + b, e - b);
}

static void add_task(void *ctx, int ith, int nth)
{
    const par_job_t *j = ctx;
    size_t b, e;
    par_range(j->n, ith, nth, &b, &e);
    ops_add(j->y + b, j->x + b, e - b);
}

void ops_rmsnorm_par(ops_ctx_t *c, float *y, const float *x, const float *weight, int n_rows, int n, float eps)
{
    if (n_rows < 2 || (size_t)n_rows * (size_t)n < PAR_MIN_VALUES || pool_threads(c->pool) < 2) {
        ops_rmsnorm(y, x, weight, n_rows, n, eps);
        return;
    }
    par_job_t j = {.y = y, .x = x, .w = weight, .n = (size_t)n, .n_rows = (size_t)n_rows, .eps = eps};
    pool_run(c->pool, rmsnorm_task, &j);
}

void ops_swiglu_par(ops_ctx_t *c, float *gate, const float *up, size_t n)
{
    if (n < PAR_MIN_VALUES || pool_threads(c->pool) < 2) {
        ops_swiglu(gate, up, n);
        return;
    }
    par_job_t j = {.y = gate, .x = up, .n = n};
    pool_run(c->pool, swiglu_task, &j);
}

void ops_add_par(ops_ctx_t *c, float *x, const float *d, size_t n)
{
    if (n < PAR_MIN_VALUES || pool_threads(c->pool) < 2) {
        ops_add(x, d, n);
        return;
    }
    par_job_t j = {.y = x, .x = d, .n = n};
    pool_run(c->pool, add_task, &j);
}

void ops_layernorm_par(ops_ctx_t *c, float *y, const float *x, const float *weight, const float *shift, int n_rows,
                       int n, float eps)
{
    if (n_rows < 2 || (size_t)n_rows * (size_t)n < PAR_MIN_VALUES || pool_threads(c->pool) < 2) {
        ops_layernorm(y, x, weight, shift, n_rows, n, eps);
        return;
    }
    par_job_t j = {.y = y, .x = x, .w = weight, .shift = shift, .n = (size_t)n, .n_rows = (size_t)n_rows, .eps = eps};
    pool_run(c->pool, layernorm_task, &j);
}

void ops_gelu_par(ops_ctx_t *c, float *x, size_t n)
{
    if (n < PAR_MIN_VALUES || pool_threads(c->pool) < 2) {
        ops_gelu(x, n);
        return;
    }
    par_job_t j = {.y = x, .n = n};
    pool_run(c->pool, gelu_task, &j);
}
