/*
 * plan_overlap.c — overlap replicas (LinguaLinked's secondary optimisation):
 * copies of units next to a stage boundary kept on the neighbouring device,
 * so the balancer can move the boundary without shipping weights.
 *
 * For the device of stage s, the candidates are the last r units of stage s-1
 * (contiguous back from their shared boundary) and the first l units of
 * stage s+1 (contiguous forward from it); r and l are bounded by those
 * stages' lengths, and the first and last stages have one side only (the
 * tail -> header return carries a token, not a unit boundary).  Unit 0 is
 * never copied: it is pinned to the header.  The device's
 * spare memory (its memory minus its own stage's) is shared by both sides and
 * by nothing else: each device's choice is independent of every other's, so
 * maximising the total replicated bytes means maximising each device's.  Per
 * device this is exact by enumeration: for every r whose bytes fit, the
 * largest l that still fits (found with a pointer that only moves down as r
 * grows) gives the most bytes and units for that r; the best pair wins,
 * ties going to more units, then to the smaller r.  O(M) per device.
 */
#include "plan/plan.h"

#include <string.h>

/* Bytes of units [a, b). */
static uint64_t range_mem(const plan_problem_t *p, int a, int b)
{
    uint64_t s = 0;
    for (int u = a; u < b; u++)
        s += p->unit_mem[u];
    return s;
}

int plan_overlap(const plan_problem_t *p, const plan_t *plan, plan_replicas_t *out, err_t *err)
{
    double obj;
    int rc = plan_eval(p, plan, &obj, NULL, err);
    if (rc)
        return err_prefix(err, "overlap");
    memset(out, 0, sizeof *out);
    int ns = plan->n_stages;
    for (int s = 0; s < ns; s++) {
        const plan_stage_t *st = &plan->stage[s];
        int d = st->device;
        uint64_t spare = p->dev_mem[d] - range_mem(p, st->start, st->end);   /* plan_eval checked it fits */
        /* Left side: units end-1, end-2, ... of stage s-1; right side: units start, start+1, ... of s+1. */
        int left_end = s > 0 ? plan->stage[s - 1].end : 0;
        int max_r = s > 0 ? plan->stage[s - 1].end - plan->stage[s - 1].start - (s == 1) : 0;
        int right_start = s + 1 < ns ? plan->stage[s + 1].start : 0;
        int max_l = s + 1 < ns ? plan->stage[s + 1].end - plan->stage[s + 1].start : 0;
        /* l = the most right-side units fitting in spare with r = 0. */
        int l = 0;
        uint64_t right = 0;
        while (l < max_l && right + p->unit_mem[right_start + l] <= spare)
            right += p->unit_mem[right_start + l++];
        uint64_t left = 0, best_bytes = right;
        int best_r = 0, best_l = l;
        for (int r = 1; r <= max_r; r++) {
            left += p->unit_mem[left_end - r];
            if (left > spare)
                break;
            while (right > spare - left)
                right -= p->unit_mem[right_start + --l];
            uint64_t bytes = left + right;
            if (bytes > best_bytes || (bytes == best_bytes && r + l > best_r + best_l)) {
                best_bytes = bytes;
                best_r = r;
                best_l = l;
            }
        }
        if (best_r > 0)
            out->r[out->n++] = (plan_replica_t){.device = d, .start = left_end - best_r, .end = left_end};
        if (best_l > 0)
            out->r[out->n++] = (plan_replica_t){.device = d, .start = right_start, .end = right_start + best_l};
        out->bytes += best_bytes;
    }
    return 0;
}
