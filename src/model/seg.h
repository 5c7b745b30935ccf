/*
 * seg.h — segmentation: cutting a model's graph into units, and the dependency
 * maps between units (LinguaLinked's SDM and RDM).
 *
 * A cut "after node i" splits the node order in two.  The live-tensor analysis
 * gives, for every possible cut, the values that cross it: produced at or before
 * node i (or graph inputs) and consumed after it.  The default cuts are the
 * residual branch points: the cuts across which exactly one activation is live
 * (positions aside: they are recomputed by every receiver, never sent) and
 * that activation has several consumers.  For a Llama model this gives
 * 2·n_layer + 2 units — embedding, attention and feed-forward halves, output
 * head — and every cut carries one hidden vector per token.
 *
 * Any strictly increasing list of cuts may be given instead (finer cuts for
 * tests, coarser ones for planning); cuts inside the output head, whose values
 * exist only for the rows whose logits are wanted, are refused.  The maps are
 * then: SDM, the values unit u hands to unit u+1; RDM, the values unit u must
 * deliver to a later, non-adjacent unit, sent straight to it rather than
 * relayed.  Graph inputs appear as edges from unit -1: the token ids (the
 * request's) and the positions (marked recomputed).
 * Since the executor depends on it, segmentation lives beside the graph in
 * src/model rather than in src/plan (DESIGN §10 lists it under plan).
 */
#ifndef LL_MODEL_SEG_H
#define LL_MODEL_SEG_H

#include "model/graph.h"
#include "util/err.h"

typedef struct {
    int node_begin;   /* first node */
    int node_end;     /* one past the last node */
    int layer;        /* block of its first node, -1 for embed/head */
    char name[GRAPH_NAME_LEN];  /* "embed", "blk.3.attn", "blk.3.ffn", "output", or "<first node>" for custom cuts */
} seg_unit_t;

typedef struct {
    int from_unit;    /* producer's unit; -1 for graph inputs */
    int to_unit;      /* consumer's unit */
    int value;        /* graph value id */
    int recomputed;   /* the receiver derives it (positions): nothing is sent */
} seg_edge_t;

typedef struct {
    const graph_t *graph;   /* borrowed */
    seg_unit_t *units;
    int n_units;
    int *unit_of_node;      /* [n_nodes] */
    seg_edge_t *sdm;        /* from_unit + 1 == to_unit (or graph inputs) */
    int n_sdm;
    seg_edge_t *rdm;        /* to_unit > from_unit + 1 */
    int n_rdm;
} seg_t;

/* Cuts at the residual branch points. */
int seg_build_default(const graph_t *g, seg_t **out, err_t *err);
/* Cuts after the given nodes (strictly increasing, each in 0..n_nodes-2). */
int seg_build(const graph_t *g, const int *cut_after, int n_cuts, seg_t **out, err_t *err);
void seg_destroy(seg_t **s);

/* The values live across the cut after node i (graph inputs included); writes
 * up to cap ids and returns how many there are (-1: out of memory). */
int seg_crossing(const graph_t *g, int cut_after, int *values, int cap);

/* The residual branch points of g (cut_after node indices); returns the count
 * (at most cap written), or -1 when out of memory. */
int seg_branch_points(const graph_t *g, int *cut_after, int cap);

#endif
