/*
 * discovery.h — finding the coordinator on the LAN by a UDP beacon.
 *
 * The coordinator (`--discover`) broadcasts a beacon every interval on every
 * IPv4 interface that can broadcast (never loopback), to that interface's
 * broadcast address, UDP port DISC_PORT (or another).  A worker started
 * without --coordinator listens for one and connects to tcp://SENDER:PORT; its
 * data endpoint defaults to the local address that reaches the coordinator.
 *
 * Beacon (one datagram of text): "LLNK-BEACON 1 PORT KEY\n" — PORT the
 * coordinator's control port (decimal 1..65535, no leading zero), KEY its
 * CURVE public key in Z85 (40 characters) or "-" when it runs without CURVE.
 * Anything else is garbage: ignored with a log line naming the sender.  A
 * worker pinned to a coordinator key ignores (and logs) beacons of other keys.
 * A beacon proves nothing by itself — anyone can send one — so security still
 * rests on CURVE: a pinned worker only completes a handshake with the real key,
 * and a secure coordinator admits only allow-listed workers.
 *
 * Plain UDP sockets rather than czmq's zbeacon: the beacon is ~100 lines of
 * POSIX, and czmq would add a second ZeroMQ binding with its own global state
 * (zsys, signal handlers) to every process, for a format we define anyway.
 */
#ifndef LL_NET_DISCOVERY_H
#define LL_NET_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "net/security.h"
#include "util/err.h"

#define DISC_PORT 5670
#define DISC_BEACON_MAX 96
#define DISC_INTERVAL_MS 500

/* Parses a beacon: 0, or ERR_FORMAT saying what is wrong.  *has_key 0 when KEY is "-". */
int disc_parse(const void *buf, size_t n, uint16_t *port, int *has_key, uint8_t key[SEC_KEY_BYTES], err_t *err);

/* Writes the beacon text for port and key (NULL: none) into buf[DISC_BEACON_MAX]; returns its length. */
size_t disc_format(char *buf, uint16_t port, const uint8_t *key);

typedef struct disc_beacon disc_beacon_t;

/* Starts broadcasting beacons for tcp_port (and key, copied; NULL: none) to udp_port, from a thread of its own. */
int disc_beacon_start(uint16_t udp_port, uint16_t tcp_port, const uint8_t *key, disc_beacon_t **out, err_t *err);
/* Stops the thread and frees *b (accepts NULL). */
void disc_beacon_stop(disc_beacon_t **b);

typedef struct {
    char coordinator[64];   /* tcp://IP:PORT */
    char local_ip[16];      /* this host's address toward it */
    int has_key;
    uint8_t key[SEC_KEY_BYTES];
} disc_found_t;

/* Waits up to timeout_ms for a valid beacon on udp_port (from a coordinator with key pinned, when
 * pinned is not NULL).  ERR_TIMEOUT when none came. */
int disc_find(uint16_t udp_port, const uint8_t *pinned, int timeout_ms, disc_found_t *out, err_t *err);

#endif
