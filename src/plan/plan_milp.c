/*
 * plan_milp.c — the planning problem of plan.h as a mixed-integer linear
 * program, solved exactly by GLPK (glp_intopt with presolve, branch and cut).
 *
 * Formulation: a plan is a path through the layered graph whose node (u, d)
 * means "unit u runs on device d"; the path starts at (0, h) and walks layer
 * by layer, either staying on its device or switching to another.  With
 * N devices, M units, boundary u between units u and u+1 (u < M-1):
 *   x[d][u]    binary   unit u on device d (x[h][0] = 1; 0 when unit u alone
 *                        exceeds d's memory)
 *   st[d][u]   in [0,1]  units u and u+1 both on d
 *   w[d][k][u] in [0,1]  unit u on d, unit u+1 on k != d: d's stage ends at u,
 *                        k's starts at u+1 (no variable for k = h: the header's
 *                        stage starts at 0)
 * rows
 *   out-flow   x[d][u]   = st[d][u] + Σ_k w[d][k][u]            (d, u < M-1)
 *   in-flow    x[k][u+1] = st[k][u] + Σ_d w[d][k][u]            (k, u < M-1)
 *   assign     Σ_d x[d][u] = 1                                  (u; implied, kept for the LP)
 *   once       Σ_{d,u} w[d][k][u] <= 1                          (k != h): at most one
 *              stage per device, so each device's units are contiguous
 *   memory     Σ_u mem[u]/cap_d x[d][u] <= 1 (+1e-9)            (d): a knapsack cut
 *   exact mem  start(d,a) + x[d][maxb(d,a)] <= 1                 (d, a with maxb < M)
 *              where start(d,a) = Σ_j w[j][d][a-1] (x[h][0] for a = 0) and
 *              maxb(d,a) is the first unit past the largest range from a that
 *              fits d: a stage starting at a cannot reach it.  These rows make
 *              memory exact in integers whatever GLPK's float tolerances.
 * With x integral, flow conservation forces st and w to 0/1 (exactly one
 * device holds each of units u and u+1), so only x is declared integer.  The
 * ring order needs no sub-tour constraints: stages follow unit order, and the
 * successor of d is the device of unit end_d.  Costs, with
 * hop(d,k,u) = latency[d][k] + out_bytes[u]/bandwidth[d][k] and
 * ret(d) = the return hop to the header (0 for d = h):
 *   load_d = Σ_u time[d][u] x[d][u] + Σ_{k,u} hop(d,k,u) w[d][k][u] + ret(d) x[d][M-1]
 *   latency:    minimise Σ_d load_d
 *   throughput: minimise T subject to T >= load_d for every d
 * (The header's ret is 0, so a single stage pays no hop; any other tail pays
 * its return hop.)  Costs are scaled so the largest coefficient is 1.
 *
 * The plan is read from x (rounded), checked and re-evaluated by plan_eval,
 * so the reported objective is exact for the returned plan; optimality is
 * GLPK's (mip_gap 0, its default feasibility/optimality tolerances).  The
 * plan is optimal but not necessarily the canonical one of plan.h.
 */
#include "plan/plan.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sparse matrix triplets, 1-based as GLPK wants (index 0 unused). */
typedef struct {
    int *ia, *ja;
    double *ar;
    int n, cap;
} trip_t;

static int trip_add(trip_t *t, int row, int col, double v)
{
    if (t->n + 1 >= t->cap) {
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
    const plan_problem_t *p;
    glp_prob *lp;
    trip_t t;
    int n, m, h;
    int *xcol;    /* [N*M] */
    int *stcol;   /* [N*(M-1)] */
    int *wcol;    /* [N*N*(M-1)], 0 where absent */
    int *maxb;    /* [N*M] */
    int tcol;     /* T, throughput only */
    double scale; /* cost multiplier */
    int oom;
} milp_t;

static int add_row(milp_t *mp, int type, double lb, double ub)
{
    int r = glp_add_rows(mp->lp, 1);
    glp_set_row_bnds(mp->lp, r, type, lb, ub);
    return r;
}

/* Adds a matrix element; absent columns (0) and zeros are skipped. */
static void put(milp_t *mp, int row, int col, double v)
{
    if (col && v != 0.0 && trip_add(&mp->t, row, col, v))
        mp->oom = 1;
}

/* Adds a column of the given kind (GLP_BV, GLP_CV) and bound type (kind first:
 * glp_set_col_kind resets the bounds of a binary). */
static int add_col(milp_t *mp, int kind, int type, double lb, double ub, double cost)
{
    int c = glp_add_cols(mp->lp, 1);
    glp_set_col_kind(mp->lp, c, kind);
    glp_set_col_bnds(mp->lp, c, type, lb, ub);
    glp_set_obj_coef(mp->lp, c, cost);
    return c;
}

static void compute_maxb(milp_t *mp)
{
    const plan_problem_t *p = mp->p;
    for (int d = 0; d < mp->n; d++)
        for (int a = 0; a < mp->m; a++) {
            uint64_t used = 0;
            int b = a;
            while (b < mp->m && used + p->unit_mem[b] <= p->dev_mem[d])
                used += p->unit_mem[b++];
            mp->maxb[d * mp->m + a] = b;
        }
}

static double max_cost(const plan_problem_t *p)
{
    double ref = 0.0;
    int n = p->n_dev, m = p->n_units;
    for (size_t i = 0; i < (size_t)n * m; i++)
        ref = fmax(ref, p->time[i]);
    for (int d = 0; d < n; d++) {
        ref = fmax(ref, plan_return_cost(p, d));
        for (int k = 0; k < n; k++)
            for (int u = 0; k != d && u + 1 < m; u++)
                ref = fmax(ref, plan_hop_cost(p, d, k, u));
    }
    return ref;
}

static void build(milp_t *mp)
{
    const plan_problem_t *p = mp->p;
    int n = mp->n, m = mp->m, h = mp->h, thr = p->objective == PLAN_THROUGHPUT;
    glp_set_obj_dir(mp->lp, GLP_MIN);
    /* Columns. */
    for (int d = 0; d < n; d++)
        for (int u = 0; u < m; u++) {
            int fits = p->unit_mem[u] <= p->dev_mem[d];
            double ub = u == 0 ? (d == h) : fits;
            double lb = u == 0 && d == h ? 1.0 : 0.0;
            double cost = thr ? 0.0 : mp->scale * (p->time[(size_t)d * m + u] +
                                                   (u == m - 1 ? plan_return_cost(p, d) : 0.0));
            mp->xcol[d * m + u] = add_col(mp, GLP_BV, lb == ub ? GLP_FX : GLP_DB, lb, ub, cost);
        }
    for (int d = 0; d < n; d++)
        for (int u = 0; u + 1 < m; u++)
            mp->stcol[d * (m - 1) + u] = add_col(mp, GLP_CV, GLP_DB, 0.0, 1.0, 0.0);
    for (int d = 0; d < n; d++)
        for (int k = 0; k < n; k++)
            for (int u = 0; u + 1 < m; u++) {
                if (k == d || k == h || p->unit_mem[u] > p->dev_mem[d] || p->unit_mem[u + 1] > p->dev_mem[k])
                    continue;
                double cost = thr ? 0.0 : mp->scale * plan_hop_cost(p, d, k, u);
                mp->wcol[(d * n + k) * (m - 1) + u] = add_col(mp, GLP_CV, GLP_DB, 0.0, 1.0, cost);
            }
    if (thr)
        mp->tcol = add_col(mp, GLP_CV, GLP_LO, 0.0, 0.0, 1.0);
#define W(d, k, u) mp->wcol[((d) * n + (k)) * (m - 1) + (u)]
    /* Flow conservation. */
    for (int u = 0; u + 1 < m; u++)
        for (int d = 0; d < n; d++) {
            int r = add_row(mp, GLP_FX, 0.0, 0.0);
            put(mp, r, mp->xcol[d * m + u], 1.0);
            put(mp, r, mp->stcol[d * (m - 1) + u], -1.0);
            for (int k = 0; k < n; k++)
                if (k != d)
                    put(mp, r, W(d, k, u), -1.0);
            r = add_row(mp, GLP_FX, 0.0, 0.0);
            put(mp, r, mp->xcol[d * m + u + 1], 1.0);
            put(mp, r, mp->stcol[d * (m - 1) + u], -1.0);
            for (int j = 0; j < n; j++)
                if (j != d)
                    put(mp, r, W(j, d, u), -1.0);
        }
    for (int u = 0; u < m; u++) {
        int r = add_row(mp, GLP_FX, 1.0, 1.0);
        for (int d = 0; d < n; d++)
            put(mp, r, mp->xcol[d * m + u], 1.0);
    }
    /* One stage per device. */
    for (int k = 0; k < n && m > 1; k++) {
        if (k == h)
            continue;
        int r = add_row(mp, GLP_UP, 0.0, 1.0);
        for (int d = 0; d < n; d++)
            for (int u = 0; d != k && u + 1 < m; u++)
                put(mp, r, W(d, k, u), 1.0);
    }
    /* Memory: the knapsack cut and the exact start/reach rows. */
    for (int d = 0; d < n; d++) {
        uint64_t total = 0;
        for (int u = 0; u < m; u++)
            total += p->unit_mem[u];
        if (total > p->dev_mem[d] && p->dev_mem[d] > 0) {
            int r = add_row(mp, GLP_UP, 0.0, 1.0 + 1e-9);
            for (int u = 0; u < m; u++)
                if (p->unit_mem[u] <= p->dev_mem[d])   /* the others are fixed to 0 */
                    put(mp, r, mp->xcol[d * m + u], (double)p->unit_mem[u] / (double)p->dev_mem[d]);
        }
        for (int a = 0; a < m; a++) {
            int b = mp->maxb[d * m + a];
            if (b == m || b == a || (d == h) != (a == 0))
                continue;   /* fits to the end, cannot start here anyway, or not a start position for d */
            int r = add_row(mp, GLP_UP, 0.0, 1.0);
            if (a == 0)
                put(mp, r, mp->xcol[d * m], 1.0);
            else
                for (int j = 0; j < n; j++)
                    if (j != d)
                        put(mp, r, W(j, d, a - 1), 1.0);
            put(mp, r, mp->xcol[d * m + b], 1.0);
        }
    }
    /* Throughput: T >= load_d. */
    for (int d = 0; d < n && thr; d++) {
        int r = add_row(mp, GLP_LO, 0.0, 0.0);
        put(mp, r, mp->tcol, 1.0);
        for (int u = 0; u < m; u++)
            put(mp, r, mp->xcol[d * m + u],
                -mp->scale * (p->time[(size_t)d * m + u] + (u == m - 1 ? plan_return_cost(p, d) : 0.0)));
        for (int k = 0; k < n; k++)
            for (int u = 0; k != d && u + 1 < m; u++)
                put(mp, r, W(d, k, u), -mp->scale * plan_hop_cost(p, d, k, u));
    }
#undef W
}

/* Reads the unit assignment from x into a plan. */
static int extract(milp_t *mp, plan_t *out, err_t *err)
{
    int n = mp->n, m = mp->m;
    memset(out, 0, sizeof *out);
    int prev = -1;
    for (int u = 0; u < m; u++) {
        int dev = -1;
        for (int d = 0; d < n; d++)
            if (glp_mip_col_val(mp->lp, mp->xcol[d * m + u]) > 0.5) {
                if (dev >= 0)
                    return err_set(err, ERR_STATE, "milp: unit %d assigned to devices %d and %d", u, dev, d);
                dev = d;
            }
        if (dev < 0)
            return err_set(err, ERR_STATE, "milp: unit %d assigned to no device", u);
        if (dev != prev) {
            if (out->n_stages == PLAN_MAX_DEVICES)
                return err_set(err, ERR_STATE, "milp: more than %d stages", PLAN_MAX_DEVICES);
            if (out->n_stages)
                out->stage[out->n_stages - 1].end = u;
            out->stage[out->n_stages++] = (plan_stage_t){.device = dev, .start = u, .end = m};
            prev = dev;
        }
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
    parm.gmi_cuts = GLP_ON;
    parm.mir_cuts = GLP_ON;
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
    size_t nm = (size_t)mp.n * mp.m, nm1 = (size_t)mp.n * (mp.m - 1);
    mp.xcol = calloc(nm, sizeof *mp.xcol);
    mp.maxb = calloc(nm, sizeof *mp.maxb);
    mp.stcol = calloc(nm1 + 1, sizeof *mp.stcol);
    mp.wcol = calloc(nm1 * mp.n + 1, sizeof *mp.wcol);
    if (!mp.xcol || !mp.maxb || !mp.stcol || !mp.wcol) {
        rc = err_set(err, ERR_NOMEM, "milp: out of memory for %d devices x %d units", mp.n, mp.m);
        goto done;
    }
    compute_maxb(&mp);
    double ref = max_cost(p);
    mp.scale = ref > 0.0 ? 1.0 / ref : 1.0;
    mp.lp = glp_create_prob();
    build(&mp);
    if (mp.oom) {
        rc = err_set(err, ERR_NOMEM, "milp: out of memory building the constraint matrix");
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
    free(mp.xcol);
    free(mp.maxb);
    free(mp.stcol);
    free(mp.wcol);
    return rc;
}
