/*
 * cli_info.c — `lingua info` (what a model is and what it needs) and
 * `lingua synth` (write a synthetic model).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/kv.h"
#include "model/model.h"
#include "model/synth.h"
#include "tensor/types.h"

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

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
    if (model_load(o.model, &m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    const model_hparams_t *hp = &m->hp;
    int n_ctx = o.ctx > 0 ? o.ctx : (int)(hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    printf("model:          %s\n", o.model);
    printf("architecture:   %s\n", m->arch);
    printf("vocabulary:     %u tokens\n", hp->n_vocab);
    printf("embedding:      %u\n", hp->n_embd);
    printf("blocks:         %u\n", hp->n_layer);
    printf("heads:          %u (kv %u, head size %u, rope dims %u, rope base %g)\n", hp->n_head, hp->n_head_kv,
           hp->head_dim, hp->n_rot, hp->rope_base);
    printf("feed-forward:   %u\n", hp->n_ff);
    printf("context:        %u (trained)\n", hp->n_ctx_train);
    printf("rms epsilon:    %g\n", hp->rms_eps);
    printf("output:         %s\n", m->output_tied ? "tied to the embedding" : "separate");
    /* Count tensors per type. */
    size_t per_type[32] = {0}, bytes_per_type[32] = {0};
    for (size_t i = 0; i < gguf_tensor_count(m->gguf); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(m->gguf, i);
        if (t->type < 32) {
            per_type[t->type]++;
            bytes_per_type[t->type] += t->nbytes;
        }
    }
    printf("tensors:       ");
    for (unsigned t = 0; t < 32; t++)
        if (per_type[t])
            printf(" %s x%zu (%.2f MiB)", type_name(t), per_type[t], mib(bytes_per_type[t]));
    printf("\n");
    size_t weights = model_weight_bytes(m);
    size_t kv = kv_bytes((int)hp->n_layer, n_ctx, 1, (int)(hp->n_head_kv * hp->head_dim));
    printf("units:          %u (embed, %u x (attention, feed-forward), output; see 'lingua segment')\n",
           2 * hp->n_layer + 2, hp->n_layer);
    printf("memory:         weights %.2f MiB + KV cache %.2f MiB for %d tokens (%.1f KiB/token) = %.2f MiB\n",
           mib(weights), mib(kv), n_ctx, (double)model_kv_bytes_per_token(m) / 1024.0, mib(weights + kv));
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
