/*
 * synth_arch.c — the tensor lists of synthetic qwen2 and bloom models (see
 * synth.h), with llama.cpp's tensor names and shapes (ne = [n_in, n_out]):
 *   qwen2  token_embd, output_norm (no output.weight: the output is tied to the
 *          embedding), per block attn_norm, attn_q/k/v with their .bias,
 *          attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up;
 *   bloom  token_embd, token_embd_norm.{weight,bias}, output_norm.{weight,bias},
 *          output, per block attn_norm.{weight,bias}, attn_qkv.{weight,bias}
 *          (rows [Q | K | V]), attn_output.{weight,bias}, ffn_norm.{weight,bias},
 *          ffn_up.{weight,bias}, ffn_down.{weight,bias}.
 * The llama list, the keys and the filling live in synth.c.
 */
#include <stdio.h>

#include "model/synth_internal.h"
#include "tensor/types.h"

typedef enum { MAT, NORM, BIAS } kind_t;

static void plan(synth_tensor_t *t, const char *name, uint32_t type, kind_t kind, uint64_t n_in, uint64_t n_out)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = kind == MAT ? type : TYPE_F32;
    t->n_dims = kind == MAT ? 2 : 1;
    t->ne[0] = n_in;
    t->ne[1] = kind == MAT ? n_out : 1;
    t->is_norm = kind == NORM;
    t->is_bias = kind == BIAS;
}

typedef struct {
    const char *name;   /* after "blk.N." */
    kind_t kind;
    char in, out;       /* 'd' dim, 'k' kv_dim, 'f' ffn, 'q' dim + 2 kv_dim */
} role_t;

static const role_t QWEN2_BLOCK[] = {
    {"attn_norm.weight", NORM, 'd', 0},  {"attn_q.weight", MAT, 'd', 'd'},   {"attn_q.bias", BIAS, 'd', 0},
    {"attn_k.weight", MAT, 'd', 'k'},    {"attn_k.bias", BIAS, 'k', 0},      {"attn_v.weight", MAT, 'd', 'k'},
    {"attn_v.bias", BIAS, 'k', 0},       {"attn_output.weight", MAT, 'd', 'd'}, {"ffn_norm.weight", NORM, 'd', 0},
    {"ffn_gate.weight", MAT, 'd', 'f'},  {"ffn_down.weight", MAT, 'f', 'd'}, {"ffn_up.weight", MAT, 'd', 'f'},
};

static const role_t BLOOM_BLOCK[] = {
    {"attn_norm.weight", NORM, 'd', 0},   {"attn_norm.bias", BIAS, 'd', 0},   {"attn_qkv.weight", MAT, 'd', 'q'},
    {"attn_qkv.bias", BIAS, 'q', 0},      {"attn_output.weight", MAT, 'd', 'd'}, {"attn_output.bias", BIAS, 'd', 0},
    {"ffn_norm.weight", NORM, 'd', 0},    {"ffn_norm.bias", BIAS, 'd', 0},    {"ffn_up.weight", MAT, 'd', 'f'},
    {"ffn_up.bias", BIAS, 'f', 0},        {"ffn_down.weight", MAT, 'f', 'd'}, {"ffn_down.bias", BIAS, 'd', 0},
};

#define BLOCK_ROLES 12

size_t synth_max_tensors(const synth_params_t *p)
{
    return 6 + BLOCK_ROLES * (size_t)p->layers;
}

static uint64_t size_of(const synth_params_t *p, char c)
{
    const uint64_t kv_dim = (uint64_t)p->dim / p->heads * p->kv_heads;
    switch (c) {
    case 'k': return kv_dim;
    case 'f': return p->ffn;
    case 'q': return p->dim + 2 * kv_dim;
    default: return p->dim;
    }
}

size_t synth_plan_arch(const synth_params_t *p, synth_tensor_t *t)
{
    const int bloom = p->arch == MODEL_ARCH_BLOOM;
    const role_t *block = bloom ? BLOOM_BLOCK : QWEN2_BLOCK;
    size_t n = 0;
    plan(&t[n++], "token_embd.weight", p->type, MAT, p->dim, p->vocab);
    if (bloom) {
        plan(&t[n++], "token_embd_norm.weight", p->type, NORM, p->dim, 1);
        plan(&t[n++], "token_embd_norm.bias", p->type, BIAS, p->dim, 1);
    }
    plan(&t[n++], "output_norm.weight", p->type, NORM, p->dim, 1);
    if (bloom) {
        plan(&t[n++], "output_norm.bias", p->type, BIAS, p->dim, 1);
        plan(&t[n++], "output.weight", p->type, MAT, p->dim, p->vocab);
    }
    for (uint32_t l = 0; l < p->layers; l++) {
        for (size_t k = 0; k < BLOCK_ROLES; k++) {
            char name[48];
            snprintf(name, sizeof name, "blk.%u.%s", l, block[k].name);
            plan(&t[n++], name, p->type, block[k].kind, size_of(p, block[k].in), size_of(p, block[k].out));
        }
    }
    return n;
}
