/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader.  Parses the input with
 * gguf_open_memory and, when it is accepted, walks every key/value through the
 * typed getters and every tensor through its lookup and data bytes, checking the
 * reader's promises (views inside the buffer, lookups consistent, n_dims and
 * types in range).  A broken promise traps; out-of-bounds reads are left to
 * AddressSanitizer.  tests/test_gguf.c includes this file and calls
 * LLVMFuzzerTestOneInput on deterministic mutations, so the same walk runs in CI.
 * Build and run: see fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tensor/types.h"

#define FUZZ_REQUIRE(cond)          \
    do {                            \
        if (!(cond))                \
            __builtin_trap();       \
    } while (0)

/* Sums the bytes of [p, p+n) after checking the range lies inside the file. */
static uint64_t fuzz_touch(const uint8_t *file, size_t size, const void *p, uint64_t n)
{
    const uint8_t *b = p;
    FUZZ_REQUIRE(n == 0 || (b >= file && n <= size && (size_t)(b - file) <= size - n));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += b[i];
    return sum;
}

static uint64_t fuzz_walk_kv(const gguf_ctx_t *ctx, const gguf_kv_t *kv, const uint8_t *file, size_t size)
{
    uint64_t sum = 0;
    err_t err;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    bool b;
    gguf_str_t s;
    FUZZ_REQUIRE(kv->key && kv->key[0]);
    FUZZ_REQUIRE(gguf_kv_find(ctx, kv->key) == kv);
    /* Every getter on every key: each must either succeed or explain itself. */
    if (gguf_get_u32(ctx, kv->key, &u32, &err) == 0)
        sum += u32;
    else
        FUZZ_REQUIRE(err.msg[0] != '\0');
    if (gguf_get_i32(ctx, kv->key, &i32, &err) == 0)
        sum += (uint32_t)i32;
    if (gguf_get_u64(ctx, kv->key, &u64, &err) == 0)
        sum += u64;
    if (gguf_get_f32(ctx, kv->key, &f, &err) == 0)
        sum += f == f;
    if (gguf_get_bool(ctx, kv->key, &b, &err) == 0)
        sum += b;
    if (gguf_get_str(ctx, kv->key, &s, &err) == 0)
        sum += fuzz_touch(file, size, s.ptr, s.len);
    if (kv->type != GGUF_VT_ARRAY)
        return sum;

    const gguf_kv_t *arr;
    FUZZ_REQUIRE(gguf_get_arr(ctx, kv->key, kv->v.arr.type, &arr, &err) == 0 && arr == kv);
    FUZZ_REQUIRE(kv->v.arr.type != GGUF_VT_ARRAY);
    if (kv->v.arr.type == GGUF_VT_STRING) {
        for (uint64_t i = 0; i < kv->v.arr.n; i++)
            sum += fuzz_touch(file, size, kv->v.arr.strs[i].ptr, kv->v.arr.strs[i].len);
        return sum;
    }
    uint64_t es = kv->v.arr.type == GGUF_VT_U8 || kv->v.arr.type == GGUF_VT_I8 || kv->v.arr.type == GGUF_VT_BOOL ? 1
                  : kv->v.arr.type == GGUF_VT_U16 || kv->v.arr.type == GGUF_VT_I16                      ? 2
                  : kv->v.arr.type == GGUF_VT_U64 || kv->v.arr.type == GGUF_VT_I64 ||
                            kv->v.arr.type == GGUF_VT_F64
                      ? 8
                      : 4;
    FUZZ_REQUIRE(kv->v.arr.n <= size / es);
    sum += fuzz_touch(file, size, kv->v.arr.data, kv->v.arr.n * es);
    for (uint64_t i = 0; i < kv->v.arr.n; i++) {
        if (kv->v.arr.type == GGUF_VT_F32)
            sum += gguf_arr_f32_at(kv, i) > 0.0f;
        else if (kv->v.arr.type == GGUF_VT_I32)
            sum += (uint32_t)gguf_arr_i32_at(kv, i);
    }
    return sum;
}

static uint64_t fuzz_walk_tensor(const gguf_ctx_t *ctx, const gguf_tensor_t *t, const uint8_t *file, size_t size)
{
    FUZZ_REQUIRE(t->name && t->name[0]);
    FUZZ_REQUIRE(gguf_tensor_find(ctx, t->name) == t);
    FUZZ_REQUIRE(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
    FUZZ_REQUIRE(type_is_known(t->type));
    FUZZ_REQUIRE(t->offset % gguf_alignment(ctx) == 0);
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        FUZZ_REQUIRE(t->ne[d] >= 1);
        n *= t->ne[d];
    }
    FUZZ_REQUIRE(n == t->n_elems);
    /* every type's rows are whole blocks, and the byte size is rows * row bytes */
    FUZZ_REQUIRE(t->ne[0] % type_block_elems(t->type) == 0);
    FUZZ_REQUIRE(t->nbytes == type_row_bytes(t->type, t->ne[0]) * (n / t->ne[0]));
    FUZZ_REQUIRE((const uint8_t *)t->data == file + gguf_data_offset(ctx) + t->offset);
    return fuzz_touch(file, size, t->data, t->nbytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_ctx_t *ctx = NULL;
    err_t err;
    err_clear(&err);
    if (gguf_open_memory(data, size, &ctx, &err) != 0) {
        FUZZ_REQUIRE(ctx == NULL && err.code < 0 && err.msg[0] != '\0');
        return 0;
    }
    volatile uint64_t sink = 0;
    FUZZ_REQUIRE(gguf_file_size(ctx) == size && gguf_data_offset(ctx) <= size);
    size_t a = gguf_alignment(ctx);
    FUZZ_REQUIRE(a > 0 && (a & (a - 1)) == 0);
    for (size_t i = 0; i < gguf_kv_count(ctx); i++)
        sink += fuzz_walk_kv(ctx, gguf_kv_at(ctx, i), data, size);
    for (size_t i = 0; i < gguf_tensor_count(ctx); i++)
        sink += fuzz_walk_tensor(ctx, gguf_tensor_at(ctx, i), data, size);
    FUZZ_REQUIRE(gguf_kv_at(ctx, gguf_kv_count(ctx)) == NULL);
    FUZZ_REQUIRE(gguf_tensor_at(ctx, gguf_tensor_count(ctx)) == NULL);
    FUZZ_REQUIRE(gguf_kv_find(ctx, "") == NULL && gguf_tensor_find(ctx, "") == NULL);
    (void)sink;
    gguf_close(&ctx);
    FUZZ_REQUIRE(ctx == NULL);
    return 0;
}
