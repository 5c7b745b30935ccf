/*
 * serve_text.h — the text of a generation as it grows token by token, cut at
 * stop strings, and how much of it is safe to hand out yet.
 *
 * A piece is appended per token.  When a stop string appears, the text is cut
 * where it starts and no more is accepted.  serve_text_ready() is the number
 * of bytes that can be sent now: it holds back a tail that could still become
 * a stop string, and an incomplete UTF-8 sequence at the end (the next token
 * may complete it), unless the generation has finished.  Used by the HTTP
 * service's jobs and by `lingua chat`.  Caller-owned storage; not thread-safe
 * on its own (the service guards it with its mutex).
 */
#ifndef LL_SERVE_SERVE_TEXT_H
#define LL_SERVE_SERVE_TEXT_H

#include <stddef.h>

#define SERVE_TEXT_MAX_STOPS 8

typedef struct {
    char *s;                 /* NUL-terminated */
    size_t len, cap;
    const char *stops[SERVE_TEXT_MAX_STOPS];   /* borrowed */
    int n_stops;
    int stopped;             /* a stop string was found (s ends before it) */
} serve_text_t;

void serve_text_init(serve_text_t *t);
void serve_text_fini(serve_text_t *t);
/* Adds a stop string (ignored when empty or when the table is full). */
void serve_text_add_stop(serve_text_t *t, const char *stop);
/* Appends piece[0..n); returns 1 when this made a stop string appear, 0 otherwise,
 * -1 when out of memory.  After a stop nothing more is appended. */
int serve_text_append(serve_text_t *t, const char *piece, size_t n);
/* Bytes of s that can be delivered now (all of them once final). */
size_t serve_text_ready(const serve_text_t *t, int final);

#endif
