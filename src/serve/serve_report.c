/*
 * serve_report.c — what the service writes: OpenAI-shaped responses
 * (completions, chat completions, their streamed chunks, errors), the model
 * list, the cluster view (GET /v1/cluster) and the Prometheus metrics
 * (GET /metrics).  Builders only; the HTTP side sends the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jdoc.h"
#include "serve/serve_internal.h"

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 500: return "server_error";
    case 503: return "unavailable_error";
    default: return "invalid_request_error";
    }
}

static char *print_and_free(cJSON *o)
{
    char *s = o ? jdoc_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *serve_error_json(int status, const char *param, const char *msg)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    if (!e) {
        cJSON_Delete(o);
        return NULL;
    }
    jdoc_add_text(e, "message", msg, strlen(msg));
    cJSON_AddStringToObject(e, "type", error_type(status));
    if (param && *param)
        jdoc_add_text(e, "param", param, strlen(param));
    else
        cJSON_AddNullToObject(e, "param");
    cJSON_AddNumberToObject(e, "code", status);
    return print_and_free(o);
}

static void add_usage(cJSON *o, const serve_job_t *j)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)j->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->n_prompt + j->n_gen));
}

static cJSON *envelope(const serve_t *s, const serve_job_t *j, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", s->model_id);
    return o;
}

char *serve_completion_json(const serve_t *s, const serve_job_t *j)
{
    int chat = j->req.chat;
    cJSON *o = envelope(s, j, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        jdoc_add_text(m, "content", j->text.s, j->text.len);
    } else {
        jdoc_add_text(c, "text", j->text.s, j->text.len);
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", j->finish ? j->finish : "length");
    add_usage(o, j);
    return print_and_free(o);
}

char *serve_chunk_json(const serve_t *s, const serve_job_t *j, const char *text, size_t len, int first, int last,
                       int usage_only)
{
    int chat = j->req.chat;
    cJSON *o = envelope(s, j, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (usage_only) {   /* stream_options.include_usage: a last chunk without choices */
        add_usage(o, j);
        return print_and_free(o);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (first)
            cJSON_AddStringToObject(d, "role", "assistant");
        if (len || first)
            jdoc_add_text(d, "content", text, len);
    } else {
        jdoc_add_text(c, "text", text, len);
        cJSON_AddNullToObject(c, "logprobs");
    }
    if (last) {
        cJSON_AddStringToObject(c, "finish_reason", j->finish ? j->finish : "length");
        add_usage(o, j);
    } else {
        cJSON_AddNullToObject(c, "finish_reason");
    }
    return print_and_free(o);
}

char *serve_models_json(const serve_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
    cJSON_AddItemToArray(data, m);
    jdoc_add_text(m, "id", s->model_id, strlen(s->model_id));
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "lingualinked");
    return print_and_free(o);
}

static int in_flight(const serve_t *s)
{
    int n = s->q_len;
    for (int i = 0; i < s->n_seq; i++)
        n += s->run[i] != NULL;
    return n;
}

/* Mean tokens/s over the last `secs` complete seconds of the window. */
static double recent_tps(const double w[SERVE_TPS_WINDOW], int secs)
{
    double sum = 0;
    for (int i = SERVE_TPS_WINDOW - 1 - secs; i < SERVE_TPS_WINDOW - 1; i++)
        sum += w[i];
    return sum / secs;
}

char *serve_cluster_json(serve_t *s, double now)
{
    double w[SERVE_TPS_WINDOW];
    serve_tps_window(s, now, w);
    cJSON *o = cJSON_CreateObject();
    jdoc_add_text(o, "model", s->model_id, strlen(s->model_id));
    cJSON_AddNumberToObject(o, "epoch", s->epoch);
    cJSON_AddNumberToObject(o, "n_units", s->n_units);
    cJSON_AddNumberToObject(o, "n_ctx", s->n_ctx);
    cJSON_AddStringToObject(o, "chat_template", chat_tmpl_name(s->o.tmpl));
    cJSON *slots = cJSON_AddObjectToObject(o, "slots");
    cJSON_AddNumberToObject(slots, "total", s->n_seq);
    cJSON_AddNumberToObject(slots, "busy", s->slots_busy);
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "depth", s->q_len);
    cJSON_AddNumberToObject(q, "capacity", s->o.queue_max);
    cJSON_AddNumberToObject(o, "requests_in_flight", in_flight(s));
    jdoc_add_number(o, "tokens_per_s", recent_tps(w, 10));
    cJSON *tw = cJSON_AddArrayToObject(o, "tokens_per_s_last_minute");
    for (int i = 0; i < SERVE_TPS_WINDOW; i++)
        cJSON_AddItemToArray(tw, cJSON_CreateNumber(w[i]));
    cJSON *ring = cJSON_AddArrayToObject(o, "ring"), *devs = cJSON_AddArrayToObject(o, "devices");
    for (int i = 0; i < s->n_stages; i++) {
        const serve_stage_snap_t *st = &s->stages[i];
        cJSON_AddItemToArray(ring, jdoc_text(st->name, strlen(st->name)));
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(devs, d);
        jdoc_add_text(d, "name", st->name, strlen(st->name));
        jdoc_add_text(d, "endpoint", st->endpoint, strlen(st->endpoint));
        cJSON_AddNumberToObject(d, "stage", i);
        cJSON_AddNumberToObject(d, "unit_begin", st->unit_begin);
        cJSON_AddNumberToObject(d, "unit_end", st->unit_end);
        if (st->predicted_ms >= 0)
            jdoc_add_number(d, "predicted_ms", st->predicted_ms);
        else
            cJSON_AddNullToObject(d, "predicted_ms");
        jdoc_add_number(d, "measured_compute_ms", st->compute_ms);
        jdoc_add_number(d, "measured_send_ms", st->send_ms);
        cJSON_AddNumberToObject(d, "steps", (double)st->steps);
        cJSON_AddNumberToObject(d, "weight_bytes", (double)st->weight_bytes);
        cJSON_AddNumberToObject(d, "free_mem_bytes", (double)st->free_mem);
    }
    return print_and_free(o);
}

char *serve_metrics_text(serve_t *s, double now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    double w[SERVE_TPS_WINDOW];
    serve_tps_window(s, now, w);
    fprintf(f, "# HELP lingua_requests_total HTTP requests answered, by status.\n# TYPE lingua_requests_total counter\n");
    for (int i = 0; i < SERVE_N_STATUS && s->status_code[i]; i++)
        fprintf(f, "lingua_requests_total{status=\"%d\"} %llu\n", s->status_code[i],
                (unsigned long long)s->status_count[i]);
    fprintf(f, "# HELP lingua_completions_total Generations finished (completed) or abandoned by the client "
               "(cancelled).\n# TYPE lingua_completions_total counter\n"
               "lingua_completions_total{outcome=\"completed\"} %llu\nlingua_completions_total{outcome=\"cancelled\"} "
               "%llu\n", (unsigned long long)s->completed, (unsigned long long)s->cancelled);
    fprintf(f, "# HELP lingua_prompt_tokens_total Prompt tokens processed.\n# TYPE lingua_prompt_tokens_total counter\n"
               "lingua_prompt_tokens_total %llu\n", (unsigned long long)s->prompt_tokens);
    fprintf(f, "# HELP lingua_tokens_generated_total Tokens generated.\n# TYPE lingua_tokens_generated_total counter\n"
               "lingua_tokens_generated_total %llu\n", (unsigned long long)s->gen_tokens);
    fprintf(f, "# HELP lingua_tokens_per_second Tokens generated per second over the last 10 s.\n"
               "# TYPE lingua_tokens_per_second gauge\nlingua_tokens_per_second %.3f\n", recent_tps(w, 10));
    fprintf(f, "# HELP lingua_time_to_first_token_seconds_mean Mean time from queueing to the first token.\n"
               "# TYPE lingua_time_to_first_token_seconds_mean gauge\nlingua_time_to_first_token_seconds_mean %.6f\n",
            s->ttft_n ? s->ttft_sum / (double)s->ttft_n : 0.0);
    fprintf(f, "# HELP lingua_queue_depth Requests waiting for a slot.\n# TYPE lingua_queue_depth gauge\n"
               "lingua_queue_depth %d\nlingua_queue_capacity %d\n", s->q_len, s->o.queue_max);
    fprintf(f, "# HELP lingua_slots_busy Sequence slots holding a session.\n# TYPE lingua_slots_busy gauge\n"
               "lingua_slots_busy %d\nlingua_slots_total %d\n", s->slots_busy, s->n_seq);
    fprintf(f, "# HELP lingua_requests_in_flight Requests queued or generating.\n"
               "# TYPE lingua_requests_in_flight gauge\nlingua_requests_in_flight %d\n", in_flight(s));
    static const char *const what[] = {"compute", "send", "predicted"};
    for (int k = 0; k < 3; k++) {
        fprintf(f, "# HELP lingua_stage_%s_ms %s time per decode step of each stage, in ms.\n"
                   "# TYPE lingua_stage_%s_ms gauge\n", what[k],
                k == 0 ? "Measured compute" : k == 1 ? "Measured send" : "The plan's predicted compute", what[k]);
        for (int i = 0; i < s->n_stages; i++) {
            const serve_stage_snap_t *st = &s->stages[i];
            double v = k == 0 ? st->compute_ms : k == 1 ? st->send_ms : st->predicted_ms;
            if (k == 2 && v < 0)
                continue;
            fprintf(f, "lingua_stage_%s_ms{stage=\"%d\",device=\"", what[k], i);
            for (const char *p = st->name; *p; p++)   /* label values: escape \ " and newline */
                fputs(*p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : (char[2]){*p, 0}, f);
            fprintf(f, "\",units=\"%d-%d\"} %.6f\n", st->unit_begin, st->unit_end, v);
        }
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
