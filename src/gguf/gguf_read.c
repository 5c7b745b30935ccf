/*
 * gguf_read.c — the GGUF reader: maps a file read-only (or borrows a caller's
 * buffer), parses header, key/values and tensor infos as hostile input, and
 * answers the accessors and name lookups of gguf.h.  Typed getters live in
 * gguf_get.c on top of the public accessors; the writer is gguf_write.c.
 *
 * Invariants after a successful open: every count was checked against the bytes
 * that could hold it before anything was allocated; every string and array view
 * lies inside the buffer; keys and tensor names are non-empty, NUL-free, unique
 * and copied; general.alignment (if present) is a u32 power of two; every tensor
 * has 1..4 dims, each >= 1, a known type, a row length that is a multiple of its
 * block size, an aligned offset, and data inside the data section that overlaps
 * no other tensor's.  Parsing never reads outside [data, data + size).
 *
 * Error codes: ERR_FORMAT for anything malformed (truncation, bad counts, lengths,
 * offsets, duplicates, unknown value types); ERR_UNSUP for well-formed things we
 * do not handle (GGUF versions other than 2 and 3, nested arrays, tensor types
 * other than F32/F16/Q4_0/Q8_0); ERR_IO for open/stat/mmap failures; ERR_NOMEM.
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/types.h"

/* Smallest encodings, used to bound counts before allocating. */
#define HEADER_BYTES 24     /* magic, version, tensor_count, kv_count */
#define KV_MIN_BYTES 13     /* key length (8) + value type (4) + smallest value (1) */
#define TENSOR_MIN_BYTES 32 /* name length (8) + n_dims (4) + ne[0] (8) + type (4) + offset (8) */
#define SHOW_MAX 64         /* characters of a key or name quoted in a message */

typedef struct {
    const char *name; /* key or tensor name (NUL-terminated copy) */
    size_t i;         /* index into kv[] or tensors[] */
} name_ix_t;

struct gguf_ctx {
    const uint8_t *base;      /* file bytes [size] */
    size_t size;
    void *map;                /* mmap'ed region, NULL for gguf_open_memory */
    size_t map_len;
    uint32_t version;
    size_t alignment;
    size_t data_offset;       /* start of the data section (clamped to size when there are no tensors) */
    size_t n_kv;
    gguf_kv_t *kv;            /* [n_kv], file order */
    name_ix_t *kv_ix;         /* [n_kv], sorted by key */
    size_t n_tensors;
    gguf_tensor_t *tensors;   /* [n_tensors], file order */
    name_ix_t *tensor_ix;     /* [n_tensors], sorted by name */
};

typedef struct {
    const uint8_t *p;
    size_t size;
    size_t pos;
} cursor_t;

/* ---- little helpers ---- */

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const uint8_t *b)
{
    return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
}

/* A key or name fit for a message: at most SHOW_MAX characters, non-printable bytes as '?'. */
static const char *shown(char buf[SHOW_MAX + 4], const char *s, size_t len)
{
    size_t n = len < SHOW_MAX ? len : SHOW_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (len > SHOW_MAX) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static size_t remain(const cursor_t *c)
{
    return c->size - c->pos;
}

static int take(cursor_t *c, size_t n, const uint8_t **out, const char *what, err_t *err)
{
    if (n > remain(c)) {
        err_set(err, ERR_FORMAT, "truncated at byte %zu reading %s (%zu bytes needed, %zu remain)", c->pos, what, n,
                remain(c));
        return ERR_FORMAT;   /* a constant, so compilers see *out is set whenever 0 is returned */
    }
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static int read_u32(cursor_t *c, uint32_t *v, const char *what, err_t *err)
{
    const uint8_t *b = NULL;
    int rc = take(c, 4, &b, what, err);
    if (rc == 0)
        *v = le32(b);
    return rc;
}

static int read_u64(cursor_t *c, uint64_t *v, const char *what, err_t *err)
{
    const uint8_t *b = NULL;
    int rc = take(c, 8, &b, what, err);
    if (rc == 0)
        *v = le64(b);
    return rc;
}

/* u64 length + bytes; the length is checked against the bytes remaining. */
static int read_str(cursor_t *c, gguf_str_t *s, const char *what, err_t *err)
{
    char lenwhat[64];
    snprintf(lenwhat, sizeof lenwhat, "%s length", what);
    uint64_t len;
    int rc = read_u64(c, &len, lenwhat, err);
    if (rc)
        return rc;
    if (len > remain(c))
        return err_set(err, ERR_FORMAT, "%s length %llu exceeds remaining %zu bytes (at byte %zu)", what,
                       (unsigned long long)len, remain(c), c->pos);
    s->ptr = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return 0;
}

/* NUL-terminated copy of a key or name, refusing empty ones and embedded NULs. */
static int copy_name(gguf_str_t s, const char *what, char **out, err_t *err)
{
    if (s.len == 0)
        return err_set(err, ERR_FORMAT, "empty %s", what);
    if (memchr(s.ptr, '\0', (size_t)s.len))
        return err_set(err, ERR_FORMAT, "%s contains a NUL byte", what);
    char *p = malloc((size_t)s.len + 1);
    if (!p)
        return err_set(err, ERR_NOMEM, "no memory for a %llu-byte %s", (unsigned long long)s.len, what);
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = '\0';
    *out = p;
    return 0;
}

/* Bytes of a fixed-size value type; 0 for STRING, ARRAY and unknown types. */
static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_I8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_U16: case GGUF_VT_I16: return 2;
    case GGUF_VT_U32: case GGUF_VT_I32: case GGUF_VT_F32: return 4;
    case GGUF_VT_U64: case GGUF_VT_I64: case GGUF_VT_F64: return 8;
    default: return 0;
    }
}

/* Decodes one little-endian scalar of type t from b into kv->v. */
static void decode_scalar(uint32_t t, const uint8_t *b, gguf_kv_t *kv)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: kv->v.u = b[0]; break;
    case GGUF_VT_I8: kv->v.i = (int8_t)b[0]; break;
    case GGUF_VT_U16: kv->v.u = (uint16_t)(b[0] | b[1] << 8); break;
    case GGUF_VT_I16: kv->v.i = (int16_t)(uint16_t)(b[0] | b[1] << 8); break;
    case GGUF_VT_U32: kv->v.u = le32(b); break;
    case GGUF_VT_I32: kv->v.i = (int32_t)le32(b); break;
    case GGUF_VT_U64: kv->v.u = le64(b); break;
    case GGUF_VT_I64: kv->v.i = (int64_t)le64(b); break;
    case GGUF_VT_F32: {
        uint32_t bits = le32(b);
        float f;
        memcpy(&f, &bits, sizeof f);
        kv->v.f = f;
        break;
    }
    case GGUF_VT_F64: {
        uint64_t bits = le64(b);
        memcpy(&kv->v.f, &bits, sizeof kv->v.f);
        break;
    }
    default: break;
    }
}

static int check_bools(const uint8_t *b, uint64_t n, err_t *err)
{
    for (uint64_t i = 0; i < n; i++)
        if (b[i] > 1)
            return err_set(err, ERR_FORMAT, "bool element %llu has value %u, must be 0 or 1",
                           (unsigned long long)i, b[i]);
    return 0;
}

static int parse_array(cursor_t *c, gguf_kv_t *kv, err_t *err)
{
    uint32_t et;
    uint64_t n;
    int rc = read_u32(c, &et, "array element type", err);
    if (rc == 0)
        rc = read_u64(c, &n, "array count", err);
    if (rc)
        return rc;
    kv->v.arr.type = et;
    kv->v.arr.n = 0;
    kv->v.arr.data = NULL;
    kv->v.arr.strs = NULL;
    if (et == GGUF_VT_ARRAY)
        return err_set(err, ERR_UNSUP, "nested arrays are not supported");
    if (et == GGUF_VT_STRING) {
        if (n > remain(c) / 8)
            return err_set(err, ERR_FORMAT,
                           "array count %llu exceeds remaining %zu bytes (each string needs at least 8)",
                           (unsigned long long)n, remain(c));
        gguf_str_t *strs = n ? calloc((size_t)n, sizeof *strs) : NULL;
        if (n && !strs)
            return err_set(err, ERR_NOMEM, "no memory for %llu strings", (unsigned long long)n);
        kv->v.arr.strs = strs;   /* owned from here on, even if an element fails */
        kv->v.arr.n = n;
        for (uint64_t i = 0; i < n; i++) {
            char what[48];
            snprintf(what, sizeof what, "string element %llu", (unsigned long long)i);
            if ((rc = read_str(c, &strs[i], what, err)) != 0)
                return rc;
        }
        return 0;
    }
    size_t es = scalar_size(et);
    if (es == 0)
        return err_set(err, ERR_FORMAT, "unknown array element type %u", et);
    if (n > remain(c) / es)
        return err_set(err, ERR_FORMAT, "array count %llu exceeds remaining %zu bytes (%zu bytes per %s)",
                       (unsigned long long)n, remain(c), es, gguf_vtype_name(et));
    const uint8_t *b = NULL;
    if ((rc = take(c, (size_t)n * es, &b, "array elements", err)) != 0)
        return rc;
    if (et == GGUF_VT_BOOL && (rc = check_bools(b, n, err)) != 0)
        return rc;
    kv->v.arr.n = n;
    kv->v.arr.data = b;
    return 0;
}

static int parse_value(cursor_t *c, gguf_kv_t *kv, err_t *err)
{
    uint32_t t = kv->type;
    if (t == GGUF_VT_STRING)
        return read_str(c, &kv->v.str, "string value", err);
    if (t == GGUF_VT_ARRAY)
        return parse_array(c, kv, err);
    size_t sz = scalar_size(t);
    if (sz == 0)
        return err_set(err, ERR_FORMAT, "unknown value type %u", t);
    const uint8_t *b = NULL;
    int rc = take(c, sz, &b, gguf_vtype_name(t), err);
    if (rc)
        return rc;
    if (t == GGUF_VT_BOOL && b[0] > 1)
        return err_set(err, ERR_FORMAT, "bool value %u, must be 0 or 1", b[0]);
    decode_scalar(t, b, kv);
    return 0;
}

static int parse_kv(cursor_t *c, size_t i, gguf_kv_t *kv, err_t *err)
{
    char buf[SHOW_MAX + 4];
    gguf_str_t key;
    int rc = read_str(c, &key, "key", err);
    if (rc == 0)
        rc = copy_name(key, "key", &kv->key, err);
    if (rc)
        return err_prefix(err, "kv %zu", i);
    uint32_t t;
    rc = read_u32(c, &t, "value type", err);
    if (rc == 0) {
        kv->type = t;
        rc = parse_value(c, kv, err);
    }
    if (rc)
        return err_prefix(err, "kv %zu ('%s')", i, shown(buf, key.ptr, (size_t)key.len));
    return 0;
}

/* ---- tensors ---- */

static int parse_tensor_info(cursor_t *c, const gguf_ctx_t *ctx, size_t i, gguf_tensor_t *t, err_t *err)
{
    char buf[SHOW_MAX + 4];
    gguf_str_t name;
    int rc = read_str(c, &name, "name", err);
    if (rc == 0)
        rc = copy_name(name, "name", &t->name, err);
    if (rc)
        return err_prefix(err, "tensor %zu", i);
    const char *nm = shown(buf, name.ptr, (size_t)name.len);

    if ((rc = read_u32(c, &t->n_dims, "n_dims", err)) != 0)
        return err_prefix(err, "tensor %zu ('%s')", i, nm);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): n_dims %u out of range 1..%d", i, nm, t->n_dims,
                       GGUF_MAX_DIMS);
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        char what[16];
        snprintf(what, sizeof what, "ne[%u]", d);
        if ((rc = read_u64(c, &t->ne[d], what, err)) != 0)
            return err_prefix(err, "tensor %zu ('%s')", i, nm);
        if (t->ne[d] == 0)
            return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): ne[%u] is 0 (empty tensors are not supported)", i,
                           nm, d);
        if (t->ne[d] > (uint64_t)INT64_MAX / n_elems)
            return err_set(err, ERR_FORMAT,
                           "tensor %zu ('%s'): element count overflows at ne[%u] = %llu (bound %lld)", i, nm, d,
                           (unsigned long long)t->ne[d], (long long)INT64_MAX);
        n_elems *= t->ne[d];
    }
    t->n_elems = n_elems;
    if ((rc = read_u32(c, &t->type, "type", err)) != 0 || (rc = read_u64(c, &t->offset, "offset", err)) != 0)
        return err_prefix(err, "tensor %zu ('%s')", i, nm);
    if (!type_is_known(t->type))
        return err_set(err, ERR_UNSUP, "tensor %zu ('%s') has type %u (%s), supported: %s", i, nm, t->type,
                       type_name(t->type), type_list());
    size_t blk = type_block_elems(t->type);
    if (t->ne[0] % blk != 0)
        return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): ne[0] = %llu is not a multiple of the %s block size %zu",
                       i, nm, (unsigned long long)t->ne[0], type_name(t->type), blk);
    size_t row = type_row_bytes(t->type, t->ne[0]);
    uint64_t rows = n_elems / t->ne[0];
    if (row == 0 || rows > SIZE_MAX / row)
        return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): data size of %llu %s elements overflows", i, nm,
                       (unsigned long long)n_elems, type_name(t->type));
    t->nbytes = (size_t)rows * row;
    if (t->offset % ctx->alignment != 0)
        return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): data offset %llu is not a multiple of alignment %zu", i,
                       nm, (unsigned long long)t->offset, ctx->alignment);
    return 0;
}

/* ---- name index (sorted, for duplicate detection and lookup) ---- */

static int cmp_name_ix(const void *a, const void *b)
{
    return strcmp(((const name_ix_t *)a)->name, ((const name_ix_t *)b)->name);
}

typedef struct {
    uint64_t offset;
    size_t i;
} off_ix_t;

static int cmp_off_ix(const void *a, const void *b)
{
    uint64_t x = ((const off_ix_t *)a)->offset, y = ((const off_ix_t *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Builds *out sorted by name; a duplicate is ERR_FORMAT naming it.  n may be 0. */
static int build_index(size_t n, const char *(*name_at)(const gguf_ctx_t *, size_t), const gguf_ctx_t *ctx,
                       const char *what, name_ix_t **out, err_t *err)
{
    *out = NULL;
    if (n == 0)
        return 0;
    name_ix_t *ix = malloc(n * sizeof *ix);
    if (!ix)
        return err_set(err, ERR_NOMEM, "no memory for a %zu-entry %s index", n, what);
    for (size_t i = 0; i < n; i++) {
        ix[i].name = name_at(ctx, i);
        ix[i].i = i;
    }
    qsort(ix, n, sizeof *ix, cmp_name_ix);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ix[i - 1].name, ix[i].name) == 0) {
            char buf[SHOW_MAX + 4];
            size_t a = ix[i - 1].i < ix[i].i ? ix[i - 1].i : ix[i].i;
            size_t b = ix[i - 1].i < ix[i].i ? ix[i].i : ix[i - 1].i;
            int rc = err_set(err, ERR_FORMAT, "%s %zu ('%s'): duplicate of %s %zu", what, b,
                             shown(buf, ix[i].name, strlen(ix[i].name)), what, a);
            free(ix);
            return rc;
        }
    }
    *out = ix;
    return 0;
}

static const char *kv_name_at(const gguf_ctx_t *ctx, size_t i)
{
    return ctx->kv[i].key;
}

static const char *tensor_name_at(const gguf_ctx_t *ctx, size_t i)
{
    return ctx->tensors[i].name;
}

static const name_ix_t *index_find(const name_ix_t *ix, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix[mid].name, name);
        if (c == 0)
            return &ix[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- whole-file checks ---- */

static int check_alignment(gguf_ctx_t *ctx, err_t *err)
{
    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv_t *kv = gguf_kv_find(ctx, "general.alignment");
    if (!kv)
        return 0;
    if (kv->type != GGUF_VT_U32)
        return err_set(err, ERR_FORMAT, "general.alignment has type %s, must be u32", gguf_vtype_name(kv->type));
    if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0)
        return err_set(err, ERR_FORMAT, "general.alignment %llu is not a non-zero power of two",
                       (unsigned long long)kv->v.u);
    ctx->alignment = (size_t)kv->v.u;
    return 0;
}

/* Every tensor inside the data section, none overlapping another. */
static int check_tensor_data(gguf_ctx_t *ctx, err_t *err)
{
    size_t dsize = ctx->size - ctx->data_offset;
    char buf[SHOW_MAX + 4];
    for (size_t i = 0; i < ctx->n_tensors; i++) {
        gguf_tensor_t *t = &ctx->tensors[i];
        if (t->offset > dsize || t->nbytes > dsize - t->offset)
            return err_set(err, ERR_FORMAT, "tensor %zu ('%s'): data offset %llu + size %zu exceeds data section size %zu",
                           i, shown(buf, t->name, strlen(t->name)), (unsigned long long)t->offset, t->nbytes, dsize);
        t->data = ctx->base + ctx->data_offset + t->offset;
    }
    if (ctx->n_tensors < 2)
        return 0;
    off_ix_t *ix = malloc(ctx->n_tensors * sizeof *ix);
    if (!ix)
        return err_set(err, ERR_NOMEM, "no memory for a %zu-entry offset index", ctx->n_tensors);
    for (size_t i = 0; i < ctx->n_tensors; i++) {
        ix[i].offset = ctx->tensors[i].offset;
        ix[i].i = i;
    }
    qsort(ix, ctx->n_tensors, sizeof *ix, cmp_off_ix);
    int rc = 0;
    for (size_t k = 1; k < ctx->n_tensors && rc == 0; k++) {
        const gguf_tensor_t *a = &ctx->tensors[ix[k - 1].i], *b = &ctx->tensors[ix[k].i];
        if (a->offset + a->nbytes > b->offset) {   /* both bounded by dsize above: no overflow */
            char buf2[SHOW_MAX + 4];
            rc = err_set(err, ERR_FORMAT,
                         "tensor %zu ('%s'): data [%llu, %llu) overlaps tensor %zu ('%s') at [%llu, %llu)", ix[k].i,
                         shown(buf, b->name, strlen(b->name)), (unsigned long long)b->offset,
                         (unsigned long long)(b->offset + b->nbytes), ix[k - 1].i,
                         shown(buf2, a->name, strlen(a->name)), (unsigned long long)a->offset,
                         (unsigned long long)(a->offset + a->nbytes));
        }
    }
    free(ix);
    return rc;
}

static int parse_header(cursor_t *c, uint64_t *n_tensors, uint64_t *n_kv, gguf_ctx_t *ctx, err_t *err)
{
    const uint8_t *magic = NULL;
    int rc = take(c, 4, &magic, "magic", err);
    if (rc == 0 && memcmp(magic, "GGUF", 4) != 0)
        rc = err_set(err, ERR_FORMAT, "bad magic %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")", magic[0],
                     magic[1], magic[2], magic[3]);
    if (rc == 0)
        rc = read_u32(c, &ctx->version, "version", err);
    if (rc == 0 && ctx->version != 2 && ctx->version != 3)
        rc = err_set(err, ERR_UNSUP, "version %u is not supported (only 2 and 3%s)", ctx->version,
                     (ctx->version & 0xffff) == 0 ? "; a big-endian file?" : "");
    if (rc == 0)
        rc = read_u64(c, n_tensors, "tensor_count", err);
    if (rc == 0)
        rc = read_u64(c, n_kv, "kv_count", err);
    if (rc)
        return err_prefix(err, "header");
    size_t rem = remain(c);
    if (*n_kv > rem / KV_MIN_BYTES)
        return err_set(err, ERR_FORMAT, "header: kv_count %llu exceeds what the remaining %zu bytes can hold "
                       "(each kv needs at least %d)", (unsigned long long)*n_kv, rem, KV_MIN_BYTES);
    if (*n_tensors > rem / TENSOR_MIN_BYTES)
        return err_set(err, ERR_FORMAT, "header: tensor_count %llu exceeds what the remaining %zu bytes can hold "
                       "(each tensor info needs at least %d)", (unsigned long long)*n_tensors, rem, TENSOR_MIN_BYTES);
    if (*n_kv * KV_MIN_BYTES + *n_tensors * TENSOR_MIN_BYTES > rem)
        return err_set(err, ERR_FORMAT, "header: kv_count %llu and tensor_count %llu need at least %llu bytes, "
                       "%zu remain", (unsigned long long)*n_kv, (unsigned long long)*n_tensors,
                       (unsigned long long)(*n_kv * KV_MIN_BYTES + *n_tensors * TENSOR_MIN_BYTES), rem);
    return 0;
}

static int parse(gguf_ctx_t *ctx, err_t *err)
{
    cursor_t c = {ctx->base, ctx->size, 0};
    uint64_t n_tensors, n_kv;
    int rc = parse_header(&c, &n_tensors, &n_kv, ctx, err);
    if (rc)
        return rc;

    /* Counts are bounded by the file size now, so these allocations are too. */
    if (n_kv && !(ctx->kv = calloc((size_t)n_kv, sizeof *ctx->kv)))
        return err_set(err, ERR_NOMEM, "no memory for %llu kvs", (unsigned long long)n_kv);
    for (size_t i = 0; i < n_kv; i++) {
        ctx->n_kv = i + 1;   /* entry i is freed by gguf_close even if it fails half-way */
        if ((rc = parse_kv(&c, i, &ctx->kv[i], err)) != 0)
            return rc;
    }
    if ((rc = build_index(ctx->n_kv, kv_name_at, ctx, "kv", &ctx->kv_ix, err)) != 0)
        return rc;
    if ((rc = check_alignment(ctx, err)) != 0)
        return rc;

    if (n_tensors && !(ctx->tensors = calloc((size_t)n_tensors, sizeof *ctx->tensors)))
        return err_set(err, ERR_NOMEM, "no memory for %llu tensors", (unsigned long long)n_tensors);
    for (size_t i = 0; i < n_tensors; i++) {
        ctx->n_tensors = i + 1;
        if ((rc = parse_tensor_info(&c, ctx, i, &ctx->tensors[i], err)) != 0)
            return rc;
    }
    if ((rc = build_index(ctx->n_tensors, tensor_name_at, ctx, "tensor", &ctx->tensor_ix, err)) != 0)
        return rc;

    size_t pad = (ctx->alignment - c.pos % ctx->alignment) % ctx->alignment;
    if (pad > ctx->size - c.pos) {
        /* Vocabulary-only files end right after the infos, without padding. */
        if (ctx->n_tensors > 0)
            return err_set(err, ERR_FORMAT, "data section: starts at byte %zu (alignment %zu), beyond file size %zu",
                           c.pos + pad, ctx->alignment, ctx->size);
        ctx->data_offset = ctx->size;
        return 0;
    }
    ctx->data_offset = c.pos + pad;
    return check_tensor_data(ctx, err);
}

/* ---- open / close ---- */

static int open_buffer(const void *data, size_t size, void *map, size_t map_len, gguf_ctx_t **out, err_t *err)
{
    gguf_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return err_set(err, ERR_NOMEM, "no memory for a gguf context");
    ctx->base = data;
    ctx->size = size;
    ctx->map = map;
    ctx->map_len = map_len;
    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    err_t local;   /* always a real record, so err_prefix can add context */
    err_clear(&local);
    int rc = parse(ctx, &local);
    if (rc) {
        ctx->map = NULL;   /* the caller unmaps on failure */
        gguf_close(&ctx);
        if (err)
            *err = local;
        return rc;
    }
    *out = ctx;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, gguf_ctx_t **out, err_t *err)
{
    if (!out)
        return err_set(err, ERR_INVAL, "gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size > 0)
        return err_set(err, ERR_INVAL, "gguf_open_memory: data is NULL with size %zu", size);
    static const uint8_t empty[1];
    return open_buffer(data ? data : empty, size, NULL, 0, out, err);
}

int gguf_open(const char *path, gguf_ctx_t **out, err_t *err)
{
    if (!out || !path)
        return err_set(err, ERR_INVAL, "gguf_open: %s is NULL", path ? "out" : "path");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_IO, "%s: open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, ERR_IO, "%s: fstat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return err_set(err, ERR_RANGE, "%s: file size %lld exceeds the address space", path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return err_set(err, ERR_IO, "%s: mmap of %zu bytes: %s", path, size, strerror(e));
        }
    }
    close(fd);   /* the mapping stays valid */
    static const uint8_t empty[1];
    int rc = open_buffer(map ? map : empty, size, map, size, out, err);
    if (rc) {
        if (map)
            munmap(map, size);
        if (err)
            err_prefix(err, "%s", path);
    }
    return rc;
}

void gguf_close(gguf_ctx_t **pctx)
{
    if (!pctx || !*pctx)
        return;
    gguf_ctx_t *ctx = *pctx;
    for (size_t i = 0; i < ctx->n_kv; i++) {
        gguf_kv_t *kv = &ctx->kv[i];
        free(kv->key);
        if (kv->type == GGUF_VT_ARRAY && kv->v.arr.type == GGUF_VT_STRING)
            free((void *)kv->v.arr.strs);
    }
    for (size_t i = 0; i < ctx->n_tensors; i++)
        free(ctx->tensors[i].name);
    free(ctx->kv);
    free(ctx->kv_ix);
    free(ctx->tensors);
    free(ctx->tensor_ix);
    if (ctx->map)
        munmap(ctx->map, ctx->map_len);
    free(ctx);
    *pctx = NULL;
}

/* ---- accessors ---- */

uint32_t gguf_version(const gguf_ctx_t *ctx) { return ctx->version; }
size_t gguf_alignment(const gguf_ctx_t *ctx) { return ctx->alignment; }
size_t gguf_data_offset(const gguf_ctx_t *ctx) { return ctx->data_offset; }
size_t gguf_file_size(const gguf_ctx_t *ctx) { return ctx->size; }
const void *gguf_file_data(const gguf_ctx_t *ctx) { return ctx->base; }
size_t gguf_kv_count(const gguf_ctx_t *ctx) { return ctx->n_kv; }
size_t gguf_tensor_count(const gguf_ctx_t *ctx) { return ctx->n_tensors; }

const gguf_kv_t *gguf_kv_at(const gguf_ctx_t *ctx, size_t i)
{
    return i < ctx->n_kv ? &ctx->kv[i] : NULL;
}

const gguf_tensor_t *gguf_tensor_at(const gguf_ctx_t *ctx, size_t i)
{
    return i < ctx->n_tensors ? &ctx->tensors[i] : NULL;
}

const gguf_kv_t *gguf_kv_find(const gguf_ctx_t *ctx, const char *key)
{
    if (!ctx || !key)
        return NULL;
    const name_ix_t *e = index_find(ctx->kv_ix, ctx->n_kv, key);
    return e ? &ctx->kv[e->i] : NULL;
}

const gguf_tensor_t *gguf_tensor_find(const gguf_ctx_t *ctx, const char *name)
{
    if (!ctx || !name)
        return NULL;
    const name_ix_t *e = index_find(ctx->tensor_ix, ctx->n_tensors, name);
    return e ? &ctx->tensors[e->i] : NULL;
}
