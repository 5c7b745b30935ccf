/*
 * test_sha256.c — SHA-256 against the FIPS 180-4 examples and the published
 * hashes of the shared model files (PROVENANCE.md), incremental == one-shot,
 * and the SHA-extension compression (where the CPU has it) == the portable one
 * on random blocks and states.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util/sha256.h"
#include "util/sha256_internal.h"

static void check_hex(const void *data, size_t n, const char *want)
{
    uint8_t d[32];
    char hex[65];
    sha256(data, n, d);
    sha256_hex(d, hex);
    CHECKF(!strcmp(hex, want), "got %s want %s", hex, want);
}

static void check_file(const char *path, const char *want)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        CHECKF(0, "cannot open %s", path);
        if (fd >= 0)
            close(fd);
        return;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        CHECKF(0, "cannot map %s", path);
        return;
    }
    check_hex(p, (size_t)st.st_size, want);
    munmap(p, (size_t)st.st_size);
}

int main(void)
{
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* Incremental in odd pieces equals one shot. */
    static uint8_t buf[10007];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    uint8_t one[32], inc[32];
    sha256(buf, sizeof buf, one);
    sha256_t s;
    sha256_init(&s);
    for (size_t at = 0, step = 1; at < sizeof buf; at += step, step = step * 3 % 97 + 1)
        sha256_update(&s, buf + at, at + step <= sizeof buf ? step : sizeof buf - at);
    sha256_final(&s, inc);
    CHECK(memcmp(one, inc, 32) == 0);
    /* The CPU-specific compression against the portable one, 1..64 blocks from many states. */
    if (sha256_best_blocks() != sha256_portable_blocks) {
        void (*fast)(uint32_t *, const uint8_t *, size_t) = sha256_best_blocks();
        uint64_t r = 88172645463325252ull;
        for (int round = 0; round < 200; round++) {
            uint32_t a[8], b[8];
            for (int i = 0; i < 8; i++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                a[i] = b[i] = (uint32_t)r;
            }
            const size_t blocks = 1 + (size_t)round % 64, at = (size_t)round * 37 % (sizeof buf - 64 * 64);
            sha256_portable_blocks(a, buf + at, blocks);
            fast(b, buf + at, blocks);
            CHECKF(memcmp(a, b, sizeof a) == 0, "round %d: the SHA instructions differ from the portable code", round);
        }
    } else {
        printf("SKIP: this CPU has no SHA instructions (the portable code was tested above)\n");
    }
    printf("test_sha256: compression: %s\n", sha256_best_blocks() == sha256_ni_blocks    ? "x86 SHA extensions"
                                             : sha256_best_blocks() == sha256_arm_blocks ? "Armv8 SHA-2"
                                                                                         : "portable");
    const char *shared = check_shared_dir();
    if (shared) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared);
        check_file(path, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
        snprintf(path, sizeof path, "%s/models/stories260K-Q8_0-mixed.gguf", shared);
        check_file(path, "26b2fba53bccef83008e4989c69d4ea86693fbdde1296aea3d3f1590fda5a409");
    } else {
        printf("SKIP: ../shared absent (model file hashes)\n");
    }
    return check_finish("test_sha256");
}
