/*
 * worker_profile.c — what a worker measures when the coordinator asks
 * (PROFILE_REQ): its time per token for every unit (plan/profile.h, with its
 * emulated slowdown applied as when serving) and, for each peer, the one-way
 * latency (half the median round trip of small probes) and the bandwidth
 * (both directions carry the extra bytes of a large probe), measured with
 * PROBE messages over the real transport and through its emulated link.
 * While it waits for an echo it answers other workers' probes too.  A request
 * with no peers times the units only; one with batch 0 probes the links only
 * (the coordinator times every worker's units at once, then its links one
 * worker at a time: coord_plan.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/worker_internal.h"
#include "plan/profile.h"
#include "util/stats.h"


/* Sends a probe of n bytes through the (possibly shaped) link. */
static int send_probe(worker_t *w, int sock, uint64_t id, int echo, const char *reply, size_t n, err_t *err)
{
    sendbuf_t *sb = worker_sendbuf_take(w, n);
    if (!sb)
        return err_set(err, ERR_RANGE, "no send buffer for a probe of %zu bytes", n);
    memset(sb->buf, 0x5a, n);
    msg_t m;
    msg_init(&m, MSG_PROBE);
    m.probe.id = id;
    m.probe.echo = echo;
    if (reply)
        snprintf(m.probe.reply, sizeof m.probe.reply, "%s", reply);
    m.data = sb->buf;
    m.data_len = n;
    return worker_shaped_send(w, w->push[sock], &m, sb, err);
}

int worker_handle_probe(worker_t *w, const msg_t *m, err_t *err)
{
    if (!m->probe.echo) {
        if (m->probe.id == w->probe_id)
            w->probe_arrived = 1;
        return 0;
    }
    int sock = worker_push_to(w, m->probe.reply, err);
    if (sock < 0)
        return sock;
    return send_probe(w, sock, m->probe.id, 0, NULL, m->data_len, err);
}

/* Round-trip seconds of one probe of n bytes to the peer behind sock (-1 on timeout). */
static double probe_rtt(worker_t *w, int sock, size_t n, err_t *err)
{
    w->probe_id++;
    w->probe_arrived = 0;
    const int64_t t0 = link_now_us();
    if (send_probe(w, sock, w->probe_id, 1, w->endpoint, n, err))
        return -1;
    while (!w->probe_arrived) {
        if (link_now_us() - t0 > 5000000)
            return -1;
        int due = link_due_ms(&w->link);
        void *socks[1] = {w->data};
        uint32_t ready = 0;
        net_wait(socks, 1, due >= 0 && due < 20 ? due : 20, &ready, err);
        link_flush(&w->link, 0, err);
        msg_t m;
        while ((ready & 1) && net_recv(w->data, &w->rx_data, 0, &m, &w->stats, err) == 0)
            worker_handle_data(w, &m, err);   /* our echo, or a peer's probe to answer */
    }
    return (double)(link_now_us() - t0) / 1e6;
}

int worker_run_profile(worker_t *w, const msg_t *req, err_t *err)
{
    const msg_profile_req_t *q = &req->profile_req;
    const int n_units = q->batch ? w->seg->n_units : 0, rounds = (int)q->rounds;
    float *pairs = malloc(((size_t)n_units + 1) * 2 * sizeof *pairs);
    float *t = malloc(((size_t)n_units + 1) * sizeof *t), *sp = malloc(((size_t)n_units + 1) * sizeof *sp);
    double *small = malloc((size_t)rounds * sizeof *small), *big = malloc((size_t)rounds * sizeof *big);
    msg_t *out = calloc(1, sizeof *out);
    int rc = pairs && t && sp && small && big && out ? 0 : err_set(err, ERR_NOMEM, "profile: out of memory");
    profile_opts_t po;
    profile_opts_default(&po);
    po.threads = w->o->threads;
    po.isa = w->o->isa;
    po.slowdown = w->o->slowdown > 1.0 && w->o->slowdown_step == 0 ? w->o->slowdown : 1.0;   /* a later slowdown is for the monitor to find */
    po.rounds = rounds;
    po.batch = (int)q->batch;
    if (rc == 0 && n_units) {
        rc = profile_units(w->m, w->seg, &po, t, sp, err);
        worker_weights_release(w);   /* profiling touched one unit of each kind: not this worker's stage */
    }
    size_t big_bytes = q->probe_bytes < PROBE_SMALL * 2 ? PROBE_SMALL * 2 : q->probe_bytes;
    if (rc == 0 && worker_grow_send_buffers(w, big_bytes))
        rc = err_set(err, ERR_NOMEM, "profile: no memory for %zu-byte probes", big_bytes);
    if (rc == 0) {
        msg_init(out, MSG_PROFILE);
        out->profile.n_units = (uint32_t)n_units;
        for (int u = 0; u < n_units; u++) {
            pairs[2 * u] = t[u];
            pairs[2 * u + 1] = sp[u];
        }
    }
    for (uint32_t i = 0; rc == 0 && i < q->n_peers; i++) {
        if (!strcmp(q->peers[i], w->endpoint))
            continue;
        int sock = worker_push_to(w, q->peers[i], err);
        if (sock < 0) {
            rc = sock;
            break;
        }
        probe_rtt(w, sock, PROBE_SMALL, err);   /* warm-up: the connection is made */
        for (int r = 0; rc == 0 && r < rounds; r++) {
            small[r] = probe_rtt(w, sock, PROBE_SMALL, err);
            big[r] = probe_rtt(w, sock, big_bytes, err);
            if (small[r] < 0 || big[r] < 0)
                rc = err_set(err, ERR_TIMEOUT, "profile: no echo from %s", q->peers[i]);
        }
        if (rc)
            break;
        double rtt_small = stats_median(small, rounds), rtt_big = stats_median(big, rounds);
        double extra = rtt_big - rtt_small;   /* both directions carry the extra bytes */
        uint32_t k = out->profile.n_links++;
        snprintf(out->profile.links[k].endpoint, sizeof out->profile.links[k].endpoint, "%s", q->peers[i]);
        out->profile.links[k].latency_s = rtt_small / 2;
        out->profile.links[k].bandwidth = extra > 1e-9 ? 2.0 * (double)(big_bytes - PROBE_SMALL) / extra : 1e12;
    }
    if (rc == 0) {
        out->profile.free_mem = worker_offered_memory(w);
        out->data = pairs;
        out->data_len = (size_t)n_units * 2 * sizeof *pairs;
        rc = worker_send_ctl(w, out, err);
    }
    free(pairs);
    free(t);
    free(sp);
    free(small);
    free(big);
    free(out);
    return rc;
}

