/*
 * replicas.c — the overlap replicas a worker keeps warm beside its stage
 * (DESIGN §7): up to opts.replica_units units on each side of the stage —
 * the previous stage's last units and the next stage's first — whose weights
 * the worker maps, verifies and keeps resident although it does not run them,
 * so that a boundary-only move onto them (the balancer's preferred move)
 * loads, fetches and hashes nothing new.  Unit 0 is never a replica (it is
 * pinned to the header).  A side shrinks, unit by unit, until the stage, its
 * KV cache and its replicas fit the memory the worker offered.
 */
#include <stdlib.h>

#include "coord/coord_internal.h"
#include "plan/unit_cost.h"

/* Bytes a worker needs for units [begin, end): weights, plus KV for the stage's own units. */
static double need_bytes(const coord_t *c, const unit_cost_t *costs, int begin, int end, int stage_begin,
                         int stage_end)
{
    double need = 0;
    for (int u = begin; u < end; u++) {
        need += (double)costs[u].weight_bytes;
        if (u >= stage_begin && u < stage_end)
            need += (double)costs[u].kv_bytes_per_token * (double)c->o.n_ctx * (double)c->o.n_seq;
    }
    return need;
}

int coord_warm_ranges(const coord_t *c, uint32_t *warm_begin, uint32_t *warm_end, err_t *err)
{
    const int M = c->seg->n_units, R = c->o.replica_units > 0 ? c->o.replica_units : 0;
    unit_cost_t *costs = R ? calloc((size_t)M, sizeof *costs) : NULL;
    if (R && !costs)
        return err_set(err, ERR_NOMEM, "out of memory");
    int rc = R ? unit_cost_compute(c->seg, costs, err) : 0;
    for (int s = 0; rc == 0 && s < c->n_stages; s++) {
        const int b = c->stages[s].begin, e = c->stages[s].end;
        int left = b - R < 1 ? (b > 1 ? b - 1 : 0) : R, right = e + R > M ? M - e : R;
        const uint64_t mem = c->workers[c->stages[s].worker].free_mem;
        /* Shrink the larger side first until it fits (a worker that offered nothing is not limited). */
        while (mem > 0 && (left || right) && need_bytes(c, costs, b - left, e + right, b, e) > (double)mem) {
            if (left >= right)
                left--;
            else
                right--;
        }
        warm_begin[s] = (uint32_t)(b - left);
        warm_end[s] = (uint32_t)(e + right);
    }
    free(costs);
    return rc;
}
