/*
 * test_ring_sim.c — the ring model with sequences in flight (plan/ring_sim.h):
 * step-time interpolation; known cases (one stage takes every sequence in each
 * step; two stages without hop costs move the sequences as one group, each busy
 * half the time); rows sent one at a time split the group, with the slower
 * stage batching more, no row lost and the throughput within the bottleneck's;
 * the same input gives the same result; bad input is named.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "plan/ring_sim.h"

static int close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

static ring_sim_t sim_two_sizes(int n_stages, int n_seq, double fixed, double per_row, double hop)
{
    ring_sim_t r;
    memset(&r, 0, sizeof r);
    r.n_stages = n_stages;
    r.n_seq = n_seq;
    r.n_batches = 2;
    r.batch[0] = 1;
    r.batch[1] = 8;
    for (int s = 0; s < n_stages; s++) {
        r.step_s[s][0] = fixed + per_row;
        r.step_s[s][1] = fixed + 8 * per_row;
        r.hop_s[s] = hop;
    }
    return r;
}

static void test_ring_sim(void)
{
    ring_sim_result_t res;
    err_t err;
    /* Interpolation: linear between sizes, along the last slope beyond, per row below. */
    ring_sim_t r = sim_two_sizes(1, 8, 0.007, 0.001, 0.0);
    CHECK(close_rel(ring_sim_step_time(&r, 0, 1), 0.008, 1e-12) && close_rel(ring_sim_step_time(&r, 0, 4), 0.011, 1e-12));
    CHECK(close_rel(ring_sim_step_time(&r, 0, 16), 0.023, 1e-12) && close_rel(ring_sim_step_time(&r, 0, 0.5), 0.004, 1e-12));
    /* One stage: every step takes all 8 sequences. */
    CHECK(ring_sim_run(&r, &res, &err) == 0);
    CHECKF(res.rows[0] == 8 && close_rel(res.tokens_per_s, 8 / 0.015, 1e-9), "one stage: %.3f rows, %.3f tok/s",
           res.rows[0], res.tokens_per_s);
    /* Two equal stages, no hop cost: the sequences move as one group, each stage busy half the time. */
    r = sim_two_sizes(2, 8, 0.010, 0.0, 0.0);
    CHECK(ring_sim_run(&r, &res, &err) == 0);
    CHECKF(res.rows[0] == 8 && res.rows[1] == 8 && close_rel(res.tokens_per_s, 8 / 0.020, 1e-9),
           "two stages, no hops: %.3f / %.3f rows, %.3f tok/s", res.rows[0], res.rows[1], res.tokens_per_s);
    /* Rows sent one at a time split the group: fewer rows per step, none lost, the slow stage batching more. */
    r = sim_two_sizes(2, 8, 0.004, 0.001, 0.0002);
    for (int k = 0; k < 2; k++)
        r.step_s[1][k] *= 2.0;
    CHECK(ring_sim_run(&r, &res, &err) == 0);
    CHECKF(res.rows[0] >= 1 && res.rows[1] > res.rows[0] && res.rows[0] + res.rows[1] <= 8.0 + 1e-9,
           "split: %.3f / %.3f rows", res.rows[0], res.rows[1]);
    CHECKF(close_rel(res.token_s[1], ring_sim_step_time(&r, 1, res.rows[1]) / res.rows[1], 0.25),
           "slow stage: %.6f s per token at %.2f rows", res.token_s[1], res.rows[1]);
    CHECK(res.tokens_per_s > 0 && res.tokens_per_s <= 1.0 / res.token_s[1] * (1 + 1e-9));
    ring_sim_result_t again;
    CHECK(ring_sim_run(&r, &again, &err) == 0 && memcmp(&again, &res, sizeof res) == 0);   /* deterministic */
    /* Bad input is named. */
    r.n_stages = 0;
    CHECK(ring_sim_run(&r, &res, &err) == ERR_RANGE && strstr(err.msg, "n_stages"));
    r = sim_two_sizes(2, 8, 0.004, 0.001, 0.0);
    r.batch[1] = 1;
    CHECK(ring_sim_run(&r, &res, &err) == ERR_RANGE && strstr(err.msg, "ascending"));
    r = sim_two_sizes(2, 8, 0.004, 0.001, 0.0);
    r.step_s[1][0] = NAN;
    CHECK(ring_sim_run(&r, &res, &err) == ERR_RANGE && strstr(err.msg, "step_s[1][0]"));
}

int main(void)
{
    test_ring_sim();
    return check_finish("test_ring_sim");
}
