/*
 * exec.c — the executor (see exec.h): the Llama forward pass over a range of
 * units, one function per unit kind, one line per equation of FORMATS.md.
 *
 * Buffers (B = max_batch, E = n_embd, F = n_ff, D = n_head_kv*head_dim):
 *   x [B][E]      residual stream, the value that crosses every cut
 *   xn [B][E]     normalised stream, the input of each half-block's matmuls
 *   q [B][E], k [B][D], v [B][D]   projections
 *   att [B][E]    attention output before Wo
 *   proj [B][E]   the output of Wo / Wdown before it is added to x
 *   gate [B][F], up [B][F]         feed-forward hidden
 *   rope_cs [B][n_rot]             cos/sin per token
 *   attn_scratch [threads][n_ctx + head_dim]  scores and the F16 query
 *   logits [max_logits][V]
 * Attention numerics follow llama.cpp (FORMATS.md): the query is rounded to
 * F16 to meet the F16 cache, scores are scaled by 1/sqrt(head_dim) and
 * soft-maxed in f32 with a double sum, and the probabilities are rounded to
 * F16 before weighting the F16 values.
 */
#include "exec/exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/kv.h"
#include "exec/ops.h"
#include "tensor/f16.h"
#include "tensor/quant.h"
#include "tensor/types.h"
#include "util/pool.h"

struct exec {
    const model_t *m;
    exec_params_t p;
    kern_table_t kern;
    pool_t *pool;
    ops_ctx_t ops;
    kv_cache_t kv;
    int layer_begin;        /* first block whose attention half is in range (its KV lives here) */
    float *x, *xn, *q, *k, *v, *att, *proj, *gate, *up, *rope_cs, *attn_scratch, *logits;
    int attn_scratch_stride;
};

void exec_params_default(exec_params_t *p, const model_t *m)
{
    memset(p, 0, sizeof *p);
    p->unit_begin = 0;
    p->unit_end = model_unit_count(m);
    p->n_threads = 1;
    p->n_seq = 1;
    p->isa = KERN_ISA_AUTO;
}

/* ---- allocation ---------------------------------------------------------- */

static int alloc_floats(float **out, size_t n, err_t *err)
{
    *out = calloc(n ? n : 1, sizeof(float));
    return *out ? 0 : err_set(err, ERR_NOMEM, "executor: cannot allocate %zu floats", n);
}

static int check_params(const model_t *m, exec_params_t *p, err_t *err)
{
    int n_units = model_unit_count(m);
    if (p->unit_begin < 0 || p->unit_end > n_units || p->unit_begin >= p->unit_end)
        return err_set(err, ERR_INVAL, "unit range %d-%d is not a non-empty part of 0-%d",
                       p->unit_begin, p->unit_end, n_units);
    if (p->n_threads < 1 || p->n_threads > 256)
        return err_set(err, ERR_INVAL, "threads = %d: must be in 1..256", p->n_threads);
    if (p->n_ctx <= 0)
        p->n_ctx = m->hp.n_ctx_train < 4096 ? (int)m->hp.n_ctx_train : 4096;
    if (p->n_ctx > (1 << 20))
        return err_set(err, ERR_INVAL, "context = %d: must be at most 1048576", p->n_ctx);
    if (p->n_seq < 1 || p->n_seq > 4096)
        return err_set(err, ERR_INVAL, "sequences = %d: must be in 1..4096", p->n_seq);
    if (p->max_batch <= 0)
        p->max_batch = 512;
    if (p->max_batch > p->n_ctx)
        p->max_batch = p->n_ctx;
    if (p->max_logits <= 0)
        p->max_logits = 1;
    if (p->max_logits > p->max_batch)
        return err_set(err, ERR_INVAL, "max logits rows %d exceed the batch size %d", p->max_logits, p->max_batch);
    return 0;
}

int exec_create(const model_t *m, const exec_params_t *params, exec_t **out, err_t *err)
{
    *out = NULL;
    exec_t *e = calloc(1, sizeof *e);
    if (!e)
        return err_set(err, ERR_NOMEM, "executor: out of memory");
    e->m = m;
    e->p = *params;
    int rc;
    if ((rc = check_params(m, &e->p, err)) || (rc = kern_table_init(&e->kern, e->p.isa, err)) ||
        (rc = pool_create(e->p.n_threads, &e->pool, err)))
        goto fail;

    const model_hparams_t *hp = &m->hp;
    const size_t B = (size_t)e->p.max_batch, E = hp->n_embd, F = hp->n_ff;
    const size_t D = (size_t)hp->n_head_kv * hp->head_dim;

    /* KV cache for the blocks whose attention half is in range. */
    int n_attn = 0;
    e->layer_begin = -1;
    for (int u = e->p.unit_begin; u < e->p.unit_end; u++) {
        if (model_unit_kind(m, u) == UNIT_ATTN) {
            if (e->layer_begin < 0)
                e->layer_begin = model_unit_layer(m, u);
            n_attn++;
        }
    }
    if ((rc = kv_init(&e->kv, n_attn, e->p.n_ctx, e->p.n_seq, (int)D, err)))
        goto fail;

    e->attn_scratch_stride = e->p.n_ctx + (int)hp->head_dim;
    if ((rc = alloc_floats(&e->x, B * E, err)) || (rc = alloc_floats(&e->xn, B * E, err)) ||
        (rc = alloc_floats(&e->q, B * E, err)) || (rc = alloc_floats(&e->k, B * D, err)) ||
        (rc = alloc_floats(&e->v, B * D, err)) || (rc = alloc_floats(&e->att, B * E, err)) ||
        (rc = alloc_floats(&e->proj, B * E, err)) || (rc = alloc_floats(&e->gate, B * F, err)) ||
        (rc = alloc_floats(&e->up, B * F, err)) || (rc = alloc_floats(&e->rope_cs, B * hp->n_rot, err)) ||
        (rc = alloc_floats(&e->attn_scratch, (size_t)e->p.n_threads * e->attn_scratch_stride, err)) ||
        (rc = alloc_floats(&e->logits, (size_t)e->p.max_logits * hp->n_vocab, err)))
        goto fail;

    /* Converted activations: the widest input row in F32 is an upper bound for every type. */
    e->ops.act_cap = B * (E > F ? E : F) * sizeof(float);
    e->ops.act = malloc(e->ops.act_cap);
    if (!e->ops.act) {
        rc = err_set(err, ERR_NOMEM, "executor: cannot allocate %zu bytes of activations", e->ops.act_cap);
        goto fail;
    }
    e->ops.pool = e->pool;
    e->ops.kern = &e->kern;

    /* Every weight type in the model must have kernels. */
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const model_layer_t *L = &m->layers[l];
        const model_mat_t *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down, &m->output};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            if (!kern_matvec_for(&e->kern, mats[i]->type)) {
                rc = err_set(err, ERR_UNSUP, "tensor '%s': no kernels for type %s", mats[i]->name,
                             type_name(mats[i]->type));
                goto fail;
            }
        }
    }
    *out = e;
    return 0;
fail:
    exec_destroy(&e);
    return rc;
}

void exec_destroy(exec_t **ep)
{
    if (!ep || !*ep)
        return;
    exec_t *e = *ep;
    pool_destroy(&e->pool);
    kv_fini(&e->kv);
    free(e->x); free(e->xn); free(e->q); free(e->k); free(e->v); free(e->att); free(e->proj);
    free(e->gate); free(e->up); free(e->rope_cs); free(e->attn_scratch); free(e->logits);
    free(e->ops.act);
    free(e);
    *ep = NULL;
}

/* ---- units ---------------------------------------------------------------- */

/* x[t] = token_embd[token[t]] */
static void unit_embed(exec_t *e, const exec_batch_t *b)
{
    const model_mat_t *w = &e->m->tok_embd;
    for (int t = 0; t < b->n_tokens; t++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)b->tokens[t] * w->row_bytes;
        dequant_row(w->type, row, e->x + (size_t)t * w->n_in, w->n_in);
    }
}

typedef struct {
    exec_t *e;
    int layer_local;
    const exec_batch_t *b;
} attn_job_t;

/* a_h = softmax(q_h · K_g^T / sqrt(head_dim), causal) · V_g for every (token, head) pair. */
static void attention_task(void *ctx, int ith, int nth)
{
    const attn_job_t *j = ctx;
    exec_t *e = j->e;
    const model_hparams_t *hp = &e->m->hp;
    const int n_head = (int)hp->n_head, hd = (int)hp->head_dim, group = (int)(hp->n_head / hp->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = e->attn_scratch + (size_t)ith * e->attn_scratch_stride;
    uint16_t *q16 = (uint16_t *)(scores + e->p.n_ctx);
    size_t begin, end;
    pool_split((size_t)j->b->n_tokens * n_head, ith, nth, &begin, &end);
    for (size_t pair = begin; pair < end; pair++) {
        const int t = (int)(pair / n_head), h = (int)(pair % n_head), g = h / group;
        const int pos = j->b->pos0 + t;
        const float *q = e->q + (size_t)t * hp->n_embd + (size_t)h * hd;
        for (int d = 0; d < hd; d++)
            q16[d] = f32_to_f16(q[d]);
        for (int p = 0; p <= pos; p++) {
            const uint16_t *k = kv_k_row(&e->kv, j->b->seq, j->layer_local, p) + (size_t)g * hd;
            scores[p] = e->kern.dot_f16((size_t)hd, q16, k) * scale;
        }
        ops_softmax(scores, pos + 1);
        float *out = e->att + (size_t)t * hp->n_embd + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int p = 0; p <= pos; p++) {
            const uint16_t *v = kv_v_row(&e->kv, j->b->seq, j->layer_local, p) + (size_t)g * hd;
            e->kern.axpy_f16((size_t)hd, f16_to_f32(f32_to_f16(scores[p])), v, out);
        }
    }
}

static void unit_attention(exec_t *e, int layer, const exec_batch_t *b)
{
    const model_hparams_t *hp = &e->m->hp;
    const model_layer_t *L = &e->m->layers[layer];
    const int n = b->n_tokens, E = (int)hp->n_embd, D = (int)(hp->n_head_kv * hp->head_dim);
    const int layer_local = layer - e->layer_begin;

    /* h = rmsnorm(x) * attn_norm */
    ops_rmsnorm(e->xn, e->x, L->attn_norm, n, E, hp->rms_eps);
    /* q = Wq h;  k = Wk h;  v = Wv h */
    ops_matmul(&e->ops, &L->wq, e->xn, n, e->q);
    ops_matmul(&e->ops, &L->wk, e->xn, n, e->k);
    ops_matmul(&e->ops, &L->wv, e->xn, n, e->v);
    /* rope(q, k, pos), then K and V enter the F16 cache */
    for (int t = 0; t < n; t++) {
        const float *cs = e->rope_cs + (size_t)t * hp->n_rot;
        ops_rope_apply(e->q + (size_t)t * E, (int)hp->n_head, (int)hp->head_dim, (int)hp->n_rot, cs);
        ops_rope_apply(e->k + (size_t)t * D, (int)hp->n_head_kv, (int)hp->head_dim, (int)hp->n_rot, cs);
        quant_row_f16(e->k + (size_t)t * D, kv_k_row(&e->kv, b->seq, layer_local, b->pos0 + t), (size_t)D);
        quant_row_f16(e->v + (size_t)t * D, kv_v_row(&e->kv, b->seq, layer_local, b->pos0 + t), (size_t)D);
    }
    /* a = concat_h softmax(q_h K_g^T / sqrt(head_dim)) V_g */
    attn_job_t job = {.e = e, .layer_local = layer_local, .b = b};
    pool_run(e->pool, attention_task, &job);
    /* x = x + Wo a */
    ops_matmul(&e->ops, &L->wo, e->att, n, e->proj);
    ops_add(e->x, e->proj, (size_t)n * E);
}

static void unit_ffn(exec_t *e, int layer, const exec_batch_t *b)
{
    const model_hparams_t *hp = &e->m->hp;
    const model_layer_t *L = &e->m->layers[layer];
    const int n = b->n_tokens, E = (int)hp->n_embd;

    /* h = rmsnorm(x) * ffn_norm */
    ops_rmsnorm(e->xn, e->x, L->ffn_norm, n, E, hp->rms_eps);
    /* x = x + Wdown( silu(Wgate h) ⊙ (Wup h) ) */
    ops_matmul(&e->ops, &L->w_gate, e->xn, n, e->gate);
    ops_matmul(&e->ops, &L->w_up, e->xn, n, e->up);
    ops_swiglu(e->gate, e->up, (size_t)n * hp->n_ff);
    ops_matmul(&e->ops, &L->w_down, e->gate, n, e->proj);
    ops_add(e->x, e->proj, (size_t)n * E);
}

/* logits = output · (rmsnorm(x) * output_norm), for the last n_logits tokens */
static void unit_output(exec_t *e, const exec_batch_t *b)
{
    const model_hparams_t *hp = &e->m->hp;
    const int first = b->n_tokens - b->n_logits;
    ops_rmsnorm(e->xn, e->x + (size_t)first * hp->n_embd, e->m->output_norm, b->n_logits, (int)hp->n_embd,
                hp->rms_eps);
    ops_matmul(&e->ops, &e->m->output, e->xn, b->n_logits, e->logits);
}

/* ---- running a batch ------------------------------------------------------ */

static int range_has_attention(const exec_t *e) { return e->kv.n_layer > 0; }

static int check_batch(const exec_t *e, const exec_batch_t *b, err_t *err)
{
    const int last_unit = model_unit_count(e->m) - 1;
    if (b->n_tokens < 1 || b->n_tokens > e->p.max_batch)
        return err_set(err, ERR_RANGE, "batch of %d tokens: must be in 1..%d", b->n_tokens, e->p.max_batch);
    if (b->seq < 0 || b->seq >= e->p.n_seq)
        return err_set(err, ERR_RANGE, "sequence %d out of range (0..%d)", b->seq, e->p.n_seq - 1);
    if (b->pos0 < 0 || b->pos0 > e->p.n_ctx - b->n_tokens)
        return err_set(err, ERR_RANGE, "positions %d..%d exceed the context of %d tokens", b->pos0,
                       b->pos0 + b->n_tokens - 1, e->p.n_ctx);
    if (range_has_attention(e)) {
        int rc = kv_check_write(&e->kv, b->seq, b->pos0, b->n_tokens, err);
        if (rc)
            return rc;
    }
    if (e->p.unit_begin == 0) {
        if (!b->tokens)
            return err_set(err, ERR_INVAL, "the range starts with the embedding: token ids are required");
        for (int t = 0; t < b->n_tokens; t++)
            if (b->tokens[t] < 0 || (uint32_t)b->tokens[t] >= e->m->hp.n_vocab)
                return err_set(err, ERR_RANGE, "token id %d at batch index %d: vocabulary has %u tokens",
                               b->tokens[t], t, e->m->hp.n_vocab);
    } else if (!b->hidden) {
        return err_set(err, ERR_INVAL, "the range starts at unit %d: hidden input is required", e->p.unit_begin);
    }
    if (e->p.unit_end - 1 == last_unit &&
        (b->n_logits < 1 || b->n_logits > b->n_tokens || b->n_logits > e->p.max_logits))
        return err_set(err, ERR_RANGE, "logits rows %d: must be in 1..min(batch %d, max %d)", b->n_logits,
                       b->n_tokens, e->p.max_logits);
    return 0;
}

int exec_run(exec_t *e, const exec_batch_t *b, err_t *err)
{
    int rc = check_batch(e, b, err);
    if (rc)
        return rc;
    const model_hparams_t *hp = &e->m->hp;
    if (e->p.unit_begin != 0)
        memcpy(e->x, b->hidden, (size_t)b->n_tokens * hp->n_embd * sizeof(float));
    if (range_has_attention(e))
        for (int t = 0; t < b->n_tokens; t++)
            ops_rope_angles(e->rope_cs + (size_t)t * hp->n_rot, (int)hp->n_rot, b->pos0 + t, hp->rope_base);

    for (int u = e->p.unit_begin; u < e->p.unit_end; u++) {
        switch (model_unit_kind(e->m, u)) {
        case UNIT_EMBED: unit_embed(e, b); break;
        case UNIT_ATTN: unit_attention(e, model_unit_layer(e->m, u), b); break;
        case UNIT_FFN: unit_ffn(e, model_unit_layer(e->m, u), b); break;
        case UNIT_OUTPUT: unit_output(e, b); break;
        }
    }
    if (range_has_attention(e))
        kv_commit(&e->kv, b->seq, b->pos0, b->n_tokens);
    return 0;
}

const float *exec_hidden(const exec_t *e) { return e->x; }
const float *exec_logits(const exec_t *e) { return e->logits; }
void exec_seq_clear(exec_t *e, int seq) { kv_clear_seq(&e->kv, seq); }
const exec_params_t *exec_params(const exec_t *e) { return &e->p; }
const model_t *exec_model(const exec_t *e) { return e->m; }
const char *exec_isa_name(const exec_t *e) { return kern_isa_name(e->kern.isa); }
