/*
 * coord_plan.c — profiles, the planning problem, and plan reports (see coord_plan.h).
 */
#include "coord/coord_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "coord/coord_secure.h"
#include "plan/unit_cost.h"
#include "tensor/types.h"

int coord_profile(coord_t *c, int rounds, int batch, int probe_bytes, int timeout_ms, err_t *err)
{
    c->profile_batch = batch;   /* a worker that joins later is profiled the same way (join.c) */
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
    for (int i = 0; i < c->n_workers; i++) {
        msg_t m;
        msg_init(&m, MSG_PROFILE_REQ);
        m.profile_req.rounds = (uint32_t)rounds;
        m.profile_req.probe_bytes = (uint32_t)probe_bytes;
        m.profile_req.batch = (uint32_t)batch;
        for (int k = 0; k < c->n_workers && k < MSG_MAX_PEERS; k++)
            if (k != i)
                snprintf(m.profile_req.peers[m.profile_req.n_peers++], sizeof m.profile_req.peers[0], "%s",
                         c->workers[k].endpoint);
        c->workers[i].prof.have = 0;
        int rc = coord_send_to(c, i, &m, err);
        if (rc)
            return rc;
        int64_t deadline = net_now_ms() + timeout_ms;
        while (!c->workers[i].prof.have) {
            if (net_now_ms() > deadline)
                return err_set(err, ERR_TIMEOUT, "worker %s sent no profile within %d ms", c->workers[i].name,
                               timeout_ms);
            if ((rc = coord_pump(c, 100, err)))
                return rc;
        }
    }
    return 0;
}

int coord_problem(const coord_t *c, plan_objective_t objective, int header, plan_problem_t *p, err_t *err)
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
    const int batch = 64 + c->o.n_seq;   /* a worker's step: a prompt chunk and every decode row (node/batch.h) */
    for (int u = 0; u < M; u++) {
        p->unit_mem[u] = costs[u].weight_bytes + costs[u].kv_bytes_per_token * (size_t)c->o.n_ctx * c->o.n_seq +
                         costs[u].scratch_bytes_per_token * batch;
        /* one token's activations plus an ACTIVATION message's header and body */
        p->out_bytes[u] = (double)costs[u].out_bytes_per_token / 4.0 * act_bytes + MSG_HDR_SIZE + 24;
    }
    for (int i = 0; i < N; i++) {
        const worker_rec_t *w = &c->workers[i];
        snprintf(p->name[i], sizeof p->name[i], "%s", w->name);
        p->dev_mem[i] = w->prof.free_mem;
        for (int u = 0; u < M; u++)
            p->time[(size_t)i * M + u] = w->prof.time[u];
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
}
