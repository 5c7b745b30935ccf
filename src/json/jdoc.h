/*
 * jdoc.h — the project's JSON layer on cJSON (Debian libcjson-dev): reading
 * hostile text into a cJSON tree, typed access that names the field by path,
 * and writing text that is always valid JSON.
 *
 * Reading (jdoc_parse) treats the text as hostile: the size is bounded before
 * anything is allocated; the whole text must be valid UTF-8 and must not
 * contain "\u0000" (cJSON strings are NUL-terminated, a NUL would silently cut
 * them); the nesting depth is bounded by a scan before cJSON recurses; after
 * parsing, every number must be finite (cJSON turns 1e999 into infinity).
 * Every error message starts with "byte N: " naming where the text went wrong.
 *
 * Writing: jdoc_add_text adds a string member whose bytes that are not valid
 * UTF-8 are replaced by U+FFFD (token pieces can split a character; cJSON
 * would copy the bytes as they are).  jdoc_print writes a tree as one line.
 *
 * Ownership: trees are cJSON's (free with cJSON_Delete); nothing here keeps state.
 */
#ifndef LL_JSON_JDOC_H
#define LL_JSON_JDOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "util/err.h"

typedef struct {
    size_t max_bytes;    /* longest accepted text; 0 means 64 MiB */
    int max_depth;       /* deepest nesting of arrays/objects; 0 means 64 (at most 900) */
} jdoc_limits_t;

/* Parses text[0..len) (need not be NUL-terminated; a leading UTF-8 BOM is
 * skipped; only whitespace may follow the top-level value).  lim may be NULL.
 * On success *out owns the tree.  Errors: ERR_FORMAT (syntax, UTF-8, NUL,
 * non-finite number), ERR_RANGE (a limit), ERR_NOMEM. */
int jdoc_parse(const char *text, size_t len, const jdoc_limits_t *lim, cJSON **out, err_t *err);

/* "null", "false", "true", "number", "string", "array", "object" ("invalid" otherwise). */
const char *jdoc_type_name(const cJSON *v);

/* Adds key: "text" to obj with invalid UTF-8 replaced; returns the new item or NULL (out of memory). */
cJSON *jdoc_add_text(cJSON *obj, const char *key, const char *s, size_t len);
/* A string item made the same way. */
cJSON *jdoc_text(const char *s, size_t len);
/* An array of integers. */
cJSON *jdoc_i32_array(const int32_t *v, size_t n);
/* A number printed so that it reads back exactly; NaN and infinities become null.
 * (The item is cJSON raw text: it prints, but is not cJSON_IsNumber.) */
cJSON *jdoc_number(double v);
/* Adds jdoc_number(v) to obj. */
cJSON *jdoc_add_number(cJSON *obj, const char *key, double v);

/* The tree as one line of text (caller frees with free()), or NULL (out of memory). */
char *jdoc_print(const cJSON *v);
/* Writes the tree as one line plus newline to f; -1 on failure. */
int jdoc_write(FILE *f, const cJSON *v);

#endif
