/*
 * cli_logits.c — `lingua logits`: feeds a list of token ids (no BOS added) in
 * one batch and writes the logits of the last K positions as K rows of n_vocab
 * little-endian float32 (the layout of the golden files).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/exec.h"
#include "model/model.h"

/* Parses "ID ID ..." (spaces, tabs, commas or newlines between). Returns a heap array or NULL after printing why. */
static int32_t *parse_ids(const char *s, uint32_t n_vocab, size_t *n_out)
{
    size_t cap = strlen(s) / 2 + 1, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "error: out of memory\n");
        return NULL;
    }
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= (long)n_vocab) {
            fprintf(stderr, "error: --tokens: '%.*s' is not a token id in 0..%u\n", (int)strcspn(p, " \t,\n"), p,
                    n_vocab - 1);
            free(ids);
            return NULL;
        }
        ids[n++] = (int32_t)v;   /* n < cap: every id takes at least one digit and one separator */
        p = end;
    }
    if (n == 0) {
        fprintf(stderr, "error: --tokens: no token ids given\n");
        free(ids);
        return NULL;
    }
    *n_out = n;
    return ids;
}

int cli_logits(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_LOGITS | CLI_OPT_OUT | CLI_OPT_THREADS, &o);
    if (rc)
        return rc;
    if (!o.model || !o.tokens || !o.out) {
        fprintf(stderr, "error: logits needs -m MODEL, --tokens \"ID ID ...\" and -o OUT.f32\n");
        return 2;
    }
    err_t err;
    err_clear(&err);
    model_t *m = NULL;
    exec_t *ex = NULL;
    int32_t *ids = NULL;
    rc = 1;
    if (model_load(o.model, &m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    size_t n = 0;
    if (!(ids = parse_ids(o.tokens, m->hp.n_vocab, &n)))
        goto done;
    if ((size_t)o.last > n) {
        fprintf(stderr, "error: --last %d exceeds the %zu tokens given\n", o.last, n);
        rc = 2;
        goto done;
    }
    exec_params_t ep;
    exec_params_default(&ep, m);
    ep.n_threads = o.threads;
    ep.n_ctx = o.ctx > 0 ? o.ctx : (int)n;
    ep.max_batch = (int)n;
    ep.max_logits = o.last;
    ep.isa = o.isa;
    if ((size_t)ep.n_ctx < n) {
        fprintf(stderr, "error: %zu tokens exceed the context of %d (-c)\n", n, ep.n_ctx);
        rc = 2;
        goto done;
    }
    exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = (int)n, .tokens = ids, .n_logits = o.last};
    if (exec_create(m, &ep, &ex, &err) || exec_run(ex, &b, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    if (cli_write_floats(o.out, exec_logits(ex), (size_t)o.last * m->hp.n_vocab) != 0)
        goto done;
    rc = 0;
done:
    free(ids);
    exec_destroy(&ex);
    model_destroy(&m);
    return rc;
}
