/*
 * worker_weights.h — the weights a worker keeps resident: only its stage's and
 * the overlap replicas' beside it (DEPLOY's warm range, coord/replicas.c).
 * Owns the worker's copy of the coordinator's manifest (node/manifest.h),
 * the check of the stage's tensors against it at each deployment, and giving
 * back the pages of tensors the worker no longer runs (after profiling, which
 * touches one unit of each kind, and before a new deployment), and preparing
 * the next deployment's weights while the current stage runs.  Hooks for
 * worker.c and worker_profile.c.
 */
#ifndef LL_NODE_WORKER_WEIGHTS_H
#define LL_NODE_WORKER_WEIGHTS_H

#include "net/msg.h"
#include "util/err.h"

struct worker;   /* worker_internal.h */

/* What the worker knows of each tensor (worker_t.verified[t]). */
#define WEIGHTS_UNCHECKED 0   /* not hashed since its pages were last given back */
#define WEIGHTS_CHECKED 1     /* hashed against the manifest; its pages resident since */
#define WEIGHTS_COPIED 2      /* hashed, then copied by the executor (exec_params_t release), whose copy is what runs:
                                 the file's pages are gone.  Kept across a deployment whose executor adopts the copy
                                 from the previous one (exec_params_t adopt_from), so such a move re-hashes nothing */

/* Tensors being made resident beside the running stage: a PREPARE's (worker_weights_prepare), or a
 * deployment's overlap replicas (worker_weights_stage). */
typedef struct {
    int active;
    int ack;                /* a PREPARE: acknowledged when done */
    const char *what;       /* "prepare" or "replicas", in the log */
    uint64_t id;            /* the PREPARE's header.session, echoed in its acknowledgement */
    uint32_t begin, end;    /* the warm range being made resident */
    int *idx;               /* [n] its tensors not yet verified when it began */
    int n, at;              /* idx[at] is the next to verify */
    uint64_t bytes;         /* of those tensors */
    double t0;
} worker_prepare_t;

/* MANIFEST: keeps the tensor hashes (ERR_PROTO when they disagree with this model's tensor table). */
int worker_weights_manifest(struct worker *w, const msg_t *m, err_t *err);
/* DEPLOY: gives back the pages of tensors that leave the warm range (the stage and its replicas), then fetches
 * (without a model file) and hashes the stage's that enter it against the manifest, which leaves them resident;
 * the replicas' follow in the background as a PREPARE's do (below; acknowledged alike with header.session 0, the
 * coordinator then counts them as held); tensors verified
 * at an earlier deployment or by a PREPARE and still in range are not touched (w->verified). */
int worker_weights_stage(struct worker *w, const msg_deploy_t *d, err_t *err);
/* DEPLOY with RING_DEPLOY_PREPARE — the deployment that will come: makes its warm range's tensors resident
 * while the current stage keeps running: fetched in the background (a worker without a model file; the chunks
 * reach worker_weights_on_chunk from the event loop), then hashed against the manifest one tensor per
 * worker_weights_prepare_tick.  Acknowledged with a DEPLOY_ACK (RING_ACK_PREPARE, header.session = the
 * PREPARE's) once all are, or with the reason it cannot be (e.g. the current and the next stage's weights
 * together exceed --cache-max or --mem-limit).  The DEPLOY that follows then fetches and hashes nothing; a
 * DEPLOY or PREPARE that comes first ends it (the fetch keeps what it got). */
int worker_weights_prepare(struct worker *w, const msg_t *m, err_t *err);
/* The prepare's next step from the event loop (at most one tensor hashed): 1 while it has work it can do now,
 * 0 when it has none (or waits for chunks), negative ERR_* when its acknowledgement could not be sent. */
int worker_weights_prepare_tick(struct worker *w, err_t *err);
/* A WEIGHTS_CHUNK received by the event loop: the prepare's fetch. */
int worker_weights_on_chunk(struct worker *w, const msg_t *m, err_t *err);

/* The executor's release hook (exec_params_t): it copied [p, p + n) of a stage tensor into its own layout and
 * will not read it again, so those pages of a file mapping are dropped and a checked tensor becomes
 * WEIGHTS_COPIED (a later deployment whose executor cannot adopt the copy hashes it again).  ctx is the worker. */
void worker_weights_copied(void *ctx, const void *p, size_t n);
/* Drops the model's mapped pages from this process (they are re-read from the file when used). */
void worker_weights_release(struct worker *w);
void worker_weights_fini(struct worker *w);

/* The memory this device offers the planner: what is free, capped by --mem-limit and --cache-max (a
 * worker cannot keep more weights than its cache holds). */
unsigned long long worker_offered_memory(const struct worker *w);

#endif
