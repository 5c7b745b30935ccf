/*
 * generate.h — the generation loop on one executor that spans the whole model:
 * the prompt in batches of up to max_batch tokens, then one token at a time,
 * sampling each from the last logits, until n_predict tokens, an
 * end-of-generation token, or the context is full.
 *
 * The caller owns the executor, sampler and output array; the loop allocates
 * nothing.  Each generated token is handed to on_token as soon as it exists
 * (for streaming); a non-zero return from on_token stops generation.
 */
#ifndef LL_EXEC_GENERATE_H
#define LL_EXEC_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "exec/exec.h"
#include "model/samp.h"
#include "model/tok.h"
#include "util/err.h"

typedef int (*gen_token_fn)(void *user, int32_t id);

typedef struct {
    size_t n_prompt;
    size_t n_gen;
    size_t n_eval;           /* single-token forward passes run while generating */
    double prompt_seconds;   /* wall time of prompt processing, first logits included */
    double gen_seconds;      /* wall time of the generation steps */
    int stopped_by_eog;
} gen_stats_t;

typedef struct {
    exec_t *exec;            /* over all units */
    samp_t *samp;
    const tok_t *tok;        /* for end-of-generation ids; may be NULL (then only n_predict stops) */
    int seq;                 /* sequence slot to use (cleared first) */
    int n_predict;           /* tokens to generate at most (>= 0) */
    int32_t *history;        /* [n_prompt + n_predict]: prompt then generated ids (written) */
    gen_token_fn on_token;   /* may be NULL */
    void *user;
} gen_request_t;

int gen_run(const gen_request_t *r, const int32_t *prompt, size_t n_prompt, gen_stats_t *stats, err_t *err);

#endif
