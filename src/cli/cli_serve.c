/*
 * cli_serve.c — the service commands:
 *   lingua serve -m MODEL (--local N | --workers N --bind EP) [--host H] [--port P] [--api-key K]
 *                [--parallel S] [--queue Q] [-c CTX] [--chat-template NAME] [generate options]
 *   lingua status [--url http://HOST:PORT]
 * serve brings a ring up (cli_ring_up), picks the chat template (the
 * option, else the GGUF's tokenizer.chat_template), and hands the ring to
 * serve_run until SIGINT/SIGTERM.  status fetches /v1/cluster from a running
 * serve and prints it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "json/jdoc.h"
#include "serve/serve.h"
#include "serve/serve_client.h"

int cli_chat_template(const cli_opts_t *o, const coord_t *c, chat_tmpl_t *t)
{
    err_t err;
    if (o->chat_template) {
        if (chat_tmpl_from_name(o->chat_template, t, &err)) {
            fprintf(stderr, "error: --chat-template: %s\n", err.msg);
            return 2;
        }
        return 0;
    }
    if (c)
        *t = chat_tmpl_from_gguf(coord_model(c)->gguf);
    return 0;
}

int cli_serve(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_GEN | CLI_OPT_THREADS | CLI_OPT_SAMPLING |
                       CLI_OPT_RING | CLI_OPT_SERVE | CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    if (!o.model || (o.local < 1 && (o.workers < 1 || !o.bind))) {
        fprintf(stderr, "error: serve needs -m MODEL and --local N, or --workers N with --bind tcp://ADDR:PORT\n");
        return 2;
    }
    chat_tmpl_t checked = CHAT_PLAIN;
    if (cli_chat_template(&o, NULL, &checked))   /* a bad name fails before any worker starts */
        return 2;
    o.verbose = 1;   /* progress of profiling and planning, and the plan, on stderr */
    volatile sig_atomic_t *stop = cli_catch_signals();
    err_t err;
    err_clear(&err);
    cli_ring_t r;
    fprintf(stderr, "serve: starting the ring (%d %s workers)...\n", o.local > 0 ? o.local : o.workers,
            o.local > 0 ? "local" : "remote");
    rc = cli_ring_up(&o, o.local > 0 ? "tcp://127.0.0.1:*" : o.bind, &r, stop, &err);
    double predicted[COORD_MAX_WORKERS];
    serve_opts_t so;
    serve_opts_default(&so);
    if (rc == 0) {
        so.host = o.host;
        so.port = o.port;
        so.api_key = o.api_key;
        so.model_path = o.model;
        so.queue_max = o.queue;
        so.max_tokens = o.n_predict > 0 ? o.n_predict : 128;
        so.samp = o.samp;
        if (cli_chat_template(&o, r.c, &so.tmpl))
            rc = ERR_INVAL;
        if (r.planned && r.plan.n_stages == coord_n_stages(r.c)) {
            /* the plan's compute time per stage: its units' profiled times on its device */
            for (int s = 0; s < r.plan.n_stages; s++) {
                const plan_stage_t *ps = &r.plan.stage[s];
                predicted[s] = 0;
                for (int u = ps->start; u < ps->end; u++)
                    predicted[s] += 1000.0 * r.problem.time[(size_t)ps->device * r.problem.n_units + u];
            }
            so.predicted_ms = predicted;
        }
    }
    if (rc == 0)
        rc = serve_run(r.c, &so, stop, &err);
    cli_ring_down(&r);
    if (rc && err.msg[0])
        fprintf(stderr, "error: %s\n", err.msg);
    fprintf(stderr, "serve: stopped\n");
    return rc ? 1 : 0;
}

/* ---- lingua status ------------------------------------------------------------ */

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

static void print_cluster(const cJSON *c)
{
    int n_units = (int)num(c, "n_units");
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(c, "slots"),
                *queue = cJSON_GetObjectItemCaseSensitive(c, "queue");
    printf("model %s: %d units, context %d, chat template %s, epoch %.0f\n", str(c, "model"), n_units,
           (int)num(c, "n_ctx"), str(c, "chat_template"), num(c, "epoch"));
    printf("requests in flight %.0f | slots busy %.0f/%.0f | queue %.0f/%.0f | %.1f tokens/s (last 10 s)\n",
           num(c, "requests_in_flight"), num(slots, "busy"), num(slots, "total"), num(queue, "depth"),
           num(queue, "capacity"), num(c, "tokens_per_s"));
    /* tokens/s over the last minute as a row of bars */
    static const char *const levels[] = {" ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587",
                                         "\u2588"};
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "tokens_per_s_last_minute"), *v;
    double mx = 0;
    cJSON_ArrayForEach(v, w) if (cJSON_IsNumber(v) && v->valuedouble > mx) mx = v->valuedouble;
    printf("last minute: ");
    cJSON_ArrayForEach(v, w) fputs(levels[mx > 0 && cJSON_IsNumber(v) ? (int)(8 * v->valuedouble / mx + 0.5) : 0],
                                   stdout);
    printf(" (peak %.0f/s)\n", mx);
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(c, "devices")) {
        int b = (int)num(d, "unit_begin"), e = (int)num(d, "unit_end");
        char bar[41];
        for (int i = 0; i < 40; i++) {
            int u = n_units > 0 ? i * n_units / 40 : 0;
            bar[i] = u >= b && u < e ? '#' : '.';
        }
        bar[40] = '\0';
        double pred = num(d, "predicted_ms");
        char ptext[32] = "-";
        if (pred >= 0)
            snprintf(ptext, sizeof ptext, "%.3f ms", pred);
        printf("  stage %.0f %-14s units %3d-%-3d [%s] predicted %s, measured %.3f + %.3f ms/token (%.0f steps)\n",
               num(d, "stage"), str(d, "name"), b, e, bar, ptext, num(d, "measured_compute_ms"),
               num(d, "measured_send_ms"), num(d, "steps"));
    }
}

int cli_status(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_SERVE | CLI_OPT_JSON, &o);
    if (rc)
        return rc;
    char *body = NULL;
    size_t len = 0;
    int status = 0;
    err_t err;
    err_clear(&err);
    if (serve_http_get(o.url, "/v1/cluster", 10000, (size_t)8 << 20, &body, &len, &status, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    cJSON *c = NULL;
    if (status != 200 || jdoc_parse(body, len, NULL, &c, &err) || !cJSON_IsObject(c)) {
        fprintf(stderr, "error: %s/v1/cluster answered %d: %.200s\n", o.url, status, body);
        free(body);
        cJSON_Delete(c);
        return 1;
    }
    if (o.json)
        printf("%s\n", body);
    else
        print_cluster(c);
    free(body);
    cJSON_Delete(c);
    return fflush(stdout) == 0 ? 0 : 1;
}
