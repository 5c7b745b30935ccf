/*
 * test_exec.c — the executor's determinism contract, which the distributed
 * runtime relies on: logits are bit-identical whatever the thread count, however
 * the tokens are split into batches, and however the units are split into
 * contiguous ranges run by separate executors that hand each other only the
 * residual stream.  Also: bad batches are refused with an error and change
 * nothing; an executor that adopts the previous stage's interleaved copies
 * (exec_params_t adopt_from, a boundary move) computes the same logits, packs
 * only what is new to it, and leaves the old one the rest until it drops them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "model/model.h"

#define N_TOKENS 24
#define MAX_RANGES 8

typedef struct {
    int bounds[MAX_RANGES + 1];  /* unit boundaries: bounds[0] = 0 ... bounds[n] = n_units */
    int n;
} split_t;

/* Runs tokens through a chain of executors over the split, chunk tokens at a time,
 * writing the logits of every position to out[N_TOKENS][n_vocab]. Returns 0 on success. */
static int run_chain(const model_t *m, const split_t *s, int threads, int chunk, kern_isa_t isa,
                     const int32_t *tokens, float *out)
{
    exec_t *ex[MAX_RANGES] = {0};
    err_t err;
    int rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        exec_params_t p;
        exec_params_default(&p, m);
        p.unit_begin = s->bounds[i];
        p.unit_end = s->bounds[i + 1];
        p.n_threads = threads;
        p.n_ctx = 64;
        p.max_batch = chunk;
        p.max_logits = chunk;
        p.isa = isa;
        rc = exec_create(m, &p, &ex[i], &err);
        CHECKF(rc == 0, "%s", err.msg);
    }
    const size_t n_vocab = m->hp.n_vocab;
    for (int pos = 0; pos < N_TOKENS && rc == 0; pos += chunk) {
        int n = N_TOKENS - pos < chunk ? N_TOKENS - pos : chunk;
        const float *hidden = NULL;
        for (int i = 0; i < s->n && rc == 0; i++) {
            exec_batch_t b = {.seq = 0, .pos0 = pos, .n_tokens = n, .tokens = tokens + pos, .hidden = hidden,
                              .n_logits = n};
            rc = exec_run(ex[i], &b, &err);
            CHECKF(rc == 0, "%s", err.msg);
            hidden = exec_hidden(ex[i]);
        }
        if (rc == 0)
            memcpy(out + (size_t)pos * n_vocab, exec_logits(ex[s->n - 1]), (size_t)n * n_vocab * sizeof(float));
    }
    for (int i = 0; i < s->n; i++)
        exec_destroy(&ex[i]);
    return rc;
}

static void check_model(const char *path, kern_isa_t isa)
{
    model_t *m = NULL;
    err_t err;
    int rc = model_load(path, &m, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc)
        return;
    graph_t *g = NULL;
    seg_t *seg = NULL;
    CHECK(graph_build(m, &g, &err) == 0 && seg_build_default(g, &seg, &err) == 0);
    const int n_units = seg->n_units;
    seg_destroy(&seg);
    graph_destroy(&g);
    const size_t n_vocab = m->hp.n_vocab, bytes = (size_t)N_TOKENS * n_vocab * sizeof(float);
    int32_t tokens[N_TOKENS];
    uint64_t state = 12345;
    for (int i = 0; i < N_TOKENS; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((state >> 33) % n_vocab);
    }
    float *ref = malloc(bytes), *got = malloc(bytes);
    split_t whole = {.bounds = {0, n_units}, .n = 1};
    rc = run_chain(m, &whole, 1, N_TOKENS, isa, tokens, ref);
    CHECK(rc == 0);

    /* Threads and batch splits. */
    const int threads[] = {1, 2, 3, 4};
    const int chunks[] = {1, 3, 7, N_TOKENS};
    for (size_t t = 0; t < 4; t++) {
        for (size_t c = 0; c < 4; c++) {
            if (t == 0 && c == 3)
                continue;
            memset(got, 0, bytes);
            rc = run_chain(m, &whole, threads[t], chunks[c], isa, tokens, got);
            CHECKF(rc == 0 && memcmp(ref, got, bytes) == 0, "%s: threads %d, batches of %d: logits differ", path,
                   threads[t], chunks[c]);
        }
    }
    /* Unit ranges: every single cut, one-unit stages, and random splits. */
    for (int cut = 1; cut < n_units; cut++) {
        split_t s = {.bounds = {0, cut, n_units}, .n = 2};
        rc = run_chain(m, &s, 2, 5, isa, tokens, got);
        CHECKF(rc == 0 && memcmp(ref, got, bytes) == 0, "%s: split at unit %d: logits differ", path, cut);
    }
    for (int trial = 0; trial < 6; trial++) {
        split_t s = {.n = 0};
        s.bounds[0] = 0;
        int at = 0;
        while (at < n_units && s.n < MAX_RANGES - 1) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            int len = 1 + (int)((state >> 33) % 4);
            at = at + len < n_units ? at + len : n_units;
            s.bounds[++s.n] = at;
        }
        if (at < n_units)
            s.bounds[++s.n] = n_units;
        rc = run_chain(m, &s, 1 + trial % 3, 1 + trial * 3, isa, tokens, got);
        CHECKF(rc == 0 && memcmp(ref, got, bytes) == 0, "%s: random split %d (%d ranges): logits differ", path,
               trial, s.n);
    }
    printf("  %s [%s]: bit-identical across threads, batches and unit ranges\n", path, kern_isa_name(isa));
    free(ref);
    free(got);
    model_destroy(&m);
}

static void check_bad_batches(const char *path)
{
    model_t *m = NULL;
    err_t err;
    if (model_load(path, &m, &err) != 0) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_ctx = 16;
    p.max_batch = 8;
    exec_t *ex = NULL;
    CHECK(exec_create(m, &p, &ex, &err) == 0);
    int32_t ok[2] = {1, 2}, bad[2] = {1, (int32_t)m->hp.n_vocab};
    exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = 2, .tokens = bad, .n_logits = 1};
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE && strstr(err.msg, "token id"));
    b.tokens = ok;
    b.pos0 = 5;   /* gap: nothing filled yet */
    CHECK(exec_run(ex, &b, &err) == ERR_STATE);
    b.pos0 = 15;  /* past the context */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE);
    b.pos0 = 0;
    b.seq = 1;
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE);
    b.seq = 0;
    b.n_tokens = 9;
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE);
    b.n_tokens = 2;
    b.n_logits = 2;   /* max_logits is 1 */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE);
    b.n_logits = 1;
    CHECK(exec_run(ex, &b, &err) == 0);
    exec_destroy(&ex);

    p.unit_begin = 3;
    p.unit_end = 2;
    CHECK(exec_create(m, &p, &ex, &err) == ERR_INVAL && ex == NULL);
    p.unit_begin = 1;
    p.unit_end = 3;
    CHECK(exec_create(m, &p, &ex, &err) == 0);
    b.tokens = NULL;
    b.hidden = NULL;
    CHECK(exec_run(ex, &b, &err) == ERR_INVAL && strstr(err.msg, "hidden"));
    exec_destroy(&ex);
    model_destroy(&m);
}

static void count_release(void *ctx, const void *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
}

static exec_t *stage_exec(const model_t *m, const seg_t *seg, int begin, int end, exec_t *adopt_from,
                          size_t *released)
{
    exec_params_t p;
    exec_params_default(&p, m);
    p.seg = seg;
    p.unit_begin = begin;
    p.unit_end = end;
    p.n_ctx = 64;
    p.max_batch = N_TOKENS;
    p.max_logits = N_TOKENS;
    p.release = count_release;
    p.release_ctx = released;
    p.adopt_from = adopt_from;
    exec_t *e = NULL;
    err_t err;
    CHECKF(exec_create(m, &p, &e, &err) == 0, "%s", err.msg);
    return e;
}

/* Logits of every token through a then b (b may be NULL: a is the whole model). */
static int run_two(exec_t *a, exec_t *b, const int32_t *tokens, float *out, size_t n_vocab)
{
    err_t err;
    exec_batch_t x = {.seq = 0, .pos0 = 0, .n_tokens = N_TOKENS, .tokens = tokens, .n_logits = N_TOKENS};
    if (!a || exec_run(a, &x, &err))
        return -1;
    if (b) {
        exec_batch_t y = {.seq = 0, .pos0 = 0, .n_tokens = N_TOKENS, .hidden = exec_hidden(a), .n_logits = N_TOKENS};
        if (exec_run(b, &y, &err))
            return -1;
    }
    memcpy(out, exec_logits(b ? b : a), (size_t)N_TOKENS * n_vocab * sizeof(float));
    return 0;
}

static void check_adopt(const char *path)
{
    model_t *m = NULL;
    graph_t *g = NULL;
    seg_t *seg = NULL;
    err_t err;
    if (model_load(path, &m, &err) || graph_build(m, &g, &err) || seg_build_default(g, &seg, &err)) {
        CHECKF(0, "%s: %s", path, err.msg);
        seg_destroy(&seg);
        graph_destroy(&g);
        model_destroy(&m);
        return;
    }
    const int n_units = seg->n_units, cut = n_units / 2;
    const size_t n_vocab = m->hp.n_vocab, bytes = (size_t)N_TOKENS * n_vocab * sizeof(float);
    int32_t tokens[N_TOKENS];
    for (int i = 0; i < N_TOKENS; i++)
        tokens[i] = (int32_t)((i * 7919 + 13) % (int)n_vocab);
    float *ref = malloc(bytes), *got = malloc(bytes);
    size_t rel_whole = 0, rel_old = 0, rel_fresh = 0, rel_grown = 0, rel_shrunk = 0, rel_other = 0;
    exec_t *whole = stage_exec(m, seg, 0, n_units, NULL, &rel_whole);
    CHECK(ref && got && run_two(whole, NULL, tokens, ref, n_vocab) == 0);
    exec_destroy(&whole);
    /* The old stage [0, cut); the move gives it unit cut: [0, cut + 1), adopting. */
    exec_t *old = stage_exec(m, seg, 0, cut, NULL, &rel_old);
    exec_t *fresh = stage_exec(m, seg, 0, cut + 1, NULL, &rel_fresh);
    const size_t il_old = exec_il_bytes(old), il_fresh = exec_il_bytes(fresh);
    exec_t *grown = stage_exec(m, seg, 0, cut + 1, old, &rel_grown);
    exec_t *rest = stage_exec(m, seg, cut + 1, n_units, NULL, &rel_other);
    CHECKF(run_two(grown, rest, tokens, got, n_vocab) == 0 && memcmp(ref, got, bytes) == 0,
           "%s: the stage that adopted its copies computes other logits", path);
    CHECK(exec_il_bytes(grown) == il_fresh);
    if (il_fresh > 0) {   /* a table with an interleaved layout for these weights (e.g. Q8_0 on AVX-512) */
        CHECKF(exec_il_bytes(old) == 0 && il_old > 0, "%s: %zu of %zu bytes not adopted", path, exec_il_bytes(old),
               il_old);
        CHECKF(rel_grown > 0 && rel_grown < rel_fresh, "%s: released %zu bytes adopting, %zu fresh", path, rel_grown,
               rel_fresh);
        /* And back: [0, cut) adopts from [0, cut + 1), which keeps unit cut's copies until it drops them. */
        exec_t *shrunk = stage_exec(m, seg, 0, cut, grown, &rel_shrunk);
        exec_t *back = stage_exec(m, seg, cut, n_units, NULL, &rel_other);
        CHECKF(run_two(shrunk, back, tokens, got, n_vocab) == 0 && memcmp(ref, got, bytes) == 0,
               "%s: the shrunk stage computes other logits", path);
        CHECK(rel_shrunk == 0 && exec_il_bytes(shrunk) == il_old && exec_il_bytes(grown) == il_fresh - il_old);
        const graph_node_t *kept = NULL;   /* a matrix of unit cut: still grown's */
        for (int i = seg->units[cut].node_begin; i < seg->units[cut].node_end && !kept; i++)
            if (g->nodes[i].op == OP_MATMUL)
                kept = &g->nodes[i];
        CHECK(kept && exec_holds_copy(grown, kept->w->data) && !exec_holds_copy(shrunk, kept->w->data));
        exec_drop_copies(grown);
        CHECK(exec_il_bytes(grown) == 0 && !exec_holds_copy(grown, kept ? kept->w->data : NULL));
        exec_destroy(&shrunk);
        exec_destroy(&back);
        printf("  %s: a boundary move adopts %zu bytes of interleaved copies, packs %zu\n", path, il_old,
               il_fresh - il_old);
    } else {
        printf("  %s: no interleaved layout on this machine; adoption changes nothing\n", path);
    }
    exec_destroy(&old);
    exec_destroy(&fresh);
    exec_destroy(&grown);
    exec_destroy(&rest);
    free(ref);
    free(got);
    seg_destroy(&seg);
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
    const char *models[] = {"stories260K", "stories260K-F16", "stories260K-Q8_0-mixed", "synth-15Mshape-Q8_0"};
    char path[1024];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(path, sizeof path, "%s/models/%s.gguf", shared, models[i]);
        check_model(path, KERN_ISA_AUTO);
    }
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared);
    check_model(path, KERN_ISA_SCALAR);
    check_bad_batches(path);
    snprintf(path, sizeof path, "%s/models/synth-15Mshape-Q8_0.gguf", shared);
    check_adopt(path);
    return check_finish("test_exec");
}
