/*
 * ring_sim.c — the event-by-event ring of ring_sim.h.
 *
 * State: per stage the rows waiting, and the rows of the step it runs (0:
 * idle) with the time it is free again; the rows on the wire, each with the
 * time it arrives at its next stage.  A step of b rows computes for the stage's
 * step time of b, then sends its rows one message each (as workers do), one hop
 * time apart, and is free when the last is sent; the receiver waits for the
 * burst's last message (RING_ACT_MORE, node/batch.h), so all b arrive then.
 * Loop: every idle stage with rows waiting starts a step over all of them (the
 * header over at most ⌈K / S⌉, as workers do); then time advances to the next
 * arrival or free stage, and everything due at that instant is done before any
 * stage looks at its rows again.  A step of the tail completes its rows' tokens,
 * which go back to the header as sampled tokens.
 */
#include "plan/ring_sim.h"

#include <math.h>
#include <string.h>

#define RING_SIM_MAX_SEQ 4096
#define RING_SIM_MAX_EVENTS 4000000L
#define RING_SIM_WARM 16   /* tokens per sequence before statistics start */
#define RING_SIM_TOKENS 64 /* tokens per sequence measured */

double ring_sim_step_time(const ring_sim_t *r, int stage, double b)
{
    const int *bs = r->batch;
    const double *t = r->step_s[stage];
    const int n = r->n_batches;
    if (b <= bs[0] || n == 1)
        return t[0] / bs[0] * b;
    int k = 1;
    while (k < n - 1 && b > bs[k])
        k++;
    const double v = t[k - 1] + (t[k] - t[k - 1]) * (b - bs[k - 1]) / (bs[k] - bs[k - 1]);
    return v > t[0] ? v : t[0];   /* noisy curves: never below the smallest batch's step */
}

static int check(const ring_sim_t *r, err_t *err)
{
    if (r->n_stages < 1 || r->n_stages > RING_SIM_MAX_STAGES)
        return err_set(err, ERR_RANGE, "ring_sim: n_stages %d, want 1..%d", r->n_stages, RING_SIM_MAX_STAGES);
    if (r->n_seq < 1 || r->n_seq > RING_SIM_MAX_SEQ)
        return err_set(err, ERR_RANGE, "ring_sim: n_seq %d, want 1..%d", r->n_seq, RING_SIM_MAX_SEQ);
    if (r->n_batches < 1 || r->n_batches > RING_SIM_MAX_BATCHES)
        return err_set(err, ERR_RANGE, "ring_sim: n_batches %d, want 1..%d", r->n_batches, RING_SIM_MAX_BATCHES);
    for (int k = 0; k < r->n_batches; k++)
        if (r->batch[k] < 1 || (k > 0 && r->batch[k] <= r->batch[k - 1]))
            return err_set(err, ERR_RANGE, "ring_sim: batch[%d] = %d, want >= 1 and ascending", k, r->batch[k]);
    for (int s = 0; s < r->n_stages; s++) {
        if (!(r->hop_s[s] >= 0) || !isfinite(r->hop_s[s]))
            return err_set(err, ERR_RANGE, "ring_sim: hop_s[%d] = %g", s, r->hop_s[s]);
        for (int k = 0; k < r->n_batches; k++)
            if (!(r->step_s[s][k] > 0) || !isfinite(r->step_s[s][k]))
                return err_set(err, ERR_RANGE, "ring_sim: step_s[%d][%d] = %g", s, k, r->step_s[s][k]);
    }
    return 0;
}

typedef struct {
    double t;
    int stage;
} arrival_t;

int ring_sim_run(const ring_sim_t *r, ring_sim_result_t *out, err_t *err)
{
    int rc = check(r, err);
    if (rc)
        return rc;
    const int S = r->n_stages, K = r->n_seq;
    const int header_cap = (K + S - 1) / S;
    int queue[RING_SIM_MAX_STAGES] = {0}, busy[RING_SIM_MAX_STAGES] = {0};
    double busy_end[RING_SIM_MAX_STAGES] = {0}, sum_step[RING_SIM_MAX_STAGES] = {0};
    double sum_rows[RING_SIM_MAX_STAGES] = {0};
    long n_steps[RING_SIM_MAX_STAGES] = {0};
    arrival_t wire[RING_SIM_MAX_SEQ];   /* every row not waiting or in a step is on the wire */
    int n_wire = 0;
    const long warm = (long)RING_SIM_WARM * K, end = (long)(RING_SIM_WARM + RING_SIM_TOKENS) * K;
    long done = 0, done_warm = -1, events = 0;
    double t = 0.0;
    /* throughput: tokens of the tail's steps between its first and its latest measured step start */
    double tail_first = -1.0, tail_last = 0.0, tail_tokens = 0.0, tail_prev = 0.0;
    queue[0] = K;
    memset(out, 0, sizeof *out);
    while (done < end && events < RING_SIM_MAX_EVENTS) {
        for (int s = 0; s < S; s++) {   /* idle stages take every row that has arrived */
            if (busy[s] || !queue[s])
                continue;
            const int b = s == 0 && queue[s] > header_cap ? header_cap : queue[s];
            const double d = ring_sim_step_time(r, s, b), hop = r->hop_s[s];
            queue[s] -= b;
            busy[s] = b;
            busy_end[s] = t + d + b * hop;   /* computes, then sends its rows one after another ... */
            for (int i = 0; i < b; i++)      /* ... which the next stage takes as one burst */
                wire[n_wire++] = (arrival_t){.t = busy_end[s], .stage = (s + 1) % S};
            if (done_warm >= 0) {
                sum_step[s] += d;
                sum_rows[s] += b;
                n_steps[s]++;
            }
            if (s == S - 1) {
                if (done_warm >= 0) {
                    if (tail_first < 0)
                        tail_first = t;
                    else
                        tail_tokens += tail_prev;
                    tail_last = t;
                    tail_prev = b;
                }
                done += b;
                if (done_warm < 0 && done >= warm)
                    done_warm = done;
            }
        }
        double next = INFINITY;
        for (int s = 0; s < S; s++)
            if (busy[s] && busy_end[s] < next)
                next = busy_end[s];
        for (int i = 0; i < n_wire; i++)
            if (wire[i].t < next)
                next = wire[i].t;
        if (next == INFINITY)
            break;   /* cannot happen: the K rows are always somewhere */
        t = next;
        for (int s = 0; s < S; s++)   /* everything due now before any stage looks at its rows */
            if (busy[s] && busy_end[s] <= t)
                busy[s] = 0;
        for (int i = 0; i < n_wire;) {
            if (wire[i].t > t) {
                i++;
                continue;
            }
            queue[wire[i].stage]++;
            wire[i] = wire[--n_wire];
        }
        events++;
    }
    for (int s = 0; s < S; s++) {
        out->rows[s] = n_steps[s] ? sum_rows[s] / (double)n_steps[s] : 0.0;
        out->token_s[s] = sum_rows[s] > 0 ? sum_step[s] / sum_rows[s] : 0.0;
        out->steps += n_steps[s];
    }
    out->tokens_per_s = tail_last > tail_first && tail_first >= 0 ? tail_tokens / (tail_last - tail_first) : 0.0;
    return 0;
}
