/*
 * seg.c — cut points, units and dependency maps (see seg.h).
 *
 * The live-tensor analysis uses, per value, the index of its producer node
 * (-1 for graph inputs) and of its last consumer (n_nodes for graph outputs):
 * a value crosses the cut after node i exactly when producer <= i < last use.
 */
#include "model/seg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* last[v] = index of the last node consuming v, n_nodes for graph outputs, -2 if unused. */
static int *last_uses(const graph_t *g)
{
    int *last = malloc((size_t)g->n_values * sizeof *last);
    if (!last)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        last[v] = g->values[v].is_output ? g->n_nodes : -2;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (!g->values[v].is_output)
                last[v] = i;
        }
    return last;
}

static int crossing(const graph_t *g, const int *last, int cut_after, int *values, int cap)
{
    int n = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].producer <= cut_after && cut_after < last[v]) {
            if (n < cap)
                values[n] = v;
            n++;
        }
    }
    return n;
}

int seg_crossing(const graph_t *g, int cut_after, int *values, int cap)
{
    int *last = last_uses(g);
    if (!last)
        return -1;
    int n = crossing(g, last, cut_after, values, cap);
    free(last);
    return n;
}

int seg_branch_points(const graph_t *g, int *cut_after, int cap)
{
    int *last = last_uses(g);
    int *live = malloc((size_t)g->n_values * sizeof *live);
    int n = 0;
    if (!last || !live) {
        free(last);
        free(live);
        return -1;
    }
    for (int i = 0; i + 1 < g->n_nodes; i++) {
        int k = crossing(g, last, i, live, g->n_values), acts = 0, act = -1;
        for (int j = 0; j < k; j++) {
            if (g->values[live[j]].kind == VAL_ACT) {
                acts++;
                act = live[j];
            }
        }
        if (acts == 1 && graph_consumers(g, act) >= 2) {
            if (n < cap)
                cut_after[n] = i;
            n++;
        }
    }
    free(last);
    free(live);
    return n;
}

static void name_unit(const graph_t *g, seg_unit_t *u, int is_default)
{
    const graph_node_t *first = &g->nodes[u->node_begin];
    u->layer = first->layer;
    if (!is_default)
        snprintf(u->name, sizeof u->name, "%s", first->name);
    else if (first->op == OP_EMBED)
        snprintf(u->name, sizeof u->name, "embed");
    else if (first->head_only)
        snprintf(u->name, sizeof u->name, "output");
    else if (strstr(first->name, "attn"))
        snprintf(u->name, sizeof u->name, "blk.%d.attn", first->layer);
    else
        snprintf(u->name, sizeof u->name, "blk.%d.ffn", first->layer);
}

static int add_edge(seg_edge_t **list, int *n, int *cap, seg_edge_t e)
{
    for (int i = 0; i < *n; i++)
        if ((*list)[i].from_unit == e.from_unit && (*list)[i].to_unit == e.to_unit && (*list)[i].value == e.value)
            return 0;
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        seg_edge_t *bigger = realloc(*list, (size_t)c * sizeof *bigger);
        if (!bigger)
            return -1;
        *list = bigger;
        *cap = c;
    }
    (*list)[(*n)++] = e;
    return 0;
}

static int build(const graph_t *g, const int *cuts, int n_cuts, int is_default, seg_t **out, err_t *err)
{
    *out = NULL;
    for (int i = 0; i < n_cuts; i++) {
        if (cuts[i] < 0 || cuts[i] > g->n_nodes - 2 || (i > 0 && cuts[i] <= cuts[i - 1]))
            return err_set(err, ERR_INVAL, "cut %d (after node %d): cuts must increase strictly within 0..%d", i,
                           cuts[i], g->n_nodes - 2);
        if (g->nodes[cuts[i]].head_only)
            return err_set(err, ERR_INVAL, "cut after node %d ('%s'): the output head cannot be split", cuts[i],
                           g->nodes[cuts[i]].name);
    }
    seg_t *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, ERR_NOMEM, "segmentation: out of memory");
    s->graph = g;
    s->n_units = n_cuts + 1;
    s->units = calloc((size_t)s->n_units, sizeof *s->units);
    s->unit_of_node = calloc((size_t)g->n_nodes, sizeof *s->unit_of_node);
    if (!s->units || !s->unit_of_node)
        goto nomem;
    for (int u = 0; u < s->n_units; u++) {
        s->units[u].node_begin = u == 0 ? 0 : cuts[u - 1] + 1;
        s->units[u].node_end = u == n_cuts ? g->n_nodes : cuts[u] + 1;
        for (int i = s->units[u].node_begin; i < s->units[u].node_end; i++)
            s->unit_of_node[i] = u;
        name_unit(g, &s->units[u], is_default);
    }
    /* Dependency maps: one edge per (producer unit, consumer unit, value). */
    int cap_sdm = 0, cap_rdm = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const graph_node_t *n = &g->nodes[i];
        int to = s->unit_of_node[i];
        for (int j = 0; j < n->n_in; j++) {
            int v = n->in[j], p = g->values[v].producer;
            int from = p < 0 ? -1 : s->unit_of_node[p];
            if (from == to)
                continue;
            seg_edge_t e = {.from_unit = from, .to_unit = to, .value = v,
                            .recomputed = g->values[v].kind == VAL_POSITIONS};
            int rc = (from < 0 || to == from + 1) ? add_edge(&s->sdm, &s->n_sdm, &cap_sdm, e)
                                                  : add_edge(&s->rdm, &s->n_rdm, &cap_rdm, e);
            if (rc)
                goto nomem;
        }
    }
    *out = s;
    return 0;
nomem:
    seg_destroy(&s);
    return err_set(err, ERR_NOMEM, "segmentation: out of memory");
}

int seg_build(const graph_t *g, const int *cut_after, int n_cuts, seg_t **out, err_t *err)
{
    return build(g, cut_after, n_cuts, 0, out, err);
}

int seg_build_default(const graph_t *g, seg_t **out, err_t *err)
{
    int n = seg_branch_points(g, NULL, 0);
    int *cuts = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof *cuts) : NULL;
    if (!cuts)
        return err_set(err, ERR_NOMEM, "segmentation: out of memory");
    seg_branch_points(g, cuts, n);
    int rc = build(g, cuts, n, 1, out, err);
    free(cuts);
    return rc;
}

void seg_destroy(seg_t **sp)
{
    if (!sp || !*sp)
        return;
    seg_t *s = *sp;
    free(s->units);
    free(s->unit_of_node);
    free(s->sdm);
    free(s->rdm);
    free(s);
    *sp = NULL;
}
