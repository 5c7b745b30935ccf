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
 * each is answered by one chunk.  At most FETCH_WINDOW requests are in flight.
 */
#ifndef LL_NODE_WORKER_FETCH_H
#define LL_NODE_WORKER_FETCH_H

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

/* 1 if the worker runs from a cache (no -m). */
int worker_fetching(const struct worker *w);

/* Forgets tensor t (its cached bytes failed their check): the next fetch gets it again. */
void worker_fetch_forget(struct worker *w, int t);

void worker_fetch_fini(struct worker *w);

#endif
