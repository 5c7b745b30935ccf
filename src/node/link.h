/*
 * link.h — an emulated network link on the sending side (DESIGN §11): each
 * message waits until the link is free, occupies it for its size over the
 * bandwidth, and is handed to ZeroMQ `latency` after it left the link.  The
 * sender never blocks: messages wait in a fixed queue (allocated with the
 * link) and go out when link_flush finds them due, so compute and transfer
 * overlap as on a real link.  With latency 0 and no bandwidth set, link_send
 * sends at once.  Data given as zero-copy (free_fn) stays owned by ZeroMQ's
 * free callback as usual; other data is copied into the queue when it is held
 * back (only small messages are sent that way).
 */
#ifndef LL_NODE_LINK_H
#define LL_NODE_LINK_H

#include <stdint.h>

#include "net/msg.h"
#include "net/transport.h"
#include "util/err.h"

#define LINK_QUEUE 64
#define LINK_SMALL 16   /* bytes of copied data a held-back message may carry */

typedef struct {
    int64_t release_us;
    void *sock;
    msg_t m;
    net_free_fn *free_fn;
    void *hint;
    uint8_t small[LINK_SMALL];
} link_item_t;

typedef struct {
    double latency_ms;      /* added to every message */
    double mbit;            /* > 0: serialised at this rate */
    int64_t free_us;        /* when the link finishes its current message */
    link_item_t q[LINK_QUEUE];
    int head, len;
} link_t;

void link_init(link_t *l, double latency_ms, double mbit);
/* 1 when the link holds messages back (latency or bandwidth set). */
int link_shaped(const link_t *l);
/* Sends m on sock through the link; free_fn/hint as net_send_zc (NULL: copied). */
int link_send(link_t *l, void *sock, const msg_t *m, net_free_fn *free_fn, void *hint, err_t *err);
/* Sends the messages that are due (all of them, waiting as needed, when force). */
int link_flush(link_t *l, int force, err_t *err);
/* Milliseconds until the next message is due; -1 when none waits. */
int link_due_ms(const link_t *l);

int64_t link_now_us(void);
void link_sleep_us(int64_t us);

#endif
