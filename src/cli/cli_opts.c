/*
 * cli_opts.c — the option parser shared by the `lingua` subcommands (see cli.h).
 * Every numeric value is parsed in full and range-checked; a bad or unknown
 * option is reported by name and the command exits with status 2.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/synth_mix.h"
#include "tensor/types.h"

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "error: %s expects an integer in %ld..%ld, got '%s'\n", opt, min, max, s);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, long min, long max, int *out)
{
    long v;
    int rc = parse_long(opt, s, min, max, &v);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
    long v;
    int rc = parse_long(opt, s, 1, 1L << 24, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int parse_float(const char *opt, const char *s, double min, double max, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "error: %s expects a number in %g..%g, got '%s'\n", opt, min, max, s);
        return 2;
    }
    *out = (float)v;
    return 0;
}

static void set_defaults(cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->threads = 1;
    o->last = 1;
    o->isa = KERN_ISA_AUTO;
    o->chunk = 64;
    o->n_seq = 8;
    o->plan = "optimal";
    o->objective = "latency";
    o->solver = "dp";
    o->profile_rounds = 7;
    o->host = "127.0.0.1";
    o->port = 8080;
    o->queue = 64;
    o->url = "http://127.0.0.1:8080";
    o->beacon_port = 5670;   /* DISC_PORT */
    o->heartbeat_ms = 500;
    o->liveness_ms = 10000;
    o->switch_seed = 1;
    o->balance = "on";
    o->balance_threshold = 0.25f;
    o->balance_window_ms = 500;
    o->balance_gain = 0.10f;
    o->replicas = -1;
    samp_params_default(&o->samp);
    o->samp.seed = (uint64_t)time(NULL);
    synth_params_default(&o->synth);
}

int cli_parse(int argc, char **argv, int first, unsigned accepted, cli_opts_t *o)
{
    set_defaults(o);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        /* Flags without a value. */
        if (strcmp(a, "--json") == 0 && (accepted & CLI_OPT_JSON)) { o->json = 1; continue; }
        if (strcmp(a, "--no-bos") == 0 && (accepted & CLI_OPT_TOKENIZE)) { o->no_bos = 1; continue; }
        if (strcmp(a, "--no-special") == 0 && (accepted & CLI_OPT_TOKENIZE)) { o->no_special = 1; continue; }
        if (strcmp(a, "--act-f16") == 0 && (accepted & CLI_OPT_RING)) { o->act_f16 = 1; continue; }
        if (strcmp(a, "-v") == 0 && (accepted & CLI_OPT_RING)) { o->verbose = 1; continue; }
        if (strcmp(a, "--secure") == 0 && (accepted & CLI_OPT_SECURE)) { o->secure = 1; continue; }
        if (strcmp(a, "--insecure") == 0 && (accepted & CLI_OPT_SECURE)) { o->insecure = 1; continue; }
        if (strcmp(a, "--discover") == 0 && (accepted & CLI_OPT_RING)) { o->discover = 1; continue; }
        if (strcmp(a, "--no-recover") == 0 && (accepted & CLI_OPT_RING)) { o->no_recover = 1; continue; }

        if (i + 1 >= argc) {
            fprintf(stderr, "error: option '%s' is unknown here or needs a value (see 'lingua help')\n", a);
            return 2;
        }
        const char *v = argv[i + 1];
        int rc = -1;
        uint32_t type;
        if (accepted & CLI_OPT_MODEL) {
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) { o->model = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_PROMPT)) {
            if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { o->prompt = v; rc = 0; }
            else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { o->file = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_THREADS)) {
            if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = parse_int(a, v, 1, 256, &o->threads);
            else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) rc = parse_int(a, v, 1, 1 << 20, &o->ctx);
            else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) rc = parse_int(a, v, 1, 1 << 16, &o->batch);
            else if (!strcmp(a, "--isa")) {
                rc = kern_isa_parse(v, &o->isa) == 0 ? 0 : 2;
                if (rc)
                    fprintf(stderr, "error: --isa expects auto, scalar, avx2, avx512 or neon, got '%s'\n", v);
            }
        }
        if (rc < 0 && (accepted & CLI_OPT_GEN)) {
            if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) rc = parse_int(a, v, 0, 1 << 20, &o->n_predict);
            else if (!strcmp(a, "--dump-logits")) { o->dump_logits = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_SAMPLING)) {
            if (!strcmp(a, "--temp")) rc = parse_float(a, v, 0.0, 100.0, &o->samp.temp);
            else if (!strcmp(a, "--top-k")) rc = parse_int(a, v, 0, INT_MAX, &o->samp.top_k);
            else if (!strcmp(a, "--top-p")) rc = parse_float(a, v, 0.0, 1.0, &o->samp.top_p);
            else if (!strcmp(a, "--min-p")) rc = parse_float(a, v, 0.0, 1.0, &o->samp.min_p);
            else if (!strcmp(a, "--repeat-penalty")) rc = parse_float(a, v, 0.0, 100.0, &o->samp.repeat_penalty);
            else if (!strcmp(a, "--repeat-last-n")) rc = parse_int(a, v, 0, 1 << 20, &o->samp.repeat_last_n);
            else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
                long s = 0;
                rc = parse_long(a, v, 0, LONG_MAX, &s);
                o->samp.seed = (uint64_t)s;
                o->seed_given = 1;
            }
        }
        if (rc < 0 && (accepted & CLI_OPT_LOGITS)) {
            if (!strcmp(a, "--tokens")) { o->tokens = v; rc = 0; }
            else if (!strcmp(a, "--last")) rc = parse_int(a, v, 1, 1 << 16, &o->last);
        }
        if (rc < 0 && (accepted & CLI_OPT_RING)) {
            if (!strcmp(a, "--local")) rc = parse_int(a, v, 1, 64, &o->local);
            else if (!strcmp(a, "--workers")) rc = parse_int(a, v, 1, 64, &o->workers);
            else if (!strcmp(a, "--chunk")) rc = parse_int(a, v, 1, 4096, &o->chunk);
            else if (!strcmp(a, "--seq")) rc = parse_int(a, v, 1, 4096, &o->n_seq);
            else if (!strcmp(a, "--ranges")) { o->ranges = v; rc = 0; }
            else if (!strcmp(a, "--prompts")) { o->prompts = v; rc = 0; }
            else if (!strcmp(a, "--coordinator")) { o->coordinator = v; rc = 0; }
            else if (!strcmp(a, "--listen")) { o->listen = v; rc = 0; }
            else if (!strcmp(a, "--bind")) { o->bind = v; rc = 0; }
            else if (!strcmp(a, "--name")) { o->name = v; rc = 0; }
            else if (!strcmp(a, "--slowdown")) { o->slowdown = v; rc = 0; }
            else if (!strcmp(a, "--plan")) { o->plan = v; rc = 0; }
            else if (!strcmp(a, "--objective")) { o->objective = v; rc = 0; }
            else if (!strcmp(a, "--solver")) { o->solver = v; rc = 0; }
            else if (!strcmp(a, "--profile-rounds")) rc = parse_int(a, v, 1, 1000, &o->profile_rounds);
            else if (!strcmp(a, "--mem-limit")) { o->mem_limit = v; rc = 0; }
            else if (!strcmp(a, "--heartbeat")) rc = parse_int(a, v, 10, 60000, &o->heartbeat_ms);
            else if (!strcmp(a, "--liveness")) rc = parse_int(a, v, 50, 3600000, &o->liveness_ms);
            else if (!strcmp(a, "--balance")) { o->balance = v; rc = 0; }
            else if (!strcmp(a, "--balance-threshold")) rc = parse_float(a, v, 0.0, 100.0, &o->balance_threshold);
            else if (!strcmp(a, "--balance-window")) rc = parse_int(a, v, 0, 3600000, &o->balance_window_ms);
            else if (!strcmp(a, "--balance-gain")) rc = parse_float(a, v, 0.0, 1.0, &o->balance_gain);
            else if (!strcmp(a, "--switch-to")) { o->switch_to = v; rc = 0; }
            else if (!strcmp(a, "--kv-move")) { o->kv_move = v; rc = 0; }
            else if (!strcmp(a, "--prepare")) { o->prepare = v; rc = 0; }
            else if (!strcmp(a, "--replicas")) rc = parse_int(a, v, 0, 64, &o->replicas);
            else if (!strcmp(a, "--token-log")) { o->token_log = v; rc = 0; }
            else if (!strcmp(a, "--switch-every")) rc = parse_int(a, v, 1, 1 << 20, &o->switch_every);
            else if (!strcmp(a, "--switch-seed")) rc = parse_long(a, v, 0, LONG_MAX, &o->switch_seed);
            else if (!strcmp(a, "--link-latency")) rc = parse_float(a, v, 0.0, 60000.0, &o->link_latency_ms);
            else if (!strcmp(a, "--link-bandwidth")) rc = parse_float(a, v, 0.001, 1e6, &o->link_mbit);
            else if (!strcmp(a, "--cache")) { o->cache = v; rc = 0; }
            else if (!strcmp(a, "--beacon-port")) rc = parse_int(a, v, 1, 65535, &o->beacon_port);
            else if (!strcmp(a, "--cache-max")) rc = parse_float(a, v, 1.0, 1e9, &o->cache_max_mb);
        }
        if (rc < 0 && (accepted & CLI_OPT_SECURE)) {
            if (!strcmp(a, "--keys")) { o->keys = v; rc = 0; }
            else if (!strcmp(a, "--allow")) { o->allow = v; rc = 0; }
            else if (!strcmp(a, "--coordinator-key")) { o->coord_key = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_SERVE)) {
            if (!strcmp(a, "--host")) { o->host = v; rc = 0; }
            else if (!strcmp(a, "--port")) rc = parse_int(a, v, 0, 65535, &o->port);
            else if (!strcmp(a, "--api-key")) { o->api_key = v; rc = 0; }
            else if (!strcmp(a, "--parallel")) rc = parse_int(a, v, 1, 4096, &o->n_seq);
            else if (!strcmp(a, "--chat-template")) { o->chat_template = v; rc = 0; }
            else if (!strcmp(a, "--queue")) rc = parse_int(a, v, 1, 1 << 16, &o->queue);
            else if (!strcmp(a, "--url")) { o->url = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_OUT)) {
            if (!strcmp(a, "-o") || !strcmp(a, "--output")) { o->out = v; rc = 0; }
        }
        if (rc < 0 && (accepted & CLI_OPT_SYNTH)) {
            synth_params_t *s = &o->synth;
            if (!strcmp(a, "--dim")) rc = parse_u32(a, v, &s->dim);
            else if (!strcmp(a, "--layers")) rc = parse_u32(a, v, &s->layers);
            else if (!strcmp(a, "--heads")) rc = parse_u32(a, v, &s->heads);
            else if (!strcmp(a, "--kv-heads")) rc = parse_u32(a, v, &s->kv_heads);
            else if (!strcmp(a, "--ffn")) rc = parse_u32(a, v, &s->ffn);
            else if (!strcmp(a, "--vocab")) rc = parse_u32(a, v, &s->vocab);
            else if (!strcmp(a, "--ctx")) rc = parse_u32(a, v, &s->ctx);
            else if (!strcmp(a, "--arch")) {
                rc = synth_arch_parse(v, &s->arch) == 0 ? 0 : 2;
                if (rc)
                    fprintf(stderr, "error: --arch expects llama, qwen2 or bloom, got '%s'\n", v);
            }
            else if (!strcmp(a, "--seed")) {
                long sd = 0;
                rc = parse_long(a, v, 0, LONG_MAX, &sd);
                s->seed = (uint64_t)sd;
            } else if (!strcmp(a, "--type")) {
                rc = synth_type_parse(v, &type) == 0 ? 0 : 2;
                if (rc)
                    fprintf(stderr, "error: --type expects one of %s; got '%s'\n", synth_type_names(), v);
                else
                    s->type = type;
            }
        }
        if (rc < 0) {
            fprintf(stderr, "error: option '%s' is not accepted by this command (see 'lingua help')\n", a);
            return 2;
        }
        if (rc)
            return rc;
        i++;
    }
    return 0;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "error: cannot read '%s'\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cli_write_floats(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "error: cannot create '%s': %s\n", path, strerror(errno));
        return 1;
    }
    int bad = fwrite(v, sizeof *v, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "error: writing '%s' failed\n", path);
    return bad;
}

int cli_list_value(const char *opt, const char *list, int i, double min, double max, double *out)
{
    if (!list)
        return 1;
    const char *p = list;
    for (int k = 0; k < i; k++) {
        const char *comma = strchr(p, ',');
        if (!comma)
            break;   /* fewer values than workers: the last one repeats */
        p = comma + 1;
    }
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno || end == p || (*end && *end != ',' && *end != '@') || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "error: %s expects numbers in %g..%g separated by commas, got '%s'\n", opt, min, max, list);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_slowdown_step(const char *list)
{
    const char *at = list ? strchr(list, '@') : NULL;
    if (!at)
        return 0;
    char *end;
    errno = 0;
    long step = strtol(at + 1, &end, 10);
    if (errno || end == at + 1 || *end || step < 0 || step > (1L << 30)) {
        fprintf(stderr, "error: --slowdown F@STEP expects a decode step number after '@', got '%s'\n", list);
        return -1;
    }
    return (int)step;
}
