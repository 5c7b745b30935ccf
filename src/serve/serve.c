/*
 * serve.c — serve_run: sets up the service state for a deployed ring,
 * starts the HTTP side, runs the coordinator loop until a stop, and tears
 * down in the order that keeps every thread safe: the loop has finished or
 * failed every job before the HTTP daemon (and with it every connection
 * thread) is stopped, and the state is freed last.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan/unit_cost.h"
#include "serve/serve_internal.h"

void serve_opts_default(serve_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->queue_max = 64;
    o->max_tokens = 128;
    samp_params_default(&o->samp);
    o->tmpl = CHAT_PLAIN;
    o->drain_ms = 10000;
}

/* The model's id: its file name without directories and .gguf. */
static void model_id(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".gguf") == 0)
        len -= 5;
    snprintf(out, n, "%.*s", (int)len, base);
}

int serve_run(coord_t *c, const serve_opts_t *o, volatile sig_atomic_t *stop, err_t *err)
{
    serve_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, ERR_NOMEM, "out of memory");
    s->o = *o;
    if (s->o.queue_max < 1)
        s->o.queue_max = 1;
    model_id(o->model_path, s->model_id, sizeof s->model_id);
    s->tok = coord_tok(c);
    s->n_ctx = coord_n_ctx(c);
    s->n_seq = coord_n_seq(c);
    const seg_t *seg = coord_seg(c);
    s->n_units = seg->n_units;
    s->accepting = 1;
    pthread_mutex_init(&s->mu, NULL);
    int rc = 0;
    unit_cost_t *costs = calloc((size_t)s->n_units, sizeof *costs);
    s->unit_weight_bytes = calloc((size_t)s->n_units, sizeof *s->unit_weight_bytes);
    s->run = calloc((size_t)s->n_seq, sizeof *s->run);
    if (!costs || !s->unit_weight_bytes || !s->run)
        rc = err_set(err, ERR_NOMEM, "out of memory");
    else if ((rc = unit_cost_compute(seg, costs, err)) == 0)
        for (int u = 0; u < s->n_units; u++)
            s->unit_weight_bytes[u] = costs[u].weight_bytes;
    free(costs);
    /* A client that vanishes must not kill the server with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (rc == 0)
        rc = serve_http_start(s, err);
    if (rc == 0) {
        fprintf(stderr, "serve: %s on http://%s:%d/ (%d slots, queue %d, chat template %s)\n", s->model_id,
                s->o.host, s->port, s->n_seq, s->o.queue_max, chat_tmpl_name(s->o.tmpl));
        rc = serve_loop(s, c, stop, err);
        /* Let the connections send what their finished jobs hold (bounded). */
        for (int i = 0; i < 300; i++) {
            pthread_mutex_lock(&s->mu);
            int alive = s->jobs_alive;
            pthread_mutex_unlock(&s->mu);
            if (alive == 0)
                break;
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    serve_http_stop(s);
    pthread_mutex_destroy(&s->mu);
    free(s->run);
    free(s->unit_weight_bytes);
    free(s);
    return rc;
}
