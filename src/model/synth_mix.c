/*
 * synth_mix.c — llama-quantize's per-tensor type recipes for synthetic models
 * (see synth_mix.h for the rules).
 */
#include "model/synth_mix.h"

#include <string.h>
#include <strings.h>

#include "tensor/types.h"

typedef enum {
    MIX_Q2_K = SYNTH_MIX_FIRST, MIX_Q3_K_S, MIX_Q3_K_M, MIX_Q3_K_L, MIX_Q4_K_S, MIX_Q4_K_M, MIX_Q5_K_S, MIX_Q5_K_M,
    MIX_Q6_K, MIX_Q4_0, MIX_Q4_1, MIX_Q5_0, MIX_Q5_1, MIX_IQ4_NL, MIX_END
} mix_t;

static const struct {
    mix_t id;
    const char *name;
    uint32_t base, file_type;
} mixes[] = {
    {MIX_Q2_K, "q2_k_mix", TYPE_Q2_K, 10},    {MIX_Q3_K_S, "q3_k_s", TYPE_Q3_K, 11},
    {MIX_Q3_K_M, "q3_k_m", TYPE_Q3_K, 12},    {MIX_Q3_K_L, "q3_k_l", TYPE_Q3_K, 13},
    {MIX_Q4_K_S, "q4_k_s", TYPE_Q4_K, 14},    {MIX_Q4_K_M, "q4_k_m", TYPE_Q4_K, 15},
    {MIX_Q5_K_S, "q5_k_s", TYPE_Q5_K, 16},    {MIX_Q5_K_M, "q5_k_m", TYPE_Q5_K, 17},
    {MIX_Q6_K, "q6_k_mix", TYPE_Q6_K, 18},    {MIX_Q4_0, "q4_0_mix", TYPE_Q4_0, 2},
    {MIX_Q4_1, "q4_1_mix", TYPE_Q4_1, 3},     {MIX_Q5_0, "q5_0_mix", TYPE_Q5_0, 8},
    {MIX_Q5_1, "q5_1_mix", TYPE_Q5_1, 9},     {MIX_IQ4_NL, "iq4_nl_mix", TYPE_IQ4_NL, 25},
};
#define N_MIXES (sizeof mixes / sizeof mixes[0])

int synth_type_parse(const char *s, uint32_t *t)
{
    if (type_parse(s, t) == 0)
        return 0;
    for (size_t i = 0; i < N_MIXES; i++) {
        if (strcasecmp(s, mixes[i].name) == 0) {
            *t = mixes[i].id;
            return 0;
        }
    }
    return -1;
}

const char *synth_type_names(void)
{
    return "f32 f16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl (every 2-D tensor), or llama-quantize "
           "recipes q2_k_mix q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k_mix q4_0_mix q4_1_mix q5_0_mix "
           "q5_1_mix iq4_nl_mix";
}

int synth_type_valid(uint32_t t)
{
    return type_is_known(t) || (t >= SYNTH_MIX_FIRST && t < MIX_END);
}

uint32_t synth_file_type(uint32_t t)
{
    for (size_t i = 0; i < N_MIXES; i++)
        if (mixes[i].id == t)
            return mixes[i].file_type;
    switch (t) {
    case TYPE_F16: return 1;
    case TYPE_Q4_0: return 2;
    case TYPE_Q4_1: return 3;
    case TYPE_Q8_0: return 7;
    case TYPE_Q5_0: return 8;
    case TYPE_Q5_1: return 9;
    case TYPE_Q2_K: return 10;
    case TYPE_Q3_K: return 11;
    case TYPE_Q4_K: return 14;
    case TYPE_Q5_K: return 16;
    case TYPE_Q6_K: return 18;
    case TYPE_IQ4_NL: return 25;
    default: return 0;
    }
}

static int use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

/* llama-quantize's fallback for a type whose block does not divide n_in. */
static uint32_t fallback(uint32_t t, uint64_t n_in)
{
    if (n_in % type_block_elems(t) == 0)
        return t;
    switch (t) {
    case TYPE_Q2_K: case TYPE_Q3_K: t = TYPE_IQ4_NL; break;
    case TYPE_Q4_K: t = TYPE_Q5_0; break;
    case TYPE_Q5_K: t = TYPE_Q5_1; break;
    case TYPE_Q6_K: t = TYPE_Q8_0; break;
    default: break;
    }
    return n_in % type_block_elems(t) == 0 ? t : TYPE_F16;
}

uint32_t synth_tensor_type(uint32_t t, const char *role, uint32_t layer, uint32_t n_layers, uint32_t n_gqa,
                           uint64_t n_in, int tied)
{
    if (t < SYNTH_MIX_FIRST)
        return t;
    uint32_t base = TYPE_F32;
    for (size_t i = 0; i < N_MIXES; i++)
        if (mixes[i].id == t)
            base = mixes[i].base;
    const mix_t m = (mix_t)t;
    uint32_t r = base;
    if (!strcmp(role, "output") || (tied && !strcmp(role, "token_embd"))) {
        r = TYPE_Q6_K;
    } else if (!strcmp(role, "attn_v")) {
        if (m == MIX_Q2_K) r = n_gqa >= 4 ? TYPE_Q4_K : TYPE_Q3_K;
        else if (m == MIX_Q3_K_M) r = layer < 2 ? TYPE_Q5_K : TYPE_Q4_K;
        else if (m == MIX_Q3_K_L) r = TYPE_Q5_K;
        else if ((m == MIX_Q4_K_M || m == MIX_Q5_K_M) && use_more_bits(layer, n_layers)) r = TYPE_Q6_K;
        else if (m == MIX_Q4_K_S && layer < 4) r = TYPE_Q5_K;
    } else if (!strcmp(role, "ffn_down")) {
        if (m == MIX_Q2_K) r = TYPE_Q3_K;
        else if (m == MIX_Q3_K_M) r = layer < n_layers / 16 ? TYPE_Q5_K : TYPE_Q4_K;
        else if (m == MIX_Q3_K_L) r = TYPE_Q5_K;
        else if ((m == MIX_Q4_K_M || m == MIX_Q5_K_M) && use_more_bits(layer, n_layers)) r = TYPE_Q6_K;
        else if (m == MIX_Q4_K_S && layer < n_layers / 8) r = TYPE_Q5_K;
    } else if (!strcmp(role, "attn_output")) {
        if (m == MIX_Q2_K) r = TYPE_Q3_K;
        else if (m == MIX_Q3_K_M) r = TYPE_Q4_K;
        else if (m == MIX_Q3_K_L) r = TYPE_Q5_K;
    } else if (!strcmp(role, "attn_qkv")) {
        if (m == MIX_Q3_K_M || m == MIX_Q3_K_L) r = TYPE_Q4_K;
        else if (m == MIX_Q4_K_M) r = TYPE_Q5_K;
        else if (m == MIX_Q5_K_M) r = TYPE_Q6_K;
    }
    return fallback(r, n_in);
}
