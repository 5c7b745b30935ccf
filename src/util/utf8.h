/*
 * utf8.h — the project's one UTF-8 validator: the length of a well-formed
 * sequence (shortest form, no surrogates, at most U+10FFFF).  The JSON layer
 * (src/json) uses it to check incoming text and to replace invalid bytes by
 * U+FFFD in outgoing text, so what we write is always valid JSON.
 */
#ifndef LL_UTIL_UTF8_H
#define LL_UTIL_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), or 0 when
 * it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Offset of the first byte of s[0..n) that does not start a valid sequence,
 * or n when the whole text is valid UTF-8. */
size_t utf8_first_invalid(const unsigned char *s, size_t n);

#endif
