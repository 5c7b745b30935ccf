/*
 * monitor.h — smoothed per-device stage times (DESIGN §7).  Workers report
 * the measured time of every step (STAGE_TIMES: compute, the emulated
 * slowdown included, and send); the monitor keeps, per worker and for the
 * deployed epoch only, an exponentially weighted mean of its single-token
 * decode steps (prompt chunks are not what a plan predicts).  A deployment
 * resets it: times measured under another plan say nothing about this one.
 */
#ifndef LL_COORD_MONITOR_H
#define LL_COORD_MONITOR_H

#include <stdint.h>

#define COORD_MONITOR_ALPHA 0.2   /* weight of the newest step in the smoothed mean */

typedef struct {
    uint64_t samples;          /* decode steps seen this epoch */
    double compute_s, send_s;  /* smoothed seconds per step */
} coord_monitor_t;

void coord_monitor_reset(coord_monitor_t *m);
void coord_monitor_add(coord_monitor_t *m, double compute_s, double send_s);

#endif
