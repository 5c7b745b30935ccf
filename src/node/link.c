/*
 * link.c — the emulated sending link (see link.h).
 */
#include "node/link.h"

#include "util/clock.h"

#include <string.h>
#include <time.h>

int64_t link_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void link_sleep_us(int64_t us)
{
    clock_sleep((double)us / 1e6);
}

void link_init(link_t *l, double latency_ms, double mbit)
{
    memset(l, 0, sizeof *l);
    l->latency_ms = latency_ms > 0 ? latency_ms : 0;
    l->mbit = mbit > 0 ? mbit : 0;
}

int link_shaped(const link_t *l) { return l->latency_ms > 0 || l->mbit > 0; }

static int send_now(void *sock, const msg_t *m, net_free_fn *free_fn, void *hint, err_t *err)
{
    return free_fn ? net_send_zc(sock, NULL, 0, m, free_fn, hint, err) : net_send(sock, NULL, 0, m, err);
}

int link_flush(link_t *l, int force, err_t *err)
{
    int rc = 0;
    while (l->len > 0) {
        link_item_t *it = &l->q[l->head];
        int64_t wait = it->release_us - link_now_us();
        if (wait > 0 && !force)
            break;
        link_sleep_us(wait);
        if (!it->free_fn && it->m.data_len)
            it->m.data = it->small;
        int r = send_now(it->sock, &it->m, it->free_fn, it->hint, err);
        rc = rc ? rc : r;
        l->head = (l->head + 1) % LINK_QUEUE;
        l->len--;
    }
    return rc;
}

int link_due_ms(const link_t *l)
{
    if (!l->len)
        return -1;
    int64_t us = l->q[l->head].release_us - link_now_us();
    return us <= 0 ? 0 : (int)((us + 999) / 1000);
}

int link_send(link_t *l, void *sock, const msg_t *m, net_free_fn *free_fn, void *hint, err_t *err)
{
    if (!link_shaped(l) || (!free_fn && m->data_len > LINK_SMALL))
        return send_now(sock, m, free_fn, hint, err);
    if (l->len == LINK_QUEUE) {   /* the link is saturated: wait for the oldest */
        link_sleep_us(l->q[l->head].release_us - link_now_us());
        int rc = link_flush(l, 0, err);
        if (rc)
            return rc;
    }
    const double bytes = (double)m->data_len + MSG_HDR_SIZE + 64;   /* header and body, roughly */
    const int64_t tx_us = l->mbit > 0 ? (int64_t)(bytes * 8.0 / l->mbit) : 0;
    const int64_t now = link_now_us();
    l->free_us = (l->free_us > now ? l->free_us : now) + tx_us;
    link_item_t *it = &l->q[(l->head + l->len) % LINK_QUEUE];
    it->release_us = l->free_us + (int64_t)(l->latency_ms * 1000.0);
    it->sock = sock;
    it->m = *m;
    it->free_fn = free_fn;
    it->hint = hint;
    if (!free_fn && m->data_len)
        memcpy(it->small, m->data, m->data_len);
    l->len++;
    return 0;
}
