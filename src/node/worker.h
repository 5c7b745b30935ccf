/*
 * worker.h — the `lingua worker` daemon: one device of the ring.
 *
 * It connects a DEALER to the coordinator and binds a PULL for data from its
 * ring neighbours, says HELLO (free memory, cores, CPU features, data
 * endpoint, the hash of the model file it holds), then serves:
 *   DEPLOY        build an executor over the assigned unit range of its own
 *                 copy of the model (verified by content hash), connect one
 *                 PUSH per destination of its routes, acknowledge;
 *   SESSION_OPEN  clear the sequence slot; the tail makes the session's
 *                 sampler; the header takes the prompt and starts it;
 *   ACTIVATION    hold the rows until every input value of the batch is there;
 *                 at the next step run them, with every other ready session's
 *                 rows, in one pass of the range (batch.h), and push each
 *                 session's outputs straight to its consumer stage(s); the
 *                 tail samples and sends the TOKEN to the header and the
 *                 coordinator;
 *   TOKEN         (header) feed the sampled id as the next step;
 *   KV_CHUNK      KV rows of a layer that moved here in an epoch switch
 *                 (worker_kv.c); a SESSION_OPEN with RING_OPEN_RESUME is
 *                 acknowledged once its rows are all here;
 *   SHUTDOWN      leave.
 * Data of an older epoch is dropped (stale), of a newer one too, with a log
 * line (worker_epoch.c; the rules are in coord/epoch.h).
 * The header feeds prompts in chunks of at most `chunk` tokens per session and
 * step, beside the decode rows of every generating session (chunked prefill),
 * so a long prompt never stalls the ring.  A
 * malformed or unexpected message is counted, logged with its sender and
 * dropped.  Each stage reports its measured step times (STAGE_TIMES) to the
 * coordinator.  For emulated clusters a worker can be slowed (--slowdown: it
 * sleeps so each step takes F times as long, leaving the core free) and its
 * link shaped (--link-latency, --link-bandwidth: what it sends on the data path
 * is held back by the latency plus its size over the bandwidth, serialised as
 * on one link, without blocking its compute), and the memory it offers capped.  Every wait has a timeout; a coordinator silent for timeout_ms ends
 * the worker with an error.
 */
#ifndef LL_NODE_WORKER_H
#define LL_NODE_WORKER_H

#include <signal.h>

#include "net/security.h"
#include "tensor/kern.h"
#include "util/err.h"

typedef struct {
    const char *coordinator;    /* tcp://HOST:PORT */
    const char *listen;         /* data endpoint to bind, e.g. tcp://127.0.0.1:* */
    const char *model_path;     /* this device's copy of the model */
    const char *name;           /* device name (routing id) */
    int threads;
    kern_isa_t isa;
    int chunk;                  /* prompt tokens per batch */
    int heartbeat_ms;
    int timeout_ms;             /* coordinator silence before giving up */
    int verbose;
    /* emulating a slower device or link on one machine (DESIGN §11) */
    double slowdown;            /* >= 1: every step takes this many times as long (the extra is slept) */
    int slowdown_step;          /* ... from this decode step on (0: from the start) */
    double link_latency_ms;     /* added to everything sent on the data path */
    double link_mbit;           /* > 0: data-path sends are serialised at this many Mbit/s */
    double mem_limit_mb;        /* > 0: memory offered in HELLO is capped at this */
    /* CURVE (node/worker_secure.h): NULL curve = plaintext */
    const sec_keypair_t *curve;        /* this device's key pair (borrowed) */
    const uint8_t *coordinator_key;    /* the coordinator's public key, 32 bytes, with curve */
    /* no model_path: the weights come from the coordinator into this cache (node/worker_fetch.h) */
    const char *cache_dir;
    double cache_max_mb;               /* > 0: the cache may hold at most this (also caps the memory offered) */
} worker_opts_t;

void worker_opts_default(worker_opts_t *o);

/* Runs until SHUTDOWN (returns 0), *stop becomes non-zero (returns 0), or an
 * error (the coordinator unreachable or silent, a socket failure). */
int worker_main(const worker_opts_t *o, volatile sig_atomic_t *stop, err_t *err);

#endif
