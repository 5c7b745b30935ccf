/*
 * types.h — the element types a tensor can have (ggml's numbering, as stored in
 * GGUF) and the facts about their storage: block size in elements and bytes per
 * block.  Owns no data.  Row sizes are computed overflow-safely by
 * type_row_bytes(); everything that sizes a buffer from a file goes through it.
 */
#ifndef LL_TENSOR_TYPES_H
#define LL_TENSOR_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q8_0 = 8,
} type_id_t;

#define QK8_0 32 /* values per Q8_0 block */
#define QK4_0 32 /* values per Q4_0 block */

/* Q8_0: value = d * q[i]. 34 bytes. */
typedef struct {
    uint16_t d;        /* scale, IEEE half */
    int8_t q[QK8_0];   /* quants */
} block_q8_0_t;

/* Q4_0: byte j holds value j (low nibble) and value j+16 (high nibble); value = d * (nibble - 8). 18 bytes. */
typedef struct {
    uint16_t d;             /* scale, IEEE half */
    uint8_t qs[QK4_0 / 2];  /* nibbles */
} block_q4_0_t;

_Static_assert(sizeof(block_q8_0_t) == 34, "Q8_0 block must be 34 bytes");
_Static_assert(sizeof(block_q4_0_t) == 18, "Q4_0 block must be 18 bytes");

/* 1 if t is one of the types above, else 0. */
int type_is_known(uint32_t t);

/* Elements per block (1 for F32/F16, 32 for the quantized types); 0 for unknown types. */
size_t type_block_elems(uint32_t t);

/* Bytes per block; 0 for unknown types. */
size_t type_block_bytes(uint32_t t);

/* "F32", "F16", "Q4_0", "Q8_0", or "unknown". */
const char *type_name(uint32_t t);

/* Parses "f32", "f16", "q8_0", "q4_0" (case-insensitive). Returns 0 and sets *t, or -1. */
int type_parse(const char *s, uint32_t *t);

/* Bytes taken by a row of n elements of type t.  Returns 0 when t is unknown,
 * when n is not a multiple of the block size, or on overflow — callers treat
 * 0 for n > 0 as an error. */
size_t type_row_bytes(uint32_t t, uint64_t n);

#endif
