/*
 * epoch.h — the live ring's one mechanism: moving a running ring to a new plan
 * (device set, order, unit ranges) under a new epoch while sessions are in
 * flight, and the record of every epoch the ring went through.
 *
 * The rules (coordinator side, epoch.c, and worker side, node/worker.c):
 *  - Every data message (ACTIVATION, TOKEN) and every acknowledgement carries
 *    the epoch of the deployment that produced it.  A worker runs exactly one
 *    epoch at a time: DEPLOY(E) replaces its stage and forgets every session.
 *  - A worker drops data of an older epoch (stale: it was in flight when the
 *    plan changed; one log line per epoch with the count) and data of a newer
 *    epoch (it cannot be legitimate: the coordinator opens sessions under E
 *    only after every stage of E has acknowledged its DEPLOY(E), so such a
 *    message is forged or from a confused peer; logged each time).
 *  - The coordinator holds each session's history: the prompt and every token
 *    it has accepted.  It accepts a TOKEN only when its epoch is the epoch the
 *    session currently runs in; anything else is stale and dropped (counted).
 *  - A switch (coord_switch): every unfinished session crosses over at its
 *    next token boundary — the boundary after the last token the coordinator
 *    accepted before the switch began; from then on the old plan's tokens for
 *    it are stale.  The new stages are deployed (the old plan keeps running
 *    until each worker takes its DEPLOY; what it produces meanwhile is
 *    discarded), and each such session is reopened under the new epoch with that
 *    history as its prompt, the tokens still to generate, and its sampler
 *    advanced past the draws already made (a temperature draw takes exactly
 *    one number from the Weyl-sequence RNG, so the state is seed + n * step).
 *    The new header replays the history through the new stages as prompt
 *    batches, which rebuilds every stage's KV cache; because the executor is
 *    bit-identical however a prompt is split, the tokens that follow are
 *    exactly those of an uninterrupted run.  A token the old plan produced but
 *    the coordinator had not accepted is simply produced again, identically.
 *  - KV moves instead of a replay: when every worker of the old plan is alive
 *    and in the new one (a boundary move, a re-plan over the same devices),
 *    each DEPLOY also names, per unit leaving a worker, the endpoint of its new
 *    owner (routes with value_id MSG_VALUE_KV).  A session that has had a token
 *    accepted under the old epoch (so every old stage holds positions 0..H-2)
 *    is reopened with RING_OPEN_RESUME: each stage first copies the layers it
 *    keeps, sends the rows of the layers it gives up straight to their new
 *    owner (KV_CHUNK, the data path, never through the coordinator), and
 *    acknowledges once its own layers hold H-1 positions; the header is told to
 *    start last and feeds token H-1 at position H-1.  A resumed session that has
 *    not started within opts.kv_timeout_ms is replayed instead; a loss during
 *    the move is recovery's (recovery.h), which replays.
 *  - Nothing drains: in-flight work of the old epoch is discarded, not waited
 *    for, and no session restarts from its original prompt or loses a token.
 *  - A switch whose deploy fails (a worker died meanwhile) hands over to a
 *    re-plan on the survivors (recovery.h) rather than failing the run.
 *  - A switch decided by a policy (balancer, join, forced) that gives a worker
 *    units it does not hold warm is first prepared (coord/prepare.h): the old
 *    plan keeps running, under the old epoch, until those workers have made
 *    the units resident; only then does coord_switch run as above.
 *  - Workers left out of the new plan keep their old (now stale) stage; nothing
 *    of the new epoch is ever sent to them.
 * Limits: sampling whose logits are all -inf/NaN draws no number (samp.h); a
 * replay after such a step would sample from a shifted RNG.  Models with
 * finite logits are unaffected.
 */
#ifndef LL_COORD_EPOCH_H
#define LL_COORD_EPOCH_H

#include <stdint.h>

#include "coord/coord.h"
#include "util/err.h"

#define COORD_EPOCH_STAGES 16

/* One deployment the ring went through. */
typedef struct {
    uint32_t epoch;
    double at_s;                 /* seconds since coord_create */
    double at_unix_ms;           /* the same as wall-clock time (to place it among logged tokens) */
    uint64_t at_tokens;          /* tokens accepted before it, all sessions together */
    char why[96];                /* "initial plan", "forced switch", "worker w2 lost: ...", "balance: ..." */
    int n_stages;
    coord_stage_t stages[COORD_EPOCH_STAGES];
    int sessions;                /* sessions that crossed over (replayed) */
    uint64_t replayed_tokens;    /* history tokens they replay */
    double switch_ms;            /* deploy + reopen, as the coordinator saw it */
    double prepare_ms;           /* from the decision until the new owners held their weights (prepare.h); the old
                                    plan ran meanwhile; 0: nothing to prepare */
    int kv_moved;                /* 1: KV rows moved worker to worker; 0: the sessions replayed */
    uint64_t kv_bytes;           /* KV bytes that changed owner */
} coord_epoch_info_t;

/* Moves the ring to new stages (rules above).  why names the reason in the
 * epoch record (and the -v log).  Waits at most timeout_ms for the deploy
 * acknowledgements; the reopened sessions then go on through coord_poll. */
int coord_switch(coord_t *c, const coord_stage_t *stages, int n, const char *why, int timeout_ms, err_t *err);

/* Epochs deployed so far (the last COORD_MAX_EPOCHS kept; index 0 is the oldest kept). */
int coord_n_epochs(const coord_t *c);
const coord_epoch_info_t *coord_epoch_info(const coord_t *c, int i);
/* Stale messages (old epoch) the coordinator dropped. */
uint64_t coord_stale(const coord_t *c);

/* A random valid plan over the workers not lost (tests: forced switches): a
 * random subset in random order, random non-empty contiguous ranges. */
int coord_random_stages(const coord_t *c, uint64_t *rng, coord_stage_t *stages, int *n, err_t *err);

/* 1 when the worker is registered and not lost. */
int coord_worker_alive(const coord_t *c, int worker);

#endif
