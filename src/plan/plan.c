/*
 * plan.c — the planning problem's storage, validation and the exact
 * evaluation of a plan (see plan.h for the cost model).
 *
 * plan_eval is the reference every solver is checked against: it re-derives
 * the objective of a plan by direct summation over its units, independent of
 * the prefix sums and linearisations the solvers use internally.  Memory is
 * kept in integers below 2^53 so that fits are decided exactly.
 */
#include "plan/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int plan_problem_init(plan_problem_t *p, int n_dev, int n_units, err_t *err)
{
    memset(p, 0, sizeof *p);
    if (n_dev < 1 || n_dev > PLAN_MAX_DEVICES)
        return err_set(err, ERR_RANGE, "devices: %d devices, expected 1..%d", n_dev, PLAN_MAX_DEVICES);
    if (n_units < 1 || n_units > PLAN_MAX_UNITS)
        return err_set(err, ERR_RANGE, "units: %d units, expected 1..%d", n_units, PLAN_MAX_UNITS);
    size_t n = (size_t)n_dev, m = (size_t)n_units;
    p->unit_mem = calloc(m, sizeof *p->unit_mem);
    p->out_bytes = calloc(m, sizeof *p->out_bytes);
    p->dev_mem = calloc(n, sizeof *p->dev_mem);
    p->time = calloc(n * m, sizeof *p->time);
    p->latency = calloc(n * n, sizeof *p->latency);
    p->bandwidth = calloc(n * n, sizeof *p->bandwidth);
    if (!p->unit_mem || !p->out_bytes || !p->dev_mem || !p->time || !p->latency || !p->bandwidth) {
        plan_problem_fini(p);
        return err_set(err, ERR_NOMEM, "plan problem: out of memory for %d devices x %d units", n_dev, n_units);
    }
    p->n_dev = n_dev;
    p->n_units = n_units;
    p->objective = PLAN_LATENCY;
    return 0;
}

void plan_problem_fini(plan_problem_t *p)
{
    if (!p)
        return;
    free(p->unit_mem);
    free(p->out_bytes);
    free(p->dev_mem);
    free(p->time);
    free(p->latency);
    free(p->bandwidth);
    memset(p, 0, sizeof *p);
}

static int bad_number(double v) { return !isfinite(v) || v < 0.0; }

int plan_problem_check(const plan_problem_t *p, err_t *err)
{
    int n = p->n_dev, m = p->n_units;
    if (n < 1 || n > PLAN_MAX_DEVICES || !p->dev_mem)
        return err_set(err, ERR_RANGE, "devices: %d devices, expected 1..%d", n, PLAN_MAX_DEVICES);
    if (m < 1 || m > PLAN_MAX_UNITS || !p->unit_mem)
        return err_set(err, ERR_RANGE, "units: %d units, expected 1..%d", m, PLAN_MAX_UNITS);
    if (p->objective != PLAN_LATENCY && p->objective != PLAN_THROUGHPUT)
        return err_set(err, ERR_RANGE, "objective: %d is neither latency nor throughput", (int)p->objective);
    if (p->header < 0 || p->header >= n)
        return err_set(err, ERR_RANGE, "header: %d out of range 0..%d", p->header, n - 1);
    if (bad_number(p->token_bytes))
        return err_set(err, ERR_RANGE, "token_bytes: %g, expected a finite number >= 0", p->token_bytes);
    double total = 0.0, max_out = p->token_bytes;
    for (int u = 0; u < m; u++) {
        if ((double)p->unit_mem[u] > PLAN_MEM_MAX - total)
            return err_set(err, ERR_RANGE, "units[%d].mem: total unit memory exceeds 2^53 bytes", u);
        total += (double)p->unit_mem[u];
        if (bad_number(p->out_bytes[u]))
            return err_set(err, ERR_RANGE, "units[%d].out_bytes: %g, expected a finite number >= 0", u, p->out_bytes[u]);
        if (p->out_bytes[u] > max_out)
            max_out = p->out_bytes[u];
    }
    double all_time = 0.0;
    for (int d = 0; d < n; d++) {
        if ((double)p->dev_mem[d] > PLAN_MEM_MAX)
            return err_set(err, ERR_RANGE, "devices[%d].mem: %llu exceeds 2^53 bytes", d,
                           (unsigned long long)p->dev_mem[d]);
        for (int u = 0; u < m; u++) {
            double t = p->time[(size_t)d * m + u];
            if (bad_number(t))
                return err_set(err, ERR_RANGE, "devices[%d].time[%d]: %g, expected a finite number >= 0", d, u, t);
            all_time += t;
        }
    }
    double max_hop = 0.0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double lat = p->latency[i * n + k], bw = p->bandwidth[i * n + k];
            if (bad_number(lat))
                return err_set(err, ERR_RANGE, "latency[%d][%d]: %g, expected a finite number >= 0", i, k, lat);
            if (bad_number(bw))
                return err_set(err, ERR_RANGE, "bandwidth[%d][%d]: %g, expected a finite number >= 0", i, k, bw);
            if (i == k)
                continue;
            if (bw == 0.0)
                return err_set(err, ERR_RANGE, "bandwidth[%d][%d]: 0 between distinct devices, expected > 0", i, k);
            double hop = lat + max_out / bw;
            if (!isfinite(hop))
                return err_set(err, ERR_RANGE, "bandwidth[%d][%d]: %g makes the hop time overflow", i, k, bw);
            if (hop > max_hop)
                max_hop = hop;
        }
    if (!isfinite(all_time + (double)n * max_hop))
        return err_set(err, ERR_RANGE, "devices[].time: times too large, their sum overflows");
    return 0;
}

double plan_hop_cost(const plan_problem_t *p, int from, int to, int last_unit)
{
    int n = p->n_dev;
    return p->latency[from * n + to] + p->out_bytes[last_unit] / p->bandwidth[from * n + to];
}

double plan_return_cost(const plan_problem_t *p, int tail)
{
    int n = p->n_dev, h = p->header;
    if (tail == h)
        return 0.0;
    return p->latency[tail * n + h] + p->token_bytes / p->bandwidth[tail * n + h];
}

int plan_eval(const plan_problem_t *p, const plan_t *plan, double *objective,
              plan_stage_cost_t *costs, err_t *err)
{
    int n = p->n_dev, m = p->n_units, ns = plan->n_stages;
    if (ns < 1 || ns > n)
        return err_set(err, ERR_INVAL, "plan: %d stages, expected 1..%d", ns, n);
    unsigned used = 0;
    for (int s = 0; s < ns; s++) {
        const plan_stage_t *st = &plan->stage[s];
        if (st->device < 0 || st->device >= n)
            return err_set(err, ERR_INVAL, "plan: stage %d device %d out of range 0..%d", s, st->device, n - 1);
        if (used & (1u << st->device))
            return err_set(err, ERR_INVAL, "plan: device %d appears in more than one stage", st->device);
        used |= 1u << st->device;
        int want = s == 0 ? 0 : plan->stage[s - 1].end;
        if (st->start != want)
            return err_set(err, ERR_INVAL, "plan: stage %d starts at unit %d, expected %d", s, st->start, want);
        if (st->end <= st->start || st->end > m)
            return err_set(err, ERR_INVAL, "plan: stage %d has units %d..%d, expected a non-empty range within 0..%d",
                           s, st->start, st->end, m);
    }
    if (plan->stage[0].device != p->header)
        return err_set(err, ERR_INVAL, "plan: the first stage runs on device %d, not on the header %d",
                       plan->stage[0].device, p->header);
    if (plan->stage[ns - 1].end != m)
        return err_set(err, ERR_INVAL, "plan: the stages end at unit %d, expected %d", plan->stage[ns - 1].end, m);
    double obj = 0.0;
    for (int s = 0; s < ns; s++) {
        const plan_stage_t *st = &plan->stage[s];
        int d = st->device;
        uint64_t mem = 0;
        double compute = 0.0;
        for (int u = st->start; u < st->end; u++) {
            mem += p->unit_mem[u];
            compute += p->time[(size_t)d * m + u];
        }
        if (mem > p->dev_mem[d])
            return err_set(err, ERR_INVAL, "plan: stage %d needs %llu bytes on device %d, which has %llu", s,
                           (unsigned long long)mem, d, (unsigned long long)p->dev_mem[d]);
        double hop = s + 1 < ns ? plan_hop_cost(p, d, plan->stage[s + 1].device, st->end - 1)
                   : ns > 1 ? plan_return_cost(p, d) : 0.0;
        if (costs)
            costs[s] = (plan_stage_cost_t){.mem = mem, .compute = compute, .hop = hop};
        if (p->objective == PLAN_LATENCY)
            obj += compute + hop;
        else if (compute + hop > obj)
            obj = compute + hop;
    }
    *objective = obj;
    return 0;
}

int plan_explain_infeasible(const plan_problem_t *p, err_t *err)
{
    int n = p->n_dev, m = p->n_units;
    uint64_t need = 0, have = 0, biggest = 0;
    for (int u = 0; u < m; u++)
        need += p->unit_mem[u];
    for (int d = 0; d < n; d++) {
        have += p->dev_mem[d];
        if (p->dev_mem[d] > biggest)
            biggest = p->dev_mem[d];
    }
    if (need > have)
        return err_set(err, ERR_NOTFOUND, "no plan fits: total unit memory %llu bytes exceeds the %llu bytes of all "
                       "%d devices", (unsigned long long)need, (unsigned long long)have, n);
    for (int u = 0; u < m; u++) {
        if (p->unit_mem[u] <= biggest)
            continue;
        int v = u;
        while (v + 1 < m && p->unit_mem[v + 1] > biggest)
            v++;
        return err_set(err, ERR_NOTFOUND, "no plan fits: units %d..%d fit on no device (unit %d needs %llu bytes, "
                       "the largest device has %llu)", u, v, u, (unsigned long long)p->unit_mem[u],
                       (unsigned long long)biggest);
    }
    if (p->unit_mem[0] > p->dev_mem[p->header])
        return err_set(err, ERR_NOTFOUND, "no plan fits: the header device %d ('%s', %llu bytes) cannot hold unit 0 "
                       "(%llu bytes)", p->header, p->name[p->header], (unsigned long long)p->dev_mem[p->header],
                       (unsigned long long)p->unit_mem[0]);
    return err_set(err, ERR_NOTFOUND, "no plan fits: the %d units (%llu bytes) cannot be cut into contiguous ranges "
                   "on distinct devices (%llu bytes in all) starting on the header %d", m,
                   (unsigned long long)need, (unsigned long long)have, p->header);
}

int plan_tie(double a, double b)
{
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= PLAN_TIE_REL * scale;
}

int plan_compare(const plan_t *a, const plan_t *b)
{
    if (!plan_tie(a->objective, b->objective))
        return a->objective < b->objective ? -1 : 1;
    if (a->n_stages != b->n_stages)
        return a->n_stages < b->n_stages ? -1 : 1;
    for (int s = 0; s < a->n_stages; s++) {
        const plan_stage_t *x = &a->stage[s], *y = &b->stage[s];
        if (x->device != y->device)
            return x->device < y->device ? -1 : 1;
        if (x->start != y->start)
            return x->start < y->start ? -1 : 1;
    }
    return 0;
}
