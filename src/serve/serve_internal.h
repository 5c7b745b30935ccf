/*
 * serve_internal.h — the service's shared state (see serve.h for the thread
 * model), used by serve_http.c (connections), serve_loop.c (the coordinator
 * side), serve_report.c (JSON responses, metrics, cluster view) and
 * serve_page.c.  Everything marked "mu" is read and written only with
 * serve_t.mu held.  Not a public interface.
 */
#ifndef LL_SERVE_SERVE_INTERNAL_H
#define LL_SERVE_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "serve/serve.h"
#include "serve/serve_req.h"
#include "serve/serve_text.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct serve_job serve_job_t;
struct serve_job {
    serve_job_t *next;         /* mu: queue link */
    int refs;                  /* mu: the connection and the loop each hold one */
    serve_req_t req;           /* immutable once queued */
    int32_t *ids;              /* [n_prompt] the prompt's tokens */
    size_t n_prompt;
    int max_tokens;            /* clamped to the context */
    char id[48];               /* "chatcmpl-..." / "cmpl-..." */
    long created;              /* Unix seconds */
    /* mu: */
    int state;
    int cancelled;             /* the client went away */
    uint64_t session;
    serve_text_t text;
    size_t n_gen;
    const char *finish;        /* "stop" or "length" once done normally */
    int error_status;          /* non-zero: failed (error holds why) */
    char error[ERR_MSG_LEN];
    double t_queued, t_first;
    pthread_cond_t cv;         /* signalled on every change */
};

typedef struct {
    char name[64];
    char endpoint[128];
    int unit_begin, unit_end;
    uint64_t steps;
    double compute_ms, send_ms, predicted_ms;   /* predicted < 0: unknown */
    uint64_t weight_bytes, free_mem;
} serve_stage_snap_t;

#define SERVE_N_STATUS 12
#define SERVE_TPS_WINDOW 60

typedef struct {
    serve_opts_t o;
    char model_id[128];
    const tok_t *tok;
    int n_ctx, n_seq, n_units;
    uint64_t *unit_weight_bytes;   /* [n_units] */
    pthread_mutex_t mu;
    /* mu: */
    serve_job_t *q_head, *q_tail;
    int q_len;
    serve_job_t **run;         /* [n_seq] jobs holding a session */
    int accepting;
    int jobs_alive;            /* jobs not yet freed (shutdown waits for their connections) */
    uint64_t next_id;
    int status_code[SERVE_N_STATUS];
    uint64_t status_count[SERVE_N_STATUS];
    uint64_t prompt_tokens, gen_tokens, completed, cancelled;
    double ttft_sum;
    uint64_t ttft_n;
    uint64_t tps[SERVE_TPS_WINDOW];   /* tokens generated in second t at [t % 60] */
    int64_t tps_sec;                  /* the latest second counted */
    serve_stage_snap_t stages[COORD_MAX_WORKERS];
    int n_stages, slots_busy;
    uint32_t epoch;
    /* the HTTP side */
    void *mhd;
    int port;
} serve_t;

/* serve_loop.c */
void serve_job_unref(serve_t *s, serve_job_t *j);                    /* mu held */
void serve_job_fail(serve_job_t *j, int status, const char *msg);    /* mu held */
void serve_count_status(serve_t *s, int status);                     /* mu held */
/* Tokens/s per second of the last minute, oldest first (mu held). */
void serve_tps_window(serve_t *s, double now, double out[SERVE_TPS_WINDOW]);
int serve_loop(serve_t *s, coord_t *c, volatile sig_atomic_t *stop, err_t *err);

/* serve_http.c */
int serve_http_start(serve_t *s, err_t *err);
void serve_http_stop(serve_t *s);

/* serve_report.c: malloc'd text (NULL when out of memory).  mu held for the
 * ones that read the state. */
char *serve_error_json(int status, const char *param, const char *msg);
char *serve_completion_json(const serve_t *s, const serve_job_t *j);
char *serve_chunk_json(const serve_t *s, const serve_job_t *j, const char *text, size_t len, int first,
                       int last, int usage_only);
char *serve_models_json(const serve_t *s);
char *serve_cluster_json(serve_t *s, double now);
char *serve_metrics_text(serve_t *s, double now);

/* serve_page.c */
const char *serve_page_html(void);

#endif
