/*
 * ring_sim.h — what a ring of stages does with K sequences decoding at once,
 * simulated event by event: the workers' batching rule (a stage that is idle
 * runs one step over every row that has arrived, the header over at most a
 * 1/S share, node/batch.h) applied to each
 * stage's step time as a function of the rows it batches, the hops between
 * stages, and the return hop from the tail to the header, where a sampled
 * token becomes the next step's row.  The planner's problem (plan.h) prices a
 * stage at one batch size; in a ring the stages batch different numbers of
 * rows (the slowest stage collects the sequences, the others run whatever has
 * come), and this model says how many and at what time per token, from unit
 * times profiled at a few batch sizes (plan/profile.h).  Deterministic; no
 * allocation beyond the caller's arrays; no state.
 */
#ifndef LL_PLAN_RING_SIM_H
#define LL_PLAN_RING_SIM_H

#include "util/err.h"

#define RING_SIM_MAX_STAGES 64
#define RING_SIM_MAX_BATCHES 16

typedef struct {
    int n_stages;                 /* 1..RING_SIM_MAX_STAGES, ring order, stage 0 the header */
    int n_seq;                    /* sequences in flight, 1..4096 */
    int n_batches;                /* batch sizes with a measured step time, 1..RING_SIM_MAX_BATCHES */
    int batch[RING_SIM_MAX_BATCHES];                        /* ascending, batch[0] >= 1 */
    double step_s[RING_SIM_MAX_STAGES][RING_SIM_MAX_BATCHES]; /* seconds per step of batch[k] rows, > 0 */
    double hop_s[RING_SIM_MAX_STAGES];   /* per row sent by each stage (the tail's: the return hop), >= 0 */
} ring_sim_t;

typedef struct {
    double rows[RING_SIM_MAX_STAGES];          /* mean rows per step */
    double token_s[RING_SIM_MAX_STAGES];       /* step time per row: Σ step times / Σ rows */
    double tokens_per_s;                       /* generated tokens per second of the whole ring */
    long steps;                                /* steps simulated (all stages) */
} ring_sim_result_t;

/* A stage's step time for b rows: linear between the measured batch sizes,
 * along the last segment's slope beyond the largest (never below the smallest
 * batch's step), and through the smallest's time per row below it. */
double ring_sim_step_time(const ring_sim_t *r, int stage, double b);

/* Runs the ring from all sequences waiting at the header until every sequence
 * has produced 64 tokens after a warm-up of 16 (statistics from then on).
 * ERR_RANGE naming a bad field. */
int ring_sim_run(const ring_sim_t *r, ring_sim_result_t *out, err_t *err);

#endif
