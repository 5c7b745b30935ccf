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

#include "coord/coord_internal.h"
#include "node/ring.h"

#define COORD_EPOCH_CROSSING 0xFFFFFFFFu   /* a session between two epochs: no TOKEN matches it */
#define WEYL_STEP 0x9E3779B97F4A7C15ULL   /* the sampler RNG's per-draw increment (samp.c) */

int coord_worker_alive(const coord_t *c, int worker)
{
    return worker >= 0 && worker < c->n_workers && c->workers[worker].has_model && !c->workers[worker].lost;
}

int coord_session_send_open(coord_t *c, csession_t *s, err_t *err)
{
    const samp_params_t *sp = &s->sp;
    const int slot = (int)(s - c->sess);
    msg_init(&s->open, MSG_SESSION_OPEN);
    s->open.epoch = c->epoch;
    s->epoch = c->epoch;
    s->open.session = s->id;
    s->open.flags = s->want_logits ? RING_OPEN_WANT_LOGITS : 0;
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
    s->acks_missing = c->n_stages - 1;
    int rc;
    if (s->acks_missing == 0) {
        s->open.flags |= RING_OPEN_HEADER;
        return coord_send_to(c, c->stages[0].worker, &s->open, err);
    }
    for (int i = 1; i < c->n_stages; i++)
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
    snprintf(e->why, sizeof e->why, "%s", c->why[0] ? c->why : "initial plan");
    for (int s = 0; s < c->n_stages && s < COORD_EPOCH_STAGES; s++)
        e->stages[e->n_stages++] =
            (coord_stage_t){.worker = c->stages[s].worker, .begin = c->stages[s].begin, .end = c->stages[s].end};
    e->sessions = replayed_sessions;
    e->replayed_tokens = replayed_tokens;
    e->switch_ms = switch_ms;
    c->why[0] = 0;
}

int coord_switch(coord_t *c, const coord_stage_t *stages, int n, const char *why, int timeout_ms, err_t *err)
{
    const int64_t t0 = net_now_ms();
    snprintf(c->why, sizeof c->why, "%s", why ? why : "switch");
    for (int i = 0; i < c->o.n_seq; i++)   /* crossing: from now on the old plan's tokens are stale */
        if (c->sess[i].used && !c->sess[i].done)
            c->sess[i].epoch = COORD_EPOCH_CROSSING;
    int rc = coord_deploy_stages(c, stages, n, timeout_ms, err);
    if (rc)
        return err_prefix(err, "epoch switch (%s)", why ? why : "switch");
    int sessions = 0;
    uint64_t tokens = 0;
    for (int i = 0; i < c->o.n_seq; i++) {
        csession_t *s = &c->sess[i];
        if (!s->used || s->done)
            continue;
        if ((rc = coord_session_send_open(c, s, err)))
            return err_prefix(err, "reopening session %llu under epoch %u", (unsigned long long)s->id, c->epoch);
        sessions++;
        tokens += (uint64_t)(s->n_prompt + s->n_gen);
    }
    coord_epoch_info_t *e = last_record(c);
    e->sessions = sessions;
    e->replayed_tokens = tokens;
    e->switch_ms = (double)(net_now_ms() - t0);
    return 0;
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

int coord_forced_switch(coord_t *c, err_t *err)
{
    if (!c->o.switch_every || c->tokens < c->next_switch || c->n_stages == 0)
        return 0;
    c->next_switch = c->tokens + (uint64_t)c->o.switch_every;
    int unfinished = 0;
    for (int i = 0; i < c->o.n_seq; i++)
        unfinished += c->sess[i].used && !c->sess[i].done;
    if (!unfinished)
        return 0;
    coord_stage_t st[COORD_MAX_WORKERS];
    int n = 0;
    int rc = coord_random_stages(c, &c->switch_rng, st, &n, err);
    return rc ? rc : coord_switch(c, st, n, "forced switch", 60000, err);
}
