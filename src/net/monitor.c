/*
 * monitor.c — disconnect events of a socket (see monitor.h).  An event is two
 * frames: 6 bytes (u16 event, u32 value = the fd) and the endpoint string.
 */
#include "net/monitor.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

int net_monitor_open(void *ctx, void *sock, void **mon, err_t *err)
{
    *mon = NULL;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://monitor-%p", sock);
    if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_DISCONNECTED) != 0)
        return err_set(err, ERR_IO, "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    void *pair = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 || zmq_connect(pair, ep) != 0) {
        if (pair)
            zmq_close(pair);
        return err_set(err, ERR_IO, "monitor socket for %s: %s", ep, zmq_strerror(zmq_errno()));
    }
    *mon = pair;
    return 0;
}

int net_monitor_poll(void *mon, int *fds, int max)
{
    int n = 0;
    for (int k = 0; mon && k < 256; k++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        int more = zmq_msg_more(&ev);
        if (more) {   /* the endpoint frame */
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, mon, ZMQ_DONTWAIT);
            zmq_msg_close(&addr);
        }
        if (zmq_msg_size(&ev) >= 6) {
            const uint8_t *d = zmq_msg_data(&ev);
            uint16_t event;
            uint32_t value;
            memcpy(&event, d, 2);
            memcpy(&value, d + 2, 4);
            if (event == ZMQ_EVENT_DISCONNECTED && n < max)
                fds[n++] = (int)value;
        }
        zmq_msg_close(&ev);
    }
    return n;
}

void net_monitor_close(void **mon)
{
    if (mon && *mon) {
        zmq_close(*mon);
        *mon = NULL;
    }
}
