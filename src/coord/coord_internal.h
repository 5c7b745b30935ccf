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
    /* measured single-token steps (STAGE_TIMES), this epoch */
    uint64_t steps, rows;
    double compute_us_sum, send_us_sum;   /* per token: each step's time / its rows */
    worker_profile_t prof;
} worker_rec_t;

typedef struct {
    int worker;
    int begin, end;
} stage_t;

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
/* Receives and handles one batch of messages (as coord_poll, without the liveness check). */
int coord_pump(coord_t *c, int timeout_ms, err_t *err);

#endif
