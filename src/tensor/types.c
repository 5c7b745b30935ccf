/*
 * types.c — storage facts for the element types of types.h.
 */
#include "tensor/types.h"

#include <strings.h>

int type_is_known(uint32_t t)
{
    return t == TYPE_F32 || t == TYPE_F16 || t == TYPE_Q4_0 || t == TYPE_Q8_0;
}

size_t type_block_elems(uint32_t t)
{
    switch (t) {
    case TYPE_F32: case TYPE_F16: return 1;
    case TYPE_Q4_0: return QK4_0;
    case TYPE_Q8_0: return QK8_0;
    default: return 0;
    }
}

size_t type_block_bytes(uint32_t t)
{
    switch (t) {
    case TYPE_F32: return 4;
    case TYPE_F16: return 2;
    case TYPE_Q4_0: return sizeof(block_q4_0_t);
    case TYPE_Q8_0: return sizeof(block_q8_0_t);
    default: return 0;
    }
}

const char *type_name(uint32_t t)
{
    switch (t) {
    case TYPE_F32: return "F32";
    case TYPE_F16: return "F16";
    case TYPE_Q4_0: return "Q4_0";
    case TYPE_Q8_0: return "Q8_0";
    default: return "unknown";
    }
}

int type_parse(const char *s, uint32_t *t)
{
    static const uint32_t all[] = {TYPE_F32, TYPE_F16, TYPE_Q4_0, TYPE_Q8_0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(s, type_name(all[i])) == 0) {
            *t = all[i];
            return 0;
        }
    }
    return -1;
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
