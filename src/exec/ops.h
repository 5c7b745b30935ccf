/*
 * ops.h — the operations of the forward pass, each over a batch of rows:
 * rmsnorm, layer norm, rope (normal and NEOX), ALiBi, SwiGLU, GELU, bias and
 * residual add, and the matrix multiplication driver
 * that spreads weight rows over the thread pool and calls the kernel table.
 *
 * Every output value is computed by the same sequence of floating-point
 * operations whatever the thread count and whatever the batch size: rows are
 * independent, the matmul computes each (token, output row) pair with the kernel
 * table's tiles, whose every output is bit-identical to dot whatever the tile
 * shape or path (kern.h), and threads only decide who computes which rows.  This
 * is what makes distributed output bit-identical to single-device output.
 * Nothing here allocates; scratch comes from ops_ctx_t (and, for the packed
 * matmul path, fixed buffers on each thread's stack: under 100 KB).
 */
#ifndef LL_EXEC_OPS_H
#define LL_EXEC_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "tensor/kern.h"
#include "util/pool.h"

typedef struct {
    pool_t *pool;
    const kern_table_t *kern;
    void *act;            /* converted activations: up to act_cap bytes */
    size_t act_cap;
} ops_ctx_t;

/* y[t] = W x[t] for t < n_rows.  x: [n_rows][w->n_in], y: [n_rows][w->n_out].
 * Requires n_rows * act_row_bytes(w) <= c->act_cap (checked by the executor at creation).
 * Few rows (decode, small batches): each thread reads its weight rows as several
 * streams far apart.  From MATMUL_PACK_MIN_ROWS (12) rows: 4 x 4 register tiles
 * over row blocks, with operands packed first when the table has a packed path and
 * the packed activations fit in act_cap (else unpacked tiles, same results); the
 * K-quants take their packed path from MATMUL_PACK_MIN_ROWS_K (8) rows.
 * Activations of batches of 16+ rows are converted on the pool. */
void ops_matmul(ops_ctx_t *c, const model_mat_t *w, const float *x, int n_rows, float *y);

/* A weight matrix kept in its kernels' interleaved layout (kern.h: il_*): n_groups
 * groups of il_rows rows (the last padded with zero rows), group_bytes each. */
typedef struct {
    const uint8_t *data;
    size_t group_bytes;
    size_t n_groups;
} ops_il_t;

/* Bytes w takes interleaved (0 when its kernels have no interleaved path), and the
 * packing: groups g0..g1-1 of w into il (il->data points at the whole matrix). */
size_t ops_il_bytes(const kern_table_t *k, const model_mat_t *w);
void ops_il_pack(const kern_table_t *k, const model_mat_t *w, uint8_t *dst, size_t g0, size_t g1);

/* ops_matmul over the interleaved copy il of w: the same outputs bit for bit (kern.h).
 * Decode rows read up to KERN_IL_GROUPS groups at once, far apart (as many read
 * streams); batches take every group against up to KERN_IL_COLS rows at a time. */
void ops_matmul_il(ops_ctx_t *c, const model_mat_t *w, const ops_il_t *il, const float *x, int n_rows, float *y);

/* Bytes one activation row for w takes once converted to the type w's kernels want. */
size_t ops_act_row_bytes(const kern_table_t *k, const model_mat_t *w);

/* y[t] = (x[t] / sqrt(mean(x[t]^2) + eps)) * weight, for n_rows rows of n values. */
void ops_rmsnorm(float *y, const float *x, const float *weight, int n_rows, int n, float eps);

/* Rope ("normal" mode): pairs (2i, 2i+1), i < n_rot/2, of every head rotate by
 * angle pos * base^(-2i/n_rot).  ops_rope_angles fills cs[2i] = cos, cs[2i+1] = sin
 * for one position (n_rot floats); ops_rope_apply rotates the n_heads heads of
 * size head_dim in one row with them. */
void ops_rope_angles(float *cs, int n_rot, int pos, float base);
void ops_rope_apply(float *row, int n_heads, int head_dim, int n_rot, const float *cs);

/* Rope ("neox" mode, qwen2): pair i < n_rot/2 of every head is (i, i + n_rot/2),
 * rotated by the same angle as pair i of the normal mode (same cs). */
void ops_rope_apply_neox(float *row, int n_heads, int head_dim, int n_rot, const float *cs);

/* Layer norm: y[t] = ((x[t] - mean) / sqrt(var + eps)) * weight + shift, for
 * n_rows rows of n values; mean and variance summed in double, as llama.cpp does. */
void ops_layernorm(float *y, const float *x, const float *weight, const float *shift, int n_rows, int n, float eps);

/* x[t][i] += bias[i] for n_rows rows of n values. */
void ops_bias(float *x, const float *bias, int n_rows, int n);

/* x[i] = gelu(x[i]) (tanh approximation) for n values, with llama.cpp's CPU
 * numerics: the input is rounded to F16 and so is the result (its 64K-entry
 * table), except x <= -10 (0) and x >= 10 (x). */
void ops_gelu(float *x, size_t n);

/* ALiBi: the slope of head h of n_head for the given maximum bias (llama.cpp's
 * rule: the first 2^floor(log2 n_head) heads take m0^(h+1), the others
 * m1^(2(h - that) + 1), m0 = 2^(-max_bias/that), m1 = 2^(-max_bias/2/that)).
 * ops_alibi_add adds slope * -(pos - j) to scores[j] for j <= pos. */
float ops_alibi_slope(int h, int n_head, float max_bias);
void ops_alibi_add(float *scores, int pos, float slope);

/* gate[i] = silu(gate[i]) * up[i] for n values. */
void ops_swiglu(float *gate, const float *up, size_t n);

/* x[i] += d[i] for n values. */
void ops_add(float *x, const float *d, size_t n);

/* In place: p[i] = exp(p[i] - max) / sum; sums in double, as llama.cpp does. */
void ops_softmax(float *p, int n);

/* The same operations spread over c->pool, for prompt batches.  Each output value
 * is computed by one thread with exactly the operations of the serial function
 * (rmsnorm splits by rows; swiglu and add, element-wise, by ranges of whole
 * 64-byte lines), so results are bit-identical to it whatever the thread count.
 * Small inputs run in the caller, where a pool run would cost more than it saves. */
void ops_rmsnorm_par(ops_ctx_t *c, float *y, const float *x, const float *weight, int n_rows, int n, float eps);
void ops_swiglu_par(ops_ctx_t *c, float *gate, const float *up, size_t n);
void ops_add_par(ops_ctx_t *c, float *x, const float *d, size_t n);
void ops_layernorm_par(ops_ctx_t *c, float *y, const float *x, const float *weight, const float *shift, int n_rows,
                       int n, float eps);
void ops_gelu_par(ops_ctx_t *c, float *x, size_t n);

#endif
