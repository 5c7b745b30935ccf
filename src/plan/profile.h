/*
 * profile.h — measuring how fast this device runs each unit of a model, by
 * running the real kernels on the real shapes: one executor per unit, a
 * prompt to fill its cache, then `rounds` single-token steps timed one by one.
 * The result per unit is the median seconds per token and its spread (half
 * the interquartile range).  With batch > 1 each timed step runs batch
 * sequences' decode rows together (continuous batching: one pass over the
 * weights for all of them) and the result is seconds per token of such a step
 * (step time / batch), which falls as batch grows until compute binds.  A device emulating a slower one (slowdown > 1)
 * sleeps after each step exactly as it does when serving, so the profile
 * measures the slowdown rather than being told it.
 */
#ifndef LL_PLAN_PROFILE_H
#define LL_PLAN_PROFILE_H

#include "model/model.h"
#include "model/seg.h"
#include "tensor/kern.h"
#include "util/err.h"

typedef struct {
    int threads;
    kern_isa_t isa;
    double slowdown;   /* >= 1 */
    int rounds;        /* timed steps per unit, >= 1 */
    int context;       /* positions already in the cache when timing (attention cost grows with it) */
    int batch;         /* sequences per timed step, 1..4096 (each one decode row) */
} profile_opts_t;

void profile_opts_default(profile_opts_t *o);

/* Fills time_s[u] and spread_s[u] for every unit of seg. */
int profile_units(const model_t *m, const seg_t *seg, const profile_opts_t *o, float *time_s, float *spread_s,
                  err_t *err);

#endif
