/*
 * kv.h — the key/value cache of the attention layers one executor owns.
 *
 * F16 storage (as llama.cpp's), laid out [seq][layer][pos][kv_dim] for K and
 * for V, allocated once for n_seq sequences of n_ctx positions.  Layers are
 * numbered locally (0 = the first attention layer of the executor's range).
 * The cache records how many positions of each sequence are filled; writers
 * may only append or overwrite (never leave a gap), which kv_check_write
 * enforces before any data moves.
 */
#ifndef LL_EXEC_KV_H
#define LL_EXEC_KV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    int n_layer;      /* local attention layers held */
    int n_ctx;        /* positions per sequence */
    int n_seq;        /* sequence slots */
    int kv_dim;       /* n_head_kv * head_dim */
    uint16_t *k;      /* [n_seq][n_layer][n_ctx][kv_dim] */
    uint16_t *v;      /* same */
    int *len;         /* [n_seq] filled positions */
} kv_cache_t;

int kv_init(kv_cache_t *kv, int n_layer, int n_ctx, int n_seq, int kv_dim, err_t *err);
void kv_fini(kv_cache_t *kv);

/* Bytes kv_init would allocate (for memory planning). */
size_t kv_bytes(int n_layer, int n_ctx, int n_seq, int kv_dim);

/* 0 if positions pos0..pos0+n-1 of seq may be written now, else ERR_RANGE/ERR_STATE with a message. */
int kv_check_write(const kv_cache_t *kv, int seq, int pos0, int n, err_t *err);
/* Marks seq as filled up to pos0+n (after a successful write). */
void kv_commit(kv_cache_t *kv, int seq, int pos0, int n);
/* Forgets a sequence (its slot may be reused from position 0). */
void kv_clear_seq(kv_cache_t *kv, int seq);

static inline uint16_t *kv_k_row(const kv_cache_t *kv, int seq, int layer, int pos)
{
    return kv->k + (((size_t)seq * kv->n_layer + layer) * kv->n_ctx + pos) * kv->kv_dim;
}

static inline uint16_t *kv_v_row(const kv_cache_t *kv, int seq, int layer, int pos)
{
    return kv->v + (((size_t)seq * kv->n_layer + layer) * kv->n_ctx + pos) * kv->kv_dim;
}

#endif
