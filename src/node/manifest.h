/*
 * manifest.h — which tensors a stage needs, and their sizes and SHA-256s.
 *
 * A model's identity on the ring is the SHA-256 of its GGUF metadata (header,
 * key/values, tensor table: every name, shape, type and offset) — cheap to
 * compute and touching no weight.  Its content is the manifest: the size and
 * hash of every tensor, computed once by the coordinator reading the file with
 * pread (so the page cache, not its resident memory, holds what it reads).  A
 * worker checks only the tensors of its own units against it, so its resident
 * memory stays its stage's weights; a file whose metadata agrees but whose
 * weights differ is still caught, at the first tensor that differs.
 *
 * Ownership: a manifest_t owns its arrays (manifest_fini frees them).
 */
#ifndef LL_NODE_MANIFEST_H
#define LL_NODE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "model/seg.h"
#include "net/msg.h"
#include "util/err.h"

typedef struct {
    uint32_t n;                 /* tensors (the GGUF's count) */
    uint64_t *bytes;            /* [n] */
    uint8_t (*hash)[32];        /* [n] */
} manifest_t;

/* SHA-256 of the metadata bytes [0, data offset) of g. */
void manifest_model_id(const gguf_ctx_t *g, uint8_t id[32]);

/* Hashes every tensor of g by reading path with pread (g must be path's parse). */
int manifest_from_file(const char *path, const gguf_ctx_t *g, manifest_t *mf, err_t *err);

/* A MANIFEST message's entries, checked against g's tensor table (count, every
 * index once, sizes): ERR_PROTO naming the first disagreement. */
int manifest_from_msg(const msg_t *m, const gguf_ctx_t *g, manifest_t *mf, err_t *err);

/* The MANIFEST message of mf; data (MSG_MANIFEST_ENTRY * n bytes, caller's) is
 * borrowed by *m. */
void manifest_to_msg(const manifest_t *mf, uint8_t *data, msg_t *m);

void manifest_fini(manifest_t *mf);

/* The GGUF indices of the tensors the nodes of units [ub, ue) use (each once,
 * ascending) into idx[cap]; returns how many (or -1 when cap is too small). */
int manifest_stage_tensors(const seg_t *seg, const gguf_ctx_t *g, int ub, int ue, int *idx, int cap);

/* Hashes the listed tensors of g (from its mapping) and compares them with mf:
 * ERR_STATE naming the first tensor that differs. */
int manifest_verify(const manifest_t *mf, const gguf_ctx_t *g, const int *idx, int n, err_t *err);

#endif
