/*
 * cli_info.c — `lingua info` (what a model is and what it needs) and
 * `lingua synth` (write a synthetic model).
 *
 * The memory `info` reports is what one executor over the whole model holds
 * (exec.h): the mapped weights, the F16 KV cache for the context, and scratch
 * estimated from the graph as exec_create sizes it — the activations live at
 * once for a batch (the peak over the units, unit_cost.h), the matmul inputs
 * converted for the kernels, the logits row, the attention scores of each
 * thread and the rope table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/kv.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/seg.h"
#include "model/synth.h"
#include "plan/unit_cost.h"
#include "tensor/types.h"

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Tensors per stored type: count and bytes, one line each. */
static void print_types(const model_t *m)
{
    enum { MAX_TYPE = 64 };
    size_t count[MAX_TYPE] = {0}, bytes[MAX_TYPE] = {0}, n = 0, total = 0;
    for (size_t i = 0; i < gguf_tensor_count(m->gguf); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(m->gguf, i);
        if (t->type < MAX_TYPE) {
            count[t->type]++;
            bytes[t->type] += t->nbytes;
        }
        n++;
        total += t->nbytes;
    }
    printf("tensor types:   %-8s %7s %14s %10s %6s\n", "type", "tensors", "bytes", "MiB", "share");
    for (unsigned t = 0; t < MAX_TYPE; t++)
        if (count[t])
            printf("                %-8s %7zu %14zu %10.2f %5.1f%%\n", type_name(t), count[t], bytes[t], mib(bytes[t]),
                   total ? 100.0 * (double)bytes[t] / (double)total : 0.0);
    printf("                %-8s %7zu %14zu %10.2f\n", "total", n, total, mib(total));
}

/* Scratch of one executor over the whole model for batches of `batch` tokens (see the top). */
static size_t scratch_estimate(const model_t *m, const graph_t *g, const seg_t *s, int batch, int n_ctx, int threads,
                               err_t *err)
{
    const model_hparams_t *hp = &m->hp;
    unit_cost_t *c = calloc((size_t)s->n_units, sizeof *c);
    if (!c) {
        err_set(err, ERR_NOMEM, "info: out of memory");
        return 0;
    }
    size_t live = 0, widest = 0;
    if (unit_cost_compute(s, c, err) == 0)
        for (int u = 0; u < s->n_units; u++)
            if (c[u].scratch_bytes_per_token > live)
                live = c[u].scratch_bytes_per_token;
    free(c);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == OP_MATMUL && g->nodes[i].w->n_in > widest)
            widest = g->nodes[i].w->n_in;
    return live * (size_t)batch                                    /* activations of the batch */
           + widest * (size_t)batch * sizeof(float)                /* converted matmul inputs */
           + (size_t)hp->n_vocab * sizeof(float)                   /* one logits row */
           + (size_t)threads * ((size_t)n_ctx + hp->head_dim) * sizeof(float)   /* attention scores */
           + (size_t)batch * hp->n_rot * sizeof(float);            /* rope angles */
}

int cli_info(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_THREADS, &o);
    if (rc)
        return rc;
    if (!o.model) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        return 2;
    }
    err_t err;
    err_clear(&err);
    model_t *m = NULL;
    graph_t *g = NULL;
    seg_t *s = NULL;
    if (model_load(o.model, &m, &err) || graph_build(m, &g, &err) || seg_build_default(g, &s, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        seg_destroy(&s);
        graph_destroy(&g);
        model_destroy(&m);
        return 1;
    }
    const model_hparams_t *hp = &m->hp;
    const int n_ctx = o.ctx > 0 ? o.ctx : (int)(hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int batch = o.batch > 0 ? o.batch : 512;
    if (batch > n_ctx)
        batch = n_ctx;
    const int threads = o.threads > 0 ? o.threads : 1;
    printf("model:          %s\n", o.model);
    printf("architecture:   %s\n", m->arch);
    printf("vocabulary:     %u tokens\n", hp->n_vocab);
    printf("embedding:      %u\n", hp->n_embd);
    printf("blocks:         %u\n", hp->n_layer);
    if (hp->alibi_max_bias > 0)
        printf("heads:          %u (kv %u, head size %u, ALiBi, max bias %g)\n", hp->n_head, hp->n_head_kv,
               hp->head_dim, hp->alibi_max_bias);
    else
        printf("heads:          %u (kv %u, head size %u, rope %s, dims %u, base %g)\n", hp->n_head, hp->n_head_kv,
               hp->head_dim, hp->rope_neox ? "neox" : "normal", hp->n_rot, hp->rope_base);
    printf("feed-forward:   %u\n", hp->n_ff);
    printf("context:        %u (trained)\n", hp->n_ctx_train);
    if (m->arch_id == MODEL_ARCH_BLOOM)
        printf("norm:           layer norm, epsilon %g\n", hp->norm_eps);
    else
        printf("norm:           rms norm, epsilon %g\n", hp->rms_eps);
    printf("output:         %s\n", m->output_tied ? "tied to the embedding" : "separate");
    print_types(m);
    printf("units:          %d (embed, %u x (attention, feed-forward), output; see 'lingua segment')\n", s->n_units,
           hp->n_layer);
    const size_t weights = model_weight_bytes(m);
    const size_t kv = kv_bytes((int)hp->n_layer, n_ctx, 1, (int)(hp->n_head_kv * hp->head_dim));
    const size_t scratch = scratch_estimate(m, g, s, batch, n_ctx, threads, &err);
    printf("memory:         for %d tokens of context, batches of %d, %d thread%s (one sequence)\n", n_ctx, batch,
           threads, threads == 1 ? "" : "s");
    printf("  weights       %10.2f MiB (mapped from the file)\n", mib(weights));
    printf("  KV cache      %10.2f MiB (%.1f KiB per token, F16 K and V)\n", mib(kv),
           (double)model_kv_bytes_per_token(m) / 1024.0);
    printf("  scratch       %10.2f MiB (estimate: batch activations, converted inputs, logits, attention)\n",
           mib(scratch));
    printf("  total         %10.2f MiB\n", mib(weights + kv + scratch));
    seg_destroy(&s);
    graph_destroy(&g);
    model_destroy(&m);
    return 0;
}

int cli_synth(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_SYNTH | CLI_OPT_OUT, &o);
    if (rc)
        return rc;
    if (!o.out) {
        fprintf(stderr, "error: give the output file with -o OUT.gguf\n");
        return 2;
    }
    err_t err;
    err_clear(&err);
    if (synth_write(&o.synth, o.out, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "wrote %s\n", o.out);
    return 0;
}
