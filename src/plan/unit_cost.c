/*
 * unit_cost.c — cost annotations of units (see unit_cost.h).
 *
 * FLOPs count a multiply-add as two: a matmul is 2·n_in·n_out per token,
 * rmsnorm 4·width, layer norm 7·width, rope 6 per rotated pair, add and bias 1,
 * SwiGLU ~5 and GELU ~10 per value; the
 * attention of one token over c positions costs 4·n_head·head_dim·c (scores
 * and weighted values), reported per position.  Scratch is the peak of the
 * widths of the values live at once inside the unit (its inputs included),
 * in f32 bytes.
 */
#include "plan/unit_cost.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/types.h"

static const uint32_t cost_types[UNIT_COST_TYPES] = {
    TYPE_F32, TYPE_F16, TYPE_Q4_0, TYPE_Q8_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1,
    TYPE_IQ4_NL, TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K,
};

int unit_cost_type_index(uint32_t type)
{
    for (int i = 0; i < UNIT_COST_TYPES; i++)
        if (cost_types[i] == type)
            return i;
    return -1;
}

uint32_t unit_cost_type_id(int i)
{
    return cost_types[i];
}

static void add_weight(unit_cost_t *c, uint32_t type, size_t bytes)
{
    c->weight_bytes += bytes;
    int t = unit_cost_type_index(type);
    if (t >= 0)
        c->weight_bytes_by_type[t] += bytes;
}

static void node_cost(const graph_t *g, const graph_node_t *n, unit_cost_t *c)
{
    const model_hparams_t *hp = &g->model->hp;
    const double width = g->values[n->out].width;
    switch (n->op) {
    case OP_EMBED:
        add_weight(c, n->w->type, n->w->row_bytes * n->w->n_out);
        break;
    case OP_MATMUL:
        add_weight(c, n->w->type, n->w->row_bytes * n->w->n_out);
        c->flops_per_token += 2.0 * n->w->n_in * n->w->n_out;
        break;
    case OP_RMSNORM:
        add_weight(c, TYPE_F32, (size_t)width * sizeof(float));
        c->flops_per_token += 4.0 * width;
        break;
    case OP_ROPE:
        c->flops_per_token += 6.0 * (hp->n_rot / 2) * n->n_heads;
        break;
    case OP_ATTENTION:
        c->attn_flops_per_token_per_pos += 4.0 * hp->n_head * hp->head_dim;
        c->kv_bytes_per_token += (size_t)2 * hp->n_head_kv * hp->head_dim * sizeof(uint16_t);
        break;
    case OP_ADD:
        c->flops_per_token += width;
        break;
    case OP_SWIGLU:
        c->flops_per_token += 5.0 * width;
        break;
    case OP_LAYERNORM:
        add_weight(c, TYPE_F32, 2 * (size_t)width * sizeof(float));
        c->flops_per_token += 7.0 * width;
        break;
    case OP_BIAS:
        add_weight(c, TYPE_F32, (size_t)width * sizeof(float));
        c->flops_per_token += width;
        break;
    case OP_GELU:
        c->flops_per_token += 10.0 * width;
        break;
    }
}

int unit_cost_compute(const seg_t *seg, unit_cost_t *costs, err_t *err)
{
    const graph_t *g = seg->graph;
    memset(costs, 0, (size_t)seg->n_units * sizeof *costs);
    int *last = malloc((size_t)g->n_values * sizeof *last);
    int *sent = calloc((size_t)g->n_values * seg->n_units, sizeof *sent);
    if (!last || !sent) {
        free(last);
        free(sent);
        return err_set(err, ERR_NOMEM, "unit costs: out of memory");
    }
    for (int v = 0; v < g->n_values; v++)
        last[v] = g->values[v].is_output ? g->n_nodes : -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (last[g->nodes[i].in[j]] < i)
                last[g->nodes[i].in[j]] = i;

    for (int u = 0; u < seg->n_units; u++) {
        const seg_unit_t *U = &seg->units[u];
        unit_cost_t *c = &costs[u];
        size_t peak = 0;
        for (int i = U->node_begin; i < U->node_end; i++) {
            node_cost(g, &g->nodes[i], c);
            /* Live at node i: activations produced before i (inside the unit, or arriving) still needed at i. */
            size_t live = 0;
            for (int v = 0; v < g->n_values; v++) {
                const graph_value_t *val = &g->values[v];
                if (val->kind == VAL_ACT && val->producer <= i && last[v] >= i &&
                    (val->producer >= U->node_begin || last[v] >= U->node_begin))
                    live += (size_t)val->width;
            }
            if (live > peak)
                peak = live;
        }
        c->scratch_bytes_per_token = peak * sizeof(float);
    }
    /* Bytes sent: each (unit, value) pair once, whatever the number of receivers. */
    const seg_edge_t *lists[2] = {seg->sdm, seg->rdm};
    const int counts[2] = {seg->n_sdm, seg->n_rdm};
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < counts[l]; i++) {
            const seg_edge_t *e = &lists[l][i];
            if (e->from_unit < 0 || e->recomputed || sent[(size_t)e->value * seg->n_units + e->from_unit])
                continue;
            sent[(size_t)e->value * seg->n_units + e->from_unit] = 1;
            costs[e->from_unit].out_bytes_per_token += (size_t)g->values[e->value].width * sizeof(float);
            costs[e->from_unit].out_wire_bytes_per_token += (size_t)g->values[e->value].width * sizeof(uint16_t);
        }
    }
    free(last);
    free(sent);
    return 0;
}
