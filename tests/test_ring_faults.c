/*
 * test_ring_faults.c — the ring keeps working when things around it are wrong
 * (real worker processes, real sockets on loopback):
 *  - a worker started with a different model file is told so, leaves with an
 *    error, and is left out of the ring;
 *  - a peer speaking another protocol version (MSG_VERSION + 1) is dropped and counted by the coordinator;
 *  - raw TCP garbage on the coordinator's and a worker's ports, a malformed
 *    ZeroMQ message and an activation for a session nobody opened, sent to a
 *    worker's data port, are all dropped;
 *  - activations of a future (forged) and an old (stale) epoch, KV_CHUNKs for a
 *    node that is no attention layer, no such node, no such slot, beyond the
 *    context, with rows missing, or of an epoch that never was, are dropped by
 *    the worker; a TOKEN from a peer that is no worker is dropped and counted
 *    by the coordinator, which goes on;
 * and through all of it, greedy generation on the two good workers equals the
 * single-device engine token for token.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "ring_check.h"
#include "coord/coord.h"
#include "coord/spawn.h"
#include "exec/exec.h"
#include "model/graph.h"
#include "net/msg.h"
#include "net/transport.h"

#define N_GEN 24

static void tcp_garbage(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    if (!colon)
        return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(i * 131 + 7);
        ssize_t wrote = write(fd, junk, sizeof junk);
        (void)wrote;
        usleep(50000);
    }
    if (fd >= 0)
        close(fd);
}

/* Sends frames (raw bytes) on a fresh socket of the given type connected to endpoint. */
static void raw_send(void *zctx, int type, const char *endpoint, const msg_wire_t *w, int patch_version)
{
    void *s = zmq_socket(zctx, type);
    int linger = 200;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_DEALER)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, "rogue", 5);
    zmq_connect(s, endpoint);
    uint8_t hdr[MSG_HDR_SIZE];
    memcpy(hdr, w->hdr, sizeof hdr);
    if (patch_version)
        hdr[4] = MSG_VERSION + 1, hdr[5] = 0;
    zmq_send(s, hdr, sizeof hdr, ZMQ_SNDMORE);
    zmq_send(s, w->body, w->body_len, w->n_payload > 1 ? ZMQ_SNDMORE : 0);
    if (w->n_payload > 1)
        zmq_send(s, w->data, w->data_len, 0);
    usleep(100000);
    zmq_close(s);
}

static int check_kids(void *user, err_t *err) { return spawn_check(user, err); }

int main(void)
{
    const char *shared = check_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared absent\n");
        return 0;
    }
    char model[1024], wrong[1024];
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", shared);
    snprintf(wrong, sizeof wrong, "%s/models/stories260K-F16.gguf", shared);
    err_t err;
    err_clear(&err);

    /* Single-device reference. */
    int32_t prompt[5] = {1, 403, 407, 261, 378}, ref[N_GEN];
    ring_check_reference(model, prompt, 5, N_GEN, ref);

    coord_opts_t co;
    coord_opts_default(&co);
    co.model_path = model;
    co.n_ctx = 64;
    coord_t *c = NULL;
    CHECKF(coord_create(&co, &c, &err) == 0, "%s", err.msg);
    if (!c)
        return check_finish("test_ring_faults");
    const char *ep = coord_endpoint(c);
    void *zctx = zmq_ctx_new();

    /* A rogue peer that speaks another protocol version, and TCP garbage, at the coordinator. */
    msg_t hello;
    msg_init(&hello, MSG_HELLO);
    hello.hello.proto_version = 2;
    snprintf(hello.hello.device, sizeof hello.hello.device, "rogue");
    snprintf(hello.hello.endpoint, sizeof hello.hello.endpoint, "tcp://127.0.0.1:1");
    hello.hello.cores = 1;
    uint8_t body[MSG_BODY_MAX];
    msg_wire_t wire;
    CHECK(msg_encode(&hello, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_DEALER, ep, &wire, 1);
    tcp_garbage(ep);

    /* A worker holding another model: refused, it leaves with an error. */
    spawn_set_t bad, good;
    spawn_init(&bad);
    spawn_init(&good);
    char *bad_args[] = {"lingua", "worker", "--coordinator", (char *)ep, "-m", wrong, "--name", "wrong-model", NULL};
    CHECK(spawn_start_exe(&bad, LL_LINGUA_BIN, bad_args, &err) == 0);
    int bad_exit = 0;
    for (int i = 0; i < 100 && !bad_exit; i++) {
        coord_poll(c, 100, &err);
        bad_exit = spawn_check(&bad, &err) != 0;
    }
    CHECKF(bad_exit && strstr(err.msg, "status 1"), "the wrong-model worker must exit with an error: %s", err.msg);
    CHECK(coord_n_workers(c) == 0);

    char *a0[] = {"lingua", "worker", "--coordinator", (char *)ep, "-m", model, "--name", "good-0", NULL};
    char *a1[] = {"lingua", "worker", "--coordinator", (char *)ep, "-m", model, "--name", "good-1", NULL};
    CHECK(spawn_start_exe(&good, LL_LINGUA_BIN, a0, &err) == 0 && spawn_start_exe(&good, LL_LINGUA_BIN, a1, &err) == 0);
    int rc = coord_wait_workers(c, 2, 30000, check_kids, &good, &err);
    CHECKF(rc == 0, "%s", err.msg);
    unit_range_t ranges[2] = {{0, 5}, {5, 12}};
    if (rc == 0)
        CHECKF((rc = coord_deploy(c, ranges, 2, 30000, &err)) == 0, "%s", err.msg);
    CHECKF(coord_dropped(c) >= 1, "the version-2 HELLO must be dropped and counted (%llu)",
           (unsigned long long)coord_dropped(c));

    /* Garbage at the second worker's data port: raw TCP, bad magic, an unknown session. */
    const char *wep = coord_worker_endpoint(c, 1);
    tcp_garbage(wep);
    msg_t act;
    float rows[64];
    ring_check_stray_activation(&act, rows, 999);
    CHECK(msg_encode(&act, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);       /* well-formed, but for no open session */
    wire.hdr[0] ^= 0xff;
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);       /* bad magic */

    /* Epochs and KV moves gone wrong (coord/epoch.h, node/worker_kv.c), at the second worker's data port and at
     * the coordinator: each is dropped with a log line, and nothing of it reaches the tokens. */
    act.session = 1;
    act.epoch = 7;   /* a future epoch: forged */
    CHECK(msg_encode(&act, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);
    act.epoch = 0;   /* an old epoch: stale */
    CHECK(msg_encode(&act, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);
    uint16_t rows16[4 * 2 * 64];
    memset(rows16, 0, sizeof rows16);
    msg_t kvm;
    msg_init(&kvm, MSG_KV_CHUNK);
    kvm.epoch = 1;
    kvm.session = 1;
    kvm.data = rows16;
    const seg_t *seg = coord_seg(c);
    uint32_t attn = 0;   /* an attention layer of the second worker's units (5-12) */
    for (int i = seg->units[5].node_begin; i < seg->graph->n_nodes && !attn; i++)
        if (seg->graph->nodes[i].op == OP_ATTENTION)
            attn = (uint32_t)i;
    const uint32_t kvd = coord_model(c)->hp.n_head_kv * coord_model(c)->hp.head_dim;
    const msg_kv_chunk_t bad_kv[] = {
        {.seq_slot = 0, .node = 0, .pos0 = 0, .n_pos = 2, .kv_dim = 64, .total = 4},        /* not an attention node */
        {.seq_slot = 0, .node = 1u << 20, .pos0 = 0, .n_pos = 2, .kv_dim = 64, .total = 4}, /* no such node */
        {.seq_slot = 999, .node = attn, .pos0 = 0, .n_pos = 2, .kv_dim = kvd, .total = 4},  /* no such slot */
        {.seq_slot = 0, .node = attn, .pos0 = 0, .n_pos = 2, .kv_dim = kvd + 1, .total = 4}, /* wrong row size */
        {.seq_slot = 0, .node = attn, .pos0 = 0, .n_pos = 1, .kv_dim = kvd, .total = 100000}, /* beyond the context */
        {.seq_slot = 1, .node = attn, .pos0 = 2, .n_pos = 2, .kv_dim = kvd, .total = 8},    /* out of order */
    };
    for (size_t i = 0; i < sizeof bad_kv / sizeof bad_kv[0]; i++) {
        kvm.kv = bad_kv[i];
        kvm.data_len = 4u * kvm.kv.n_pos * kvm.kv.kv_dim;
        CHECK(msg_encode(&kvm, body, sizeof body, &wire, &err) == 0);
        raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);
    }
    kvm.kv = bad_kv[0];
    kvm.data_len = 4u * 2 * 64;
    CHECK(msg_encode(&kvm, body, sizeof body, &wire, &err) == 0);
    wire.data_len -= 16;   /* rows missing: the declared sizes no longer hold */
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);
    kvm.epoch = 9;         /* a KV move of an epoch that never was */
    kvm.data_len = 4u * 2 * 64;
    CHECK(msg_encode(&kvm, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_PUSH, wep, &wire, 0);
    uint64_t dropped_before = coord_dropped(c);
    msg_t tok;
    msg_init(&tok, MSG_TOKEN);   /* a TOKEN from a peer that is no worker */
    tok.epoch = 1;
    tok.session = 1;
    CHECK(msg_encode(&tok, body, sizeof body, &wire, &err) == 0);
    raw_send(zctx, ZMQ_DEALER, ep, &wire, 0);
    for (int i = 0; i < 10; i++)
        CHECKF(coord_poll(c, 20, &err) == 0, "a rogue TOKEN must not stop the coordinator: %s", err.msg);
    CHECKF(coord_dropped(c) > dropped_before, "the rogue TOKEN must be counted as dropped");

    /* The ring still generates what one device does. */
    CHECKF(rc == 0 && ring_check_session(c, prompt, 5, N_GEN, ref), "ring output differs from one device");
    CHECKF(spawn_check(&good, &err) == 0, "a good worker died: %s", err.msg);
    coord_shutdown(c);
    spawn_stop_all(&good, 3000);
    spawn_stop_all(&bad, 100);
    zmq_ctx_term(zctx);
    coord_destroy(&c);
    return check_finish("test_ring_faults");
}
