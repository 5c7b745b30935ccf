/*
 * tok.c — the tokenizer's shared half: building a tok_t from a GGUF file's
 * tokenizer.ggml.* metadata, the text -> id index, special-token splitting,
 * BOS handling, end-of-generation ids and decoding (tok_piece).  The two
 * models' own algorithms live in tok_spm.c and tok_bpe.c; this file hands each
 * of them runs of plain text.
 *
 * Behaviour follows llama.cpp (llama-vocab.cpp, b4747): default ids and flags
 * per model, the text-based detection of EOT/EOM/FIM tokens (which are then
 * treated as control tokens), special tokens matched longest first, and for
 * SPM the U+2581 space prefix on every text run that opens the input or follows
 * a special token.  Where llama.cpp merely warns, we are stricter: a special
 * token id that is neither a token nor 0xFFFFFFFF ("none") is an error, and so
 * is any array whose length differs from the vocabulary's.
 * Invariants after tok_create: every entry has non-empty text; every stored id
 * is in [0, n_vocab) or -1; nothing changes afterwards, so a tok_t can be
 * shared between threads.
 */
#include "model/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unicode.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"

/* ---- small helpers shared with the encoders ---- */

int tok_ids_push(tok_ids_t *ids, int32_t id, err_t *err)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v)
            return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

int32_t tok_lookup(const tok_t *t, const char *s, size_t len)
{
    uint32_t i = (uint32_t)tok_hash(TOK_HASH_INIT, s, len) & t->index_mask;
    for (;;) {
        int32_t id = t->index[i];
        if (id < 0)
            return -1;
        const tok_entry_t *e = &t->entries[id];
        if (e->len == len && memcmp(t->text + e->off, s, len) == 0)
            return id;
        i = (i + 1) & t->index_mask;
    }
}

/* Inserts id under its text; a later id with the same text replaces the
 * earlier one (llama.cpp's token_to_id map keeps the last). */
static void index_insert(tok_t *t, int32_t id)
{
    const tok_entry_t *e = &t->entries[id];
    const char *s = t->text + e->off;
    uint32_t i = (uint32_t)tok_hash(TOK_HASH_INIT, s, e->len) & t->index_mask;
    while (t->index[i] >= 0) {
        const tok_entry_t *o = &t->entries[t->index[i]];
        if (o->len == e->len && memcmp(t->text + o->off, s, e->len) == 0)
            break;
        i = (i + 1) & t->index_mask;
    }
    t->index[i] = id;
}

/* ---- creation ---- */

static int32_t lookup_cstr(const tok_t *t, const char *s) { return tok_lookup(t, s, strlen(s)); }

/* Reads a token id key.  Absent: *id unchanged.  0xFFFFFFFF (or -1 in a signed
 * type) means "no such token".  Anything else must be < n_vocab. */
static int read_id(const gguf_ctx_t *g, const char *key, int32_t n_vocab, int32_t *id, err_t *err)
{
    const gguf_kv_t *kv = gguf_kv_find(g, key);
    if (!kv)
        return 0;
    uint64_t v;
    switch (kv->type) {
    case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
        v = kv->v.u;
        if (v == UINT32_MAX || v == UINT64_MAX) {
            *id = -1;
            return 0;
        }
        break;
    case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64:
        if (kv->v.i == -1) {
            *id = -1;
            return 0;
        }
        if (kv->v.i < 0)
            return err_set(err, ERR_RANGE, "%s = %lld is not a token id (vocabulary has %d tokens)",
                           key, (long long)kv->v.i, (int)n_vocab);
        v = (uint64_t)kv->v.i;
        break;
    default:
        return err_set(err, ERR_FORMAT, "%s has type %s, expected an integer token id",
                       key, gguf_vtype_name(kv->type));
    }
    if (v >= (uint64_t)n_vocab)
        return err_set(err, ERR_RANGE, "%s = %llu is not a token id (vocabulary has %d tokens; "
                       "4294967295 means none)", key, (unsigned long long)v, (int)n_vocab);
    *id = (int32_t)v;
    return 0;
}

/* Optional bool key: absent leaves *flag unchanged. */
static int read_flag(const gguf_ctx_t *g, const char *key, int *flag, err_t *err)
{
    bool b;
    int rc = gguf_get_bool(g, key, &b, err);
    if (rc == ERR_NOTFOUND) {
        err_clear(err);
        return 0;
    }
    if (rc == 0)
        *flag = b;
    return rc;
}

/* Optional numeric array of element type ty and length n_vocab; *data NULL when absent. */
static int read_opt_array(const gguf_ctx_t *g, const char *key, uint32_t ty, int32_t n_vocab,
                          const void **data, err_t *err)
{
    *data = NULL;
    if (!gguf_kv_find(g, key))
        return 0;
    const gguf_kv_t *kv;
    int rc = gguf_get_arr(g, key, ty, &kv, err);
    if (rc)
        return rc;
    if (kv->v.arr.n != (uint64_t)n_vocab)
        return err_set(err, ERR_FORMAT, "%s has %llu entries but %s has %d",
                       key, (unsigned long long)kv->v.arr.n, KEY_TOKENS, (int)n_vocab);
    *data = kv->v.arr.data;
    return 0;
}

static uint8_t attr_of_type(int32_t ty)
{
    switch (ty) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return 0;   /* undefined: decodes to nothing, like llama.cpp */
    }
}

/* Copies texts, scores and types, and builds the index. */
static int load_vocab(tok_t *t, const gguf_ctx_t *g, err_t *err)
{
    const gguf_kv_t *tokens;
    int rc = gguf_get_arr(g, KEY_TOKENS, GGUF_VT_STRING, &tokens, err);
    if (rc)
        return rc;
    uint64_t n = tokens->v.arr.n;
    if (n == 0 || n > (uint64_t)INT32_MAX / 4)
        return err_set(err, ERR_FORMAT, "%s has %llu entries, expected 1..%d",
                       KEY_TOKENS, (unsigned long long)n, INT32_MAX / 4);
    t->n_vocab = (int32_t)n;

    const void *scores, *types;
    if ((rc = read_opt_array(g, KEY_SCORES, GGUF_VT_F32, t->n_vocab, &scores, err)) ||
        (rc = read_opt_array(g, KEY_TYPES, GGUF_VT_I32, t->n_vocab, &types, err)))
        return rc;

    /* Empty texts become "[EMPTY_<i>]" as in llama.cpp; at most 19 bytes each. */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += tokens->v.arr.strs[i].len ? tokens->v.arr.strs[i].len : 20;
    if (total > UINT32_MAX)
        return err_set(err, ERR_FORMAT, "%s: %llu bytes of token text exceed the 4 GiB limit",
                       KEY_TOKENS, (unsigned long long)total);

    uint32_t cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    t->entries = calloc(n, sizeof *t->entries);
    t->text = malloc(total ? total : 1);
    t->index = malloc((size_t)cap * sizeof *t->index);
    if (!t->entries || !t->text || !t->index)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %llu tokens", (unsigned long long)n);
    t->index_mask = cap - 1;
    memset(t->index, 0xff, (size_t)cap * sizeof *t->index);

    uint32_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s = tokens->v.arr.strs[i];
        tok_entry_t *e = &t->entries[i];
        e->off = off;
        if (s.len) {
            memcpy(t->text + off, s.ptr, s.len);
            e->len = (uint32_t)s.len;
        } else {
            e->len = (uint32_t)snprintf(t->text + off, 20, "[EMPTY_%llu]", (unsigned long long)i);
        }
        off += e->len;
        if (scores)
            memcpy(&e->score, (const char *)scores + 4 * i, 4);
        e->attr = TOK_ATTR_NORMAL;
        if (types) {
            int32_t ty;
            memcpy(&ty, (const char *)types + 4 * i, 4);
            e->attr = attr_of_type(ty);
        }
        index_insert(t, (int32_t)i);
    }
    return 0;
}

/* Token texts llama.cpp recognises when the corresponding key is absent; the
 * token found is marked as a control token.  Lists end with NULL. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", NULL };
static const char *const eom_texts[] = { "<|eom_id|>", NULL };
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", NULL };
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", NULL };
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL };
static const char *const fim_pad_texts[] = { "<|fim_pad|>", "<fim-pad>", "<PAD>", NULL };
static const char *const fim_rep_texts[] = { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", NULL };
static const char *const fim_sep_texts[] = { "<|file_sep|>", NULL };
/* Every token with one of these texts ends generation (and is a control token). */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", NULL };

/* If *id is unset, the lowest id whose text is in list becomes it (control). */
static void detect_by_text(tok_t *t, const char *const *list, int32_t *id)
{
    if (*id >= 0)
        return;
    for (; *list; list++) {
        int32_t found = lookup_cstr(t, *list);
        if (found >= 0 && (*id < 0 || found < *id))
            *id = found;
    }
    if (*id >= 0)
        t->entries[*id].attr = TOK_ATTR_CONTROL;
}

static void mark_eog(tok_t *t, int32_t id)
{
    if (id >= 0)
        t->entries[id].attr |= TOK_ATTR_EOG;
}

/* Special ids from keys, then llama.cpp's text-based detection and EOG set. */
static int load_special_ids(tok_t *t, const gguf_ctx_t *g, err_t *err)
{
    int32_t sep = -1, mask = -1, fim_pre = -1, fim_suf = -1, fim_mid = -1;
    int32_t fim_pad = -1, fim_rep = -1, fim_sep = -1;
    const struct { const char *key; int32_t *id; } keys[] = {
        { "tokenizer.ggml.bos_token_id", &t->bos },
        { "tokenizer.ggml.eos_token_id", &t->eos },
        { "tokenizer.ggml.eot_token_id", &t->eot },
        { "tokenizer.ggml.eom_token_id", &t->eom },
        { "tokenizer.ggml.unknown_token_id", &t->unk },
        { "tokenizer.ggml.seperator_token_id", &sep },   /* sic: the GGUF key's spelling */
        { "tokenizer.ggml.padding_token_id", &t->pad },
        { "tokenizer.ggml.mask_token_id", &mask },
        { "tokenizer.ggml.fim_pre_token_id", &fim_pre },
        { "tokenizer.ggml.fim_suf_token_id", &fim_suf },
        { "tokenizer.ggml.fim_mid_token_id", &fim_mid },
        { "tokenizer.ggml.fim_pad_token_id", &fim_pad },
        { "tokenizer.ggml.fim_rep_token_id", &fim_rep },
        { "tokenizer.ggml.fim_sep_token_id", &fim_sep },
        { "tokenizer.ggml.prefix_token_id", &fim_pre },   /* deprecated names */
        { "tokenizer.ggml.suffix_token_id", &fim_suf },
        { "tokenizer.ggml.middle_token_id", &fim_mid },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = read_id(g, keys[i].key, t->n_vocab, keys[i].id, err);
        if (rc)
            return rc;
    }

    detect_by_text(t, eot_texts, &t->eot);
    detect_by_text(t, eom_texts, &t->eom);
    detect_by_text(t, fim_pre_texts, &fim_pre);
    detect_by_text(t, fim_suf_texts, &fim_suf);
    detect_by_text(t, fim_mid_texts, &fim_mid);
    detect_by_text(t, fim_pad_texts, &fim_pad);
    detect_by_text(t, fim_rep_texts, &fim_rep);
    detect_by_text(t, fim_sep_texts, &fim_sep);

    for (const char *const *s = eog_texts; *s; s++) {
        int32_t id = lookup_cstr(t, *s);
        if (id >= 0) {
            t->entries[id].attr = TOK_ATTR_CONTROL;
            mark_eog(t, id);
        }
    }
    mark_eog(t, fim_pad);
    mark_eog(t, fim_rep);
    mark_eog(t, fim_sep);
    mark_eog(t, t->eos);
    mark_eog(t, t->eot);
    mark_eog(t, t->eom);
    return 0;
}

/* Longer texts first; equal lengths by id, so the order is reproducible. */
static int special_cmp(const int32_t *a, const int32_t *b, const tok_t *t)
{
    int32_t x = *a, y = *b;
    uint32_t lx = t->entries[x].len, ly = t->entries[y].len;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

static int build_special_list(tok_t *t, err_t *err)
{
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->entries[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN))
            n++;
    if (n == 0)
        return 0;
    t->special = malloc(n * sizeof *t->special);
    if (!t->special)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu special tokens", n);
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->entries[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN))
            t->special[t->n_special++] = id;
    /* Insertion sort would be quadratic for vocabularies with many added
     * tokens; a merge sort keeps it n log n without qsort_r portability issues. */
    int32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu special tokens", n);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = special_cmp(&t->special[j], &t->special[i], t) < 0 ? t->special[j++] : t->special[i++];
            while (i < mid)
                tmp[k++] = t->special[i++];
            while (j < hi)
                tmp[k++] = t->special[j++];
        }
        memcpy(t->special, tmp, n * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

int tok_create(const gguf_ctx_t *g, tok_t **out, err_t *err)
{
    if (!g || !out)
        return err_set(err, ERR_INVAL, "tok_create: NULL argument");
    *out = NULL;

    gguf_str_t model;
    int rc = gguf_get_str(g, KEY_MODEL, &model, err);
    if (rc)
        return rc;
    tok_kind_t kind;
    if (gguf_str_eq(model, "llama"))
        kind = TOK_KIND_SPM;
    else if (gguf_str_eq(model, "gpt2"))
        kind = TOK_KIND_BPE;
    else
        return err_set(err, ERR_UNSUP, "%s = '%.*s' is not supported (supported: llama, gpt2)",
                       KEY_MODEL, (int)(model.len > 64 ? 64 : model.len), model.ptr);

    tok_t *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory");
    t->kind = kind;
    t->eot = t->eom = t->pad = -1;
    if ((rc = load_vocab(t, g, err)))
        goto fail;

    /* llama.cpp's defaults per model (then overridden by keys). */
    if (kind == TOK_KIND_SPM) {
        t->bos = 1; t->eos = 2; t->unk = 0;
        t->add_bos = 1; t->add_space_prefix = 1;
    } else {
        t->bos = 11; t->eos = 11; t->unk = -1;
        t->add_bos = 0; t->add_space_prefix = 0;
        gguf_str_t pre = { NULL, 0 };
        if (gguf_kv_find(g, "tokenizer.ggml.pre") &&
            (rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err)))
            goto fail;
        const gguf_kv_t *merges;
        if ((rc = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_VT_STRING, &merges, err)))
            goto fail;
        if ((rc = tok_bpe_init(t, pre.ptr, (size_t)pre.len, merges, err)))
            goto fail;
        t->add_bos = tok_bpe_pre_add_bos(t);
    }
    if (t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk >= t->n_vocab) t->unk = -1;

    if ((rc = read_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err)) ||
        (rc = load_special_ids(t, g, err)) ||
        (rc = read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err)) ||
        (rc = read_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos, err)) ||
        (rc = build_special_list(t, err)))
        goto fail;
    if (kind == TOK_KIND_SPM && (rc = tok_spm_init(t, err)))
        goto fail;
    *out = t;
    return 0;
fail:
    tok_destroy(&t);
    return rc;
}

void tok_destroy(tok_t **tp)
{
    if (!tp || !*tp)
        return;
    tok_t *t = *tp;
    free(t->entries);
    free(t->text);
    free(t->index);
    free(t->special);
    free(t->merges);
    free(t->merge_text);
    free(t->merge_index);
    free(t);
    *tp = NULL;
}

tok_kind_t tok_kind(const tok_t *t) { return t->kind; }
int32_t tok_n_vocab(const tok_t *t) { return t->n_vocab; }
int32_t tok_bos(const tok_t *t) { return t->bos; }
int32_t tok_eos(const tok_t *t) { return t->eos; }
int tok_add_bos(const tok_t *t) { return t->add_bos && t->bos >= 0; }

int tok_is_eog(const tok_t *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->entries[id].attr & TOK_ATTR_EOG) != 0;
}

/* ---- encoding ---- */

/* A run of the input: plain text (id < 0) or one special token. */
typedef struct {
    size_t off, len;
    int32_t id;
} frag_t;

typedef struct {
    frag_t *v;
    size_t n, cap;
} frags_t;

static int frag_push(frags_t *f, size_t off, size_t len, int32_t id, err_t *err)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag_t *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return err_set(err, ERR_NOMEM, "tokenizer: out of memory splitting special tokens");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (frag_t){ off, len, id };
    return 0;
}

/* First occurrence of needle (n >= 1 bytes) in hay[0..len), or NULL. */
static const char *find_bytes(const char *hay, size_t len, const char *needle, size_t n)
{
    while (len >= n) {
        const char *p = memchr(hay, needle[0], len - n + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, n) == 0)
            return p;
        len -= (size_t)(p - hay) + 1;
        hay = p + 1;
    }
    return NULL;
}

/* Splits text into plain runs and special tokens.  Like llama.cpp, each special
 * token in turn (longest first) is searched for in the plain runs left by the
 * earlier ones.  Without parse_special only user-defined tokens are matched.
 * pairs: a 64 Kbit set of the byte pairs in text, to skip absent tokens fast. */
static int split_special(const tok_t *t, const char *text, size_t len, int parse_special,
                         frags_t *cur, err_t *err)
{
    int rc = 0;
    frags_t next = { 0 };
    uint8_t *pairs = NULL;
    if (len == 0)
        return 0;
    if ((rc = frag_push(cur, 0, len, -1, err)))
        return rc;
    if (t->n_special == 0)
        return 0;
    pairs = calloc(65536 / 8, 1);
    if (!pairs)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned p = (unsigned char)text[i] << 8 | (unsigned char)text[i + 1];
        pairs[p >> 3] |= (uint8_t)(1u << (p & 7));
    }

    for (size_t s = 0; s < t->n_special; s++) {
        int32_t id = t->special[s];
        const tok_entry_t *e = &t->entries[id];
        if (!parse_special && (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        const char *st = t->text + e->off;
        if (e->len > len)
            continue;
        if (e->len >= 2) {
            unsigned p = (unsigned char)st[0] << 8 | (unsigned char)st[1];
            if (!(pairs[p >> 3] & (1u << (p & 7))))
                continue;
        }
        next.n = 0;
        int found = 0;
        for (size_t f = 0; f < cur->n; f++) {
            frag_t fr = cur->v[f];
            if (fr.id >= 0) {
                if ((rc = frag_push(&next, fr.off, fr.len, fr.id, err)))
                    goto done;
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            const char *m;
            while (end - pos >= e->len && (m = find_bytes(text + pos, end - pos, st, e->len))) {
                size_t at = (size_t)(m - text);
                found = 1;
                if ((at > pos && (rc = frag_push(&next, pos, at - pos, -1, err))) ||
                    (rc = frag_push(&next, at, e->len, id, err)))
                    goto done;
                pos = at + e->len;
            }
            if (pos < end && (rc = frag_push(&next, pos, end - pos, -1, err)))
                goto done;
        }
        if (found) {
            frags_t tmp = *cur;
            *cur = next;
            next = tmp;
        }
    }
done:
    free(next.v);
    free(pairs);
    return rc;
}

int tok_encode(const tok_t *t, const char *text, size_t len, int add_bos, int parse_special,
               int32_t *ids, size_t cap, size_t *n_out, err_t *err)
{
    if (!t || !n_out || (!text && len) || (!ids && cap))
        return err_set(err, ERR_INVAL, "tok_encode: NULL argument");
    frags_t frags = { 0 };
    tok_ids_t out = { 0 };
    int rc = split_special(t, text, len, parse_special, &frags, err);
    if (rc)
        goto done;
    if (add_bos && t->bos >= 0 && (rc = tok_ids_push(&out, t->bos, err)))
        goto done;
    /* SPM: a text run gets the space prefix at the start and after a special token. */
    int prev_special = 1;
    for (size_t f = 0; f < frags.n && !rc; f++) {
        const frag_t *fr = &frags.v[f];
        if (fr->id >= 0) {
            rc = tok_ids_push(&out, fr->id, err);
            prev_special = 1;
        } else if (t->kind == TOK_KIND_SPM) {
            rc = tok_spm_encode(t, text + fr->off, fr->len, t->add_space_prefix && prev_special, &out, err);
            prev_special = 0;
        } else {
            rc = tok_bpe_encode(t, text + fr->off, fr->len, &out, err);
        }
    }
    if (rc)
        goto done;
    *n_out = out.n;
    if (out.n > cap) {
        rc = err_set(err, ERR_RANGE, "tok_encode: %zu ids do not fit in a buffer of %zu", out.n, cap);
        goto done;
    }
    if (out.n)
        memcpy(ids, out.v, out.n * sizeof *ids);
done:
    free(frags.v);
    free(out.v);
    return rc;
}

/* ---- decoding ---- */

static int copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    if (buf && cap)
        memcpy(buf, s, n < cap ? n : cap);
    return (int)n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tok_piece(const tok_t *t, int32_t id, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return -1;
    const tok_entry_t *e = &t->entries[id];
    const char *s = t->text + e->off;
    if (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))
        return 0;
    if (e->attr & TOK_ATTR_USER)
        return copy_out(s, e->len, buf, cap);

    if (t->kind == TOK_KIND_SPM) {
        if (e->attr & TOK_ATTR_BYTE) {
            /* "<0xXX>" -> that byte. */
            if (e->len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
                hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                char b = (char)(hexval(s[3]) << 4 | hexval(s[4]));
                return copy_out(&b, 1, buf, cap);
            }
            return copy_out(s, e->len, buf, cap);
        }
        if (!(e->attr & TOK_ATTR_NORMAL))
            return 0;
        /* U+2581 (E2 96 81) -> ' '. */
        size_t n = 0;
        for (size_t i = 0; i < e->len; n++) {
            char c = s[i];
            if (i + 2 < e->len && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
                (unsigned char)s[i + 2] == 0x81) {
                c = ' ';
                i += 3;
            } else {
                i++;
            }
            if (buf && n < cap)
                buf[n] = c;
        }
        return (int)n;
    }

    if (!(e->attr & TOK_ATTR_NORMAL))
        return 0;
    /* BPE: each code point of the text stands for one byte (GPT-2 mapping).
     * A code point outside the mapping is copied as its UTF-8 (llama.cpp
     * prints an "[UNK_BYTE_...]" marker instead). */
    size_t n = 0;
    for (size_t i = 0; i < e->len;) {
        size_t k;
        uint32_t cp = unicode_utf8_decode(s + i, e->len - i, &k);
        int b = unicode_cpt_to_byte(cp);
        char tmp[4];
        size_t m;
        if (b >= 0) {
            tmp[0] = (char)b;
            m = 1;
        } else {
            memcpy(tmp, s + i, k);
            m = k;
        }
        for (size_t j = 0; j < m; j++, n++)
            if (buf && n < cap)
                buf[n] = tmp[j];
        i += k;
    }
    return (int)n;
}
