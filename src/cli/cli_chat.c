/*
 * cli_chat.c — `lingua chat -m MODEL [--local N] [-p SYSTEM]`: an interactive
 * conversation in the terminal on a ring of N local workers (1 by default).
 * Each turn renders the whole conversation with the chat template, runs it
 * as one session, and streams the answer as it comes, cut at the template's
 * end-of-turn strings (serve_text).  Commands: /reset starts over, /quit or
 * end of input leaves.  SIGINT stops the current answer's wait and leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve_text.h"

typedef struct {
    const tok_t *tok;
    serve_text_t text;
    size_t printed;
    int done, stopped;
} turn_t;

static void on_token(void *user, uint64_t session, int32_t id, int final)
{
    (void)session;
    turn_t *t = user;
    if (t->done)
        return;
    if (!tok_is_eog(t->tok, id)) {
        char piece[256];
        int n = tok_piece(t->tok, id, piece, sizeof piece);
        if (n > (int)sizeof piece)
            n = (int)sizeof piece;
        if (n > 0 && serve_text_append(&t->text, piece, (size_t)n) == 1)
            t->stopped = 1;
    }
    t->done = final || t->stopped;
    size_t ready = serve_text_ready(&t->text, t->done);
    fwrite(t->text.s + t->printed, 1, ready - t->printed, stdout);
    fflush(stdout);
    t->printed = ready;
}

typedef struct {
    chat_msg_t *v;
    size_t n, cap;
} conv_t;

static int conv_add(conv_t *c, const char *role, const char *content)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        chat_msg_t *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    char *s = strdup(content);
    if (!s)
        return -1;
    c->v[c->n++] = (chat_msg_t){role, s};
    return 0;
}

static void conv_clear(conv_t *c, size_t keep)
{
    while (c->n > keep)
        free((char *)c->v[--c->n].content);
}

/* One answer to the conversation; appends it. 0, or 1 after printing why. */
static int answer(coord_t *c, const cli_opts_t *o, chat_tmpl_t tmpl, conv_t *conv, volatile sig_atomic_t *stop)
{
    const tok_t *tok = coord_tok(c);
    char *prompt = NULL;
    size_t len = 0;
    err_t err;
    err_clear(&err);
    if (chat_render(tmpl, conv->v, conv->n, 1, &prompt, &len, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    size_t n_ids = 0;
    int32_t *ids = cli_text_ids(tok, prompt, len, tok_add_bos(tok), 1, &n_ids);
    free(prompt);
    if (!ids)
        return 1;
    int n_ctx = coord_n_ctx(c);
    if (n_ids >= (size_t)n_ctx) {
        fprintf(stderr, "the conversation has %zu tokens, the context holds %d: type /reset to start over\n", n_ids,
                n_ctx);
        free(ids);
        return 1;
    }
    int n_predict = o->n_predict > 0 ? o->n_predict : 256;
    if ((size_t)n_predict > (size_t)n_ctx - n_ids)
        n_predict = n_ctx - (int)n_ids;
    turn_t t = {.tok = tok};
    serve_text_init(&t.text);
    for (const char *const *s = chat_stops(tmpl); *s; s++)
        serve_text_add_stop(&t.text, *s);
    uint64_t session = 0;
    int rc = coord_session_start(c, ids, n_ids, n_predict, &o->samp, 0, on_token, &t, &session, &err);
    while (rc == 0 && !t.done && !*stop)
        rc = coord_poll(c, 100, &err);
    coord_session_release(c, session);
    free(ids);
    putchar('\n');
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
    } else {
        const char *s = t.text.s ? t.text.s : "";
        while (*s == ' ')
            s++;
        rc = conv_add(conv, "assistant", s) ? 1 : 0;
    }
    serve_text_fini(&t.text);
    return rc ? 1 : 0;
}

int cli_chat(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_PROMPT | CLI_OPT_GEN | CLI_OPT_THREADS |
                       CLI_OPT_SAMPLING | CLI_OPT_RING | CLI_OPT_SERVE | CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    if (!o.model) {
        fprintf(stderr, "error: chat needs -m MODEL\n");
        return 2;
    }
    chat_tmpl_t tmpl = CHAT_PLAIN;
    if (cli_chat_template(&o, NULL, &tmpl))   /* a bad name fails before any worker starts */
        return 2;
    if (o.local < 1)
        o.local = 1;
    o.n_seq = 1;
    volatile sig_atomic_t *stop = cli_catch_signals();
    err_t err;
    err_clear(&err);
    cli_ring_t r;
    fprintf(stderr, "chat: starting %d local worker%s...\n", o.local, o.local == 1 ? "" : "s");
    rc = cli_ring_up(&o, "tcp://127.0.0.1:*", &r, stop, &err);
    if (rc == 0 && cli_chat_template(&o, r.c, &tmpl))
        rc = ERR_INVAL;
    conv_t conv = {0};
    size_t keep = 0;
    if (rc == 0 && o.prompt) {
        rc = conv_add(&conv, "system", o.prompt) ? ERR_NOMEM : 0;
        keep = 1;
    }
    if (rc == 0)
        fprintf(stderr, "chat: template %s; /reset starts over, /quit leaves\n", chat_tmpl_name(tmpl));
    char line[8192];
    while (rc == 0 && !*stop) {
        fputs("> ", stderr);
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = '\0';
        if (!strcmp(line, "/quit"))
            break;
        if (!strcmp(line, "/reset")) {
            conv_clear(&conv, keep);
            continue;
        }
        if (!*line)
            continue;
        if (conv_add(&conv, "user", line)) {
            rc = ERR_NOMEM;
            break;
        }
        if (answer(r.c, &o, tmpl, &conv, stop))
            conv_clear(&conv, conv.n - 1);   /* drop the unanswered question */
    }
    conv_clear(&conv, 0);
    free(conv.v);
    cli_ring_down(&r);
    if (rc && err.msg[0])
        fprintf(stderr, "error: %s\n", err.msg);
    return rc ? 1 : 0;
}
