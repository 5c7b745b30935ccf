/*
 * unit_cost.h — what each unit of a segmentation costs, for the planner:
 * weight bytes (per stored type), FLOPs per token, KV-cache bytes per token of
 * context, bytes sent across its outgoing edges per token (as F32 and as the
 * F16 wire type), and the scratch memory its values need per token of batch.
 * Derived from the graph and the weights alone; nothing is measured here.
 */
#ifndef LL_PLAN_UNIT_COST_H
#define LL_PLAN_UNIT_COST_H

#include <stddef.h>
#include <stdint.h>

#include "model/seg.h"
#include "util/err.h"

#define UNIT_COST_TYPES 13  /* the storage types of types.h, in unit_cost_type_id order */

typedef struct {
    size_t weight_bytes;                        /* all weights the unit reads (a tied matrix counts in each unit using it) */
    size_t weight_bytes_by_type[UNIT_COST_TYPES];
    double flops_per_token;                     /* matmuls and element-wise work, context-independent */
    double attn_flops_per_token_per_pos;        /* attention: multiply by the context length */
    size_t kv_bytes_per_token;                  /* F16 K and V of its attention layers */
    size_t out_bytes_per_token;                 /* values it sends (SDM + RDM, recomputed excluded), F32 */
    size_t out_wire_bytes_per_token;            /* the same as F16 on the wire */
    size_t scratch_bytes_per_token;             /* peak live activations inside the unit, per batch token */
} unit_cost_t;

/* Fills costs[seg->n_units]. */
int unit_cost_compute(const seg_t *seg, unit_cost_t *costs, err_t *err);

/* Index into weight_bytes_by_type for a type id, -1 if not a storage type. */
int unit_cost_type_index(uint32_t type);
/* The type id at index i (0 <= i < UNIT_COST_TYPES): F32, F16, Q4_0, Q8_0, then
 * Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
uint32_t unit_cost_type_id(int i);

#endif
