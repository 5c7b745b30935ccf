/*
 * gguf.h — reading and writing GGUF (version 2 and 3) model files.
 *
 * File layout (little-endian):
 *   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
 *   kv_count × (string key | u32 value type | value)
 *   tensor_count × (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset)
 *   padding to general.alignment (default 32) | tensor data (each offset a multiple of alignment)
 *   string = u64 length + bytes (no terminator); array = u32 element type + u64 count + elements.
 *
 * The reader maps the file read-only and parses it as hostile input: every count,
 * length, offset, type and alignment is checked against the bytes that remain
 * before it is used, and any violation yields ERR_FORMAT (or ERR_UNSUP for a
 * well-formed feature we do not handle, e.g. an unknown tensor type) with a
 * message naming the field, the value and the bound.  After a successful open,
 * every tensor's data lies inside the file and every string/array view is valid
 * for the life of the context.  Keys are copied and NUL-terminated; string
 * values are views into the mapping (not terminated).
 *
 * The writer collects key/values and tensor descriptions and writes a complete
 * file in one call; tensor data is borrowed until gguf_writer_write() returns.
 */
#ifndef LL_GGUF_GGUF_H
#define LL_GGUF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4, GGUF_VT_I32 = 5, GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_U64 = 10, GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
} gguf_vtype_t;

/* A string view into the file; not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str_t;

typedef struct {
    char *key;            /* NUL-terminated copy, owned by the context */
    uint32_t type;        /* gguf_vtype_t */
    union {
        uint64_t u;       /* U8, U16, U32, U64, BOOL (0/1) */
        int64_t i;        /* I8, I16, I32, I64 */
        double f;         /* F32, F64 */
        gguf_str_t str;   /* STRING */
        struct {
            uint32_t type;           /* element type (never ARRAY: nested arrays are rejected) */
            uint64_t n;              /* element count */
            const void *data;        /* numeric elements, packed little-endian, inside the mapping */
            const gguf_str_t *strs;  /* STRING elements: n views, owned by the context */
        } arr;
    } v;
} gguf_kv_t;

typedef struct {
    char *name;                  /* NUL-terminated copy, owned by the context */
    uint32_t n_dims;             /* 1..GGUF_MAX_DIMS */
    uint64_t ne[GGUF_MAX_DIMS];  /* elements per dimension; ne[0] is the contiguous row; unused dims are 1 */
    uint32_t type;               /* type_id_t (only known types are accepted) */
    uint64_t offset;             /* relative to the data section */
    size_t nbytes;               /* validated size of the data */
    uint64_t n_elems;            /* product of ne */
    const void *data;            /* inside the mapping */
} gguf_tensor_t;

typedef struct gguf_ctx gguf_ctx_t;

/* Maps and validates a file.  On success *out owns the mapping. */
int gguf_open(const char *path, gguf_ctx_t **out, err_t *err);

/* Parses a buffer the caller keeps alive for the context's life (tests, fuzzing). */
int gguf_open_memory(const void *data, size_t size, gguf_ctx_t **out, err_t *err);

/* Unmaps and frees; NULLs *ctx; accepts NULL. */
void gguf_close(gguf_ctx_t **ctx);

uint32_t gguf_version(const gguf_ctx_t *ctx);
size_t gguf_alignment(const gguf_ctx_t *ctx);
size_t gguf_data_offset(const gguf_ctx_t *ctx);   /* byte where the data section starts (the file size for a
                                                    file without tensors that ends before the padding,
                                                    as vocabulary-only files do) */
size_t gguf_file_size(const gguf_ctx_t *ctx);
const void *gguf_file_data(const gguf_ctx_t *ctx);  /* whole file bytes */

size_t gguf_kv_count(const gguf_ctx_t *ctx);
const gguf_kv_t *gguf_kv_at(const gguf_ctx_t *ctx, size_t i);
const gguf_kv_t *gguf_kv_find(const gguf_ctx_t *ctx, const char *key);   /* NULL if absent */

size_t gguf_tensor_count(const gguf_ctx_t *ctx);
const gguf_tensor_t *gguf_tensor_at(const gguf_ctx_t *ctx, size_t i);
const gguf_tensor_t *gguf_tensor_find(const gguf_ctx_t *ctx, const char *name);  /* NULL if absent */

/* Typed getters.  Return 0, ERR_NOTFOUND when the key is absent (message names it),
 * or ERR_FORMAT when it has a type that cannot represent the request (message
 * names key, stored type and wanted type).  Integer getters accept any integer
 * type whose value fits (a value that does not fit, e.g. i32 -1 read as u32, is
 * ERR_RANGE); float getters accept F32 and F64; bool accepts only BOOL. */
int gguf_get_u32(const gguf_ctx_t *ctx, const char *key, uint32_t *out, err_t *err);
int gguf_get_i32(const gguf_ctx_t *ctx, const char *key, int32_t *out, err_t *err);
int gguf_get_u64(const gguf_ctx_t *ctx, const char *key, uint64_t *out, err_t *err);
int gguf_get_f32(const gguf_ctx_t *ctx, const char *key, float *out, err_t *err);
int gguf_get_bool(const gguf_ctx_t *ctx, const char *key, bool *out, err_t *err);
int gguf_get_str(const gguf_ctx_t *ctx, const char *key, gguf_str_t *out, err_t *err);
/* Array of the given element type; *out points at the kv (use v.arr). */
int gguf_get_arr(const gguf_ctx_t *ctx, const char *key, uint32_t elem_type,
                 const gguf_kv_t **out, err_t *err);

/* Element i of an F32 / I32 array kv (as returned by gguf_get_arr).  Array data
 * inside the file is generally unaligned, so read it through these (or memcpy),
 * never by casting arr.data.  Return 0 when kv is not such an array or i >= n. */
float gguf_arr_f32_at(const gguf_kv_t *kv, uint64_t i);
int32_t gguf_arr_i32_at(const gguf_kv_t *kv, uint64_t i);

/* 1 if the string view equals the NUL-terminated s. */
int gguf_str_eq(gguf_str_t a, const char *s);

/* Name of a value type ("u32", "string", ...). */
const char *gguf_vtype_name(uint32_t t);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer_t;

int gguf_writer_create(gguf_writer_t **out, err_t *err);
void gguf_writer_destroy(gguf_writer_t **w);

/* Key/value setters copy key and value. Setting an existing key is ERR_INVAL. */
int gguf_writer_set_u32(gguf_writer_t *w, const char *key, uint32_t v, err_t *err);
int gguf_writer_set_i32(gguf_writer_t *w, const char *key, int32_t v, err_t *err);
int gguf_writer_set_u64(gguf_writer_t *w, const char *key, uint64_t v, err_t *err);
int gguf_writer_set_f32(gguf_writer_t *w, const char *key, float v, err_t *err);
int gguf_writer_set_bool(gguf_writer_t *w, const char *key, bool v, err_t *err);
int gguf_writer_set_str(gguf_writer_t *w, const char *key, const char *v, err_t *err);
int gguf_writer_set_arr_str(gguf_writer_t *w, const char *key, const char *const *v, size_t n, err_t *err);
int gguf_writer_set_arr_f32(gguf_writer_t *w, const char *key, const float *v, size_t n, err_t *err);
int gguf_writer_set_arr_i32(gguf_writer_t *w, const char *key, const int32_t *v, size_t n, err_t *err);

/* Adds a tensor; data (nbytes, which must equal the size the type and shape give)
 * is borrowed until gguf_writer_write returns. */
int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t *ne, const void *data, size_t nbytes, err_t *err);

/* Writes the whole file (version 3, alignment 32 unless general.alignment was set). */
int gguf_writer_write(const gguf_writer_t *w, const char *path, err_t *err);

#endif
