/*
 * model.c — binds a llama, qwen2 or bloom GGUF to model_t (see model.h).
 *
 * Reads the hyper-parameters under the "<arch>." prefix with llama.cpp's
 * defaults for missing optional keys (rope.freq_base 10000, head_count_kv =
 * head_count, rope.dimension_count = head_dim), then looks every tensor up by
 * name and checks its type and shape against the hyper-parameters.  Weights are
 * views into the mapping; nothing is copied (bloom's fused attn_qkv is bound
 * once and viewed as three row ranges [Q | K | V], as llama.cpp splits it).
 * Norm vectors and biases must be F32 (as every converter and quantizer writes
 * them); matrices may be of any type with row sizes (tensor/types.h), each with
 * its own type; the executor refuses types without kernels.
 */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/types.h"

static int get_hparam_u32(const gguf_ctx_t *g, const char *arch, const char *name, uint32_t *out,
                          int required, uint32_t fallback, err_t *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int rc = gguf_get_u32(g, key, out, err);
    if (rc == ERR_NOTFOUND && !required) {
        *out = fallback;
        err_clear(err);
        return 0;
    }
    return rc;
}

static int get_hparam_f32(const gguf_ctx_t *g, const char *arch, const char *name, float *out,
                          float fallback, err_t *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int rc = gguf_get_f32(g, key, out, err);
    if (rc == ERR_NOTFOUND) {
        *out = fallback;
        err_clear(err);
        return 0;
    }
    return rc;
}

static const struct {
    const char *name;
    model_arch_t id;
} ARCHS[] = {
    {"llama", MODEL_ARCH_LLAMA},
    {"qwen2", MODEL_ARCH_QWEN2},
    {"bloom", MODEL_ARCH_BLOOM},
};
#define ARCH_LIST "llama, qwen2, bloom"

/* llama.cpp's ALiBi bias for BLOOM: a constant of the architecture, not a key of the file. */
#define BLOOM_ALIBI_MAX_BIAS 8.0f

static int read_hparams(const gguf_ctx_t *g, const char *arch, model_arch_t id, model_hparams_t *hp, err_t *err)
{
    int rc;
    if ((rc = get_hparam_u32(g, arch, "embedding_length", &hp->n_embd, 1, 0, err)) ||
        (rc = get_hparam_u32(g, arch, "block_count", &hp->n_layer, 1, 0, err)) ||
        (rc = get_hparam_u32(g, arch, "attention.head_count", &hp->n_head, 1, 0, err)) ||
        (rc = get_hparam_u32(g, arch, "feed_forward_length", &hp->n_ff, 1, 0, err)) ||
        (rc = get_hparam_u32(g, arch, "context_length", &hp->n_ctx_train, 0, 2048, err)))
        return rc;
    if ((rc = get_hparam_u32(g, arch, "attention.head_count_kv", &hp->n_head_kv, 0, hp->n_head, err)))
        return rc;
    if (hp->n_embd == 0 || hp->n_embd > (1u << 16))
        return err_set(err, ERR_FORMAT, "%s.embedding_length = %u: must be in 1..65536", arch, hp->n_embd);
    if (hp->n_layer == 0 || hp->n_layer > 1024)
        return err_set(err, ERR_FORMAT, "%s.block_count = %u: must be in 1..1024", arch, hp->n_layer);
    if (hp->n_head == 0 || hp->n_embd % hp->n_head != 0)
        return err_set(err, ERR_FORMAT, "%s.attention.head_count = %u: must divide embedding_length %u",
                       arch, hp->n_head, hp->n_embd);
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return err_set(err, ERR_FORMAT, "%s.attention.head_count_kv = %u: must divide head_count %u",
                       arch, hp->n_head_kv, hp->n_head);
    if (hp->n_ff == 0 || hp->n_ff > (1u << 20))
        return err_set(err, ERR_FORMAT, "%s.feed_forward_length = %u: must be in 1..1048576", arch, hp->n_ff);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->rope_neox = id == MODEL_ARCH_QWEN2;
    if (id == MODEL_ARCH_BLOOM) {
        /* No rope: ALiBi slopes from the head count, recomputed wherever attention runs. */
        hp->n_rot = hp->head_dim;
        hp->rope_base = 10000.0f;
        hp->alibi_max_bias = BLOOM_ALIBI_MAX_BIAS;
        hp->rms_eps = 1e-5f;
        if ((rc = get_hparam_f32(g, arch, "attention.layer_norm_epsilon", &hp->norm_eps, 1e-5f, err)))
            return rc;
        if (!(hp->norm_eps >= 0.0f) || !(hp->norm_eps < 1.0f))
            return err_set(err, ERR_FORMAT, "%s.attention.layer_norm_epsilon = %g: must be in [0, 1)", arch,
                           hp->norm_eps);
        return 0;
    }
    if ((rc = get_hparam_u32(g, arch, "rope.dimension_count", &hp->n_rot, 0, hp->head_dim, err)))
        return rc;
    if (hp->n_rot == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return err_set(err, ERR_FORMAT, "%s.rope.dimension_count = %u: must be even and in 2..head_dim %u",
                       arch, hp->n_rot, hp->head_dim);
    if ((rc = get_hparam_f32(g, arch, "rope.freq_base", &hp->rope_base, 10000.0f, err)) ||
        (rc = get_hparam_f32(g, arch, "attention.layer_norm_rms_epsilon", &hp->rms_eps, 1e-5f, err)))
        return rc;
    if (!(hp->rope_base > 0.0f) || !isfinite(hp->rope_base))
        return err_set(err, ERR_FORMAT, "%s.rope.freq_base = %g: must be a positive number", arch, hp->rope_base);
    if (!(hp->rms_eps >= 0.0f) || !(hp->rms_eps < 1.0f))
        return err_set(err, ERR_FORMAT, "%s.attention.layer_norm_rms_epsilon = %g: must be in [0, 1)",
                       arch, hp->rms_eps);
    return 0;
}

/* Binds a norm vector: F32, one dimension of n values. */
static int bind_vector(const gguf_ctx_t *g, const char *name, uint32_t n, const float **out, err_t *err)
{
    const gguf_tensor_t *t = gguf_tensor_find(g, name);
    if (!t)
        return err_set(err, ERR_FORMAT, "tensor '%s' is missing", name);
    if (t->type != TYPE_F32)
        return err_set(err, ERR_UNSUP, "tensor '%s' has type %s; norm vectors and biases must be F32", name, type_name(t->type));
    if (t->n_elems != n || t->ne[0] != n)
        return err_set(err, ERR_FORMAT, "tensor '%s' has %llu elements (ne0 %llu); expected %u",
                       name, (unsigned long long)t->n_elems, (unsigned long long)t->ne[0], n);
    *out = (const float *)t->data;
    return 0;
}

/* Binds a matrix with ne = [n_in, n_out]. */
static int bind_matrix(const gguf_ctx_t *g, const char *name, uint32_t n_in, uint32_t n_out,
                       model_mat_t *out, err_t *err)
{
    const gguf_tensor_t *t = gguf_tensor_find(g, name);
    if (!t)
        return err_set(err, ERR_FORMAT, "tensor '%s' is missing", name);
    if (t->n_dims != 2 || t->ne[0] != n_in || t->ne[1] != n_out)
        return err_set(err, ERR_FORMAT, "tensor '%s' has shape [%llu, %llu] (%u dims); expected [%u, %u]", name,
                       (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims, n_in, n_out);
    size_t row_bytes = type_row_bytes(t->type, n_in);
    if (row_bytes == 0)
        return err_set(err, ERR_UNSUP, "tensor '%s': type %s cannot hold rows of %u values",
                       name, type_name(t->type), n_in);
    out->data = t->data;
    out->type = t->type;
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = row_bytes;
    out->name = t->name;
    return 0;
}

/* A view of rows [first, first + n) of m. */
static model_mat_t mat_rows(const model_mat_t *m, uint32_t first, uint32_t n)
{
    model_mat_t v = *m;
    v.data = (const uint8_t *)m->data + (size_t)first * m->row_bytes;
    v.n_out = n;
    return v;
}

static int bind_layer(const gguf_ctx_t *g, model_arch_t id, const model_hparams_t *hp, uint32_t l, model_layer_t *L,
                      err_t *err)
{
    char name[96];
    const uint32_t E = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;
    int rc;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%u." suffix, l), name)
    if (id == MODEL_ARCH_BLOOM) {
        const float *bqkv = NULL;
        if ((rc = bind_vector(g, NAME("attn_norm.weight"), E, &L->attn_norm, err)) ||
            (rc = bind_vector(g, NAME("attn_norm.bias"), E, &L->attn_norm_b, err)) ||
            (rc = bind_matrix(g, NAME("attn_qkv.weight"), E, E + 2 * kv_dim, &L->wqkv, err)) ||
            (rc = bind_vector(g, NAME("attn_qkv.bias"), E + 2 * kv_dim, &bqkv, err)) ||
            (rc = bind_matrix(g, NAME("attn_output.weight"), E, E, &L->wo, err)) ||
            (rc = bind_vector(g, NAME("attn_output.bias"), E, &L->bo, err)) ||
            (rc = bind_vector(g, NAME("ffn_norm.weight"), E, &L->ffn_norm, err)) ||
            (rc = bind_vector(g, NAME("ffn_norm.bias"), E, &L->ffn_norm_b, err)) ||
            (rc = bind_matrix(g, NAME("ffn_up.weight"), E, hp->n_ff, &L->w_up, err)) ||
            (rc = bind_vector(g, NAME("ffn_up.bias"), hp->n_ff, &L->b_up, err)) ||
            (rc = bind_matrix(g, NAME("ffn_down.weight"), hp->n_ff, E, &L->w_down, err)) ||
            (rc = bind_vector(g, NAME("ffn_down.bias"), E, &L->b_down, err)))
            return rc;
        /* Rows of the fused matrix (and its bias) split as [Q all heads | K all heads | V all heads]. */
        L->wq = mat_rows(&L->wqkv, 0, E);
        L->wk = mat_rows(&L->wqkv, E, kv_dim);
        L->wv = mat_rows(&L->wqkv, E + kv_dim, kv_dim);
        L->bq = bqkv;
        L->bk = bqkv + E;
        L->bv = bqkv + E + kv_dim;
        return 0;
    }
    if ((rc = bind_vector(g, NAME("attn_norm.weight"), E, &L->attn_norm, err)) ||
        (rc = bind_matrix(g, NAME("attn_q.weight"), E, E, &L->wq, err)) ||
        (rc = bind_matrix(g, NAME("attn_k.weight"), E, kv_dim, &L->wk, err)) ||
        (rc = bind_matrix(g, NAME("attn_v.weight"), E, kv_dim, &L->wv, err)) ||
        (rc = bind_matrix(g, NAME("attn_output.weight"), E, E, &L->wo, err)) ||
        (rc = bind_vector(g, NAME("ffn_norm.weight"), E, &L->ffn_norm, err)) ||
        (rc = bind_matrix(g, NAME("ffn_gate.weight"), E, hp->n_ff, &L->w_gate, err)) ||
        (rc = bind_matrix(g, NAME("ffn_up.weight"), E, hp->n_ff, &L->w_up, err)) ||
        (rc = bind_matrix(g, NAME("ffn_down.weight"), hp->n_ff, E, &L->w_down, err)))
        return rc;
    if (id == MODEL_ARCH_QWEN2 &&
        ((rc = bind_vector(g, NAME("attn_q.bias"), E, &L->bq, err)) ||
         (rc = bind_vector(g, NAME("attn_k.bias"), kv_dim, &L->bk, err)) ||
         (rc = bind_vector(g, NAME("attn_v.bias"), kv_dim, &L->bv, err))))
        return rc;
#undef NAME
    return 0;
}

int model_load_gguf(gguf_ctx_t **gp, model_t **out, err_t *err)
{
    *out = NULL;
    gguf_ctx_t *g = *gp;
    *gp = NULL;
    model_t *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(&g);
        return err_set(err, ERR_NOMEM, "model: out of memory");
    }
    m->gguf = g;
    int rc;
    gguf_str_t arch;
    if ((rc = gguf_get_str(g, "general.architecture", &arch, err)))
        goto fail;
    size_t a = 0;
    while (a < sizeof ARCHS / sizeof ARCHS[0] && !gguf_str_eq(arch, ARCHS[a].name))
        a++;
    if (a == sizeof ARCHS / sizeof ARCHS[0]) {
        rc = err_set(err, ERR_UNSUP, "general.architecture = '%.*s': supported architectures: " ARCH_LIST,
                     (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        goto fail;
    }
    snprintf(m->arch, sizeof m->arch, "%s", ARCHS[a].name);
    m->arch_id = ARCHS[a].id;
    if ((rc = read_hparams(g, m->arch, m->arch_id, &m->hp, err)))
        goto fail;

    model_hparams_t *hp = &m->hp;
    const gguf_tensor_t *embd = gguf_tensor_find(g, "token_embd.weight");
    if (!embd) {
        rc = err_set(err, ERR_FORMAT, "tensor 'token_embd.weight' is missing");
        goto fail;
    }
    if (embd->n_dims != 2 || embd->ne[1] == 0 || embd->ne[1] > (1u << 24)) {
        rc = err_set(err, ERR_FORMAT, "tensor 'token_embd.weight': expected [n_embd, n_vocab] with n_vocab in 1..16777216");
        goto fail;
    }
    hp->n_vocab = (uint32_t)embd->ne[1];
    if ((rc = bind_matrix(g, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err)) ||
        (rc = bind_vector(g, "output_norm.weight", hp->n_embd, &m->output_norm, err)))
        goto fail;
    if (m->arch_id == MODEL_ARCH_BLOOM &&
        ((rc = bind_vector(g, "token_embd_norm.weight", hp->n_embd, &m->tok_norm, err)) ||
         (rc = bind_vector(g, "token_embd_norm.bias", hp->n_embd, &m->tok_norm_b, err)) ||
         (rc = bind_vector(g, "output_norm.bias", hp->n_embd, &m->output_norm_b, err))))
        goto fail;
    if (gguf_tensor_find(g, "output.weight")) {
        if ((rc = bind_matrix(g, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err)))
            goto fail;
    } else {
        m->output = m->tok_embd;
        m->output_tied = 1;
    }
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = err_set(err, ERR_NOMEM, "model: out of memory for %u layers", hp->n_layer);
        goto fail;
    }
    for (uint32_t l = 0; l < hp->n_layer; l++)
        if ((rc = bind_layer(g, m->arch_id, hp, l, &m->layers[l], err)))
            goto fail;
    *out = m;
    return 0;
fail:
    model_destroy(&m);
    return rc;
}

int model_load(const char *path, model_t **out, err_t *err)
{
    gguf_ctx_t *g = NULL;
    *out = NULL;
    int rc = gguf_open(path, &g, err);
    if (rc == 0)
        rc = model_load_gguf(&g, out, err);
    if (rc)
        err_prefix(err, "%s", path);
    return rc;
}

void model_destroy(model_t **mp)
{
    if (!mp || !*mp)
        return;
    model_t *m = *mp;
    free(m->layers);
    gguf_close(&m->gguf);
    free(m);
    *mp = NULL;
}

size_t model_weight_bytes(const model_t *m)
{
    size_t total = 0;
    for (size_t i = 0; i < gguf_tensor_count(m->gguf); i++)
        total += gguf_tensor_at(m->gguf, i)->nbytes;
    return total;
}

size_t model_kv_bytes_per_token(const model_t *m)
{
    return (size_t)2 * m->hp.n_layer * m->hp.n_head_kv * m->hp.head_dim * sizeof(uint16_t);
}
