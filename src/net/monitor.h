/*
 * monitor.h — closed connections as libzmq reports them (zmq_socket_monitor):
 * a peer process that dies closes its TCP connection, and the socket's
 * monitor sees ZMQ_EVENT_DISCONNECTED with that connection's fd at once,
 * long before any heartbeat timeout.  The fd matches net_rx_t.peer_fd of the
 * messages that came on the connection, which names the peer.
 * A monitor is a PAIR socket owned by the caller (net_monitor_close).
 */
#ifndef LL_NET_MONITOR_H
#define LL_NET_MONITOR_H

#include "util/err.h"

/* Starts monitoring sock (in ctx) for disconnections; *mon receives the events. */
int net_monitor_open(void *ctx, void *sock, void **mon, err_t *err);
/* Reads pending events without waiting; writes the fds of up to max closed
 * connections to fds and returns how many (0 when none). */
int net_monitor_poll(void *mon, int *fds, int max);
void net_monitor_close(void **mon);

#endif
