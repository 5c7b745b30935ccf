/*
 * worker_internal.h — the worker daemon's state and the helpers its files
 * share: worker.c (deployment, sessions, the data path, the event loop),
 * batch.c (gathering every ready session into one step) and
 * worker_profile.c (timing units and probing links on request).  Not an
 * interface for other modules: they use node/worker.h.
 */
#ifndef LL_NODE_WORKER_INTERNAL_H
#define LL_NODE_WORKER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec/exec.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/samp.h"
#include "model/seg.h"
#include "model/tok.h"
#include "net/msg.h"
#include "net/transport.h"
#include "node/link.h"
#include "node/worker.h"
#include "node/manifest.h"
#include "node/worker_fetch.h"
#include "node/worker_secure.h"
#include "node/worker_weights.h"

#define PENDING_PER_SLOT 8
#define SEND_BUFFERS 16
#define MAX_PUSH 16
#define MAX_INPUTS 32
#define TIMES_FLUSH_MS 250
#define PROBE_SMALL 64               /* bytes of a latency probe */
#define SEND_BUFFER_MIN (256 << 10)   /* bytes: a link probe fits */

typedef struct {
    int used;
    uint32_t pos0, n_tokens, flags;
    uint32_t have;           /* bit i: exec input i arrived */
    float *buf;              /* [n_inputs][max_batch * width_i], see input_offset */
} pending_t;

typedef struct {
    int active;
    uint64_t id;
    /* header */
    int32_t *prompt;
    int n_prompt, prompt_fed, n_past;
    int have_token;
    int32_t token;
    /* tail */
    samp_t *samp;
    int32_t *history;        /* [n_ctx] */
    int n_hist, n_predict, n_gen, want_logits;
    /* stages with several inputs */
    pending_t pend[PENDING_PER_SLOT];
    /* a resumed session waiting for its KV rows (worker_kv.c) */
    int kv_wait;
    int hold;                /* header: resumed but not yet told to start (RING_OPEN_HEADER) */
    uint32_t kv_need;        /* positions every layer must hold */
} wsession_t;

typedef struct {
    void *buf;
    size_t cap;
    atomic_int in_use;
} sendbuf_t;

/* One session's rows in a step (batch.c). */
typedef struct {
    int slot;                /* session slot */
    int row0, n;             /* its rows in the step: row0..row0+n-1 */
    uint32_t pos0, flags;    /* position of row0; RING_ACT_* of the batch */
    int logits_row;          /* index into the step's logits when it samples, else -1 */
} step_piece_t;

/* The step buffers (batch.c), sized at deploy for the executor's max_batch rows. */
typedef struct {
    int cap;                 /* rows */
    int32_t *tokens;         /* [cap] */
    int *row_seq, *row_pos;  /* [cap] */
    int *logit_rows;         /* [cap] */
    float *inputs;           /* input_offset[n_inputs] floats: the pending_t layout */
    step_piece_t *pieces;    /* [cap] */
} worker_step_t;

typedef struct worker {
    const worker_opts_t *o;
    model_t *m;
    tok_t *tok;
    graph_t *g;
    seg_t *seg;
    uint8_t hash[32];
    void *zctx, *ctl, *data;
    worker_sec_t *sec;       /* CURVE state; NULL for a plaintext worker */
    manifest_t manifest;     /* the coordinator's tensor hashes (worker_weights.c) */
    uint8_t *verified;       /* per tensor: WEIGHTS_* (worker_weights.h) */
    worker_prepare_t prep;   /* the next deployment's weights, made resident meanwhile (worker_weights.c) */
    worker_fetch_t fetch;    /* running from a cache (worker_fetch.c) */
    char endpoint[NET_ENDPOINT_MAX];
    net_rx_t rx_ctl, rx_data;
    net_stats_t stats;
    int64_t last_heard, next_heartbeat;
    uint64_t heartbeat_seq;
    /* deployment */
    exec_t *ex;
    msg_deploy_t dep;
    uint32_t epoch;
    void *push[MAX_PUSH];
    char push_ep[MAX_PUSH][MSG_ENDPOINT_MAX + 1];
    bool push_deferred[MAX_PUSH];        /* created by a DEPLOY, connected at the epoch's first SESSION_OPEN */
    int n_push;
    int route_push[MSG_MAX_ROUTES];      /* push socket of each route */
    int is_header, is_tail;
    int n_inputs;
    size_t input_offset[MAX_INPUTS + 1]; /* floats into pending_t.buf */
    wsession_t *sess;                    /* [n_seq] */
    int n_seq, rr;
    worker_step_t step;
    sendbuf_t send[SEND_BUFFERS];
    size_t send_cap;
    int shutdown, refused;
    /* emulated link and measured times */
    link_t link;
    msg_t times;             /* STAGE_TIMES being filled */
    int64_t times_sent_ms;
    /* KV moves (worker_kv.c) */
    exec_t *ex_old;                      /* the previous stage's executor while its KV is handed over */
    uint64_t *old_ids;                   /* [old_n_seq] session of each old slot still to hand over (0: none) */
    int old_n_seq, old_pending;
    int kv_route_unit[MSG_MAX_ROUTES], kv_route_push[MSG_MAX_ROUTES], n_kv_routes;
    uint64_t *kv_sess;                   /* [n_seq] session whose rows the slot collects */
    uint32_t *kv_have;                   /* [n_seq][n_layer] positions held (kept or received, in order) */
    uint8_t *kv_kept;                    /* [n_layer] copied from the old executor at deploy */
    uint64_t kv_sent_bytes, kv_recv_bytes;
    /* epochs (worker_epoch.c) */
    uint64_t stale;          /* data messages of an older epoch dropped */
    uint32_t stale_logged;   /* the epoch whose first stale message was logged */
    uint64_t decode_steps;   /* single-token batches run (the emulated slowdown starts at o->slowdown_step) */
    int64_t more_until_us;   /* a data message said more of its sender's step follows: the next step waits for
                                them until this time (link_now_us), 0 when nothing is announced (batch.h) */
    /* link probes of a profile */
    uint64_t probe_id;
    int probe_arrived;
} worker_t;

void worker_log(const worker_t *w, const char *what, const char *detail);
int worker_send_ctl(worker_t *w, const msg_t *m, err_t *err);
/* A DEPLOY_ACK under the worker's epoch: flags RING_ACK_* say what it answers (header.session = session). */
int worker_ack(worker_t *w, uint64_t session, uint32_t flags, int code, const char *text, err_t *err);
void worker_send_error(worker_t *w, int code, const char *text);
/* A free pooled send buffer of at least n bytes, or NULL. */
sendbuf_t *worker_sendbuf_take(worker_t *w, size_t n);
/* Makes every pooled send buffer at least need bytes (0, or -1 when out of memory). */
int worker_grow_send_buffers(worker_t *w, size_t need);
/* Sends on the data path through the (possibly emulated) link; sb: pooled data sent without a copy. */
int worker_shaped_send(worker_t *w, void *sock, const msg_t *m, sendbuf_t *sb, err_t *err);
/* Index of the PUSH socket to a data endpoint, connected on first use (negative ERR_* on failure). */
int worker_push_to(worker_t *w, const char *endpoint, err_t *err);
/* The same socket, created but connected only by worker_push_connect_deferred: a DEPLOY's routes.  The
 * coordinator sends the epoch's first SESSION_OPEN only once every stage has acknowledged its DEPLOY, so by
 * then every receiver has the epoch's CURVE allow-list; a sender connecting earlier could be refused at the
 * handshake, and libzmq never retries a refused handshake. */
int worker_push_defer(worker_t *w, const char *endpoint, err_t *err);
int worker_push_connect_deferred(worker_t *w, err_t *err);
/* Pushes n rows of one output value of session s to a route's socket, in the wire dtype. */
int worker_push_activation(worker_t *w, void *sock, const wsession_t *s, uint32_t value, const float *rows,
                           uint32_t pos0, uint32_t n, uint32_t flags, err_t *err);
/* Tail: samples session s's next token from logits [n_vocab] and sends it on;
 * more_follow: another token of the same step follows (RING_TOKEN_MORE). */
int worker_sample_and_send(worker_t *w, wsession_t *s, const float *logits, int more_follow, err_t *err);
/* Handles one message from the data socket. */
int worker_handle_data(worker_t *w, const msg_t *m, err_t *err);

/* worker_epoch.c: 0 for the deployed epoch; 1 for an older one (drop; counted and logged once
 * per epoch); ERR_STATE naming the message for a newer one. */
int worker_check_epoch(worker_t *w, const msg_t *m, err_t *err);

/* worker_kv.c (see there) */
/* Before a redeploy to new_epoch: keep ex and its sessions' ids when ex is of the epoch just before. */
int worker_kv_keep_old(worker_t *w, uint32_t new_epoch);
int worker_kv_deploy(worker_t *w, const msg_deploy_t *d, err_t *err);   /* after: kept layers, KV routes */
/* A RESUME open of slot s with n_hist tokens: hand over rows, check ours; 0 ready, 1 waiting for chunks. */
int worker_kv_resume(worker_t *w, int s, uint64_t session, uint32_t n_hist, err_t *err);
void worker_kv_forget_old(worker_t *w, int s);            /* slot s opened afresh or closed */
/* A KV_CHUNK; *ready_slot >= 0 when it completed a waiting session (acknowledge its open). */
int worker_kv_chunk(worker_t *w, const msg_t *m, int *ready_slot, err_t *err);
void worker_kv_free_old(worker_t *w);
void worker_kv_fini(worker_t *w);

/* worker_profile.c */
int worker_handle_probe(worker_t *w, const msg_t *m, err_t *err);
int worker_run_profile(worker_t *w, const msg_t *req, err_t *err);

#endif
