/*
 * coord_internal.h — the coordinator's state, shared by coord.c (registry,
 * deployment, sessions) and coord_plan.c (profiles and placement).  Not part
 * of the public interface: include coord/coord.h instead.
 */
#ifndef LL_COORD_COORD_INTERNAL_H
#define LL_COORD_COORD_INTERNAL_H

#include "coord/coord.h"
#include "coord/balancer.h"
#include "coord/epoch.h"
#include "coord/monitor.h"
#include "coord/prepare.h"
#include "model/graph.h"
#include "net/msg.h"
#include "net/transport.h"
#include "node/manifest.h"

/* What a worker measured when asked to profile (coord_profile). */
typedef struct {
    int have;                                /* the last request was answered */
    int slot;                                /* where its unit times go: index k into coord_t.profile_batches,
                                                -1: every slot (a joiner, timed at profile_batch only) */
    uint64_t free_mem;
    float *time_at[COORD_PROFILE_MAX_BATCHES];   /* [n_units] seconds per token at coord_t.profile_batches[k] */
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
    uint32_t warm_begin, warm_end;  /* the units it holds resident (0, 0: none): its last deployment's stage, and
                                       its warm range once it said its replicas are resident (prepare.c) */
    uint32_t replica_begin, replica_end, replica_epoch;  /* that warm range, and the epoch of the deployment */
    int has_key;               /* CURVE public key (authenticated by the handshake) */
    uint8_t key[MSG_KEY_BYTES];
    int lost;                  /* declared lost (recovery.c); cleared when it says HELLO again */
    int joining;               /* said HELLO while the ring runs: 1 new, 3 keys sent, 2 asked to profile (join.c) */
    uint32_t keys_sent, keys_acked;  /* PEER_KEYS sent to it, and acknowledged (coord_secure.c) */
    int closed;                /* its connection closed (monitor): lost at the next liveness check */
    int fd;                    /* TCP socket of its control connection (ZMQ_SRCFD), -1 unknown */
    /* measured single-token steps (STAGE_TIMES), this epoch */
    uint64_t steps, rows;
    double compute_us_sum, send_us_sum;   /* per token: each step's time / its rows */
    coord_monitor_t mon;       /* smoothed decode step times, this epoch (monitor.h) */
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
    uint32_t *prompt_wire;     /* [n_ctx]: the prompt, then every token accepted so far (the replay history) */
    uint32_t epoch;            /* the epoch the session runs in: TOKENs of any other epoch are stale */
    int n_prompt, n_gen, n_predict;
    samp_params_t sp;
    int header_sent;           /* the open that starts the session went to the header */
    int started;               /* the header acknowledged that open */
    int gen_epoch;             /* tokens accepted under the current epoch */
    int64_t open_ms;           /* when that open was sent */
} csession_t;

#define COORD_MAX_EPOCHS 1024   /* epoch records kept for reports (older ones are dropped) */

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
    int64_t t0_ms;                     /* coord_create: epoch times are relative to it */
    char why[96];                      /* the reason of the next deployment (epoch.c) */
    coord_epoch_info_t *epochs;        /* [COORD_MAX_EPOCHS] ring of records */
    int n_epochs;                      /* records written (the last COORD_MAX_EPOCHS kept) */
    uint64_t stale;                    /* messages of an old epoch dropped */
    void *monitor;                     /* PAIR socket reading the ROUTER's disconnect events (recovery.c) */
    int64_t last_loss_ms;              /* when the last device loss was noticed */
    int n_losses;
    int profile_batch;         /* sequences per profiled step (coord_profile; joiners are profiled alike) */
    int profile_batches[COORD_PROFILE_MAX_BATCHES];   /* every batch size profiled (profile_batch among them) */
    int n_profile_batches;
    stage_t kv_old[COORD_MAX_WORKERS]; /* during a KV-moving switch: the stages before it (epoch.c) */
    int n_kv_old;                      /* 0: the switch replays */
    coord_balancer_t *bal;             /* the load balancer, when started (balancer.c) */
    uint64_t tokens;                   /* accepted, all sessions */
    uint64_t next_switch, switch_rng;  /* forced switches (opts.switch_every) */
    int n_forced;
    int recovering;                    /* inside recovery's own switches (recovery.c) */
    char replan_why[96];               /* why c->replan was set */
    int replan;                        /* a ring worker restarted (new HELLO): re-plan at the next poll */
    coord_prepare_t prep;              /* a switch waiting for its workers' weights (prepare.c) */
};

/* epoch.c: sends the session's open (history, remaining tokens, sampler state)
 * to every stage, the header last; used for a new session and a replay. */
int coord_session_send_open(coord_t *c, csession_t *s, int resume, err_t *err);
/* epoch.c: records the deployment just made under c->epoch with reason c->why. */
void coord_epoch_record(coord_t *c, int replayed_sessions, uint64_t replayed_tokens, double switch_ms);
/* epoch.c: adds the KV routes of new stage s (a KV-moving switch) to its DEPLOY. */
int coord_kv_routes(coord_t *c, int s, msg_deploy_t *d, err_t *err);
/* replicas.c: each stage's warm range (its units and the overlap replicas its worker keeps resident). */
int coord_warm_ranges(const coord_t *c, uint32_t *warm_begin, uint32_t *warm_end, err_t *err);
/* coord.c: a DEPLOY of units [begin, end) with that warm range, this coordinator's model and settings, epoch
 * c->epoch, no routes yet. */
void coord_deploy_fill(const coord_t *c, int begin, int end, uint32_t warm_begin, uint32_t warm_end, int n_stages,
                       msg_t *m);
/* epoch.c: sessions whose resumed open never started (a KV transfer that did not complete) are replayed. */
int coord_check_crossings(coord_t *c, err_t *err);
/* epoch.c: the forced switch of opts.switch_every when due (0 otherwise). */
int coord_forced_switch(coord_t *c, err_t *err);
/* balancer.c: one look at the measured stage times; may switch the ring. */
int coord_balance_check(coord_t *c, err_t *err);
void coord_balance_destroy(coord_t *c);
/* join.c: profiles a worker that joined while the ring runs and takes it in when the plan gains enough. */
int coord_join_check(coord_t *c, err_t *err);
/* recovery.c: liveness (timeouts and closed connections); re-plans on loss. */
int coord_check_liveness(coord_t *c, err_t *err);
int coord_monitor_open(coord_t *c, err_t *err);
/* recovery.c: reads the monitor's events and marks the workers whose connection closed.  Called before
 * each batch of messages, so an fd number reused by a new connection is never mistaken for the old one. */
void coord_monitor_drain(coord_t *c);
void coord_monitor_close(coord_t *c);


/* Sends m to worker i over the ROUTER. */
int coord_send_to(coord_t *c, int worker, const msg_t *m, err_t *err);
/* Appends stage s's routes to d (every value it produces, to each later consumer; tokens to the header). */
int coord_routes_for(coord_t *c, int s, msg_deploy_t *d, err_t *err);
/* Receives and handles one batch of messages (as coord_poll, without the liveness check). */
int coord_pump(coord_t *c, int timeout_ms, err_t *err);

/* Stores a PROFILE's unit times (n_units pairs of f32, as msg.h) where pr->slot says (coord_plan.c). */
int coord_profile_store(coord_t *c, worker_profile_t *pr, const void *data, err_t *err);

#endif
