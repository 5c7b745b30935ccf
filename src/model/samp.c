/*
 * samp.c — the sampler of samp.h: one row of logits in, one token id out.
 *
 * Owns the sampler's parameters, its RNG state (one 64-bit splitmix64 word)
 * and its scratch: a candidate array of n_vocab (logit, id, weight) records and
 * a byte per vocabulary entry marking the tokens the repetition penalty hits.
 * Both are allocated in samp_create; samp_sample allocates nothing, reads the
 * logits without writing them, and leaves every mark cleared again.  The logits
 * come from the forward pass; history comes from the caller.
 *
 * The chain, in llama.cpp's order:
 *   penalty  for each distinct token among the last repeat_last_n of history:
 *            logit > 0 ? logit / penalty : logit * penalty
 *            (repeat_last_n 0: off; -1: the whole history)
 *   top-k    keep the k best; k <= 0 or k >= n_vocab: off.  Selection through a
 *            size-k heap, O(n log k), then the k are sorted.
 *   top-p    keep the shortest prefix of the candidates sorted by probability
 *            (at temperature 1) whose probability sums to >= p; at least one.
 *   min-p    keep candidates with prob >= min_p * max prob (llama.cpp tests
 *            logit >= max logit + log(min_p), the same up to rounding).
 *   temp     probabilities exp((logit - max) / temp) / sum, and a draw with a
 *            uniform number from the sampler's RNG (one number per sample).
 * Top-p and min-p each keep a prefix of the same sorted order, so applying them
 * in either order gives the same set.  We apply the min-p cut first (a linear
 * pass) and sort only what survives, while top-p's sums still use the
 * probabilities of the whole set as llama.cpp's top-p-then-min-p does.  Without
 * top-k, top-p sorts only as much of the best as its prefix needs (a heap
 * selection of 256, then 2048, ...), so a peaked distribution costs O(n).
 *
 * Decisions:
 *  - Candidates are ordered by logit, higher first, and by id, lower first, on
 *    ties.  This total order makes every cut deterministic.
 *  - NaN logits are treated as -inf: never chosen while any other logit is not
 *    -inf.  If every logit is -inf or NaN, the lowest id is returned (no draw).
 *  - temp <= 0 is greedy: argmax, lowest id on ties, no RNG draw.  The
 *    repetition penalty still applies when repeat_penalty != 1, as in llama.cpp,
 *    where the penalty sampler runs before the greedy pick; top-k/top-p/min-p
 *    never remove the argmax, so they are skipped.
 *  - History ids outside [0, n_vocab) are skipped, not penalised.
 *  - Reproducibility: weights are computed in double with our own exp built
 *    from + - * and exact scaling, and summed in a fixed order, so the same
 *    seed and logits give the same token on any IEEE-754 machine regardless of
 *    its libm.  That needs no FMA contraction: GCC in ISO C mode (the CMake
 *    build) does not contract, and the pragma below stops clang.
 *  - samp_sample returns a negative ERR_* code for NULL arguments; token ids
 *    are never negative.
 */
#include "model/samp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Top-p on unsorted candidates first sorts this many of the best. */
#define TOP_P_FIRST 256

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct {
    double w;      /* unnormalised probability, filled where needed */
    float logit;   /* after the penalty; NaN mapped to -inf */
    int32_t id;
} cand_t;

struct samp {
    samp_params_t p;
    int32_t n_vocab;
    uint64_t rng;     /* splitmix64 state */
    cand_t *cand;     /* [n_vocab] scratch */
    uint8_t *marked;  /* [n_vocab] 1 = penalised this call; all 0 between calls */
};

void samp_params_default(samp_params_t *p)
{
    if (!p)
        return;
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

int samp_create(const samp_params_t *p, int32_t n_vocab, samp_t **out, err_t *err)
{
    if (!out)
        return err_set(err, ERR_INVAL, "samp_create: out is NULL");
    *out = NULL;
    if (!p)
        return err_set(err, ERR_INVAL, "samp_create: params are NULL");
    if (n_vocab <= 0)
        return err_set(err, ERR_INVAL, "samp_create: n_vocab %d must be > 0", (int)n_vocab);
    if (!isfinite(p->temp))
        return err_set(err, ERR_INVAL, "samp_create: temp %g must be finite (<= 0 for greedy)",
                       (double)p->temp);
    if (!(p->top_p > 0.0f)) /* also rejects NaN */
        return err_set(err, ERR_INVAL, "samp_create: top_p %g must be in (0, 1] (>= 1: off)",
                       (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return err_set(err, ERR_INVAL, "samp_create: min_p %g must be in [0, 1] (0: off)",
                       (double)p->min_p);
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
        return err_set(err, ERR_INVAL, "samp_create: repeat_penalty %g must be finite and > 0 (1: off)",
                       (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return err_set(err, ERR_INVAL,
                       "samp_create: repeat_last_n %d must be >= -1 (0: off, -1: whole history)",
                       (int)p->repeat_last_n);
    if ((size_t)n_vocab > SIZE_MAX / sizeof(cand_t))
        return err_set(err, ERR_NOMEM, "samp_create: n_vocab %d too large for this address space",
                       (int)n_vocab);

    samp_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, ERR_NOMEM, "samp_create: cannot allocate the sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->marked = calloc((size_t)n_vocab, 1);
    if (!s->cand || !s->marked) {
        samp_destroy(&s);
        return err_set(err, ERR_NOMEM, "samp_create: cannot allocate scratch for n_vocab %d (%zu bytes)",
                       (int)n_vocab, (size_t)n_vocab * (sizeof(cand_t) + 1));
    }
    *out = s;
    return 0;
}

void samp_destroy(samp_t **sp)
{
    if (!sp || !*sp)
        return;
    free((*sp)->cand);
    free((*sp)->marked);
    free(*sp);
    *sp = NULL;
}

/* splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence through a 64-bit mixer.
 * Any seed, 0 included, is fine.  The top 24 bits become a float in [0, 1)
 * exactly, so the result never rounds up to 1. */
float samp_rng_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* e^x for x <= 0 (x may be -inf), from basic operations only, so every IEEE-754
 * machine gets the same bits.  x = k ln2 + r with |r| <= ln2/2, ln2 split in a
 * high part with trailing zero bits (so k * LN2_HI is exact) and a low part; a
 * degree-13 Taylor polynomial for e^r (truncation error below 2e-16
 * relative); then an exact scaling by 2^k. */
static double exp_det(double x)
{
    static const double inv_fact[14] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
        1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
        1.0 / 6227020800.0,
    };
    const double LOG2E = 1.4426950408889634;
    const double LN2_HI = 6.93147180369123816490e-01;
    const double LN2_LO = 1.90821492927058770002e-10;
    if (!(x > -745.0)) /* e^-745 is below the smallest double; also -inf and NaN */
        return 0.0;
    double k = floor(x * LOG2E + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    double t = inv_fact[13];
    for (int i = 12; i >= 0; i--)
        t = t * r + inv_fact[i];
    return ldexp(t, (int)k);
}

/* The logit of token i as the chain sees it: NaN -> -inf, then the penalty. */
static float cand_logit(const samp_t *s, const float *logits, int32_t i)
{
    float v = logits[i];
    if (isnan(v))
        v = -INFINITY;
    if (s->marked[i])
        v = v > 0.0f ? v / s->p.repeat_penalty : v * s->p.repeat_penalty;
    return v;
}

/* a before b in the candidate order: higher logit, then lower id. */
static int better(const cand_t *a, const cand_t *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Heap of the k best so far with the worst at the root: a child is never
 * worse than its parent. */
static void heap_sift_down(cand_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && better(&h[worst], &h[l]))
            worst = l;
        if (r < n && better(&h[worst], &h[r]))
            worst = r;
        if (worst == i)
            return;
        cand_t t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* Heap sort of a heap h[0..k): moving the worst to the end each time leaves
 * h sorted best first. */
static void heap_sort(cand_t *h, size_t k)
{
    for (size_t end = k; end-- > 1;) {
        cand_t t = h[0];
        h[0] = h[end];
        h[end] = t;
        heap_sift_down(h, end, 0);
    }
}

/* Fills cand[0..k) with the k best tokens, sorted best first, straight from
 * the logits (the other candidates are never written). 0 < k < n_vocab. */
static void select_top_k(samp_t *s, const float *logits, size_t k)
{
    cand_t *h = s->cand;
    for (size_t i = 0; i < k; i++)
        h[i] = (cand_t){ .w = 0.0, .logit = cand_logit(s, logits, (int32_t)i), .id = (int32_t)i };
    for (size_t i = k / 2; i-- > 0;)
        heap_sift_down(h, k, i);
    for (int32_t i = (int32_t)k; i < s->n_vocab; i++) {
        cand_t c = { .w = 0.0, .logit = cand_logit(s, logits, i), .id = i };
        if (better(&c, &h[0])) {
            h[0] = c;
            heap_sift_down(h, k, 0);
        }
    }
    heap_sort(h, k);
}

/* Moves the k best of c[0..m) to c[0..k), sorted best first; c stays a
 * permutation of itself, so it can be called again with a larger k. */
static void select_in_place(cand_t *c, size_t m, size_t k)
{
    for (size_t i = k / 2; i-- > 0;)
        heap_sift_down(c, k, i);
    for (size_t i = k; i < m; i++) {
        if (better(&c[i], &c[0])) {
            cand_t t = c[0];
            c[0] = c[i];
            c[i] = t;
            heap_sift_down(c, k, 0);
        }
    }
    heap_sort(c, k);
}

/* Marks the distinct in-range tokens of the penalty window. */
static void mark_history(samp_t *s, const int32_t *history, size_t n_history, int on)
{
    size_t from = 0;
    if (s->p.repeat_last_n >= 0 && n_history > (size_t)s->p.repeat_last_n)
        from = n_history - (size_t)s->p.repeat_last_n;
    for (size_t i = from; i < n_history; i++)
        if (history[i] >= 0 && history[i] < s->n_vocab)
            s->marked[history[i]] = (uint8_t)on;
}

/* Probability weight of logit l relative to the maximum mx, at temperature t.
 * l == mx gives exactly 1, which also covers mx = +inf (inf - inf is NaN). */
static double weight(float l, float mx, double t)
{
    return l == mx ? 1.0 : exp_det(((double)l - (double)mx) / t);
}

int32_t samp_sample(samp_t *s, const float *logits, const int32_t *history, size_t n_history)
{
    if (!s || !logits || (!history && n_history > 0))
        return ERR_INVAL;
    const int32_t n_vocab = s->n_vocab;
    const samp_params_t *p = &s->p;

    /* Repetition penalty: mark the window; cand_logit applies it. */
    int penalise = p->repeat_penalty != 1.0f && p->repeat_last_n != 0 && n_history > 0;
    if (penalise)
        mark_history(s, history, n_history, 1);

    /* Greedy: argmax of the penalised logits, lowest id on ties. */
    if (p->temp <= 0.0f) {
        int32_t best = 0;
        float best_v = cand_logit(s, logits, 0);
        for (int32_t i = 1; i < n_vocab; i++) {
            float v = cand_logit(s, logits, i);
            if (v > best_v) {
                best_v = v;
                best = i;
            }
        }
        if (penalise)
            mark_history(s, history, n_history, 0);
        return best;
    }

    /* Top-k, or every token as a candidate. */
    cand_t *c = s->cand;
    size_t m;      /* live candidates: c[0..m) */
    int sorted;    /* c[0..m) in candidate order */
    if (p->top_k > 0 && p->top_k < n_vocab) {
        m = (size_t)p->top_k;
        select_top_k(s, logits, m);
        sorted = 1;
    } else {
        m = (size_t)n_vocab;
        for (int32_t i = 0; i < n_vocab; i++)
            c[i] = (cand_t){ .w = 0.0, .logit = cand_logit(s, logits, i), .id = i };
        sorted = (n_vocab == 1);
    }
    if (penalise)
        mark_history(s, history, n_history, 0);

    float mx = c[0].logit;
    if (!sorted)
        for (size_t i = 1; i < m; i++)
            if (c[i].logit > mx)
                mx = c[i].logit;
    /* Nothing has any probability: fall back to the lowest id (c[0] in both layouts). */
    if (mx == -INFINITY)
        return c[0].id;

    int use_top_p = p->top_p < 1.0f;
    int use_min_p = p->min_p > 0.0f;
    if (use_top_p || use_min_p) {
        /* Weights at temperature 1; top-p's total is over the candidates
         * before either cut. */
        double total = 0.0;
        for (size_t i = 0; i < m; i++) {
            c[i].w = weight(c[i].logit, mx, 1.0);
            total += c[i].w;
        }

        /* min-p: prob >= min_p * max prob, i.e. weight >= min_p (the max has
         * weight 1, so it survives).  Order is kept, so c stays sorted if it was. */
        if (use_min_p) {
            size_t kept = 0;
            for (size_t i = 0; i < m; i++)
                if (c[i].w >= (double)p->min_p)
                    c[kept++] = c[i];
            m = kept;
        }

        /* top-p: shortest sorted prefix whose mass reaches top_p of the total.
         * Unsorted candidates are sorted only as far as needed: the best
         * TOP_P_FIRST, then 8 times more, ... up to all; a prefix of the full
         * order is the same whichever way it is found. */
        if (use_top_p) {
            double target = (double)p->top_p * total, cum = 0.0;
            size_t done = 0; /* c[0..done) sorted and summed into cum */
            size_t k = sorted ? m : TOP_P_FIRST;
            for (;;) {
                if (k > m)
                    k = m;
                if (!sorted)
                    select_in_place(c, m, k);
                size_t i = done;
                for (; i < k; i++) {
                    cum += c[i].w;
                    if (cum >= target)
                        break;
                }
                if (i < k) {
                    m = i + 1;
                    break;
                }
                done = k;
                if (k == m)
                    break; /* rounding: the whole set falls short of target; keep all */
                k *= 8;
            }
        }
    }

    /* Temperature, softmax and the draw. */
    double t = (double)p->temp, sum = 0.0;
    for (size_t i = 0; i < m; i++) {
        c[i].w = weight(c[i].logit, mx, t);
        sum += c[i].w;
    }
    double u = (double)samp_rng_uniform(&s->rng) * sum, acc = 0.0;
    size_t last = 0; /* the last candidate with weight: the answer if rounding overshoots */
    for (size_t i = 0; i < m; i++) {
        if (c[i].w <= 0.0)
            continue;
        acc += c[i].w;
        last = i;
        if (u < acc)
            return c[i].id;
    }
    return c[last].id;
}
