/*
 * serve_http.c — the HTTP side of the service on libmicrohttpd, one thread
 * per connection (see serve.h): routing, authentication, body collection
 * with a size limit, request validation, tokenization and the context check,
 * queueing (429 when full), and the answers — whole JSON, or Server-Sent
 * Events produced by a content-reader callback that waits on the job's
 * condition variable.  Every refusal is an OpenAI-shaped JSON error; none
 * of them stops the server.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "serve/serve_internal.h"
#include "util/clock.h"

#define BODY_MAX ((size_t)1 << 20)
#define KEEPALIVE_MS 250

/* Per connection: the request body as it arrives. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
} conn_t;

/* Per streamed response. */
typedef struct {
    serve_t *s;
    serve_job_t *job;
    char *out;                 /* the event being sent */
    size_t out_len, out_off;
    size_t sent;               /* bytes of the job's text already in events */
    int first, finished;
} stream_t;

static enum MHD_Result send_text(serve_t *s, struct MHD_Connection *conn, int status, const char *type, char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    pthread_mutex_lock(&s->mu);
    serve_count_status(s, status);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static enum MHD_Result send_json(serve_t *s, struct MHD_Connection *conn, int status, char *body)
{
    return send_text(s, conn, status, "application/json", body);
}

static enum MHD_Result send_error(serve_t *s, struct MHD_Connection *conn, int status, const char *param,
                                  const char *msg)
{
    return send_json(s, conn, status, serve_error_json(status, param, msg));
}

/* Constant-time comparison of the bearer token with the key. */
static int authorized(const serve_t *s, struct MHD_Connection *conn)
{
    if (!s->o.api_key)
        return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *got = h + 7, *want = s->o.api_key;
    size_t n = strlen(got), m = strlen(want);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned)(unsigned char)want[i] ^ (unsigned)(unsigned char)(i < n ? got[i] : 0);
    return diff == 0;
}

/* The model field names this server's model (its id, or the file name). */
static int model_matches(const serve_t *s, const char *name)
{
    if (!name || !*name)
        return 1;
    const char *base = strrchr(s->o.model_path, '/');
    base = base ? base + 1 : s->o.model_path;
    return !strcmp(name, s->model_id) || !strcmp(name, base) || !strcmp(name, s->o.model_path);
}

/* ---- streaming ------------------------------------------------------------ */

/* Queues the next event into st->out (mu held); 0 when there is nothing to send yet. */
static int next_event(stream_t *st)
{
    serve_job_t *j = st->job;
    const serve_t *s = st->s;
    if (j->error_status) {
        char *e = serve_error_json(j->error_status, NULL, j->error);
        size_t n = e ? strlen(e) : 0;
        st->out = malloc(n + 32);
        if (st->out)
            st->out_len = (size_t)sprintf(st->out, "data: %s\n\ndata: [DONE]\n\n", e ? e : "{}");
        free(e);
        st->finished = 1;
        return 1;
    }
    int done = j->state == JOB_DONE || j->finish != NULL;
    size_t ready = serve_text_ready(&j->text, done);
    if (ready > st->sent || st->first || done) {
        int last = done;
        char *c = serve_chunk_json(s, j, j->text.s + st->sent, ready - st->sent, st->first, last, 0);
        char *u = last && j->req.include_usage ? serve_chunk_json(s, j, NULL, 0, 0, 0, 1) : NULL;
        size_t n = (c ? strlen(c) : 0) + (u ? strlen(u) : 0) + 64;
        st->out = malloc(n);
        if (st->out) {
            int w = sprintf(st->out, "data: %s\n\n", c ? c : "{}");
            if (u)
                w += sprintf(st->out + w, "data: %s\n\n", u);
            if (last)
                w += sprintf(st->out + w, "data: [DONE]\n\n");
            st->out_len = (size_t)w;
        }
        free(c);
        free(u);
        st->sent = ready;
        st->first = 0;
        st->finished = last;
        return 1;
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *st = cls;
    serve_t *s = st->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (st->out && st->out_off < st->out_len) {
            size_t n = st->out_len - st->out_off;
            if (n > max)
                n = max;
            memcpy(buf, st->out + st->out_off, n);
            st->out_off += n;
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)n;
        }
        free(st->out);
        st->out = NULL;
        st->out_len = st->out_off = 0;
        if (st->finished) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (next_event(st)) {
            if (!st->out) {
                pthread_mutex_unlock(&s->mu);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            continue;
        }
        /* Nothing yet: wait; after a quiet spell send an SSE comment, so a
         * vanished client is noticed (the write fails) even while it waits. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)KEEPALIVE_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&st->job->cv, &s->mu, &until) != 0 && !next_event(st)) {
            st->out = strdup(": keep-alive\n\n");
            if (st->out)
                st->out_len = strlen(st->out);
        }
    }
}

/* The response is gone (sent, or the client went away): an unfinished job is cancelled. */
static void stream_free(void *cls)
{
    stream_t *st = cls;
    serve_t *s = st->s;
    pthread_mutex_lock(&s->mu);
    if (st->job->state != JOB_DONE)
        st->job->cancelled = 1;
    serve_job_unref(s, st->job);
    pthread_mutex_unlock(&s->mu);
    free(st->out);
    free(st);
}

/* ---- completions ------------------------------------------------------------ */

static enum MHD_Result handle_completion(serve_t *s, struct MHD_Connection *conn, conn_t *cc, int chat)
{
    if (cc->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", BODY_MAX);
        return send_error(s, conn, 413, NULL, msg);
    }
    serve_req_t req;
    serve_req_err_t re;
    int rc = serve_req_parse(cc->body ? cc->body : "", cc->len, chat, s->o.max_tokens, &s->o.samp, &req, &re);
    if (rc)
        return send_error(s, conn, 400, re.param, re.err.msg);
    if (!model_matches(s, req.model)) {
        char msg[256];
        snprintf(msg, sizeof msg, "the model '%.100s' does not exist; this server has '%.100s'", req.model,
                 s->model_id);
        serve_req_fini(&req);
        return send_error(s, conn, 404, "model", msg);
    }
    /* The prompt: the text, or the conversation in the chat template. */
    char *text = NULL;
    size_t len = 0;
    err_t err;
    err_clear(&err);
    if (chat && chat_render(s->o.tmpl, req.msgs, req.n_msgs, 1, &text, &len, &err)) {
        serve_req_fini(&req);
        return send_error(s, conn, 400, "messages", err.msg);
    }
    const char *ptext = chat ? text : req.prompt;
    size_t plen = chat ? len : strlen(req.prompt);
    size_t n_ids = 0, cap = plen + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    rc = ids ? tok_encode(s->tok, ptext, plen, tok_add_bos(s->tok), 1, ids, cap, &n_ids, &err) : ERR_NOMEM;
    free(text);
    if (rc || n_ids == 0 || n_ids >= (size_t)s->n_ctx) {
        char msg[ERR_MSG_LEN + 64];
        if (rc)
            snprintf(msg, sizeof msg, "cannot tokenize the prompt: %s", rc == ERR_NOMEM ? "out of memory" : err.msg);
        else if (n_ids == 0)
            snprintf(msg, sizeof msg, "the prompt is empty");
        else
            snprintf(msg, sizeof msg, "the prompt has %zu tokens, more than the context limit of %d tokens allows "
                     "(at most %d prompt tokens)", n_ids, s->n_ctx, s->n_ctx - 1);
        free(ids);
        serve_req_fini(&req);
        return send_error(s, conn, 400, chat ? "messages" : "prompt", msg);
    }
    serve_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        free(ids);
        serve_req_fini(&req);
        return send_error(s, conn, 500, NULL, "out of memory");
    }
    j->req = req;
    j->ids = ids;
    j->n_prompt = n_ids;
    j->max_tokens = req.max_tokens;
    if ((size_t)j->max_tokens > (size_t)s->n_ctx - n_ids)
        j->max_tokens = s->n_ctx - (int)n_ids;   /* the context ends the generation: finish_reason length */
    j->created = (long)time(NULL);
    j->refs = 2;
    j->state = JOB_QUEUED;
    pthread_cond_init(&j->cv, NULL);
    serve_text_init(&j->text);
    for (int i = 0; i < req.n_stop; i++)
        serve_text_add_stop(&j->text, req.stop[i]);
    if (chat)
        for (const char *const *st = chat_stops(s->o.tmpl); *st; st++)
            serve_text_add_stop(&j->text, *st);
    /* Enqueue. */
    pthread_mutex_lock(&s->mu);
    s->jobs_alive++;
    int refuse = !s->accepting ? 503 : s->q_len >= s->o.queue_max ? 429 : 0;
    if (!refuse) {
        uint64_t id = ++s->next_id;
        if (!j->req.seed_given)
            j->req.samp.seed = s->o.samp.seed + id;   /* distinct requests, distinct samples */
        snprintf(j->id, sizeof j->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", (unsigned long long)id);
        j->t_queued = clock_now();
        if (s->q_tail)
            s->q_tail->next = j;
        else
            s->q_head = j;
        s->q_tail = j;
        s->q_len++;
    }
    pthread_mutex_unlock(&s->mu);
    if (refuse) {
        char msg[128] = "the server is shutting down";
        if (refuse == 429)
            snprintf(msg, sizeof msg, "too many requests: the queue already holds %d waiting requests",
                     s->o.queue_max);
        j->refs = 1;
        pthread_mutex_lock(&s->mu);
        serve_job_unref(s, j);
        pthread_mutex_unlock(&s->mu);
        return send_error(s, conn, refuse, NULL, msg);
    }
    if (j->req.stream) {
        stream_t *st = calloc(1, sizeof *st);
        struct MHD_Response *r = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
                                                                        stream_free) : NULL;
        if (!r) {
            free(st);
            pthread_mutex_lock(&s->mu);
            j->cancelled = 1;
            serve_job_unref(s, j);
            pthread_mutex_unlock(&s->mu);
            return MHD_NO;
        }
        st->s = s;
        st->job = j;
        st->first = 1;
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ok = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        pthread_mutex_lock(&s->mu);
        serve_count_status(s, 200);
        pthread_mutex_unlock(&s->mu);
        return ok;
    }
    /* Whole answer: wait until the job is done. */
    pthread_mutex_lock(&s->mu);
    while (j->state != JOB_DONE)
        pthread_cond_wait(&j->cv, &s->mu);
    int status = j->error_status;
    char *body = status ? serve_error_json(status, NULL, j->error) : serve_completion_json(s, j);
    serve_job_unref(s, j);
    pthread_mutex_unlock(&s->mu);
    return send_json(s, conn, status ? status : 200, body);
}

/* ---- routing ------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    serve_t *s = cls;
    conn_t *cc = *con_cls;
    if (!cc) {
        if (!(cc = calloc(1, sizeof *cc)))
            return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {   /* collect the body, up to the limit */
        size_t n = *upload_size;
        *upload_size = 0;
        if (cc->too_large || cc->len + n > BODY_MAX) {
            cc->too_large = 1;
            return MHD_YES;
        }
        if (cc->len + n + 1 > cc->cap) {
            size_t cap = (cc->len + n + 1) * 2;
            char *b = realloc(cc->body, cap > BODY_MAX + 1 ? BODY_MAX + 1 : cap);
            if (!b)
                return MHD_NO;
            cc->body = b;
            cc->cap = cap > BODY_MAX + 1 ? BODY_MAX + 1 : cap;
        }
        memcpy(cc->body + cc->len, upload, n);
        cc->len += n;
        cc->body[cc->len] = '\0';
        return MHD_YES;
    }
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    int chat = !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions");
    int compl = !strcmp(url, "/v1/completions") || !strcmp(url, "/completions");
    int models = !strcmp(url, "/v1/models") || !strcmp(url, "/models");
    if ((chat || compl || models) && !authorized(s, conn))
        return send_error(s, conn, 401, NULL, "missing or wrong API key (send Authorization: Bearer KEY)");
    if (chat || compl) {
        if (!post)
            return send_error(s, conn, 405, NULL, "use POST for this endpoint");
        return handle_completion(s, conn, cc, chat);
    }
    if (!get) {
        if (models || !strcmp(url, "/health") || !strcmp(url, "/metrics") || !strcmp(url, "/v1/cluster") ||
            !strcmp(url, "/"))
            return send_error(s, conn, 405, NULL, "use GET for this endpoint");
        return send_error(s, conn, 404, NULL, "no such endpoint");
    }
    if (models)
        return send_json(s, conn, 200, serve_models_json(s));
    if (!strcmp(url, "/health")) {
        pthread_mutex_lock(&s->mu);
        int ok = s->accepting;
        pthread_mutex_unlock(&s->mu);
        return send_json(s, conn, ok ? 200 : 503, strdup(ok ? "{\"status\":\"ok\"}" : "{\"status\":\"stopping\"}"));
    }
    if (!strcmp(url, "/metrics") || !strcmp(url, "/v1/cluster")) {
        int metrics = url[1] == 'm';
        pthread_mutex_lock(&s->mu);
        char *body = metrics ? serve_metrics_text(s, clock_now()) : serve_cluster_json(s, clock_now());
        pthread_mutex_unlock(&s->mu);
        return send_text(s, conn, 200, metrics ? "text/plain; version=0.0.4" : "application/json", body);
    }
    if (!strcmp(url, "/"))
        return send_text(s, conn, 200, "text/html; charset=utf-8", strdup(serve_page_html()));
    return send_error(s, conn, 404, NULL, "no such endpoint");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_t *cc = *con_cls;
    if (cc) {
        free(cc->body);
        free(cc);
        *con_cls = NULL;
    }
}

int serve_http_start(serve_t *s, err_t *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->o.port);
    if (inet_pton(AF_INET, s->o.host, &addr.sin_addr) != 1) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(s->o.host, NULL, &hints, &res) != 0 || !res) {
            return err_set(err, ERR_INVAL, "--host '%s': not an IPv4 address or a resolvable name", s->o.host);
        }
        addr.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d)
        return err_set(err, ERR_IO, "cannot listen on %s:%d (in use, or not an address of this machine)", s->o.host,
                       s->o.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : s->o.port;
    s->mhd = d;
    return 0;
}

void serve_http_stop(serve_t *s)
{
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
}
