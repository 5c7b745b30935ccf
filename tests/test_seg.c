/*
 * test_seg.c — segmentation and dependency maps (issue 3).
 *  - Llama models: 2·n_layer + 2 units named embed / blk.N.attn / blk.N.ffn /
 *    output; every cut carries exactly one hidden vector (n_embd floats) per
 *    token; the RDM is empty; positions are marked recomputed.
 *  - Sum of unit weight bytes equals the bytes of all weight tensors.
 *  - Running the units one executor at a time, each handed only the tensors the
 *    maps name, reproduces the whole-model logits bit for bit — for the default
 *    units, for a finer cut inside an attention half (non-empty RDM), and for the
 *    finest segmentation (a cut after every node outside the head).
 *  - qwen2 and bloom (synth-qwen2b/bloomb-Q8_0) get the same units by the same
 *    rule: bloom's embedding unit holds the lookup and its layer norm, its
 *    attention units have ALiBi attention and no rope node (nothing but the
 *    hidden vector crosses a cut: the slopes are recomputed); qwen2's have
 *    bias nodes before NEOX rope nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/seg.h"
#include "plan/unit_cost.h"

#define N_PROMPT 7
#define N_STEPS 4

static void check_default_units(const model_t *m, const graph_t *g, const seg_t *s, const char *name)
{
    const int L = (int)m->hp.n_layer;
    CHECKF(s->n_units == 2 * L + 2, "%s: %d units", name, s->n_units);
    CHECK(!strcmp(s->units[0].name, "embed") && !strcmp(s->units[s->n_units - 1].name, "output"));
    char want[32];
    for (int l = 0; l < L && s->n_units == 2 * L + 2; l++) {
        snprintf(want, sizeof want, "blk.%d.attn", l);
        CHECK(!strcmp(s->units[1 + 2 * l].name, want));
        snprintf(want, sizeof want, "blk.%d.ffn", l);
        CHECK(!strcmp(s->units[2 + 2 * l].name, want));
    }
    for (int u = 0; u + 1 < s->n_units; u++) {
        int vals[16], n = seg_crossing(g, s->units[u].node_end - 1, vals, 16), acts = 0, width = 0;
        for (int i = 0; i < n && i < 16; i++) {
            if (g->values[vals[i]].kind == VAL_ACT) {
                acts++;
                width = g->values[vals[i]].width;
            } else {
                CHECK(g->values[vals[i]].kind == VAL_POSITIONS);
            }
        }
        CHECKF(acts == 1 && width == (int)m->hp.n_embd, "%s: cut after unit %d carries %d values", name, u, acts);
    }
    CHECKF(s->n_rdm == 0, "%s: RDM has %d entries", name, s->n_rdm);
    for (int i = 0; i < s->n_sdm; i++) {
        const seg_edge_t *e = &s->sdm[i];
        if (e->from_unit < 0)
            CHECK(e->recomputed == (g->values[e->value].kind == VAL_POSITIONS));
        else
            CHECK(e->to_unit == e->from_unit + 1 && !e->recomputed);
    }
    unit_cost_t *c = calloc((size_t)s->n_units, sizeof *c);
    err_t err;
    CHECK(unit_cost_compute(s, c, &err) == 0);
    size_t total = 0;
    for (int u = 0; u < s->n_units; u++) {
        total += c[u].weight_bytes;
        if (u + 1 < s->n_units)
            CHECK(c[u].out_bytes_per_token == m->hp.n_embd * sizeof(float));
    }
    /* A tied output matrix is needed (and counted) by both the embedding and the head. */
    const size_t tied = m->output_tied ? m->output.row_bytes * m->output.n_out : 0;
    CHECKF(total == model_weight_bytes(m) + tied, "%s: unit weights %zu != tensors %zu + tied output %zu", name,
           total, model_weight_bytes(m), tied);
    CHECK(c[1].kv_bytes_per_token == 2 * m->hp.n_head_kv * m->hp.head_dim * 2 && c[2].kv_bytes_per_token == 0);
    free(c);
}

/* Counts nodes of op in unit u. */
static int count_op(const graph_t *g, const seg_t *s, int u, graph_op_t op)
{
    int n = 0;
    for (int i = s->units[u].node_begin; i < s->units[u].node_end; i++)
        n += g->nodes[i].op == op;
    return n;
}

/* What each architecture's units hold (the generic unit checks ran before). */
static void check_arch_units(const model_t *m, const graph_t *g, const seg_t *s, const char *name)
{
    if (s->n_units != 2 * (int)m->hp.n_layer + 2)
        return;
    const int attn = 1, ffn = 2, out = s->n_units - 1;
    switch (m->arch_id) {
    case MODEL_ARCH_BLOOM:
        CHECKF(s->units[0].node_end - s->units[0].node_begin == 2 && count_op(g, s, 0, OP_EMBED) == 1 &&
                   count_op(g, s, 0, OP_LAYERNORM) == 1,
               "%s: the embedding unit is the lookup and its layer norm", name);
        CHECK(count_op(g, s, attn, OP_ROPE) == 0 && count_op(g, s, attn, OP_ATTENTION) == 1);
        CHECK(count_op(g, s, attn, OP_LAYERNORM) == 1 && count_op(g, s, attn, OP_BIAS) == 4 &&
              count_op(g, s, attn, OP_MATMUL) == 4);
        CHECK(count_op(g, s, ffn, OP_GELU) == 1 && count_op(g, s, ffn, OP_BIAS) == 2 &&
              count_op(g, s, ffn, OP_SWIGLU) == 0);
        CHECK(count_op(g, s, out, OP_LAYERNORM) == 1 && count_op(g, s, out, OP_MATMUL) == 1);
        for (int i = s->units[attn].node_begin; i < s->units[attn].node_end; i++)
            if (g->nodes[i].op == OP_ATTENTION)
                CHECK(g->nodes[i].alibi_max_bias == 8.0f);
        break;
    case MODEL_ARCH_QWEN2:
        CHECK(s->units[0].node_end - s->units[0].node_begin == 1);
        CHECK(count_op(g, s, attn, OP_BIAS) == 3 && count_op(g, s, attn, OP_ROPE) == 2);
        for (int i = s->units[attn].node_begin; i < s->units[attn].node_end; i++)
            if (g->nodes[i].op == OP_ROPE)
                CHECK(g->nodes[i].rope_neox == 1);
            else if (g->nodes[i].op == OP_ATTENTION)
                CHECK(g->nodes[i].alibi_max_bias == 0.0f);
        CHECK(m->output_tied && count_op(g, s, out, OP_RMSNORM) == 1);
        break;
    case MODEL_ARCH_LLAMA:
        CHECK(count_op(g, s, attn, OP_BIAS) == 0 && count_op(g, s, attn, OP_ROPE) == 2);
        break;
    }
}

/* Runs the model unit by unit over seg; writes the logits of every step into out[N_STEPS][n_vocab]. */
static int run_units(const model_t *m, const seg_t *s, const int32_t *tokens, float *out, int *inputs_match)
{
    const size_t V = m->hp.n_vocab;
    exec_t **ex = calloc((size_t)s->n_units, sizeof *ex);
    exec_tensor_t *in = calloc((size_t)s->graph->n_values, sizeof *in);
    err_t err;
    int rc = ex && in ? 0 : -1;
    *inputs_match = 1;
    for (int u = 0; u < s->n_units && rc == 0; u++) {
        exec_params_t p;
        exec_params_default(&p, m);
        p.seg = s;
        p.unit_begin = u;
        p.unit_end = u + 1;
        p.n_ctx = 32;
        p.max_batch = N_PROMPT;
        rc = exec_create(m, &p, &ex[u], &err);
        CHECKF(rc == 0, "unit %d: %s", u, err.msg);
    }
    for (int step = 0; step < N_STEPS && rc == 0; step++) {
        int pos0 = step == 0 ? 0 : N_PROMPT + step - 1, n = step == 0 ? N_PROMPT : 1;
        for (int u = 0; u < s->n_units && rc == 0; u++) {
            /* Exactly what the maps say unit u receives, from the unit that produced it. */
            int n_in = 0;
            const seg_edge_t *lists[2] = {s->sdm, s->rdm};
            int counts[2] = {s->n_sdm, s->n_rdm};
            for (int l = 0; l < 2; l++) {
                for (int i = 0; i < counts[l]; i++) {
                    const seg_edge_t *e = &lists[l][i];
                    if (e->to_unit != u || e->from_unit < 0)
                        continue;
                    for (int k = 0; k < exec_n_outputs(ex[e->from_unit]); k++)
                        if (exec_output(ex[e->from_unit], k).value == e->value)
                            in[n_in++] = exec_output(ex[e->from_unit], k);
                }
            }
            if (n_in != exec_n_inputs(ex[u]))
                *inputs_match = 0;
            exec_batch_t b = {.seq = 0, .pos0 = pos0, .n_tokens = n, .tokens = tokens + pos0, .inputs = in,
                              .n_inputs = n_in, .n_logits = 1};
            rc = exec_run(ex[u], &b, &err);
            CHECKF(rc == 0, "unit %d step %d: %s", u, step, err.msg);
        }
        if (rc == 0)
            memcpy(out + step * V, exec_logits(ex[s->n_units - 1]), V * sizeof(float));
    }
    for (int u = 0; ex && u < s->n_units; u++)
        exec_destroy(&ex[u]);
    free(ex);
    free(in);
    return rc;
}

static void check_model(const char *path)
{
    model_t *m = NULL;
    graph_t *g = NULL;
    seg_t *s = NULL, *fine = NULL, *finest = NULL;
    err_t err;
    if (model_load(path, &m, &err) || graph_build(m, &g, &err) || seg_build_default(g, &s, &err)) {
        CHECKF(0, "%s: %s", path, err.msg);
        goto done;
    }
    check_default_units(m, g, s, path);
    check_arch_units(m, g, s, path);

    const size_t V = m->hp.n_vocab, bytes = N_STEPS * V * sizeof(float);
    int32_t tokens[N_PROMPT + N_STEPS];
    for (int i = 0; i < N_PROMPT + N_STEPS; i++)
        tokens[i] = (int32_t)((i * 7919 + 13) % V);
    float *ref = malloc(bytes), *got = malloc(bytes);
    /* Reference: one executor over the whole model. */
    int match;
    {
        exec_params_t p;
        exec_params_default(&p, m);
        p.n_ctx = 32;
        p.max_batch = N_PROMPT;
        exec_t *ex = NULL;
        CHECK(exec_create(m, &p, &ex, &err) == 0);
        for (int step = 0; ex && step < N_STEPS; step++) {
            int pos0 = step == 0 ? 0 : N_PROMPT + step - 1, n = step == 0 ? N_PROMPT : 1;
            exec_batch_t b = {.seq = 0, .pos0 = pos0, .n_tokens = n, .tokens = tokens + pos0, .n_logits = 1};
            CHECK(exec_run(ex, &b, &err) == 0);
            memcpy(ref + step * V, exec_logits(ex), V * sizeof(float));
        }
        exec_destroy(&ex);
    }
    CHECK(run_units(m, s, tokens, got, &match) == 0);
    CHECKF(memcmp(ref, got, bytes) == 0 && match, "%s: default units one by one differ", path);

    /* A finer cut inside block 0's attention half: after its q projection. */
    int cuts[256], n = 0;
    for (int u = 0; u + 1 < s->n_units; u++) {
        if (u == 1) {
            for (int i = s->units[1].node_begin; i < s->units[1].node_end; i++)
                if (strstr(g->nodes[i].name, "attn_q")) {
                    cuts[n++] = i;
                    break;
                }
        }
        cuts[n++] = s->units[u].node_end - 1;
    }
    CHECK(seg_build(g, cuts, n, &fine, &err) == 0);
    if (fine) {
        CHECKF(fine->n_rdm > 0, "%s: a cut inside the attention half must give a residual map", path);
        int residual_to_add = 0;
        for (int i = 0; i < fine->n_rdm; i++)
            residual_to_add |= fine->rdm[i].from_unit == 0 && fine->rdm[i].to_unit == 2;
        CHECKF(residual_to_add, "%s: the embedding must skip straight to the residual add", path);
        memset(got, 0, bytes);
        CHECK(run_units(m, fine, tokens, got, &match) == 0);
        CHECKF(memcmp(ref, got, bytes) == 0 && match, "%s: finer cut differs", path);
    }
    /* The finest: a cut after every node outside the head. */
    n = 0;
    for (int i = 0; i + 1 < g->n_nodes && n < 256; i++)
        if (!g->nodes[i].head_only)
            cuts[n++] = i;
    if (n < 256 && seg_build(g, cuts, n, &finest, &err) == 0) {
        memset(got, 0, bytes);
        CHECK(run_units(m, finest, tokens, got, &match) == 0);
        CHECKF(memcmp(ref, got, bytes) == 0 && match, "%s: finest segmentation differs", path);
        printf("  %s: %d units, finest %d units (%d SDM, %d RDM edges): bit-identical\n", path, s->n_units,
               finest->n_units, finest->n_sdm, finest->n_rdm);
    }
    /* Bad cuts are refused. */
    int bad[2] = {3, 2};
    seg_t *none = NULL;
    CHECK(seg_build(g, bad, 2, &none, &err) == ERR_INVAL && none == NULL);
    bad[0] = g->n_nodes - 2;   /* inside the head */
    CHECK(seg_build(g, bad, 1, &none, &err) == ERR_INVAL && strstr(err.msg, "head"));
    free(ref);
    free(got);
done:
    seg_destroy(&finest);
    seg_destroy(&fine);
    seg_destroy(&s);
    graph_destroy(&g);
    model_destroy(&m);
}

int main(void)
{
    const char *shared = check_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared absent\n");
        return 0;
    }
    const char *models[] = {"stories260K", "stories260K-F16", "stories260K-Q8_0-mixed", "synth-15Mshape-F16",
                            "synth-15Mshape-Q8_0", "synth-qwen2b-Q8_0", "synth-bloomb-Q8_0"};
    char path[1024];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(path, sizeof path, "%s/models/%s.gguf", shared, models[i]);
        check_model(path);
    }
    return check_finish("test_seg");
}
