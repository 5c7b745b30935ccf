/*
 * gguf_get.c — typed access to a parsed GGUF context: the gguf_get_* getters,
 * array element access, string comparison and value-type names of gguf.h.
 * Built only on the public accessors of gguf_read.c (gguf_kv_find), so it knows
 * nothing of the parser's insides.  Never reads outside a validated view: array
 * elements are copied with memcpy because views into the file are unaligned.
 */
#include "gguf/gguf.h"

#include <stdint.h>
#include <string.h>

const char *gguf_vtype_name(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8: return "u8";
    case GGUF_VT_I8: return "i8";
    case GGUF_VT_U16: return "u16";
    case GGUF_VT_I16: return "i16";
    case GGUF_VT_U32: return "u32";
    case GGUF_VT_I32: return "i32";
    case GGUF_VT_F32: return "f32";
    case GGUF_VT_BOOL: return "bool";
    case GGUF_VT_STRING: return "string";
    case GGUF_VT_ARRAY: return "array";
    case GGUF_VT_U64: return "u64";
    case GGUF_VT_I64: return "i64";
    case GGUF_VT_F64: return "f64";
    default: return "unknown";
    }
}

int gguf_str_eq(gguf_str_t a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

static int find(const gguf_ctx_t *ctx, const char *key, const gguf_kv_t **kv, err_t *err)
{
    *kv = gguf_kv_find(ctx, key);
    if (!*kv)
        return err_set(err, ERR_NOTFOUND, "key '%s' not found", key ? key : "(null)");
    return 0;
}

static int wrong_type(const gguf_kv_t *kv, const char *wanted, err_t *err)
{
    return err_set(err, ERR_FORMAT, "key '%s' has type %s, wanted %s", kv->key, gguf_vtype_name(kv->type), wanted);
}

static int is_unsigned(uint32_t t)
{
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}

static int is_signed(uint32_t t)
{
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}

/* Any integer kv whose value lies in [lo, hi]; *neg tells which of *u / *s holds it. */
static int get_int(const gguf_ctx_t *ctx, const char *key, int64_t lo, uint64_t hi, const char *wanted,
                   uint64_t *u, int64_t *s, int *neg, err_t *err)
{
    const gguf_kv_t *kv;
    int rc = find(ctx, key, &kv, err);
    if (rc)
        return rc;
    if (is_unsigned(kv->type)) {
        if (kv->v.u > hi)
            return err_set(err, ERR_RANGE, "key '%s': %s value %llu does not fit in %s (max %llu)", key,
                           gguf_vtype_name(kv->type), (unsigned long long)kv->v.u, wanted, (unsigned long long)hi);
        *u = kv->v.u;
        *neg = 0;
        return 0;
    }
    if (is_signed(kv->type)) {
        int64_t v = kv->v.i;
        if (v < lo || (v > 0 && (uint64_t)v > hi))
            return err_set(err, ERR_RANGE, "key '%s': %s value %lld does not fit in %s", key,
                           gguf_vtype_name(kv->type), (long long)v, wanted);
        *s = v;
        *neg = v < 0;
        if (!*neg)
            *u = (uint64_t)v;
        return 0;
    }
    return wrong_type(kv, wanted, err);
}

int gguf_get_u32(const gguf_ctx_t *ctx, const char *key, uint32_t *out, err_t *err)
{
    uint64_t u = 0;
    int64_t s = 0;
    int neg = 0;
    int rc = get_int(ctx, key, 0, UINT32_MAX, "u32", &u, &s, &neg, err);
    if (rc == 0)
        *out = (uint32_t)u;
    return rc;
}

int gguf_get_i32(const gguf_ctx_t *ctx, const char *key, int32_t *out, err_t *err)
{
    uint64_t u = 0;
    int64_t s = 0;
    int neg = 0;
    int rc = get_int(ctx, key, INT32_MIN, INT32_MAX, "i32", &u, &s, &neg, err);
    if (rc == 0)
        *out = neg ? (int32_t)s : (int32_t)u;
    return rc;
}

int gguf_get_u64(const gguf_ctx_t *ctx, const char *key, uint64_t *out, err_t *err)
{
    uint64_t u = 0;
    int64_t s = 0;
    int neg = 0;
    int rc = get_int(ctx, key, 0, UINT64_MAX, "u64", &u, &s, &neg, err);
    if (rc == 0)
        *out = u;
    return rc;
}

int gguf_get_f32(const gguf_ctx_t *ctx, const char *key, float *out, err_t *err)
{
    const gguf_kv_t *kv;
    int rc = find(ctx, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_VT_F32 && kv->type != GGUF_VT_F64)
        return wrong_type(kv, "f32", err);
    *out = (float)kv->v.f;
    return 0;
}

int gguf_get_bool(const gguf_ctx_t *ctx, const char *key, bool *out, err_t *err)
{
    const gguf_kv_t *kv;
    int rc = find(ctx, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_VT_BOOL)
        return wrong_type(kv, "bool", err);
    *out = kv->v.u != 0;
    return 0;
}

int gguf_get_str(const gguf_ctx_t *ctx, const char *key, gguf_str_t *out, err_t *err)
{
    const gguf_kv_t *kv;
    int rc = find(ctx, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_VT_STRING)
        return wrong_type(kv, "string", err);
    *out = kv->v.str;
    return 0;
}

int gguf_get_arr(const gguf_ctx_t *ctx, const char *key, uint32_t elem_type, const gguf_kv_t **out, err_t *err)
{
    const gguf_kv_t *kv;
    int rc = find(ctx, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_VT_ARRAY)
        return err_set(err, ERR_FORMAT, "key '%s' has type %s, wanted array of %s", key, gguf_vtype_name(kv->type),
                       gguf_vtype_name(elem_type));
    if (kv->v.arr.type != elem_type)
        return err_set(err, ERR_FORMAT, "key '%s' is an array of %s, wanted array of %s", key,
                       gguf_vtype_name(kv->v.arr.type), gguf_vtype_name(elem_type));
    *out = kv;
    return 0;
}

float gguf_arr_f32_at(const gguf_kv_t *kv, uint64_t i)
{
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_F32 || i >= kv->v.arr.n)
        return 0.0f;
    const unsigned char *b = (const unsigned char *)kv->v.arr.data + i * 4;
    uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int32_t gguf_arr_i32_at(const gguf_kv_t *kv, uint64_t i)
{
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_I32 || i >= kv->v.arr.n)
        return 0;
    const unsigned char *b = (const unsigned char *)kv->v.arr.data + i * 4;
    uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return (int32_t)bits;
}
