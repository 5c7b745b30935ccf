/*
 * ring.c — helpers shared by worker and coordinator (see ring.h).
 */
#include "node/ring.h"

#include "util/sha256.h"

void ring_model_hash(const model_t *m, uint8_t hash[32])
{
    sha256(gguf_file_data(m->gguf), gguf_file_size(m->gguf), hash);
}
