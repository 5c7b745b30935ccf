/*
 * serve_loop.c — the coordinator side of the service: admits queued jobs into
 * sequence slots, turns tokens into job text, retires finished, stopped and
 * abandoned sessions, and publishes the status snapshot.  This is the only
 * thread that calls the coordinator (see serve.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_internal.h"
#include "util/clock.h"

void serve_job_unref(serve_t *s, serve_job_t *j)
{
    if (--j->refs > 0)
        return;
    s->jobs_alive--;
    serve_req_fini(&j->req);
    serve_text_fini(&j->text);
    free(j->ids);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void serve_job_fail(serve_job_t *j, int status, const char *msg)
{
    if (j->state != JOB_DONE && !j->error_status) {
        j->error_status = status;
        snprintf(j->error, sizeof j->error, "%s", msg);
    }
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
}

void serve_count_status(serve_t *s, int status)
{
    for (int i = 0; i < SERVE_N_STATUS; i++) {
        if (s->status_code[i] == status || s->status_code[i] == 0) {
            s->status_code[i] = status;
            s->status_count[i]++;
            return;
        }
    }
}

/* Moves the per-second window forward to second sec, zeroing the seconds skipped. */
static void tps_advance(serve_t *s, int64_t sec)
{
    if (sec <= s->tps_sec)
        return;
    int64_t gap = sec - s->tps_sec;
    for (int64_t k = 1; k <= gap && k <= SERVE_TPS_WINDOW; k++)
        s->tps[(s->tps_sec + k) % SERVE_TPS_WINDOW] = 0;
    s->tps_sec = sec;
}

void serve_tps_window(serve_t *s, double now, double out[SERVE_TPS_WINDOW])
{
    int64_t sec = (int64_t)now;
    tps_advance(s, sec);
    for (int i = 0; i < SERVE_TPS_WINDOW; i++)   /* oldest first; the current second is partial */
        out[i] = (double)s->tps[(sec - (SERVE_TPS_WINDOW - 1) + i) % SERVE_TPS_WINDOW];
}

typedef struct {
    serve_t *s;
    const tok_t *tok;
} loop_ctx_t;

/* Token callback (inside coord_poll, without mu). */
static void on_token(void *user, uint64_t session, int32_t id, int final)
{
    loop_ctx_t *lc = user;
    serve_t *s = lc->s;
    double now = clock_now();
    pthread_mutex_lock(&s->mu);
    serve_job_t *j = NULL;
    for (int i = 0; i < s->n_seq && !j; i++)
        if (s->run[i] && s->run[i]->session == session)
            j = s->run[i];
    if (j && j->state == JOB_RUNNING && !j->finish) {
        if (j->n_gen++ == 0) {
            j->t_first = now;
            s->ttft_sum += now - j->t_queued;
            s->ttft_n++;
        }
        s->gen_tokens++;
        tps_advance(s, (int64_t)now);
        s->tps[(int64_t)now % SERVE_TPS_WINDOW]++;
        int eog = tok_is_eog(lc->tok, id);
        if (!eog) {
            char piece[256];
            int n = tok_piece(lc->tok, id, piece, sizeof piece);
            if (n > (int)sizeof piece)
                n = (int)sizeof piece;
            int hit = n > 0 ? serve_text_append(&j->text, piece, (size_t)n) : 0;
            if (hit < 0)
                serve_job_fail(j, 500, "out of memory");
            else if (hit)
                j->finish = "stop";   /* the loop releases the session */
        }
        if (final && !j->finish)
            j->finish = eog ? "stop" : "length";
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Drops queued jobs whose client went away, so their places free at once (mu held). */
static void purge_cancelled(serve_t *s)
{
    serve_job_t **pp = &s->q_head, *last = NULL;
    while (*pp) {
        serve_job_t *j = *pp;
        if (j->cancelled) {
            *pp = j->next;
            s->q_len--;
            s->cancelled++;
            j->state = JOB_DONE;
            serve_job_unref(s, j);
        } else {
            last = j;
            pp = &j->next;
        }
    }
    s->q_tail = last;
}

/* Starts queued jobs while slots are free (mu held). */
static void admit(serve_t *s, coord_t *c, loop_ctx_t *lc)
{
    purge_cancelled(s);
    while (s->q_head && coord_sessions_free(c) > 0) {
        serve_job_t *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->q_len--;
        j->next = NULL;
        if (j->cancelled) {
            j->state = JOB_DONE;
            s->cancelled++;
            serve_job_unref(s, j);
            continue;
        }
        int slot = 0;
        while (slot < s->n_seq && s->run[slot])
            slot++;
        err_t err;
        err_clear(&err);
        if (slot == s->n_seq || coord_session_start(c, j->ids, j->n_prompt, j->max_tokens, &j->req.samp, 0, on_token,
                                                    lc, &j->session, &err)) {
            serve_job_fail(j, 500, slot == s->n_seq ? "no free slot" : err.msg);
            serve_job_unref(s, j);
            continue;
        }
        j->state = JOB_RUNNING;
        s->run[slot] = j;
        s->prompt_tokens += j->n_prompt;
        pthread_cond_broadcast(&j->cv);
    }
}

/* Releases sessions that are done, stopped by a stop string, abandoned, or past the drain deadline (mu held). */
static void retire(serve_t *s, coord_t *c, int force)
{
    for (int i = 0; i < s->n_seq; i++) {
        serve_job_t *j = s->run[i];
        if (!j)
            continue;
        int done = j->finish != NULL || j->error_status || coord_session_done(c, j->session);
        if (!done && !j->cancelled && !force)
            continue;
        coord_session_release(c, j->session);   /* not done: the stages drop it */
        if (j->cancelled && !j->finish)
            s->cancelled++;
        else
            s->completed++;
        if (force && !j->finish)
            serve_job_fail(j, 503, "the server is shutting down");
        if (!j->finish && !j->error_status)
            j->finish = "length";
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cv);
        s->run[i] = NULL;
        serve_job_unref(s, j);
    }
}

/* Fails every queued job (mu held). */
static void fail_queued(serve_t *s, int status, const char *why)
{
    while (s->q_head) {
        serve_job_t *j = s->q_head;
        s->q_head = j->next;
        serve_job_fail(j, status, why);
        serve_job_unref(s, j);
    }
    s->q_tail = NULL;
    s->q_len = 0;
}

/* The status snapshot the HTTP side reads (mu held). */
static void snapshot(serve_t *s, coord_t *c)
{
    s->n_stages = coord_n_stages(c);
    s->slots_busy = s->n_seq - coord_sessions_free(c);
    s->epoch = coord_epoch(c);
    for (int i = 0; i < s->n_stages && i < COORD_MAX_WORKERS; i++) {
        coord_stage_info_t si;
        if (coord_stage_info(c, i, &si))
            continue;
        serve_stage_snap_t *st = &s->stages[i];
        snprintf(st->name, sizeof st->name, "%s", si.name);
        snprintf(st->endpoint, sizeof st->endpoint, "%s", coord_worker_endpoint(c, si.worker));
        st->unit_begin = si.unit_begin;
        st->unit_end = si.unit_end;
        st->steps = si.steps;
        st->compute_ms = si.compute_ms;
        st->send_ms = si.send_ms;
        st->predicted_ms = s->o.predicted_ms ? s->o.predicted_ms[i] : -1.0;
        st->free_mem = coord_worker_free_mem(c, si.worker);
        st->weight_bytes = 0;
        for (int u = si.unit_begin; u < si.unit_end && u < s->n_units; u++)
            st->weight_bytes += s->unit_weight_bytes[u];
    }
}

int serve_loop(serve_t *s, coord_t *c, volatile sig_atomic_t *stop, err_t *err)
{
    loop_ctx_t lc = {.s = s, .tok = coord_tok(c)};
    double drain_until = 0;
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (*stop && s->accepting) {
            s->accepting = 0;   /* new requests now get 503 */
            fail_queued(s, 503, "the server is shutting down");
            drain_until = clock_now() + s->o.drain_ms / 1000.0;
            fprintf(stderr, "serve: stopping (running requests may finish for %d ms)\n", s->o.drain_ms);
        }
        if (s->accepting)
            admit(s, c, &lc);
        else
            purge_cancelled(s);
        retire(s, c, !s->accepting && clock_now() >= drain_until);
        snapshot(s, c);
        int busy = 0;
        for (int i = 0; i < s->n_seq; i++)
            busy += s->run[i] != NULL;
        int finished = !s->accepting && busy == 0;
        pthread_mutex_unlock(&s->mu);
        if (finished)
            break;
        if ((rc = coord_poll(c, 10, err)) != 0) {
            pthread_mutex_lock(&s->mu);
            s->accepting = 0;
            fail_queued(s, 503, err->msg);
            for (int i = 0; i < s->n_seq; i++)
                if (s->run[i]) {
                    serve_job_fail(s->run[i], 503, err->msg);
                    serve_job_unref(s, s->run[i]);
                    s->run[i] = NULL;
                }
            pthread_mutex_unlock(&s->mu);
            break;
        }
    }
    return rc;
}
