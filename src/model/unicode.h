/*
 * unicode.h — the little Unicode the tokenizer needs: lenient UTF-8 decoding
 * and encoding, a code point's general-category class (letter \p{L}, number
 * \p{N}, punctuation \p{P}, ..., whitespace \s), and GPT-2's byte <-> code
 * point mapping used by byte-level BPE.
 *
 * It owns the semantics of "what is a character" for tokenization and matches
 * llama.cpp's unicode.cpp there: the length of a UTF-8 sequence is read from its
 * lead byte alone (unicode_utf8_len), and decoding accepts any well-shaped
 * sequence (no overlong/surrogate checks) and turns each byte that does not
 * start one into U+FFFD.  Normalization (NFD etc.) is not provided.  The
 * category data are generated (unicode_tables.h, tools/gen_unicode_tables.py).
 * Everything here is pure and thread-safe; there is no state.
 */
#ifndef LL_MODEL_UNICODE_H
#define LL_MODEL_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Category flags: exactly one of the first seven bits is set for every code
 * point <= 0x10FFFF (unassigned ones count as OTHER, as in the regex \p{C});
 * WHITESPACE is the Unicode White_Space property; UNDEFINED marks values above
 * 0x10FFFF.  unicode_cpt_flags() never returns 0. */
enum {
    UNICODE_NUMBER     = 0x01,   /* \p{N} */
    UNICODE_LETTER     = 0x02,   /* \p{L} */
    UNICODE_SEPARATOR  = 0x04,   /* \p{Z} */
    UNICODE_MARK       = 0x08,   /* \p{M} */
    UNICODE_PUNCT      = 0x10,   /* \p{P} */
    UNICODE_SYMBOL     = 0x20,   /* \p{S} */
    UNICODE_OTHER      = 0x40,   /* \p{C}: control, format, surrogate, private use, unassigned */
    UNICODE_WHITESPACE = 0x80,   /* \s (White_Space) */
    UNICODE_UNDEFINED  = 0x100,  /* not a code point (> 0x10FFFF) */
};

#define UNICODE_REPLACEMENT 0xFFFDu

/* Bytes in the UTF-8 sequence that starts with lead byte c, judged by its top
 * four bits only: 1 for ASCII and stray continuation bytes, 2, 3 or 4. */
size_t unicode_utf8_len(unsigned char c);

/* Decodes one code point from s[0..len) (len >= 1).  Sets *n_read to the bytes
 * consumed.  A byte that does not start a complete sequence yields
 * UNICODE_REPLACEMENT with *n_read = 1. */
uint32_t unicode_utf8_decode(const char *s, size_t len, size_t *n_read);

/* Writes cp as UTF-8 (1..4 bytes; values up to 0x1FFFFF use the 4-byte form)
 * into out and returns the byte count. */
size_t unicode_utf8_encode(uint32_t cp, char out[4]);

/* UNICODE_* flags of a code point. */
unsigned unicode_cpt_flags(uint32_t cp);

/* GPT-2 byte-level BPE mapping: every byte to a printable code point
 * (0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF map to themselves, the other 68 bytes to
 * 0x100..0x143 in byte order), and back (-1 for code points outside the image). */
uint32_t unicode_byte_to_cpt(uint8_t b);
int unicode_cpt_to_byte(uint32_t cp);

/* Unicode version the category table was generated from, e.g. "14.0.0". */
const char *unicode_data_version(void);

#endif
