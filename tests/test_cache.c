/*
 * test_cache.c — util/cache.h: cache_evict says it can evict on x86-64 and
 * AArch64 (so profiles there time weights coming from memory), accepts any
 * alignment and length (empty, one byte, across lines), and leaves the bytes
 * as they were; evicted lines read back slower than cached ones is a timing,
 * not asserted here.  Also run on arm64 under qemu (tools/ci-arm64.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/cache.h"

int main(void)
{
    enum { N = 1 << 20 };
    unsigned char *buf = malloc(N + 256), *copy = malloc(N + 256);
    CHECK(buf && copy);
    if (!buf || !copy)
        return check_finish("test_cache");
    for (size_t i = 0; i < N + 256; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    memcpy(copy, buf, N + 256);
    static const size_t offs[] = {0, 1, 63, 64, 65, 200};
    static const size_t lens[] = {0, 1, 63, 64, 65, 4095, N};
    int can = -1;
    for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            int r = cache_evict(buf + offs[o], lens[l]);
            CHECK(r == 0 || r == 1);
            CHECK(can < 0 || r == can);
            can = r;
        }
    CHECK(memcmp(buf, copy, N + 256) == 0);
#if defined(__x86_64__) || defined(__aarch64__)
    CHECKF(can == 1, "cache_evict says it cannot evict on this CPU (%d)", can);
#endif
    printf("test_cache: eviction %s\n", can == 1 ? "available" : "not available on this CPU");
    free(buf);
    free(copy);
    return check_finish("test_cache");
}
