/*
 * json_read.h — reading JSON text (RFC 8259) into a small immutable tree.
 *
 * The text is treated as hostile: the parser checks every byte against the
 * grammar, bounds the nesting depth, the number of values and the input size
 * before allocating, validates the UTF-8 of strings (and of \u escapes,
 * surrogate pairs included), and refuses numbers that overflow a double.  Each
 * error names the byte offset where parsing stopped and what was expected
 * there.  The parser is recursive descent; the depth limit bounds the stack.
 *
 * A parsed document owns one array of values and one buffer of decoded,
 * NUL-terminated strings; pointers into them stay valid until
 * json_doc_destroy().  Children of an array or object are reached with
 * json_first()/json_next() (values are linked, not indexed).  Duplicate object
 * keys are kept in order; json_get() returns the first — callers that must
 * refuse duplicates walk the members themselves.  The writer is json.h.
 */
#ifndef LL_UTIL_JSON_READ_H
#define LL_UTIL_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum {
    JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT,
} json_type_t;

typedef struct {
    json_type_t type;
    uint32_t n;          /* array/object: number of elements/members */
    uint32_t first;      /* array/object: index of the first child, UINT32_MAX if none */
    uint32_t next;       /* index of the next sibling, UINT32_MAX if last */
    size_t offset;       /* byte offset of the value's first byte in the text */
    double num;          /* JSON_NUMBER: the value (finite) */
    const char *str;     /* JSON_STRING: decoded UTF-8, NUL-terminated (may hold NUL bytes) */
    size_t len;          /* JSON_STRING: bytes in str, without the terminator */
    const char *key;     /* member of an object: its decoded key, else NULL */
    size_t key_len;
} json_val_t;

typedef struct {
    size_t max_bytes;    /* longest accepted text; 0 means 64 MiB */
    uint32_t max_depth;  /* deepest nesting of arrays/objects; 0 means 64 */
    uint32_t max_values; /* most values in the document; 0 means 4 Mi */
} json_limits_t;

typedef struct json_doc json_doc_t;

/* Parses text[0..len) (need not be NUL-terminated; a leading UTF-8 BOM is
 * skipped; only whitespace may follow the top-level value).  lim may be NULL
 * for the defaults.  On success *out owns the tree (free with
 * json_doc_destroy) and 0 is returned.  Errors: ERR_FORMAT (syntax, bad UTF-8,
 * number overflow), ERR_RANGE (a limit exceeded), ERR_NOMEM; err's message
 * starts with "byte N: ". */
int json_parse(const char *text, size_t len, const json_limits_t *lim, json_doc_t **out, err_t *err);

/* Frees the document, NULLs *doc; accepts NULL and a NULL *doc. */
void json_doc_destroy(json_doc_t **doc);

/* The top-level value (never NULL for a parsed document). */
const json_val_t *json_root(const json_doc_t *doc);
/* First child of an array/object, or NULL (empty, or not a container). */
const json_val_t *json_first(const json_doc_t *doc, const json_val_t *v);
/* Next sibling inside the same container, or NULL. */
const json_val_t *json_next(const json_doc_t *doc, const json_val_t *v);
/* The first member of object obj named key, or NULL (absent, or obj not an object). */
const json_val_t *json_get(const json_doc_t *doc, const json_val_t *obj, const char *key);

/* "null", "false", "true", "number", "string", "array", "object". */
const char *json_type_name(json_type_t t);

#endif
