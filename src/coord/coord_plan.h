/*
 * coord_plan.h — from measured profiles to a deployed plan.
 *
 * coord_profile asks each registered worker in turn (so measurements do not
 * disturb one another) to time every unit of the model on its own kernels —
 * per token of a step that decodes `batch` sequences together, as the stage
 * will when that many are in flight (continuous batching: the time per token
 * falls as the batch grows until compute binds) — and to probe its links to
 * every other worker over the real transport; the answers are kept per worker.  coord_problem turns them, with the
 * segmentation's unit costs, into the planner's problem (plan/plan.h): unit
 * memory = weights + KV cache for the context and sequences + scratch; a hop
 * carries the cut's activations of one token plus the message header; device
 * memory as each worker offers it.  coord_plan_stages converts a plan into ring
 * stages for coord_deploy_stages, and coord_even_stages gives the baseline
 * (equal weight bytes per worker, worker order).
 */
#ifndef LL_COORD_COORD_PLAN_H
#define LL_COORD_COORD_PLAN_H

#include "coord/coord.h"
#include "plan/plan.h"

int coord_profile(coord_t *c, int rounds, int batch, int probe_bytes, int timeout_ms, err_t *err);

/* The problem for the registered workers (device i = worker i), header = worker `header`. */
int coord_problem(const coord_t *c, plan_objective_t objective, int header, plan_problem_t *p, err_t *err);

/* Stages (ring order) of a plan whose devices are worker indices. */
int coord_plan_stages(const plan_t *plan, coord_stage_t *stages);

/* The even split by weight bytes over all workers in worker order (the first is the header). */
int coord_even_stages(const coord_t *c, coord_stage_t *stages, int *n, err_t *err);
/* The same over the given workers in the given order (the first is the header). */
int coord_even_stages_on(const coord_t *c, const int *workers, int n_workers, coord_stage_t *stages, int *n,
                         err_t *err);

/* Prints the plan as a table with predicted stage times (and, when measured
 * is non-zero, the measured decode step times of the deployed stages). */
void coord_print_plan(FILE *f, const coord_t *c, const plan_problem_t *p, const plan_t *plan, int measured);

#endif
