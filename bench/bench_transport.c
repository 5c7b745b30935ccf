/*
 * bench_transport.c — the transport over loopback TCP, two threads in one
 * process, each with its own sockets (one shared libzmq context):
 *   latency     round trips of a 3 KiB ACTIVATION ([1, 768] F32) over
 *               PUSH -> PULL, echoed back over a second PUSH -> PULL pair;
 *               median, p90 and p99 of 10,000 round trips after 500 warm-ups
 *   throughput  one-way 1 MiB ACTIVATIONs ([256, 1024] F32), 1,000 of them,
 *               copied (net_send) and zero-copy (net_send_zc); HWM 16
 * Each run is plaintext, then CURVE (with a ZAP allow-list).  Every received
 * message goes through the full decode, CRC32C included; the CRC alone is timed
 * too.  Not built by CMake:
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc bench/bench_transport.c \
 *       src/net/msg.c src/net/transport.c src/net/security.c src/tensor/types.c src/util/err.c \
 *       -lzmq -lpthread -lm -o /tmp/bench_transport
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/msg.h"
#include "net/security.h"
#include "net/transport.h"
#include "tensor/types.h"

#define LAT_N 10000
#define LAT_WARM 500
#define TPUT_N 1000

typedef struct {
    void *ctx;
    const net_opts_t *server;   /* options of binding sockets */
    const net_opts_t *client;   /* options of connecting sockets */
    char in_ep[NET_ENDPOINT_MAX];   /* the peer thread's PULL, filled by it */
    char back_ep[NET_ENDPOINT_MAX]; /* main thread's PULL */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready;
    int mode;                   /* 0 echo, 1 sink */
    long n;
    int rc;
} bench_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The peer thread: binds its PULL, reports the endpoint, then echoes (mode 0) or counts (mode 1). */
static void *peer_main(void *arg)
{
    bench_t *b = arg;
    err_t err;
    void *pull = NULL, *push = NULL;
    net_rx_t rx;
    net_rx_init(&rx);
    b->rc = net_pull_bind(b->ctx, "tcp://127.0.0.1:*", b->server, &pull, &err);
    if (!b->rc)
        b->rc = net_endpoint(pull, b->in_ep, sizeof b->in_ep, &err);
    pthread_mutex_lock(&b->lock);
    b->ready = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (b->rc)
        goto done;
    if (b->mode == 0 && (b->rc = net_push_connect(b->ctx, b->back_ep, b->client, &push, &err)) != 0)
        goto done;
    msg_t m;
    for (long i = 0; i < b->n; i++) {
        if ((b->rc = net_recv(pull, &rx, 10000, &m, NULL, &err)) != 0)
            break;
        if (b->mode == 0 && (b->rc = net_send(push, NULL, 0, &m, &err)) != 0)
            break;
    }
done:
    if (b->rc)
        fprintf(stderr, "peer: %s\n", err.msg);
    net_rx_fini(&rx);
    net_close(&push);
    net_close(&pull);
    return NULL;
}

static int start_peer(bench_t *b, pthread_t *t)
{
    b->ready = 0;
    pthread_create(t, NULL, peer_main, b);
    pthread_mutex_lock(&b->lock);
    while (!b->ready)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return b->rc;
}

static void bench_latency(bench_t *b, const char *label)
{
    err_t err;
    void *back = NULL, *push = NULL;
    net_rx_t rx;
    net_rx_init(&rx);
    if (net_pull_bind(b->ctx, "tcp://127.0.0.1:*", b->server, &back, &err) ||
        net_endpoint(back, b->back_ep, sizeof b->back_ep, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    b->mode = 0;
    b->n = LAT_N + LAT_WARM;
    pthread_t t;
    if (start_peer(b, &t) || net_push_connect(b->ctx, b->in_ep, b->client, &push, &err)) {
        fprintf(stderr, "latency setup failed\n");
        pthread_join(t, NULL);
        return;
    }
    float act[768];
    for (int i = 0; i < 768; i++)
        act[i] = (float)i * 0.5f;
    msg_t m, in;
    msg_init(&m, MSG_ACTIVATION);
    m.act = (msg_activation_t){.n_tokens = 1, .dtype = TYPE_F32, .width = 768};
    m.data = act;
    m.data_len = sizeof act;
    double *rtt = malloc(LAT_N * sizeof *rtt);
    int ok = 1;
    for (long i = 0; i < LAT_N + LAT_WARM && ok; i++) {
        m.step = (uint64_t)i;
        double t0 = now_s();
        ok = net_send(push, NULL, 0, &m, &err) == 0 && net_recv(back, &rx, 10000, &in, NULL, &err) == 0 &&
             in.step == (uint64_t)i;
        if (i >= LAT_WARM)
            rtt[i - LAT_WARM] = now_s() - t0;
    }
    pthread_join(t, NULL);
    if (ok) {
        qsort(rtt, LAT_N, sizeof *rtt, cmp_double);
        printf("%-9s latency  3 KiB round trip: median %.1f us, p90 %.1f us, p99 %.1f us (%d round trips)\n", label,
               rtt[LAT_N / 2] * 1e6, rtt[LAT_N * 9 / 10] * 1e6, rtt[LAT_N * 99 / 100] * 1e6, LAT_N);
    } else {
        fprintf(stderr, "latency run failed: %s\n", err.msg);
    }
    free(rtt);
    net_rx_fini(&rx);
    net_close(&push);
    net_close(&back);
}

static void no_free(void *data, void *hint) { (void)data, (void)hint; }

static void bench_throughput(bench_t *b, const char *label, int zero_copy)
{
    err_t err;
    void *push = NULL;
    b->mode = 1;
    b->n = TPUT_N;
    pthread_t t;
    if (start_peer(b, &t) || net_push_connect(b->ctx, b->in_ep, b->client, &push, &err)) {
        fprintf(stderr, "throughput setup failed\n");
        pthread_join(t, NULL);
        return;
    }
    size_t bytes = 256 * 1024 * 4;
    uint8_t *data = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        data[i] = (uint8_t)(i * 131);
    msg_t m;
    msg_init(&m, MSG_ACTIVATION);
    m.act = (msg_activation_t){.n_tokens = 256, .dtype = TYPE_F32, .width = 1024};
    m.data = data;
    m.data_len = bytes;
    double t0 = now_s();
    int rc = 0;
    for (long i = 0; i < TPUT_N && !rc; i++)
        rc = zero_copy ? net_send_zc(push, NULL, 0, &m, no_free, NULL, &err) : net_send(push, NULL, 0, &m, &err);
    pthread_join(t, NULL);   /* the peer returns after receiving all of them */
    double dt = now_s() - t0;
    if (!rc && !b->rc)
        printf("%-9s one-way  1 MiB messages (%s): %.0f MiB/s, %.0f msg/s (%d messages in %.2f s)\n", label,
               zero_copy ? "zero-copy" : "copied   ", TPUT_N / dt, TPUT_N / dt, TPUT_N, dt);
    else
        fprintf(stderr, "throughput run failed\n");
    net_close(&push);
    free(data);
}

int main(void)
{
    err_t err;
    bench_t b = {0};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    if (net_ctx_create(&b.ctx, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }

    size_t mb = 1 << 20;
    uint8_t *buf = calloc(mb, 1);
    double t0 = now_s();
    uint32_t crc = 0;
    for (int i = 0; i < 200; i++)
        crc = msg_crc32c(crc, buf, mb);
    printf("CRC32C   %.0f MiB/s (checksum %08x)\n", 200 / (now_s() - t0), crc);
    free(buf);

    net_opts_t plain;
    net_opts_default(&plain);
    plain.hwm = 16;
    b.server = b.client = &plain;
    bench_latency(&b, "plain");
    bench_throughput(&b, "plain", 0);
    bench_throughput(&b, "plain", 1);

    sec_keypair_t server, client;
    sec_allow_t allow;
    sec_zap_t *zap = NULL;
    sec_allow_init(&allow);
    if (sec_keypair_generate(&server, &err) || sec_keypair_generate(&client, &err) ||
        sec_allow_add(&allow, client.pub, &err) || sec_zap_create(b.ctx, &allow, &zap, &err)) {
        fprintf(stderr, "CURVE setup: %s\n", err.msg);
    } else {
        net_opts_t so = plain, co = plain;
        so.curve = &server;
        co.curve = &client;
        co.curve_server_key = server.pub;
        b.server = &so;
        b.client = &co;
        bench_latency(&b, "curve");
        bench_throughput(&b, "curve", 0);
        bench_throughput(&b, "curve", 1);
    }
    sec_zap_destroy(&zap);
    net_ctx_destroy(&b.ctx);
    return 0;
}
