/*
 * cli_segment.c — `lingua segment`: the model's units with their costs, and
 * the dependency maps between them; and `lingua profile`: how fast this
 * device runs each of those units.
 *
 *   lingua segment -m MODEL [--json] [--graph] [--cuts N,N,...]
 *
 * --cuts replaces the residual branch points by cuts after the given nodes
 * (see --graph for node indices), e.g. to see a finer cut's residual map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/graph.h"
#include "model/model.h"
#include "model/seg.h"
#include "plan/profile.h"
#include "plan/unit_cost.h"
#include "json/jdoc.h"
#include "tensor/types.h"

static int parse_cuts(const char *s, int **cuts, int *n)
{
    size_t cap = strlen(s) / 2 + 2;
    *cuts = malloc(cap * sizeof **cuts);
    *n = 0;
    if (!*cuts)
        return -1;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1 << 24 || (*end && *end != ','))
            return -1;
        (*cuts)[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

static cJSON *edges_json(const seg_t *s, const seg_edge_t *e, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        const graph_value_t *v = &s->graph->values[e[i].value];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddNumberToObject(o, "from", e[i].from_unit);
        cJSON_AddNumberToObject(o, "to", e[i].to_unit);
        jdoc_add_text(o, "tensor", v->name, strlen(v->name));
        cJSON_AddNumberToObject(o, "width", v->width);
        cJSON_AddBoolToObject(o, "recomputed", e[i].recomputed);
    }
    return a;
}

static void print_edges_text(const seg_t *s, const char *title, const seg_edge_t *e, int n)
{
    printf("%s:\n", title);
    if (n == 0)
        printf("  (empty)\n");
    for (int i = 0; i < n; i++) {
        const graph_value_t *v = &s->graph->values[e[i].value];
        if (e[i].from_unit < 0)
            printf("  input -> %-3d %-24s %s\n", e[i].to_unit, v->name,
                   e[i].recomputed ? "(recomputed by the receiver, not sent)" : "(from the request)");
        else
            printf("  %5d -> %-3d %-24s %d floats/token\n", e[i].from_unit, e[i].to_unit, v->name, v->width);
    }
}

int cli_segment(int argc, char **argv)
{
    int json = 0, show_graph = 0, n_cuts = 0, rc = 1;
    int *cuts = NULL;
    const char *model_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--graph")) show_graph = 1;
        else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--cuts") && i + 1 < argc) {
            free(cuts);
            if (parse_cuts(argv[++i], &cuts, &n_cuts) != 0) {
                fprintf(stderr, "error: --cuts expects node indices separated by commas, got '%s'\n", argv[i]);
                free(cuts);
                return 2;
            }
        } else {
            fprintf(stderr, "error: option '%s' is unknown or needs a value (usage: lingua segment -m MODEL "
                            "[--json] [--graph] [--cuts N,N,...])\n", argv[i]);
            free(cuts);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        free(cuts);
        return 2;
    }
    err_t err;
    err_clear(&err);
    model_t *m = NULL;
    graph_t *g = NULL;
    seg_t *s = NULL;
    unit_cost_t *costs = NULL;
    if (model_load(model_path, &m, &err) || graph_build(m, &g, &err) ||
        (cuts ? seg_build(g, cuts, n_cuts, &s, &err) : seg_build_default(g, &s, &err))) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    if (!(costs = calloc((size_t)s->n_units, sizeof *costs)) || unit_cost_compute(s, costs, &err)) {
        fprintf(stderr, "error: %s\n", costs ? err.msg : "out of memory");
        goto done;
    }
    if (json) {
        cJSON *root = cJSON_CreateObject(), *units = cJSON_CreateArray();
        if (!root || !units) {
            cJSON_Delete(root);
            cJSON_Delete(units);
            fprintf(stderr, "error: out of memory\n");
            goto done;
        }
        jdoc_add_text(root, "model", model_path, strlen(model_path));
        cJSON_AddItemToObject(root, "units", units);
        for (int u = 0; u < s->n_units; u++) {
            const unit_cost_t *c = &costs[u];
            cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateObject();
            const int32_t nodes[2] = {s->units[u].node_begin, s->units[u].node_end};
            cJSON_AddItemToArray(units, o);
            cJSON_AddNumberToObject(o, "index", u);
            jdoc_add_text(o, "name", s->units[u].name, strlen(s->units[u].name));
            cJSON_AddNumberToObject(o, "layer", s->units[u].layer);
            cJSON_AddItemToObject(o, "nodes", jdoc_i32_array(nodes, 2));
            cJSON_AddNumberToObject(o, "weight_bytes", (double)c->weight_bytes);
            cJSON_AddItemToObject(o, "weight_bytes_by_type", by);
            for (int t = 0; t < UNIT_COST_TYPES; t++)   /* the first four always, others when present */
                if (t < 4 || c->weight_bytes_by_type[t])
                    cJSON_AddNumberToObject(by, type_name(unit_cost_type_id(t)), (double)c->weight_bytes_by_type[t]);
            cJSON_AddNumberToObject(o, "flops_per_token", c->flops_per_token);
            cJSON_AddNumberToObject(o, "attn_flops_per_token_per_pos", c->attn_flops_per_token_per_pos);
            cJSON_AddNumberToObject(o, "kv_bytes_per_token", (double)c->kv_bytes_per_token);
            cJSON_AddNumberToObject(o, "out_bytes_per_token", (double)c->out_bytes_per_token);
            cJSON_AddNumberToObject(o, "out_wire_bytes_per_token", (double)c->out_wire_bytes_per_token);
            cJSON_AddNumberToObject(o, "scratch_bytes_per_token", (double)c->scratch_bytes_per_token);
        }
        cJSON_AddItemToObject(root, "sdm", edges_json(s, s->sdm, s->n_sdm));
        cJSON_AddItemToObject(root, "rdm", edges_json(s, s->rdm, s->n_rdm));
        jdoc_write(stdout, root);
        cJSON_Delete(root);
    } else {
        if (show_graph) {
            printf("graph: %d nodes, %d values\n", g->n_nodes, g->n_values);
            for (int i = 0; i < g->n_nodes; i++)
                printf("  node %3d  unit %3d  %-9s %-22s -> %s [%d]\n", i, s->unit_of_node[i],
                       graph_op_name(g->nodes[i].op), g->nodes[i].name, g->values[g->nodes[i].out].name,
                       g->values[g->nodes[i].out].width);
        }
        printf("%5s  %-12s %5s %12s %14s %10s %10s %10s\n", "unit", "name", "layer", "weights", "FLOPs/token",
               "KV B/tok", "out B/tok", "wire B/tok");
        for (int u = 0; u < s->n_units; u++) {
            const unit_cost_t *c = &costs[u];
            printf("%5d  %-12s %5d %12zu %14.0f %10zu %10zu %10zu\n", u, s->units[u].name, s->units[u].layer,
                   c->weight_bytes, c->flops_per_token, c->kv_bytes_per_token, c->out_bytes_per_token,
                   c->out_wire_bytes_per_token);
        }
        print_edges_text(s, "sequential dependency map (unit -> next unit)", s->sdm, s->n_sdm);
        print_edges_text(s, "residual dependency map (unit -> later unit, sent directly)", s->rdm, s->n_rdm);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(cuts);
    free(costs);
    seg_destroy(&s);
    graph_destroy(&g);
    model_destroy(&m);
    return rc;
}

/* lingua profile -m MODEL [-t T] [--rounds R] [--batch B] [--slowdown F] [--mem-limit MB] [--json]:
 * this device's measured seconds per token for every unit (per token of steps that
 * decode B sequences together), and the memory it offers. */
int cli_profile(int argc, char **argv)
{
    cli_opts_t o;
    int rounds = 10, batch = 1;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return 1;
    for (int i = 0; i < argc; i++) {
        const int is_rounds = !strcmp(argv[i], "--rounds"), max = is_rounds ? 1000 : 4096;
        if (i >= 2 && i + 1 < argc && (is_rounds || !strcmp(argv[i], "--batch"))) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > max) {
                fprintf(stderr, "error: %s expects an integer in 1..%d, got '%s'\n", argv[i], max, argv[i + 1]);
                free(rest);
                return 2;
            }
            *(is_rounds ? &rounds : &batch) = (int)v;
            i++;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    int rc = cli_parse(n_rest, rest, 2, CLI_OPT_MODEL | CLI_OPT_THREADS | CLI_OPT_JSON | CLI_OPT_RING, &o);
    free(rest);
    if (rc)
        return rc;
    if (!o.model) {
        fprintf(stderr, "error: give the model with -m MODEL.gguf\n");
        return 2;
    }
    profile_opts_t po;
    profile_opts_default(&po);
    po.threads = o.threads;
    po.isa = o.isa;
    po.rounds = rounds;
    po.batch = batch;
    double mem_mb = 0;
    if (cli_list_value("--slowdown", o.slowdown, 0, 1.0, 1000.0, &po.slowdown) < 0 ||
        cli_list_value("--mem-limit", o.mem_limit, 0, 1.0, 1e9, &mem_mb) < 0)
        return 2;
    err_t err;
    err_clear(&err);
    model_t *m = NULL;
    graph_t *g = NULL;
    seg_t *s = NULL;
    float *t = NULL, *sp = NULL;
    rc = 1;
    if (model_load(o.model, &m, &err) || graph_build(m, &g, &err) || seg_build_default(g, &s, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    t = calloc((size_t)s->n_units, sizeof *t);
    sp = calloc((size_t)s->n_units, sizeof *sp);
    if (!t || !sp || profile_units(m, s, &po, t, sp, &err)) {
        fprintf(stderr, "error: %s\n", t && sp ? err.msg : "out of memory");
        goto done;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double free_mb = pages > 0 && page > 0 ? (double)pages * (double)page / 1048576.0 : 0;
    if (mem_mb > 0 && free_mb > mem_mb)
        free_mb = mem_mb;
    double total = 0;
    for (int u = 0; u < s->n_units; u++)
        total += t[u];
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "threads", o.threads);
        cJSON_AddNumberToObject(j, "rounds", rounds);
        cJSON_AddNumberToObject(j, "batch", batch);
        jdoc_add_number(j, "free_mem_mb", free_mb);
        jdoc_add_number(j, "seconds_per_token", total);
        cJSON *units = cJSON_AddArrayToObject(j, "units");
        for (int u = 0; units && u < s->n_units; u++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(units, e);
            jdoc_add_text(e, "name", s->units[u].name, strlen(s->units[u].name));
            jdoc_add_number(e, "time", t[u]);
            jdoc_add_number(e, "spread", sp[u]);
        }
        if (!j || jdoc_write(stdout, j))
            fprintf(stderr, "error: out of memory\n");
        cJSON_Delete(j);
    } else {
        printf("%d thread%s, %d rounds, %d sequence%s per step, %.1f MiB offered\n", o.threads,
               o.threads == 1 ? "" : "s", rounds, batch, batch == 1 ? "" : "s", free_mb);
        printf("%5s  %-12s %12s %12s\n", "unit", "name", "ms/token", "spread ms");
        for (int u = 0; u < s->n_units; u++)
            printf("%5d  %-12s %12.4f %12.4f\n", u, s->units[u].name, 1e3 * t[u], 1e3 * sp[u]);
        printf("whole model: %.3f ms per token (%.1f tokens/s)\n", 1e3 * total, total > 0 ? 1.0 / total : 0.0);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(t);
    free(sp);
    seg_destroy(&s);
    graph_destroy(&g);
    model_destroy(&m);
    return rc;
}
