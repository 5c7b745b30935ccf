/*
 * types.c — storage facts for the element types of types.h, one table.
 */
#include "tensor/types.h"

#include <strings.h>

const int8_t iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

typedef struct {
    uint32_t id;
    const char *name;
    size_t elems, bytes;
    int storage;   /* 1: may be stored in a file; 0: activations only */
} type_info_t;

static const type_info_t types[] = {
    {TYPE_F32, "F32", 1, 4, 1},
    {TYPE_F16, "F16", 1, 2, 1},
    {TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0_t), 1},
    {TYPE_Q4_1, "Q4_1", QK4_0, sizeof(block_q4_1_t), 1},
    {TYPE_Q5_0, "Q5_0", QK4_0, sizeof(block_q5_0_t), 1},
    {TYPE_Q5_1, "Q5_1", QK4_0, sizeof(block_q5_1_t), 1},
    {TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0_t), 1},
    {TYPE_Q8_1, "Q8_1", QK4_0, sizeof(block_q8_1_t), 0},
    {TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_k_t), 1},
    {TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_k_t), 1},
    {TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_k_t), 1},
    {TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_k_t), 1},
    {TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_k_t), 1},
    {TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_k_t), 0},
    {TYPE_IQ4_NL, "IQ4_NL", QK4_0, sizeof(block_iq4_nl_t), 1},
};

#define N_TYPES (sizeof types / sizeof types[0])

static const type_info_t *info(uint32_t t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (types[i].id == t)
            return &types[i];
    return NULL;
}

int type_is_known(uint32_t t)
{
    const type_info_t *ti = info(t);
    return ti && ti->storage;
}

int type_is_act(uint32_t t)
{
    const type_info_t *ti = info(t);
    return ti && !ti->storage;
}

size_t type_block_elems(uint32_t t)
{
    const type_info_t *ti = info(t);
    return ti ? ti->elems : 0;
}

size_t type_block_bytes(uint32_t t)
{
    const type_info_t *ti = info(t);
    return ti ? ti->bytes : 0;
}

/* ggml's names of the types it defines that we do not handle, for messages. */
static const char *other_name(uint32_t t)
{
    static const char *const names[] = {
        [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [21] = "IQ3_S", [22] = "IQ2_S",
        [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M",
        [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0",
    };
    if (t < sizeof names / sizeof names[0] && names[t])
        return names[t];
    return t == 4 || t == 5 ? "removed Q4_2/Q4_3" : "unknown";
}

const char *type_name(uint32_t t)
{
    const type_info_t *ti = info(t);
    return ti ? ti->name : other_name(t);
}

int type_parse(const char *s, uint32_t *t)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        if (types[i].storage && strcasecmp(s, types[i].name) == 0) {
            *t = types[i].id;
            return 0;
        }
    }
    return -1;
}

const char *type_list(void)
{
    return "F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL";
}

size_t type_row_bytes(uint32_t t, uint64_t n)
{
    size_t per_block = type_block_elems(t);
    if (per_block == 0 || n % per_block != 0)
        return 0;
    uint64_t blocks = n / per_block;
    size_t bytes = type_block_bytes(t);
    if (blocks > SIZE_MAX / bytes)
        return 0;
    return (size_t)(blocks * bytes);
}
