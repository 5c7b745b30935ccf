/*
 * serve_req.h — an OpenAI request body (POST /v1/completions or
 * /v1/chat/completions) parsed and validated into a request struct.
 *
 * The body is hostile input: it goes through json/jdoc.h (size, depth, UTF-8
 * bounds), then each known field is checked for its type and range, and a
 * failure names the field ("param") and what was expected, in the words the
 * HTTP layer returns as a 400 error.  Unknown fields are ignored, as OpenAI
 * clients send extras (user, logprobs: false, ...).  Fields absent take the
 * server's defaults (serve_req_parse's def).  Pure: no I/O, no global state,
 * so the fuzz target (fuzz/fuzz_request.c) drives it directly.
 */
#ifndef LL_SERVE_SERVE_REQ_H
#define LL_SERVE_SERVE_REQ_H

#include <stddef.h>

#include "model/chat.h"
#include "model/samp.h"
#include "util/err.h"

#define SERVE_MAX_STOP 4          /* OpenAI's limit */
#define SERVE_STOP_MAX_BYTES 64
#define SERVE_MAX_MESSAGES 1024

typedef struct {
    int chat;                      /* 1: chat completion (messages), 0: completion (prompt) */
    char *model;                   /* as given, or NULL */
    char *prompt;                  /* completion: the prompt text */
    chat_msg_t *msgs;              /* chat: the messages (role/content strings owned here) */
    size_t n_msgs;
    int stream;
    int include_usage;             /* stream_options.include_usage */
    int max_tokens;                /* >= 1 */
    samp_params_t samp;
    int seed_given;
    char *stop[SERVE_MAX_STOP];
    int n_stop;
} serve_req_t;

typedef struct {
    char param[48];                /* the offending field, "" for the body as a whole */
    err_t err;
} serve_req_err_t;

/* Parses body[0..len) for the chat (1) or completion (0) endpoint.  def gives
 * max_tokens and the sampling defaults.  On success *r owns its strings (free
 * with serve_req_fini); on failure r is left empty and e says why. */
int serve_req_parse(const char *body, size_t len, int chat, int def_max_tokens, const samp_params_t *def,
                    serve_req_t *r, serve_req_err_t *e);
void serve_req_fini(serve_req_t *r);

#endif
