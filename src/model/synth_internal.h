/*
 * synth_internal.h — what synth.c (vocabulary, weights, writing, the llama
 * tensor list) shares with synth_arch.c (the qwen2 and bloom tensor lists).
 */
#ifndef LL_MODEL_SYNTH_INTERNAL_H
#define LL_MODEL_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/synth.h"

/* One tensor to write: planned (name, type, shape, kind), then filled. */
typedef struct {
    char name[48];
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[2];   /* [n_in, n_out]; n_out 1 for vectors */
    int is_norm;      /* a norm scale: 1 +- 0.05 */
    int is_bias;      /* a bias or norm shift: +- 0.05 */
    void *data;       /* stored bytes, owned */
    size_t nbytes;
} synth_tensor_t;

/* Most tensors any architecture plans for p (the size of the table to give). */
size_t synth_max_tensors(const synth_params_t *p);

/* The qwen2 or bloom tensor list in file order; returns the count.  Matrices take
 * p->type, vectors F32. */
size_t synth_plan_arch(const synth_params_t *p, synth_tensor_t *t);

#endif
