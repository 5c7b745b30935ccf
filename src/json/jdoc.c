/*
 * jdoc.c — hostile-input checks around cJSON's parser, and the writers (see
 * jdoc.h).  The pre-scan walks the text once, tracking whether it is inside a
 * string, to bound the depth and to find "\u0000" before cJSON recurses or
 * truncates; cJSON then checks the grammar, and the tree walk after it refuses
 * non-finite numbers (a second scan finds the literal's offset for the message).
 */
#include "json/jdoc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

/* Depth bound and NUL escapes, outside cJSON. */
static int prescan(const unsigned char *s, size_t len, int max_depth, err_t *err)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '\\' && i + 1 < len) {
                if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
                    return err_set(err, ERR_FORMAT, "byte %zu: \\u0000 inside a string is not accepted", i);
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return err_set(err, ERR_RANGE, "byte %zu: nesting deeper than %d", i, max_depth);
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/* Offset of the first number literal (outside strings) that overflows a double, or len. */
static size_t overflow_at(const unsigned char *s, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_str = 0;
        } else if (s[i] == '"') {
            in_str = 1;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            size_t k = i;
            while (k < len && strchr("+-.eE0123456789", s[k]))
                k++;
            char num[512];
            size_t n = k - i < sizeof num - 1 ? k - i : sizeof num - 1;
            memcpy(num, s + i, n);
            num[n] = '\0';
            if (!isfinite(strtod(num, NULL)))
                return i;
            i = k - 1;
        }
    }
    return len;
}

static int has_nonfinite(const cJSON *v)
{
    for (; v; v = v->next)
        if ((cJSON_IsNumber(v) && !isfinite(v->valuedouble)) || (v->child && has_nonfinite(v->child)))
            return 1;
    return 0;
}

int jdoc_parse(const char *text, size_t len, const jdoc_limits_t *lim, cJSON **out, err_t *err)
{
    *out = NULL;
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : (size_t)64 << 20;
    int max_depth = lim && lim->max_depth ? lim->max_depth : 64;
    if (max_depth > 900)
        max_depth = 900;   /* below cJSON's own CJSON_NESTING_LIMIT */
    if (len > max_bytes)
        return err_set(err, ERR_RANGE, "byte 0: %zu bytes of JSON exceeds the limit of %zu", len, max_bytes);
    const unsigned char *s = (const unsigned char *)text;
    size_t skip = len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    size_t bad = utf8_first_invalid(s + skip, len - skip);
    if (bad < len - skip)
        return err_set(err, ERR_FORMAT, "byte %zu: invalid UTF-8 (0x%02x)", bad + skip, s[bad + skip]);
    if (memchr(s, 0, len))
        return err_set(err, ERR_FORMAT, "byte %zu: NUL byte in JSON text",
                       (size_t)((const unsigned char *)memchr(s, 0, len) - s));
    int rc = prescan(s + skip, len - skip, max_depth, err);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text + skip, len - skip, &end, 0);
    if (!root) {
        size_t at = end && end >= text + skip && end <= text + len ? (size_t)(end - text) : 0;
        if (at >= len)
            return err_set(err, ERR_FORMAT, "byte %zu: malformed JSON (unexpected end of input)", len);
        unsigned char c = s[at];
        if (c >= 0x20 && c < 0x7f)
            return err_set(err, ERR_FORMAT, "byte %zu: malformed JSON at '%c'", at, c);
        return err_set(err, ERR_FORMAT, "byte %zu: malformed JSON at byte 0x%02x", at, c);
    }
    /* cJSON stops after the first value; only whitespace may follow. */
    size_t at = (size_t)(end - text);
    while (at < len && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r'))
        at++;
    if (at < len) {
        cJSON_Delete(root);
        return err_set(err, ERR_FORMAT, "byte %zu: expected end of input after the value", at);
    }
    if (has_nonfinite(root)) {   /* cJSON turned an overflowing literal into infinity */
        cJSON_Delete(root);
        return err_set(err, ERR_FORMAT, "byte %zu: a number overflows a double", overflow_at(s, len));
    }
    *out = root;
    return 0;
}

const char *jdoc_type_name(const cJSON *v)
{
    if (!v)
        return "nothing";
    switch (v->type & 0xff) {
    case cJSON_NULL: return "null";
    case cJSON_False: return "false";
    case cJSON_True: return "true";
    case cJSON_Number: return "number";
    case cJSON_String: return "string";
    case cJSON_Array: return "array";
    case cJSON_Object: return "object";
    default: return "invalid";
    }
}

cJSON *jdoc_text(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    char *buf = malloc(len * 3 + 1);   /* one bad byte becomes 3 bytes of U+FFFD */
    if (!buf)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t n = s[i] ? utf8_seq_len(s + i, len - i) : 0;
        if (n == 0) {
            memcpy(buf + w, "\xef\xbf\xbd", 3);   /* U+FFFD; a NUL is replaced too */
            w += 3;
            i++;
            continue;
        }
        memcpy(buf + w, s + i, n);
        w += n;
        i += n;
    }
    buf[w] = '\0';
    cJSON *item = cJSON_CreateString(buf);
    free(buf);
    return item;
}

cJSON *jdoc_add_text(cJSON *obj, const char *key, const char *s, size_t len)
{
    cJSON *item = jdoc_text(s ? s : "", s ? len : 0);
    if (item && !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

cJSON *jdoc_i32_array(const int32_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateNumber(v[i]);
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

cJSON *jdoc_number(double v)
{
    if (!isfinite(v))
        return cJSON_CreateNull();
    /* The shortest of %.15g/%.17g that reads back as exactly v (cJSON's own
     * printer accepts a near miss, so 0.1 + 0.2 would come back as 0.3). */
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

cJSON *jdoc_add_number(cJSON *obj, const char *key, double v)
{
    cJSON *item = jdoc_number(v);
    if (item && !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

char *jdoc_print(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}

int jdoc_write(FILE *f, const cJSON *v)
{
    char *s = jdoc_print(v);
    if (!s)
        return -1;
    int rc = fputs(s, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
    free(s);
    return rc;
}
