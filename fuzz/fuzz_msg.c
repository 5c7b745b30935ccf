/*
 * fuzz_msg.c — libFuzzer target for the protocol decoder (src/net/msg.c).
 *
 * Input layout: byte 0 is a mode, the rest is split into frames.
 *   mode bits 0-1   frame count - 1 (1..4 frames)
 *   mode bit 2      fix the header: when frame 0 is 40 bytes, write the right
 *                   payload_len and CRC32C, so the body parser is reached
 *   mode bit 3      also write a valid magic and version
 *   frames          each but the last: u16 little-endian length, then bytes;
 *                   the last frame takes what remains
 * Each frame is copied into its own heap block of exactly its size, so
 * AddressSanitizer sees a read past any frame.  When msg_decode accepts the
 * input, the target checks its promises — strings terminated within bounds,
 * counts within bounds, data pointing into the data frame, and re-encoding
 * giving back the same frames byte for byte — and traps if one breaks.  A
 * rejection must come with ERR_PROTO, a fault and a message.
 * tests/test_msg.c includes this file and runs the same checks on deterministic
 * mutations.  Build and run: fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"

#define FUZZ_REQUIRE(cond)          \
    do {                            \
        if (!(cond))                \
            __builtin_trap();       \
    } while (0)

#define FUZZ_MAX_FRAMES 4

static void fuzz_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fuzz_check_str(const char *s, size_t max)
{
    FUZZ_REQUIRE(memchr(s, 0, max + 1) != NULL);
}

/* The promises of an accepted message. */
static void fuzz_check_accepted(const msg_t *m, const msg_frame_t *fr, size_t n)
{
    FUZZ_REQUIRE(msg_type_frames(m->type) == n - 1);
    if (n == 3) {
        FUZZ_REQUIRE(m->data_len == fr[2].len);
        FUZZ_REQUIRE(m->data_len == 0 || m->data == fr[2].ptr);
    } else {
        FUZZ_REQUIRE(m->data == NULL && m->data_len == 0);
    }
    switch (m->type) {
    case MSG_HELLO:
        fuzz_check_str(m->hello.device, MSG_NAME_MAX);
        fuzz_check_str(m->hello.cpu_features, MSG_FEATURES_MAX);
        fuzz_check_str(m->hello.endpoint, MSG_ENDPOINT_MAX);
        FUZZ_REQUIRE(m->hello.n_cached <= MSG_MAX_CACHED);
        break;
    case MSG_DEPLOY:
        fuzz_check_str(m->deploy.model, MSG_PATH_MAX);
        FUZZ_REQUIRE(m->deploy.n_routes <= MSG_MAX_ROUTES && m->deploy.n_peers <= MSG_MAX_PEERS);
        FUZZ_REQUIRE(m->deploy.unit_begin < m->deploy.unit_end);
        for (uint32_t i = 0; i < m->deploy.n_routes; i++)
            fuzz_check_str(m->deploy.routes[i].endpoint, MSG_ENDPOINT_MAX);
        break;
    case MSG_STAGE_TIMES:
        FUZZ_REQUIRE(m->times.n <= MSG_MAX_TIMES);
        for (uint32_t i = 0; i < m->times.n; i++)
            FUZZ_REQUIRE(m->times.t[i].n_decode <= m->times.t[i].n_tokens);
        break;
    case MSG_PROFILE_REQ:
        FUZZ_REQUIRE(m->profile_req.batch >= 1 && m->profile_req.batch <= 4096);
        break;
    case MSG_MANIFEST: {
        FUZZ_REQUIRE(m->data_len == (size_t)m->manifest.n_tensors * MSG_MANIFEST_ENTRY);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < m->manifest.n_tensors; i++) {
            uint32_t idx;
            uint64_t bytes;
            uint8_t h[MSG_HASH_BYTES];
            msg_manifest_at(m, i, &idx, &bytes, h);
            sum += idx + bytes + h[31];
        }
        FUZZ_REQUIRE(sum != UINT64_MAX);
        break;
    }
    case MSG_PEER_KEYS:
        FUZZ_REQUIRE(m->peer_keys.n <= MSG_MAX_PEERS);
        for (uint32_t i = 0; i < m->peer_keys.n; i++)
            fuzz_check_str(m->peer_keys.peer[i].endpoint, MSG_ENDPOINT_MAX);
        break;
    case MSG_SESSION_OPEN: {
        FUZZ_REQUIRE(m->data_len == 4 * (size_t)m->open.n_tokens);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < m->open.n_tokens; i++)
            sum += msg_token_at(m, i);
        FUZZ_REQUIRE(sum != UINT64_MAX);
        break;
    }
    case MSG_KV_CHUNK:   /* the decoder vouched for the size: K and V rows, all of them readable */
        FUZZ_REQUIRE(m->data_len == (size_t)4 * m->kv.n_pos * m->kv.kv_dim && m->kv.pos0 + m->kv.n_pos <= m->kv.total);
        /* fall through */
    case MSG_ACTIVATION: {
        const uint8_t *d = m->data;
        uint64_t sum = 0;
        for (size_t i = 0; i < m->data_len; i++)
            sum += d[i];
        FUZZ_REQUIRE(sum != UINT64_MAX);
        break;
    }
    default:
        break;
    }

    /* Re-encoding gives the same frames. */
    uint8_t body[MSG_BODY_MAX];
    msg_wire_t w;
    err_t err;
    FUZZ_REQUIRE(msg_encode(m, body, sizeof body, &w, &err) == 0);
    FUZZ_REQUIRE(w.n_payload == n - 1);
    FUZZ_REQUIRE(fr[0].len == MSG_HDR_SIZE && memcmp(w.hdr, fr[0].ptr, MSG_HDR_SIZE) == 0);
    FUZZ_REQUIRE(w.body_len == fr[1].len && (w.body_len == 0 || memcmp(w.body, fr[1].ptr, w.body_len) == 0));
    if (n == 3)
        FUZZ_REQUIRE(w.data_len == fr[2].len);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = in[0];
    size_t n = 1 + (mode & 3);
    const uint8_t *p = in + 1;
    size_t left = size - 1;
    uint8_t *buf[FUZZ_MAX_FRAMES] = {0};
    msg_frame_t fr[FUZZ_MAX_FRAMES];
    size_t made = 0;
    for (; made < n; made++) {
        size_t len = left;
        if (made + 1 < n) {
            if (left < 2)
                break;
            len = (size_t)p[0] | (size_t)p[1] << 8;
            p += 2;
            left -= 2;
            if (len > left)
                len = left;
        }
        buf[made] = malloc(len ? len : 1);
        FUZZ_REQUIRE(buf[made] != NULL);
        memcpy(buf[made], p, len);
        fr[made] = (msg_frame_t){buf[made], len};
        p += len;
        left -= len;
    }
    if ((mode & 4) && made >= 1 && fr[0].len == MSG_HDR_SIZE) {
        uint32_t crc = 0;
        uint64_t total = 0;
        for (size_t i = 1; i < made; i++) {
            crc = msg_crc32c(crc, fr[i].ptr, fr[i].len);
            total += fr[i].len;
        }
        if (mode & 8) {
            fuzz_put32(buf[0], MSG_MAGIC);
            buf[0][4] = MSG_VERSION;
            buf[0][5] = 0;
        }
        fuzz_put32(buf[0] + 32, (uint32_t)total);
        fuzz_put32(buf[0] + 36, crc);
    }

    msg_t m;
    msg_fault_t fault;
    err_t err;
    err_clear(&err);
    int rc = msg_decode(fr, made, &m, &fault, &err);
    if (rc == 0) {
        FUZZ_REQUIRE(fault == MSG_FAULT_NONE);
        fuzz_check_accepted(&m, fr, made);
    } else {
        FUZZ_REQUIRE(rc == ERR_PROTO && err.code == ERR_PROTO);
        FUZZ_REQUIRE(fault > MSG_FAULT_NONE && fault < MSG_FAULT_COUNT);
        FUZZ_REQUIRE(err.msg[0] != '\0');
    }
    for (size_t i = 0; i < made; i++)
        free(buf[i]);
    return 0;
}
