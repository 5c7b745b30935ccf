/*
 * ops.c — the forward pass's operations (see ops.h for the determinism contract).
 * The element-wise operations follow the numerics of llama.cpp's CPU backend
 * (FORMATS.md) so that greedy outputs match its golden files: rmsnorm sums
 * squares in double, scales then multiplies by the weight; rope advances the
 * angle by repeated multiplication with base^(-2/n_rot); softmax sums in double.
 */
#include "exec/ops.h"

#include <math.h>
#include <string.h>

#include "tensor/types.h"

/* Rows a thread handles per tile: the tile's weights stay in cache while every
 * token of the batch passes over them. */
#define MATMUL_ROW_TILE 16

typedef struct {
    const kern_matvec_t *mv;
    const model_mat_t *w;
    const uint8_t *act;     /* [n_rows][act_row] */
    size_t act_row;
    int n_rows;
    float *y;               /* [n_rows][w->n_out] */
} matmul_job_t;

static void matmul_task(void *ctx, int ith, int nth)
{
    const matmul_job_t *j = ctx;
    const size_t n_in = j->w->n_in, n_out = j->w->n_out, row_bytes = j->w->row_bytes;
    const uint8_t *wdata = j->w->data;
    size_t r_begin, r_end;
    pool_split(n_out, ith, nth, &r_begin, &r_end);
    for (size_t r0 = r_begin; r0 < r_end; r0 += MATMUL_ROW_TILE) {
        size_t r1 = r0 + MATMUL_ROW_TILE < r_end ? r0 + MATMUL_ROW_TILE : r_end;
        int t = 0;
        for (; t + 4 <= j->n_rows; t += 4) {
            const uint8_t *x = j->act + (size_t)t * j->act_row;
            for (size_t r = r0; r < r1; r++) {
                float out[4];
                j->mv->dot_x4(n_in, wdata + r * row_bytes, x, j->act_row, out);
                for (int c = 0; c < 4; c++)
                    j->y[(size_t)(t + c) * n_out + r] = out[c];
            }
        }
        for (; t < j->n_rows; t++) {
            const uint8_t *x = j->act + (size_t)t * j->act_row;
            for (size_t r = r0; r < r1; r++)
                j->mv->dot(n_in, wdata + r * row_bytes, x, &j->y[(size_t)t * n_out + r]);
        }
    }
}

size_t ops_act_row_bytes(const kern_table_t *k, const model_mat_t *w)
{
    const kern_matvec_t *mv = kern_matvec_for(k, w->type);
    return mv ? type_row_bytes(mv->act_type, w->n_in) : 0;
}

void ops_matmul(ops_ctx_t *c, const model_mat_t *w, const float *x, int n_rows, float *y)
{
    const kern_matvec_t *mv = kern_matvec_for(c->kern, w->type);
    size_t act_row = type_row_bytes(mv->act_type, w->n_in);
    uint8_t *act = c->act;
    for (int t = 0; t < n_rows; t++)
        mv->act_from_f32(x + (size_t)t * w->n_in, act + (size_t)t * act_row, w->n_in);
    matmul_job_t job = {.mv = mv, .w = w, .act = act, .act_row = act_row, .n_rows = n_rows, .y = y};
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
