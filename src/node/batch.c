/*
 * batch.c — the worker's step scheduler (see batch.h): gathers every ready
 * session's rows into one executor run, runs it once, and hands each session
 * its rows (to the next stages, or to the sampler at the tail).
 *
 * The executor guarantees a row's numbers do not depend on the other rows of
 * its batch (exec.h), so batching changes no token: the ring stays
 * bit-identical to one device whatever arrives together.
 */
#include "node/batch.h"

#include <stdlib.h>
#include <string.h>

#include "node/link.h"
#include "node/ring.h"

int worker_step_budget(int chunk, int n_seq) { return chunk + n_seq; }

int worker_step_init(worker_t *w, err_t *err)
{
    worker_step_t *st = &w->step;
    worker_step_fini(w);
    st->cap = exec_params(w->ex)->max_batch;
    const size_t cap = (size_t)st->cap;
    st->tokens = malloc(cap * sizeof *st->tokens);
    st->row_seq = malloc(cap * sizeof *st->row_seq);
    st->row_pos = malloc(cap * sizeof *st->row_pos);
    st->logit_rows = malloc(cap * sizeof *st->logit_rows);
    st->pieces = malloc(cap * sizeof *st->pieces);
    st->inputs = malloc((w->input_offset[w->n_inputs] ? w->input_offset[w->n_inputs] : 1) * sizeof(float));
    if (!st->tokens || !st->row_seq || !st->row_pos || !st->logit_rows || !st->pieces || !st->inputs) {
        worker_step_fini(w);
        return err_set(err, ERR_NOMEM, "out of memory for a step of %zu rows", cap);
    }
    return 0;
}

void worker_step_fini(worker_t *w)
{
    worker_step_t *st = &w->step;
    free(st->tokens);
    free(st->row_seq);
    free(st->row_pos);
    free(st->logit_rows);
    free(st->pieces);
    free(st->inputs);
    memset(st, 0, sizeof *st);
}

static int all_inputs(const worker_t *w) { return w->n_inputs == 32 ? -1 : (int)((1u << w->n_inputs) - 1); }

/* The complete pending batch of s with the lowest position, or NULL. */
static pending_t *next_pending(const worker_t *w, wsession_t *s)
{
    pending_t *best = NULL;
    for (int i = 0; i < PENDING_PER_SLOT; i++) {
        pending_t *p = &s->pend[i];
        if (p->used && p->have == (uint32_t)all_inputs(w) && (!best || p->pos0 < best->pos0))
            best = p;
    }
    return best;
}

int worker_step_ready(const worker_t *w)
{
    if (!w->ex)
        return 0;
    for (int k = 0; k < w->n_seq; k++) {
        wsession_t *s = &w->sess[k];
        if (!s->active || s->kv_wait || s->hold)
            continue;   /* waiting for its KV rows, or resumed but not told to start (worker_kv.c) */
        if (w->is_header ? (s->prompt_fed < s->n_prompt || s->have_token) : next_pending(w, s) != NULL)
            return 1;
    }
    return 0;
}

int worker_step_full(const worker_t *w)
{
    if (!w->ex || w->is_header)
        return 0;
    int rows = 0;
    for (int k = 0; k < w->n_seq && rows < w->step.cap; k++) {
        wsession_t *s = &w->sess[k];
        for (int i = 0; s->active && i < PENDING_PER_SLOT; i++)
            if (s->pend[i].used && s->pend[i].have == (uint32_t)all_inputs(w))
                rows += (int)s->pend[i].n_tokens;
    }
    return rows >= w->step.cap;
}

/* Appends a piece of n rows of session slot k at pos0; the caller fills tokens or inputs. */
static step_piece_t *add_piece(worker_t *w, int *rows, int *n_pieces, int k, uint32_t pos0, int n, uint32_t flags)
{
    worker_step_t *st = &w->step;
    step_piece_t *pc = &st->pieces[(*n_pieces)++];
    *pc = (step_piece_t){.slot = k, .row0 = *rows, .n = n, .pos0 = pos0, .flags = flags, .logits_row = -1};
    for (int t = 0; t < n; t++) {
        st->row_seq[*rows + t] = k;
        st->row_pos[*rows + t] = (int)pos0 + t;
    }
    *rows += n;
    return pc;
}

/* Decode rows the header takes per step: all of them on one stage; on S
 * stages a 1/S share of the generating sessions, so they circulate as S
 * groups, one at each stage, rather than as one group that leaves every other
 * stage idle (batch.h). */
static int header_decode_cap(const worker_t *w)
{
    const int n_stages = (int)w->dep.n_stages;
    if (n_stages <= 1)
        return w->step.cap;
    int generating = 0;
    for (int k = 0; k < w->n_seq; k++) {
        const wsession_t *s = &w->sess[k];
        generating += s->active && !s->kv_wait && !s->hold && s->prompt_fed >= s->n_prompt;
    }
    const int cap = (generating + n_stages - 1) / n_stages;
    return cap > 0 ? cap : 1;
}

/* Header: decode rows first (at most header_decode_cap), then prompt chunks while the budget lasts. */
static void gather_header(worker_t *w, int *rows, int *n_pieces)
{
    worker_step_t *st = &w->step;
    const int decode_cap = header_decode_cap(w);
    int decode_rows = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < w->n_seq && *rows < st->cap; j++) {
            const int k = (w->rr + j) % w->n_seq;
            wsession_t *s = &w->sess[k];
            if (!s->active || s->kv_wait || s->hold)
                continue;
            if (pass == 0 && s->have_token && decode_rows < decode_cap) {
                decode_rows++;
                s->have_token = 0;
                st->tokens[*rows] = s->token;
                add_piece(w, rows, n_pieces, k, (uint32_t)s->n_past, 1, RING_ACT_SAMPLE);
                s->n_past++;
            } else if (pass == 1 && s->prompt_fed < s->n_prompt) {
                int n = s->n_prompt - s->prompt_fed;
                n = n < w->o->chunk ? n : w->o->chunk;
                n = n < st->cap - *rows ? n : st->cap - *rows;
                const uint32_t flags = s->prompt_fed + n == s->n_prompt ? RING_ACT_SAMPLE : 0;
                memcpy(st->tokens + *rows, s->prompt + s->prompt_fed, (size_t)n * sizeof *st->tokens);
                add_piece(w, rows, n_pieces, k, (uint32_t)s->prompt_fed, n, flags);
                s->prompt_fed += n;
                s->n_past = s->prompt_fed;
            }
        }
    }
}

/* Other stages: every session's complete batches, in position order, while they fit. */
static void gather_inputs(worker_t *w, int *rows, int *n_pieces)
{
    worker_step_t *st = &w->step;
    const int max_logits = exec_params(w->ex)->max_logits;
    int n_sample = 0;   /* pieces the tail samples after: at most max_logits per step */
    for (int j = 0; j < w->n_seq; j++) {
        const int k = (w->rr + j) % w->n_seq;
        wsession_t *s = &w->sess[k];
        pending_t *p;
        while (s->active && !s->kv_wait && (p = next_pending(w, s)) != NULL && *rows + (int)p->n_tokens <= st->cap) {
            const int samples = w->is_tail && (p->flags & RING_ACT_SAMPLE);
            if (samples && n_sample == max_logits)
                break;
            n_sample += samples;
            for (int i = 0; i < w->n_inputs; i++) {
                const size_t width = (size_t)w->g->values[exec_input_value(w->ex, i)].width;
                memcpy(st->inputs + w->input_offset[i] + (size_t)*rows * width, p->buf + w->input_offset[i],
                       (size_t)p->n_tokens * width * sizeof(float));
            }
            add_piece(w, rows, n_pieces, k, p->pos0, (int)p->n_tokens, p->flags);
            p->used = 0;
        }
    }
}

/* Runs pieces p0..p0+np-1 (contiguous rows) in one executor run, hands each its
 * outputs and samples where due.  *ran says whether the executor accepted the
 * rows (when it refuses them nothing has changed, so they may be retried). */
static int run_pieces(worker_t *w, int p0, int np, int *ran, err_t *err)
{
    worker_step_t *st = &w->step;
    step_piece_t *pcs = st->pieces + p0;
    const int row0 = pcs[0].row0, rows = pcs[np - 1].row0 + pcs[np - 1].n - row0;
    const int max_logits = exec_params(w->ex)->max_logits;
    int n_logits = 0;
    *ran = 0;
    for (int i = 0; i < np; i++) {
        pcs[i].logits_row = -1;
        if (w->is_tail && (pcs[i].flags & RING_ACT_SAMPLE) && n_logits < max_logits) {
            pcs[i].logits_row = n_logits;
            st->logit_rows[n_logits++] = pcs[i].row0 + pcs[i].n - 1 - row0;
        }
    }
    exec_tensor_t in[MAX_INPUTS];
    for (int i = 0; i < w->n_inputs; i++) {
        const size_t width = (size_t)w->g->values[exec_input_value(w->ex, i)].width;
        in[i] = (exec_tensor_t){.value = exec_input_value(w->ex, i),
                                .data = st->inputs + w->input_offset[i] + (size_t)row0 * width};
    }
    exec_batch_t b = {.n_tokens = rows, .row_seq = st->row_seq + row0, .row_pos = st->row_pos + row0,
                      .tokens = w->is_header ? st->tokens + row0 : NULL, .inputs = in, .n_inputs = w->n_inputs,
                      .n_logits = n_logits ? n_logits : 1, .logit_rows = n_logits ? st->logit_rows : NULL};
    const int64_t t0 = link_now_us();
    int rc = exec_run(w->ex, &b, err);
    if (rc)
        return rc;
    *ran = 1;
    uint32_t n_decode = 0;   /* one-row pieces: decode steps of their sessions */
    for (int i = 0; i < np; i++)
        n_decode += pcs[i].n == 1;
    w->decode_steps += n_decode > 0;
    /* An emulated slower device: from its slowdown_step-th decode step on, each step takes slowdown times as long. */
    if (w->o->slowdown > 1.0 && w->decode_steps >= (uint64_t)w->o->slowdown_step)
        link_sleep_us((int64_t)((w->o->slowdown - 1.0) * (double)(link_now_us() - t0)));
    const int64_t t1 = link_now_us();
    for (int o = 0; o < exec_n_outputs(w->ex); o++) {
        exec_tensor_t out = exec_output(w->ex, o);
        const size_t width = (size_t)w->g->values[out.value].width;
        for (uint32_t r = 0; r < w->dep.n_routes; r++) {
            if (w->dep.routes[r].value_id != (uint32_t)out.value)
                continue;
            for (int i = 0; i < np; i++) {
                const step_piece_t *pc = &pcs[i];
                const uint32_t flags = (pc->flags & ~RING_ACT_MORE) | (i + 1 < np ? RING_ACT_MORE : 0);
                if ((rc = worker_push_activation(w, w->push[w->route_push[r]], &w->sess[pc->slot],
                                                 (uint32_t)out.value, out.data + (size_t)(pc->row0 - row0) * width,
                                                 pc->pos0, (uint32_t)pc->n, flags, err)))
                    return rc;
            }
        }
    }
    const size_t n_vocab = w->m->hp.n_vocab;
    for (int i = 0; i < np; i++) {
        const step_piece_t *pc = &pcs[i];
        if (pc->logits_row >= 0 &&
            (rc = worker_sample_and_send(w, &w->sess[pc->slot], exec_logits(w->ex) + (size_t)pc->logits_row * n_vocab,
                                         pc->logits_row + 1 < n_logits, err)))
            return rc;
    }
    msg_stage_times_t *times = &w->times.times;
    if (times->n < MSG_MAX_TIMES)   /* one entry per run: its rows and the session of its first piece */
        times->t[times->n++] = (msg_time_t){.session = w->sess[pcs[0].slot].id, .step = pcs[0].pos0,
                                            .n_tokens = (uint32_t)rows, .compute_us = (uint32_t)(t1 - t0),
                                            .send_us = (uint32_t)(link_now_us() - t1), .n_decode = n_decode};
    return 0;
}

void worker_note_more(worker_t *w, const msg_t *m)
{
    if (m->type != MSG_ACTIVATION && m->type != MSG_TOKEN)
        return;
    if (!(m->flags & (m->type == MSG_ACTIVATION ? RING_ACT_MORE : RING_TOKEN_MORE)))
        w->more_until_us = 0;
    else if (!w->more_until_us)   /* the bound runs from the burst's first message: a stream cannot stall us */
        w->more_until_us = link_now_us() + WORKER_MORE_WAIT_US;
}

int worker_step_wait_us(worker_t *w)
{
    if (!w->more_until_us)
        return 0;
    const int64_t left = w->more_until_us - link_now_us();
    if (left <= 0 || worker_step_full(w)) {
        w->more_until_us = 0;
        return 0;
    }
    return (int)left;
}

int worker_step(worker_t *w, err_t *err)
{
    if (!w->ex || !w->step.cap)
        return 0;
    int rows = 0, n_pieces = 0, ran = 0;
    if (w->is_header)
        gather_header(w, &rows, &n_pieces);
    else
        gather_inputs(w, &rows, &n_pieces);
    if (rows == 0)
        return 0;
    w->rr = (w->rr + 1) % w->n_seq;
    int rc = run_pieces(w, 0, n_pieces, &ran, err);
    if (rc == 0)
        return 1;
    if (ran || n_pieces == 1)
        return rc;
    /* The executor refused the batch (one session's rows are bad: say, a stale
     * position): run each session's rows alone, so only the bad ones are lost. */
    for (int i = 0; i < n_pieces; i++) {
        err_t why;
        int r = run_pieces(w, i, 1, &ran, &why);
        if (r) {
            worker_log(w, "step: ", why.msg);
            worker_send_error(w, r, why.msg);
        }
    }
    return 1;
}
