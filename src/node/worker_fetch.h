/*
 * worker_fetch.h — a worker without a model file: it gets the model's metadata
 * and then exactly its stage's tensors from the coordinator, into a cache, and
 * reuses them on the next start without any transfer.  Owns the cache layout,
 * the request/chunk exchange on the control socket, resuming and progress.
 *
 * Cache (content-addressed by model identity, node/manifest.h):
 *   DIR/<64 hex of the model id>/model.gguf   the file, sparse: metadata and the
 *                                             tensors fetched so far at their offsets
 *   DIR/<id>/have                             one line per piece written: "T OFFSET"
 *                                             (tensor T has its bytes [0, OFFSET)),
 *                                             later lines win; "T done" once its
 *                                             SHA-256 checked out
 * A cache whose model.gguf does not open (e.g. truncated) is removed and fetched
 * again; a tensor whose hash differs is fetched again (at most FETCH_TRIES times).
 *
 * Exchange (conventions in node/ring.h): the worker's HELLO with RING_HELLO_FETCH
 * lists the ids it has cached; the coordinator announces its model (a
 * WEIGHTS_CHUNK for RING_WEIGHTS_METADATA with no data: total = metadata bytes,
 * hash = model id, header.session = file size).  Requests are WEIGHTS_CHUNKs
 * without data and with RING_WEIGHTS_REQUEST set, for [offset, offset + chunk);
 * each is answered by one chunk.  At most FETCH_WINDOW requests are in flight,
 * all for the tensor being fetched; a tensor's hash is checked as its last chunk
 * lands.
 *
 * Two ways to run a fetch, one engine: worker_fetch_tensors waits for it (a
 * DEPLOY that needs tensors the cache lacks), and worker_fetch_start only sends
 * the first requests and returns; the event loop then hands every WEIGHTS_CHUNK
 * to worker_fetch_on_chunk, which stores it and asks for the next, while the
 * worker goes on running its stage (a DEPLOY with RING_DEPLOY_PREPARE:
 * worker_weights.h).  One fetch runs at a time; one that ends early (stopped,
 * or failed) leaves answers on the way, which arrive before any later fetch's
 * (the control socket keeps order) and are absorbed by count.
 */
#ifndef LL_NODE_WORKER_FETCH_H
#define LL_NODE_WORKER_FETCH_H

#include "net/msg.h"
#include "util/err.h"

struct worker;

/* What a fetching worker keeps (inside worker_t). */
typedef struct {
    int on;                 /* running from a cache (no -m) */
    char dir[1024];         /* DIR/<id> */
    int file_fd, have_fd;   /* model.gguf (pwrite), have (append) */
    unsigned n;             /* tensors */
    unsigned long long *got;   /* [n] bytes present from the start */
    unsigned char *done;    /* [n] hash checked */
    unsigned long long shipped;  /* bytes received since start */
    double seconds;         /* spent receiving them */
    const char *what;       /* what the running fetch is for, in its progress lines ("stage", "replicas") */
    /* the running fetch (worker_fetch_start / worker_fetch_tensors) */
    int *queue;             /* [n] tensors still to fetch, in order */
    int n_queue, at;        /* queue[at] is being fetched */
    unsigned long long next;  /* the next offset of queue[at] to ask for */
    int inflight, tries;    /* requests unanswered; hash mismatches of queue[at] */
    int stale;              /* answers still to come for a fetch that ended (they come first, in order) */
    int active;             /* 1 while queue[at..] remains; answers may still come after it ends (inflight) */
    unsigned long long all, done_all;  /* bytes this fetch needs, and has */
    double t0, last_report;
} worker_fetch_t;

#define FETCH_CHUNK (1u << 20)
#define FETCH_WINDOW 4
#define FETCH_TRIES 3

/* The default cache directory ($XDG_CACHE_HOME/lingua or $HOME/.cache/lingua) into buf. */
int worker_cache_default(char *buf, unsigned cap, err_t *err);

/* Finds out the coordinator's model, opens it from the cache or fetches its
 * metadata, and loads it into w->m (the weights still absent). */
int worker_fetch_model(struct worker *w, err_t *err);

/* Fetches the listed tensors the cache lacks (hash checked against w->manifest); what names them in the
 * progress lines ("worker NAME: fetched X of Y MiB (what), ..."). */
int worker_fetch_tensors(struct worker *w, const int *idx, int n, const char *what, err_t *err);

/* Starts fetching the listed tensors the cache lacks and returns at once (requests sent); the answers go to
 * worker_fetch_on_chunk.  ERR_RANGE when the cache may not hold them (--cache-max). */
int worker_fetch_start(struct worker *w, const int *idx, int n, const char *what, err_t *err);
/* 1 while a fetch started by worker_fetch_start has tensors to come. */
int worker_fetch_busy(const struct worker *w);
/* A WEIGHTS_CHUNK the event loop received: stored, hash checked when a tensor is whole, the next requests sent.
 * An answer to a fetch already ended is absorbed; a chunk nobody asked for is ERR_PROTO; a failed fetch
 * (ERR_STATE: hashes kept mismatching, ERR_IO, ERR_PROTO: not the chunk asked for) ends, and says why. */
int worker_fetch_on_chunk(struct worker *w, const msg_t *m, err_t *err);
/* Ends the running fetch without waiting: it asks no more, its answers still on the way are absorbed, and a
 * later fetch goes on from the bytes stored so far. */
void worker_fetch_stop(struct worker *w);

/* 1 if the worker runs from a cache (no -m). */
int worker_fetching(const struct worker *w);

/* Forgets tensor t (its cached bytes failed their check): the next fetch gets it again. */
void worker_fetch_forget(struct worker *w, int t);

void worker_fetch_fini(struct worker *w);

#endif
