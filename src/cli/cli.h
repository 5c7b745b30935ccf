/*
 * cli.h — the `lingua` command line: one option parser shared by every
 * subcommand (llama.cpp's spellings: -m, -p, -f, -n, -t, -c, -b, --temp,
 * --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed), and
 * the subcommand entry points.  Each subcommand returns its process exit
 * status; nothing below main() calls exit().
 */
#ifndef LL_CLI_CLI_H
#define LL_CLI_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "coord/coord.h"
#include "json/jdoc.h"
#include "coord/spawn.h"
#include "plan/plan.h"

#include "model/chat.h"
#include "model/samp.h"
#include "model/tok.h"
#include "model/synth.h"
#include "net/discovery.h"
#include "net/security.h"
#include "tensor/kern.h"

typedef struct {
    const char *model;       /* -m */
    const char *prompt;      /* -p */
    const char *file;        /* -f: prompt/text from a file */
    const char *tokens;      /* --tokens "ID ID ..." */
    const char *out;         /* -o */
    const char *dump_logits; /* --dump-logits FILE: the logits behind the last sampled token */
    int n_predict;           /* -n */
    int threads;             /* -t */
    int ctx;                 /* -c */
    int batch;               /* -b */
    int last;                /* --last */
    int json;                /* --json */
    int no_bos;              /* --no-bos */
    int no_special;          /* --no-special */
    int seed_given;
    kern_isa_t isa;          /* --isa auto|scalar|avx2|avx512|neon */
    samp_params_t samp;
    /* the ring (run, worker, coordinator) */
    int local;               /* --local N workers */
    const char *ranges;      /* --ranges A-B,C-D,... */
    const char *prompts;     /* --prompts FILE: one prompt per line, run concurrently */
    const char *coordinator; /* --coordinator tcp://HOST:PORT */
    const char *listen;      /* --listen tcp://ADDR:PORT */
    const char *bind;        /* --bind tcp://ADDR:PORT */
    const char *name;        /* --name DEVICE */
    int workers;             /* --workers N */
    int chunk;               /* --chunk T: prompt tokens per ring batch */
    int n_seq;               /* --seq N: sequences in flight */
    int act_f16;             /* --act-f16 */
    const char *slowdown;    /* --slowdown F (worker) or F,F,... one per local worker (run) */
    const char *mem_limit;   /* --mem-limit MB (worker) or MB,MB,... (run) */
    float link_latency_ms;   /* --link-latency MS */
    float link_mbit;         /* --link-bandwidth MBIT */
    const char *plan;        /* --plan optimal|even */
    const char *objective;   /* --objective latency|throughput */
    const char *solver;      /* --solver dp|milp */
    int profile_rounds;      /* --profile-rounds R */
    /* the live ring (coord/epoch.h, recovery.h) */
    int heartbeat_ms;        /* --heartbeat MS */
    int liveness_ms;         /* --liveness MS: a worker silent this long is lost */
    int switch_every;        /* --switch-every K: force an epoch switch to a random plan every K tokens (tests) */
    long switch_seed;        /* --switch-seed S */
    const char *switch_to;   /* --switch-to "RANGES;RANGES;...": the forced switches' plans, in turn */
    int no_recover;          /* --no-recover: a lost worker fails the run */
    const char *balance;     /* --balance on|off (default on) */
    float balance_threshold; /* --balance-threshold R */
    int balance_window_ms;   /* --balance-window MS */
    float balance_gain;      /* --balance-gain R */
    const char *kv_move;     /* --kv-move on|off: switches between live workers move KV rows (default on) */
    const char *prepare;     /* --prepare on|off: a switch waits until its new owners hold their weights (default on) */
    int replicas;            /* --replicas N: units kept warm beside each stage (-1: 2 with --balance on, else 0) */
    const char *token_log;   /* --token-log FILE: one line per accepted token of the first prompt, flushed */
    int verbose;             /* -v */
    /* the service (serve, status, chat) */
    const char *host;        /* --host ADDR */
    int port;                /* --port P */
    const char *api_key;     /* --api-key KEY */
    const char *chat_template; /* --chat-template NAME */
    int queue;               /* --queue N: requests waiting for a slot */
    const char *url;         /* --url http://HOST:PORT (status) */
    /* security (cli_secure.c) */
    int secure;              /* --secure */
    int insecure;            /* --insecure */
    const char *keys;        /* --keys DIR */
    const char *allow;       /* --allow FILE */
    const char *coord_key;   /* --coordinator-key KEY */
    const char *cache;       /* --cache DIR: where a worker without -m keeps shipped weights */
    float cache_max_mb;      /* --cache-max MB */
    int discover;            /* --discover: the coordinator broadcasts beacons (net/discovery.h) */
    int beacon_port;         /* --beacon-port N */
    synth_params_t synth;    /* lingua synth */
} cli_opts_t;

/* Which options a subcommand accepts (bit set); others are rejected by name. */
enum {
    CLI_OPT_MODEL = 1 << 0, CLI_OPT_PROMPT = 1 << 1, CLI_OPT_GEN = 1 << 2, CLI_OPT_THREADS = 1 << 3,
    CLI_OPT_SAMPLING = 1 << 4, CLI_OPT_JSON = 1 << 5, CLI_OPT_TOKENIZE = 1 << 6, CLI_OPT_LOGITS = 1 << 7,
    CLI_OPT_SYNTH = 1 << 8, CLI_OPT_OUT = 1 << 9, CLI_OPT_RING = 1 << 10, CLI_OPT_SERVE = 1 << 11,
    CLI_OPT_SECURE = 1 << 12,
};

/* Parses argv[first..argc) into opts (defaults first).  Returns 0, or prints a
 * message naming the offending option to stderr and returns 2. */
int cli_parse(int argc, char **argv, int first, unsigned accepted, cli_opts_t *opts);

/* The STEP of "F,F,...@STEP" (--slowdown): 0 when absent, -1 after printing why. */
int cli_slowdown_step(const char *list);

/* Value i of a comma-separated list (the last value repeats): 0, 1 when list is NULL, or -1 after printing why. */
int cli_list_value(const char *opt, const char *list, int i, double min, double max, double *out);

/* Writes n little-endian float32 values to path; returns 0, or 1 after printing why. */
int cli_write_floats(const char *path, const float *v, size_t n);

/* Tokenizes text; a heap array of *n_ids ids, or NULL after printing why. */
int32_t *cli_text_ids(const tok_t *tok, const char *text, size_t len, int add_bos, int special, size_t *n_ids);

/* The text of generated tokens, grown as they come. */
typedef struct {
    char *s;
    size_t len, cap;
} cli_text_t;

/* Appends the printable piece of token id to t and, when stream, writes it to
 * stdout at once.  Returns 0, or -1 when out of memory.  Free t->s when done. */
int cli_text_add(cli_text_t *t, const tok_t *tok, int32_t id, int stream);

/* The result object of generate --json and run --json (caller frees with cJSON_Delete; NULL: out of memory). */
cJSON *cli_json_result_obj(const int32_t *prompt, size_t n_prompt, const int32_t *gen, size_t n_gen,
                           const char *text, size_t len, double prompt_tps, double gen_tps);
/* The same object written to f (no newline). */
void cli_json_result(FILE *f, const int32_t *prompt, size_t n_prompt, const int32_t *gen, size_t n_gen,
                     const char *text, size_t len, double prompt_tps, double gen_tps);

/* Reads a whole file into a NUL-terminated heap buffer; returns NULL and prints why on failure. */
char *cli_read_file(const char *path, size_t *len);

/* ---- security of the ring commands (cli_secure.c) ---- */

/* What a ring command runs with: CURVE on or off and, when on, its keys. */
typedef struct {
    int on;
    sec_keypair_t kp;               /* this process's key pair */
    uint8_t coord_key[SEC_KEY_BYTES];   /* worker: the coordinator's public key */
    sec_allow_t *allow;             /* coordinator: the admitted workers (heap) */
    char tmp_dir[256];              /* run --local --secure: the ephemeral worker keys ("" otherwise) */
} cli_sec_t;

/* Decides and loads the security of a coordinator (is_worker 0: --keys,
 * --allow) or a worker (1: --keys, --coordinator-key) whose socket binds
 * bind_ep: on with --secure or when bind_ep is not loopback, unless --insecure
 * (then a warning).  Returns 0, or 1 after printing why. */
int cli_sec_setup(const cli_opts_t *o, int is_worker, const char *bind_ep, cli_sec_t *s);

/* run --local N --secure: an ephemeral coordinator key pair and n worker key
 * pairs in a private temporary directory, the workers allow-listed.  Worker i's
 * key directory is then cli_sec_local_dir(s, i, ...).  0, or 1 after printing why. */
int cli_sec_local(cli_sec_t *s, int n);
void cli_sec_local_dir(const cli_sec_t *s, int i, char *buf, size_t cap);

/* Frees the allow-list, wipes the keys, removes the temporary key files. */
void cli_sec_fini(cli_sec_t *s, int n_local);

/* A deployed ring for run, coordinator, serve and chat. */
typedef struct {
    coord_t *c;
    spawn_set_t kids;          /* local workers (--local N) */
    plan_problem_t problem;    /* what the plan was made for (when planned) */
    plan_t plan;
    int planned;               /* 0 with --ranges */
    volatile sig_atomic_t *stop;
    cli_sec_t sec;             /* CURVE keys (on with --secure, or a non-loopback bind) */
    int n_local;               /* local workers whose throwaway keys sec holds */
    disc_beacon_t *beacon;     /* --discover: the UDP announcer */
} cli_ring_t;

/* Installs the SIGINT/SIGTERM handler and returns the flag it sets. */
volatile sig_atomic_t *cli_catch_signals(void);

/* Binds the coordinator on bind (CURVE with --secure or a non-loopback bind;
 * throwaway keys for --local --secure), starts o->local workers on loopback (or
 * waits for o->workers to connect, announcing itself with --discover), and
 * deploys --ranges or the plan (--plan, --objective, --solver); progress on
 * stderr with -v.  On failure r is still to be passed to cli_ring_down.  *stop
 * set (by a signal) aborts the wait. */

int cli_ring_up(const cli_opts_t *o, const char *bind, cli_ring_t *r, volatile sig_atomic_t *stop, err_t *err);
/* Tells the workers to leave, stops local ones, frees everything. */
void cli_ring_down(cli_ring_t *r);

/* The chat template: --chat-template NAME, else the model's (c may be NULL to
 * check the name only); 2 after printing why. */
int cli_chat_template(const cli_opts_t *o, const coord_t *c, chat_tmpl_t *t);

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_synth(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_segment(int argc, char **argv);
int cli_profile(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_coordinator(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_keygen(int argc, char **argv);

#endif
