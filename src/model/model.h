/*
 * model.h — a model as read from a GGUF file: hyper-parameters, weights bound
 * to the mapped tensor data (never copied), and the model's units.
 * Architectures: `llama`, `qwen2` (llama plus q/k/v biases, NEOX rope, tied
 * output when output.weight is absent) and `bloom` (layer norms with bias, a
 * normalized embedding, fused QKV, ALiBi, GELU, biases on every matrix).
 * Tensors an architecture does not have are NULL (vectors) or have data NULL
 * (matrices); the graph builder (model/graph.h) reads only what its
 * architecture has.
 *
 * The computation over these weights is described by model/graph.h, and its
 * division into units by model/seg.h.
 *
 * model_load validates everything the forward pass will rely on — every tensor
 * present with the expected type class and shape, every hyper-parameter in
 * range and consistent — so the executor never checks again.  The model is
 * immutable after loading and may be shared by several executors.
 */
#ifndef LL_MODEL_MODEL_H
#define LL_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "util/err.h"

typedef enum {
    MODEL_ARCH_LLAMA,
    MODEL_ARCH_QWEN2,
    MODEL_ARCH_BLOOM,
} model_arch_t;

typedef struct {
    uint32_t n_vocab;
    uint32_t n_embd;      /* width of the residual stream */
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;    /* n_embd / n_head */
    uint32_t n_ff;        /* feed-forward width */
    uint32_t n_rot;       /* rotated dimensions per head (rope.dimension_count) */
    uint32_t n_ctx_train;
    float rope_base;      /* rope.freq_base, default 10000 */
    float rms_eps;        /* attention.layer_norm_rms_epsilon (llama, qwen2) */
    float norm_eps;       /* attention.layer_norm_epsilon (bloom's layer norms) */
    int rope_neox;        /* rope rotates pairs (i, i + n_rot/2) (qwen2) instead of (2i, 2i+1) */
    float alibi_max_bias; /* > 0: ALiBi instead of rope (bloom: 8, llama.cpp's constant; not in the file) */
} model_hparams_t;

/* A weight matrix of n_out rows of n_in values, row r at data + r*row_bytes. */
typedef struct {
    const void *data;
    uint32_t type;        /* type_id_t */
    uint32_t n_in;
    uint32_t n_out;
    size_t row_bytes;
    const char *name;     /* tensor name, for messages */
} model_mat_t;

/* Biases and norm shifts are NULL when the architecture has none. */
typedef struct {
    const float *attn_norm;   /* [n_embd] */
    const float *attn_norm_b; /* [n_embd] bloom */
    model_mat_t wqkv;         /* bloom: the fused [n_embd] -> [n_embd + 2*kv_dim]; wq, wk, wv are its row ranges */
    model_mat_t wq;           /* [n_embd] -> [n_embd] */
    model_mat_t wk;           /* [n_embd] -> [n_head_kv*head_dim] */
    model_mat_t wv;           /* [n_embd] -> [n_head_kv*head_dim] */
    const float *bq, *bk, *bv;  /* [n_embd], [kv_dim], [kv_dim]: qwen2, bloom (ranges of attn_qkv.bias) */
    model_mat_t wo;           /* [n_embd] -> [n_embd] */
    const float *bo;          /* [n_embd] bloom */
    const float *ffn_norm;    /* [n_embd] */
    const float *ffn_norm_b;  /* [n_embd] bloom */
    model_mat_t w_gate;       /* [n_embd] -> [n_ff]; llama, qwen2 */
    model_mat_t w_up;         /* [n_embd] -> [n_ff] */
    const float *b_up;        /* [n_ff] bloom */
    model_mat_t w_down;       /* [n_ff] -> [n_embd] */
    const float *b_down;      /* [n_embd] bloom */
} model_layer_t;

typedef struct {
    model_hparams_t hp;
    model_arch_t arch_id;
    model_mat_t tok_embd;       /* n_vocab rows of n_embd */
    const float *tok_norm;      /* [n_embd] bloom: layer norm of the embedding */
    const float *tok_norm_b;    /* [n_embd] bloom */
    const float *output_norm;   /* [n_embd] */
    const float *output_norm_b; /* [n_embd] bloom */
    model_mat_t output;         /* [n_embd] -> [n_vocab]; tok_embd when the file ties them */
    int output_tied;
    model_layer_t *layers;      /* [n_layer] */
    gguf_ctx_t *gguf;           /* owns the mapping the weights point into */
    char arch[32];
} model_t;

/* Opens, validates and binds a GGUF model. */
int model_load(const char *path, model_t **out, err_t *err);
/* Binds an already-open GGUF (takes ownership of *g on success and on failure, NULLing it). */
int model_load_gguf(gguf_ctx_t **g, model_t **out, err_t *err);
void model_destroy(model_t **m);

/* Bytes of all weight tensors in the file, and of the KV cache per token of context (F16 K and V). */
size_t model_weight_bytes(const model_t *m);
size_t model_kv_bytes_per_token(const model_t *m);

#endif
