/*
 * epoch.c — the epoch switch (see epoch.h for the rules): redeploying a
 * running ring, reopening each unfinished session under the new epoch with its
 * history as the prompt (the replay that rebuilds the KV caches), and the
 * record of every epoch.  Session opens for new sessions go through the same
 * function, so a fresh session is simply a replay of an empty history.
 */
#include "coord/epoch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord/coord_internal.h"
#include "model/graph.h"
#include "node/ring.h"

#define COORD_EPOCH_CROSSING 0xFFFFFFFFu   /* a session between two epochs: no TOKEN matches it */
#define WEYL_STEP 0x9E3779B97F4A7C15ULL   /* the sampler RNG's per-draw increment (samp.c) */

int coord_worker_alive(const coord_t *c, int worker)
{
    return worker >= 0 && worker < c->n_workers && c->workers[worker].has_model && !c->workers[worker].lost;
}

int coord_session_send_open(coord_t *c, csession_t *s, int resume, err_t *err)
{
    const samp_params_t *sp = &s->sp;
    const int slot = (int)(s - c->sess);
    msg_init(&s->open, MSG_SESSION_OPEN);
    s->open.epoch = c->epoch;
    s->epoch = c->epoch;
    s->open.session = s->id;
    s->open.flags = (s->want_logits ? RING_OPEN_WANT_LOGITS : 0) | (resume ? RING_OPEN_RESUME : 0);
    s->started = 0;
    s->gen_epoch = 0;
    s->open_ms = net_now_ms();
    const float temp = sp->temp < 0 ? 0 : sp->temp;
    /* Past draws: one RNG number per sampled token when sampling with a temperature. */
    const uint64_t seed = temp > 0 ? sp->seed + (uint64_t)s->n_gen * WEYL_STEP : sp->seed;
    s->open.open = (msg_session_open_t){.seq_slot = (uint32_t)slot, .n_tokens = (uint32_t)(s->n_prompt + s->n_gen),
                                        .n_predict = (uint32_t)(s->n_predict - s->n_gen), .temp = temp,
                                        .top_k = sp->top_k > 0 ? (uint32_t)sp->top_k : 0,
                                        .top_p = sp->top_p > 1 ? 1 : sp->top_p, .seed = seed,
                                        .min_p = sp->min_p < 0 ? 0 : sp->min_p > 1 ? 1 : sp->min_p,
                                        .repeat_penalty = sp->repeat_penalty > 0 ? sp->repeat_penalty : 1.0f,
                                        .repeat_last_n = sp->repeat_last_n < -1 ? -1 : sp->repeat_last_n};
    s->open.data = s->prompt_wire;
    s->open.data_len = (size_t)(s->n_prompt + s->n_gen) * sizeof(uint32_t);
    /* Every stage but the header acknowledges first, then the header starts it.  A resumed session's header
     * also gets the open first as a plain stage: it may have KV rows to hand over or to collect. */
    const int first = resume ? 0 : 1;
    s->acks_missing = c->n_stages - first;
    s->header_sent = 0;
    int rc;
    if (s->acks_missing == 0) {
        s->open.flags |= RING_OPEN_HEADER;
        s->header_sent = 1;
        return coord_send_to(c, c->stages[0].worker, &s->open, err);
    }
    for (int i = first; i < c->n_stages; i++)
        if ((rc = coord_send_to(c, c->stages[i].worker, &s->open, err)))
            return rc;
    return 0;
}

static coord_epoch_info_t *last_record(coord_t *c)
{
    return c->n_epochs ? &c->epochs[(c->n_epochs - 1) % COORD_MAX_EPOCHS] : NULL;
}

void coord_epoch_record(coord_t *c, int replayed_sessions, uint64_t replayed_tokens, double switch_ms)
{
    coord_epoch_info_t *e = &c->epochs[c->n_epochs++ % COORD_MAX_EPOCHS];
    memset(e, 0, sizeof *e);
    e->epoch = c->epoch;
    e->at_s = (double)(net_now_ms() - c->t0_ms) / 1000.0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    e->at_unix_ms = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
    e->at_tokens = c->tokens;
    snprintf(e->why, sizeof e->why, "%s", c->why[0] ? c->why : "initial plan");
    for (int s = 0; s < c->n_stages && s < COORD_EPOCH_STAGES; s++)
        e->stages[e->n_stages++] =
            (coord_stage_t){.worker = c->stages[s].worker, .begin = c->stages[s].begin, .end = c->stages[s].end};
    e->sessions = replayed_sessions;
    e->replayed_tokens = replayed_tokens;
    e->switch_ms = switch_ms;
    c->why[0] = 0;
}

/* Attention layers in unit u. */
static int unit_attention(const coord_t *c, int u)
{
    int n = 0;
    for (int node = c->seg->units[u].node_begin; node < c->seg->units[u].node_end; node++)
        n += c->g->nodes[node].op == OP_ATTENTION;
    return n;
}

static int new_stage_of_unit(const coord_stage_t *st, int n, int u)
{
    for (int s = 0; s < n; s++)
        if (u >= st[s].begin && u < st[s].end)
            return s;
    return -1;
}

/* A switch moves KV rows (instead of replaying) when every old stage's worker is alive and in the new plan, and
 * no worker needs more KV routes than a DEPLOY has room for beside its data routes. */
static int can_move_kv(const coord_t *c, const coord_stage_t *st, int n)
{
    if (!c->o.kv_move || c->n_stages == 0)
        return 0;
    for (int o = 0; o < c->n_stages; o++) {
        const stage_t *old = &c->stages[o];
        int in_new = -1, routes = 0;
        for (int s = 0; s < n; s++)
            if (st[s].worker == old->worker)
                in_new = s;
        if (in_new < 0 || !coord_worker_alive(c, old->worker))
            return 0;
        for (int u = old->begin; u < old->end; u++)
            routes += (u < st[in_new].begin || u >= st[in_new].end) && unit_attention(c, u) > 0;
        if (routes > MSG_MAX_ROUTES / 2)
            return 0;
    }
    return 1;
}

int coord_kv_routes(coord_t *c, int s, msg_deploy_t *d, err_t *err)
{
    const int w = c->stages[s].worker;
    for (int o = 0; o < c->n_kv_old; o++) {
        if (c->kv_old[o].worker != w)
            continue;
        for (int u = c->kv_old[o].begin; u < c->kv_old[o].end; u++) {
            if (u >= c->stages[s].begin && u < c->stages[s].end)
                continue;   /* stays here */
            int t = -1;
            for (int k = 0; k < c->n_stages; k++)
                if (u >= c->stages[k].begin && u < c->stages[k].end)
                    t = k;
            if (t < 0 || !unit_attention(c, u))
                continue;
            if (d->n_routes == MSG_MAX_ROUTES)
                return err_set(err, ERR_RANGE, "stage %d needs more than %d routes with its KV moves", s,
                               MSG_MAX_ROUTES);
            msg_route_t *r = &d->routes[d->n_routes++];
            r->value_id = MSG_VALUE_KV;
            r->to_unit = (uint32_t)u;
            snprintf(r->endpoint, sizeof r->endpoint, "%s", c->workers[c->stages[t].worker].endpoint);
        }
    }
    return 0;
}

int coord_switch(coord_t *c, const coord_stage_t *stages, int n, const char *why, int timeout_ms, err_t *err)
{
    const int64_t t0 = net_now_ms();
    coord_prepare_drop(c, why ? why : "another switch came first");   /* it was planned for the ring before this */
    /* KV bytes that move: attention layers changing owner x positions held, for the record. */
    uint64_t kv_bytes = 0;
    c->n_kv_old = 0;
    if (can_move_kv(c, stages, n)) {
        const uint64_t row = 4ull * c->m->hp.n_head_kv * c->m->hp.head_dim;   /* K + V, F16 */
        for (int o = 0; o < c->n_stages; o++) {
            c->kv_old[c->n_kv_old++] = c->stages[o];
            for (int u = c->stages[o].begin; u < c->stages[o].end; u++) {
                int t = new_stage_of_unit(stages, n, u);
                if (t < 0 || stages[t].worker == c->stages[o].worker)
                    continue;
                for (int i = 0; i < c->o.n_seq; i++)
                    if (c->sess[i].used && !c->sess[i].done && c->sess[i].gen_epoch > 0)
                        kv_bytes += (uint64_t)unit_attention(c, u) * row *
                                    (uint64_t)(c->sess[i].n_prompt + c->sess[i].n_gen - 1);
            }
        }
    }
    const int move = c->n_kv_old > 0;
    snprintf(c->why, sizeof c->why, "%s", why ? why : "switch");
    for (int i = 0; i < c->o.n_seq; i++)   /* crossing: from now on the old plan's tokens are stale */
        if (c->sess[i].used && !c->sess[i].done)
            c->sess[i].epoch = COORD_EPOCH_CROSSING;
    int rc = coord_deploy_stages(c, stages, n, timeout_ms, err);
    c->n_kv_old = 0;
    if (rc && c->o.recover && !c->recovering) {
        /* The ring is half-deployed: the liveness check that follows re-plans on the survivors (those that are
         * lost by then are left out) and every unfinished session replays. */
        fprintf(stderr, "coordinator: epoch switch (%s) failed: %s; re-planning\n", why ? why : "switch", err->msg);
        c->replan = 1;
        snprintf(c->replan_why, sizeof c->replan_why, "re-plan after a failed switch");
        return 0;
    }
    if (rc)
        return err_prefix(err, "epoch switch (%s)", why ? why : "switch");
    int sessions = 0;
    uint64_t tokens = 0;
    for (int i = 0; i < c->o.n_seq; i++) {
        csession_t *s = &c->sess[i];
        if (!s->used || s->done)
            continue;
        /* A token accepted under the old epoch means every old stage holds the history but its last token
         * (positions 0..H-2): such a session resumes; one still replaying or opening replays again. */
        const int resume = move && s->gen_epoch > 0;
        if ((rc = coord_session_send_open(c, s, resume, err)))
            return err_prefix(err, "reopening session %llu under epoch %u", (unsigned long long)s->id, c->epoch);
        sessions++;
        if (!resume)
            tokens += (uint64_t)(s->n_prompt + s->n_gen);
    }
    coord_epoch_info_t *e = last_record(c);
    e->sessions = sessions;
    e->replayed_tokens = tokens;
    e->switch_ms = (double)(net_now_ms() - t0);
    e->kv_moved = move;
    e->kv_bytes = kv_bytes;
    if (c->o.verbose)
        fprintf(stderr, "coordinator: epoch %u (%s): %d session(s) cross over by %s%s\n", c->epoch, e->why, sessions,
                move ? "moving KV rows" : "replay", move ? "" : "");
    return 0;
}

int coord_check_crossings(coord_t *c, err_t *err)
{
    const int64_t now = net_now_ms();
    int late = 0;
    for (int i = 0; i < c->o.n_seq; i++) {
        const csession_t *s = &c->sess[i];
        late |= s->used && !s->done && !s->started && (s->open.flags & RING_OPEN_RESUME) &&
                now - s->open_ms > c->o.kv_timeout_ms;
    }
    if (!late || c->n_stages == 0 || c->replan)
        return 0;
    for (int k = 0; k < c->n_stages; k++)
        if (!coord_worker_alive(c, c->stages[k].worker))
            return 0;   /* a lost worker: recovery replays anyway */
    fprintf(stderr, "coordinator: a resumed session did not start within %d ms (its KV transfer is incomplete): "
            "replaying on the same stages\n", c->o.kv_timeout_ms);
    coord_stage_t st[COORD_MAX_WORKERS];
    for (int s = 0; s < c->n_stages; s++)
        st[s] = (coord_stage_t){.worker = c->stages[s].worker, .begin = c->stages[s].begin, .end = c->stages[s].end};
    const int keep = c->o.kv_move;
    c->o.kv_move = 0;
    int rc = coord_switch(c, st, c->n_stages, "KV transfer incomplete: replay", 60000, err);
    c->o.kv_move = keep;
    return rc;
}

int coord_n_epochs(const coord_t *c) { return c->n_epochs < COORD_MAX_EPOCHS ? c->n_epochs : COORD_MAX_EPOCHS; }

const coord_epoch_info_t *coord_epoch_info(const coord_t *c, int i)
{
    if (i < 0 || i >= coord_n_epochs(c))
        return NULL;
    int first = c->n_epochs < COORD_MAX_EPOCHS ? 0 : c->n_epochs - COORD_MAX_EPOCHS;
    return &c->epochs[(first + i) % COORD_MAX_EPOCHS];
}

uint64_t coord_stale(const coord_t *c) { return c->stale; }

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += WEYL_STEP);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int coord_random_stages(const coord_t *c, uint64_t *rng, coord_stage_t *stages, int *n, err_t *err)
{
    int alive[COORD_MAX_WORKERS], n_alive = 0;
    for (int i = 0; i < c->n_workers; i++)
        if (coord_worker_alive(c, i))
            alive[n_alive++] = i;
    const int M = c->seg->n_units;
    if (n_alive == 0)
        return err_set(err, ERR_STATE, "no worker left for a plan");
    for (int i = n_alive - 1; i > 0; i--) {   /* Fisher-Yates */
        int j = (int)(next_random(rng) % (uint64_t)(i + 1)), t = alive[i];
        alive[i] = alive[j];
        alive[j] = t;
    }
    int k = 1 + (int)(next_random(rng) % (uint64_t)n_alive);
    if (k > M)
        k = M;
    if (k > COORD_EPOCH_STAGES)
        k = COORD_EPOCH_STAGES;
    /* k - 1 distinct cuts in 1..M-1: mark them in a bitmap walk. */
    unsigned char *cut = calloc((size_t)M + 1, 1);
    if (!cut)
        return err_set(err, ERR_NOMEM, "out of memory");
    for (int placed = 0; placed < k - 1;) {
        int u = 1 + (int)(next_random(rng) % (uint64_t)(M - 1));
        if (!cut[u]) {
            cut[u] = 1;
            placed++;
        }
    }
    int at = 0, s = 0;
    for (int u = 1; u <= M; u++)
        if (u == M || cut[u]) {
            stages[s] = (coord_stage_t){.worker = alive[s], .begin = at, .end = u};
            s++;
            at = u;
        }
    free(cut);
    *n = s;
    return 0;
}

/* A forced switch happened (or was dropped): the next one is due switch_every tokens from now, so that tokens
 * generated while it was prepared do not make the next one due at once. */
static void forced_done(coord_t *c, void *user, int switched)
{
    (void)user;
    (void)switched;
    c->next_switch = c->tokens + (uint64_t)c->o.switch_every;
}

int coord_forced_switch(coord_t *c, err_t *err)
{
    if (!c->o.switch_every || c->tokens < c->next_switch || c->n_stages == 0 || coord_preparing(c))
        return 0;
    c->next_switch = c->tokens + (uint64_t)c->o.switch_every;
    int unfinished = 0;
    for (int i = 0; i < c->o.n_seq; i++)
        unfinished += c->sess[i].used && !c->sess[i].done;
    if (!unfinished)
        return 0;
    coord_stage_t st[COORD_MAX_WORKERS];
    int n = 0, rc;
    if (c->o.switch_to) {   /* the given plans in turn, the last one repeating */
        const char *p = c->o.switch_to;
        for (int k = 0; k < c->n_forced && strchr(p, ';'); k++)
            p = strchr(p, ';') + 1;
        char text[512];
        size_t len = strcspn(p, ";");
        snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), p);
        unit_range_t ranges[COORD_MAX_WORKERS];
        if ((rc = split_parse(text, c->seg->n_units, c->n_workers, ranges, err)))
            return err_prefix(err, "forced switch to '%s'", text);
        for (int i = 0; i < c->n_workers; i++) {
            if (ranges[i].end == ranges[i].begin)
                continue;
            if (!coord_worker_alive(c, i)) {
                fprintf(stderr, "coordinator: forced switch to '%s' skipped: worker %s is lost\n", text,
                        c->workers[i].name);
                c->n_forced++;
                return 0;
            }
            st[n++] = (coord_stage_t){.worker = i, .begin = ranges[i].begin, .end = ranges[i].end};
        }
    } else if ((rc = coord_random_stages(c, &c->switch_rng, st, &n, err))) {
        return rc;
    }
    c->n_forced++;
    return coord_switch_when_ready(c, st, n, "forced switch", forced_done, NULL, err);
}
