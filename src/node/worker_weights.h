/*
 * worker_weights.h — the weights a worker keeps resident: only its stage's and
 * the overlap replicas' beside it (DEPLOY's warm range, coord/replicas.c).
 * Owns the worker's copy of the coordinator's manifest (node/manifest.h),
 * the check of the stage's tensors against it at each deployment, and giving
 * back the pages of tensors the worker no longer runs (after profiling, which
 * touches one unit of each kind, and before a new deployment).  Hooks for
 * worker.c and worker_profile.c.
 */
#ifndef LL_NODE_WORKER_WEIGHTS_H
#define LL_NODE_WORKER_WEIGHTS_H

#include "net/msg.h"
#include "util/err.h"

struct worker;   /* worker_internal.h */

/* MANIFEST: keeps the tensor hashes (ERR_PROTO when they disagree with this model's tensor table). */
int worker_weights_manifest(struct worker *w, const msg_t *m, err_t *err);
/* DEPLOY: gives back the pages of tensors that leave the warm range (the stage and its replicas), then fetches
 * (without a model file) and hashes those that enter it against the manifest, which leaves them resident;
 * tensors verified at an earlier deployment and still in range are not touched (w->verified). */
int worker_weights_stage(struct worker *w, const msg_deploy_t *d, err_t *err);
/* Drops the model's mapped pages from this process (they are re-read from the file when used). */
void worker_weights_release(struct worker *w);
void worker_weights_fini(struct worker *w);

/* The memory this device offers the planner: what is free, capped by --mem-limit and --cache-max (a
 * worker cannot keep more weights than its cache holds). */
unsigned long long worker_offered_memory(const struct worker *w);

#endif
