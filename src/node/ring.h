/*
 * ring.h — conventions shared by the worker and the coordinator on top of the
 * wire protocol (net/msg.h): the meaning of the header's flags bits for each
 * message type, and the model hash both sides compare.
 */
#ifndef LL_NODE_RING_H
#define LL_NODE_RING_H

#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

/* ACTIVATION flags */
#define RING_ACT_SAMPLE 0x1u        /* the batch ends a prompt or is a decode step: the tail samples after it */
/* TOKEN flags */
#define RING_TOKEN_FINAL 0x1u       /* the last token of the session (EOS, n_predict or context full) */
/* DEPLOY_ACK flags */
#define RING_ACK_SESSION 0x1u       /* acknowledges a SESSION_OPEN (header.session) rather than a DEPLOY */
/* SESSION_OPEN flags */
#define RING_OPEN_WANT_LOGITS 0x1u  /* the tail sends the logits behind the final token (ACTIVATION, value = logits) */
#define RING_OPEN_HEADER 0x2u       /* this stage is the header: it holds the prompt and starts the session */
#define RING_OPEN_RESUME 0x4u       /* the KV caches of the history (but its last token) moved here: resume (worker_kv.c) */

/* SHA-256 of the whole model file (the mapping the model was loaded from). */
void ring_model_hash(const model_t *m, uint8_t hash[32]);

#endif
