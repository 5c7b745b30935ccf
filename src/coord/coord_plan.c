/*
 * coord_plan.c — profiles, the planning problem, and plan reports (see coord_plan.h).
 */
#include "coord/coord_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "coord/coord_secure.h"
#include "plan/ring_sim.h"
#include "plan/unit_cost.h"
#include "tensor/types.h"

int coord_profile_store(coord_t *c, worker_profile_t *pr, const void *data, err_t *err)
{
    const size_t n = (size_t)c->seg->n_units;
    const int slot = pr->slot < c->n_profile_batches ? pr->slot : -1;
    const uint8_t *d = data;   /* (seconds per token, spread) pairs: the spread is not kept */
    for (int k = 0; k < c->n_profile_batches; k++) {
        if (slot >= 0 && k != slot)
            continue;
        if (!pr->time_at[k] && !(pr->time_at[k] = malloc(n * sizeof *pr->time_at[k])))
            return err_set(err, ERR_NOMEM, "out of memory");
        for (size_t u = 0; u < n; u++)
            memcpy(&pr->time_at[k][u], d + 8 * u, 4);
    }
    return 0;
}

/* Sends the request *m to every worker (only >= 0: to that one alone), naming
 * every other worker as its peers when it is links-only (batch 0), its unit
 * times to go to profile slot `slot`; then waits until each has answered. */
static int profile_round(coord_t *c, msg_t *m, int only, int slot, int timeout_ms, err_t *err)
{
    for (int i = 0; i < c->n_workers; i++) {
        if (only >= 0 && i != only)
            continue;
        m->profile_req.n_peers = 0;
        for (int k = 0; m->profile_req.batch == 0 && k < c->n_workers && k < MSG_MAX_PEERS; k++)
            if (k != i)
                snprintf(m->profile_req.peers[m->profile_req.n_peers++], sizeof m->profile_req.peers[0], "%s",
                         c->workers[k].endpoint);
        c->workers[i].prof.have = 0;
        c->workers[i].prof.slot = slot;
        int rc = coord_send_to(c, i, m, err);
        if (rc)
            return rc;
    }
    int64_t deadline = net_now_ms() + timeout_ms;
    for (int i = 0; i < c->n_workers; i++) {
        while ((only < 0 || i == only) && !c->workers[i].prof.have) {
            if (net_now_ms() > deadline)
                return err_set(err, ERR_TIMEOUT, "worker %s sent no profile within %d ms", c->workers[i].name,
                               timeout_ms);
            int rc = coord_pump(c, 100, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int coord_profile(coord_t *c, int rounds, const int *batches, int n_batches, int default_batch, int probe_bytes,
                  int timeout_ms, err_t *err)
{
    if (n_batches < 1 || n_batches > COORD_PROFILE_MAX_BATCHES)
        return err_set(err, ERR_INVAL, "profile: %d batch sizes, want 1..%d", n_batches, COORD_PROFILE_MAX_BATCHES);
    int has_default = 0;
    for (int k = 0; k < n_batches; k++) {
        if (batches[k] < 1 || batches[k] > 4096)
            return err_set(err, ERR_INVAL, "profile: batch %d, want 1..4096", batches[k]);
        has_default |= batches[k] == default_batch;
    }
    if (!has_default)
        return err_set(err, ERR_INVAL, "profile: the default batch %d is not among those profiled", default_batch);
    c->profile_batch = default_batch;   /* a worker that joins later is profiled at it (join.c) */
    memcpy(c->profile_batches, batches, (size_t)n_batches * sizeof *batches);
    c->n_profile_batches = n_batches;
    for (int i = 0; i < c->n_workers; i++) {   /* with CURVE: every worker learns the others' keys first */
        int rc = coord_sec_send_peer_keys(c, i, err);
        if (rc)
            return rc;
    }
    for (int64_t deadline = net_now_ms() + timeout_ms; !coord_sec_keys_in_place(c);) {
        if (net_now_ms() > deadline)
            return err_set(err, ERR_TIMEOUT, "the workers did not acknowledge their peers' keys within %d ms",
                           timeout_ms);
        int rc = coord_pump(c, 50, err);
        if (rc)
            return rc;
    }
    msg_t m;
    msg_init(&m, MSG_PROFILE_REQ);
    m.profile_req.rounds = (uint32_t)rounds;
    m.profile_req.probe_bytes = (uint32_t)probe_bytes;
    for (int k = 0; k < n_batches; k++) {   /* units: every worker at once, one batch size after another */
        m.profile_req.batch = (uint32_t)batches[k];
        int rc = profile_round(c, &m, -1, k, timeout_ms, err);
        if (rc)
            return rc;
    }
    for (int i = 0; c->n_workers > 1 && i < c->n_workers; i++) {   /* links: one worker at a time */
        m.profile_req.batch = 0;
        int rc = profile_round(c, &m, i, -1, timeout_ms, err);
        if (rc)
            return rc;
    }
    return 0;
}

int coord_problem(const coord_t *c, plan_objective_t objective, int header, plan_problem_t *p, err_t *err)
{
    return coord_problem_at(c, objective, header, c->profile_batch, p, err);
}

int coord_problem_at(const coord_t *c, plan_objective_t objective, int header, int batch, plan_problem_t *p,
                     err_t *err)
{
    const int M = c->seg->n_units, N = c->n_workers;
    if (N > PLAN_MAX_DEVICES)
        return err_set(err, ERR_RANGE, "%d workers: the planner takes at most %d", N, PLAN_MAX_DEVICES);
    for (int i = 0; i < N; i++)
        if (!c->workers[i].prof.have)
            return err_set(err, ERR_STATE, "worker %s has not been profiled", c->workers[i].name);
    unit_cost_t *costs = calloc((size_t)M, sizeof *costs);
    int rc = costs ? unit_cost_compute(c->seg, costs, err) : err_set(err, ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = plan_problem_init(p, N, M, err);
    if (rc) {
        free(costs);
        return rc;
    }
    p->objective = objective;
    p->header = header;
    p->token_bytes = MSG_HDR_SIZE + 8;   /* a TOKEN message */
    const double act_bytes = c->o.act_f16 ? 2.0 : 4.0;
    const int step_rows = 64 + c->o.n_seq;   /* a worker's step: a prompt chunk and every decode row (node/batch.h) */
    for (int u = 0; u < M; u++) {
        p->unit_mem[u] = costs[u].weight_bytes + costs[u].kv_bytes_per_token * (size_t)c->o.n_ctx * c->o.n_seq +
                         costs[u].scratch_bytes_per_token * step_rows;
        /* one token's activations plus an ACTIVATION message's header and body */
        p->out_bytes[u] = (double)costs[u].out_bytes_per_token / 4.0 * act_bytes + MSG_HDR_SIZE + 24;
    }
    for (int i = 0; i < N; i++) {
        const worker_rec_t *w = &c->workers[i];
        snprintf(p->name[i], sizeof p->name[i], "%s", w->name);
        p->dev_mem[i] = w->prof.free_mem;
        const float *t = NULL;
        double nearest = INFINITY;   /* |log| of the ratio to the closest profiled size */
        for (int k = 0; k < c->n_profile_batches; k++) {
            const double far = fabs(log((double)c->profile_batches[k] / batch));
            if (w->prof.time_at[k] && far < nearest) {
                nearest = far;
                t = w->prof.time_at[k];
            }
        }
        if (!t) {
            plan_problem_fini(p);
            free(costs);
            return err_set(err, ERR_STATE, "worker %s has no unit times", w->name);
        }
        for (int u = 0; u < M; u++)
            p->time[(size_t)i * M + u] = t[u];
        for (int k = 0; k < N; k++) {
            if (k == i)
                continue;
            double lat = w->prof.latency[k], bw = w->prof.bandwidth[k];
            if (lat < 0 || bw <= 0) {   /* not measured this way (a worker that joined later): the other way */
                lat = c->workers[k].prof.latency[i];
                bw = c->workers[k].prof.bandwidth[i];
            }
            p->latency[i * N + k] = lat >= 0 ? lat : 1.0;      /* unmeasured: prohibitive */
            p->bandwidth[i * N + k] = bw > 0 ? bw : 1.0;
        }
    }
    free(costs);
    return plan_problem_check(p, err);
}

int coord_rows_per_stage(int n_seq, int n_stages)
{
    return n_stages > 0 ? (n_seq + n_stages - 1) / n_stages : n_seq;
}

int coord_profile_batches(int n_seq, int n_workers, int *batches)
{
    int n = 0;
    for (int s = 1; s <= n_workers; s++) {
        const int b = coord_rows_per_stage(n_seq, s);
        if (n > 0 && batches[n - 1] == b)
            continue;   /* non-increasing in s: duplicates are adjacent */
        if (n >= COORD_PROFILE_MAX_BATCHES - 2 && s < n_workers)
            continue;   /* keep two slots: all workers' rows and a single row */
        batches[n++] = b;
    }
    if (batches[n - 1] != 1)
        batches[n++] = 1;   /* the ring model's smallest step (ring_sim.h) */
    return n;
}

int coord_plan_batched(const coord_t *c, int header, int n_seq, plan_problem_t *p, plan_t *plan, err_t *err)
{
    const int n_dev = c->n_workers;
    int found = 0, rc = 0;
    memset(p, 0, sizeof *p);
    for (int s = 1; s <= n_dev && rc == 0; s++) {
        plan_problem_t q;
        plan_t cand;
        err_t why;
        if ((rc = coord_problem_at(c, PLAN_THROUGHPUT, header, coord_rows_per_stage(n_seq, s), &q, err)))
            break;
        if (plan_solve_dp_stages(&q, s, &cand, &why) == 0 &&
            (!found || (cand.objective < plan->objective && !plan_tie(cand.objective, plan->objective)))) {
            plan_problem_fini(p);
            *p = q;
            *plan = cand;
            found = 1;
        } else {
            plan_problem_fini(&q);
        }
    }
    if (rc == 0 && !found) {   /* no count has a plan: the unrestricted solver says why */
        if ((rc = coord_problem(c, PLAN_THROUGHPUT, header, p, err)) == 0)
            rc = plan_solve_dp(p, plan, err);
        if (rc == 0)
            rc = err_set(err, ERR_STATE, "no plan found for any stage count (internal error)");
    }
    if (rc)
        plan_problem_fini(p);
    return rc;
}

int coord_plan_stages(const plan_t *plan, coord_stage_t *stages)
{
    for (int s = 0; s < plan->n_stages; s++)
        stages[s] = (coord_stage_t){.worker = plan->stage[s].device, .begin = plan->stage[s].start,
                                    .end = plan->stage[s].end};
    return plan->n_stages;
}

int coord_even_stages_on(const coord_t *c, const int *workers, int n_workers, coord_stage_t *stages, int *n,
                         err_t *err)
{
    const int M = c->seg->n_units;
    unit_cost_t *costs = calloc((size_t)M, sizeof *costs);
    size_t *bytes = calloc((size_t)M, sizeof *bytes);
    unit_range_t ranges[COORD_MAX_WORKERS];
    int rc = costs && bytes ? unit_cost_compute(c->seg, costs, err) : err_set(err, ERR_NOMEM, "out of memory");
    for (int u = 0; rc == 0 && u < M; u++)
        bytes[u] = costs[u].weight_bytes;
    if (rc == 0)
        rc = split_even(bytes, M, n_workers, ranges, err);
    *n = 0;
    for (int i = 0; rc == 0 && i < n_workers; i++)
        if (ranges[i].end > ranges[i].begin)
            stages[(*n)++] = (coord_stage_t){.worker = workers[i], .begin = ranges[i].begin, .end = ranges[i].end};
    free(costs);
    free(bytes);
    return rc;
}

int coord_even_stages(const coord_t *c, coord_stage_t *stages, int *n, err_t *err)
{
    int all[COORD_MAX_WORKERS];
    for (int i = 0; i < c->n_workers; i++)
        all[i] = i;
    return coord_even_stages_on(c, all, c->n_workers, stages, n, err);
}

/* The ring of plan with the coordinator's sequences in flight (plan/ring_sim.h),
 * from the unit times of every profiled batch size; 0 when there is nothing to
 * simulate (one sequence, or one batch size profiled). */
static int simulate(const coord_t *c, const plan_t *plan, const plan_stage_cost_t *cost, ring_sim_result_t *res)
{
    if (c->o.n_seq < 2 || c->n_profile_batches < 2 || plan->n_stages > RING_SIM_MAX_STAGES ||
        c->o.n_seq > 4096)
        return 0;
    ring_sim_t r;
    memset(&r, 0, sizeof r);
    r.n_stages = plan->n_stages;
    r.n_seq = c->o.n_seq;
    int order[COORD_PROFILE_MAX_BATCHES];
    for (int k = 0; k < c->n_profile_batches; k++) {   /* ascending batch sizes */
        int j = r.n_batches++;
        while (j > 0 && c->profile_batches[order[j - 1]] > c->profile_batches[k]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    for (int k = 0; k < r.n_batches; k++)
        r.batch[k] = c->profile_batches[order[k]];
    for (int s = 0; s < plan->n_stages; s++) {
        const worker_profile_t *pr = &c->workers[plan->stage[s].device].prof;
        r.hop_s[s] = cost[s].hop;
        for (int k = 0; k < r.n_batches; k++) {
            const float *t = pr->time_at[order[k]];
            if (!t)
                return 0;
            double sum = 0;
            for (int u = plan->stage[s].start; u < plan->stage[s].end; u++)
                sum += t[u];
            r.step_s[s][k] = sum * r.batch[k];
        }
    }
    err_t err;
    return ring_sim_run(&r, res, &err) == 0;
}

void coord_print_plan(FILE *f, const coord_t *c, const plan_problem_t *p, const plan_t *plan, int measured)
{
    plan_stage_cost_t cost[PLAN_MAX_DEVICES];
    double objective = 0;
    err_t err;
    if (plan_eval(p, plan, &objective, cost, &err) != 0) {
        fprintf(f, "plan: %s\n", err.msg);
        return;
    }
    fprintf(f, "%-5s %-12s %-9s %10s %10s %12s %12s", "stage", "device", "units", "mem MiB", "avail MiB",
            "compute ms", "hop ms");
    if (measured)
        fprintf(f, " %12s", "measured ms");
    fputc('\n', f);
    for (int s = 0; s < plan->n_stages; s++) {
        const plan_stage_t *st = &plan->stage[s];
        char units[32];
        snprintf(units, sizeof units, "%d-%d", st->start, st->end);
        fprintf(f, "%-5d %-12s %-9s %10.1f %10.1f %12.3f %12.3f", s, p->name[st->device], units,
                (double)cost[s].mem / 1048576.0, (double)p->dev_mem[st->device] / 1048576.0, 1e3 * cost[s].compute,
                1e3 * cost[s].hop);
        if (measured) {
            coord_stage_info_t si;
            if (coord_stage_info(c, s, &si) == 0 && si.steps)
                fprintf(f, " %12.3f", si.compute_ms);
            else
                fprintf(f, " %12s", "-");
        }
        fputc('\n', f);
    }
    fprintf(f, "predicted %s: %.3f ms per token (%.1f tokens/s)\n",
            p->objective == PLAN_LATENCY ? "latency" : "bottleneck (throughput)", 1e3 * objective,
            objective > 0 ? 1.0 / objective : 0.0);
    ring_sim_result_t sim;
    if (!simulate(c, plan, cost, &sim))
        return;
    double worst = 0;
    for (int s = 0; s < plan->n_stages; s++) {
        fprintf(f, "simulated stage %d: decode steps of %.1f rows, %.3f ms per token\n", s, sim.rows[s],
                1e3 * sim.token_s[s]);
        worst = sim.token_s[s] > worst ? sim.token_s[s] : worst;
    }
    fprintf(f, "simulated with %d in flight: bottleneck %.3f ms per token, %.1f tokens/s\n", c->o.n_seq, 1e3 * worst,
            sim.tokens_per_s);
}
