/*
 * json.h — writing JSON text: strings escaped per RFC 8259, with bytes that are
 * not valid UTF-8 replaced by U+FFFD so the output is always valid JSON.
 * Writes to a FILE*; owns nothing.
 */
#ifndef LL_UTIL_JSON_H
#define LL_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at s (n bytes available; shortest form,
 * no surrogates, at most U+10FFFF), or 0 when it is not one. */
size_t json_utf8_len(const unsigned char *s, size_t n);

/* Writes "..." with the escaped bytes of s[0..len). */
void json_write_string(FILE *f, const char *s, size_t len);
/* Writes [a, b, ...]. */
void json_write_i32_array(FILE *f, const int32_t *v, size_t n);
/* Writes a finite double with ten significant digits, or null for NaN/inf. */
void json_write_number(FILE *f, double v);

#endif
