/*
 * tok_spm.c — SentencePiece-style encoding ("llama" tokenizer model) of one
 * run of plain text, as llama.cpp does it (llm_tokenizer_spm).
 *
 * Spaces become U+2581 ("▁"), optionally one is prepended, and the text is cut
 * into UTF-8 characters by lead byte.  Then, repeatedly, the adjacent pair of
 * symbols whose concatenation is a vocabulary token with the highest score is
 * merged (ties: leftmost).  A max-heap of candidate pairs makes this
 * O(n log n); stale candidates are recognised by their length and skipped.
 * Finally each symbol is emitted as its token, or, when it is not a token,
 * byte by byte as <0xXX> tokens (the unknown token if the vocabulary has no
 * byte tokens).  Only single characters can fail to be tokens, since a merge
 * happens only when its result is one; llama.cpp's "split back along recorded
 * merges" step therefore never applies and is not needed here.
 * tok_spm_init fills the byte-token table once at creation.
 */
#include "model/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unicode.h"

int tok_spm_init(tok_t *t, err_t *err)
{
    (void)err;
    for (int b = 0; b < 256; b++) {
        char name[8];
        int n = snprintf(name, sizeof name, "<0x%02X>", b);
        int32_t id = tok_lookup(t, name, (size_t)n);
        if (id < 0) {
            /* llama.cpp falls back to the byte itself as a one-byte token. */
            char c = (char)b;
            id = tok_lookup(t, &c, 1);
        }
        t->byte_token[b] = id;
    }
    return 0;
}

typedef struct {
    int32_t prev, next;   /* neighbours in the chain, -1 at the ends */
    uint32_t off, n;      /* bytes buf[off, off+n); n == 0 once merged away */
} sym_t;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;        /* bytes of the merged text when the pair was seen */
} bigram_t;

typedef struct {
    bigram_t *v;
    size_t n, cap;
} heap_t;

/* a comes out before b: higher score, then smaller left index. */
static int before(const bigram_t *a, const bigram_t *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(heap_t *h, bigram_t x, err_t *err)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram_t *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return err_set(err, ERR_NOMEM, "tokenizer: out of memory (%zu merge candidates)", cap);
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
    return 0;
}

static bigram_t heap_pop(heap_t *h)
{
    bigram_t top = h->v[0];
    bigram_t last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

typedef struct {
    const tok_t *t;
    const char *buf;
    sym_t *sym;
    heap_t heap;
} spm_state_t;

/* Queues the pair (left, right) if their concatenation is a token. */
static int try_pair(spm_state_t *s, int32_t left, int32_t right, err_t *err)
{
    if (left < 0 || right < 0)
        return 0;
    const sym_t *l = &s->sym[left], *r = &s->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = tok_lookup(s->t, s->buf + l->off, size);
    if (id < 0)
        return 0;
    bigram_t b = { s->t->entries[id].score, left, right, size };
    return heap_push(&s->heap, b, err);
}

static int emit_bytes(const tok_t *t, const char *p, uint32_t n, tok_ids_t *out, err_t *err)
{
    for (uint32_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        int32_t id = t->byte_token[b] >= 0 ? t->byte_token[b] : t->unk;
        if (id < 0)
            return err_set(err, ERR_UNSUP, "tokenizer: no token for byte 0x%02X and no unknown token", b);
        int rc = tok_ids_push(out, id, err);
        if (rc)
            return rc;
    }
    return 0;
}

int tok_spm_encode(const tok_t *t, const char *text, size_t len, int add_prefix,
                   tok_ids_t *out, err_t *err)
{
    static const char escaped_space[3] = { (char)0xE2, (char)0x96, (char)0x81 };   /* U+2581 */
    int rc = 0;
    spm_state_t s = { .t = t };
    if (len > (UINT32_MAX - 3) / 3)
        return err_set(err, ERR_RANGE, "tokenizer: text of %zu bytes is too long", len);

    /* Escape spaces (and prepend one). */
    char *buf = malloc(3 * len + 3);
    sym_t *sym = NULL;
    if (!buf)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu bytes of text", len);
    size_t n = 0;
    if (add_prefix) {
        memcpy(buf, escaped_space, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + n, escaped_space, 3);
            n += 3;
        } else {
            buf[n++] = text[i];
        }
    }
    if (n == 0)
        goto done;

    /* One symbol per UTF-8 character (length from the lead byte). */
    sym = malloc(n * sizeof *sym);
    if (!sym) {
        rc = err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu symbols", n);
        goto done;
    }
    int32_t n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t k = unicode_utf8_len((unsigned char)buf[off]);
        if (k > n - off)
            k = n - off;
        sym[n_sym] = (sym_t){ n_sym - 1, -1, (uint32_t)off, (uint32_t)k };
        if (n_sym > 0)
            sym[n_sym - 1].next = n_sym;
        n_sym++;
        off += k;
    }
    s.buf = buf;
    s.sym = sym;

    for (int32_t i = 1; i < n_sym; i++)
        if ((rc = try_pair(&s, i - 1, i, err)))
            goto done;

    /* Merge the best pair until none is left. */
    while (s.heap.n) {
        bigram_t b = heap_pop(&s.heap);
        sym_t *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;   /* one side changed since the pair was queued */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = b.left;
        if ((rc = try_pair(&s, l->prev, b.left, err)) || (rc = try_pair(&s, b.left, l->next, err)))
            goto done;
    }

    for (int32_t i = 0; i != -1; i = sym[i].next) {
        int32_t id = tok_lookup(t, buf + sym[i].off, sym[i].n);
        rc = id >= 0 ? tok_ids_push(out, id, err) : emit_bytes(t, buf + sym[i].off, sym[i].n, out, err);
        if (rc)
            goto done;
    }
done:
    free(s.heap.v);
    free(sym);
    free(buf);
    return rc;
}
