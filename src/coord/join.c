/*
 * join.c — devices joining a running ring (a policy on the epoch switch).
 *
 * A worker that says HELLO while the ring runs is marked joining.  The next
 * poll asks it alone to profile (its units on its kernels, and its links to
 * every live worker); the ring keeps generating meanwhile (the other workers
 * answer its probes from their event loops).  When its profile is in, the
 * exact DP plans on every live worker (links measured by one side only are
 * taken as symmetric) with the header kept; the new plan is deployed
 * (coord_switch) only when its predicted objective beats the current plan's
 * by opts.join_margin, else the worker stays registered and idle.  Without
 * profiles of the ring's workers (hand-written --ranges) there is nothing to
 * compare: the joiner stays idle, which is logged.
 */
#include <stdio.h>
#include <string.h>

#include "coord/coord_internal.h"
#include "coord/coord_plan.h"
#include "coord/coord_secure.h"
#include "coord/epoch.h"
#include "plan/plan.h"

#define JOIN_PROBE_BYTES (64 << 10)
#define JOIN_ROUNDS 3

/* With CURVE: the joiner and the others learn each other's keys (joining = 3 until all have acknowledged). */
static int send_keys(coord_t *c, int i, err_t *err)
{
    for (int k = 0; k < c->n_workers; k++) {
        int rc = coord_worker_alive(c, k) ? coord_sec_send_peer_keys(c, k, err) : 0;
        if (rc)
            return rc;
    }
    c->workers[i].joining = 3;
    return 0;
}

static int ask_profile(coord_t *c, int i, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_PROFILE_REQ);
    m.profile_req.rounds = JOIN_ROUNDS;
    m.profile_req.probe_bytes = JOIN_PROBE_BYTES;
    m.profile_req.batch = (uint32_t)c->profile_batch;   /* as the ring's own profiles were made */
    for (int k = 0; k < c->n_workers && m.profile_req.n_peers < MSG_MAX_PEERS; k++)
        if (k != i && coord_worker_alive(c, k))
            snprintf(m.profile_req.peers[m.profile_req.n_peers++], sizeof m.profile_req.peers[0], "%s",
                     c->workers[k].endpoint);
    c->workers[i].prof.have = 0;
    c->workers[i].prof.slot = -1;   /* units and links at once, its times standing for every batch size */
    c->workers[i].joining = 2;   /* asked */
    return coord_send_to(c, i, &m, err);
}

/* Plans on every live worker; switches when the gain is above the margin. */
static int consider(coord_t *c, int joiner, err_t *err)
{
    for (int i = 0; i < c->n_workers; i++)
        if (coord_worker_alive(c, i) && !c->workers[i].prof.have) {
            fprintf(stderr, "coordinator: worker %s stays idle: worker %s has no profile to plan with\n",
                    c->workers[joiner].name, c->workers[i].name);
            return 0;
        }
    plan_problem_t p;
    memset(&p, 0, sizeof p);
    int rc = coord_problem(c, c->o.objective ? PLAN_THROUGHPUT : PLAN_LATENCY, c->stages[0].worker, &p, err);
    if (rc)
        return rc == ERR_STATE ? 0 : rc;
    for (int i = 0; i < c->n_workers; i++)
        if (!coord_worker_alive(c, i))
            p.dev_mem[i] = 0;
    plan_t cur = {.n_stages = c->n_stages}, best;
    for (int s = 0; s < c->n_stages; s++)
        cur.stage[s] = (plan_stage_t){.device = c->stages[s].worker, .start = c->stages[s].begin, .end = c->stages[s].end};
    err_t why;
    double now_obj = 0;
    if (plan_eval(&p, &cur, &now_obj, NULL, &why) || plan_solve_dp(&p, &best, &why)) {
        fprintf(stderr, "coordinator: worker %s stays idle: %s\n", c->workers[joiner].name, why.msg);
        plan_problem_fini(&p);
        return 0;
    }
    plan_problem_fini(&p);
    int uses = 0;
    for (int s = 0; s < best.n_stages; s++)
        uses |= best.stage[s].device == joiner;
    if (!uses || best.objective > now_obj * (1.0 - c->o.join_margin)) {
        fprintf(stderr, "coordinator: worker %s stays idle: the best plan with it predicts %.3f ms per token, the "
                "current %.3f ms (margin %.0f%%)\n", c->workers[joiner].name, 1e3 * best.objective, 1e3 * now_obj,
                100 * c->o.join_margin);
        return 0;
    }
    coord_stage_t st[PLAN_MAX_DEVICES];
    int n = coord_plan_stages(&best, st);
    char reason[96];
    snprintf(reason, sizeof reason, "join: worker %s, predicted gain %.2fx", c->workers[joiner].name,
             now_obj / best.objective);
    fprintf(stderr, "coordinator: %s (%.3f -> %.3f ms per token)\n", reason, 1e3 * now_obj, 1e3 * best.objective);
    return coord_switch_when_ready(c, st, n, reason, NULL, NULL, err);   /* it fetches its stage, the ring running */
}

int coord_join_check(coord_t *c, err_t *err)
{
    if (c->n_stages == 0 || coord_preparing(c))
        return 0;
    for (int i = 0; i < c->n_workers; i++) {
        worker_rec_t *w = &c->workers[i];
        if (!w->joining || !coord_worker_alive(c, i))
            continue;
        if (w->joining == 1)
            return send_keys(c, i, err);   /* one at a time */
        if (w->joining == 3)
            return coord_sec_keys_in_place(c) ? ask_profile(c, i, err) : 0;   /* probes only once admitted */
        if (!w->prof.have)
            return 0;   /* its profile is on the way */
        w->joining = 0;
        return consider(c, i, err);
    }
    return 0;
}
