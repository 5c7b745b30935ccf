/*
 * synth.h — synthetic models of the llama, qwen2 and bloom architectures: a
 * GGUF file with the keys, tensors (qwen2: q/k/v biases and a tied output;
 * bloom: embedding norm, fused QKV, norms and matrices with biases, no gate)
 * and SentencePiece-style vocabulary of a real model of that kind, filled with
 * deterministic pseudo-random weights.  For testing and benchmarking the engine
 * at any shape (the weights carry no meaning; the text they produce is noise).
 * The same parameters and seed always give a byte-identical file, and the F32
 * weights before quantization do not depend on the weight type.
 */
#ifndef LL_MODEL_SYNTH_H
#define LL_MODEL_SYNTH_H

#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

#define SYNTH_MIN_VOCAB 260        /* 3 specials + 256 byte tokens + "▁" */
#define SYNTH_MAX_VOCAB (1u << 20)

typedef struct {
    uint32_t dim;        /* embedding length; a multiple of heads, and of 32 for Q8_0/Q4_0 */
    uint32_t layers;     /* transformer blocks */
    uint32_t heads;      /* attention heads; head_dim = dim / heads must be even (rope) */
    uint32_t kv_heads;   /* key/value heads; divides heads */
    uint32_t ffn;        /* feed-forward length; a multiple of 32 for Q8_0/Q4_0 */
    uint32_t vocab;      /* tokens, SYNTH_MIN_VOCAB..SYNTH_MAX_VOCAB */
    uint32_t ctx;        /* llama.context_length */
    uint32_t type;       /* type_id_t of the 2-D weights (norms are always F32) */
    uint64_t seed;       /* weights depend only on seed and tensor position */
    float rope_base;     /* <arch>.rope.freq_base, > 0 (not written for bloom) */
    float rms_eps;       /* <arch>.attention.layer_norm_rms_epsilon, in (0, 1); bloom: layer_norm_epsilon */
    const char *name;    /* general.name; NULL gives "synthetic-<arch>" */
    model_arch_t arch;   /* MODEL_ARCH_LLAMA (default), MODEL_ARCH_QWEN2 or MODEL_ARCH_BLOOM */
} synth_params_t;

/* A small model: llama, dim 64, 2 layers, 4 heads, 2 kv heads, ffn 192, vocab 512,
 * ctx 256, F32, seed 42, rope_base 10000, rms_eps 1e-5 (bloom: its layer-norm epsilon). */
void synth_params_default(synth_params_t *p);

/* The architecture's GGUF name ("llama", "qwen2", "bloom"), and back (0, or ERR_INVAL). */
const char *synth_arch_name(model_arch_t arch);
int synth_arch_parse(const char *s, model_arch_t *arch);

/* Checks p; ERR_INVAL naming the parameter, its value and the rule it breaks. */
int synth_params_check(const synth_params_t *p, err_t *err);

/* Writes the model to path.  Errors: those of synth_params_check, ERR_NOMEM
 * (all quantized weights are held in memory until the file is written), ERR_IO. */
int synth_write(const synth_params_t *p, const char *path, err_t *err);

#endif
