/*
 * test_model.c — the model loader refuses every inconsistency with a message
 * that names it.  Builds tiny Llama GGUF files with the writer, each with one
 * defect (a missing or misshapen tensor, a bad hyper-parameter, an unknown
 * architecture, a norm stored in the wrong type), and checks model_load's
 * code and message; the defect-free file loads with llama.cpp's defaults for
 * absent keys, and a file without output.weight ties the output to the embedding.
 * The same for qwen2 (q/k/v biases) and bloom (fused QKV, norms and matrices
 * with biases): missing or misshapen biases and fused tensors are named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/types.h"

enum { DIM = 32, FFN = 64, VOCAB = 40, LAYERS = 2, HEADS = 4, KV_HEADS = 2 };

typedef struct {
    const char *arch;          /* general.architecture */
    uint32_t heads;            /* attention.head_count */
    const char *skip_tensor;   /* omit this tensor */
    const char *bad_shape;     /* give this tensor a wrong second dimension */
    const char *f16_norm;      /* store this norm as F16 */
    int no_embd_len;           /* omit embedding_length */
} defect_t;

static float zeros[FFN * VOCAB * 2];

static int add(gguf_writer_t *w, const defect_t *d, const char *name, uint64_t n_in, uint64_t n_out)
{
    if (d->skip_tensor && !strcmp(name, d->skip_tensor))
        return 0;
    uint64_t ne[2] = {n_in, n_out};
    uint32_t dims = n_out ? 2 : 1;
    if (!n_out)
        ne[1] = 1;
    if (d->bad_shape && !strcmp(name, d->bad_shape))
        ne[dims - 1] += 1;
    uint32_t type = (d->f16_norm && !strcmp(name, d->f16_norm)) ? TYPE_F16 : TYPE_F32;
    size_t bytes = type_row_bytes(type, ne[0]) * ne[1];
    return gguf_writer_add_tensor(w, name, type, dims, ne, zeros, bytes, NULL);
}

/* bloom: embedding norm, fused QKV, layer norms and matrices with biases, no gate. */
static void write_bloom_tensors(gguf_writer_t *w, const defect_t *d, int kv_dim)
{
    add(w, d, "token_embd.weight", DIM, VOCAB);
    add(w, d, "token_embd_norm.weight", DIM, 0);
    add(w, d, "token_embd_norm.bias", DIM, 0);
    add(w, d, "output_norm.weight", DIM, 0);
    add(w, d, "output_norm.bias", DIM, 0);
    add(w, d, "output.weight", DIM, VOCAB);
    for (int l = 0; l < LAYERS; l++) {
        struct { const char *n; uint64_t in, out; } t[] = {
            {"attn_norm.weight", DIM, 0}, {"attn_norm.bias", DIM, 0}, {"attn_qkv.weight", DIM, DIM + 2 * kv_dim},
            {"attn_qkv.bias", DIM + 2 * kv_dim, 0}, {"attn_output.weight", DIM, DIM}, {"attn_output.bias", DIM, 0},
            {"ffn_norm.weight", DIM, 0}, {"ffn_norm.bias", DIM, 0}, {"ffn_up.weight", DIM, FFN},
            {"ffn_up.bias", FFN, 0}, {"ffn_down.weight", FFN, DIM}, {"ffn_down.bias", DIM, 0}};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, t[i].n);
            add(w, d, name, t[i].in, t[i].out);
        }
    }
}

static void write_model(const char *path, const defect_t *d)
{
    gguf_writer_t *w = NULL;
    gguf_writer_create(&w, NULL);
    gguf_writer_set_str(w, "general.architecture", d->arch ? d->arch : "llama", NULL);
    char key[96];
    const char *a = d->arch ? d->arch : "llama";
#define KEY(s) (snprintf(key, sizeof key, "%s." s, a), key)
    if (!d->no_embd_len)
        gguf_writer_set_u32(w, KEY("embedding_length"), DIM, NULL);
    gguf_writer_set_u32(w, KEY("block_count"), LAYERS, NULL);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), FFN, NULL);
    gguf_writer_set_u32(w, KEY("attention.head_count"), d->heads ? d->heads : HEADS, NULL);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), KV_HEADS, NULL);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f, NULL);
#undef KEY
    const int kv_dim = DIM / HEADS * KV_HEADS;
    if (!strcmp(a, "bloom")) {
        write_bloom_tensors(w, d, kv_dim);
        goto write;
    }
    add(w, d, "token_embd.weight", DIM, VOCAB);
    add(w, d, "output_norm.weight", DIM, 0);
    add(w, d, "output.weight", DIM, VOCAB);
    for (int l = 0; l < LAYERS; l++) {
        struct { const char *n; uint64_t in, out; } t[] = {
            {"attn_norm", DIM, 0}, {"attn_q", DIM, DIM}, {"attn_k", DIM, kv_dim}, {"attn_v", DIM, kv_dim},
            {"attn_output", DIM, DIM}, {"ffn_norm", DIM, 0}, {"ffn_gate", DIM, FFN}, {"ffn_up", DIM, FFN},
            {"ffn_down", FFN, DIM}};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, t[i].n);
            add(w, d, name, t[i].in, t[i].out);
        }
        if (!strcmp(a, "qwen2")) {
            const char *b[] = {"attn_q", "attn_k", "attn_v"};
            for (int i = 0; i < 3; i++) {
                char name[64];
                snprintf(name, sizeof name, "blk.%d.%s.bias", l, b[i]);
                add(w, d, name, i == 0 ? DIM : kv_dim, 0);
            }
        }
    }
write:;
    err_t err;
    if (gguf_writer_write(w, path, &err) != 0)
        fprintf(stderr, "write failed: %s\n", err.msg);
    gguf_writer_destroy(&w);
}

static void expect(const char *path, const defect_t *d, int code, const char *needle)
{
    write_model(path, d);
    model_t *m = NULL;
    err_t err;
    err_clear(&err);
    int rc = model_load(path, &m, &err);
    CHECKF(rc == code && m == NULL, "expected code %d, got %d (%s)", code, rc, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message '%s' does not name '%s'", err.msg, needle);
    model_destroy(&m);
}

int main(void)
{
    char path[] = "/tmp/test_model_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);

    defect_t ok = {0};
    write_model(path, &ok);
    model_t *m = NULL;
    err_t err;
    CHECKF(model_load(path, &m, &err) == 0, "%s", err.msg);
    if (m) {
        CHECK(m->hp.n_vocab == VOCAB && m->hp.head_dim == DIM / HEADS && m->hp.n_rot == DIM / HEADS);
        CHECK(m->hp.rope_base == 10000.0f);   /* absent key: llama.cpp's default */
        model_destroy(&m);
    }
    /* Tied output: output.weight absent means the embedding is reused. */
    defect_t tied = {.skip_tensor = "output.weight"};
    write_model(path, &tied);
    CHECK(model_load(path, &m, &err) == 0 && m && m->output_tied && m->output.data == m->tok_embd.data);
    model_destroy(&m);

    expect(path, &(defect_t){.arch = "gpt-neox"}, ERR_UNSUP, "gpt-neox");
    expect(path, &(defect_t){.skip_tensor = "blk.1.ffn_up.weight"}, ERR_FORMAT, "blk.1.ffn_up.weight");
    expect(path, &(defect_t){.skip_tensor = "token_embd.weight"}, ERR_FORMAT, "token_embd.weight");
    expect(path, &(defect_t){.bad_shape = "blk.0.attn_k.weight"}, ERR_FORMAT, "blk.0.attn_k.weight");
    expect(path, &(defect_t){.bad_shape = "output_norm.weight"}, ERR_FORMAT, "output_norm.weight");
    expect(path, &(defect_t){.f16_norm = "blk.0.attn_norm.weight"}, ERR_UNSUP, "blk.0.attn_norm.weight");
    expect(path, &(defect_t){.heads = 5}, ERR_FORMAT, "head_count");
    expect(path, &(defect_t){.no_embd_len = 1}, ERR_NOTFOUND, "embedding_length");

    /* qwen2: biases bound; NEOX rope; a missing or misshapen bias is named. */
    write_model(path, &(defect_t){.arch = "qwen2"});
    CHECKF(model_load(path, &m, &err) == 0, "qwen2: %s", err.msg);
    if (m) {
        CHECK(m->arch_id == MODEL_ARCH_QWEN2 && m->hp.rope_neox && m->layers[1].bq && m->layers[1].bk &&
              m->layers[1].bv && !m->layers[1].bo && m->hp.alibi_max_bias == 0.0f);
        model_destroy(&m);
    }
    expect(path, &(defect_t){.arch = "qwen2", .skip_tensor = "blk.1.attn_k.bias"}, ERR_FORMAT, "blk.1.attn_k.bias");
    expect(path, &(defect_t){.arch = "qwen2", .bad_shape = "blk.0.attn_q.bias"}, ERR_FORMAT, "blk.0.attn_q.bias");
    expect(path, &(defect_t){.arch = "qwen2", .f16_norm = "blk.0.attn_v.bias"}, ERR_UNSUP, "blk.0.attn_v.bias");

    /* bloom: the fused QKV is viewed as [Q | K | V]; ALiBi; layer norms with shifts. */
    write_model(path, &(defect_t){.arch = "bloom"});
    CHECKF(model_load(path, &m, &err) == 0, "bloom: %s", err.msg);
    if (m) {
        const model_layer_t *L = &m->layers[0];
        const size_t row = L->wqkv.row_bytes;
        CHECK(m->arch_id == MODEL_ARCH_BLOOM && m->hp.alibi_max_bias == 8.0f && !m->hp.rope_neox);
        CHECK(L->wq.data == L->wqkv.data && L->wq.n_out == DIM);
        CHECK(L->wk.data == (const uint8_t *)L->wqkv.data + DIM * row && L->wk.n_out == DIM / HEADS * KV_HEADS);
        CHECK(L->wv.data == (const uint8_t *)L->wqkv.data + (DIM + DIM / HEADS * KV_HEADS) * row);
        CHECK(L->bk == L->bq + DIM && L->bv == L->bk + DIM / HEADS * KV_HEADS);
        CHECK(m->tok_norm && m->tok_norm_b && m->output_norm_b && L->attn_norm_b && L->b_up && L->b_down && L->bo);
        CHECK(!m->output_tied && m->hp.norm_eps == 1e-5f);   /* absent layer_norm_epsilon: default */
        model_destroy(&m);
    }
    expect(path, &(defect_t){.arch = "bloom", .bad_shape = "blk.1.attn_qkv.weight"}, ERR_FORMAT,
           "blk.1.attn_qkv.weight");
    expect(path, &(defect_t){.arch = "bloom", .skip_tensor = "token_embd_norm.bias"}, ERR_FORMAT,
           "token_embd_norm.bias");
    expect(path, &(defect_t){.arch = "bloom", .bad_shape = "blk.0.attn_qkv.bias"}, ERR_FORMAT, "blk.0.attn_qkv.bias");
    expect(path, &(defect_t){.arch = "bloom", .skip_tensor = "blk.1.ffn_down.bias"}, ERR_FORMAT,
           "blk.1.ffn_down.bias");
    unlink(path);
    return check_finish("test_model");
}
