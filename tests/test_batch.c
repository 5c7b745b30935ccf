/*
 * test_batch.c — continuous batching on the executor (DESIGN.md §12): rows of
 * many sequences share one run, each with its own slot and position, and
 * every sequence's tokens and logits are byte-identical to its own
 * single-sequence run.
 *
 * The reference runs each sequence alone (one thread, the whole prompt in one
 * batch, then one token per run).  The batched side emulates a server: 1 to 16
 * sequences of different prompt lengths arrive at different steps, take one of
 * a few slots (reused when a sequence ends), and each step packs the decode row
 * of every generating sequence plus prompt chunks up to a token budget
 * (chunked prefill), on two threads, over the whole model or a chain of two
 * unit ranges.  Every logits row used for sampling is compared, not only the
 * last.  Also: malformed multi-sequence batches are refused and change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "model/model.h"

#define MAX_SEQS 16
#define MAX_PROMPT 20
#define N_GEN 5
#define BUDGET 16
#define MAX_CHAIN 2

typedef struct {
    int32_t prompt[MAX_PROMPT];
    int n_prompt;
    int start_step;
    int32_t ref_tokens[N_GEN];
    float *ref_logits;       /* [N_GEN][n_vocab]: the logits each generated token was chosen from */
    /* batched run */
    int slot;                /* -1: waiting or finished */
    int done_prompt;         /* prompt tokens run */
    int n_gen;
    int32_t tokens[N_GEN];
    int finished;
} seq_t;

static int32_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

static uint64_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* The sequence alone on a fresh one-slot executor. */
static int run_reference(const model_t *m, seq_t *q)
{
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_ctx = MAX_PROMPT + N_GEN + 4;
    p.max_batch = MAX_PROMPT;
    exec_t *ex = NULL;
    err_t err;
    if (exec_create(m, &p, &ex, &err)) {
        CHECKF(0, "%s", err.msg);
        return -1;
    }
    const size_t n_vocab = m->hp.n_vocab;
    exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = q->n_prompt, .tokens = q->prompt, .n_logits = 1};
    int rc = exec_run(ex, &b, &err);
    for (int g = 0; g < N_GEN && rc == 0; g++) {
        memcpy(q->ref_logits + (size_t)g * n_vocab, exec_logits(ex), n_vocab * sizeof(float));
        q->ref_tokens[g] = argmax(exec_logits(ex), n_vocab);
        if (g + 1 < N_GEN) {
            exec_batch_t d = {.seq = 0, .pos0 = q->n_prompt + g, .n_tokens = 1, .tokens = &q->ref_tokens[g],
                              .n_logits = 1};
            rc = exec_run(ex, &d, &err);
        }
    }
    CHECKF(rc == 0, "reference: %s", err.msg);
    exec_destroy(&ex);
    return rc;
}

/* Runs all sequences through a chain of executors (unit ranges split at cut, or
 * one executor when cut <= 0) with n_slots slots; compares as it goes.
 * Returns the number of mismatching logits rows or tokens (or -1 on error). */
static int run_batched(const model_t *m, seq_t *seqs, int n_seqs, int n_slots, int cut, const char *what)
{
    exec_t *ex[MAX_CHAIN] = {0};
    int n_ex = cut > 0 ? 2 : 1;
    err_t err;
    for (int i = 0; i < n_ex; i++) {
        exec_params_t p;
        exec_params_default(&p, m);
        p.n_threads = 2;
        p.n_ctx = MAX_PROMPT + N_GEN + 4;
        p.n_seq = n_slots;
        p.max_batch = BUDGET;
        p.max_logits = n_slots;
        if (cut > 0) {
            p.unit_begin = i == 0 ? 0 : cut;
            p.unit_end = i == 0 ? cut : -1;
        }
        if (exec_create(m, &p, &ex[i], &err)) {
            CHECKF(0, "%s", err.msg);
            for (int k = 0; k < i; k++)
                exec_destroy(&ex[k]);
            return -1;
        }
    }
    const size_t n_vocab = m->hp.n_vocab;
    int slot_busy[MAX_SEQS] = {0};
    int32_t tokens[BUDGET];
    int row_seq[BUDGET], row_pos[BUDGET], row_owner[BUDGET], logit_rows[BUDGET];
    int mismatches = 0, finished = 0, rc = 0;
    for (int i = 0; i < n_seqs; i++) {
        seqs[i].slot = -1;
        seqs[i].done_prompt = seqs[i].n_gen = seqs[i].finished = 0;
    }
    for (int step = 0; finished < n_seqs && step < 1000 && rc == 0; step++) {
        /* Admit arrived sequences into free slots, in arrival order. */
        for (int i = 0; i < n_seqs; i++) {
            seq_t *q = &seqs[i];
            if (q->finished || q->slot >= 0 || q->start_step > step)
                continue;
            for (int s = 0; s < n_slots; s++) {
                if (!slot_busy[s]) {
                    slot_busy[s] = 1;
                    q->slot = s;
                    for (int k = 0; k < n_ex; k++)
                        exec_seq_clear(ex[k], s);
                    break;
                }
            }
        }
        /* Rows: decode rows first (never starved), then prompt chunks up to the budget;
         * on odd steps the prompt chunks go first, so one sequence's rows move around. */
        int n = 0, n_logits = 0;
        for (int pass = 0; pass < 2; pass++) {
            const int decode_pass = (step % 2 == 0) ? pass == 0 : pass == 1;
            for (int i = 0; i < n_seqs; i++) {
                seq_t *q = &seqs[i];
                if (q->slot < 0 || q->finished)
                    continue;
                if (decode_pass && q->done_prompt == q->n_prompt && q->n_gen > 0) {
                    if (n == BUDGET)
                        continue;
                    tokens[n] = q->tokens[q->n_gen - 1];
                    row_seq[n] = q->slot;
                    row_pos[n] = q->n_prompt + q->n_gen - 1;
                    row_owner[n] = i;
                    logit_rows[n_logits++] = n;
                    n++;
                } else if (!decode_pass && q->done_prompt < q->n_prompt) {
                    /* Decode rows of later sequences keep their place: leave room for them. */
                    int reserve = 0;
                    for (int k = 0; pass == 0 && k < n_seqs; k++)
                        reserve += seqs[k].slot >= 0 && !seqs[k].finished && seqs[k].n_gen > 0;
                    int room = BUDGET - n - reserve;
                    int chunk = q->n_prompt - q->done_prompt < room ? q->n_prompt - q->done_prompt : room;
                    for (int t = 0; t < chunk; t++) {
                        tokens[n] = q->prompt[q->done_prompt + t];
                        row_seq[n] = q->slot;
                        row_pos[n] = q->done_prompt + t;
                        row_owner[n] = i;
                        n++;
                    }
                    q->done_prompt += chunk > 0 ? chunk : 0;
                    if (chunk > 0 && q->done_prompt == q->n_prompt)
                        logit_rows[n_logits++] = n - 1;
                }
            }
        }
        if (n == 0)
            continue;
        /* logit_rows must increase: the two passes each appended in row order, so merge-sort them. */
        for (int a = 1; a < n_logits; a++)
            for (int k = a; k > 0 && logit_rows[k - 1] > logit_rows[k]; k--) {
                int t = logit_rows[k];
                logit_rows[k] = logit_rows[k - 1];
                logit_rows[k - 1] = t;
            }
        const float *hidden = NULL;
        for (int k = 0; k < n_ex && rc == 0; k++) {
            exec_batch_t b = {.n_tokens = n, .row_seq = row_seq, .row_pos = row_pos, .tokens = tokens,
                              .hidden = hidden, .n_logits = n_logits, .logit_rows = n_logits ? logit_rows : NULL};
            if (k == n_ex - 1 && n_logits == 0) {
                b.n_logits = 1;   /* the head still runs a row; its logits are not used */
                b.logit_rows = NULL;
            }
            rc = exec_run(ex[k], &b, &err);
            CHECKF(rc == 0, "%s step %d: %s", what, step, err.msg);
            hidden = exec_hidden(ex[k]);
        }
        for (int r = 0; r < n_logits && rc == 0; r++) {
            seq_t *q = &seqs[row_owner[logit_rows[r]]];
            const float *lg = exec_logits(ex[n_ex - 1]) + (size_t)r * n_vocab;
            if (memcmp(lg, q->ref_logits + (size_t)q->n_gen * n_vocab, n_vocab * sizeof(float)) != 0)
                mismatches++;
            q->tokens[q->n_gen] = argmax(lg, n_vocab);
            if (q->tokens[q->n_gen] != q->ref_tokens[q->n_gen])
                mismatches++;
            if (++q->n_gen == N_GEN) {
                q->finished = 1;
                slot_busy[q->slot] = 0;
                q->slot = -1;
                finished++;
            }
        }
    }
    CHECKF(finished == n_seqs || rc, "%s: %d of %d sequences finished", what, finished, n_seqs);
    for (int k = 0; k < n_ex; k++)
        exec_destroy(&ex[k]);
    return rc ? -1 : mismatches;
}

static void check_model(const char *path)
{
    model_t *m = NULL;
    err_t err;
    if (model_load(path, &m, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    graph_t *g = NULL;
    seg_t *seg = NULL;
    CHECK(graph_build(m, &g, &err) == 0 && seg_build_default(g, &seg, &err) == 0);
    const int n_units = seg ? seg->n_units : 2;
    seg_destroy(&seg);
    graph_destroy(&g);
    const size_t n_vocab = m->hp.n_vocab;
    seq_t seqs[MAX_SEQS];
    uint64_t state = 777;
    for (int i = 0; i < MAX_SEQS; i++) {
        seq_t *q = &seqs[i];
        memset(q, 0, sizeof *q);
        q->n_prompt = 1 + (int)(next_rand(&state) % MAX_PROMPT);
        for (int t = 0; t < q->n_prompt; t++)
            q->prompt[t] = (int32_t)(next_rand(&state) % n_vocab);
        q->start_step = (int)(next_rand(&state) % 12);
        q->ref_logits = malloc((size_t)N_GEN * n_vocab * sizeof(float));
        if (!q->ref_logits || run_reference(m, q)) {
            CHECK(0);
            goto out;
        }
    }
    /* 1..16 sequences in flight; slots fewer than sequences from 6 on (slots reused). */
    const int counts[] = {1, 2, 3, 5, 8, 11, 16};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        const int n = counts[c], slots = n < 6 ? n : (n + 1) / 2;
        char what[64];
        snprintf(what, sizeof what, "%d sequences, %d slots", n, slots);
        int bad = run_batched(m, seqs, n, slots, 0, what);
        CHECKF(bad == 0, "%s: %s: %d logits rows or tokens differ from single-sequence runs", path, what, bad);
    }
    int bad = run_batched(m, seqs, MAX_SEQS, 8, n_units / 2, "16 sequences, 8 slots, two unit ranges");
    CHECKF(bad == 0, "%s: two unit ranges: %d logits rows or tokens differ", path, bad);
    printf("  %s: 1-16 sequences batched, byte-identical to single-sequence runs\n", path);
out:
    for (int i = 0; i < MAX_SEQS; i++)
        free(seqs[i].ref_logits);
    model_destroy(&m);
}

/* Malformed multi-sequence batches: refused with a clear error, cache unchanged. */
static void check_bad_batches(const char *path)
{
    model_t *m = NULL;
    err_t err;
    if (model_load(path, &m, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_ctx = 16;
    p.n_seq = 3;
    p.max_batch = 8;
    p.max_logits = 3;
    exec_t *ex = NULL;
    CHECK(exec_create(m, &p, &ex, &err) == 0);
    int32_t tok[4] = {1, 2, 3, 4};
    int seq[4] = {0, 1, 0, 2}, pos[4] = {0, 0, 1, 0}, lr[3] = {1, 2, 3};
    exec_batch_t b = {.n_tokens = 4, .tokens = tok, .row_seq = seq, .row_pos = NULL, .n_logits = 3, .logit_rows = lr};
    CHECK(exec_run(ex, &b, &err) == ERR_INVAL && strstr(err.msg, "row positions"));
    b.row_pos = pos;
    pos[2] = 2;   /* sequence 0: positions 0, 2 */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE && strstr(err.msg, "consecutive"));
    pos[2] = 1;
    seq[3] = 3;   /* no such slot */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE && strstr(err.msg, "sequence 3"));
    seq[3] = 2;
    pos[3] = 1;   /* a gap in sequence 2's empty cache */
    CHECK(exec_run(ex, &b, &err) == ERR_STATE);
    pos[3] = 0;
    lr[1] = 1;    /* not increasing */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE && strstr(err.msg, "logits row"));
    lr[1] = 2;
    lr[2] = 4;    /* past the batch */
    CHECK(exec_run(ex, &b, &err) == ERR_RANGE);
    lr[2] = 3;
    CHECK(exec_run(ex, &b, &err) == 0);
    /* The refused runs wrote nothing: sequence 0 continues at position 2. */
    int s1[1] = {0}, p1[1] = {3};
    exec_batch_t d = {.n_tokens = 1, .tokens = tok, .row_seq = s1, .row_pos = p1, .n_logits = 1};
    CHECK(exec_run(ex, &d, &err) == ERR_STATE);
    p1[0] = 2;
    CHECK(exec_run(ex, &d, &err) == 0);
    exec_destroy(&ex);
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
        check_model(path);
    }
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared);
    check_bad_batches(path);
    return check_finish("test_batch");
}
