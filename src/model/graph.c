/*
 * graph.c — building the graph of operations of a model (see graph.h).
 *
 * The Llama builder (llama and qwen2) emits, per block l (FORMATS.md):
 *   h = rmsnorm(x) * attn_norm;  q = Wq h;  k = Wk h;  v = Wv h
 *   q' = rope(q);  k' = rope(k);  a = attention(q', k', v)
 *   x = x + Wo a
 *   h = rmsnorm(x) * ffn_norm;  x = x + Wdown(silu(Wgate h) * (Wup h))
 * between the embedding and the head logits = output · (rmsnorm(x) * output_norm);
 * qwen2 adds q/k/v bias nodes before the (NEOX) rope.  The BLOOM builder is
 * described above build_bloom.
 */
#include "model/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    graph_t *g;
    int cap_values, cap_nodes;
    int failed;
} builder_t;

static int add_value(builder_t *b, graph_value_kind_t kind, int width, const char *fmt, int layer)
{
    graph_t *g = b->g;
    if (g->n_values == b->cap_values) {
        b->failed = 1;
        return 0;
    }
    graph_value_t *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, fmt, layer);
    v->kind = kind;
    v->width = width;
    v->producer = -1;
    return g->n_values++;
}

/* Appends a node producing a new value of the given width; returns the value id. */
static int add_node(builder_t *b, graph_op_t op, const char *fmt, int layer, int width, const int *in, int n_in)
{
    graph_t *g = b->g;
    if (g->n_nodes == b->cap_nodes || n_in > GRAPH_MAX_IN) {
        b->failed = 1;
        return 0;
    }
    int out = add_value(b, VAL_ACT, width, fmt, layer);
    graph_node_t *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, fmt, layer);
    n->op = op;
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    n->n_in = n_in;
    n->out = out;
    n->layer = layer;
    g->values[out].producer = g->n_nodes;
    g->n_nodes++;
    return out;
}

static graph_node_t *last_node(builder_t *b) { return &b->g->nodes[b->g->n_nodes - 1]; }

static int matmul(builder_t *b, const char *fmt, int layer, const model_mat_t *w, int x)
{
    int out = add_node(b, OP_MATMUL, fmt, layer, (int)w->n_out, (int[]){x}, 1);
    if (!b->failed)
        last_node(b)->w = w;
    return out;
}

static int rmsnorm(builder_t *b, const char *fmt, int layer, const float *weight, float eps, int x, int width)
{
    int out = add_node(b, OP_RMSNORM, fmt, layer, width, (int[]){x}, 1);
    if (!b->failed) {
        last_node(b)->norm = weight;
        last_node(b)->eps = eps;
    }
    return out;
}

static int layernorm(builder_t *b, const char *fmt, int layer, const float *weight, const float *shift, float eps,
                     int x, int width)
{
    int out = add_node(b, OP_LAYERNORM, fmt, layer, width, (int[]){x}, 1);
    if (!b->failed) {
        last_node(b)->norm = weight;
        last_node(b)->bias = shift;
        last_node(b)->eps = eps;
    }
    return out;
}

/* x + bias, or x itself when the model has no such bias. */
static int bias(builder_t *b, const char *fmt, int layer, const float *vec, int x)
{
    if (!vec || b->failed)
        return x;
    int out = add_node(b, OP_BIAS, fmt, layer, b->g->values[x].width, (int[]){x}, 1);
    if (!b->failed)
        last_node(b)->bias = vec;
    return out;
}

/* W x + bias (the bias node only when the model has one). */
static int linear(builder_t *b, const char *fmt, const char *bias_fmt, int layer, const model_mat_t *w,
                  const float *vec, int x)
{
    return bias(b, bias_fmt, layer, vec, matmul(b, fmt, layer, w, x));
}

static int rope(builder_t *b, const char *fmt, int layer, int x, int n_heads)
{
    const graph_t *g = b->g;
    int out = add_node(b, OP_ROPE, fmt, layer, g->values[x].width, (int[]){x, g->positions}, 2);
    if (!b->failed) {
        last_node(b)->n_heads = n_heads;
        last_node(b)->rope_neox = g->model->hp.rope_neox;
    }
    return out;
}

static int embed(builder_t *b, const model_t *m)
{
    graph_t *g = b->g;
    g->tokens = add_value(b, VAL_TOKENS, 0, "tokens", 0);
    g->positions = add_value(b, VAL_POSITIONS, 0, "positions", 0);
    /* x = token_embd[token] */
    int x = add_node(b, OP_EMBED, "embed", -1, (int)m->hp.n_embd, (int[]){g->tokens}, 1);
    if (!b->failed)
        last_node(b)->w = &m->tok_embd;
    return x;
}

/* logits = output · h, on the rows whose logits are wanted; x (the final hidden
 * state) is marked a graph output and h is the head's normalized x. */
static void head(builder_t *b, const model_t *m, int x, int h)
{
    graph_t *g = b->g;
    if (b->failed)
        return;
    g->values[x].is_output = 1;
    last_node(b)->head_only = 1;
    g->logits = matmul(b, "output", -1, &m->output, h);
    if (!b->failed) {
        last_node(b)->head_only = 1;
        g->values[g->logits].is_output = 1;
    }
    g->n_attention = (int)m->hp.n_layer;
}

/* llama and qwen2 (which adds the q/k/v bias nodes and NEOX rope). */
static int build_llama(builder_t *b, const model_t *m)
{
    graph_t *g = b->g;
    const model_hparams_t *hp = &m->hp;
    const int E = (int)hp->n_embd, F = (int)hp->n_ff;
    int x = embed(b, m);
    for (int l = 0; l < (int)hp->n_layer; l++) {
        const model_layer_t *L = &m->layers[l];
        /* attention half */
        int h = rmsnorm(b, "blk.%d.attn_norm", l, L->attn_norm, hp->rms_eps, x, E);
        int q = linear(b, "blk.%d.attn_q", "blk.%d.attn_q_bias", l, &L->wq, L->bq, h);
        int k = linear(b, "blk.%d.attn_k", "blk.%d.attn_k_bias", l, &L->wk, L->bk, h);
        int v = linear(b, "blk.%d.attn_v", "blk.%d.attn_v_bias", l, &L->wv, L->bv, h);
        int qr = rope(b, "blk.%d.rope_q", l, q, (int)hp->n_head);
        int kr = rope(b, "blk.%d.rope_k", l, k, (int)hp->n_head_kv);
        int a = add_node(b, OP_ATTENTION, "blk.%d.attention", l, E, (int[]){qr, kr, v, g->positions}, 4);
        int o = matmul(b, "blk.%d.attn_output", l, &L->wo, a);
        x = add_node(b, OP_ADD, "blk.%d.attn_residual", l, E, (int[]){x, o}, 2);
        /* feed-forward half */
        h = rmsnorm(b, "blk.%d.ffn_norm", l, L->ffn_norm, hp->rms_eps, x, E);
        int gate = matmul(b, "blk.%d.ffn_gate", l, &L->w_gate, h);
        int up = matmul(b, "blk.%d.ffn_up", l, &L->w_up, h);
        int act = add_node(b, OP_SWIGLU, "blk.%d.ffn_swiglu", l, F, (int[]){gate, up}, 2);
        int down = matmul(b, "blk.%d.ffn_down", l, &L->w_down, act);
        x = add_node(b, OP_ADD, "blk.%d.ffn_residual", l, E, (int[]){x, down}, 2);
    }
    /* logits = output · (rmsnorm(x) * output_norm) */
    head(b, m, x, rmsnorm(b, "output_norm", -1, m->output_norm, hp->rms_eps, x, E));
    return b->failed ? -1 : 0;
}

/* bloom, per block l (llama.cpp's graph):
 *   h = layernorm(x) * attn_norm + attn_norm_b;  [q|k|v] = Wqkv h + bqkv
 *   a = attention(q, k, v) with ALiBi;  x = x + (Wo a + bo)
 *   h = layernorm(x) * ffn_norm + ffn_norm_b;  x = x + (Wdown gelu(Wup h + b_up) + b_down)
 * after x = layernorm(token_embd[token]) * tok_norm + tok_norm_b, and before
 * logits = output · (layernorm(x) * output_norm + output_norm_b). */
static int build_bloom(builder_t *b, const model_t *m)
{
    graph_t *g = b->g;
    const model_hparams_t *hp = &m->hp;
    const int E = (int)hp->n_embd;
    const float eps = hp->norm_eps;
    int x = embed(b, m);
    x = layernorm(b, "embed_norm", -1, m->tok_norm, m->tok_norm_b, eps, x, E);
    for (int l = 0; l < (int)hp->n_layer; l++) {
        const model_layer_t *L = &m->layers[l];
        /* attention half */
        int h = layernorm(b, "blk.%d.attn_norm", l, L->attn_norm, L->attn_norm_b, eps, x, E);
        int q = linear(b, "blk.%d.attn_qkv_q", "blk.%d.attn_q_bias", l, &L->wq, L->bq, h);
        int k = linear(b, "blk.%d.attn_qkv_k", "blk.%d.attn_k_bias", l, &L->wk, L->bk, h);
        int v = linear(b, "blk.%d.attn_qkv_v", "blk.%d.attn_v_bias", l, &L->wv, L->bv, h);
        int a = add_node(b, OP_ATTENTION, "blk.%d.attention", l, E, (int[]){q, k, v, g->positions}, 4);
        if (!b->failed)
            last_node(b)->alibi_max_bias = hp->alibi_max_bias;
        int o = linear(b, "blk.%d.attn_output", "blk.%d.attn_output_bias", l, &L->wo, L->bo, a);
        x = add_node(b, OP_ADD, "blk.%d.attn_residual", l, E, (int[]){x, o}, 2);
        /* feed-forward half */
        h = layernorm(b, "blk.%d.ffn_norm", l, L->ffn_norm, L->ffn_norm_b, eps, x, E);
        int up = linear(b, "blk.%d.ffn_up", "blk.%d.ffn_up_bias", l, &L->w_up, L->b_up, h);
        int act = add_node(b, OP_GELU, "blk.%d.ffn_gelu", l, (int)hp->n_ff, (int[]){up}, 1);
        int down = linear(b, "blk.%d.ffn_down", "blk.%d.ffn_down_bias", l, &L->w_down, L->b_down, act);
        x = add_node(b, OP_ADD, "blk.%d.ffn_residual", l, E, (int[]){x, down}, 2);
    }
    head(b, m, x, layernorm(b, "output_norm", -1, m->output_norm, m->output_norm_b, eps, x, E));
    return b->failed ? -1 : 0;
}

int graph_build(const model_t *m, graph_t **out, err_t *err)
{
    *out = NULL;
    graph_t *g = calloc(1, sizeof *g);
    builder_t b = {.g = g};
    if (g) {
        /* Per block at most 20 nodes (bloom: 2 norms, 5 matmuls, 5 biases, attention, gelu, 2 adds;
         * qwen2: 18); plus embed, its norm, the head's two nodes, and the two inputs. */
        b.cap_nodes = 20 * (int)m->hp.n_layer + 4;
        b.cap_values = b.cap_nodes + 2;
        g->values = calloc((size_t)b.cap_values, sizeof *g->values);
        g->nodes = calloc((size_t)b.cap_nodes, sizeof *g->nodes);
    }
    if (!g || !g->values || !g->nodes) {
        graph_destroy(&g);
        return err_set(err, ERR_NOMEM, "graph: out of memory");
    }
    g->model = m;
    int rc;
    switch (m->arch_id) {
    case MODEL_ARCH_LLAMA:
    case MODEL_ARCH_QWEN2: rc = build_llama(&b, m); break;
    case MODEL_ARCH_BLOOM: rc = build_bloom(&b, m); break;
    default:
        graph_destroy(&g);
        return err_set(err, ERR_UNSUP, "no graph builder for architecture '%s'", m->arch);
    }
    if (rc != 0) {
        graph_destroy(&g);
        return err_set(err, ERR_STATE, "graph: builder exceeded its node estimate");
    }
    *out = g;
    return 0;
}

void graph_destroy(graph_t **gp)
{
    if (!gp || !*gp)
        return;
    free((*gp)->values);
    free((*gp)->nodes);
    free(*gp);
    *gp = NULL;
}

int graph_consumers(const graph_t *g, int v)
{
    int n = g->values[v].is_output;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == v)
                n++;
    return n;
}

const char *graph_op_name(graph_op_t op)
{
    switch (op) {
    case OP_EMBED: return "embed";
    case OP_RMSNORM: return "rmsnorm";
    case OP_MATMUL: return "matmul";
    case OP_ROPE: return "rope";
    case OP_ATTENTION: return "attention";
    case OP_ADD: return "add";
    case OP_SWIGLU: return "swiglu";
    case OP_LAYERNORM: return "layernorm";
    case OP_BIAS: return "bias";
    case OP_GELU: return "gelu";
    }
    return "?";
}
