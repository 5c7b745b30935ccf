/*
 * fuzz_request.c — libFuzzer target for the service's request parsing
 * (src/serve/serve_req.c on top of src/json/jdoc.c and cJSON).
 *
 * Input layout: byte 0 bit 0 chooses the endpoint (1: chat completions, 0:
 * completions); the rest is the request body, copied into a heap block of
 * exactly its size so AddressSanitizer sees any read past it.  When
 * serve_req_parse accepts the body, the target checks its promises — the
 * prompt or 1..SERVE_MAX_MESSAGES messages with known roles and valid UTF-8
 * text, max_tokens and every sampling value within its documented range, at
 * most SERVE_MAX_STOP stop strings of 1..SERVE_STOP_MAX_BYTES bytes — then
 * renders the conversation with every chat template and runs the prompt
 * through serve_text with the stop strings, and traps if a promise breaks.  A
 * refusal must come with a negative code and a message.  tests/test_serve.c
 * includes this file and runs the same checks on deterministic mutations.
 * Build and run: fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_req.h"
#include "serve/serve_text.h"
#include "util/utf8.h"

#define FUZZ_REQUIRE(cond)          \
    do {                            \
        if (!(cond))                \
            __builtin_trap();       \
    } while (0)

static void fuzz_check_text(const char *s)
{
    FUZZ_REQUIRE(s != NULL);
    size_t n = strlen(s);
    FUZZ_REQUIRE(utf8_first_invalid((const unsigned char *)s, n) == n);
}

static void fuzz_check_accepted(const serve_req_t *r, int chat)
{
    FUZZ_REQUIRE(r->chat == chat);
    if (chat) {
        FUZZ_REQUIRE(r->prompt == NULL && r->msgs && r->n_msgs >= 1 && r->n_msgs <= SERVE_MAX_MESSAGES);
        for (size_t i = 0; i < r->n_msgs; i++) {
            const char *role = r->msgs[i].role;
            FUZZ_REQUIRE(!strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant"));
            fuzz_check_text(r->msgs[i].content);
        }
    } else {
        FUZZ_REQUIRE(r->msgs == NULL);
        fuzz_check_text(r->prompt);
    }
    if (r->model)
        fuzz_check_text(r->model);
    FUZZ_REQUIRE(r->max_tokens >= 1 && r->max_tokens <= 1 << 20);
    FUZZ_REQUIRE(r->samp.temp >= 0 && r->samp.temp <= 100 && r->samp.top_p >= 0 && r->samp.top_p <= 1);
    FUZZ_REQUIRE(r->samp.min_p >= 0 && r->samp.min_p <= 1 && r->samp.top_k >= 0);
    FUZZ_REQUIRE(r->samp.repeat_penalty > 0 && r->samp.repeat_penalty <= 100 && r->samp.repeat_last_n >= 0);
    FUZZ_REQUIRE(r->n_stop >= 0 && r->n_stop <= SERVE_MAX_STOP);
    for (int i = 0; i < r->n_stop; i++) {
        size_t n = strlen(r->stop[i]);
        FUZZ_REQUIRE(n >= 1 && n <= SERVE_STOP_MAX_BYTES);
    }
}

/* What the service does next with an accepted request: render, then cut at stops. */
static void fuzz_use(const serve_req_t *r)
{
    for (int t = 0; t < CHAT_N_TEMPLATES; t++) {
        char *out = NULL;
        size_t len = 0;
        const char *text = r->prompt;
        if (r->chat) {
            FUZZ_REQUIRE(chat_render((chat_tmpl_t)t, r->msgs, r->n_msgs, 1, &out, &len, NULL) == 0);
            FUZZ_REQUIRE(out && strlen(out) == len);
            text = out;
        }
        serve_text_t st;
        serve_text_init(&st);
        for (int i = 0; i < r->n_stop; i++)
            serve_text_add_stop(&st, r->stop[i]);
        size_t n = strlen(text), prev = 0;
        for (size_t i = 0; i < n; i += 3) {   /* token-sized pieces */
            int hit = serve_text_append(&st, text + i, n - i < 3 ? n - i : 3);
            size_t ready = serve_text_ready(&st, 0);
            FUZZ_REQUIRE(hit >= 0 && ready <= st.len && ready >= prev && memcmp(st.s, text, st.len) == 0);
            prev = ready;
            if (hit)
                break;
        }
        FUZZ_REQUIRE(serve_text_ready(&st, 1) == st.len);
        serve_text_fini(&st);
        free(out);
        if (!r->chat)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int chat = data[0] & 1;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, len);
    samp_params_t def;
    samp_params_default(&def);
    serve_req_t r;
    serve_req_err_t e;
    int rc = serve_req_parse(body, len, chat, 64, &def, &r, &e);
    if (rc == 0) {
        fuzz_check_accepted(&r, chat);
        fuzz_use(&r);
        serve_req_fini(&r);
    } else {
        FUZZ_REQUIRE(rc < 0 && e.err.code == rc && e.err.msg[0] != '\0');
        FUZZ_REQUIRE(r.prompt == NULL && r.msgs == NULL && r.n_stop == 0);
    }
    free(body);
    return 0;
}
