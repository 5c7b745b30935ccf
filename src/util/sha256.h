/*
 * sha256.h — SHA-256 (FIPS 180-4), for content hashes of model files and
 * weight chunks.  Incremental: init, update any number of times, final.
 * No allocation, no global state; init picks the CPU's SHA extensions when it
 * has them (the same digests, several times faster).
 */
#ifndef LL_UTIL_SHA256_H
#define LL_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;           /* bytes waiting in block */
    void (*blocks)(uint32_t h[8], const uint8_t *p, size_t n);   /* the compression function (sha256_internal.h) */
} sha256_t;

void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *data, size_t n);
void sha256_final(sha256_t *s, uint8_t digest[32]);

/* One-shot hash of a buffer. */
void sha256(const void *data, size_t n, uint8_t digest[32]);
/* Lower-case hex of a digest into out[65]. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
