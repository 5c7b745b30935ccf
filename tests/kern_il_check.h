/*
 * kern_il_check.h — the interleaved path's check (kern.h: il_*), for test_kern.c:
 * matrices of 1..64 rows (short last groups included) of random quants — every
 * byte value, -128 too — and random scales are packed group by group into memory
 * that ends at a PROT_NONE page (each group must take exactly il_group_bytes),
 * activation rows converted and packed likewise, then every il_tile shape, over
 * groups side by side and far apart, must give dot(row, column) bit for bit in
 * every real row's lane and write nothing beyond its ng groups' lanes.
 * Header-only (static functions).
 */
#ifndef LL_TESTS_KERN_IL_CHECK_H
#define LL_TESTS_KERN_IL_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kern_util.h"
#include "tensor/kern.h"
#include "tensor/types.h"

#define IL_CHECK_ROWS 37
#define IL_CHECK_COLS (KERN_IL_COLS + 2)

static uint64_t il_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* One random row of type (Q8_0 or Q4_0) into w: scales of either sign over a few octaves, raw quant bytes. */
static void il_random_row(uint32_t type, size_t n, unsigned char *w, uint64_t *s)
{
    const size_t bytes = type_row_bytes(type, n), block = bytes / (n / 32);
    for (size_t o = 0; o < bytes; o++)
        w[o] = (unsigned char)il_rand(s);
    for (size_t b = 0; b < n / 32; b++) {
        const uint16_t d = (uint16_t)(0x2000 + il_rand(s) % 0x1800) | (il_rand(s) % 2 ? 0x8000 : 0);
        memcpy(w + b * block, &d, 2);
    }
}

static void check_il(const kern_table_t *t, uint32_t type, size_t n, int n_rows, uint64_t seed)
{
    const kern_matvec_t *mv = kern_matvec_for(t, type);
    const char *isa = kern_isa_name(t->isa), *tn = type_name(type);
    if (!mv->il_rows)
        return;
    const int R = mv->il_rows, groups = (n_rows + R - 1) / R;
    const size_t wbytes = type_row_bytes(type, n), xbytes = type_row_bytes(mv->act_type, n);
    const size_t gb = mv->il_group_bytes(n), xb = mv->il_x_bytes(n), far = 3 * gb + 64;
    uint64_t s = seed;
    unsigned char *w = malloc((size_t)n_rows * wbytes), *x = malloc((size_t)IL_CHECK_COLS * xbytes);
    float *xf = malloc(n * sizeof *xf), *want = malloc((size_t)n_rows * IL_CHECK_COLS * sizeof *want);
    guard_t gw, gx;
    const size_t span = (size_t)(groups > 0 ? groups - 1 : 0) * far + gb;
    if (!w || !x || !xf || !want || guard_init(&gw, span + 1) || guard_init(&gx, IL_CHECK_COLS * xb + 1)) {
        CHECKF(0, "%s %s: out of memory", isa, tn);
        free(w), free(x), free(xf), free(want);
        return;
    }
    for (int r = 0; r < n_rows; r++)
        il_random_row(type, n, w + (size_t)r * wbytes, &s);
    for (int c = 0; c < IL_CHECK_COLS; c++) {
        for (size_t i = 0; i < n; i++)
            xf[i] = (float)((int)(il_rand(&s) % 20001) - 10000) / (c % 2 ? 7.0f : 10000.0f);
        mv->act_from_f32(xf, x + (size_t)c * xbytes, n);
        if (c == IL_CHECK_COLS - 1)   /* raw bytes: -128 among them, which act_from_f32 never makes */
            for (size_t b = 0; b < n / 32; b++)
                for (int i = 0; i < 32; i++)
                    x[(size_t)c * xbytes + b * sizeof(block_q8_0_t) + offsetof(block_q8_0_t, q) + i] = (unsigned char)il_rand(&s);
    }
    for (int r = 0; r < n_rows; r++)
        for (int c = 0; c < IL_CHECK_COLS; c++)
            mv->dot(n, w + (size_t)r * wbytes, x + (size_t)c * xbytes, &want[(size_t)r * IL_CHECK_COLS + c]);

    /* groups `far` bytes apart, the last ending at the guard page, each followed by a sentinel byte check */
    unsigned char *wg = guard_place(&gw, span, 0);
    memset(wg, 0xa5, span);
    for (int g = 0; g < groups; g++) {
        const int nr = n_rows - g * R < R ? n_rows - g * R : R;
        mv->il_pack_group(n, w + (size_t)g * R * wbytes, wbytes, nr, wg + (size_t)g * far);
        if (g + 1 < groups)
            CHECKF(wg[(size_t)g * far + gb] == 0xa5, "%s %s n=%zu: il_pack_group wrote past %zu bytes", isa, tn, n,
                   gb);
    }
    unsigned char *xp = guard_place(&gx, IL_CHECK_COLS * xb, 0);
    for (int c = 0; c < IL_CHECK_COLS; c++)
        mv->il_pack_x(n, x + (size_t)c * xbytes, xp + (size_t)c * xb);

    static const int shapes[][2] = {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7}, {1, 8}, {2, 1}, {2, 2},
                                    {2, 3}, {2, 4}, {3, 1}, {4, 1}, {4, 2}, {4, 3}, {4, 4}};
    enum { LDO = KERN_IL_GROUPS * 16 + 5 };
    float out[IL_CHECK_COLS * LDO];
    int bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int ng = shapes[k][0], nc = shapes[k][1];
        if (ng > groups || ng * R > LDO)
            continue;
        for (int g0 = 0; g0 + ng <= groups; g0++) {
            for (int c0 = 0; c0 + nc <= IL_CHECK_COLS; c0 += nc) {
                memset(out, 0x7f, sizeof out);
                mv->il_tile(n, wg + (size_t)g0 * far, far, ng, xp + (size_t)c0 * xb, xb, nc, out, LDO);
                for (int c = 0; c < IL_CHECK_COLS; c++) {
                    for (int l = 0; l < LDO; l++) {
                        const float v = out[c * LDO + l];
                        const int row = (g0 + l / R) * R + l % R, lane = c < nc && l < ng * R;
                        uint32_t bits;
                        memcpy(&bits, &v, sizeof bits);
                        if (lane && row < n_rows) {
                            const float e = want[(size_t)row * IL_CHECK_COLS + c0 + c];
                            if (!same_bits(v, e) && bad++ < 5)
                                CHECKF(0, "%s %s n=%zu rows=%d il_tile %dx%d at %d,%d: row %d col %d = %.9g, dot %.9g",
                                       isa, tn, n, n_rows, ng, nc, g0, c0, row, c0 + c, v, e);
                        } else if (!lane && bits != 0x7f7f7f7fu && bad++ < 5) {
                            CHECKF(0, "%s %s n=%zu il_tile %dx%d: wrote outside at (%d,%d)", isa, tn, n, ng, nc, c, l);
                        }
                    }
                }
            }
        }
    }
    CHECKF(bad == 0, "%s %s n=%zu rows=%d: %d interleaved mismatches", isa, tn, n, n_rows, bad);
    guard_fini(&gw);
    guard_fini(&gx);
    free(w);
    free(x);
    free(xf);
    free(want);
}

/* Every table with an interleaved path: Q8_0 and Q4_0, several row lengths and row counts. */
static void test_interleaved(const kern_table_t *t)
{
    static const size_t ns[] = {32, 64, 96, 288, 768};
    static const int rows[] = {1, 5, 16, 17, IL_CHECK_ROWS, 61, 64};
    const uint32_t types[] = {TYPE_Q8_0, TYPE_Q4_0};
    uint64_t seed = 77;
    for (int ti = 0; ti < 2; ti++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
                check_il(t, types[ti], ns[i], rows[j], seed++);
}

#endif
