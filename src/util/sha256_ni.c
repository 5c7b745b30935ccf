/*
 * sha256_ni.c — the SHA-256 compression function on x86's SHA extensions,
 * chosen at run time by sha256.c when the CPU has them (see
 * sha256_internal.h); the digests are those of the portable code
 * (tests/test_sha256.c compares the two on many lengths).
 *
 * The extensions keep the eight working variables in two registers, ABEF and
 * CDGH (A in the highest lane); sha256rnds2 does two rounds with the two
 * message-plus-constant words in its third operand's low half, and
 * sha256msg1 / sha256msg2 compute the message schedule four words at a time.
 */
#include "util/sha256_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

int sha256_ni_available(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))   /* SSSE3, SSE4.1 */
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));                 /* SHA */
}

__attribute__((target("sha,sse4.1,ssse3"))) void sha256_ni_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
    const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    /* h[0..3] = a b c d, h[4..7] = e f g h  ->  ABEF = (f, e, b, a), CDGH = (h, g, d, c) from the lowest lane */
    const __m128i b_a_d_c = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    const __m128i h_g_f_e = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(b_a_d_c, h_g_f_e, 8);    /* f e b a */
    __m128i cdgh = _mm_blend_epi16(h_g_f_e, b_a_d_c, 0xF0); /* h g d c */
    for (; n > 0; n--, p += 64) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i w[4];
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), byte_swap);
        for (int g = 0; g < 16; g++) {   /* four rounds per group; w[g % 4] holds words 4g .. 4g+3 */
            __m128i *cur = &w[g & 3];
            if (g >= 4) {   /* W[t] = msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..], W[t-4..]) */
                const __m128i prev = w[(g - 1) & 3], prev2 = w[(g - 2) & 3];
                *cur = _mm_add_epi32(_mm_sha256msg1_epu32(*cur, w[(g - 3) & 3]), _mm_alignr_epi8(prev, prev2, 4));
                *cur = _mm_sha256msg2_epu32(*cur, prev);
            }
            __m128i wk = _mm_add_epi32(*cur, _mm_loadu_si128((const __m128i *)&sha256_round_k[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                          /* rounds 4g, 4g+1 */
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));   /* rounds 4g+2, 4g+3 */
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }
    const __m128i a_b_e_f = _mm_shuffle_epi32(abef, 0x1B), g_h_c_d = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(a_b_e_f, g_h_c_d, 0xF0));   /* a b c d */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(g_h_c_d, a_b_e_f, 8));      /* e f g h */
}

#else

int sha256_ni_available(void) { return 0; }

void sha256_ni_blocks(uint32_t h[8], const uint8_t *p, size_t n) { sha256_portable_blocks(h, p, n); }

#endif
