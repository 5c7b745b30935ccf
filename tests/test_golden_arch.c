/*
 * test_golden_arch.c — the qwen2 and bloom graphs against llama.cpp's reference
 * outputs in ../shared/golden (synth-qwen2b-*, synth-bloomb-*: random weights,
 * see ../shared/models/PROVENANCE.md section 5).
 *
 * Random weights give flat logits and near-ties, so greedy ids are reported,
 * not required; the test teacher-forces prompt_ids then gen_ids and compares
 * every recorded logits row: max |Δ| and ‖Δ‖/‖ref‖ are printed per row and the
 * worst of each is held to the file's tolerance.
 *
 * Tolerances.  We compute with llama.cpp's numerics: Q8_0 activations
 * quantized as its x86 run-time path does (id = 127/amax, ties to even), F16
 * KV cache, F16 query and probabilities in attention, F16 GELU table, double
 * sums in the norms and softmax; the scalar kernels also add up each Q8_0 dot
 * in its order (eight lanes of four-element integer sums, one FMA per block,
 * a pairwise tree), the SIMD kernels in their own.  Measured, worst over 8 rows:
 *   scalar, every file and prompt          ‖Δ‖/‖ref‖ = 0, max|Δ| = 0 (bit-identical)
 *   AVX-512, qwen2b both, bloomb little-dog ‖Δ‖/‖ref‖ ≤ 1.1e-7, max|Δ| ≤ 4.8e-7
 *   AVX-512, bloomb once-upon-a-time       ‖Δ‖/‖ref‖ 0.73e-2..1.1e-2 from row 0 on
 * The scalar rows are held to 1e-6.  Rounding-level rows to 1e-4: three orders
 * above what we measure, so a flipped rounding of one value does not fail them,
 * while any real error does.  The bloom once-upon-a-time rows with AVX-512 come
 * from one rounding: with the former scalar order (which gave the same 1.1e-2)
 * the query element q[47] of one head landed exactly on an F16 rounding
 * midpoint (0.503173828125), llama.cpp's did not; rounding it the other way
 * gave 9.4e-8 on all 8 rows, and llama.cpp's order gives 0.
 * On this random-weight file one random 1-ulp change of the norm outputs moves
 * the logits by 1e-2 (qwen2b: by 0), so such a flip shows at full size.
 * Tolerance 2e-2 there: below the exact-math engine's 2e-2..6.5e-2 and below
 * every real mistake tried: ALiBi slopes ×0.9 or ×1.1 give 2e-2, ×0.5 6.6e-2,
 * no ALiBi 1.3e-1, leaving out a bias 3.5e-2 (Q) to 1.7e-1 (attn_output; the K
 * bias excepted, which the softmax cancels), a layer-norm shift left out
 * ≥ 1.1e-1, SiLU for GELU 1.6e-1.
 *
 * The Q4_K_M files (Q4_K, Q5_K and Q6_K tensors, Q8_K activations as llama.cpp
 * quantizes them) are held to 5e-2, the bound test_golden uses for synth-kq-*
 * and for the same reason: rows agree to ~1e-7 until the first rounding tie
 * goes the other way, which these random models amplify to ~1e-2 (measured:
 * qwen2b 4e-7 scalar, 1.3e-2 AVX-512; bloomb 2.5e-3 and 1.1e-2), while f32
 * activations give 2e-2..6.5e-2 and layout mistakes > 1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "golden.h"
#include "model/model.h"

typedef struct {
    const char *name;   /* model stem in ../shared/models and folder in ../shared/golden */
    double rel_tol[2];  /* worst ‖Δ‖/‖ref‖ over the rows, per prompt of SLUGS */
    double abs_tol[2];  /* worst max|Δ| / max|ref| over the rows, per prompt */
} golden_file_t;

static const golden_file_t FILES[] = {
    {"synth-qwen2b-Q8_0", {1e-4, 1e-4}, {1e-4, 1e-4}},
    {"synth-bloomb-Q8_0", {2e-2, 1e-4}, {2e-2, 1e-4}},
    {"synth-qwen2b-Q4_K_M", {5e-2, 5e-2}, {5e-2, 5e-2}},
    {"synth-bloomb-Q4_K_M", {5e-2, 5e-2}, {5e-2, 5e-2}},
};

static const char *const SLUGS[] = {"once-upon-a-time", "the-little-dog", NULL};

/* Teacher forcing through the file's golden rows, held to the file's tolerance. */
#define SCALAR_TOL 1e-6   /* the scalar kernels add up Q8_0 dots in llama.cpp's order */

static void check_logits(exec_t *ex, const golden_t *g, const golden_file_t *f, int slug, const char *what)
{
    const int scalar = !strcmp(exec_isa_name(ex), "scalar") && strstr(f->name, "Q8_0");
    const double rel_tol = scalar ? SCALAR_TOL : f->rel_tol[slug], abs_tol = scalar ? SCALAR_TOL : f->abs_tol[slug];
    err_t err;
    golden_cmp_t c;
    int rc = golden_teacher_force(ex, g, what, &c, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc)
        return;
    printf("  %s: worst |d|/|ref| %.3g (tolerance %.3g), worst max|d|/max|ref| %.3g (tolerance %.3g); "
           "greedy %d/%d rows equal to llama.cpp (reported only)\n",
           what, c.worst_rel, rel_tol, c.worst_abs_frac, abs_tol, c.greedy_equal, c.rows);
    CHECKF(c.worst_rel <= rel_tol, "%s: relative L2 error %.3g > %.3g", what, c.worst_rel, rel_tol);
    CHECKF(c.worst_abs_frac <= abs_tol, "%s: max error %.3g of max|ref| > %.3g", what, c.worst_abs_frac, abs_tol);
}

static void run_file(const char *shared, const golden_file_t *f, kern_isa_t isa)
{
    char dir[1024], what[256];
    snprintf(dir, sizeof dir, "%s/golden/%s", shared, f->name);
    model_t *m = NULL;
    exec_t *ex = NULL;
    err_t err;
    int rc = golden_open_model(shared, f->name, 256, isa, &m, &ex, &err);
    CHECKF(rc == 0, "%s", err.msg);
    for (int i = 0; rc == 0 && SLUGS[i]; i++) {
        golden_t g;
        if (golden_load(dir, SLUGS[i], &g) != 0) {
            CHECK(!"golden file readable");
            continue;
        }
        CHECK(g.n_vocab == (int)m->hp.n_vocab);
        snprintf(what, sizeof what, "%s/%s [%s]", f->name, SLUGS[i], exec_isa_name(ex));
        check_logits(ex, &g, f, i, what);
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
    const kern_isa_t isas[] = {KERN_ISA_SCALAR, KERN_ISA_AUTO};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && kern_isa_best() == KERN_ISA_SCALAR)
            break;
        for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++)
            run_file(shared, &FILES[f], isas[i]);
    }
    return check_finish("test_golden_arch");
}
