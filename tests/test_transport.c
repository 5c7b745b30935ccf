/*
 * test_transport.c — the ZeroMQ transport and CURVE security (src/net) on real
 * sockets over loopback with ephemeral ports: ROUTER/DEALER with routing ids
 * (and ROUTER_MANDATORY), a 1 MiB activation over PUSH/PULL (copied and
 * zero-copy), receive and send timeouts, junk from a raw TCP client (random
 * bytes, and a ZMTP greeting announcing a 1 TiB frame), malformed ZeroMQ
 * messages dropped and counted by reason, key files, allow-lists, and CURVE:
 * an allowed client gets through, a client off the allow-list, a client with
 * the wrong server key and a plaintext client do not.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "net/msg.h"
#include "net/security.h"
#include "net/transport.h"
#include "tensor/types.h"

#define ANY "tcp://127.0.0.1:*"

static void make_token(msg_t *m, uint32_t token, uint64_t step)
{
    msg_init(m, MSG_TOKEN);
    m->token.token = token;
    m->session = 77;
    m->step = step;
}

/* Receives and expects a TOKEN with the given id. */
static void expect_token(void *sock, net_rx_t *rx, uint32_t token, int timeout_ms, const char *what)
{
    msg_t m;
    err_t err;
    int rc = net_recv(sock, rx, timeout_ms, &m, NULL, &err);
    CHECKF(rc == 0 && m.type == MSG_TOKEN && m.token.token == token, "%s: rc %d (%s)", what, rc,
           rc ? err.msg : msg_type_name(m.type));
}

/* Receives until a TOKEN with the given id arrives or the deadline passes,
 * skipping (and counting in *st) messages the receiver drops. */
static int recv_token_skipping(void *sock, net_rx_t *rx, uint32_t token, int timeout_ms, net_stats_t *st)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        msg_t m;
        err_t err;
        int rc = net_recv(sock, rx, left > 0 ? (int)left : 0, &m, st, &err);
        if (rc == ERR_PROTO)
            continue;
        if (rc)
            return rc;
        return m.type == MSG_TOKEN && m.token.token == token ? 0 : -100;
    }
}

static int port_of(const char *endpoint)
{
    const char *c = strrchr(endpoint, ':');
    return c ? atoi(c + 1) : -1;
}

static void test_router_dealer(void *ctx)
{
    err_t err;
    void *router = NULL, *w1 = NULL, *w2 = NULL;
    char ep[NET_ENDPOINT_MAX];
    CHECKF(net_router_bind(ctx, ANY, NULL, &router, &err) == 0, "%s", err.msg);
    CHECK(net_endpoint(router, ep, sizeof ep, &err) == 0 && strncmp(ep, "tcp://127.0.0.1:", 16) == 0);
    CHECK(port_of(ep) > 0);
    CHECKF(net_dealer_connect(ctx, ep, "w1", 2, NULL, &w1, &err) == 0, "%s", err.msg);
    CHECKF(net_dealer_connect(ctx, ep, "w2", 2, NULL, &w2, &err) == 0, "%s", err.msg);
    void *bad = NULL;
    CHECK(net_dealer_connect(ctx, ep, "\0x", 2, NULL, &bad, &err) == ERR_INVAL && bad == NULL);
    CHECK(net_dealer_connect(ctx, ep, "", 0, NULL, &bad, &err) == ERR_INVAL && bad == NULL);

    msg_t m;
    msg_init(&m, MSG_HELLO);
    m.hello.proto_version = 1;
    strcpy(m.hello.device, "dev-one");
    m.hello.cores = 4;
    strcpy(m.hello.endpoint, "tcp://127.0.0.1:1");
    CHECKF(net_send(w1, NULL, 0, &m, &err) == 0, "%s", err.msg);
    strcpy(m.hello.device, "dev-two");
    CHECKF(net_send(w2, NULL, 0, &m, &err) == 0, "%s", err.msg);
    CHECK(net_send(w2, "w1", 2, &m, &err) == ERR_INVAL);   /* routing id on a DEALER */

    net_rx_t rx;
    net_rx_init(&rx);
    net_stats_t st = {0};
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        msg_t in;
        int rc = net_recv(router, &rx, 2000, &in, &st, &err);
        CHECKF(rc == 0, "router recv: %s", err.msg);
        if (rc)
            continue;
        CHECK(in.type == MSG_HELLO && rx.peer_len == 2);
        if (memcmp(rx.peer, "w1", 2) == 0 && strcmp(in.hello.device, "dev-one") == 0)
            seen |= 1;
        if (memcmp(rx.peer, "w2", 2) == 0 && strcmp(in.hello.device, "dev-two") == 0)
            seen |= 2;
        msg_t wel;
        msg_init(&wel, MSG_WELCOME);
        wel.welcome.device_id = rx.peer[1] - '0';
        wel.welcome.heartbeat_ms = 250;
        CHECKF(net_send(router, rx.peer, rx.peer_len, &wel, &err) == 0, "%s", err.msg);
    }
    CHECK(seen == 3 && st.received == 2);
    CHECK(net_send(router, NULL, 0, &m, &err) == ERR_INVAL);   /* ROUTER needs a peer */
    CHECK(net_send(router, "nobody", 6, &m, &err) == ERR_NOTFOUND && strstr(err.msg, "nobody"));

    net_rx_t drx;
    net_rx_init(&drx);
    msg_t in;
    CHECK(net_recv(w1, &drx, 2000, &in, NULL, &err) == 0 && in.type == MSG_WELCOME && in.welcome.device_id == 1);
    CHECK(drx.peer_len == 0);
    CHECK(net_recv(w2, &drx, 2000, &in, NULL, &err) == 0 && in.welcome.device_id == 2);

    /* A malformed message from a DEALER is reported with its routing id. */
    uint8_t junk[MSG_HDR_SIZE] = {'J', 'U', 'N', 'K'};
    zmq_send(w1, junk, sizeof junk, ZMQ_SNDMORE);
    zmq_send(w1, "", 0, 0);
    CHECK(net_recv(router, &rx, 2000, &in, &st, &err) == ERR_PROTO);
    CHECKF(strstr(err.msg, "message from 'w1' dropped") && strstr(err.msg, "bad magic"), "%s", err.msg);
    CHECK(st.dropped[MSG_FAULT_MAGIC] == 1);

    net_rx_fini(&drx);
    net_rx_fini(&rx);
    net_close(&w1);
    net_close(&w2);
    net_close(&router);
    CHECK(router == NULL);
    net_close(&router);   /* accepts NULL */
}

static void free_count(void *data, void *hint)
{
    (void)data;
    atomic_fetch_add((atomic_int *)hint, 1);
}

static void test_push_pull(void *ctx)
{
    err_t err;
    void *pull = NULL, *push = NULL;
    char ep[NET_ENDPOINT_MAX];
    CHECKF(net_pull_bind(ctx, ANY, NULL, &pull, &err) == 0, "%s", err.msg);
    CHECK(net_endpoint(pull, ep, sizeof ep, &err) == 0);
    CHECKF(net_push_connect(ctx, ep, NULL, &push, &err) == 0, "%s", err.msg);

    enum { TOK = 256, WIDTH = 1024 };   /* [256, 1024] F32 = 1 MiB */
    size_t bytes = (size_t)TOK * WIDTH * 4;
    uint8_t *t = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        t[i] = (uint8_t)(i * 2654435761u >> 13);
    msg_t m;
    msg_init(&m, MSG_ACTIVATION);
    m.epoch = 3;
    m.session = 11;
    m.step = 5;
    m.act = (msg_activation_t){.seq_slot = 2, .pos0 = 40, .n_tokens = TOK, .value_id = 7, .dtype = TYPE_F32,
                               .width = WIDTH};
    m.data = t;
    m.data_len = bytes;
    CHECKF(net_send(push, NULL, 0, &m, &err) == 0, "%s", err.msg);

    net_rx_t rx;
    net_rx_init(&rx);
    net_stats_t st = {0};
    msg_t in;
    int rc = net_recv(pull, &rx, 5000, &in, &st, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(rc == 0 && in.type == MSG_ACTIVATION && in.act.n_tokens == TOK && in.act.width == WIDTH);
    CHECK(rc == 0 && in.epoch == 3 && in.session == 11 && in.step == 5 && in.act.pos0 == 40);
    CHECK(rc == 0 && in.data_len == bytes && memcmp(in.data, t, bytes) == 0);

    /* Zero-copy: libzmq calls the free function once the frame is gone. */
    atomic_int freed = 0;
    CHECKF(net_send_zc(push, NULL, 0, &m, free_count, &freed, &err) == 0, "%s", err.msg);
    rc = net_recv(pull, &rx, 5000, &in, &st, &err);
    CHECK(rc == 0 && in.data_len == bytes && memcmp(in.data, t, bytes) == 0);
    for (int i = 0; i < 200 && atomic_load(&freed) == 0; i++)
        usleep(5000);
    CHECK(atomic_load(&freed) == 1);
    /* ... and exactly once on failure, too. */
    m.act.width = WIDTH + 1;   /* shape no longer matches the data */
    CHECK(net_send_zc(push, NULL, 0, &m, free_count, &freed, &err) == ERR_INVAL);
    CHECK(atomic_load(&freed) == 2);
    CHECK(st.received == 2);

    /* Timeouts: 0 polls, 200 ms waits about 200 ms. */
    int64_t t0 = net_now_ms();
    CHECK(net_recv(pull, &rx, 0, &in, &st, &err) == ERR_TIMEOUT);
    CHECK(net_now_ms() - t0 < 50);
    t0 = net_now_ms();
    rc = net_recv(pull, &rx, 200, &in, &st, &err);
    int64_t dt = net_now_ms() - t0;
    CHECKF(rc == ERR_TIMEOUT && dt >= 195 && dt < 400, "rc %d after %lld ms", rc, (long long)dt);
    CHECK(strstr(err.msg, "no message within 200 ms") != NULL);
    CHECK(net_recv(pull, &rx, -1, &in, &st, &err) == ERR_INVAL);

    /* net_wait over two sockets. */
    void *pull2 = NULL, *push2 = NULL;
    char ep2[NET_ENDPOINT_MAX];
    CHECK(net_pull_bind(ctx, ANY, NULL, &pull2, &err) == 0 && net_endpoint(pull2, ep2, sizeof ep2, &err) == 0);
    CHECK(net_push_connect(ctx, ep2, NULL, &push2, &err) == 0);
    make_token(&in, 5, 1);
    CHECK(net_send(push2, NULL, 0, &in, &err) == 0);
    void *socks[2] = {pull, pull2};
    uint32_t ready = 0;
    CHECK(net_wait(socks, 2, 2000, &ready, &err) == 0 && ready == 2);
    expect_token(pull2, &rx, 5, 0, "after wait");
    CHECK(net_wait(socks, 2, 50, &ready, &err) == ERR_TIMEOUT && ready == 0);

    net_rx_fini(&rx);
    net_close(&push2);
    net_close(&pull2);
    net_close(&push);
    net_close(&pull);
    free(t);
}

/* A PUSH whose queue is full reports ERR_TIMEOUT after send_timeout_ms. */
static void test_send_timeout(void *ctx)
{
    err_t err;
    void *push = NULL;
    net_opts_t o;
    net_opts_default(&o);
    o.hwm = 1;
    o.send_timeout_ms = 100;
    /* Nobody listens on port 1; the connect succeeds (it is asynchronous) and messages queue. */
    CHECK(net_push_connect(ctx, "tcp://127.0.0.1:1", &o, &push, &err) == 0);
    msg_t m;
    make_token(&m, 1, 0);
    int rc = 0, sent = 0;
    int64_t t0 = net_now_ms();
    while (sent < 10 && (rc = net_send(push, NULL, 0, &m, &err)) == 0)
        sent++;
    int64_t dt = net_now_ms() - t0;
    CHECKF(rc == ERR_TIMEOUT && dt >= 90 && dt < 1000, "rc %d after %d sends, %lld ms", rc, sent, (long long)dt);
    net_close(&push);
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_raw_garbage(void *ctx)
{
    err_t err;
    void *pull = NULL, *push = NULL;
    char ep[NET_ENDPOINT_MAX];
    CHECK(net_pull_bind(ctx, ANY, NULL, &pull, &err) == 0 && net_endpoint(pull, ep, sizeof ep, &err) == 0);
    int port = port_of(ep);

    /* 1: random bytes. */
    int fd1 = raw_connect(port);
    CHECK(fd1 >= 0);
    uint8_t junk[4096];
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < sizeof junk; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        junk[i] = (uint8_t)s;
    }
    CHECK(send(fd1, junk, sizeof junk, MSG_NOSIGNAL) > 0);

    /* 2: a ZMTP 3.0 greeting (NULL mechanism), READY as a PUSH, then a frame announcing 1 TiB. */
    int fd2 = raw_connect(port);
    CHECK(fd2 >= 0);
    uint8_t g[64] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0, 'N', 'U', 'L', 'L'};
    uint8_t ready[2 + 26] = {0x04, 26, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-',
                             'T', 'y', 'p', 'e', 0, 0, 0, 4, 'P', 'U', 'S', 'H'};
    uint8_t huge[9 + 16] = {0x02, 0, 0, 1, 0, 0, 0, 0, 0, 'x'};   /* long frame, size 2^40 */
    CHECK(send(fd2, g, sizeof g, MSG_NOSIGNAL) == sizeof g);
    send(fd2, ready, sizeof ready, MSG_NOSIGNAL);
    send(fd2, huge, sizeof huge, MSG_NOSIGNAL);

    /* A real peer still gets through while both junk connections are open.  libzmq
     * may take random bytes for a ZMTP 1.0 peer and deliver frames from them: the
     * receiver drops those as malformed (ERR_PROTO) and carries on. */
    msg_t m, in;
    net_rx_t rx;
    net_rx_init(&rx);
    net_stats_t st = {0};
    CHECK(net_push_connect(ctx, ep, NULL, &push, &err) == 0);
    make_token(&m, 4242, 1);
    CHECK(net_send(push, NULL, 0, &m, &err) == 0);
    CHECK(recv_token_skipping(pull, &rx, 4242, 3000, &st) == 0);

    /* More junk on a fresh connection, then another good message. */
    int fd3 = raw_connect(port);
    CHECK(fd3 >= 0 && send(fd3, junk, 100, MSG_NOSIGNAL) > 0);
    close(fd1);
    close(fd2);
    make_token(&m, 4343, 2);
    CHECK(net_send(push, NULL, 0, &m, &err) == 0);
    CHECK(recv_token_skipping(pull, &rx, 4343, 3000, &st) == 0);
    int rc;
    while ((rc = net_recv(pull, &rx, 200, &in, &st, &err)) == ERR_PROTO) {
    }
    CHECK(rc == ERR_TIMEOUT);   /* nothing valid came from the junk */
    CHECK(st.received == 2);
    uint64_t dropped = 0;
    for (int i = 0; i < MSG_FAULT_COUNT; i++)
        dropped += st.dropped[i];
    printf("raw TCP junk: 2 good messages received, %llu junk messages dropped\n", (unsigned long long)dropped);
    close(fd3);
    net_rx_fini(&rx);
    net_close(&push);
    net_close(&pull);
}

/* Well-framed ZeroMQ messages that break the protocol are dropped and counted by reason. */
static void test_malformed(void *ctx)
{
    err_t err;
    void *pull = NULL, *raw = NULL;
    char ep[NET_ENDPOINT_MAX];
    CHECK(net_pull_bind(ctx, ANY, NULL, &pull, &err) == 0 && net_endpoint(pull, ep, sizeof ep, &err) == 0);
    raw = zmq_socket(ctx, ZMQ_PUSH);
    CHECK(raw && zmq_connect(raw, ep) == 0);

    msg_t m, in;
    make_token(&m, 9, 3);
    uint8_t body[MSG_BODY_MAX];
    msg_wire_t w;
    CHECK(msg_encode(&m, body, sizeof body, &w, &err) == 0);

    uint8_t bad[MSG_HDR_SIZE];
    memcpy(bad, w.hdr, MSG_HDR_SIZE);
    bad[0] ^= 0xFF;                                  /* bad magic */
    zmq_send(raw, bad, MSG_HDR_SIZE, ZMQ_SNDMORE);
    zmq_send(raw, w.body, w.body_len, 0);
    memcpy(bad, w.hdr, MSG_HDR_SIZE);
    bad[36] ^= 1;                                    /* bad checksum */
    zmq_send(raw, bad, MSG_HDR_SIZE, ZMQ_SNDMORE);
    zmq_send(raw, w.body, w.body_len, 0);
    memcpy(bad, w.hdr, MSG_HDR_SIZE);
    bad[4] = 1;                                      /* version 1 */
    zmq_send(raw, bad, MSG_HDR_SIZE, ZMQ_SNDMORE);
    zmq_send(raw, w.body, w.body_len, 0);
    for (int i = 0; i < 6; i++)                      /* six frames */
        zmq_send(raw, w.hdr, MSG_HDR_SIZE, i < 5 ? ZMQ_SNDMORE : 0);
    zmq_send(raw, "hello", 5, 0);                    /* one short frame */
    zmq_send(raw, w.hdr, MSG_HDR_SIZE, ZMQ_SNDMORE); /* then a good one */
    zmq_send(raw, w.body, w.body_len, 0);

    net_rx_t rx;
    net_rx_init(&rx);
    net_stats_t st = {0};
    static const char *const want[] = {
        "bad magic",
        "TOKEN: checksum",
        "protocol version 1 not supported (this build speaks ",
        "message has 6 frames, at most 3 allowed",
        "message has 1 frames, want 2 or 3",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int rc = net_recv(pull, &rx, 2000, &in, &st, &err);
        CHECKF(rc == ERR_PROTO && strstr(err.msg, want[i]) && strstr(err.msg, "dropped") &&
                   strstr(err.msg, "127.0.0.1"),
               "case %zu: rc %d: %s", i, rc, err.msg);
    }
    CHECK(st.dropped[MSG_FAULT_MAGIC] == 1 && st.dropped[MSG_FAULT_CHECKSUM] == 1);
    CHECK(st.dropped[MSG_FAULT_VERSION] == 1 && st.dropped[MSG_FAULT_FRAMES] == 2 && st.received == 0);
    expect_token(pull, &rx, 9, 2000, "good message after malformed ones");
    zmq_close(raw);
    net_rx_fini(&rx);
    net_close(&pull);
}

static void test_keys(void)
{
    err_t err;
    sec_keypair_t a, b, c;
    CHECK(sec_available());
    CHECK(sec_keypair_generate(&a, &err) == 0 && sec_keypair_generate(&b, &err) == 0);
    CHECK(memcmp(a.pub, b.pub, SEC_KEY_BYTES) != 0);
    char dir[] = "/tmp/test_transport_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char pub[256], sec[256], allow[256];
    snprintf(pub, sizeof pub, "%s/node.pub", dir);
    snprintf(sec, sizeof sec, "%s/node.key", dir);
    snprintf(allow, sizeof allow, "%s/allow.txt", dir);
    CHECKF(sec_keypair_save(&a, pub, sec, &err) == 0, "%s", err.msg);
    struct stat st;
    CHECK(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECKF(sec_keypair_load(&c, sec, &err) == 0, "%s", err.msg);
    CHECK(memcmp(&a, &c, sizeof a) == 0);   /* public key derived from the secret one */
    uint8_t p[SEC_KEY_BYTES];
    CHECK(sec_public_load(p, pub, &err) == 0 && memcmp(p, a.pub, SEC_KEY_BYTES) == 0);
    chmod(sec, 0644);
    CHECK(sec_keypair_load(&c, sec, &err) == ERR_STATE && strstr(err.msg, "0644"));
    CHECK(sec_public_load(p, "/nonexistent/x.pub", &err) == ERR_IO);

    char za[SEC_Z85_LEN + 1], zb[SEC_Z85_LEN + 1];
    sec_key_to_z85(a.pub, za);
    sec_key_to_z85(b.pub, zb);
    CHECK(strlen(za) == SEC_Z85_LEN && sec_key_from_z85(za, p, &err) == 0 && memcmp(p, a.pub, 32) == 0);
    CHECK(sec_key_from_z85("short", p, &err) == ERR_FORMAT);
    FILE *f = fopen(allow, "w");
    fprintf(f, "# devices\n%s\n\n  %s  \n%s\n", za, zb, za);
    fclose(f);
    sec_allow_t al;
    sec_allow_init(&al);
    CHECKF(sec_allow_load(&al, allow, &err) == 0, "%s", err.msg);
    CHECK(al.n == 2 && sec_allow_has(&al, a.pub) && sec_allow_has(&al, b.pub));
    f = fopen(allow, "w");
    fprintf(f, "%s\nnot-a-key\n", za);
    fclose(f);
    CHECK(sec_allow_load(&al, allow, &err) == ERR_FORMAT && strstr(err.msg, ":2"));
    f = fopen(pub, "w");
    fprintf(f, "%s\n%s\n", za, zb);
    fclose(f);
    CHECK(sec_public_load(p, pub, &err) == ERR_FORMAT && strstr(err.msg, "more than one key"));
    remove(pub);
    remove(sec);
    remove(allow);
    rmdir(dir);
}

/* Sends a TOKEN from a PUSH in client_ctx configured by o to the CURVE PULL at ep. */
static int curve_try(void *client_ctx, const char *ep, const net_opts_t *o, void *pull, uint32_t token,
                     int timeout_ms, net_rx_t *rx)
{
    err_t err;
    void *push = NULL;
    if (net_push_connect(client_ctx, ep, o, &push, &err) != 0)
        return -100;
    msg_t m;
    make_token(&m, token, 0);
    int rc = net_send(push, NULL, 0, &m, &err);
    if (rc == 0) {
        msg_t in;
        rc = net_recv(pull, rx, timeout_ms, &in, NULL, &err);
        if (rc == 0 && in.token.token != token)
            rc = -101;
    }
    net_close(&push);
    return rc;
}

static void test_curve(void)
{
    err_t err;
    void *sctx = NULL, *cctx = NULL;
    CHECK(net_ctx_create(&sctx, &err) == 0 && net_ctx_create(&cctx, &err) == 0);
    sec_keypair_t server, good, bad, other;
    CHECK(sec_keypair_generate(&server, &err) == 0 && sec_keypair_generate(&good, &err) == 0);
    CHECK(sec_keypair_generate(&bad, &err) == 0 && sec_keypair_generate(&other, &err) == 0);
    sec_allow_t allow;
    sec_allow_init(&allow);
    CHECK(sec_allow_add(&allow, good.pub, &err) == 0);

    sec_zap_t *zap = NULL, *zap2 = NULL;
    CHECKF(sec_zap_create(sctx, &allow, &zap, &err) == 0, "%s", err.msg);
    CHECK(sec_zap_create(sctx, &allow, &zap2, &err) == ERR_STATE && zap2 == NULL);

    net_opts_t so;
    net_opts_default(&so);
    so.curve = &server;
    void *pull = NULL;
    char ep[NET_ENDPOINT_MAX];
    CHECKF(net_pull_bind(sctx, ANY, &so, &pull, &err) == 0, "%s", err.msg);
    CHECK(net_endpoint(pull, ep, sizeof ep, &err) == 0);
    net_rx_t rx;
    net_rx_init(&rx);

    net_opts_t co;
    net_opts_default(&co);
    co.curve = &good;
    co.curve_server_key = server.pub;
    CHECK(curve_try(cctx, ep, &co, pull, 1, 3000, &rx) == 0);
    /* The ZAP handler's user id is the client's key, visible on received frames. */
    const char *uid = zmq_msg_gets(&rx.part[0], "User-Id");
    char zgood[SEC_Z85_LEN + 1];
    sec_key_to_z85(good.pub, zgood);
    CHECKF(uid && strcmp(uid, zgood) == 0, "User-Id %s", uid ? uid : "(none)");

    /* Junk from a raw TCP client never turns into messages on a CURVE socket
     * (on a plaintext one libzmq may parse it as ZMTP 1.0 frames). */
    int fd = raw_connect(port_of(ep));
    uint8_t junk[2048];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    CHECK(fd >= 0 && send(fd, junk, sizeof junk, MSG_NOSIGNAL) > 0);
    CHECK(curve_try(cctx, ep, &co, pull, 7, 3000, &rx) == 0);
    close(fd);

    co.curve = &bad;   /* not on the allow-list */
    CHECK(curve_try(cctx, ep, &co, pull, 2, 700, &rx) == ERR_TIMEOUT);
    uint64_t allowed = 0, denied = 0;
    sec_zap_counts(zap, &allowed, &denied);
    CHECKF(allowed >= 1 && denied >= 1, "allowed %llu denied %llu", (unsigned long long)allowed,
           (unsigned long long)denied);

    co.curve = &good;  /* wrong server key */
    co.curve_server_key = other.pub;
    CHECK(curve_try(cctx, ep, &co, pull, 3, 700, &rx) == ERR_TIMEOUT);

    CHECK(curve_try(cctx, ep, NULL, pull, 4, 700, &rx) == ERR_TIMEOUT);   /* plaintext */

    co.curve = &bad;   /* admitted at run time */
    co.curve_server_key = server.pub;
    CHECK(sec_zap_allow(zap, bad.pub, &err) == 0);
    CHECK(curve_try(cctx, ep, &co, pull, 5, 3000, &rx) == 0);

    /* A CURVE client without the server key is refused up front. */
    void *push = NULL;
    co.curve_server_key = NULL;
    CHECK(net_push_connect(cctx, ep, &co, &push, &err) == ERR_INVAL && push == NULL);

    /* ROUTER/DEALER over CURVE. */
    void *router = NULL, *dealer = NULL;
    char rep[NET_ENDPOINT_MAX];
    CHECK(net_router_bind(sctx, ANY, &so, &router, &err) == 0 && net_endpoint(router, rep, sizeof rep, &err) == 0);
    co.curve = &good;
    co.curve_server_key = server.pub;
    CHECK(net_dealer_connect(cctx, rep, "dev-9", 5, &co, &dealer, &err) == 0);
    msg_t m, in;
    make_token(&m, 6, 0);
    CHECK(net_send(dealer, NULL, 0, &m, &err) == 0);
    CHECK(net_recv(router, &rx, 3000, &in, NULL, &err) == 0 && rx.peer_len == 5 && in.token.token == 6);
    CHECK(net_send(router, rx.peer, rx.peer_len, &m, &err) == 0);
    net_rx_t drx;
    net_rx_init(&drx);
    CHECK(net_recv(dealer, &drx, 3000, &in, NULL, &err) == 0 && in.type == MSG_TOKEN);
    net_rx_fini(&drx);

    net_close(&dealer);
    net_close(&router);
    net_rx_fini(&rx);
    net_close(&pull);
    sec_zap_destroy(&zap);
    CHECK(zap == NULL);
    sec_zap_destroy(&zap);
    net_ctx_destroy(&cctx);
    net_ctx_destroy(&sctx);
    CHECK(sctx == NULL);
}

int main(void)
{
    void *ctx = NULL;
    err_t err;
    if (net_ctx_create(&ctx, &err) != 0) {
        fprintf(stderr, "test_transport: %s\n", err.msg);
        return 1;
    }
    test_router_dealer(ctx);
    test_push_pull(ctx);
    test_send_timeout(ctx);
    test_raw_garbage(ctx);
    test_malformed(ctx);
    net_ctx_destroy(&ctx);
    test_keys();
    if (sec_available())
        test_curve();
    else
        printf("test_transport: SKIP CURVE tests: libzmq lacks CURVE\n");
    return check_finish("test_transport");
}
