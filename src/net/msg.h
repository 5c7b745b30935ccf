/*
 * msg.h — the LinguaLinked wire protocol: message types, their fields, and the
 * encoder and decoder between those structs and ZeroMQ frames.  Owns no sockets
 * (transport.h sends and receives) and no memory: every buffer is the caller's.
 *
 * A message is one ZeroMQ multipart message:
 *   frame 0   header, exactly MSG_HDR_SIZE (40) bytes, little-endian:
 *               off  0 u32 magic 'LLNK' (0x4B4E4C4C)   off 16 u64 session
 *               off  4 u16 version (MSG_VERSION)        off 24 u64 step
 *               off  6 u16 type (msg_type_t)            off 32 u32 payload_len
 *               off  8 u32 epoch                        off 36 u32 checksum
 *               off 12 u32 flags (free for the caller; carried unchanged)
 *   frame 1   body: the type's fields, packed little-endian (layouts in msg.c)
 *   frame 2   data, only for ACTIVATION, KV_CHUNK, WEIGHTS_CHUNK, SESSION_OPEN, PROBE, PROFILE and MANIFEST:
 *             bulk bytes whose length the body declares
 * payload_len is the sum of the sizes of frames 1.., and checksum is CRC32C
 * (Castagnoli, as in iSCSI/ext4: reflected poly 0x82F63B78, init and final xor
 * ~0) over frames 1.. in order.  The header is not covered (TCP checks it in
 * transit; with CURVE every frame is authenticated).
 *
 * Decoding treats frames as hostile: the frame count is exact for the type,
 * every string length, count and shape is checked against its bound and the
 * bytes that remain before it is used, strings may not contain NUL, booleans
 * are 0 or 1, and no trailing bytes are allowed — so a message that decodes
 * re-encodes to the same bytes.  Failures return ERR_PROTO with a message naming
 * the message type, the field, the value and the bound, and report a
 * msg_fault_t reason for drop counters.  A wrong version gets its own fault and
 * the message "protocol version 2 not supported (this build speaks 1)".
 *
 * Ownership: decoded strings and lists are copied into the msg_t (fixed arrays,
 * NUL-terminated); the data frame is NOT copied — msg_t.data points into the
 * caller's frame (zero-copy), may be unaligned, and is valid as long as that
 * frame.  For encoding, msg_t.data is borrowed until the send returns (or, for
 * zero-copy sends, until libzmq's free callback runs; see transport.h).
 */
#ifndef LL_NET_MSG_H
#define LL_NET_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define MSG_MAGIC 0x4B4E4C4Cu   /* "LLNK" as bytes on the wire */
#define MSG_VERSION 5   /* 2: DEPLOY carries the warm (replica) range; 3: DEPLOY may be a PREPARE (node/ring.h);
                          4: PROFILE_REQ batch 0 = links only, PROFILE with no units;
                          5: DEPLOY carries n_stages, ACTIVATION / TOKEN flag bursts (node/ring.h) */
#define MSG_HDR_SIZE 40

/* Bounds, each enforced by both encoder and decoder. */
#define MSG_NAME_MAX 63          /* device name */
#define MSG_TENSOR_NAME_MAX 127  /* GGUF tensor name */
#define MSG_ENDPOINT_MAX 255     /* e.g. "tcp://192.168.1.7:5561" */
#define MSG_FEATURES_MAX 255     /* e.g. "avx2 fma f16c avx512f" */
#define MSG_PATH_MAX 255         /* model name or path */
#define MSG_TEXT_MAX 1023        /* error and status texts */
#define MSG_HASH_BYTES 32        /* model and tensor hashes */
#define MSG_KEY_BYTES 32         /* CURVE public key, raw */
#define MSG_MAX_CACHED 64        /* model hashes a HELLO may list */
#define MSG_MAX_ROUTES 16        /* outgoing routes in a DEPLOY */
#define MSG_MAX_PEERS 16         /* allowed sender keys in a DEPLOY */
#define MSG_MAX_TIMES 64         /* entries in a STAGE_TIMES */
#define MSG_MAX_THREADS 1024
#define MSG_MAX_STAGES 4096
#define MSG_MAX_TOKENS (1u << 20)  /* token ids in a SESSION_OPEN */
#define MSG_BODY_MAX 8192        /* no valid body is larger: size encode buffers with it */
#define MSG_MAX_FRAMES 3         /* header + body + data */

/* value_id of the route that carries sampled tokens (TOKEN) back to the header device. */
#define MSG_VALUE_TOKEN 0xFFFFFFFFu
/* value_id of a DEPLOY route that sends the KV cache of unit to_unit to the route's endpoint (KV_CHUNK). */
#define MSG_VALUE_KV 0xFFFFFFFEu
#define MSG_MAX_KV_POS 4096u       /* positions in one KV_CHUNK */
#define MSG_MAX_KV_DIM 65536u      /* n_head_kv * head_dim */

#define MSG_TYPE_MAP(X)                                                     \
    X(HELLO,          1, "HELLO")          /* worker -> coordinator */      \
    X(WELCOME,        2, "WELCOME")        /* coordinator -> worker */      \
    X(HEARTBEAT,      3, "HEARTBEAT")      /* both ways */                  \
    X(DEPLOY,         4, "DEPLOY")         /* coordinator -> worker */      \
    X(DEPLOY_ACK,     5, "DEPLOY_ACK")     /* worker -> coordinator */      \
    X(WEIGHTS_CHUNK,  6, "WEIGHTS_CHUNK")  /* coordinator -> worker */      \
    X(ACTIVATION,     7, "ACTIVATION")     /* stage -> stage (data path) */ \
    X(TOKEN,          8, "TOKEN")          /* tail -> header, -> coord */   \
    X(SESSION_OPEN,   9, "SESSION_OPEN")   /* coordinator -> workers */     \
    X(SESSION_CLOSE, 10, "SESSION_CLOSE")  /* coordinator -> workers */     \
    X(STAGE_TIMES,   11, "STAGE_TIMES")    /* worker -> coordinator */      \
    X(SHUTDOWN,      12, "SHUTDOWN")       /* coordinator -> worker */      \
    X(ERROR,         13, "ERROR")          /* both ways */                  \
    X(PROBE,         14, "PROBE")          /* link latency/bandwidth probe */ \
    X(PROFILE_REQ,   15, "PROFILE_REQ")    /* coordinator -> worker */      \
    X(PROFILE,       16, "PROFILE")        /* worker -> coordinator */      \
    X(PEER_KEYS,     17, "PEER_KEYS")      /* coordinator -> worker (CURVE) */ \
    X(MANIFEST,      18, "MANIFEST")       /* coordinator -> worker: tensor hashes */ \
    X(KV_CHUNK,      19, "KV_CHUNK")       /* stage -> stage (data path): KV rows moving with their layer */

typedef enum {
#define MSG_TYPE_ENUM(name, value, text) MSG_##name = (value),
    MSG_TYPE_MAP(MSG_TYPE_ENUM)
#undef MSG_TYPE_ENUM
    MSG_TYPE_END = 20    /* one past the last type */
} msg_type_t;

/* Why a message was rejected; indexes drop counters (net_stats_t). */
typedef enum {
    MSG_FAULT_NONE = 0,
    MSG_FAULT_FRAMES,    /* wrong frame count for the type, or too many frames */
    MSG_FAULT_HEADER,    /* header frame not 40 bytes */
    MSG_FAULT_MAGIC,     /* not 'LLNK' */
    MSG_FAULT_VERSION,   /* another protocol version */
    MSG_FAULT_TYPE,      /* unknown message type */
    MSG_FAULT_LENGTH,    /* payload_len differs from the frames' sizes */
    MSG_FAULT_CHECKSUM,  /* CRC32C differs */
    MSG_FAULT_BODY,      /* a field is out of bounds, truncated or inconsistent */
    MSG_FAULT_COUNT
} msg_fault_t;

/* One frame as (pointer, length); the pointer is borrowed. */
typedef struct {
    const void *ptr;
    size_t len;
} msg_frame_t;

/* HELLO: a worker introduces itself. */
typedef struct {
    uint16_t proto_version;                 /* highest protocol version the worker speaks (>= 1) */
    char device[MSG_NAME_MAX + 1];          /* non-empty */
    uint64_t free_mem;                      /* bytes */
    uint32_t cores;                         /* >= 1 */
    char cpu_features[MSG_FEATURES_MAX + 1];
    char endpoint[MSG_ENDPOINT_MAX + 1];    /* where its data (PULL) socket listens; non-empty */
    bool has_key;                           /* CURVE public key of the worker (server key of its PULL) */
    uint8_t key[MSG_KEY_BYTES];             /* zero when !has_key */
    uint32_t n_cached;                      /* <= MSG_MAX_CACHED */
    uint8_t cached[MSG_MAX_CACHED][MSG_HASH_BYTES];  /* model hashes whose weights it holds */
} msg_hello_t;

/* WELCOME: the coordinator's answer to HELLO. */
typedef struct {
    uint32_t device_id;
    uint32_t heartbeat_ms;  /* interval the worker should keep; >= 1 */
} msg_welcome_t;

/* HEARTBEAT. */
typedef struct {
    uint64_t seq;           /* sender's counter */
    uint32_t n_sessions;    /* sessions the sender holds */
} msg_heartbeat_t;

/* One outgoing tensor route of a stage. */
typedef struct {
    uint32_t value_id;                      /* graph value sent this way, or MSG_VALUE_TOKEN */
    uint32_t to_unit;                       /* first unit of the consuming stage */
    char endpoint[MSG_ENDPOINT_MAX + 1];    /* its data endpoint; non-empty */
    bool has_key;                           /* CURVE server key of that endpoint */
    uint8_t key[MSG_KEY_BYTES];             /* zero when !has_key */
} msg_route_t;

/* DEPLOY: a stage assignment. */
typedef struct {
    uint8_t model_hash[MSG_HASH_BYTES];
    char model[MSG_PATH_MAX + 1];           /* model name or path (a hint; may be empty) */
    uint32_t unit_begin, unit_end;          /* units [begin, end), begin < end */
    uint32_t warm_begin, warm_end;          /* units kept resident, the stage's and its overlap replicas':
                                               warm_begin <= unit_begin, unit_end <= warm_end */
    uint32_t n_ctx, n_seq, threads;         /* each >= 1; threads <= MSG_MAX_THREADS */
    uint32_t n_stages;                      /* stages of the ring, 1..MSG_MAX_STAGES (the header paces its decode
                                               rows by it, node/batch.h) */
    uint32_t act_dtype;                     /* outgoing activations: TYPE_F32, TYPE_F16 or TYPE_Q8_0 */
    uint32_t n_routes;                      /* <= MSG_MAX_ROUTES */
    msg_route_t routes[MSG_MAX_ROUTES];
    uint32_t n_peers;                       /* <= MSG_MAX_PEERS */
    uint8_t peers[MSG_MAX_PEERS][MSG_KEY_BYTES];  /* CURVE keys allowed to push to this stage */
} msg_deploy_t;

/* DEPLOY_ACK (status 0 = deployed, else a negative ERR_* code) and ERROR (code). */
typedef struct {
    int32_t code;
    char text[MSG_TEXT_MAX + 1];
} msg_status_t;

/* WEIGHTS_CHUNK: data = bytes [offset, offset + data_len) of the tensor. */
typedef struct {
    char name[MSG_TENSOR_NAME_MAX + 1];     /* non-empty */
    uint64_t offset;
    uint64_t total;                         /* tensor bytes; offset + data_len <= total */
    uint8_t hash[MSG_HASH_BYTES];           /* of the whole tensor's bytes */
} msg_weights_t;

/* ACTIVATION: data = tensor [n_tokens][width] of dtype, row-major. */
typedef struct {
    uint32_t seq_slot;
    uint32_t pos0;          /* position of the first token; pos0 + n_tokens fits u32 */
    uint32_t n_tokens;      /* >= 1 */
    uint32_t value_id;      /* graph value id */
    uint32_t dtype;         /* TYPE_F32, TYPE_F16 or TYPE_Q8_0 (width a multiple of 32) */
    uint32_t width;         /* >= 1 */
} msg_activation_t;

/* KV_CHUNK: rows of one attention layer's KV cache for one session, sent by the
 * layer's old owner straight to its new owner when a switch moves the layer
 * (coord/epoch.h); header.epoch is the new epoch.  data = the K rows then the V
 * rows, each [n_pos][kv_dim] F16: exactly 4 * n_pos * kv_dim bytes. */
typedef struct {
    uint32_t seq_slot;
    uint32_t node;          /* graph node id of the attention layer */
    uint32_t pos0;          /* first position; pos0 + n_pos <= total */
    uint32_t n_pos;         /* 1..MSG_MAX_KV_POS */
    uint32_t kv_dim;        /* 1..MSG_MAX_KV_DIM */
    uint32_t total;         /* positions the session holds once every chunk is there (<= MSG_MAX_TOKENS) */
} msg_kv_chunk_t;

/* TOKEN: the id sampled for (header.session, header.step). */
typedef struct {
    uint32_t token;
    uint32_t seq_slot;
} msg_token_t;

/* SESSION_OPEN: data = n_tokens token ids, u32 little-endian (read with msg_token_at). */
typedef struct {
    uint32_t seq_slot;
    uint32_t n_tokens;      /* 1..MSG_MAX_TOKENS; data_len = 4 * n_tokens */
    uint32_t n_predict;
    float temp;             /* finite, >= 0 */
    uint32_t top_k;
    float top_p;            /* in [0, 1] */
    uint64_t seed;
    float min_p;            /* in [0, 1] */
    float repeat_penalty;   /* finite, > 0 */
    int32_t repeat_last_n;  /* >= -1 (-1: the whole history) */
} msg_session_open_t;

typedef struct {
    uint32_t seq_slot;
} msg_session_close_t;

/* One measured step of a stage. */
typedef struct {
    uint64_t session, step;
    uint32_t n_tokens;
    uint32_t compute_us;    /* running the units */
    uint32_t send_us;       /* pushing outputs */
    uint32_t wait_us;       /* waiting for inputs */
    uint32_t n_decode;      /* rows of the step that are one-token batches (decode rows), <= n_tokens */
} msg_time_t;

typedef struct {
    uint32_t device_id;
    uint32_t unit_begin, unit_end;
    uint32_t n;             /* <= MSG_MAX_TIMES */
    msg_time_t t[MSG_MAX_TIMES];
} msg_stage_times_t;

typedef struct {
    char reason[MSG_PATH_MAX + 1];
} msg_shutdown_t;

/* PROBE: data = data_len filler bytes; the receiver of echo = 1 sends it back with
 * echo = 0 to the data endpoint `reply` (non-empty when echo = 1). */
typedef struct {
    uint64_t id;
    bool echo;
    uint32_t size;          /* data_len */
    char reply[MSG_ENDPOINT_MAX + 1];
} msg_probe_t;

/* PROFILE_REQ: measure your units (batch > 0) and your links to these data endpoints
 * (none: units only; batch 0: links only). */
typedef struct {
    uint32_t rounds;        /* 1..1000 */
    uint32_t probe_bytes;   /* size of the bandwidth probe, 1..64 MiB */
    uint32_t batch;         /* rows per timed step (sequences decoding together), 1..4096; 0: no unit timing */
    uint32_t n_peers;       /* <= MSG_MAX_PEERS */
    char peers[MSG_MAX_PEERS][MSG_ENDPOINT_MAX + 1];
} msg_profile_req_t;

/* PROFILE: data = n_units pairs of f32 (seconds per token, spread) for every unit of the model,
 * per token of a step of the request's `batch` rows (step time / batch); none (n_units 0) for
 * a links-only request. */
typedef struct {
    uint32_t n_units;       /* 0..65536; data_len = 8 * n_units */
    uint64_t free_mem;
    uint32_t n_links;       /* <= MSG_MAX_PEERS */
    struct {
        char endpoint[MSG_ENDPOINT_MAX + 1];
        double latency_s;   /* one-way, >= 0 */
        double bandwidth;   /* bytes per second, > 0 */
    } links[MSG_MAX_PEERS];
} msg_profile_t;

/* PEER_KEYS: the CURVE server keys of other workers' data endpoints, so this
 * worker may probe them (profiling) and admit their pushes while no deployment
 * names its peers; a DEPLOY then narrows the admitted senders to its peers. */
typedef struct {
    uint32_t n;             /* <= MSG_MAX_PEERS */
    struct {
        char endpoint[MSG_ENDPOINT_MAX + 1];   /* non-empty */
        uint8_t key[MSG_KEY_BYTES];
    } peer[MSG_MAX_PEERS];
} msg_peer_keys_t;

/* MANIFEST: the size and SHA-256 of every tensor of the model, so a worker can
 * check (and fetch) exactly the tensors of its stage without hashing the rest.
 * data = n_tensors entries of MSG_MANIFEST_ENTRY bytes: u32 tensor index (in
 * the GGUF's order), u64 bytes, hash32 (read with msg_manifest_at). */
#define MSG_MANIFEST_ENTRY 44
#define MSG_MAX_TENSORS 65536
typedef struct {
    uint32_t n_tensors;     /* 1..MSG_MAX_TENSORS; data_len = MSG_MANIFEST_ENTRY * n_tensors */
} msg_manifest_t;

/* A message: header fields, the bulk data frame, and the type's fields. */
typedef struct {
    msg_type_t type;
    uint32_t epoch;         /* plan version */
    uint32_t flags;         /* carried unchanged; no bit has a meaning to this layer */
    uint64_t session;
    uint64_t step;
    const void *data;       /* data frame (ACTIVATION, WEIGHTS_CHUNK, SESSION_OPEN, PROBE, PROFILE); borrowed, maybe unaligned */
    size_t data_len;
    union {
        msg_hello_t hello;
        msg_welcome_t welcome;
        msg_heartbeat_t heartbeat;
        msg_deploy_t deploy;
        msg_status_t ack;           /* DEPLOY_ACK */
        msg_weights_t weights;
        msg_activation_t act;
        msg_kv_chunk_t kv;
        msg_token_t token;
        msg_session_open_t open;
        msg_session_close_t close;
        msg_stage_times_t times;
        msg_shutdown_t shutdown;
        msg_status_t error;         /* ERROR */
        msg_probe_t probe;
        msg_profile_req_t profile_req;
        msg_profile_t profile;
        msg_peer_keys_t peer_keys;
        msg_manifest_t manifest;
    };
} msg_t;

/* The frames of an encoded message.  hdr is stored here; body points into the
 * caller's buffer given to msg_encode; data is msg_t.data (borrowed). */
typedef struct {
    uint8_t hdr[MSG_HDR_SIZE];
    const uint8_t *body;
    size_t body_len;
    const void *data;
    size_t data_len;
    size_t n_payload;       /* 1 (body) or 2 (body, data) */
} msg_wire_t;

/* "HELLO", …; "UNKNOWN" for other values. */
const char *msg_type_name(uint32_t type);

/* "bad magic", …; "unknown fault" for other values. */
const char *msg_fault_name(uint32_t fault);

/* Payload frames of a type (1 or 2); 0 for an unknown type. */
size_t msg_type_frames(uint32_t type);

/* Zeroes *m and sets its type. */
void msg_init(msg_t *m, msg_type_t type);

/* CRC32C continued over n more bytes: start with crc = 0 and pass each call's
 * result to the next.  msg_crc32c(0, "123456789", 9) == 0xE3069283.  Uses the
 * SSE4.2 instruction when the CPU has it. */
uint32_t msg_crc32c(uint32_t crc, const void *p, size_t n);

/* The portable table-driven CRC32C (the reference msg_crc32c must agree with;
 * what msg_crc32c uses on CPUs without SSE4.2, e.g. arm64). */
uint32_t msg_crc32c_ref(uint32_t crc, const void *p, size_t n);

/* Encodes m: the body into body[0..cap), header and frame list into *w.  m is
 * validated by the decoder's rules first (ERR_INVAL naming the field when one is
 * out of bounds; ERR_RANGE when cap is too small — MSG_BODY_MAX always suffices).
 * The checksum is computed over the body and m->data, which *w borrows. */
int msg_encode(const msg_t *m, uint8_t *body, size_t cap, msg_wire_t *w, err_t *err);

/* Decodes a whole message: frames[0] is the header, frames[1..n) the payload.
 * Checks the header (size, magic, version, type), the frame count for the type,
 * payload_len and the checksum, then the body.  On success fills *out (data
 * pointing into the data frame).  On failure returns ERR_PROTO (ERR_INVAL for
 * NULL arguments), sets *fault (if non-NULL) and leaves *out unspecified. */
int msg_decode(const msg_frame_t *frames, size_t n, msg_t *out, msg_fault_t *fault, err_t *err);

/* Entry i of a MANIFEST's data (i < manifest.n_tensors; not checked), and the encoder's counterpart. */
void msg_manifest_at(const msg_t *m, size_t i, uint32_t *index, uint64_t *bytes, uint8_t hash[MSG_HASH_BYTES]);
void msg_manifest_put(uint8_t *data, size_t i, uint32_t index, uint64_t bytes, const uint8_t hash[MSG_HASH_BYTES]);

/* Token id i of a SESSION_OPEN's data (i < open.n_tokens; not checked). */
uint32_t msg_token_at(const msg_t *m, size_t i);

#endif
