/*
 * samp.h — the sampler: turns one row of logits into a token id.
 *
 * Order of the chain (as llama.cpp's common sampler): repetition penalty over the
 * last repeat_last_n tokens, then top-k, top-p, min-p, temperature, and a draw
 * from the softmax with the sampler's own seeded RNG.  temp <= 0 is greedy:
 * the repetition penalty (when not 1, as llama.cpp) then the argmax, lowest id
 * on ties; top-k/top-p/min-p cannot change the argmax and no random number is
 * drawn.  NaN logits count as -inf.  Every buffer is allocated in
 * samp_create; samp_sample allocates nothing.  The RNG is part of the sampler's
 * state, so the same seed and inputs give the same tokens on every machine.
 */
#ifndef LL_MODEL_SAMP_H
#define LL_MODEL_SAMP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    float temp;            /* <= 0: greedy */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int32_t repeat_last_n; /* tokens of history the penalty looks at */
    uint64_t seed;
} samp_params_t;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0, last_n 64, seed 0. */
void samp_params_default(samp_params_t *p);

typedef struct samp samp_t;

int samp_create(const samp_params_t *p, int32_t n_vocab, samp_t **out, err_t *err);
void samp_destroy(samp_t **s);

/* Picks a token from logits[n_vocab] (not modified).  history: previously seen
 * tokens (prompt and generated), oldest first. */
int32_t samp_sample(samp_t *s, const float *logits, const int32_t *history, size_t n_history);

/* The RNG used by samp_sample: next uniform float in [0,1). Exposed for tests. */
float samp_rng_uniform(uint64_t *state);

#endif
