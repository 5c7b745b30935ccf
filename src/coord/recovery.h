/*
 * recovery.h — device loss (DESIGN §8) as a policy on the epoch switch.
 *
 * A worker is lost when its control connection closes (the ROUTER's monitor
 * reports it at once, matched to the worker by socket fd) or when it has been
 * silent for the liveness timeout.  A lost worker that was a stage of the ring
 * makes the coordinator re-plan on the survivors: with every survivor
 * profiled, the exact DP for the configured objective (trying each survivor as
 * the header, so the header's loss is survived too); otherwise the even split
 * by weight bytes over the survivors in ring order, checked against the memory
 * each offered in HELLO.  The new plan is deployed with coord_switch: every
 * session replays its history and continues with identical tokens.  When
 * nothing fits, every unfinished session is failed (done, failed) and
 * coord_poll returns the reason — never a hang.  A lost worker that says
 * HELLO again is registered anew (not lost); a ring worker whose process was
 * restarted before its loss was noticed triggers the same re-plan.
 */
#ifndef LL_COORD_RECOVERY_H
#define LL_COORD_RECOVERY_H

#include "coord/coord.h"
#include "util/err.h"

/* Plans the ring on the workers not lost (see above) without deploying it. */
int coord_survivor_stages(coord_t *c, coord_stage_t *stages, int *n, err_t *err);

/* 1 when the session failed (its ring could not be rebuilt). */
int coord_session_failed(const coord_t *c, uint64_t session);

/* Device losses noticed so far. */
int coord_n_losses(const coord_t *c);

#endif
