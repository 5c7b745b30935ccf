/*
 * coord.c — the coordinator (see coord.h).
 */
#include "coord/coord.h"
#include "coord/coord_internal.h"
#include "coord/coord_secure.h"
#include "coord/coord_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "net/msg.h"
#include "net/transport.h"
#include "node/ring.h"
#include "tensor/types.h"
#include "util/sha256.h"

void coord_opts_default(coord_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->bind = "tcp://127.0.0.1:*";
    o->n_ctx = 0;
    o->n_seq = 8;
    o->threads = 1;
    o->heartbeat_ms = 500;
    o->liveness_ms = 10000;
    o->recover = 1;
    o->kv_move = 1;
    o->kv_timeout_ms = 5000;
    o->join_margin = 0.10;
    o->prepare = 1;
}

int coord_create(const coord_opts_t *o, coord_t **out, err_t *err)
{
    *out = NULL;
    coord_t *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, ERR_NOMEM, "out of memory");
    c->o = *o;
    c->profile_batch = 1;   /* until coord_profile says otherwise: one batch size, 1 */
    c->profile_batches[0] = 1;
    c->n_profile_batches = 1;
    int rc;
    if ((rc = model_load(o->model_path, &c->m, err)) || (rc = tok_create(c->m->gguf, &c->tok, err)) ||
        (rc = graph_build(c->m, &c->g, err)) || (rc = seg_build_default(c->g, &c->seg, err)))
        goto fail;
    if (c->o.n_ctx <= 0)
        c->o.n_ctx = c->m->hp.n_ctx_train < 4096 ? (int)c->m->hp.n_ctx_train : 4096;
    if (c->o.n_seq < 1 || c->o.n_seq > 4096) {
        rc = err_set(err, ERR_INVAL, "sequences in flight = %d: must be in 1..4096", c->o.n_seq);
        goto fail;
    }
    ring_model_hash(c->m, c->hash);
    if ((rc = coord_weights_init(c, err)))
        goto fail;
    c->t0_ms = net_now_ms();
    c->epochs = calloc(COORD_MAX_EPOCHS, sizeof *c->epochs);
    c->sess = calloc((size_t)c->o.n_seq, sizeof *c->sess);
    if (!c->sess || !c->epochs) {
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int s = 0; s < c->o.n_seq; s++) {
        c->sess[s].prompt_wire = malloc((size_t)c->o.n_ctx * sizeof(uint32_t));
        c->sess[s].logits = malloc(c->m->hp.n_vocab * sizeof(float));
        if (!c->sess[s].prompt_wire || !c->sess[s].logits) {
            rc = err_set(err, ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    net_opts_t ro;
    net_opts_default(&ro);
    if ((rc = net_ctx_create(&c->zctx, err)) || (rc = coord_sec_start(c, &ro, err)) ||
        (rc = net_router_bind(c->zctx, o->bind, &ro, &c->router, err)) ||
        (rc = net_endpoint(c->router, c->endpoint, sizeof c->endpoint, err)))
        goto fail;
    net_rx_init(&c->rx);
    if ((rc = coord_monitor_open(c, err)))
        goto fail;
    c->next_session = 1;
    c->next_switch = (uint64_t)c->o.switch_every;
    c->switch_rng = c->o.switch_seed;
    *out = c;
    return 0;
fail:
    coord_destroy(&c);
    return rc;
}

void coord_destroy(coord_t **cp)
{
    if (!cp || !*cp)
        return;
    coord_t *c = *cp;
    coord_monitor_close(c);
    coord_balance_destroy(c);
    if (c->router) {
        net_rx_fini(&c->rx);
        net_close(&c->router);
    }
    coord_sec_stop(c);
    coord_weights_fini(c);
    net_ctx_destroy(&c->zctx);
    for (int i = 0; i < c->n_workers; i++) {
        for (int k = 0; k < COORD_PROFILE_MAX_BATCHES; k++)
            free(c->workers[i].prof.time_at[k]);
    }
    for (int s = 0; c->sess && s < c->o.n_seq; s++) {
        free(c->sess[s].prompt_wire);
        free(c->sess[s].logits);
    }
    free(c->sess);
    free(c->epochs);
    seg_destroy(&c->seg);
    graph_destroy(&c->g);
    tok_destroy(&c->tok);
    model_destroy(&c->m);
    free(c);
    *cp = NULL;
}

const char *coord_endpoint(const coord_t *c) { return c->endpoint; }
const model_t *coord_model(const coord_t *c) { return c->m; }
const tok_t *coord_tok(const coord_t *c) { return c->tok; }
const seg_t *coord_seg(const coord_t *c) { return c->seg; }
int coord_n_workers(const coord_t *c) { return c->n_workers; }
const char *coord_worker_name(const coord_t *c, int i) { return c->workers[i].name; }
const char *coord_worker_endpoint(const coord_t *c, int i) { return c->workers[i].endpoint; }
uint64_t coord_dropped(const coord_t *c)
{
    uint64_t n = 0;
    for (int i = 0; i < MSG_FAULT_COUNT; i++)
        n += c->stats.dropped[i];
    return n;
}

/* ---- messages in ----------------------------------------------------------- */

static worker_rec_t *find_worker(coord_t *c, const uint8_t *id, size_t len)
{
    for (int i = 0; i < c->n_workers; i++)
        if (c->workers[i].id_len == len && memcmp(c->workers[i].id, id, len) == 0)
            return &c->workers[i];
    return NULL;
}

static csession_t *find_session(coord_t *c, uint64_t id)
{
    for (int s = 0; s < c->o.n_seq; s++)
        if (c->sess[s].used && c->sess[s].id == id)
            return &c->sess[s];
    return NULL;
}

int coord_send_to(coord_t *c, int worker, const msg_t *m, err_t *err)
{
    const worker_rec_t *w = &c->workers[worker];
    int rc = net_send(c->router, w->id, w->id_len, m, err);
    if (rc)
        err_prefix(err, "to worker %s", w->name);
    return rc;
}

/* A worker without this model is told why and left out; the others go on. */
static int refuse_worker(coord_t *c, const msg_t *m, err_t *err)
{
    char hex[65];
    sha256_hex(c->hash, hex);
    msg_t reply;
    msg_init(&reply, MSG_ERROR);
    reply.error.code = ERR_STATE;
    snprintf(reply.error.text, sizeof reply.error.text,
             "this coordinator serves %s (sha256 %.16s...); your model file differs: left out", c->o.model_path, hex);
    fprintf(stderr, "coordinator: worker %s holds a different model: left out\n", m->hello.device);
    int rc = net_send(c->router, c->rx.peer, c->rx.peer_len, &reply, err);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

static int register_worker(coord_t *c, const msg_t *m, err_t *err)
{
    int has_model = 0;
    for (uint32_t i = 0; i < m->hello.n_cached; i++)
        has_model |= memcmp(m->hello.cached[i], c->hash, 32) == 0;
    if (!has_model)
        return refuse_worker(c, m, err);
    err_t why;
    if (coord_sec_admit(c, m, &why)) {
        fprintf(stderr, "coordinator: %s\n", why.msg);
        return 0;
    }
    worker_rec_t *w = find_worker(c, c->rx.peer, c->rx.peer_len);
    if (!w) {
        if (c->n_workers == COORD_MAX_WORKERS)
            return err_set(err, ERR_RANGE, "more than %d workers", COORD_MAX_WORKERS);
        w = &c->workers[c->n_workers++];
    }
    for (int i = 0; i < c->n_stages; i++)
        if (c->stages[i].worker == (int)(w - c->workers) && !w->lost) {
            c->replan = 1;   /* its stage died with its old process */
            snprintf(c->replan_why, sizeof c->replan_why, "worker %s restarted", w->name);
        }
    worker_profile_t keep = w->prof;   /* a re-registering worker keeps its buffers (and must be profiled again) */
    memset(w, 0, sizeof *w);
    memcpy(w->prof.time_at, keep.time_at, sizeof keep.time_at);
    memcpy(w->id, c->rx.peer, c->rx.peer_len);
    w->id_len = c->rx.peer_len;
    snprintf(w->name, sizeof w->name, "%s", m->hello.device);
    snprintf(w->endpoint, sizeof w->endpoint, "%s", m->hello.endpoint);
    w->free_mem = m->hello.free_mem;
    w->cores = m->hello.cores;
    w->last_seen = net_now_ms();
    w->has_model = 1;
    w->has_key = m->hello.has_key;
    memcpy(w->key, m->hello.key, MSG_KEY_BYTES);
    w->fd = c->rx.peer_fd;
    if (c->n_stages > 0) {
        fprintf(stderr, "coordinator: worker %s joined while the ring runs\n", w->name);
        w->joining = !c->replan;   /* a restarted ring worker is re-planned by recovery instead */
    }
    msg_t reply;
    msg_init(&reply, MSG_WELCOME);
    reply.welcome.device_id = (uint32_t)(w - c->workers);
    reply.welcome.heartbeat_ms = (uint32_t)c->o.heartbeat_ms;
    int rc = coord_send_to(c, (int)(w - c->workers), &reply, err);
    return rc ? rc : coord_weights_welcome(c, (int)(w - c->workers), err);
}

/* The others have the session: the header may start it. */
static int send_open_to_header(coord_t *c, csession_t *s, err_t *err)
{
    s->open.flags |= RING_OPEN_HEADER;
    s->header_sent = 1;
    return coord_send_to(c, c->stages[0].worker, &s->open, err);
}

static int handle(coord_t *c, const msg_t *m, err_t *err)
{
    coord_monitor_drain(c);   /* closes noticed before this message, while its fd still names the old peer */
    worker_rec_t *w = find_worker(c, c->rx.peer, c->rx.peer_len);
    if (m->type == MSG_HELLO && (m->flags & RING_HELLO_FETCH))
        return coord_weights_announce(c, m, err);
    if (m->type == MSG_WEIGHTS_CHUNK)
        return coord_weights_serve(c, m, err);
    if (m->type == MSG_HELLO)
        return register_worker(c, m, err);
    if (!w)
        return err_set(err, ERR_PROTO, "%s from an unknown peer", msg_type_name(m->type));
    if (w->lost)
        return 0;   /* a worker declared lost speaks again: it must say HELLO to rejoin */
    w->last_seen = net_now_ms();
    if (c->rx.peer_fd >= 0)
        w->fd = c->rx.peer_fd;
    csession_t *s;
    switch (m->type) {
    case MSG_HEARTBEAT:
        return 0;
    case MSG_DEPLOY_ACK:
        if (m->flags & RING_ACK_PREPARE) {
            coord_prepare_on_ack(c, (int)(w - c->workers), m);
            return 0;
        }
        if (m->flags & RING_ACK_PEER_KEYS) {
            w->keys_acked++;
            return 0;
        }
        if (!(m->flags & RING_ACK_SESSION)) {
            if (m->epoch != c->epoch)
                return 0;   /* acknowledges an older deployment */
            if (m->ack.code != 0)
                return err_set(err, ERR_STATE, "worker %s refused its stage: %s", w->name, m->ack.text);
            w->acked = 1;
            return 0;
        }
        if (!(s = find_session(c, m->session)) || m->epoch != s->epoch || s->epoch != c->epoch)
            return 0;   /* a session released meanwhile, or an open of an older epoch */
        if (m->ack.code != 0) {
            s->failed = s->done = 1;
            return err_set(err, ERR_STATE, "worker %s could not open session %llu: %s", w->name,
                           (unsigned long long)m->session, m->ack.text);
        }
        if (w == &c->workers[c->stages[0].worker] && s->header_sent) {
            s->started = 1;   /* the header's own acknowledgement: the session runs */
            return 0;
        }
        if (--s->acks_missing == 0)
            return send_open_to_header(c, s, err);
        return 0;
    case MSG_TOKEN:
        if ((s = find_session(c, m->session)) && m->epoch != s->epoch) {
            c->stale++;   /* produced under an older plan: the replay makes it again */
            return 0;
        }
        if (!s && m->session < c->next_session)
            return 0;   /* released before its end (cancelled): tokens still in flight are dropped */
        if (!s || s->done)
            return err_set(err, ERR_STATE, "TOKEN for session %llu, which is not running",
                           (unsigned long long)m->session);
        if (s->n_prompt + s->n_gen < c->o.n_ctx)
            s->prompt_wire[s->n_prompt + s->n_gen++] = m->token.token;
        s->gen_epoch++;
        c->tokens++;
        if (m->flags & RING_TOKEN_FINAL)
            s->done = 1;
        if (s->fn)
            s->fn(s->user, s->id, (int32_t)m->token.token, (m->flags & RING_TOKEN_FINAL) != 0);
        return 0;
    case MSG_ACTIVATION:   /* the final logits of a session that asked for them */
        if ((s = find_session(c, m->session)) && m->epoch != s->epoch) {
            c->stale++;
            return 0;
        }
        if (!s && m->session < c->next_session)
            return 0;   /* released meanwhile */
        if (!s || m->act.value_id != (uint32_t)c->g->logits ||
            m->act.dtype != TYPE_F32 || m->act.width != c->m->hp.n_vocab || m->act.n_tokens != 1)
            return err_set(err, ERR_PROTO, "unexpected ACTIVATION from %s", w->name);
        memcpy(s->logits, m->data, c->m->hp.n_vocab * sizeof(float));
        s->has_logits = 1;
        return 0;
    case MSG_STAGE_TIMES:
        if (m->epoch != c->epoch)
            return 0;   /* measured under an older plan */
        for (uint32_t i = 0; i < m->times.n; i++) {
            const msg_time_t *t = &m->times.t[i];
            if (t->n_tokens == 0 || t->n_decode != t->n_tokens)
                continue;   /* prompt chunks: the decode step is what the plan predicts */
            w->steps++;
            w->rows += t->n_tokens;
            w->compute_us_sum += (double)t->compute_us / t->n_tokens;
            w->send_us_sum += (double)t->send_us / t->n_tokens;
            coord_monitor_add(&w->mon, t->compute_us * 1e-6 / t->n_tokens, t->send_us * 1e-6 / t->n_tokens);
        }
        return 0;
    case MSG_PROFILE: {
        worker_profile_t *pr = &w->prof;
        if (m->profile.n_units && (int)m->profile.n_units != c->seg->n_units)
            return err_set(err, ERR_PROTO, "PROFILE from %s has %u units, the model %d", w->name,
                           m->profile.n_units, c->seg->n_units);
        int rc = m->profile.n_units ? coord_profile_store(c, pr, m->data, err) : 0;
        if (rc)
            return rc;
        if (m->profile.n_units && pr->slot >= 0) {   /* units only: the links stay as measured */
            pr->free_mem = m->profile.free_mem;
            pr->have = 1;
            return 0;
        }
        for (int k = 0; k < c->n_workers; k++)
            pr->latency[k] = pr->bandwidth[k] = -1;
        for (uint32_t i = 0; i < m->profile.n_links; i++)
            for (int k = 0; k < c->n_workers; k++)
                if (!strcmp(c->workers[k].endpoint, m->profile.links[i].endpoint)) {
                    pr->latency[k] = m->profile.links[i].latency_s;
                    pr->bandwidth[k] = m->profile.links[i].bandwidth;
                }
        pr->free_mem = m->profile.free_mem;
        pr->have = 1;
        return 0;
    }
    case MSG_ERROR:
        return err_set(err, ERR_STATE, "worker %s reports: %s", w->name, m->error.text);
    default:
        return err_set(err, ERR_PROTO, "unexpected %s from %s", msg_type_name(m->type), w->name);
    }
}

/* Heartbeats to every worker; lost workers and recovery are recovery.c's. */
static int check_liveness(coord_t *c, err_t *err)
{
    int64_t now = net_now_ms();
    if (now >= c->next_heartbeat) {
        msg_t hb;
        msg_init(&hb, MSG_HEARTBEAT);
        err_t ignored;
        for (int i = 0; i < c->n_workers; i++)
            if (!c->workers[i].lost)
                coord_send_to(c, i, &hb, &ignored);
        c->next_heartbeat = now + c->o.heartbeat_ms;
    }
    return coord_check_liveness(c, err);
}

int coord_pump(coord_t *c, int timeout_ms, err_t *err)
{
    msg_t m;
    if (c->monitor && timeout_ms > 0) {   /* a closed connection wakes the coordinator as a message does */
        void *socks[2] = {c->router, c->monitor};
        uint32_t ready = 0;
        int wrc = net_wait(socks, 2, timeout_ms, &ready, err);
        if (wrc && wrc != ERR_TIMEOUT)
            return wrc;
        timeout_ms = 0;
    }
    int rc = net_recv(c->router, &c->rx, timeout_ms, &m, &c->stats, err);
    for (int k = 1; rc == 0; k++) {
        if ((rc = handle(c, &m, err)) == ERR_PROTO) {   /* from an unknown peer, or not what we expect: dropped */
            fprintf(stderr, "coordinator: dropped %s: %s\n", msg_type_name(m.type), err->msg);
            c->stats.dropped[MSG_FAULT_BODY]++;
            rc = 0;
        }
        if (rc)
            return rc;
        if (c->o.switch_every && c->tokens >= c->next_switch)
            return 0;   /* a forced switch is due at exactly this token */
        if (k == 256)
            break;   /* a bounded batch; a message received is always handled first */
        rc = net_recv(c->router, &c->rx, 0, &m, &c->stats, err);
    }
    if (rc == ERR_PROTO) {   /* a malformed message: dropped and counted; the rest goes on */
        fprintf(stderr, "coordinator: dropped a message: %s\n", err->msg);
        rc = 0;
    }
    if (rc == ERR_TIMEOUT)
        rc = 0;
    return rc;
}

int coord_poll(coord_t *c, int timeout_ms, err_t *err)
{
    int rc = coord_pump(c, timeout_ms, err);
    if (rc == 0)
        rc = coord_prepare_check(c, err);
    if (rc == 0)
        rc = coord_forced_switch(c, err);
    if (rc == 0)
        rc = coord_balance_check(c, err);
    if (rc == 0)
        rc = coord_check_crossings(c, err);
    if (rc == 0)
        rc = coord_join_check(c, err);
    return rc ? rc : check_liveness(c, err);
}

/* ---- workers and deployment ------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const worker_rec_t *)a)->name, ((const worker_rec_t *)b)->name);
}

int coord_wait_workers(coord_t *c, int n, int timeout_ms, int (*check)(void *user, err_t *err), void *user,
                       err_t *err)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    while (c->n_workers < n) {
        if (net_now_ms() > deadline)
            return err_set(err, ERR_TIMEOUT, "only %d of %d workers registered within %d ms", c->n_workers, n,
                           timeout_ms);
        int rc;
        if (check && (rc = check(user, err)))
            return rc;
        msg_t m;
        rc = net_recv(c->router, &c->rx, 100, &m, &c->stats, err);
        if (rc == 0)
            rc = handle(c, &m, err);
        if (rc && rc != ERR_TIMEOUT && rc != ERR_PROTO)
            return rc;
    }
    if (c->n_stages == 0)   /* before any deployment: a stable ring order, by device name */
        qsort(c->workers, (size_t)c->n_workers, sizeof *c->workers, by_name);
    return 0;
}

static int add_route(msg_deploy_t *d, uint32_t value, uint32_t to_unit, const char *endpoint, err_t *err)
{
    for (uint32_t i = 0; i < d->n_routes; i++)
        if (d->routes[i].value_id == value && !strcmp(d->routes[i].endpoint, endpoint))
            return 0;
    if (d->n_routes == MSG_MAX_ROUTES)
        return err_set(err, ERR_RANGE, "a stage needs more than %d routes", MSG_MAX_ROUTES);
    msg_route_t *r = &d->routes[d->n_routes++];
    r->value_id = value;
    r->to_unit = to_unit;
    snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
    return 0;
}

static int stage_of_unit(const coord_t *c, int unit)
{
    for (int s = 0; s < c->n_stages; s++)
        if (unit >= c->stages[s].begin && unit < c->stages[s].end)
            return s;
    return -1;
}

/* Routes of stage s: every value it produces, straight to every later stage consuming it; tokens to the header. */
int coord_routes_for(coord_t *c, int s, msg_deploy_t *d, err_t *err)
{
    const seg_edge_t *lists[2] = {c->seg->sdm, c->seg->rdm};
    const int counts[2] = {c->seg->n_sdm, c->seg->n_rdm};
    int rc;
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < counts[l]; i++) {
            const seg_edge_t *e = &lists[l][i];
            if (e->from_unit < 0 || stage_of_unit(c, e->from_unit) != s)
                continue;
            int t = stage_of_unit(c, e->to_unit);
            if (t == s)
                continue;
            if ((rc = add_route(d, (uint32_t)e->value, (uint32_t)c->stages[t].begin,
                                c->workers[c->stages[t].worker].endpoint, err)))
                return rc;
        }
    }
    if (s == c->n_stages - 1 && c->n_stages > 1)
        return add_route(d, MSG_VALUE_TOKEN, 0, c->workers[c->stages[0].worker].endpoint, err);
    return 0;
}

int coord_deploy(coord_t *c, const unit_range_t *ranges, int n, int timeout_ms, err_t *err)
{
    if (n != c->n_workers)
        return err_set(err, ERR_INVAL, "%d ranges for %d workers", n, c->n_workers);
    coord_stage_t st[COORD_MAX_WORKERS];
    int n_st = 0;
    for (int i = 0; i < n; i++)
        if (ranges[i].end != ranges[i].begin)
            st[n_st++] = (coord_stage_t){.worker = i, .begin = ranges[i].begin, .end = ranges[i].end};
    return coord_deploy_stages(c, st, n_st, timeout_ms, err);
}

void coord_deploy_fill(const coord_t *c, int begin, int end, uint32_t warm_begin, uint32_t warm_end, int n_stages,
                       msg_t *m)
{
    msg_init(m, MSG_DEPLOY);
    m->epoch = c->epoch;
    msg_deploy_t *d = &m->deploy;
    memcpy(d->model_hash, c->hash, 32);
    snprintf(d->model, sizeof d->model, "%s", c->o.model_path);
    d->unit_begin = (uint32_t)begin;
    d->unit_end = (uint32_t)end;
    d->warm_begin = warm_begin;
    d->warm_end = warm_end;
    d->n_ctx = (uint32_t)c->o.n_ctx;
    d->n_seq = (uint32_t)c->o.n_seq;
    d->threads = (uint32_t)c->o.threads;
    d->n_stages = (uint32_t)n_stages;
    d->act_dtype = c->o.act_f16 ? TYPE_F16 : TYPE_F32;
}

int coord_deploy_stages(coord_t *c, const coord_stage_t *st, int n, int timeout_ms, err_t *err)
{
    c->n_stages = 0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (st[i].begin != at || st[i].end <= st[i].begin || st[i].worker < 0 || st[i].worker >= c->n_workers)
            return err_set(err, ERR_INVAL, "stage %d (worker %d, units %d-%d) does not continue at unit %d", i,
                           st[i].worker, st[i].begin, st[i].end, at);
        if (c->workers[st[i].worker].lost)
            return err_set(err, ERR_INVAL, "worker %s is lost", c->workers[st[i].worker].name);
        for (int j = 0; j < i; j++)
            if (st[j].worker == st[i].worker)
                return err_set(err, ERR_INVAL, "worker %s appears in two stages", c->workers[st[i].worker].name);
        at = st[i].end;
        c->stages[c->n_stages++] = (stage_t){.worker = st[i].worker, .begin = st[i].begin, .end = st[i].end};
    }
    if (at != c->seg->n_units)
        return err_set(err, ERR_INVAL, "the ranges end at unit %d; the model has %d units", at, c->seg->n_units);
    c->epoch++;
    uint32_t warm_begin[COORD_MAX_WORKERS], warm_end[COORD_MAX_WORKERS];
    int rc = coord_warm_ranges(c, warm_begin, warm_end, err);
    if (rc)
        return rc;
    for (int s = 0; s < c->n_stages; s++) {
        msg_t m;
        coord_deploy_fill(c, c->stages[s].begin, c->stages[s].end, warm_begin[s], warm_end[s], c->n_stages, &m);
        msg_deploy_t *d = &m.deploy;
        worker_rec_t *wr = &c->workers[c->stages[s].worker];
        wr->acked = 0;
        wr->warm_begin = (uint32_t)c->stages[s].begin;   /* its replicas load in the background: held once it says so */
        wr->warm_end = (uint32_t)c->stages[s].end;
        wr->replica_begin = warm_begin[s];
        wr->replica_end = warm_end[s];
        wr->replica_epoch = c->epoch;
        wr->steps = 0;
        wr->compute_us_sum = wr->send_us_sum = 0;
        wr->rows = 0;
        coord_monitor_reset(&wr->mon);
        if ((rc = coord_routes_for(c, s, d, err)) || (rc = coord_kv_routes(c, s, d, err)) ||
            (rc = coord_sec_deploy_keys(c, s, d, err)) ||
            (rc = coord_send_to(c, c->stages[s].worker, &m, err)))
            return rc;
    }
    int64_t deadline = net_now_ms() + timeout_ms;
    for (;;) {
        int missing = 0;
        for (int s = 0; s < c->n_stages; s++)
            missing += !c->workers[c->stages[s].worker].acked;
        if (!missing) {
            coord_epoch_record(c, 0, 0, 0);
            return 0;
        }
        if (net_now_ms() > deadline)
            return err_set(err, ERR_TIMEOUT, "%d stage(s) not deployed within %d ms", missing, timeout_ms);
        msg_t m;
        uint64_t served = c->ship_chunks;
        rc = net_recv(c->router, &c->rx, 100, &m, &c->stats, err);
        if (rc == 0 && (rc = handle(c, &m, err)))
            return rc;
        if (c->ship_chunks != served)   /* weights still flowing to a fetching worker: it is making progress */
            deadline = net_now_ms() + timeout_ms;
        if (rc && rc != ERR_TIMEOUT && rc != ERR_PROTO)
            return rc;
        if (rc != ERR_TIMEOUT)
            continue;   /* what a worker said before it went (e.g. why it refused) is read first */
        for (int k = 0; k < c->n_stages; k++) {   /* a worker that dies meanwhile will not acknowledge */
            const worker_rec_t *sw = &c->workers[c->stages[k].worker];
            if (!sw->acked && (sw->closed || net_now_ms() - sw->last_seen > c->o.liveness_ms))
                return err_set(err, ERR_TIMEOUT, "worker %s lost while deploying", sw->name);
        }
    }
}

/* ---- sessions ------------------------------------------------------------------ */

int coord_session_start(coord_t *c, const int32_t *prompt, size_t n_prompt, int n_predict,
                        const samp_params_t *sp, int want_logits, coord_token_fn fn, void *user,
                        uint64_t *session, err_t *err)
{
    if (c->n_stages == 0)
        return err_set(err, ERR_STATE, "no stages deployed");
    if (n_prompt == 0 || n_prompt > (size_t)c->o.n_ctx)
        return err_set(err, ERR_RANGE, "prompt of %zu tokens: must be 1..%d", n_prompt, c->o.n_ctx);
    if (n_predict < 1)
        return err_set(err, ERR_INVAL, "n_predict = %d: must be >= 1", n_predict);
    csession_t *s = NULL;
    for (int i = 0; i < c->o.n_seq && !s; i++)
        if (!c->sess[i].used)
            s = &c->sess[i];
    if (!s)
        return err_set(err, ERR_STATE, "all %d sequence slots are busy", c->o.n_seq);
    s->used = 1;
    s->done = s->failed = s->has_logits = 0;
    s->id = c->next_session++;
    s->fn = fn;
    s->user = user;
    s->want_logits = want_logits;
    for (size_t i = 0; i < n_prompt; i++)
        s->prompt_wire[i] = (uint32_t)prompt[i];
    s->n_prompt = (int)n_prompt;
    s->n_gen = 0;
    s->n_predict = n_predict;
    s->sp = *sp;
    *session = s->id;
    return coord_session_send_open(c, s, 0, err);
}

int coord_session_done(const coord_t *c, uint64_t session)
{
    for (int s = 0; s < c->o.n_seq; s++)
        if (c->sess[s].used && c->sess[s].id == session)
            return c->sess[s].done;
    return 1;
}

const float *coord_session_logits(const coord_t *c, uint64_t session)
{
    for (int s = 0; s < c->o.n_seq; s++)
        if (c->sess[s].used && c->sess[s].id == session)
            return c->sess[s].has_logits ? c->sess[s].logits : NULL;
    return NULL;
}

void coord_session_release(coord_t *c, uint64_t session)
{
    csession_t *s = find_session(c, session);
    if (!s)
        return;
    if (!s->done) {   /* abandoned: tell the stages to drop it */
        msg_t m;
        msg_init(&m, MSG_SESSION_CLOSE);
        m.session = s->id;
        m.close.seq_slot = (uint32_t)(s - c->sess);
        err_t ignored;
        for (int i = 0; i < c->n_stages; i++)
            coord_send_to(c, c->stages[i].worker, &m, &ignored);
    }
    s->used = 0;
}

int coord_sessions_free(const coord_t *c)
{
    int n = 0;
    for (int s = 0; s < c->o.n_seq; s++)
        n += !c->sess[s].used;
    return n;
}

void coord_shutdown(coord_t *c)
{
    msg_t m;
    msg_init(&m, MSG_SHUTDOWN);
    snprintf(m.shutdown.reason, sizeof m.shutdown.reason, "coordinator shutting down");
    err_t ignored;
    for (int i = 0; i < c->n_workers; i++)
        coord_send_to(c, i, &m, &ignored);
}

int coord_n_stages(const coord_t *c) { return c->n_stages; }

int coord_stage_info(const coord_t *c, int stage, coord_stage_info_t *info)
{
    if (stage < 0 || stage >= c->n_stages)
        return ERR_RANGE;
    const stage_t *st = &c->stages[stage];
    const worker_rec_t *w = &c->workers[st->worker];
    info->worker = st->worker;
    info->name = w->name;
    info->unit_begin = st->begin;
    info->unit_end = st->end;
    info->steps = w->steps;
    info->rows = w->steps ? (double)w->rows / (double)w->steps : 0.0;
    info->compute_ms = w->steps ? w->compute_us_sum / (double)w->steps / 1000.0 : 0.0;
    info->send_ms = w->steps ? w->send_us_sum / (double)w->steps / 1000.0 : 0.0;
    return 0;
}

int coord_n_ctx(const coord_t *c) { return c->o.n_ctx; }
int coord_n_seq(const coord_t *c) { return c->o.n_seq; }
uint32_t coord_epoch(const coord_t *c) { return c->epoch; }
uint64_t coord_worker_free_mem(const coord_t *c, int i)
{
    return i >= 0 && i < c->n_workers ? c->workers[i].free_mem : 0;
}
