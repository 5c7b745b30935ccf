/*
 * ring_check.h — what the ring tests share: the single-device greedy tokens a
 * ring must reproduce, and one greedy session on a deployed ring.  Include
 * after check.h (it counts failures with CHECK).
 */
#ifndef LL_TESTS_RING_CHECK_H
#define LL_TESTS_RING_CHECK_H

#include <string.h>

#include "coord/coord.h"
#include "exec/exec.h"
#include "net/msg.h"

#define RING_CHECK_MAX_TOKENS 256

/* Greedy tokens of the single-device engine: ref[0..n_gen) after prompt[0..n_prompt). */
static inline void ring_check_reference(const char *model, const int32_t *prompt, int n_prompt, int n_gen,
                                        int32_t *ref)
{
    err_t err;
    model_t *m = NULL;
    exec_t *ex = NULL;
    exec_params_t p;
    int32_t hist[RING_CHECK_MAX_TOKENS];
    CHECK(n_prompt + n_gen <= RING_CHECK_MAX_TOKENS && model_load(model, &m, &err) == 0);
    if (!m)
        return;
    exec_params_default(&p, m);
    CHECK(exec_create(m, &p, &ex, &err) == 0);
    memcpy(hist, prompt, (size_t)n_prompt * sizeof *prompt);
    for (int i = 0; ex && i < n_gen; i++) {
        int pos = i ? n_prompt - 1 + i : 0;
        exec_batch_t b = {.seq = 0, .pos0 = pos, .n_tokens = i ? 1 : n_prompt, .tokens = hist + pos, .n_logits = 1};
        CHECK(exec_run(ex, &b, &err) == 0);
        const float *lg = exec_logits(ex);
        int best = 0;
        for (uint32_t v = 1; v < m->hp.n_vocab; v++)
            if (lg[v] > lg[best])
                best = (int)v;
        ref[i] = hist[n_prompt + i] = best;
    }
    exec_destroy(&ex);
    model_destroy(&m);
}

typedef struct {
    int32_t ids[RING_CHECK_MAX_TOKENS];
    int n, final;
} ring_check_tokens_t;

static inline void ring_check_on_token(void *user, uint64_t session, int32_t id, int final)
{
    ring_check_tokens_t *t = user;
    (void)session;
    if (t->n < RING_CHECK_MAX_TOKENS)
        t->ids[t->n++] = id;
    t->final |= final;
}

/* One greedy session of n_gen tokens on c's deployed ring; 1 when it equals ref. */
static inline int ring_check_session(coord_t *c, const int32_t *prompt, int n_prompt, int n_gen, const int32_t *ref)
{
    ring_check_tokens_t got;
    memset(&got, 0, sizeof got);
    samp_params_t sp;
    samp_params_default(&sp);
    sp.temp = 0;
    uint64_t session = 0;
    err_t err;
    if (coord_session_start(c, prompt, (size_t)n_prompt, n_gen, &sp, 0, ring_check_on_token, &got, &session, &err)) {
        fprintf(stderr, "session start: %s\n", err.msg);
        return 0;
    }
    for (int i = 0; i < 300 && !got.final; i++)
        if (coord_poll(c, 100, &err)) {
            fprintf(stderr, "ring: %s\n", err.msg);
            break;
        }
    coord_session_release(c, session);
    if (got.n == n_gen && got.final && memcmp(got.ids, ref, (size_t)n_gen * sizeof *ref) == 0)
        return 1;
    int same = 0;
    while (same < got.n && same < n_gen && got.ids[same] == ref[same])
        same++;
    fprintf(stderr, "ring session: %d of %d tokens%s, the first %d equal the reference\n", got.n, n_gen,
            got.final ? " (final)" : " (no final token)", same);
    return 0;
}

/* A well-formed ACTIVATION of one zero row of width 64 (rows: 64 floats, borrowed) for a session of the
 * caller's choosing: what a stranger would push at a worker's data socket. */
static inline void ring_check_stray_activation(msg_t *act, float *rows, uint64_t session)
{
    msg_init(act, MSG_ACTIVATION);
    memset(rows, 0, 64 * sizeof *rows);
    act->session = session;
    act->act = (msg_activation_t){.seq_slot = 0, .pos0 = 0, .n_tokens = 1, .value_id = 1, .dtype = 0, .width = 64};
    act->data = rows;
    act->data_len = 64 * sizeof *rows;
}

#endif
