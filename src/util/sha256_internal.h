/*
 * sha256_internal.h — what sha256.c shares with its CPU-specific compression
 * functions (sha256_ni.c for x86, sha256_arm.c for Armv8) and the test that
 * compares them: the round constants and the block functions.  Not an
 * interface for other modules.
 */
#ifndef LL_UTIL_SHA256_INTERNAL_H
#define LL_UTIL_SHA256_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t sha256_round_k[64];

/* The state h after n more 64-byte blocks at p: the portable code, x86's SHA extensions and Armv8's SHA-2
 * instructions (each only where its _available() says the CPU has them; on other CPUs the portable code). */
void sha256_portable_blocks(uint32_t h[8], const uint8_t *p, size_t n);
void sha256_ni_blocks(uint32_t h[8], const uint8_t *p, size_t n);
int sha256_ni_available(void);
void sha256_arm_blocks(uint32_t h[8], const uint8_t *p, size_t n);
int sha256_arm_available(void);
/* The fastest this CPU has. */
void (*sha256_best_blocks(void))(uint32_t h[8], const uint8_t *p, size_t n);

#endif
