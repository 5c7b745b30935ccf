/*
 * transport.c — libzmq sockets, sending and receiving msg_t; the contract is in
 * transport.h.  Owns no state beyond what the caller passes: sockets are the
 * caller's (void * from libzmq), frame sets and counters are caller storage.
 * Encoding uses a MSG_BODY_MAX stack buffer, so sending allocates nothing here
 * (libzmq still allocates its own frames for copies larger than 33 bytes).
 */
#include "net/transport.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void net_opts_default(net_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->linger_ms = NET_DEFAULT_LINGER_MS;
    o->send_timeout_ms = NET_DEFAULT_SEND_TIMEOUT_MS;
    o->hwm = 0;
    o->max_msg_bytes = NET_DEFAULT_MAX_MSG_BYTES;
}

int64_t net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- context and sockets ---- */

int net_ctx_create(void **ctx, err_t *err)
{
    if (!ctx)
        return err_set(err, ERR_INVAL, "net_ctx_create: NULL argument");
    *ctx = zmq_ctx_new();
    if (!*ctx)
        return err_set(err, ERR_IO, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    return 0;
}

void net_ctx_destroy(void **ctx)
{
    if (!ctx || !*ctx)
        return;
    while (zmq_ctx_term(*ctx) != 0 && zmq_errno() == EINTR) {
    }
    *ctx = NULL;
}

void net_close(void **sock)
{
    if (!sock || !*sock)
        return;
    zmq_close(*sock);
    *sock = NULL;
}

static int set_int(void *s, int opt, int v, const char *name, err_t *err)
{
    if (zmq_setsockopt(s, opt, &v, sizeof v) != 0)
        return err_set(err, ERR_IO, "zmq_setsockopt(%s, %d): %s", name, v, zmq_strerror(zmq_errno()));
    return 0;
}

/* A socket of the given type with the common options and, when opts ask for it,
 * CURVE in the server (binding) or client (connecting) role. */
static int make_socket(void *ctx, int type, const net_opts_t *o, bool server, void **out, err_t *err)
{
    *out = NULL;
    if (!ctx)
        return err_set(err, ERR_INVAL, "net: NULL context");
    net_opts_t defaults;
    if (!o) {
        net_opts_default(&defaults);
        o = &defaults;
    }
    if (o->curve && !server && !o->curve_server_key)
        return err_set(err, ERR_INVAL, "net: a CURVE client socket needs the server's public key");
    void *s = zmq_socket(ctx, type);
    if (!s)
        return err_set(err, ERR_IO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int rc = set_int(s, ZMQ_LINGER, o->linger_ms, "ZMQ_LINGER", err);
    if (!rc)
        rc = set_int(s, ZMQ_SNDTIMEO, o->send_timeout_ms, "ZMQ_SNDTIMEO", err);
    if (!rc && o->hwm > 0)
        rc = set_int(s, ZMQ_SNDHWM, o->hwm, "ZMQ_SNDHWM", err);
    if (!rc && o->hwm > 0)
        rc = set_int(s, ZMQ_RCVHWM, o->hwm, "ZMQ_RCVHWM", err);
    if (!rc && zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &o->max_msg_bytes, sizeof o->max_msg_bytes) != 0)
        rc = err_set(err, ERR_IO, "zmq_setsockopt(ZMQ_MAXMSGSIZE): %s", zmq_strerror(zmq_errno()));
    if (!rc && o->curve)
        rc = server ? sec_server_apply(s, o->curve, err) : sec_client_apply(s, o->curve, o->curve_server_key, err);
    if (rc) {
        zmq_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int finish(void *s, const char *endpoint, bool bind, void **sock, err_t *err)
{
    if (!endpoint) {
        zmq_close(s);
        return err_set(err, ERR_INVAL, "net: NULL endpoint");
    }
    if ((bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) != 0) {
        int e = zmq_errno();
        zmq_close(s);
        return err_set(err, ERR_IO, "%s %s: %s", bind ? "bind" : "connect", endpoint, zmq_strerror(e));
    }
    *sock = s;
    return 0;
}

int net_router_bind(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_router_bind: NULL argument");
    *sock = NULL;
    void *s;
    int rc = make_socket(ctx, ZMQ_ROUTER, o, true, &s, err);
    if (rc)
        return rc;
    rc = set_int(s, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY", err);
    if (!rc)
        rc = set_int(s, ZMQ_ROUTER_HANDOVER, 1, "ZMQ_ROUTER_HANDOVER", err);
    if (rc) {
        zmq_close(s);
        return rc;
    }
    return finish(s, endpoint, true, sock, err);
}

int net_dealer_connect(void *ctx, const char *endpoint, const void *id, size_t id_len, const net_opts_t *o,
                       void **sock, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_dealer_connect: NULL argument");
    *sock = NULL;
    if (!id || id_len < 1 || id_len > NET_MAX_ID || ((const uint8_t *)id)[0] == 0)
        return err_set(err, ERR_INVAL, "net_dealer_connect: routing id of %zu bytes; want 1..%d, first byte not 0",
                       id ? id_len : 0, NET_MAX_ID);
    void *s;
    int rc = make_socket(ctx, ZMQ_DEALER, o, false, &s, err);
    if (rc)
        return rc;
    if (zmq_setsockopt(s, ZMQ_ROUTING_ID, id, id_len) != 0) {
        int e = zmq_errno();
        zmq_close(s);
        return err_set(err, ERR_IO, "zmq_setsockopt(ZMQ_ROUTING_ID): %s", zmq_strerror(e));
    }
    return finish(s, endpoint, false, sock, err);
}

int net_pull_bind(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_pull_bind: NULL argument");
    *sock = NULL;
    void *s;
    int rc = make_socket(ctx, ZMQ_PULL, o, true, &s, err);
    if (rc)
        return rc;
    return finish(s, endpoint, true, sock, err);
}

int net_push_connect(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_push_connect: NULL argument");
    *sock = NULL;
    void *s;
    int rc = make_socket(ctx, ZMQ_PUSH, o, false, &s, err);
    if (rc)
        return rc;
    return finish(s, endpoint, false, sock, err);
}

int net_push_create(void *ctx, const net_opts_t *o, void **sock, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_push_create: NULL argument");
    *sock = NULL;
    return make_socket(ctx, ZMQ_PUSH, o, false, sock, err);
}

int net_connect(void *sock, const char *endpoint, err_t *err)
{
    if (!sock || !endpoint)
        return err_set(err, ERR_INVAL, "net_connect: NULL argument");
    if (zmq_connect(sock, endpoint) != 0)
        return err_set(err, ERR_IO, "connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

int net_endpoint(void *sock, char *buf, size_t cap, err_t *err)
{
    if (!sock || !buf || cap == 0)
        return err_set(err, ERR_INVAL, "net_endpoint: NULL argument");
    size_t len = cap;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, buf, &len) != 0)
        return err_set(err, ERR_RANGE, "ZMQ_LAST_ENDPOINT: %s (buffer of %zu bytes)", zmq_strerror(zmq_errno()),
                       cap);
    return 0;
}

static int socket_type(void *sock)
{
    int type = -1;
    size_t len = sizeof type;
    if (zmq_getsockopt(sock, ZMQ_TYPE, &type, &len) != 0)
        return -1;
    return type;
}

/* ---- sending ---- */

/* Maps a failed zmq send to our codes. */
static int send_error(const char *what, const void *peer, size_t peer_len, err_t *err)
{
    int e = zmq_errno();
    if (e == EHOSTUNREACH)
        return err_set(err, ERR_NOTFOUND, "send %s: peer '%.*s' is not connected", what,
                       (int)(peer_len > 64 ? 64 : peer_len), peer ? (const char *)peer : "");
    if (e == EAGAIN)
        return err_set(err, ERR_TIMEOUT, "send %s: queue full until the send timeout", what);
    return err_set(err, ERR_IO, "send %s: %s", what, zmq_strerror(e));
}

static int send_msg(void *sock, const void *peer, size_t peer_len, const msg_t *m, net_free_fn *free_fn, void *hint,
                    err_t *err)
{
    uint8_t body[MSG_BODY_MAX];
    msg_wire_t w;
    int rc = 0;
    int type = socket_type(sock);
    if (!m)
        rc = err_set(err, ERR_INVAL, "net_send: NULL message");
    else if (type == ZMQ_ROUTER && (!peer || peer_len == 0 || peer_len > NET_MAX_ID))
        rc = err_set(err, ERR_INVAL, "net_send: a ROUTER send needs a routing id of 1..%d bytes", NET_MAX_ID);
    else if (type != ZMQ_ROUTER && peer)
        rc = err_set(err, ERR_INVAL, "net_send: a routing id is only for ROUTER sockets");
    else if (type < 0)
        rc = err_set(err, ERR_INVAL, "net_send: not a socket: %s", zmq_strerror(zmq_errno()));
    if (!rc)
        rc = msg_encode(m, body, sizeof body, &w, err);
    if (rc) {
        if (free_fn && m)
            free_fn((void *)m->data, hint);
        return rc;
    }
    const char *tn = msg_type_name(m->type);
    bool zc_data = free_fn && w.n_payload == 2 && w.data_len > 0;
    if (peer && zmq_send(sock, peer, peer_len, ZMQ_SNDMORE) < 0)
        rc = send_error(tn, peer, peer_len, err);
    if (!rc && zmq_send(sock, w.hdr, MSG_HDR_SIZE, ZMQ_SNDMORE) < 0)
        rc = send_error(tn, peer, peer_len, err);
    if (!rc && zmq_send(sock, w.body, w.body_len, w.n_payload == 2 ? ZMQ_SNDMORE : 0) < 0)
        rc = send_error(tn, peer, peer_len, err);
    if (!rc && w.n_payload == 2 && !zc_data && zmq_send(sock, w.data, w.data_len, 0) < 0)
        rc = send_error(tn, peer, peer_len, err);
    if (free_fn && !zc_data)
        free_fn((void *)m->data, hint);   /* nothing was handed to libzmq: the buffer is free now */
    if (!zc_data)
        return rc;
    if (rc) {
        free_fn((void *)w.data, hint);
        return rc;
    }
    zmq_msg_t dm;
    if (zmq_msg_init_data(&dm, (void *)w.data, w.data_len, free_fn, hint) != 0) {
        free_fn((void *)w.data, hint);
        return err_set(err, ERR_NOMEM, "send %s: zmq_msg_init_data failed", tn);
    }
    if (zmq_msg_send(&dm, sock, 0) < 0) {
        rc = send_error(tn, peer, peer_len, err);
        zmq_msg_close(&dm);   /* calls free_fn */
    }
    return rc;
}

int net_send(void *sock, const void *peer, size_t peer_len, const msg_t *m, err_t *err)
{
    if (!sock)
        return err_set(err, ERR_INVAL, "net_send: NULL socket");
    return send_msg(sock, peer, peer_len, m, NULL, NULL, err);
}

int net_send_zc(void *sock, const void *peer, size_t peer_len, const msg_t *m, net_free_fn *free_fn, void *hint,
                err_t *err)
{
    if (!free_fn)
        return err_set(err, ERR_INVAL, "net_send_zc: NULL free function");
    if (!sock) {
        free_fn(m ? (void *)m->data : NULL, hint);
        return err_set(err, ERR_INVAL, "net_send_zc: NULL socket");
    }
    return send_msg(sock, peer, peer_len, m, free_fn, hint, err);
}

/* ---- receiving ---- */

void net_rx_init(net_rx_t *rx)
{
    for (size_t i = 0; i < 1 + MSG_MAX_FRAMES; i++)
        zmq_msg_init(&rx->part[i]);
    zmq_msg_init(&rx->spill);
    rx->n_parts = 0;
    rx->peer_len = 0;
    rx->peer_fd = -1;
}

void net_rx_fini(net_rx_t *rx)
{
    if (!rx)
        return;
    for (size_t i = 0; i < 1 + MSG_MAX_FRAMES; i++)
        zmq_msg_close(&rx->part[i]);
    zmq_msg_close(&rx->spill);
    rx->n_parts = 0;
    rx->peer_len = 0;
    rx->peer_fd = -1;
}

const char *net_rx_user_id(net_rx_t *rx)
{
    if (!rx || rx->n_parts == 0)
        return NULL;
    const char *id = zmq_msg_gets(&rx->part[rx->n_parts - 1], "User-Id");
    return id && id[0] ? id : NULL;
}

int net_wait(void *const *socks, size_t n, int timeout_ms, uint32_t *ready, err_t *err)
{
    if (!socks || !ready || n == 0 || n > 32 || timeout_ms < 0)
        return err_set(err, ERR_INVAL, "net_wait: %zu sockets, timeout %d ms; want 1..32 and >= 0", n, timeout_ms);
    zmq_pollitem_t items[32];
    for (size_t i = 0; i < n; i++)
        items[i] = (zmq_pollitem_t){socks[i], 0, ZMQ_POLLIN, 0};
    int64_t deadline = net_now_ms() + timeout_ms;
    *ready = 0;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        int rc = zmq_poll(items, (int)n, left > 0 ? (long)left : 0);
        if (rc > 0)
            break;
        if (rc == 0 && left <= 0)
            return err_set(err, ERR_TIMEOUT, "no message within %d ms", timeout_ms);
        if (rc < 0 && zmq_errno() != EINTR)
            return err_set(err, ERR_IO, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        /* EINTR, or a poll that woke early: wait for the rest of the time. */
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].revents & ZMQ_POLLIN)
            *ready |= 1u << i;
    return 0;
}

/* Names the sender for an error message: the ROUTER id (printable or hex), else
 * the TCP peer address libzmq attaches to the frame. */
static void describe_sender(net_rx_t *rx, bool router, char *buf, size_t cap)
{
    if (router && rx->peer_len) {
        bool printable = true;
        for (size_t i = 0; i < rx->peer_len; i++)
            printable = printable && isprint(rx->peer[i]);
        if (printable) {
            snprintf(buf, cap, "'%.*s'", (int)rx->peer_len, (const char *)rx->peer);
            return;
        }
        size_t off = (size_t)snprintf(buf, cap, "id 0x");
        for (size_t i = 0; i < rx->peer_len && i < 16 && off + 3 < cap; i++)
            off += (size_t)snprintf(buf + off, cap - off, "%02x", rx->peer[i]);
        return;
    }
    const char *addr = rx->n_parts ? zmq_msg_gets(&rx->part[0], "Peer-Address") : NULL;
    snprintf(buf, cap, "%s", addr ? addr : "an unknown peer");
}

/* Receives every part of the pending message: the first MSG_MAX_FRAMES + 1 into
 * rx->part, the rest drained through rx->spill.  Returns the number of parts,
 * 0 when nothing was pending after all, -1 on a socket error. */
static long recv_parts(void *sock, net_rx_t *rx)
{
    long n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *m = n < 1 + MSG_MAX_FRAMES ? &rx->part[n] : &rx->spill;
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
            if (n == 0 && zmq_errno() == EAGAIN)
                return 0;
            if (zmq_errno() == EINTR)
                continue;
            return -1;
        }
        more = zmq_msg_more(m);
        n++;
    }
    return n;
}

int net_recv(void *sock, net_rx_t *rx, int timeout_ms, msg_t *out, net_stats_t *stats, err_t *err)
{
    if (!sock || !rx || !out || timeout_ms < 0)
        return err_set(err, ERR_INVAL, "net_recv: NULL argument or negative timeout %d", timeout_ms);
    bool router = socket_type(sock) == ZMQ_ROUTER;
    int64_t deadline = net_now_ms() + timeout_ms;
    long n;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        void *one[1] = {sock};
        uint32_t ready;
        int rc = net_wait(one, 1, left > 0 ? (int)left : 0, &ready, err);
        if (rc == ERR_TIMEOUT)
            return err_set(err, ERR_TIMEOUT, "no message within %d ms", timeout_ms);
        if (rc)
            return rc;
        n = recv_parts(sock, rx);
        if (n < 0)
            return err_set(err, ERR_IO, "zmq_msg_recv: %s", zmq_strerror(zmq_errno()));
        if (n > 0)
            break;
        /* Readable but nothing there (a spurious wake-up): wait again. */
    }
    size_t kept = (size_t)n < 1 + MSG_MAX_FRAMES ? (size_t)n : 1 + MSG_MAX_FRAMES;
    rx->n_parts = kept;
    rx->peer_len = 0;
    rx->peer_fd = -1;
    size_t first = 0;
    if (router) {
        rx->peer_len = zmq_msg_size(&rx->part[0]);
        if (rx->peer_len > NET_MAX_ID)
            rx->peer_len = NET_MAX_ID;
        memcpy(rx->peer, zmq_msg_data(&rx->part[0]), rx->peer_len);
        first = 1;
        if (kept > 1)   /* the fd rides on frames read from the wire, not on the routing id */
            rx->peer_fd = zmq_msg_get(&rx->part[1], ZMQ_SRCFD);
    }

    msg_fault_t fault = MSG_FAULT_NONE;
    int rc;
    if ((size_t)n > first + MSG_MAX_FRAMES) {
        fault = MSG_FAULT_FRAMES;
        rc = err_set(err, ERR_PROTO, "message has %ld frames, at most %d allowed", n - (long)first, MSG_MAX_FRAMES);
    } else {
        msg_frame_t fr[MSG_MAX_FRAMES];
        size_t nf = kept - first;
        for (size_t i = 0; i < nf; i++)
            fr[i] = (msg_frame_t){zmq_msg_data(&rx->part[first + i]), zmq_msg_size(&rx->part[first + i])};
        rc = msg_decode(fr, nf, out, &fault, err);
    }
    if (rc == 0) {
        if (stats)
            stats->received++;
        return 0;
    }
    if (stats && fault < MSG_FAULT_COUNT)
        stats->dropped[fault]++;
    if (err) {
        char who[96];
        describe_sender(rx, router, who, sizeof who);
        err_prefix(err, "message from %s dropped", who);
    }
    return ERR_PROTO;
}
