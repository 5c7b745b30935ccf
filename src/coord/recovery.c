/*
 * recovery.c — noticing lost workers and rebuilding the ring on the survivors
 * (see recovery.h).  Called from coord_poll after the messages are handled.
 */
#include "coord/recovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "coord/coord_plan.h"
#include "coord/epoch.h"
#include "net/monitor.h"
#include "plan/plan.h"
#include "plan/unit_cost.h"

#define RECOVERY_ATTEMPTS 4          /* a survivor may die while the new plan deploys: plan again */

int coord_monitor_open(coord_t *c, err_t *err) { return net_monitor_open(c->zctx, c->router, &c->monitor, err); }
void coord_monitor_close(coord_t *c) { net_monitor_close(&c->monitor); }
void coord_monitor_drain(coord_t *c)
{
    int fds[COORD_MAX_WORKERS];
    int n_fd = net_monitor_poll(c->monitor, fds, COORD_MAX_WORKERS);
    for (int k = 0; k < n_fd; k++)
        for (int i = 0; i < c->n_workers; i++)
            if (fds[k] >= 0 && c->workers[i].fd == fds[k] && !c->workers[i].lost) {
                c->workers[i].closed = 1;
                c->workers[i].fd = -1;
            }
}

int coord_n_losses(const coord_t *c) { return c->n_losses; }

int coord_session_failed(const coord_t *c, uint64_t session)
{
    for (int s = 0; s < c->o.n_seq; s++)
        if (c->sess[s].used && c->sess[s].id == session)
            return c->sess[s].failed;
    return 0;
}

static int in_ring(const coord_t *c, int worker)
{
    for (int s = 0; s < c->n_stages; s++)
        if (c->stages[s].worker == worker)
            return 1;
    return 0;
}

/* Survivors: the ring's live workers in ring order, then the other live ones. */
static int survivors(const coord_t *c, int *out)
{
    int n = 0;
    for (int s = 0; s < c->n_stages; s++)
        if (coord_worker_alive(c, c->stages[s].worker))
            out[n++] = c->stages[s].worker;
    for (int i = 0; i < c->n_workers; i++)
        if (coord_worker_alive(c, i) && !in_ring(c, i))
            out[n++] = i;
    return n;
}

/* The exact DP over the survivors, each tried as the header; ERR_STATE when not all are profiled. */
static int dp_stages(coord_t *c, const int *alive, int n_alive, coord_stage_t *st, int *n, err_t *err)
{
    for (int i = 0; i < c->n_workers; i++)
        if (!c->workers[i].prof.have)
            return err_set(err, ERR_STATE, "worker %s has not been profiled", c->workers[i].name);
    plan_t best;
    int found = 0, rc = 0;
    for (int h = 0; h < n_alive; h++) {
        plan_problem_t p;
        memset(&p, 0, sizeof p);
        if ((rc = coord_problem(c, c->o.objective ? PLAN_THROUGHPUT : PLAN_LATENCY, alive[h], &p, err)))
            return rc;
        for (int i = 0; i < c->n_workers; i++)
            if (!coord_worker_alive(c, i))
                p.dev_mem[i] = 0;   /* a lost device holds nothing */
        plan_t plan;
        err_t why;
        if (plan_solve_dp(&p, &plan, &why) == 0 && (!found || plan.objective < best.objective)) {
            best = plan;
            found = 1;
        } else if (!found) {
            *err = why;
        }
        plan_problem_fini(&p);
    }
    if (!found)
        return ERR_NOTFOUND;
    *n = coord_plan_stages(&best, st);
    return 0;
}

/* The even split by weight bytes over the survivors, checked against the memory each offered. */
static int even_stages(coord_t *c, const int *alive, int n_alive, coord_stage_t *st, int *n, err_t *err)
{
    const int M = c->seg->n_units;
    unit_cost_t *costs = calloc((size_t)M, sizeof *costs);
    int rc = costs ? unit_cost_compute(c->seg, costs, err) : err_set(err, ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = coord_even_stages_on(c, alive, n_alive, st, n, err);
    for (int s = 0; rc == 0 && s < *n; s++) {
        double need = 0;
        for (int u = st[s].begin; u < st[s].end; u++)
            need += (double)costs[u].weight_bytes +
                    (double)costs[u].kv_bytes_per_token * (double)c->o.n_ctx * (double)c->o.n_seq;
        const worker_rec_t *w = &c->workers[st[s].worker];
        if (w->free_mem > 0 && need > (double)w->free_mem)
            rc = err_set(err, ERR_NOTFOUND, "units %d-%d need %.1f MiB, worker %s offers %.1f MiB", st[s].begin,
                         st[s].end, need / 1048576.0, w->name, (double)w->free_mem / 1048576.0);
    }
    free(costs);
    return rc;
}

int coord_survivor_stages(coord_t *c, coord_stage_t *st, int *n, err_t *err)
{
    int alive[COORD_MAX_WORKERS];
    int n_alive = survivors(c, alive);
    if (n_alive == 0)
        return err_set(err, ERR_NOTFOUND, "no worker is left");
    int rc = dp_stages(c, alive, n_alive, st, n, err);
    if (rc == ERR_STATE)
        rc = even_stages(c, alive, n_alive, st, n, err);
    if (rc)
        err_prefix(err, "the model does not fit on the %d remaining worker(s)", n_alive);
    return rc;
}

static void fail_sessions(coord_t *c)
{
    for (int i = 0; i < c->o.n_seq; i++)
        if (c->sess[i].used && !c->sess[i].done)
            c->sess[i].failed = c->sess[i].done = 1;
}

static void declare_lost(coord_t *c, int i, const char *why, char *reason, size_t cap)
{
    worker_rec_t *w = &c->workers[i];
    w->lost = 1;
    c->n_losses++;
    c->last_loss_ms = net_now_ms();
    fprintf(stderr, "coordinator: worker %s lost: %s\n", w->name, why);
    size_t len = strlen(reason);
    if (len + 1 < cap)
        snprintf(reason + len, cap - len, "%sworker %s lost (%s)", len ? "; " : "", w->name, why);
}

/* Re-plans on the survivors and switches; on failure every session ends. */
static int recover(coord_t *c, const char *reason, err_t *err)
{
    if (!c->o.recover) {
        fail_sessions(c);
        return err_set(err, ERR_TIMEOUT, "%s", reason);
    }
    int rc = 0;
    for (int attempt = 0; attempt < RECOVERY_ATTEMPTS; attempt++) {
        coord_stage_t st[COORD_MAX_WORKERS];
        int n = 0;
        if ((rc = coord_survivor_stages(c, st, &n, err)))
            break;
        if (c->o.verbose) {
            fprintf(stderr, "coordinator: %s: re-planning on", reason);
            for (int s = 0; s < n; s++)
                fprintf(stderr, " %s[%d-%d]", c->workers[st[s].worker].name, st[s].begin, st[s].end);
            fputc('\n', stderr);
        }
        c->recovering = 1;
        rc = coord_switch(c, st, n, reason, c->o.liveness_ms > 5000 ? c->o.liveness_ms : 5000, err);
        c->recovering = 0;
        if (rc == 0)
            return 0;
        /* A survivor failed while deploying: whoever is silent now is lost too. */
        fprintf(stderr, "coordinator: recovery attempt %d failed: %s\n", attempt + 1, err->msg);
        int64_t now = net_now_ms();
        for (int s = 0; s < n; s++) {
            worker_rec_t *w = &c->workers[st[s].worker];
            if (!w->acked && now - w->last_seen > c->o.heartbeat_ms * 2) {
                char ignored[8] = "";
                declare_lost(c, st[s].worker, "no deploy acknowledgement", ignored, 1);
            }
        }
    }
    fail_sessions(c);
    return err_prefix(err, "%s", reason);
}

int coord_check_liveness(coord_t *c, err_t *err)
{
    char reason[sizeof c->why];
    reason[0] = 0;
    int ring_hit = 0;
    coord_monitor_drain(c);
    for (int i = 0; i < c->n_workers; i++)
        if (!c->workers[i].lost && c->workers[i].has_model && c->workers[i].closed) {
            ring_hit |= in_ring(c, i);
            declare_lost(c, i, "connection closed", reason, sizeof reason);
        }
    const int64_t now = net_now_ms();
    for (int i = 0; i < c->n_workers; i++) {
        worker_rec_t *w = &c->workers[i];
        if (w->lost || !w->has_model || now - w->last_seen <= c->o.liveness_ms)
            continue;
        char why[64];
        snprintf(why, sizeof why, "silent for %lld ms", (long long)(now - w->last_seen));
        ring_hit |= in_ring(c, i);
        declare_lost(c, i, why, reason, sizeof reason);
    }
    if (c->replan && c->n_stages > 0) {
        c->replan = 0;
        ring_hit = 1;
        if (!reason[0])
            snprintf(reason, sizeof reason, "%s", c->replan_why[0] ? c->replan_why : "re-plan");
    }
    if (!ring_hit)
        return 0;
    return recover(c, reason, err);
}
