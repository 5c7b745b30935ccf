/*
 * coord_internal.h — the coordinator's state, shared by coord.c (registry,
 * deployment, sessions) and coord_plan.c (profiles and placement).  Not part
 * of the public interface: include coord/coord.h instead.
 */
#ifndef LL_COORD_COORD_INTERNAL_H
#define LL_COORD_COORD_INTERNAL_H

#include "coord/coord.h"
#include "model/graph.h"
#include "net/msg.h"
#include "net/transport.h"
#include "node/manifest.h"

/* What a worker measured when asked to profile (coord_profile). */
typedef struct {
    int have;
    uint64_t free_mem;
    float *time, *spread;                    /* [n_units] seconds per token */
    double latency[COORD_MAX_WORKERS];       /* one-way seconds to worker k (measured by this worker) */
    double bandwidth[COORD_MAX_WORKERS];     /* bytes/s to worker k */
} worker_profile_t;

typedef struct {
    char name[MSG_NAME_MAX + 1];
    uint8_t id[NET_MAX_ID];
    size_t id_len;
    char endpoint[MSG_ENDPOINT_MAX + 1];
    uint64_t free_mem;
    uint32_t cores;
    int has_model;
    int64_t last_seen;
    int acked;                 /* deploy acknowledged */
    int has_key;               /* CURVE public key (authenticated by the handshake) */
    uint8_t key[MSG_KEY_BYTES];
    /* measured single-token steps (STAGE_TIMES), this epoch */
    uint64_t steps, rows;
    double compute_us_sum, send_us_sum;   /* per token: each step's time / its rows */
    worker_profile_t prof;
} worker_rec_t;

typedef struct {
    int worker;
    int begin, end;
} stage_t;

/* Weights shipped to one asker (coord_weights.c). */
typedef struct {
    uint8_t id[NET_MAX_ID];
    size_t id_len;
    int active;
    double t0, last;
    uint64_t bytes;
} coord_ship_t;

typedef struct {
    int used, done, failed;
    uint64_t id;
    coord_token_fn fn;
    void *user;
    int want_logits, has_logits;
    float *logits;             /* [n_vocab] */
    int acks_missing;          /* non-header stages that have not acknowledged the open */
    msg_t open;                /* kept to send to the header once the others are ready */
    uint32_t *prompt_wire;     /* [n_ctx]: the open's data */
} csession_t;

struct coord {
    coord_opts_t o;
    model_t *m;
    tok_t *tok;
    graph_t *g;
    seg_t *seg;
    uint8_t hash[32];
    void *zctx, *router;
    manifest_t manifest;       /* every tensor's size and hash (coord_weights.c) */
    uint8_t *manifest_wire;    /* its MANIFEST data */
    int ship_fd;               /* the model file, read with pread to serve weights */
    uint8_t *ship_buf;         /* one chunk */
    uint64_t ship_chunks;      /* chunks served */
    int corrupted;             /* the emulated fault (coord_opts_t.corrupt_tensor) has happened */
    coord_ship_t ships[COORD_MAX_WORKERS];
    sec_zap_t *zap;            /* CURVE: the allow-list of workers (coord_secure.c); NULL in plaintext */
    char endpoint[NET_ENDPOINT_MAX];
    net_rx_t rx;
    net_stats_t stats;
    worker_rec_t workers[COORD_MAX_WORKERS];
    int n_workers;
    stage_t stages[COORD_MAX_WORKERS];
    int n_stages;
    uint32_t epoch;
    csession_t *sess;          /* [n_seq] */
    uint64_t next_session;
    int64_t next_heartbeat;
};


/* Sends m to worker i over the ROUTER. */
int coord_send_to(coord_t *c, int worker, const msg_t *m, err_t *err);
/* Appends stage s's routes to d (every value it produces, to each later consumer; tokens to the header). */
int coord_routes_for(coord_t *c, int s, msg_deploy_t *d, err_t *err);
/* Receives and handles one batch of messages (as coord_poll, without the liveness check). */
int coord_pump(coord_t *c, int timeout_ms, err_t *err);

#endif
