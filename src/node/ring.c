/*
 * ring.c — helpers shared by worker and coordinator (see ring.h).
 */
#include "node/ring.h"

#include "node/manifest.h"

void ring_model_hash(const model_t *m, uint8_t hash[32])
{
    manifest_model_id(m->gguf, hash);
}
