/*
 * serve_client.h — a minimal HTTP/1.0 GET client for `lingua status`:
 * plain TCP (POSIX sockets), bounded in time and size, http:// URLs only.
 */
#ifndef LL_SERVE_SERVE_CLIENT_H
#define LL_SERVE_SERVE_CLIENT_H

#include <stddef.h>

#include "util/err.h"

/* GETs path from url (http://HOST[:PORT][/...], the URL's own path is
 * ignored).  On success *body is malloc'd and NUL-terminated (caller frees),
 * *status the HTTP status.  Errors: ERR_INVAL (URL), ERR_IO (connect, read),
 * ERR_TIMEOUT, ERR_RANGE (a reply over max_bytes), ERR_PROTO (not HTTP). */
int serve_http_get(const char *url, const char *path, int timeout_ms, size_t max_bytes, char **body, size_t *len,
                   int *status, err_t *err);

/* Parses the head of an HTTP/1.x reply in buf[0..len) (need not be
 * NUL-terminated): the status line "HTTP/1.D NNN ..." with NNN in 100..599,
 * and the blank line ending the headers.  On success *status is NNN and
 * *body_off the offset of the body.  ERR_PROTO naming what is missing otherwise. */
int serve_http_parse_reply(const char *buf, size_t len, int *status, size_t *body_off, err_t *err);

#endif
