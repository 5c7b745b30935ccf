/*
 * prepare.h — a switch whose new owners must first make weights resident
 * (DESIGN §7: "a move beyond the replicas maps the needed units first, while
 * the old plan keeps running, and switches only when the new owner is ready").
 *
 * coord_switch_when_ready compares each new stage's units with what its
 * worker holds warm now: its last deployment's stage, and its overlap replicas
 * (replicas.c) once it has said they are resident.  When every one is already held (a boundary move onto a
 * replica) it switches at once.  Otherwise it sends those workers a DEPLOY
 * flagged RING_DEPLOY_PREPARE (node/ring.h) naming the new stage, and the ring
 * goes on under the current epoch: each such worker fetches (without a model file) and hashes the
 * tensors it lacks beside its running stage and acknowledges.  coord_poll's
 * coord_prepare_check switches once all have acknowledged — the deployment
 * then loads nothing for the stages, and each worker's new replicas follow it
 * in the background (node/worker_weights.h) — or, after COORD_PREPARE_TIMEOUT_MS, anyway (the
 * deployment fetches what is missing, as without a prepare).  A worker that
 * cannot prepare (its limits cannot hold both stages at once) says why; its
 * deployment then does the work, as without a prepare.  A pending switch is
 * dropped when any other switch comes first (a device loss, a replay) or a
 * worker it waits for is lost; its done callback says so.
 *
 * One switch is pending at a time: the balancer, joins and forced switches
 * wait while coord_preparing.
 */
#ifndef LL_COORD_PREPARE_H
#define LL_COORD_PREPARE_H

#include <stdint.h>

#include "coord/coord.h"
#include "net/msg.h"
#include "util/err.h"

#define COORD_PREPARE_TIMEOUT_MS 600000

/* Called once per coord_switch_when_ready: switched = 1 when the ring moved to those stages, 0 when the
 * switch was dropped or failed. */
typedef void (*coord_switched_fn)(coord_t *c, void *user, int switched);

typedef struct {
    int active;
    uint64_t id;                              /* header.session of its PREPAREs */
    coord_stage_t stages[COORD_MAX_WORKERS];
    int n;
    char why[96];
    int64_t started_ms;
    unsigned char waiting[COORD_MAX_WORKERS]; /* PREPARE sent, not acknowledged */
    coord_switched_fn done;
    void *user;
} coord_prepare_t;

/* Switches to the stages now or once their workers are ready (above); done may be NULL.  With
 * opts.prepare off, exactly coord_switch.  Errors are those of sending (or of the immediate switch). */
int coord_switch_when_ready(coord_t *c, const coord_stage_t *stages, int n, const char *why, coord_switched_fn done,
                            void *user, err_t *err);
/* 1 while a switch waits for its workers. */
int coord_preparing(const coord_t *c);
/* From coord_poll: switches when every worker is ready (or the wait timed out); drops it when one is lost. */
int coord_prepare_check(coord_t *c, err_t *err);
/* A DEPLOY_ACK flagged RING_ACK_PREPARE from worker k: a PREPARE's (header.session = its id), or (session 0)
 * the news that the replicas of its deployment (the ack's epoch) are resident. */
void coord_prepare_on_ack(coord_t *c, int k, const msg_t *m);
/* Another switch comes first: the pending one is forgotten (its done callback told). */
void coord_prepare_drop(coord_t *c, const char *why);

#endif
