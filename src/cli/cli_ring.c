/*
 * cli_ring.c — the distributed commands:
 *   lingua worker --coordinator tcp://HOST:PORT -m MODEL [--listen EP] [--name N] [-t T]
 *   lingua coordinator --bind EP --workers N -m MODEL (-p PROMPT | --prompts FILE) [generate options]
 *   lingua run -m MODEL --local N (-p PROMPT | --prompts FILE) [--ranges A-B,...] [generate options]
 * `run` is the embedded default: it starts N workers on loopback as child
 * processes, coordinates them itself, generates, and shuts everything down.
 * SIGINT/SIGTERM stop any of them cleanly: the only file-level state here is
 * the flag the signal handler sets (a handler can reach nothing else).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/clock.h"
#include "coord/coord.h"
#include "coord/balancer.h"
#include "coord/coord_plan.h"
#include "coord/epoch.h"
#include "coord/recovery.h"
#include "coord/spawn.h"
#include "coord/split.h"
#include "exec/generate.h"
#include "net/discovery.h"
#include "net/keydir.h"
#include "node/worker.h"
#include "node/worker_fetch.h"
#include "plan/unit_cost.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

volatile sig_atomic_t *cli_catch_signals(void)
{
    catch_signals();
    return &stop_requested;
}

/* ---- lingua worker ------------------------------------------------------------ */

int cli_worker(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_THREADS | CLI_OPT_RING | CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    disc_found_t found;   /* no --coordinator: wait for a beacon on the LAN */
    char listen_ep[64];
    if (!o.coordinator) {
        uint8_t pinned[SEC_KEY_BYTES];
        err_t derr;
        err_clear(&derr);
        if (o.coord_key && keydir_parse_key(o.coord_key, pinned, &derr)) {
            fprintf(stderr, "error: %s\n", derr.msg);
            return 2;
        }
        fprintf(stderr, "worker: looking for a coordinator (UDP beacons on port %d)...\n", o.beacon_port);
        if (disc_find((uint16_t)o.beacon_port, o.coord_key ? pinned : NULL, 120000, &found, &derr)) {
            fprintf(stderr, "error: %s (or give --coordinator tcp://HOST:PORT)\n", derr.msg);
            return 1;
        }
        o.coordinator = found.coordinator;
        if (!o.listen) {
            snprintf(listen_ep, sizeof listen_ep, "tcp://%s:*", found.local_ip);
            o.listen = listen_ep;
        }
        fprintf(stderr, "worker: found the coordinator at %s; data endpoint %s\n", o.coordinator, o.listen);
    }
    char cache[1024];
    err_t cerr;
    if (!o.model && !o.cache && worker_cache_default(cache, sizeof cache, &cerr)) {
        fprintf(stderr, "error: %s\n", cerr.msg);
        return 2;
    }
    char name[64];
    if (o.name) {
        snprintf(name, sizeof name, "%s", o.name);
    } else {
        char host[48] = "device";
        gethostname(host, sizeof host - 1);
        snprintf(name, sizeof name, "%s-%d", host, (int)getpid());
    }
    worker_opts_t wo;
    worker_opts_default(&wo);
    wo.coordinator = o.coordinator;
    if (o.listen)
        wo.listen = o.listen;
    wo.model_path = o.model;
    wo.cache_dir = o.model ? NULL : o.cache ? o.cache : cache;
    wo.cache_max_mb = o.cache_max_mb;
    wo.name = name;
    wo.isa = o.isa;
    wo.chunk = o.chunk;
    wo.threads = o.threads;
    wo.verbose = o.verbose;
    wo.link_latency_ms = o.link_latency_ms;
    wo.link_mbit = o.link_mbit;
    wo.heartbeat_ms = o.heartbeat_ms;
    if ((wo.slowdown_step = cli_slowdown_step(o.slowdown)) < 0 ||
        cli_list_value("--slowdown", o.slowdown, 0, 1.0, 1000.0, &wo.slowdown) < 0 ||
        cli_list_value("--mem-limit", o.mem_limit, 0, 1.0, 1e9, &wo.mem_limit_mb) < 0)
        return 2;
    cli_sec_t sec;
    if (cli_sec_setup(&o, 1, wo.listen, &sec))
        return 1;
    if (sec.on) {
        wo.curve = &sec.kp;
        wo.coordinator_key = sec.coord_key;
    }
    catch_signals();
    err_t err;
    err_clear(&err);
    rc = worker_main(&wo, &stop_requested, &err);
    cli_sec_fini(&sec, 0);
    if (rc) {
        fprintf(stderr, "worker %s: error: %s\n", name, err.msg);
        return 1;
    }
    return 0;
}

/* ---- generating on a deployed ring ------------------------------------------- */

typedef struct {
    int32_t *ids;           /* prompt then generated */
    size_t n_prompt, n_gen, cap;
    cli_text_t text;
    double *unix_ms;        /* [cap - n_prompt]: wall-clock time of each generated token (job 0, --json) */
    uint64_t session;
    int started, done;
    double t_start, t_first, t_last;
} job_t;

typedef struct {
    const tok_t *tok;
    job_t *jobs;
    int n_jobs;
    int stream;             /* print pieces of job 0 as they come */
    FILE *token_log;        /* --token-log: "index unix_ms id" per token of job 0 */
} jobs_t;

static double unix_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_token(void *user, uint64_t session, int32_t id, int final)
{
    jobs_t *js = user;
    for (int i = 0; i < js->n_jobs; i++) {
        job_t *j = &js->jobs[i];
        if (!j->started || j->done || j->session != session)
            continue;
        double now = clock_now();
        if (j->n_gen == 0)
            j->t_first = now;
        j->t_last = now;
        if (j->unix_ms && j->n_prompt + j->n_gen < j->cap)
            j->unix_ms[j->n_gen] = unix_ms_now();
        if (js->token_log && i == 0) {
            fprintf(js->token_log, "%zu %.1f %d\n", j->n_gen, unix_ms_now(), (int)id);
            fflush(js->token_log);
        }
        if (j->n_prompt + j->n_gen < j->cap)
            j->ids[j->n_prompt + j->n_gen++] = id;
        cli_text_add(&j->text, js->tok, id, js->stream && i == 0);   /* out of memory: the text is short */
        j->done = final;
        return;
    }
}

/* Reads one prompt per non-empty line. */
static char **read_prompt_lines(const char *path, int *n)
{
    size_t len;
    char *all = cli_read_file(path, &len);
    if (!all)
        return NULL;
    int cap = 16;
    char **lines = malloc((size_t)cap * sizeof *lines);
    *n = 0;
    for (char *save = NULL, *line = strtok_r(all, "\n", &save); lines && line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        if (*n == cap) {
            char **bigger = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
            if (!bigger)
                break;
            lines = bigger;
        }
        lines[(*n)++] = strdup(line);
    }
    free(all);
    return lines;
}

/* The live ring's record of a run, added to obj: "epochs" (when, why, stages,
 * sessions, replayed tokens, KV moved), "losses", "stale" and, for job 0,
 * "token_unix_ms" (the wall-clock time of each generated token). */
static void add_live_ring(cJSON *obj, const coord_t *c, const job_t *j0)
{
    cJSON *epochs = cJSON_AddArrayToObject(obj, "epochs");
    for (int e = 0; epochs && e < coord_n_epochs(c); e++) {
        const coord_epoch_info_t *ep = coord_epoch_info(c, e);
        cJSON *o = cJSON_CreateObject(), *stages = cJSON_AddArrayToObject(o, "stages");
        cJSON_AddItemToArray(epochs, o);
        cJSON_AddNumberToObject(o, "epoch", ep->epoch);
        jdoc_add_number(o, "at_s", ep->at_s);
        jdoc_add_number(o, "at_unix_ms", ep->at_unix_ms);
        cJSON_AddNumberToObject(o, "at_tokens", (double)ep->at_tokens);
        jdoc_add_text(o, "why", ep->why, strlen(ep->why));
        for (int s = 0; stages && s < ep->n_stages; s++) {
            cJSON *st = cJSON_CreateObject();
            cJSON_AddItemToArray(stages, st);
            const char *name = coord_worker_name(c, ep->stages[s].worker);
            jdoc_add_text(st, "worker", name, strlen(name));
            const int32_t units[2] = {ep->stages[s].begin, ep->stages[s].end};
            cJSON_AddItemToObject(st, "units", jdoc_i32_array(units, 2));
        }
        cJSON_AddNumberToObject(o, "sessions", ep->sessions);
        cJSON_AddNumberToObject(o, "replayed_tokens", (double)ep->replayed_tokens);
        cJSON_AddBoolToObject(o, "kv_moved", ep->kv_moved);
        cJSON_AddNumberToObject(o, "kv_bytes", (double)ep->kv_bytes);
        jdoc_add_number(o, "switch_ms", ep->switch_ms);
        jdoc_add_number(o, "prepare_ms", ep->prepare_ms);
    }
    cJSON_AddNumberToObject(obj, "losses", coord_n_losses(c));
    cJSON_AddNumberToObject(obj, "stale", (double)coord_stale(c));
    cJSON *times = cJSON_AddArrayToObject(obj, "token_unix_ms");
    for (size_t i = 0; times && j0 && j0->unix_ms && i < j0->n_gen; i++)
        cJSON_AddItemToArray(times, jdoc_number(j0->unix_ms[i]));
}

static int ring_generate(coord_t *c, const cli_opts_t *o)
{
    const tok_t *tok = coord_tok(c);
    const model_t *m = coord_model(c);
    int n_prompts = 1, rc = 1;
    char **texts = NULL;
    if (o->prompts) {
        if (!(texts = read_prompt_lines(o->prompts, &n_prompts)) || n_prompts == 0) {
            fprintf(stderr, "error: no prompts in '%s'\n", o->prompts);
            free(texts);
            return 1;
        }
    }
    jobs_t js = {.tok = tok, .n_jobs = n_prompts, .stream = !o->json && !o->prompts};
    js.jobs = calloc((size_t)n_prompts, sizeof *js.jobs);
    /* --dump-logits: the final logits of every sequence, in prompt order */
    float *final_logits = o->dump_logits ? calloc((size_t)n_prompts * m->hp.n_vocab, sizeof(float)) : NULL;
    if (!js.jobs || (o->dump_logits && !final_logits))
        goto done;
    if (o->token_log && !(js.token_log = fopen(o->token_log, "w"))) {
        fprintf(stderr, "error: cannot write the token log '%s'\n", o->token_log);
        goto done;
    }
    for (int i = 0; i < n_prompts; i++) {
        job_t *j = &js.jobs[i];
        const char *text = texts ? texts[i] : o->prompt;
        size_t len = text ? strlen(text) : 0;
        char *file_text = NULL;
        if (!texts && o->file) {
            if (!(file_text = cli_read_file(o->file, &len)))
                goto done;
            text = file_text;
        }
        if (!text) {
            fprintf(stderr, "error: give the prompt with -p TEXT, -f FILE or --prompts FILE\n");
            goto done;
        }
        int32_t *ids = cli_text_ids(tok, text, len, tok_add_bos(tok), 1, &j->n_prompt);
        free(file_text);
        if (!ids)
            goto done;
        j->cap = j->n_prompt + (size_t)o->n_predict;
        j->ids = realloc(ids, j->cap * sizeof *ids);
        if (!j->ids || (i == 0 && o->json && !(j->unix_ms = calloc((size_t)o->n_predict + 1, sizeof(double))))) {
            fprintf(stderr, "error: out of memory\n");
            goto done;
        }
    }
    if (js.stream && o->prompt)
        fputs(o->prompt, stdout);
    err_t err;
    err_clear(&err);
    int finished = 0, next = 0;
    while (finished < n_prompts && !stop_requested) {
        while (next < n_prompts && coord_sessions_free(c) > 0) {
            job_t *j = &js.jobs[next];
            if (o->n_predict == 0) {
                j->started = j->done = 1;
                next++;
                continue;
            }
            j->t_start = clock_now();
            if (coord_session_start(c, j->ids, j->n_prompt, o->n_predict, &o->samp, o->dump_logits != NULL,
                                    on_token, &js, &j->session, &err)) {
                fprintf(stderr, "\nerror: %s\n", err.msg);
                goto done;
            }
            j->started = 1;
            next++;
        }
        if (coord_poll(c, 100, &err)) {
            fprintf(stderr, "\nerror: %s\n", err.msg);
            goto done;
        }
        finished = 0;
        for (int i = 0; i < n_prompts; i++) {
            job_t *j = &js.jobs[i];
            if (j->started && j->done) {
                if (coord_session_done(c, j->session) && j->session) {
                    if (o->dump_logits) {
                        const float *lg = coord_session_logits(c, j->session);
                        if (!lg) {
                            coord_poll(c, 1000, &err);   /* the logits travel beside the final token */
                            lg = coord_session_logits(c, j->session);
                        }
                        if (!lg) {
                            fprintf(stderr, "error: the final logits of sequence %d did not arrive\n", i);
                            goto done;
                        }
                        memcpy(final_logits + (size_t)i * m->hp.n_vocab, lg, m->hp.n_vocab * sizeof(float));
                    }
                    coord_session_release(c, j->session);
                    j->session = 0;
                }
                finished++;
            }
        }
    }
    if (stop_requested) {
        fprintf(stderr, "\ninterrupted\n");
        goto done;
    }
    if (o->dump_logits && cli_write_floats(o->dump_logits, final_logits, (size_t)n_prompts * m->hp.n_vocab))
        goto done;
    if (o->verbose) {
        for (double until = clock_now() + 0.4; clock_now() < until;)   /* the last step times */
            coord_poll(c, 50, &err);
        for (int s = 0; s < coord_n_stages(c); s++) {
            coord_stage_info_t si;
            coord_stage_info(c, s, &si);
            fprintf(stderr,
                    "stage %d (%s, units %d-%d): %llu decode steps of %.1f rows, %.3f ms compute, %.3f ms send "
                    "per token\n", s, si.name, si.unit_begin, si.unit_end, (unsigned long long)si.steps, si.rows,
                    si.compute_ms, si.send_ms);
        }
    }
    double t0 = 0, t1 = 0;
    size_t total_gen = 0;
    cJSON *all = o->json && o->prompts ? cJSON_CreateObject() : NULL, *results = cJSON_AddArrayToObject(all, "results");
    for (int i = 0; i < n_prompts; i++) {
        job_t *j = &js.jobs[i];
        if (i == 0 || j->t_start < t0)
            t0 = j->t_start;
        if (j->t_last > t1)
            t1 = j->t_last;
        total_gen += j->n_gen;
        double pp = j->t_first > j->t_start ? (double)j->n_prompt / (j->t_first - j->t_start) : 0.0;
        double tg = j->n_gen > 1 && j->t_last > j->t_first ? (double)(j->n_gen - 1) / (j->t_last - j->t_first) : 0.0;
        if (o->json && o->prompts) {
            cJSON_AddItemToArray(results, cli_json_result_obj(j->ids, j->n_prompt, j->ids + j->n_prompt, j->n_gen,
                                                              j->text.s, j->text.len, pp, tg));
        } else if (o->json) {   /* one result: the live ring's record goes inside it */
            cJSON *r = cli_json_result_obj(j->ids, j->n_prompt, j->ids + j->n_prompt, j->n_gen, j->text.s, j->text.len,
                                           pp, tg);
            if (r)
                add_live_ring(r, c, j);
            if (!r || jdoc_write(stdout, r))
                fprintf(stderr, "error: out of memory\n");
            cJSON_Delete(r);
        } else if (o->prompts) {
            printf("--- prompt %d: %s\n%.*s\n", i + 1, texts[i], (int)j->text.len, j->text.s ? j->text.s : "");
        } else {
            fputc('\n', stdout);
            fflush(stdout);
            fprintf(stderr, "prompt: %zu tokens, %.2f tokens/s | generation: %zu tokens, %.2f tokens/s | %d workers\n",
                    j->n_prompt, pp, j->n_gen, tg, coord_n_workers(c));
        }
    }
    if (o->prompts) {   /* all sequences together: generated tokens over the wall time they took */
        double agg = t1 > t0 ? (double)total_gen / (t1 - t0) : 0.0;
        if (o->json) {
            cJSON_AddNumberToObject(all, "sequences", n_prompts);
            cJSON_AddNumberToObject(all, "gen_tokens", (double)total_gen);
            jdoc_add_number(all, "seconds", t1 - t0);
            jdoc_add_number(all, "gen_tokens_per_s", agg);
            add_live_ring(all, c, &js.jobs[0]);
            jdoc_write(stdout, all);
        } else
            fprintf(stderr, "%d sequences: %zu tokens generated in %.3f s: %.2f tokens/s\n", n_prompts, total_gen,
                    t1 - t0, agg);
    }
    cJSON_Delete(all);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    for (int i = 0; js.jobs && i < n_prompts; i++) {
        free(js.jobs[i].ids);
        free(js.jobs[i].text.s);
        free(js.jobs[i].unix_ms);
    }
    free(js.jobs);
    if (js.token_log)
        fclose(js.token_log);
    free(final_logits);
    for (int i = 0; texts && i < n_prompts; i++)
        free(texts[i]);
    free(texts);
    return rc;
}

/* --replicas, or by default the balancer's boundary-only reach when it runs (none without it). */
static int cli_replica_units(const cli_opts_t *o)
{
    if (o->replicas >= 0)
        return o->replicas;
    if (o->balance && strcmp(o->balance, "on"))
        return 0;
    coord_balance_opts_t bo;
    coord_balance_opts_default(&bo);
    return bo.replica_units;
}

static int make_coordinator(const cli_opts_t *o, const char *bind, const cli_sec_t *sec, coord_t **c, err_t *err)
{
    coord_opts_t co;
    coord_opts_default(&co);
    co.bind = bind;
    co.model_path = o->model;
    co.n_ctx = o->ctx;
    co.n_seq = o->n_seq;
    co.threads = o->threads;
    co.act_f16 = o->act_f16;
    co.heartbeat_ms = o->heartbeat_ms;
    co.liveness_ms = o->liveness_ms;
    co.recover = !o->no_recover;
    co.objective = o->objective && !strcmp(o->objective, "throughput");
    co.verbose = o->verbose;
    co.switch_every = o->switch_every;
    co.kv_move = !o->kv_move || strcmp(o->kv_move, "off");
    co.prepare = !o->prepare || strcmp(o->prepare, "off");
    co.replica_units = cli_replica_units(o);
    co.switch_seed = (uint64_t)o->switch_seed;
    co.switch_to = o->switch_to;
    if (sec->on) {
        co.curve = &sec->kp;
        co.allow = sec->allow;
    }
    return coord_create(&co, c, err);
}

/* Hand-written ranges (--ranges): worker i gets range i. */
static int deploy_ranges(coord_t *c, const cli_opts_t *o, int n, err_t *err)
{
    unit_range_t ranges[COORD_MAX_WORKERS];
    int rc = split_parse(o->ranges, coord_seg(c)->n_units, n, ranges, err);
    if (rc == 0 && o->verbose)
        for (int i = 0; i < n; i++)
            fprintf(stderr, "worker %s: units %d-%d\n", coord_worker_name(c, i), ranges[i].begin, ranges[i].end);
    return rc ? rc : coord_deploy(c, ranges, n, 60000, err);
}

/* Profiles the workers, then deploys the even split (--plan even) or the
 * optimal plan for the objective; *problem and *plan describe what was deployed. */
static int deploy_planned(coord_t *c, const cli_opts_t *o, plan_problem_t *problem, plan_t *plan, err_t *err)
{
    plan_objective_t objective;
    if (!strcmp(o->objective, "latency"))
        objective = PLAN_LATENCY;
    else if (!strcmp(o->objective, "throughput"))
        objective = PLAN_THROUGHPUT;
    else
        return err_set(err, ERR_INVAL, "--objective '%s': latency or throughput", o->objective);
    int even = !strcmp(o->plan, "even");
    if (strcmp(o->balance, "on") && strcmp(o->balance, "off"))
        return err_set(err, ERR_INVAL, "--balance '%s': on or off", o->balance);
    if (o->prepare && strcmp(o->prepare, "on") && strcmp(o->prepare, "off"))
        return err_set(err, ERR_INVAL, "--prepare '%s': on or off", o->prepare);
    if (!even && strcmp(o->plan, "optimal"))
        return err_set(err, ERR_INVAL, "--plan '%s': optimal or even", o->plan);
    if (strcmp(o->solver, "dp") && strcmp(o->solver, "milp"))
        return err_set(err, ERR_INVAL, "--solver '%s': dp or milp", o->solver);
    if (o->verbose)
        fprintf(stderr, "profiling %d workers (%d rounds)...\n", coord_n_workers(c), o->profile_rounds);
    /* Unit times per token of a step of the rows a stage batches: the sequences in flight
     * (--seq, with --prompts; one prompt is one sequence) spread over the stages of the
     * pipeline, so each of s stages sees about --seq / s of them per step; profiled for
     * every stage count, and each count planned with its own. */
    const int batched = objective == PLAN_THROUGHPUT && o->prompts && o->n_seq > 1;
    int batches[COORD_PROFILE_MAX_BATCHES] = {1}, n_batches = 1;
    if (batched)
        n_batches = coord_profile_batches(o->n_seq, coord_n_workers(c), batches);
    const int default_batch = batched ? coord_rows_per_stage(o->n_seq, coord_n_workers(c)) : 1;
    int rc = coord_profile(c, o->profile_rounds, batches, n_batches, default_batch, 64 << 10, 300000, err);
    if (rc)
        return rc;
    if (o->verbose) {
        fprintf(stderr, "profiled unit times at");
        for (int k = 0; k < n_batches; k++)
            fprintf(stderr, "%s %d", k ? "," : "", batches[k]);
        fprintf(stderr, " rows per step\n");
    }
    coord_stage_t st[COORD_MAX_WORKERS];
    int n = 0;
    if (even) {
        if ((rc = coord_even_stages(c, st, &n, err)) ||
            (rc = coord_problem_at(c, objective, 0, batched ? coord_rows_per_stage(o->n_seq, n) : 1, problem, err)))
            return rc;
        plan->n_stages = n;
        for (int s = 0; s < n; s++)
            plan->stage[s] = (plan_stage_t){.device = st[s].worker, .start = st[s].begin, .end = st[s].end};
        if ((rc = plan_eval(problem, plan, &plan->objective, NULL, err)))
            return err_prefix(err, "the even split does not fit");
    } else if (batched && !strcmp(o->solver, "dp")) {
        if ((rc = coord_plan_batched(c, 0, o->n_seq, problem, plan, err)))
            return rc;
        n = coord_plan_stages(plan, st);
    } else {   /* the MILP takes one problem: the times at the rows of a stage of every worker */
        plan_milp_opts_t mo = {.time_limit_ms = 60000};
        if ((rc = coord_problem(c, objective, 0, problem, err)))
            return rc;
        rc = !strcmp(o->solver, "milp") ? plan_solve_milp(problem, &mo, plan, err) : plan_solve_dp(problem, plan, err);
        if (rc)
            return rc;
        n = coord_plan_stages(plan, st);
    }
    if (o->verbose) {
        fprintf(stderr, "%s plan (%s objective):\n", even ? "even" : "optimal", o->objective);
        coord_print_plan(stderr, c, problem, plan, 0);
    }
    if ((rc = coord_deploy_stages(c, st, n, 60000, err)))
        return rc;
    if (!strcmp(o->balance, "on")) {
        coord_balance_opts_t bo;
        coord_balance_opts_default(&bo);
        bo.threshold = o->balance_threshold;
        bo.window_ms = o->balance_window_ms;
        bo.min_gain = o->balance_gain;
        if (cli_replica_units(o) > 0)
            bo.replica_units = cli_replica_units(o);   /* boundary-only moves land on the warm replicas */
        if ((rc = coord_balance_start(c, problem, plan, &bo, err)))
            return err_prefix(err, "balancer");
    }
    return 0;
}

static int check_children(void *user, err_t *err)
{
    cli_ring_t *r = user;
    if (r->stop && *r->stop)
        return err_set(err, ERR_STATE, "interrupted");
    return spawn_check(&r->kids, err);
}

/* Starts o->local workers on loopback as child processes of this one. */
static int spawn_local(const cli_opts_t *o, cli_ring_t *r, err_t *err)
{
    int rc = 0;
    char threads[16], chunk[16], name[32], slow[48], mem[32], lat[32], bw[32], hb[16];
    snprintf(hb, sizeof hb, "%d", o->heartbeat_ms);
    char coord_z85[SEC_Z85_LEN + 1], keydir[512];
    sec_key_to_z85(r->sec.kp.pub, coord_z85);
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(chunk, sizeof chunk, "%d", o->chunk);
    snprintf(lat, sizeof lat, "%g", o->link_latency_ms);
    snprintf(bw, sizeof bw, "%g", o->link_mbit);
    for (int i = 0; rc == 0 && i < o->local; i++) {
        double slowdown = 1.0, mem_mb = 0.0;
        if (cli_list_value("--slowdown", o->slowdown, i, 1.0, 1000.0, &slowdown) < 0 ||
            cli_list_value("--mem-limit", o->mem_limit, i, 1.0, 1e9, &mem_mb) < 0)
            return err_set(err, ERR_INVAL, "bad --slowdown or --mem-limit");
        snprintf(name, sizeof name, "local-%d", i);
        int step = cli_slowdown_step(o->slowdown);
        if (step < 0)
            return err_set(err, ERR_INVAL, "bad --slowdown");
        snprintf(slow, sizeof slow, step ? "%g@%d" : "%g", slowdown, step);
        snprintf(mem, sizeof mem, "%g", mem_mb);
        char *args[40] = {"lingua", "worker", "--coordinator", (char *)coord_endpoint(r->c), "--listen",
                          "tcp://127.0.0.1:*", "-m", (char *)o->model, "-t", threads, "--chunk", chunk, "--name", name,
                          "--isa", (char *)kern_isa_name(o->isa == KERN_ISA_AUTO ? kern_isa_best() : o->isa),
                          "--slowdown", slow, "--heartbeat", hb};
        int n = 20;
        if (mem_mb > 0) {
            args[n++] = "--mem-limit";
            args[n++] = mem;
        }
        if (o->link_latency_ms > 0) {
            args[n++] = "--link-latency";
            args[n++] = lat;
        }
        if (o->link_mbit > 0) {
            args[n++] = "--link-bandwidth";
            args[n++] = bw;
        }
        if (r->sec.on) {
            cli_sec_local_dir(&r->sec, i, keydir, sizeof keydir);
            args[n++] = "--secure";
            args[n++] = "--keys";
            args[n++] = keydir;
            args[n++] = "--coordinator-key";
            args[n++] = coord_z85;
        }
        args[n] = NULL;
        rc = spawn_start(&r->kids, args, err);
    }
    return rc;
}

int cli_ring_up(const cli_opts_t *o, const char *bind, cli_ring_t *r, volatile sig_atomic_t *stop, err_t *err)
{
    memset(r, 0, sizeof *r);
    spawn_init(&r->kids);
    r->stop = stop;
    int n = o->local > 0 ? o->local : o->workers;
    r->n_local = o->local > 0 ? o->local : 0;
    int rc = 0;
    if (o->local > 0) {   /* a local ring: throwaway keys with --secure, else plaintext on loopback */
        if (o->secure && cli_sec_local(&r->sec, o->local))
            return err_set(err, ERR_STATE, "cannot make the local ring's keys");
    } else if (cli_sec_setup(o, 0, bind, &r->sec)) {
        return err_set(err, ERR_INVAL, "security setup failed");
    }
    rc = make_coordinator(o, bind, &r->sec, &r->c, err);
    if (rc == 0 && o->local > 0) {
        rc = spawn_local(o, r, err);
    } else if (rc == 0) {
        char z85[SEC_Z85_LEN + 1];
        sec_key_to_z85(r->sec.kp.pub, z85);
        fprintf(stderr, "coordinator: listening on %s%s%s%s, waiting for %d workers\n", coord_endpoint(r->c),
                r->sec.on ? " (CURVE; its key: " : "", r->sec.on ? z85 : "", r->sec.on ? ")" : "", n);
        const char *colon = strrchr(coord_endpoint(r->c), ':');
        if (o->discover && (rc = disc_beacon_start((uint16_t)o->beacon_port, (uint16_t)atoi(colon ? colon + 1 : "0"),
                                                   r->sec.on ? r->sec.kp.pub : NULL, &r->beacon, err)) == 0)
            fprintf(stderr, "coordinator: announcing itself on UDP port %d\n", o->beacon_port);
    }
    if (rc == 0)
        rc = coord_wait_workers(r->c, n, o->local > 0 ? 60000 : 300000, check_children, r, err);
    if (rc == 0) {
        r->planned = !o->ranges;
        rc = o->ranges ? deploy_ranges(r->c, o, n, err) : deploy_planned(r->c, o, &r->problem, &r->plan, err);
    }
    return rc;
}

void cli_ring_down(cli_ring_t *r)
{
    if (r->c)
        coord_shutdown(r->c);
    spawn_stop_all(&r->kids, 3000);
    coord_destroy(&r->c);
    plan_problem_fini(&r->problem);
    disc_beacon_stop(&r->beacon);
    cli_sec_fini(&r->sec, r->n_local);
}

/* run and coordinator: a ring, the prompts, and the plan's predictions against the measurements. */
static int ring_main(const cli_opts_t *o, const char *bind)
{
    catch_signals();
    err_t err;
    err_clear(&err);
    cli_ring_t r;
    int rc = cli_ring_up(o, bind, &r, &stop_requested, &err);
    if (rc == 0 && ring_generate(r.c, o))
        rc = err_set(&err, ERR_STATE, "generation failed");
    if (rc == 0 && o->verbose && r.planned && coord_n_epochs(r.c) == 1) {
        fprintf(stderr, "predicted vs measured:\n");
        coord_print_plan(stderr, r.c, &r.problem, &r.plan, 1);
    }
    cli_ring_down(&r);
    if (rc && err.msg[0])
        fprintf(stderr, "error: %s\n", err.msg);
    return rc ? 1 : 0;
}

int cli_run(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_PROMPT | CLI_OPT_GEN | CLI_OPT_THREADS |
                       CLI_OPT_SAMPLING | CLI_OPT_JSON | CLI_OPT_RING | CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    if (!o.model || o.local < 1) {
        fprintf(stderr, "error: run needs -m MODEL and --local N (workers to start on this machine)\n");
        return 2;
    }
    return ring_main(&o, "tcp://127.0.0.1:*");
}

int cli_coordinator(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_MODEL | CLI_OPT_PROMPT | CLI_OPT_GEN | CLI_OPT_THREADS |
                       CLI_OPT_SAMPLING | CLI_OPT_JSON | CLI_OPT_RING | CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    if (!o.model || !o.bind || o.workers < 1) {
        fprintf(stderr, "error: coordinator needs -m MODEL, --bind tcp://ADDR:PORT and --workers N\n");
        return 2;
    }
    o.local = 0;
    return ring_main(&o, o.bind);
}
