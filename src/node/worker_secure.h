/*
 * worker_secure.h — CURVE on a worker's three kinds of sockets, and who may
 * send it data.  Owns the worker's ZAP handler (the allow-list of its data
 * PULL), its book of peer endpoints and their server keys, and the monitor of
 * its control connection.  Sockets, messages and the event loop stay in
 * worker.c; it calls these hooks, each of which is a no-op for a plaintext
 * worker (ws == NULL), so the loop reads the same either way.
 *
 * Roles.  The worker's one key pair serves as its CURVE client identity toward
 * the coordinator (DEALER, pinned to the coordinator's public key) and toward
 * its peers (PUSH, pinned to each peer's key from the deployment or PEER_KEYS),
 * and as the server key of its data PULL.
 *
 * Who may push data.  Before any deployment the ZAP handler admits no one; a
 * PEER_KEYS message (sent before profiling) admits those keys, for link probes
 * only.  A DEPLOY replaces the admitted set with exactly its peers.  Since an
 * admitted connection survives a narrower list, every data message is also
 * checked: its authenticated user id must be a peer of the deployment (or, for
 * PROBE, a PEER_KEYS key); anything else is dropped with a log line.
 *
 * A refused or failed handshake with the coordinator (wrong --coordinator-key,
 * or this key not on its allow-list) is reported by wsec_poll as an error
 * naming the likely cause, instead of a silent wait.
 */
#ifndef LL_NODE_WORKER_SECURE_H
#define LL_NODE_WORKER_SECURE_H

#include "net/msg.h"
#include "net/security.h"
#include "net/transport.h"
#include "util/err.h"

typedef struct worker_sec worker_sec_t;

/* Starts the ZAP handler in zctx (before any socket binds).  kp and
 * coord_key are copied; name labels log lines. */
int wsec_create(void *zctx, const sec_keypair_t *kp, const uint8_t coord_key[SEC_KEY_BYTES], const char *name,
                worker_sec_t **out, err_t *err);
/* Closes the monitor and stops the ZAP handler; before zmq_ctx_term.  Accepts NULL. */
void wsec_destroy(worker_sec_t **ws);

/* Options of the data PULL (CURVE server) and the control DEALER (client). */
void wsec_pull_opts(const worker_sec_t *ws, net_opts_t *o);
void wsec_dealer_opts(const worker_sec_t *ws, net_opts_t *o);
/* Options of a PUSH to a peer endpoint: its key from the book (ERR_NOTFOUND when
 * the coordinator never named one). */
int wsec_push_opts(const worker_sec_t *ws, const char *endpoint, net_opts_t *o, err_t *err);

/* Watches the control DEALER's handshakes (call once, right after connecting). */
int wsec_watch(worker_sec_t *ws, void *zctx, void *dealer, const char *coordinator, err_t *err);
/* Non-blocking: ERR_STATE when the coordinator refused or failed the handshake. */
int wsec_poll(worker_sec_t *ws, err_t *err);

/* This worker's public key into a HELLO. */
void wsec_fill_hello(const worker_sec_t *ws, msg_hello_t *h);
/* PEER_KEYS: learn the keys, admit them for probes. */
void wsec_on_peer_keys(worker_sec_t *ws, const msg_peer_keys_t *pk);
/* DEPLOY: route keys into the book (ERR_PROTO when a route has none) and the
 * admitted senders set to the deployment's peers. */
int wsec_on_deploy(worker_sec_t *ws, const msg_deploy_t *d, err_t *err);
/* 0 when the sender of the message just received on the data socket may send it;
 * ERR_STATE naming the key otherwise. */
int wsec_sender_ok(const worker_sec_t *ws, net_rx_t *rx, const msg_t *m, err_t *err);

#endif
