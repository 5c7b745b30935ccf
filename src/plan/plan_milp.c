/*
 * plan_milp.c — the planning problem of plan.h as a mixed-integer linear
 * program, solved exactly by GLPK (glp_intopt: presolve, branch and cut).
 *
 * Formulation (stage arcs).  A plan is a path through a network whose nodes
 * are E(a,d) "device d's stage starts at unit a" (a = 0 only for the header
 * h, a >= 1 only for d != h) and X(b,d) "device d's stage ends before unit b":
 *   y[d][a][b]  binary    stage arc E(a,d) -> X(b,d): d runs units [a,b); only
 *                         for ranges that fit d's memory, so memory is exact
 *                         (integer sums, no float tolerance)
 *   w[d][k][b]  in [0,1]  transition X(b,d) -> E(b,k), k != d, k != h, b < M:
 *                         d's stage is followed by k's, from unit b
 * rows
 *   E(0,h)   Σ_b y[h][0][b] = 1                       (the path starts on the header)
 *   E(a,k)   Σ_b y[k][a][b] = Σ_d w[d][k][a]          (a >= 1, k != h)
 *   X(b,d)   Σ_a y[d][a][b] = Σ_k w[d][k][b]          (b < M; arcs with b = M end the path)
 *   once     Σ_{a,b} y[d][a][b] <= 1                  (d != h): each device runs at most one stage
 * With y integral the flow rows make w integral too, so only y is integer.
 * Stages follow unit order, so no sub-tour constraints are needed: the
 * successor of a stage is the one starting at its end.  Costs, with
 * T_d(a,b) the sum of d's unit times over [a,b), hop(d,k,u) = latency[d][k] +
 * out_bytes[u] / bandwidth[d][k] and ret(d) the return hop (0 for h, whose
 * arc to M is the single-stage plan):
 *   c(y[d][a][b]) = T_d(a,b) + (b = M ? ret(d) : 0),   c(w[d][k][b]) = hop(d,k,b-1)
 *   latency:     minimise Σ c(y) y + Σ c(w) w
 *   throughput:  minimise Θ subject to, for every device d,
 *                Θ >= Σ_{a,b} c(y[d][a][b]) y[d][a][b] + Σ_{k,b} c(w[d][k][b]) w[d][k][b]
 *                and, for every unit u (a valid cut: exactly one stage covers u),
 *                Θ >= Σ_{d, a <= u < b} (c(y[d][a][b]) + minhop(d,b)) y[d][a][b]
 *                where minhop(d,b) = min_k c(w[d][k][b]) (0 for b = M).  The
 *                unit rows bound the LP far better than the device rows; they
 *                are written as running sums z_u = z_{u-1} + (arcs starting
 *                at u) - (arcs ending at u), Θ >= z_u, so each arc appears in
 *                two rows, not in one per unit it covers.
 * Exact pruning: an upper bound U comes from a heuristic plan — hill climbing
 * over device sequences (swap, move, drop, insert; six deterministic starts),
 * each sequence scored by an exact DP over its cut positions (the plan for a
 * fixed order) and the plan checked by plan_eval.  An arc whose cost lower
 * bound (throughput: c(y) + minhop; latency: that plus the fastest time of
 * every unit outside [a,b)) exceeds U (1 + 1e-9) is in no optimal plan and
 * is left out; for throughput Θ <= U (1 + 1e-9) too, which prunes the search
 * as an incumbent would.  Costs are scaled so that U is 1.
 *
 * Cost: with 8 devices and 130 units the latency model solves in about a
 * second; the throughput model takes seconds to minutes, because the LP of a
 * min-max path mixes paths (root gaps of a few percent) and each of its
 * nodes re-solves an LP of ~10^4 columns.  The DP is the fast path; the MILP
 * is the independent cross-check (and the solver beyond the DP's device
 * limit), with a time limit.
 *
 * The plan is read from y, checked and re-evaluated by plan_eval, so the
 * reported objective is exact for the returned plan; optimality is GLPK's
 * (mip_gap 0, default tolerances).  It is optimal, not necessarily the
 * canonical plan of plan.h.  GLPK has no error return for exhausted memory or
 * broken preconditions (it aborts): the model is built within its documented
 * preconditions and capped at MAX_ARCS stage arcs.  The time limit is
 * GLPK's, checked during its search.
 */
#include "plan/plan.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_SLACK 1e-9
#define MAX_ARCS 2000000          /* stage arcs in one model (~1 GB of GLPK data) */
#define HEURISTIC_WORK 300000000L /* (a, b) pairs the heuristic may score, about 0.3 s */

/* Sparse matrix triplets, 1-based as GLPK wants (index 0 unused). */
typedef struct {
    int *ia, *ja;
    double *ar;
    int n, cap;
} trip_t;

static int trip_add(trip_t *t, int row, int col, double v)
{
    if (t->n + 1 >= t->cap) {
        if (t->cap > INT_MAX / 2)
            return ERR_NOMEM;
        int cap = t->cap ? t->cap * 2 : 4096;
        int *ia = realloc(t->ia, (size_t)cap * sizeof *ia);
        if (ia) t->ia = ia;
        int *ja = realloc(t->ja, (size_t)cap * sizeof *ja);
        if (ja) t->ja = ja;
        double *ar = realloc(t->ar, (size_t)cap * sizeof *ar);
        if (ar) t->ar = ar;
        if (!ia || !ja || !ar)
            return ERR_NOMEM;
        t->cap = cap;
    }
    t->n++;
    t->ia[t->n] = row;
    t->ja[t->n] = col;
    t->ar[t->n] = v;
    return 0;
}

typedef struct {
    int d, a, b;
    double cost;      /* c(y), unscaled */
    double cut;       /* c(y) + minhop(d,b), unscaled */
    int col;
} arc_t;

typedef struct {
    const plan_problem_t *p;
    int n, m, h, thr;
    double *pre;      /* [N][M+1] prefix sums of unit times */
    int *maxb;        /* [N][M] first unit past the largest range from a that fits d */
    double *minhop;   /* [N][M+1] cheapest hop out of d's stage ending before b (INFINITY: none) */
    double upper;     /* U, the heuristic plan's objective */
    long work;        /* heuristic budget left, in (a, b) pairs scored */
    arc_t *arcs;
    int n_arcs;
    int *wcol;        /* [N][N][M] column of w[d][k][b], 0 if absent */
    int *first_arc;   /* [N][M+1] index into arcs of the first arc starting at (d, a), arcs sorted by (d, a) */
    glp_prob *lp;
    trip_t t;
    int theta;        /* column of Θ */
    double scale;
    int oom;
} milp_t;

static double stage_time(const milp_t *mp, int d, int a, int b)
{
    const double *pd = mp->pre + (size_t)d * (mp->m + 1);
    return pd[b] - pd[a];
}

/* Adds a matrix element; absent columns (0) and zeros are skipped. */
static void put(milp_t *mp, int row, int col, double v)
{
    if (col && v != 0.0 && trip_add(&mp->t, row, col, v))
        mp->oom = 1;
}

static int add_row(milp_t *mp, int type, double lb, double ub)
{
    int r = glp_add_rows(mp->lp, 1);
    glp_set_row_bnds(mp->lp, r, type, lb, ub);
    return r;
}

static int add_col(milp_t *mp, int kind, int type, double lb, double ub, double cost)
{
    int c = glp_add_cols(mp->lp, 1);
    glp_set_col_kind(mp->lp, c, kind);   /* first: it resets a binary's bounds */
    glp_set_col_bnds(mp->lp, c, type == GLP_DB && lb == ub ? GLP_FX : type, lb, ub);   /* GLPK refuses DB with lb = ub */
    glp_set_obj_coef(mp->lp, c, cost);
    return c;
}

/* ---- heuristic upper bound ------------------------------------------------ */

/* The best plan that uses exactly the devices of order, in that order (each
 * with at least one unit), by a DP over cut positions: g[i][a] is the best
 * combination of the closed stages 0..i-1 (each with its outgoing hop) when
 * stage i starts at unit a.  O(len M^2).  Writes the plan and returns its
 * objective (from plan_eval), or INFINITY when memory defeats the order.
 * scratch holds 2 (M+1) doubles and M+1 ints per device of the order. */
static double order_value(milp_t *mp, const int *order, int len, double *g, int *from, plan_t *out)
{
    const plan_problem_t *p = mp->p;
    int m = mp->m;
    for (int i = 0; i < len; i++)   /* an upper estimate of the pairs scored below */
        mp->work -= (long)m * (mp->maxb[order[i] * m] + 1);
    for (size_t i = 0; i < (size_t)len * (m + 1); i++)
        g[i] = INFINITY;
    g[0] = 0.0;   /* stage 0 (the header) starts at unit 0 */
    double best = INFINITY;
    int best_a = -1;
    for (int i = 0; i < len; i++) {
        int d = order[i], nxt = i + 1 < len ? order[i + 1] : -1;
        const double *gi = g + (size_t)i * (m + 1);
        for (int a = 0; a < m; a++) {
            if (gi[a] == INFINITY)
                continue;
            for (int b = a + 1; b <= mp->maxb[d * m + a]; b++) {
                double t = stage_time(mp, d, a, b);
                if (b == m) {
                    if (nxt >= 0)
                        continue;
                    double v = gi[a], c = t + (i == 0 ? 0.0 : plan_return_cost(p, d));
                    v = mp->thr ? fmax(v, c) : v + c;
                    if (v < best) { best = v; best_a = a; }
                    continue;
                }
                if (nxt < 0)
                    continue;
                double c = t + plan_hop_cost(p, d, nxt, b - 1);
                double v = mp->thr ? fmax(gi[a], c) : gi[a] + c;
                double *gn = g + (size_t)(i + 1) * (m + 1) + b;
                if (v < *gn) {
                    *gn = v;
                    from[(size_t)(i + 1) * (m + 1) + b] = a;
                }
            }
        }
    }
    if (best_a < 0)
        return INFINITY;
    out->n_stages = len;
    for (int i = len - 1, end = m, a = best_a; i >= 0; i--) {
        out->stage[i] = (plan_stage_t){.device = order[i], .start = a, .end = end};
        end = a;
        if (i > 0)
            a = from[(size_t)i * (m + 1) + a];
    }
    return plan_eval(p, out, &out->objective, NULL, NULL) == 0 ? out->objective : INFINITY;
}

/* Hill climbing over device sequences (header first) from order[0..*len):
 * swap two devices, move one elsewhere, drop one or insert an unused one,
 * keeping any change that lowers order_value.  Returns the value reached. */
static double climb(milp_t *mp, int *order, int *len_io, double *g, int *from)
{
    int n = mp->n, len = *len_io, cand[PLAN_MAX_DEVICES];
    plan_t plan;
    double best = order_value(mp, order, len, g, from, &plan);
    for (int round = 0, improved = 1; improved && round < 100 && mp->work > 0; round++) {
        improved = 0;
        /* Every neighbour is built in cand; the first improvement is kept. */
        for (int i = 1; i < len && !improved && mp->work > 0; i++)
            for (int j = 1; j < len && !improved && mp->work > 0; j++) {
                if (i == j)
                    continue;
                for (int kind = 0; kind < 2 && !improved; kind++) {
                    memcpy(cand, order, (size_t)len * sizeof *cand);
                    if (kind == 0) {   /* swap i, j */
                        if (j < i)
                            continue;
                        cand[i] = order[j];
                        cand[j] = order[i];
                    } else {   /* move i to j */
                        int t = cand[i];
                        if (i < j)
                            memmove(cand + i, cand + i + 1, (size_t)(j - i) * sizeof *cand);
                        else
                            memmove(cand + j + 1, cand + j, (size_t)(i - j) * sizeof *cand);
                        cand[j] = t;
                    }
                    double v = order_value(mp, cand, len, g, from, &plan);
                    if (v < best) {
                        best = v;
                        memcpy(order, cand, (size_t)len * sizeof *cand);
                        improved = 1;
                    }
                }
            }
        for (int i = 1; i < len && !improved && mp->work > 0; i++) {   /* drop i */
            memcpy(cand, order, (size_t)i * sizeof *cand);
            memcpy(cand + i, order + i + 1, (size_t)(len - i - 1) * sizeof *cand);
            double v = order_value(mp, cand, len - 1, g, from, &plan);
            if (v < best) {
                best = v;
                memcpy(order, cand, (size_t)--len * sizeof *cand);
                improved = 1;
            }
        }
        for (int d = 0; d < n && !improved && mp->work > 0; d++) {   /* insert d at i */
            int used = 0;
            for (int i = 0; i < len; i++)
                used |= order[i] == d;
            for (int i = 1; i <= len && !used && !improved && mp->work > 0; i++) {
                memcpy(cand, order, (size_t)i * sizeof *cand);
                cand[i] = d;
                memcpy(cand + i + 1, order + i, (size_t)(len - i) * sizeof *cand);
                double v = order_value(mp, cand, len + 1, g, from, &plan);
                if (v < best) {
                    best = v;
                    memcpy(order, cand, (size_t)++len * sizeof *cand);
                    improved = 1;
                }
            }
        }
    }
    *len_io = len;
    return best;
}

/* The heuristic upper bound U: hill climbing from the header followed by the
 * others fastest first, then from a few pseudo-random orders (a fixed seed,
 * so runs repeat).  Only a bound for pruning, so it need not be optimal; a
 * better one makes the model smaller and the search shorter. */
static double heuristic_bound(milp_t *mp, double *g, int *from)
{
    int n = mp->n, m = mp->m;
    double total[PLAN_MAX_DEVICES], best = INFINITY;
    uint64_t seed = 0x2545f4914f6cdd1dull;
    for (int d = 0; d < n; d++)
        total[d] = stage_time(mp, d, 0, m);
    mp->work = HEURISTIC_WORK;
    for (int start = 0; start < 6 && mp->work > 0; start++) {
        int order[PLAN_MAX_DEVICES], len = 0;
        order[len++] = mp->h;
        for (int d = 0; d < n; d++)
            if (d != mp->h) {
                int j = len++;
                for (; j > 1 && total[order[j - 1]] > total[d]; j--)
                    order[j] = order[j - 1];
                order[j] = d;
            }
        for (int i = len - 1; i > 1 && start > 0; i--) {   /* Fisher-Yates over positions 1.. */
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            int j = 1 + (int)(seed % (uint64_t)i), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double v = climb(mp, order, &len, g, from);
        if (v < best)
            best = v;
    }
    return best;
}

/* ---- model ---------------------------------------------------------------- */

static int prepare(milp_t *mp, err_t *err)
{
    const plan_problem_t *p = mp->p;
    int n = mp->n, m = mp->m;
    mp->pre = malloc((size_t)n * (m + 1) * sizeof *mp->pre);
    mp->maxb = malloc((size_t)n * m * sizeof *mp->maxb);
    mp->minhop = malloc((size_t)n * (m + 1) * sizeof *mp->minhop);
    mp->wcol = calloc((size_t)n * n * m, sizeof *mp->wcol);
    mp->first_arc = calloc((size_t)n * (m + 1) + 1, sizeof *mp->first_arc);
    if (!mp->pre || !mp->maxb || !mp->minhop || !mp->wcol || !mp->first_arc)
        return err_set(err, ERR_NOMEM, "milp: out of memory for %d devices x %d units", n, m);
    for (int d = 0; d < n; d++) {
        double *pd = mp->pre + (size_t)d * (m + 1);
        pd[0] = 0.0;
        for (int u = 0; u < m; u++)
            pd[u + 1] = pd[u] + p->time[(size_t)d * m + u];
        for (int a = 0; a < m; a++) {
            uint64_t used = 0;
            int b = a;
            while (b < m && used + p->unit_mem[b] <= p->dev_mem[d])
                used += p->unit_mem[b++];
            mp->maxb[d * m + a] = b;
        }
    }
    for (int d = 0; d < n; d++)
        for (int b = 0; b <= m; b++) {
            double best = b == m ? 0.0 : INFINITY;
            for (int k = 0; k < n && b > 0 && b < m; k++)
                if (k != d && k != mp->h && mp->maxb[k * m + b] > b && plan_hop_cost(p, d, k, b - 1) < best)
                    best = plan_hop_cost(p, d, k, b - 1);
            mp->minhop[d * (m + 1) + b] = best;
        }
    return 0;
}

/* Lists the stage arcs that survive memory and the bound U, sorted by (d, a). */
static int list_arcs(milp_t *mp, err_t *err)
{
    const plan_problem_t *p = mp->p;
    int n = mp->n, m = mp->m;
    double *minsum = malloc((size_t)(m + 1) * sizeof *minsum);   /* prefix sums of the fastest time per unit */
    if (!minsum)
        return err_set(err, ERR_NOMEM, "milp: out of memory");
    minsum[0] = 0.0;
    for (int u = 0; u < m; u++) {
        double t = INFINITY;
        for (int d = 0; d < n; d++)
            t = fmin(t, p->time[(size_t)d * m + u]);
        minsum[u + 1] = minsum[u] + t;
    }
    double limit = mp->upper + PRUNE_SLACK * mp->upper;
    for (int pass = 0; pass < 2; pass++) {
        int count = 0;
        for (int d = 0; d < n; d++)
            for (int a = 0; a <= m; a++) {
                mp->first_arc[d * (m + 1) + a] = count;   /* a = m closes d's list */
                if (a == m || (d == mp->h) != (a == 0))
                    continue;
                for (int b = a + 1; b <= mp->maxb[d * m + a]; b++) {
                    double mh = mp->minhop[d * (m + 1) + b];
                    if (mh == INFINITY)
                        continue;   /* nobody can follow d from unit b */
                    double cost = stage_time(mp, d, a, b) + (b == m ? plan_return_cost(p, d) : 0.0);
                    double lb = cost + mh;
                    if (!mp->thr)
                        lb += minsum[a] + (minsum[m] - minsum[b]);
                    if (lb > limit)
                        continue;
                    if (pass == 1)
                        mp->arcs[count] = (arc_t){.d = d, .a = a, .b = b, .cost = cost, .cut = cost + mh};
                    count++;
                }
            }
        mp->first_arc[n * (m + 1)] = count;
        if (pass == 0 && count > MAX_ARCS) {
            free(minsum);
            return err_set(err, ERR_RANGE, "milp: %d stage arcs for %d devices x %d units, more than the limit %d; "
                           "use the dp solver", count, n, m, MAX_ARCS);
        }
        if (pass == 0) {
            mp->n_arcs = count;
            mp->arcs = malloc(((size_t)count + 1) * sizeof *mp->arcs);
            if (!mp->arcs) {
                free(minsum);
                return err_set(err, ERR_NOMEM, "milp: out of memory for %d stage arcs", count);
            }
        }
    }
    free(minsum);
    return 0;
}

static void build(milp_t *mp)
{
    const plan_problem_t *p = mp->p;
    int n = mp->n, m = mp->m, h = mp->h, thr = mp->thr;
    double s = mp->scale;
    glp_set_obj_dir(mp->lp, GLP_MIN);
    for (int i = 0; i < mp->n_arcs; i++)
        mp->arcs[i].col = add_col(mp, GLP_BV, GLP_DB, 0.0, 1.0, thr ? 0.0 : s * mp->arcs[i].cost);
    /* w where both ends exist: some arc ends at (d, b) and some starts at (k, b). */
    char *ends = calloc((size_t)n * (m + 1), 1);
    if (!ends) {
        mp->oom = 1;
        return;
    }
    for (int i = 0; i < mp->n_arcs; i++)
        ends[mp->arcs[i].d * (m + 1) + mp->arcs[i].b] = 1;
    for (int d = 0; d < n; d++)
        for (int k = 0; k < n; k++)
            for (int b = 1; b < m; b++) {
                if (k == d || k == h || !ends[d * (m + 1) + b] ||
                    mp->first_arc[k * (m + 1) + b] == mp->first_arc[k * (m + 1) + b + 1])
                    continue;
                double c = plan_hop_cost(p, d, k, b - 1);
                if (thr && c > mp->upper + PRUNE_SLACK * mp->upper)
                    continue;
                mp->wcol[(d * n + k) * m + b] = add_col(mp, GLP_CV, GLP_DB, 0.0, 1.0, thr ? 0.0 : s * c);
            }
    free(ends);
    if (thr && isfinite(mp->upper))   /* Θ <= U: nodes whose bound exceeds the heuristic plan die at once */
        mp->theta = add_col(mp, GLP_CV, GLP_DB, 0.0, s * mp->upper * (1.0 + PRUNE_SLACK), 1.0);
    else if (thr)
        mp->theta = add_col(mp, GLP_CV, GLP_LO, 0.0, 0.0, 1.0);
#define W(d, k, b) mp->wcol[((d) * n + (k)) * m + (b)]
    /* Flow: E nodes. */
    for (int k = 0; k < n; k++)
        for (int a = 0; a < m; a++) {
            if ((k == h) != (a == 0))
                continue;
            int r = a == 0 ? add_row(mp, GLP_FX, 1.0, 1.0) : add_row(mp, GLP_FX, 0.0, 0.0);
            for (int i = mp->first_arc[k * (m + 1) + a]; i < mp->first_arc[k * (m + 1) + a + 1]; i++)
                put(mp, r, mp->arcs[i].col, 1.0);
            for (int d = 0; d < n && a > 0; d++)
                if (d != k)
                    put(mp, r, W(d, k, a), -1.0);
        }
    /* X nodes: built from the arc list (arcs ending at (d, b)) and w. */
    int *xrow = calloc((size_t)n * (m + 1), sizeof *xrow);
    if (!xrow) {
        mp->oom = 1;
        return;
    }
    for (int d = 0; d < n; d++)
        for (int b = 1; b < m; b++) {
            int any = 0;
            for (int k = 0; k < n; k++)
                any |= k != d && W(d, k, b) != 0;
            xrow[d * (m + 1) + b] = add_row(mp, GLP_FX, 0.0, 0.0);
            for (int k = 0; k < n && any; k++)
                if (k != d)
                    put(mp, xrow[d * (m + 1) + b], W(d, k, b), -1.0);
        }
    for (int i = 0; i < mp->n_arcs; i++)
        if (mp->arcs[i].b < m)
            put(mp, xrow[mp->arcs[i].d * (m + 1) + mp->arcs[i].b], mp->arcs[i].col, 1.0);
    free(xrow);
    /* Once per device. */
    for (int d = 0; d < n; d++) {
        if (d == h)
            continue;
        int r = add_row(mp, GLP_UP, 0.0, 1.0);
        for (int i = mp->first_arc[d * (m + 1)]; i < mp->first_arc[(d + 1) * (m + 1)]; i++)
            put(mp, r, mp->arcs[i].col, 1.0);
    }
    if (!thr)
        return;
    /* Θ >= load_d. */
    for (int d = 0; d < n; d++) {
        int r = add_row(mp, GLP_LO, 0.0, 0.0);
        put(mp, r, mp->theta, 1.0);
        for (int i = mp->first_arc[d * (m + 1)]; i < mp->first_arc[(d + 1) * (m + 1)]; i++)
            put(mp, r, mp->arcs[i].col, -s * mp->arcs[i].cost);
        for (int k = 0; k < n; k++)
            for (int b = 1; b < m && k != d; b++)
                put(mp, r, W(d, k, b), -s * plan_hop_cost(p, d, k, b - 1));
    }
    /* Θ >= z_u = the cut cost of the stage covering u.  Written as running
     * sums, z_u = z_{u-1} + (arcs starting at u) - (arcs ending at u), so each
     * arc appears in two rows instead of one per unit it covers. */
    int *zrow = malloc((size_t)m * sizeof *zrow);
    if (!zrow) {
        mp->oom = 1;
        return;
    }
    for (int u = 0; u < m; u++) {
        int z = add_col(mp, GLP_CV, GLP_LO, 0.0, 0.0, 0.0);
        int r = add_row(mp, GLP_LO, 0.0, 0.0);   /* Θ - z_u >= 0 */
        put(mp, r, mp->theta, 1.0);
        put(mp, r, z, -1.0);
        zrow[u] = add_row(mp, GLP_FX, 0.0, 0.0);   /* z_u - z_{u-1} - starts + ends = 0 */
        put(mp, zrow[u], z, 1.0);
        if (u > 0)
            put(mp, zrow[u], z - 1, -1.0);
    }
    for (int i = 0; i < mp->n_arcs; i++) {
        put(mp, zrow[mp->arcs[i].a], mp->arcs[i].col, -s * mp->arcs[i].cut);
        if (mp->arcs[i].b < m)
            put(mp, zrow[mp->arcs[i].b], mp->arcs[i].col, s * mp->arcs[i].cut);
    }
    free(zrow);
#undef W
}

/* Reads the chosen stage arcs into a plan and re-evaluates it. */
static int extract(milp_t *mp, plan_t *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < mp->n_arcs; i++) {
        if (glp_mip_col_val(mp->lp, mp->arcs[i].col) < 0.5)
            continue;
        if (out->n_stages == PLAN_MAX_DEVICES)
            return err_set(err, ERR_STATE, "milp: more than %d stages chosen", PLAN_MAX_DEVICES);
        out->stage[out->n_stages++] = (plan_stage_t){.device = mp->arcs[i].d, .start = mp->arcs[i].a,
                                                     .end = mp->arcs[i].b};
    }
    for (int i = 1; i < out->n_stages; i++)   /* by start unit */
        for (int j = i; j > 0 && out->stage[j].start < out->stage[j - 1].start; j--) {
            plan_stage_t t = out->stage[j];
            out->stage[j] = out->stage[j - 1];
            out->stage[j - 1] = t;
        }
    int rc = plan_eval(mp->p, out, &out->objective, NULL, err);
    return rc ? err_prefix(err, "milp: solution breaks the model") : 0;
}

static int solve(milp_t *mp, const plan_milp_opts_t *opts, plan_t *out, err_t *err)
{
    glp_iocp parm;
    glp_init_iocp(&parm);
    parm.presolve = GLP_ON;
    parm.msg_lev = opts && opts->verbose ? GLP_MSG_ON : GLP_MSG_OFF;
    parm.mip_gap = 0.0;
    parm.tm_lim = opts && opts->time_limit_ms > 0 ? opts->time_limit_ms : INT_MAX;
    int rc = glp_intopt(mp->lp, &parm);
    int status = glp_mip_status(mp->lp);
    if (rc == GLP_ENOPFS || (rc == 0 && status == GLP_NOFEAS))
        return plan_explain_infeasible(mp->p, err);
    if (rc == GLP_ETMLIM) {
        if (status != GLP_FEAS)
            return err_set(err, ERR_TIMEOUT, "milp: time limit of %d ms reached before any plan was found",
                           parm.tm_lim);
        plan_t best;
        int rc2 = extract(mp, &best, err);
        if (rc2)
            return rc2;
        return err_set(err, ERR_TIMEOUT, "milp: time limit of %d ms reached before optimality was proven "
                       "(best plan found: objective %.10g)", parm.tm_lim, best.objective);
    }
    if (rc != 0 || (status != GLP_OPT && status != GLP_FEAS))
        return err_set(err, ERR_STATE, "milp: glp_intopt failed (return code %d, status %d)", rc, status);
    return extract(mp, out, err);
}

int plan_solve_milp(const plan_problem_t *p, const plan_milp_opts_t *opts, plan_t *out, err_t *err)
{
    int rc = plan_problem_check(p, err);
    if (rc)
        return rc;
    milp_t mp;
    memset(&mp, 0, sizeof mp);
    mp.p = p;
    mp.n = p->n_dev;
    mp.m = p->n_units;
    mp.h = p->header;
    mp.thr = p->objective == PLAN_THROUGHPUT;
    if ((rc = prepare(&mp, err)) != 0)
        goto done;
    double *g = malloc((size_t)mp.n * (mp.m + 1) * sizeof *g);
    int *from = malloc((size_t)mp.n * (mp.m + 1) * sizeof *from);
    mp.upper = g && from ? heuristic_bound(&mp, g, from) : INFINITY;   /* no memory: no pruning */
    free(g);
    free(from);
    if ((rc = list_arcs(&mp, err)) != 0)
        goto done;
    if (mp.n_arcs == 0 || mp.first_arc[mp.h * (mp.m + 1)] == mp.first_arc[mp.h * (mp.m + 1) + 1]) {
        rc = plan_explain_infeasible(p, err);   /* not even the header has a stage */
        goto done;
    }
    double ref = mp.upper;
    for (int d = 0; d < mp.n && !isfinite(ref); d++)   /* no heuristic plan: the slowest device's total */
        ref = d == 0 ? stage_time(&mp, 0, 0, mp.m) : fmax(ref, stage_time(&mp, d, 0, mp.m));
    mp.scale = ref > 0.0 && isfinite(ref) ? 1.0 / ref : 1.0;
    mp.lp = glp_create_prob();
    build(&mp);
    if (mp.oom) {
        rc = err_set(err, ERR_NOMEM, "milp: out of memory building the model");
        goto done;
    }
    glp_load_matrix(mp.lp, mp.t.n, mp.t.ia, mp.t.ja, mp.t.ar);
    rc = solve(&mp, opts, out, err);
done:
    if (mp.lp)
        glp_delete_prob(mp.lp);
    free(mp.t.ia);
    free(mp.t.ja);
    free(mp.t.ar);
    free(mp.pre);
    free(mp.maxb);
    free(mp.minhop);
    free(mp.wcol);
    free(mp.first_arc);
    free(mp.arcs);
    return rc;
}
