/*
 * serve_req.c — field-by-field validation of OpenAI request bodies (see
 * serve_req.h).  Each getter checks one field's type and range and fills
 * serve_req_err_t on failure; parse() walks the fields in a fixed order, so
 * the first error reported is deterministic.
 */
#include "serve/serve_req.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jdoc.h"

#define BODY_LIMIT ((size_t)1 << 20)

/* Records the offending field and the message; returns code. */
static int bad(serve_req_err_t *e, const char *param, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(serve_req_err_t *e, const char *param, int code, const char *fmt, ...)
{
    snprintf(e->param, sizeof e->param, "%s", param);
    char msg[ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(&e->err, code, "%s", msg);
}

static const cJSON *field(const cJSON *root, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(root, name);
}

/* A number in [lo, hi]; absent or null keeps *out. */
static int get_num(const cJSON *root, const char *name, double lo, double hi, double *out, serve_req_err_t *e)
{
    const cJSON *v = field(root, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return bad(e, name, ERR_FORMAT, "'%s' must be a number, not %s", name, jdoc_type_name(v));
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        char range[64];
        snprintf(range, sizeof range, "%.15g..%.15g", lo, hi);
        return bad(e, name, ERR_RANGE, "'%s' must be in %s, got %g", name, range, v->valuedouble);
    }
    *out = v->valuedouble;
    return 1;
}

/* An integer in [lo, hi]; absent or null keeps *out.  Returns 1 when given. */
static int get_int(const cJSON *root, const char *name, double lo, double hi, double *out, serve_req_err_t *e)
{
    double v = *out;
    int rc = get_num(root, name, lo, hi, &v, e);
    if (rc == 1 && v != floor(v))
        return bad(e, name, ERR_FORMAT, "'%s' must be an integer, got %g", name, v);
    if (rc == 1)
        *out = v;
    return rc;
}

static int get_bool(const cJSON *root, const char *name, int *out, serve_req_err_t *e)
{
    const cJSON *v = field(root, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return bad(e, name, ERR_FORMAT, "'%s' must be a boolean, not %s", name, jdoc_type_name(v));
    *out = cJSON_IsTrue(v);
    return 1;
}

/* A message's content: a string, or an array of {"type": "text", "text": S} parts joined. */
static int content_text(const cJSON *c, const char *param, char **out, serve_req_err_t *e)
{
    if (cJSON_IsString(c))
        return (*out = strdup(c->valuestring)) ? 0 : bad(e, param, ERR_NOMEM, "'%s': out of memory", param);
    if (!cJSON_IsArray(c))
        return bad(e, param, ERR_FORMAT, "'%s' must be a string or an array of text parts, not %s",
                   param, jdoc_type_name(c));
    size_t total = 1;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type"),
                    *text = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text))
            return bad(e, param, ERR_UNSUP, "'%s': only parts {\"type\": \"text\", \"text\": \"...\"} are "
                       "supported", param);
        total += strlen(text->valuestring);
    }
    char *s = malloc(total);
    if (!s)
        return bad(e, param, ERR_NOMEM, "'%s': out of memory", param);
    s[0] = '\0';
    cJSON_ArrayForEach(p, c) strcat(s, cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring);
    *out = s;
    return 0;
}

static int get_messages(const cJSON *root, serve_req_t *r, serve_req_err_t *e)
{
    const cJSON *ms = field(root, "messages");
    if (!ms)
        return bad(e, "messages", ERR_FORMAT, "'%s' is required", "messages");
    if (!cJSON_IsArray(ms))
        return bad(e, "messages", ERR_FORMAT, "'%s' must be an array, not %s", "messages", jdoc_type_name(ms));
    int n = cJSON_GetArraySize(ms);
    if (n < 1 || n > SERVE_MAX_MESSAGES)
        return bad(e, "messages", ERR_RANGE, "'%s' must hold 1..1024 messages, got %d", "messages", n);
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs)))
        return bad(e, "messages", ERR_NOMEM, "'%s': out of memory", "messages");
    const cJSON *m;
    cJSON_ArrayForEach(m, ms) {
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", r->n_msgs);
        if (!cJSON_IsObject(m))
            return bad(e, param, ERR_FORMAT, "'%s' must be an object, not %s", param, jdoc_type_name(m));
        const cJSON *role = field(m, "role"), *content = field(m, "content");
        if (!cJSON_IsString(role))
            return bad(e, param, ERR_FORMAT, "'%s.role' must be a string, not %s", param, jdoc_type_name(role));
        const char *rs = role->valuestring;
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") && strcmp(rs, "developer"))
            return bad(e, param, ERR_FORMAT, "'%s.role' must be system, user or assistant, got '%.40s'", param, rs);
        chat_msg_t *out = &r->msgs[r->n_msgs++];
        out->role = !strcmp(rs, "developer") ? "system" : !strcmp(rs, "system") ? "system"
                    : !strcmp(rs, "user") ? "user" : "assistant";
        char *text = NULL;
        if (!content || cJSON_IsNull(content))
            text = strdup("");
        else if (content_text(content, param, &text, e))
            return e->err.code;
        if (!text)
            return bad(e, param, ERR_NOMEM, "'%s': out of memory", param);
        out->content = text;
    }
    return 0;
}

static int get_prompt(const cJSON *root, serve_req_t *r, serve_req_err_t *e)
{
    const cJSON *p = field(root, "prompt");
    if (!p)
        return bad(e, "prompt", ERR_FORMAT, "'%s' is required", "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child))
        p = p->child;   /* a batch of one */
    if (!cJSON_IsString(p))
        return bad(e, "prompt", ERR_FORMAT, "'%s' must be a string (or an array of one string), not %s",
                   "prompt", jdoc_type_name(p));
    if (!(r->prompt = strdup(p->valuestring)))
        return bad(e, "prompt", ERR_NOMEM, "'%s': out of memory", "prompt");
    return 0;
}

static int get_stop(const cJSON *root, serve_req_t *r, serve_req_err_t *e)
{
    const cJSON *s = field(root, "stop");
    if (!s || cJSON_IsNull(s))
        return 0;
    const cJSON *one = s, *it;
    if (cJSON_IsArray(s)) {
        if (cJSON_GetArraySize(s) > SERVE_MAX_STOP)
            return bad(e, "stop", ERR_RANGE, "'%s' takes at most 4 strings, got %d", "stop", cJSON_GetArraySize(s));
        one = NULL;
    } else if (!cJSON_IsString(s)) {
        return bad(e, "stop", ERR_FORMAT, "'%s' must be a string or an array of strings, not %s", "stop",
                   jdoc_type_name(s));
    }
    for (it = one ? one : s->child; it; it = one ? NULL : it->next) {
        if (!cJSON_IsString(it))
            return bad(e, "stop", ERR_FORMAT, "'%s' entries must be strings, not %s", "stop", jdoc_type_name(it));
        size_t n = strlen(it->valuestring);
        if (n == 0 || n > SERVE_STOP_MAX_BYTES)
            return bad(e, "stop", ERR_RANGE, "'%s' strings must be 1..64 bytes, got %g", "stop", (double)n);
        if (!(r->stop[r->n_stop++] = strdup(it->valuestring)))
            return bad(e, "stop", ERR_NOMEM, "'%s': out of memory", "stop");
    }
    return 0;
}

static int parse(const cJSON *root, int chat, serve_req_t *r, serve_req_err_t *e)
{
    if (!cJSON_IsObject(root))
        return bad(e, "", ERR_FORMAT, "the body must be a JSON object, not %s", jdoc_type_name(root));
    const cJSON *model = field(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model))
            return bad(e, "model", ERR_FORMAT, "'%s' must be a string, not %s", "model", jdoc_type_name(model));
        if (!(r->model = strdup(model->valuestring)))
            return bad(e, "model", ERR_NOMEM, "'%s': out of memory", "model");
    }
    int rc = chat ? get_messages(root, r, e) : get_prompt(root, r, e);
    if (rc)
        return rc;
    if (get_bool(root, "stream", &r->stream, e) < 0)
        return e->err.code;
    const cJSON *so = field(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad(e, "stream_options", ERR_FORMAT, "'%s' must be an object, not %s", "stream_options",
                       jdoc_type_name(so));
        if (get_bool(so, "include_usage", &r->include_usage, e) < 0)
            return e->err.code;
    }
    double v = r->max_tokens;
    if (get_int(root, "max_tokens", 1, 1 << 20, &v, e) < 0 ||
        get_int(root, "max_completion_tokens", 1, 1 << 20, &v, e) < 0 || get_int(root, "n_predict", 1, 1 << 20, &v, e) < 0)
        return e->err.code;
    r->max_tokens = (int)v;
    v = 1;
    if (get_int(root, "n", 1, 1, &v, e) < 0)
        return e->err.code;
    v = r->samp.temp;
    if (get_num(root, "temperature", 0, 100, &v, e) < 0)
        return e->err.code;
    r->samp.temp = (float)v;
    v = r->samp.top_p;
    if (get_num(root, "top_p", 0, 1, &v, e) < 0)
        return e->err.code;
    r->samp.top_p = (float)v;
    v = r->samp.min_p;
    if (get_num(root, "min_p", 0, 1, &v, e) < 0)
        return e->err.code;
    r->samp.min_p = (float)v;
    v = r->samp.top_k;
    if (get_int(root, "top_k", 0, 1 << 30, &v, e) < 0)
        return e->err.code;
    r->samp.top_k = (int32_t)v;
    v = r->samp.repeat_penalty;
    if (get_num(root, "repeat_penalty", 0.01, 100, &v, e) < 0)
        return e->err.code;
    r->samp.repeat_penalty = (float)v;
    v = r->samp.repeat_last_n;
    if (get_int(root, "repeat_last_n", 0, 1 << 20, &v, e) < 0)
        return e->err.code;
    r->samp.repeat_last_n = (int32_t)v;
    v = 0;
    int given = get_int(root, "seed", 0, 9007199254740991.0, &v, e);
    if (given < 0)
        return e->err.code;
    if (given) {
        r->samp.seed = (uint64_t)v;
        r->seed_given = 1;
    }
    /* OpenAI's penalties: only their neutral value; repeat_penalty is the one the ring applies. */
    static const char *const penalties[] = {"presence_penalty", "frequency_penalty"};
    for (int i = 0; i < 2; i++) {
        v = 0;
        if (get_num(root, penalties[i], -2, 2, &v, e) < 0)
            return e->err.code;
        if (v != 0)
            return bad(e, penalties[i], ERR_UNSUP, "'%s' is not supported (only 0); use repeat_penalty", penalties[i]);
    }
    return get_stop(root, r, e);
}

int serve_req_parse(const char *body, size_t len, int chat, int def_max_tokens, const samp_params_t *def,
                    serve_req_t *r, serve_req_err_t *e)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    r->chat = chat;
    r->max_tokens = def_max_tokens > 0 ? def_max_tokens : 128;
    r->samp = *def;
    cJSON *root = NULL;
    jdoc_limits_t lim = {.max_bytes = BODY_LIMIT, .max_depth = 16};
    int rc = jdoc_parse(body, len, &lim, &root, &e->err);
    if (rc) {
        err_prefix(&e->err, "malformed JSON body");
        return rc;
    }
    rc = parse(root, chat, r, e);
    cJSON_Delete(root);
    if (rc)
        serve_req_fini(r);
    return rc;
}

void serve_req_fini(serve_req_t *r)
{
    free(r->model);
    free(r->prompt);
    for (size_t i = 0; r->msgs && i < r->n_msgs; i++)
        free((char *)r->msgs[i].content);
    free(r->msgs);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    memset(r, 0, sizeof *r);
}
