/*
 * manifest.c — model identity, tensor manifests and stage tensor lists (see manifest.h).
 */
#include "node/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/sha256.h"

#define READ_CHUNK (256u << 10)

void manifest_model_id(const gguf_ctx_t *g, uint8_t id[32])
{
    sha256(gguf_file_data(g), gguf_data_offset(g), id);
}

static int manifest_alloc(manifest_t *mf, uint32_t n, err_t *err)
{
    memset(mf, 0, sizeof *mf);
    mf->bytes = calloc(n ? n : 1, sizeof *mf->bytes);
    mf->hash = calloc(n ? n : 1, sizeof *mf->hash);
    if (!mf->bytes || !mf->hash) {
        manifest_fini(mf);
        return err_set(err, ERR_NOMEM, "manifest: out of memory for %u tensors", n);
    }
    mf->n = n;
    return 0;
}

void manifest_fini(manifest_t *mf)
{
    free(mf->bytes);
    free(mf->hash);
    memset(mf, 0, sizeof *mf);
}

int manifest_from_file(const char *path, const gguf_ctx_t *g, manifest_t *mf, err_t *err)
{
    size_t n = gguf_tensor_count(g);
    if (n > MSG_MAX_TENSORS)
        return err_set(err, ERR_RANGE, "%s: %zu tensors, at most %d supported", path, n, MSG_MAX_TENSORS);
    int rc = manifest_alloc(mf, (uint32_t)n, err);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = malloc(READ_CHUNK);
    if (fd < 0 || !buf) {
        rc = fd < 0 ? err_set(err, ERR_IO, "%s: %s", path, strerror(errno)) : err_set(err, ERR_NOMEM, "out of memory");
        goto done;
    }
    const size_t base = gguf_data_offset(g);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, i);
        sha256_t s;
        sha256_init(&s);
        for (size_t off = 0; off < t->nbytes && rc == 0;) {
            size_t want = t->nbytes - off < READ_CHUNK ? t->nbytes - off : READ_CHUNK;
            ssize_t got = pread(fd, buf, want, (off_t)(base + t->offset + off));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                rc = err_set(err, ERR_IO, "%s: reading tensor '%s': %s", path, t->name,
                             got < 0 ? strerror(errno) : "file shorter than its tensor table says");
            else {
                sha256_update(&s, buf, (size_t)got);
                off += (size_t)got;
            }
        }
        sha256_final(&s, mf->hash[i]);
        mf->bytes[i] = t->nbytes;
    }
    /* What we read is in the page cache only; tell the kernel we are done with it. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    if (rc)
        manifest_fini(mf);
    return rc;
}

int manifest_from_msg(const msg_t *m, const gguf_ctx_t *g, manifest_t *mf, err_t *err)
{
    size_t n = gguf_tensor_count(g);
    if (m->manifest.n_tensors != n)
        return err_set(err, ERR_PROTO, "MANIFEST lists %u tensors; the model has %zu", m->manifest.n_tensors, n);
    int rc = manifest_alloc(mf, (uint32_t)n, err);
    if (rc)
        return rc;
    uint8_t *seen = calloc(n, 1);
    if (!seen) {
        manifest_fini(mf);
        return err_set(err, ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint32_t idx;
        uint64_t bytes;
        uint8_t h[32];
        msg_manifest_at(m, i, &idx, &bytes, h);
        if (idx >= n || seen[idx])
            rc = err_set(err, ERR_PROTO, "MANIFEST entry %zu: tensor index %u %s", i, idx,
                         idx >= n ? "out of range" : "listed twice");
        else if (bytes != gguf_tensor_at(g, idx)->nbytes)
            rc = err_set(err, ERR_PROTO, "MANIFEST: tensor '%s' has %llu bytes there, %zu here",
                         gguf_tensor_at(g, idx)->name, (unsigned long long)bytes, gguf_tensor_at(g, idx)->nbytes);
        else {
            seen[idx] = 1;
            mf->bytes[idx] = bytes;
            memcpy(mf->hash[idx], h, 32);
        }
    }
    free(seen);
    if (rc)
        manifest_fini(mf);
    return rc;
}

void manifest_to_msg(const manifest_t *mf, uint8_t *data, msg_t *m)
{
    msg_init(m, MSG_MANIFEST);
    for (uint32_t i = 0; i < mf->n; i++)
        msg_manifest_put(data, i, i, mf->bytes[i], mf->hash[i]);
    m->manifest.n_tensors = mf->n;
    m->data = data;
    m->data_len = (size_t)mf->n * MSG_MANIFEST_ENTRY;
}

/* The GGUF index of the tensor whose data starts at p, or -1. */
static int tensor_at(const gguf_ctx_t *g, const void *p)
{
    for (size_t i = 0; p && i < gguf_tensor_count(g); i++)
        if (gguf_tensor_at(g, i)->data == p)
            return (int)i;
    return -1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int manifest_stage_tensors(const seg_t *seg, const gguf_ctx_t *g, int ub, int ue, int *idx, int cap)
{
    int n = 0;
    for (int u = ub; u < ue; u++) {
        for (int k = seg->units[u].node_begin; k < seg->units[u].node_end; k++) {
            const graph_node_t *nd = &seg->graph->nodes[k];
            const void *ptrs[2] = {nd->w ? nd->w->data : NULL, nd->norm};
            for (int j = 0; j < 2; j++) {
                int t = tensor_at(g, ptrs[j]);
                if (t < 0)
                    continue;
                int dup = 0;
                for (int i = 0; i < n && !dup; i++)
                    dup = idx[i] == t;
                if (dup)
                    continue;
                if (n == cap)
                    return -1;
                idx[n++] = t;
            }
        }
    }
    qsort(idx, (size_t)n, sizeof *idx, cmp_int);
    return n;
}

int manifest_verify(const manifest_t *mf, const gguf_ctx_t *g, const int *idx, int n, err_t *err)
{
    for (int i = 0; i < n; i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, (size_t)idx[i]);
        if ((uint32_t)idx[i] >= mf->n)
            return err_set(err, ERR_STATE, "tensor %d is not in the manifest", idx[i]);
        uint8_t h[32];
        sha256(t->data, t->nbytes, h);
        if (memcmp(h, mf->hash[idx[i]], 32) != 0)
            return err_set(err, ERR_STATE, "tensor '%s' differs from the coordinator's (SHA-256 mismatch): this "
                                           "device's model file is another model with the same layout", t->name);
    }
    return 0;
}
