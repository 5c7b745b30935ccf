/*
 * cli_main.c — `lingua`: dispatches to a subcommand and owns the usage text.
 * The exit status is the subcommand's: 0 success, 1 runtime error (bad file,
 * out of memory, ...), 2 bad command line.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fputs("usage: lingua COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  generate  -m MODEL -p PROMPT [-n N] [-t THREADS] [--temp T] [--top-k K] [--top-p P]\n"
          "            [--min-p P] [--repeat-penalty R] [--repeat-last-n N] [--seed S] [-c CTX] [-b BATCH]\n"
          "            [--isa auto|scalar|avx2|avx512|neon] [--json] [-f FILE]\n"
          "            generate text on this machine (--temp 0 is greedy)\n"
          "  tokenize  -m MODEL (-p TEXT | -f FILE) [--no-bos] [--no-special]\n"
          "            print the token ids of a text, space separated\n"
          "  logits    -m MODEL --tokens \"ID ID ...\" [--last K] -o OUT.f32 [-t THREADS]\n"
          "            feed the tokens (no BOS added), write the logits of the last K positions\n"
          "  info      -m MODEL\n"
          "            architecture, shapes, tensor types, memory needed\n"
          "  synth     -o OUT.gguf [--dim D --layers L --heads H --kv-heads KV --ffn F --vocab V\n"
          "            --ctx C --type TYPE --seed S --arch llama|qwen2|bloom]\n"
          "            write a model of that architecture with deterministic random weights\n"
          "  bench     -m MODEL [-t THREADS] [--prompt P] [--gen N] [--reps R] [--json]\n"
          "            prompt and decode speed (medians) and the memory-bandwidth floor\n"
          "  segment   -m MODEL [--json] [--graph] [--cuts N,N,...]\n"
          "            the model's units, their costs, and the dependency maps (SDM, RDM)\n"
          "  profile   -m MODEL [-t T] [--rounds R] [--slowdown F] [--mem-limit MB] [--json]\n"
          "            this device's measured time per token for every unit\n"
          "  run       -m MODEL --local N (-p PROMPT | --prompts FILE) [--ranges A-B,C-D,...] [--chunk T]\n"
          "            [--seq S] [--act-f16] [--secure] [generate options]\n"
          "            a ring of N workers on this machine (child processes on loopback), then generate\n"
          "  worker    [--coordinator tcp://HOST:PORT | --beacon-port N] [-m MODEL | --cache DIR [--cache-max MB]]\n"
          "            [--listen tcp://ADDR:PORT] [--name N] [-t T]\n"
          "            [--secure --keys DIR --coordinator-key KEY | --insecure]\n"
          "            one device of the ring (without -m it fetches its stage's weights once into the cache,\n"
          "            default ~/.cache/lingua; without --coordinator it finds one by its UDP beacon)\n"
          "  coordinator --bind tcp://ADDR:PORT --workers N -m MODEL (-p PROMPT | --prompts FILE) [options]\n"
          "            [--secure --keys DIR --allow FILE | --insecure] [--discover [--beacon-port N]]\n"
          "            wait for N workers, deploy the model over them, generate\n"
          "  serve     -m MODEL (--local N | --workers N --bind EP) [--host 127.0.0.1] [--port 8080]\n"
          "            [--api-key KEY] [--parallel S] [--queue Q] [-c CTX] [--chat-template NAME] [generate options]\n"
          "            the ring as an OpenAI-compatible HTTP service, with a live page at /\n"
          "  status    [--url http://HOST:PORT] [--json]   the cluster of a running serve, in the terminal\n"
          "  chat      -m MODEL [--local N] [-p SYSTEM] [--chat-template NAME] [generate options]\n"
          "            an interactive conversation in the terminal, streamed\n"
          "            (CURVE is on by default when a socket binds a non-loopback address)\n"
          "  keygen    [--keys DIR]\n"
          "            write this device's CURVE key pair (default DIR ~/.config/lingua), print the public key\n"
          "  plan      --problem FILE.json [--solver dp|milp] [--json] [--overlap] [--time-limit MS]\n"
          "            device order and unit ranges minimising latency or maximising throughput\n"
          "  help      this text\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cli_generate(argc, argv);
    if (!strcmp(cmd, "tokenize")) return cli_tokenize(argc, argv);
    if (!strcmp(cmd, "logits")) return cli_logits(argc, argv);
    if (!strcmp(cmd, "info")) return cli_info(argc, argv);
    if (!strcmp(cmd, "synth")) return cli_synth(argc, argv);
    if (!strcmp(cmd, "bench")) return cli_bench(argc, argv);
    if (!strcmp(cmd, "segment")) return cli_segment(argc, argv);
    if (!strcmp(cmd, "profile")) return cli_profile(argc, argv);
    if (!strcmp(cmd, "run")) return cli_run(argc, argv);
    if (!strcmp(cmd, "worker")) return cli_worker(argc, argv);
    if (!strcmp(cmd, "coordinator")) return cli_coordinator(argc, argv);
    if (!strcmp(cmd, "serve")) return cli_serve(argc, argv);
    if (!strcmp(cmd, "status")) return cli_status(argc, argv);
    if (!strcmp(cmd, "chat")) return cli_chat(argc, argv);
    if (!strcmp(cmd, "plan")) return cli_plan(argc, argv);
    if (!strcmp(cmd, "keygen")) return cli_keygen(argc, argv);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
