/*
 * graph.h — a model as a graph of operations, built from its GGUF metadata.
 *
 * Values are SSA: every value is produced by exactly one node (or is a graph
 * input) and holds `width` floats per token.  Nodes are stored in a
 * topological order, which is also the order the executor runs them in and the
 * order in which cuts are placed (a cut is "after node i").  Two graph inputs
 * exist: the token ids (consumed by the embedding) and the positions (consumed
 * by rope and attention); positions are marked recomputable — every device
 * derives them from the batch, so they never travel.  Graph outputs are the
 * logits and the final hidden state (the transformer body's result, which the
 * output head consumes); marking the latter an output is what makes it a
 * branch point, so the head is a unit of its own.
 *
 * One builder per architecture family: the llama builder serves llama and
 * qwen2 (bias nodes after the q/k/v matmuls, the NEOX rope flag on the rope
 * nodes); the bloom builder uses layer norm (with its shift), bias nodes after
 * every matmul, GELU, and ALiBi as a parameter of the attention node (its
 * slopes follow from the head count, so every device recomputes them: nothing
 * extra travels).  Each is a new op or parameter, not a new executor path.
 * The graph borrows the model's weights and does not own them.
 */
#ifndef LL_MODEL_GRAPH_H
#define LL_MODEL_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

typedef enum {
    OP_EMBED,      /* out[t] = token_embd[tokens[t]]                          in: tokens */
    OP_RMSNORM,    /* out = rmsnorm(in0) * weight                              */
    OP_MATMUL,     /* out = W in0                                              */
    OP_ROPE,       /* out = rope(in0, positions), n_heads heads of head_dim    in: x, positions */
    OP_ATTENTION,  /* K,V rows of this batch enter the layer's cache; out = softmax(q K^T/sqrt(d)) V
                      in: q, k, v, positions */
    OP_ADD,        /* out = in0 + in1                                          */
    OP_SWIGLU,     /* out = silu(in0) * in1                                    */
    OP_LAYERNORM,  /* out = ((in0 - mean) / sqrt(var + eps)) * weight + bias   */
    OP_BIAS,       /* out = in0 + bias (one vector, added to every row)        */
    OP_GELU,       /* out = gelu(in0), tanh approximation                      */
} graph_op_t;

typedef enum {
    VAL_TOKENS,      /* graph input: token ids (width 0) */
    VAL_POSITIONS,   /* graph input: positions (width 0), recomputed by every receiver */
    VAL_ACT,         /* activations: width floats per token */
} graph_value_kind_t;

#define GRAPH_NAME_LEN 40
#define GRAPH_MAX_IN 4

typedef struct {
    char name[GRAPH_NAME_LEN];   /* e.g. "blk.3.ffn_out" */
    graph_value_kind_t kind;
    int width;                   /* floats per token (0 for tokens/positions) */
    int producer;                /* node index, -1 for graph inputs */
    int is_output;               /* a graph output (logits, final hidden) */
} graph_value_t;

typedef struct {
    char name[GRAPH_NAME_LEN];   /* e.g. "blk.3.attn_q" */
    graph_op_t op;
    int in[GRAPH_MAX_IN];
    int n_in;
    int out;
    const model_mat_t *w;        /* OP_MATMUL, OP_EMBED */
    const float *norm;           /* OP_RMSNORM, OP_LAYERNORM weight */
    const float *bias;           /* OP_LAYERNORM shift, OP_BIAS vector (width floats) */
    float eps;                   /* OP_RMSNORM, OP_LAYERNORM epsilon */
    int layer;                   /* block index (-1 outside blocks) */
    int n_heads;                 /* OP_ROPE */
    int rope_neox;               /* OP_ROPE: pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float alibi_max_bias;        /* OP_ATTENTION: > 0 adds ALiBi (slopes from n_head and this) */
    int head_only;               /* runs only on the rows whose logits are wanted (the output head) */
} graph_node_t;

typedef struct {
    const model_t *model;
    graph_value_t *values;
    int n_values;
    graph_node_t *nodes;
    int n_nodes;
    int tokens;                  /* value id of the token input */
    int positions;               /* value id of the positions input */
    int logits;                  /* value id of the logits */
    int n_attention;             /* attention nodes (layers with a KV cache) */
} graph_t;

/* Builds the graph of m (chosen by m->arch).  ERR_UNSUP for an architecture without a builder. */
int graph_build(const model_t *m, graph_t **out, err_t *err);
void graph_destroy(graph_t **g);

/* Number of nodes consuming value v (graph outputs count as one more consumer). */
int graph_consumers(const graph_t *g, int v);
const char *graph_op_name(graph_op_t op);

#endif
