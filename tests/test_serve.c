/*
 * test_serve.c — the service's pure parts: request bodies (serve/serve_req.h)
 * accepted with their fields and defaults, refused with the field named;
 * growing text with stop strings and the hold-back of serve_text_ready
 * (serve/serve_text.h); and the fuzz target fuzz/fuzz_request.c (included here)
 * on deterministic mutations of valid bodies — byte flips, inserted JSON
 * tokens, truncations — so its checks also run in CI under the sanitizers.
 * The HTTP service itself is tested end to end by
 * tests/cli_serve*.sh with curl, the openai npm client and Chromium.
 */
#include <string.h>

#include "../fuzz/fuzz_request.c"
#include "check.h"
#include "serve/serve_client.h"
#include "serve/serve_req.h"
#include "serve/serve_text.h"

static samp_params_t defaults(void)
{
    samp_params_t p;
    samp_params_default(&p);
    return p;
}

static int refused(const char *body, int chat, const char *param, const char *want)
{
    serve_req_t r;
    serve_req_err_t e;
    samp_params_t d = defaults();
    int rc = serve_req_parse(body, strlen(body), chat, 16, &d, &r, &e);
    int ok = rc != 0 && strcmp(e.param, param) == 0 && strstr(e.err.msg, want) != NULL && r.prompt == NULL &&
             r.msgs == NULL;
    if (!ok)
        fprintf(stderr, "  body %s: rc %d param '%s' message '%s'; wanted param '%s', '%s'\n", body, rc, e.param,
                e.err.msg, param, want);
    if (rc == 0)
        serve_req_fini(&r);
    return ok;
}

static void test_accept(void)
{
    samp_params_t d = defaults();
    serve_req_t r;
    serve_req_err_t e;
    const char *b = "{\"model\":\"m\",\"prompt\":\"Once\",\"max_tokens\":7,\"temperature\":0,\"top_p\":0.5,"
                    "\"top_k\":3,\"min_p\":0.1,\"seed\":42,\"repeat_penalty\":1.1,\"stop\":[\"\\n\",\"END\"],"
                    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"presence_penalty\":0,"
                    "\"user\":\"ignored\",\"logprobs\":null}";
    CHECKF(serve_req_parse(b, strlen(b), 0, 16, &d, &r, &e) == 0, "%s", e.err.msg);
    CHECK(!strcmp(r.model, "m") && !strcmp(r.prompt, "Once") && r.max_tokens == 7 && r.samp.temp == 0.0f &&
          r.samp.top_p == 0.5f && r.samp.top_k == 3 && r.samp.min_p == 0.1f && r.samp.seed == 42 && r.seed_given &&
          r.samp.repeat_penalty == 1.1f && r.n_stop == 2 && !strcmp(r.stop[1], "END") && r.stream &&
          r.include_usage && !r.chat);
    serve_req_fini(&r);
    /* Defaults; a prompt given as an array of one string; a single stop string. */
    b = "{\"prompt\":[\"x\"],\"stop\":\"\\n\\n\"}";
    CHECK(serve_req_parse(b, strlen(b), 0, 16, &d, &r, &e) == 0);
    CHECK(r.max_tokens == 16 && r.samp.temp == d.temp && r.samp.top_k == d.top_k && !r.seed_given && !r.stream &&
          r.n_stop == 1 && !strcmp(r.stop[0], "\n\n") && r.model == NULL && !strcmp(r.prompt, "x"));
    serve_req_fini(&r);
    /* Chat: roles, text parts joined, developer as system, null content. */
    b = "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"text\",\"text\":\"lo\"}]},{\"role\":\"assistant\","
        "\"content\":null}],\"max_completion_tokens\":5}";
    CHECKF(serve_req_parse(b, strlen(b), 1, 16, &d, &r, &e) == 0, "%s", e.err.msg);
    CHECK(r.chat && r.n_msgs == 3 && !strcmp(r.msgs[0].role, "system") && !strcmp(r.msgs[1].content, "Hello") &&
          !strcmp(r.msgs[2].role, "assistant") && !strcmp(r.msgs[2].content, "") && r.max_tokens == 5);
    serve_req_fini(&r);
}

static void test_refuse(void)
{
    CHECK(refused("{\"prompt\": ", 0, "", "malformed JSON body: byte"));
    CHECK(refused("[1]", 0, "", "must be a JSON object"));
    CHECK(refused("{}", 0, "prompt", "'prompt' is required"));
    CHECK(refused("{\"prompt\": 5}", 0, "prompt", "must be a string"));
    CHECK(refused("{\"prompt\": \"a\", \"max_tokens\": \"9\"}", 0, "max_tokens", "must be a number, not string"));
    CHECK(refused("{\"prompt\": \"a\", \"max_tokens\": 0}", 0, "max_tokens", "must be in 1..1048576"));
    CHECK(refused("{\"prompt\": \"a\", \"max_tokens\": 2.5}", 0, "max_tokens", "must be an integer"));
    CHECK(refused("{\"prompt\": \"a\", \"temperature\": -1}", 0, "temperature", "must be in 0..100"));
    CHECK(refused("{\"prompt\": \"a\", \"top_p\": 2}", 0, "top_p", "must be in 0..1"));
    CHECK(refused("{\"prompt\": \"a\", \"stream\": 1}", 0, "stream", "must be a boolean"));
    CHECK(refused("{\"prompt\": \"a\", \"stop\": [1]}", 0, "stop", "entries must be strings"));
    CHECK(refused("{\"prompt\": \"a\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0, "stop", "at most 4"));
    CHECK(refused("{\"prompt\": \"a\", \"stop\": \"\"}", 0, "stop", "1..64 bytes"));
    CHECK(refused("{\"prompt\": \"a\", \"n\": 2}", 0, "n", "must be in 1..1"));
    CHECK(refused("{\"prompt\": \"a\", \"frequency_penalty\": 0.5}", 0, "frequency_penalty", "use repeat_penalty"));
    CHECK(refused("{\"prompt\": \"a\", \"model\": 3}", 0, "model", "must be a string"));
    CHECK(refused("{\"prompt\": \"a\", \"seed\": -1}", 0, "seed", "must be in"));
    CHECK(refused("{\"messages\": []}", 1, "messages", "1..1024 messages"));
    CHECK(refused("{\"messages\": {}}", 1, "messages", "must be an array"));
    CHECK(refused("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", 1, "messages[0]", "'robot'"));
    CHECK(refused("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}", 1, "messages[0]", "must be a string"));
    CHECK(refused("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", 1,
                  "messages[0]", "only parts"));
    CHECK(refused("{\"prompt\": \"\xff\"}", 0, "", "invalid UTF-8"));
}

static void test_text(void)
{
    serve_text_t t;
    serve_text_init(&t);
    serve_text_add_stop(&t, "\nUser:");
    serve_text_add_stop(&t, "");   /* ignored */
    CHECK(t.n_stops == 1);
    CHECK(serve_text_append(&t, "Hello", 5) == 0 && serve_text_ready(&t, 0) == 5);
    CHECK(serve_text_append(&t, "\nUs", 3) == 0 && serve_text_ready(&t, 0) == 5);   /* could become the stop */
    CHECK(serve_text_ready(&t, 1) == 8);
    CHECK(serve_text_append(&t, "er: hi", 6) == 1 && t.stopped && t.len == 5 && !strcmp(t.s, "Hello"));
    CHECK(serve_text_append(&t, "more", 4) == 0 && t.len == 5 && serve_text_ready(&t, 0) == 5);
    serve_text_fini(&t);
    /* A stop string inside one piece; a false start that turns out not to be a stop. */
    serve_text_init(&t);
    serve_text_add_stop(&t, "END");
    CHECK(serve_text_append(&t, "abEN", 4) == 0 && serve_text_ready(&t, 0) == 2);
    CHECK(serve_text_append(&t, "x", 1) == 0 && serve_text_ready(&t, 0) == 5);
    CHECK(serve_text_append(&t, "yENDz", 5) == 1 && !strcmp(t.s, "abENxy"));
    serve_text_fini(&t);
    /* An incomplete UTF-8 sequence is held back until it is complete. */
    serve_text_init(&t);
    CHECK(serve_text_append(&t, "a\xe2\x82", 3) == 0 && serve_text_ready(&t, 0) == 1);
    CHECK(serve_text_append(&t, "\xac", 1) == 0 && serve_text_ready(&t, 0) == 4);
    CHECK(serve_text_append(&t, "\xf0\x9f", 2) == 0 && serve_text_ready(&t, 0) == 4 && serve_text_ready(&t, 1) == 6);
    serve_text_fini(&t);
}

/* Mutations of valid bodies through the fuzz target (which traps on a broken promise). */
static void test_mutations(void)
{
    static const char *const seeds[] = {
        "\x00{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"temperature\":0,"
        "\"stop\":[\"\\n\",\"time\"],\"stream\":true}",
        "\x01{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"top_p\":0.9,\"seed\":7,\"stop\":\"<|im_end|>\"}",
    };
    static const char *const tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "1e999", "-1", "null", "true",
                                         "\"\\u0000\"", "\"\\ud800\"", "\xff", "\xc3", "0.5", "\"x\""};
    uint8_t buf[512];
    unsigned rng = 12345;
    int runs = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        size_t n = strlen(seeds[s] + 1) + 1;   /* byte 0 may be NUL */
        for (size_t cut = 0; cut <= n; cut++, runs++)   /* every truncation */
            LLVMFuzzerTestOneInput((const uint8_t *)seeds[s], cut);
        for (int k = 0; k < 3000; k++, runs++) {
            memcpy(buf, seeds[s], n);
            size_t len = n;
            rng = rng * 1103515245u + 12345u;
            size_t at = 1 + (rng >> 8) % (n - 1);
            if (k % 2) {
                buf[at] ^= (uint8_t)(1u << ((rng >> 4) % 8));   /* a bit flip */
            } else {   /* a JSON token inserted */
                const char *t = tokens[(rng >> 16) % (sizeof tokens / sizeof tokens[0])];
                size_t tl = strlen(t);
                memmove(buf + at + tl, buf + at, len - at);
                memcpy(buf + at, t, tl);
                len += tl;
            }
            LLVMFuzzerTestOneInput(buf, len);
        }
    }
    CHECK(runs > 6000);   /* reaching here means no promise broke */
}

/* The head of an HTTP reply (what `lingua status` reads; fuzz/fuzz_http_reply.c fuzzes it). */
static void test_reply(void)
{
    int status = 0;
    size_t off = 0;
    err_t err;
    const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
    CHECK(serve_http_parse_reply(r, strlen(r), &status, &off, &err) == 0 && status == 200 && !strcmp(r + off, "{\"a\":1}"));
    r = "HTTP/1.0 404 Not Found\r\n\r\n";
    CHECK(serve_http_parse_reply(r, strlen(r), &status, &off, &err) == 0 && status == 404 && off == strlen(r));
    static const struct {
        const char *reply, *want;
    } bad[] = {
        {"", "status line"}, {"HTTP/2 200 OK\r\n\r\n", "status line"}, {"HTTP/1.1 2x0 OK\r\n\r\n", "three digits"},
        {"HTTP/1.1 999 X\r\n\r\n", "out of 100..599"}, {"HTTP/1.1 2000\r\n\r\n", "not followed"},
        {"HTTP/1.1 200 OK\r\nA: b\r\n", "do not end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        int rc = serve_http_parse_reply(bad[i].reply, strlen(bad[i].reply), &status, &off, &err);
        CHECKF(rc == ERR_PROTO && strstr(err.msg, bad[i].want), "'%s': %s", bad[i].reply, err.msg);
    }
    /* The blank line must lie inside the given length. */
    r = "HTTP/1.1 200 OK\r\n\r\n";
    CHECK(serve_http_parse_reply(r, strlen(r) - 1, &status, &off, &err) == ERR_PROTO);
}

int main(void)
{
    test_reply();
    test_mutations();
    test_accept();
    test_refuse();
    test_text();
    return check_finish("test_serve");
}
