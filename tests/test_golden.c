/*
 * test_golden.c — the engine against llama.cpp's reference outputs in
 * ../shared/golden.
 *  - stories260K (F32, F16, Q8_0-mixed; real trained weights): the greedy
 *    continuation must equal llama.cpp's token for token, and the logits of
 *    each recorded step must be close (reported).
 *  - synth-15Mshape (F16, Q8_0; random weights, flat logits): teacher-forced
 *    logits per step within a tolerance; max |Δ| and ‖Δ‖/‖ref‖ are printed.
 * Tolerance: ‖Δ‖/‖ref‖ <= 2e-2 and max |Δ| <= 2e-2 x max |ref|, per row.
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
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "golden.h"
#include "model/model.h"

#define REL_TOL 2e-2
#define ABS_FRAC_TOL 2e-2

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

/* Teacher forcing: feeds prompt then gen ids, compares each recorded logits row. */
static void check_logits(exec_t *ex, const golden_t *g, const char *what, int enforce)
{
    err_t err;
    golden_cmp_t c;
    int rc = golden_teacher_force(ex, g, what, &c, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc == 0 && enforce) {
        CHECKF(c.worst_rel <= REL_TOL, "%s: relative L2 error %.3g > %.3g", what, c.worst_rel, REL_TOL);
        CHECKF(c.worst_abs_frac <= ABS_FRAC_TOL, "%s: max error %.3g of max|ref| > %.3g", what, c.worst_abs_frac,
               ABS_FRAC_TOL);
    }
}

static void run_model(const char *shared, const char *name, const char *const *slugs, int trained, kern_isa_t isa)
{
    char dir[1024], what[256];
    snprintf(dir, sizeof dir, "%s/golden/%s", shared, name);
    model_t *m = NULL;
    exec_t *ex = NULL;
    err_t err;
    int rc = golden_open_model(shared, name, 512, isa, &m, &ex, &err);
    CHECKF(rc == 0, "%s", err.msg);
    for (int i = 0; rc == 0 && slugs[i]; i++) {
        golden_t g;
        if (golden_load(dir, slugs[i], &g) != 0) {
            CHECK(!"golden file readable");
            continue;
        }
        CHECK(g.n_vocab == (int)m->hp.n_vocab);
        snprintf(what, sizeof what, "%s/%s [%s]", name, slugs[i], exec_isa_name(ex));
        if (trained)
            check_greedy(ex, &g, what);
        check_logits(ex, &g, what, 1);
        golden_free(&g);
    }
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
    static const char *const stories[] = {"once-upon-a-time", "the-little-dog", NULL};
    static const char *const synth[] = {"once-upon-a-time", NULL};
    const kern_isa_t isas[] = {KERN_ISA_SCALAR, KERN_ISA_AUTO};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && kern_isa_best() == KERN_ISA_SCALAR)
            break;
        run_model(shared, "stories260K", stories, 1, isas[i]);
        run_model(shared, "stories260K-F16", stories, 1, isas[i]);
        run_model(shared, "stories260K-Q8_0-mixed", stories, 1, isas[i]);
        run_model(shared, "synth-15Mshape-F16", synth, 0, isas[i]);
        run_model(shared, "synth-15Mshape-Q8_0", synth, 0, isas[i]);
    }
    return check_finish("test_golden");
}
