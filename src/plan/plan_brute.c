/*
 * plan_brute.c — the reference solver for tests: enumerates every plan of a
 * small problem (every ordered subset of devices starting with the header,
 * every split of the units into that many non-empty ranges that fit memory)
 * and evaluates each with plan_eval, sharing no code with the DP or the MILP.
 *
 * Two passes over the same enumeration: the first finds the optimum V, the
 * second keeps, among plans with objective <= V (1 + PLAN_TIE_REL), the one
 * with fewest stages, then the lexicographically smallest (device, start)
 * sequence — the canonical plan of plan.h.  plan_solve_brute_stages does the
 * same over the plans of one stage count only.
 */
#include "plan/plan.h"

#include <math.h>
#include <string.h>

typedef struct {
    const plan_problem_t *p;
    plan_t cur;
    unsigned used;
    int pass;          /* 1: find the optimum, 2: the canonical plan within bound */
    int only;          /* > 0: only plans of this many stages count */
    double opt, bound;
    plan_t best;
    int have_best;
    long count;
} brute_t;

/* Fewer stages, then lexicographically smaller (device, start) sequence. */
static int shape_less(const plan_t *a, const plan_t *b)
{
    if (a->n_stages != b->n_stages)
        return a->n_stages < b->n_stages;
    for (int s = 0; s < a->n_stages; s++) {
        if (a->stage[s].device != b->stage[s].device)
            return a->stage[s].device < b->stage[s].device;
        if (a->stage[s].start != b->stage[s].start)
            return a->stage[s].start < b->stage[s].start;
    }
    return 0;
}

static void visit(brute_t *bt)
{
    double obj;
    if (bt->only && bt->cur.n_stages != bt->only)
        return;
    if (plan_eval(bt->p, &bt->cur, &obj, NULL, NULL) != 0)
        return;   /* cannot happen: the enumeration only builds valid plans */
    bt->count++;
    if (bt->pass == 1) {
        if (obj < bt->opt)
            bt->opt = obj;
    } else if (obj <= bt->bound && (!bt->have_best || shape_less(&bt->cur, &bt->best))) {
        bt->best = bt->cur;
        bt->best.objective = obj;
        bt->have_best = 1;
    }
}

/* Extends the plan with a stage on device d starting at unit a. */
static void extend(brute_t *bt, int d, int a)
{
    const plan_problem_t *p = bt->p;
    int m = p->n_units, s = bt->cur.n_stages;
    uint64_t mem = 0;
    bt->used |= 1u << d;
    bt->cur.n_stages = s + 1;
    for (int b = a + 1; b <= m; b++) {
        mem += p->unit_mem[b - 1];
        if (mem > p->dev_mem[d])
            break;
        bt->cur.stage[s] = (plan_stage_t){.device = d, .start = a, .end = b};
        if (b == m) {
            visit(bt);
            continue;
        }
        for (int k = 0; k < p->n_dev; k++)
            if (!(bt->used & (1u << k)))
                extend(bt, k, b);
    }
    bt->cur.n_stages = s;
    bt->used &= ~(1u << d);
}

static int solve(const plan_problem_t *p, int only, plan_t *out, err_t *err)
{
    int rc = plan_problem_check(p, err);
    if (rc)
        return rc;
    if (p->n_dev > 6 || p->n_units > 12)
        return err_set(err, ERR_RANGE, "brute: %d devices x %d units, at most 6 x 12", p->n_dev, p->n_units);
    brute_t bt;
    memset(&bt, 0, sizeof bt);
    bt.p = p;
    bt.only = only;
    bt.pass = 1;
    bt.opt = INFINITY;
    extend(&bt, p->header, 0);
    if (bt.opt == INFINITY && only)
        return err_set(err, ERR_NOTFOUND, "brute: no feasible plan of exactly %d stages", only);
    if (bt.opt == INFINITY)
        return plan_explain_infeasible(p, err);
    bt.pass = 2;
    bt.bound = bt.opt + PLAN_TIE_REL * bt.opt;
    extend(&bt, p->header, 0);
    *out = bt.best;
    return 0;
}

int plan_solve_brute(const plan_problem_t *p, plan_t *out, err_t *err)
{
    return solve(p, 0, out, err);
}

int plan_solve_brute_stages(const plan_problem_t *p, int n_stages, plan_t *out, err_t *err)
{
    if (n_stages < 1 || n_stages > p->n_dev)
        return err_set(err, ERR_RANGE, "brute: %d stages asked of %d devices", n_stages, p->n_dev);
    return solve(p, n_stages, out, err);
}
