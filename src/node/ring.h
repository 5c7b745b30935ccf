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
#define RING_ACT_MORE 0x2u          /* more rows of the sender's same step follow on this link: the receiver may wait
                                       for them (briefly, node/batch.h) so the step's rows stay one batch downstream */
/* TOKEN flags */
#define RING_TOKEN_FINAL 0x1u       /* the last token of the session (EOS, n_predict or context full) */
#define RING_TOKEN_MORE 0x2u        /* more tokens sampled in the tail's same step follow (as RING_ACT_MORE) */
/* DEPLOY_ACK flags */
#define RING_ACK_SESSION 0x1u       /* acknowledges a SESSION_OPEN (header.session) rather than a DEPLOY */
#define RING_ACK_PEER_KEYS 0x2u     /* acknowledges a PEER_KEYS: the sender's data allow-list holds those keys */
#define RING_ACK_PREPARE 0x4u       /* acknowledges a DEPLOY with RING_DEPLOY_PREPARE (header.session = its id), or
                                       (header.session 0) says a deployment's overlap replicas are resident */
/* DEPLOY flags */
#define RING_DEPLOY_PREPARE 0x1u    /* not a deployment yet: make the warm range's weights resident while the current
                                       stage keeps running, and acknowledge (node/worker_weights.h; coord/prepare.h) */
/* SESSION_OPEN flags */
#define RING_OPEN_WANT_LOGITS 0x1u  /* the tail sends the logits behind the final token (ACTIVATION, value = logits) */
#define RING_OPEN_HEADER 0x2u       /* this stage is the header: it holds the prompt and starts the session */
#define RING_OPEN_RESUME 0x4u       /* the KV caches of the history (but its last token) moved here: resume (worker_kv.c) */
/* HELLO flags */
#define RING_HELLO_FETCH 0x1u       /* the sender has no model file: announce yours, it will fetch (node/worker_fetch.h) */
/* WEIGHTS_CHUNK flags and names.  A request (worker -> coordinator) has no data and asks for the chunk at
 * weights.offset; header.step = the bytes the worker still needs in all (for the sender's ETA).  The
 * answer carries FETCH_CHUNK bytes or the rest.  The announcement of a model (coordinator -> worker, no
 * data, no flag) is a chunk of RING_WEIGHTS_METADATA with total = the metadata's bytes, hash = the model
 * id and header.session = the file's size. */
#define RING_WEIGHTS_REQUEST 0x1u
#define RING_WEIGHTS_METADATA "gguf:metadata"   /* the GGUF bytes before the tensor data */

/* The model's identity: SHA-256 of its GGUF metadata, touching no weight
 * (node/manifest.h; the weights themselves are checked per tensor, per stage). */
void ring_model_hash(const model_t *m, uint8_t hash[32]);

#endif
