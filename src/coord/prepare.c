/*
 * prepare.c — switching once the new owners are ready (see prepare.h).
 */
#include "coord/prepare.h"

#include <stdio.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "node/ring.h"

int coord_preparing(const coord_t *c) { return c->prep.active; }

static void finish(coord_t *c, int switched)
{
    coord_switched_fn done = c->prep.done;
    void *user = c->prep.user;
    c->prep.active = 0;
    c->prep.done = NULL;
    if (done)
        done(c, user, switched);
}

void coord_prepare_drop(coord_t *c, const char *why)
{
    if (!c->prep.active)
        return;
    fprintf(stderr, "coordinator: pending switch (%s) dropped: %s\n", c->prep.why, why);
    finish(c, 0);
}

/* 1 when worker k holds warm all of [begin, end) now. */
static int holds(const coord_t *c, int k, uint32_t begin, uint32_t end)
{
    const worker_rec_t *w = &c->workers[k];
    return w->warm_end > w->warm_begin && begin >= w->warm_begin && end <= w->warm_end;
}

int coord_switch_when_ready(coord_t *c, const coord_stage_t *st, int n, const char *why, coord_switched_fn done,
                            void *user, err_t *err)
{
    coord_prepare_drop(c, "a newer switch replaces it");
    if (n < 1 || n > COORD_MAX_WORKERS)
        return err_set(err, ERR_INVAL, "a switch to %d stages", n);
    int rc = 0, sent = 0;
    coord_prepare_t *p = &c->prep;
    memset(p->waiting, 0, sizeof p->waiting);
    p->id++;   /* never 0: that id acknowledges a deployment's replicas */
    for (int s = 0; c->o.prepare && s < n; s++) {
        const int k = st[s].worker;
        if (k < 0 || k >= c->n_workers || !coord_worker_alive(c, k) || holds(c, k, (uint32_t)st[s].begin,
                                                                                (uint32_t)st[s].end))
            continue;   /* nothing to make resident (a worker not alive fails the switch itself) */
        msg_t m;   /* the stage's units only: its new replicas follow the deployment in the background */
        coord_deploy_fill(c, st[s].begin, st[s].end, (uint32_t)st[s].begin, (uint32_t)st[s].end, n, &m);
        m.flags = RING_DEPLOY_PREPARE;
        m.session = p->id;
        if ((rc = coord_send_to(c, k, &m, err)))
            return rc;
        p->waiting[k] = 1;
        sent++;
    }
    if (!sent) {
        rc = coord_switch(c, st, n, why, 60000, err);
        if (done)
            done(c, user, rc == 0);
        return rc;
    }
    p->active = 1;
    memcpy(p->stages, st, (size_t)n * sizeof *st);
    p->n = n;
    snprintf(p->why, sizeof p->why, "%s", why ? why : "switch");
    p->started_ms = net_now_ms();
    p->done = done;
    p->user = user;
    if (c->o.verbose) {
        fprintf(stderr, "coordinator: switch (%s) waits for", p->why);
        for (int k = 0; k < c->n_workers; k++)
            if (p->waiting[k])
                fprintf(stderr, " %s", c->workers[k].name);
        fprintf(stderr, " to make its next units resident; the ring runs on meanwhile\n");
    }
    return 0;
}

void coord_prepare_on_ack(coord_t *c, int k, const msg_t *m)
{
    coord_prepare_t *p = &c->prep;
    worker_rec_t *w = &c->workers[k];
    if (m->session == 0) {   /* a deployment's replicas are resident (node/worker_weights.h) */
        if (m->ack.code == 0 && m->epoch == w->replica_epoch) {
            w->warm_begin = w->replica_begin;
            w->warm_end = w->replica_end;
        }
        return;
    }
    if (!p->active || m->session != p->id || !p->waiting[k])
        return;   /* answers a prepare that was dropped or replaced */
    p->waiting[k] = 0;
    if (m->ack.code != 0)
        fprintf(stderr, "coordinator: worker %s cannot prepare its next stage (%s): its deployment will load it\n",
                w->name, m->ack.text);
}

int coord_prepare_check(coord_t *c, err_t *err)
{
    coord_prepare_t *p = &c->prep;
    if (!p->active)
        return 0;
    int missing = 0;
    for (int k = 0; k < c->n_workers; k++) {
        if (!p->waiting[k])
            continue;
        if (!coord_worker_alive(c, k)) {
            char why[96];
            snprintf(why, sizeof why, "worker %s was lost while preparing", c->workers[k].name);
            coord_prepare_drop(c, why);
            return 0;
        }
        missing++;
    }
    const double waited_ms = (double)(net_now_ms() - p->started_ms);
    if (missing && waited_ms < COORD_PREPARE_TIMEOUT_MS)
        return 0;
    if (missing)
        fprintf(stderr, "coordinator: %d worker(s) not ready for the switch (%s) after %.0f s: switching anyway\n",
                missing, p->why, waited_ms / 1e3);
    coord_stage_t st[COORD_MAX_WORKERS];
    const int n = p->n;
    memcpy(st, p->stages, (size_t)n * sizeof *st);
    char why[96];
    snprintf(why, sizeof why, "%s", p->why);
    coord_switched_fn done = p->done;
    void *user = p->user;
    p->active = 0;   /* coord_switch must not drop it */
    p->done = NULL;
    const uint32_t before = c->epoch;
    int rc = coord_switch(c, st, n, why, 60000, err);
    coord_epoch_info_t *e = c->n_epochs > 0 ? &c->epochs[(c->n_epochs - 1) % COORD_MAX_EPOCHS] : NULL;
    if (rc == 0 && e && e->epoch == c->epoch && c->epoch != before) {
        e->prepare_ms = waited_ms;
        if (c->o.verbose)
            fprintf(stderr, "coordinator: epoch %u: its workers were ready %.0f ms after the decision; the old "
                    "plan ran meanwhile\n", c->epoch, waited_ms);
    }
    if (done)
        done(c, user, rc == 0 && c->epoch != before);
    return rc;
}
