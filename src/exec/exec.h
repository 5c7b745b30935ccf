/*
 * exec.h — the executor: runs a contiguous range of a model's units for a
 * batch of tokens of one sequence.
 *
 * The single-device engine is an executor over all units; a worker of the
 * distributed runtime is an executor over its stage.  The executor owns the
 * KV cache of the attention layers inside its range, a thread pool, the
 * kernel table and every scratch buffer, all allocated in exec_create; a run
 * allocates nothing.  Input at the range's start is token ids (when the range
 * begins with the embedding unit) or the residual stream (n_tokens × n_embd
 * floats); output is the residual stream, or logits when the range ends with
 * the output unit.  Output values depend only on the model, the kernel ISA,
 * and the token history — not on the thread count, the range boundaries or
 * how a prompt is split into batches.
 */
#ifndef LL_EXEC_EXEC_H
#define LL_EXEC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "tensor/kern.h"
#include "util/err.h"

typedef struct {
    int unit_begin;     /* first unit of the range */
    int unit_end;       /* one past the last unit */
    int n_threads;      /* >= 1 */
    int n_ctx;          /* positions per sequence (<= 0: the model's training context, capped at 4096) */
    int n_seq;          /* sequences held at once (>= 1) */
    int max_batch;      /* tokens per exec_run (<= 0: 512) */
    int max_logits;     /* logits rows one run may produce (<= 0: 1) */
    kern_isa_t isa;     /* KERN_ISA_AUTO for the best available */
} exec_params_t;

/* Whole model, 1 thread, 1 sequence, defaults elsewhere. */
void exec_params_default(exec_params_t *p, const model_t *m);

typedef struct {
    int seq;                /* sequence slot */
    int pos0;               /* position of the first token */
    int n_tokens;           /* 1..max_batch */
    const int32_t *tokens;  /* [n_tokens], when the range begins with the embedding */
    const float *hidden;    /* [n_tokens][n_embd], otherwise */
    int n_logits;           /* when the range ends with the output: logits of the last n_logits tokens */
} exec_batch_t;

typedef struct exec exec_t;

int exec_create(const model_t *m, const exec_params_t *p, exec_t **out, err_t *err);
void exec_destroy(exec_t **e);

/* Runs the range over one batch. Errors (bad ids, positions, sizes) change nothing. */
int exec_run(exec_t *e, const exec_batch_t *b, err_t *err);

/* After a run whose range does not end with the output unit: [n_tokens][n_embd]. */
const float *exec_hidden(const exec_t *e);
/* After a run whose range ends with the output unit: [n_logits][n_vocab]. */
const float *exec_logits(const exec_t *e);

/* Forgets a sequence's cache. */
void exec_seq_clear(exec_t *e, int seq);

const exec_params_t *exec_params(const exec_t *e);
const model_t *exec_model(const exec_t *e);
const char *exec_isa_name(const exec_t *e);

#endif
