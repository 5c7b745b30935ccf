/*
 * worker_fetch.c — weights shipped once into a cache (see worker_fetch.h).
 */
#include "node/worker_fetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/manifest.h"
#include "node/ring.h"
#include "node/worker_internal.h"
#include "util/clock.h"
#include "util/sha256.h"

#define REPLY_TIMEOUT_MS 15000
#define PROGRESS_S 1.0

int worker_fetching(const worker_t *w) { return w->fetch.on; }

int worker_cache_default(char *buf, unsigned cap, err_t *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/lingua", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.cache/lingua", home);
    else
        return err_set(err, ERR_STATE, "neither XDG_CACHE_HOME nor HOME is set: give the cache with --cache DIR");
    if (n < 0 || (unsigned)n >= cap)
        return err_set(err, ERR_RANGE, "cache path longer than %u bytes", cap - 1);
    return 0;
}

void worker_fetch_forget(worker_t *w, int t)
{
    if (!w->fetch.on || t < 0 || (unsigned)t >= w->fetch.n)
        return;
    w->fetch.got[t] = 0;
    w->fetch.done[t] = 0;
    char line[48];
    int len = snprintf(line, sizeof line, "%d 0\n", t);
    if (write(w->fetch.have_fd, line, (size_t)len) != len)
        worker_log(w, "cannot record in the cache: ", strerror(errno));
}

void worker_fetch_fini(worker_t *w)
{
    worker_fetch_t *f = &w->fetch;
    if (f->file_fd > 0)
        close(f->file_fd);
    if (f->have_fd > 0)
        close(f->have_fd);
    free(f->got);
    free(f->done);
    free(f->queue);
    memset(f, 0, sizeof *f);
}

/* ---- the exchange ---------------------------------------------------------------- */

static int send_request(worker_t *w, const char *name, uint64_t offset, uint64_t total, uint64_t remaining,
                        err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_WEIGHTS_CHUNK);
    m.flags = RING_WEIGHTS_REQUEST;
    m.step = remaining;
    snprintf(m.weights.name, sizeof m.weights.name, "%s", name);
    m.weights.offset = offset;
    m.weights.total = total;
    return worker_send_ctl(w, &m, err);
}

/* The next WEIGHTS_CHUNK on the control socket (heartbeats and welcomes skipped). */
static int next_chunk(worker_t *w, msg_t *m, err_t *err)
{
    int64_t deadline = net_now_ms() + REPLY_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        if (left <= 0)
            return err_set(err, ERR_TIMEOUT, "no weights from the coordinator for %d ms", REPLY_TIMEOUT_MS);
        int rc = wsec_poll(w->sec, err);   /* a refused handshake says so at once */
        if (rc)
            return rc;
        rc = net_recv(w->ctl, &w->rx_ctl, left < 200 ? (int)left : 200, m, &w->stats, err);
        if (rc == ERR_PROTO) {
            worker_log(w, "control: ", err->msg);
            continue;
        }
        if (rc == ERR_TIMEOUT)
            continue;
        if (rc)
            return rc;
        w->last_heard = net_now_ms();
        if (m->type == MSG_WEIGHTS_CHUNK)
            return 0;
        if (m->type == MSG_ERROR) {
            w->refused = 1;
            return err_set(err, m->error.code < 0 ? m->error.code : ERR_STATE, "coordinator: %s", m->error.text);
        }
        if (m->type != MSG_HEARTBEAT && m->type != MSG_WELCOME)
            return err_set(err, ERR_PROTO, "%s while weights were being fetched", msg_type_name(m->type));
    }
}

static void progress(worker_t *w, uint64_t done, uint64_t total, double t0, int final)
{
    double dt = clock_now() - t0, rate = dt > 0 ? (double)done / dt : 0;
    fprintf(stderr, "worker %s: %s %.1f of %.1f MiB%s%s%s, %.1f MiB/s, %s %.1f s\n", w->o->name,
            final ? "fetched" : "fetching", done / 1048576.0, total / 1048576.0, w->fetch.what ? " (" : "",
            w->fetch.what ? w->fetch.what : "", w->fetch.what ? ")" : "", rate / 1048576.0,
            final ? "in" : "ETA", final ? dt : rate > 0 ? (double)(total - done) / rate : 0.0);
}

static void note_have(worker_t *w, const char *what, uint64_t got)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%s %llu\n", what, (unsigned long long)got);
    if (w->fetch.have_fd > 0 && write(w->fetch.have_fd, line, (size_t)n) != n)
        worker_log(w, "cannot record fetch progress in the cache: ", strerror(errno));
}

/* SHA-256 of the file's bytes [off, off + n), read with pread (the page cache, not this process, holds them). */
static int hash_file(int fd, uint64_t off, uint64_t n, uint8_t out[32], err_t *err)
{
    uint8_t *buf = malloc(FETCH_CHUNK);
    if (!buf)
        return err_set(err, ERR_NOMEM, "out of memory");
    sha256_t s;
    sha256_init(&s);
    int rc = 0;
    for (uint64_t at = 0; at < n && rc == 0;) {
        size_t want = n - at < FETCH_CHUNK ? (size_t)(n - at) : FETCH_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(off + at));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            rc = err_set(err, ERR_IO, "cache file: %s", got < 0 ? strerror(errno) : "shorter than expected");
        else {
            sha256_update(&s, buf, (size_t)got);
            at += (uint64_t)got;
        }
    }
    sha256_final(&s, out);
    free(buf);
    return rc;
}

/* Stores an answered chunk of a piece (metadata or a tensor) at file_off in the cache file: it must be the chunk
 * of name at *got, which it advances. */
static int store_chunk(worker_t *w, const msg_t *m, const char *name, const char *tag, uint64_t file_off,
                       uint64_t total, uint64_t *got, err_t *err)
{
    uint64_t want = total - *got < FETCH_CHUNK ? total - *got : FETCH_CHUNK;
    if (strcmp(m->weights.name, name) != 0 || m->weights.offset != *got || m->weights.total != total ||
        m->data_len != want)
        return err_set(err, ERR_PROTO, "unexpected chunk of '%s' at %llu (%zu bytes); wanted '%s' at %llu",
                       m->weights.name, (unsigned long long)m->weights.offset, m->data_len, name,
                       (unsigned long long)*got);
    ssize_t wr = pwrite(w->fetch.file_fd, m->data, m->data_len, (off_t)(file_off + m->weights.offset));
    if (wr != (ssize_t)m->data_len)
        return err_set(err, ERR_IO, "%s/model.gguf: %s", w->fetch.dir, wr < 0 ? strerror(errno) : "short write");
    *got += m->data_len;
    w->fetch.shipped += m->data_len;
    note_have(w, tag, *got);
    return 0;
}

/* A whole piece against its announced hash; a mismatch forgets its bytes (*got = 0) and is ERR_STATE. */
static int check_piece(worker_t *w, const char *name, const char *tag, uint64_t file_off, uint64_t total,
                       const uint8_t hash[32], uint64_t *got, err_t *err)
{
    uint8_t h[32];
    int rc = hash_file(w->fetch.file_fd, file_off, total, h, err);
    if (rc)
        return rc;
    if (memcmp(h, hash, 32) != 0) {
        *got = 0;
        note_have(w, tag, 0);
        return err_set(err, ERR_STATE, "'%s' arrived with another SHA-256 than announced", name);
    }
    return 0;
}

/* Fetches bytes [*got, total) of the metadata into the file at offset 0 and checks its hash (the model id). */
static int fetch_metadata(worker_t *w, uint64_t total, const uint8_t hash[32], uint64_t *got, err_t *err)
{
    const double t0 = clock_now();
    double last = t0;
    uint64_t next = *got;
    int inflight = 0, rc = 0;
    while (*got < total && rc == 0) {
        while (inflight < FETCH_WINDOW && next < total && rc == 0) {
            rc = send_request(w, RING_WEIGHTS_METADATA, next, total, total - next, err);
            next += total - next < FETCH_CHUNK ? total - next : FETCH_CHUNK;
            inflight++;
        }
        msg_t m;
        if (rc || (rc = next_chunk(w, &m, err)))
            break;
        inflight--;
        rc = store_chunk(w, &m, RING_WEIGHTS_METADATA, "meta", 0, total, got, err);
        if (rc == 0 && clock_now() - last >= PROGRESS_S) {
            progress(w, *got, total, t0, 0);
            last = clock_now();
        }
    }
    for (; inflight > 0 && rc; inflight--) {   /* drain answers to requests already sent */
        msg_t m;
        err_t ignored;
        if (next_chunk(w, &m, &ignored))
            break;
    }
    return rc ? rc : check_piece(w, RING_WEIGHTS_METADATA, "meta", 0, total, hash, got, err);
}

/* ---- the model: from the cache or fetched ------------------------------------------ */

static int is_hex_id(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* The ids of the models in the cache (directories named by id holding model.gguf). */
static void cached_ids(const char *root, msg_hello_t *h)
{
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)) && h->n_cached < MSG_MAX_CACHED) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s/model.gguf", root, e->d_name);
        if (!is_hex_id(e->d_name) || access(path, R_OK) != 0)
            continue;
        for (int i = 0; i < 32; i++) {
            unsigned v;
            sscanf(e->d_name + 2 * i, "%2x", &v);
            h->cached[h->n_cached][i] = (uint8_t)v;
        }
        h->n_cached++;
    }
    if (d)
        closedir(d);
}

static int make_dir(const char *path, err_t *err)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        int end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST)
                return err_set(err, ERR_IO, "cannot create %s: %s", p, strerror(errno));
            if (end)
                return 0;
            *s = '/';
        }
    }
}

static void remove_cache_dir(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/have", dir);
    unlink(path);
}

/* Reads the have file: which tensors are whole and checked, how much of the others is there. */
static void read_have(worker_t *w)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/have", w->fetch.dir);
    FILE *f = fopen(path, "r");
    char line[128];
    int bad = 0;
    while (f && fgets(line, sizeof line, f)) {
        char what[32], val[32];
        if (sscanf(line, "%31s %31s", what, val) != 2) {
            bad++;
            continue;
        }
        if (!strcmp(what, "meta"))
            continue;
        char *end;
        unsigned long t = strtoul(what, &end, 10);
        if (*end || t >= w->fetch.n) {
            bad++;
            continue;
        }
        uint64_t nbytes = gguf_tensor_at(w->m->gguf, t)->nbytes;
        if (!strcmp(val, "done")) {
            w->fetch.got[t] = nbytes;
            w->fetch.done[t] = 1;
            continue;
        }
        unsigned long long off = strtoull(val, &end, 10);
        if (*end || off > nbytes) {
            bad++;
            continue;
        }
        w->fetch.got[t] = off;
        w->fetch.done[t] = 0;
    }
    if (f)
        fclose(f);
    if (bad)
        fprintf(stderr, "worker %s: %s: %d unreadable line(s) ignored\n", w->o->name, path, bad);
}

static int open_cached(worker_t *w, const uint8_t id[32], uint64_t file_size, err_t *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/model.gguf", w->fetch.dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return ERR_NOTFOUND;
    int rc = (uint64_t)st.st_size != file_size
                 ? err_set(err, ERR_FORMAT, "%llu bytes, want %llu", (unsigned long long)st.st_size,
                           (unsigned long long)file_size)
                 : model_load(path, &w->m, err);
    uint8_t got[32];
    if (rc == 0) {
        manifest_model_id(w->m->gguf, got);
        if (memcmp(got, id, 32) != 0) {
            model_destroy(&w->m);
            rc = err_set(err, ERR_FORMAT, "its metadata is another model's");
        }
    }
    if (rc) {
        fprintf(stderr, "worker %s: cache file %s is truncated or damaged (%s): replaced\n", w->o->name, path,
                err->msg);
        remove_cache_dir(w->fetch.dir);
        return ERR_NOTFOUND;
    }
    return 0;
}

static int announce(worker_t *w, uint8_t id[32], uint64_t *meta_bytes, uint64_t *file_size, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_HELLO);
    msg_hello_t *h = &m.hello;
    m.flags = RING_HELLO_FETCH;
    h->proto_version = MSG_VERSION;
    snprintf(h->device, sizeof h->device, "%s", w->o->name);
    h->cores = 1;
    snprintf(h->endpoint, sizeof h->endpoint, "%s", w->endpoint);
    wsec_fill_hello(w->sec, h);
    cached_ids(w->o->cache_dir, h);
    int rc = worker_send_ctl(w, &m, err);
    if (rc == 0)
        rc = next_chunk(w, &m, err);
    if (rc)
        return rc;
    if (strcmp(m.weights.name, RING_WEIGHTS_METADATA) != 0 || m.data_len != 0 || m.session < m.weights.total ||
        m.weights.total < 8)
        return err_set(err, ERR_PROTO, "the coordinator's model announcement is malformed ('%s', %llu of %llu bytes)",
                       m.weights.name, (unsigned long long)m.weights.total, (unsigned long long)m.session);
    memcpy(id, m.weights.hash, 32);
    *meta_bytes = m.weights.total;
    *file_size = m.session;
    return 0;
}

int worker_fetch_model(worker_t *w, err_t *err)
{
    worker_fetch_t *f = &w->fetch;
    f->on = 1;
    uint8_t id[32];
    uint64_t meta_bytes = 0, file_size = 0;
    int rc = announce(w, id, &meta_bytes, &file_size, err);
    if (rc)
        return rc;
    char hex[65];
    sha256_hex(id, hex);
    snprintf(f->dir, sizeof f->dir, "%s/%s", w->o->cache_dir, hex);
    if ((rc = make_dir(f->dir, err)))
        return rc;
    char path[1100];
    snprintf(path, sizeof path, "%s/model.gguf", f->dir);
    rc = open_cached(w, id, file_size, err);
    if (rc == ERR_NOTFOUND) {   /* fetch the metadata into a sparse file of the model's size */
        err_clear(err);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)file_size) != 0) {
            rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return rc;
        }
        f->file_fd = fd;
        for (int tries = 0; tries < FETCH_TRIES; tries++) {
            uint64_t got = 0;
            rc = fetch_metadata(w, meta_bytes, id, &got, err);
            if (rc != ERR_STATE)
                break;
            worker_log(w, "refetching: ", err->msg);
        }
        close(f->file_fd);
        f->file_fd = 0;
        if (rc == 0)
            rc = model_load(path, &w->m, err);
        if (rc)
            return rc;
        char have[1100];
        snprintf(have, sizeof have, "%s/have", f->dir);
        unlink(have);   /* a fresh file: nothing of an older fetch is in it */
    } else if (rc) {
        return rc;
    }
    f->n = (unsigned)gguf_tensor_count(w->m->gguf);
    f->got = calloc(f->n ? f->n : 1, sizeof *f->got);
    f->done = calloc(f->n ? f->n : 1, 1);
    if (!f->got || !f->done)
        return err_set(err, ERR_NOMEM, "out of memory");
    read_have(w);
    f->file_fd = open(path, O_RDWR | O_CLOEXEC);
    snprintf(path, sizeof path, "%s/have", f->dir);
    f->have_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->file_fd < 0 || f->have_fd < 0)
        return err_set(err, ERR_IO, "%s: %s", f->dir, strerror(errno));
    return 0;
}

/* ---- the tensor fetch: one engine, waited for or run from the event loop ------------------------ */

int worker_fetch_busy(const worker_t *w) { return w->fetch.active; }

static const gguf_tensor_t *fetched_tensor(const worker_t *w)
{
    return gguf_tensor_at(w->m->gguf, (size_t)w->fetch.queue[w->fetch.at]);
}

/* Ends the fetch; answers to its requests still out are absorbed as they come (they come in order, first). */
static void finish(worker_t *w)
{
    worker_fetch_t *f = &w->fetch;
    f->active = 0;
    f->stale += f->inflight;
    f->inflight = 0;
    f->seconds += clock_now() - f->t0;
    if (f->at == f->n_queue && f->n_queue > 0) {
        fdatasync(f->file_fd);
        progress(w, f->done_all, f->done_all, f->t0, 1);
    }
    f->what = NULL;
}

/* queue[at] has all its bytes and no request is out: check it, then go on with the next tensor. */
static int tensor_whole(worker_t *w, err_t *err)
{
    worker_fetch_t *f = &w->fetch;
    const int t = f->queue[f->at];
    const gguf_tensor_t *gt = fetched_tensor(w);
    char tag[16];
    snprintf(tag, sizeof tag, "%d", t);
    uint64_t got = f->got[t];
    int rc = check_piece(w, gt->name, tag, gguf_data_offset(w->m->gguf) + gt->offset, gt->nbytes, w->manifest.hash[t],
                         &got, err);
    f->got[t] = got;
    if (rc == ERR_STATE && ++f->tries < FETCH_TRIES) {
        worker_log(w, "hash mismatch, fetching again: ", err->msg);
        f->all += gt->nbytes;
        f->next = 0;
        return 0;
    }
    if (rc)
        return rc;
    f->done[t] = 1;
    char line[48];
    int len = snprintf(line, sizeof line, "%d done\n", t);
    if (write(f->have_fd, line, (size_t)len) != len)
        worker_log(w, "cannot record a fetched tensor in the cache: ", strerror(errno));
    f->tries = 0;
    if (++f->at < f->n_queue)
        f->next = f->got[f->queue[f->at]];
    return 0;
}

/* Checks the tensors that are whole, then asks for queue[at]'s next chunks up to the window; ends the fetch
 * after its last tensor. */
static int pump(worker_t *w, err_t *err)
{
    worker_fetch_t *f = &w->fetch;
    while (f->at < f->n_queue && f->inflight == 0 && f->got[f->queue[f->at]] == fetched_tensor(w)->nbytes) {
        int rc = tensor_whole(w, err);
        if (rc)
            return rc;
    }
    if (f->at == f->n_queue) {
        finish(w);
        return 0;
    }
    const gguf_tensor_t *gt = fetched_tensor(w);
    const uint64_t got = f->got[f->queue[f->at]];
    while (f->inflight < FETCH_WINDOW && f->next < gt->nbytes) {
        int rc = send_request(w, gt->name, f->next, gt->nbytes, f->all - f->done_all - (f->next - got), err);
        if (rc)
            return rc;
        f->next += gt->nbytes - f->next < FETCH_CHUNK ? gt->nbytes - f->next : FETCH_CHUNK;
        f->inflight++;
    }
    return 0;
}

int worker_fetch_on_chunk(worker_t *w, const msg_t *m, err_t *err)
{
    worker_fetch_t *f = &w->fetch;
    if (f->stale > 0) {   /* asked for by a fetch that ended meanwhile: a later one asks again if it needs it */
        f->stale--;
        return 0;
    }
    if (!f->active)
        return err_set(err, ERR_PROTO, "a weights chunk nobody asked for ('%s' at %llu)", m->weights.name,
                       (unsigned long long)m->weights.offset);
    const int t = f->queue[f->at];
    const gguf_tensor_t *gt = fetched_tensor(w);
    char tag[16];
    snprintf(tag, sizeof tag, "%d", t);
    uint64_t got = f->got[t];
    f->inflight--;
    int rc = store_chunk(w, m, gt->name, tag, gguf_data_offset(w->m->gguf) + gt->offset, gt->nbytes, &got, err);
    f->done_all += got - f->got[t];
    f->got[t] = got;
    if (rc == 0 && clock_now() - f->last_report >= PROGRESS_S) {
        progress(w, f->done_all, f->all, f->t0, 0);
        f->last_report = clock_now();
    }
    if (rc == 0)
        rc = pump(w, err);
    if (rc)
        finish(w);
    return rc;
}

void worker_fetch_stop(worker_t *w)
{
    if (w->fetch.active)
        finish(w);
}

int worker_fetch_start(worker_t *w, const int *idx, int n, const char *what, err_t *err)
{
    worker_fetch_t *f = &w->fetch;
    worker_fetch_stop(w);
    const gguf_ctx_t *g = w->m->gguf;
    uint64_t need = 0, stage = 0;
    f->n_queue = f->at = 0;
    if (!f->queue && !(f->queue = malloc((f->n ? f->n : 1) * sizeof *f->queue)))
        return err_set(err, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const uint64_t bytes = gguf_tensor_at(g, (size_t)idx[i])->nbytes;
        stage += bytes;
        if (f->done[idx[i]] || (unsigned)f->n_queue >= f->n)
            continue;
        need += bytes - f->got[idx[i]];
        f->queue[f->n_queue++] = idx[i];
    }
    if (w->o->cache_max_mb > 0 && (double)stage > w->o->cache_max_mb * 1048576.0)
        return err_set(err, ERR_RANGE, "the cache %s may hold %.1f MiB; this stage's tensors need %.1f MiB: "
                                       "this device cannot take this stage", w->o->cache_dir, w->o->cache_max_mb,
                       stage / 1048576.0);
    if (f->n_queue == 0)
        return 0;
    f->what = what;
    f->all = need;
    f->done_all = 0;
    f->next = f->got[f->queue[0]];
    f->tries = 0;
    f->t0 = f->last_report = clock_now();
    f->active = 1;
    int rc = pump(w, err);
    if (rc)
        finish(w);
    return rc;
}

int worker_fetch_tensors(worker_t *w, const int *idx, int n, const char *what, err_t *err)
{
    int rc = worker_fetch_start(w, idx, n, what, err);
    while (rc == 0 && w->fetch.active) {
        msg_t m;
        if ((rc = next_chunk(w, &m, err)) == 0)
            rc = worker_fetch_on_chunk(w, &m, err);
    }
    return rc;   /* on failure, the answers already asked for are absorbed as they come */
}
