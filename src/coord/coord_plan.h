/*
 * coord_plan.h — from measured profiles to a deployed plan.
 *
 * coord_profile asks the registered workers to time every unit of the model on
 * their own kernels — per token of a step that decodes `batch` sequences
 * together, as a stage will when that many are in flight (continuous batching:
 * the time per token falls as the batch grows until compute binds), for each of
 * a few batch sizes — and then to probe their links to every other worker over
 * the real transport.  Units are timed on all workers at once: devices that share
 * nothing do not disturb one another, so this takes 1/N of the time of one worker
 * after another, and emulated devices sharing one machine's cores, caches and
 * memory bus meet contention as they will when the ring runs (bench/plan_batch.sh
 * measured no clear difference in accuracy against one at a time).  Links are
 * probed one worker at a time, so that every echo is answered at once.  The answers are kept per worker and batch
 * size.  coord_problem turns them, with the
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

/* Profiles at the n_batches (1..COORD_PROFILE_MAX_BATCHES) batch sizes given,
 * default_batch among them: the one coord_problem and later joiners use. */
int coord_profile(coord_t *c, int rounds, const int *batches, int n_batches, int default_batch, int probe_bytes,
                  int timeout_ms, err_t *err);

/* The problem for the registered workers (device i = worker i), header = worker
 * `header`, with the unit times profiled at the default batch size. */
int coord_problem(const coord_t *c, plan_objective_t objective, int header, plan_problem_t *p, err_t *err);
/* The same with the unit times profiled at `batch` rows per step (a size that
 * was not profiled, or a worker that was only profiled at the default (a joiner):
 * the default's times). */
int coord_problem_at(const coord_t *c, plan_objective_t objective, int header, int batch, plan_problem_t *p,
                     err_t *err);

/* Rows per step a stage batches with n_seq sequences in flight over n_stages
 * stages: ceil(n_seq / n_stages) (the sequences spread over the stages). */
int coord_rows_per_stage(int n_seq, int n_stages);
/* The batch sizes to profile for n_seq in flight on 1..n_workers stages: the
 * distinct coord_rows_per_stage, from one stage's n_seq down to all workers',
 * then 1 (for the ring model, coord_print_plan); at most COORD_PROFILE_MAX_BATCHES
 * (middle counts dropped beyond: coord_problem_at takes the nearest).  Returns
 * how many. */
int coord_profile_batches(int n_seq, int n_workers, int *batches);
/* The throughput plan for n_seq sequences in flight: for each stage count s the
 * exact DP over plans of s stages, with unit times profiled at the rows each of
 * s stages batches; the best of the counts (ties: fewer stages).  *p receives
 * the problem of the chosen count (plan_problem_fini it). */
int coord_plan_batched(const coord_t *c, int header, int n_seq, plan_problem_t *p, plan_t *plan, err_t *err);

/* Stages (ring order) of a plan whose devices are worker indices. */
int coord_plan_stages(const plan_t *plan, coord_stage_t *stages);

/* The even split by weight bytes over all workers in worker order (the first is the header). */
int coord_even_stages(const coord_t *c, coord_stage_t *stages, int *n, err_t *err);
/* The same over the given workers in the given order (the first is the header). */
int coord_even_stages_on(const coord_t *c, const int *workers, int n_workers, coord_stage_t *stages, int *n,
                         err_t *err);

/* Prints the plan as a table with predicted stage times (and, when measured
 * is non-zero, the measured decode step times of the deployed stages); with
 * sequences in flight and several batch sizes profiled, also the simulated ring
 * (plan/ring_sim.h): each stage's rows per step and time per token at them. */
void coord_print_plan(FILE *f, const coord_t *c, const plan_problem_t *p, const plan_t *plan, int measured);

#endif
