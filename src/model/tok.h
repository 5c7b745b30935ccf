/*
 * tok.h — the tokenizer, read from a GGUF file's tokenizer.ggml.* keys.
 *
 * Two models: "llama" (SentencePiece-style: spaces -> U+2581, a leading U+2581,
 * greedy highest-score pair merges over UTF-8 characters, byte fallback
 * <0xXX>) and "gpt2" (byte-level BPE: a pre-tokenizer chosen by
 * tokenizer.ggml.pre splits the text, bytes are mapped to printable code
 * points, merges applied lowest rank first).  Pre-tokenizers not listed in
 * tok_bpe_pre_supported() are rejected at creation with ERR_UNSUP naming them.
 * Behaviour (BOS/EOS, special tokens, decoding) follows llama.cpp.
 * The tokenizer is immutable after creation and safe to share across threads.
 */
#ifndef LL_MODEL_TOK_H
#define LL_MODEL_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "util/err.h"

typedef struct tok tok_t;

typedef enum { TOK_KIND_SPM = 0, TOK_KIND_BPE = 1 } tok_kind_t;

/* Builds the tokenizer from g's metadata (copies what it needs; g may be closed after). */
int tok_create(const gguf_ctx_t *g, tok_t **out, err_t *err);
void tok_destroy(tok_t **t);

tok_kind_t tok_kind(const tok_t *t);
int32_t tok_n_vocab(const tok_t *t);
int32_t tok_bos(const tok_t *t);              /* -1 if none */
int32_t tok_eos(const tok_t *t);              /* -1 if none */
int tok_add_bos(const tok_t *t);              /* add BOS by default (tokenizer.ggml.add_bos_token, or llama.cpp's default for the model) */
int tok_is_eog(const tok_t *t, int32_t id);   /* end of generation: EOS, EOT, ... */

/* Encodes text (len bytes, UTF-8).  add_bos: prepend BOS if the vocabulary has one.
 * parse_special: control/user-defined tokens written literally in the text
 * (e.g. "<s>") become their ids.  Writes at most cap ids; *n_out is the number
 * needed.  Returns ERR_RANGE when cap is too small (nothing else changes). */
int tok_encode(const tok_t *t, const char *text, size_t len, int add_bos, int parse_special,
               int32_t *ids, size_t cap, size_t *n_out, err_t *err);

/* The bytes a token stands for when printed (U+2581 -> ' ', <0xXX> -> byte,
 * gpt2 byte mapping undone; control tokens -> empty).  Writes at most cap bytes
 * to buf (not terminated) and returns the full length, or -1 for an invalid id. */
int tok_piece(const tok_t *t, int32_t id, char *buf, size_t cap);

/* Names of supported gpt2 pre-tokenizers, NULL-terminated. */
const char *const *tok_bpe_pre_supported(void);

#endif
