/*
 * sha256_arm.c — the SHA-256 compression function on the Armv8 SHA-2
 * instructions (most 64-bit phones and boards have them), chosen at run time
 * by sha256.c when the CPU reports them (see sha256_internal.h); the digests
 * are those of the portable code (tests/test_sha256.c compares the two).
 *
 * sha256h / sha256h2 do four rounds on the halves abcd and efgh of the state
 * (both need the other half as it was before the four rounds), sha256su0 /
 * sha256su1 compute the message schedule four words at a time.
 */
#include "util/sha256_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>

#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1 << 6)
#endif

int sha256_arm_available(void) { return (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0; }

__attribute__((target("+crypto"))) void sha256_arm_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
    uint32x4_t abcd = vld1q_u32(&h[0]), efgh = vld1q_u32(&h[4]);
    for (; n > 0; n--, p += 64) {
        const uint32x4_t abcd_in = abcd, efgh_in = efgh;
        uint32x4_t w[4];
        for (int i = 0; i < 4; i++)
            w[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p + 16 * i)));   /* big-endian words */
        for (int g = 0; g < 16; g++) {   /* four rounds per group; w[g % 4] holds words 4g .. 4g+3 */
            uint32x4_t *cur = &w[g & 3];
            if (g >= 4)
                *cur = vsha256su1q_u32(vsha256su0q_u32(*cur, w[(g - 3) & 3]), w[(g - 2) & 3], w[(g - 1) & 3]);
            const uint32x4_t wk = vaddq_u32(*cur, vld1q_u32(&sha256_round_k[4 * g])), abcd_before = abcd;
            abcd = vsha256hq_u32(abcd, efgh, wk);
            efgh = vsha256h2q_u32(efgh, abcd_before, wk);
        }
        abcd = vaddq_u32(abcd, abcd_in);
        efgh = vaddq_u32(efgh, efgh_in);
    }
    vst1q_u32(&h[0], abcd);
    vst1q_u32(&h[4], efgh);
}

#else

int sha256_arm_available(void) { return 0; }

void sha256_arm_blocks(uint32_t h[8], const uint8_t *p, size_t n) { sha256_portable_blocks(h, p, n); }

#endif
