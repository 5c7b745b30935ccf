/*
 * test_ring_sim.c — the ring model with sequences in flight (plan/ring_sim.h):
 * step-time interpolation; known cases (one stage takes every sequence in each
 * step; two stages move the sequences as two groups of half, every stage busy
 * all the time; a stage twice as slow keeps the groups and sets the pace, hops
 * included); the same input gives the same result; bad input is named.
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
    /* Two equal stages, no hop cost: two groups of 4, one at each stage, every stage always busy
     * (one group of 8 would give 8 / (2 x 0.018) = 222 tok/s). */
    r = sim_two_sizes(2, 8, 0.010, 0.001, 0.0);
    CHECK(ring_sim_run(&r, &res, &err) == 0);
    CHECKF(res.rows[0] == 4 && res.rows[1] == 4 && close_rel(res.tokens_per_s, 4 / 0.014, 1e-9),
           "two stages, no hops: %.3f / %.3f rows, %.3f tok/s", res.rows[0], res.rows[1], res.tokens_per_s);
    /* Stage 1 twice as slow, rows sent one hop apart: the groups hold (the receiver takes a step's rows as one
     * burst), stage 0 waits, and stage 1 sets the pace: 4 rows per its step plus sending them. */
    r = sim_two_sizes(2, 8, 0.004, 0.001, 0.0002);
    for (int k = 0; k < 2; k++)
        r.step_s[1][k] *= 2.0;
    CHECK(ring_sim_run(&r, &res, &err) == 0);
    CHECKF(res.rows[0] == 4 && res.rows[1] == 4, "slow stage: %.3f / %.3f rows", res.rows[0], res.rows[1]);
    CHECKF(close_rel(res.token_s[1], ring_sim_step_time(&r, 1, 4) / 4, 1e-9),
           "slow stage: %.6f s per token at %.2f rows", res.token_s[1], res.rows[1]);
    CHECKF(close_rel(res.tokens_per_s, 4 / (ring_sim_step_time(&r, 1, 4) + 4 * 0.0002), 1e-9), "slow stage: %.3f tok/s",
           res.tokens_per_s);
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
