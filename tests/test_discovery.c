/*
 * test_discovery.c — the beacon format (net/discovery.h): what is accepted
 * re-formats to the same bytes; garbage, bad ports and bad keys are refused
 * with a message; and the fuzz target's checks on deterministic mutations.
 * (The beacons on a real network are tested in namespaces by cli_discovery.sh.)
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "net/discovery.h"

#include "../fuzz/fuzz_beacon.c"

static void refuse(const char *text, const char *why)
{
    uint16_t port;
    int has_key;
    uint8_t key[SEC_KEY_BYTES];
    err_t err;
    err_clear(&err);
    int rc = disc_parse(text, strlen(text), &port, &has_key, key, &err);
    CHECKF(rc == ERR_FORMAT && strstr(err.msg, why), "'%s': rc %d, '%s', want '%s'", text, rc, err.msg, why);
}

int main(void)
{
    uint8_t key[SEC_KEY_BYTES], got[SEC_KEY_BYTES];
    for (int i = 0; i < SEC_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 37 + 11);
    char buf[DISC_BEACON_MAX];
    size_t n = disc_format(buf, 5555, key);
    uint16_t port = 0;
    int has_key = 0;
    err_t err;
    CHECK(disc_parse(buf, n, &port, &has_key, got, &err) == 0 && port == 5555 && has_key &&
          memcmp(key, got, sizeof key) == 0);
    n = disc_format(buf, 65535, NULL);
    CHECK(n == strlen("LLNK-BEACON 1 65535 -\n") && disc_parse(buf, n, &port, &has_key, got, &err) == 0 &&
          port == 65535 && !has_key);

    refuse("garbage\n", "not a beacon");
    refuse("LLNK-BEACON 1 5555 -", "not a beacon");                /* no newline */
    refuse("LLNK-BEACON 2 5555 -\n", "not a beacon");              /* another version */
    refuse("LLNK-BEACON 1 05555 -\n", "digit 1-9");
    refuse("LLNK-BEACON 1 65536 -\n", "exceeds 65535");
    refuse("LLNK-BEACON 1 5555  -\n", "key field has 2");
    refuse("LLNK-BEACON 1 5555x -\n", "one space");
    refuse("LLNK-BEACON 1 5555 abc\n", "key field has 3");
    char bad_key[80];
    snprintf(bad_key, sizeof bad_key, "LLNK-BEACON 1 5555 %s\n", "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
    refuse(bad_key, "not valid Z85");

    /* The fuzz target on every truncation and single-byte change of a valid beacon. */
    n = disc_format(buf, 5555, key);
    for (size_t len = 0; len <= n; len++)
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    int accepted = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < 256; v += 7) {
            char m[DISC_BEACON_MAX];
            memcpy(m, buf, n);
            m[i] = (char)v;
            accepted += disc_parse(m, n, &port, &has_key, got, &err) == 0;
            LLVMFuzzerTestOneInput((const uint8_t *)m, n);
        }
    CHECK(accepted > 0);
    printf("mutations: %d of %zu accepted and re-formatted identically\n", accepted, n * 37);
    return check_finish("test_discovery");
}
