/*
 * gguf_write.c — the GGUF writer of gguf.h: collects key/values (copied and
 * encoded little-endian at set time) and tensor descriptions (data borrowed),
 * then writes one complete version-3 file.
 *
 * Layout written: header, kvs in insertion order, tensor infos in insertion
 * order, zero padding to the alignment (general.alignment when set as a u32
 * power of two, else 32), then each tensor's data in insertion order, each
 * followed by zero padding to the alignment (as llama.cpp and gguf-py do, so the
 * file size is a multiple of the alignment).  Tensor data is written as it lies
 * in memory, which is the file's little-endian layout on the little-endian
 * hosts we target.  Every key, name, type and size is checked when added, so
 * gguf_writer_write can only fail on I/O; a failed write removes the partial
 * file (when it is a regular file: never a device such as /dev/full).
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tensor/types.h"

typedef struct {
    char *key;          /* NUL-terminated copy */
    uint32_t type;      /* gguf_vtype_t */
    uint8_t *val;       /* the value exactly as written after the type field */
    size_t val_len;
} wkv_t;

typedef struct {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    const void *data;   /* borrowed until gguf_writer_write returns */
    size_t nbytes;
} wtensor_t;

struct gguf_writer {
    wkv_t *kv;
    size_t n_kv, cap_kv;
    wtensor_t *tensors;
    size_t n_tensors, cap_tensors;
    size_t alignment;   /* from general.alignment, else GGUF_DEFAULT_ALIGNMENT */
};

/* A growable byte buffer for encoding one value. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    int nomem;
} buf_t;

static void buf_put(buf_t *b, const void *src, size_t n)
{
    if (b->nomem)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->nomem = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void buf_u32(buf_t *b, uint32_t v)
{
    uint8_t e[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, e, 4);
}

static void buf_u64(buf_t *b, uint64_t v)
{
    buf_u32(b, (uint32_t)v);
    buf_u32(b, (uint32_t)(v >> 32));
}

static void buf_f32(buf_t *b, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    buf_u32(b, bits);
}

static void buf_str(buf_t *b, const char *s)
{
    size_t n = strlen(s);
    buf_u64(b, n);
    buf_put(b, s, n);
}

int gguf_writer_create(gguf_writer_t **out, err_t *err)
{
    if (!out)
        return err_set(err, ERR_INVAL, "gguf_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return err_set(err, ERR_NOMEM, "no memory for a gguf writer");
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    return 0;
}

void gguf_writer_destroy(gguf_writer_t **pw)
{
    if (!pw || !*pw)
        return;
    gguf_writer_t *w = *pw;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w);
    *pw = NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Checks the key, then takes ownership of the encoded value in b (freed on failure). */
static int add_kv(gguf_writer_t *w, const char *key, uint32_t type, buf_t *b, err_t *err)
{
    int rc = 0;
    if (!w || !key || !key[0]) {
        rc = err_set(err, ERR_INVAL, "gguf writer: %s", !w ? "writer is NULL" : "key is NULL or empty");
        goto fail;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            rc = err_set(err, ERR_INVAL, "gguf writer: key '%s' is already set", key);
            goto fail;
        }
    }
    if (b->nomem) {
        rc = err_set(err, ERR_NOMEM, "gguf writer: no memory for the value of '%s'", key);
        goto fail;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv_t *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) {
            rc = err_set(err, ERR_NOMEM, "gguf writer: no memory for %zu kvs", cap);
            goto fail;
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = dup_str(key);
    if (!k) {
        rc = err_set(err, ERR_NOMEM, "gguf writer: no memory for key '%s'", key);
        goto fail;
    }
    w->kv[w->n_kv++] = (wkv_t){k, type, b->p, b->len};
    return 0;
fail:
    free(b->p);
    return rc;
}

static int refuse_alignment_type(const char *key, const char *type, err_t *err)
{
    if (key && strcmp(key, "general.alignment") == 0)
        return err_set(err, ERR_INVAL, "gguf writer: general.alignment must be u32, not %s", type);
    return 0;
}

int gguf_writer_set_u32(gguf_writer_t *w, const char *key, uint32_t v, err_t *err)
{
    int is_align = key && strcmp(key, "general.alignment") == 0;
    if (is_align && (v == 0 || (v & (v - 1)) != 0))
        return err_set(err, ERR_INVAL, "gguf writer: general.alignment %u is not a non-zero power of two", v);
    buf_t b = {0};
    buf_u32(&b, v);
    int rc = add_kv(w, key, GGUF_VT_U32, &b, err);
    if (rc == 0 && is_align)
        w->alignment = v;
    return rc;
}

int gguf_writer_set_i32(gguf_writer_t *w, const char *key, int32_t v, err_t *err)
{
    int rc = refuse_alignment_type(key, "i32", err);
    if (rc)
        return rc;
    buf_t b = {0};
    buf_u32(&b, (uint32_t)v);
    return add_kv(w, key, GGUF_VT_I32, &b, err);
}

int gguf_writer_set_u64(gguf_writer_t *w, const char *key, uint64_t v, err_t *err)
{
    int rc = refuse_alignment_type(key, "u64", err);
    if (rc)
        return rc;
    buf_t b = {0};
    buf_u64(&b, v);
    return add_kv(w, key, GGUF_VT_U64, &b, err);
}

int gguf_writer_set_f32(gguf_writer_t *w, const char *key, float v, err_t *err)
{
    int rc = refuse_alignment_type(key, "f32", err);
    if (rc)
        return rc;
    buf_t b = {0};
    buf_f32(&b, v);
    return add_kv(w, key, GGUF_VT_F32, &b, err);
}

int gguf_writer_set_bool(gguf_writer_t *w, const char *key, bool v, err_t *err)
{
    int rc = refuse_alignment_type(key, "bool", err);
    if (rc)
        return rc;
    buf_t b = {0};
    uint8_t byte = v ? 1 : 0;
    buf_put(&b, &byte, 1);
    return add_kv(w, key, GGUF_VT_BOOL, &b, err);
}

int gguf_writer_set_str(gguf_writer_t *w, const char *key, const char *v, err_t *err)
{
    int rc = refuse_alignment_type(key, "string", err);
    if (rc)
        return rc;
    if (!v)
        return err_set(err, ERR_INVAL, "gguf writer: string value of '%s' is NULL", key ? key : "(null)");
    buf_t b = {0};
    buf_str(&b, v);
    return add_kv(w, key, GGUF_VT_STRING, &b, err);
}

int gguf_writer_set_arr_str(gguf_writer_t *w, const char *key, const char *const *v, size_t n, err_t *err)
{
    int rc = refuse_alignment_type(key, "array", err);
    if (rc)
        return rc;
    if (n > 0 && !v)
        return err_set(err, ERR_INVAL, "gguf writer: array of '%s' is NULL with %zu elements", key ? key : "(null)", n);
    for (size_t i = 0; i < n; i++)
        if (!v[i])
            return err_set(err, ERR_INVAL, "gguf writer: element %zu of '%s' is NULL", i, key ? key : "(null)");
    buf_t b = {0};
    buf_u32(&b, GGUF_VT_STRING);
    buf_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        buf_str(&b, v[i]);
    return add_kv(w, key, GGUF_VT_ARRAY, &b, err);
}

int gguf_writer_set_arr_f32(gguf_writer_t *w, const char *key, const float *v, size_t n, err_t *err)
{
    int rc = refuse_alignment_type(key, "array", err);
    if (rc)
        return rc;
    if (n > 0 && !v)
        return err_set(err, ERR_INVAL, "gguf writer: array of '%s' is NULL with %zu elements", key ? key : "(null)", n);
    buf_t b = {0};
    buf_u32(&b, GGUF_VT_F32);
    buf_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        buf_f32(&b, v[i]);
    return add_kv(w, key, GGUF_VT_ARRAY, &b, err);
}

int gguf_writer_set_arr_i32(gguf_writer_t *w, const char *key, const int32_t *v, size_t n, err_t *err)
{
    int rc = refuse_alignment_type(key, "array", err);
    if (rc)
        return rc;
    if (n > 0 && !v)
        return err_set(err, ERR_INVAL, "gguf writer: array of '%s' is NULL with %zu elements", key ? key : "(null)", n);
    buf_t b = {0};
    buf_u32(&b, GGUF_VT_I32);
    buf_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        buf_u32(&b, (uint32_t)v[i]);
    return add_kv(w, key, GGUF_VT_ARRAY, &b, err);
}

int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                           const void *data, size_t nbytes, err_t *err)
{
    if (!w || !name || !name[0] || !ne)
        return err_set(err, ERR_INVAL, "gguf writer: %s", !w ? "writer is NULL"
                       : !ne ? "ne is NULL" : "tensor name is NULL or empty");
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return err_set(err, ERR_INVAL, "gguf writer: tensor '%s' is already added", name);
    if (!type_is_known(type))
        return err_set(err, ERR_INVAL, "gguf writer: tensor '%s' has unknown type %u", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return err_set(err, ERR_INVAL, "gguf writer: tensor '%s': n_dims %u out of range 1..%d", name, n_dims,
                       GGUF_MAX_DIMS);
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / n_elems)
            return err_set(err, ERR_INVAL, "gguf writer: tensor '%s': ne[%u] = %llu is 0 or overflows the element count",
                           name, d, (unsigned long long)ne[d]);
        n_elems *= ne[d];
    }
    size_t row = type_row_bytes(type, ne[0]);
    if (row == 0)
        return err_set(err, ERR_INVAL, "gguf writer: tensor '%s': ne[0] = %llu is not a multiple of the %s block size %zu",
                       name, (unsigned long long)ne[0], type_name(type), type_block_elems(type));
    uint64_t rows = n_elems / ne[0];
    if (rows > SIZE_MAX / row || rows * row != nbytes)
        return err_set(err, ERR_INVAL, "gguf writer: tensor '%s': nbytes %zu, but %llu %s elements take %llu bytes",
                       name, nbytes, (unsigned long long)n_elems, type_name(type),
                       rows > SIZE_MAX / row ? 0ULL : (unsigned long long)(rows * row));
    if (!data)
        return err_set(err, ERR_INVAL, "gguf writer: tensor '%s': data is NULL", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        wtensor_t *t = realloc(w->tensors, cap * sizeof *t);
        if (!t)
            return err_set(err, ERR_NOMEM, "gguf writer: no memory for %zu tensors", cap);
        w->tensors = t;
        w->cap_tensors = cap;
    }
    char *nm = dup_str(name);
    if (!nm)
        return err_set(err, ERR_NOMEM, "gguf writer: no memory for tensor name '%s'", name);
    wtensor_t *t = &w->tensors[w->n_tensors++];
    *t = (wtensor_t){.name = nm, .type = type, .n_dims = n_dims, .data = data, .nbytes = nbytes};
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    return 0;
}

/* ---- writing ---- */

typedef struct {
    FILE *f;
    uint64_t pos;     /* bytes written so far */
    int failed;       /* errno of the first failure, or 0 */
} out_t;

static void out_put(out_t *o, const void *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    errno = 0;
    if (fwrite(p, 1, n, o->f) != n) {
        o->failed = errno ? errno : EIO;
        return;
    }
    o->pos += n;
}

static void out_u32(out_t *o, uint32_t v)
{
    uint8_t e[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    out_put(o, e, 4);
}

static void out_u64(out_t *o, uint64_t v)
{
    out_u32(o, (uint32_t)v);
    out_u32(o, (uint32_t)(v >> 32));
}

static void out_str(out_t *o, const char *s)
{
    size_t n = strlen(s);
    out_u64(o, n);
    out_put(o, s, n);
}

static void out_pad(out_t *o, size_t alignment)
{
    static const uint8_t zeros[256];
    size_t pad = (size_t)((alignment - o->pos % alignment) % alignment);
    while (pad > 0 && !o->failed) {
        size_t n = pad < sizeof zeros ? pad : sizeof zeros;
        out_put(o, zeros, n);
        pad -= n;
    }
}

int gguf_writer_write(const gguf_writer_t *w, const char *path, err_t *err)
{
    if (!w || !path)
        return err_set(err, ERR_INVAL, "gguf_writer_write: %s is NULL", !w ? "writer" : "path");
    size_t a = w->alignment;

    /* Offsets: each tensor starts aligned; refuse a data section that overflows. */
    uint64_t *offsets = malloc((w->n_tensors ? w->n_tensors : 1) * sizeof *offsets);
    if (!offsets)
        return err_set(err, ERR_NOMEM, "gguf writer: no memory for %zu offsets", w->n_tensors);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        uint64_t n = w->tensors[i].nbytes;
        uint64_t padded = n + (a - n % a) % a;
        if (padded < n || off > UINT64_MAX - padded) {
            free(offsets);
            return err_set(err, ERR_RANGE, "gguf writer: data section overflows at tensor '%s'", w->tensors[i].name);
        }
        offsets[i] = off;
        off += padded;
    }

    out_t o = {0};
    o.f = fopen(path, "wb");
    if (!o.f) {
        int e = errno;
        free(offsets);
        return err_set(err, ERR_IO, "%s: open for writing: %s", path, strerror(e));
    }
    struct stat st;
    int regular = fstat(fileno(o.f), &st) == 0 && S_ISREG(st.st_mode);   /* only a regular file is removed on failure */
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);

    out_put(&o, "GGUF", 4);
    out_u32(&o, 3);
    out_u64(&o, w->n_tensors);
    out_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        out_str(&o, w->kv[i].key);
        out_u32(&o, w->kv[i].type);
        out_put(&o, w->kv[i].val, w->kv[i].val_len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor_t *t = &w->tensors[i];
        out_str(&o, t->name);
        out_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            out_u64(&o, t->ne[d]);
        out_u32(&o, t->type);
        out_u64(&o, offsets[i]);
    }
    out_pad(&o, a);
    for (size_t i = 0; i < w->n_tensors; i++) {
        out_put(&o, w->tensors[i].data, w->tensors[i].nbytes);
        out_pad(&o, a);
    }
    free(offsets);

    int rc = 0;
    if (o.failed) {
        rc = err_set(err, ERR_IO, "%s: write failed after %llu bytes: %s", path, (unsigned long long)o.pos,
                     strerror(o.failed));
        fclose(o.f);
    } else if (fclose(o.f) != 0) {
        rc = err_set(err, ERR_IO, "%s: close: %s", path, strerror(errno));
    }
    if (rc && regular)
        remove(path);
    return rc;
}
