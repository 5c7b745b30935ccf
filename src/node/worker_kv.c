/*
 * worker_kv.c — KV caches that follow their units when a switch moves them
 * between live workers (coord/epoch.h, "KV moves").
 *
 * On a DEPLOY the previous executor is kept as ex_old (with the session ids of
 * its slots) instead of being destroyed.  Attention layers the worker keeps
 * are copied into the new executor at once; layers that go to another worker
 * are named by the DEPLOY's KV routes (value_id MSG_VALUE_KV, to_unit = the
 * unit, endpoint = its new owner).  When the coordinator reopens a session
 * with RING_OPEN_RESUME and a history of H tokens, the worker sends the rows
 * of positions 0..H-2 of each such layer straight to the new owner as
 * KV_CHUNKs (the data path; at most KV_CHUNK_POS positions each), and checks
 * its own new range: every attention layer must hold H-1 positions, either
 * kept or received.  Only then does it acknowledge the open (the header then
 * feeds token H-1 at position H-1, as if nothing had happened).  Chunks may
 * arrive before the open; they are written into the slot straight away and
 * counted per layer (in order, from position 0).  Bad chunks — another epoch,
 * a slot or layer this stage does not hold, a wrong kv_dim, positions out of
 * order or beyond the context — are dropped with a log line; the coordinator
 * falls back to a replay if a transfer never completes.  ex_old is freed once
 * every old session has been handed over or replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ring.h"
#include "node/worker_internal.h"

#define KV_CHUNK_POS 64

static void kv_buf_free(void *data, void *hint)
{
    (void)hint;
    free(data);
}

void worker_kv_free_old(worker_t *w)
{
    exec_destroy(&w->ex_old);
    free(w->old_ids);
    w->old_ids = NULL;
    w->old_n_seq = 0;
    w->old_pending = 0;
    w->n_kv_routes = 0;
}

void worker_kv_fini(worker_t *w)
{
    worker_kv_free_old(w);
    free(w->kv_sess);
    free(w->kv_have);
    free(w->kv_kept);
    w->kv_sess = NULL;
    w->kv_have = NULL;
    w->kv_kept = NULL;
}

int worker_kv_keep_old(worker_t *w, uint32_t new_epoch)
{
    worker_kv_free_old(w);
    if (!w->ex || !w->sess || w->epoch + 1 != new_epoch)
        return 0;   /* only the stage of the epoch just before the new one can hand over */
    w->old_ids = calloc((size_t)w->n_seq, sizeof *w->old_ids);
    if (!w->old_ids)
        return -1;
    w->old_n_seq = w->n_seq;
    for (int s = 0; s < w->n_seq; s++)
        if (w->sess[s].active) {
            w->old_ids[s] = w->sess[s].id;
            w->old_pending++;
        }
    w->ex_old = w->ex;
    w->ex = NULL;
    return 0;
}

int worker_kv_deploy(worker_t *w, const msg_deploy_t *d, err_t *err)
{
    kv_cache_t *kv = exec_kv(w->ex);
    free(w->kv_sess);
    free(w->kv_have);
    free(w->kv_kept);
    w->kv_sess = calloc((size_t)w->n_seq, sizeof *w->kv_sess);
    w->kv_have = calloc((size_t)w->n_seq * (size_t)(kv->n_layer ? kv->n_layer : 1), sizeof *w->kv_have);
    w->kv_kept = calloc((size_t)(kv->n_layer ? kv->n_layer : 1), 1);
    if (!w->kv_sess || !w->kv_have || !w->kv_kept)
        return err_set(err, ERR_NOMEM, "out of memory for KV move bookkeeping");
    w->n_kv_routes = 0;
    for (uint32_t r = 0; r < d->n_routes; r++)
        if (d->routes[r].value_id == MSG_VALUE_KV) {
            if ((int)d->routes[r].to_unit >= w->seg->n_units)
                return err_set(err, ERR_RANGE, "KV route for unit %u: the model has %d units", d->routes[r].to_unit,
                               w->seg->n_units);
            w->kv_route_unit[w->n_kv_routes] = (int)d->routes[r].to_unit;
            w->kv_route_push[w->n_kv_routes++] = w->route_push[r];
        }
    if (!w->ex_old)
        return 0;
    /* Layers this worker keeps: copy every old session's rows now. */
    kv_cache_t *old = exec_kv(w->ex_old);
    int n_slots = w->old_n_seq < w->n_seq ? w->old_n_seq : w->n_seq;
    for (int node = 0; node < w->g->n_nodes; node++) {
        int lo = exec_kv_layer(w->ex_old, node), ln = exec_kv_layer(w->ex, node);
        if (lo < 0 || ln < 0 || old->kv_dim != kv->kv_dim || old->n_ctx != kv->n_ctx)
            continue;
        w->kv_kept[ln] = 1;
        for (int s = 0; s < n_slots; s++) {
            if (!w->old_ids[s])
                continue;
            size_t bytes = (size_t)old->len[s] * (size_t)kv->kv_dim * sizeof(uint16_t);
            memcpy(kv_k_row(kv, s, ln, 0), kv_k_row(old, s, lo, 0), bytes);
            memcpy(kv_v_row(kv, s, ln, 0), kv_v_row(old, s, lo, 0), bytes);
            w->kv_sess[s] = w->old_ids[s];
            w->kv_have[(size_t)s * kv->n_layer + ln] = (uint32_t)old->len[s];
        }
    }
    if (w->n_kv_routes == 0)
        worker_kv_free_old(w);   /* nothing to hand over */
    return 0;
}

/* Sends positions 0..n-1 of slot s of every attention layer of the KV routes. */
static int send_rows(worker_t *w, int s, uint64_t session, uint32_t n, err_t *err)
{
    kv_cache_t *old = exec_kv(w->ex_old);
    if ((int)n > old->len[s])
        return err_set(err, ERR_STATE, "session %llu: %u positions to hand over, the old stage holds %d",
                       (unsigned long long)session, n, old->len[s]);
    for (int r = 0; r < w->n_kv_routes; r++) {
        const seg_unit_t *u = &w->seg->units[w->kv_route_unit[r]];
        for (int node = u->node_begin; node < u->node_end; node++) {
            int layer = exec_kv_layer(w->ex_old, node);
            if (layer < 0)
                continue;
            for (uint32_t p0 = 0; p0 < n; p0 += KV_CHUNK_POS) {
                uint32_t np = n - p0 < KV_CHUNK_POS ? n - p0 : KV_CHUNK_POS;
                size_t half = (size_t)np * (size_t)old->kv_dim * sizeof(uint16_t);
                uint8_t *buf = malloc(2 * half);
                if (!buf)
                    return err_set(err, ERR_NOMEM, "out of memory for a KV chunk");
                memcpy(buf, kv_k_row(old, s, layer, (int)p0), half);
                memcpy(buf + half, kv_v_row(old, s, layer, (int)p0), half);
                msg_t m;
                msg_init(&m, MSG_KV_CHUNK);
                m.epoch = w->epoch;
                m.session = session;
                m.kv = (msg_kv_chunk_t){.seq_slot = (uint32_t)s, .node = (uint32_t)node, .pos0 = p0, .n_pos = np,
                                        .kv_dim = (uint32_t)old->kv_dim, .total = n};
                m.data = buf;
                m.data_len = 2 * half;
                int rc = link_send(&w->link, w->push[w->kv_route_push[r]], &m, kv_buf_free, NULL, err);
                if (rc)
                    return rc;
                w->kv_sent_bytes += 2 * half;
            }
        }
    }
    return 0;
}

/* 1 when every attention layer of the new range holds n positions of slot s for session. */
static int complete(const worker_t *w, int s, uint64_t session, uint32_t n)
{
    const kv_cache_t *kv = exec_kv(w->ex);
    if (kv->n_layer == 0)
        return 1;
    if (w->kv_sess[s] != session)
        return 0;
    for (int l = 0; l < kv->n_layer; l++)
        if (w->kv_have[(size_t)s * kv->n_layer + l] < n)
            return 0;
    return 1;
}

int worker_kv_resume(worker_t *w, int s, uint64_t session, uint32_t n_hist, err_t *err)
{
    (void)err;
    const uint32_t n = n_hist - 1;   /* positions before the last token, which the header feeds again */
    if (w->ex_old && s < w->old_n_seq && w->old_ids[s] == session) {
        err_t why;
        if (send_rows(w, s, session, n, &why))   /* the new owner waits; the coordinator replays after its timeout */
            worker_log(w, "cannot hand over KV rows: ", why.msg);
        w->old_ids[s] = 0;
        if (--w->old_pending <= 0)
            worker_kv_free_old(w);
    }
    if (!complete(w, s, session, n))
        return 1;
    exec_kv(w->ex)->len[s] = (int)n;
    return 0;
}

void worker_kv_forget_old(worker_t *w, int s)
{
    if (w->ex_old && s < w->old_n_seq && w->old_ids[s]) {
        w->old_ids[s] = 0;
        if (--w->old_pending <= 0)
            worker_kv_free_old(w);
    }
    if (w->kv_sess && s < w->n_seq)
        w->kv_sess[s] = 0;
}

int worker_kv_chunk(worker_t *w, const msg_t *m, int *ready_slot, err_t *err)
{
    const msg_kv_chunk_t *k = &m->kv;
    *ready_slot = -1;
    if (!w->ex)
        return err_set(err, ERR_STATE, "KV_CHUNK before DEPLOY");
    int stale = worker_check_epoch(w, m, err);
    if (stale)
        return stale > 0 ? 0 : stale;
    kv_cache_t *kv = exec_kv(w->ex);
    int layer = exec_kv_layer(w->ex, (int)k->node);
    if ((int)k->seq_slot >= w->n_seq)
        return err_set(err, ERR_RANGE, "KV_CHUNK for slot %u: this stage has %d slots", k->seq_slot, w->n_seq);
    if (layer < 0)
        return err_set(err, ERR_STATE, "KV_CHUNK for node %u: not an attention layer of units %u-%u", k->node,
                       w->dep.unit_begin, w->dep.unit_end);
    if ((int)k->kv_dim != kv->kv_dim)
        return err_set(err, ERR_PROTO, "KV_CHUNK of kv_dim %u: this model's is %d", k->kv_dim, kv->kv_dim);
    if (k->total > (uint32_t)kv->n_ctx)
        return err_set(err, ERR_RANGE, "KV_CHUNK for %u positions: the context holds %d", k->total, kv->n_ctx);
    const int s = (int)k->seq_slot;
    if (w->kv_sess[s] != m->session) {   /* the first chunk of this session's move */
        if (w->sess[s].active && w->sess[s].id != m->session)
            return err_set(err, ERR_STATE, "KV_CHUNK for session %llu: slot %d runs session %llu",
                           (unsigned long long)m->session, s, (unsigned long long)w->sess[s].id);
        w->kv_sess[s] = m->session;
        memset(&w->kv_have[(size_t)s * kv->n_layer], 0, (size_t)kv->n_layer * sizeof *w->kv_have);
    }
    uint32_t *have = &w->kv_have[(size_t)s * kv->n_layer + layer];
    if (k->pos0 != *have)
        return err_set(err, ERR_PROTO, "KV_CHUNK for session %llu layer node %u at position %u: expected %u",
                       (unsigned long long)m->session, k->node, k->pos0, *have);
    size_t half = (size_t)k->n_pos * (size_t)kv->kv_dim * sizeof(uint16_t);
    memcpy(kv_k_row(kv, s, layer, (int)k->pos0), m->data, half);
    memcpy(kv_v_row(kv, s, layer, (int)k->pos0), (const uint8_t *)m->data + half, half);
    *have += k->n_pos;
    w->kv_recv_bytes += 2 * half;
    wsession_t *ws = &w->sess[s];
    if (ws->active && ws->kv_wait && ws->id == m->session && complete(w, s, m->session, ws->kv_need)) {
        ws->kv_wait = 0;
        kv->len[s] = (int)ws->kv_need;
        *ready_slot = s;
    }
    return 0;
}
