/*
 * test_golden.c — the engine against llama.cpp's reference outputs in
 * ../shared/golden.
 *  - stories260K (F32, F16, Q8_0-mixed; real trained weights): the greedy
 *    continuation must equal llama.cpp's token for token, and the logits of
 *    each recorded step must be close (reported).
 *  - synth-15Mshape (F16, Q8_0; random weights, flat logits): teacher-forced
 *    logits per step within a tolerance; max |Δ| and ‖Δ‖/‖ref‖ are printed.
 *  - synth-kq-* (every new weight type and llama-quantize mixture; random
 *    weights): teacher-forced logits per step, as synth-15Mshape.
 * Tolerance: ‖Δ‖/‖ref‖ <= TOL and max |Δ| <= TOL x max |ref|, per row, with
 * TOL 2e-2 (KQ_TOL 5e-2 for synth-kq-*).
 * We compute with llama.cpp's numerics (Q8_0 activations, F16 KV cache, F16
 * query and probabilities in attention) but not its summation order, and an
 * exact tie in a rounding (activation to Q8_0, K/V to F16) can then go the
 * other way and propagate through the cache.  Measured (scalar kernels):
 * F32 and Q8_0 stories260K <= 2e-5, F16 models ~5e-4 at every step, and
 * synth-15Mshape-Q8_0 1e-7 for three steps then ~1e-2 from the fourth on (one
 * such flip in a random-weight model whose logits are nearly flat).  The bound
 * still fails on any real error: a wrong rope, norm, mask or scale gives
 * relative errors above 1e-1.  On the trained models the greedy continuation
 * must match exactly, which is the conformance requirement.
 * synth-kq-*: with llama.cpp's activation quantization emulated (Q8_K / Q8_1 /
 * Q8_0, quant.h) rows agree to ~1e-7 until the first rounding flip (a 1-ulp
 * difference in summation order, expf, ... moves some x*id across a .5); these
 * 4-layer random models then amplify it to 1e-2..4e-2 within a step (measured:
 * the same size as between our own scalar and AVX-512 tables).  Computing with
 * f32 activations instead gives 2e-2..6.5e-2, and every layout or dequantization
 * mistake gives > 1, so 5e-2 separates them; the per-file line reports how many
 * rows are within 1e-5 (the exact-agreement evidence).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "golden.h"
#include "model/model.h"
#include "tensor/quant.h"

#define TOL 2e-2
#define KQ_TOL 5e-2

/* Runs the model greedily from the prompt; checks ids against the golden ones. */
static void check_greedy(exec_t *ex, const golden_t *g, const char *what)
{
    const int n_vocab = g->n_vocab;
    int32_t history[GOLDEN_MAX_IDS];
    memcpy(history, g->prompt_ids, g->n_prompt * sizeof(int32_t));
    err_t err;
    exec_seq_clear(ex, 0);
    exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = (int)g->n_prompt, .tokens = history, .n_logits = 1};
    int rc = exec_run(ex, &b, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    size_t n_match = 0;
    for (size_t i = 0; i < g->n_gen && rc == 0; i++) {
        const float *lg = exec_logits(ex);
        int32_t best = 0;
        for (int v = 1; v < n_vocab; v++)
            if (lg[v] > lg[best])
                best = v;
        if (best != g->gen_ids[i]) {
            fprintf(stderr, "%s: step %zu: got %d, llama.cpp %d\n", what, i, best, g->gen_ids[i]);
            break;
        }
        n_match++;
        history[g->n_prompt + i] = best;
        exec_batch_t s = {.seq = 0, .pos0 = (int)(g->n_prompt + i), .n_tokens = 1,
                          .tokens = &history[g->n_prompt + i], .n_logits = 1};
        rc = exec_run(ex, &s, &err);
    }
    printf("  %s: greedy %zu/%zu tokens equal to llama.cpp\n", what, n_match, g->n_gen);
    CHECKF(n_match == g->n_gen, "%s: greedy continuation differs", what);
}

/* Teacher forcing: feeds prompt then gen ids, compares each recorded logits row
 * (golden_teacher_force).  Returns the mean of ‖Δ‖/‖ref‖ over the rows; tol < 0
 * measures without checking. */
static double check_logits(exec_t *ex, const golden_t *g, const char *what, double tol)
{
    err_t err;
    golden_cmp_t c;
    int rc = golden_teacher_force(ex, g, what, &c, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc)
        return 1.0;
    printf("  %s: worst max|d| %.3g, worst |d|/|ref| %.3g, mean |d|/|ref| %.3g, %d of %d rows within 1e-5", what,
           c.worst_dmax, c.worst_rel, c.mean_rel, c.n_exact, c.rows);
    if (tol >= 0)
        printf(" (tolerance %.3g)\n", tol);
    else
        printf(" (measured only)\n");
    if (tol >= 0) {
        CHECKF(c.worst_rel <= tol, "%s: relative L2 error %.3g > %.3g", what, c.worst_rel, tol);
        CHECKF(c.worst_abs_frac <= tol, "%s: max error %.3g of max|ref| > %.3g", what, c.worst_abs_frac, tol);
    }
    return c.mean_rel;
}

/* The "exact math" variant of a loaded model: every weight matrix replaced by an
 * F32 copy of its dequantized values, so the engine computes with F32 activations
 * (no activation quantization) on the same weights.  Returns the copies (to free),
 * or NULL when out of memory. */
static float **dequantize_model(model_t *m, int *n_out)
{
    const int per_layer = 7, n = 2 + per_layer * (int)m->hp.n_layer;
    model_mat_t **mats = calloc((size_t)n, sizeof *mats);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    if (!mats || !bufs) {
        free(mats);
        free(bufs);
        return NULL;
    }
    mats[0] = &m->tok_embd;
    mats[1] = &m->output;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        model_layer_t *L = &m->layers[l];
        model_mat_t *each[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int k = 0; k < per_layer; k++)
            mats[2 + per_layer * (int)l + k] = each[k];
    }
    for (int i = 0; i < n; i++) {
        model_mat_t *w = mats[i];
        bufs[i] = malloc((size_t)w->n_in * w->n_out * sizeof(float));
        if (!bufs[i])
            continue;
        for (uint32_t r = 0; r < w->n_out; r++)
            dequant_row(w->type, (const uint8_t *)w->data + (size_t)r * w->row_bytes, bufs[i] + (size_t)r * w->n_in,
                        w->n_in);
        w->data = bufs[i];
        w->type = TYPE_F32;
        w->row_bytes = (size_t)w->n_in * sizeof(float);
    }
    free(mats);
    *n_out = n;
    return bufs;
}

/* Checks one model against its goldens; returns the mean ‖Δ‖/‖ref‖ over its prompts.
 * exact_math: run the dequantize_model variant, measuring only. */
static double run_model(const char *shared, const char *name, const char *const *slugs, int trained, double tol,
                        kern_isa_t isa, int exact_math)
{
    char path[1024], dir[1024], what[256];
    snprintf(path, sizeof path, "%s/models/%s.gguf", shared, name);
    snprintf(dir, sizeof dir, "%s/golden/%s", shared, name);
    model_t *m = NULL;
    err_t err;
    int rc = model_load(path, &m, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc)
        return 1.0;
    float **f32 = NULL;
    int n_f32 = 0;
    if (exact_math && !(f32 = dequantize_model(m, &n_f32))) {
        CHECK(!"memory for the dequantized model");
        model_destroy(&m);
        return 1.0;
    }
    double sum = 0;
    int n_prompts = 0;
    exec_t *ex = NULL;
    rc = golden_exec_create(m, 512, isa, &ex, &err);   /* after the dequantization: it binds the F32 copies */
    CHECKF(rc == 0, "%s", err.msg);
    for (int i = 0; rc == 0 && slugs[i]; i++) {
        golden_t g;
        if (golden_load(dir, slugs[i], &g) != 0) {
            CHECK(!"golden file readable");
            continue;
        }
        CHECK(g.n_vocab == (int)m->hp.n_vocab);
        snprintf(what, sizeof what, "%s/%s [%s%s]", name, slugs[i], exec_isa_name(ex),
                 exact_math ? ", f32 activations" : "");
        if (trained)
            check_greedy(ex, &g, what);
        sum += check_logits(ex, &g, what, exact_math ? -1.0 : tol);
        n_prompts++;
        golden_free(&g);
    }
    exec_destroy(&ex);
    model_destroy(&m);
    for (int i = 0; f32 && i < n_f32; i++)
        free(f32[i]);
    free(f32);
    return n_prompts ? sum / n_prompts : 1.0;
}

int main(void)
{
    const char *shared = check_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared absent\n");
        return 0;
    }
    static const char *const stories[] = {"once-upon-a-time", "the-little-dog", NULL};
    static const char *const synth[] = {"once-upon-a-time", NULL};
    static const char *const kq[] = {"synth-kq-Q8_0", "synth-kq-Q6_K", "synth-kq-Q5_K_M", "synth-kq-Q4_K_M",
                                     "synth-kq-Q3_K_M", "synth-kq-Q2_K", "synth-kq-Q4_1", "synth-kq-Q5_0",
                                     "synth-kq-Q5_1", "synth-kq-IQ4_NL", NULL};
    const kern_isa_t isas[] = {KERN_ISA_SCALAR, KERN_ISA_AUTO};
    double emulated = 0, exact = 0;
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && kern_isa_best() == KERN_ISA_SCALAR)
            break;
        run_model(shared, "stories260K", stories, 1, TOL, isas[i], 0);
        run_model(shared, "stories260K-F16", stories, 1, TOL, isas[i], 0);
        run_model(shared, "stories260K-Q8_0-mixed", stories, 1, TOL, isas[i], 0);
        run_model(shared, "synth-15Mshape-F16", synth, 0, TOL, isas[i], 0);
        run_model(shared, "synth-15Mshape-Q8_0", synth, 0, TOL, isas[i], 0);
        for (size_t k = 0; kq[k]; k++) {
            const double e = run_model(shared, kq[k], stories, 0, KQ_TOL, isas[i], 0);
            if (i == 0) {
                const double x = run_model(shared, kq[k], stories, 0, KQ_TOL, KERN_ISA_AUTO, 1);
                printf("%s: mean |d|/|ref| %.3g with llama.cpp's activation quantization, %.3g with f32 "
                       "activations\n", kq[k], e, x);
                emulated += e;
                exact += x;
            }
        }
    }
    /* Emulating the activation quantization must bring us closer to llama.cpp than
     * exact math does, over all synth-kq files together. */
    printf("synth-kq-*: mean |d|/|ref| %.3g emulated, %.3g with f32 activations\n", emulated / 10, exact / 10);
    CHECKF(emulated < exact, "activation quantization does not bring us closer: %.3g vs %.3g", emulated, exact);
    return check_finish("test_golden");
}
