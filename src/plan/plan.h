/*
 * plan.h — the planning problem of DESIGN.md §6 and its solvers: which devices
 * run which contiguous ranges of units, in which ring order.
 *
 * A problem has M units (memory, bytes sent to the next unit per token) and N
 * devices (memory, seconds per token for each unit), N×N link latency and
 * bandwidth, the header device (runs unit 0, receives each sampled token) and
 * the size of a token id.  A plan is a list of stages (device, start, end),
 * end exclusive, covering units 0..M-1 in order, the first on the header, each
 * device at most once, each device's units within its memory.  Devices may be
 * left out.  Costs:
 *   hop s -> s+1   = latency[d_s][d_s+1] + out_bytes[end_s - 1] / bandwidth[d_s][d_s+1]
 *   return hop     = latency[tail][header] + token_bytes / bandwidth[tail][header]
 *                    (only with more than one stage)
 *   latency        = Σ unit times of all stages + Σ hops, return hop included
 *   throughput     = max over stages of (stage unit times + its outgoing hop);
 *                    the tail's outgoing hop is the return hop.
 * Both are minimised.  Ties (objectives within PLAN_TIE_REL relative of the
 * optimum) are broken towards fewer stages, then the lexicographically
 * smallest (device, start) sequence: the DP and the brute force return that
 * canonical plan; the MILP returns an optimal plan, not necessarily the
 * canonical one (its objective equals theirs within the solvers' tolerance).
 *
 * This header owns the structs, their validation and the exact evaluation of a
 * plan (plan.c); the solvers live in plan_dp.c, plan_milp.c (GLPK) and
 * plan_brute.c, overlap replicas in plan_overlap.c, JSON in plan_json.c.
 * Plans are plain values (no allocation); a problem owns its arrays.  All
 * functions return 0 or a negative ERR_* code and fill err; a problem with no
 * feasible plan gives ERR_NOTFOUND with the reason in err.
 */
#ifndef LL_PLAN_PLAN_H
#define LL_PLAN_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define PLAN_MAX_DEVICES 16       /* the DP takes at most PLAN_DP_MAX_DEVICES */
#define PLAN_DP_MAX_DEVICES 12
#define PLAN_MAX_UNITS 1024         /* LinguaLinked cuts ~2 units per block */
#define PLAN_NAME_MAX 63
#define PLAN_MEM_MAX 9007199254740992.0   /* 2^53: memory sums stay exact in a double */
#define PLAN_TIE_REL 1e-12

typedef enum { PLAN_LATENCY = 0, PLAN_THROUGHPUT = 1 } plan_objective_t;

typedef struct {
    plan_objective_t objective;
    int n_units;                  /* M, 1..PLAN_MAX_UNITS */
    int n_dev;                    /* N, 1..PLAN_MAX_DEVICES */
    int header;                   /* 0..N-1 */
    double token_bytes;           /* bytes of the token id returned to the header */
    uint64_t *unit_mem;           /* [M] bytes */
    double *out_bytes;            /* [M] bytes per token sent by unit u to unit u+1 (the last is unused) */
    uint64_t *dev_mem;            /* [N] bytes available */
    double *time;                 /* [N*M] time[d*M + u]: seconds per token of unit u on device d */
    double *latency;              /* [N*N] latency[i*N + k]: one-way seconds i -> k (diagonal unused) */
    double *bandwidth;            /* [N*N] bytes/s i -> k, > 0 off the diagonal (diagonal unused) */
    char name[PLAN_MAX_DEVICES][PLAN_NAME_MAX + 1];
} plan_problem_t;

typedef struct {
    int device;
    int start, end;               /* units [start, end) */
} plan_stage_t;

typedef struct {
    int n_stages;
    plan_stage_t stage[PLAN_MAX_DEVICES];
    double objective;             /* as evaluated by plan_eval */
} plan_t;

/* Per-stage costs of a plan, for reports. */
typedef struct {
    uint64_t mem;                 /* bytes of the stage's units */
    double compute;               /* Σ unit times, seconds */
    double hop;                   /* outgoing hop (return hop for the tail; 0 with one stage) */
} plan_stage_cost_t;

/* Allocates zeroed arrays for n_dev devices and n_units units (names empty,
 * objective latency, header 0).  On error p is left empty (fini-safe). */
int plan_problem_init(plan_problem_t *p, int n_dev, int n_units, err_t *err);
/* Frees the arrays; accepts a zeroed or failed-init problem. */
void plan_problem_fini(plan_problem_t *p);

/* Checks sizes and values: header in range, every number finite and >= 0,
 * memory at most PLAN_MEM_MAX in total per side, bandwidth > 0 off the
 * diagonal.  ERR_RANGE naming the field (e.g. "bandwidth[0][2]"). */
int plan_problem_check(const plan_problem_t *p, err_t *err);

/* Hop cost from device `from` (whose last unit is last_unit) to device `to`. */
double plan_hop_cost(const plan_problem_t *p, int from, int to, int last_unit);
/* Return hop cost from tail device to the header (0 when tail is the header). */
double plan_return_cost(const plan_problem_t *p, int tail);

/* Validates plan against p (coverage, order, header first, each device once,
 * memory) and computes its objective by direct summation into *objective;
 * costs (may be NULL) receives n_stages entries.  ERR_INVAL naming the broken
 * rule.  Does not modify plan. */
int plan_eval(const plan_problem_t *p, const plan_t *plan, double *objective,
              plan_stage_cost_t *costs, err_t *err);

/* Records in err the most specific reason why p has no feasible plan (total
 * memory, units no device can hold, the header unable to hold unit 0, or the
 * contiguity/once-per-device rule) and returns ERR_NOTFOUND.  Solvers call it
 * when they find no plan, so their messages say why. */
int plan_explain_infeasible(const plan_problem_t *p, err_t *err);

/* The canonical order between two valid plans of p: negative when a is
 * preferred (smaller objective beyond PLAN_TIE_REL of the smaller one, else
 * fewer stages, else lexicographically smaller (device, start) sequence),
 * 0 when identical.  Uses a->objective and b->objective. */
int plan_compare(const plan_t *a, const plan_t *b);

/* True when |a - b| <= PLAN_TIE_REL * max(|a|, |b|). */
int plan_tie(double a, double b);

/* Solvers.  Each writes an optimal plan (objective filled by plan_eval) or
 * returns ERR_NOTFOUND (no feasible plan, reason in err), ERR_RANGE (instance
 * beyond the solver's limits), ERR_NOMEM, ERR_TIMEOUT (MILP time limit). */

/* Exact DP over (units covered, devices used, last device); canonical plan.
 * N <= PLAN_DP_MAX_DEVICES; time O(2^N N^2 M^2), memory O(2^N N M). */
int plan_solve_dp(const plan_problem_t *p, plan_t *out, err_t *err);
/* The same over the plans of exactly n_stages stages (1..N): the canonical one
 * among them; ERR_NOTFOUND when none is feasible. */
int plan_solve_dp_stages(const plan_problem_t *p, int n_stages, plan_t *out, err_t *err);

typedef struct {
    int time_limit_ms;            /* GLPK's search limit (model building not counted); 0: none */
    int verbose;                  /* GLPK terminal output on */
} plan_milp_opts_t;

/* Exact MILP on GLPK (formulation in plan_milp.c).  opts may be NULL. */
int plan_solve_milp(const plan_problem_t *p, const plan_milp_opts_t *opts, plan_t *out, err_t *err);

/* Enumerates every plan (tests; N <= 6, M <= 12 else ERR_RANGE); canonical plan. */
int plan_solve_brute(const plan_problem_t *p, plan_t *out, err_t *err);
/* The same over the plans of exactly n_stages stages. */
int plan_solve_brute_stages(const plan_problem_t *p, int n_stages, plan_t *out, err_t *err);

/* Overlap replicas: copies of units next to a stage boundary kept on the
 * neighbouring device (plan_overlap.c). */
typedef struct {
    int device;
    int start, end;               /* replicated units [start, end) */
} plan_replica_t;

typedef struct {
    int n;
    plan_replica_t r[2 * PLAN_MAX_DEVICES];
    uint64_t bytes;               /* total replicated bytes */
} plan_replicas_t;

/* For each device, the replicas of the previous stage's last units (never
 * unit 0, which is pinned to the header) and of the next stage's first units
 * that its spare memory holds, maximising the replicated bytes (then units),
 * exactly.  Entries are ordered by stage, the left side first.  ERR_INVAL
 * when plan is not valid for p. */
int plan_overlap(const plan_problem_t *p, const plan_t *plan, plan_replicas_t *out, err_t *err);

/* JSON (plan_json.c).  Parses the problem format of `lingua plan` into p
 * (initialised here; plan_problem_fini it after success).  ERR_FORMAT or
 * ERR_RANGE naming the field; p is left empty on error. */
int plan_problem_from_json(const char *text, size_t len, plan_problem_t *p, err_t *err);

/* Writes {"stages": [...], "objective": V, "solver": S, "solve_ms": MS
 * [, "replicas": [...], "replica_bytes": B]} and a newline. */
void plan_write_json(FILE *f, const plan_t *plan, const char *solver, double solve_ms,
                     const plan_replicas_t *replicas);

#endif
