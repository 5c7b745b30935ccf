/*
 * plan_json.c — the JSON side of `lingua plan`: reading a problem (format in
 * plan.h's terms, keys below) and writing a plan.
 *
 *   { "objective": "latency" | "throughput", "header": H,
 *     "units":   [ {"mem": BYTES, "out_bytes": BYTES}, ... ],
 *     "devices": [ {"name": S, "mem": BYTES, "time": [SECONDS x M]}, ... ],
 *     "latency": [[SECONDS x N] x N], "bandwidth": [[BYTES_PER_SECOND x N] x N],
 *     "token_bytes": B }
 *
 * The text goes through the hostile-input reader of json/jdoc.h (cJSON); this
 * file then insists on the exact shape: every key present once, no unknown
 * keys (a misspelt "bandwith" is an error, not a silent default), arrays of
 * the right lengths, numbers of the right kind (memory: integers up to 2^53;
 * the rest: finite, >= 0).  Each message names the field by path
 * ("devices[2].time[5]"); value checks that need the whole problem are
 * plan_problem_check's.
 */
#include "plan/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json/jdoc.h"

typedef struct {
    const char *name;
    const cJSON *v;
} field_t;

/* A key, printable and bounded, for messages. */
static void key_text(const char *key, char *buf, size_t n)
{
    size_t w = 0, len = strlen(key);
    for (size_t i = 0; i < len && w + 4 < n; i++) {
        unsigned char c = (unsigned char)key[i];
        buf[w++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > w && w + 4 <= n) {
        memcpy(buf + w, "...", 3);
        w += 3;
    }
    buf[w] = '\0';
}

/* Matches the members of obj (at path where) against the names in f: unknown,
 * duplicate and missing keys are errors. */
static int take_fields(const cJSON *obj, const char *where, field_t *f, int nf, err_t *err)
{
    if (!cJSON_IsObject(obj))
        return err_set(err, ERR_FORMAT, "%s: expected an object, found %s", where, jdoc_type_name(obj));
    for (int i = 0; i < nf; i++)
        f[i].v = NULL;
    for (const cJSON *m = obj->child; m; m = m->next) {
        int i = 0;
        while (i < nf && strcmp(f[i].name, m->string) != 0)
            i++;
        char key[48];
        key_text(m->string, key, sizeof key);
        if (i == nf)
            return err_set(err, ERR_FORMAT, "%s: unknown field '%s'", where, key);
        if (f[i].v)
            return err_set(err, ERR_FORMAT, "%s: field '%s' given twice", where, key);
        f[i].v = m;
    }
    for (int i = 0; i < nf; i++)
        if (!f[i].v)
            return err_set(err, ERR_FORMAT, "%s: missing field '%s'", where, f[i].name);
    return 0;
}

/* A finite number >= 0. */
static int get_number(const cJSON *v, const char *path, double *out, err_t *err)
{
    if (!cJSON_IsNumber(v))
        return err_set(err, ERR_FORMAT, "%s: expected a number, found %s", path, jdoc_type_name(v));
    if (!(v->valuedouble >= 0.0))
        return err_set(err, ERR_RANGE, "%s: %g is negative", path, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

/* An integer in [0, max]. */
static int get_integer(const cJSON *v, const char *path, double max, double *out, err_t *err)
{
    int rc = get_number(v, path, out, err);
    if (rc)
        return rc;
    if (*out != floor(*out) || *out > max)
        return err_set(err, ERR_RANGE, "%s: %g is not an integer in 0..%.17g", path, *out, max);
    return 0;
}

/* An array of exactly want elements (want < 0: any length up to -want, at least 1). */
static int get_array(const cJSON *v, const char *path, int want, const char *why, int *n, err_t *err)
{
    if (!cJSON_IsArray(v))
        return err_set(err, ERR_FORMAT, "%s: expected an array, found %s", path, jdoc_type_name(v));
    int len = cJSON_GetArraySize(v);
    if (want >= 0 && len != want)
        return err_set(err, ERR_FORMAT, "%s: %d entries, expected %d (%s)", path, len, want, why);
    if (want < 0 && (len < 1 || len > -want))
        return err_set(err, ERR_RANGE, "%s: %d entries, expected 1..%d", path, len, -want);
    *n = len;
    return 0;
}

static int get_matrix(const cJSON *v, const char *name, int n, double *out, err_t *err)
{
    int len = 0, rc = get_array(v, name, n, "one row per device", &len, err);
    char path[64];
    int i = 0;
    for (const cJSON *row = rc ? NULL : v->child; !rc && row; row = row->next, i++) {
        snprintf(path, sizeof path, "%s[%d]", name, i);
        rc = get_array(row, path, n, "one entry per device", &len, err);
        int k = 0;
        for (const cJSON *e = rc ? NULL : row->child; !rc && e; e = e->next, k++) {
            snprintf(path, sizeof path, "%s[%d][%d]", name, i, k);
            rc = get_number(e, path, &out[i * n + k], err);
        }
    }
    return rc;
}

static int load(const cJSON *root, plan_problem_t *p, err_t *err)
{
    field_t top[] = {{"objective", NULL}, {"header", NULL}, {"units", NULL}, {"devices", NULL},
                     {"latency", NULL}, {"bandwidth", NULL}, {"token_bytes", NULL}};
    int rc = take_fields(root, "problem", top, 7, err);
    if (rc)
        return rc;
    const cJSON *obj = top[0].v, *hdr = top[1].v, *units = top[2].v, *devs = top[3].v;
    int m = 0, n = 0;
    if ((rc = get_array(units, "units", -PLAN_MAX_UNITS, NULL, &m, err)) != 0 ||
        (rc = get_array(devs, "devices", -PLAN_MAX_DEVICES, NULL, &n, err)) != 0)
        return rc;
    if ((rc = plan_problem_init(p, n, m, err)) != 0)
        return rc;
    if (cJSON_IsString(obj) && strcmp(obj->valuestring, "latency") == 0)
        p->objective = PLAN_LATENCY;
    else if (cJSON_IsString(obj) && strcmp(obj->valuestring, "throughput") == 0)
        p->objective = PLAN_THROUGHPUT;
    else
        return err_set(err, ERR_FORMAT, "objective: expected \"latency\" or \"throughput\"");
    double v;
    if ((rc = get_integer(hdr, "header", PLAN_MEM_MAX, &v, err)) != 0)
        return rc;
    if (v >= n)
        return err_set(err, ERR_RANGE, "header: %g out of range 0..%d", v, n - 1);
    p->header = (int)v;
    if ((rc = get_number(top[6].v, "token_bytes", &p->token_bytes, err)) != 0)
        return rc;
    char path[64];
    int u = 0;
    for (const cJSON *e = units->child; e; e = e->next, u++) {
        field_t f[] = {{"mem", NULL}, {"out_bytes", NULL}};
        snprintf(path, sizeof path, "units[%d]", u);
        if ((rc = take_fields(e, path, f, 2, err)) != 0)
            return rc;
        snprintf(path, sizeof path, "units[%d].mem", u);
        if ((rc = get_integer(f[0].v, path, PLAN_MEM_MAX, &v, err)) != 0)
            return rc;
        p->unit_mem[u] = (uint64_t)v;
        snprintf(path, sizeof path, "units[%d].out_bytes", u);
        if ((rc = get_number(f[1].v, path, &p->out_bytes[u], err)) != 0)
            return rc;
    }
    int d = 0;
    for (const cJSON *e = devs->child; e; e = e->next, d++) {
        field_t f[] = {{"name", NULL}, {"mem", NULL}, {"time", NULL}};
        snprintf(path, sizeof path, "devices[%d]", d);
        if ((rc = take_fields(e, path, f, 3, err)) != 0)
            return rc;
        if (!cJSON_IsString(f[0].v) || strlen(f[0].v->valuestring) > PLAN_NAME_MAX)
            return err_set(err, ERR_FORMAT, "devices[%d].name: expected a string of at most %d bytes", d,
                           PLAN_NAME_MAX);
        memcpy(p->name[d], f[0].v->valuestring, strlen(f[0].v->valuestring) + 1);
        snprintf(path, sizeof path, "devices[%d].mem", d);
        if ((rc = get_integer(f[1].v, path, PLAN_MEM_MAX, &v, err)) != 0)
            return rc;
        p->dev_mem[d] = (uint64_t)v;
        snprintf(path, sizeof path, "devices[%d].time", d);
        int len = 0;
        if ((rc = get_array(f[2].v, path, m, "one per unit", &len, err)) != 0)
            return rc;
        int k = 0;
        for (const cJSON *t = f[2].v->child; t; t = t->next, k++) {
            snprintf(path, sizeof path, "devices[%d].time[%d]", d, k);
            if ((rc = get_number(t, path, &p->time[(size_t)d * m + k], err)) != 0)
                return rc;
        }
    }
    if ((rc = get_matrix(top[4].v, "latency", n, p->latency, err)) != 0 ||
        (rc = get_matrix(top[5].v, "bandwidth", n, p->bandwidth, err)) != 0)
        return rc;
    return plan_problem_check(p, err);
}

int plan_problem_from_json(const char *text, size_t len, plan_problem_t *p, err_t *err)
{
    memset(p, 0, sizeof *p);
    cJSON *root = NULL;
    jdoc_limits_t lim = {.max_bytes = (size_t)256 << 20, .max_depth = 16};
    int rc = jdoc_parse(text, len, &lim, &root, err);
    if (rc)
        return rc;
    rc = load(root, p, err);
    cJSON_Delete(root);
    if (rc)
        plan_problem_fini(p);
    return rc;
}

static cJSON *ranges(const int (*r)[3], int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            break;
        }
        cJSON_AddNumberToObject(e, "device", r[i][0]);
        cJSON_AddNumberToObject(e, "start", r[i][1]);
        cJSON_AddNumberToObject(e, "end", r[i][2]);
    }
    return a;
}

void plan_write_json(FILE *f, const plan_t *plan, const char *solver, double solve_ms,
                     const plan_replicas_t *replicas)
{
    int r[PLAN_MAX_DEVICES > PLAN_MAX_UNITS ? PLAN_MAX_DEVICES : PLAN_MAX_UNITS][3];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    for (int i = 0; i < plan->n_stages; i++) {
        r[i][0] = plan->stage[i].device;
        r[i][1] = plan->stage[i].start;
        r[i][2] = plan->stage[i].end;
    }
    cJSON_AddItemToObject(o, "stages", ranges((const int (*)[3])r, plan->n_stages));
    jdoc_add_number(o, "objective", plan->objective);
    jdoc_add_text(o, "solver", solver, strlen(solver));
    jdoc_add_number(o, "solve_ms", solve_ms);
    if (replicas) {
        for (int i = 0; i < replicas->n; i++) {
            r[i][0] = replicas->r[i].device;
            r[i][1] = replicas->r[i].start;
            r[i][2] = replicas->r[i].end;
        }
        cJSON_AddItemToObject(o, "replicas", ranges((const int (*)[3])r, replicas->n));
    }
    jdoc_write(f, o);
    cJSON_Delete(o);
}
