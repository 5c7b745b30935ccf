/*
 * worker_weights.c — a worker's resident weights (see worker_weights.h).
 */
#include "node/worker_weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node/manifest.h"
#include "node/ring.h"
#include "node/worker_internal.h"
#include "util/clock.h"

int worker_weights_manifest(worker_t *w, const msg_t *m, err_t *err)
{
    manifest_t mf;
    int rc = manifest_from_msg(m, w->m->gguf, &mf, err);
    if (rc)
        return rc;
    manifest_fini(&w->manifest);
    w->manifest = mf;
    return 0;
}

/* The pages lying wholly inside [p, p + n) of the file mapping, dropped (read again from the file on use). */
static void drop_pages(const void *p, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t hi = ((uintptr_t)p + n) / (uintptr_t)page * (uintptr_t)page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Tensor t's bytes in the mapped file (what the model's matrices point at). */
static const unsigned char *tensor_bytes(const gguf_ctx_t *g, size_t t)
{
    return (const unsigned char *)gguf_file_data(g) + gguf_data_offset(g) + gguf_tensor_at(g, t)->offset;
}

static int is_file_mapping(const gguf_ctx_t *g)
{
    long page = sysconf(_SC_PAGESIZE);
    return g && page > 0 && (uintptr_t)gguf_file_data(g) % (uintptr_t)page == 0;
}

void worker_weights_release(worker_t *w)
{
    const gguf_ctx_t *g = w->m ? w->m->gguf : NULL;
    if (w->verified && g)
        memset(w->verified, 0, gguf_tensor_count(g));
    if (!is_file_mapping(g))
        return;
    /* A private read-only file mapping: the pages are dropped and read again from the file on use. */
    madvise((void *)gguf_file_data(g), gguf_file_size(g), MADV_DONTNEED);
}

void worker_weights_copied(void *ctx, const void *p, size_t n)
{
    worker_t *w = ctx;
    const gguf_ctx_t *g = w->m ? w->m->gguf : NULL;
    if (!is_file_mapping(g) || !w->verified)
        return;   /* memory that is not a file's pages cannot be read again: it stays */
    const unsigned char *at = p;
    for (size_t t = 0; t < gguf_tensor_count(g); t++) {
        const unsigned char *b = tensor_bytes(g, t);
        if (at >= b && at < b + gguf_tensor_at(g, t)->nbytes && w->verified[t])
            w->verified[t] = WEIGHTS_COPIED;   /* the copy is checked; pages read again from the file would not be */
    }
    drop_pages(p, n);
}

/* Keeps exactly the tensors keep[0..n): the verified ones leaving are given back, page by page (pages shared with
 * a neighbour stay); those entering are left unverified for the caller. */
static void keep_only(worker_t *w, const int *keep, int n)
{
    const gguf_ctx_t *g = w->m->gguf;
    const size_t count = gguf_tensor_count(g);
    uint8_t *want = calloc(count ? count : 1, 1);
    if (!want) {   /* out of memory: give everything back; the caller verifies all again */
        worker_weights_release(w);
        return;
    }
    for (int i = 0; i < n; i++)
        want[keep[i]] = 1;
    for (size_t t = 0; t < count; t++) {
        if (!w->verified[t] || want[t])
            continue;
        w->verified[t] = WEIGHTS_UNCHECKED;
        if (is_file_mapping(g))
            drop_pages(tensor_bytes(g, t), gguf_tensor_at(g, t)->nbytes);
    }
    free(want);
}

/* Ends the background work (its fetch too: what arrived stays in the cache). */
static void prepare_end(worker_t *w)
{
    worker_fetch_stop(w);
    free(w->prep.idx);
    memset(&w->prep, 0, sizeof w->prep);
}

/* ---- making tensors resident beside the running stage ---------------------------------------------- */

/* The background work cannot be done: say why (to the coordinator for a PREPARE), keep what is verified. */
static int prepare_fail(worker_t *w, int code, const char *why, err_t *err)
{
    const uint64_t id = w->prep.id;
    const int ack = w->prep.ack;
    worker_log(w, ack ? "prepare failed: " : "replicas: ", why);
    prepare_end(w);
    return ack ? worker_ack(w, id, RING_ACK_PREPARE, code, why, err) : 0;
}

/* The weights this worker holds: checked tensors' pages and its executors' interleaved copies. */
static uint64_t resident_bytes(const worker_t *w)
{
    uint64_t n = exec_il_bytes(w->ex) + exec_il_bytes(w->ex_old);
    for (size_t t = 0; w->verified && t < gguf_tensor_count(w->m->gguf); t++)
        n += w->verified[t] == WEIGHTS_CHECKED ? gguf_tensor_at(w->m->gguf, t)->nbytes : 0;
    return n;
}

/* Copies that the coming deployment's executor will not adopt from the previous one (w->ex_old, the only
 * executor left while a DEPLOY is handled): those tensors are unchecked again. */
static void forget_copies(worker_t *w, const int *stage, int n_stage)
{
    const gguf_ctx_t *g = w->m->gguf;
    const size_t count = gguf_tensor_count(g);
    uint8_t *in_stage = calloc(count ? count : 1, 1);
    for (int i = 0; in_stage && i < n_stage; i++)
        in_stage[stage[i]] = 1;
    for (size_t t = 0; t < count; t++) {
        if (w->verified[t] != WEIGHTS_COPIED)
            continue;
        if (!(in_stage && in_stage[t] && exec_holds_copy(w->ex_old, tensor_bytes(g, t))))
            w->verified[t] = WEIGHTS_UNCHECKED;   /* not adopted: its copy goes with the old executor */
    }
    free(in_stage);   /* out of memory: every copy is forgotten, and hashed again (slower, never wrong) */
}

/* Starts making the tensors all[0..n) of units [begin, end) resident in the background: fetched (without a
 * model file), then verified by worker_weights_prepare_tick.  ack: a PREPARE, acknowledged with id when done.
 * what names it in the log.  ERR_RANGE when this device may not hold them beside what it holds (--cache-max,
 * --mem-limit); why says so. */
static int background_start(worker_t *w, uint64_t id, int ack, const int *all, int n, uint32_t begin, uint32_t end,
                            const char *what, char *why, size_t why_cap)
{
    worker_prepare_t *p = &w->prep;
    const int cap = (int)gguf_tensor_count(w->m->gguf);
    if (!(p->idx = malloc((size_t)(cap ? cap : 1) * sizeof *p->idx))) {
        snprintf(why, why_cap, "out of memory");
        return ERR_NOMEM;
    }
    p->active = 1;
    p->id = id;
    p->ack = ack;
    p->begin = begin;
    p->end = end;
    p->what = what;
    p->t0 = clock_now();
    for (int i = 0; i < n; i++)   /* what is resident and verified already stays as it is */
        if (!w->verified[all[i]] && p->n < cap) {
            p->idx[p->n++] = all[i];
            p->bytes += gguf_tensor_at(w->m->gguf, (size_t)all[i])->nbytes;
        }
    const double limit_mb = worker_fetching(w) && w->o->cache_max_mb > 0 ? w->o->cache_max_mb : w->o->mem_limit_mb;
    const double held = (double)(resident_bytes(w) + p->bytes);
    if (limit_mb > 0 && held > limit_mb * 1048576.0) {
        snprintf(why, why_cap, "holding what this device holds and %.1f MiB more (%.1f MiB) exceeds the %.1f MiB it "
                 "may use", p->bytes / 1048576.0, held / 1048576.0, limit_mb);
        return ERR_RANGE;
    }
    if (p->n > 0) {
        char line[160];
        snprintf(line, sizeof line, "units %u-%u (%s): %d tensor(s), %.1f MiB to make resident while the stage runs",
                 begin, end, what, p->n, p->bytes / 1048576.0);
        worker_log(w, "preparing ", line);
    }
    err_t ferr;
    int rc = worker_fetching(w) && p->n > 0 ? worker_fetch_start(w, all, n, what, &ferr) : 0;   /* acked by tick */
    if (rc)
        snprintf(why, why_cap, "%s", ferr.msg);
    return rc;
}

int worker_weights_stage(worker_t *w, const msg_deploy_t *d, err_t *err)
{
    if (w->prep.active && w->prep.ack)
        worker_log(w, "prepare: ", "ended by a deployment that came first");
    prepare_end(w);
    if (!w->manifest.n)
        return err_set(err, ERR_STATE, "DEPLOY before the MANIFEST: the tensors cannot be checked");
    int cap = (int)gguf_tensor_count(w->m->gguf);
    if (!w->verified && !(w->verified = calloc((size_t)(cap ? cap : 1), 1)))
        return err_set(err, ERR_NOMEM, "out of memory");
    int *stage = malloc((size_t)(cap ? cap : 1) * sizeof *stage), *warm = malloc((size_t)(cap ? cap : 1) * sizeof *warm);
    if (!stage || !warm) {
        free(stage);
        free(warm);
        return err_set(err, ERR_NOMEM, "out of memory");
    }
    /* The stage's tensors now: fetched, verified, resident; then its overlap replicas' (the warm range's others)
     * in the background, the stage running.  Tensors verified at an earlier deployment or by a PREPARE and still
     * wanted (a boundary move onto a replica) are neither fetched, nor hashed, nor faulted in again. */
    int n_stage = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->unit_begin, (int)d->unit_end, stage, cap);
    int n_warm = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->warm_begin, (int)d->warm_end, warm, cap);
    int rc = n_stage < 0 || n_warm < 0 ? err_set(err, ERR_RANGE, "stage uses more tensors than the model has") : 0;
    if (rc == 0) {
        forget_copies(w, stage, n_stage);
        keep_only(w, warm, n_warm);
    }
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        if (worker_fetching(w) && (rc = worker_fetch_tensors(w, stage, n_stage, "stage", err)))
            break;
        int bad = 0;
        for (int i = 0; i < n_stage && rc == 0; i++) {
            if (w->verified[stage[i]])
                continue;
            int r = manifest_verify(&w->manifest, w->m->gguf, &stage[i], 1, err);
            if (r && worker_fetching(w) && pass == 0) {   /* the cached copy went bad on disk: fetch it again */
                worker_log(w, "cache: ", err->msg);
                worker_fetch_forget(w, stage[i]);
                bad++;
            } else if (r) {
                rc = r;
            } else {
                w->verified[stage[i]] = WEIGHTS_CHECKED;
            }
        }
        if (!bad)
            break;
        worker_weights_release(w);
    }
    char why[600];
    if (rc == 0 && n_warm > n_stage &&
        background_start(w, 0, 0, warm, n_warm, d->warm_begin, d->warm_end, "replicas", why, sizeof why)) {
        worker_log(w, "no overlap replicas: ", why);   /* e.g. the cache holds the stage, not more */
        prepare_end(w);
        keep_only(w, stage, n_stage);
    }
    if (rc)
        worker_weights_release(w);   /* a failed deployment keeps nothing it vouched for */
    free(stage);
    free(warm);
    return rc;
}

int worker_weights_prepare(worker_t *w, const msg_t *m, err_t *err)
{
    const msg_deploy_t *d = &m->deploy;
    if (w->prep.active && w->prep.ack)
        worker_log(w, "prepare: ", "a newer one replaces the one running");
    prepare_end(w);
    w->prep.id = m->session;
    w->prep.ack = 1;
    char why[600];
    const int cap = (int)gguf_tensor_count(w->m->gguf);
    if (memcmp(d->model_hash, w->hash, 32) != 0)
        return prepare_fail(w, ERR_STATE, "model hash mismatch", err);
    if (d->warm_end > (uint32_t)w->seg->n_units) {
        snprintf(why, sizeof why, "warm range %u-%u exceeds the model's %d units", d->warm_begin, d->warm_end,
                 w->seg->n_units);
        return prepare_fail(w, ERR_RANGE, why, err);
    }
    if (!w->manifest.n)
        return prepare_fail(w, ERR_STATE, "PREPARE before the MANIFEST: the tensors cannot be checked", err);
    int *all = malloc((size_t)(cap ? cap : 1) * sizeof *all);
    if ((!w->verified && !(w->verified = calloc((size_t)(cap ? cap : 1), 1))) || !all) {
        free(all);
        return prepare_fail(w, ERR_NOMEM, "out of memory", err);
    }
    int n = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->warm_begin, (int)d->warm_end, all, cap);
    int rc = ERR_RANGE;
    if (n < 0)
        snprintf(why, sizeof why, "the range uses more tensors than the model has");
    else
        rc = background_start(w, m->session, 1, all, n, d->warm_begin, d->warm_end, "prepare", why, sizeof why);
    free(all);
    return rc ? prepare_fail(w, rc, why, err) : 0;
}

int worker_weights_on_chunk(worker_t *w, const msg_t *m, err_t *err)
{
    err_t why;
    int rc = worker_fetch_on_chunk(w, m, &why);
    if (rc == 0)
        return 0;
    if (rc != ERR_PROTO && w->prep.active)
        return prepare_fail(w, rc, why.msg, err);   /* a PREPARE: said to the coordinator, which deploys anyway */
    *err = why;
    return rc;
}

int worker_weights_prepare_tick(worker_t *w, err_t *err)
{
    worker_prepare_t *p = &w->prep;
    if (!p->active || worker_fetch_busy(w))
        return 0;   /* nothing to do, or waiting for chunks */
    if (p->at < p->n) {
        const int t = p->idx[p->at];
        if (worker_fetching(w) && !w->fetch.done[t])
            return prepare_fail(w, ERR_STATE, "its fetch ended before every tensor arrived", err);
        err_t why;
        if (manifest_verify(&w->manifest, w->m->gguf, &t, 1, &why)) {
            if (worker_fetching(w))
                worker_fetch_forget(w, t);   /* a deployment fetches it again */
            return prepare_fail(w, ERR_STATE, why.msg, err);
        }
        w->verified[t] = WEIGHTS_CHECKED;
        if (++p->at < p->n)
            return 1;
    }
    char line[160];
    snprintf(line, sizeof line, "units %u-%u (%s) resident: %.1f MiB new in %.0f ms", p->begin, p->end, p->what,
             p->bytes / 1048576.0, 1e3 * (clock_now() - p->t0));
    if (p->n > 0)
        worker_log(w, "", line);
    const uint64_t id = p->id;
    const int ack = p->ack;
    prepare_end(w);
    return worker_ack(w, ack ? id : 0, RING_ACK_PREPARE, 0, "", err);   /* 0: this deployment's replicas */
}

void worker_weights_fini(worker_t *w)
{
    prepare_end(w);
    manifest_fini(&w->manifest);
    free(w->verified);
    w->verified = NULL;
}

unsigned long long worker_offered_memory(const worker_t *w)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double mem = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    if (w->o->mem_limit_mb > 0 && mem > w->o->mem_limit_mb * 1048576.0)
        mem = w->o->mem_limit_mb * 1048576.0;
    if (w->o->cache_max_mb > 0 && mem > w->o->cache_max_mb * 1048576.0)
        mem = w->o->cache_max_mb * 1048576.0;
    return (unsigned long long)mem;
}
