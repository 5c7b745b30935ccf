/*
 * coord.h — the coordinator: registers workers, deploys stages, runs sessions.
 *
 * It binds a ROUTER; workers connect DEALERs and say HELLO.  coord_deploy gives
 * each worker of the ring a unit range (empty ranges leave a worker out) and
 * its routes — derived from the segmentation's maps: each value a stage
 * produces goes straight to every later stage that consumes it (SDM and RDM
 * alike), and the tail's tokens go to the header.  Sessions: coord_session_start
 * picks a free sequence slot, opens it on every stage (the header last, once
 * the others have acknowledged, so no stage sees data for a session it does not
 * know), and the tokens then stream back from the tail; coord_poll delivers
 * them to the session's callback.  Many sessions may be in flight at once.
 * Every wait has a deadline, and a worker silent past the liveness timeout (or
 * whose connection closed) is lost: with opts.recover the ring moves to a plan
 * on the survivors and every session replays (epoch.h, recovery.h); without,
 * or when nothing fits, coord_poll returns the error (never a hang).  A worker whose model file differs
 * (content hash) is told so and left out; malformed messages are counted,
 * logged and dropped.
 */
#ifndef LL_COORD_COORD_H
#define LL_COORD_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "coord/split.h"
#include "model/model.h"
#include "model/samp.h"
#include "model/seg.h"
#include "model/tok.h"
#include "net/security.h"
#include "util/err.h"

#define COORD_MAX_WORKERS 64
#define COORD_PROFILE_MAX_BATCHES 8   /* batch sizes one coord_profile times (coord_plan.h) */

typedef struct {
    const char *bind;          /* ROUTER endpoint, e.g. tcp://127.0.0.1:* */
    const char *model_path;
    int n_ctx;                 /* per sequence */
    int n_seq;                 /* sequences in flight at most */
    int threads;               /* per worker */
    int heartbeat_ms;
    int liveness_ms;           /* a worker silent this long is lost (a closed connection is noticed at once) */
    int objective;             /* of re-plans (0 latency, 1 throughput; plan.h's plan_objective_t) */
    int verbose;               /* log epoch switches and their reasons to stderr */
    int switch_every;          /* tests: every this many accepted tokens, switch to a random valid plan (epoch.h) */
    uint64_t switch_seed;
    const char *switch_to;     /* tests/benchmarks: "A-B,C-D,...;E-F,..." the plans of the forced switches, in turn
                                  (ranges per worker as coord_deploy), instead of random ones */
    int kv_move;               /* a switch between live workers moves KV rows worker to worker (else: replay) */
    int replica_units;         /* overlap replicas: units on each side of a stage its worker keeps warm (replicas.c) */
    int prepare;               /* a switch that gives workers units they do not hold warm waits, the ring running,
                                  until they have made them resident (coord/prepare.h); 0: they load at the DEPLOY */
    int kv_timeout_ms;         /* a resumed session not started by then is replayed */
    double join_margin;        /* a worker joining the running ring is planned in when it gains this (relative) */
    int recover;               /* a lost worker: re-plan on the survivors and replay (recovery.h); 0: fail */
    int act_f16;               /* activations travel as F16 (not bit-identical to one device) */
    const sec_keypair_t *curve;  /* CURVE key pair (borrowed; coord/coord_secure.h); NULL: plaintext */
    const sec_allow_t *allow;    /* with curve: the workers admitted (borrowed) */
    const char *corrupt_tensor;  /* emulate a faulty link: flip a byte of the first chunk of this tensor served */
} coord_opts_t;

void coord_opts_default(coord_opts_t *o);

typedef struct coord coord_t;

/* on_token(user, session, id, final) for every sampled token; logits of the
 * final token are available from coord_session_logits when asked for. */
typedef void (*coord_token_fn)(void *user, uint64_t session, int32_t id, int final);

int coord_create(const coord_opts_t *o, coord_t **out, err_t *err);
void coord_destroy(coord_t **c);

const char *coord_endpoint(const coord_t *c);       /* the bound ROUTER endpoint */
const model_t *coord_model(const coord_t *c);
const tok_t *coord_tok(const coord_t *c);
const seg_t *coord_seg(const coord_t *c);

/* Waits until n workers have said HELLO (ERR_TIMEOUT after timeout_ms); before
 * the first deployment the workers are then ordered by name.  check(user)
 * is called while waiting; a non-zero return aborts with that code (e.g. a local
 * worker process died). */
int coord_wait_workers(coord_t *c, int n, int timeout_ms, int (*check)(void *user, err_t *err), void *user,
                       err_t *err);
int coord_n_workers(const coord_t *c);
const char *coord_worker_name(const coord_t *c, int i);
const char *coord_worker_endpoint(const coord_t *c, int i);   /* its data (PULL) endpoint */
/* Malformed messages received and dropped so far. */
uint64_t coord_dropped(const coord_t *c);

/* Deploys ranges[i] to worker i (ring order = worker order; empty ranges skip
 * the worker).  The ranges must cover all units in order.  Waits for every
 * acknowledgement. */
int coord_deploy(coord_t *c, const unit_range_t *ranges, int n, int timeout_ms, err_t *err);

/* One stage of a ring in ring order: worker index and its units [begin, end). */
typedef struct {
    int worker;
    int begin, end;
} coord_stage_t;

/* Deploys the stages in ring order (the first holds unit 0 and is the header). */
int coord_deploy_stages(coord_t *c, const coord_stage_t *stages, int n, int timeout_ms, err_t *err);

/* Starts a session; tokens arrive through coord_poll.  ERR_STATE when every slot is busy. */
int coord_session_start(coord_t *c, const int32_t *prompt, size_t n_prompt, int n_predict,
                        const samp_params_t *sp, int want_logits, coord_token_fn fn, void *user,
                        uint64_t *session, err_t *err);
/* Handles messages for up to timeout_ms (returns after the first batch of work). */
int coord_poll(coord_t *c, int timeout_ms, err_t *err);
/* 1 once the session's final token has arrived. */
int coord_session_done(const coord_t *c, uint64_t session);
/* The final logits of a session started with want_logits (n_vocab floats), or NULL. */
const float *coord_session_logits(const coord_t *c, uint64_t session);
/* Frees the session's slot.  Before the session is done this cancels it: the
 * stages are told to drop it, and its tokens still in flight are ignored. */
void coord_session_release(coord_t *c, uint64_t session);
int coord_sessions_free(const coord_t *c);

/* A stage of the deployed ring and its measured single-token step times. */
typedef struct {
    int worker;
    const char *name;
    int unit_begin, unit_end;
    uint64_t steps;          /* decode steps measured since the deployment (every row a decode row) */
    double rows;             /* mean rows (sequences) per decode step */
    double compute_ms;       /* mean time per token running its units: step time / rows (slowdown included) */
    double send_ms;          /* mean time per token handing its outputs to the transport */
} coord_stage_info_t;

int coord_n_stages(const coord_t *c);
int coord_stage_info(const coord_t *c, int stage, coord_stage_info_t *info);

/* For status reports (the HTTP service): the context and slots sessions get,
 * the deployment epoch, and the free memory worker i reported in its HELLO. */
int coord_n_ctx(const coord_t *c);
int coord_n_seq(const coord_t *c);
uint32_t coord_epoch(const coord_t *c);
uint64_t coord_worker_free_mem(const coord_t *c, int i);

/* Tells every worker to leave. */
void coord_shutdown(coord_t *c);

#endif
