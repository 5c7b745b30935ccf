/*
 * fuzz_beacon.c — libFuzzer target for the discovery beacon parser
 * (src/net/discovery.c).  An accepted beacon must re-format to the very same
 * bytes (the format has exactly one spelling); a rejection must come with
 * ERR_FORMAT and a message.  Build and run: fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    uint16_t port = 0;
    int has_key = 0;
    uint8_t key[SEC_KEY_BYTES];
    err_t err;
    err_clear(&err);
    int rc = disc_parse(in, size, &port, &has_key, key, &err);
    if (rc) {
        if (rc != ERR_FORMAT || !err.msg[0])
            __builtin_trap();
        return 0;
    }
    char again[DISC_BEACON_MAX];
    size_t n = disc_format(again, port, has_key ? key : NULL);
    if (n != size || memcmp(again, in, size) != 0)
        __builtin_trap();
    return 0;
}
