/*
 * fuzz_http_reply.c — libFuzzer target for the head of an HTTP reply as
 * `lingua status` reads it (serve_http_parse_reply in src/serve/serve_client.c).
 *
 * The input is the reply, copied into a heap block of exactly its size (no
 * terminator) so AddressSanitizer sees any read past it.  An accepted reply
 * must have a status in 100..599 and a body offset within the input, right
 * after a blank line; a refused one must come with ERR_PROTO and a message.
 * Build and run: fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    int status = 0;
    size_t off = 0;
    err_t err;
    err_clear(&err);
    int rc = serve_http_parse_reply(buf, size, &status, &off, &err);
    if (rc == 0) {
        if (status < 100 || status > 599 || off < 16 || off > size || memcmp(buf + off - 4, "\r\n\r\n", 4) != 0)
            __builtin_trap();
    } else if (rc != ERR_PROTO || err.msg[0] == '\0') {
        __builtin_trap();
    }
    free(buf);
    return 0;
}
