/*
 * msg.c — encoder and decoder of the wire protocol; the contract is in msg.h.
 *
 * Each message type has one field-walk function (hello_io, deploy_io, …) that
 * lists its body fields in wire order.  The same walk writes (encode) or reads
 * (decode) through an io_t cursor, so the two directions cannot drift apart.
 * Reads check every length against the bytes that remain and every count
 * against its bound before touching memory; after a walk, validate() applies
 * the semantic rules (non-empty names, shapes, ranges) to the struct, for both
 * directions.  Nothing here allocates; the only state is the caller's.
 *
 * Body layouts (little-endian; str = u16 length + bytes, no NUL; key = u8 present
 * + 32 bytes when present; [n]x = u32 count n then n items):
 *   HELLO          u16 proto_version, str device, u64 free_mem, u32 cores,
 *                  str cpu_features, str endpoint, key, [n]hash32
 *   WELCOME        u32 device_id, u32 heartbeat_ms
 *   HEARTBEAT      u64 seq, u32 n_sessions
 *   DEPLOY         hash32 model_hash, str model, u32 unit_begin, unit_end, warm_begin, warm_end, n_ctx,
 *                  n_seq, threads, n_stages, act_dtype, [n](u32 value_id, u32 to_unit,
 *                  str endpoint, key), [n]key32 peers
 *   DEPLOY_ACK,
 *   ERROR          i32 code, str text
 *   WEIGHTS_CHUNK  str name, u64 offset, u64 total, hash32, u64 data bytes
 *   ACTIVATION     u32 seq_slot, pos0, n_tokens, value_id, dtype, width
 *   KV_CHUNK       u32 seq_slot, node, pos0, n_pos, kv_dim, total
 *   TOKEN          u32 token, u32 seq_slot
 *   SESSION_OPEN   u32 seq_slot, n_tokens, n_predict, f32 temp, u32 top_k,
 *                  f32 top_p, u64 seed, f32 min_p, f32 repeat_penalty, i32 repeat_last_n
 *   SESSION_CLOSE  u32 seq_slot
 *   STAGE_TIMES    u32 device_id, unit_begin, unit_end,
 *                  [n](u64 session, u64 step, u32 n_tokens, compute_us, send_us, wait_us, n_decode)
 *   SHUTDOWN       str reason
 *   PROBE          u64 id, u8 echo, str reply, u32 data bytes
 *   PROFILE_REQ    u32 rounds, u32 probe_bytes, u32 batch, [n] str peers
 *   PROFILE        u32 n_units, u64 free_mem, [n](str endpoint, f64 latency_s, f64 bandwidth)
 *   PEER_KEYS      [n](str endpoint, key32)
 *   MANIFEST       u32 n_tensors, u32 data bytes (entries: msg.h)
 */
#include "net/msg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tensor/types.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* ---- names ---- */

const char *msg_type_name(uint32_t type)
{
    switch (type) {
#define MSG_TYPE_CASE(name, value, text) case value: return text;
    MSG_TYPE_MAP(MSG_TYPE_CASE)
#undef MSG_TYPE_CASE
    default: return "UNKNOWN";
    }
}

const char *msg_fault_name(uint32_t fault)
{
    static const char *const names[MSG_FAULT_COUNT] = {
        [MSG_FAULT_NONE] = "none",
        [MSG_FAULT_FRAMES] = "bad frame count",
        [MSG_FAULT_HEADER] = "bad header size",
        [MSG_FAULT_MAGIC] = "bad magic",
        [MSG_FAULT_VERSION] = "unsupported version",
        [MSG_FAULT_TYPE] = "unknown type",
        [MSG_FAULT_LENGTH] = "bad payload length",
        [MSG_FAULT_CHECKSUM] = "bad checksum",
        [MSG_FAULT_BODY] = "bad body",
    };
    return fault < MSG_FAULT_COUNT ? names[fault] : "unknown fault";
}

size_t msg_type_frames(uint32_t type)
{
    switch (type) {
    case MSG_ACTIVATION: case MSG_WEIGHTS_CHUNK: case MSG_SESSION_OPEN: case MSG_PROBE: case MSG_PROFILE:
    case MSG_MANIFEST:
    case MSG_KV_CHUNK:
        return 2;
    default:
        return (type >= MSG_HELLO && type < MSG_TYPE_END) ? 1 : 0;
    }
}

void msg_init(msg_t *m, msg_type_t type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

/* ---- CRC32C ---- */

/* Reflected Castagnoli table, byte at a time. */
static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
/* The SSE4.2 crc32 instruction computes the same reflected CRC32C, 8 bytes a step. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
    }
    c = (uint32_t)c64;
    for (; n > 0; p++, n--)
        c = _mm_crc32_u8(c, *p);
    return c;
}
static int crc_hw_available(void) { return __builtin_cpu_supports("sse4.2"); }
#else
static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n) { return crc_sw(c, p, n); }
static int crc_hw_available(void) { return 0; }
#endif

uint32_t msg_crc32c_ref(uint32_t crc, const void *p, size_t n)
{
    return ~crc_sw(~crc, p, n);
}

uint32_t msg_crc32c(uint32_t crc, const void *p, size_t n)
{
    if (n == 0)
        return crc;
    uint32_t c = ~crc;
    c = crc_hw_available() ? crc_hw(c, p, n) : crc_sw(c, p, n);
    return ~c;
}

/* ---- little-endian helpers ---- */

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint32_t msg_token_at(const msg_t *m, size_t i)
{
    return (uint32_t)get_le((const uint8_t *)m->data + 4 * i, 4);
}

/* ---- the field cursor ---- */

typedef struct {
    bool write;             /* encode (true) or decode */
    uint8_t *w;             /* encode: output */
    const uint8_t *r;       /* decode: input */
    size_t cap;             /* bytes of w or r */
    size_t off;             /* cursor */
    int rc;                 /* first failure, 0 while none */
    const char *type;       /* type name, for messages */
    const char *list;       /* list being walked, or NULL */
    uint32_t item;          /* its index */
    err_t *err;
} io_t;

/* Records the first failure as "TYPE: field 'list[i].field' <what>". */
__attribute__((format(printf, 4, 5)))
static void io_fail(io_t *io, int code, const char *field, const char *fmt, ...)
{
    if (io->rc)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (io->list)
        io->rc = err_set(io->err, code, "%s: field '%s[%u].%s' %s", io->type, io->list, io->item, field, what);
    else
        io->rc = err_set(io->err, code, "%s: field '%s' %s", io->type, field, what);
}

/* Bound violations are the caller's fault when encoding, the peer's when decoding. */
static int io_code(const io_t *io) { return io->write ? ERR_INVAL : ERR_PROTO; }

static bool io_room(io_t *io, const char *field, size_t n)
{
    if (io->rc)
        return false;
    if (n <= io->cap - io->off)
        return true;
    if (io->write)
        io_fail(io, ERR_RANGE, field, "does not fit: body buffer of %zu bytes is full at offset %zu", io->cap, io->off);
    else
        io_fail(io, ERR_PROTO, field, "needs %zu bytes at offset %zu, body has %zu", n, io->off, io->cap);
    return false;
}

static void io_raw(io_t *io, const char *field, void *p, size_t n)
{
    if (!io_room(io, field, n))
        return;
    if (io->write)
        memcpy(io->w + io->off, p, n);
    else
        memcpy(p, io->r + io->off, n);
    io->off += n;
}

static uint64_t io_uint(io_t *io, const char *field, uint64_t v, size_t n)
{
    if (!io_room(io, field, n))
        return 0;
    if (io->write)
        put_le(io->w + io->off, v, n);
    else
        v = get_le(io->r + io->off, n);
    io->off += n;
    return v;
}

/* The typed wrappers store only when decoding: when encoding, *v may be const. */
static void io_u16(io_t *io, const char *f, uint16_t *v)
{
    uint16_t t = (uint16_t)io_uint(io, f, *v, 2);
    if (!io->write)
        *v = t;
}

static void io_u32(io_t *io, const char *f, uint32_t *v)
{
    uint32_t t = (uint32_t)io_uint(io, f, *v, 4);
    if (!io->write)
        *v = t;
}

static void io_u64(io_t *io, const char *f, uint64_t *v)
{
    uint64_t t = io_uint(io, f, *v, 8);
    if (!io->write)
        *v = t;
}

/* Signed and float fields travel as their two's-complement / IEEE-754 bits. */
static void io_i32(io_t *io, const char *f, int32_t *v)
{
    uint32_t u;
    memcpy(&u, v, 4);
    u = (uint32_t)io_uint(io, f, u, 4);
    if (!io->write)
        memcpy(v, &u, 4);
}

static void io_f32(io_t *io, const char *f, float *v)
{
    uint32_t u;
    memcpy(&u, v, 4);
    u = (uint32_t)io_uint(io, f, u, 4);
    if (!io->write)
        memcpy(v, &u, 4);
}

static void io_f64(io_t *io, const char *f, double *v)
{
    uint64_t u;
    memcpy(&u, v, 8);
    u = io_uint(io, f, u, 8);
    if (!io->write)
        memcpy(v, &u, 8);
}

static void io_bool(io_t *io, const char *f, bool *b)
{
    uint8_t u = (uint8_t)io_uint(io, f, *b ? 1 : 0, 1);
    if (io->write)
        return;
    if (u > 1)
        io_fail(io, ERR_PROTO, f, "is %u, want 0 or 1", u);
    *b = u == 1;
}

/* A string of at most max bytes into/out of a NUL-terminated char[max + 1]. */
static void io_str(io_t *io, const char *f, char *s, size_t max)
{
    if (io->rc)
        return;
    if (io->write) {
        size_t len = strnlen(s, max + 1);
        if (len > max) {
            io_fail(io, ERR_INVAL, f, "length exceeds bound %zu (or is not NUL-terminated)", max);
            return;
        }
        uint16_t len16 = (uint16_t)len;
        io_u16(io, f, &len16);
        io_raw(io, f, s, len);
        return;
    }
    uint16_t len = 0;
    io_u16(io, f, &len);
    if (io->rc)
        return;
    if (len > max) {
        io_fail(io, ERR_PROTO, f, "length %u exceeds bound %zu", len, max);
        return;
    }
    if (!io_room(io, f, len))
        return;
    if (memchr(io->r + io->off, 0, len)) {
        io_fail(io, ERR_PROTO, f, "contains a NUL byte");
        return;
    }
    io_raw(io, f, s, len);
    s[len] = '\0';
}

/* An optional CURVE key: u8 present, then 32 bytes when present. */
static void io_key(io_t *io, const char *f, bool *has, uint8_t key[MSG_KEY_BYTES])
{
    io_bool(io, f, has);
    if (*has)
        io_raw(io, f, key, MSG_KEY_BYTES);
    else if (!io->write)
        memset(key, 0, MSG_KEY_BYTES);
}

/* A list count: bounded by max, and when decoding by the bytes that remain at
 * min_item bytes per item, so a huge count is refused before the loop runs. */
static void io_count(io_t *io, const char *f, uint32_t *n, uint32_t max, size_t min_item)
{
    if (io->write && *n > max) {
        io_fail(io, ERR_INVAL, f, "count %u exceeds bound %u", *n, max);
        return;
    }
    io_u32(io, f, n);
    if (io->rc || io->write)
        return;
    if (*n > max)
        io_fail(io, ERR_PROTO, f, "count %u exceeds bound %u", *n, max);
    else if ((size_t)*n * min_item > io->cap - io->off)
        io_fail(io, ERR_PROTO, f, "count %u needs at least %zu bytes, %zu remain", *n,
                (size_t)*n * min_item, io->cap - io->off);
}

/* A length that must equal the data frame's size. */
static void io_data_len(io_t *io, const char *f, size_t data_len, size_t width)
{
    uint64_t v = data_len;
    v = io_uint(io, f, v, width);
    if (!io->rc && !io->write && v != data_len)
        io_fail(io, ERR_PROTO, f, "is %llu but the data frame has %zu bytes", (unsigned long long)v, data_len);
}

/* ---- field walks, one per type (layouts at the top of the file) ---- */

static void hello_io(io_t *io, msg_hello_t *h)
{
    io_u16(io, "proto_version", &h->proto_version);
    io_str(io, "device", h->device, MSG_NAME_MAX);
    io_u64(io, "free_mem", &h->free_mem);
    io_u32(io, "cores", &h->cores);
    io_str(io, "cpu_features", h->cpu_features, MSG_FEATURES_MAX);
    io_str(io, "endpoint", h->endpoint, MSG_ENDPOINT_MAX);
    io_key(io, "key", &h->has_key, h->key);
    io_count(io, "n_cached", &h->n_cached, MSG_MAX_CACHED, MSG_HASH_BYTES);
    for (uint32_t i = 0; i < h->n_cached && !io->rc; i++)
        io_raw(io, "cached", h->cached[i], MSG_HASH_BYTES);
}

static void deploy_io(io_t *io, msg_deploy_t *d)
{
    io_raw(io, "model_hash", d->model_hash, MSG_HASH_BYTES);
    io_str(io, "model", d->model, MSG_PATH_MAX);
    io_u32(io, "unit_begin", &d->unit_begin);
    io_u32(io, "unit_end", &d->unit_end);
    io_u32(io, "warm_begin", &d->warm_begin);
    io_u32(io, "warm_end", &d->warm_end);
    io_u32(io, "n_ctx", &d->n_ctx);
    io_u32(io, "n_seq", &d->n_seq);
    io_u32(io, "threads", &d->threads);
    io_u32(io, "n_stages", &d->n_stages);
    io_u32(io, "act_dtype", &d->act_dtype);
    io_count(io, "n_routes", &d->n_routes, MSG_MAX_ROUTES, 4 + 4 + 2 + 1);
    io->list = "routes";
    for (uint32_t i = 0; i < d->n_routes && !io->rc; i++) {
        msg_route_t *r = &d->routes[i];
        io->item = i;
        io_u32(io, "value_id", &r->value_id);
        io_u32(io, "to_unit", &r->to_unit);
        io_str(io, "endpoint", r->endpoint, MSG_ENDPOINT_MAX);
        io_key(io, "key", &r->has_key, r->key);
    }
    io->list = NULL;
    io_count(io, "n_peers", &d->n_peers, MSG_MAX_PEERS, MSG_KEY_BYTES);
    for (uint32_t i = 0; i < d->n_peers && !io->rc; i++)
        io_raw(io, "peers", d->peers[i], MSG_KEY_BYTES);
}

static void status_io(io_t *io, msg_status_t *s)
{
    io_i32(io, "code", &s->code);
    io_str(io, "text", s->text, MSG_TEXT_MAX);
}

static void times_io(io_t *io, msg_stage_times_t *t)
{
    io_u32(io, "device_id", &t->device_id);
    io_u32(io, "unit_begin", &t->unit_begin);
    io_u32(io, "unit_end", &t->unit_end);
    io_count(io, "n", &t->n, MSG_MAX_TIMES, 36);
    io->list = "t";
    for (uint32_t i = 0; i < t->n && !io->rc; i++) {
        msg_time_t *e = &t->t[i];
        io->item = i;
        io_u64(io, "session", &e->session);
        io_u64(io, "step", &e->step);
        io_u32(io, "n_tokens", &e->n_tokens);
        io_u32(io, "compute_us", &e->compute_us);
        io_u32(io, "send_us", &e->send_us);
        io_u32(io, "wait_us", &e->wait_us);
        io_u32(io, "n_decode", &e->n_decode);
    }
    io->list = NULL;
}

/* Walks the body of m->type; m is only read when io->write. */
static void body_io(io_t *io, msg_t *m)
{
    switch (m->type) {
    case MSG_HELLO: hello_io(io, &m->hello); break;
    case MSG_WELCOME:
        io_u32(io, "device_id", &m->welcome.device_id);
        io_u32(io, "heartbeat_ms", &m->welcome.heartbeat_ms);
        break;
    case MSG_HEARTBEAT:
        io_u64(io, "seq", &m->heartbeat.seq);
        io_u32(io, "n_sessions", &m->heartbeat.n_sessions);
        break;
    case MSG_DEPLOY: deploy_io(io, &m->deploy); break;
    case MSG_DEPLOY_ACK: status_io(io, &m->ack); break;
    case MSG_WEIGHTS_CHUNK:
        io_str(io, "name", m->weights.name, MSG_TENSOR_NAME_MAX);
        io_u64(io, "offset", &m->weights.offset);
        io_u64(io, "total", &m->weights.total);
        io_raw(io, "hash", m->weights.hash, MSG_HASH_BYTES);
        io_data_len(io, "bytes", m->data_len, 8);
        break;
    case MSG_ACTIVATION:
        io_u32(io, "seq_slot", &m->act.seq_slot);
        io_u32(io, "pos0", &m->act.pos0);
        io_u32(io, "n_tokens", &m->act.n_tokens);
        io_u32(io, "value_id", &m->act.value_id);
        io_u32(io, "dtype", &m->act.dtype);
        io_u32(io, "width", &m->act.width);
        break;
    case MSG_KV_CHUNK:
        io_u32(io, "seq_slot", &m->kv.seq_slot);
        io_u32(io, "node", &m->kv.node);
        io_u32(io, "pos0", &m->kv.pos0);
        io_u32(io, "n_pos", &m->kv.n_pos);
        io_u32(io, "kv_dim", &m->kv.kv_dim);
        io_u32(io, "total", &m->kv.total);
        break;
    case MSG_TOKEN:
        io_u32(io, "token", &m->token.token);
        io_u32(io, "seq_slot", &m->token.seq_slot);
        break;
    case MSG_SESSION_OPEN:
        io_u32(io, "seq_slot", &m->open.seq_slot);
        io_u32(io, "n_tokens", &m->open.n_tokens);
        io_u32(io, "n_predict", &m->open.n_predict);
        io_f32(io, "temp", &m->open.temp);
        io_u32(io, "top_k", &m->open.top_k);
        io_f32(io, "top_p", &m->open.top_p);
        io_u64(io, "seed", &m->open.seed);
        io_f32(io, "min_p", &m->open.min_p);
        io_f32(io, "repeat_penalty", &m->open.repeat_penalty);
        io_i32(io, "repeat_last_n", &m->open.repeat_last_n);
        break;
    case MSG_SESSION_CLOSE: io_u32(io, "seq_slot", &m->close.seq_slot); break;
    case MSG_STAGE_TIMES: times_io(io, &m->times); break;
    case MSG_SHUTDOWN: io_str(io, "reason", m->shutdown.reason, MSG_PATH_MAX); break;
    case MSG_ERROR: status_io(io, &m->error); break;
    case MSG_PROBE:
        io_u64(io, "id", &m->probe.id);
        io_bool(io, "echo", &m->probe.echo);
        io_str(io, "reply", m->probe.reply, MSG_ENDPOINT_MAX);
        io_data_len(io, "bytes", m->data_len, 4);
        break;
    case MSG_PROFILE_REQ:
        io_u32(io, "rounds", &m->profile_req.rounds);
        io_u32(io, "probe_bytes", &m->profile_req.probe_bytes);
        io_u32(io, "batch", &m->profile_req.batch);
        io_count(io, "n_peers", &m->profile_req.n_peers, MSG_MAX_PEERS, 8);
        for (uint32_t i = 0; i < m->profile_req.n_peers && !io->rc; i++)
            io_str(io, "peers", m->profile_req.peers[i], MSG_ENDPOINT_MAX);
        break;
    case MSG_PROFILE:
        io_u32(io, "n_units", &m->profile.n_units);
        io_u64(io, "free_mem", &m->profile.free_mem);
        io_count(io, "n_links", &m->profile.n_links, MSG_MAX_PEERS, 8 + 16);
        for (uint32_t i = 0; i < m->profile.n_links && !io->rc; i++) {
            io_str(io, "endpoint", m->profile.links[i].endpoint, MSG_ENDPOINT_MAX);
            io_f64(io, "latency_s", &m->profile.links[i].latency_s);
            io_f64(io, "bandwidth", &m->profile.links[i].bandwidth);
        }
        io_data_len(io, "bytes", m->data_len, 4);
        break;
    case MSG_PEER_KEYS:
        io_count(io, "n", &m->peer_keys.n, MSG_MAX_PEERS, 2 + MSG_KEY_BYTES);
        io->list = "peer";
        for (uint32_t i = 0; i < m->peer_keys.n && !io->rc; i++) {
            io->item = i;
            io_str(io, "endpoint", m->peer_keys.peer[i].endpoint, MSG_ENDPOINT_MAX);
            io_raw(io, "key", m->peer_keys.peer[i].key, MSG_KEY_BYTES);
        }
        io->list = NULL;
        break;
    case MSG_MANIFEST:
        io_u32(io, "n_tensors", &m->manifest.n_tensors);
        io_data_len(io, "bytes", m->data_len, 4);
        break;
    default:
        io_fail(io, io_code(io), "type", "%u is not a message type", (unsigned)m->type);
    }
}

/* ---- semantic checks, shared by both directions ---- */

static bool act_dtype_ok(uint32_t t) { return t == TYPE_F32 || t == TYPE_F16 || t == TYPE_Q8_0; }

static int validate(const msg_t *m, int code, err_t *err)
{
    const char *tn = msg_type_name(m->type);
    switch (m->type) {
    case MSG_HELLO: {
        const msg_hello_t *h = &m->hello;
        if (h->proto_version < 1)
            return err_set(err, code, "%s: field 'proto_version' is 0, want >= 1", tn);
        if (!h->device[0])
            return err_set(err, code, "%s: field 'device' is empty", tn);
        if (h->cores < 1)
            return err_set(err, code, "%s: field 'cores' is 0, want >= 1", tn);
        if (!h->endpoint[0])
            return err_set(err, code, "%s: field 'endpoint' is empty", tn);
        return 0;
    }
    case MSG_WELCOME:
        if (m->welcome.heartbeat_ms < 1)
            return err_set(err, code, "%s: field 'heartbeat_ms' is 0, want >= 1", tn);
        return 0;
    case MSG_DEPLOY: {
        const msg_deploy_t *d = &m->deploy;
        if (d->unit_begin >= d->unit_end)
            return err_set(err, code, "%s: unit range [%u, %u) is empty", tn, d->unit_begin, d->unit_end);
        if (d->warm_begin > d->unit_begin || d->warm_end < d->unit_end)
            return err_set(err, code, "%s: warm range [%u, %u) does not hold the stage's units [%u, %u)", tn,
                           d->warm_begin, d->warm_end, d->unit_begin, d->unit_end);
        if (d->n_ctx < 1 || d->n_seq < 1)
            return err_set(err, code, "%s: n_ctx %u and n_seq %u must be >= 1", tn, d->n_ctx, d->n_seq);
        if (d->threads < 1 || d->threads > MSG_MAX_THREADS)
            return err_set(err, code, "%s: field 'threads' is %u, want 1..%u", tn, d->threads, MSG_MAX_THREADS);
        if (d->n_stages < 1 || d->n_stages > MSG_MAX_STAGES)
            return err_set(err, code, "%s: field 'n_stages' is %u, want 1..%u", tn, d->n_stages, MSG_MAX_STAGES);
        if (!act_dtype_ok(d->act_dtype))
            return err_set(err, code, "%s: field 'act_dtype' is %u (%s), want F32, F16 or Q8_0", tn,
                           d->act_dtype, type_name(d->act_dtype));
        for (uint32_t i = 0; i < d->n_routes && i < MSG_MAX_ROUTES; i++)
            if (!d->routes[i].endpoint[0])
                return err_set(err, code, "%s: field 'routes[%u].endpoint' is empty", tn, i);
        return 0;
    }
    case MSG_WEIGHTS_CHUNK: {
        const msg_weights_t *w = &m->weights;
        if (!w->name[0])
            return err_set(err, code, "%s: field 'name' is empty", tn);
        if (w->offset > w->total || m->data_len > w->total - w->offset)
            return err_set(err, code, "%s: tensor '%s': offset %llu + %zu bytes exceeds total %llu", tn, w->name,
                           (unsigned long long)w->offset, m->data_len, (unsigned long long)w->total);
        return 0;
    }
    case MSG_ACTIVATION: {
        const msg_activation_t *a = &m->act;
        if (a->n_tokens < 1 || a->width < 1)
            return err_set(err, code, "%s: shape [%u, %u] is empty", tn, a->n_tokens, a->width);
        if (!act_dtype_ok(a->dtype))
            return err_set(err, code, "%s: field 'dtype' is %u (%s), want F32, F16 or Q8_0", tn, a->dtype,
                           type_name(a->dtype));
        if (a->pos0 > UINT32_MAX - a->n_tokens)
            return err_set(err, code, "%s: pos0 %u + n_tokens %u overflows u32", tn, a->pos0, a->n_tokens);
        size_t row = type_row_bytes(a->dtype, a->width);
        if (row == 0)
            return err_set(err, code, "%s: width %u is not a multiple of %zu for %s", tn, a->width,
                           type_block_elems(a->dtype), type_name(a->dtype));
        size_t bytes;
        if (__builtin_mul_overflow(row, (size_t)a->n_tokens, &bytes) || bytes != m->data_len)
            return err_set(err, code, "%s: shape [%u, %u] %s needs %zu x %u bytes, data frame has %zu", tn,
                           a->n_tokens, a->width, type_name(a->dtype), row, a->n_tokens, m->data_len);
        return 0;
    }
    case MSG_KV_CHUNK: {
        const msg_kv_chunk_t *k = &m->kv;
        if (k->n_pos < 1 || k->n_pos > MSG_MAX_KV_POS)
            return err_set(err, code, "%s: field 'n_pos' is %u, want 1..%u", tn, k->n_pos, MSG_MAX_KV_POS);
        if (k->kv_dim < 1 || k->kv_dim > MSG_MAX_KV_DIM)
            return err_set(err, code, "%s: field 'kv_dim' is %u, want 1..%u", tn, k->kv_dim, MSG_MAX_KV_DIM);
        if (k->total > MSG_MAX_TOKENS || k->pos0 > k->total || k->n_pos > k->total - k->pos0)
            return err_set(err, code, "%s: positions %u + %u exceed total %u (at most %u)", tn, k->pos0, k->n_pos,
                           k->total, MSG_MAX_TOKENS);
        if (m->data_len != (size_t)4 * k->n_pos * k->kv_dim)
            return err_set(err, code, "%s: K and V of %u x %u F16 need %zu bytes, data frame has %zu", tn, k->n_pos,
                           k->kv_dim, (size_t)4 * k->n_pos * k->kv_dim, m->data_len);
        return 0;
    }
    case MSG_SESSION_OPEN: {
        const msg_session_open_t *o = &m->open;
        if (o->n_tokens < 1 || o->n_tokens > MSG_MAX_TOKENS)
            return err_set(err, code, "%s: field 'n_tokens' is %u, want 1..%u", tn, o->n_tokens, MSG_MAX_TOKENS);
        if (m->data_len != (size_t)o->n_tokens * 4)
            return err_set(err, code, "%s: %u tokens need %zu bytes, data frame has %zu", tn, o->n_tokens,
                           (size_t)o->n_tokens * 4, m->data_len);
        if (!isfinite(o->temp) || o->temp < 0)
            return err_set(err, code, "%s: field 'temp' is %g, want finite >= 0", tn, (double)o->temp);
        if (!(o->top_p >= 0 && o->top_p <= 1))
            return err_set(err, code, "%s: field 'top_p' is %g, want 0..1", tn, (double)o->top_p);
        if (!(o->min_p >= 0 && o->min_p <= 1))
            return err_set(err, code, "%s: field 'min_p' is %g, want 0..1", tn, (double)o->min_p);
        if (!isfinite(o->repeat_penalty) || !(o->repeat_penalty > 0))
            return err_set(err, code, "%s: field 'repeat_penalty' is %g, want finite > 0", tn,
                           (double)o->repeat_penalty);
        if (o->repeat_last_n < -1)
            return err_set(err, code, "%s: field 'repeat_last_n' is %d, want >= -1", tn, o->repeat_last_n);
        return 0;
    }
    case MSG_STAGE_TIMES:
        if (m->times.unit_begin >= m->times.unit_end)
            return err_set(err, code, "%s: unit range [%u, %u) is empty", tn, m->times.unit_begin,
                           m->times.unit_end);
        for (uint32_t i = 0; i < m->times.n; i++)
            if (m->times.t[i].n_decode > m->times.t[i].n_tokens)
                return err_set(err, code, "%s: t[%u]: 'n_decode' %u exceeds n_tokens %u", tn, i,
                               m->times.t[i].n_decode, m->times.t[i].n_tokens);
        return 0;
    case MSG_PROBE:
        if (m->data_len > UINT32_MAX)
            return err_set(err, code, "%s: %zu data bytes exceed u32", tn, m->data_len);
        if (m->probe.echo && !m->probe.reply[0])
            return err_set(err, code, "%s: an echo request needs a reply endpoint", tn);
        return 0;
    case MSG_PROFILE_REQ:
        if (m->profile_req.rounds < 1 || m->profile_req.rounds > 1000)
            return err_set(err, code, "%s: field 'rounds' is %u, want 1..1000", tn, m->profile_req.rounds);
        if (m->profile_req.batch > 4096)
            return err_set(err, code, "%s: field 'batch' is %u, want 0..4096", tn, m->profile_req.batch);
        if (m->profile_req.probe_bytes < 1 || m->profile_req.probe_bytes > (64u << 20))
            return err_set(err, code, "%s: field 'probe_bytes' is %u, want 1..%u", tn, m->profile_req.probe_bytes,
                           64u << 20);
        for (uint32_t i = 0; i < m->profile_req.n_peers; i++)
            if (!m->profile_req.peers[i][0])
                return err_set(err, code, "%s: peer %u has an empty endpoint", tn, i);
        return 0;
    case MSG_PROFILE:
        if (m->profile.n_units > 65536 || m->data_len != (size_t)m->profile.n_units * 8)
            return err_set(err, code, "%s: %u units with %zu data bytes, want 0..65536 units of 8 bytes", tn,
                           m->profile.n_units, m->data_len);
        for (uint32_t i = 0; i < m->profile.n_links; i++)
            if (!(m->profile.links[i].latency_s >= 0) || !isfinite(m->profile.links[i].latency_s) ||
                !(m->profile.links[i].bandwidth > 0) || !isfinite(m->profile.links[i].bandwidth))
                return err_set(err, code, "%s: link %u has latency %g s, bandwidth %g B/s", tn, i,
                               m->profile.links[i].latency_s, m->profile.links[i].bandwidth);
        return 0;
    case MSG_PEER_KEYS:
        for (uint32_t i = 0; i < m->peer_keys.n && i < MSG_MAX_PEERS; i++)
            if (!m->peer_keys.peer[i].endpoint[0])
                return err_set(err, code, "%s: field 'peer[%u].endpoint' is empty", tn, i);
        return 0;
    case MSG_MANIFEST:
        if (m->manifest.n_tensors < 1 || m->manifest.n_tensors > MSG_MAX_TENSORS ||
            m->data_len != (size_t)m->manifest.n_tensors * MSG_MANIFEST_ENTRY)
            return err_set(err, code, "%s: %u tensors with %zu data bytes, want 1..%u tensors of %d bytes", tn,
                           m->manifest.n_tensors, m->data_len, MSG_MAX_TENSORS, MSG_MANIFEST_ENTRY);
        return 0;
    default:
        return 0;
    }
}

/* ---- encode ---- */

int msg_encode(const msg_t *m, uint8_t *body, size_t cap, msg_wire_t *w, err_t *err)
{
    if (!m || !w || (!body && cap))
        return err_set(err, ERR_INVAL, "msg_encode: NULL argument");
    size_t nf = msg_type_frames(m->type);
    if (nf == 0)
        return err_set(err, ERR_INVAL, "msg_encode: %u is not a message type", (unsigned)m->type);
    if (nf == 1 && m->data_len)
        return err_set(err, ERR_INVAL, "%s: carries no data frame, data_len is %zu", msg_type_name(m->type),
                       m->data_len);
    if (m->data_len && !m->data)
        return err_set(err, ERR_INVAL, "%s: data is NULL with data_len %zu", msg_type_name(m->type), m->data_len);
    int rc = validate(m, ERR_INVAL, err);
    if (rc)
        return rc;

    /* The walk only reads *m when writing; the cast lets both directions share it. */
    io_t io = {.write = true, .w = body, .cap = cap, .type = msg_type_name(m->type), .err = err};
    body_io(&io, (msg_t *)m);
    if (io.rc)
        return io.rc;
    if (io.off + m->data_len < io.off || io.off + m->data_len > UINT32_MAX)
        return err_set(err, ERR_RANGE, "%s: payload of %zu + %zu bytes exceeds the u32 payload_len",
                       io.type, io.off, m->data_len);

    uint32_t crc = msg_crc32c(0, body, io.off);
    crc = msg_crc32c(crc, m->data, m->data_len);
    uint8_t *h = w->hdr;
    put_le(h + 0, MSG_MAGIC, 4);
    put_le(h + 4, MSG_VERSION, 2);
    put_le(h + 6, (uint64_t)m->type, 2);
    put_le(h + 8, m->epoch, 4);
    put_le(h + 12, m->flags, 4);
    put_le(h + 16, m->session, 8);
    put_le(h + 24, m->step, 8);
    put_le(h + 32, io.off + m->data_len, 4);
    put_le(h + 36, crc, 4);
    w->body = body;
    w->body_len = io.off;
    w->data = m->data;
    w->data_len = m->data_len;
    w->n_payload = nf;
    return 0;
}

/* ---- decode ---- */

static int reject(msg_fault_t *fault, msg_fault_t f, err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(msg_fault_t *fault, msg_fault_t f, err_t *err, const char *fmt, ...)
{
    if (fault)
        *fault = f;
    if (err) {
        char buf[ERR_MSG_LEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        err_set(err, ERR_PROTO, "%s", buf);
    }
    return ERR_PROTO;
}

int msg_decode(const msg_frame_t *frames, size_t n, msg_t *out, msg_fault_t *fault, err_t *err)
{
    if (fault)
        *fault = MSG_FAULT_NONE;
    if (!frames || !out)
        return err_set(err, ERR_INVAL, "msg_decode: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!frames[i].ptr && frames[i].len)
            return err_set(err, ERR_INVAL, "msg_decode: frame %zu is NULL with length %zu", i, frames[i].len);
    if (n < 2 || n > MSG_MAX_FRAMES)
        return reject(fault, MSG_FAULT_FRAMES, err, "message has %zu frames, want 2 or 3", n);
    if (frames[0].len != MSG_HDR_SIZE)
        return reject(fault, MSG_FAULT_HEADER, err, "header frame has %zu bytes, want %d", frames[0].len,
                      MSG_HDR_SIZE);
    const uint8_t *h = frames[0].ptr;
    uint32_t magic = (uint32_t)get_le(h, 4);
    if (magic != MSG_MAGIC)
        return reject(fault, MSG_FAULT_MAGIC, err, "bad magic 0x%08x, want 0x%08x ('LLNK')", magic, MSG_MAGIC);
    unsigned version = (unsigned)get_le(h + 4, 2);
    if (version != MSG_VERSION)
        return reject(fault, MSG_FAULT_VERSION, err, "protocol version %u not supported (this build speaks %d)",
                      version, MSG_VERSION);
    unsigned type = (unsigned)get_le(h + 6, 2);
    size_t nf = msg_type_frames(type);
    if (nf == 0)
        return reject(fault, MSG_FAULT_TYPE, err, "unknown message type %u", type);
    if (n != 1 + nf)
        return reject(fault, MSG_FAULT_FRAMES, err, "%s: %zu payload frames, want %zu", msg_type_name(type),
                      n - 1, nf);
    uint32_t payload_len = (uint32_t)get_le(h + 32, 4);
    uint64_t sum = 0;
    for (size_t i = 1; i < n; i++) {
        if (frames[i].len > UINT32_MAX)
            return reject(fault, MSG_FAULT_LENGTH, err, "%s: frame %zu has %zu bytes, more than payload_len can say",
                          msg_type_name(type), i, frames[i].len);
        sum += frames[i].len;
    }
    if (sum != payload_len)
        return reject(fault, MSG_FAULT_LENGTH, err, "%s: payload_len %u but payload frames hold %llu bytes",
                      msg_type_name(type), payload_len, (unsigned long long)sum);
    uint32_t want = (uint32_t)get_le(h + 36, 4);
    uint32_t crc = 0;
    for (size_t i = 1; i < n; i++)
        crc = msg_crc32c(crc, frames[i].ptr, frames[i].len);
    if (crc != want)
        return reject(fault, MSG_FAULT_CHECKSUM, err, "%s: checksum 0x%08x, header says 0x%08x",
                      msg_type_name(type), crc, want);

    msg_init(out, (msg_type_t)type);
    out->epoch = (uint32_t)get_le(h + 8, 4);
    out->flags = (uint32_t)get_le(h + 12, 4);
    out->session = get_le(h + 16, 8);
    out->step = get_le(h + 24, 8);
    if (nf == 2) {
        out->data = frames[2].len ? frames[2].ptr : NULL;
        out->data_len = frames[2].len;
    }
    io_t io = {.write = false, .r = frames[1].ptr, .cap = frames[1].len, .type = msg_type_name(type), .err = err};
    body_io(&io, out);
    if (io.rc) {
        if (fault)
            *fault = MSG_FAULT_BODY;
        return ERR_PROTO;
    }
    if (io.off != io.cap)
        return reject(fault, MSG_FAULT_BODY, err, "%s: %zu trailing bytes after the body's %zu", io.type,
                      io.cap - io.off, io.off);
    if (validate(out, ERR_PROTO, err)) {
        if (fault)
            *fault = MSG_FAULT_BODY;
        return ERR_PROTO;
    }
    return 0;
}

void msg_manifest_at(const msg_t *m, size_t i, uint32_t *index, uint64_t *bytes, uint8_t hash[MSG_HASH_BYTES])
{
    const uint8_t *e = (const uint8_t *)m->data + i * MSG_MANIFEST_ENTRY;
    *index = (uint32_t)get_le(e, 4);
    *bytes = get_le(e + 4, 8);
    memcpy(hash, e + 12, MSG_HASH_BYTES);
}

void msg_manifest_put(uint8_t *data, size_t i, uint32_t index, uint64_t bytes, const uint8_t hash[MSG_HASH_BYTES])
{
    uint8_t *e = data + i * MSG_MANIFEST_ENTRY;
    put_le(e, index, 4);
    put_le(e + 4, bytes, 8);
    memcpy(e + 12, hash, MSG_HASH_BYTES);
}
