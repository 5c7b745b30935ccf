/*
 * graph.c — building the graph of operations of a model (see graph.h).
 *
 * The Llama builder emits, per block l (FORMATS.md):
 *   h = rmsnorm(x) * attn_norm;  q = Wq h;  k = Wk h;  v = Wv h
 *   q' = rope(q);  k' = rope(k);  a = attention(q', k', v)
 *   x = x + Wo a
 *   h = rmsnorm(x) * ffn_norm;  x = x + Wdown(silu(Wgate h) * (Wup h))
 * between the embedding and the head logits = output · (rmsnorm(x) * output_norm).
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

static int rmsnorm(builder_t *b, const char *fmt, int layer, const float *weight, int x, int width)
{
    int out = add_node(b, OP_RMSNORM, fmt, layer, width, (int[]){x}, 1);
    if (!b->failed)
        last_node(b)->norm = weight;
    return out;
}

static int build_llama(builder_t *b, const model_t *m)
{
    graph_t *g = b->g;
    const model_hparams_t *hp = &m->hp;
    const int E = (int)hp->n_embd, F = (int)hp->n_ff;
    g->tokens = add_value(b, VAL_TOKENS, 0, "tokens", 0);
    g->positions = add_value(b, VAL_POSITIONS, 0, "positions", 0);

    /* x = token_embd[token] */
    int x = add_node(b, OP_EMBED, "embed", -1, E, (int[]){g->tokens}, 1);
    if (!b->failed)
        last_node(b)->w = &m->tok_embd;
    for (int l = 0; l < (int)hp->n_layer; l++) {
        const model_layer_t *L = &m->layers[l];
        /* attention half */
        int h = rmsnorm(b, "blk.%d.attn_norm", l, L->attn_norm, x, E);
        int q = matmul(b, "blk.%d.attn_q", l, &L->wq, h);
        int k = matmul(b, "blk.%d.attn_k", l, &L->wk, h);
        int v = matmul(b, "blk.%d.attn_v", l, &L->wv, h);
        int qr = add_node(b, OP_ROPE, "blk.%d.rope_q", l, E, (int[]){q, g->positions}, 2);
        if (!b->failed)
            last_node(b)->n_heads = (int)hp->n_head;
        int kr = add_node(b, OP_ROPE, "blk.%d.rope_k", l, (int)L->wk.n_out, (int[]){k, g->positions}, 2);
        if (!b->failed)
            last_node(b)->n_heads = (int)hp->n_head_kv;
        int a = add_node(b, OP_ATTENTION, "blk.%d.attention", l, E, (int[]){qr, kr, v, g->positions}, 4);
        int o = matmul(b, "blk.%d.attn_output", l, &L->wo, a);
        x = add_node(b, OP_ADD, "blk.%d.attn_residual", l, E, (int[]){x, o}, 2);
        /* feed-forward half */
        h = rmsnorm(b, "blk.%d.ffn_norm", l, L->ffn_norm, x, E);
        int gate = matmul(b, "blk.%d.ffn_gate", l, &L->w_gate, h);
        int up = matmul(b, "blk.%d.ffn_up", l, &L->w_up, h);
        int act = add_node(b, OP_SWIGLU, "blk.%d.ffn_swiglu", l, F, (int[]){gate, up}, 2);
        int down = matmul(b, "blk.%d.ffn_down", l, &L->w_down, act);
        x = add_node(b, OP_ADD, "blk.%d.ffn_residual", l, E, (int[]){x, down}, 2);
    }
    if (!b->failed)
        g->values[x].is_output = 1;   /* the final hidden state */
    /* logits = output · (rmsnorm(x) * output_norm), on the rows whose logits are wanted */
    int h = rmsnorm(b, "output_norm", -1, m->output_norm, x, E);
    if (!b->failed)
        last_node(b)->head_only = 1;
    g->logits = matmul(b, "output", -1, &m->output, h);
    if (!b->failed) {
        last_node(b)->head_only = 1;
        g->values[g->logits].is_output = 1;
    }
    g->n_attention = (int)hp->n_layer;
    return b->failed ? -1 : 0;
}

int graph_build(const model_t *m, graph_t **out, err_t *err)
{
    *out = NULL;
    if (strcmp(m->arch, "llama") != 0)
        return err_set(err, ERR_UNSUP, "no graph builder for architecture '%s'", m->arch);
    graph_t *g = calloc(1, sizeof *g);
    builder_t b = {.g = g};
    if (g) {
        /* Per block: 15 nodes, 15 values; plus embed, head, and the two inputs. */
        b.cap_nodes = 15 * (int)m->hp.n_layer + 3;
        b.cap_values = b.cap_nodes + 2;
        g->values = calloc((size_t)b.cap_values, sizeof *g->values);
        g->nodes = calloc((size_t)b.cap_nodes, sizeof *g->nodes);
    }
    if (!g || !g->values || !g->nodes) {
        graph_destroy(&g);
        return err_set(err, ERR_NOMEM, "graph: out of memory");
    }
    g->model = m;
    if (build_llama(&b, m) != 0) {
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
    }
    return "?";
}
