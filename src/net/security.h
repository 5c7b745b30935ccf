/*
 * security.h — CURVE encryption and the allow-list of admitted devices.
 *
 * Owns: key pairs (raw 32-byte Curve25519 keys; Z85 text only in files), the
 * key files, the socket options that turn CURVE on, and a ZAP handler — the
 * thread that answers libzmq's authentication requests (ZAP, ZeroMQ RFC 27) on
 * inproc://zeromq.zap.01 of one context: status 200 for a CURVE client whose
 * public key is on the allow-list, 400 for anything else.  Leaves sockets,
 * endpoints and messages to transport.h.
 *
 * Who is server: the socket that binds (the coordinator's ROUTER, each worker's
 * data PULL) is the CURVE server; connecting sockets are clients and must know
 * the server's public key.  The allow-list is enforced only if the ZAP handler
 * of the *server's* context exists before the server socket binds: libzmq lets
 * any client with the right server key in when no handler is bound.
 *
 * Key files: one line of 40 Z85 characters; blank lines and lines starting with
 * '#' are ignored.  The secret file is written with mode 0600, and loading
 * refuses a secret file readable by group or others.  An allow-list file holds
 * one public key per line in the same syntax, optionally followed by blanks and
 * the device's name ("KEY NAME"; the name is for log lines only).
 *
 * The handler answers 200 with the client's Z85 public key as user id, so a
 * receiver can tell which admitted key sent a frame:
 * zmq_msg_gets(frame, "User-Id") (e.g. on net_rx_t.part[0]).
 *
 * No global state: a handler object owns its thread, its sockets and its copy
 * of the allow-list (guarded by a mutex, so keys can be added while it runs).
 * Destroy the handler before terminating its context.
 */
#ifndef LL_NET_SECURITY_H
#define LL_NET_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SEC_KEY_BYTES 32
#define SEC_Z85_LEN 40           /* Z85 text of a key, without the NUL */
#define SEC_MAX_KEYS 256         /* keys in an allow-list */
#define SEC_ZAP_DOMAIN "lingua"  /* ZMQ_ZAP_DOMAIN set on server sockets */
#define SEC_NAME_MAX 63          /* name of an allow-listed key */

typedef struct {
    uint8_t pub[SEC_KEY_BYTES];
    uint8_t sec[SEC_KEY_BYTES];
} sec_keypair_t;

/* 1 if this libzmq was built with CURVE, else 0. */
int sec_available(void);

/* A fresh key pair.  ERR_UNSUP when libzmq lacks CURVE. */
int sec_keypair_generate(sec_keypair_t *kp, err_t *err);

/* Writes the public key to pub_path and the secret key to sec_path (created or
 * truncated, mode 0600).  ERR_IO naming the path on failure. */
int sec_keypair_save(const sec_keypair_t *kp, const char *pub_path, const char *sec_path, err_t *err);

/* Reads a secret key file and derives the public key.  ERR_IO when unreadable,
 * ERR_STATE when the file is readable by group or others, ERR_FORMAT when it
 * holds no valid key. */
int sec_keypair_load(sec_keypair_t *kp, const char *sec_path, err_t *err);

/* Reads a public key file (ERR_IO, ERR_FORMAT). */
int sec_public_load(uint8_t pub[SEC_KEY_BYTES], const char *path, err_t *err);

/* Key <-> Z85 text.  to_z85 writes 41 bytes (NUL-terminated); from_z85 wants
 * exactly 40 Z85 characters (ERR_FORMAT otherwise). */
void sec_key_to_z85(const uint8_t key[SEC_KEY_BYTES], char out[SEC_Z85_LEN + 1]);
int sec_key_from_z85(const char *z85, uint8_t key[SEC_KEY_BYTES], err_t *err);

/* Makes sock a CURVE server with kp's secret key, ZAP domain SEC_ZAP_DOMAIN.
 * Call before bind.  ERR_UNSUP without CURVE, ERR_IO when libzmq refuses. */
int sec_server_apply(void *sock, const sec_keypair_t *kp, err_t *err);

/* Makes sock a CURVE client with its own key pair kp, expecting the server key
 * server_pub.  Call before connect. */
int sec_client_apply(void *sock, const sec_keypair_t *kp, const uint8_t server_pub[SEC_KEY_BYTES], err_t *err);

/* ---- allow-list (caller-owned storage) ---- */

typedef struct {
    size_t n;
    uint8_t keys[SEC_MAX_KEYS][SEC_KEY_BYTES];
    char names[SEC_MAX_KEYS][SEC_NAME_MAX + 1];   /* "" when the file named none */
} sec_allow_t;

void sec_allow_init(sec_allow_t *a);

/* Adds a key; a duplicate is accepted and ignored.  ERR_RANGE when full. */
int sec_allow_add(sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES], err_t *err);

/* Adds a key with a name (NULL or "" for none; longer names are cut to SEC_NAME_MAX). */
int sec_allow_add_named(sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES], const char *name, err_t *err);

/* Adds every key of an allow-list file ("KEY [NAME]" lines); ERR_FORMAT names
 * the line of a bad key or name. */
int sec_allow_load(sec_allow_t *a, const char *path, err_t *err);

bool sec_allow_has(const sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES]);

/* The name the allow-list gives key, "" when it has none, NULL when absent. */
const char *sec_allow_name(const sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES]);

/* 1 if a ZeroMQ endpoint stays on this machine: tcp:// to 127.0.0.0/8, ::1 or
 * localhost, and ipc:// or inproc://.  Anything else (a LAN address, a
 * wildcard bind "*" or 0.0.0.0, a host name) is 0: security defaults to on. */
int sec_endpoint_is_loopback(const char *endpoint);

/* ---- ZAP handler ---- */

typedef struct sec_zap sec_zap_t;

/* Binds the ZAP endpoint in ctx and starts the handler thread with a copy of
 * *allow (NULL: empty — every client refused until sec_zap_allow).  ERR_STATE
 * when ctx already has a ZAP handler.  On success *out owns thread and sockets. */
int sec_zap_create(void *ctx, const sec_allow_t *allow, sec_zap_t **out, err_t *err);

/* Admits one more key from now on (takes effect at the next handshake). */
int sec_zap_allow(sec_zap_t *z, const uint8_t key[SEC_KEY_BYTES], err_t *err);

/* Replaces the whole allow-list (NULL: empty).  Connections already admitted
 * stay up: receivers that must drop a peer check the "User-Id" of its frames. */
void sec_zap_set(sec_zap_t *z, const sec_allow_t *allow);

/* From now on every refused handshake is logged to stderr as
 * "LABEL: refused a CURVE client at ADDRESS: key KEY is not on the allow-list"
 * (label copied; NULL turns logging off). */
void sec_zap_set_label(sec_zap_t *z, const char *label);

/* Handshakes answered 200 and 400 so far (either pointer may be NULL). */
void sec_zap_counts(sec_zap_t *z, uint64_t *allowed, uint64_t *denied);

/* Stops the thread, closes the sockets, frees *z and sets it to NULL.  Accepts
 * NULL and *z == NULL.  Must run before zmq_ctx_term of the context. */
void sec_zap_destroy(sec_zap_t **z);

#endif
