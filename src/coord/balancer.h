/*
 * balancer.h — the load balancer (DESIGN §7), a policy on the epoch switch.
 *
 * It starts from the deployed plan and the profiled problem it was planned
 * on.  Every check_ms it compares the plan's predicted objective (the
 * bottleneck stage + its outgoing hop for throughput, the ring's sum for
 * latency) with the same objective computed from the monitor's smoothed
 * stage times (monitor.h) and the predicted hops.  Only when the measurement
 * is worse than the prediction by more than `threshold` (relative) for a
 * sustained `window_ms` does it act: each ring device's speed factor becomes
 * measured / profiled stage time, the exact DP re-plans on the scaled unit
 * times, and a boundary-only move (same devices and order, each boundary moved
 * by at most `replica_units` units: the units an overlap replica holds) is
 * preferred when it is within `replica_slack` of the optimum.  It switches
 * only when the chosen plan's predicted objective beats the current plan
 * (under the same scaled times) by `min_gain`; either way the scaled
 * prediction becomes the new reference, so a load that stays the same never
 * triggers a second switch, and after a switch it waits `cooldown_ms` and
 * measures the gain it got (logged with verbose); a switch that made the ring
 * slower is undone once, and then the balancer leaves that load alone.  Each worker keeps
 * `replica_units` units on each side of its stage warm (coord/replicas.c: fetched, verified and resident,
 * as memory allows), so a boundary-only move within them loads no weights; the KV rows move worker to
 * worker or are rebuilt by the switch's replay (epoch.h).
 */
#ifndef LL_COORD_BALANCER_H
#define LL_COORD_BALANCER_H

#include "plan/plan.h"
#include "util/err.h"

typedef struct coord coord_t;
typedef struct coord_balancer coord_balancer_t;

typedef struct {
    double threshold;        /* measured worse than predicted by this (relative) ... */
    int window_ms;           /* ... for this long: re-plan */
    double min_gain;         /* switch only for at least this predicted gain (relative) */
    double replica_slack;    /* prefer a boundary-only move within this of the optimum */
    int replica_units;       /* how far a boundary-only move may shift a boundary */
    int cooldown_ms;         /* after a switch (or a decision not to), before looking again */
    int check_ms;            /* how often to look */
    int min_samples;         /* decode steps per stage before a measurement counts */
} coord_balance_opts_t;

/* threshold 0.25, window 1000 ms, min gain 0.10, slack 0.03, 2 replica units, cooldown 2000 ms,
 * check every 100 ms, 8 samples. */
void coord_balance_opts_default(coord_balance_opts_t *o);

/* Starts balancing the deployed plan (devices are worker indices) planned on p (copied). */
int coord_balance_start(coord_t *c, const plan_problem_t *p, const plan_t *plan, const coord_balance_opts_t *o,
                        err_t *err);

/* Switches the balancer made so far. */
int coord_balance_switches(const coord_t *c);

#endif
