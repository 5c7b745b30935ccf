/*
 * cli_bench.c — `lingua bench`: measures prompt processing and decode speed of
 * a model on this machine, and the memory read bandwidth that bounds decode.
 *
 *   lingua bench -m MODEL [-t THREADS] [--prompt P] [--gen N] [--reps R] [--json]
 *                [--parallel K,K,...]
 *
 * Each repetition clears the cache, processes a P-token prompt in one batch
 * (deterministic pseudo-random ids), then decodes N tokens one at a time
 * (feeding the same pseudo-random ids; sampling is not timed).  Medians over R repetitions are reported, with the bandwidth floor:
 * the decode speed if every weight byte read per token streamed at the read
 * bandwidth measured on a buffer of that size with the same thread count (the
 * embedding contributes one row per token).  The read bandwidth is the better of
 * two read loops: one sequential stream per thread, and BW_STREAMS interleaved
 * streams per thread far apart (as the decode kernels read): on a core that keeps
 * few misses in flight per stream, one stream draws well below what the memory
 * system delivers, and a floor decode could beat would be no floor.
 *
 * --parallel K,...: for each K, K sequences share every executor run
 * (continuous batching, DESIGN.md §12), as llama-batched-bench measures: the K
 * prompts together in runs of up to 512 rows (logits of each sequence's last
 * prompt row), then N decode steps of K rows (logits of every row).  Aggregate
 * tokens/s over all sequences; the floor is K times the single-sequence one
 * (the weights are read once per step for all K rows; KV reads are left out).
 * Decode tokens per CPU-second (all threads' CPU time) are given too: on a
 * machine shared with other jobs they vary less than per wall second (with one
 * thread they measure the work itself; with more, waiting threads' spins count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/clock.h"
#include "util/stats.h"
#include "exec/exec.h"
#include "exec/generate.h"
#include "model/model.h"
#include "json/jdoc.h"
#include "util/pool.h"

/* Interleaved read streams per thread in the second read loop. */
#define BW_STREAMS 8

typedef struct {
    const uint64_t *buf;
    size_t n;
    int streams;          /* 1, or BW_STREAMS */
    uint64_t sums[64];
} bw_job_t;

/* Sums this thread's part of buf, a 64-byte line at a time from each of j->streams
 * equal sub-parts in turn (any tail shorter than a line per stream is left out: the
 * byte count of the run is computed the same way). */
static void bw_task(void *ctx, int ith, int nth)
{
    bw_job_t *j = ctx;
    size_t begin, end;
    pool_split(j->n, ith, nth, &begin, &end);
    const size_t part = (end - begin) / (size_t)j->streams / 8 * 8;
    uint64_t s[8] = {0};
    for (size_t i = 0; i < part; i += 8)
        for (int st = 0; st < j->streams; st++) {
            const uint64_t *p = j->buf + begin + (size_t)st * part + i;
            for (int k = 0; k < 8; k++)
                s[k] += p[k];
        }
    j->sums[ith % 64] = s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
}

/* Read bandwidth in bytes/s over a buffer of the given size — the bytes a decode
 * step reads — after one warm-up pass: the better of the medians (over reps) of the
 * one-stream and the BW_STREAMS-stream read loops, the two timed alternately so
 * that both see the same machine.  Sized like the model, the buffer lives wherever
 * the model's weights would (DRAM, or a large L3). */
static double measure_bandwidth(pool_t *pool, size_t bytes, int reps)
{
    bytes = (bytes + 4095) & ~(size_t)4095;
    bw_job_t job = {.n = bytes / sizeof(uint64_t), .streams = 1};
    uint64_t *buf = malloc(bytes);
    if (!buf)
        return 0.0;
    for (size_t i = 0; i < job.n; i++)
        buf[i] = i * 0x9e3779b97f4a7c15ull;
    job.buf = buf;
    /* The bytes one run reads: each thread's part rounded down to whole lines per stream. */
    double read[2] = {0, 0};
    const int n_threads = pool_threads(pool);
    for (int k = 0; k < 2; k++) {
        const size_t streams = k == 0 ? 1 : BW_STREAMS;
        for (int ith = 0; ith < n_threads; ith++) {
            size_t b, e;
            pool_split(job.n, ith, n_threads, &b, &e);
            read[k] += (double)((e - b) / streams / 8 * 8 * streams * sizeof(uint64_t));
        }
    }
    double t[2][32];
    reps = reps > 32 ? 32 : reps;
    pool_run(pool, bw_task, &job);   /* warm-up: page in, fill caches as a decode step would */
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 2; k++) {
            job.streams = k == 0 ? 1 : BW_STREAMS;
            double t0 = clock_now();
            pool_run(pool, bw_task, &job);
            t[k][r] = clock_now() - t0;
        }
    }
    uint64_t sink = 0;
    for (int i = 0; i < 64; i++)
        sink ^= job.sums[i];
    free(buf);
    double bw1 = read[0] / stats_median(t[0], reps), bw8 = read[1] / stats_median(t[1], reps);
    double bw = bw1 > bw8 ? bw1 : bw8;
    return sink == 42 ? 0.0 : bw;   /* the comparison keeps the reads alive */
}

#define BENCH_MAX_PARALLEL 16
#define BENCH_PAR_BATCH 512

/* Parses "1,4,8,16" into ks (each 1..BENCH_MAX_PARALLEL); the count, or -1 after printing why. */
static int parse_parallel(const char *s, int *ks, int cap)
{
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > BENCH_MAX_PARALLEL || (*end && *end != ',') || n == cap) {
            fprintf(stderr, "error: --parallel expects up to %d comma-separated counts in 1..%d, got '%s'\n", cap,
                    BENCH_MAX_PARALLEL, s);
            return -1;
        }
        ks[n++] = (int)v;
        s = *end ? end + 1 : end;
    }
    if (n == 0)
        fprintf(stderr, "error: --parallel needs at least one count\n");
    return n ? n : -1;
}

/* One repetition of k sequences: prompts together, then n_gen decode steps of k
 * rows.  Writes the prompt and decode wall times.  Buffers hold BENCH_PAR_BATCH rows. */
static int parallel_rep(exec_t *ex, int k, const int32_t *prompt, int n_prompt, int n_gen, int32_t *tok, int *rs,
                        int *rp, int *lr, double *t_pp, double *t_tg, double *cpu_tg, err_t *err)
{
    for (int s = 0; s < k; s++)
        exec_seq_clear(ex, s);
    const long total = (long)k * n_prompt;
    double t0 = clock_now();
    for (long done = 0; done < total;) {
        int n = 0, nl = 0;
        for (; n < BENCH_PAR_BATCH && done < total; n++, done++) {
            rs[n] = (int)(done / n_prompt);
            rp[n] = (int)(done % n_prompt);
            tok[n] = prompt[(rp[n] + 7 * rs[n]) % n_prompt];   /* sequences differ */
            if (rp[n] == n_prompt - 1)
                lr[nl++] = n;
        }
        exec_batch_t b = {.n_tokens = n, .tokens = tok, .row_seq = rs, .row_pos = rp,
                          .n_logits = nl ? nl : 1, .logit_rows = nl ? lr : NULL};
        if (exec_run(ex, &b, err))
            return -1;
    }
    double t1 = clock_now(), c1 = clock_cpu();
    for (int i = 0; i < n_gen; i++) {
        for (int s = 0; s < k; s++) {
            rs[s] = s;
            rp[s] = n_prompt + i;
            tok[s] = prompt[(i + s) % n_prompt];
        }
        exec_batch_t b = {.n_tokens = k, .tokens = tok, .row_seq = rs, .row_pos = rp, .n_logits = k};
        if (exec_run(ex, &b, err))
            return -1;
    }
    *t_pp = t1 - t0;
    *t_tg = clock_now() - t1;
    *cpu_tg = clock_cpu() - c1;
    return 0;
}

/* The --parallel table: aggregate prompt and decode tokens/s per sequence count. */
static int bench_parallel(const model_t *m, const cli_opts_t *o, const int *ks, int n_ks, int n_prompt, int n_gen,
                          int reps, const int32_t *prompt, double floor_tps, err_t *err)
{
    int kmax = 1;
    for (int i = 0; i < n_ks; i++)
        kmax = ks[i] > kmax ? ks[i] : kmax;
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_threads = o->threads;
    p.n_ctx = n_prompt + n_gen + 1;
    p.n_seq = kmax;
    p.max_batch = BENCH_PAR_BATCH;
    p.max_logits = kmax;
    p.isa = o->isa;
    if (p.max_batch > p.n_ctx * kmax)
        p.max_batch = p.n_ctx * kmax;
    exec_t *ex = NULL;
    int32_t *tok = malloc(BENCH_PAR_BATCH * sizeof *tok);
    int *rs = malloc(BENCH_PAR_BATCH * sizeof *rs), *rp = malloc(BENCH_PAR_BATCH * sizeof *rp);
    int *lr = malloc(BENCH_PAR_BATCH * sizeof *lr);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    double *tc = calloc((size_t)reps, sizeof *tc);
    int rc = -1;
    if (!tok || !rs || !rp || !lr || !pp || !tg || !tc) {
        err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    /* max_batch is capped by the context; the executor needs rows for kmax sequences' prompts. */
    p.n_ctx = p.n_ctx < BENCH_PAR_BATCH ? BENCH_PAR_BATCH : p.n_ctx;
    if (exec_create(m, &p, &ex, err))
        goto out;
    if (o->json)
        printf("{\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"prompt_tokens\": %d, \"gen_tokens\": %d, "
               "\"reps\": %d, \"parallel\": [", o->model, o->threads, exec_isa_name(ex), n_prompt, n_gen, reps);
    else
        printf("model %s, %d thread%s, %s kernels, %d reps (medians), prompts of %d, %d decode steps\n"
               "  sequences | prompt tok/s (aggregate) | decode tok/s (aggregate) | decode floor tok/s | of floor | decode x single | decode tok/CPU-s\n",
               o->model, o->threads, o->threads == 1 ? "" : "s", exec_isa_name(ex), reps, n_prompt, n_gen);
    double tg1 = 0;
    for (int i = 0; i < n_ks; i++) {
        const int k = ks[i];
        for (int r = 0; r < reps + 1; r++) {   /* repetition 0 warms up */
            double a, b, c;
            if (parallel_rep(ex, k, prompt, n_prompt, n_gen, tok, rs, rp, lr, &a, &b, &c, err))
                goto out;
            if (r > 0) {
                pp[r - 1] = (double)k * n_prompt / a;
                tg[r - 1] = (double)k * n_gen / b;
                tc[r - 1] = (double)k * n_gen / c;
            }
        }
        const double pp_med = stats_median(pp, reps), tg_med = stats_median(tg, reps), tc_med = stats_median(tc, reps);
        if (k == 1 || i == 0)
            tg1 = tg_med / k;   /* per-sequence speed of the smallest count (k = 1 when given) */
        if (o->json)
            printf("%s{\"sequences\": %d, \"prompt_tokens_per_s\": %.2f, \"gen_tokens_per_s\": %.2f, "
                   "\"bandwidth_floor_tokens_per_s\": %.2f, \"decode_vs_single\": %.3f, "
                   "\"gen_tokens_per_cpu_s\": %.2f}",
                   i ? ", " : "", k, pp_med, tg_med, floor_tps * k, tg_med / tg1, tc_med);
        else
            printf("  %9d | %24.1f | %24.1f | %18.1f | %7.0f%% | %15.2f | %16.1f\n", k, pp_med, tg_med,
                   floor_tps * k, 100.0 * tg_med / (floor_tps * k), tg_med / tg1, tc_med);
        fflush(stdout);
    }
    if (o->json)
        printf("], \"single_sequence_floor_tokens_per_s\": %.2f}\n", floor_tps);
    rc = 0;
out:
    exec_destroy(&ex);
    free(tok);
    free(rs);
    free(rp);
    free(lr);
    free(pp);
    free(tg);
    free(tc);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    /* Bench-only options are peeled off first; the rest go to the shared parser. */
    int n_prompt = 64, n_gen = 64, reps = 5;
    const char *parallel = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return 1;
    for (int i = 0; i < argc; i++) {
        int *target = NULL;
        if (i >= 2 && i + 1 < argc && !strcmp(argv[i], "--parallel")) {
            parallel = argv[++i];
            continue;
        }
        if (i >= 2 && i + 1 < argc) {
            if (!strcmp(argv[i], "--prompt")) target = &n_prompt;
            else if (!strcmp(argv[i], "--gen")) target = &n_gen;
            else if (!strcmp(argv[i], "--reps")) target = &reps;
        }
        if (target) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "error: %s expects an integer in 1..100000, got '%s'\n", argv[i], argv[i + 1]);
                free(rest);
                return 2;
            }
            *target = (int)v;
            i++;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_opts_t o;
    int rc = cli_parse(n_rest, rest, 2, CLI_OPT_MODEL | CLI_OPT_THREADS | CLI_OPT_JSON, &o);
    free(rest);
    if (rc)
        return rc;
    if (!o.model) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        return 2;
    }
    err_t err;
    err_clear(&err);
    model_t *m = NULL;
    exec_t *ex = NULL;
    if (model_load(o.model, &m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    exec_params_t p;
    exec_params_default(&p, m);
    p.n_threads = o.threads;
    p.n_ctx = n_prompt + n_gen + 1;
    p.max_batch = n_prompt;
    p.isa = o.isa;
    int32_t *tokens = malloc(((size_t)n_prompt + 1) * sizeof *tokens);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    rc = 1;
    if (!tokens || !pp || !tg) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    if (exec_create(m, &p, &ex, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    uint64_t state = 7;
    for (int i = 0; i < n_prompt; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((state >> 33) % m->hp.n_vocab);
    }
    int ks[8], n_ks = 0;
    if (parallel && (n_ks = parse_parallel(parallel, ks, 8)) < 0) {
        rc = 2;
        goto done;
    }
    for (int r = 0; !parallel && r < reps + 1; r++) {   /* repetition 0 warms up and is not counted */
        exec_seq_clear(ex, 0);
        exec_batch_t b = {.seq = 0, .pos0 = 0, .n_tokens = n_prompt, .tokens = tokens, .n_logits = 1};
        double t0 = clock_now();
        if (exec_run(ex, &b, &err))
            goto fail;
        double t1 = clock_now();
        for (int i = 0; i < n_gen; i++) {
            /* Fed ids are pseudo-random, as llama-bench does: the time is the forward pass alone. */
            int32_t next = tokens[i % n_prompt];
            exec_batch_t s = {.seq = 0, .pos0 = n_prompt + i, .n_tokens = 1, .tokens = &next, .n_logits = 1};
            if (exec_run(ex, &s, &err))
                goto fail;
        }
        double t2 = clock_now();
        if (r > 0) {
            pp[r - 1] = n_prompt / (t1 - t0);
            tg[r - 1] = n_gen / (t2 - t1);
        }
    }
    size_t weights = model_weight_bytes(m);
    size_t per_token = weights - m->tok_embd.row_bytes * (m->tok_embd.n_out - 1);
    if (m->output_tied)
        per_token = weights;   /* the tied matrix is read whole by the output unit */
    pool_t *pool = NULL;
    if (pool_create(o.threads, &pool, &err))
        goto fail;
    double bw = measure_bandwidth(pool, per_token, 9);
    pool_destroy(&pool);
    double floor_tps = bw / (double)per_token;
    double pp_med = stats_median(pp, reps), tg_med = stats_median(tg, reps);
    if (parallel) {
        if (bench_parallel(m, &o, ks, n_ks, n_prompt, n_gen, reps, tokens, floor_tps, &err))
            goto fail;
    } else if (o.json) {
        cJSON *j = cJSON_CreateObject();
        if (!j)
            goto done;
        jdoc_add_text(j, "model", o.model, strlen(o.model));
        cJSON_AddNumberToObject(j, "threads", o.threads);
        cJSON_AddStringToObject(j, "isa", exec_isa_name(ex));
        cJSON_AddNumberToObject(j, "prompt_tokens", n_prompt);
        cJSON_AddNumberToObject(j, "gen_tokens", n_gen);
        cJSON_AddNumberToObject(j, "reps", reps);
        jdoc_add_number(j, "prompt_tokens_per_s", pp_med);
        jdoc_add_number(j, "gen_tokens_per_s", tg_med);
        cJSON_AddNumberToObject(j, "weight_bytes", (double)weights);
        cJSON_AddNumberToObject(j, "bytes_per_token", (double)per_token);
        jdoc_add_number(j, "read_bandwidth_gbs", bw / 1e9);
        jdoc_add_number(j, "bandwidth_floor_tokens_per_s", floor_tps);
        jdoc_add_number(j, "fraction_of_floor", tg_med / floor_tps);
        jdoc_write(stdout, j);
        cJSON_Delete(j);
    } else {
        printf("model %s, %d thread%s, %s kernels, %d reps (medians)\n", o.model, o.threads,
               o.threads == 1 ? "" : "s", exec_isa_name(ex), reps);
        printf("  prompt (%d tokens): %.1f tokens/s\n", n_prompt, pp_med);
        printf("  decode (%d tokens): %.1f tokens/s\n", n_gen, tg_med);
        printf("  bandwidth floor:   %.1f tokens/s (%.1f MiB read per token at %.2f GB/s); decode is %.0f%% of it\n",
               floor_tps, per_token / 1048576.0, bw / 1e9, 100.0 * tg_med / floor_tps);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "error: %s\n", err.msg);
done:
    free(tokens);
    free(pp);
    free(tg);
    exec_destroy(&ex);
    model_destroy(&m);
    return rc;
}
