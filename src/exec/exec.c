/*
 * exec.c — the executor (see exec.h): interprets the nodes of a unit range of
 * the model's graph, one small function per operation.
 *
 * Creation plans the memory.  Every value the range touches gets a slot: its
 * inputs and outputs keep theirs for the whole run, and an internal value's
 * slot is returned to a free list after its last consumer, so a later value of
 * the same size reuses it (the live-tensor analysis, applied to buffers).
 * Slots hold [max_batch][width] floats ([max_logits][width] for the output
 * head's values, which exist only for the rows whose logits are wanted).
 * Per-run state is just the batch; nothing is allocated while running.
 *
 * Rows of several sequences: a run first resolves every row's sequence slot
 * and position into row_seq/row_pos (the single-sequence form is the case
 * seq, pos0 + t) and checks each sequence's rows append to its cache without
 * a gap.  Everything but attention is row-wise and row-independent (ops.h),
 * so a row's numbers never depend on its neighbours; attention reads the
 * row's own sequence's cache, written for all rows of the batch first.
 *
 * Attention numerics follow llama.cpp (FORMATS.md): K and V enter an F16
 * cache, the query is rounded to F16 to meet it, scores are scaled by
 * 1/sqrt(head_dim) and soft-maxed in f32 with a double sum, and the
 * probabilities are rounded to F16 before weighting the F16 values.  With
 * ALiBi (bloom) each head's slope times -(distance) is added to the scaled
 * scores before the softmax, the slope recomputed here from the head index.
 */
#include "exec/exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/kv.h"
#include "exec/ops.h"
#include "tensor/quant.h"
#include "tensor/types.h"
#include "util/pool.h"

typedef struct {
    float *data;
    size_t floats;   /* capacity */
    int in_use;
} slot_t;

struct exec {
    const model_t *m;
    exec_params_t p;
    graph_t *own_graph;      /* built here when params give no segmentation */
    seg_t *own_seg;
    const graph_t *g;
    const seg_t *seg;
    int node_begin, node_end;
    kern_table_t kern;
    pool_t *pool;
    ops_ctx_t ops;
    kv_cache_t kv;
    int *kv_layer_of_node;   /* [n_nodes]: local cache layer of an attention node, -1 otherwise */
    int *slot_of_value;      /* [n_values]: slot index, -1 when the range does not touch the value */
    slot_t *slots;
    int n_slots;
    int *inputs, n_inputs;   /* activation values produced before the range and consumed in it */
    int *outputs, n_outputs; /* values produced in the range and consumed after it (logits excluded) */
    int needs_tokens, has_logits, has_rope;
    float *rope_cs;          /* [max_batch][n_rot] */
    int *row_seq, *row_pos;  /* [max_batch]: the current run's rows resolved */
    int *seq_first;          /* [n_seq]: first position of a sequence in the current run */
    int *seq_count;          /* [n_seq]: its rows in the current run (0: not in it) */
    int *seq_list, n_seq_list;  /* [min(n_seq, max_batch)]: sequences of the current run, first-row order */
    float *gather[GRAPH_MAX_IN]; /* [max_logits][widest]: selected rows for the head (logit_rows) */
    float *attn_scratch;     /* [threads][n_ctx + head_dim] */
    int attn_scratch_stride;
    int cur_tokens;          /* rows of the last run */
    ops_il_t *il_of_node;    /* [node_end - node_begin]: a matmul node's interleaved copy (exec_params_t), owned,
                                each its own allocation so that another executor can adopt it; data NULL: none */
    size_t il_bytes;         /* of those copies, each padded to 64 bytes */
};

void exec_params_default(exec_params_t *p, const model_t *m)
{
    (void)m;
    memset(p, 0, sizeof *p);
    p->unit_begin = 0;
    p->unit_end = -1;
    p->n_threads = 1;
    p->n_seq = 1;
    p->isa = KERN_ISA_AUTO;
}

/* ---- planning ------------------------------------------------------------ */

static int check_params(const model_t *m, exec_params_t *p, int n_units, err_t *err)
{
    if (p->unit_end < 0)
        p->unit_end = n_units;
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

static int in_range(const exec_t *e, int node) { return node >= e->node_begin && node < e->node_end; }

/* Rows a value holds: the head's values exist only for the logits rows. */
static size_t value_rows(const exec_t *e, int v)
{
    int p = e->g->values[v].producer;
    return (p >= 0 && e->g->nodes[p].head_only) ? (size_t)e->p.max_logits : (size_t)e->p.max_batch;
}

static int take_slot(exec_t *e, size_t floats, err_t *err)
{
    for (int i = 0; i < e->n_slots; i++) {
        if (!e->slots[i].in_use && e->slots[i].floats == floats) {
            e->slots[i].in_use = 1;
            return i;
        }
    }
    slot_t *bigger = realloc(e->slots, (size_t)(e->n_slots + 1) * sizeof *bigger);
    if (!bigger)
        return err_set(err, ERR_NOMEM, "executor: out of memory");
    e->slots = bigger;
    slot_t *s = &e->slots[e->n_slots];
    s->data = calloc(floats ? floats : 1, sizeof(float));
    s->floats = floats;
    s->in_use = 1;
    if (!s->data)
        return err_set(err, ERR_NOMEM, "executor: cannot allocate %zu floats", floats);
    return e->n_slots++;
}

static int append(int **list, int *n, int v)
{
    int *bigger = realloc(*list, (size_t)(*n + 1) * sizeof *bigger);
    if (!bigger)
        return -1;
    bigger[(*n)++] = v;
    *list = bigger;
    return 0;
}

/* Finds the range's inputs and outputs and assigns every touched value a slot. */
static int plan_values(exec_t *e, err_t *err)
{
    const graph_t *g = e->g;
    int *last = malloc((size_t)g->n_values * sizeof *last);   /* last consumer in range */
    int *needed_after = calloc((size_t)g->n_values, sizeof *needed_after);
    e->slot_of_value = malloc((size_t)g->n_values * sizeof *e->slot_of_value);
    if (!last || !needed_after || !e->slot_of_value) {
        free(last);
        free(needed_after);
        return err_set(err, ERR_NOMEM, "executor: out of memory");
    }
    int rc = 0;
    for (int v = 0; v < g->n_values; v++) {
        last[v] = -1;
        e->slot_of_value[v] = -1;
        needed_after[v] = g->values[v].is_output;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (in_range(e, i))
                last[v] = i;
            else if (i >= e->node_end)
                needed_after[v] = 1;
        }
    }
    /* Inputs: activations consumed in range, produced before it. */
    for (int v = 0; v < g->n_values && rc == 0; v++) {
        const graph_value_t *val = &g->values[v];
        if (last[v] < 0)
            continue;
        if (val->kind == VAL_TOKENS)
            e->needs_tokens = 1;
        if (val->kind == VAL_ACT && val->producer < e->node_begin) {
            if (append(&e->inputs, &e->n_inputs, v))
                rc = err_set(err, ERR_NOMEM, "executor: out of memory");
            else if ((e->slot_of_value[v] = take_slot(e, value_rows(e, v) * (size_t)val->width, err)) < 0)
                rc = e->slot_of_value[v];
        }
    }
    /* Walk the nodes: give each output a slot, free inputs after their last use. */
    for (int i = e->node_begin; i < e->node_end && rc == 0; i++) {
        const graph_node_t *n = &g->nodes[i];
        int v = n->out;
        if ((e->slot_of_value[v] = take_slot(e, value_rows(e, v) * (size_t)g->values[v].width, err)) < 0) {
            rc = e->slot_of_value[v];
            break;
        }
        if (v == g->logits)
            e->has_logits = 1;
        else if (needed_after[v] && append(&e->outputs, &e->n_outputs, v))
            rc = err_set(err, ERR_NOMEM, "executor: out of memory");
        if (n->op == OP_ROPE)
            e->has_rope = 1;
        for (int j = 0; j < n->n_in; j++) {
            int u = n->in[j];
            if (last[u] == i && e->slot_of_value[u] >= 0 && !needed_after[u] && g->values[u].kind == VAL_ACT)
                e->slots[e->slot_of_value[u]].in_use = 0;
        }
        if (last[v] < 0 && !needed_after[v] && v != g->logits)
            e->slots[e->slot_of_value[v]].in_use = 0;   /* produced, never read: scratch */
    }
    free(last);
    free(needed_after);
    return rc;
}

static int plan_kv(exec_t *e, err_t *err)
{
    const graph_t *g = e->g;
    const model_hparams_t *hp = &e->m->hp;
    e->kv_layer_of_node = malloc((size_t)g->n_nodes * sizeof *e->kv_layer_of_node);
    if (!e->kv_layer_of_node)
        return err_set(err, ERR_NOMEM, "executor: out of memory");
    int n_attn = 0;
    for (int i = 0; i < g->n_nodes; i++)
        e->kv_layer_of_node[i] = (in_range(e, i) && g->nodes[i].op == OP_ATTENTION) ? n_attn++ : -1;
    return kv_init(&e->kv, n_attn, e->p.n_ctx, e->p.n_seq, (int)(hp->n_head_kv * hp->head_dim), err);
}

/* Rows a release covers at most: the copy grows while the model's pages go, so
 * memory peaks at the stage's weights plus about this much. */
#define IL_RELEASE_BYTES ((size_t)1 << 20)

/* 1 if an OP_EMBED node of the range reads w's data (a tied output head). */
static int embeds_from(const exec_t *e, const model_mat_t *w)
{
    for (int i = e->node_begin; i < e->node_end; i++)
        if (e->g->nodes[i].op == OP_EMBED && e->g->nodes[i].w->data == w->data)
            return 1;
    return 0;
}

static size_t il_padded(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

/* from's copy of node i's weights when e may take it over: the same graph, kernels and weight tensor. */
static ops_il_t *adoptable(exec_t *from, const exec_t *e, int i)
{
    if (!from || !from->il_of_node || from->g != e->g || from->kern.isa != e->kern.isa || i < from->node_begin ||
        i >= from->node_end)
        return NULL;
    ops_il_t *src = &from->il_of_node[i - from->node_begin];
    return src->data ? src : NULL;
}

/* The interleaved copies of the range's matmul weights (exec_params_t): taken over
 * from p.adopt_from where it has them, else packed from the model's rows. */
static int interleave(exec_t *e, err_t *err)
{
    const int n_nodes = e->node_end - e->node_begin;
    int any = 0;
    for (int i = e->node_begin; i < e->node_end && !e->p.no_interleave; i++)
        any |= e->g->nodes[i].op == OP_MATMUL && ops_il_bytes(&e->kern, e->g->nodes[i].w) > 0;
    if (!any)
        return 0;
    if (!(e->il_of_node = calloc((size_t)n_nodes, sizeof *e->il_of_node)))
        return err_set(err, ERR_NOMEM, "executor: out of memory");
    for (int i = e->node_begin; i < e->node_end; i++) {
        const graph_node_t *n = &e->g->nodes[i];
        const size_t bytes = n->op == OP_MATMUL ? ops_il_bytes(&e->kern, n->w) : 0;
        if (!bytes)
            continue;
        ops_il_t *il = &e->il_of_node[i - e->node_begin], *src = adoptable(e->p.adopt_from, e, i);
        if (src) {   /* moved, not copied: the old executor gives it up */
            *il = *src;
            *src = (ops_il_t){0};
            e->p.adopt_from->il_bytes -= il_padded(bytes);
            e->il_bytes += il_padded(bytes);
            continue;
        }
        const kern_matvec_t *mv = kern_matvec_for(&e->kern, n->w->type);
        uint8_t *copy = aligned_alloc(64, il_padded(bytes));
        if (!copy)
            return err_set(err, ERR_NOMEM, "executor: out of memory for %zu bytes of interleaved weights", bytes);
        il->data = copy;
        e->il_bytes += il_padded(bytes);
        il->group_bytes = mv->il_group_bytes(n->w->n_in);
        il->n_groups = bytes / il->group_bytes;
        const int release = e->p.release && !embeds_from(e, n->w);
        const size_t rows = (size_t)mv->il_rows, row_bytes = n->w->row_bytes;
        const size_t step = IL_RELEASE_BYTES / (rows * row_bytes) > 0 ? IL_RELEASE_BYTES / (rows * row_bytes) : 1;
        for (size_t g = 0; g < il->n_groups; g += step) {
            const size_t g1 = g + step < il->n_groups ? g + step : il->n_groups;
            ops_il_pack(&e->kern, n->w, copy, g, g1);
            const size_t r1 = g1 * rows < n->w->n_out ? g1 * rows : n->w->n_out;
            if (release)
                e->p.release(e->p.release_ctx, (const uint8_t *)n->w->data + g * rows * row_bytes,
                             (r1 - g * rows) * row_bytes);
        }
    }
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
    int rc = 0;
    if (params->seg) {
        e->seg = params->seg;
        e->g = params->seg->graph;
    } else if ((rc = graph_build(m, &e->own_graph, err)) == 0 &&
               (rc = seg_build_default(e->own_graph, &e->own_seg, err)) == 0) {
        e->g = e->own_graph;
        e->seg = e->own_seg;
    }
    if (rc || (rc = check_params(m, &e->p, e->seg->n_units, err)))
        goto fail;
    e->node_begin = e->seg->units[e->p.unit_begin].node_begin;
    e->node_end = e->seg->units[e->p.unit_end - 1].node_end;
    if ((rc = kern_table_init(&e->kern, e->p.isa, err)) || (rc = pool_create(e->p.n_threads, &e->pool, err)) ||
        (rc = plan_values(e, err)) || (rc = plan_kv(e, err)))
        goto fail;

    const model_hparams_t *hp = &m->hp;
    size_t widest = 0;   /* the widest matmul input, for converted activations */
    for (int i = e->node_begin; i < e->node_end; i++) {
        const graph_node_t *n = &e->g->nodes[i];
        if (n->op == OP_MATMUL) {
            if (!kern_matvec_for(&e->kern, n->w->type)) {
                rc = err_set(err, ERR_UNSUP, "tensor '%s': no kernels for type %s", n->w->name, type_name(n->w->type));
                goto fail;
            }
            if (n->w->n_in > widest)
                widest = n->w->n_in;
        }
    }
    e->ops.act_cap = (size_t)e->p.max_batch * (widest ? widest : 1) * sizeof(float);
    e->ops.act = malloc(e->ops.act_cap);
    e->rope_cs = calloc((size_t)e->p.max_batch * hp->n_rot, sizeof(float));
    e->attn_scratch_stride = e->p.n_ctx + (int)hp->head_dim;
    e->attn_scratch = calloc((size_t)e->p.n_threads * e->attn_scratch_stride, sizeof(float));
    const int list_cap = e->p.n_seq < e->p.max_batch ? e->p.n_seq : e->p.max_batch;
    e->row_seq = calloc((size_t)e->p.max_batch, sizeof *e->row_seq);
    e->row_pos = calloc((size_t)e->p.max_batch, sizeof *e->row_pos);
    e->seq_first = calloc((size_t)e->p.n_seq, sizeof *e->seq_first);
    e->seq_count = calloc((size_t)e->p.n_seq, sizeof *e->seq_count);
    e->seq_list = calloc((size_t)list_cap, sizeof *e->seq_list);
    /* Head nodes reading rows of full-batch values may need them gathered (logit_rows). */
    size_t widest_head_in = 1;
    for (int i = e->node_begin; i < e->node_end; i++) {
        const graph_node_t *n = &e->g->nodes[i];
        for (int j = 0; n->head_only && j < n->n_in; j++)
            if ((size_t)e->g->values[n->in[j]].width > widest_head_in)
                widest_head_in = (size_t)e->g->values[n->in[j]].width;
    }
    int gather_ok = 1;
    for (int j = 0; j < GRAPH_MAX_IN; j++)
        gather_ok &= (e->gather[j] = calloc((size_t)e->p.max_logits * widest_head_in, sizeof(float))) != NULL;
    if (!e->ops.act || !e->rope_cs || !e->attn_scratch || !e->row_seq || !e->row_pos || !e->seq_first ||
        !e->seq_count || !e->seq_list || !gather_ok) {
        rc = err_set(err, ERR_NOMEM, "executor: out of memory for scratch buffers");
        goto fail;
    }
    e->ops.pool = e->pool;
    e->ops.kern = &e->kern;
    rc = interleave(e, err);
    e->p.adopt_from = NULL;   /* borrowed for the creation only */
    if (rc)
        goto fail;
    *out = e;
    return 0;
fail:
    exec_destroy(&e);
    return rc;
}

size_t exec_il_bytes(const exec_t *e)
{
    return e ? e->il_bytes : 0;
}

int exec_holds_copy(const exec_t *e, const void *data)
{
    for (int i = 0; e && e->il_of_node && i < e->node_end - e->node_begin; i++)
        if (e->il_of_node[i].data && e->g->nodes[e->node_begin + i].w->data == data)
            return 1;
    return 0;
}

void exec_drop_copies(exec_t *e)
{
    for (int i = 0; e && e->il_of_node && i < e->node_end - e->node_begin; i++) {
        free((void *)e->il_of_node[i].data);   /* allocated by interleave (or the executor it was adopted from) */
        e->il_of_node[i] = (ops_il_t){0};
    }
    if (e)
        e->il_bytes = 0;
}

void exec_destroy(exec_t **ep)
{
    if (!ep || !*ep)
        return;
    exec_t *e = *ep;
    pool_destroy(&e->pool);
    kv_fini(&e->kv);
    for (int i = 0; i < e->n_slots; i++)
        free(e->slots[i].data);
    free(e->slots);
    free(e->slot_of_value);
    free(e->kv_layer_of_node);
    free(e->inputs);
    free(e->outputs);
    free(e->rope_cs);
    free(e->attn_scratch);
    free(e->row_seq);
    free(e->row_pos);
    free(e->seq_first);
    free(e->seq_count);
    free(e->seq_list);
    for (int j = 0; j < GRAPH_MAX_IN; j++)
        free(e->gather[j]);
    free(e->ops.act);
    exec_drop_copies(e);
    free(e->il_of_node);
    seg_destroy(&e->own_seg);
    graph_destroy(&e->own_graph);
    free(e);
    *ep = NULL;
}

/* ---- operations ------------------------------------------------------------ */

typedef struct {
    exec_t *e;
    const exec_batch_t *b;
    int kv_layer;
    const float *q, *k, *v;   /* [n][E], [n][D], [n][D] */
    float *out;               /* [n][E] */
    float alibi_max_bias;     /* > 0: ALiBi (the node's parameter) */
} attn_job_t;

/* For every (token, head): a_h = softmax(q_h · K_g^T / sqrt(head_dim), causal) · V_g. */
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
        const int pos = e->row_pos[t], seq = e->row_seq[t];
        const float *q = j->q + (size_t)t * hp->n_embd + (size_t)h * hd;
        e->kern.f16.act_from_f32(q, q16, (size_t)hd);
        e->kern.attn_scores_f16((size_t)hd, q16, kv_k_row(&e->kv, seq, j->kv_layer, 0) + (size_t)g * hd,
                                e->kv.kv_dim, (size_t)pos + 1, scale, scores);
        if (j->alibi_max_bias > 0.0f)
            ops_alibi_add(scores, pos, ops_alibi_slope(h, n_head, j->alibi_max_bias));
        ops_softmax(scores, pos + 1);
        float *out = j->out + (size_t)t * hp->n_embd + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof *out);
        e->kern.attn_values_f16((size_t)hd, scores, kv_v_row(&e->kv, seq, j->kv_layer, 0) + (size_t)g * hd,
                                e->kv.kv_dim, (size_t)pos + 1, out);
    }
}

static float *slot(const exec_t *e, int v) { return e->slots[e->slot_of_value[v]].data; }

/* Input j of node n, offset to the rows the node works on; for a head node of a
 * run with logit_rows, the selected rows of a full-batch value gathered first. */
static const float *node_in(const exec_t *e, const graph_node_t *n, int j, int first_row, const exec_batch_t *b)
{
    int v = n->in[j];
    int p = e->g->values[v].producer;
    int head_value = p >= 0 && e->g->nodes[p].head_only;
    const size_t width = (size_t)e->g->values[v].width;
    if (head_value)
        return slot(e, v);
    if (n->head_only && b->logit_rows) {
        for (int r = 0; r < b->n_logits; r++)
            memcpy(e->gather[j] + (size_t)r * width, slot(e, v) + (size_t)b->logit_rows[r] * width,
                   width * sizeof(float));
        return e->gather[j];
    }
    return slot(e, v) + (size_t)first_row * width;
}

static void run_node(exec_t *e, int i, const exec_batch_t *b)
{
    const graph_node_t *n = &e->g->nodes[i];
    const model_hparams_t *hp = &e->m->hp;
    const int rows = n->head_only ? b->n_logits : b->n_tokens;
    const int first = n->head_only ? b->n_tokens - b->n_logits : 0;
    const int width = e->g->values[n->out].width;
    float *out = slot(e, n->out);
    switch (n->op) {
    case OP_EMBED:
        for (int t = 0; t < rows; t++) {
            const uint8_t *row = (const uint8_t *)n->w->data + (size_t)b->tokens[t] * n->w->row_bytes;
            dequant_row(n->w->type, row, out + (size_t)t * width, (size_t)width);
        }
        break;
    case OP_RMSNORM:
        ops_rmsnorm_par(&e->ops, out, node_in(e, n, 0, first, b), n->norm, rows, width, n->eps);
        break;
    case OP_LAYERNORM:
        ops_layernorm_par(&e->ops, out, node_in(e, n, 0, first, b), n->norm, n->bias, rows, width, n->eps);
        break;
    case OP_BIAS:
        memcpy(out, node_in(e, n, 0, first, b), (size_t)rows * width * sizeof *out);
        ops_bias(out, n->bias, rows, width);
        break;
    case OP_GELU:
        memcpy(out, node_in(e, n, 0, first, b), (size_t)rows * width * sizeof *out);
        ops_gelu_par(&e->ops, out, (size_t)rows * width);
        break;
    case OP_MATMUL:
        if (e->il_of_node && e->il_of_node[i - e->node_begin].data)
            ops_matmul_il(&e->ops, n->w, &e->il_of_node[i - e->node_begin], node_in(e, n, 0, first, b), rows, out);
        else
            ops_matmul(&e->ops, n->w, node_in(e, n, 0, first, b), rows, out);
        break;
    case OP_ROPE:
        memcpy(out, node_in(e, n, 0, first, b), (size_t)rows * width * sizeof *out);
        for (int t = 0; t < rows; t++)
            (n->rope_neox ? ops_rope_apply_neox : ops_rope_apply)(out + (size_t)t * width, n->n_heads,
                                                                  (int)hp->head_dim, (int)hp->n_rot,
                                                                  e->rope_cs + (size_t)t * hp->n_rot);
        break;
    case OP_ATTENTION: {
        const int D = (int)(hp->n_head_kv * hp->head_dim), layer = e->kv_layer_of_node[i];
        const float *k = node_in(e, n, 1, first, b), *v = node_in(e, n, 2, first, b);
        for (int t = 0; t < rows; t++) {   /* the table's F16 conversion: quant_row_f16's bytes, vectorised */
            e->kern.f16.act_from_f32(k + (size_t)t * D, kv_k_row(&e->kv, e->row_seq[t], layer, e->row_pos[t]),
                                     (size_t)D);
            e->kern.f16.act_from_f32(v + (size_t)t * D, kv_v_row(&e->kv, e->row_seq[t], layer, e->row_pos[t]),
                                     (size_t)D);
        }
        attn_job_t job = {.e = e, .b = b, .kv_layer = layer, .q = node_in(e, n, 0, first, b), .k = k, .v = v,
                          .out = out, .alibi_max_bias = n->alibi_max_bias};
        pool_run(e->pool, attention_task, &job);
        break;
    }
    case OP_ADD:
        memcpy(out, node_in(e, n, 0, first, b), (size_t)rows * width * sizeof *out);
        ops_add_par(&e->ops, out, node_in(e, n, 1, first, b), (size_t)rows * width);
        break;
    case OP_SWIGLU:
        memcpy(out, node_in(e, n, 0, first, b), (size_t)rows * width * sizeof *out);
        ops_swiglu_par(&e->ops, out, node_in(e, n, 1, first, b), (size_t)rows * width);
        break;
    }
}

/* ---- running a batch ------------------------------------------------------ */

static const float *find_input(const exec_batch_t *b, int value, int n_inputs)
{
    if (!b->inputs)
        return n_inputs == 1 ? b->hidden : NULL;
    for (int i = 0; i < b->n_inputs; i++)
        if (b->inputs[i].value == value)
            return b->inputs[i].data;
    return NULL;
}

static int check_batch(const exec_t *e, const exec_batch_t *b, err_t *err)
{
    if (b->n_tokens < 1 || b->n_tokens > e->p.max_batch)
        return err_set(err, ERR_RANGE, "batch of %d tokens: must be in 1..%d", b->n_tokens, e->p.max_batch);
    if (!b->row_seq && !b->row_pos) {
        if (b->seq < 0 || b->seq >= e->p.n_seq)
            return err_set(err, ERR_RANGE, "sequence %d out of range (0..%d)", b->seq, e->p.n_seq - 1);
        if (b->pos0 < 0 || b->pos0 > e->p.n_ctx - b->n_tokens)
            return err_set(err, ERR_RANGE, "positions %d..%d exceed the context of %d tokens", b->pos0,
                           b->pos0 + b->n_tokens - 1, e->p.n_ctx);
    } else if (!b->row_seq || !b->row_pos) {
        return err_set(err, ERR_INVAL, "a multi-sequence batch needs both row sequences and row positions");
    }
    if (e->needs_tokens) {
        if (!b->tokens)
            return err_set(err, ERR_INVAL, "the range contains the embedding: token ids are required");
        for (int t = 0; t < b->n_tokens; t++)
            if (b->tokens[t] < 0 || (uint32_t)b->tokens[t] >= e->m->hp.n_vocab)
                return err_set(err, ERR_RANGE, "token id %d at batch index %d: vocabulary has %u tokens",
                               b->tokens[t], t, e->m->hp.n_vocab);
    }
    for (int i = 0; i < e->n_inputs; i++)
        if (!find_input(b, e->inputs[i], e->n_inputs))
            return err_set(err, ERR_INVAL, "input value '%s' (id %d) is required by units %d-%d (hidden input)",
                           e->g->values[e->inputs[i]].name, e->inputs[i], e->p.unit_begin, e->p.unit_end);
    if (e->has_logits && (b->n_logits < 1 || b->n_logits > b->n_tokens || b->n_logits > e->p.max_logits))
        return err_set(err, ERR_RANGE, "logits rows %d: must be in 1..min(batch %d, max %d)", b->n_logits,
                       b->n_tokens, e->p.max_logits);
    for (int r = 0; e->has_logits && b->logit_rows && r < b->n_logits; r++)
        if (b->logit_rows[r] < (r ? b->logit_rows[r - 1] + 1 : 0) || b->logit_rows[r] >= b->n_tokens)
            return err_set(err, ERR_RANGE, "logits row %d at index %d: rows must increase and lie in 0..%d",
                           b->logit_rows[r], r, b->n_tokens - 1);
    return 0;
}

static void forget_rows(exec_t *e)
{
    for (int i = 0; i < e->n_seq_list; i++)
        e->seq_count[e->seq_list[i]] = 0;
    e->n_seq_list = 0;
}

/* Resolves every row's sequence and position (row_seq/row_pos) and checks each
 * sequence's rows are consecutive positions its cache may take now. */
static int resolve_rows(exec_t *e, const exec_batch_t *b, err_t *err)
{
    int rc = 0;
    e->n_seq_list = 0;
    for (int t = 0; t < b->n_tokens && rc == 0; t++) {
        const int s = b->row_seq ? b->row_seq[t] : b->seq, p = b->row_pos ? b->row_pos[t] : b->pos0 + t;
        if (s < 0 || s >= e->p.n_seq)
            rc = err_set(err, ERR_RANGE, "row %d: sequence %d out of range (0..%d)", t, s, e->p.n_seq - 1);
        else if (p < 0 || p >= e->p.n_ctx)
            rc = err_set(err, ERR_RANGE, "row %d: position %d outside the context of %d tokens", t, p, e->p.n_ctx);
        else if (e->seq_count[s] == 0) {
            e->seq_first[s] = p;
            e->seq_list[e->n_seq_list++] = s;
        } else if (p != e->seq_first[s] + e->seq_count[s])
            rc = err_set(err, ERR_RANGE, "row %d: sequence %d at position %d, expected %d (consecutive)", t, s, p,
                         e->seq_first[s] + e->seq_count[s]);
        if (rc == 0) {
            e->seq_count[s]++;
            e->row_seq[t] = s;
            e->row_pos[t] = p;
        }
    }
    for (int i = 0; rc == 0 && e->kv.n_layer > 0 && i < e->n_seq_list; i++) {
        const int s = e->seq_list[i];
        rc = kv_check_write(&e->kv, s, e->seq_first[s], e->seq_count[s], err);
    }
    if (rc)
        forget_rows(e);
    return rc;
}

int exec_run(exec_t *e, const exec_batch_t *b, err_t *err)
{
    int rc = check_batch(e, b, err);
    if (rc || (rc = resolve_rows(e, b, err)))
        return rc;
    const model_hparams_t *hp = &e->m->hp;
    for (int i = 0; i < e->n_inputs; i++) {
        int v = e->inputs[i];
        memcpy(slot(e, v), find_input(b, v, e->n_inputs),
               (size_t)b->n_tokens * e->g->values[v].width * sizeof(float));
    }
    if (e->has_rope)
        for (int t = 0; t < b->n_tokens; t++)
            ops_rope_angles(e->rope_cs + (size_t)t * hp->n_rot, (int)hp->n_rot, e->row_pos[t], hp->rope_base);
    for (int i = e->node_begin; i < e->node_end; i++)
        run_node(e, i, b);
    for (int i = 0; e->kv.n_layer > 0 && i < e->n_seq_list; i++)
        kv_commit(&e->kv, e->seq_list[i], e->seq_first[e->seq_list[i]], e->seq_count[e->seq_list[i]]);
    forget_rows(e);
    e->cur_tokens = b->n_tokens;
    return 0;
}

int exec_n_inputs(const exec_t *e) { return e->n_inputs; }
int exec_input_value(const exec_t *e, int i) { return e->inputs[i]; }
int exec_n_outputs(const exec_t *e) { return e->n_outputs; }

exec_tensor_t exec_output(const exec_t *e, int i)
{
    exec_tensor_t t = {.value = e->outputs[i], .data = slot(e, e->outputs[i])};
    return t;
}

const float *exec_hidden(const exec_t *e) { return e->n_outputs == 1 ? slot(e, e->outputs[0]) : NULL; }
const float *exec_logits(const exec_t *e) { return e->has_logits ? slot(e, e->g->logits) : NULL; }
int exec_has_logits(const exec_t *e) { return e->has_logits; }
int exec_needs_tokens(const exec_t *e) { return e->needs_tokens; }
void exec_seq_clear(exec_t *e, int seq) { kv_clear_seq(&e->kv, seq); }
const exec_params_t *exec_params(const exec_t *e) { return &e->p; }
const model_t *exec_model(const exec_t *e) { return e->m; }
const char *exec_isa_name(const exec_t *e) { return kern_isa_name(e->kern.isa); }
const graph_t *exec_graph(const exec_t *e) { return e->g; }
const seg_t *exec_seg(const exec_t *e) { return e->seg; }

kv_cache_t *exec_kv(exec_t *e) { return &e->kv; }

int exec_kv_layer(const exec_t *e, int node)
{
    return node >= 0 && node < e->g->n_nodes ? e->kv_layer_of_node[node] : -1;
}
