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
 * The text goes through the hostile-input reader of util/json_read.h; this
 * file then insists on the exact shape: every key present once, no unknown
 * keys (a misspelt "bandwith" is an error, not a silent default), arrays of
 * the right lengths, numbers of the right kind (memory: integers up to 2^53;
 * the rest: finite, >= 0).  Each message names the field by path
 * ("devices[2].time[5]") and the byte offset of the offending value; value
 * checks that need the whole problem are plan_problem_check's.
 */
#include "plan/plan.h"

#include <math.h>
#include <string.h>

#include "util/json.h"
#include "util/json_read.h"

typedef struct {
    const char *name;
    const json_val_t *v;
} field_t;

/* A key, printable and bounded, for messages. */
static void key_text(const json_val_t *m, char *buf, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < m->key_len && w + 4 < n; i++) {
        unsigned char c = (unsigned char)m->key[i];
        buf[w++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (m->key_len > w && w + 4 <= n) {
        memcpy(buf + w, "...", 3);
        w += 3;
    }
    buf[w] = '\0';
}

/* Matches the members of obj (at path where) against the names in f: unknown,
 * duplicate and missing keys are errors. */
static int take_fields(const json_doc_t *doc, const json_val_t *obj, const char *where,
                       field_t *f, int nf, err_t *err)
{
    if (obj->type != JSON_OBJECT)
        return err_set(err, ERR_FORMAT, "%s: expected an object, found %s (byte %zu)", where,
                       json_type_name(obj->type), obj->offset);
    for (int i = 0; i < nf; i++)
        f[i].v = NULL;
    for (const json_val_t *m = json_first(doc, obj); m; m = json_next(doc, m)) {
        int i = 0;
        while (i < nf && !(strlen(f[i].name) == m->key_len && memcmp(f[i].name, m->key, m->key_len) == 0))
            i++;
        char key[48];
        key_text(m, key, sizeof key);
        if (i == nf)
            return err_set(err, ERR_FORMAT, "%s: unknown field '%s' (byte %zu)", where, key, m->offset);
        if (f[i].v)
            return err_set(err, ERR_FORMAT, "%s: field '%s' given twice (byte %zu)", where, key, m->offset);
        f[i].v = m;
    }
    for (int i = 0; i < nf; i++)
        if (!f[i].v)
            return err_set(err, ERR_FORMAT, "%s: missing field '%s' (object at byte %zu)", where, f[i].name,
                           obj->offset);
    return 0;
}

/* A finite number >= 0. */
static int get_number(const json_val_t *v, const char *path, double *out, err_t *err)
{
    if (v->type != JSON_NUMBER)
        return err_set(err, ERR_FORMAT, "%s: expected a number, found %s (byte %zu)", path,
                       json_type_name(v->type), v->offset);
    if (!(v->num >= 0.0))
        return err_set(err, ERR_RANGE, "%s: %g is negative (byte %zu)", path, v->num, v->offset);
    *out = v->num;
    return 0;
}

/* An integer in [0, max]. */
static int get_integer(const json_val_t *v, const char *path, double max, double *out, err_t *err)
{
    int rc = get_number(v, path, out, err);
    if (rc)
        return rc;
    if (*out != floor(*out) || *out > max)
        return err_set(err, ERR_RANGE, "%s: %g is not an integer in 0..%.17g (byte %zu)", path, *out, max,
                       v->offset);
    return 0;
}

/* An array of exactly want elements (want < 0: any length up to -want, at least 1). */
static int get_array(const json_val_t *v, const char *path, int want, const char *why, int *n, err_t *err)
{
    if (v->type != JSON_ARRAY)
        return err_set(err, ERR_FORMAT, "%s: expected an array, found %s (byte %zu)", path,
                       json_type_name(v->type), v->offset);
    if (want >= 0 && v->n != (uint32_t)want)
        return err_set(err, ERR_FORMAT, "%s: %u entries, expected %d (%s) (byte %zu)", path, v->n, want, why,
                       v->offset);
    if (want < 0 && (v->n < 1 || v->n > (uint32_t)-want))
        return err_set(err, ERR_RANGE, "%s: %u entries, expected 1..%d (byte %zu)", path, v->n, -want, v->offset);
    *n = (int)v->n;
    return 0;
}

static int get_matrix(const json_doc_t *doc, const json_val_t *v, const char *name, int n, double *out, err_t *err)
{
    int len = 0, rc = get_array(v, name, n, "one row per device", &len, err);
    char path[64];
    int i = 0;
    for (const json_val_t *row = json_first(doc, v); !rc && row; row = json_next(doc, row), i++) {
        snprintf(path, sizeof path, "%s[%d]", name, i);
        rc = get_array(row, path, n, "one entry per device", &len, err);
        int k = 0;
        for (const json_val_t *e = json_first(doc, row); !rc && e; e = json_next(doc, e), k++) {
            snprintf(path, sizeof path, "%s[%d][%d]", name, i, k);
            rc = get_number(e, path, &out[i * n + k], err);
        }
    }
    return rc;
}

static int load(const json_doc_t *doc, plan_problem_t *p, err_t *err)
{
    field_t top[] = {{"objective", NULL}, {"header", NULL}, {"units", NULL}, {"devices", NULL},
                     {"latency", NULL}, {"bandwidth", NULL}, {"token_bytes", NULL}};
    int rc = take_fields(doc, json_root(doc), "problem", top, 7, err);
    if (rc)
        return rc;
    const json_val_t *obj = top[0].v, *hdr = top[1].v, *units = top[2].v, *devs = top[3].v;
    int m = 0, n = 0;
    if ((rc = get_array(units, "units", -PLAN_MAX_UNITS, NULL, &m, err)) != 0 ||
        (rc = get_array(devs, "devices", -PLAN_MAX_DEVICES, NULL, &n, err)) != 0)
        return rc;
    if ((rc = plan_problem_init(p, n, m, err)) != 0)
        return rc;
    if (obj->type == JSON_STRING && obj->len == 7 && memcmp(obj->str, "latency", 7) == 0)
        p->objective = PLAN_LATENCY;
    else if (obj->type == JSON_STRING && obj->len == 10 && memcmp(obj->str, "throughput", 10) == 0)
        p->objective = PLAN_THROUGHPUT;
    else
        return err_set(err, ERR_FORMAT, "objective: expected \"latency\" or \"throughput\" (byte %zu)", obj->offset);
    double v;
    if ((rc = get_integer(hdr, "header", PLAN_MEM_MAX, &v, err)) != 0)
        return rc;
    if (v >= n)
        return err_set(err, ERR_RANGE, "header: %g out of range 0..%d (byte %zu)", v, n - 1, hdr->offset);
    p->header = (int)v;
    if ((rc = get_number(top[6].v, "token_bytes", &p->token_bytes, err)) != 0)
        return rc;
    char path[64];
    int u = 0;
    for (const json_val_t *e = json_first(doc, units); e; e = json_next(doc, e), u++) {
        field_t f[] = {{"mem", NULL}, {"out_bytes", NULL}};
        snprintf(path, sizeof path, "units[%d]", u);
        if ((rc = take_fields(doc, e, path, f, 2, err)) != 0)
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
    for (const json_val_t *e = json_first(doc, devs); e; e = json_next(doc, e), d++) {
        field_t f[] = {{"name", NULL}, {"mem", NULL}, {"time", NULL}};
        snprintf(path, sizeof path, "devices[%d]", d);
        if ((rc = take_fields(doc, e, path, f, 3, err)) != 0)
            return rc;
        if (f[0].v->type != JSON_STRING || f[0].v->len > PLAN_NAME_MAX || memchr(f[0].v->str, 0, f[0].v->len))
            return err_set(err, ERR_FORMAT, "devices[%d].name: expected a string of at most %d bytes without NUL "
                           "(byte %zu)", d, PLAN_NAME_MAX, f[0].v->offset);
        memcpy(p->name[d], f[0].v->str, f[0].v->len + 1);
        snprintf(path, sizeof path, "devices[%d].mem", d);
        if ((rc = get_integer(f[1].v, path, PLAN_MEM_MAX, &v, err)) != 0)
            return rc;
        p->dev_mem[d] = (uint64_t)v;
        snprintf(path, sizeof path, "devices[%d].time", d);
        int len = 0;
        if ((rc = get_array(f[2].v, path, m, "one per unit", &len, err)) != 0)
            return rc;
        int k = 0;
        for (const json_val_t *t = json_first(doc, f[2].v); t; t = json_next(doc, t), k++) {
            snprintf(path, sizeof path, "devices[%d].time[%d]", d, k);
            if ((rc = get_number(t, path, &p->time[(size_t)d * m + k], err)) != 0)
                return rc;
        }
    }
    if ((rc = get_matrix(doc, top[4].v, "latency", n, p->latency, err)) != 0 ||
        (rc = get_matrix(doc, top[5].v, "bandwidth", n, p->bandwidth, err)) != 0)
        return rc;
    return plan_problem_check(p, err);
}

int plan_problem_from_json(const char *text, size_t len, plan_problem_t *p, err_t *err)
{
    memset(p, 0, sizeof *p);
    json_doc_t *doc = NULL;
    json_limits_t lim = {.max_bytes = (size_t)256 << 20, .max_depth = 16, .max_values = 16u << 20};
    int rc = json_parse(text, len, &lim, &doc, err);
    if (rc)
        return rc;
    rc = load(doc, p, err);
    json_doc_destroy(&doc);
    if (rc)
        plan_problem_fini(p);
    return rc;
}

static void write_range(FILE *f, int i, int device, int start, int end)
{
    fprintf(f, "%s{\"device\": %d, \"start\": %d, \"end\": %d}", i ? ", " : "", device, start, end);
}

void plan_write_json(FILE *f, const plan_t *plan, const char *solver, double solve_ms,
                     const plan_replicas_t *replicas)
{
    fputc('{', f);
    fputs("\"stages\": [", f);
    for (int i = 0; i < plan->n_stages; i++)
        write_range(f, i, plan->stage[i].device, plan->stage[i].start, plan->stage[i].end);
    fputc(']', f);
    fprintf(f, ", \"objective\": %.17g, \"solver\": ", plan->objective);
    json_write_string(f, solver, strlen(solver));
    fputs(", \"solve_ms\": ", f);
    json_write_number(f, solve_ms);
    if (replicas) {
        fputs(", \"replicas\": [", f);
        for (int i = 0; i < replicas->n; i++)
            write_range(f, i, replicas->r[i].device, replicas->r[i].start, replicas->r[i].end);
        fputc(']', f);
    }
    fputs("}\n", f);
}
