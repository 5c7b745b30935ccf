/*
 * profile.c — per-unit timing on this device (see profile.h).
 *
 * Units of the same kind — the same operations on weights of the same types and
 * shapes, e.g. every block's attention — cost the same, so only the first of
 * each kind is timed and the others take its figures.  Besides saving time this
 * keeps a worker's resident memory to one unit of each kind while profiling,
 * not the whole model.
 */
#include "plan/profile.h"

#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "util/cache.h"
#include "util/clock.h"
#include "util/stats.h"

void profile_opts_default(profile_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->isa = KERN_ISA_AUTO;
    o->slowdown = 1.0;
    o->rounds = 10;
    o->context = 32;
    o->batch = 1;
}

/* 1 if units a and b run the same operations on weights of the same types and shapes. */
static int same_kind(const seg_t *seg, int a, int b)
{
    const seg_unit_t *ua = &seg->units[a], *ub = &seg->units[b];
    if (ua->node_end - ua->node_begin != ub->node_end - ub->node_begin)
        return 0;
    for (int k = 0; k < ua->node_end - ua->node_begin; k++) {
        const graph_node_t *x = &seg->graph->nodes[ua->node_begin + k], *y = &seg->graph->nodes[ub->node_begin + k];
        if (x->op != y->op || x->n_in != y->n_in || x->head_only != y->head_only || x->n_heads != y->n_heads ||
            !x->w != !y->w || !x->norm != !y->norm ||
            seg->graph->values[x->out].width != seg->graph->values[y->out].width)
            return 0;
        if (x->w && (x->w->type != y->w->type || x->w->n_in != y->w->n_in || x->w->n_out != y->w->n_out))
            return 0;
    }
    return 1;
}

/* Evicts unit u's matrices from the caches: serving, a stage streams its
 * weights from memory at every step (all of them, more than the caches hold for
 * any model worth splitting), while the one unit of a kind timed here again and
 * again would stay cached between its steps.  Embedding tables are left
 * alone: a step reads only its tokens' rows of them. */
static void evict_weights(const seg_t *seg, int u)
{
    for (int k = seg->units[u].node_begin; k < seg->units[u].node_end; k++) {
        const graph_node_t *n = &seg->graph->nodes[k];
        if (n->op == OP_MATMUL && n->w)
            cache_evict(n->w->data, (size_t)n->w->n_out * n->w->row_bytes);
    }
}

int profile_units(const model_t *m, const seg_t *seg, const profile_opts_t *o, float *time_s, float *spread_s,
                  err_t *err)
{
    if (o->rounds < 1 || o->context < 1 || o->slowdown < 1.0 || o->batch < 1 || o->batch > 4096)
        return err_set(err, ERR_INVAL, "profile: rounds %d, context %d, slowdown %g, batch %d", o->rounds,
                       o->context, o->slowdown, o->batch);
    const int B = o->batch, rows = o->context > B ? o->context : B;   /* the widest run: a prompt or a step */
    size_t widest = 1;
    for (int v = 0; v < seg->graph->n_values; v++)
        if ((size_t)seg->graph->values[v].width > widest)
            widest = (size_t)seg->graph->values[v].width;
    float *buf = malloc((size_t)rows * widest * sizeof *buf);
    int32_t *tokens = malloc((size_t)(rows + o->context) * sizeof *tokens);   /* a step starts at r % context */
    /* Every sequence's cache is filled to the whole context (one run per sequence)
     * before the timed steps: attention over it is part of a step's time, and with
     * the interleaved matmuls a large one (a fill of context / B positions each
     * measured 8-row steps 30-45% below serving's). */
    const int fill = o->context;
    int *row_seq = malloc((size_t)rows * sizeof *row_seq), *row_pos = malloc((size_t)rows * sizeof *row_pos);
    if (!buf || !tokens || !row_seq || !row_pos) {
        free(buf);
        free(tokens);
        free(row_seq);
        free(row_pos);
        return err_set(err, ERR_NOMEM, "profile: out of memory");
    }
    uint64_t state = 12345;
    for (size_t i = 0; i < (size_t)rows * widest; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (float)((int)(state >> 40) % 2001 - 1000) / 1000.0f;   /* activations of a plausible scale */
    }
    for (int i = 0; i < rows + o->context; i++)
        tokens[i] = (int32_t)((uint32_t)(i * 7919 + 13) % m->hp.n_vocab);
    /* One executor per unit, run as a chain: every step streams through all
     * units' weights in order, as a decode step on one device does, so caches
     * hold what they would hold when serving. */
    const int U = seg->n_units;
    exec_t **ex = calloc((size_t)U, sizeof *ex);
    double *all = malloc((size_t)U * o->rounds * sizeof *all);
    int *rep = malloc((size_t)U * sizeof *rep);   /* rep[u]: the first unit of u's kind */
    int rc = ex && all && rep ? 0 : err_set(err, ERR_NOMEM, "profile: out of memory");
    for (int u = 0; u < U && rc == 0; u++) {
        rep[u] = u;
        for (int v = 0; v < u && rep[u] == u; v++)
            if (rep[v] == v && same_kind(seg, v, u))
                rep[u] = v;
    }
    for (int u = 0; u < U && rc == 0; u++) {
        if (rep[u] != u)
            continue;
        exec_params_t p;
        exec_params_default(&p, m);
        p.seg = seg;
        p.unit_begin = u;
        p.unit_end = u + 1;
        p.n_threads = o->threads;
        p.isa = o->isa;
        p.n_ctx = o->context + o->rounds + 1 > B ? o->context + o->rounds + 1 : B;   /* max_batch is capped by it */
        p.n_seq = B;
        p.max_batch = rows;
        p.max_logits = B;
        rc = exec_create(m, &p, &ex[u], err);
    }
    /* r < 0: run B + r fills sequence B + r's cache (one prompt-like run each); then
     * timed steps of B rows. */
    for (int r = -B; r < o->rounds && rc == 0; r++) {
        const float *prev = buf;
        const int n_rows = r < 0 ? fill : B;
        for (int t = 0; t < n_rows; t++) {
            row_seq[t] = r < 0 ? B + r : t;
            row_pos[t] = r < 0 ? t : fill + r;
        }
        for (int u = 0; u < U && rc == 0; u++) {
            if (!ex[u])
                continue;
            exec_tensor_t in[16];
            int n_in = exec_n_inputs(ex[u]) < 16 ? exec_n_inputs(ex[u]) : 16;
            for (int i = 0; i < n_in; i++)   /* the previous unit's output where it has one, else filler */
                in[i] = (exec_tensor_t){.value = exec_input_value(ex[u], i), .data = prev};
            exec_batch_t b = {.n_tokens = n_rows, .row_seq = row_seq, .row_pos = row_pos,
                              .tokens = r < 0 ? tokens : tokens + (r % o->context), .inputs = in, .n_inputs = n_in,
                              .n_logits = r < 0 ? 1 : B};
            if (r >= 0)
                evict_weights(seg, u);
            double t0 = clock_now();
            rc = exec_run(ex[u], &b, err);
            double t = clock_now() - t0;
            if (r >= 0) {
                clock_sleep((o->slowdown - 1.0) * t);   /* the emulated device's extra time, as when serving */
                all[(size_t)u * o->rounds + r] = (clock_now() - t0) / B;   /* per token of the step */
            }
            const float *h = exec_hidden(ex[u]);
            prev = h ? h : buf;
        }
    }
    for (int u = 0; u < U && rc == 0; u++) {
        double *v = all + (size_t)rep[u] * o->rounds;
        int n = o->rounds;
        time_s[u] = (float)stats_median(v, n);
        spread_s[u] = (float)stats_half_iqr(v, n);
    }
    for (int u = 0; ex && u < U; u++)
        exec_destroy(&ex[u]);
    free(ex);
    free(all);
    free(rep);
    free(buf);
    free(tokens);
    free(row_seq);
    free(row_pos);
    return rc;
}
