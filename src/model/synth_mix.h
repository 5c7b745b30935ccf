/*
 * synth_mix.h — the weight-type choice of `lingua synth --type`: one storage type
 * for every 2-D tensor, or one of llama-quantize's recipes (b4747,
 * llama_tensor_get_type, no importance matrix), which give each tensor its own
 * type by role and layer.  Pure functions; owns nothing.
 *
 * Recipes (value >= SYNTH_MIX_FIRST), by name:
 *   q2_k_mix  llama-quantize Q2_K: Q2_K; attn_output, ffn_down and attn_v Q3_K
 *             (attn_v Q4_K when n_head/n_head_kv >= 4)
 *   q3_k_s    Q3_K                     q3_k_m  Q3_K; attn_v Q5_K for layers 0-1 then
 *   q3_k_l    Q3_K; attn_v, attn_output,        Q4_K; attn_output, attn_qkv Q4_K;
 *             ffn_down Q5_K; attn_qkv Q4_K      ffn_down Q5_K below n_layer/16, else Q4_K
 *   q4_k_s    Q4_K; attn_v Q5_K in layers 0-3; ffn_down Q5_K below n_layer/8
 *   q4_k_m    Q4_K; attn_v, ffn_down Q6_K on the use_more_bits layers; attn_qkv Q5_K
 *   q5_k_s    Q5_K                     q5_k_m  Q5_K; as q4_k_m with Q6_K; attn_qkv Q6_K
 *   q6_k_mix, q4_0_mix, q4_1_mix, q5_0_mix, q5_1_mix, iq4_nl_mix: that type
 * and in every recipe output.weight (or a tied token_embd) is Q6_K.
 * use_more_bits(i, n): i < n/8, or i >= 7n/8, or (i - n/8) % 3 == 2.
 * A K-quant whose block does not divide the row length falls back as
 * llama-quantize does (Q2_K, Q3_K -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1;
 * Q6_K -> Q8_0), and to F16 when that does not divide it either.
 */
#ifndef LL_MODEL_SYNTH_MIX_H
#define LL_MODEL_SYNTH_MIX_H

#include <stdint.h>

#define SYNTH_MIX_FIRST 0x100u

/* Parses a storage type name (types.h) or a recipe name (case-insensitive): 0 and
 * *t set, or -1. */
int synth_type_parse(const char *s, uint32_t *t);

/* Every accepted name, for messages and help. */
const char *synth_type_names(void);

/* 1 if t is a storage type or a recipe. */
int synth_type_valid(uint32_t t);

/* llama.cpp's general.file_type for t. */
uint32_t synth_file_type(uint32_t t);

/* The type of one 2-D tensor.  role: "token_embd", "output", "attn_q", "attn_k",
 * "attn_v", "attn_output", "attn_qkv", "ffn_gate", "ffn_up", "ffn_down"; layer
 * its block (0 for the global tensors); n_gqa = n_head / n_head_kv; n_in its row
 * length.  tied: token_embd is also the output.  For a storage type t, t itself
 * (the row length is checked elsewhere). */
uint32_t synth_tensor_type(uint32_t t, const char *role, uint32_t layer, uint32_t n_layers, uint32_t n_gqa,
                           uint64_t n_in, int tied);

#endif
