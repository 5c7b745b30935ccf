/*
 * tok_internal.h — what tok.c, tok_spm.c and tok_bpe.c share behind tok.h:
 * the tokenizer struct, the text -> id lookup, a growable id list, and the
 * per-model entry points.  Not part of the public API.
 *
 * tok.c owns creation from GGUF, the vocabulary tables, special-token
 * splitting, BOS handling and decoding (tok_piece); tok_spm.c and tok_bpe.c
 * each turn one run of plain text into ids.  The struct is immutable after
 * tok_create(); encoders allocate their scratch per call.
 */
#ifndef LL_MODEL_TOK_INTERNAL_H
#define LL_MODEL_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/tok.h"

/* Token attributes (from tokenizer.ggml.token_type; one of the first six, or
 * none for "undefined"), plus TOK_ATTR_EOG for end-of-generation tokens. */
enum {
    TOK_ATTR_NORMAL  = 0x01,   /* type 1 */
    TOK_ATTR_UNKNOWN = 0x02,   /* type 2 */
    TOK_ATTR_CONTROL = 0x04,   /* type 3 */
    TOK_ATTR_USER    = 0x08,   /* type 4, user-defined */
    TOK_ATTR_UNUSED  = 0x10,   /* type 5 */
    TOK_ATTR_BYTE    = 0x20,   /* type 6 */
    TOK_ATTR_EOG     = 0x40,   /* ends generation (EOS, EOT, ...) */
};

typedef struct {
    uint32_t off;     /* into tok.text */
    uint32_t len;     /* bytes, > 0 */
    float score;      /* SPM merge priority (0 when absent) */
    uint8_t attr;     /* TOK_ATTR_* */
} tok_entry_t;

/* One BPE merge "left right": both halves live in tok.merge_text. */
typedef struct {
    uint32_t off;     /* left half starts here */
    uint32_t left_len;
    uint32_t right_len;  /* right half starts at off + left_len + 1 */
} tok_merge_t;

struct tok {
    tok_kind_t kind;
    int32_t n_vocab;
    tok_entry_t *entries;       /* [n_vocab] */
    char *text;                 /* all token texts back to back */
    int32_t *index;             /* open-addressing text -> id table, -1 = empty */
    uint32_t index_mask;        /* table size - 1 (power of two) */

    int32_t bos, eos, unk, eot, eom, pad;   /* -1 when absent */
    int add_bos, add_eos;
    int add_space_prefix;       /* SPM: prepend U+2581 to the first text run */

    int32_t *special;           /* control/user-defined/unknown ids, longest text first */
    size_t n_special;

    /* SPM */
    int32_t byte_token[256];    /* <0xXX> (or the one-byte token) per byte, -1 if none */

    /* BPE */
    int pre;                    /* index into the pre-tokenizer table of tok_bpe.c */
    int ignore_merges;          /* a pre-split word that is a token is emitted whole */
    tok_merge_t *merges;        /* [n_merges], rank = index */
    char *merge_text;
    uint32_t n_merges;
    int32_t *merge_index;       /* open addressing (left, right) -> rank, -1 = empty */
    uint32_t merge_index_mask;
};

/* Growable output list of ids. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids_t;

int tok_ids_push(tok_ids_t *ids, int32_t id, err_t *err);

/* Id of the token whose text is s[0..len), or -1. */
int32_t tok_lookup(const tok_t *t, const char *s, size_t len);

static inline const char *tok_text(const tok_t *t, int32_t id) { return t->text + t->entries[id].off; }

/* 64-bit FNV-1a, continued from h (start with TOK_HASH_INIT). */
#define TOK_HASH_INIT 0xcbf29ce484222325ull
static inline uint64_t tok_hash(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* SPM (tok_spm.c): byte-token table; encode one text run. */
int tok_spm_init(tok_t *t, err_t *err);
int tok_spm_encode(const tok_t *t, const char *text, size_t len, int add_prefix,
                   tok_ids_t *out, err_t *err);

/* BPE (tok_bpe.c): pre-tokenizer choice (name NULL = absent) and merges;
 * encode one text run. */
int tok_bpe_init(tok_t *t, const char *pre, size_t pre_len, const gguf_kv_t *merges, err_t *err);
int tok_bpe_encode(const tok_t *t, const char *text, size_t len, tok_ids_t *out, err_t *err);
/* The word boundaries pre-tokenizer `pre` (a tokenizer.ggml.pre name) puts in
 * text: writes the byte offset after each word to ends (at most cap) and
 * returns the number of words, or a negative error (unknown name: ERR_UNSUP).
 * For tests and tools; encoding runs the same passes. */
int tok_bpe_pre_split(const char *pre, const char *text, size_t len, size_t *ends, size_t cap, err_t *err);
/* Default add_bos of the chosen pre-tokenizer (llama3 turns it on). */
int tok_bpe_pre_add_bos(const tok_t *t);

#endif
