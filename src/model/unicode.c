/*
 * unicode.c — UTF-8 coding, category lookup and the GPT-2 byte mapping
 * declared in unicode.h.  The category table (unicode_tables.h) is generated;
 * this file only searches it.  Decoding mirrors llama.cpp's leniency so that
 * tokenization of odd input matches it byte for byte; nothing here allocates
 * or keeps state.
 */
#include "model/unicode.h"

#include "model/unicode_tables.h"

size_t unicode_utf8_len(unsigned char c)
{
    static const unsigned char len_by_high_nibble[16] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4,
    };
    return len_by_high_nibble[c >> 4];
}

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

uint32_t unicode_utf8_decode(const char *s, size_t len, size_t *n_read)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    *n_read = 1;
    if (c < 0x80)
        return c;
    if (c < 0xC0)   /* stray continuation byte */
        return UNICODE_REPLACEMENT;
    if (c < 0xE0) {
        if (len < 2 || !is_cont(u[1]))
            return UNICODE_REPLACEMENT;
        *n_read = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if (c < 0xF0) {
        if (len < 3 || !is_cont(u[1]) || !is_cont(u[2]))
            return UNICODE_REPLACEMENT;
        *n_read = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    if (c < 0xF8) {
        if (len < 4 || !is_cont(u[1]) || !is_cont(u[2]) || !is_cont(u[3]))
            return UNICODE_REPLACEMENT;
        *n_read = 4;
        return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
    return UNICODE_REPLACEMENT;
}

size_t unicode_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

unsigned unicode_cpt_flags(uint32_t cp)
{
    if (cp >= unicode_range_starts[UNICODE_N_RANGES - 1])
        return UNICODE_UNDEFINED;
    /* Largest i with starts[i] <= cp; starts[0] == 0 so it exists. */
    size_t lo = 0, hi = UNICODE_N_RANGES - 1;   /* invariant: starts[lo] <= cp < starts[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_range_starts[mid] <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return unicode_range_flags[lo];
}

/* Bytes that GPT-2 maps to themselves: printable Latin-1 except space and soft hyphen. */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The other 68 bytes, in order: 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD (1). */
uint32_t unicode_byte_to_cpt(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b <= 0xA0)
        return 0x100u + 33 + (b - 0x7Fu);
    return 0x100u + 67;   /* 0xAD */
}

int unicode_cpt_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33)
        return (int)(cp - 0x100);
    if (cp < 0x100 + 67)
        return (int)(cp - 0x100 - 33 + 0x7F);
    if (cp == 0x100 + 67)
        return 0xAD;
    return -1;
}

const char *unicode_data_version(void)
{
    return UNICODE_TABLE_UNIDATA_VERSION;
}
