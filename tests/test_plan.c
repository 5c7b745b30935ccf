/*
 * test_plan.c — the planner of plan/plan.h and the JSON reader it uses.
 *
 * Random small problems (1-4 devices, 1-8 units, memory loose, tight or
 * mixed, identical devices for exact ties, zero times/bytes, both objectives,
 * any header): the DP and the brute force return the same canonical plan, the
 * MILP (on every fifth) the same objective within 1e-9 relative; all three
 * agree on infeasibility; every returned plan passes plan_eval with the
 * reported objective; no plan is worse than the header alone when it can hold
 * the model.  Large problems (60 x 6, 130 x 8): DP and MILP agree, and no
 * random valid plan beats them; solve times are printed.  Overlap replicas
 * fit memory, touch their boundary and are maximal (checked by enumeration).
 * Infeasible problems give ERR_NOTFOUND with the reason.  The JSON reader
 * takes valid text (escapes, surrogates, BOM), refuses malformed text with
 * the byte offset, and survives truncations, byte mutations and random text
 * under the sanitizers; the problem loader names the offending field, and
 * the plan JSON has the documented keys.
 * Deterministic: one seeded generator.
 */
#include "plan/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "json/jdoc.h"

/* ---- helpers --------------------------------------------------------------- */

typedef struct { uint64_t s; } rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(rng_t *r, double a, double b)
{
    return a + (b - a) * (double)(rnd(r) >> 11) / 9007199254740992.0;
}

static int irand(rng_t *r, int lo, int hi)   /* inclusive */
{
    return lo + (int)(rnd(r) % (uint64_t)(hi - lo + 1));
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int close_rel(double a, double b, double rel)
{
    double s = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= rel * s + 1e-300;
}

static int same_plan(const plan_t *a, const plan_t *b)
{
    if (a->n_stages != b->n_stages)
        return 0;
    for (int s = 0; s < a->n_stages; s++)
        if (a->stage[s].device != b->stage[s].device || a->stage[s].start != b->stage[s].start ||
            a->stage[s].end != b->stage[s].end)
            return 0;
    return 1;
}

static void print_plan(const char *what, const plan_t *p)
{
    fprintf(stderr, "  %s: objective %.17g:", what, p->objective);
    for (int s = 0; s < p->n_stages; s++)
        fprintf(stderr, " d%d[%d,%d)", p->stage[s].device, p->stage[s].start, p->stage[s].end);
    fputc('\n', stderr);
}

/* A random small problem; style 0 loose memory, 1 tight, 2 mixed, 3 identical devices. */
static void gen_small(rng_t *r, plan_problem_t *p, int max_dev, int max_units)
{
    int n = irand(r, 1, max_dev), m = irand(r, 1, max_units), style = irand(r, 0, 3);
    plan_problem_init(p, n, m, NULL);
    p->objective = irand(r, 0, 1) ? PLAN_THROUGHPUT : PLAN_LATENCY;
    p->header = irand(r, 0, n - 1);
    p->token_bytes = irand(r, 0, 3) ? 4.0 : 0.0;
    int equal_units = irand(r, 0, 4) == 0;
    uint64_t total = 0;
    double base[8];
    for (int u = 0; u < m; u++) {
        p->unit_mem[u] = equal_units ? 10 : irand(r, 0, 5) == 0 ? 0 : (uint64_t)irand(r, 1, 100);
        p->out_bytes[u] = equal_units ? 1000.0 : irand(r, 0, 3) == 0 ? 0.0 : unif(r, 0.0, 1e5);
        base[u] = equal_units ? 1.0 : irand(r, 0, 7) == 0 ? 0.0 : unif(r, 0.1, 2.0);
        total += p->unit_mem[u];
    }
    double speed0 = unif(r, 0.5, 4.0), lat0 = unif(r, 0.0, 5e-3), bw0 = unif(r, 1e5, 1e8);
    uint64_t mem0 = total == 0 ? 0 : (uint64_t)irand(r, 0, (int)total);
    for (int d = 0; d < n; d++) {
        snprintf(p->name[d], sizeof p->name[d], "dev%d", d);
        double speed = style == 3 ? speed0 : unif(r, 0.5, 4.0);
        for (int u = 0; u < m; u++)
            p->time[(size_t)d * m + u] = speed * base[u] * 1e-3;
        switch (style) {
        case 0: p->dev_mem[d] = total + (uint64_t)irand(r, 0, 50); break;
        case 1: p->dev_mem[d] = (uint64_t)irand(r, 0, (int)(total / (uint64_t)n + 30)); break;
        case 2: p->dev_mem[d] = (uint64_t)irand(r, 0, (int)total + 10); break;
        default: p->dev_mem[d] = mem0 + total / 2; break;
        }
        for (int k = 0; k < n; k++) {
            p->latency[d * n + k] = style == 3 ? lat0 : irand(r, 0, 5) == 0 ? 0.0 : unif(r, 0.0, 5e-3);
            p->bandwidth[d * n + k] = d == k ? 0.0 : style == 3 ? bw0 : unif(r, 1e5, 1e8);
        }
    }
}

/* A LinguaLinked-like problem: n devices of speeds 1x..4x, memory 15%..memfac of the model. */
static void gen_big(rng_t *r, plan_problem_t *p, int n, int m, plan_objective_t obj, double memfac)
{
    plan_problem_init(p, n, m, NULL);
    p->objective = obj;
    p->header = irand(r, 0, n - 1);
    p->token_bytes = 4;
    uint64_t total = 0;
    for (int u = 0; u < m; u++) {
        p->unit_mem[u] = (uint64_t)unif(r, 5e6, 3e7);
        p->out_bytes[u] = unif(r, 4096, 16384);
        total += p->unit_mem[u];
    }
    for (int d = 0; d < n; d++) {
        double speed = unif(r, 1.0, 4.0);
        snprintf(p->name[d], sizeof p->name[d], "dev%d", d);
        p->dev_mem[d] = (uint64_t)((double)total * unif(r, 0.15, memfac));
        for (int u = 0; u < m; u++)
            p->time[(size_t)d * m + u] = speed * unif(r, 0.5e-3, 1.5e-3);
        for (int k = 0; k < n; k++) {
            p->latency[d * n + k] = d == k ? 0.0 : unif(r, 1e-3, 5e-3);
            p->bandwidth[d * n + k] = d == k ? 0.0 : unif(r, 2e6, 1e7);
        }
    }
}

/* A returned plan must be valid and carry its exact objective. */
static void check_valid(const plan_problem_t *p, const plan_t *plan, const char *who)
{
    double obj;
    err_t err;
    err_clear(&err);
    int rc = plan_eval(p, plan, &obj, NULL, &err);
    CHECKF(rc == 0, "%s plan invalid: %s", who, err.msg);
    CHECKF(rc != 0 || obj == plan->objective, "%s objective %.17g, evaluated %.17g", who, plan->objective, obj);
}

/* The header alone, when it holds everything. */
static int header_only(const plan_problem_t *p, double *obj)
{
    plan_t single = {.n_stages = 1, .stage = {{.device = p->header, .start = 0, .end = p->n_units}}};
    return plan_eval(p, &single, obj, NULL, NULL) == 0;
}

/* ---- overlap ---------------------------------------------------------------- */

/* Checks the replicas against memory, placement and an enumeration of every (r, l). */
static void check_overlap(const plan_problem_t *p, const plan_t *plan)
{
    plan_replicas_t rep;
    err_t err;
    err_clear(&err);
    int rc = plan_overlap(p, plan, &rep, &err);
    CHECKF(rc == 0, "overlap: %s", err.msg);
    if (rc)
        return;
    uint64_t total = 0;
    for (int s = 0; s < plan->n_stages; s++) {
        const plan_stage_t *st = &plan->stage[s];
        uint64_t own = 0, got = 0;
        int got_units = 0;
        for (int u = st->start; u < st->end; u++)
            own += p->unit_mem[u];
        for (int i = 0; i < rep.n; i++) {
            const plan_replica_t *x = &rep.r[i];
            if (x->device != st->device)
                continue;
            int left = s > 0 && x->end == st->start && x->start >= plan->stage[s - 1].start + (s == 1);
            int right = s + 1 < plan->n_stages && x->start == st->end && x->end <= plan->stage[s + 1].end;
            CHECKF(x->start < x->end && (left || right), "replica d%d [%d,%d) not at a boundary of stage %d",
                   x->device, x->start, x->end, s);
            for (int u = x->start; u < x->end; u++)
                got += p->unit_mem[u];
            got_units += x->end - x->start;
        }
        uint64_t spare = p->dev_mem[st->device] - own;
        CHECKF(got <= spare, "replicas on d%d use %llu bytes, spare %llu", st->device, (unsigned long long)got,
               (unsigned long long)spare);
        /* Enumeration of every (r, l). */
        int max_r = s > 0 ? plan->stage[s - 1].end - plan->stage[s - 1].start - (s == 1) : 0;
        int max_l = s + 1 < plan->n_stages ? plan->stage[s + 1].end - plan->stage[s + 1].start : 0;
        uint64_t best = 0;
        int best_units = 0;
        for (int r = 0; r <= max_r; r++)
            for (int l = 0; l <= max_l; l++) {
                uint64_t b = 0;
                for (int u = st->start - r; u < st->start; u++)
                    b += p->unit_mem[u];
                for (int u = st->end; u < st->end + l; u++)
                    b += p->unit_mem[u];
                if (b <= spare && (b > best || (b == best && r + l > best_units))) {
                    best = b;
                    best_units = r + l;
                }
            }
        CHECKF(got == best && got_units == best_units, "stage %d: replicas %llu bytes / %d units, best %llu / %d",
               s, (unsigned long long)got, got_units, (unsigned long long)best, best_units);
        total += got;
    }
    CHECK(total == rep.bytes);
}

/* ---- random small problems ---------------------------------------------------- */

static void test_random_small(void)
{
    rng_t r = {20261121};
    int n_cases = 6000, milp_every = 5, feasible = 0, infeasible = 0, milp_runs = 0, mismatch_shown = 0;
    double t_dp = 0, t_brute = 0, t_milp = 0;
    for (int c = 0; c < n_cases; c++) {
        plan_problem_t p;
        gen_small(&r, &p, 4, 8);
        plan_t dp, br, mi;
        err_t e1, e2, e3;
        err_clear(&e1);
        err_clear(&e2);
        err_clear(&e3);
        double t0 = now_ms();
        int rc_dp = plan_solve_dp(&p, &dp, &e1);
        double t1 = now_ms();
        int rc_br = plan_solve_brute(&p, &br, &e2);
        double t2 = now_ms();
        t_dp += t1 - t0;
        t_brute += t2 - t1;
        CHECKF(rc_dp == rc_br, "case %d: dp rc %d (%s), brute rc %d (%s)", c, rc_dp, e1.msg, rc_br, e2.msg);
        CHECK(rc_dp == 0 || rc_dp == ERR_NOTFOUND);
        if (rc_dp == ERR_NOTFOUND) {
            infeasible++;
            CHECK(strncmp(e1.msg, "no plan fits", 12) == 0);
        }
        if (rc_dp == 0 && rc_br == 0) {
            feasible++;
            check_valid(&p, &dp, "dp");
            check_valid(&p, &br, "brute");
            int same = same_plan(&dp, &br);
            CHECKF(same, "case %d: dp and brute plans differ (objectives %.17g, %.17g)", c, dp.objective,
                   br.objective);
            if (!same && mismatch_shown++ < 3) {
                print_plan("dp", &dp);
                print_plan("brute", &br);
            }
            CHECK(close_rel(dp.objective, br.objective, 1e-12));
            double single;
            if (header_only(&p, &single))
                CHECKF(dp.objective <= single * (1 + 1e-12), "case %d: %.17g worse than the header alone %.17g", c,
                       dp.objective, single);
            check_overlap(&p, &dp);
        }
        if (c % milp_every == 0) {
            milp_runs++;
            double t3 = now_ms();
            int rc_mi = plan_solve_milp(&p, NULL, &mi, &e3);
            t_milp += now_ms() - t3;
            CHECKF(rc_mi == rc_dp, "case %d: milp rc %d (%s), dp rc %d", c, rc_mi, e3.msg, rc_dp);
            if (rc_mi == 0 && rc_dp == 0) {
                check_valid(&p, &mi, "milp");
                CHECKF(close_rel(mi.objective, dp.objective, 1e-9), "case %d: milp %.17g, dp %.17g", c,
                       mi.objective, dp.objective);
            }
        }
        plan_problem_fini(&p);
    }
    printf("test_plan: %d small problems (%d feasible, %d infeasible): dp %.1f ms, brute %.1f ms; "
           "%d milp %.1f ms\n", n_cases, feasible, infeasible, t_dp, t_brute, milp_runs, t_milp);
    CHECK(feasible > n_cases / 3 && infeasible > n_cases / 50);
}

/* Five and six devices, up to 12 units: DP against the brute force only. */
static void test_random_wider(void)
{
    rng_t r = {77};
    for (int c = 0; c < 300; c++) {
        plan_problem_t p;
        gen_small(&r, &p, 6, 8);
        plan_t dp, br;
        int rc1 = plan_solve_dp(&p, &dp, NULL), rc2 = plan_solve_brute(&p, &br, NULL);
        CHECK(rc1 == rc2);
        if (rc1 == 0 && rc2 == 0) {
            CHECKF(same_plan(&dp, &br), "wider case %d: plans differ (%.17g, %.17g)", c, dp.objective, br.objective);
            check_valid(&p, &dp, "dp");
        }
        plan_problem_fini(&p);
    }
}

/* A fixed stage count (the planner's per-count solves for batched throughput):
 * the DP against the brute force over the plans of each count; the best of the
 * counts is the unrestricted optimum. */
static void test_random_stages(void)
{
    rng_t r = {4242};
    int compared = 0;
    for (int c = 0; c < 1500; c++) {
        plan_problem_t p;
        gen_small(&r, &p, 5, 8);
        plan_t all;
        int rc_all = plan_solve_dp(&p, &all, NULL);
        double best = INFINITY;
        for (int s = 1; s <= p.n_dev; s++) {
            plan_t dp, br;
            err_t e1, e2;
            err_clear(&e1);
            err_clear(&e2);
            int rc1 = plan_solve_dp_stages(&p, s, &dp, &e1), rc2 = plan_solve_brute_stages(&p, s, &br, &e2);
            CHECKF(rc1 == rc2, "stages case %d, %d stages: dp rc %d (%s), brute rc %d (%s)", c, s, rc1, e1.msg, rc2,
                   e2.msg);
            CHECK(rc1 == 0 || (rc1 == ERR_NOTFOUND && strstr(e1.msg, "exactly")));
            if (rc1 == 0 && rc2 == 0) {
                compared++;
                check_valid(&p, &dp, "dp stages");
                CHECK(dp.n_stages == s);
                CHECKF(same_plan(&dp, &br), "stages case %d, %d stages: plans differ (%.17g, %.17g)", c, s,
                       dp.objective, br.objective);
                if (dp.objective < best)
                    best = dp.objective;
            }
        }
        CHECK(rc_all == (best == INFINITY ? ERR_NOTFOUND : 0));
        if (rc_all == 0)
            CHECKF(close_rel(all.objective, best, 1e-12), "stages case %d: best of the counts %.17g, dp %.17g", c,
                   best, all.objective);
        plan_t x;
        err_t e;
        CHECK(plan_solve_dp_stages(&p, 0, &x, &e) == ERR_RANGE && plan_solve_dp_stages(&p, p.n_dev + 1, &x, &e) == ERR_RANGE);
        plan_problem_fini(&p);
    }
    CHECK(compared > 1500);
}

/* ---- known answers, tie-breaking, infeasibility ----------------------------- */

static void fill_uniform(plan_problem_t *p, double t, double lat, double bw)
{
    int n = p->n_dev, m = p->n_units;
    for (int d = 0; d < n; d++) {
        for (int u = 0; u < m; u++)
            p->time[(size_t)d * m + u] = t;
        for (int k = 0; k < n; k++) {
            p->latency[d * n + k] = lat;
            p->bandwidth[d * n + k] = bw;
        }
    }
}

static void test_known(void)
{
    plan_problem_t p;
    plan_t plan;
    err_t err;
    /* Three identical devices, loose memory, latency: the header alone (no hops). */
    plan_problem_init(&p, 3, 6, NULL);
    fill_uniform(&p, 0.01, 0.001, 1e6);
    for (int u = 0; u < 6; u++) { p.unit_mem[u] = 10; p.out_bytes[u] = 100; }
    for (int d = 0; d < 3; d++) p.dev_mem[d] = 100;
    p.header = 1;
    CHECK(plan_solve_dp(&p, &plan, NULL) == 0 && plan.n_stages == 1 && plan.stage[0].device == 1);
    CHECK(fabs(plan.objective - 0.06) < 1e-15);
    /* Throughput with free links: three equal stages; ties give the smallest device order 1, 0, 2. */
    p.objective = PLAN_THROUGHPUT;
    fill_uniform(&p, 0.01, 0.0, 1e300);
    CHECK(plan_solve_dp(&p, &plan, NULL) == 0);
    CHECK(plan.n_stages == 3 && plan.stage[0].device == 1 && plan.stage[1].device == 0 &&
          plan.stage[2].device == 2 && plan.stage[1].start == 2 && plan.stage[2].start == 4);
    CHECK(fabs(plan.objective - 0.02) < 1e-15);
    plan_t br;
    CHECK(plan_solve_brute(&p, &br, NULL) == 0 && same_plan(&plan, &br));
    /* Memory for 2 units each on the others, 3 on the header: fewest stages win ties. */
    p.dev_mem[1] = 30;
    p.dev_mem[0] = p.dev_mem[2] = 20;
    CHECK(plan_solve_dp(&p, &plan, NULL) == 0 && plan.n_stages == 3);
    CHECK(plan_solve_brute(&p, &br, NULL) == 0 && same_plan(&plan, &br));
    /* Infeasible: explanations. */
    p.dev_mem[0] = p.dev_mem[1] = p.dev_mem[2] = 15;
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "total unit memory 60"));
    err_clear(&err);
    CHECK(plan_solve_milp(&p, NULL, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "total unit memory"));
    p.dev_mem[0] = p.dev_mem[1] = p.dev_mem[2] = 1000;
    p.unit_mem[3] = p.unit_mem[4] = 1200;
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "units 3..4 fit on no device"));
    err_clear(&err);
    CHECK(plan_solve_brute(&p, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "units 3..4"));
    p.unit_mem[3] = p.unit_mem[4] = 10;
    p.unit_mem[0] = 500;
    p.dev_mem[1] = 100;
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "header device 1"));
    /* Contiguity: 4 units of 10 bytes, devices of 15: two per device impossible, one each is 4 > 3 devices. */
    plan_problem_fini(&p);
    plan_problem_init(&p, 3, 4, NULL);
    fill_uniform(&p, 0.01, 0.001, 1e6);
    for (int u = 0; u < 4; u++) p.unit_mem[u] = 10;
    for (int d = 0; d < 3; d++) p.dev_mem[d] = 15;
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_NOTFOUND && strstr(err.msg, "contiguous"));
    err_clear(&err);
    CHECK(plan_solve_milp(&p, NULL, &plan, &err) == ERR_NOTFOUND);
    /* Invalid problems are refused with the field. */
    p.bandwidth[0 * 3 + 2] = 0.0;
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_RANGE && strstr(err.msg, "bandwidth[0][2]"));
    p.bandwidth[2] = 1e6;
    p.header = 3;
    err_clear(&err);
    CHECK(plan_solve_milp(&p, NULL, &plan, &err) == ERR_RANGE && strstr(err.msg, "header"));
    p.header = 0;
    p.time[5] = -1.0;
    err_clear(&err);
    CHECK(plan_solve_brute(&p, &plan, &err) == ERR_RANGE && strstr(err.msg, "devices[1].time[1]"));
    p.time[5] = NAN;
    CHECK(plan_problem_check(&p, NULL) == ERR_RANGE);
    plan_problem_fini(&p);
    /* Beyond the DP's device limit. */
    plan_problem_init(&p, PLAN_DP_MAX_DEVICES + 1, 3, NULL);
    fill_uniform(&p, 0.01, 0.001, 1e6);
    err_clear(&err);
    CHECK(plan_solve_dp(&p, &plan, &err) == ERR_RANGE && strstr(err.msg, "milp"));
    plan_problem_fini(&p);
    CHECK(plan_problem_init(&p, 0, 3, &err) == ERR_RANGE && strstr(err.msg, "devices"));
    CHECK(plan_problem_init(&p, 2, PLAN_MAX_UNITS + 1, &err) == ERR_RANGE && strstr(err.msg, "units"));
    plan_problem_fini(&p);
}

/* plan_write_json: the documented keys, read back with the reader. */
static void test_write_json(void)
{
    plan_t plan = {.n_stages = 2, .stage = {{1, 0, 3}, {0, 3, 5}}, .objective = 0.1 + 0.2};
    plan_replicas_t rep = {.n = 1, .r = {{0, 2, 3}}, .bytes = 7};
    for (int with = 0; with < 2; with++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        plan_write_json(f, &plan, "dp", 1.25, with ? &rep : NULL);
        fclose(f);
        cJSON *doc = NULL;
        err_t err;
        err_clear(&err);
        CHECKF(jdoc_parse(buf, len, NULL, &doc, &err) == 0, "%s: %s", buf, err.msg);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "stages");
        CHECK(cJSON_GetArraySize(doc) == 4 + with);
        CHECK(cJSON_GetArraySize(st) == 2 && cJSON_GetObjectItemCaseSensitive(st->child->next, "start")->valuedouble == 3.0);
        CHECK(cJSON_GetObjectItemCaseSensitive(doc, "objective")->valuedouble == 0.1 + 0.2);   /* round-trips */
        CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(doc, "solver")->valuestring, "dp") &&
              cJSON_GetObjectItemCaseSensitive(doc, "solve_ms")->valuedouble == 1.25);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "replicas");
        CHECK(with ? cJSON_GetArraySize(r) == 1 && cJSON_GetObjectItemCaseSensitive(r->child, "end")->valuedouble == 3.0
                   : r == NULL);
        cJSON_Delete(doc);
        free(buf);
    }
}

static void test_eval_rejects(void)
{
    plan_problem_t p;
    plan_problem_init(&p, 3, 6, NULL);
    fill_uniform(&p, 0.01, 0.001, 1e6);
    for (int u = 0; u < 6; u++) p.unit_mem[u] = 10;
    for (int d = 0; d < 3; d++) p.dev_mem[d] = 40;
    p.token_bytes = 4;
    double obj;
    err_t err;
    plan_t ok = {.n_stages = 2, .stage = {{0, 0, 3}, {2, 3, 6}}};
    CHECK(plan_eval(&p, &ok, &obj, NULL, NULL) == 0);
    /* latency: 6 units x 10 ms + hop 1 ms + 0/1e6 + return 1 ms + 4/1e6 */
    CHECK(fabs(obj - (0.06 + 0.001 + 0.001 + 4e-6)) < 1e-15);
    struct { plan_t plan; const char *msg; } bad[] = {
        {{.n_stages = 2, .stage = {{1, 0, 3}, {2, 3, 6}}}, "header"},
        {{.n_stages = 2, .stage = {{0, 0, 3}, {0, 3, 6}}}, "more than one stage"},
        {{.n_stages = 2, .stage = {{0, 0, 3}, {2, 4, 6}}}, "starts at unit 4"},
        {{.n_stages = 2, .stage = {{0, 0, 3}, {2, 3, 5}}}, "end at unit 5"},
        {{.n_stages = 2, .stage = {{0, 0, 0}, {2, 0, 6}}}, "non-empty"},
        {{.n_stages = 1, .stage = {{0, 0, 6}}}, "needs 60 bytes"},
        {{.n_stages = 2, .stage = {{0, 0, 3}, {5, 3, 6}}}, "out of range"},
        {{.n_stages = 0}, "0 stages"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        CHECKF(plan_eval(&p, &bad[i].plan, &obj, NULL, &err) == ERR_INVAL && strstr(err.msg, bad[i].msg),
               "bad plan %zu: '%s'", i, err.msg);
    }
    plan_problem_fini(&p);
}

/* ---- large problems -------------------------------------------------------------- */

static void test_large_one(rng_t *r, int n, int m, plan_objective_t obj, double memfac, int random_plans)
{
    plan_problem_t p;
    gen_big(r, &p, n, m, obj, memfac);
    plan_t dp, mi;
    err_t e1, e2;
    err_clear(&e1);
    err_clear(&e2);
    double t0 = now_ms();
    int rc1 = plan_solve_dp(&p, &dp, &e1);
    double t1 = now_ms();
    plan_milp_opts_t mo = {.time_limit_ms = 120000};
    int rc2 = plan_solve_milp(&p, &mo, &mi, &e2);
    double t2 = now_ms();
    CHECKF(rc1 == rc2, "large %dx%d: dp rc %d (%s), milp rc %d (%s)", n, m, rc1, e1.msg, rc2, e2.msg);
    printf("test_plan: %d devices x %d units, %s: dp %.1f ms (%d stages), milp %.1f ms, objective %.10g\n", n, m,
           obj == PLAN_LATENCY ? "latency" : "throughput", t1 - t0, rc1 ? 0 : dp.n_stages, t2 - t1,
           rc1 ? 0.0 : dp.objective);
    if (rc1 == 0 && rc2 == 0) {
        check_valid(&p, &dp, "dp");
        check_valid(&p, &mi, "milp");
        CHECKF(close_rel(dp.objective, mi.objective, 1e-9), "large: dp %.17g, milp %.17g", dp.objective,
               mi.objective);
        /* No random valid plan beats the optimum. */
        for (int t = 0; t < random_plans; t++) {
            plan_t x = {.n_stages = 0};
            unsigned used = 1u << p.header;
            int a = 0, d = p.header;
            while (a < m && x.n_stages < n) {
                uint64_t mem = 0;
                int b = a;
                while (b < m && mem + p.unit_mem[b] <= p.dev_mem[d])
                    mem += p.unit_mem[b++];
                if (b == a)
                    break;
                int end = b == m && irand(r, 0, 3) ? m : irand(r, a + 1, b);
                x.stage[x.n_stages++] = (plan_stage_t){d, a, end};
                a = end;
                int free_dev[PLAN_MAX_DEVICES], nf = 0;
                for (int k = 0; k < n; k++)
                    if (!(used & (1u << k)))
                        free_dev[nf++] = k;
                if (!nf)
                    break;
                d = free_dev[irand(r, 0, nf - 1)];
                used |= 1u << d;
            }
            double v;
            if (a == m && plan_eval(&p, &x, &v, NULL, NULL) == 0)
                CHECKF(v >= dp.objective * (1 - 1e-12), "random plan %.17g beats dp %.17g", v, dp.objective);
        }
        check_overlap(&p, &dp);
    }
    plan_problem_fini(&p);
}

static void test_large(void)
{
    rng_t r = {4242};
    for (int i = 0; i < 3; i++)
        test_large_one(&r, 6, 60, PLAN_LATENCY, 0.5, 2000);
    for (int i = 0; i < 2; i++)
        test_large_one(&r, 6, 60, PLAN_THROUGHPUT, 0.5, 2000);
    test_large_one(&r, 8, 130, PLAN_LATENCY, 0.5, 2000);
    test_large_one(&r, 8, 130, PLAN_LATENCY, 1.2, 0);
}

/* ---- JSON reader ------------------------------------------------------------------ */

static int parse_fails(const char *text, const char *want)
{
    cJSON *doc = NULL;
    err_t err;
    err_clear(&err);
    int rc = jdoc_parse(text, strlen(text), NULL, &doc, &err);
    cJSON_Delete(doc);
    int ok = rc != 0 && doc == NULL && strstr(err.msg, want) != NULL && strncmp(err.msg, "byte ", 5) == 0;
    if (!ok)
        fprintf(stderr, "  json '%s': rc %d, message '%s', wanted '%s'\n", text, rc, err.msg, want);
    return ok;
}

/* The hostile-input checks jdoc adds around cJSON, and that cJSON decodes what we rely on. */
static void test_json_reader(void)
{
    const char *text = "\xef\xbb\xbf { \"a\" : [1, -2.5e3, -0, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\\\"\"],"
                       " \"k\\u0041y\": {}, \"e\": [] } ";
    cJSON *doc = NULL;
    err_t err;
    err_clear(&err);
    CHECKF(jdoc_parse(text, strlen(text), NULL, &doc, &err) == 0, "%s", err.msg);
    CHECK(cJSON_IsObject(doc) && cJSON_GetArraySize(doc) == 3);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, "a");
    CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 7);
    const cJSON *v = a->child;
    CHECK(cJSON_IsNumber(v) && v->valuedouble == 1.0);
    v = v->next;
    CHECK(v && v->valuedouble == -2500.0);
    v = v->next;
    CHECK(v && v->valuedouble == 0.0 && signbit(v->valuedouble));
    v = v->next;
    CHECK(cJSON_IsTrue(v));
    v = v->next->next;
    CHECK(cJSON_IsNull(v));
    v = v->next;
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "x\xc3\xa9\xf0\x9f\x98\x80\n\"") == 0);
    CHECK(v->next == NULL);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "kAy");
    CHECK(cJSON_IsObject(k) && k->child == NULL);
    cJSON_Delete(doc);
    /* Malformed text: the byte offset and what was wrong. */
    CHECK(parse_fails("", "byte 0: malformed JSON"));
    CHECK(parse_fails("   ", "malformed JSON"));
    CHECK(parse_fails("[1,]", "byte 3: malformed JSON at ']'"));
    CHECK(parse_fails("[1 2]", "malformed JSON"));
    CHECK(parse_fails("{\"a\" 1}", "malformed JSON"));
    CHECK(parse_fails("{1: 2}", "malformed JSON"));
    CHECK(parse_fails("1e999", "overflows a double"));
    CHECK(parse_fails("[\"1e999\", -1e999]", "byte 10: a number overflows a double"));
    CHECK(parse_fails("[1] x", "byte 4: expected end of input"));
    CHECK(parse_fails("\"abc", "malformed JSON"));
    CHECK(parse_fails("\"\\ud800\"", "malformed JSON"));
    CHECK(parse_fails("\"a\\u0000b\"", "byte 2: \\u0000"));
    CHECK(parse_fails("\"\xff\"", "byte 1: invalid UTF-8"));
    CHECK(parse_fails("\"\xc0\xaf\"", "invalid UTF-8"));
    CHECK(parse_fails("\"\xed\xa0\x80\"", "invalid UTF-8"));
    CHECK(parse_fails("tru", "malformed JSON"));
    CHECK(parse_fails("NaN", "malformed JSON"));
    CHECK(jdoc_parse("[1,\0]", 5, NULL, &doc, &err) == ERR_FORMAT && strstr(err.msg, "byte 3: NUL"));
    char deep[200];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    CHECK(parse_fails(deep, "nesting deeper than 64"));
    /* Brackets inside strings do not count as nesting. */
    char instr[200] = "\"";
    memset(instr + 1, '[', 150);
    strcpy(instr + 151, "\"");
    CHECK(jdoc_parse(instr, strlen(instr), NULL, &doc, &err) == 0 && cJSON_IsString(doc));
    cJSON_Delete(doc);
    /* Limits. */
    jdoc_limits_t lim = {.max_bytes = 4};
    CHECK(jdoc_parse("[1,2]", 5, &lim, &doc, &err) == ERR_RANGE && strstr(err.msg, "exceeds the limit"));
    /* Writing: invalid UTF-8 becomes U+FFFD, so the text always parses again. */
    cJSON *o = cJSON_CreateObject();
    jdoc_add_text(o, "t", "a\xff" "b\xe2\x82", 5);
    jdoc_add_number(o, "n", NAN);
    char *out = jdoc_print(o);
    CHECKF(out && strcmp(out, "{\"t\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\",\"n\":null}") == 0, "%s", out);
    CHECK(jdoc_parse(out, strlen(out), NULL, &doc, &err) == 0);
    cJSON_Delete(doc);
    free(out);
    cJSON_Delete(o);
}

/* ---- problem JSON ------------------------------------------------------------------ */

/* Writes p as problem JSON into a heap string. */
static char *problem_text(const plan_problem_t *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int n = p->n_dev, m = p->n_units;
    fprintf(f, "{\"objective\": \"%s\", \"header\": %d, \"token_bytes\": %.17g,\n \"units\": [",
            p->objective == PLAN_LATENCY ? "latency" : "throughput", p->header, p->token_bytes);
    for (int u = 0; u < m; u++)
        fprintf(f, "%s{\"mem\": %llu, \"out_bytes\": %.17g}", u ? ", " : "", (unsigned long long)p->unit_mem[u],
                p->out_bytes[u]);
    fputs("],\n \"devices\": [", f);
    for (int d = 0; d < n; d++) {
        fprintf(f, "%s{\"name\": \"%s\", \"mem\": %llu, \"time\": [", d ? ", " : "", p->name[d],
                (unsigned long long)p->dev_mem[d]);
        for (int u = 0; u < m; u++)
            fprintf(f, "%s%.17g", u ? ", " : "", p->time[(size_t)d * m + u]);
        fputs("]}", f);
    }
    for (int which = 0; which < 2; which++) {
        const double *mat = which ? p->bandwidth : p->latency;
        fprintf(f, "],\n \"%s\": [", which ? "bandwidth" : "latency");
        for (int i = 0; i < n; i++) {
            fputs(i ? ", [" : "[", f);
            for (int k = 0; k < n; k++)
                fprintf(f, "%s%.17g", k ? ", " : "", mat[i * n + k]);
            fputc(']', f);
        }
    }
    fputs("]}\n", f);
    fclose(f);
    return buf;
}

static int problems_equal(const plan_problem_t *a, const plan_problem_t *b)
{
    int n = a->n_dev, m = a->n_units;
    if (a->n_dev != b->n_dev || a->n_units != b->n_units || a->header != b->header || a->objective != b->objective ||
        a->token_bytes != b->token_bytes)
        return 0;
    return !memcmp(a->unit_mem, b->unit_mem, (size_t)m * sizeof *a->unit_mem) &&
           !memcmp(a->out_bytes, b->out_bytes, (size_t)m * sizeof *a->out_bytes) &&
           !memcmp(a->dev_mem, b->dev_mem, (size_t)n * sizeof *a->dev_mem) &&
           !memcmp(a->time, b->time, (size_t)n * m * sizeof *a->time) &&
           !memcmp(a->latency, b->latency, (size_t)n * n * sizeof *a->latency) &&
           !memcmp(a->bandwidth, b->bandwidth, (size_t)n * n * sizeof *a->bandwidth) &&
           !memcmp(a->name, b->name, sizeof a->name);
}

static int load_fails(const char *text, const char *want)
{
    plan_problem_t p;
    err_t err;
    err_clear(&err);
    int rc = plan_problem_from_json(text, strlen(text), &p, &err);
    if (rc == 0)
        plan_problem_fini(&p);
    int ok = rc != 0 && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "  problem: rc %d, message '%s', wanted '%s'\n", rc, err.msg, want);
    return ok;
}

/* Replaces the first occurrence of from in text by to (static buffer). */
static const char *edit(const char *text, const char *from, const char *to)
{
    static char out[8192];
    const char *at = strstr(text, from);
    if (!at || strlen(text) - strlen(from) + strlen(to) >= sizeof out)
        return "";
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_problem_json(void)
{
    rng_t r = {99};
    for (int i = 0; i < 200; i++) {   /* round trip */
        plan_problem_t p, q;
        gen_small(&r, &p, 4, 8);
        char *text = problem_text(&p);
        err_t err;
        err_clear(&err);
        int rc = plan_problem_from_json(text, strlen(text), &q, &err);
        CHECKF(rc == 0, "round trip: %s", err.msg);
        if (rc == 0) {
            CHECK(problems_equal(&p, &q));
            plan_problem_fini(&q);
        }
        free(text);
        plan_problem_fini(&p);
    }
    const char *good =
        "{\"objective\": \"latency\", \"header\": 0, \"token_bytes\": 4,"
        " \"units\": [{\"mem\": 10, \"out_bytes\": 100}, {\"mem\": 20, \"out_bytes\": 100}],"
        " \"devices\": [{\"name\": \"a\", \"mem\": 100, \"time\": [0.01, 0.02]},"
        " {\"name\": \"b\", \"mem\": 25, \"time\": [0.005, 0.005]}],"
        " \"latency\": [[0, 0.001], [0.002, 0]], \"bandwidth\": [[0, 1e6], [2e6, 0]]}";
    plan_problem_t p;
    CHECK(plan_problem_from_json(good, strlen(good), &p, NULL) == 0);
    CHECK(p.n_dev == 2 && p.n_units == 2 && p.unit_mem[1] == 20 && p.time[3] == 0.005 && p.latency[2] == 0.002 &&
          p.bandwidth[1] == 1e6 && !strcmp(p.name[1], "b") && p.token_bytes == 4);
    plan_problem_fini(&p);
    CHECK(load_fails(edit(good, "\"latency\",", "\"fast\","), "objective"));
    CHECK(load_fails(edit(good, "\"header\": 0", "\"header\": 2"), "header: 2 out of range 0..1"));
    CHECK(load_fails(edit(good, "\"header\": 0", "\"header\": 0.5"), "header: 0.5 is not an integer"));
    CHECK(load_fails(edit(good, "\"header\": 0", "\"header\": -1"), "header: -1 is negative"));
    CHECK(load_fails(edit(good, "\"token_bytes\": 4,", ""), "missing field 'token_bytes'"));
    CHECK(load_fails(edit(good, "\"token_bytes\": 4", "\"token_bytes\": 4, \"bandwith\": 1"),
                     "unknown field 'bandwith'"));
    CHECK(load_fails(edit(good, "\"token_bytes\": 4", "\"token_bytes\": 4, \"header\": 1"), "given twice"));
    CHECK(load_fails(edit(good, "[0.01, 0.02]", "[0.01]"), "devices[0].time: 1 entries, expected 2"));
    CHECK(load_fails(edit(good, "[0.005, 0.005]", "[0.005, -1]"), "devices[1].time[1]: -1 is negative"));
    CHECK(load_fails(edit(good, "[0.005, 0.005]", "[0.005, \"x\"]"), "devices[1].time[1]: expected a number"));
    CHECK(load_fails(edit(good, "[[0, 1e6], [2e6, 0]]", "[[0, 1e6]]"), "bandwidth: 1 entries, expected 2"));
    CHECK(load_fails(edit(good, "[[0, 1e6], [2e6, 0]]", "[[0, 1e6], [2e6]]"), "bandwidth[1]: 1 entries"));
    CHECK(load_fails(edit(good, "[[0, 1e6], [2e6, 0]]", "[[0, 0], [2e6, 0]]"), "bandwidth[0][1]: 0 between"));
    CHECK(load_fails(edit(good, "[[0, 0.001], [0.002, 0]]", "[[0, 0.001], [-0.002, 0]]"), "latency[1][0]"));
    CHECK(load_fails(edit(good, "{\"mem\": 20,", "{\"mem\": 20.5,"), "units[1].mem: 20.5 is not an integer"));
    CHECK(load_fails(edit(good, "{\"mem\": 20,", "{\"mem\": 1e300,"), "units[1].mem"));
    CHECK(load_fails(edit(good, "\"out_bytes\": 100}]", "\"out_bytes\": 100, \"x\": 1}]"), "units[1]: unknown"));
    CHECK(load_fails(edit(good, "\"name\": \"a\"", "\"name\": 3"), "devices[0].name"));
    CHECK(load_fails(edit(good, "[{\"mem\": 10, \"out_bytes\": 100}, {\"mem\": 20, \"out_bytes\": 100}]", "[]"),
                     "units: 0 entries"));
    CHECK(load_fails(edit(good, "{\"objective\"", "[{\"objective\""), "byte"));
    CHECK(load_fails("[]", "problem: expected an object"));
    CHECK(load_fails("{\"objective\": \"latency\"", "byte 22: malformed JSON"));
    /* Mutations and truncations of a valid problem: no crash, a message on every refusal. */
    size_t len = strlen(good);
    char *buf = malloc(len + 1);
    int accepted = 0, refused = 0;
    static const char subst[] = {'"', '{', '}', '[', ']', ',', ':', '0', '9', '-', 'e', '.', ' ', '\\', '\x00',
                                 '\xff', 'x'};
    for (size_t i = 0; i < len; i++) {
        for (size_t j = 0; j <= sizeof subst; j++) {
            memcpy(buf, good, len + 1);
            size_t use = len;
            if (j == sizeof subst)
                use = i;   /* truncation */
            else
                buf[i] = subst[j];
            err_t err;
            err_clear(&err);
            if (plan_problem_from_json(buf, use, &p, &err) == 0) {
                accepted++;
                CHECK(plan_problem_check(&p, NULL) == 0);
                plan_problem_fini(&p);
            } else {
                refused++;
                if (err.msg[0] == '\0')
                    CHECK(!"empty error message");
            }
        }
    }
    /* Random JSON-ish text. */
    static const char alpha[] = "{}[],:\"0123456789.eE+-tfnrulsa \\u";
    for (int t = 0; t < 3000; t++) {
        size_t n = (size_t)irand(&r, 0, 60);
        for (size_t i = 0; i < n; i++)
            buf[i] = alpha[irand(&r, 0, (int)sizeof alpha - 2)];
        cJSON *doc = NULL;
        err_t err;
        err_clear(&err);
        if (jdoc_parse(buf, n, NULL, &doc, &err) == 0)
            cJSON_Delete(doc);
        else if (strncmp(err.msg, "byte ", 5) != 0)
            CHECK(!"json error without byte offset");
    }
    free(buf);
    printf("test_plan: problem mutations: %d accepted, %d refused\n", accepted, refused);
    CHECK(refused > accepted);
}

int main(void)
{
    test_json_reader();
    test_problem_json();
    test_eval_rejects();
    test_write_json();
    test_known();
    test_random_small();
    test_random_wider();
    test_random_stages();
    test_large();
    return check_finish("test_plan");
}
