/*
 * cli_generate.c — `lingua generate` and `lingua tokenize`: text in, tokens or
 * generated text out, on this machine.  Streams each piece as it is generated
 * and ends with a speed line on stderr; with --json prints exactly one JSON
 * object (prompt_ids, gen_ids, text, prompt_tokens_per_s, gen_tokens_per_s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/exec.h"
#include "exec/generate.h"
#include "model/model.h"
#include "model/tok.h"
#include "json/jdoc.h"

static int32_t *prompt_ids(const tok_t *tok, const cli_opts_t *o, int add_bos, int special, size_t *n_ids)
{
    char *file_text = NULL;
    const char *text = o->prompt;
    size_t len = text ? strlen(text) : 0;
    if (o->file) {
        file_text = cli_read_file(o->file, &len);
        if (!file_text)
            return NULL;
        text = file_text;
    }
    if (!text) {
        fprintf(stderr, "error: give the text with -p TEXT or -f FILE\n");
        return NULL;
    }
    int32_t *ids = cli_text_ids(tok, text, len, add_bos, special, n_ids);
    free(file_text);
    return ids;
}

int32_t *cli_text_ids(const tok_t *tok, const char *text, size_t len, int add_bos, int special, size_t *n_ids)
{
    err_t err;
    err_clear(&err);
    size_t cap = len + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int rc = ids ? tok_encode(tok, text, len, add_bos, special, ids, cap, &n, &err) : ERR_NOMEM;
    if (rc == ERR_RANGE) {   /* more ids than bytes: only with many special tokens; retry at the exact size */
        int32_t *bigger = realloc(ids, (n + 1) * sizeof *ids);
        rc = bigger ? tok_encode(tok, text, len, add_bos, special, (ids = bigger), n + 1, &n, &err) : ERR_NOMEM;
    }
    if (rc) {
        fprintf(stderr, "error: tokenizing the prompt: %s\n", rc == ERR_NOMEM ? "out of memory" : err.msg);
        free(ids);
        return NULL;
    }
    *n_ids = n;
    return ids;
}

int cli_text_add(cli_text_t *t, const tok_t *tok, int32_t id, int stream)
{
    char piece[256];
    int n = tok_piece(tok, id, piece, sizeof piece);
    if (n <= 0)
        return 0;
    if ((size_t)n > sizeof piece)
        n = (int)sizeof piece;
    if (t->len + (size_t)n > t->cap) {
        size_t cap = (t->cap + (size_t)n) * 2;
        char *bigger = realloc(t->s, cap);
        if (!bigger)
            return -1;
        t->s = bigger;
        t->cap = cap;
    }
    memcpy(t->s + t->len, piece, (size_t)n);
    t->len += (size_t)n;
    if (stream) {
        fwrite(piece, 1, (size_t)n, stdout);
        fflush(stdout);
    }
    return 0;
}

typedef struct {
    const tok_t *tok;
    int stream;             /* print pieces as they come */
    cli_text_t text;        /* the generated tokens' text */
} piece_sink_t;

static int on_token(void *user, int32_t id)
{
    piece_sink_t *s = user;
    return cli_text_add(&s->text, s->tok, id, s->stream) ? 1 : 0;
}

static int load(const cli_opts_t *o, model_t **m, tok_t **tok)
{
    err_t err;
    err_clear(&err);
    if (!o->model) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        return 2;
    }
    if (model_load(o->model, m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    if (tok_create((*m)->gguf, tok, &err)) {
        fprintf(stderr, "error: %s: tokenizer: %s\n", o->model, err.msg);
        model_destroy(m);
        return 1;
    }
    return 0;
}

int cli_generate(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_PROMPT | CLI_OPT_GEN | CLI_OPT_THREADS |
                       CLI_OPT_SAMPLING | CLI_OPT_JSON, &o);
    if (rc)
        return rc;
    model_t *m = NULL;
    tok_t *tok = NULL;
    exec_t *ex = NULL;
    samp_t *samp = NULL;
    int32_t *ids = NULL, *history = NULL;
    piece_sink_t sink = {0};
    err_t err;
    err_clear(&err);
    if ((rc = load(&o, &m, &tok)))
        return rc;
    rc = 1;
    size_t n_prompt = 0;
    if (!(ids = prompt_ids(tok, &o, tok_add_bos(tok), 1, &n_prompt)))
        goto done;
    exec_params_t ep;
    exec_params_default(&ep, m);
    ep.n_threads = o.threads;
    ep.n_ctx = o.ctx;
    ep.max_batch = o.batch;
    ep.isa = o.isa;
    if (exec_create(m, &ep, &ex, &err) || samp_create(&o.samp, (int32_t)m->hp.n_vocab, &samp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    history = malloc((n_prompt + (size_t)o.n_predict + 1) * sizeof *history);
    if (!history) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    sink.tok = tok;
    sink.stream = !o.json;
    if (sink.stream) {
        if (o.prompt)
            fputs(o.prompt, stdout);
        fflush(stdout);
    }
    gen_request_t req = {.exec = ex, .samp = samp, .tok = tok, .seq = 0, .n_predict = o.n_predict,
                         .history = history, .on_token = on_token, .user = &sink};
    gen_stats_t st;
    if (gen_run(&req, ids, n_prompt, &st, &err)) {
        fprintf(stderr, "\nerror: %s\n", err.msg);
        goto done;
    }
    if (o.dump_logits && cli_write_floats(o.dump_logits, exec_logits(ex), m->hp.n_vocab) != 0)
        goto done;
    double pp = st.prompt_seconds > 0 ? (double)st.n_prompt / st.prompt_seconds : 0.0;
    double tg = st.gen_seconds > 0 && st.n_eval > 0 ? (double)st.n_eval / st.gen_seconds : 0.0;
    if (o.json) {
        cli_json_result(stdout, history, n_prompt, history + n_prompt, st.n_gen, sink.text.s, sink.text.len, pp, tg);
        fputc('\n', stdout);
    } else {
        fputc('\n', stdout);
        fflush(stdout);
        fprintf(stderr, "prompt: %zu tokens, %.2f tokens/s | generation: %zu tokens, %.2f tokens/s | %d thread%s, %s kernels\n",
                st.n_prompt, pp, st.n_gen, tg, o.threads, o.threads == 1 ? "" : "s", exec_isa_name(ex));
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(sink.text.s);
    free(history);
    free(ids);
    samp_destroy(&samp);
    exec_destroy(&ex);
    tok_destroy(&tok);
    model_destroy(&m);
    return rc;
}

int cli_tokenize(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_PROMPT | CLI_OPT_TOKENIZE, &o);
    if (rc)
        return rc;
    tok_t *tok = NULL;
    /* A vocabulary-only GGUF (no weights) is fine here: open just the tokenizer. */
    err_t err;
    err_clear(&err);
    if (!o.model) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        return 2;
    }
    gguf_ctx_t *g = NULL;
    if (gguf_open(o.model, &g, &err) || tok_create(g, &tok, &err)) {
        fprintf(stderr, "error: %s: %s\n", o.model, err.msg);
        gguf_close(&g);
        return 1;
    }
    gguf_close(&g);
    size_t n = 0;
    int32_t *ids = prompt_ids(tok, &o, o.no_bos ? 0 : tok_add_bos(tok), !o.no_special, &n);
    rc = 1;
    if (ids) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    free(ids);
    tok_destroy(&tok);
    return rc;
}

cJSON *cli_json_result_obj(const int32_t *prompt, size_t n_prompt, const int32_t *gen, size_t n_gen,
                           const char *text, size_t len, double prompt_tps, double gen_tps)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddItemToObject(o, "prompt_ids", jdoc_i32_array(prompt, n_prompt));
    cJSON_AddItemToObject(o, "gen_ids", jdoc_i32_array(gen, n_gen));
    jdoc_add_text(o, "text", text, len);
    jdoc_add_number(o, "prompt_tokens_per_s", prompt_tps);
    jdoc_add_number(o, "gen_tokens_per_s", gen_tps);
    return o;
}

void cli_json_result(FILE *f, const int32_t *prompt, size_t n_prompt, const int32_t *gen, size_t n_gen,
                     const char *text, size_t len, double prompt_tps, double gen_tps)
{
    cJSON *o = cli_json_result_obj(prompt, n_prompt, gen, n_gen, text, len, prompt_tps, gen_tps);
    char *s = o ? jdoc_print(o) : NULL;
    if (s)
        fputs(s, f);
    free(s);
    cJSON_Delete(o);
}
