/*
 * coord_weights.c — the manifest and the weights service on the coordinator
 * (see coord_weights.h).  Tensor bytes are read with pread into one chunk
 * buffer and copied into the outgoing frame, so serving never grows the
 * coordinator's resident memory beyond a chunk (plus libzmq's queue of at most
 * FETCH_WINDOW chunks per fetching worker).
 */
#include "coord/coord_weights.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/ring.h"
#include "node/worker_fetch.h"
#include "util/clock.h"

int coord_weights_init(coord_t *c, err_t *err)
{
    int rc = manifest_from_file(c->o.model_path, c->m->gguf, &c->manifest, err);
    if (rc)
        return rc;
    c->manifest_wire = malloc((size_t)c->manifest.n * MSG_MANIFEST_ENTRY);
    c->ship_buf = malloc(FETCH_CHUNK);
    if (!c->manifest_wire || !c->ship_buf)
        return err_set(err, ERR_NOMEM, "out of memory");
    c->ship_fd = open(c->o.model_path, O_RDONLY | O_CLOEXEC);
    if (c->ship_fd < 0)
        return err_set(err, ERR_IO, "%s: %s", c->o.model_path, strerror(errno));
    return 0;
}

int coord_weights_welcome(coord_t *c, int worker, err_t *err)
{
    msg_t m;
    manifest_to_msg(&c->manifest, c->manifest_wire, &m);
    return coord_send_to(c, worker, &m, err);
}

void coord_weights_fini(coord_t *c)
{
    manifest_fini(&c->manifest);
    free(c->manifest_wire);
    free(c->ship_buf);
    c->manifest_wire = NULL;
    c->ship_buf = NULL;
    if (c->ship_fd > 0)
        close(c->ship_fd);
    c->ship_fd = 0;
}

static int reply(coord_t *c, const msg_t *m, err_t *err)
{
    int rc = net_send(c->router, c->rx.peer, c->rx.peer_len, m, err);
    return rc == ERR_NOTFOUND ? 0 : rc;   /* the asker left meanwhile */
}

int coord_weights_announce(coord_t *c, const msg_t *hello, err_t *err)
{
    msg_t m;
    msg_init(&m, MSG_WEIGHTS_CHUNK);
    snprintf(m.weights.name, sizeof m.weights.name, "%s", RING_WEIGHTS_METADATA);
    m.weights.total = gguf_data_offset(c->m->gguf);
    memcpy(m.weights.hash, c->hash, 32);
    m.session = gguf_file_size(c->m->gguf);
    int cached = 0;
    for (uint32_t i = 0; i < hello->hello.n_cached; i++)
        cached |= memcmp(hello->hello.cached[i], c->hash, 32) == 0;
    fprintf(stderr, "coordinator: %s has no model file; %s\n", hello->hello.device,
            cached ? "its cache lists this model" : "it will fetch the metadata and its stage's tensors");
    return reply(c, &m, err);
}

/* Progress of what is shipped to one asker (by routing id). */
static coord_ship_t *ship_of(coord_t *c)
{
    coord_ship_t *free_slot = NULL;
    for (int i = 0; i < COORD_MAX_WORKERS; i++) {
        coord_ship_t *s = &c->ships[i];
        if (s->id_len == c->rx.peer_len && !memcmp(s->id, c->rx.peer, s->id_len))
            return s;
        if (!s->id_len && !free_slot)
            free_slot = s;
    }
    if (!free_slot)
        free_slot = &c->ships[0];   /* more askers than slots: progress of the first is lost, shipping goes on */
    memset(free_slot, 0, sizeof *free_slot);
    memcpy(free_slot->id, c->rx.peer, c->rx.peer_len);
    free_slot->id_len = c->rx.peer_len;
    return free_slot;
}

static void ship_progress(coord_t *c, coord_ship_t *s, size_t len, uint64_t remaining)
{
    double now = clock_now();
    if (!s->active) {
        s->active = 1;
        s->t0 = s->last = now;
        s->bytes = 0;
    }
    s->bytes += len;
    double dt = now - s->t0, rate = dt > 0 ? (double)s->bytes / dt : 0;
    int last_one = remaining <= len;
    if (last_one || now - s->last >= 1.0) {
        if (last_one && dt < 0.01)
            fprintf(stderr, "coordinator: shipped %.1f MiB to %.*s\n", s->bytes / 1048576.0, (int)s->id_len,
                    (const char *)s->id);
        else if (last_one)
            fprintf(stderr, "coordinator: shipped %.1f MiB to %.*s in %.2f s (%.1f MiB/s)\n", s->bytes / 1048576.0,
                    (int)s->id_len, (const char *)s->id, dt, rate / 1048576.0);
        else
            fprintf(stderr, "coordinator: shipping to %.*s: %.1f MiB sent, %.1f MiB/s, ETA %.1f s\n", (int)s->id_len,
                    (const char *)s->id, s->bytes / 1048576.0, rate / 1048576.0,
                    rate > 0 ? (double)(remaining - len) / rate : 0.0);
        s->last = now;
    }
    if (last_one)
        s->active = 0;
}

int coord_weights_serve(coord_t *c, const msg_t *m, err_t *err)
{
    const msg_weights_t *q = &m->weights;
    if (!(m->flags & RING_WEIGHTS_REQUEST) || m->data_len)
        return err_set(err, ERR_PROTO, "WEIGHTS_CHUNK from a worker must be a request without data");
    const gguf_ctx_t *g = c->m->gguf;
    uint64_t base, total;
    const uint8_t *hash;
    if (!strcmp(q->name, RING_WEIGHTS_METADATA)) {
        base = 0;
        total = gguf_data_offset(g);
        hash = c->hash;
    } else {
        const gguf_tensor_t *t = gguf_tensor_find(g, q->name);
        if (!t)
            return err_set(err, ERR_NOTFOUND, "weights request for '%s': no such tensor", q->name);
        base = gguf_data_offset(g) + t->offset;
        total = t->nbytes;
        hash = c->manifest.hash[t - gguf_tensor_at(g, 0)];
    }
    if (q->total != total || q->offset >= total)
        return err_set(err, ERR_RANGE, "weights request for '%s' at %llu of %llu: the piece has %llu bytes", q->name,
                       (unsigned long long)q->offset, (unsigned long long)q->total, (unsigned long long)total);
    size_t len = total - q->offset < FETCH_CHUNK ? (size_t)(total - q->offset) : FETCH_CHUNK;
    for (size_t got = 0; got < len;) {
        ssize_t n = pread(c->ship_fd, c->ship_buf + got, len - got, (off_t)(base + q->offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, ERR_IO, "%s: %s", c->o.model_path, n < 0 ? strerror(errno) : "file shrank");
        got += (size_t)n;
    }
    c->ship_chunks++;
    if (c->o.corrupt_tensor && !c->corrupted && !strcmp(c->o.corrupt_tensor, q->name)) {
        c->ship_buf[len / 2] ^= 0x5a;   /* an emulated faulty link (coord_opts_t.corrupt_tensor) */
        c->corrupted = 1;
        fprintf(stderr, "coordinator: corrupting a chunk of '%s' on purpose\n", q->name);
    }
    msg_t out;
    msg_init(&out, MSG_WEIGHTS_CHUNK);
    out.weights = *q;
    memcpy(out.weights.hash, hash, 32);
    out.data = c->ship_buf;
    out.data_len = len;
    ship_progress(c, ship_of(c), len, m->step);
    return reply(c, &out, err);
}
