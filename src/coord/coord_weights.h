/*
 * coord_weights.h — the coordinator's side of the weights: the manifest of
 * the model file (node/manifest.h), computed once with pread so the
 * coordinator's resident memory stays its metadata and tokenizer, and sent to
 * every worker that registers; and the weights service for workers without a
 * model file (node/worker_fetch.h: announcement, then one chunk per request,
 * with progress lines).  Hooks for coord.c.
 */
#ifndef LL_COORD_COORD_WEIGHTS_H
#define LL_COORD_COORD_WEIGHTS_H

#include "coord/coord_internal.h"

/* Hashes every tensor of the model file. */
int coord_weights_init(coord_t *c, err_t *err);
/* Sends worker i the MANIFEST. */
int coord_weights_welcome(coord_t *c, int worker, err_t *err);
void coord_weights_fini(coord_t *c);
/* A HELLO with RING_HELLO_FETCH: announces the model to the sender. */
int coord_weights_announce(coord_t *c, const msg_t *hello, err_t *err);
/* A weights request: answers it with one chunk. */
int coord_weights_serve(coord_t *c, const msg_t *m, err_t *err);

#endif
