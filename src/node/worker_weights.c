/*
 * worker_weights.c — a worker's resident weights (see worker_weights.h).
 */
#include "node/worker_weights.h"

#include <stdint.h>
#include <stdlib.h>
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

void worker_weights_release(worker_t *w)
{
    const gguf_ctx_t *g = w->m ? w->m->gguf : NULL;
    if (!g)
        return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)gguf_file_data(g);
    if (page <= 0 || base % (uintptr_t)page)
        return;   /* not a file mapping */
    /* A private read-only file mapping: the pages are dropped and read again from the file on use. */
    madvise((void *)base, gguf_file_size(g), MADV_DONTNEED);
}

int worker_weights_stage(worker_t *w, const msg_deploy_t *d, err_t *err)
{
    if (!w->manifest.n)
        return err_set(err, ERR_STATE, "DEPLOY before the MANIFEST: the tensors cannot be checked");
    worker_weights_release(w);
    int cap = (int)gguf_tensor_count(w->m->gguf);
    int *stage = malloc((size_t)(cap ? cap : 1) * sizeof *stage), *warm = malloc((size_t)(cap ? cap : 1) * sizeof *warm);
    if (!stage || !warm) {
        free(stage);
        free(warm);
        return err_set(err, ERR_NOMEM, "out of memory");
    }
    /* The stage's tensors, then its overlap replicas' (the warm range's others): fetched, verified, resident. */
    int n_stage = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->unit_begin, (int)d->unit_end, stage, cap);
    int n_warm = manifest_stage_tensors(w->seg, w->m->gguf, (int)d->warm_begin, (int)d->warm_end, warm, cap);
    int rc = n_stage < 0 || n_warm < 0 ? err_set(err, ERR_RANGE, "stage uses more tensors than the model has") : 0;
    const int *keep = warm;
    int n_keep = n_warm;
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        if (worker_fetching(w) && (rc = worker_fetch_tensors(w, stage, n_stage, "stage", err)))
            break;
        if (worker_fetching(w) && keep == warm && (rc = worker_fetch_tensors(w, warm, n_warm, "replicas", err))) {
            if (rc != ERR_RANGE)
                break;
            worker_log(w, "no overlap replicas: ", err->msg);   /* the cache holds the stage, not more */
            keep = stage;
            n_keep = n_stage;
            rc = 0;
        }
        int bad = 0;
        for (int i = 0; i < n_keep && rc == 0; i++) {
            int r = manifest_verify(&w->manifest, w->m->gguf, &keep[i], 1, err);
            if (r && worker_fetching(w) && pass == 0) {   /* the cached copy went bad on disk: fetch it again */
                worker_log(w, "cache: ", err->msg);
                worker_fetch_forget(w, keep[i]);
                bad++;
            } else {
                rc = r;
            }
        }
        if (!bad)
            break;
        worker_weights_release(w);
    }
    free(stage);
    free(warm);
    return rc;
}

void worker_weights_fini(worker_t *w) { manifest_fini(&w->manifest); }

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
