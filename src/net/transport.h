/*
 * transport.h — thin helpers over the plain libzmq C API: sockets in the roles
 * of DESIGN.md §5, sending a msg_t as one multipart message, and receiving one
 * with a timeout into a reusable frame set, validated by msg_decode.
 *
 * Roles.  Control: the coordinator binds a ROUTER (ZMQ_ROUTER_MANDATORY on, so a
 * send to an unknown peer fails with ERR_NOTFOUND instead of vanishing;
 * ZMQ_ROUTER_HANDOVER on, so a restarted worker reconnecting with its routing
 * id takes over the old connection); each worker connects a DEALER with a
 * stable routing id.  Data: push-based, no reply per hop — every worker binds
 * one PULL (its data endpoint, announced in HELLO) and a stage connects one PUSH
 * per destination endpoint (the next stage, each RDM consumer, the header for
 * TOKEN).  Never connect one PUSH to two endpoints: PUSH round-robins.  A PULL
 * fair-queues all its senders; messages say who they are (session, step,
 * value_id), and the sender's address is only used in error messages.
 *
 * Every socket gets ZMQ_LINGER (default 100 ms, so closing never hangs on a dead
 * peer), ZMQ_SNDTIMEO (a send blocked by a full queue returns ERR_TIMEOUT) and
 * ZMQ_MAXMSGSIZE (libzmq drops the connection of a peer announcing a larger
 * frame, before allocating it).  Every receive takes a timeout in ms (0 polls).
 *
 * Receiving.  net_rx_t holds the zmq_msg_t frames of the last message and is
 * reused: libzmq releases the previous content on the next receive, and nothing
 * here allocates per message.  A message that fails msg_decode (or has too many
 * frames, or a ROUTER message without an identity) is dropped: net_recv returns
 * ERR_PROTO naming the sender (ROUTER routing id, else the peer's address) and
 * counts the reason in the caller's net_stats_t.  The caller simply receives
 * again.  A decoded msg_t's data points into the net_rx_t and stays valid until
 * the next net_recv on it or net_rx_fini.
 *
 * Sending.  net_send copies header, body and data into libzmq's frames: the
 * caller may reuse m->data as soon as it returns.  net_send_zc hands m->data to
 * libzmq without copying; libzmq calls free_fn(data, hint) — from one of its I/O
 * threads — once the frame is sent or dropped, and the buffer must stay
 * unchanged until then.  free_fn is called exactly once, also when the send
 * fails.  Sockets are not thread-safe: one thread per socket (libzmq's rule).
 */
#ifndef LL_NET_TRANSPORT_H
#define LL_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "net/msg.h"
#include "net/security.h"
#include "util/err.h"

#define NET_DEFAULT_LINGER_MS 100
#define NET_DEFAULT_SEND_TIMEOUT_MS 5000
#define NET_DEFAULT_MAX_MSG_BYTES ((int64_t)1 << 30)  /* 1 GiB per frame */
#define NET_MAX_ID 255            /* routing id bytes (libzmq's limit) */
#define NET_ENDPOINT_MAX 256      /* endpoint text, with the NUL */

/* Socket options; net_opts_default fills the defaults, NULL means defaults. */
typedef struct {
    int linger_ms;                  /* ZMQ_LINGER */
    int send_timeout_ms;            /* ZMQ_SNDTIMEO, >= 0 */
    int hwm;                        /* ZMQ_SNDHWM and ZMQ_RCVHWM in messages; 0 = libzmq's default (1000) */
    int64_t max_msg_bytes;          /* ZMQ_MAXMSGSIZE per frame; -1 = no limit */
    const sec_keypair_t *curve;     /* NULL: plaintext.  Binding sockets: the server key pair.
                                       Connecting sockets: the client's own key pair. */
    const uint8_t *curve_server_key;  /* connecting sockets with curve: the server's public key (32 bytes) */
} net_opts_t;

void net_opts_default(net_opts_t *o);

/* Messages received, and dropped by reason (indexed by msg_fault_t). */
typedef struct {
    uint64_t received;
    uint64_t dropped[MSG_FAULT_COUNT];
} net_stats_t;

/* The reusable frame set of a receiving socket. */
typedef struct {
    zmq_msg_t part[1 + MSG_MAX_FRAMES];  /* [routing id,] header, body[, data] */
    zmq_msg_t spill;                     /* drains the parts of an oversized message */
    size_t n_parts;                      /* valid parts in part[] (routing id included) */
    int peer_fd;                         /* ROUTER: the TCP socket the message came on (ZMQ_SRCFD), else -1;
                                            matches the fd of a monitor's DISCONNECTED event */
    uint8_t peer[NET_MAX_ID];            /* routing id of the last message (ROUTER only) */
    size_t peer_len;                     /* 0 on other sockets */
} net_rx_t;

/* ---- context and sockets ---- */

/* A new libzmq context (ERR_IO on failure); destroy closes nothing for you:
 * close every socket and destroy any ZAP handler first. */
int net_ctx_create(void **ctx, err_t *err);
void net_ctx_destroy(void **ctx);

/* Each creates a socket, applies opts (CURVE server for binds, client for
 * connects) and binds/connects it.  On failure *sock is NULL and nothing leaks.
 * An endpoint "tcp://127.0.0.1:*" binds an ephemeral port: read it back with
 * net_endpoint. */
int net_router_bind(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err);
int net_dealer_connect(void *ctx, const char *endpoint, const void *id, size_t id_len, const net_opts_t *o,
                       void **sock, err_t *err);  /* id: 1..255 bytes, first byte not 0 */
int net_pull_bind(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err);
int net_push_connect(void *ctx, const char *endpoint, const net_opts_t *o, void **sock, err_t *err);
/* A PUSH socket with o's options that is not connected yet; net_connect connects it later.  Used where the
 * peer may only accept the handshake once it has been told about us (CURVE allow-lists). */
int net_push_create(void *ctx, const net_opts_t *o, void **sock, err_t *err);
int net_connect(void *sock, const char *endpoint, err_t *err);   /* on error the socket stays open */

/* The endpoint the socket last bound, with the real port (ZMQ_LAST_ENDPOINT). */
int net_endpoint(void *sock, char *buf, size_t cap, err_t *err);

/* Closes *sock (discarding unsent messages after the linger) and NULLs it; accepts NULL. */
void net_close(void **sock);

/* ---- sending ---- */

/* Sends m; peer/peer_len name the destination on a ROUTER and must be NULL/0
 * elsewhere.  Errors: ERR_INVAL (encode), ERR_NOTFOUND (ROUTER: peer not
 * connected), ERR_TIMEOUT (queue full for send_timeout_ms), ERR_IO. */
int net_send(void *sock, const void *peer, size_t peer_len, const msg_t *m, err_t *err);

typedef void net_free_fn(void *data, void *hint);

/* As net_send, but m->data is sent without a copy (see the top of this file). */
int net_send_zc(void *sock, const void *peer, size_t peer_len, const msg_t *m, net_free_fn *free_fn, void *hint,
                err_t *err);

/* ---- receiving ---- */

void net_rx_init(net_rx_t *rx);
void net_rx_fini(net_rx_t *rx);

/* Waits up to timeout_ms (>= 0) for one message on sock, receives it into rx
 * and decodes it into *out.  ROUTER sockets: rx->peer holds the sender's id.
 * Returns 0; ERR_TIMEOUT when nothing came; ERR_PROTO when a message arrived
 * but was dropped (counted in *stats, which may be NULL); ERR_IO on a socket
 * error (ETERM included); ERR_INVAL for bad arguments. */
int net_recv(void *sock, net_rx_t *rx, int timeout_ms, msg_t *out, net_stats_t *stats, err_t *err);

/* The Z85 CURVE public key the peer of the last received message authenticated
 * with (the ZAP handler's user id), or NULL on a plaintext socket or without a
 * message.  Valid until the next net_recv on rx. */
const char *net_rx_user_id(net_rx_t *rx);

/* Waits up to timeout_ms (>= 0) until one of socks[0..n) can be read; sets bit i
 * of *ready for each readable socket (n <= 32).  0, ERR_TIMEOUT or ERR_IO. */
int net_wait(void *const *socks, size_t n, int timeout_ms, uint32_t *ready, err_t *err);

/* Monotonic milliseconds, for deadlines. */
int64_t net_now_ms(void);

#endif
