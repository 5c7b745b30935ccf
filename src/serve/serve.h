/*
 * serve.h — `lingua serve`: a deployed ring as an OpenAI-compatible HTTP
 * service (libmicrohttpd).
 *
 * Threads: libmicrohttpd runs one thread per connection; those threads parse
 * and validate requests, tokenize them (the tokenizer is read-only), and put
 * them as jobs into a bounded queue (full: 429).  The coordinator is
 * single-threaded, so serve_run's own thread is the only one that touches it:
 * it admits queued jobs into free sequence slots, polls the ring, and the
 * token callback appends each token's text to its job and wakes the
 * connection waiting for it (streamed as Server-Sent Events, or answered
 * whole when done).  One mutex guards the queue, the jobs and the status
 * snapshot the loop publishes for /metrics, /v1/cluster and the page.  A
 * streaming client that goes away (noticed at the next event or keep-alive
 * comment, at most 250 ms apart) marks its job cancelled; the loop then
 * releases the session at once, so the slot is free for the next request.  A
 * non-streaming request runs to its end even if its client has gone.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
 * GET /health, GET /metrics (Prometheus text), GET /v1/cluster (JSON), GET /
 * (the live page).  With an API key, the /v1/ completion and model endpoints
 * need "Authorization: Bearer KEY" (401 otherwise); the status endpoints and
 * the page stay open.
 */
#ifndef LL_SERVE_SERVE_H
#define LL_SERVE_SERVE_H

#include <signal.h>

#include "coord/coord.h"
#include "model/chat.h"
#include "model/samp.h"
#include "util/err.h"

typedef struct {
    const char *host;          /* IPv4 address or name to listen on (default 127.0.0.1) */
    int port;                  /* 0: an ephemeral port (printed on stderr) */
    const char *api_key;       /* NULL: no authentication */
    const char *model_path;    /* the model's id is its file name without .gguf */
    int queue_max;             /* requests waiting for a slot, at most */
    int max_tokens;            /* default when a request gives none */
    samp_params_t samp;        /* sampling defaults */
    chat_tmpl_t tmpl;          /* chat template for /v1/chat/completions */
    const double *predicted_ms;   /* [coord_n_stages] the plan's compute time per token per stage, or NULL */
    int drain_ms;              /* on shutdown, running requests may finish for this long */
} serve_opts_t;

void serve_opts_default(serve_opts_t *o);

/* Serves until *stop is set (by a signal), then stops accepting, lets running
 * requests finish for drain_ms, cancels the rest and returns 0.  A ring
 * failure (a lost worker) ends it with that error after failing every request. */
int serve_run(coord_t *c, const serve_opts_t *o, volatile sig_atomic_t *stop, err_t *err);

#endif
