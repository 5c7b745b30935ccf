/*
 * golden.h — reads the reference outputs in ../shared/golden (format in its
 * README): one SLUG.txt of "key: value" lines and SLUG.logits.f32 per prompt.
 * Test-only helper; header-only so each test program stays one file.
 */
#ifndef LL_TESTS_GOLDEN_H
#define LL_TESTS_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_MAX_IDS 4096

typedef struct {
    char model[256];
    char prompt[1024];
    int32_t prompt_ids[GOLDEN_MAX_IDS];
    size_t n_prompt;
    int32_t gen_ids[GOLDEN_MAX_IDS];
    size_t n_gen;
    int n_vocab;
    int logits_steps;
    float *logits;          /* [logits_steps][n_vocab], heap */
} golden_t;

static size_t golden_parse_ids(const char *s, int32_t *out)
{
    size_t n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s || n == GOLDEN_MAX_IDS)
            return n;
        out[n++] = (int32_t)v;
        s = end;
    }
}

/* Loads dir/slug.txt and its logits. Returns 0 or -1 (prints why). */
static int golden_load(const char *dir, const char *slug, golden_t *g)
{
    memset(g, 0, sizeof *g);
    char path[2048], line[16384], logits_file[256] = "";
    snprintf(path, sizeof path, "%s/%s.txt", dir, slug);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strstr(line, ": ");
        if (!colon)
            continue;
        *colon = '\0';
        const char *key = line, *val = colon + 2;
        if (!strcmp(key, "model")) snprintf(g->model, sizeof g->model, "%s", val);
        else if (!strcmp(key, "prompt")) snprintf(g->prompt, sizeof g->prompt, "%s", val);
        else if (!strcmp(key, "prompt_ids")) g->n_prompt = golden_parse_ids(val, g->prompt_ids);
        else if (!strcmp(key, "gen_ids")) g->n_gen = golden_parse_ids(val, g->gen_ids);
        else if (!strcmp(key, "n_vocab")) g->n_vocab = atoi(val);
        else if (!strcmp(key, "logits_steps")) g->logits_steps = atoi(val);
        else if (!strcmp(key, "logits_file")) snprintf(logits_file, sizeof logits_file, "%s", val);
    }
    fclose(f);
    if (!g->n_prompt || !g->n_vocab || !logits_file[0]) {
        fprintf(stderr, "%s: incomplete golden file\n", path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, logits_file);
    size_t count = (size_t)g->logits_steps * g->n_vocab;
    g->logits = malloc(count * sizeof(float));
    f = fopen(path, "rb");
    if (!g->logits || !f || fread(g->logits, sizeof(float), count, f) != count) {
        fprintf(stderr, "cannot read %zu floats from %s\n", count, path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static void golden_free(golden_t *g)
{
    free(g->logits);
    g->logits = NULL;
}

#endif
