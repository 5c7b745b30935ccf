/*
 * test_msg.c — the wire protocol (src/net/msg.c): a round trip of every message
 * type (typical and maximal), the byte layout of two messages written out by
 * hand, every truncation of every encoded frame, each header fault with its
 * reason, hostile bodies (huge counts and lengths, overflowing shapes, NUL in
 * strings, bad booleans, trailing bytes), encoder refusals, and a few thousand
 * deterministic mutations run through fuzz/fuzz_msg.c (included here), each of
 * which must be rejected or re-encode to the same bytes.  Every frame handed to
 * the decoder is copied into a heap block of exactly its size, so
 * AddressSanitizer catches any read past it.
 * With LL_MSG_SEED_DIR=dir set, writes the samples as fuzz seeds into dir.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_msg.c"
#include "check.h"
#include "net/msg.h"
#include "tensor/types.h"

typedef struct {
    const char *name;
    msg_t m;
    uint8_t data[1024];
} sample_t;

/* An encoded message, frames in separate arrays. */
typedef struct {
    uint8_t hdr[MSG_HDR_SIZE];
    uint8_t body[MSG_BODY_MAX];
    size_t body_len;
    uint8_t data[1024];
    size_t data_len;
    size_t nf;              /* payload frames */
} enc_t;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fill(char *s, char c, size_t n)
{
    memset(s, c, n);
    s[n] = '\0';
}

/* ---- samples of every type ---- */

static size_t make_samples(sample_t *s)
{
    size_t n = 0;
    msg_t *m;
#define NEXT(type, label)      \
    do {                       \
        s[n].name = (label);   \
        m = &s[n++].m;         \
        msg_init(m, (type));   \
    } while (0)

    NEXT(MSG_HELLO, "hello");
    m->hello.proto_version = 1;
    strcpy(m->hello.device, "pixel-7");
    m->hello.free_mem = 6ull << 30;
    m->hello.cores = 8;
    strcpy(m->hello.cpu_features, "neon dotprod fp16");
    strcpy(m->hello.endpoint, "tcp://192.168.1.7:5561");
    m->hello.has_key = true;
    for (int i = 0; i < MSG_KEY_BYTES; i++)
        m->hello.key[i] = (uint8_t)(i * 7 + 1);
    m->hello.n_cached = 3;
    for (int i = 0; i < 3; i++)
        memset(m->hello.cached[i], 0xA0 + i, MSG_HASH_BYTES);

    NEXT(MSG_HELLO, "hello-max");
    m->hello.proto_version = 7;
    fill(m->hello.device, 'd', MSG_NAME_MAX);
    m->hello.free_mem = UINT64_MAX;
    m->hello.cores = UINT32_MAX;
    fill(m->hello.cpu_features, 'f', MSG_FEATURES_MAX);
    fill(m->hello.endpoint, 'e', MSG_ENDPOINT_MAX);
    m->hello.n_cached = MSG_MAX_CACHED;
    for (int i = 0; i < MSG_MAX_CACHED; i++)
        memset(m->hello.cached[i], i, MSG_HASH_BYTES);

    NEXT(MSG_WELCOME, "welcome");
    m->welcome.device_id = 3;
    m->welcome.heartbeat_ms = 500;

    NEXT(MSG_HEARTBEAT, "heartbeat");
    m->heartbeat.seq = 42;
    m->heartbeat.n_sessions = 2;

    NEXT(MSG_DEPLOY, "deploy");
    memset(m->deploy.model_hash, 0x5A, MSG_HASH_BYTES);
    strcpy(m->deploy.model, "stories260K.gguf");
    m->deploy.unit_begin = 2;
    m->deploy.unit_end = 9;
    m->deploy.warm_begin = 1;
    m->deploy.warm_end = 11;
    m->deploy.n_ctx = 512;
    m->deploy.n_seq = 4;
    m->deploy.threads = 4;
    m->deploy.n_stages = 3;
    m->deploy.act_dtype = TYPE_F16;
    m->deploy.n_routes = 3;
    m->deploy.routes[0] = (msg_route_t){.value_id = 17, .to_unit = 9, .endpoint = "tcp://10.0.0.2:6000"};
    m->deploy.routes[1] = (msg_route_t){.value_id = 4, .to_unit = 12, .endpoint = "tcp://10.0.0.3:6000",
                                        .has_key = true};
    memset(m->deploy.routes[1].key, 0x33, MSG_KEY_BYTES);
    m->deploy.routes[2] = (msg_route_t){.value_id = MSG_VALUE_TOKEN, .to_unit = 0, .endpoint = "ipc:///tmp/x"};
    m->deploy.n_peers = 2;
    memset(m->deploy.peers[0], 0x44, MSG_KEY_BYTES);
    memset(m->deploy.peers[1], 0x55, MSG_KEY_BYTES);

    NEXT(MSG_DEPLOY, "deploy-max");
    memset(m->deploy.model_hash, 0xFF, MSG_HASH_BYTES);
    fill(m->deploy.model, 'm', MSG_PATH_MAX);
    m->deploy.unit_begin = 0;
    m->deploy.unit_end = UINT32_MAX;
    m->deploy.warm_end = UINT32_MAX;
    m->deploy.n_ctx = UINT32_MAX;
    m->deploy.n_seq = UINT32_MAX;
    m->deploy.threads = MSG_MAX_THREADS;
    m->deploy.n_stages = MSG_MAX_STAGES;
    m->deploy.act_dtype = TYPE_Q8_0;
    m->deploy.n_routes = MSG_MAX_ROUTES;
    for (int i = 0; i < MSG_MAX_ROUTES; i++) {
        msg_route_t *r = &m->deploy.routes[i];
        r->value_id = (uint32_t)i;
        r->to_unit = (uint32_t)i + 1;
        fill(r->endpoint, (char)('a' + i), MSG_ENDPOINT_MAX);
        r->has_key = true;
        memset(r->key, i, MSG_KEY_BYTES);
    }
    m->deploy.n_peers = MSG_MAX_PEERS;
    for (int i = 0; i < MSG_MAX_PEERS; i++)
        memset(m->deploy.peers[i], 0x80 + i, MSG_KEY_BYTES);

    NEXT(MSG_DEPLOY_ACK, "deploy-ack");
    m->ack.code = ERR_NOMEM;
    strcpy(m->ack.text, "KV cache of 512 positions needs 96 MiB, 64 MiB free");

    NEXT(MSG_WEIGHTS_CHUNK, "weights");
    strcpy(m->weights.name, "blk.0.attn_q.weight");
    m->weights.offset = 4096;
    m->weights.total = 65536;
    memset(m->weights.hash, 0x77, MSG_HASH_BYTES);
    m->data_len = 1000;

    NEXT(MSG_ACTIVATION, "activation-f32");
    m->act = (msg_activation_t){.seq_slot = 1, .pos0 = 7, .n_tokens = 3, .value_id = 12, .dtype = TYPE_F32,
                                .width = 64};
    m->data_len = 3 * 64 * 4;

    NEXT(MSG_ACTIVATION, "activation-q8_0");
    m->act = (msg_activation_t){.seq_slot = 0, .pos0 = 0, .n_tokens = 2, .value_id = 3, .dtype = TYPE_Q8_0,
                                .width = 64};
    m->data_len = 2 * 2 * 34;

    NEXT(MSG_ACTIVATION, "activation-f16");
    m->act = (msg_activation_t){.seq_slot = 9, .pos0 = UINT32_MAX - 1, .n_tokens = 1, .value_id = 0,
                                .dtype = TYPE_F16, .width = 10};
    m->data_len = 20;

    NEXT(MSG_KV_CHUNK, "kv-chunk");
    m->kv = (msg_kv_chunk_t){.seq_slot = 3, .node = 21, .pos0 = 64, .n_pos = 2, .kv_dim = 16, .total = 70};
    m->data_len = 4 * 2 * 16;

    NEXT(MSG_TOKEN, "token");
    m->token.token = 1234;
    m->token.seq_slot = 1;

    NEXT(MSG_SESSION_OPEN, "session-open");
    m->open = (msg_session_open_t){.seq_slot = 2, .n_tokens = 5, .n_predict = 32, .temp = 0.8f, .top_k = 40,
                                   .top_p = 0.95f, .seed = 0xDEADBEEFCAFEull, .min_p = 0.05f,
                                   .repeat_penalty = 1.1f, .repeat_last_n = 64};
    m->data_len = 20;

    NEXT(MSG_SESSION_CLOSE, "session-close");
    m->close.seq_slot = 2;

    NEXT(MSG_STAGE_TIMES, "stage-times");
    m->times.device_id = 1;
    m->times.unit_begin = 0;
    m->times.unit_end = 5;
    m->times.n = 3;
    for (int i = 0; i < 3; i++)
        m->times.t[i] = (msg_time_t){.session = 5, .step = (uint64_t)i, .n_tokens = 1, .compute_us = 1000u + i,
                                     .send_us = 50, .wait_us = 7, .n_decode = 1};

    NEXT(MSG_STAGE_TIMES, "stage-times-max");
    m->times.device_id = UINT32_MAX;
    m->times.unit_begin = 3;
    m->times.unit_end = 4;
    m->times.n = MSG_MAX_TIMES;
    for (int i = 0; i < MSG_MAX_TIMES; i++)
        m->times.t[i] = (msg_time_t){.session = UINT64_MAX, .step = UINT64_MAX - i, .n_tokens = UINT32_MAX,
                                     .compute_us = UINT32_MAX, .send_us = UINT32_MAX, .wait_us = UINT32_MAX,
                                     .n_decode = UINT32_MAX};

    NEXT(MSG_SHUTDOWN, "shutdown");
    strcpy(m->shutdown.reason, "user asked");

    NEXT(MSG_ERROR, "error");
    m->error.code = ERR_PROTO;
    fill(m->error.text, 'x', MSG_TEXT_MAX);

    NEXT(MSG_PROBE, "probe");
    m->probe.id = 99;
    m->probe.echo = true;
    strcpy(m->probe.reply, "tcp://127.0.0.1:5999");
    m->data_len = 300;

    NEXT(MSG_PROFILE_REQ, "profile-req");
    m->profile_req.rounds = 5;
    m->profile_req.probe_bytes = 1 << 16;
    m->profile_req.batch = 8;
    m->profile_req.n_peers = 2;
    strcpy(m->profile_req.peers[0], "tcp://127.0.0.1:6001");
    strcpy(m->profile_req.peers[1], "tcp://127.0.0.1:6002");

    NEXT(MSG_PROFILE, "profile");
    m->profile.n_units = 12;
    m->profile.free_mem = 1u << 30;
    m->profile.n_links = 1;
    strcpy(m->profile.links[0].endpoint, "tcp://127.0.0.1:6001");
    m->profile.links[0].latency_s = 0.005;
    m->profile.links[0].bandwidth = 2.5e6;
    m->data_len = 96;

    NEXT(MSG_PROBE, "probe-empty");
    m->probe.id = 0;
    m->probe.echo = false;
    m->data_len = 0;

    NEXT(MSG_PEER_KEYS, "peer-keys");
    m->peer_keys.n = 2;
    strcpy(m->peer_keys.peer[0].endpoint, "tcp://127.0.0.1:6001");
    memset(m->peer_keys.peer[0].key, 0xA5, MSG_KEY_BYTES);
    strcpy(m->peer_keys.peer[1].endpoint, "tcp://192.168.1.9:6002");
    memset(m->peer_keys.peer[1].key, 0x5A, MSG_KEY_BYTES);

    NEXT(MSG_MANIFEST, "manifest");
    m->manifest.n_tensors = 3;
    m->data_len = 3 * MSG_MANIFEST_ENTRY;
#undef NEXT

    for (size_t i = 0; i < n; i++) {
        s[i].m.epoch = (uint32_t)i + 1;
        s[i].m.flags = (uint32_t)(0x100u * i);
        s[i].m.session = 0x1122334455667788ull + i;
        s[i].m.step = 99 + i;
        for (size_t j = 0; j < sizeof s[i].data; j++)
            s[i].data[j] = (uint8_t)(j * 31 + i);
        if (s[i].m.type == MSG_SESSION_OPEN)
            for (uint32_t j = 0; j < s[i].m.open.n_tokens; j++)
                put32(s[i].data + 4 * j, 100 + j);
        if (s[i].m.data_len)
            s[i].m.data = s[i].data;
    }
    return n;
}

static int encode(const msg_t *m, enc_t *e, err_t *err)
{
    msg_wire_t w;
    int rc = msg_encode(m, e->body, sizeof e->body, &w, err);
    if (rc)
        return rc;
    memcpy(e->hdr, w.hdr, MSG_HDR_SIZE);
    e->body_len = w.body_len;
    e->data_len = w.data_len;
    if (w.data_len)
        memcpy(e->data, w.data, w.data_len);
    e->nf = w.n_payload;
    return 0;
}

/* Rewrites payload_len and checksum after a body or data edit. */
static void fixup(enc_t *e)
{
    put32(e->hdr + 32, (uint32_t)(e->body_len + (e->nf == 2 ? e->data_len : 0)));
    uint32_t crc = msg_crc32c(0, e->body, e->body_len);
    if (e->nf == 2)
        crc = msg_crc32c(crc, e->data, e->data_len);
    put32(e->hdr + 36, crc);
}

/* Decodes frames given as (pointer, length) after copying each into a heap block of exactly its size. */
static int decode_exact(const msg_frame_t *src, size_t n, msg_t *out, msg_fault_t *fault, err_t *err)
{
    msg_frame_t fr[8] = {{0}};
    void *blk[8];
    for (size_t i = 0; i < n; i++) {
        blk[i] = malloc(src[i].len ? src[i].len : 1);
        memcpy(blk[i], src[i].ptr, src[i].len);
        fr[i] = (msg_frame_t){blk[i], src[i].len};
    }
    int rc = msg_decode(fr, n, out, fault, err);
    /* data must not outlive the blocks: point it back at the source frame */
    if (rc == 0 && out->data_len)
        out->data = src[2].ptr;
    for (size_t i = 0; i < n; i++)
        free(blk[i]);
    return rc;
}

static int decode_enc(const enc_t *e, msg_t *out, msg_fault_t *fault, err_t *err)
{
    msg_frame_t fr[3] = {{e->hdr, MSG_HDR_SIZE}, {e->body, e->body_len}, {e->data, e->data_len}};
    return decode_exact(fr, 1 + e->nf, out, fault, err);
}

/* ---- tests ---- */

static void test_names(void)
{
    CHECK(strcmp(msg_type_name(MSG_HELLO), "HELLO") == 0);
    CHECK(strcmp(msg_type_name(MSG_STAGE_TIMES), "STAGE_TIMES") == 0);
    CHECK(strcmp(msg_type_name(MSG_PROBE), "PROBE") == 0);
    CHECK(strcmp(msg_type_name(0), "UNKNOWN") == 0);
    CHECK(strcmp(msg_type_name(MSG_TYPE_END), "UNKNOWN") == 0);
    for (uint32_t t = MSG_HELLO; t < MSG_TYPE_END; t++)
        CHECKF(strcmp(msg_type_name(t), "UNKNOWN") != 0 && msg_type_frames(t) >= 1, "type %u", t);
    CHECK(msg_type_frames(0) == 0 && msg_type_frames(MSG_TYPE_END) == 0);
    CHECK(msg_type_frames(MSG_ACTIVATION) == 2 && msg_type_frames(MSG_TOKEN) == 1);
    CHECK(strcmp(msg_fault_name(MSG_FAULT_CHECKSUM), "bad checksum") == 0);
    CHECK(strcmp(msg_fault_name(MSG_FAULT_COUNT), "unknown fault") == 0);
}

static void test_crc(void)
{
    CHECK(msg_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(msg_crc32c(0, "", 0) == 0);
    uint8_t zeros[32] = {0};
    CHECK(msg_crc32c(0, zeros, 32) == 0x8A9136AAu);   /* RFC 3720 B.4 */
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t)(i * 13);
    uint32_t whole = msg_crc32c(0, buf, sizeof buf);
    int bad = 0;
    for (size_t cut = 0; cut <= sizeof buf; cut += 7)
        bad += msg_crc32c(msg_crc32c(0, buf, cut), buf + cut, sizeof buf - cut) != whole;
    CHECK(bad == 0);
    /* The dispatched version (SSE4.2 where present) agrees with the table reference. */
    CHECK(msg_crc32c_ref(0, "123456789", 9) == 0xE3069283u);
    for (size_t len = 0; len <= 300; len++) {
        size_t off = len % 8;   /* unaligned starts too */
        bad += msg_crc32c(0x1234u, buf + off, len) != msg_crc32c_ref(0x1234u, buf + off, len);
    }
    CHECK(bad == 0);
}

static void test_roundtrip(sample_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enc_t e, e2;
        err_t err;
        int rc = encode(&s[i].m, &e, &err);
        CHECKF(rc == 0, "%s: %s", s[i].name, err.msg);
        if (rc)
            continue;
        CHECKF(e.body_len <= MSG_BODY_MAX && e.nf == msg_type_frames(s[i].m.type), "%s", s[i].name);
        msg_t *d = malloc(sizeof *d);
        msg_fault_t fault;
        rc = decode_enc(&e, d, &fault, &err);
        CHECKF(rc == 0 && fault == MSG_FAULT_NONE, "%s: %s", s[i].name, err.msg);
        if (rc == 0) {
            const msg_t *m = &s[i].m;
            CHECKF(d->type == m->type && d->epoch == m->epoch && d->flags == m->flags &&
                       d->session == m->session && d->step == m->step && d->data_len == m->data_len,
                   "%s header", s[i].name);
            CHECKF(m->data_len == 0 || memcmp(d->data, m->data, m->data_len) == 0, "%s data", s[i].name);
            size_t off = offsetof(msg_t, hello);
            CHECKF(memcmp((const char *)d + off, (const char *)m + off, sizeof *m - off) == 0, "%s fields",
                   s[i].name);
            CHECKF(encode(d, &e2, &err) == 0 && memcmp(e.hdr, e2.hdr, MSG_HDR_SIZE) == 0 &&
                       e.body_len == e2.body_len && memcmp(e.body, e2.body, e.body_len) == 0,
                   "%s re-encode", s[i].name);
        }
        free(d);
    }
    /* Spot checks on decoded values. */
    enc_t e;
    msg_t *d = malloc(sizeof *d);
    err_t err;
    CHECK(encode(&s[0].m, &e, &err) == 0 && decode_enc(&e, d, NULL, &err) == 0);
    CHECK(strcmp(d->hello.device, "pixel-7") == 0 && d->hello.cores == 8 && d->hello.n_cached == 3);
    CHECK(d->hello.has_key && d->hello.key[1] == 8 && d->hello.cached[2][31] == 0xA2);
    for (size_t i = 0; i < n; i++) {
        if (s[i].m.type != MSG_SESSION_OPEN)
            continue;
        CHECK(encode(&s[i].m, &e, &err) == 0 && decode_enc(&e, d, NULL, &err) == 0);
        CHECK(d->open.n_tokens == 5 && msg_token_at(d, 0) == 100 && msg_token_at(d, 4) == 104);
        CHECK(d->open.temp == 0.8f && d->open.top_p == 0.95f && d->open.seed == 0xDEADBEEFCAFEull);
    }
    free(d);
}

/* The layout of msg.h/msg.c, written out byte by byte. */
static void test_layout(void)
{
    msg_t m;
    msg_init(&m, MSG_HEARTBEAT);
    m.epoch = 0x01020304;
    m.flags = 0xA0B0C0D0;
    m.session = 0x1112131415161718ull;
    m.step = 0x2122232425262728ull;
    m.heartbeat.seq = 0x3132333435363738ull;
    m.heartbeat.n_sessions = 0x41424344;
    static const uint8_t body[] = {0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31, 0x44, 0x43, 0x42, 0x41};
    uint8_t hdr[MSG_HDR_SIZE] = {'L', 'L', 'N', 'K', MSG_VERSION, 0, MSG_HEARTBEAT, 0, 4, 3, 2, 1, 0xD0, 0xC0, 0xB0, 0xA0,
                                 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
                                 0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21, 12, 0, 0, 0};
    put32(hdr + 36, msg_crc32c(0, body, sizeof body));
    enc_t e;
    err_t err;
    CHECK(encode(&m, &e, &err) == 0);
    CHECK(e.body_len == sizeof body && memcmp(e.body, body, sizeof body) == 0);
    CHECK(memcmp(e.hdr, hdr, MSG_HDR_SIZE) == 0);

    msg_init(&m, MSG_ACTIVATION);
    m.act = (msg_activation_t){.seq_slot = 1, .pos0 = 2, .n_tokens = 1, .value_id = 4, .dtype = TYPE_F16,
                               .width = 2};
    uint8_t data[4] = {1, 2, 3, 4};
    m.data = data;
    m.data_len = 4;
    static const uint8_t abody[] = {1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0};
    CHECK(encode(&m, &e, &err) == 0 && e.nf == 2 && e.body_len == sizeof abody);
    CHECK(memcmp(e.body, abody, sizeof abody) == 0);
    CHECK(e.hdr[32] == 28 && e.hdr[6] == MSG_ACTIVATION);
}

/* Every strict prefix of every frame is rejected; so is every body prefix and
 * (for data-carrying types) every data prefix even with a consistent header. */
static void test_truncations(sample_t *s, size_t n)
{
    int bad = 0, tried = 0;
    err_t err;
    msg_t *d = malloc(sizeof *d);
    enc_t *e = malloc(sizeof *e), *t = malloc(sizeof *t);
    for (size_t i = 0; i < n; i++) {
        CHECK(encode(&s[i].m, e, &err) == 0);
        msg_frame_t full[3] = {{e->hdr, MSG_HDR_SIZE}, {e->body, e->body_len}, {e->data, e->data_len}};
        for (size_t f = 0; f <= e->nf; f++) {
            for (size_t len = 0; len < full[f].len; len++) {
                msg_frame_t fr[3];
                memcpy(fr, full, sizeof fr);
                fr[f].len = len;
                msg_fault_t fault;
                tried++;
                if (decode_exact(fr, 1 + e->nf, d, &fault, &err) != ERR_PROTO && bad++ < 5)
                    CHECKF(0, "%s: frame %zu cut to %zu accepted", s[i].name, f, len);
            }
        }
        /* Too few and too many frames. */
        msg_fault_t fault;
        CHECKF(decode_exact(full, e->nf, d, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_FRAMES, "%s",
               s[i].name);
        /* Prefixes with payload_len and checksum made consistent: the parser itself must refuse. */
        for (size_t len = 0; len < e->body_len; len++) {
            *t = *e;
            t->body_len = len;
            fixup(t);
            tried++;
            if ((decode_enc(t, d, &fault, &err) != ERR_PROTO || fault != MSG_FAULT_BODY) && bad++ < 5)
                CHECKF(0, "%s: body cut to %zu of %zu accepted (fault %d)", s[i].name, len, e->body_len, fault);
        }
        for (size_t len = 0; e->nf == 2 && len < e->data_len; len++) {
            *t = *e;
            t->data_len = len;
            fixup(t);
            tried++;
            if ((decode_enc(t, d, &fault, &err) != ERR_PROTO || fault != MSG_FAULT_BODY) && bad++ < 5)
                CHECKF(0, "%s: data cut to %zu of %zu accepted", s[i].name, len, e->data_len);
        }
    }
    CHECK(bad == 0);
    printf("truncations: %d tried, %d accepted\n", tried, bad);
    free(d);
    free(e);
    free(t);
}

static void expect(const enc_t *e, msg_fault_t want, const char *text, const char *what)
{
    msg_t *d = malloc(sizeof *d);
    msg_fault_t fault;
    err_t err;
    err_clear(&err);
    int rc = decode_enc(e, d, &fault, &err);
    CHECKF(rc == ERR_PROTO && err.code == ERR_PROTO && fault == want && strstr(err.msg, text),
           "%s: rc %d fault %d (%s) msg '%s', want fault %d with '%s'", what, rc, fault, msg_fault_name(fault),
           err.msg, want, text);
    free(d);
}

static void test_header_faults(sample_t *s)
{
    enc_t e, t;
    err_t err;
    CHECK(encode(&s[0].m, &e, &err) == 0);   /* HELLO */

    t = e;
    t.hdr[4] = MSG_VERSION - 1;   /* the version before this one */
    char older[96], newer[64];
    snprintf(older, sizeof older, "protocol version %d not supported (this build speaks %d)", MSG_VERSION - 1,
             MSG_VERSION);
    snprintf(newer, sizeof newer, "protocol version %d not supported", MSG_VERSION + 256);
    expect(&t, MSG_FAULT_VERSION, older, "older version");
    msg_t *d = malloc(sizeof *d);
    CHECK(decode_enc(&t, d, NULL, &err) == ERR_PROTO && strcmp(err.msg, older) == 0);
    free(d);
    t = e;
    t.hdr[5] = 1;
    expect(&t, MSG_FAULT_VERSION, newer, "version + 256");
    t = e;
    t.hdr[0] = 'X';
    expect(&t, MSG_FAULT_MAGIC, "bad magic", "magic");
    t = e;
    put16(t.hdr + 6, 0);
    expect(&t, MSG_FAULT_TYPE, "unknown message type 0", "type 0");
    put16(t.hdr + 6, MSG_TYPE_END);
    expect(&t, MSG_FAULT_TYPE, "unknown message type 20", "type 20");
    put16(t.hdr + 6, 0xFFFF);
    expect(&t, MSG_FAULT_TYPE, "unknown message type 65535", "type 65535");
    t = e;
    put16(t.hdr + 6, MSG_ACTIVATION);   /* one payload frame where two are due */
    expect(&t, MSG_FAULT_FRAMES, "ACTIVATION: 1 payload frames, want 2", "frames");
    t = e;
    put32(t.hdr + 32, (uint32_t)e.body_len + 1);
    expect(&t, MSG_FAULT_LENGTH, "payload_len", "payload_len");
    t = e;
    t.hdr[36] ^= 1;
    expect(&t, MSG_FAULT_CHECKSUM, "checksum", "checksum field");
    t = e;
    t.body[e.body_len - 1] ^= 0x80;
    expect(&t, MSG_FAULT_CHECKSUM, "HELLO: checksum", "checksum body");

    /* A flipped bit in the 1 MiB data of an activation. */
    msg_t m;
    msg_init(&m, MSG_ACTIVATION);
    m.act = (msg_activation_t){.n_tokens = 64, .dtype = TYPE_F32, .width = 4096};
    size_t bytes = 64 * 4096 * 4;
    uint8_t *big = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        big[i] = (uint8_t)(i * 7);
    m.data = big;
    m.data_len = bytes;
    msg_wire_t w;
    uint8_t body[MSG_BODY_MAX];
    CHECK(msg_encode(&m, body, sizeof body, &w, &err) == 0);
    msg_frame_t fr[4] = {{w.hdr, MSG_HDR_SIZE}, {w.body, w.body_len}, {big, bytes}, {w.body, 0}};
    msg_t *out = malloc(sizeof *out);
    CHECK(msg_decode(fr, 3, out, NULL, &err) == 0 && out->data == big && out->data_len == bytes);
    big[bytes / 2] ^= 4;
    msg_fault_t fault;
    CHECK(msg_decode(fr, 3, out, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_CHECKSUM);
    free(out);
    free(big);

    /* Header frame of the wrong size; NULL arguments. */
    fr[0].len = 39;
    CHECK(msg_decode(fr, 3, &m, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_HEADER);
    fr[0].len = 41;
    CHECK(msg_decode(fr, 3, &m, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_HEADER);
    CHECK(msg_decode(fr, 4, &m, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_FRAMES);
    CHECK(msg_decode(fr, 0, &m, &fault, &err) == ERR_PROTO && fault == MSG_FAULT_FRAMES);
    CHECK(msg_decode(NULL, 3, &m, &fault, &err) == ERR_INVAL);
}

/* Edits a body field of a copy of sample *src and expects the decoder to refuse it. */
static void body_case(const sample_t *src, size_t off, int width, uint64_t v, const char *text, const char *what)
{
    enc_t e;
    err_t err;
    CHECK(encode(&src->m, &e, &err) == 0);
    if (width == 2)
        put16(e.body + off, (uint16_t)v);
    else if (width == 4)
        put32(e.body + off, (uint32_t)v);
    else if (width == 8)
        put64(e.body + off, v);
    else
        e.body[off] = (uint8_t)v;
    fixup(&e);
    expect(&e, MSG_FAULT_BODY, text, what);
}

static const sample_t *find(const sample_t *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

static void test_body_faults(const sample_t *s, size_t n)
{
    const sample_t *hello = find(s, n, "hello"), *deploy = find(s, n, "deploy"), *act = find(s, n, "activation-f32");
    const sample_t *times = find(s, n, "stage-times"), *open = find(s, n, "session-open");
    const sample_t *weights = find(s, n, "weights"), *welcome = find(s, n, "welcome"), *probe = find(s, n, "probe");
    /* HELLO: u16 proto | str device (2+7) | u64 free_mem | u32 cores | str features (2+17) |
     *        str endpoint (2+22) | u8 has_key + 32 | u32 n_cached @ 99 */
    size_t n_cached = 2 + 9 + 8 + 4 + 19 + 24 + 33;
    body_case(hello, n_cached, 4, 0xFFFFFFFF, "'n_cached' count 4294967295 exceeds bound 64", "n_cached huge");
    body_case(hello, n_cached, 4, 65, "count 65 exceeds bound 64", "n_cached 65");
    body_case(hello, n_cached, 4, 4, "count 4 needs at least 128 bytes, 96 remain", "n_cached 4");
    body_case(hello, 2, 2, 0xFFFF, "'device' length 65535 exceeds bound 63", "device length");
    body_case(find(s, n, "shutdown"), 0, 2, 11, "'reason' needs 11 bytes at offset 2, body has 12", "past end");
    body_case(hello, 4, 1, 0, "'device' contains a NUL byte", "NUL in device");
    body_case(hello, 2 + 9 + 8 + 4 + 19 + 24, 1, 2, "'key' is 2, want 0 or 1", "bool 2");
    body_case(hello, 0, 2, 0, "'proto_version' is 0", "proto 0");
    body_case(hello, 2 + 9 + 8, 4, 0, "'cores' is 0", "cores 0");
    /* DEPLOY: hash32 | str model (2+16) | 7 x u32 @ 50.. (threads @ 74, n_stages @ 78) | act_dtype @ 82 |
     * u32 n_routes @ 86 */
    body_case(deploy, 86, 4, 1000, "'n_routes' count 1000 exceeds bound 16", "n_routes");
    body_case(deploy, 50, 4, 9, "unit range [9, 9) is empty", "unit range");
    body_case(deploy, 58, 4, 3, "warm range [3, 11) does not hold the stage's units [2, 9)", "warm begin");
    body_case(deploy, 62, 4, 8, "warm range [1, 8) does not hold the stage's units [2, 9)", "warm end");
    body_case(deploy, 74, 4, 0, "'threads' is 0", "threads 0");
    body_case(deploy, 74, 4, MSG_MAX_THREADS + 1, "'threads' is 1025", "threads 1025");
    body_case(deploy, 78, 4, 0, "'n_stages' is 0", "n_stages 0");
    body_case(deploy, 78, 4, MSG_MAX_STAGES + 1, "'n_stages' is 4097", "n_stages 4097");
    body_case(deploy, 82, 4, TYPE_Q4_0, "'act_dtype' is 2 (Q4_0)", "act dtype");
    body_case(deploy, 90 + 8, 2, 300, "'routes[0].endpoint' length 300 exceeds bound 255", "long endpoint");
    /* ACTIVATION: seq_slot, pos0, n_tokens @ 8, value_id, dtype @ 16, width @ 20 */
    body_case(act, 8, 4, 0xFFFFFFFF, "pos0 7 + n_tokens 4294967295 overflows", "n_tokens huge");
    body_case(act, 8, 4, 0x10000000, "data frame has 768", "n_tokens large");
    body_case(act, 20, 4, 0xFFFFFFFF, "data frame has 768", "width huge");
    body_case(act, 8, 4, 0, "shape [0, 64] is empty", "n_tokens 0");
    body_case(act, 16, 4, TYPE_Q4_0, "'dtype' is 2 (Q4_0)", "dtype q4_0");
    body_case(act, 16, 4, 77, "'dtype' is 77", "dtype 77");
    body_case(act, 16, 4, TYPE_Q8_0, "data frame has 768", "q8_0 size");
    body_case(act, 4, 4, 0xFFFFFFFF, "overflows u32", "pos0 overflow");
    {   /* Q8_0 needs a width that is a multiple of 32 */
        sample_t q = *find(s, n, "activation-q8_0");
        q.m.data = q.data;
        body_case(&q, 20, 4, 33, "width 33 is not a multiple of 32 for Q8_0", "q8_0 width");
    }
    /* STAGE_TIMES: 3 x u32 | u32 n @ 12 */
    body_case(times, 12, 4, 0xFFFFFFFF, "count 4294967295 exceeds bound 64", "times n");
    body_case(times, 12, 4, 64, "count 64 needs at least 2304 bytes", "times n 64");
    /* entry 0 @ 16: u64 session, u64 step, u32 n_tokens @ 32, compute, send, wait, n_decode @ 48 */
    body_case(times, 48, 4, 2, "'n_decode' 2 exceeds n_tokens 1", "times n_decode");
    /* PROFILE_REQ: u32 rounds, u32 probe_bytes, u32 batch @ 8 */
    /* PROFILE: u32 n_units @ 0 (0: links only, and then no data) */
    body_case(find(s, n, "profile"), 0, 4, 0, "0 units with 96 data bytes, want 0..65536 units", "profile no units");
    body_case(find(s, n, "profile-req"), 8, 4, 4097, "'batch' is 4097", "profile batch 4097");
    body_case(times, 4, 4, 5, "unit range [5, 5) is empty", "times units");
    /* SESSION_OPEN: seq_slot | n_tokens @ 4 | n_predict | temp @ 12 | top_k | top_p @ 20 | seed */
    body_case(open, 4, 4, MSG_MAX_TOKENS + 1, "'n_tokens' is 1048577", "tokens huge");
    body_case(open, 4, 4, 6, "6 tokens need 24 bytes, data frame has 20", "tokens count");
    body_case(open, 12, 4, 0x7FC00000, "'temp' is nan", "temp NaN");
    body_case(open, 12, 4, 0xBF800000, "'temp' is -1", "temp -1");
    body_case(open, 20, 4, 0x40000000, "'top_p' is 2", "top_p 2");
    /* WEIGHTS_CHUNK: str name (2+19) | offset @ 21 | total @ 29 | hash | bytes @ 69 */
    body_case(weights, 21, 8, UINT64_MAX, "exceeds total 65536", "offset huge");
    body_case(weights, 29, 8, 4096, "exceeds total 4096", "total small");
    body_case(weights, 69, 8, 999, "'bytes' is 999 but the data frame has 1000 bytes", "bytes");
    /* KV_CHUNK: seq_slot | node @ 4 | pos0 @ 8 | n_pos @ 12 | kv_dim @ 16 | total @ 20 */
    const sample_t *kvc = find(s, n, "kv-chunk");
    body_case(kvc, 12, 4, 0, "'n_pos' is 0, want 1..4096", "kv n_pos 0");
    body_case(kvc, 12, 4, MSG_MAX_KV_POS + 1, "'n_pos' is 4097", "kv n_pos huge");
    body_case(kvc, 12, 4, 3, "K and V of 3 x 16 F16 need 192 bytes, data frame has 128", "kv n_pos vs data");
    body_case(kvc, 16, 4, 0, "'kv_dim' is 0", "kv_dim 0");
    body_case(kvc, 16, 4, 17, "need 136 bytes, data frame has 128", "kv_dim vs data");
    body_case(kvc, 8, 4, 69, "positions 69 + 2 exceed total 70", "kv past total");
    body_case(kvc, 8, 4, 0xFFFFFFFF, "exceed total 70", "kv pos0 huge");
    body_case(kvc, 20, 4, MSG_MAX_TOKENS + 1, "exceed total 1048577", "kv total huge");
    body_case(welcome, 4, 4, 0, "'heartbeat_ms' is 0", "heartbeat 0");
    body_case(probe, 8, 1, 7, "'echo' is 7", "probe echo");
    /* PEER_KEYS: u32 n | str endpoint (2+20) | key32 | str endpoint (2+22) | key32 */
    const sample_t *keys = find(s, n, "peer-keys");
    body_case(keys, 0, 4, 17, "'n' count 17 exceeds bound 16", "peer keys n");
    body_case(keys, 0, 4, 4, "count 4 needs at least 136 bytes, 110 remain", "peer keys short");
    body_case(keys, 4, 2, 300, "'peer[0].endpoint' length 300 exceeds bound 255", "peer endpoint long");
    /* MANIFEST: u32 n_tensors | u32 bytes @ 4 */
    const sample_t *man = find(s, n, "manifest");
    body_case(man, 0, 4, 4, "4 tensors with 132 data bytes", "manifest count");
    body_case(man, 0, 4, 0, "0 tensors with 132 data bytes", "manifest empty");
    body_case(man, 4, 4, 131, "'bytes' is 131 but the data frame has 132 bytes", "manifest bytes");
    {   /* entries round-trip through the accessors */
        uint8_t data[2 * MSG_MANIFEST_ENTRY], h[MSG_HASH_BYTES], got_h[MSG_HASH_BYTES];
        memset(h, 0xC3, sizeof h);
        msg_manifest_put(data, 1, 77, 1ull << 40, h);
        msg_t mm;
        msg_init(&mm, MSG_MANIFEST);
        mm.data = data;
        uint32_t idx;
        uint64_t bytes;
        msg_manifest_at(&mm, 1, &idx, &bytes, got_h);
        CHECK(idx == 77 && bytes == 1ull << 40 && memcmp(h, got_h, sizeof h) == 0);
    }

    /* A trailing byte. */
    enc_t e;
    err_t err;
    CHECK(encode(&welcome->m, &e, &err) == 0);
    e.body[e.body_len++] = 0;
    fixup(&e);
    expect(&e, MSG_FAULT_BODY, "WELCOME: 1 trailing bytes after the body's 8", "trailing byte");
}

static void test_encode_errors(const sample_t *s, size_t n)
{
    sample_t *c = malloc(sizeof *c);
    uint8_t body[MSG_BODY_MAX];
    msg_wire_t w;
    err_t err;

    *c = *find(s, n, "activation-f32");
    c->m.data = c->data;
    c->m.act.dtype = TYPE_Q4_0;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "'dtype' is 2"));
    c->m.act.dtype = TYPE_F32;
    c->m.data_len = 767;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "data frame has 767"));
    c->m.data = NULL;
    c->m.data_len = 768;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL);

    *c = *find(s, n, "hello");
    memset(c->m.hello.device, 'x', sizeof c->m.hello.device);   /* not terminated */
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "'device'"));
    *c = *find(s, n, "hello");
    c->m.hello.n_cached = MSG_MAX_CACHED + 1;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "exceeds bound 64"));
    *c = *find(s, n, "hello");
    CHECK(msg_encode(&c->m, body, 20, &w, &err) == ERR_RANGE && strstr(err.msg, "does not fit"));
    CHECK(msg_encode(&c->m, NULL, 0, &w, &err) == ERR_RANGE);
    c->m.type = (msg_type_t)0;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL);
    *c = *find(s, n, "token");
    c->m.data = c->data;
    c->m.data_len = 4;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "carries no data"));
    *c = *find(s, n, "deploy");
    c->m.deploy.routes[1].endpoint[0] = '\0';
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "'routes[1].endpoint' is empty"));
    *c = *find(s, n, "hello");
    c->m.hello.device[0] = '\0';
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "'device' is empty"));
    *c = *find(s, n, "weights");
    c->m.weights.offset = 65000;
    CHECK(msg_encode(&c->m, body, sizeof body, &w, &err) == ERR_INVAL && strstr(err.msg, "exceeds total"));
    /* The biggest bodies fit MSG_BODY_MAX. */
    for (size_t i = 0; i < n; i++) {
        c->m = s[i].m;
        CHECKF(msg_encode(&c->m, body, sizeof body, &w, &err) == 0, "%s: %s", s[i].name, err.msg);
    }
    free(c);
}

/* Builds the fuzz target's input for frames (mode: frame count, optional fix-up). */
static size_t pack_fuzz(uint8_t *out, unsigned mode, const msg_frame_t *fr, size_t n)
{
    size_t len = 0;
    out[len++] = (uint8_t)((n - 1) | mode);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            put16(out + len, (uint16_t)fr[i].len);
            len += 2;
        }
        memcpy(out + len, fr[i].ptr, fr[i].len);
        len += fr[i].len;
    }
    return len;
}

static void test_mutations(const sample_t *s, size_t n, int rounds, uint64_t seed)
{
    static const uint64_t edge[] = {0, 1, 2, 31, 32, 33, 63, 64, 255, 256, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                    0x100000000ull, UINT64_MAX, 1ull << 63};
    enc_t *e = malloc(sizeof *e);
    uint8_t *in = malloc(3 * MSG_BODY_MAX);
    msg_t *d = malloc(sizeof *d);
    int accepted = 0, fixed = 0;
    for (int r = 0; r < rounds; r++) {
        const sample_t *src = &s[rng_next(&seed) % n];
        err_t err;
        CHECK(encode(&src->m, e, &err) == 0);
        uint8_t *frame[3] = {e->hdr, e->body, e->data};
        size_t len[3] = {MSG_HDR_SIZE, e->body_len, e->data_len};
        int k = 1 + (int)(rng_next(&seed) % 4);
        for (int j = 0; j < k; j++) {
            uint64_t x = rng_next(&seed);
            size_t f = (x >> 4) % (1 + e->nf);
            if (len[f] == 0)
                continue;
            size_t pos = (size_t)(rng_next(&seed) % len[f]);
            uint64_t v = edge[(x >> 12) % (sizeof edge / sizeof edge[0])];
            switch (x % 6) {
            case 0: frame[f][pos] ^= (uint8_t)(1u << ((x >> 20) % 8)); break;
            case 1: frame[f][pos] = (uint8_t)(x >> 24); break;
            case 2: if (pos + 2 <= len[f]) put16(frame[f] + pos, (uint16_t)v); break;
            case 3: if (pos + 4 <= len[f]) put32(frame[f] + pos, (uint32_t)v); break;
            case 4: if (pos + 8 <= len[f]) put64(frame[f] + pos, v); break;
            default: len[f] = pos; break;
            }
        }
        e->body_len = len[1];
        e->data_len = len[2];
        bool fix = rng_next(&seed) % 4 != 0;   /* mostly reach the body parser */
        if (fix && len[0] == MSG_HDR_SIZE) {
            fixup(e);
            fixed++;
        }
        msg_frame_t fr[3] = {{e->hdr, len[0]}, {e->body, len[1]}, {e->data, len[2]}};
        size_t nfr = 1 + e->nf;
        /* Through the fuzz target (no further fix-up), then directly. */
        size_t inlen = pack_fuzz(in, 0, fr, nfr);
        LLVMFuzzerTestOneInput(in, inlen);
        msg_fault_t fault;
        int rc = decode_exact(fr, nfr, d, &fault, &err);
        if (rc == 0) {
            accepted++;
            enc_t e2;
            CHECKF(encode(d, &e2, &err) == 0 && memcmp(e2.hdr, e->hdr, MSG_HDR_SIZE) == 0 &&
                       e2.body_len == len[1] && memcmp(e2.body, e->body, len[1]) == 0 && e2.data_len == len[2],
                   "round %d: accepted mutation does not re-encode identically", r);
        } else {
            CHECKF(rc == ERR_PROTO && fault != MSG_FAULT_NONE && err.msg[0], "round %d: rc %d", r, rc);
        }
    }
    printf("mutations: %d rounds (%d with consistent header), %d accepted and re-encoded identically\n", rounds,
           fixed, accepted);
    CHECK(accepted < rounds);
    free(e);
    free(in);
    free(d);
}

/* Random bytes, split at random, with and without header fix-up, through the fuzz target. */
static void test_noise(int rounds, uint64_t seed)
{
    uint8_t in[512];
    for (int r = 0; r < rounds; r++) {
        size_t len = 1 + rng_next(&seed) % sizeof in;
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)rng_next(&seed);
        if (len > 3)
            in[1] = MSG_HDR_SIZE, in[2] = 0;   /* often a 40-byte first frame */
        LLVMFuzzerTestOneInput(in, len);
    }
    CHECK(1);
}

static void write_seeds(const char *dir, const sample_t *s, size_t n)
{
    uint8_t *in = malloc(3 * MSG_BODY_MAX);
    enc_t *e = malloc(sizeof *e);
    for (size_t i = 0; i < n; i++) {
        err_t err;
        if (encode(&s[i].m, e, &err))
            continue;
        msg_frame_t fr[3] = {{e->hdr, MSG_HDR_SIZE}, {e->body, e->body_len}, {e->data, e->data_len}};
        size_t len = pack_fuzz(in, 4, fr, 1 + e->nf);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.bin", dir, s[i].name);
        FILE *f = fopen(path, "wb");
        CHECKF(f != NULL, "%s", path);
        if (f) {
            CHECK(fwrite(in, 1, len, f) == len);
            fclose(f);
        }
    }
    printf("seeds written to %s\n", dir);
    free(in);
    free(e);
}

int main(void)
{
    sample_t *s = calloc(32, sizeof *s);
    size_t n = make_samples(s);
    test_names();
    test_crc();
    test_roundtrip(s, n);
    test_layout();
    test_truncations(s, n);
    test_header_faults(s);
    test_body_faults(s, n);
    test_encode_errors(s, n);
    test_mutations(s, n, 5000, 0x9E3779B97F4A7C15ull);
    test_noise(3000, 12345);
    const char *seed_dir = getenv("LL_MSG_SEED_DIR");
    if (seed_dir)
        write_seeds(seed_dir, s, n);
    free(s);
    return check_finish("test_msg");
}
