/*
 * cli.h — the `lingua` command line: one option parser shared by every
 * subcommand (llama.cpp's spellings: -m, -p, -f, -n, -t, -c, -b, --temp,
 * --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed), and
 * the subcommand entry points.  Each subcommand returns its process exit
 * status; nothing below main() calls exit().
 */
#ifndef LL_CLI_CLI_H
#define LL_CLI_CLI_H

#include <stdint.h>

#include "model/samp.h"
#include "model/synth.h"
#include "tensor/kern.h"

typedef struct {
    const char *model;       /* -m */
    const char *prompt;      /* -p */
    const char *file;        /* -f: prompt/text from a file */
    const char *tokens;      /* --tokens "ID ID ..." */
    const char *out;         /* -o */
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
    synth_params_t synth;    /* lingua synth */
} cli_opts_t;

/* Which options a subcommand accepts (bit set); others are rejected by name. */
enum {
    CLI_OPT_MODEL = 1 << 0, CLI_OPT_PROMPT = 1 << 1, CLI_OPT_GEN = 1 << 2, CLI_OPT_THREADS = 1 << 3,
    CLI_OPT_SAMPLING = 1 << 4, CLI_OPT_JSON = 1 << 5, CLI_OPT_TOKENIZE = 1 << 6, CLI_OPT_LOGITS = 1 << 7,
    CLI_OPT_SYNTH = 1 << 8, CLI_OPT_OUT = 1 << 9,
};

/* Parses argv[first..argc) into opts (defaults first).  Returns 0, or prints a
 * message naming the offending option to stderr and returns 2. */
int cli_parse(int argc, char **argv, int first, unsigned accepted, cli_opts_t *opts);

/* Reads a whole file into a NUL-terminated heap buffer; returns NULL and prints why on failure. */
char *cli_read_file(const char *path, size_t *len);

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_synth(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_segment(int argc, char **argv);

#endif
