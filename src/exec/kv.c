/*
 * kv.c — allocation and bookkeeping of the KV cache (see kv.h).
 */
#include "exec/kv.h"

#include <stdlib.h>
#include <string.h>

size_t kv_bytes(int n_layer, int n_ctx, int n_seq, int kv_dim)
{
    return (size_t)2 * n_seq * n_layer * n_ctx * kv_dim * sizeof(uint16_t);
}

int kv_init(kv_cache_t *kv, int n_layer, int n_ctx, int n_seq, int kv_dim, err_t *err)
{
    memset(kv, 0, sizeof *kv);
    if (n_layer < 0 || n_ctx <= 0 || n_seq <= 0 || kv_dim <= 0)
        return err_set(err, ERR_INVAL, "kv cache: bad shape (layers %d, ctx %d, seqs %d, dim %d)",
                       n_layer, n_ctx, n_seq, kv_dim);
    size_t elems = (size_t)n_seq * n_layer * n_ctx * kv_dim;
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_seq = n_seq;
    kv->kv_dim = kv_dim;
    kv->len = calloc((size_t)n_seq, sizeof *kv->len);
    if (elems) {
        kv->k = calloc(elems, sizeof *kv->k);
        kv->v = calloc(elems, sizeof *kv->v);
    }
    if (!kv->len || (elems && (!kv->k || !kv->v))) {
        kv_fini(kv);
        return err_set(err, ERR_NOMEM, "kv cache: cannot allocate %zu bytes",
                       kv_bytes(n_layer, n_ctx, n_seq, kv_dim));
    }
    return 0;
}

void kv_fini(kv_cache_t *kv)
{
    free(kv->k);
    free(kv->v);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

int kv_check_write(const kv_cache_t *kv, int seq, int pos0, int n, err_t *err)
{
    if (seq < 0 || seq >= kv->n_seq)
        return err_set(err, ERR_RANGE, "sequence %d out of range (0..%d)", seq, kv->n_seq - 1);
    if (pos0 < 0 || n <= 0 || pos0 > kv->n_ctx - n)
        return err_set(err, ERR_RANGE, "positions %d..%d exceed the context of %d", pos0, pos0 + n - 1, kv->n_ctx);
    if (pos0 > kv->len[seq])
        return err_set(err, ERR_STATE, "sequence %d: position %d would leave a gap after %d filled positions",
                       seq, pos0, kv->len[seq]);
    return 0;
}

void kv_commit(kv_cache_t *kv, int seq, int pos0, int n)
{
    kv->len[seq] = pos0 + n;
}

void kv_clear_seq(kv_cache_t *kv, int seq)
{
    if (seq >= 0 && seq < kv->n_seq)
        kv->len[seq] = 0;
}
