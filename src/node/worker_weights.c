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
#include "node/worker_internal.h"

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
    const unsigned char *data = (const unsigned char *)gguf_file_data(g) + gguf_data_offset(g);
    for (size_t t = 0; t < count; t++) {
        if (!w->verified[t] || want[t])
            continue;
        w->verified[t] = 0;
        if (is_file_mapping(g))
            drop_pages(data + gguf_tensor_at(g, t)->offset, gguf_tensor_at(g, t)->nbytes);
    }
    free(want);
}

int worker_weights_stage(worker_t *w, const msg_deploy_t *d, err_t *err)
{
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
    /* The stage's tensors, then its overlap replicas' (the warm range's others): fetched, verified, resident.
     * Tensors verified at an earlier deployment and still wanted (a boundary move onto a replica) are neither
     * fetched, nor hashed, nor faulted in again. */
    int n_stage = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->unit_begin, (int)d->unit_end, stage, cap);
    int n_warm = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->warm_begin, (int)d->warm_end, warm, cap);
    int rc = n_stage < 0 || n_warm < 0 ? err_set(err, ERR_RANGE, "stage uses more tensors than the model has") : 0;
    const int *keep = warm;
    int n_keep = n_warm;
    if (rc == 0)
        keep_only(w, warm, n_warm);
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        if (worker_fetching(w) && (rc = worker_fetch_tensors(w, stage, n_stage, "stage", err)))
            break;
        if (worker_fetching(w) && keep == warm && (rc = worker_fetch_tensors(w, warm, n_warm, "replicas", err))) {
            if (rc != ERR_RANGE)
                break;
            worker_log(w, "no overlap replicas: ", err->msg);   /* the cache holds the stage, not more */
            keep = stage;
            n_keep = n_stage;
            keep_only(w, stage, n_stage);
            rc = 0;
        }
        int bad = 0;
        for (int i = 0; i < n_keep && rc == 0; i++) {
            if (w->verified[keep[i]])
                continue;
            int r = manifest_verify(&w->manifest, w->m->gguf, &keep[i], 1, err);
            if (r && worker_fetching(w) && pass == 0) {   /* the cached copy went bad on disk: fetch it again */
                worker_log(w, "cache: ", err->msg);
                worker_fetch_forget(w, keep[i]);
                bad++;
            } else if (r) {
                rc = r;
            } else {
                w->verified[keep[i]] = 1;
            }
        }
        if (!bad)
            break;
        worker_weights_release(w);
    }
    if (rc)
        worker_weights_release(w);   /* a failed deployment keeps nothing it vouched for */
    free(stage);
    free(warm);
    return rc;
}

void worker_weights_fini(worker_t *w)
{
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
