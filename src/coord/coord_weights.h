/*
 * coord_weights.h — the coordinator's side of the weights: the manifest of
 * the model file (node/manifest.h), computed once with pread so the
 * coordinator's resident memory stays its metadata and tokenizer, and sent to
 * every worker that registers.  Hooks for coord.c.
 */
#ifndef LL_COORD_COORD_WEIGHTS_H
#define LL_COORD_COORD_WEIGHTS_H

#include "coord/coord_internal.h"

/* Hashes every tensor of the model file. */
int coord_weights_init(coord_t *c, err_t *err);
/* Sends worker i the MANIFEST. */
int coord_weights_welcome(coord_t *c, int worker, err_t *err);
void coord_weights_fini(coord_t *c);

#endif
