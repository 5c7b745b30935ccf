/*
 * kern_packed_check.h — the packed-path check shared by the kernel tests
 * (test_kern.c for Q8_0/Q4_0/F16, test_kern_q.c for the K-quants): KERN_TILE
 * weight rows and four activation rows are packed one after another at odd
 * strides into memory whose last byte sits right before a PROT_NONE page (each
 * packer must write exactly its byte count: a sentinel follows the weights), then
 * every tile shape of dot_tile_packed must equal the expected dots bit for bit and
 * write nothing outside the tile.  Header-only (one static function).
 */
#ifndef LL_TESTS_KERN_PACKED_CHECK_H
#define LL_TESTS_KERN_PACKED_CHECK_H

#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kern_util.h"
#include "tensor/kern.h"

/* w: the first of KERN_TILE weight rows w_stride apart; x: four activation rows
 * x_stride apart; want[k][c] = dot(row k, column c); pw_pad / px_pad: extra bytes
 * between packed rows.  Reports mismatches with CHECKF (isa, tn, n name the case). */
static void check_packed_tiles(const kern_matvec_t *mv, const guard_t *g, const char *isa, const char *tn, size_t n,
                               const unsigned char *w, size_t w_stride, const unsigned char *x, size_t x_stride,
                               size_t pw_pad, size_t px_pad, const float want[][KERN_TILE])
{
    enum { LDO = KERN_TILE + 3 };
    const size_t pw = mv->packed_w_bytes(n), px = mv->packed_x_bytes(n);
    const size_t pw_stride = pw + pw_pad, px_stride = px + px_pad;
    const size_t total = (KERN_TILE - 1) * pw_stride + pw + 1 + 3 * px_stride + px;
    unsigned char *wp = guard_place(g, total, 0), *xp = wp + (KERN_TILE - 1) * pw_stride + pw + 1;
    memset(wp, 0xa5, total);
    for (int k = 0; k < KERN_TILE; k++)
        mv->pack_w(n, w + k * w_stride, wp + k * pw_stride);
    CHECKF(wp[(KERN_TILE - 1) * pw_stride + pw] == 0xa5, "%s %s n=%zu: pack_w wrote past %zu bytes", isa, tn, n, pw);
    for (int j = 0; j < KERN_TILE; j++)
        mv->pack_x(n, x + j * x_stride, xp + j * px_stride);
    int bad = 0;
    float out[KERN_TILE * LDO];
    for (int nr = 1; nr <= KERN_TILE; nr++) {
        for (int nc = 1; nc <= KERN_TILE; nc++) {
            const int r0 = KERN_TILE - nr;
            memset(out, 0x7f, sizeof out);
            mv->dot_tile_packed(n, wp + r0 * pw_stride, pw_stride, nr, xp, px_stride, nc, out, LDO);
            for (int c = 0; c < KERN_TILE; c++) {
                for (int k = 0; k < LDO; k++) {
                    float v = out[c * LDO + k];
                    uint32_t bits;
                    memcpy(&bits, &v, sizeof bits);
                    int inside = k < nr && c < nc;
                    if ((inside ? !same_bits(v, want[r0 + k][c]) : bits != 0x7f7f7f7fu) && bad++ < 5)
                        CHECKF(0, "%s %s n=%zu packed tile %dx%d: (%d,%d) = %.9g, dot %.9g", isa, tn, n, nr, nc, k, c,
                               v, inside ? want[r0 + k][c] : 0.0f);
                }
            }
        }
    }
    CHECKF(bad == 0, "%s %s n=%zu pads %zu/%zu: %d packed tile mismatches", isa, tn, n, pw_pad, px_pad, bad);
}

#endif
