/*
 * test_tok.c — tests of the tokenizer (src/model/tok*.c, unicode.c).
 *
 * Against llama.cpp's own data in ../shared: every case of
 * vocab/ggml-vocab-{llama-spm,gpt-2}.gguf.{inp,out} (no BOS, no special-token
 * parsing; split exactly as llama.cpp's test-tokenizer-0 does) and the
 * prompt/prompt_ids of every golden/<model>/<prompt>.txt (BOS, special tokens
 * parsed).  Then decode(encode(s)) == s on both vocabularies, error reports for
 * malformed tokenizer metadata, small SPM and BPE vocabularies written with the
 * GGUF writer whose encodings are derived by hand, and the time to encode
 * 100 KB.  Parts needing ../shared print SKIP when it is absent.
 *
 * Decoding here is the concatenation of tok_piece(); for SPM the space prefix
 * added at encoding comes back as a leading ' ', which the decode helper drops
 * once (as llama.cpp's detokenizer does when add_space_prefix is set).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "model/tok.h"
#include "model/tok_internal.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

/* Encodes into a fresh array (caller frees); NULL on error (printed). */
static int32_t *encode(const tok_t *t, const char *s, size_t len, int bos, int special, size_t *n)
{
    err_t err = { 0 };
    size_t need = 0;
    int rc = tok_encode(t, s, len, bos, special, NULL, 0, &need, &err);
    if (rc && rc != ERR_RANGE) {
        fprintf(stderr, "tok_encode: %s\n", err.msg);
        return NULL;
    }
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    rc = tok_encode(t, s, len, bos, special, ids, need, n, &err);
    if (rc) {
        fprintf(stderr, "tok_encode: %s\n", err.msg);
        free(ids);
        return NULL;
    }
    return ids;
}

/* Concatenated pieces; for SPM drops the leading space of the space prefix. */
static char *decode(const tok_t *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t cap = 16, k = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        int m = tok_piece(t, ids[i], NULL, 0);
        if (m < 0)
            continue;
        while (k + (size_t)m + 1 > cap)
            out = realloc(out, cap *= 2);
        tok_piece(t, ids[i], out + k, (size_t)m);
        k += (size_t)m;
    }
    if (tok_kind(t) == TOK_KIND_SPM && k > 0 && out[0] == ' ')
        memmove(out, out + 1, --k);
    out[k] = 0;
    *len = k;
    return out;
}

static int ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *what, const int32_t *v, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", (int)v[i]);
    fputc('\n', stderr);
}

static size_t parse_ids(const char *s, int32_t *out, size_t cap)
{
    size_t n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s)
            return n;
        if (n < cap)
            out[n] = (int32_t)v;
        n++;
        s = end;
    }
}

static tok_t *open_tok(const char *path, gguf_ctx_t **g)
{
    err_t err = { 0 };
    tok_t *t = NULL;
    if (gguf_open(path, g, &err) || tok_create(*g, &t, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        gguf_close(g);
        return NULL;
    }
    return t;
}

static void expect(const tok_t *t, const char *s, int bos, int special, const int32_t *want_m1);
#define IDS(...) ((const int32_t[]){ __VA_ARGS__, -1 })
#define NONE ((const int32_t[]){ -1 })

/* ---- llama.cpp conformance vectors ---- */

static void test_vocab_vectors(const char *shared, const char *name)
{
    char path[1024], pin[1100], pout[1100];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", shared, name);
    snprintf(pin, sizeof pin, "%s.inp", path);
    snprintf(pout, sizeof pout, "%s.out", path);
    gguf_ctx_t *g = NULL;
    tok_t *t = open_tok(path, &g);
    size_t lin = 0, lout = 0;
    char *inp = read_file(pin, &lin), *out = read_file(pout, &lout);
    CHECKF(t && inp && out, "vocab %s: cannot load", name);
    if (!t || !inp || !out)
        goto done;

    /* Cases: the text between separators; a separator at the very end opens
     * no further case (llama.cpp's test-tokenizer-0 reads them the same way).
     * Expected ids: line i of the .out file. */
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t pos = 0, opos = 0, n_cases = 0, n_pass = 0;
    int32_t want[4096];
    while (pos < lin) {
        char *next = strstr(inp + pos, sep);   /* the files hold no NUL bytes */
        size_t clen = next ? (size_t)(next - (inp + pos)) : lin - pos;
        CHECKF(opos < lout, "vocab %s: .out has fewer lines than .inp has cases", name);
        if (opos >= lout)
            break;
        char *eol = strchr(out + opos, '\n');
        if (eol)
            *eol = 0;
        size_t nw = parse_ids(out + opos, want, 4096);
        opos += strlen(out + opos) + 1;

        size_t n = 0;
        int32_t *got = encode(t, inp + pos, clen, 0, 0, &n);
        int ok = got && nw <= 4096 && ids_equal(got, n, want, nw);
        CHECKF(ok, "vocab %s case %zu: '%.*s'", name, n_cases, (int)clen, inp + pos);
        if (!ok && got) {
            print_ids("want", want, nw);
            print_ids("got ", got, n);
        }
        n_pass += ok;
        n_cases++;
        free(got);
        pos += clen + (next ? sizeof sep - 1 : 0);
    }
    CHECKF(opos >= lout, "vocab %s: .out has more lines than .inp has cases", name);
    CHECK(n_cases > 0);
    printf("vocab %s: %zu/%zu cases match llama.cpp\n", name, n_pass, n_cases);
done:
    free(inp);
    free(out);
    tok_destroy(&t);
    gguf_close(&g);
}

/* ---- golden prompts ---- */

static const char *field(const char *text, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ') {
            const char *v = p + kl + 2, *e = strchr(v, '\n');
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

static void test_golden_prompts(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/golden", shared);
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s", dir);
    if (!d)
        return;
    int n_files = 0, n_pass = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char sub[1300];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *d2 = opendir(sub);
        if (!d2)
            continue;
        for (struct dirent *f; (f = readdir(d2));) {
            size_t fl = strlen(f->d_name);
            if (fl < 5 || strcmp(f->d_name + fl - 4, ".txt") != 0)
                continue;
            char path[1600], mpath[1600];
            size_t len, ml, pl, il;
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            char *txt = read_file(path, &len);
            const char *model = txt ? field(txt, "model", &ml) : NULL;
            const char *prompt = txt ? field(txt, "prompt", &pl) : NULL;
            const char *pids = txt ? field(txt, "prompt_ids", &il) : NULL;
            CHECKF(model && prompt && pids, "%s: missing model/prompt/prompt_ids", path);
            if (model && prompt && pids) {
                snprintf(mpath, sizeof mpath, "%s/models/%.*s", shared, (int)ml, model);
                gguf_ctx_t *g = NULL;
                tok_t *t = open_tok(mpath, &g);
                int32_t want[512];
                size_t nw = parse_ids(pids, want, 512), n = 0;
                int32_t *got = t ? encode(t, prompt, pl, 1, 1, &n) : NULL;
                int ok = got && ids_equal(got, n, want, nw);
                CHECKF(ok, "%s: prompt '%.*s'", path, (int)pl, prompt);
                if (!ok && got)
                    print_ids("got", got, n);
                n_pass += ok;
                n_files++;
                free(got);
                tok_destroy(&t);
                gguf_close(&g);
            }
            free(txt);
        }
        closedir(d2);
    }
    closedir(d);
    CHECK(n_files > 0);
    printf("golden prompts: %d/%d tokenized as llama.cpp\n", n_pass, n_files);
}

/* ---- round trips and speed on the real vocabularies ---- */

static const char *const round_trip_texts[] = {
    "Hello world", " Hello world", "  leading and trailing  ", "tabs\tand\nnew\r\nlines\n\n",
    "Führer naïve café ½ ¾", "нещо на Български", "我想在apple工作1314151天～",
    "🦙🚀 😶‍🌫️ ✅ emoji", "कान्तिपुर ক্ষ 한국어 ᄀᄁ", "x = a[3] + b->c; // ok?!", "3333333 1.5e10",
    "\x01\x02\x7f control bytes", "<s> </s> <unk> literal specials", "", " ", "\n",
};

static void test_round_trip(const char *shared, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", shared, name);
    gguf_ctx_t *g = NULL;
    tok_t *t = open_tok(path, &g);
    CHECK(t != NULL);
    if (!t)
        return;
    for (size_t i = 0; i < sizeof round_trip_texts / sizeof round_trip_texts[0]; i++) {
        const char *s = round_trip_texts[i];
        size_t n, len;
        int32_t *ids = encode(t, s, strlen(s), 0, 0, &n);
        char *back = ids ? decode(t, ids, n, &len) : NULL;
        CHECKF(back && len == strlen(s) && memcmp(back, s, len) == 0, "%s round trip of '%s' gave '%s'",
               name, s, back ? back : "(null)");
        free(back);
        free(ids);
    }
    /* Invalid UTF-8: SPM keeps the bytes (byte tokens); BPE, like llama.cpp,
     * reads each bad byte as U+FFFD. */
    const char bad[] = "a\xff\xc3(b\xe2\x82";
    size_t n, len;
    int32_t *ids = encode(t, bad, sizeof bad - 1, 0, 0, &n);
    char *back = ids ? decode(t, ids, n, &len) : NULL;
    if (tok_kind(t) == TOK_KIND_SPM)
        CHECK(back && len == sizeof bad - 1 && memcmp(back, bad, len) == 0);
    else
        CHECK(back && strcmp(back, "a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd") == 0);
    free(back);
    free(ids);

    /* BOS: piece is empty (control), and the text still decodes. */
    ids = encode(t, "Hi there", 8, 1, 1, &n);
    CHECK(ids && n >= 2 && ids[0] == tok_bos(t));
    back = ids ? decode(t, ids, n, &len) : NULL;
    CHECK(back && strcmp(back, "Hi there") == 0);
    free(back);
    free(ids);

    /* Special tokens written in the text (parse_special); for SPM the text
     * after a special token gets the space prefix again. */
    if (tok_kind(t) == TOK_KIND_SPM) {
        expect(t, "<s>Hello</s>", 0, 1, IDS(1, 15043, 2));
        expect(t, "Hello</s> world", 1, 1, IDS(1, 15043, 2, 29871, 3186));
    } else {
        expect(t, "Hello<|endoftext|> world", 0, 1, IDS(15496, 50256, 995));
        expect(t, "Hello world", 0, 0, IDS(15496, 995));
    }

    /* Too small a buffer: ERR_RANGE, the size needed, ids untouched. */
    int32_t few[2] = { -7, -7 };
    size_t need = 0;
    err_t err = { 0 };
    CHECK(tok_encode(t, "one two three four", 18, 0, 0, few, 2, &need, &err) == ERR_RANGE);
    CHECK(need > 2 && few[0] == -7 && few[1] == -7);
    CHECK(tok_piece(t, -1, NULL, 0) == -1 && tok_piece(t, tok_n_vocab(t), NULL, 0) == -1);
    CHECK(tok_is_eog(t, tok_eos(t)) && !tok_is_eog(t, -1));

    /* 100 KB of mixed text, well under a second. */
    static const char para[] = "Once upon a time, in 1999, a llama 🦙 named Zoë said: \"Привет, мир!\" "
                               "and ran 12345 metres.\n\tThen   it slept... 我想在apple工作 ";
    size_t big_len = 100 * 1024, pl = sizeof para - 1;
    char *big = malloc(big_len + 1);
    for (size_t k = 0; k < big_len; k++)
        big[k] = para[k % pl];
    big_len -= (big_len % pl);   /* end on a whole paragraph: valid UTF-8 */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ids = encode(t, big, big_len, 1, 0, &n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECKF(ids && sec < 1.0, "%s: encoding %zu bytes took %.3f s", name, big_len, sec);
    printf("vocab %s: encoded %zu bytes into %zu ids in %.1f ms\n", name, big_len, n, 1e3 * sec);
    back = ids ? decode(t, ids, n, &len) : NULL;
    CHECK(back && len == big_len && memcmp(back, big, len) == 0);
    free(back);
    free(ids);
    free(big);
    tok_destroy(&t);
    gguf_close(&g);
}

/* ---- vocabularies written with the GGUF writer ---- */

#define ABSENT (-2)
typedef struct {
    const char *model, *pre;              /* NULL = key absent */
    const char *const *texts;             /* tokens; NULL = key absent */
    size_t n;
    const float *scores;                  /* NULL = absent */
    size_t n_scores;
    const int32_t *types;                 /* NULL = absent */
    size_t n_types;
    const char *const *merges;            /* NULL = absent */
    size_t n_merges;
    int64_t bos, eos, eot;                /* ABSENT or a u32 value */
    int add_space_prefix;                 /* ABSENT, 0 or 1 */
} spec_t;

/* Writes spec to a temporary file and builds a tokenizer; returns tok_create's code. */
static int make_tok(const spec_t *sp, tok_t **t, err_t *err)
{
    char path[] = "/tmp/test_tok_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return ERR_IO;
    close(fd);
    gguf_writer_t *w = NULL;
    gguf_ctx_t *g = NULL;
    int rc = gguf_writer_create(&w, err);
    if (!rc && sp->model)
        rc = gguf_writer_set_str(w, "tokenizer.ggml.model", sp->model, err);
    if (!rc && sp->pre)
        rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", sp->pre, err);
    if (!rc && sp->texts)
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", sp->texts, sp->n, err);
    if (!rc && sp->scores)
        rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", sp->scores, sp->n_scores, err);
    if (!rc && sp->types)
        rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", sp->types, sp->n_types, err);
    if (!rc && sp->merges)
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", sp->merges, sp->n_merges, err);
    if (!rc && sp->bos != ABSENT)
        rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)sp->bos, err);
    if (!rc && sp->eos != ABSENT)
        rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sp->eos, err);
    if (!rc && sp->eot != ABSENT)
        rc = gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)sp->eot, err);
    if (!rc && sp->add_space_prefix != ABSENT)
        rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", sp->add_space_prefix, err);
    if (!rc)
        rc = gguf_writer_write(w, path, err);
    if (!rc)
        rc = gguf_open(path, &g, err);
    if (!rc)
        rc = tok_create(g, t, err);
    gguf_close(&g);   /* the tokenizer copies what it needs */
    gguf_writer_destroy(&w);
    unlink(path);
    return rc;
}

/* Encodes s and compares with the expected ids (terminated by -1). */
static void expect(const tok_t *t, const char *s, int bos, int special, const int32_t *want_m1)
{
    size_t nw = 0, n = 0;
    while (want_m1[nw] >= 0)
        nw++;
    int32_t *got = encode(t, s, strlen(s), bos, special, &n);
    int ok = got && ids_equal(got, n, want_m1, nw);
    CHECKF(ok, "encode '%s' (bos %d, special %d)", s, bos, special);
    if (!ok && got) {
        print_ids("want", want_m1, nw);
        print_ids("got ", got, n);
    }
    free(got);
}

static int piece_is(const tok_t *t, int32_t id, const char *want)
{
    char buf[64];
    int n = tok_piece(t, id, buf, sizeof buf);
    return n == (int)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

#define B(c) (3 + (c))   /* id of the byte token <0xXX> in the SPM vocabularies below */

/* <unk> <s> </s>, 256 byte tokens, then the pieces below (ids 259...). */
enum { SP_SPACE = 259, SP_A, SP_B, SP_C, SP_AB, SP_BC, SP_ABC, SP_SA, SP_TAG, SP_EOT, SP_SS, SP_N };
static const char *const sp_pieces[] = { "\xe2\x96\x81", "a", "b", "c", "ab", "bc", "abc",
                                         "\u2581a", "<tag>", "<|eot_id|>", "\xe2\x96\x81\xe2\x96\x81" };
static const float sp_scores[] = { -5, -5, -5, -5, -1, -0.5f, -2, -3, 0, 0, -0.1f };

static void test_synthetic_spm(void)
{
    static char bytes[256][8];
    const char *texts[SP_N];
    float scores[SP_N] = { 0 };
    int32_t types[SP_N];
    texts[0] = "<unk>"; texts[1] = "<s>"; texts[2] = "</s>";
    types[0] = 2; types[1] = 3; types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        texts[B(b)] = bytes[b];
        types[B(b)] = 6;
    }
    for (int i = SP_SPACE; i < SP_N; i++) {
        texts[i] = sp_pieces[i - SP_SPACE];
        scores[i] = sp_scores[i - SP_SPACE];
        types[i] = i == SP_TAG ? 4 : 1;
    }
    spec_t sp = { "llama", NULL, texts, SP_N, scores, SP_N, types, SP_N, NULL, 0, ABSENT, ABSENT, ABSENT, ABSENT };
    tok_t *t = NULL;
    err_t err = { 0 };
    CHECKF(make_tok(&sp, &t, &err) == 0, "synthetic SPM: %s", err.msg);
    if (!t)
        return;
    CHECK(tok_kind(t) == TOK_KIND_SPM && tok_bos(t) == 1 && tok_eos(t) == 2 && tok_add_bos(t));
    /* ▁ a b c: bc (-0.5) beats ab (-1) and ▁a (-3); then a+bc = abc (-2). */
    expect(t, "abc", 0, 0, IDS(SP_SPACE, SP_ABC));
    expect(t, "ab", 0, 0, IDS(SP_SPACE, SP_AB));
    expect(t, "ab", 1, 0, IDS(1, SP_SPACE, SP_AB));
    expect(t, "a", 0, 0, IDS(SP_SA));
    expect(t, "ba", 0, 0, IDS(SP_SPACE, SP_B, SP_A));
    /* ▁▁▁a: two equal ▁▁ candidates, the leftmost wins; then ▁a. */
    expect(t, "  a", 0, 0, IDS(SP_SS, SP_SA));
    /* é is no token: its two bytes. */
    expect(t, "a\xc3\xa9", 0, 0, IDS(SP_SA, B(0xC3), B(0xA9)));
    /* User-defined tokens are matched even without parse_special; the text
     * after a special token gets the space prefix again. */
    expect(t, "x<tag>y", 0, 0, IDS(SP_SPACE, B('x'), SP_TAG, SP_SPACE, B('y')));
    expect(t, "<s>ab", 0, 1, IDS(1, SP_SPACE, SP_AB));
    expect(t, "<s>ab", 0, 0, IDS(SP_SPACE, B('<'), B('s'), B('>'), SP_AB));
    expect(t, "", 0, 0, NONE);
    expect(t, "", 1, 0, IDS(1));
    /* <|eot_id|> is recognised by its text: end of generation, a control token. */
    CHECK(tok_is_eog(t, SP_EOT) && tok_is_eog(t, 2) && !tok_is_eog(t, 1) && !tok_is_eog(t, SP_A));
    expect(t, "<|eot_id|>", 0, 1, IDS(SP_EOT));
    CHECK(piece_is(t, SP_AB, "ab") && piece_is(t, SP_SA, " a") && piece_is(t, SP_SS, "  "));
    CHECK(piece_is(t, B(0xC3), "\xc3") && piece_is(t, 1, "") && piece_is(t, SP_EOT, "") && piece_is(t, 0, ""));
    CHECK(piece_is(t, SP_TAG, "<tag>"));
    char small[2];
    CHECK(tok_piece(t, SP_ABC, small, 2) == 3 && memcmp(small, "ab", 2) == 0);
    tok_destroy(&t);

    /* add_space_prefix = false; explicit ids, EOT by key. */
    sp.add_space_prefix = 0;
    sp.bos = 2;
    sp.eos = 1;
    sp.eot = SP_C;
    CHECKF(make_tok(&sp, &t, &err) == 0, "synthetic SPM: %s", err.msg);
    if (t) {
        expect(t, "ab", 1, 0, IDS(2, SP_AB));
        expect(t, "ab c", 0, 0, IDS(SP_AB, SP_SPACE, SP_C));
        CHECK(tok_is_eog(t, SP_C) && tok_is_eog(t, 1) && !tok_is_eog(t, 2));
        tok_destroy(&t);
    }

    /* Without byte tokens, unknown characters become <unk>, one per byte. */
    const char *texts2[] = { "<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "\u2581a" };
    const float scores2[] = { 0, 0, 0, -1, -1, -1 };
    const int32_t types2[] = { 2, 3, 3, 1, 1, 1 };
    spec_t sp2 = { "llama", NULL, texts2, 6, scores2, 6, types2, 6, NULL, 0, ABSENT, ABSENT, ABSENT, ABSENT };
    CHECKF(make_tok(&sp2, &t, &err) == 0, "synthetic SPM 2: %s", err.msg);
    if (t) {
        expect(t, "a\xc3\xa9", 0, 0, IDS(5, 0, 0));
        tok_destroy(&t);
    }
}

/* Byte-level BPE: Ġ is the GPT-2 code point of ' '. */
enum { BP_A, BP_B, BP_C, BP_G, BP_AB, BP_ABC, BP_1, BP_2, BP_3, BP_4, BP_12, BP_123, BP_1234, BP_GAB,
       BP_EOT, BP_EX, BP_Q, BP_EXQ, BP_APO, BP_S, BP_APOS, BP_BA, BP_N };
static const char *const bp_texts[] = { "a", "b", "c", "\xc4\xa0", "ab", "abc", "1", "2", "3", "4", "12", "123",
                                        "1234", "\u0120ab", "<|endoftext|>", "!", "?", "!?", "'", "s", "'s",
                                        "ba" };
static const char *const bp_merges[] = { "a b", "ab c", "\xc4\xa0 ab", "1 2", "12 3", "123 4", "! ?", "' s" };

static tok_t *bpe_with_pre(const char *pre)
{
    int32_t types[BP_N];
    for (int i = 0; i < BP_N; i++)
        types[i] = i == BP_EOT ? 3 : 1;
    spec_t sp = { "gpt2", pre, bp_texts, BP_N, NULL, 0, types, BP_N, bp_merges, 8,
                  BP_EOT, BP_EOT, ABSENT, ABSENT };
    tok_t *t = NULL;
    err_t err = { 0 };
    CHECKF(make_tok(&sp, &t, &err) == 0, "synthetic BPE (pre %s): %s", pre ? pre : "absent", err.msg);
    return t;
}

static void test_synthetic_bpe(void)
{
    tok_t *t = bpe_with_pre("gpt-2");
    if (t) {
        CHECK(tok_kind(t) == TOK_KIND_BPE && !tok_add_bos(t) && tok_bos(t) == BP_EOT);
        expect(t, "abc", 0, 0, IDS(BP_ABC));
        /* Ġ a b c: "a b" (rank 0), then "ab c" (1) before "Ġ ab" (2). */
        expect(t, " abc", 0, 0, IDS(BP_G, BP_ABC));
        expect(t, " ab", 0, 0, IDS(BP_GAB));
        expect(t, "1234", 0, 0, IDS(BP_1234));
        expect(t, "a!?", 0, 0, IDS(BP_A, BP_EXQ));
        expect(t, "a's", 0, 0, IDS(BP_A, BP_APOS));
        expect(t, "ba", 0, 0, IDS(BP_B, BP_A));   /* no merge "b a" */
        expect(t, "a<|endoftext|>b", 0, 1, IDS(BP_A, BP_EOT, BP_B));
        expect(t, "ab", 1, 0, IDS(BP_EOT, BP_AB));
        CHECK(tok_is_eog(t, BP_EOT) && piece_is(t, BP_GAB, " ab") && piece_is(t, BP_EOT, ""));
        tok_destroy(&t);
    }
    /* default: [0-9]{3} splits digit runs. */
    if ((t = bpe_with_pre("default"))) {
        expect(t, "1234", 0, 0, IDS(BP_123, BP_4));
        expect(t, "a!?", 0, 0, IDS(BP_A, BP_EXQ));
        tok_destroy(&t);
    }
    if ((t = bpe_with_pre(NULL))) {   /* missing pre: default, as llama.cpp */
        expect(t, "1234", 0, 0, IDS(BP_123, BP_4));
        tok_destroy(&t);
    }
    /* llama3: \p{N}{1,3}, case-insensitive contractions, whole-word tokens
     * without merging (ignore_merges), BOS added by default. */
    if ((t = bpe_with_pre("llama-bpe"))) {
        CHECK(tok_add_bos(t));
        expect(t, "1234", 0, 0, IDS(BP_123, BP_4));
        expect(t, "ba", 0, 0, IDS(BP_BA));
        expect(t, " abc", 0, 0, IDS(BP_G, BP_ABC));
        tok_destroy(&t);
    }
    if ((t = bpe_with_pre("qwen2"))) {
        expect(t, "1234", 0, 0, IDS(BP_1, BP_2, BP_3, BP_4));
        expect(t, "ba", 0, 0, IDS(BP_B, BP_A));
        tok_destroy(&t);
    }
}

/* ---- pre-tokenizer word splits (hand-checked against the regexes) ---- */

/* Splits text with pre and compares the words with want (NULL-terminated). */
static void expect_words(const char *pre, const char *text, const char *const *want)
{
    size_t ends[64];
    err_t err = { 0 };
    int n = tok_bpe_pre_split(pre, text, strlen(text), ends, 64, &err);
    int nw = 0;
    while (want[nw])
        nw++;
    int ok = n == nw;
    for (int i = 0, at = 0; ok && i < n; at = (int)ends[i], i++)
        ok = ends[i] - (size_t)at == strlen(want[i]) && memcmp(text + at, want[i], strlen(want[i])) == 0;
    CHECKF(ok, "pre %s: '%s' split into %d words (want %d)", pre, text, n, nw);
    if (!ok && n > 0) {
        fprintf(stderr, "  got:");
        for (int i = 0, at = 0; i < n && i < 64; at = (int)ends[i], i++)
            fprintf(stderr, " [%.*s]", (int)(ends[i] - (size_t)at), text + at);
        fprintf(stderr, "\n");
    }
}
#define WORDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_pre_splits(void)
{
    /* bloom: ' ?[^(\s|.,!?…。，、।۔،)]+' — '(' ')' '|' are in the class; only ' ' may lead. */
    expect_words("bloom", "Hello, world! (ok)", WORDS("Hello", ",", " world", "! (", "ok", ")"));
    expect_words("bloom", "a  b", WORDS("a", " ", " b"));
    expect_words("bloom", "x|y", WORDS("x", "|", "y"));
    expect_words("bloom", "tab\tx", WORDS("tab", "\t", "x"));
    expect_words("bloom", "\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82\xe3\x83\x86",   /* 日本。テ */
                 WORDS("\xe6\x97\xa5\xe6\x9c\xac", "\xe3\x80\x82", "\xe3\x83\x86"));
    expect_words("poro-chat", "a,b", WORDS("a", ",", "b"));
    /* deepseek-coder: [\r\n] | \s?\p{L}+ | \s?\p{P}+ | [一-龥ࠀ-一가-퟿]+ | \p{N}, in turn. */
    expect_words("deepseek-coder", "Hello world\n123 ab!",
                 WORDS("Hello", " world", "\n", "1", "2", "3", " ab", "!"));
    expect_words("deepseek-coder", "x = 1;", WORDS("x", " = ", "1", ";"));   /* '=' is a symbol, not \p{P} */
    expect_words("deepseek-coder", "\xe4\xb8\xad\xe6\x96\x87" "abc",   /* 中文abc: letters, then CJK splits */
                 WORDS("\xe4\xb8\xad\xe6\x96\x87", "abc"));
    expect_words("deepseek-coder", "\xed\x95\x9c\xea\xb5\xad \xeb\xa7\x90",   /* 한국 말 */
                 WORDS("\xed\x95\x9c\xea\xb5\xad", " ", "\xeb\xa7\x90"));
    /* deepseek-llm: [\r\n] | \s?[its letters]+ | \s?[!-/:-~...]+ | \s+$ | CJK | \p{N}+. */
    expect_words("deepseek-llm", "Hello world 123!!  ", WORDS("Hello", " world", " ", "123", "!!", "  "));
    expect_words("deepseek-llm", "a\n\nb", WORDS("a", "\n", "\n", "b"));
    expect_words("deepseek-llm", "x\xc2\xa9  ", WORDS("x", "\xc2\xa9", "  "));   /* ©: neither class; \s+$ */
    /* Every pass re-cuts the pieces of the one before: !-/:-~ holds the ASCII letters, so
     * the letter run "déjà" is cut again around é and à (as llama.cpp and HF cut it). */
    expect_words("deepseek-llm", "d\xc3\xa9j\xc3\xa0 vu", WORDS("d", "\xc3\xa9", "j", "\xc3\xa0", " vu"));
    /* Ω (U+2126, in its letter list) and é stay together through the letter and punctuation
     * passes, then the CJK pass's range U+0800-U+4E00 takes Ω alone. */
    expect_words("deepseek-llm", "\xe2\x84\xa6\xc3\xa9", WORDS("\xe2\x84\xa6", "\xc3\xa9"));
    expect_words("deepseek-llm", "a=b", WORDS("a", "=", "b"));   /* '=' is in !-/:-~ */
    /* qwen2 for comparison: \p{N} one at a time. */
    expect_words("qwen2", "ab 12", WORDS("ab", " ", "1", "2"));
    size_t ends[4];
    err_t err = { 0 };
    CHECK(tok_bpe_pre_split("tekken", "a", 1, ends, 4, &err) == ERR_UNSUP && strstr(err.msg, "tekken"));
    CHECK(tok_bpe_pre_split("bloom", "", 0, ends, 4, &err) == 0);
    /* The new names build tokenizers. */
    const char *names[] = { "bloom", "deepseek-llm", "deepseek-coder" };
    for (size_t i = 0; i < 3; i++) {
        tok_t *t = bpe_with_pre(names[i]);
        if (t) {
            expect(t, "ab", 0, 0, IDS(BP_AB));
            tok_destroy(&t);
        }
    }
}

/* ---- malformed metadata ---- */

static void expect_error(const spec_t *sp, int code, const char *needle, const char *what)
{
    tok_t *t = NULL;
    err_t err = { 0 };
    int rc = make_tok(sp, &t, &err);
    CHECKF(rc == code && strstr(err.msg, needle) != NULL, "%s: got %s '%s', want %s mentioning '%s'",
           what, err_name(rc), err.msg, err_name(code), needle);
    CHECK(t == NULL);
    tok_destroy(&t);
}

static void test_malformed(void)
{
    const char *texts[] = { "<unk>", "<s>", "</s>", "a", "b" };
    const float scores[] = { 0, 0, 0, -1, -2 };
    const int32_t types[] = { 2, 3, 3, 1, 1 };
    const spec_t good = { "llama", NULL, texts, 5, scores, 5, types, 5, NULL, 0, ABSENT, ABSENT, ABSENT, ABSENT };
    spec_t sp;
    tok_t *t = NULL;
    err_t err = { 0 };

    CHECKF(make_tok(&good, &t, &err) == 0, "%s", err.msg);
    tok_destroy(&t);
    sp = good; sp.texts = NULL;
    expect_error(&sp, ERR_NOTFOUND, "tokenizer.ggml.tokens", "tokens missing");
    sp = good; sp.n_scores = 4;
    expect_error(&sp, ERR_FORMAT, "tokenizer.ggml.scores", "scores length");
    const int32_t types6[] = { 2, 3, 3, 1, 1, 1 };
    sp = good; sp.types = types6; sp.n_types = 6;
    expect_error(&sp, ERR_FORMAT, "tokenizer.ggml.token_type", "token_type length");
    sp = good; sp.bos = 5;
    expect_error(&sp, ERR_RANGE, "tokenizer.ggml.bos_token_id", "bos out of range");
    sp = good; sp.eot = 1000;
    expect_error(&sp, ERR_RANGE, "1000", "eot out of range");
    sp = good; sp.model = "bert";
    expect_error(&sp, ERR_UNSUP, "'bert'", "unknown model");
    sp = good; sp.model = NULL;
    expect_error(&sp, ERR_NOTFOUND, "tokenizer.ggml.model", "model missing");
    sp = good; sp.model = "gpt2";
    expect_error(&sp, ERR_NOTFOUND, "tokenizer.ggml.merges", "merges missing");
    const char *merges[] = { "a b", "ab" };
    sp.merges = merges; sp.n_merges = 2;
    expect_error(&sp, ERR_FORMAT, "merges[1]", "merge without separator");
    sp.n_merges = 1; sp.pre = "tekken";
    expect_error(&sp, ERR_UNSUP, "'tekken'", "unknown pre-tokenizer");
    expect_error(&sp, ERR_UNSUP, "llama-bpe", "supported list");

    /* 4294967295 means "no such token". */
    sp = good; sp.bos = 4294967295u;
    CHECKF(make_tok(&sp, &t, &err) == 0, "%s", err.msg);
    if (t) {
        CHECK(tok_bos(t) == -1 && !tok_add_bos(t));
        /* No ▁ token and no byte tokens: the prefix becomes three <unk>. */
        expect(t, "ab", 1, 0, IDS(0, 0, 0, 3, 4));
        tok_destroy(&t);
    }
}

int main(void)
{
    const char *const *pre = tok_bpe_pre_supported();
    printf("pre-tokenizers:");
    for (; *pre; pre++)
        printf(" %s", *pre);
    printf("\n");

    test_synthetic_spm();
    test_synthetic_bpe();
    test_pre_splits();
    test_malformed();

    const char *shared = check_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared absent (conformance vectors, golden prompts, round trips)\n");
        return check_finish("test_tok");
    }
    test_vocab_vectors(shared, "llama-spm");
    test_vocab_vectors(shared, "gpt-2");
    test_golden_prompts(shared);
    test_round_trip(shared, "llama-spm");
    test_round_trip(shared, "gpt-2");
    return check_finish("test_tok");
}
