/*
 * balancer.c — the load balancer's policy (see balancer.h): compare, decide,
 * switch through coord_switch_when_ready (prepare.h: a move beyond the
 * replicas waits, the ring running, until the new owners hold their weights),
 * then measure what the switch gained.
 */
#include "coord/balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "coord/coord_plan.h"
#include "coord/epoch.h"

#define REPLICA_SEARCH_MAX_BOUNDARIES 6   /* (2R+1)^b boundary-only candidates stay cheap */

struct coord_balancer {
    coord_balance_opts_t o;
    plan_problem_t prof;          /* as profiled */
    plan_problem_t scaled;        /* unit times x the devices' measured factors */
    double factor[PLAN_MAX_DEVICES];
    plan_t plan;                  /* the deployed plan (devices = worker indices) */
    uint32_t epoch;               /* the epoch it is deployed under */
    double predicted;             /* the reference objective: what the plan should do now */
    int64_t over_since, next_check, quiet_until;
    int switches;
    int gain_pending;             /* after a switch: measure the gain once the cooldown is over */
    double before_s, predicted_gain;
    plan_t previous;              /* the plan before the last switch (to go back when it did not pay) */
    int rolled_back;              /* went back once: no further switch for this load */
    /* the switch decided but not yet made (its workers preparing): taken up by switched() */
    plan_t next;
    int next_is_back;             /* it goes back to previous */
    double next_before_s, next_gain;
};

void coord_balance_opts_default(coord_balance_opts_t *o)
{
    *o = (coord_balance_opts_t){.threshold = 0.25, .window_ms = 500, .min_gain = 0.10, .replica_slack = 0.03,
                                .replica_units = 2, .cooldown_ms = 2000, .check_ms = 100, .min_samples = 8};
}

static int copy_problem(const plan_problem_t *src, plan_problem_t *dst, err_t *err)
{
    int rc = plan_problem_init(dst, src->n_dev, src->n_units, err);
    if (rc)
        return rc;
    const size_t M = (size_t)src->n_units, N = (size_t)src->n_dev;
    dst->objective = src->objective;
    dst->header = src->header;
    dst->token_bytes = src->token_bytes;
    memcpy(dst->unit_mem, src->unit_mem, M * sizeof *dst->unit_mem);
    memcpy(dst->out_bytes, src->out_bytes, M * sizeof *dst->out_bytes);
    memcpy(dst->dev_mem, src->dev_mem, N * sizeof *dst->dev_mem);
    memcpy(dst->time, src->time, N * M * sizeof *dst->time);
    memcpy(dst->latency, src->latency, N * N * sizeof *dst->latency);
    memcpy(dst->bandwidth, src->bandwidth, N * N * sizeof *dst->bandwidth);
    memcpy(dst->name, src->name, sizeof dst->name);
    return 0;
}

void coord_balance_destroy(coord_t *c)
{
    if (!c->bal)
        return;
    plan_problem_fini(&c->bal->prof);
    plan_problem_fini(&c->bal->scaled);
    free(c->bal);
    c->bal = NULL;
}

int coord_balance_switches(const coord_t *c) { return c->bal ? c->bal->switches : 0; }

int coord_balance_start(coord_t *c, const plan_problem_t *p, const plan_t *plan, const coord_balance_opts_t *o,
                        err_t *err)
{
    coord_balance_destroy(c);
    if (p->n_dev != c->n_workers)
        return err_set(err, ERR_INVAL, "balancer: a problem of %d devices for %d workers", p->n_dev, c->n_workers);
    coord_balancer_t *b = calloc(1, sizeof *b);
    if (!b)
        return err_set(err, ERR_NOMEM, "out of memory");
    b->o = *o;
    int rc = copy_problem(p, &b->prof, err);
    if (rc == 0)
        rc = copy_problem(p, &b->scaled, err);
    if (rc == 0)
        rc = plan_eval(p, plan, &b->predicted, NULL, err);
    if (rc) {
        plan_problem_fini(&b->prof);
        plan_problem_fini(&b->scaled);
        free(b);
        return rc;
    }
    for (int d = 0; d < PLAN_MAX_DEVICES; d++)
        b->factor[d] = 1.0;
    b->plan = *plan;
    b->epoch = c->epoch;
    c->bal = b;
    return 0;
}

static double combine(const plan_problem_t *p, int n, const double *compute, const double *hop)
{
    double sum = 0, worst = 0;
    for (int s = 0; s < n; s++) {
        sum += compute[s] + hop[s];
        if (compute[s] + hop[s] > worst)
            worst = compute[s] + hop[s];
    }
    return p->objective == PLAN_THROUGHPUT ? worst : sum;
}

static double range_time(const plan_problem_t *p, int d, int start, int end)
{
    double t = 0;
    for (int u = start; u < end; u++)
        t += p->time[(size_t)d * (size_t)p->n_units + (size_t)u];
    return t;
}

static void rescale(coord_balancer_t *b)
{
    const size_t M = (size_t)b->prof.n_units;
    for (int d = 0; d < b->prof.n_dev; d++)
        for (size_t u = 0; u < M; u++)
            b->scaled.time[(size_t)d * M + u] = b->prof.time[(size_t)d * M + u] * b->factor[d];
}

/* The best boundary-only move of cur (same devices and order, boundaries within replica_units) under scaled. */
static int boundary_move(const coord_balancer_t *b, const plan_t *cur, plan_t *best)
{
    const int nb = cur->n_stages - 1, R = b->o.replica_units;
    if (nb < 1 || nb > REPLICA_SEARCH_MAX_BOUNDARIES || R < 1)
        return 0;
    int shift[REPLICA_SEARCH_MAX_BOUNDARIES];
    for (int i = 0; i < nb; i++)
        shift[i] = -R;
    int found = 0;
    for (;;) {
        plan_t cand = *cur;
        int valid = 1;
        for (int i = 0; i < nb && valid; i++) {
            int edge = cur->stage[i].end + shift[i];
            cand.stage[i].end = edge;
            cand.stage[i + 1].start = edge;
        }
        for (int s = 0; s < cand.n_stages && valid; s++)
            valid = cand.stage[s].end > cand.stage[s].start;
        err_t ignored;
        if (valid && plan_eval(&b->scaled, &cand, &cand.objective, NULL, &ignored) == 0 &&
            (!found || cand.objective < best->objective)) {
            *best = cand;
            found = 1;
        }
        int i = 0;
        while (i < nb && ++shift[i] > R)
            shift[i++] = -R;
        if (i == nb)
            break;
    }
    return found;
}

/* The deployed stages as a plan (after another mechanism switched: recovery, a forced switch). */
static int adopt_ring(coord_t *c, coord_balancer_t *b)
{
    if (c->n_stages > PLAN_MAX_DEVICES)
        return -1;
    plan_t p = {.n_stages = c->n_stages};
    for (int s = 0; s < c->n_stages; s++) {
        if (c->stages[s].worker >= b->prof.n_dev)
            return -1;   /* a worker that joined after the profile */
        p.stage[s] = (plan_stage_t){.device = c->stages[s].worker, .start = c->stages[s].begin, .end = c->stages[s].end};
    }
    b->scaled.header = c->stages[0].worker;
    err_t ignored;
    if (plan_eval(&b->scaled, &p, &p.objective, NULL, &ignored))
        return -1;
    b->plan = p;
    b->predicted = p.objective;
    b->epoch = c->epoch;
    b->gain_pending = 0;   /* the ring changed under it: nothing to measure or undo */
    return 0;
}

/* The switch decided by coord_balance_check happened (or was dropped): the balancer now follows the new plan. */
static void switched(coord_t *c, void *user, int done)
{
    (void)user;
    coord_balancer_t *b = c->bal;
    if (!b)
        return;
    b->quiet_until = net_now_ms() + b->o.cooldown_ms;   /* the cooldown runs from the switch, not the decision */
    if (!done) {
        if (c->o.verbose)
            fprintf(stderr, "balance: the switch decided did not happen\n");
        return;
    }
    b->epoch = c->epoch;
    if (b->next_is_back) {
        b->plan = b->previous;
        b->predicted = b->before_s;
        return;
    }
    b->previous = b->plan;
    b->plan = b->next;
    b->predicted = b->next.objective;
    b->switches++;
    b->gain_pending = 1;
    b->before_s = b->next_before_s;
    b->predicted_gain = b->next_gain;
}

int coord_balance_check(coord_t *c, err_t *err)
{
    coord_balancer_t *b = c->bal;
    const int64_t now = net_now_ms();
    if (!b || c->n_stages == 0 || now < b->next_check || coord_preparing(c))
        return 0;
    b->next_check = now + b->o.check_ms;
    if (b->epoch != c->epoch && adopt_ring(c, b)) {
        if (c->o.verbose)
            fprintf(stderr, "balance: the ring changed to devices the profile does not know; balancer off\n");
        coord_balance_destroy(c);
        return 0;
    }
    /* The measurement: smoothed compute per stage, predicted hops. */
    plan_stage_cost_t cost[PLAN_MAX_DEVICES];
    double obj;
    if (plan_eval(&b->scaled, &b->plan, &obj, cost, err))
        return 0;
    double compute[PLAN_MAX_DEVICES], hop[PLAN_MAX_DEVICES];
    for (int s = 0; s < b->plan.n_stages; s++) {
        const worker_rec_t *w = &c->workers[b->plan.stage[s].device];
        if (w->mon.samples < (uint64_t)b->o.min_samples)
            return 0;
        compute[s] = w->mon.compute_s;
        hop[s] = cost[s].hop;
    }
    const double measured = combine(&b->scaled, b->plan.n_stages, compute, hop);
    if (b->gain_pending && now >= b->quiet_until) {
        b->gain_pending = 0;
        if (c->o.verbose)
            fprintf(stderr, "balance: measured after the switch: %.3f ms per token (was %.3f ms): gain %.2fx "
                    "(predicted %.2fx)\n", 1e3 * measured, 1e3 * b->before_s, b->before_s / measured,
                    b->predicted_gain);
        if (measured > b->before_s && !b->rolled_back) {   /* it did not pay: back, once, and stay there */
            coord_stage_t st[PLAN_MAX_DEVICES];
            int n = coord_plan_stages(&b->previous, st);
            if (c->o.verbose)
                fprintf(stderr, "balance: the switch made it slower: going back to the previous plan and staying\n");
            b->next = b->previous;
            b->next_is_back = 1;
            b->rolled_back = 1;   /* whether or not it happens: this load is left as it is */
            return coord_switch_when_ready(c, st, n, "balance: the last switch did not pay, back", switched, NULL, err);
        }
    }
    if (b->rolled_back)
        return 0;   /* hysteresis: after going back, this load is left as it is */
    if (now < b->quiet_until || measured <= b->predicted * (1.0 + b->o.threshold)) {
        b->over_since = 0;
        return 0;
    }
    if (!b->over_since) {
        b->over_since = now;
        return 0;
    }
    if (now - b->over_since < b->o.window_ms)
        return 0;
    /* Sustained: learn each ring device's speed, then plan on it. */
    b->over_since = 0;
    int slowest = 0;
    for (int s = 0; s < b->plan.n_stages; s++) {
        const plan_stage_t *st = &b->plan.stage[s];
        double profiled = range_time(&b->prof, st->device, st->start, st->end);
        if (profiled > 0)
            b->factor[st->device] = compute[s] / profiled;
        if (b->factor[st->device] > b->factor[b->plan.stage[slowest].device])
            slowest = s;
    }
    rescale(b);
    double current;
    plan_eval(&b->scaled, &b->plan, &current, NULL, err);
    plan_t opt, local, chosen;
    b->scaled.header = b->plan.stage[0].device;   /* the header keeps the tokenizer's end of the ring */
    if (plan_solve_dp(&b->scaled, &opt, err)) {
        b->predicted = current;
        return 0;
    }
    int have_local = boundary_move(b, &b->plan, &local);
    int use_local = have_local && local.objective <= opt.objective * (1.0 + b->o.replica_slack);
    chosen = use_local ? local : opt;
    const char *slow = c->workers[b->plan.stage[slowest].device].name;
    if (c->o.verbose)
        fprintf(stderr, "balance: measured %.3f ms per token vs %.3f ms predicted for %d ms (%s at %.2fx its "
                "profile); under measured speeds: current %.3f ms, optimum %.3f ms, boundary-only move %s%.3f ms\n",
                1e3 * measured, 1e3 * b->predicted, b->o.window_ms, slow, b->factor[b->plan.stage[slowest].device],
                1e3 * current, 1e3 * opt.objective, have_local ? "" : "none ", have_local ? 1e3 * local.objective : 0.0);
    b->quiet_until = now + b->o.cooldown_ms;
    if (chosen.objective > current * (1.0 - b->o.min_gain)) {
        if (c->o.verbose)
            fprintf(stderr, "balance: no plan gains %.0f%%: staying (the new reference is %.3f ms)\n",
                    100 * b->o.min_gain, 1e3 * current);
        b->predicted = current;
        return 0;
    }
    coord_stage_t st[PLAN_MAX_DEVICES];
    int n = coord_plan_stages(&chosen, st);
    char why[96];
    snprintf(why, sizeof why, "balance: %s %.2fx slower, %s, predicted gain %.2fx", slow,
             b->factor[b->plan.stage[slowest].device], use_local ? "boundary move" : "re-plan",
             current / chosen.objective);
    if (c->o.verbose) {
        fprintf(stderr, "balance: switching (%s):", use_local ? "boundary-only move" : "optimum");
        for (int s = 0; s < n; s++)
            fprintf(stderr, " %s[%d-%d]", c->workers[st[s].worker].name, st[s].begin, st[s].end);
        fprintf(stderr, ", predicted %.3f ms per token, gain %.2fx\n", 1e3 * chosen.objective,
                current / chosen.objective);
    }
    b->next = chosen;
    b->next_is_back = 0;
    b->next_before_s = measured;
    b->next_gain = current / chosen.objective;
    return coord_switch_when_ready(c, st, n, why, switched, NULL, err);
}
