/*
 * types.h — the element types a tensor can have (ggml's numbering, as stored in
 * GGUF) and the facts about their storage: block size in elements, bytes per
 * block and the block layouts.  Owns no data.  Row sizes are computed
 * overflow-safely by type_row_bytes(); everything that sizes a buffer from a
 * file goes through it.
 *
 * Two groups of types:
 *   - storage types, which a GGUF tensor may have (type_is_known): F32, F16,
 *     Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL;
 *   - activation-only types, which the kernels quantize activations to and no
 *     file holds (type_is_act): Q8_1 (for Q4_1/Q5_1 weights) and Q8_K (blocks of
 *     256, for the K-quants).  Both groups have block facts and names.
 * Every multi-byte field is little-endian; "half" is an IEEE binary16.  The
 * layouts are ggml's (the block structs below are the byte layout, packed with
 * no padding; the static asserts hold it).
 */
#ifndef LL_TENSOR_TYPES_H
#define LL_TENSOR_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q4_1 = 3,
    TYPE_Q5_0 = 6,
    TYPE_Q5_1 = 7,
    TYPE_Q8_0 = 8,
    TYPE_Q8_1 = 9,     /* activations only */
    TYPE_Q2_K = 10,
    TYPE_Q3_K = 11,
    TYPE_Q4_K = 12,
    TYPE_Q5_K = 13,
    TYPE_Q6_K = 14,
    TYPE_Q8_K = 15,    /* activations only */
    TYPE_IQ4_NL = 20,
} type_id_t;

#define QK8_0 32 /* values per Q8_0 block */
#define QK4_0 32 /* values per Q4_0 block (also Q4_1, Q5_0, Q5_1, Q8_1, IQ4_NL) */
#define QK_K 256 /* values per K-quant super-block (Q2_K..Q6_K, Q8_K) */
#define K_SCALE_SIZE 12 /* bytes of packed 6-bit scales and mins in Q4_K/Q5_K */

/* Q8_0: value = d * q[i]. 34 bytes. */
typedef struct {
    uint16_t d;        /* scale, half */
    int8_t q[QK8_0];   /* quants */
} block_q8_0_t;

/* Q4_0: byte j holds value j (low nibble) and value j+16 (high nibble); value = d * (nibble - 8). 18 bytes. */
typedef struct {
    uint16_t d;             /* scale, half */
    uint8_t qs[QK4_0 / 2];  /* nibbles */
} block_q4_0_t;

/* Q4_1: nibbles as Q4_0; value = d * nibble + m. 20 bytes. */
typedef struct {
    uint16_t d, m;          /* scale and offset, half */
    uint8_t qs[QK4_0 / 2];
} block_q4_1_t;

/* Q5_0: 5-bit q = nibble (as Q4_0) | bit j of qh (little-endian u32) << 4 for value j;
 * value = d * (q - 16). 22 bytes. */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK4_0 / 2];
} block_q5_0_t;

/* Q5_1: q as Q5_0; value = d * q + m. 24 bytes. */
typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK4_0 / 2];
} block_q5_1_t;

/* Q8_1 (activations): value = d * q[i]; s = half(d * sum of q). 36 bytes. */
typedef struct {
    uint16_t d, s;
    int8_t q[QK4_0];
} block_q8_1_t;

/* IQ4_NL: nibbles as Q4_0; value = d * iq4nl_values[nibble]. 18 bytes. */
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} block_iq4_nl_t;

/* The 16 non-linear levels of IQ4_NL. */
extern const int8_t iq4nl_values[16];

/* Q2_K: 16 sub-blocks of 16 values.  Value v = 128h + 32s + l (h < 2, s < 4, l < 32)
 * is bits 2s..2s+1 of qs[32h + l]; its sub-block is v / 16, whose byte scales[v/16]
 * holds the scale (low nibble) and the min (high nibble);
 * value = d * scale * q - dmin * min.  84 bytes. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
} block_q2_k_t;

/* Q3_K: 2-bit parts as Q2_K in qs; bit (4h + s) of hmask[l] is the high bit of value
 * 128h + 32s + l; q = low2 - (high bit ? 0 : 4) in -4..3; sixteen 6-bit scales packed
 * in 12 bytes (sub-block j: low nibble = j < 8 ? scales[j] & 15 : scales[j-8] >> 4,
 * high two bits = (scales[8 + j%4] >> 2*(j/4)) & 3), used as scale - 32;
 * value = d * (scale - 32) * q.  110 bytes. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_k_t;

/* Q4_K: 8 sub-blocks of 32.  Value 64c + l (c < 4, l < 32) is the low nibble of
 * qs[32c + l], value 64c + 32 + l its high nibble; sub-block j = v / 32 has a 6-bit
 * scale and a 6-bit min packed in scales[12] (j < 4: scales[j] & 63, scales[j+4] & 63;
 * j >= 4: (scales[j+4] & 15) | (scales[j-4] >> 6) << 4, (scales[j+4] >> 4) |
 * (scales[j] >> 6) << 4); value = d * scale * q - dmin * min.  144 bytes. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_k_t;

/* Q5_K: as Q4_K plus a fifth bit: bit 2c of qh[l] for value 64c + l, bit 2c+1 for
 * value 64c + 32 + l.  176 bytes. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_k_t;

/* Q6_K: 16 sub-blocks of 16 with int8 scales.  For half h < 2 and l < 32, values
 * 128h + l, +32, +64, +96 take their low nibbles from ql[64h + l] (low),
 * ql[64h + 32 + l] (low), ql[64h + l] (high), ql[64h + 32 + l] (high) and their
 * two high bits from qh[32h + l] bits 0-1, 2-3, 4-5, 6-7; q = 6-bit value - 32;
 * value = d * scales[v / 16] * q.  210 bytes. */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_k_t;

/* Q8_K (activations): value = d * q[i] with an f32 d; bsums[j] = sum of q[16j..16j+15].
 * 292 bytes. */
typedef struct {
    float d;
    int8_t q[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_k_t;

/* Its size and field offsets, for kernels that read blocks byte-wise. */
#define Q8K_BYTES sizeof(block_q8_k_t)
#define Q8K_Q offsetof(block_q8_k_t, q)
#define Q8K_BSUMS offsetof(block_q8_k_t, bsums)

_Static_assert(sizeof(block_q8_0_t) == 34, "Q8_0 block must be 34 bytes");
_Static_assert(sizeof(block_q4_0_t) == 18, "Q4_0 block must be 18 bytes");
_Static_assert(sizeof(block_q4_1_t) == 20, "Q4_1 block must be 20 bytes");
_Static_assert(sizeof(block_q5_0_t) == 22, "Q5_0 block must be 22 bytes");
_Static_assert(sizeof(block_q5_1_t) == 24, "Q5_1 block must be 24 bytes");
_Static_assert(sizeof(block_q8_1_t) == 36, "Q8_1 block must be 36 bytes");
_Static_assert(sizeof(block_iq4_nl_t) == 18, "IQ4_NL block must be 18 bytes");
_Static_assert(sizeof(block_q2_k_t) == 84, "Q2_K block must be 84 bytes");
_Static_assert(sizeof(block_q3_k_t) == 110, "Q3_K block must be 110 bytes");
_Static_assert(sizeof(block_q4_k_t) == 144, "Q4_K block must be 144 bytes");
_Static_assert(sizeof(block_q5_k_t) == 176, "Q5_K block must be 176 bytes");
_Static_assert(sizeof(block_q6_k_t) == 210, "Q6_K block must be 210 bytes");
_Static_assert(sizeof(block_q8_k_t) == 292, "Q8_K block must be 292 bytes");

/* 1 if t is a storage type (one a GGUF tensor may have), else 0. */
int type_is_known(uint32_t t);

/* 1 if t is an activation-only type (Q8_1, Q8_K). */
int type_is_act(uint32_t t);

/* Elements per block (1 for F32/F16, 32 or 256 for the quantized types); 0 for
 * types that are neither storage nor activation types. */
size_t type_block_elems(uint32_t t);

/* Bytes per block; 0 for unknown types. */
size_t type_block_bytes(uint32_t t);

/* "F32", "F16", "Q4_0", ..., "IQ4_NL", ggml's names of other types it defines
 * ("BF16", "IQ2_XXS", ...), or "unknown". */
const char *type_name(uint32_t t);

/* Parses a storage type's name (case-insensitive: "f32", "q4_k", "iq4_nl", ...).
 * Returns 0 and sets *t, or -1. */
int type_parse(const char *s, uint32_t *t);

/* The storage types' names separated by spaces ("F32 F16 Q4_0 ..."), for messages. */
const char *type_list(void);

/* Bytes taken by a row of n elements of type t.  Returns 0 when t is unknown,
 * when n is not a multiple of the block size, or on overflow — callers treat
 * 0 for n > 0 as an error. */
size_t type_row_bytes(uint32_t t, uint64_t n);

#endif
