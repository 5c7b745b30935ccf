/*
 * err.h — the project's one error vocabulary.
 *
 * Every fallible library function returns 0 on success or a negative ERR_* code,
 * and, when the caller passes a non-NULL err_t, records a human-readable message
 * naming what failed, the value seen and the bound it broke.  Only main() turns
 * an error into an exit status; library code never exits, aborts or asserts on
 * input.  The code list is one X-macro table that yields the enum, the names and
 * the default messages, so the three can never drift apart.
 */
#ifndef LL_UTIL_ERR_H
#define LL_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define ERR_CODE_MAP(X)                                                  \
    X(INVAL,    -1, "invalid argument")                                  \
    X(NOMEM,    -2, "out of memory")                                     \
    X(IO,       -3, "input/output error")                                \
    X(FORMAT,   -4, "malformed input")                                   \
    X(RANGE,    -5, "value out of range")                                \
    X(UNSUP,    -6, "unsupported feature")                               \
    X(NOTFOUND, -7, "not found")                                         \
    X(TIMEOUT,  -8, "timed out")                                         \
    X(PROTO,    -9, "protocol error")                                    \
    X(STATE,   -10, "invalid state")

enum {
    ERR_OK = 0,
#define ERR_ENUM_ENTRY(name, value, text) ERR_##name = (value),
    ERR_CODE_MAP(ERR_ENUM_ENTRY)
#undef ERR_ENUM_ENTRY
};

#define ERR_MSG_LEN 512

/* What failed, in words.  Caller-owned; pass NULL where the detail is not wanted. */
typedef struct {
    int code;                 /* the ERR_* code of the last failure, 0 if none */
    char msg[ERR_MSG_LEN];    /* e.g. "tensor 'blk.0.attn_q.weight': offset 123 + size 4096 exceeds file size 2048" */
} err_t;

/* Clears an error record (code 0, empty message). Accepts NULL. */
void err_clear(err_t *err);

/* Records code and a printf-style message into err (if non-NULL) and returns code,
 * so call sites can write `return err_set(err, ERR_FORMAT, "...", ...);`. */
int err_set(err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to an existing message (for adding the file name or the
 * calling layer's view). Returns err->code, or ERR_INVAL when err is NULL. */
int err_prefix(err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "ERR_FORMAT" and "malformed input" for a code; "ERR_UNKNOWN"/"unknown error" otherwise. */
const char *err_name(int code);
const char *err_text(int code);

#endif
