/*
 * plan_dp.c — the exact dynamic program of plan.h.
 *
 * State (a, S, d): the stage on device d starts at unit a, S is the set of
 * devices used so far (header and d included).  Every plan is a path
 * (0,{h},h) -> (b1,S1,d1) -> ... -> end, where the step from (a,S,d) to
 * (b,S+k,k) costs c = T_d(a,b) + hop(d,k,b-1) (T_d from prefix sums of d's
 * unit times, allowed only when units [a,b) fit d's memory: b <= maxb[d][a],
 * precomputed with two pointers) and the final step to b = M costs T_d(a,M)
 * plus the return hop (none when S = {h}).  The objective combines step costs
 * with + (latency) or max (throughput); both are monotone, so the minimum
 * over paths decomposes over states.
 *
 * Three passes, each O(2^(N-1) N^2 M^2) in the worst case but pruned by
 * memory (b <= maxb) and by set size:
 *   1. forward: F(a,S,d) = best combination of the steps before d's stage;
 *      it gives, for each final set size s, the best objective, hence the
 *      optimum V and the fewest stages s* whose best is within PLAN_TIE_REL
 *      of V (the bound B = V (1 + PLAN_TIE_REL)).
 *   2. backward, restricted to plans of exactly s* stages:
 *      G(a,S,d) = best combination of the steps from d's stage to the end.
 *   3. greedy from the front: at each state take the smallest next device k,
 *      then the smallest next start b, whose step keeps a completion within
 *      B (prefix ⊕ c ⊕ G(b,S+k,k) <= B).  This yields the canonical plan:
 *      fewest stages among those within B, then the lexicographically
 *      smallest (device, start) sequence.
 * Sets are stored without the header's bit (it is in every set), so the
 * table is 2^(N-1) * N * (M+1) doubles, reused between passes 1 and 2.
 */
#include "plan/plan.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DP_MAX_CELLS ((size_t)1 << 25)   /* 256 MiB of doubles */

typedef struct {
    const plan_problem_t *p;
    int n, m, h, thr;
    size_t n_sets;
    double *pre;      /* [N][M+1] prefix sums of unit times */
    int *maxb;        /* [N][M]  largest b with units [a,b) in d's memory (a when unit a does not fit) */
    double *hop;      /* [N][N][M] hop d->k after unit u */
    double *ret;      /* [N] return hop to the header */
    double *val;      /* [n_sets][N][M+1] F or G */
} dp_t;

static inline double combine(int thr, double x, double y)
{
    return thr ? (x > y ? x : y) : x + y;
}

/* Set index without the header bit <-> full device mask. */
static inline unsigned set_expand(unsigned c, int h)
{
    unsigned lo = c & ((1u << h) - 1u);
    return lo | ((c >> h) << (h + 1)) | (1u << h);
}

static inline size_t set_index(unsigned s, int h)
{
    return (s & ((1u << h) - 1u)) | ((s >> (h + 1)) << h);
}

static inline double *cell(const dp_t *dp, unsigned set, int d)
{
    return dp->val + (set_index(set, dp->h) * (size_t)dp->n + (size_t)d) * (size_t)(dp->m + 1);
}

static void fill_inf(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = INFINITY;
}

static int dp_init(dp_t *dp, const plan_problem_t *p, err_t *err)
{
    memset(dp, 0, sizeof *dp);
    int n = p->n_dev, m = p->n_units;
    dp->p = p;
    dp->n = n;
    dp->m = m;
    dp->h = p->header;
    dp->thr = p->objective == PLAN_THROUGHPUT;
    dp->n_sets = (size_t)1 << (n - 1);
    size_t cells = dp->n_sets * (size_t)n * (size_t)(m + 1);
    if (cells > DP_MAX_CELLS)
        return err_set(err, ERR_RANGE, "dp: %d devices x %d units need %zu states, more than the limit %zu; "
                       "use the milp solver", n, m, cells, DP_MAX_CELLS);
    dp->pre = malloc((size_t)n * (m + 1) * sizeof *dp->pre);
    dp->maxb = malloc((size_t)n * m * sizeof *dp->maxb);
    dp->hop = malloc((size_t)n * n * m * sizeof *dp->hop);
    dp->ret = malloc((size_t)n * sizeof *dp->ret);
    dp->val = malloc(cells * sizeof *dp->val);
    if (!dp->pre || !dp->maxb || !dp->hop || !dp->ret || !dp->val)
        return err_set(err, ERR_NOMEM, "dp: out of memory for %zu states", cells);
    for (int d = 0; d < n; d++) {
        double *pd = dp->pre + (size_t)d * (m + 1);
        pd[0] = 0.0;
        for (int u = 0; u < m; u++)
            pd[u + 1] = pd[u] + p->time[(size_t)d * m + u];
        /* Two pointers: the window [a, b) grows right while it fits, shrinks from the left. */
        uint64_t used = 0;
        int b = 0;
        for (int a = 0; a < m; a++) {
            if (b < a) {
                b = a;
                used = 0;
            }
            while (b < m && used + p->unit_mem[b] <= p->dev_mem[d])
                used += p->unit_mem[b++];
            dp->maxb[(size_t)d * m + a] = b;
            if (b > a)
                used -= p->unit_mem[a];
        }
        dp->ret[d] = plan_return_cost(p, d);
        for (int k = 0; k < n; k++)
            for (int u = 0; u < m; u++)
                dp->hop[((size_t)d * n + k) * m + u] = k == d ? INFINITY : plan_hop_cost(p, d, k, u);
    }
    return 0;
}

static void dp_fini(dp_t *dp)
{
    free(dp->pre);
    free(dp->maxb);
    free(dp->hop);
    free(dp->ret);
    free(dp->val);
}

/* Last stage end b in (a, bmax] whose lower bound (prefix ⊕ its unit time:
 * hops only add) stays within limit; times are >= 0, so the bound grows with b. */
static int last_end(const dp_t *dp, const double *pd, double prefix, int a, int bmax, double limit)
{
    int b = a;
    while (b < bmax && (dp->thr ? pd[b + 1] - pd[a] : prefix + (pd[b + 1] - pd[a])) <= limit)
        b++;
    return b;
}

/* Slack above the best plan seen so far under which states are kept: more
 * than the tie tolerance, so every plan within PLAN_TIE_REL of the optimum
 * survives. */
static double keep_limit(double ub)
{
    return ub + 4.0 * PLAN_TIE_REL * ub;
}

/* Pass 1: forward values; best[s] = best objective of plans with s stages.
 * States and stage ends that cannot beat the best complete plan found so far
 * are skipped (both combinations are monotone, all costs >= 0).  With only > 0
 * just plans of exactly `only` stages count: best[only] is exact, the others
 * are not computed. */
static void dp_forward(dp_t *dp, int only, double best[PLAN_MAX_DEVICES + 1])
{
    int n = dp->n, m = dp->m, h = dp->h, thr = dp->thr;
    unsigned hbit = 1u << h;
    double limit = INFINITY;
    for (int s = 0; s <= PLAN_MAX_DEVICES; s++)
        best[s] = INFINITY;
    fill_inf(dp->val, dp->n_sets * (size_t)n * (size_t)(m + 1));
    cell(dp, hbit, h)[0] = 0.0;
    for (size_t c = 0; c < dp->n_sets; c++) {
        unsigned set = set_expand((unsigned)c, h);
        int size = __builtin_popcount(set);
        for (int d = 0; d < n; d++) {
            if (!(set & (1u << d)) || (size > 1 && d == h))
                continue;   /* with two or more stages the last one is not the header's */
            const double *f = cell(dp, set, d);
            const double *pd = dp->pre + (size_t)d * (m + 1);
            const int *maxb = dp->maxb + (size_t)d * m;
            for (int a = 0; a < m; a++) {
                double fa = f[a];
                int lim = maxb[a];
                if (fa == INFINITY || fa > limit || lim <= a)
                    continue;
                if (lim == m) {
                    double v = combine(thr, fa, pd[m] - pd[a] + (size == 1 ? 0.0 : dp->ret[d]));
                    if (v < best[size])
                        best[size] = v;
                    if ((!only || size == only) && keep_limit(v) < limit)
                        limit = keep_limit(v);
                }
                if (only && size >= only)
                    continue;   /* a further stage would exceed the count wanted */
                int bmax = last_end(dp, pd, fa, a, lim < m ? lim : m - 1, limit);
                for (int k = 0; k < n; k++) {
                    if (set & (1u << k))
                        continue;
                    double *g = cell(dp, set | (1u << k), k);
                    const double *hk = dp->hop + ((size_t)d * n + k) * m;
                    for (int b = a + 1; b <= bmax; b++) {
                        double v = combine(thr, fa, pd[b] - pd[a] + hk[b - 1]);
                        if (v < g[b])
                            g[b] = v;
                    }
                }
            }
        }
    }
}

/* Pass 2: backward values over plans with exactly want stages; values above
 * limit (and the stage ends leading only to them) need not be exact. */
static void dp_backward(dp_t *dp, int want, double limit)
{
    int n = dp->n, m = dp->m, h = dp->h, thr = dp->thr;
    fill_inf(dp->val, dp->n_sets * (size_t)n * (size_t)(m + 1));
    for (size_t c = dp->n_sets; c-- > 0;) {
        unsigned set = set_expand((unsigned)c, h);
        int size = __builtin_popcount(set);
        if (size > want)
            continue;
        for (int d = 0; d < n; d++) {
            if (!(set & (1u << d)) || (size > 1 && d == h))
                continue;
            double *g = cell(dp, set, d);
            const double *pd = dp->pre + (size_t)d * (m + 1);
            const int *maxb = dp->maxb + (size_t)d * m;
            int a_lo = size - 1, a_hi = size == 1 ? 0 : m - 1;
            for (int a = a_lo; a <= a_hi; a++) {
                int lim = maxb[a];
                double bestv = INFINITY;
                if (size == want) {
                    if (lim == m)
                        bestv = pd[m] - pd[a] + (size == 1 ? 0.0 : dp->ret[d]);
                    g[a] = bestv;
                    continue;
                }
                int bmax = last_end(dp, pd, 0.0, a, lim < m ? lim : m - 1, limit);
                for (int k = 0; k < n; k++) {
                    if (set & (1u << k))
                        continue;
                    const double *gk = cell(dp, set | (1u << k), k);
                    const double *hk = dp->hop + ((size_t)d * n + k) * m;
                    for (int b = a + 1; b <= bmax; b++) {
                        if (gk[b] == INFINITY)
                            continue;
                        double v = combine(thr, pd[b] - pd[a] + hk[b - 1], gk[b]);
                        if (v < bestv)
                            bestv = v;
                    }
                }
                g[a] = bestv;
            }
        }
    }
}

/* Pass 3: the canonical plan of exactly want stages within bound. */
static int dp_rebuild(const dp_t *dp, int want, double bound, plan_t *out, err_t *err)
{
    int n = dp->n, m = dp->m, h = dp->h, thr = dp->thr;
    unsigned set = 1u << h;
    int d = h, a = 0, ns = 1;
    double prefix = 0.0;
    memset(out, 0, sizeof *out);
    out->stage[0] = (plan_stage_t){.device = h, .start = 0, .end = m};
    while (ns < want) {
        const double *pd = dp->pre + (size_t)d * (m + 1);
        int lim = dp->maxb[(size_t)d * m + a];
        int bmax = lim < m ? lim : m - 1, found = 0;
        for (int k = 0; k < n && !found; k++) {
            if (set & (1u << k))
                continue;
            const double *gk = cell(dp, set | (1u << k), k);
            const double *hk = dp->hop + ((size_t)d * n + k) * m;
            for (int b = a + 1; b <= bmax; b++) {
                if (gk[b] == INFINITY)
                    continue;
                double step = pd[b] - pd[a] + hk[b - 1];
                if (combine(thr, combine(thr, prefix, step), gk[b]) <= bound) {
                    prefix = combine(thr, prefix, step);
                    out->stage[ns - 1].end = b;
                    out->stage[ns++] = (plan_stage_t){.device = k, .start = b, .end = m};
                    set |= 1u << k;
                    d = k;
                    a = b;
                    found = 1;
                    break;
                }
            }
        }
        if (!found)
            return err_set(err, ERR_STATE, "dp: no continuation within the optimum after %d stages (internal error)", ns);
    }
    out->n_stages = ns;
    return 0;
}

/* plan_solve_dp (only = 0) or plan_solve_dp_stages (only = the stage count). */
static int solve(const plan_problem_t *p, int only, plan_t *out, err_t *err)
{
    int rc = plan_problem_check(p, err);
    if (rc)
        return rc;
    if (p->n_dev > PLAN_DP_MAX_DEVICES)
        return err_set(err, ERR_RANGE, "dp: %d devices, the DP takes at most %d; use the milp solver",
                       p->n_dev, PLAN_DP_MAX_DEVICES);
    dp_t dp;
    if ((rc = dp_init(&dp, p, err)) != 0) {
        dp_fini(&dp);
        return rc;
    }
    double best[PLAN_MAX_DEVICES + 1];
    dp_forward(&dp, only, best);
    double opt = INFINITY;
    for (int s = 1; s <= p->n_dev; s++)
        if ((!only || s == only) && best[s] < opt)
            opt = best[s];
    if (opt == INFINITY) {
        dp_fini(&dp);
        if (only)
            return err_set(err, ERR_NOTFOUND, "dp: no feasible plan of exactly %d stages", only);
        return plan_explain_infeasible(p, err);
    }
    double bound = opt + PLAN_TIE_REL * opt;
    int want = only ? only : 1;
    while (best[want] > bound)
        want++;
    /* A few ulps of slack: pass 3 re-associates the sums of pass 2. */
    bound += 16 * DBL_EPSILON * bound;
    dp_backward(&dp, want, keep_limit(bound));
    rc = dp_rebuild(&dp, want, bound, out, err);
    dp_fini(&dp);
    if (rc)
        return rc;
    return plan_eval(p, out, &out->objective, NULL, err);
}

int plan_solve_dp(const plan_problem_t *p, plan_t *out, err_t *err)
{
    return solve(p, 0, out, err);
}

int plan_solve_dp_stages(const plan_problem_t *p, int n_stages, plan_t *out, err_t *err)
{
    if (n_stages < 1 || n_stages > p->n_dev || n_stages > PLAN_MAX_DEVICES)
        return err_set(err, ERR_RANGE, "dp: %d stages asked of %d devices", n_stages, p->n_dev);
    return solve(p, n_stages, out, err);
}
