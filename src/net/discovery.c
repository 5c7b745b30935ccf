/*
 * discovery.c — UDP beacons (see discovery.h).
 */
#include "net/discovery.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "LLNK-BEACON 1 "

int disc_parse(const void *data, size_t n, uint16_t *port, int *has_key, uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    const char *s = data;
    const size_t magic = sizeof MAGIC - 1;
    if (n > DISC_BEACON_MAX || n < magic + 4 || memcmp(s, MAGIC, magic) != 0 || s[n - 1] != '\n')
        return err_set(err, ERR_FORMAT, "not a beacon (%zu bytes)", n);
    size_t i = magic;
    if (s[i] < '1' || s[i] > '9')
        return err_set(err, ERR_FORMAT, "beacon port does not start with a digit 1-9");
    uint32_t p = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        p = p * 10 + (uint32_t)(s[i] - '0');
        if (p > 65535)
            return err_set(err, ERR_FORMAT, "beacon port exceeds 65535");
    }
    if (i >= n || s[i] != ' ')
        return err_set(err, ERR_FORMAT, "beacon port not followed by one space");
    i++;
    size_t rest = n - 1 - i;   /* the key field, before the newline */
    if (rest == 1 && s[i] == '-') {
        *has_key = 0;
        memset(key, 0, SEC_KEY_BYTES);
    } else if (rest == SEC_Z85_LEN) {
        char z[SEC_Z85_LEN + 1];
        memcpy(z, s + i, SEC_Z85_LEN);
        z[SEC_Z85_LEN] = '\0';
        if (sec_key_from_z85(z, key, err))
            return err_prefix(err, "beacon key");
        *has_key = 1;
    } else {
        return err_set(err, ERR_FORMAT, "beacon key field has %zu characters, want 40 or '-'", rest);
    }
    *port = (uint16_t)p;
    return 0;
}

size_t disc_format(char *buf, uint16_t port, const uint8_t *key)
{
    char z[SEC_Z85_LEN + 1] = "-";
    if (key)
        sec_key_to_z85(key, z);
    int n = snprintf(buf, DISC_BEACON_MAX, "%s%u %s\n", MAGIC, (unsigned)port, z);
    return n > 0 ? (size_t)n : 0;
}

/* ---- the coordinator's beacon ---- */

struct disc_beacon {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    int fd;
    uint16_t udp_port;
    char text[DISC_BEACON_MAX];
    size_t len;
};

/* One beacon to the broadcast address of every broadcast-capable, non-loopback IPv4 interface. */
static void send_all(struct disc_beacon *b)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_BROADCAST) || !i->ifa_broadaddr)
            continue;
        struct sockaddr_in to = *(const struct sockaddr_in *)i->ifa_broadaddr;
        to.sin_port = htons(b->udp_port);
        sendto(b->fd, b->text, b->len, 0, (const struct sockaddr *)&to, sizeof to);   /* best effort */
    }
    freeifaddrs(ifs);
}

static void *beacon_main(void *arg)
{
    struct disc_beacon *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        pthread_mutex_unlock(&b->lock);
        send_all(b);
        pthread_mutex_lock(&b->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)DISC_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int disc_beacon_start(uint16_t udp_port, uint16_t tcp_port, const uint8_t *key, disc_beacon_t **out, err_t *err)
{
    *out = NULL;
    struct disc_beacon *b = calloc(1, sizeof *b);
    if (!b)
        return err_set(err, ERR_NOMEM, "out of memory");
    b->udp_port = udp_port;
    b->len = disc_format(b->text, tcp_port, key);
    b->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (b->fd < 0 || setsockopt(b->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0) {
        int e = errno;
        if (b->fd >= 0)
            close(b->fd);
        free(b);
        return err_set(err, ERR_IO, "beacon socket: %s", strerror(e));
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    int e = pthread_create(&b->thread, NULL, beacon_main, b);
    if (e) {
        close(b->fd);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
        return err_set(err, ERR_NOMEM, "beacon thread: %s", strerror(e));
    }
    *out = b;
    return 0;
}

void disc_beacon_stop(disc_beacon_t **bp)
{
    if (!bp || !*bp)
        return;
    struct disc_beacon *b = *bp;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    close(b->fd);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
    *bp = NULL;
}

/* ---- the worker's search ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This host's address toward ip (the source address routing would pick). */
static void local_toward(struct in_addr ip, uint16_t port, char *buf, size_t cap)
{
    snprintf(buf, cap, "127.0.0.1");
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = ip}, me;
    socklen_t len = sizeof me;
    /* connect on UDP sends nothing: it only chooses the route and the source address */
    if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof to) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &len) == 0)
        inet_ntop(AF_INET, &me.sin_addr, buf, (socklen_t)cap);
    if (fd >= 0)
        close(fd);
}

int disc_find(uint16_t udp_port, const uint8_t *pinned, int timeout_ms, disc_found_t *out, err_t *err)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(udp_port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, ERR_IO, "listening for beacons on UDP port %u: %s", (unsigned)udp_port, strerror(e));
    }
    int64_t deadline = now_ms() + timeout_ms;
    int rc = ERR_TIMEOUT;
    for (int64_t left; rc == ERR_TIMEOUT && (left = deadline - now_ms()) > 0;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[DISC_BEACON_MAX + 1];
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n < 0)
            continue;
        char who[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &from.sin_addr, who, sizeof who);
        uint16_t port;
        err_t why;
        if (disc_parse(buf, (size_t)n, &port, &out->has_key, out->key, &why)) {
            fprintf(stderr, "discovery: ignored a datagram from %s: %s\n", who, why.msg);
            continue;
        }
        if (pinned && (!out->has_key || memcmp(out->key, pinned, SEC_KEY_BYTES) != 0)) {
            char z[SEC_Z85_LEN + 1] = "none";
            if (out->has_key)
                sec_key_to_z85(out->key, z);
            fprintf(stderr, "discovery: ignored a beacon from %s: coordinator key %s is not the pinned one\n", who, z);
            continue;
        }
        snprintf(out->coordinator, sizeof out->coordinator, "tcp://%s:%u", who, (unsigned)port);
        local_toward(from.sin_addr, port, out->local_ip, sizeof out->local_ip);
        rc = 0;
    }
    close(fd);
    if (rc)
        return err_set(err, ERR_TIMEOUT, "no coordinator beacon on UDP port %u within %d ms", (unsigned)udp_port,
                       timeout_ms);
    return 0;
}
