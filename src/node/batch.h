/*
 * batch.h — the worker's step scheduler (continuous batching, DESIGN.md §12).
 *
 * At each step of the event loop the worker gathers the work of every ready
 * session into one executor run, so the stage reads its weights once for all
 * sequences in flight:
 *   header  the decode row of every session whose next token has arrived,
 *           first (never starved), then prompt chunks of at most `chunk`
 *           tokens per session while the step's token budget lasts (chunked
 *           prefill: a long prompt takes several steps, decode rows ride along);
 *   others  every batch whose inputs have all arrived (pending_t), a session's
 *           batches in position order, while the budget lasts.
 * After the run each session's rows go to their destinations as one
 * ACTIVATION per session and value (the existing message: a session's rows
 * are contiguous in the batch, so nothing is copied twice), and the tail
 * samples for every session whose rows end a prompt or are a decode step.
 * The budget is the executor's max_batch: chunk + n_seq rows, so one full
 * prompt chunk and every decode row fit in one step.  Sessions are visited
 * round-robin from a rotating start, so no session waits behind the others.
 * If the executor refuses a step's rows (it then changes nothing), each
 * session's rows are run alone, so one bad session costs only its own rows.
 *
 * Owns the step buffers in worker_t.step (allocated at deploy, nothing per step).
 */
#ifndef LL_NODE_BATCH_H
#define LL_NODE_BATCH_H

#include "node/worker_internal.h"
#include "util/err.h"

/* Rows of a stage's step budget for a deployment of n_seq slots and chunk-token prompt pieces. */
int worker_step_budget(int chunk, int n_seq);

/* Allocates the step buffers for the deployed executor (0, or ERR_NOMEM). */
int worker_step_init(worker_t *w, err_t *err);
void worker_step_fini(worker_t *w);

/* 1 if a step would find work now. */
int worker_step_ready(const worker_t *w);

/* 1 if the complete batches waiting already fill a step: the event loop then
 * leaves further data messages in the socket's queue (back-pressure) until
 * the step has run, so a fast upstream stage cannot overflow the pending slots. */
int worker_step_full(const worker_t *w);

/* A step's rows leave as one message per session and destination, all but
 * the last to each destination flagged RING_ACT_MORE (tokens: RING_TOKEN_MORE).
 * A receiver that starts a step at the first of them would split the sender's
 * batch in two (and every stage after it would too, the groups of sequences
 * fragmenting until each step is a row or two); instead the event loop holds
 * its next step until the burst's last message has come, or for at most
 * WORKER_MORE_WAIT_US after its first (a lost sender costs that once), or
 * until the pending rows fill a step.  Rows never wait on this for anything
 * but a burst already in flight, so one sequence alone is never delayed.
 * The header, for its part, takes at most ⌈generating sessions / stages⌉
 * decode rows per step (DEPLOY's n_stages), so the sequences circulate as one
 * group per stage and every stage computes while the others do. */
#define WORKER_MORE_WAIT_US 2000

/* Notes a received data message's MORE flag (or its absence). */
void worker_note_more(worker_t *w, const msg_t *m);

/* Microseconds the next step should still wait for an announced burst (0: run it now). */
int worker_step_wait_us(worker_t *w);

/* Gathers, runs and sends one step.  Returns 1 if it ran something, 0 if there
 * was nothing to do, negative ERR_* on failure (*err says what). */
int worker_step(worker_t *w, err_t *err);

#endif
