/*
 * json_read.c — the JSON reader of json_read.h: a recursive-descent parser
 * into one array of values plus one buffer of decoded strings.
 *
 * Invariants that keep it safe on hostile text: every read of the input is
 * checked against its length first; every value consumes at least one input
 * byte, so the value count is bounded by the length (and by max_values); a
 * decoded string is never longer than its quoted source, so the string buffer
 * is allocated once with len + 1 bytes and never moves (value records do move
 * while parsing, so they are referred to by index until the end); nesting is
 * bounded by max_depth, which bounds the recursion.
 */
#include "util/json_read.h"
#include "util/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct json_doc {
    json_val_t *vals;
    uint32_t n_vals, cap_vals;
    char *strbuf;        /* len + 1 bytes, filled front to back */
    size_t str_used;
};

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    json_doc_t *doc;
    uint32_t max_depth, max_values;
    err_t *err;
} parser_t;

static int fail(parser_t *p, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser_t *p, int code, size_t at, const char *fmt, ...)
{
    char what[ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(p->err, code, "byte %zu: %s", at, what);
}

/* Describes the byte at pos for messages: 'x', 0xNN, or end of input. */
static void describe(const parser_t *p, size_t pos, char *buf, size_t n)
{
    if (pos >= p->len)
        snprintf(buf, n, "end of input");
    else if (p->s[pos] >= 0x20 && p->s[pos] < 0x7f)
        snprintf(buf, n, "'%c'", p->s[pos]);
    else
        snprintf(buf, n, "byte 0x%02x", p->s[pos]);
}

static int unexpected(parser_t *p, const char *expected)
{
    char got[32];
    describe(p, p->pos, got, sizeof got);
    return fail(p, ERR_FORMAT, p->pos, "expected %s, found %s", expected, got);
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int new_val(parser_t *p, json_type_t type, uint32_t *idx)
{
    json_doc_t *d = p->doc;
    if (d->n_vals >= p->max_values)
        return fail(p, ERR_RANGE, p->pos, "more than %u values in the document", p->max_values);
    if (d->n_vals == d->cap_vals) {
        uint32_t cap = d->cap_vals ? d->cap_vals : 64;
        cap = cap > p->max_values / 2 ? p->max_values : cap * 2;
        json_val_t *v = realloc(d->vals, (size_t)cap * sizeof *v);
        if (!v)
            return fail(p, ERR_NOMEM, p->pos, "out of memory for %u values", cap);
        d->vals = v;
        d->cap_vals = cap;
    }
    json_val_t *v = &d->vals[d->n_vals];
    memset(v, 0, sizeof *v);
    v->type = type;
    v->offset = p->pos;
    v->first = v->next = NONE;
    *idx = d->n_vals++;
    return 0;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Four hex digits at pos into *cp. */
static int hex4(parser_t *p, size_t pos, uint32_t *cp)
{
    if (p->len - pos < 4)
        return fail(p, ERR_FORMAT, pos, "truncated \\u escape");
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        unsigned c = p->s[pos + i];
        unsigned d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail(p, ERR_FORMAT, pos + i, "expected a hex digit in \\u escape");
        v = v * 16 + d;
    }
    *cp = v;
    return 0;
}

/* Parses the string at p->pos (which is '"') into the string buffer; *off and
 * *n locate the decoded bytes there. */
static int parse_string(parser_t *p, size_t *off, size_t *n)
{
    json_doc_t *d = p->doc;
    size_t start = p->pos++;
    char *out = d->strbuf + d->str_used;
    size_t w = 0;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, ERR_FORMAT, start, "unterminated string");
        unsigned c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, ERR_FORMAT, p->pos, "control byte 0x%02x inside a string (escape it)", c);
        if (c != '\\') {
            size_t k = json_utf8_len(p->s + p->pos, p->len - p->pos);
            if (k == 0)
                return fail(p, ERR_FORMAT, p->pos, "invalid UTF-8 in string");
            memcpy(out + w, p->s + p->pos, k);
            w += k;
            p->pos += k;
            continue;
        }
        size_t esc = p->pos++;
        if (p->pos >= p->len)
            return fail(p, ERR_FORMAT, esc, "unterminated escape");
        c = p->s[p->pos++];
        switch (c) {
        case '"': out[w++] = '"'; break;
        case '\\': out[w++] = '\\'; break;
        case '/': out[w++] = '/'; break;
        case 'b': out[w++] = '\b'; break;
        case 'f': out[w++] = '\f'; break;
        case 'n': out[w++] = '\n'; break;
        case 'r': out[w++] = '\r'; break;
        case 't': out[w++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            int rc = hex4(p, p->pos, &cp);
            if (rc)
                return rc;
            p->pos += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, ERR_FORMAT, esc, "lone low surrogate \\u%04x", (unsigned)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, ERR_FORMAT, esc, "high surrogate \\u%04x not followed by a low one", (unsigned)cp);
                if ((rc = hex4(p, p->pos + 2, &lo)) != 0)
                    return rc;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(p, ERR_FORMAT, p->pos, "expected a low surrogate, found \\u%04x", (unsigned)lo);
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            w += utf8_put(cp, out + w);
            break;
        }
        default:
            return fail(p, ERR_FORMAT, esc, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? (int)c : '?');
        }
    }
    out[w] = '\0';
    *off = d->str_used;
    *n = w;
    d->str_used += w + 1;   /* w + 1 <= the quoted source length, so this stays within len + 1 */
    return 0;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static int parse_number(parser_t *p, double *out)
{
    size_t start = p->pos, i = p->pos;
    const unsigned char *s = p->s;
    if (i < p->len && s[i] == '-')
        i++;
    if (i >= p->len || !is_digit(s[i]))
        return fail(p, ERR_FORMAT, i, "expected a digit in number");
    if (s[i] == '0') {
        i++;
        if (i < p->len && is_digit(s[i]))
            return fail(p, ERR_FORMAT, start, "leading zero in number");
    } else {
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(s[i]))
            return fail(p, ERR_FORMAT, i, "expected a digit after the decimal point");
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(s[i]))
            return fail(p, ERR_FORMAT, i, "expected a digit in the exponent");
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    char buf[512];
    if (i - start >= sizeof buf)
        return fail(p, ERR_RANGE, start, "number longer than %zu characters", sizeof buf - 1);
    memcpy(buf, s + start, i - start);
    buf[i - start] = '\0';
    errno = 0;
    char *end;
    double v = strtod(buf, &end);   /* the grammar above is a subset of strtod's in the C locale */
    if (*end != '\0')
        return fail(p, ERR_FORMAT, start, "malformed number");
    if (errno == ERANGE && (v > 1.0 || v < -1.0))
        return fail(p, ERR_FORMAT, start, "number %s overflows a double", buf);
    *out = v;
    p->pos = i;
    return 0;
}

static int parse_value(parser_t *p, uint32_t depth, uint32_t *idx);

/* Links child after prev (or as the first child of parent). */
static void link_child(json_doc_t *d, uint32_t parent, uint32_t *prev, uint32_t child)
{
    if (*prev == NONE)
        d->vals[parent].first = child;
    else
        d->vals[*prev].next = child;
    *prev = child;
    d->vals[parent].n++;
}

static int parse_container(parser_t *p, uint32_t depth, int is_object, uint32_t *idx)
{
    if (depth >= p->max_depth)
        return fail(p, ERR_RANGE, p->pos, "nesting deeper than %u levels", p->max_depth);
    uint32_t self, prev = NONE;
    int rc = new_val(p, is_object ? JSON_OBJECT : JSON_ARRAY, &self);
    if (rc)
        return rc;
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        *idx = self;
        return 0;
    }
    for (;;) {
        size_t key_off = 0, key_len = 0;
        if (is_object) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return unexpected(p, "a member name in double quotes");
            if ((rc = parse_string(p, &key_off, &key_len)) != 0)
                return rc;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return unexpected(p, "':' after the member name");
            p->pos++;
        }
        uint32_t child;
        if ((rc = parse_value(p, depth + 1, &child)) != 0)
            return rc;
        if (is_object) {
            p->doc->vals[child].key = p->doc->strbuf + key_off;
            p->doc->vals[child].key_len = key_len;
        }
        link_child(p->doc, self, &prev, child);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return unexpected(p, is_object ? "',' or '}' after an object member" : "',' or ']' after an array element");
    }
    *idx = self;
    return 0;
}

static int literal(parser_t *p, const char *word, json_type_t type, uint32_t *idx)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return unexpected(p, "a value");
    int rc = new_val(p, type, idx);
    if (rc == 0)
        p->pos += n;
    return rc;
}

static int parse_value(parser_t *p, uint32_t depth, uint32_t *idx)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return unexpected(p, "a value");
    unsigned c = p->s[p->pos];
    int rc;
    switch (c) {
    case '{': return parse_container(p, depth, 1, idx);
    case '[': return parse_container(p, depth, 0, idx);
    case 't': return literal(p, "true", JSON_TRUE, idx);
    case 'f': return literal(p, "false", JSON_FALSE, idx);
    case 'n': return literal(p, "null", JSON_NULL, idx);
    case '"': {
        size_t off, n;
        if ((rc = new_val(p, JSON_STRING, idx)) != 0)
            return rc;
        if ((rc = parse_string(p, &off, &n)) != 0)
            return rc;
        p->doc->vals[*idx].str = p->doc->strbuf + off;
        p->doc->vals[*idx].len = n;
        return 0;
    }
    default:
        if (c == '-' || is_digit(c)) {
            double v;
            if ((rc = new_val(p, JSON_NUMBER, idx)) != 0)
                return rc;
            if ((rc = parse_number(p, &v)) != 0)
                return rc;
            p->doc->vals[*idx].num = v;
            return 0;
        }
        return unexpected(p, "a value");
    }
}

int json_parse(const char *text, size_t len, const json_limits_t *lim, json_doc_t **out, err_t *err)
{
    if (!out || (!text && len))
        return err_set(err, ERR_INVAL, "json_parse: NULL argument");
    *out = NULL;
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : (size_t)64 << 20;
    parser_t p = {
        .s = (const unsigned char *)text, .len = len, .pos = 0, .err = err,
        .max_depth = lim && lim->max_depth ? lim->max_depth : 64,
        .max_values = lim && lim->max_values ? lim->max_values : 4u << 20,
    };
    if (len > max_bytes)
        return fail(&p, ERR_RANGE, 0, "input of %zu bytes exceeds the limit of %zu", len, max_bytes);
    json_doc_t *d = calloc(1, sizeof *d);
    if (!d)
        return err_set(err, ERR_NOMEM, "json_parse: out of memory");
    d->strbuf = malloc(len + 1);
    if (!d->strbuf) {
        free(d);
        return err_set(err, ERR_NOMEM, "json_parse: out of memory for %zu bytes", len + 1);
    }
    p.doc = d;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p.pos = 3;
    uint32_t root;
    int rc = parse_value(&p, 0, &root);
    if (rc == 0) {
        skip_ws(&p);
        if (p.pos != p.len)
            rc = unexpected(&p, "end of input after the JSON value");
    }
    if (rc) {
        json_doc_destroy(&d);
        return rc;
    }
    *out = d;
    return 0;
}

void json_doc_destroy(json_doc_t **doc)
{
    if (!doc || !*doc)
        return;
    free((*doc)->vals);
    free((*doc)->strbuf);
    free(*doc);
    *doc = NULL;
}

const json_val_t *json_root(const json_doc_t *doc)
{
    return doc && doc->n_vals ? &doc->vals[0] : NULL;
}

const json_val_t *json_first(const json_doc_t *doc, const json_val_t *v)
{
    if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT) || v->first == NONE)
        return NULL;
    return &doc->vals[v->first];
}

const json_val_t *json_next(const json_doc_t *doc, const json_val_t *v)
{
    return v && v->next != NONE ? &doc->vals[v->next] : NULL;
}

const json_val_t *json_get(const json_doc_t *doc, const json_val_t *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (const json_val_t *m = json_first(doc, obj); m; m = json_next(doc, m))
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    return NULL;
}

const char *json_type_name(json_type_t t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE: return "false";
    case JSON_TRUE: return "true";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}
