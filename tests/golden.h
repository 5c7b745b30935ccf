/*
 * golden.h — reads the reference outputs in ../shared/golden (format in its
 * README): one SLUG.txt of "key: value" lines and SLUG.logits.f32 per prompt,
 * and replays them by teacher forcing through an executor (golden_teacher_force).
 * Test-only helper; header-only so each test program stays one file.
 */
#ifndef LL_TESTS_GOLDEN_H
#define LL_TESTS_GOLDEN_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

#define GOLDEN_MAX_IDS 4096

typedef struct {
    char model[256];
    char prompt[1024];
    int32_t prompt_ids[GOLDEN_MAX_IDS];
    size_t n_prompt;
    int32_t gen_ids[GOLDEN_MAX_IDS];
    size_t n_gen;
    int n_vocab;
    int logits_steps;
    float *logits;          /* [logits_steps][n_vocab], heap */
} golden_t;

static size_t golden_parse_ids(const char *s, int32_t *out)
{
    size_t n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s || n == GOLDEN_MAX_IDS)
            return n;
        out[n++] = (int32_t)v;
        s = end;
    }
}

/* Loads dir/slug.txt and its logits. Returns 0 or -1 (prints why). */
static int golden_load(const char *dir, const char *slug, golden_t *g)
{
    memset(g, 0, sizeof *g);
    char path[2048], line[16384], logits_file[256] = "";
    snprintf(path, sizeof path, "%s/%s.txt", dir, slug);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strstr(line, ": ");
        if (!colon)
            continue;
        *colon = '\0';
        const char *key = line, *val = colon + 2;
        if (!strcmp(key, "model")) snprintf(g->model, sizeof g->model, "%s", val);
        else if (!strcmp(key, "prompt")) snprintf(g->prompt, sizeof g->prompt, "%s", val);
        else if (!strcmp(key, "prompt_ids")) g->n_prompt = golden_parse_ids(val, g->prompt_ids);
        else if (!strcmp(key, "gen_ids")) g->n_gen = golden_parse_ids(val, g->gen_ids);
        else if (!strcmp(key, "n_vocab")) g->n_vocab = atoi(val);
        else if (!strcmp(key, "logits_steps")) g->logits_steps = atoi(val);
        else if (!strcmp(key, "logits_file")) snprintf(logits_file, sizeof logits_file, "%s", val);
    }
    fclose(f);
    if (!g->n_prompt || !g->n_vocab || !logits_file[0]) {
        fprintf(stderr, "%s: incomplete golden file\n", path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, logits_file);
    size_t count = (size_t)g->logits_steps * g->n_vocab;
    g->logits = malloc(count * sizeof(float));
    f = fopen(path, "rb");
    if (!g->logits || !f || fread(g->logits, sizeof(float), count, f) != count) {
        fprintf(stderr, "cannot read %zu floats from %s\n", count, path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* An executor over the whole of m (n_ctx positions, the given kernels).  Returns
 * 0 or the error (err set, *ex NULL); the caller destroys *ex before m. */
static inline int golden_exec_create(const model_t *m, int n_ctx, kern_isa_t isa, exec_t **ex, err_t *err)
{
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_ctx = n_ctx;
    p.isa = isa;
    *ex = NULL;
    return exec_create(m, &p, ex, err);
}

/* Loads SHARED/models/NAME.gguf and an executor over the whole model (n_ctx
 * positions, the given kernels).  Returns 0, or an error with err set (nothing
 * to free then); on success the caller destroys *ex then *m. */
static inline int golden_open_model(const char *shared, const char *name, int n_ctx, kern_isa_t isa, model_t **m,
                                    exec_t **ex, err_t *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s.gguf", shared, name);
    *ex = NULL;
    int rc = model_load(path, m, err);
    if (rc)
        return rc;
    if ((rc = golden_exec_create(*m, n_ctx, isa, ex, err)))
        model_destroy(m);
    return rc;
}

/* Worst figures over the recorded rows of one teacher-forced replay. */
typedef struct {
    double worst_rel;       /* max over rows of ‖Δ‖/‖ref‖ */
    double worst_abs_frac;  /* max over rows of max|Δ| / max|ref| */
    double worst_dmax;      /* max over rows of max|Δ| */
    double mean_rel;        /* mean over rows of ‖Δ‖/‖ref‖ */
    int n_exact;            /* rows with ‖Δ‖/‖ref‖ < 1e-5 (agreement to rounding level) */
    int greedy_equal;       /* rows whose argmax equals llama.cpp's next id (reported, not required) */
    int rows;
} golden_cmp_t;

/* Feeds prompt_ids (one batch) then gen_ids one at a time through ex (sequence 0,
 * cleared first), printing max|Δ| and ‖Δ‖/‖ref‖ for every recorded logits row
 * as "  WHAT: step k: ...".  Returns 0, or the executor's error (err set). */
static int golden_teacher_force(exec_t *ex, const golden_t *g, const char *what, golden_cmp_t *out, err_t *err)
{
    const int n_vocab = g->n_vocab;
    memset(out, 0, sizeof *out);
    exec_seq_clear(ex, 0);
    for (int step = 0; step < g->logits_steps; step++) {
        exec_batch_t b;
        if (step == 0)
            b = (exec_batch_t){.seq = 0, .pos0 = 0, .n_tokens = (int)g->n_prompt, .tokens = g->prompt_ids,
                               .n_logits = 1};
        else
            b = (exec_batch_t){.seq = 0, .pos0 = (int)g->n_prompt + step - 1, .n_tokens = 1,
                               .tokens = &g->gen_ids[step - 1], .n_logits = 1};
        int rc = exec_run(ex, &b, err);
        if (rc)
            return rc;
        const float *got = exec_logits(ex), *ref = g->logits + (size_t)step * n_vocab;
        double d2 = 0, r2 = 0, dmax = 0, rmax = 0;
        int best = 0;
        for (int v = 0; v < n_vocab; v++) {
            double d = (double)got[v] - ref[v];
            d2 += d * d;
            r2 += (double)ref[v] * ref[v];
            if (fabs(d) > dmax) dmax = fabs(d);
            if (fabs(ref[v]) > rmax) rmax = fabs(ref[v]);
            if (got[v] > got[best]) best = v;
        }
        double rel = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
        printf("  %s: step %d: max|d| %.3g (max|ref| %.3g), |d|/|ref| %.3g\n", what, step, dmax, rmax, rel);
        if (rel > out->worst_rel) out->worst_rel = rel;
        if (dmax > out->worst_dmax) out->worst_dmax = dmax;
        out->mean_rel += rel / g->logits_steps;
        out->n_exact += rel < 1e-5;
        if (rmax > 0 && dmax / rmax > out->worst_abs_frac) out->worst_abs_frac = dmax / rmax;
        out->greedy_equal += (size_t)step < g->n_gen && best == g->gen_ids[step];
        out->rows++;
    }
    return 0;
}

static void golden_free(golden_t *g)
{
    free(g->logits);
    g->logits = NULL;
}

#endif
