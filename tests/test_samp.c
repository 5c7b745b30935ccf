/*
 * test_samp.c — the sampler of model/samp.h.
 *
 * Greedy picks the argmax (lowest id on ties, NaN never chosen); the same seed
 * gives the same tokens and another seed other tokens; top-k = 1, a tiny top-p
 * and min-p = 1 all reduce to the argmax at any temperature; over 20000 draws
 * with a fixed seed the empirical frequencies match the softmax (after
 * temperature, top-k, top-p, min-p) within 4.5 sigma per token; the repetition
 * penalty moves the argmax as llama.cpp's would (window, duplicates, signs);
 * the logits are never written; invalid parameters are refused with a
 * message.  Everything is deterministic: the only randomness is seeded.
 */
#include "model/samp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

/* Sampling parameters with every truncation off. */
static samp_params_t plain(float temp, uint64_t seed)
{
    samp_params_t p;
    samp_params_default(&p);
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

static samp_t *make(const samp_params_t *p, int32_t n_vocab)
{
    samp_t *s = NULL;
    err_t err;
    err_clear(&err);
    int rc = samp_create(p, n_vocab, &s, &err);
    CHECKF(rc == 0 && s != NULL, "samp_create: %s", err.msg);
    return s;
}

/* Deterministic test data: uniform in [lo, hi). */
static void fill_random(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * samp_rng_uniform(&st);
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void test_defaults(void)
{
    samp_params_t p;
    memset(&p, 0xff, sizeof p);
    samp_params_default(&p);
    CHECK(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.seed == 0);
    samp_t *s = make(&p, 1000);
    samp_destroy(&s);
    CHECK(s == NULL);
    samp_destroy(NULL);
    samp_destroy(&s);
}

static void test_invalid(void)
{
    samp_params_t ok = plain(1.0f, 1);
    struct {
        const char *what;
        samp_params_t p;
        int32_t n_vocab;
    } bad[16];
    int n = 0;
#define BAD(field, value, nv)                    \
    do {                                         \
        bad[n].what = #field " = " #value;       \
        bad[n].p = ok;                           \
        bad[n].p.field = (value);                \
        bad[n].n_vocab = (nv);                   \
        n++;                                     \
    } while (0)
    BAD(temp, NAN, 10);
    BAD(temp, INFINITY, 10);
    BAD(temp, -INFINITY, 10);
    BAD(top_p, 0.0f, 10);
    BAD(top_p, -0.5f, 10);
    BAD(top_p, NAN, 10);
    BAD(min_p, -0.1f, 10);
    BAD(min_p, 1.5f, 10);
    BAD(min_p, NAN, 10);
    BAD(repeat_penalty, 0.0f, 10);
    BAD(repeat_penalty, -1.0f, 10);
    BAD(repeat_penalty, NAN, 10);
    BAD(repeat_penalty, INFINITY, 10);
    BAD(repeat_last_n, -2, 10);
    BAD(temp, 1.0f, 0);  /* n_vocab 0 */
    BAD(temp, 1.0f, -5); /* n_vocab < 0 */
#undef BAD
    for (int i = 0; i < n; i++) {
        samp_t *s = (samp_t *)&ok; /* must come back NULL */
        err_t err;
        err_clear(&err);
        int rc = samp_create(&bad[i].p, bad[i].n_vocab, &s, &err);
        CHECKF(rc == ERR_INVAL && s == NULL, "%s (n_vocab %d) accepted, rc %d", bad[i].what,
               (int)bad[i].n_vocab, rc);
        CHECKF(err.code == rc && err.msg[0] != '\0', "%s: no message", bad[i].what);
    }
    samp_t *s = NULL;
    CHECK(samp_create(NULL, 10, &s, NULL) == ERR_INVAL && s == NULL);
    CHECK(samp_create(&ok, 10, NULL, NULL) == ERR_INVAL);

    /* Edge values that are legal: top_p >= 1 and min_p 0 / 1 are off / strict,
     * negative temp is greedy, negative top_k is off, last_n -1 is everything. */
    samp_params_t edge = ok;
    edge.top_p = 1.0f;
    edge.min_p = 1.0f;
    edge.temp = -1.0f;
    edge.top_k = -7;
    edge.repeat_last_n = -1;
    s = make(&edge, 10);
    samp_destroy(&s);
    edge.top_p = INFINITY;
    edge.min_p = 0.0f;
    s = make(&edge, 1);
    samp_destroy(&s);

    /* NULL arguments to samp_sample: a negative code, never a token. */
    s = make(&ok, 4);
    float logits[4] = { 0, 1, 2, 3 };
    CHECK(samp_sample(NULL, logits, NULL, 0) < 0);
    CHECK(samp_sample(s, NULL, NULL, 0) < 0);
    CHECK(samp_sample(s, logits, NULL, 3) < 0);
    int32_t t = samp_sample(s, logits, NULL, 0);
    CHECK(t >= 0 && t < 4);
    samp_destroy(&s);
}

static void test_rng(void)
{
    uint64_t a = 0, b = 0, c = 1;
    double sum = 0.0;
    float lo = 1.0f, hi = 0.0f;
    int differ = 0, same = 1, in_range = 1;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float x = samp_rng_uniform(&a);
        float y = samp_rng_uniform(&b);
        float z = samp_rng_uniform(&c);
        same &= x == y;
        if (i < 10 && x != z)
            differ++;
        sum += x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        in_range &= x >= 0.0f && x < 1.0f;
    }
    CHECK(same);
    CHECK(in_range);
    CHECK(differ > 0);
    /* mean of n uniforms: sd = sqrt(1/12/n) ~ 0.0009 */
    CHECKF(fabs(sum / n - 0.5) < 0.005, "mean %g", sum / n);
    CHECK(lo < 0.001f && hi > 0.999f);
}

static void test_greedy(void)
{
    enum { N = 1000 };
    float *x = malloc(N * sizeof *x);
    if (!x)
        return;
    samp_params_t p;
    samp_params_default(&p); /* truncation on: greedy must ignore it */
    p.temp = 0.0f;
    samp_t *s = make(&p, N);
    for (int row = 0; row < 20; row++) {
        fill_random(x, N, 100 + (uint64_t)row, -10.0f, 10.0f);
        CHECK(samp_sample(s, x, NULL, 0) == argmax(x, N));
    }
    /* ties: the lowest id */
    for (int i = 0; i < N; i++)
        x[i] = 0.0f;
    x[700] = 5.0f;
    x[300] = 5.0f;
    x[900] = 5.0f;
    CHECK(samp_sample(s, x, NULL, 0) == 300);
    /* NaN is -inf: never chosen over a real logit, even a very negative one */
    for (int i = 0; i < N; i++)
        x[i] = NAN;
    x[500] = -1e30f;
    CHECK(samp_sample(s, x, NULL, 0) == 500);
    /* all -inf / NaN: the lowest id */
    x[500] = -INFINITY;
    CHECK(samp_sample(s, x, NULL, 0) == 0);
    samp_destroy(&s);

    /* negative temperature is greedy too; +inf is an ordinary (winning) value */
    p.temp = -0.5f;
    s = make(&p, N);
    fill_random(x, N, 7, -1.0f, 1.0f);
    x[42] = INFINITY;
    CHECK(samp_sample(s, x, NULL, 0) == 42);
    samp_destroy(&s);
    free(x);
}

/* The same seed gives the same tokens, another seed other tokens. */
static void test_seed(void)
{
    enum { N = 64, DRAWS = 200 };
    float x[N];
    fill_random(x, N, 3, -1.0f, 1.0f);
    samp_params_t p = plain(1.0f, 42);
    p.top_k = 20;
    p.top_p = 0.9f;
    samp_t *a = make(&p, N), *b = make(&p, N);
    p.seed = 43;
    samp_t *c = make(&p, N);
    if (!a || !b || !c)
        return;
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < DRAWS; i++) {
        int32_t ta = samp_sample(a, x, NULL, 0);
        int32_t tb = samp_sample(b, x, NULL, 0);
        int32_t tc = samp_sample(c, x, NULL, 0);
        same_ab &= ta == tb;
        same_ac &= ta == tc;
        CHECK(ta >= 0 && ta < N);
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    samp_destroy(&a);
    samp_destroy(&b);
    samp_destroy(&c);
}

/* top-k = 1, top-p tiny and min-p = 1 each leave only the argmax. */
static void test_argmax_cuts(void)
{
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    if (!x)
        return;
    const float temps[] = { 0.05f, 0.7f, 1.0f, 2.0f, 100.0f };
    for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++) {
        for (int cut = 0; cut < 3; cut++) {
            samp_params_t p = plain(temps[ti], 1000 + ti);
            if (cut == 0)
                p.top_k = 1;
            else if (cut == 1)
                p.top_p = 1e-6f;
            else
                p.min_p = 1.0f;
            samp_t *s = make(&p, N);
            if (!s)
                continue;
            int all = 1;
            for (int row = 0; row < 20; row++) {
                fill_random(x, N, 500 + (uint64_t)row, -3.0f, 3.0f);
                all &= samp_sample(s, x, NULL, 0) == argmax(x, N);
            }
            CHECKF(all, "temp %g, cut %d: not the argmax", (double)temps[ti], cut);
            samp_destroy(&s);
        }
    }
    free(x);
}

/* Draws `draws` tokens and checks each count against want[] (probabilities)
 * within 4.5 sigma; zero-probability tokens must never appear. */
static void check_frequencies(const char *what, const samp_params_t *p, const float *x,
                              const double *want, int32_t n, int draws)
{
    samp_t *s = make(p, n);
    if (!s)
        return;
    int *count = calloc((size_t)n, sizeof *count);
    if (!count) {
        samp_destroy(&s);
        return;
    }
    for (int d = 0; d < draws; d++) {
        int32_t t = samp_sample(s, x, NULL, 0);
        if (t >= 0 && t < n)
            count[t]++;
    }
    for (int32_t i = 0; i < n; i++) {
        double mean = draws * want[i];
        double sd = sqrt(draws * want[i] * (1.0 - want[i]));
        if (want[i] == 0.0)
            CHECKF(count[i] == 0, "%s: token %d has probability 0 but drawn %d times", what,
                   (int)i, count[i]);
        else
            CHECKF(fabs(count[i] - mean) <= 4.5 * sd + 1e-9,
                   "%s: token %d drawn %d times, expected %.1f +- %.1f", what, (int)i, count[i],
                   mean, sd);
    }
    free(count);
    samp_destroy(&s);
}

/* softmax(x / temp) over the tokens with keep[i], zero elsewhere */
static void softmax_kept(const float *x, const int *keep, int32_t n, double temp, double *out)
{
    double mx = -INFINITY, sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (keep[i] && x[i] > mx)
            mx = x[i];
    for (int32_t i = 0; i < n; i++) {
        out[i] = keep[i] ? exp((x[i] - mx) / temp) : 0.0;
        sum += out[i];
    }
    for (int32_t i = 0; i < n; i++)
        out[i] /= sum;
}

static void test_distribution(void)
{
    enum { N = 8, DRAWS = 20000 };
    /* sorted: 5 (2.0), 3 (1.5), 2 (1.0), 1 (0.5), 6 (0.2), 0 (0.0), 4 (-1), 7 (-3) */
    const float x[N] = { 0.0f, 0.5f, 1.0f, 1.5f, -1.0f, 2.0f, 0.2f, -3.0f };
    double want[N], p1[N];
    int all[N] = { 1, 1, 1, 1, 1, 1, 1, 1 };

    samp_params_t p = plain(1.0f, 2024);
    softmax_kept(x, all, N, 1.0, want);
    check_frequencies("temp 1", &p, x, want, N, DRAWS);

    p = plain(0.6f, 77);
    softmax_kept(x, all, N, 0.6, want);
    check_frequencies("temp 0.6", &p, x, want, N, DRAWS);

    p = plain(1.5f, 78);
    softmax_kept(x, all, N, 1.5, want);
    check_frequencies("temp 1.5", &p, x, want, N, DRAWS);

    /* top-k 3 keeps 5, 3, 2 */
    int k3[N] = { 0, 0, 1, 1, 0, 1, 0, 0 };
    p = plain(1.0f, 79);
    p.top_k = 3;
    softmax_kept(x, k3, N, 1.0, want);
    check_frequencies("top-k 3", &p, x, want, N, DRAWS);

    /* top-p 0.8 at temperature 1: cumulative 0.39, 0.63, 0.77, 0.86 -> 5, 3, 2, 1;
     * then temperature 0.8 over those four */
    softmax_kept(x, all, N, 1.0, p1);
    CHECK(p1[5] + p1[3] + p1[2] < 0.79 && p1[5] + p1[3] + p1[2] + p1[1] > 0.81);
    int tp[N] = { 0, 1, 1, 1, 0, 1, 0, 0 };
    p = plain(0.8f, 80);
    p.top_p = 0.8f;
    softmax_kept(x, tp, N, 0.8, want);
    check_frequencies("top-p 0.8", &p, x, want, N, DRAWS);

    /* min-p 0.3: prob >= 0.3 * max <=> logit >= 2 + ln 0.3 = 0.796 -> 5, 3, 2 */
    int mp[N] = { 0, 0, 1, 1, 0, 1, 0, 0 };
    p = plain(1.0f, 81);
    p.min_p = 0.3f;
    softmax_kept(x, mp, N, 1.0, want);
    check_frequencies("min-p 0.3", &p, x, want, N, DRAWS);

    /* all together: top-k 6 (drops 4, 7), top-p 0.9 of the six (cumulative
     * 0.40, 0.64, 0.79, 0.88, 0.95 -> 5 tokens), min-p 0.2 (logit >= 0.39: drops 6),
     * temperature 2 */
    int k6[N] = { 1, 1, 1, 1, 0, 1, 1, 0 };
    softmax_kept(x, k6, N, 1.0, p1);
    CHECK(p1[5] + p1[3] + p1[2] + p1[1] < 0.89 && p1[5] + p1[3] + p1[2] + p1[1] + p1[6] > 0.91);
    int mix[N] = { 0, 1, 1, 1, 0, 1, 0, 0 };
    p = plain(2.0f, 82);
    p.top_k = 6;
    p.top_p = 0.9f;
    p.min_p = 0.2f;
    softmax_kept(x, mix, N, 2.0, want);
    check_frequencies("top-k 6 + top-p 0.9 + min-p 0.2", &p, x, want, N, DRAWS);
}

/* Top-p over a wide, flat distribution without top-k: the kept prefix is
 * longer than the first partial sorts, so the sampler must widen its selection
 * (256, 2048, all) and still cut at the right place. */
static void test_top_p_wide(void)
{
    enum { N = 3000, DRAWS = 2000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = -0.0005f * (float)i; /* already in candidate order */
    double total = 0.0, cum = 0.0;
    for (int i = 0; i < N; i++)
        total += exp((double)x[i] - (double)x[0]);
    int keep = N;
    for (int i = 0; i < N; i++) {
        cum += exp((double)x[i] - (double)x[0]);
        if (cum >= 0.9 * total) {
            keep = i + 1;
            break;
        }
    }
    CHECK(keep > 2048 && keep < N);
    samp_params_t p = plain(1.0f, 99);
    p.top_p = 0.9f;
    samp_t *s = make(&p, N);
    if (!s)
        return;
    int32_t hi = -1;
    int near_cut = 0;
    for (int d = 0; d < DRAWS; d++) {
        int32_t t = samp_sample(s, x, NULL, 0);
        hi = t > hi ? t : hi;
        near_cut += t >= keep - 200 && t < keep;
    }
    /* +1: the sampler's sums and ours may round differently at the cut */
    CHECKF(hi >= 0 && hi <= keep, "drew %d, beyond the top-p cut %d", (int)hi, keep);
    CHECKF(near_cut > 0, "nothing drawn just below the cut %d", keep);
    samp_destroy(&s);
}

static void test_penalty(void)
{
    enum { N = 16 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = -5.0f;
    samp_params_t p = plain(0.0f, 0); /* greedy: the penalty alone decides */
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 4;
    samp_t *s = make(&p, N);
    if (!s)
        return;

    /* positive: 2.0 / 1.1 = 1.82 < 1.9 */
    x[0] = 2.0f;
    x[1] = 1.9f;
    int32_t h1[] = { 0 };
    CHECK(samp_sample(s, x, NULL, 0) == 0);
    CHECK(samp_sample(s, x, h1, 1) == 1);
    /* only the last repeat_last_n = 4 count: token 0 is five back */
    int32_t h2[] = { 0, 9, 10, 11, 12 };
    CHECK(samp_sample(s, x, h2, 5) == 0);
    int32_t h3[] = { 9, 0, 10, 11, 12 };
    CHECK(samp_sample(s, x, h3, 5) == 1);
    /* ids outside the vocabulary are skipped */
    int32_t h4[] = { -1, N, 1 << 30, 0 };
    CHECK(samp_sample(s, x, h4, 4) == 1);
    /* the marks do not leak into the next call */
    CHECK(samp_sample(s, x, NULL, 0) == 0);

    /* negative: -1.0 * 1.1 = -1.1 < -1.05 */
    x[0] = -1.0f;
    x[1] = -1.05f;
    CHECK(samp_sample(s, x, NULL, 0) == 0);
    CHECK(samp_sample(s, x, h1, 1) == 1);
    samp_destroy(&s);

    /* a token repeated in the window is penalised once: 2.0 / 1.2 = 1.67 > 1.5 */
    x[0] = 2.0f;
    x[1] = 1.5f;
    p.repeat_penalty = 1.2f;
    s = make(&p, N);
    int32_t h5[] = { 0, 0, 0, 0 };
    CHECK(samp_sample(s, x, h5, 4) == 0);
    samp_destroy(&s);

    /* repeat_last_n -1: the whole history; 0: off */
    p.repeat_last_n = -1;
    s = make(&p, N);
    int32_t h6[] = { 0, 2, 3, 4, 5, 6, 7, 8, 9 };
    x[1] = 1.8f;
    CHECK(samp_sample(s, x, h6, 9) == 1);
    samp_destroy(&s);
    p.repeat_last_n = 0;
    s = make(&p, N);
    CHECK(samp_sample(s, x, h6, 9) == 0);
    samp_destroy(&s);

    /* penalty < 1 favours repeats: 1.8 / 0.9 = 2.0 > 1.95 */
    p.repeat_last_n = 64;
    p.repeat_penalty = 0.9f;
    x[0] = 1.95f;
    s = make(&p, N);
    int32_t h7[] = { 1 };
    CHECK(samp_sample(s, x, NULL, 0) == 0);
    CHECK(samp_sample(s, x, h7, 1) == 1);
    samp_destroy(&s);

    /* also ahead of top-k when sampling: top-k 1 keeps the penalised argmax */
    p = plain(1.0f, 5);
    p.top_k = 1;
    p.repeat_penalty = 1.1f;
    x[0] = 2.0f;
    x[1] = 1.9f;
    s = make(&p, N);
    CHECK(samp_sample(s, x, h1, 1) == 1);
    samp_destroy(&s);
}

/* The logits are read-only, whatever the path; compared bit for bit. */
static void test_logits_untouched(void)
{
    enum { N = 300 };
    float x[N], copy[N];
    fill_random(x, N, 11, -4.0f, 4.0f);
    x[3] = NAN;
    x[17] = -INFINITY;
    x[29] = INFINITY;
    memcpy(copy, x, sizeof x);
    int32_t hist[] = { 1, 2, 3, 29, 17, 250 };
    const float temps[] = { 0.0f, 1.0f };
    for (int t = 0; t < 2; t++) {
        for (int cfg = 0; cfg < 4; cfg++) {
            samp_params_t p = plain(temps[t], 9);
            p.repeat_penalty = 1.3f;
            if (cfg & 1)
                p.top_k = 40;
            if (cfg & 2) {
                p.top_p = 0.9f;
                p.min_p = 0.05f;
            }
            samp_t *s = make(&p, N);
            if (!s)
                continue;
            for (int i = 0; i < 5; i++) {
                int32_t tok = samp_sample(s, x, hist, sizeof hist / sizeof hist[0]);
                CHECK(tok >= 0 && tok < N);
                /* x[29] = +inf wins every time */
                CHECK(tok == 29);
            }
            CHECKF(memcmp(x, copy, sizeof x) == 0, "temp %g cfg %d wrote the logits",
                   (double)temps[t], cfg);
            samp_destroy(&s);
        }
    }
}

/* A llama-3-sized vocabulary: top-k 40 picks among the 40 best, quickly. */
static void test_large_vocab(void)
{
    enum { N = 128256, K = 40, DRAWS = 200 };
    float *x = malloc(N * sizeof *x), *sorted = malloc(N * sizeof *sorted);
    if (!x || !sorted) {
        free(x);
        free(sorted);
        return;
    }
    fill_random(x, N, 21, -8.0f, 8.0f);
    memcpy(sorted, x, N * sizeof *x);
    /* the K-th largest value, by partial selection sort (K passes) */
    float kth = INFINITY;
    for (int k = 0; k < K; k++) {
        float best = -INFINITY;
        for (int i = 0; i < N; i++)
            if (sorted[i] < kth && sorted[i] > best)
                best = sorted[i];
        kth = best;
    }
    samp_params_t p;
    samp_params_default(&p);
    p.temp = 1.5f;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.top_k = K;
    p.seed = 3;
    samp_t *s = make(&p, N);
    int in_top = 1;
    clock_t t0 = clock();
    for (int d = 0; d < DRAWS && s; d++) {
        int32_t tok = samp_sample(s, x, NULL, 0);
        in_top &= tok >= 0 && tok < N && x[tok] >= kth;
    }
    double ms = 1e3 * (double)(clock() - t0) / CLOCKS_PER_SEC / DRAWS;
    CHECK(in_top);
    printf("test_samp: n_vocab %d, top-k %d: %.3f ms per sample\n", N, K, ms);
    samp_destroy(&s);

    /* top-p without top-k: a full sort, still valid */
    p.top_k = 0;
    p.top_p = 0.5f;
    s = make(&p, N);
    t0 = clock();
    for (int d = 0; d < 20 && s; d++) {
        int32_t tok = samp_sample(s, x, NULL, 0);
        CHECK(tok >= 0 && tok < N && x[tok] > 5.0f);
    }
    ms = 1e3 * (double)(clock() - t0) / CLOCKS_PER_SEC / 20;
    printf("test_samp: n_vocab %d, top-p 0.5, no top-k: %.3f ms per sample\n", N, ms);
    samp_destroy(&s);
    free(x);
    free(sorted);
}

int main(void)
{
    test_defaults();
    test_invalid();
    test_rng();
    test_greedy();
    test_seed();
    test_argmax_cuts();
    test_distribution();
    test_top_p_wide();
    test_penalty();
    test_logits_untouched();
    test_large_vocab();
    return check_finish("test_samp");
}
