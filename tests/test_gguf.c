/*
 * test_gguf.c — tests of the GGUF reader and writer (src/gguf).
 *
 * Round trip: the writer's every setter and tensors of all four types, read back
 * from a file and from memory and compared field by field and byte by byte.
 * Hand-built files (a small raw byte builder below) cover every value type the
 * writer cannot produce, and a catalogue of malformed inputs made by patching
 * one field of a valid file; each must fail with the right code and a message
 * naming the field.  Every truncation of a valid file must fail with ERR_FORMAT.
 * Deterministic random mutations are fed to the libFuzzer entry point of
 * fuzz/fuzz_gguf.c (included here), so fuzz coverage runs under the sanitizers
 * in CI.  Finally the real models and vocabularies of ../shared are checked
 * against the facts in ../shared/models/PROVENANCE.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

#include "../fuzz/fuzz_gguf.c"

/* ---- helpers ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} rb_t;

static void rb_put(rb_t *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "test_gguf: out of memory\n");
            exit(1);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static size_t rb_u8(rb_t *b, uint8_t v)
{
    rb_put(b, &v, 1);
    return b->len - 1;
}

static size_t rb_u32(rb_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        rb_u8(b, (uint8_t)(v >> (8 * i)));
    return b->len - 4;
}

static size_t rb_u64(rb_t *b, uint64_t v)
{
    rb_u32(b, (uint32_t)v);
    rb_u32(b, (uint32_t)(v >> 32));
    return b->len - 8;
}

/* Returns the position of the length field; the bytes follow at +8. */
static size_t rb_str(rb_t *b, const char *s)
{
    size_t pos = rb_u64(b, strlen(s));
    rb_put(b, s, strlen(s));
    return pos;
}

static size_t rb_key(rb_t *b, const char *key, uint32_t type)
{
    rb_str(b, key);
    return rb_u32(b, type);
}

static void rb_zeros(rb_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rb_u8(b, 0);
}

static void rb_pad(rb_t *b, size_t a)
{
    rb_zeros(b, (a - b->len % a) % a);
}

static void patch_u32(uint8_t *p, size_t pos, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[pos + i] = (uint8_t)(v >> (8 * i));
}

static void patch_u64(uint8_t *p, size_t pos, uint64_t v)
{
    patch_u32(p, pos, (uint32_t)v);
    patch_u32(p, pos + 4, (uint32_t)(v >> 32));
}

/* Opens a copy in a buffer of exactly len bytes, so ASan sees any overread. */
static int open_exact(const uint8_t *src, size_t len, gguf_ctx_t **ctx, err_t *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, src, len);
    int rc = gguf_open_memory(copy, len, ctx, err);
    if (rc == 0)
        gguf_close(ctx);   /* callers here only want the verdict; the buffer goes next */
    free(copy);
    return rc;
}

static void expect_fail(const uint8_t *buf, size_t len, int code, const char *needle, const char *label)
{
    gguf_ctx_t *ctx = (gguf_ctx_t *)&ctx;   /* must come back NULL */
    err_t err;
    err_clear(&err);
    int rc = open_exact(buf, len, &ctx, &err);
    CHECKF(rc == code, "%s: rc %d (%s), want %s; msg: %s", label, rc, err_name(rc), err_name(code), err.msg);
    CHECKF(ctx == NULL, "%s: ctx not NULL on failure", label);
    CHECKF(err.code == rc, "%s: err.code %d vs rc %d", label, err.code, rc);
    CHECKF(needle == NULL || strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", label, err.msg, needle);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

/* With LL_GGUF_SEED_DIR set, the valid files built here are saved as fuzz seeds. */
static void save_seed(const char *name, const uint8_t *p, size_t len)
{
    const char *dir = getenv("LL_GGUF_SEED_DIR");
    if (!dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECKF(f && fwrite(p, 1, len, f) == len && fclose(f) == 0, "cannot save seed %s", path);
}

/* ---- round trip through the writer ---- */

#define RT_TENSORS 5
static const char *rt_names[RT_TENSORS] = {"a.f32", "b.f16", "c.q4_0", "d.q8_0", "e.f32.4d"};
static const uint32_t rt_types[RT_TENSORS] = {TYPE_F32, TYPE_F16, TYPE_Q4_0, TYPE_Q8_0, TYPE_F32};
static const uint32_t rt_ndims[RT_TENSORS] = {2, 2, 2, 3, 4};
static const uint64_t rt_ne[RT_TENSORS][4] = {{8, 3}, {16, 5}, {64, 2}, {32, 3, 2}, {2, 2, 2, 2}};

static size_t rt_nbytes(int i)
{
    return type_row_bytes(rt_types[i], rt_ne[i][0]) * (rt_ne[i][1] ? rt_ne[i][1] : 1) *
           (rt_ndims[i] > 2 ? rt_ne[i][2] : 1) * (rt_ndims[i] > 3 ? rt_ne[i][3] : 1);
}

static const char *const rt_strs[] = {"<unk>", "", "\xe2\x96\x81the", "x"};
static const float rt_f32s[] = {0.0f, -1.5f, 3.25e-7f};
static const int32_t rt_i32s[] = {1, -2, 2147483647, -2147483647 - 1};

/* Writes the round-trip file; data[i] must hold rt_nbytes(i) bytes. */
static int write_rt(const char *path, uint8_t *data[RT_TENSORS], uint32_t alignment, err_t *err)
{
    gguf_writer_t *w = NULL;
    int rc = gguf_writer_create(&w, err);
    if (rc == 0 && alignment)
        rc = gguf_writer_set_u32(w, "general.alignment", alignment, err);
    if (rc == 0) rc = gguf_writer_set_str(w, "general.architecture", "llama", err);
    if (rc == 0) rc = gguf_writer_set_u32(w, "k.u32", 4000000000u, err);
    if (rc == 0) rc = gguf_writer_set_i32(w, "k.i32", -7, err);
    if (rc == 0) rc = gguf_writer_set_u64(w, "k.u64", 0x123456789abcdefULL, err);
    if (rc == 0) rc = gguf_writer_set_f32(w, "k.f32", 1e-5f, err);
    if (rc == 0) rc = gguf_writer_set_bool(w, "k.bool", true, err);
    if (rc == 0) rc = gguf_writer_set_str(w, "k.empty", "", err);
    if (rc == 0) rc = gguf_writer_set_arr_str(w, "k.arr.str", rt_strs, 4, err);
    if (rc == 0) rc = gguf_writer_set_arr_f32(w, "k.arr.f32", rt_f32s, 3, err);
    if (rc == 0) rc = gguf_writer_set_arr_i32(w, "k.arr.i32", rt_i32s, 4, err);
    if (rc == 0) rc = gguf_writer_set_arr_i32(w, "k.arr.empty", NULL, 0, err);
    for (int i = 0; i < RT_TENSORS && rc == 0; i++)
        rc = gguf_writer_add_tensor(w, rt_names[i], rt_types[i], rt_ndims[i], rt_ne[i], data[i], rt_nbytes(i), err);
    if (rc == 0)
        rc = gguf_writer_write(w, path, err);
    gguf_writer_destroy(&w);
    CHECK(w == NULL);
    return rc;
}

static void check_rt_ctx(const gguf_ctx_t *g, uint8_t *data[RT_TENSORS], size_t alignment)
{
    err_t err;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    bool b;
    gguf_str_t s;
    const gguf_kv_t *kv;
    CHECK(gguf_version(g) == 3);
    CHECK(gguf_alignment(g) == alignment);
    CHECK(gguf_data_offset(g) % alignment == 0);
    CHECK(gguf_file_size(g) % alignment == 0);
    CHECK(gguf_kv_count(g) == 11u + (alignment != 32));
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == 0 && gguf_str_eq(s, "llama"));
    CHECK(gguf_get_u32(g, "k.u32", &u32, &err) == 0 && u32 == 4000000000u);
    CHECK(gguf_get_i32(g, "k.u32", &i32, &err) == ERR_RANGE && strstr(err.msg, "k.u32"));
    CHECK(gguf_get_i32(g, "k.i32", &i32, &err) == 0 && i32 == -7);
    CHECK(gguf_get_u32(g, "k.i32", &u32, &err) == ERR_RANGE);
    CHECK(gguf_get_u64(g, "k.u64", &u64, &err) == 0 && u64 == 0x123456789abcdefULL);
    CHECK(gguf_get_u32(g, "k.u64", &u32, &err) == ERR_RANGE);
    CHECK(gguf_get_f32(g, "k.f32", &f, &err) == 0 && f == 1e-5f);
    CHECK(gguf_get_bool(g, "k.bool", &b, &err) == 0 && b);
    CHECK(gguf_get_str(g, "k.empty", &s, &err) == 0 && s.len == 0 && gguf_str_eq(s, ""));
    CHECK(gguf_get_u32(g, "nope", &u32, &err) == ERR_NOTFOUND && strstr(err.msg, "'nope'"));
    CHECK(gguf_get_str(g, "k.u32", &s, &err) == ERR_FORMAT && strstr(err.msg, "k.u32") && strstr(err.msg, "u32"));
    CHECK(gguf_get_bool(g, "k.u32", &b, &err) == ERR_FORMAT);
    CHECK(gguf_get_f32(g, "k.bool", &f, &err) == ERR_FORMAT);
    CHECK(gguf_get_arr(g, "k.arr.str", GGUF_VT_STRING, &kv, &err) == 0 && kv->v.arr.n == 4);
    if (gguf_get_arr(g, "k.arr.str", GGUF_VT_STRING, &kv, &err) == 0 && kv->v.arr.n == 4)
        for (int i = 0; i < 4; i++)
            CHECKF(gguf_str_eq(kv->v.arr.strs[i], rt_strs[i]), "string element %d", i);
    CHECK(gguf_get_arr(g, "k.arr.str", GGUF_VT_F32, &kv, &err) == ERR_FORMAT && strstr(err.msg, "array of string"));
    CHECK(gguf_get_arr(g, "k.u32", GGUF_VT_U32, &kv, &err) == ERR_FORMAT);
    CHECK(gguf_get_arr(g, "k.arr.f32", GGUF_VT_F32, &kv, &err) == 0 && kv->v.arr.n == 3);
    for (int i = 0; i < 3; i++)
        CHECK(gguf_arr_f32_at(kv, (uint64_t)i) == rt_f32s[i]);
    CHECK(gguf_get_arr(g, "k.arr.i32", GGUF_VT_I32, &kv, &err) == 0 && kv->v.arr.n == 4);
    for (int i = 0; i < 4; i++)
        CHECK(gguf_arr_i32_at(kv, (uint64_t)i) == rt_i32s[i]);
    CHECK(gguf_arr_i32_at(kv, 4) == 0);
    CHECK(gguf_get_arr(g, "k.arr.empty", GGUF_VT_I32, &kv, &err) == 0 && kv->v.arr.n == 0);

    CHECK(gguf_tensor_count(g) == RT_TENSORS);
    for (int i = 0; i < RT_TENSORS; i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, (size_t)i);
        CHECKF(t && strcmp(t->name, rt_names[i]) == 0, "tensor %d name", i);
        CHECK(gguf_tensor_find(g, rt_names[i]) == t);
        if (!t)
            continue;
        CHECK(t->type == rt_types[i] && t->n_dims == rt_ndims[i]);
        uint64_t n = 1;
        for (int d = 0; d < 4; d++) {
            uint64_t want = d < (int)rt_ndims[i] ? rt_ne[i][d] : 1;
            CHECKF(t->ne[d] == want, "tensor %d ne[%d] %llu", i, d, (unsigned long long)t->ne[d]);
            n *= want;
        }
        CHECK(t->n_elems == n);
        CHECK(t->nbytes == rt_nbytes(i));
        CHECK(t->offset % alignment == 0);
        CHECK((const uint8_t *)t->data == (const uint8_t *)gguf_file_data(g) + gguf_data_offset(g) + t->offset);
        CHECKF(memcmp(t->data, data[i], t->nbytes) == 0, "tensor %d bytes", i);
    }
    CHECK(gguf_tensor_find(g, "missing") == NULL);
    CHECK(gguf_kv_find(g, "missing") == NULL);
}

static void test_round_trip(uint8_t **fixture, size_t *fixture_len)
{
    uint8_t *data[RT_TENSORS];
    uint64_t seed = 1;
    for (int i = 0; i < RT_TENSORS; i++) {
        data[i] = malloc(rt_nbytes(i));
        for (size_t j = 0; j < rt_nbytes(i); j++)
            data[i][j] = (uint8_t)rng_next(&seed);
    }
    char path[] = "/tmp/test_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    static const uint32_t aligns[] = {0, 64, 1};
    for (int k = 0; k < 3; k++) {
        err_t err;
        err_clear(&err);
        int rc = write_rt(path, data, aligns[k], &err);
        CHECKF(rc == 0, "write_rt(align %u): %s", aligns[k], err.msg);
        size_t a = aligns[k] ? aligns[k] : 32;
        gguf_ctx_t *g = NULL;
        rc = gguf_open(path, &g, &err);
        CHECKF(rc == 0, "gguf_open: %s", err.msg);
        if (rc == 0)
            check_rt_ctx(g, data, a);
        gguf_close(&g);
        CHECK(g == NULL);
        gguf_close(&g);   /* accepts NULL */
        size_t len = 0;
        uint8_t *bytes = read_all(path, &len);
        rc = gguf_open_memory(bytes, len, &g, &err);
        CHECKF(rc == 0, "gguf_open_memory: %s", err.msg);
        if (rc == 0)
            check_rt_ctx(g, data, a);
        gguf_close(&g);
        save_seed(k == 0 ? "roundtrip.gguf" : k == 1 ? "roundtrip-align64.gguf" : "roundtrip-align1.gguf", bytes,
                  len);
        if (k == 0) {
            *fixture = bytes;
            *fixture_len = len;
        } else {
            free(bytes);
        }
    }
    remove(path);
    for (int i = 0; i < RT_TENSORS; i++)
        free(data[i]);
}

static void test_writer_errors(void)
{
    gguf_writer_t *w = NULL;
    err_t err;
    uint8_t buf[256] = {0};
    uint64_t ne[2] = {32, 2};
    CHECK(gguf_writer_create(&w, &err) == 0);
    CHECK(gguf_writer_set_u32(w, "a", 1, &err) == 0);
    CHECK(gguf_writer_set_i32(w, "a", 1, &err) == ERR_INVAL && strstr(err.msg, "'a'"));
    CHECK(gguf_writer_set_str(w, "", "x", &err) == ERR_INVAL);
    CHECK(gguf_writer_set_str(w, "s", NULL, &err) == ERR_INVAL);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 48, &err) == ERR_INVAL && strstr(err.msg, "48"));
    CHECK(gguf_writer_set_u32(w, "general.alignment", 0, &err) == ERR_INVAL);
    CHECK(gguf_writer_set_u64(w, "general.alignment", 64, &err) == ERR_INVAL && strstr(err.msg, "u32"));
    CHECK(gguf_writer_add_tensor(w, "t", TYPE_Q8_0, 2, ne, buf, 68, &err) == 0);
    CHECK(gguf_writer_add_tensor(w, "t", TYPE_Q8_0, 2, ne, buf, 68, &err) == ERR_INVAL && strstr(err.msg, "'t'"));
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_Q8_0, 2, ne, buf, 67, &err) == ERR_INVAL && strstr(err.msg, "67"));
    CHECK(gguf_writer_add_tensor(w, "u", 12, 2, ne, buf, 68, &err) == ERR_INVAL);
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_F32, 0, ne, buf, 68, &err) == ERR_INVAL);
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_F32, 5, ne, buf, 68, &err) == ERR_INVAL);
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_F32, 2, ne, NULL, 256, &err) == ERR_INVAL);
    ne[0] = 33;
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_Q4_0, 2, ne, buf, 36, &err) == ERR_INVAL && strstr(err.msg, "block"));
    ne[0] = 0;
    CHECK(gguf_writer_add_tensor(w, "u", TYPE_F32, 2, ne, buf, 0, &err) == ERR_INVAL && strstr(err.msg, "ne[0]"));
    const char *bad = "/nonexistent-dir-xyz/out.gguf";
    CHECK(gguf_writer_write(w, bad, &err) == ERR_IO && strstr(err.msg, bad));
    if (access("/dev/full", W_OK) == 0) {
        /* Small: the failure shows at fclose; large: at fwrite. /dev/full must survive. */
        CHECK(gguf_writer_write(w, "/dev/full", &err) == ERR_IO && strstr(err.msg, "/dev/full: close"));
        static uint8_t big[1 << 21];
        uint64_t big_ne[1] = {sizeof big / 2};
        CHECK(gguf_writer_add_tensor(w, "big", TYPE_F16, 1, big_ne, big, sizeof big, &err) == 0);
        CHECK(gguf_writer_write(w, "/dev/full", &err) == ERR_IO && strstr(err.msg, "write failed after"));
        CHECK(access("/dev/full", W_OK) == 0);
    }
    gguf_writer_destroy(&w);
    gguf_writer_destroy(&w);   /* accepts NULL */

    gguf_ctx_t *g = NULL;
    CHECK(gguf_open("/nonexistent-dir-xyz/in.gguf", &g, &err) == ERR_IO && strstr(err.msg, "in.gguf") && !g);
    CHECK(gguf_open("/tmp", &g, &err) == ERR_IO && !g);
    CHECK(gguf_open_memory(NULL, 10, &g, &err) == ERR_INVAL);
    CHECK(gguf_open_memory(NULL, 0, &g, &err) == ERR_FORMAT && strstr(err.msg, "magic"));
}

/* ---- hand-built files ---- */

/* Every value type the format has, scalar and as array, read through kv_at. */
static void test_all_value_types(void)
{
    rb_t b = {0};
    rb_put(&b, "GGUF", 4);
    rb_u32(&b, 2);   /* version 2 has the same layout */
    rb_u64(&b, 0);
    rb_u64(&b, 13 + 11);
    rb_key(&b, "u8", GGUF_VT_U8); rb_u8(&b, 200);
    rb_key(&b, "i8", GGUF_VT_I8); rb_u8(&b, 0x80);
    rb_key(&b, "u16", GGUF_VT_U16); rb_u8(&b, 0x34); rb_u8(&b, 0x12);
    rb_key(&b, "i16", GGUF_VT_I16); rb_u8(&b, 0xfe); rb_u8(&b, 0xff);
    rb_key(&b, "u32", GGUF_VT_U32); rb_u32(&b, 7);
    rb_key(&b, "i32", GGUF_VT_I32); rb_u32(&b, (uint32_t)-5);
    rb_key(&b, "f32", GGUF_VT_F32); rb_u32(&b, 0x3fc00000u);   /* 1.5 */
    rb_key(&b, "bool", GGUF_VT_BOOL); rb_u8(&b, 0);
    rb_key(&b, "str", GGUF_VT_STRING); rb_str(&b, "hi");
    rb_key(&b, "u64", GGUF_VT_U64); rb_u64(&b, UINT64_MAX);
    rb_key(&b, "i64", GGUF_VT_I64); rb_u64(&b, (uint64_t)-3);
    rb_key(&b, "f64", GGUF_VT_F64); rb_u64(&b, 0x4004000000000000ULL);   /* 2.5 */
    rb_key(&b, "arr.str", GGUF_VT_ARRAY); rb_u32(&b, GGUF_VT_STRING); rb_u64(&b, 2); rb_str(&b, "a"); rb_str(&b, "bc");
    static const uint32_t numeric[] = {GGUF_VT_U8, GGUF_VT_I8, GGUF_VT_U16, GGUF_VT_I16, GGUF_VT_U32, GGUF_VT_I32,
                                       GGUF_VT_F32, GGUF_VT_BOOL, GGUF_VT_U64, GGUF_VT_I64, GGUF_VT_F64};
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 8, 8};
    for (int i = 0; i < 11; i++) {
        char key[32];
        snprintf(key, sizeof key, "arr.%s", gguf_vtype_name(numeric[i]));
        rb_key(&b, key, GGUF_VT_ARRAY);
        rb_u32(&b, numeric[i]);
        rb_u64(&b, 3);
        for (size_t j = 0; j < 3 * sizes[i]; j++)
            rb_u8(&b, numeric[i] == GGUF_VT_BOOL ? (uint8_t)(j & 1) : (uint8_t)j);
    }
    gguf_ctx_t *g = NULL;
    err_t err;
    int rc = gguf_open_memory(b.p, b.len, &g, &err);
    CHECKF(rc == 0, "all value types: %s", err.msg);
    save_seed("all-value-types.gguf", b.p, b.len);
    if (rc == 0) {
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        float f;
        bool bo;
        CHECK(gguf_version(g) == 2 && gguf_kv_count(g) == 24 && gguf_tensor_count(g) == 0);
        CHECK(gguf_data_offset(g) <= gguf_file_size(g));
        CHECK(gguf_get_u32(g, "u8", &u32, &err) == 0 && u32 == 200);
        CHECK(gguf_get_i32(g, "i8", &i32, &err) == 0 && i32 == -128);
        CHECK(gguf_get_u32(g, "u16", &u32, &err) == 0 && u32 == 0x1234);
        CHECK(gguf_get_i32(g, "i16", &i32, &err) == 0 && i32 == -2);
        CHECK(gguf_get_u64(g, "i16", &u64, &err) == ERR_RANGE);
        CHECK(gguf_get_i32(g, "i32", &i32, &err) == 0 && i32 == -5);
        CHECK(gguf_get_f32(g, "f32", &f, &err) == 0 && f == 1.5f);
        CHECK(gguf_get_bool(g, "bool", &bo, &err) == 0 && !bo);
        CHECK(gguf_get_u64(g, "u64", &u64, &err) == 0 && u64 == UINT64_MAX);
        CHECK(gguf_get_u32(g, "u64", &u32, &err) == ERR_RANGE && strstr(err.msg, "18446744073709551615"));
        CHECK(gguf_get_i32(g, "i64", &i32, &err) == 0 && i32 == -3);
        CHECK(gguf_get_f32(g, "f64", &f, &err) == 0 && f == 2.5f);
        const gguf_kv_t *kv = gguf_kv_find(g, "arr.u16");
        CHECK(kv && kv->type == GGUF_VT_ARRAY && kv->v.arr.type == GGUF_VT_U16 && kv->v.arr.n == 3);
        CHECK(kv && memcmp(kv->v.arr.data, "\x00\x01\x02\x03\x04\x05", 6) == 0);
        CHECK(gguf_kv_at(g, 0) && strcmp(gguf_kv_at(g, 0)->key, "u8") == 0);
        CHECK(gguf_kv_at(g, 24) == NULL);
        CHECK(strcmp(gguf_vtype_name(GGUF_VT_F64), "f64") == 0 && strcmp(gguf_vtype_name(99), "unknown") == 0);
    }
    gguf_close(&g);
    free(b.p);
}

/* A small valid file with the fields the malformed cases patch. */
typedef struct {
    size_t version, tensor_count, kv_count;
    size_t arch_key_len, align_type, align_val, dup_a_type, dup_b_key;
    size_t arrf_elem, arrf_count, arrs_count, flag_val;
    size_t ta_name, ta_ndims, ta_ne1, ta_type, tb_name, tb_ne0, tb_offset, tc_type, tc_offset;
} pos_t;

static rb_t build_base(pos_t *p)
{
    rb_t b = {0};
    rb_put(&b, "GGUF", 4);
    p->version = rb_u32(&b, 3);
    p->tensor_count = rb_u64(&b, 3);
    p->kv_count = rb_u64(&b, 7);
    p->arch_key_len = rb_str(&b, "general.architecture");
    rb_u32(&b, GGUF_VT_STRING); rb_str(&b, "llama");
    p->align_type = rb_key(&b, "general.alignment", GGUF_VT_U32);
    p->align_val = rb_u32(&b, 32);
    p->dup_a_type = rb_key(&b, "dup.a", GGUF_VT_U32);
    rb_u32(&b, 1);
    p->dup_b_key = rb_str(&b, "dup.b") + 8;
    rb_u32(&b, GGUF_VT_U32); rb_u32(&b, 2);
    rb_key(&b, "arr.f", GGUF_VT_ARRAY);
    p->arrf_elem = rb_u32(&b, GGUF_VT_F32);
    p->arrf_count = rb_u64(&b, 3);
    rb_zeros(&b, 12);
    rb_key(&b, "arr.s", GGUF_VT_ARRAY); rb_u32(&b, GGUF_VT_STRING);
    p->arrs_count = rb_u64(&b, 2);
    rb_str(&b, "x"); rb_str(&b, "yz");
    rb_key(&b, "flag", GGUF_VT_BOOL);
    p->flag_val = rb_u8(&b, 1);
    /* t.a F32 [8,2] at 0 (64 bytes), t.b Q8_0 [32,2] at 64 (68 bytes), t.c F16 [16] at 160 (32 bytes). */
    p->ta_name = rb_str(&b, "t.a") + 8;
    p->ta_ndims = rb_u32(&b, 2);
    rb_u64(&b, 8);
    p->ta_ne1 = rb_u64(&b, 2);
    p->ta_type = rb_u32(&b, TYPE_F32);
    rb_u64(&b, 0);
    p->tb_name = rb_str(&b, "t.b") + 8;
    rb_u32(&b, 2);
    p->tb_ne0 = rb_u64(&b, 32);
    rb_u64(&b, 2);
    rb_u32(&b, TYPE_Q8_0);
    p->tb_offset = rb_u64(&b, 64);
    rb_str(&b, "t.c");
    rb_u32(&b, 1); rb_u64(&b, 16);
    p->tc_type = rb_u32(&b, TYPE_F16);
    p->tc_offset = rb_u64(&b, 160);
    rb_pad(&b, 32);
    for (int i = 0; i < 192; i++)
        rb_u8(&b, (uint8_t)i);
    return b;
}

static void test_malformed(void)
{
    pos_t p;
    rb_t base = build_base(&p);
    gguf_ctx_t *g = NULL;
    err_t err;
    int rc = gguf_open_memory(base.p, base.len, &g, &err);
    CHECKF(rc == 0, "base file: %s", err.msg);
    save_seed("base.gguf", base.p, base.len);
    if (rc == 0) {
        CHECK(gguf_tensor_count(g) == 3 && gguf_kv_count(g) == 7);
        CHECK(gguf_data_offset(g) + 192 == base.len);
    }
    gguf_close(&g);

    uint8_t *m = malloc(base.len);
#define CASE(label, code, needle, patch)            \
    do {                                            \
        memcpy(m, base.p, base.len);                \
        patch;                                      \
        expect_fail(m, base.len, code, needle, label); \
    } while (0)
    CASE("bad magic", ERR_FORMAT, "magic", m[3] = 'X');
    CASE("version 1", ERR_UNSUP, "version 1 ", patch_u32(m, p.version, 1));
    CASE("version 4", ERR_UNSUP, "version 4 ", patch_u32(m, p.version, 4));
    CASE("big-endian", ERR_UNSUP, "big-endian", patch_u32(m, p.version, 0x03000000u));
    CASE("huge tensor_count", ERR_FORMAT, "tensor_count 18446744073709551615", patch_u64(m, p.tensor_count, UINT64_MAX));
    CASE("huge kv_count", ERR_FORMAT, "kv_count 18446744073709551615", patch_u64(m, p.kv_count, UINT64_MAX));
    CASE("counts together", ERR_FORMAT, "need at least", patch_u64(m, p.kv_count, 20); patch_u64(m, p.tensor_count, 10));
    CASE("huge key length", ERR_FORMAT, "kv 0: key length 18446744073709551615 exceeds remaining",
         patch_u64(m, p.arch_key_len, UINT64_MAX));
    CASE("empty key", ERR_FORMAT, "kv 0: empty key", patch_u64(m, p.arch_key_len, 0));
    CASE("NUL in key", ERR_FORMAT, "NUL", m[p.dup_b_key + 2] = 0);
    CASE("duplicate key", ERR_FORMAT, "kv 3 ('dup.a'): duplicate of kv 2", m[p.dup_b_key + 4] = 'a');
    CASE("unknown kv type", ERR_FORMAT, "kv 2 ('dup.a'): unknown value type 13", patch_u32(m, p.dup_a_type, 13));
    CASE("unknown elem type", ERR_FORMAT, "kv 4 ('arr.f'): unknown array element type 77",
         patch_u32(m, p.arrf_elem, 77));
    CASE("nested array", ERR_UNSUP, "kv 4 ('arr.f'): nested", patch_u32(m, p.arrf_elem, GGUF_VT_ARRAY));
    CASE("huge array count", ERR_FORMAT, "kv 4 ('arr.f'): array count 18446744073709551615 exceeds remaining",
         patch_u64(m, p.arrf_count, UINT64_MAX));
    CASE("array count overflow", ERR_FORMAT, "array count 4611686018427387905",
         patch_u64(m, p.arrf_count, (1ULL << 62) + 1));
    CASE("huge string array", ERR_FORMAT, "kv 5 ('arr.s'): array count", patch_u64(m, p.arrs_count, 1ULL << 40));
    CASE("bool 2", ERR_FORMAT, "kv 6 ('flag'): bool value 2", m[p.flag_val] = 2);
    CASE("alignment 0", ERR_FORMAT, "general.alignment 0", patch_u32(m, p.align_val, 0));
    CASE("alignment 48", ERR_FORMAT, "general.alignment 48", patch_u32(m, p.align_val, 48));
    CASE("alignment type", ERR_FORMAT, "general.alignment has type i32", patch_u32(m, p.align_type, GGUF_VT_I32));
    CASE("n_dims 0", ERR_FORMAT, "tensor 0 ('t.a'): n_dims 0", patch_u32(m, p.ta_ndims, 0));
    CASE("n_dims 5", ERR_FORMAT, "tensor 0 ('t.a'): n_dims 5", patch_u32(m, p.ta_ndims, 5));
    CASE("ne 0", ERR_FORMAT, "tensor 0 ('t.a'): ne[1] is 0", patch_u64(m, p.ta_ne1, 0));
    CASE("ne overflow", ERR_FORMAT, "element count overflows", patch_u64(m, p.ta_ne1, 1ULL << 62));
    CASE("ne huge", ERR_FORMAT, "exceeds data section", patch_u64(m, p.ta_ne1, 1ULL << 40));
    CASE("type IQ4_XS", ERR_UNSUP,
         "tensor 0 ('t.a') has type 23 (IQ4_XS), supported: F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K "
         "Q6_K IQ4_NL", patch_u32(m, p.ta_type, 23));
    CASE("type Q8_K", ERR_UNSUP, "type 15 (Q8_K)", patch_u32(m, p.ta_type, 15));
    /* Every new type: a row length that is not a multiple of its block, and a tensor
     * whose bytes run past the data section (t.c, 32 bytes before the end, made 256 or
     * 32 values of the type). */
    static const uint32_t kq[] = {TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K};
    static const uint32_t q32[] = {TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_IQ4_NL};
    char needle[160];
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++) {
        snprintf(needle, sizeof needle, "tensor 1 ('t.b'): ne[0] = 32 is not a multiple of the %s block size 256",
                 type_name(kq[i]));
        CASE("K block size", ERR_FORMAT, needle, patch_u32(m, p.tb_offset - 4, kq[i]));
        snprintf(needle, sizeof needle, "tensor 2 ('t.c'): data offset 160 + size %zu exceeds data section size 192",
                 type_block_bytes(kq[i]));
        CASE("K truncated", ERR_FORMAT, needle, patch_u32(m, p.tc_type, kq[i]); patch_u64(m, p.tc_type - 8, 256));
    }
    for (size_t i = 0; i < sizeof q32 / sizeof q32[0]; i++) {
        snprintf(needle, sizeof needle, "tensor 2 ('t.c'): ne[0] = 16 is not a multiple of the %s block size 32",
                 type_name(q32[i]));
        CASE("block size 32", ERR_FORMAT, needle, patch_u32(m, p.tc_type, q32[i]));
        snprintf(needle, sizeof needle, "tensor 2 ('t.c'): data offset 160 + size %zu exceeds data section size 192",
                 2 * type_block_bytes(q32[i]));
        CASE("truncated 32", ERR_FORMAT, needle, patch_u32(m, p.tc_type, q32[i]); patch_u64(m, p.tc_type - 8, 64));
        /* t.b as this type is a valid file (40..48 bytes fit before t.c) */
        memcpy(m, base.p, base.len);
        patch_u32(m, p.tb_offset - 4, q32[i]);
        gguf_ctx_t *gq = NULL;
        CHECKF(gguf_open_memory(m, base.len, &gq, &err) == 0 && gguf_tensor_at(gq, 1)->nbytes ==
               2 * type_block_bytes(q32[i]), "t.b as %s: %s", type_name(q32[i]), err.msg);
        gguf_close(&gq);
    }
    CASE("type BF16", ERR_UNSUP, "type 30 (BF16)", patch_u32(m, p.tc_type, 30));
    CASE("type 99", ERR_UNSUP, "type 99 (unknown)", patch_u32(m, p.tc_type, 99));
    CASE("block size", ERR_FORMAT, "tensor 1 ('t.b'): ne[0] = 48 is not a multiple of the Q8_0 block size 32",
         patch_u64(m, p.tb_ne0, 48));
    CASE("misaligned offset", ERR_FORMAT, "tensor 1 ('t.b'): data offset 65 is not a multiple of alignment 32",
         patch_u64(m, p.tb_offset, 65));
    CASE("offset past end", ERR_FORMAT, "tensor 2 ('t.c'): data offset 192 + size 32 exceeds data section size 192",
         patch_u64(m, p.tc_offset, 192));
    CASE("offset overflow", ERR_FORMAT, "exceeds data section size", patch_u64(m, p.tc_offset, UINT64_MAX - 31));
    CASE("overlap", ERR_FORMAT, "overlaps tensor", patch_u64(m, p.tb_offset, 32));
    CASE("overlap same", ERR_FORMAT, "overlaps tensor", patch_u64(m, p.tc_offset, 64));
    CASE("duplicate tensor", ERR_FORMAT, "tensor 1 ('t.a'): duplicate of tensor 0", m[p.tb_name + 2] = 'a');
    CASE("empty tensor name", ERR_FORMAT, "tensor 0: empty name", patch_u64(m, p.ta_name - 8, 0));
#undef CASE
    /* The data section may not start past the end when there are tensors. */
    expect_fail(base.p, base.len - 192, ERR_FORMAT, "exceeds data section size", "no data");
    free(m);

    /* Every truncation fails cleanly with ERR_FORMAT. */
    int bad = 0;
    for (size_t len = 0; len < base.len; len++) {
        g = NULL;
        rc = open_exact(base.p, len, &g, &err);
        if (rc != ERR_FORMAT && bad++ < 5)
            CHECKF(0, "base truncated to %zu: rc %d (%s)", len, rc, err.msg);
    }
    CHECK(bad == 0);
    expect_fail(base.p, 20, ERR_FORMAT, "header: truncated at byte 16 reading kv_count", "header truncation");
    free(base.p);
}

/* Messages quote hostile names safely; gguf_open names the file; bool arrays are checked. */
static void test_messages(void)
{
    char key[101];
    memset(key, 'k', 100);
    key[100] = '\0';
    key[3] = '\x01';
    rb_t b = {0};
    rb_put(&b, "GGUF", 4);
    rb_u32(&b, 3);
    rb_u64(&b, 0);
    rb_u64(&b, 2);
    rb_key(&b, "flags", GGUF_VT_ARRAY);
    rb_u32(&b, GGUF_VT_BOOL);
    rb_u64(&b, 3);
    size_t flag1 = rb_u8(&b, 0) + 1;
    rb_u8(&b, 1);
    rb_u8(&b, 0);
    size_t type_pos = rb_key(&b, key, GGUF_VT_U8);
    rb_u8(&b, 1);
    gguf_ctx_t *g = NULL;
    err_t err;
    CHECKF(gguf_open_memory(b.p, b.len, &g, &err) == 0, "%s", err.msg);
    gguf_close(&g);
    b.p[flag1] = 2;
    expect_fail(b.p, b.len, ERR_FORMAT, "kv 0 ('flags'): bool element 1 has value 2", "bool array");
    b.p[flag1] = 1;
    patch_u32(b.p, type_pos, 200);
    expect_fail(b.p, b.len, ERR_FORMAT, "kv 1 ('kkk?kkkk", "long key");
    expect_fail(b.p, b.len, ERR_FORMAT, "kkk...'): unknown value type 200", "long key end");

    char path[] = "/tmp/test_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, b.p, b.len) == (ssize_t)b.len);
    close(fd);
    CHECK(gguf_open(path, &g, &err) == ERR_FORMAT && strncmp(err.msg, path, strlen(path)) == 0 && !g);
    CHECK(strstr(err.msg, "unknown value type 200") != NULL);
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    CHECK(gguf_open(path, &g, &err) == ERR_FORMAT && strstr(err.msg, "truncated at byte 0 reading magic") && !g);
    remove(path);
    free(b.p);
}

static void test_truncations(const uint8_t *fix, size_t len)
{
    int bad = 0;
    err_t err;
    for (size_t n = 0; n < len; n++) {
        gguf_ctx_t *g = NULL;
        int rc = open_exact(fix, n, &g, &err);
        if (rc != ERR_FORMAT && bad++ < 5)
            CHECKF(0, "fixture truncated to %zu of %zu: rc %d (%s)", n, len, rc, err.msg);
    }
    CHECK(bad == 0);
    gguf_ctx_t *g = NULL;
    CHECK(open_exact(fix, len, &g, &err) == 0);
}

/* Deterministic mutations through the fuzz entry point. */
static void test_mutations(const uint8_t *fix, size_t len, int rounds, uint64_t seed)
{
    static const uint64_t values[] = {0, 1, 31, 32, 0xffffffffULL, 0x7fffffffffffffffULL, UINT64_MAX, 1ULL << 63,
                                      1ULL << 32, 12, 9, 8, 5, 4};
    int accepted = 0;
    uint8_t *m = malloc(len);
    for (int r = 0; r < rounds; r++) {
        memcpy(m, fix, len);
        size_t n = len;
        int k = 1 + (int)(rng_next(&seed) % 4);
        for (int j = 0; j < k; j++) {
            uint64_t x = rng_next(&seed);
            size_t pos = (size_t)(rng_next(&seed) % n);
            switch (x % 5) {
            case 0: m[pos] ^= (uint8_t)(1u << (x >> 8) % 8); break;
            case 1: m[pos] = (uint8_t)(x >> 16); break;
            case 2:
                if (pos + 8 <= n)
                    patch_u64(m, pos, values[(x >> 8) % (sizeof values / sizeof values[0])]);
                break;
            case 3:
                if (pos + 4 <= n)
                    patch_u32(m, pos, (uint32_t)values[(x >> 8) % (sizeof values / sizeof values[0])]);
                break;
            default: n = pos; break;   /* truncate */
            }
            if (n == 0)
                break;
        }
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, m, n);
        LLVMFuzzerTestOneInput(exact, n);
        gguf_ctx_t *g = NULL;
        if (gguf_open_memory(exact, n, &g, NULL) == 0)
            accepted++;
        gguf_close(&g);
        free(exact);
    }
    free(m);
    printf("mutations: %d rounds, %d accepted\n", rounds, accepted);
    CHECK(accepted < rounds);
}

/* ---- the real files in ../shared ---- */

static void test_shared(const char *dir)
{
    char path[1024];
    err_t err;
    gguf_ctx_t *g = NULL;
    uint32_t u32;
    gguf_str_t s;

    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir);
    int rc = gguf_open(path, &g, &err);
    CHECKF(rc == 0, "%s: %s", path, err.msg);
    if (rc == 0) {
        CHECK(gguf_version(g) == 3);
        CHECK(gguf_tensor_count(g) == 48);
        CHECK(gguf_kv_count(g) == 19);
        CHECK(gguf_data_offset(g) == 14176);
        CHECK(gguf_alignment(g) == 32);
        CHECK(gguf_get_u32(g, "llama.embedding_length", &u32, &err) == 0 && u32 == 64);
        CHECK(gguf_get_u32(g, "llama.feed_forward_length", &u32, &err) == 0 && u32 == 172);
        CHECK(gguf_get_str(g, "general.architecture", &s, &err) == 0 && gguf_str_eq(s, "llama"));
        CHECK(gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &u32, &err) == 0 && u32 == 4294967295u);
        const gguf_kv_t *kv;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING, &kv, &err) == 0 && kv->v.arr.n == 512);
        const gguf_tensor_t *t = gguf_tensor_find(g, "token_embd.weight");
        CHECK(t && t->type == TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
        CHECK(t && t->offset == 0 && t->data == (const uint8_t *)gguf_file_data(g) + 14176);
        t = gguf_tensor_find(g, "blk.4.ffn_norm.weight");
        CHECK(t && t == gguf_tensor_at(g, 47) && t->offset == 1170944 && t->nbytes == 256);
        t = gguf_tensor_find(g, "blk.0.ffn_down.weight");
        CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);
    }
    gguf_close(&g);

    snprintf(path, sizeof path, "%s/models/stories260K-F16.gguf", dir);
    rc = gguf_open(path, &g, &err);
    CHECKF(rc == 0, "%s: %s", path, err.msg);
    if (rc == 0) {
        CHECK(gguf_kv_count(g) == 21 && gguf_data_offset(g) == 14240 && gguf_tensor_count(g) == 48);
        CHECK(gguf_get_u32(g, "general.file_type", &u32, &err) == 0 && u32 == 1);
        const gguf_tensor_t *t = gguf_tensor_at(g, 0);
        CHECK(t && strcmp(t->name, "output.weight") == 0 && t->type == TYPE_F16);
    }
    gguf_close(&g);

    snprintf(path, sizeof path, "%s/models/stories260K-Q8_0-mixed.gguf", dir);
    rc = gguf_open(path, &g, &err);
    CHECKF(rc == 0, "%s: %s", path, err.msg);
    if (rc == 0) {
        const gguf_tensor_t *t = gguf_tensor_find(g, "token_embd.weight");
        CHECK(t && t->type == TYPE_Q8_0 && t->nbytes == 34816);
        t = gguf_tensor_find(g, "blk.2.ffn_down.weight");
        CHECK(t && t->type == TYPE_F16);
        int nq = 0;
        for (size_t i = 0; i < gguf_tensor_count(g); i++)
            nq += gguf_tensor_at(g, i)->type == TYPE_Q8_0;
        CHECK(nq == 32);
    }
    gguf_close(&g);

    static const char *synth[] = {"synth-15Mshape-F16.gguf", "synth-15Mshape-Q8_0.gguf"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/models/%s", dir, synth[i]);
        rc = gguf_open(path, &g, &err);
        CHECKF(rc == 0, "%s: %s", path, err.msg);
        if (rc == 0)
            CHECK(gguf_tensor_count(g) == 57 && gguf_get_u32(g, "llama.embedding_length", &u32, &err) == 0 && u32 == 288);
        gguf_close(&g);
    }

    static const char *vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"};
    static const uint64_t n_tokens[] = {32000, 50257};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/vocab/%s", dir, vocabs[i]);
        rc = gguf_open(path, &g, &err);
        CHECKF(rc == 0, "%s: %s", path, err.msg);
        if (rc == 0) {
            const gguf_kv_t *kv;
            CHECK(gguf_tensor_count(g) == 0);
            CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING, &kv, &err) == 0 &&
                  kv->v.arr.n == n_tokens[i]);
        }
        gguf_close(&g);
    }

    /* Header region of a real file: every truncation fails; some mutations too. */
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir);
    size_t len = 0;
    uint8_t *bytes = read_all(path, &len);
    CHECK(bytes && len == 1185376);
    if (bytes && len == 1185376) {
        int bad = 0;
        for (size_t n = 0; n < len; n += n < 14300 ? 1 : 4099) {
            rc = open_exact(bytes, n, &g, &err);
            if (rc != ERR_FORMAT && bad++ < 5)
                CHECKF(0, "stories260K truncated to %zu: rc %d (%s)", n, rc, err.msg);
        }
        CHECK(bad == 0);
        test_mutations(bytes, 14176 + 256, 300, 7);
    }
    free(bytes);
}

int main(void)
{
    uint8_t *fixture = NULL;
    size_t fixture_len = 0;
    test_round_trip(&fixture, &fixture_len);
    test_writer_errors();
    test_all_value_types();
    test_malformed();
    test_messages();
    if (fixture) {
        test_truncations(fixture, fixture_len);
        test_mutations(fixture, fixture_len, 2000, 42);
    }
    free(fixture);

    const char *dir = check_shared_dir();
    if (dir)
        test_shared(dir);
    else
        printf("SKIP: ../shared absent\n");
    return check_finish("test_gguf");
}
