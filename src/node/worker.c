/*
 * worker.c — the worker daemon (see worker.h).
 *
 * One thread, one event loop: wait on the control DEALER and the data PULL,
 * handle what arrived, then run one step: every ready session's rows in one
 * executor run (batch.c: decode rows, prompt chunks under a token budget, or
 * the batches whose inputs have all arrived), so messages are never starved.
 * Per-token path: a received activation is copied from the ZeroMQ frame into
 * the session's pending buffer until its batch is complete; outputs are
 * written once into a pooled send buffer that ZeroMQ transmits without a copy
 * and gives back through its free callback.  Nothing is allocated per token.
 */
#include "node/worker.h"

#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/exec.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/samp.h"
#include "model/seg.h"
#include "model/tok.h"
#include "net/msg.h"
#include "net/transport.h"
#include "node/batch.h"
#include "node/link.h"
#include "node/worker_internal.h"
#include "node/worker_secure.h"
#include "node/ring.h"
#include "tensor/f16.h"
#include "tensor/types.h"

void worker_opts_default(worker_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "tcp://127.0.0.1:*";
    o->threads = 1;
    o->isa = KERN_ISA_AUTO;
    o->chunk = 64;
    o->heartbeat_ms = 500;
    o->timeout_ms = 15000;
    o->slowdown = 1.0;
}

void worker_log(const worker_t *w, const char *fmt, const char *detail)
{
    fprintf(stderr, "worker %s: %s%s\n", w->o->name, fmt, detail ? detail : "");
}

/* ---- sending -------------------------------------------------------------- */

static void sendbuf_release(void *data, void *hint)
{
    (void)data;
    atomic_store((atomic_int *)hint, 0);
}

/* A free pooled buffer of at least n bytes, or NULL (then the caller copies). */
sendbuf_t *worker_sendbuf_take(worker_t *w, size_t n)
{
    for (int i = 0; i < SEND_BUFFERS; i++) {
        sendbuf_t *s = &w->send[i];
        int expected = 0;
        if (s->cap >= n && atomic_compare_exchange_strong(&s->in_use, &expected, 1))
            return s;
    }
    return NULL;
}

int worker_send_ctl(worker_t *w, const msg_t *m, err_t *err) { return net_send(w->ctl, NULL, 0, m, err); }

void worker_send_error(worker_t *w, int code, const char *text)
{
    msg_t m;
    msg_init(&m, MSG_ERROR);
    m.epoch = w->epoch;
    m.error.code = code;
    snprintf(m.error.text, sizeof m.error.text, "%s", text);
    err_t err;
    if (worker_send_ctl(w, &m, &err))
        worker_log(w, "cannot report an error: ", err.msg);
}

/* A data-path send through the (possibly emulated) link. */
int worker_shaped_send(worker_t *w, void *sock, const msg_t *m, sendbuf_t *sb, err_t *err)
{
    return link_send(&w->link, sock, m, sb ? sendbuf_release : NULL, sb ? (void *)&sb->in_use : NULL, err);
}

/* Pushes one output value (F32 rows) to a route's socket, converting to the wire dtype on the way. */
int worker_push_activation(worker_t *w, void *sock, const wsession_t *s, uint32_t value, const float *rows,
                           uint32_t pos0, uint32_t n, uint32_t flags, err_t *err)
{
    const uint32_t width = (uint32_t)w->g->values[value].width;
    const int f16 = w->dep.act_dtype == TYPE_F16;
    const size_t bytes = (size_t)n * width * (f16 ? 2 : 4);
    msg_t m;
    msg_init(&m, MSG_ACTIVATION);
    m.epoch = w->epoch;
    m.session = s->id;
    m.step = pos0;
    m.flags = flags;
    m.act = (msg_activation_t){.seq_slot = (uint32_t)(s - w->sess), .pos0 = pos0, .n_tokens = n,
                               .value_id = value, .dtype = f16 ? TYPE_F16 : TYPE_F32, .width = width};
    sendbuf_t *sb = worker_sendbuf_take(w, bytes);
    float *tmp = NULL;
    void *dst = sb ? sb->buf : (tmp = malloc(bytes));   /* the pool is exhausted only under back-pressure */
    if (!dst)
        return err_set(err, ERR_NOMEM, "out of memory for an activation of %zu bytes", bytes);
    if (f16)
        for (size_t i = 0; i < (size_t)n * width; i++)
            ((uint16_t *)dst)[i] = f32_to_f16(rows[i]);
    else
        memcpy(dst, rows, bytes);
    m.data = dst;
    m.data_len = bytes;
    int rc = worker_shaped_send(w, sock, &m, sb, err);
    free(tmp);
    return rc;
}

/* ---- deployment ------------------------------------------------------------ */

static void undeploy(worker_t *w)
{
    err_t ignored;
    link_flush(&w->link, 1, &ignored);   /* held-back messages go out before their sockets close */
    for (int i = 0; i < w->n_push; i++)
        net_close(&w->push[i]);
    w->n_push = 0;
    for (int s = 0; w->sess && s < w->n_seq; s++) {
        samp_destroy(&w->sess[s].samp);
        free(w->sess[s].prompt);
        free(w->sess[s].history);
        for (int p = 0; p < PENDING_PER_SLOT; p++)
            free(w->sess[s].pend[p].buf);
    }
    free(w->sess);
    w->sess = NULL;
    w->n_seq = 0;
    worker_step_fini(w);
    exec_destroy(&w->ex);
}


/* The PUSH socket to a data endpoint (one per endpoint), connected now or deferred. */
static int push_socket(worker_t *w, const char *endpoint, bool defer, err_t *err)
{
    for (int i = 0; i < w->n_push; i++) {
        if (strcmp(w->push_ep[i], endpoint) != 0)
            continue;
        if (w->push_deferred[i] && !defer) {
            int rc = net_connect(w->push[i], endpoint, err);
            if (rc)
                return rc;
            w->push_deferred[i] = false;
        }
        return i;
    }
    if (w->n_push == MAX_PUSH)
        return err_set(err, ERR_RANGE, "more than %d destinations", MAX_PUSH);
    net_opts_t po;
    net_opts_default(&po);
    int rc = wsec_push_opts(w->sec, endpoint, &po, err);
    if (!rc)
        rc = net_push_create(w->zctx, &po, &w->push[w->n_push], err);
    if (!rc && !defer && (rc = net_connect(w->push[w->n_push], endpoint, err)))
        net_close(&w->push[w->n_push]);
    if (rc)
        return rc;
    snprintf(w->push_ep[w->n_push], sizeof w->push_ep[0], "%s", endpoint);
    w->push_deferred[w->n_push] = defer;
    return w->n_push++;
}

int worker_push_to(worker_t *w, const char *endpoint, err_t *err) { return push_socket(w, endpoint, false, err); }

int worker_push_defer(worker_t *w, const char *endpoint, err_t *err) { return push_socket(w, endpoint, true, err); }

int worker_push_connect_deferred(worker_t *w, err_t *err)
{
    for (int i = 0; i < w->n_push; i++) {
        if (!w->push_deferred[i])
            continue;
        int rc = net_connect(w->push[i], w->push_ep[i], err);
        if (rc)
            return rc;
        w->push_deferred[i] = false;
    }
    return 0;
}

/* Makes every pooled send buffer at least need bytes. */
int worker_grow_send_buffers(worker_t *w, size_t need)
{
    if (w->send_cap >= need)
        return 0;
    for (int i = 0; i < SEND_BUFFERS; i++) {
        while (atomic_load(&w->send[i].in_use))
            usleep(100);   /* a frame still in flight */
        free(w->send[i].buf);
        w->send[i].buf = malloc(need);
        w->send[i].cap = w->send[i].buf ? need : 0;
        if (!w->send[i].buf)
            return -1;
    }
    w->send_cap = need;
    return 0;
}

static int deploy(worker_t *w, const msg_t *m, err_t *err)
{
    const msg_deploy_t *d = &m->deploy;
    if (worker_kv_keep_old(w, m->epoch))   /* the old stage's KV may move on or stay (worker_kv.c) */
        return err_set(err, ERR_NOMEM, "out of memory keeping the old stage");
    undeploy(w);
    if (memcmp(d->model_hash, w->hash, 32) != 0)
        return err_set(err, ERR_STATE, "model hash mismatch: this device's %s is not the coordinator's model",
                       w->o->model_path);
    if ((int)d->unit_end > w->seg->n_units)
        return err_set(err, ERR_RANGE, "unit range %u-%u exceeds the model's %d units", d->unit_begin, d->unit_end,
                       w->seg->n_units);
    if (d->warm_end > (uint32_t)w->seg->n_units)
        return err_set(err, ERR_RANGE, "warm range %u-%u exceeds the model's %d units", d->warm_begin, d->warm_end,
                       w->seg->n_units);
    if (d->act_dtype != TYPE_F32 && d->act_dtype != TYPE_F16)
        return err_set(err, ERR_UNSUP, "activation dtype %u: this worker sends F32 or F16", d->act_dtype);
    exec_params_t p;
    exec_params_default(&p, w->m);
    p.seg = w->seg;
    p.unit_begin = (int)d->unit_begin;
    p.unit_end = (int)d->unit_end;
    p.n_threads = (int)d->threads;
    p.n_ctx = (int)d->n_ctx;
    p.n_seq = (int)d->n_seq;
    p.max_batch = worker_step_budget(w->o->chunk, (int)d->n_seq);   /* batch.c: a chunk and every decode row */
    p.max_logits = (int)d->n_seq;
    p.isa = w->o->isa;
    p.release = worker_weights_copied;   /* interleaved weights: the file's pages go (worker_weights.h) */
    p.release_ctx = w;
    p.adopt_from = w->ex_old;   /* the copies of matrices both stages run move over (worker_weights.h) */
    int rc = wsec_on_deploy(w->sec, d, err);
    if (!rc)
        rc = worker_weights_stage(w, d, err);
    if (!rc)
        rc = exec_create(w->m, &p, &w->ex, err);
    exec_drop_copies(w->ex_old);   /* kept for its KV cache only: the copies that left the stage go now */
    if (rc)
        return rc;
    w->dep = *d;
    w->epoch = m->epoch;
    w->times.times.n = 0;   /* steps of the old stage say nothing about the new one */
    w->is_header = exec_needs_tokens(w->ex);
    w->is_tail = exec_has_logits(w->ex);
    w->n_inputs = exec_n_inputs(w->ex);
    if (w->n_inputs > MAX_INPUTS)
        return err_set(err, ERR_RANGE, "stage needs %d inputs, at most %d supported", w->n_inputs, MAX_INPUTS);
    const int batch = exec_params(w->ex)->max_batch;
    w->input_offset[0] = 0;
    for (int i = 0; i < w->n_inputs; i++)
        w->input_offset[i + 1] =
            w->input_offset[i] + (size_t)batch * w->g->values[exec_input_value(w->ex, i)].width;
    for (uint32_t r = 0; r < d->n_routes; r++) {
        int k = worker_push_defer(w, d->routes[r].endpoint, err);
        if (k < 0)
            return k;
        w->route_push[r] = k;
    }
    w->n_seq = (int)d->n_seq;
    w->sess = calloc((size_t)w->n_seq, sizeof *w->sess);
    size_t widest = 1;
    for (int i = 0; i < exec_n_outputs(w->ex); i++)
        if ((size_t)w->g->values[exec_output(w->ex, i).value].width > widest)
            widest = (size_t)w->g->values[exec_output(w->ex, i).value].width;
    if (worker_grow_send_buffers(w, (size_t)batch * widest * sizeof(float)) || !w->sess)
        return err_set(err, ERR_NOMEM, "out of memory for %d sessions", w->n_seq);
    if ((rc = worker_step_init(w, err)))
        return rc;
    return worker_kv_deploy(w, d, err);
}

/* ---- sessions ---------------------------------------------------------------- */

static void session_end(wsession_t *s)
{
    s->active = 0;
    s->have_token = 0;
    s->kv_wait = 0;
    s->hold = 0;
    samp_destroy(&s->samp);
    for (int p = 0; p < PENDING_PER_SLOT; p++)
        s->pend[p].used = 0;
}

static int session_open(worker_t *w, const msg_t *m, err_t *err)
{
    const msg_session_open_t *o = &m->open;
    if (!w->ex)
        return err_set(err, ERR_STATE, "SESSION_OPEN before DEPLOY");
    int rc = worker_push_connect_deferred(w, err);   /* every stage has its DEPLOY by now */
    if (rc)
        return rc;

    if ((int)o->seq_slot >= w->n_seq)
        return err_set(err, ERR_RANGE, "sequence slot %u out of range (%d slots)", o->seq_slot, w->n_seq);
    const int n_ctx = exec_params(w->ex)->n_ctx;
    if ((int)o->n_tokens > n_ctx)
        return err_set(err, ERR_RANGE, "prompt of %u tokens exceeds the context of %d", o->n_tokens, n_ctx);
    wsession_t *s = &w->sess[o->seq_slot];
    const int resume = (m->flags & RING_OPEN_RESUME) != 0;
    if (resume && o->n_tokens < 2)
        return err_set(err, ERR_INVAL, "SESSION_OPEN to resume needs a history of 2 tokens at least");
    session_end(s);
    if (!resume) {
        worker_kv_forget_old(w, (int)o->seq_slot);
        exec_seq_clear(w->ex, (int)o->seq_slot);
    }
    s->id = m->session;
    s->n_prompt = (int)o->n_tokens;
    s->prompt_fed = s->n_past = s->n_gen = 0;
    if (!s->prompt && !(s->prompt = malloc((size_t)n_ctx * sizeof *s->prompt)))
        return err_set(err, ERR_NOMEM, "out of memory for a prompt");
    for (uint32_t i = 0; i < o->n_tokens; i++) {
        uint32_t id = msg_token_at(m, i);
        if (id >= w->m->hp.n_vocab)
            return err_set(err, ERR_RANGE, "prompt token %u at %u: vocabulary has %u tokens", id, i, w->m->hp.n_vocab);
        s->prompt[i] = (int32_t)id;
    }
    if (w->is_tail) {
        samp_params_t sp;
        samp_params_default(&sp);
        sp.temp = o->temp;
        sp.top_k = (int32_t)o->top_k;
        sp.top_p = o->top_p;
        sp.min_p = o->min_p;
        sp.repeat_penalty = o->repeat_penalty;
        sp.repeat_last_n = o->repeat_last_n;
        sp.seed = o->seed;
        rc = samp_create(&sp, (int32_t)w->m->hp.n_vocab, &s->samp, err);
        if (rc)
            return rc;
        if (!s->history && !(s->history = malloc((size_t)n_ctx * sizeof *s->history)))
            return err_set(err, ERR_NOMEM, "out of memory for a history");
        memcpy(s->history, s->prompt, (size_t)s->n_prompt * sizeof *s->history);
        s->n_hist = s->n_prompt;
        s->n_predict = (int)o->n_predict;
        s->want_logits = (m->flags & RING_OPEN_WANT_LOGITS) != 0;
    }
    s->active = 1;
    if (!resume)
        return 0;
    s->prompt_fed = s->n_past = s->n_prompt - 1;   /* the header feeds the last token again */
    s->hold = w->is_header && !(m->flags & RING_OPEN_HEADER);   /* ... once told to start */
    rc = worker_kv_resume(w, (int)o->seq_slot, s->id, o->n_tokens, err);
    if (rc == 1) {
        s->kv_wait = 1;
        s->kv_need = o->n_tokens - 1;
    }
    return rc;
}

/* ---- running a batch ------------------------------------------------------------ */

static int send_token(worker_t *w, wsession_t *s, int32_t id, uint32_t flags, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_TOKEN);
    m.epoch = w->epoch;
    m.session = s->id;
    m.step = (uint64_t)s->n_gen;
    m.flags = flags;
    m.token = (msg_token_t){.token = (uint32_t)id, .seq_slot = (uint32_t)(s - w->sess)};
    int rc = worker_send_ctl(w, &m, err);   /* the coordinator streams it to the client */
    if (rc)
        return rc;
    if (w->is_header) {              /* a one-stage ring: the header is the tail */
        if (!(flags & RING_TOKEN_FINAL)) {
            s->have_token = 1;
            s->token = id;
        }
        return 0;
    }
    for (uint32_t r = 0; r < w->dep.n_routes; r++)
        if (w->dep.routes[r].value_id == MSG_VALUE_TOKEN && (rc = worker_shaped_send(w, w->push[w->route_push[r]], &m, NULL, err)))
            return rc;
    return 0;
}

int worker_sample_and_send(worker_t *w, wsession_t *s, const float *logits, int more_follow, err_t *err)
{
    int32_t id = samp_sample(s->samp, logits, s->history, (size_t)s->n_hist);
    if (id < 0 || (uint32_t)id >= w->m->hp.n_vocab)
        return err_set(err, ERR_STATE, "sampler returned %d", id);
    s->history[s->n_hist++] = id;
    s->n_gen++;
    const int n_ctx = exec_params(w->ex)->n_ctx;
    int final = s->n_gen >= s->n_predict || (w->tok && tok_is_eog(w->tok, id)) || s->n_hist >= n_ctx;
    if (final && s->want_logits) {
        msg_t m;
        msg_init(&m, MSG_ACTIVATION);
        m.epoch = w->epoch;
        m.session = s->id;
        m.step = (uint64_t)s->n_gen;
        m.act = (msg_activation_t){.seq_slot = (uint32_t)(s - w->sess), .pos0 = (uint32_t)(s->n_hist - 1),
                                   .n_tokens = 1, .value_id = (uint32_t)w->g->logits, .dtype = TYPE_F32,
                                   .width = w->m->hp.n_vocab};
        m.data = logits;
        m.data_len = w->m->hp.n_vocab * sizeof(float);
        int rc = worker_send_ctl(w, &m, err);
        if (rc)
            return rc;
    }
    return send_token(w, s, id, (final ? RING_TOKEN_FINAL : 0) | (more_follow ? RING_TOKEN_MORE : 0), err);
}

/* Sends the measured step times when there are many or they are old enough. */
static void report_times(worker_t *w)
{
    msg_stage_times_t *st = &w->times.times;
    int64_t now = net_now_ms();
    if (st->n == 0 || (st->n < MSG_MAX_TIMES && now - w->times_sent_ms < TIMES_FLUSH_MS))
        return;
    w->times.epoch = w->epoch;
    st->unit_begin = w->dep.unit_begin;
    st->unit_end = w->dep.unit_end;
    err_t ignored;
    worker_send_ctl(w, &w->times, &ignored);
    st->n = 0;
    w->times_sent_ms = now;
}

/* ---- data messages ---------------------------------------------------------------- */

static int input_index(const worker_t *w, uint32_t value)
{
    for (int i = 0; i < w->n_inputs; i++)
        if ((uint32_t)exec_input_value(w->ex, i) == value)
            return i;
    return -1;
}

static void rows_to_f32(const msg_activation_t *a, const void *data, float *dst)
{
    size_t n = (size_t)a->n_tokens * a->width;
    if (a->dtype == TYPE_F16)
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)data + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
    else
        memcpy(dst, data, n * sizeof(float));
}

static int handle_activation(worker_t *w, const msg_t *m, err_t *err)
{
    const msg_activation_t *a = &m->act;
    if (!w->ex)
        return err_set(err, ERR_STATE, "ACTIVATION before DEPLOY");
    int stale = worker_check_epoch(w, m, err);
    if (stale)
        return stale > 0 ? 0 : stale;
    if ((int)a->seq_slot >= w->n_seq || !w->sess[a->seq_slot].active || w->sess[a->seq_slot].id != m->session)
        return err_set(err, ERR_STATE, "ACTIVATION for session %llu slot %u, which is not open here",
                       (unsigned long long)m->session, a->seq_slot);
    int in = input_index(w, a->value_id);
    if (in < 0 || (uint32_t)w->g->values[a->value_id].width != a->width)
        return err_set(err, ERR_PROTO, "ACTIVATION of value %u (width %u): not an input of units %u-%u",
                       a->value_id, a->width, w->dep.unit_begin, w->dep.unit_end);
    if ((int)a->n_tokens > exec_params(w->ex)->max_batch || (a->dtype != TYPE_F32 && a->dtype != TYPE_F16))
        return err_set(err, ERR_PROTO, "ACTIVATION of %u tokens of dtype %u: at most %d tokens of F32 or F16",
                       a->n_tokens, a->dtype, exec_params(w->ex)->max_batch);
    wsession_t *s = &w->sess[a->seq_slot];
    pending_t *p = NULL, *free_p = NULL;
    for (int i = 0; i < PENDING_PER_SLOT; i++) {
        if (s->pend[i].used && s->pend[i].pos0 == a->pos0)
            p = &s->pend[i];
        else if (!s->pend[i].used && !free_p)
            free_p = &s->pend[i];
    }
    if (!p) {
        if (!free_p)
            return err_set(err, ERR_RANGE, "session %llu: more than %d batches waiting for inputs",
                           (unsigned long long)m->session, PENDING_PER_SLOT);
        p = free_p;
        if (!p->buf && !(p->buf = malloc(w->input_offset[w->n_inputs] * sizeof(float))))
            return err_set(err, ERR_NOMEM, "out of memory for pending inputs");
        p->used = 1;
        p->pos0 = a->pos0;
        p->n_tokens = a->n_tokens;
        p->have = 0;
        p->flags = 0;
    }
    if (p->n_tokens != a->n_tokens)
        return err_set(err, ERR_PROTO, "inputs of batch at %u disagree on its size (%u, %u)", a->pos0, p->n_tokens,
                       a->n_tokens);
    rows_to_f32(a, m->data, p->buf + w->input_offset[in]);
    p->have |= 1u << in;
    p->flags |= m->flags & ~RING_ACT_MORE;   /* MORE is about this link's burst (worker_note_more), not the batch */
    return 0;   /* complete batches run at the next step (batch.c), with every other ready session's */
}

static int handle_token(worker_t *w, const msg_t *m, err_t *err)
{
    int stale = w->ex ? worker_check_epoch(w, m, err) : 0;
    if (stale)
        return stale > 0 ? 0 : stale;
    if (!w->ex || !w->is_header)
        return err_set(err, ERR_STATE, "TOKEN at a stage that is not the header");
    if ((int)m->token.seq_slot >= w->n_seq)
        return err_set(err, ERR_RANGE, "TOKEN for slot %u out of range", m->token.seq_slot);
    wsession_t *s = &w->sess[m->token.seq_slot];
    if (!s->active || s->id != m->session)
        return err_set(err, ERR_STATE, "TOKEN for session %llu, which is not open here", (unsigned long long)m->session);
    if (m->token.token >= w->m->hp.n_vocab)
        return err_set(err, ERR_RANGE, "TOKEN id %u out of the vocabulary", m->token.token);
    if (m->flags & RING_TOKEN_FINAL) {
        session_end(s);
        return 0;
    }
    s->have_token = 1;
    s->token = (int32_t)m->token.token;
    return 0;
}

/* ---- control messages ----------------------------------------------------------- */

int worker_ack(worker_t *w, uint64_t session, uint32_t flags, int code, const char *text, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_DEPLOY_ACK);
    m.epoch = w->epoch;
    m.session = session;
    m.flags = flags;
    m.ack.code = code;
    snprintf(m.ack.text, sizeof m.ack.text, "%s", text ? text : "");
    return worker_send_ctl(w, &m, err);
}

static int handle_control(worker_t *w, const msg_t *m, err_t *err)
{
    err_t why;
    err_clear(&why);
    int rc;
    switch (m->type) {
    case MSG_WELCOME:
    case MSG_HEARTBEAT:
        return 0;
    case MSG_DEPLOY:
        if (m->flags & RING_DEPLOY_PREPARE)
            return worker_weights_prepare(w, m, err);   /* acknowledged when done (worker_weights.h) */
        rc = deploy(w, m, &why);
        if (rc) {
            worker_log(w, "deploy failed: ", why.msg);
            undeploy(w);
            w->epoch = m->epoch;   /* the refusal answers this deployment, not an older one */
        }
        return worker_ack(w, 0, 0, rc, rc ? why.msg : "", err);
    case MSG_SESSION_OPEN:
        if (w->ex && worker_check_epoch(w, m, &why) > 0)
            return 0;   /* an open of an older epoch: the coordinator reopens under the new one */
        rc = w->ex && m->epoch != w->epoch ? ERR_STATE : session_open(w, m, &why);
        if (rc == 1)
            return 0;   /* resumed, waiting for its KV rows: acknowledged when they are there */
        if (rc)
            worker_log(w, "session open failed: ", why.msg);
        return worker_ack(w, m->session, RING_ACK_SESSION, rc, rc ? why.msg : "", err);
    case MSG_SESSION_CLOSE:
        if (w->ex && (int)m->close.seq_slot < w->n_seq && w->sess[m->close.seq_slot].id == m->session) {
            session_end(&w->sess[m->close.seq_slot]);
            worker_kv_forget_old(w, (int)m->close.seq_slot);
        }
        return 0;
    case MSG_SHUTDOWN:
        w->shutdown = 1;
        return 0;
    case MSG_MANIFEST:
        return worker_weights_manifest(w, m, err);
    case MSG_WEIGHTS_CHUNK:
        return worker_weights_on_chunk(w, m, err);   /* a prepare's fetch, running beside the stage */
    case MSG_PEER_KEYS:
        wsec_on_peer_keys(w->sec, &m->peer_keys);
        return worker_ack(w, 0, RING_ACK_PEER_KEYS, 0, "", err);   /* the coordinator probes only after this */
    case MSG_PROFILE_REQ:
        rc = worker_run_profile(w, m, &why);
        if (rc) {
            worker_log(w, "profile failed: ", why.msg);
            worker_send_error(w, rc, why.msg);
        }
        return 0;
    case MSG_ERROR:   /* the coordinator refuses this device: leave with its reason */
        w->refused = 1;
        return err_set(err, m->error.code < 0 ? m->error.code : ERR_STATE, "coordinator: %s", m->error.text);
    default:
        return err_set(err, ERR_PROTO, "unexpected %s on the control channel", msg_type_name(m->type));
    }
}

int worker_handle_data(worker_t *w, const msg_t *m, err_t *err)
{
    switch (m->type) {
    case MSG_ACTIVATION: return handle_activation(w, m, err);
    case MSG_TOKEN: return handle_token(w, m, err);
    case MSG_PROBE: return worker_handle_probe(w, m, err);
    case MSG_KV_CHUNK: {
        int ready = -1, rc = worker_kv_chunk(w, m, &ready, err);
        if (rc == 0 && ready >= 0)   /* the open it completes was held back */
            rc = worker_ack(w, w->sess[ready].id, RING_ACK_SESSION, 0, "", err);
        return rc;
    }
    default: return err_set(err, ERR_PROTO, "unexpected %s on the data channel", msg_type_name(m->type));
    }
}

/* ---- setup and loop --------------------------------------------------------------- */

static int hello(worker_t *w, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_HELLO);
    msg_hello_t *h = &m.hello;
    h->proto_version = MSG_VERSION;
    snprintf(h->device, sizeof h->device, "%s", w->o->name);
    h->free_mem = worker_offered_memory(w);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    h->cores = cores > 0 ? (uint32_t)cores : 1;
    snprintf(h->cpu_features, sizeof h->cpu_features, "%s", kern_isa_name(kern_isa_best()));
    snprintf(h->endpoint, sizeof h->endpoint, "%s", w->endpoint);
    wsec_fill_hello(w->sec, h);
    h->n_cached = 1;
    memcpy(h->cached[0], w->hash, 32);
    int rc = worker_send_ctl(w, &m, err);
    err_t why;
    if (rc && wsec_poll(w->sec, &why))   /* a refused handshake, not the full queue, is the reason */
        *err = why;
    return rc;
}

/* The model: this device's file, or (no -m) the coordinator's, from the cache or fetched. */
static int load_model(worker_t *w, err_t *err)
{
    int rc = w->o->model_path ? model_load(w->o->model_path, &w->m, err) : worker_fetch_model(w, err);
    if (rc)
        return rc;
    if ((rc = tok_create(w->m->gguf, &w->tok, err)))
        w->tok = NULL;   /* no tokenizer: generation stops only at n_predict */
    err_clear(err);
    if ((rc = graph_build(w->m, &w->g, err)) || (rc = seg_build_default(w->g, &w->seg, err)))
        return rc;
    ring_model_hash(w->m, w->hash);
    return 0;
}

static int setup(worker_t *w, err_t *err)
{
    int rc;
    net_opts_t pull_o, dealer_o;
    net_opts_default(&pull_o);
    net_opts_default(&dealer_o);
    if ((rc = net_ctx_create(&w->zctx, err)))
        return rc;
    if (w->o->curve) {   /* the ZAP handler must exist before the PULL binds */
        if ((rc = wsec_create(w->zctx, w->o->curve, w->o->coordinator_key, w->o->name, &w->sec, err)))
            return rc;
        wsec_pull_opts(w->sec, &pull_o);
        wsec_dealer_opts(w->sec, &dealer_o);
    }
    if ((rc = net_pull_bind(w->zctx, w->o->listen, &pull_o, &w->data, err)) ||
        (rc = net_endpoint(w->data, w->endpoint, sizeof w->endpoint, err)) ||
        (rc = net_dealer_connect(w->zctx, w->o->coordinator, w->o->name, strlen(w->o->name), &dealer_o, &w->ctl,
                                 err)) ||
        (rc = wsec_watch(w->sec, w->zctx, w->ctl, w->o->coordinator, err)))
        return rc;
    net_rx_init(&w->rx_ctl);
    net_rx_init(&w->rx_data);
    if ((rc = load_model(w, err)))
        return rc;
    link_init(&w->link, w->o->link_latency_ms, w->o->link_mbit);
    msg_init(&w->times, MSG_STAGE_TIMES);
    if (worker_grow_send_buffers(w, SEND_BUFFER_MIN))
        return err_set(err, ERR_NOMEM, "out of memory for send buffers");
    return hello(w, err);
}

static void teardown(worker_t *w)
{
    err_t ignored;
    link_flush(&w->link, 1, &ignored);
    undeploy(w);
    worker_kv_fini(w);
    net_rx_fini(&w->rx_ctl);
    net_rx_fini(&w->rx_data);
    net_close(&w->ctl);
    net_close(&w->data);
    wsec_destroy(&w->sec);
    worker_fetch_fini(w);
    worker_weights_fini(w);
    for (int i = 0; i < SEND_BUFFERS; i++) {
        for (int spins = 0; atomic_load(&w->send[i].in_use) && spins < 1000; spins++)
            usleep(1000);
        free(w->send[i].buf);
    }
    net_ctx_destroy(&w->zctx);
    seg_destroy(&w->seg);
    graph_destroy(&w->g);
    tok_destroy(&w->tok);
    model_destroy(&w->m);
}

static void heartbeat_if_due(worker_t *w)
{
    int64_t now = net_now_ms();
    if (now < w->next_heartbeat)
        return;
    msg_t hb;
    msg_init(&hb, MSG_HEARTBEAT);
    hb.heartbeat.seq = ++w->heartbeat_seq;
    err_t ignored;
    worker_send_ctl(w, &hb, &ignored);
    w->next_heartbeat = now + w->o->heartbeat_ms;
}

int worker_main(const worker_opts_t *o, volatile sig_atomic_t *stop, err_t *err)
{
    if (!o->coordinator || (!o->model_path && !o->cache_dir) || !o->name || !o->name[0] || o->chunk < 1)
        return err_set(err, ERR_INVAL, "worker needs --coordinator, --model or a cache, and a name");
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, ERR_NOMEM, "out of memory");
    w->o = o;
    int rc = setup(w, err);
    w->last_heard = w->next_heartbeat = net_now_ms();
    while (rc == 0 && !w->shutdown && !(stop && *stop)) {
        const int burst_us = worker_step_wait_us(w);   /* rows of an upstream step still on their way */
        int busy = (worker_step_ready(w) && !burst_us) || (w->prep.active && !worker_fetch_busy(w));
        int due = link_due_ms(&w->link);
        int timeout = busy ? 0 : (due >= 0 && due < 50 ? due : 50);
        if (!busy && burst_us && timeout > (burst_us + 999) / 1000)
            timeout = (burst_us + 999) / 1000;
        void *socks[2] = {w->ctl, w->data};
        uint32_t ready = 0;
        int wrc = net_wait(socks, 2, timeout, &ready, err);
        if (wrc && wrc != ERR_TIMEOUT) {
            rc = wrc;
            break;
        }
        err_t why;
        msg_t m;
        for (int k = 0; k < 64 && (ready & 1); k++) {   /* control first: deploys and session opens */
            int r = net_recv(w->ctl, &w->rx_ctl, 0, &m, &w->stats, &why);
            if (r == ERR_TIMEOUT)
                break;
            if (r == ERR_IO) {
                rc = err_set(err, ERR_IO, "control socket: %s", why.msg);
                break;
            }
            w->last_heard = net_now_ms();
            if (r == 0)
                r = handle_control(w, &m, &why);
            if (r && w->refused) {
                rc = err_set(err, r, "%s", why.msg);
                break;
            }
            if (r)
                worker_log(w, "control: ", why.msg);
        }
        for (int k = 0; k < 64 && (ready & 2) && rc == 0 && !worker_step_full(w); k++) {
            int r = net_recv(w->data, &w->rx_data, 0, &m, &w->stats, &why);
            if (r == ERR_TIMEOUT)
                break;
            if (r == ERR_IO) {
                rc = err_set(err, ERR_IO, "data socket: %s", why.msg);
                break;
            }
            if (r == 0 && (r = wsec_sender_ok(w->sec, &w->rx_data, &m, &why)) == 0) {
                r = worker_handle_data(w, &m, &why);
                worker_note_more(w, &m);
            }
            heartbeat_if_due(w);   /* a run of long prompt batches must not look like silence */
            if (r) {
                worker_log(w, "dropped a data message: ", why.msg);
                if (r != ERR_PROTO && r != ERR_STATE && r != ERR_RANGE)
                    worker_send_error(w, r, why.msg);
            }
        }
        int step_rc = rc == 0 && !worker_step_wait_us(w) ? worker_step(w, &why) : 0;
        if (step_rc < 0) {
            worker_log(w, "step failed: ", why.msg);
            worker_send_error(w, step_rc, why.msg);
        }
        if (link_flush(&w->link, 0, &why))
            worker_log(w, "send failed: ", why.msg);
        if (worker_weights_prepare_tick(w, &why) < 0)
            worker_log(w, "prepare: ", why.msg);
        if (w->ex)
            report_times(w);
        heartbeat_if_due(w);
        int64_t now = net_now_ms();
        if (rc == 0)
            rc = wsec_poll(w->sec, err);
        if (rc == 0 && now - w->last_heard > o->timeout_ms)
            rc = err_set(err, ERR_TIMEOUT, "no word from the coordinator at %s for %d ms", o->coordinator,
                         o->timeout_ms);
    }
    teardown(w);
    free(w);
    return rc;
}
