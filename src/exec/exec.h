/*
 * exec.h — the executor: runs a contiguous range of units of a model's graph
 * (model/graph.h, model/seg.h) for a batch of tokens of one sequence.
 *
 * The single-device engine is an executor over all units; a worker of the
 * distributed runtime is an executor over its stage.  A batch may also mix
 * rows of several sequences (continuous batching, DESIGN.md §12): each row
 * names its sequence slot and position, every matmul runs over all rows at
 * once, and attention runs per row against that row's sequence's cache.  It interprets the graph's
 * nodes in order — there is no second, hand-written forward pass.  It owns the
 * KV cache of the attention nodes inside its range, a thread pool, the kernel
 * table and one buffer per value slot (values share slots when their lifetimes
 * do not overlap), all allocated in exec_create; a run allocates nothing.
 *
 * Inputs of a range: token ids when it contains the embedding, and the values
 * produced before the range that its nodes consume (the SDM and RDM tensors
 * arriving from earlier units), each [n_tokens][width] floats.  Outputs: the
 * values produced in the range and consumed after it, and the logits when the
 * range contains the head.  Positions are recomputed from pos0 (or given per
 * row), never sent as tensors.  A row's output values depend only on the
 * model, the kernel ISA and its own sequence's token history — not on the
 * thread count, the range boundaries, how a prompt is split into batches, or
 * which rows of other sequences share its batch.
 */
#ifndef LL_EXEC_EXEC_H
#define LL_EXEC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "exec/kv.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/seg.h"
#include "tensor/kern.h"
#include "util/err.h"

typedef struct {
    int unit_begin;     /* first unit of the range */
    int unit_end;       /* one past the last unit */
    int n_threads;      /* >= 1 */
    int n_ctx;          /* positions per sequence (<= 0: the model's training context, capped at 4096) */
    int n_seq;          /* sequences held at once (>= 1) */
    int max_batch;      /* tokens per exec_run (<= 0: 512) */
    int max_logits;     /* logits rows one run may produce (<= 0: 1); one per sequence sampled together */
    kern_isa_t isa;     /* KERN_ISA_AUTO for the best available */
    const seg_t *seg;   /* units to use (borrowed, with its graph); NULL: the default segmentation */
    /* Weights whose kernels have an interleaved layout (kern.h: il_*, e.g. Q8_0 and
     * Q4_0 on AVX-512) are copied into it once, at creation, and only the copy is
     * read (the results are the same bit for bit).  no_interleave: keep reading the
     * model's rows.  release, when set, is told of each range of the model's bytes
     * the executor has copied and will not read again (not the embedding table's,
     * which it reads for lookups), so that their owner may drop them from memory:
     * release(release_ctx, p, n), p inside the matrix's data.  adopt_from: an
     * executor of the same model, graph and kernels whose copies of matrices this
     * one also runs are moved here instead of packed again (nor is release told of
     * them); adopt_from keeps its others and must not run again (exec_drop_copies). */
    int no_interleave;
    void (*release)(void *ctx, const void *p, size_t n);
    void *release_ctx;
    struct exec *adopt_from;
} exec_params_t;

/* Whole model (default segmentation), 1 thread, 1 sequence, defaults elsewhere. */
void exec_params_default(exec_params_t *p, const model_t *m);

/* One value crossing the range's boundary: [n_tokens][width] floats. */
typedef struct {
    int value;              /* graph value id */
    const float *data;
} exec_tensor_t;

/* A batch of rows.  One sequence: seq, pos0 (row t is position pos0 + t).
 * Several sequences: row_seq and row_pos give every row its slot and position
 * (seq and pos0 are then ignored); the rows of one sequence must have
 * consecutive positions in row order (they need not be adjacent rows), and
 * each sequence's first row must append to or overwrite its cache without a
 * gap.  Logits: of the last n_logits rows, or, when logit_rows is given, of
 * the n_logits rows it lists (strictly increasing row indices), in that order. */
typedef struct {
    int seq;                /* sequence slot (when row_seq is NULL) */
    int pos0;               /* position of the first token (when row_pos is NULL) */
    int n_tokens;           /* rows: 1..max_batch */
    const int *row_seq;     /* [n_tokens] or NULL */
    const int *row_pos;     /* [n_tokens] or NULL (required with row_seq) */
    const int *logit_rows;  /* [n_logits] or NULL */
    const int32_t *tokens;  /* [n_tokens], when the range contains the embedding */
    const exec_tensor_t *inputs;  /* the range's input values (any order) */
    int n_inputs;
    const float *hidden;    /* shortcut when the range has exactly one input value and inputs is NULL */
    int n_logits;           /* when the range contains the head: logits rows wanted (1..max_logits) */
} exec_batch_t;

typedef struct exec exec_t;

int exec_create(const model_t *m, const exec_params_t *p, exec_t **out, err_t *err);
/* Bytes of the executor's interleaved copies of weights (exec_params_t; 0 when none). */
size_t exec_il_bytes(const exec_t *e);
/* 1 if e keeps an interleaved copy of the weight tensor whose data starts at data. */
int exec_holds_copy(const exec_t *e, const void *data);
/* Frees e's interleaved copies; e may then only be destroyed or serve its KV cache
 * (the matrices' rows may be gone, exec_params_t release). */
void exec_drop_copies(exec_t *e);
void exec_destroy(exec_t **e);

/* Runs the range over one batch. Errors (bad ids, positions, sizes) change nothing. */
int exec_run(exec_t *e, const exec_batch_t *b, err_t *err);

/* The values the range needs from earlier units, and those it hands on. */
int exec_n_inputs(const exec_t *e);
int exec_input_value(const exec_t *e, int i);
int exec_n_outputs(const exec_t *e);
/* Output i after a run: its value id and data [n_tokens][width]. */
exec_tensor_t exec_output(const exec_t *e, int i);
/* The single output value's data after a run, or NULL when there is not exactly one. */
const float *exec_hidden(const exec_t *e);
/* After a run whose range contains the head: [n_logits][n_vocab]. */
const float *exec_logits(const exec_t *e);
/* 1 if the range contains the head (produces logits), 1 if it needs token ids. */
int exec_has_logits(const exec_t *e);
int exec_needs_tokens(const exec_t *e);

const graph_t *exec_graph(const exec_t *e);
const seg_t *exec_seg(const exec_t *e);

/* Forgets a sequence's cache. */
void exec_seq_clear(exec_t *e, int seq);

/* The KV cache this executor owns (exec/kv.h), for moving rows between
 * executors when a plan changes: the cache layer of graph node `node` (an
 * attention node in the range), or -1. */
kv_cache_t *exec_kv(exec_t *e);
int exec_kv_layer(const exec_t *e, int node);

const exec_params_t *exec_params(const exec_t *e);
const model_t *exec_model(const exec_t *e);
const char *exec_isa_name(const exec_t *e);

#endif
