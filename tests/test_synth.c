/*
 * test_synth.c — tests of the synthetic model writer (src/model/synth.c).
 *
 * Writes small models of every weight type to unique files in /tmp, opens them
 * with the GGUF reader and checks keys, tensor names, shapes and types; checks
 * the weights' ranges and that the quantized types encode the same F32 values;
 * checks the vocabulary (exact size, unique pieces, specials and byte tokens,
 * types, strictly decreasing scores, every multi-character piece reachable by
 * one merge of two pieces) at several sizes; checks determinism and that bad
 * parameters are refused with a message naming them.  For --arch qwen2 and
 * bloom: their keys and tensors (biases, qwen2's tied output, bloom's fused
 * QKV and norm shifts), that the model loader binds them, that the graph
 * gives 2·layers + 2 units and a forward step gives finite logits, and that
 * the files are deterministic.  Removes its files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "exec/exec.h"
#include "model/model.h"
#include "model/synth.h"
#include "model/synth_mix.h"
#include "tensor/quant.h"
#include "tensor/types.h"

static int temp_path(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/test_synth_XXXXXX");
    int fd = mkstemp(buf);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_sorted(char **sorted, size_t n, const char *s)
{
    return bsearch(&s, sorted, n, sizeof *sorted, cmp_str) != NULL;
}

/* Vocabulary facts of synth.c's top comment. */
static void check_vocab(const gguf_ctx_t *g, uint32_t vocab)
{
    err_t err;
    const gguf_kv_t *tok, *sc, *ty;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING, &tok, &err) == 0);
    CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_VT_F32, &sc, &err) == 0);
    CHECK(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_VT_I32, &ty, &err) == 0);
    if (!tok || tok->v.arr.n != vocab || sc->v.arr.n != vocab || ty->v.arr.n != vocab) {
        CHECKF(0, "vocab arrays missing or not %u long", vocab);
        return;
    }
    char **s = malloc(vocab * sizeof *s);
    char **sorted = malloc(vocab * sizeof *s);
    int bad_pieces = 0;
    for (uint32_t i = 0; i < vocab; i++) {
        gguf_str_t v = tok->v.arr.strs[i];
        s[i] = malloc(v.len + 1);
        memcpy(s[i], v.ptr, v.len);
        s[i][v.len] = '\0';
        sorted[i] = s[i];
        bad_pieces += v.len == 0 || strlen(s[i]) != v.len;
    }
    CHECKF(bad_pieces == 0, "%d pieces empty or with a NUL", bad_pieces);
    qsort(sorted, vocab, sizeof *sorted, cmp_str);
    int dups = 0;
    for (uint32_t i = 1; i < vocab; i++)
        dups += strcmp(sorted[i - 1], sorted[i]) == 0;
    CHECKF(dups == 0, "%d duplicate pieces", dups);

    CHECK(strcmp(s[0], "<unk>") == 0 && gguf_arr_i32_at(ty, 0) == 2);
    CHECK(strcmp(s[1], "<s>") == 0 && gguf_arr_i32_at(ty, 1) == 3);
    CHECK(strcmp(s[2], "</s>") == 0 && gguf_arr_i32_at(ty, 2) == 3);
    int bad_bytes = 0, bad_types = 0, bad_scores = 0, unreachable = 0;
    for (int b = 0; b < 256; b++) {
        char want[8];
        snprintf(want, sizeof want, "<0x%02X>", b);
        bad_bytes += strcmp(s[3 + b], want) != 0 || gguf_arr_i32_at(ty, (uint64_t)(3 + b)) != 6;
    }
    for (uint32_t i = 0; i < 259; i++)
        bad_scores += gguf_arr_f32_at(sc, i) != 0.0f;
    CHECK(strcmp(s[259], "\xe2\x96\x81") == 0);
    for (uint32_t i = 259; i < vocab; i++) {
        bad_types += gguf_arr_i32_at(ty, i) != 1;
        bad_scores += gguf_arr_f32_at(sc, i) != -(float)(i - 259);
        /* Reachable: some split at a UTF-8 boundary gives two pieces of the vocabulary. */
        size_t len = strlen(s[i]);
        size_t first = ((unsigned char)s[i][0] & 0x80) ? 3 : 1;   /* only "▁" is multi-byte here */
        if (len <= first)
            continue;
        int ok = 0;
        char buf[64];
        for (size_t k = 1; k < len && !ok && len < sizeof buf; k++) {
            if (((unsigned char)s[i][k] & 0xc0) == 0x80)
                continue;
            memcpy(buf, s[i], k);
            buf[k] = '\0';
            ok = in_sorted(sorted, vocab, buf) && in_sorted(sorted, vocab, s[i] + k);
        }
        if (!ok && unreachable++ < 3)
            fprintf(stderr, "unreachable piece %u '%s'\n", i, s[i]);
    }
    CHECK(bad_bytes == 0);
    CHECK(bad_types == 0);
    CHECK(bad_scores == 0);
    CHECK(unreachable == 0);
    if (vocab >= 600) {
        static const char *expect[] = {"\xe2\x96\x81the", ("\xe2\x96\x81" "a"), "\xe2\x96\x81once", "\xe2\x96\x81upon",
                                       "\xe2\x96\x81time", "\xe2\x96\x81there", "ing", "ed", "e", "."};
        for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
            CHECKF(in_sorted(sorted, vocab, expect[i]), "piece '%s' missing", expect[i]);
    }
    for (uint32_t i = 0; i < vocab; i++)
        free(s[i]);
    free(s);
    free(sorted);
}

static void check_u32(const gguf_ctx_t *g, const char *key, uint32_t want)
{
    uint32_t v = 0;
    err_t err;
    int rc = gguf_get_u32(g, key, &v, &err);
    CHECKF(rc == 0 && v == want, "%s: rc %d value %u want %u", key, rc, v, want);
}

/* Checks one tensor's name, shape, type and weight range; returns it dequantized (caller frees). */
static float *check_tensor(const gguf_ctx_t *g, const char *name, uint32_t type, uint32_t n_dims, uint64_t n_in,
                           uint64_t n_out, int is_norm)
{
    const gguf_tensor_t *t = gguf_tensor_find(g, name);
    CHECKF(t != NULL, "tensor %s missing", name);
    if (!t)
        return NULL;
    CHECKF(t->type == type && t->n_dims == n_dims && t->ne[0] == n_in && (n_dims == 1 || t->ne[1] == n_out),
           "tensor %s: type %u dims %u ne [%llu, %llu]", name, t->type, t->n_dims, (unsigned long long)t->ne[0],
           (unsigned long long)t->ne[1]);
    if (t->type != type || t->ne[0] != n_in || t->n_elems != n_in * n_out)
        return NULL;
    float *x = malloc(t->n_elems * sizeof *x);
    size_t row = type_row_bytes(type, n_in);
    int bad_rows = 0;
    for (uint64_t r = 0; r < n_out; r++)
        bad_rows += dequant_row(type, (const uint8_t *)t->data + r * row, x + r * n_in, n_in) != 0;
    CHECK(bad_rows == 0);
    float bound = is_norm ? 1.06f : 1.01f / sqrtf((float)n_in);
    double sum_abs = 0;
    int out = 0;
    for (uint64_t i = 0; i < t->n_elems; i++) {
        if (is_norm ? (x[i] < 0.94f || x[i] > bound) : fabsf(x[i]) > bound)
            out++;
        sum_abs += fabs(is_norm ? x[i] - 1.0 : x[i]);
    }
    CHECKF(out == 0, "tensor %s: %d values out of range", name, out);
    /* Uniform noise: mean |x| is half the range (0.5/sqrt(n_in), or 0.025 for norms). */
    double mean = sum_abs / (double)t->n_elems, want = is_norm ? 0.025 : 0.5 / sqrt((double)n_in);
    CHECKF(mean > 0.8 * want && mean < 1.2 * want, "tensor %s: mean |x| %g, want about %g", name, mean, want);
    return x;
}

typedef struct {
    char name[48];
    uint32_t type, n_dims;
    uint64_t n_in, n_out;
    int norm;
} want_t;

static void want_set(want_t *w, const char *name, uint32_t type, uint32_t n_dims, uint64_t n_in, uint64_t n_out,
                     int norm)
{
    snprintf(w->name, sizeof w->name, "%s", name);
    w->type = type;
    w->n_dims = n_dims;
    w->n_in = n_in;
    w->n_out = n_out;
    w->norm = norm;
}

/* Opens a model written with p and checks everything; ref (F32 weights of the
 * same seed, by tensor index) is compared with this type's dequantized values. */
static void check_model(const char *path, const synth_params_t *p, float ***ref, int make_ref)
{
    gguf_ctx_t *g = NULL;
    err_t err;
    int rc = gguf_open(path, &g, &err);
    CHECKF(rc == 0, "open %s: %s", path, err.msg);
    if (rc)
        return;
    gguf_str_t s;
    float f;
    bool b;
    uint32_t hd = p->dim / p->heads, kv_dim = hd * p->kv_heads;
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == 0 && gguf_str_eq(s, "llama"));
    CHECK(gguf_get_str(g, "general.name", &s, &err) == 0 && s.len > 0);
    check_u32(g, "llama.context_length", p->ctx);
    check_u32(g, "llama.embedding_length", p->dim);
    check_u32(g, "llama.feed_forward_length", p->ffn);
    check_u32(g, "llama.block_count", p->layers);
    check_u32(g, "llama.attention.head_count", p->heads);
    check_u32(g, "llama.attention.head_count_kv", p->kv_heads);
    check_u32(g, "llama.rope.dimension_count", hd);
    check_u32(g, "llama.vocab_size", p->vocab);
    check_u32(g, "general.file_type", p->type == TYPE_F32 ? 0 : p->type == TYPE_F16 ? 1 : p->type == TYPE_Q4_0 ? 2 : 7);
    check_u32(g, "tokenizer.ggml.bos_token_id", 1);
    check_u32(g, "tokenizer.ggml.eos_token_id", 2);
    check_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    CHECK(gguf_get_f32(g, "llama.rope.freq_base", &f, &err) == 0 && f == p->rope_base);
    CHECK(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &err) == 0 && f == p->rms_eps);
    CHECK(gguf_get_str(g, "tokenizer.ggml.model", &s, &err) == 0 && gguf_str_eq(s, "llama"));
    CHECK(gguf_get_str(g, "tokenizer.ggml.pre", &s, &err) == 0 && gguf_str_eq(s, "default"));
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err) == 0 && b);
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b, &err) == 0 && !b);
    check_vocab(g, p->vocab);

    size_t n = 3 + 9 * (size_t)p->layers;
    CHECK(gguf_tensor_count(g) == n);
    if (gguf_tensor_count(g) != n) {
        gguf_close(&g);
        return;
    }
    if (make_ref)
        *ref = calloc(n, sizeof **ref);
    want_t want[3 + 9 * 4];
    size_t k = 0;
    want_set(&want[k++], "token_embd.weight", p->type, 2, p->dim, p->vocab, 0);
    want_set(&want[k++], "output_norm.weight", TYPE_F32, 1, p->dim, 1, 1);
    want_set(&want[k++], "output.weight", p->type, 2, p->dim, p->vocab, 0);
    static const char *blk[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                                "ffn_gate", "ffn_down", "ffn_up"};
    for (uint32_t l = 0; l < p->layers && l < 4; l++) {
        for (int j = 0; j < 9; j++) {
            char nm[48];
            snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, blk[j]);
            int norm = j == 0 || j == 5;
            uint64_t ni = j == 7 ? p->ffn : p->dim;
            uint64_t no = norm ? 1 : j == 2 || j == 3 ? kv_dim : j == 6 || j == 8 ? p->ffn : p->dim;
            want_set(&want[k++], nm, norm ? TYPE_F32 : p->type, norm ? 1 : 2, ni, no, norm);
        }
    }
    for (size_t i = 0; i < k; i++) {
        CHECKF(strcmp(gguf_tensor_at(g, i)->name, want[i].name) == 0, "tensor %zu is %s, want %s", i,
               gguf_tensor_at(g, i)->name, want[i].name);
        float *x = check_tensor(g, want[i].name, want[i].type, want[i].n_dims, want[i].n_in, want[i].n_out,
                                want[i].norm);
        if (!x)
            continue;
        if (make_ref) {
            (*ref)[i] = x;
            continue;
        }
        if (!*ref || !(*ref)[i]) {   /* the F32 model failed: nothing to compare with */
            free(x);
            continue;
        }
        /* Same F32 values underneath: the per-block error bound of each type. */
        double max_err = 0;
        for (uint64_t e = 0; e < want[i].n_in * want[i].n_out; e++)
            max_err = fmax(max_err, fabs((double)x[e] - (double)(*ref)[i][e]));
        double amax = want[i].norm ? 1.06 : 1.0 / sqrt((double)want[i].n_in);
        double tol = p->type == TYPE_F32 || want[i].type == TYPE_F32 ? 0
                     : p->type == TYPE_F16                           ? amax / 1024.0
                     : p->type == TYPE_Q8_0                          ? amax / 127.0
                                                                     : amax / 8.0;
        CHECKF(max_err <= tol, "tensor %s (%s): max |x - f32| %g > %g", want[i].name, type_name(p->type), max_err, tol);
        free(x);
    }
    gguf_close(&g);
}

static void test_types(void)
{
    static const uint32_t types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q4_0};
    float **ref = NULL;
    synth_params_t p;
    synth_params_default(&p);
    p.dim = 64;
    p.layers = 2;
    p.heads = 8;
    p.kv_heads = 2;
    p.ffn = 96;
    p.vocab = 700;
    p.ctx = 128;
    p.seed = 7;
    for (int i = 0; i < 4; i++) {
        char path[64];
        err_t err;
        CHECK(temp_path(path, sizeof path) == 0);
        p.type = types[i];
        int rc = synth_write(&p, path, &err);
        CHECKF(rc == 0, "synth %s: %s", type_name(p.type), err.msg);
        if (rc == 0)
            check_model(path, &p, &ref, i == 0);
        remove(path);
    }
    if (ref)
        for (size_t i = 0; i < 3 + 9 * 2; i++)
            free(ref[i]);
    free(ref);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static void test_vocab_sizes_and_determinism(void)
{
    static const uint32_t sizes[] = {260, 261, 300, 512, 32000};
    synth_params_t p;
    synth_params_default(&p);
    p.dim = 32;
    p.heads = 4;
    p.kv_heads = 4;
    p.ffn = 32;
    p.layers = 1;
    p.type = TYPE_Q4_0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char path[64];
        err_t err;
        CHECK(temp_path(path, sizeof path) == 0);
        p.vocab = sizes[i];
        int rc = synth_write(&p, path, &err);
        CHECKF(rc == 0, "synth vocab %u: %s", sizes[i], err.msg);
        gguf_ctx_t *g = NULL;
        if (rc == 0 && gguf_open(path, &g, &err) == 0)
            check_vocab(g, sizes[i]);
        gguf_close(&g);
        remove(path);
    }

    /* Same parameters, same bytes; another seed, other weights (same vocabulary). */
    char a[64], b[64];
    err_t err;
    CHECK(temp_path(a, sizeof a) == 0 && temp_path(b, sizeof b) == 0);
    p.vocab = 400;
    CHECK(synth_write(&p, a, &err) == 0);
    CHECK(synth_write(&p, b, &err) == 0);
    size_t la = 0, lb = 0;
    uint8_t *da = slurp(a, &la), *db = slurp(b, &lb);
    CHECK(da && db && la == lb && memcmp(da, db, la) == 0);
    free(db);
    p.seed = 43;
    CHECK(synth_write(&p, b, &err) == 0);
    db = slurp(b, &lb);
    CHECK(da && db && la == lb && memcmp(da, db, la) != 0);
    free(da);
    free(db);
    remove(a);
    remove(b);
}

static void expect_inval(const synth_params_t *p, const char *needle)
{
    err_t err;
    err_clear(&err);
    char path[64];
    CHECK(temp_path(path, sizeof path) == 0);
    int rc = synth_write(p, path, &err);
    CHECKF(rc == ERR_INVAL && strstr(err.msg, needle), "want ERR_INVAL naming '%s', got %d: %s", needle, rc, err.msg);
    CHECK(synth_params_check(p, NULL) == ERR_INVAL);
    remove(path);
}

static void test_validation(void)
{
    synth_params_t d, p;
    synth_params_default(&d);
    err_t err;
    CHECK(synth_params_check(&d, &err) == 0);
    p = d, p.heads = 3;                         expect_inval(&p, "heads 3");
    p = d, p.heads = 0;                         expect_inval(&p, "heads 0");
    p = d, p.kv_heads = 3;                      expect_inval(&p, "kv_heads 3");
    p = d, p.kv_heads = 0;                      expect_inval(&p, "kv_heads 0");
    p = d, p.dim = 12, p.heads = 4, p.kv_heads = 4; expect_inval(&p, "head_dim 3");
    p = d, p.dim = 48, p.heads = 4, p.kv_heads = 4, p.type = TYPE_Q8_0; expect_inval(&p, "dim 48");
    p = d, p.ffn = 100, p.type = TYPE_Q4_0;     expect_inval(&p, "ffn 100");
    p = d, p.ffn = 0;                           expect_inval(&p, "ffn 0");
    p = d, p.vocab = 259;                       expect_inval(&p, "vocab 259");
    p = d, p.vocab = SYNTH_MAX_VOCAB + 1;       expect_inval(&p, "vocab");
    p = d, p.layers = 0;                        expect_inval(&p, "layers 0");
    p = d, p.ctx = 0;                           expect_inval(&p, "ctx 0");
    p = d, p.dim = 0;                           expect_inval(&p, "dim 0");
    p = d, p.type = 16;                        expect_inval(&p, "type 16");
    p = d, p.rope_base = 0;                     expect_inval(&p, "rope_base");
    p = d, p.rope_base = INFINITY;              expect_inval(&p, "rope_base");
    p = d, p.rms_eps = 0;                       expect_inval(&p, "rms_eps");
    p = d, p.rms_eps = NAN;                     expect_inval(&p, "rms_eps");
    CHECK(synth_params_check(NULL, &err) == ERR_INVAL);
    /* F32 and F16 need no multiple of 32. */
    p = d, p.dim = 48, p.heads = 4, p.kv_heads = 2, p.ffn = 100, p.type = TYPE_F16;
    CHECK(synth_params_check(&p, &err) == 0);
    p = d;
    CHECK(synth_write(&p, "/nonexistent-dir-xyz/m.gguf", &err) == ERR_IO && strstr(err.msg, "m.gguf"));
}

/* llama-quantize's recipes at the synth-kq shape (4 layers, GQA 2; rows multiples of
 * 256): the type of every 2-D tensor as ../shared/models/PROVENANCE.md section 5.3
 * lists for the files llama-quantize b4747 made, and general.file_type. */
static void test_mixtures(void)
{
    static const struct {
        const char *name;
        uint32_t file_type;
        /* token_embd, output, then per layer attn_q attn_k attn_v attn_output ffn_gate ffn_down ffn_up */
        uint32_t embd, out, per_layer[4][7];
    } want[] = {
        {"q4_k_m", 15, TYPE_Q4_K, TYPE_Q6_K,
         {{12, 12, 12, 12, 12, 12, 12}, {12, 12, 12, 12, 12, 12, 12}, {12, 12, 14, 12, 12, 14, 12},
          {12, 12, 14, 12, 12, 14, 12}}},
        {"q5_k_m", 17, TYPE_Q5_K, TYPE_Q6_K,
         {{13, 13, 13, 13, 13, 13, 13}, {13, 13, 13, 13, 13, 13, 13}, {13, 13, 14, 13, 13, 14, 13},
          {13, 13, 14, 13, 13, 14, 13}}},
        {"q3_k_m", 12, TYPE_Q3_K, TYPE_Q6_K,
         {{11, 11, 13, 12, 11, 12, 11}, {11, 11, 13, 12, 11, 12, 11}, {11, 11, 12, 12, 11, 12, 11},
          {11, 11, 12, 12, 11, 12, 11}}},
        {"q2_k_mix", 10, TYPE_Q2_K, TYPE_Q6_K,
         {{10, 10, 11, 11, 10, 11, 10}, {10, 10, 11, 11, 10, 11, 10}, {10, 10, 11, 11, 10, 11, 10},
          {10, 10, 11, 11, 10, 11, 10}}},
        {"q5_0_mix", 8, TYPE_Q5_0, TYPE_Q6_K,
         {{6, 6, 6, 6, 6, 6, 6}, {6, 6, 6, 6, 6, 6, 6}, {6, 6, 6, 6, 6, 6, 6}, {6, 6, 6, 6, 6, 6, 6}}},
    };
    static const char *roles[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"};
    synth_params_t p;
    synth_params_default(&p);
    p.dim = 256;
    p.layers = 4;
    p.heads = 4;
    p.kv_heads = 2;
    p.ffn = 512;
    for (size_t m = 0; m < sizeof want / sizeof want[0]; m++) {
        char path[64];
        err_t err;
        CHECK(temp_path(path, sizeof path) == 0);
        CHECK(synth_type_parse(want[m].name, &p.type) == 0);
        int rc = synth_write(&p, path, &err);
        CHECKF(rc == 0, "synth %s: %s", want[m].name, err.msg);
        gguf_ctx_t *g = NULL;
        if (rc == 0 && gguf_open(path, &g, &err) == 0) {
            check_u32(g, "general.file_type", want[m].file_type);
            CHECK(gguf_tensor_find(g, "token_embd.weight")->type == want[m].embd);
            CHECK(gguf_tensor_find(g, "output.weight")->type == want[m].out);
            for (int l = 0; l < 4; l++) {
                for (int r = 0; r < 7; r++) {
                    char nm[48];
                    snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, roles[r]);
                    const gguf_tensor_t *t = gguf_tensor_find(g, nm);
                    CHECKF(t && t->type == want[m].per_layer[l][r], "%s: %s is %s, want %s", want[m].name, nm,
                           t ? type_name(t->type) : "missing", type_name(want[m].per_layer[l][r]));
                }
            }
            gguf_close(&g);
            model_t *mod = NULL;   /* and the engine binds it */
            CHECKF(model_load(path, &mod, &err) == 0, "%s: %s", want[m].name, err.msg);
            model_destroy(&mod);
        }
        remove(path);
    }
    /* Rows that are not a multiple of 256 fall back as llama-quantize does. */
    CHECK(synth_tensor_type(SYNTH_MIX_FIRST + 5, "attn_q", 0, 4, 2, 288, 0) == TYPE_Q5_0);
    CHECK(synth_tensor_type(SYNTH_MIX_FIRST + 5, "output", 0, 4, 2, 288, 0) == TYPE_Q8_0);
    CHECK(synth_tensor_type(SYNTH_MIX_FIRST, "attn_q", 0, 4, 2, 320, 0) == TYPE_IQ4_NL);
    CHECK(synth_tensor_type(SYNTH_MIX_FIRST, "attn_q", 0, 4, 2, 100, 0) == TYPE_F16);
    uint32_t t;
    CHECK(synth_type_parse("Q4_K_M", &t) == 0 && synth_file_type(t) == 15);
    CHECK(synth_type_parse("q4_k", &t) == 0 && t == TYPE_Q4_K && synth_file_type(t) == 14);
    CHECK(synth_type_parse("q4_k_x", &t) == -1 && synth_type_parse("q8_k", &t) == -1);
}

static void expect_inval(const synth_params_t *p, const char *needle);

/* A bias or norm shift: F32, n values in [-0.05, 0.05], mean |x| about 0.025. */
static void check_bias(const gguf_ctx_t *g, const char *name, uint64_t n)
{
    const gguf_tensor_t *t = gguf_tensor_find(g, name);
    CHECKF(t && t->type == TYPE_F32 && t->n_dims == 1 && t->ne[0] == n, "bias %s: missing or wrong shape", name);
    if (!t || t->type != TYPE_F32 || t->ne[0] != n)
        return;
    const float *x = t->data;
    double sum = 0;
    int out = 0;
    for (uint64_t i = 0; i < n; i++) {
        out += fabsf(x[i]) > 0.05f;
        sum += fabs(x[i]);
    }
    CHECKF(out == 0 && sum / (double)n > 0.018 && sum / (double)n < 0.032, "bias %s: %d out of range, mean |x| %g",
           name, out, sum / (double)n);
}

static void check_arch_file(const synth_params_t *p)
{
    char path[64], name[64];
    err_t err;
    CHECK(temp_path(path, sizeof path) == 0);
    int rc = synth_write(p, path, &err);
    CHECKF(rc == 0, "synth --arch %s: %s", synth_arch_name(p->arch), err.msg);
    gguf_ctx_t *g = NULL;
    if (rc || gguf_open(path, &g, &err)) {
        remove(path);
        return;
    }
    const int bloom = p->arch == MODEL_ARCH_BLOOM;
    const char *arch = synth_arch_name(p->arch);
    const uint32_t E = p->dim, kv = p->dim / p->heads * p->kv_heads;
    gguf_str_t s;
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == 0 && gguf_str_eq(s, arch));
#define KEY(suffix) (snprintf(name, sizeof name, "%s." suffix, arch), name)
    check_u32(g, KEY("embedding_length"), E);
    check_u32(g, KEY("block_count"), p->layers);
    check_u32(g, KEY("attention.head_count_kv"), p->kv_heads);
    float f = 0;
    CHECK(gguf_get_f32(g, bloom ? KEY("attention.layer_norm_epsilon") : KEY("attention.layer_norm_rms_epsilon"), &f,
                       &err) == 0 && f == p->rms_eps);
    CHECK((gguf_kv_find(g, KEY("rope.freq_base")) != NULL) == !bloom);
#undef KEY
    /* qwen2 ties the output to the embedding; bloom has its own. */
    CHECK((gguf_tensor_find(g, "output.weight") != NULL) == bloom);
    free(check_tensor(g, "token_embd.weight", p->type, 2, E, p->vocab, 0));
    for (uint32_t l = 0; l < p->layers; l++) {
#define T(suffix) (snprintf(name, sizeof name, "blk.%u." suffix, l), name)
        if (bloom) {
            free(check_tensor(g, T("attn_qkv.weight"), p->type, 2, E, E + 2 * kv, 0));
            check_bias(g, T("attn_qkv.bias"), E + 2 * kv);
            check_bias(g, T("attn_norm.bias"), E);
            check_bias(g, T("attn_output.bias"), E);
            check_bias(g, T("ffn_norm.bias"), E);
            check_bias(g, T("ffn_up.bias"), p->ffn);
            check_bias(g, T("ffn_down.bias"), E);
            CHECK(gguf_tensor_find(g, T("ffn_gate.weight")) == NULL && gguf_tensor_find(g, T("attn_q.weight")) == NULL);
        } else {
            free(check_tensor(g, T("attn_k.weight"), p->type, 2, E, kv, 0));
            check_bias(g, T("attn_q.bias"), E);
            check_bias(g, T("attn_k.bias"), kv);
            check_bias(g, T("attn_v.bias"), kv);
            free(check_tensor(g, T("ffn_gate.weight"), p->type, 2, E, p->ffn, 0));
        }
        free(check_tensor(g, T("ffn_down.weight"), p->type, 2, p->ffn, E, 0));
        free(check_tensor(g, T("attn_norm.weight"), TYPE_F32, 1, E, 1, 1));
#undef T
    }
    if (bloom) {
        check_bias(g, "token_embd_norm.bias", E);
        check_bias(g, "output_norm.bias", E);
        free(check_tensor(g, "token_embd_norm.weight", TYPE_F32, 1, E, 1, 1));
    }
    gguf_close(&g);

    /* The loader binds it, the graph cuts it as any model, a step gives finite logits. */
    model_t *m = NULL;
    rc = model_load(path, &m, &err);
    CHECKF(rc == 0, "load --arch %s: %s", arch, err.msg);
    if (rc == 0) {
        CHECK(m->arch_id == p->arch && m->output_tied == !bloom);
        CHECK(bloom ? m->layers[0].wqkv.data && m->layers[0].wk.data == (const uint8_t *)m->layers[0].wqkv.data +
                                                                          (size_t)E * m->layers[0].wqkv.row_bytes
                    : m->layers[0].bq && m->layers[0].bk && m->layers[0].bv && !m->layers[0].bo);
        exec_params_t ep;
        exec_params_default(&ep, m);
        exec_t *ex = NULL;
        rc = exec_create(m, &ep, &ex, &err);
        CHECKF(rc == 0, "executor --arch %s: %s", arch, err.msg);
        if (rc == 0) {
            CHECK(exec_seg(ex)->n_units == 2 * (int)p->layers + 2);
            const int32_t toks[3] = {1, 300, 301};
            exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = 3, .tokens = toks, .n_logits = 1};
            CHECK(exec_run(ex, &b, &err) == 0);
            int finite = 1;
            for (uint32_t v = 0; v < p->vocab; v++)
                finite &= isfinite(exec_logits(ex)[v]) != 0;
            CHECK(finite);
        }
        exec_destroy(&ex);
    }
    model_destroy(&m);

    /* Deterministic: the same parameters give the same bytes. */
    char again[64];
    CHECK(temp_path(again, sizeof again) == 0 && synth_write(p, again, &err) == 0);
    size_t la = 0, lb = 0;
    uint8_t *da = slurp(path, &la), *db = slurp(again, &lb);
    CHECKF(da && db && la == lb && memcmp(da, db, la) == 0, "--arch %s: not deterministic", arch);
    free(da);
    free(db);
    remove(again);
    remove(path);
}

static void test_archs(void)
{
    synth_params_t p;
    synth_params_default(&p);
    p.dim = 128;
    p.heads = 4;
    p.kv_heads = 2;
    p.ffn = 256;
    p.layers = 2;
    const uint32_t types[] = {TYPE_F32, TYPE_Q8_0};
    for (int a = MODEL_ARCH_QWEN2; a <= MODEL_ARCH_BLOOM; a++) {
        for (size_t t = 0; t < 2; t++) {
            p.arch = (model_arch_t)a;
            p.type = types[t];
            check_arch_file(&p);
        }
    }
    model_arch_t arch;
    CHECK(synth_arch_parse("bloom", &arch) == 0 && arch == MODEL_ARCH_BLOOM);
    CHECK(synth_arch_parse("gemma", &arch) == ERR_INVAL);
    p.arch = (model_arch_t)7;
    expect_inval(&p, "architecture");
}

int main(void)
{
    test_types();
    test_mixtures();
    test_archs();
    test_vocab_sizes_and_determinism();
    test_validation();
    return check_finish("test_synth");
}
