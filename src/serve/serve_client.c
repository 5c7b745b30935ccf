/*
 * serve_client.c — HTTP/1.0 GET over a TCP socket (see serve_client.h).  The
 * request asks the server to close the connection, so the reply ends at EOF;
 * every wait is a poll() against one deadline.
 */
#include "serve/serve_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"

static int connect_to(const char *host, const char *port, int timeout_ms, err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return err_set(err, ERR_IO, "cannot resolve '%s'", host);
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err_set(err, ERR_IO, "cannot connect to %s:%s: %s (is `lingua serve` running?)", host, port,
                       strerror(errno));
    return fd;
}

int serve_http_parse_reply(const char *buf, size_t len, int *status, size_t *body_off, err_t *err)
{
    const unsigned char *b = (const unsigned char *)buf;
    if (len < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[7] < '0' || b[7] > '9' || b[8] != ' ')
        return err_set(err, ERR_PROTO, "the reply does not start with an HTTP/1.x status line");
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (b[i] < '0' || b[i] > '9')
            return err_set(err, ERR_PROTO, "the status code is not three digits");
        code = code * 10 + (b[i] - '0');
    }
    if (code < 100 || code > 599 || (len > 12 && b[12] != ' ' && b[12] != '\r'))
        return err_set(err, ERR_PROTO, "status code %d out of 100..599 or not followed by a space", code);
    for (size_t i = 12; i + 4 <= len; i++)
        if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
            *status = code;
            *body_off = i + 4;
            return 0;
        }
    return err_set(err, ERR_PROTO, "the reply's headers do not end (no blank line)");
}

int serve_http_get(const char *url, const char *path, int timeout_ms, size_t max_bytes, char **body, size_t *len,
                   int *status, err_t *err)
{
    *body = NULL;
    *len = 0;
    if (strncmp(url, "http://", 7) != 0)
        return err_set(err, ERR_INVAL, "URL '%s': only http://HOST[:PORT] is supported", url);
    char host[256], port[16] = "80";
    const char *h = url + 7, *end = h + strcspn(h, ":/");
    if (end == h || (size_t)(end - h) >= sizeof host)
        return err_set(err, ERR_INVAL, "URL '%s': no host", url);
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    if (*end == ':') {
        size_t n = strcspn(end + 1, "/");
        if (n == 0 || n >= sizeof port || strspn(end + 1, "0123456789") != n)
            return err_set(err, ERR_INVAL, "URL '%s': bad port", url);
        memcpy(port, end + 1, n);
        port[n] = '\0';
    }
    int fd = connect_to(host, port, timeout_ms, err);
    if (fd < 0)
        return fd;
    char req[600];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return err_set(err, ERR_IO, "cannot send the request to %s:%s", host, port);
    }
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap + 1);
    double deadline = clock_now() + timeout_ms / 1000.0;
    int rc = buf ? 0 : err_set(err, ERR_NOMEM, "out of memory");
    while (rc == 0) {
        int left = (int)((deadline - clock_now()) * 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            rc = err_set(err, ERR_TIMEOUT, "no complete reply from %s within %d ms", url, timeout_ms);
            break;
        }
        if (got == cap) {
            if (cap >= max_bytes) {
                rc = err_set(err, ERR_RANGE, "the reply from %s exceeds %zu bytes", url, max_bytes);
                break;
            }
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                rc = err_set(err, ERR_NOMEM, "out of memory");
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + got, cap - got, 0);
        if (r == 0)
            break;
        if (r < 0) {
            rc = err_set(err, ERR_IO, "reading from %s: %s", url, strerror(errno));
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[got] = '\0';
    int code = 0;
    size_t off = 0;
    if ((rc = serve_http_parse_reply(buf, got, &code, &off, err)) != 0) {
        free(buf);
        return err_prefix(err, "%s", url);
    }
    memmove(buf, buf + off, got - off + 1);
    *body = buf;
    *len = got - off;
    *status = code;
    return 0;
}
