/*
 * test_kern_q.c — the weight types of kern_ref_q.c (Q4_1, Q5_0, Q5_1, IQ4_NL,
 * Q2_K..Q6_K) and their activation formats (Q8_1, Q8_K): block layouts,
 * quantizers, and every kernel table this CPU can run.  Links only lingua_core
 * (tools/ci-arm64.sh also runs it under qemu for the NEON table).
 *
 * What is checked:
 *   - layouts: blocks built byte by byte from the definitions in types.h
 *     dequantize to the hand-computed values (a value in every kind of position:
 *     high nibbles, fifth/high bits, packed 6-bit scales of sub-blocks >= 4);
 *   - Q8_K and Q8_1 activations: hand-computed cases (sign of the largest value,
 *     ties to even, bsums, the s field);
 *   - quantizers: quant_row then dequant_row stays within a per-type relative
 *     error (measured with margin), and all-zero rows give zeros;
 *   - per ISA, for every type and awkward sizes (every block count up to a few
 *     blocks, then model sizes; operands at byte offsets 0..3 ending right before
 *     a PROT_NONE page): act_from_f32 gives the reference bytes; dot is within
 *     the f32 error bound of the exact (double) dot of the dequantized operands;
 *     dot equals the scalar table's dot bit for bit (every table computes the
 *     same float steps, kern_ref_q.c); dot_x4 and every dot_tile shape equal dot
 *     bit for bit and write nothing else; so does every dot_tile_packed shape over
 *     rows packed by the table's pack_w / pack_x (which write exactly their byte
 *     counts), where the table has a packed path.
 * Data come from a fixed-seed generator, so every run sees the same cases.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kern_packed_check.h"
#include "kern_util.h"
#include "tensor/f16.h"
#include "tensor/kern.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define U32 0x1p-24

static const uint32_t new_types[] = {TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_IQ4_NL, TYPE_Q2_K,
                                     TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K};
#define N_NEW (sizeof new_types / sizeof new_types[0])

#define NMAX (4096 + 256)
#define ROWMAX (NMAX / 256 * sizeof(block_q8_k_t) + 64)

static void put16(unsigned char *p, float v)
{
    uint16_t h = f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* ---- layouts ------------------------------------------------------------------------ */

static float deq_at(uint32_t type, const void *blk, int v)
{
    float y[QK_K];
    CHECK(dequant_row(type, blk, y, type_block_elems(type)) == 0);
    return y[v];
}

static void test_layouts(void)
{
    unsigned char b[sizeof(block_q8_k_t)];

    /* Q4_1: value 17 is the high nibble of byte 1; d*q + m. */
    memset(b, 0, sizeof b);
    put16(b, 0.25f);
    put16(b + 2, 1.0f);
    b[4 + 1] = 0x90;
    CHECKF(deq_at(TYPE_Q4_1, b, 17) == 3.25f, "Q4_1: %g", deq_at(TYPE_Q4_1, b, 17));
    CHECK(deq_at(TYPE_Q4_1, b, 1) == 1.0f);

    /* Q5_0: value 20 = high nibble of qs[4] | bit 20 of qh << 4, minus 16. */
    memset(b, 0, sizeof b);
    put16(b, 2.0f);
    b[2 + 2] = 0x10;          /* bit 20 */
    b[6 + 4] = 0x50;
    CHECKF(deq_at(TYPE_Q5_0, b, 20) == 10.0f, "Q5_0: %g", deq_at(TYPE_Q5_0, b, 20));
    CHECK(deq_at(TYPE_Q5_0, b, 4) == -32.0f);

    /* Q5_1: value 3 low nibble of qs[3] = 7, bit 3 clear; value 31 bit 31 set. */
    memset(b, 0, sizeof b);
    put16(b, 0.5f);
    put16(b + 2, -1.0f);
    b[4 + 3] = 0x80;          /* bit 31 */
    b[8 + 3] = 0x07;
    CHECK(deq_at(TYPE_Q5_1, b, 3) == 2.5f);
    CHECKF(deq_at(TYPE_Q5_1, b, 31) == 7.0f, "Q5_1: %g", deq_at(TYPE_Q5_1, b, 31));

    /* IQ4_NL: value 30 = high nibble of qs[14] = 2 -> -83. */
    memset(b, 0, sizeof b);
    put16(b, 0.5f);
    b[2 + 14] = 0x2f;
    CHECK(deq_at(TYPE_IQ4_NL, b, 30) == -41.5f && deq_at(TYPE_IQ4_NL, b, 14) == 56.5f);

    /* Q2_K: value 77 (h 0, s 2, l 13) = bits 4-5 of qs[13]; scales[4] = scale 10 | min 7 << 4. */
    memset(b, 0, sizeof b);
    b[4] = 0x7a;
    b[16 + 13] = 0x30;
    put16(b + 80, 0.5f);
    put16(b + 82, 0.25f);
    CHECKF(deq_at(TYPE_Q2_K, b, 77) == 13.25f, "Q2_K: %g", deq_at(TYPE_Q2_K, b, 77));

    /* Q3_K: value 150 (h 1, s 0, l 22): bits 0-1 of qs[32 + 22] = 2, hmask[22] bit 4 clear
     * -> q = -2; sub-block 9's scale 45: low nibble in scales[1] >> 4, high bits in
     * scales[9] >> 4.  Value 150 + 32 (s 1) with its hmask bit 5 set -> q = 2 - 0. */
    memset(b, 0, sizeof b);
    b[32 + 32 + 22] = 0x02 | 0x08;
    b[22] = 0x20;
    b[96 + 1] = 0xd0;
    b[96 + 9] = 0x20;
    b[96 + 3] = 0xd0;         /* sub-block 11 (value 182): low nibble 13 */
    b[96 + 11] = 0x20;        /* ... high bits 2 -> 45 */
    put16(b + 108, 0.25f);
    CHECKF(deq_at(TYPE_Q3_K, b, 150) == -6.5f, "Q3_K: %g", deq_at(TYPE_Q3_K, b, 150));
    CHECKF(deq_at(TYPE_Q3_K, b, 182) == 6.5f, "Q3_K: %g", deq_at(TYPE_Q3_K, b, 182));

    /* Q4_K: value 167 (sub-block 5: chunk 2, high nibble, l 7) = 9; scale 37, min 50 of
     * sub-block 5 packed as scales[9] = 5 | 2 << 4, scales[1] bits 6-7 = 2, scales[5]
     * bits 6-7 = 3; sub-block 1 (value 40): scales[1] & 63 = 4, scales[5] & 63 = 6. */
    memset(b, 0, sizeof b);
    put16(b, 1.0f);
    put16(b + 2, 0.5f);
    b[4 + 9] = 0x25;
    b[4 + 1] = 0x80 | 4;
    b[4 + 5] = 0xc0 | 6;
    b[16 + 64 + 7] = 0x90;
    b[16 + 8] = 0x30;         /* value 40: chunk 0 high nibble, l 8 */
    CHECKF(deq_at(TYPE_Q4_K, b, 167) == 308.0f, "Q4_K: %g", deq_at(TYPE_Q4_K, b, 167));
    CHECKF(deq_at(TYPE_Q4_K, b, 40) == 9.0f, "Q4_K: %g", deq_at(TYPE_Q4_K, b, 40));

    /* Q5_K: value 100 (chunk 1, high nibble, l 4) = 6 | bit 3 of qh[4] << 4 = 22; sub-block
     * 3: scale scales[3] & 63 = 20, min scales[7] & 63 = 10. */
    memset(b, 0, sizeof b);
    put16(b, 1.0f);
    put16(b + 2, 1.0f);
    b[4 + 3] = 20;
    b[4 + 7] = 10;
    b[16 + 4] = 0x08;
    b[48 + 32 + 4] = 0x60;
    CHECKF(deq_at(TYPE_Q5_K, b, 100) == 430.0f, "Q5_K: %g", deq_at(TYPE_Q5_K, b, 100));

    /* Q6_K: value 200 (h 1, k 2, l 8): low 4 bits = high nibble of ql[64 + 8], high 2 bits
     * = bits 4-5 of qh[32 + 8]; level 45 - 32 = 13; scales[12] = -3; d = 0.5. */
    memset(b, 0, sizeof b);
    b[64 + 8] = 0xd0;
    b[128 + 32 + 8] = 0x20;
    b[192 + 12] = (unsigned char)(int8_t)-3;
    put16(b + 208, 0.5f);
    CHECKF(deq_at(TYPE_Q6_K, b, 200) == -19.5f, "Q6_K: %g", deq_at(TYPE_Q6_K, b, 200));
    CHECK(deq_at(TYPE_Q6_K, b, 8) == 0.0f);   /* scales[0] = 0 */
}

/* ---- activation formats --------------------------------------------------------------- */

static void test_act_known(void)
{
    float x[QK_K] = {0};
    block_q8_k_t k;
    /* Largest magnitude negative: iscale = -127/-2 = 63.5; 1 -> 63.5 -> 64 (tie to even),
     * 3/127 -> 1.5 -> 2, 5/127 -> 2.5 -> 2. */
    x[0] = -2.0f;
    x[1] = 1.0f;
    x[2] = 3.0f / 127.0f;
    x[3] = 5.0f / 127.0f;
    x[200] = 0.5f;
    quant_row_q8_k(x, &k, QK_K);
    CHECK(k.q[0] == -127 && k.q[1] == 64);
    CHECKF(k.q[2] == (int8_t)nearbyintf(63.5f * x[2]) && k.q[3] == (int8_t)nearbyintf(63.5f * x[3]), "q %d %d",
           k.q[2], k.q[3]);
    CHECK(k.d == 1.0f / 63.5f);
    CHECK(k.bsums[0] == -127 + 64 + k.q[2] + k.q[3] && k.bsums[12] == 32 && k.bsums[1] == 0);
    /* Largest magnitude positive: iscale negative, values flip sign, d negative; the
     * top is clamped at 127. */
    memset(x, 0, sizeof x);
    x[0] = 4.0f;
    x[1] = -4.0f;
    quant_row_q8_k(x, &k, QK_K);
    CHECK(k.q[0] == -127 && k.q[1] == 127 && k.d == 1.0f / (-127.0f / 4.0f));
    memset(x, 0, sizeof x);
    quant_row_q8_k(x, &k, QK_K);
    CHECK(k.d == 0.0f && k.q[5] == 0 && k.bsums[3] == 0);

    /* Q8_1: 0..31, amax 31: q = round-half-even(i * (127/31)), s = half(d * sum q). */
    block_q8_1_t q1;
    for (int i = 0; i < 32; i++)
        x[i] = (float)i;
    quant_row_q8_1(x, &q1, 32);
    int sum = 0;
    for (int i = 0; i < 32; i++) {
        CHECK(q1.q[i] == (int8_t)nearbyintf((float)i * (127.0f / 31.0f)));
        sum += q1.q[i];
    }
    CHECK(q1.d == f32_to_f16(31.0f / 127.0f) && q1.s == f32_to_f16(31.0f / 127.0f * (float)sum));
}

/* ---- quantizers ------------------------------------------------------------------------- */

static void test_quantizers(void)
{
    /* RMS error / RMS value on uniform noise with x20 outliers (fill_floats); bounds
     * ~1.3x the measured figures (Q4_1 0.109, Q5_0 0.092, Q5_1 0.048, IQ4_NL 0.135,
     * Q2_K 0.348, Q3_K 0.157, Q4_K 0.108, Q5_K 0.053, Q6_K 0.033), far below what a
     * packing mistake gives (order 1). */
    static const struct {
        uint32_t type;
        double rel;
    } bounds[] = {{TYPE_Q4_1, 0.14}, {TYPE_Q5_0, 0.12}, {TYPE_Q5_1, 0.065}, {TYPE_IQ4_NL, 0.18}, {TYPE_Q2_K, 0.45},
                  {TYPE_Q3_K, 0.21}, {TYPE_Q4_K, 0.14}, {TYPE_Q5_K, 0.07}, {TYPE_Q6_K, 0.045}};
    enum { N = 8 * QK_K };
    static float x[N], y[N];
    static unsigned char q[N / QK_K * sizeof(block_q8_k_t)];
    rng_t r = {7};
    for (size_t t = 0; t < sizeof bounds / sizeof bounds[0]; t++) {
        const uint32_t type = bounds[t].type;
        double e2 = 0, x2 = 0;
        for (int rep = 0; rep < 4; rep++) {
            fill_floats(&r, x, N, ldexpf(1.0f, rng_int(&r, -10, 4)));
            CHECK(quant_row(type, x, q, N) == 0 && dequant_row(type, q, y, N) == 0);
            for (int i = 0; i < N; i++) {
                e2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                x2 += (double)x[i] * x[i];
            }
        }
        const double rel = sqrt(e2 / x2);
        printf("test_kern_q: %s round trip: relative RMS error %.3g\n", type_name(type), rel);
        CHECKF(rel <= bounds[t].rel, "%s: round-trip relative error %.3g > %.3g", type_name(type), rel,
               bounds[t].rel);
        memset(x, 0, sizeof x);
        CHECK(quant_row(type, x, q, N) == 0 && dequant_row(type, q, y, N) == 0);
        int nonzero = 0;
        for (int i = 0; i < N; i++)
            nonzero += y[i] != 0.0f;
        CHECKF(nonzero == 0, "%s: zeros give %d non-zero values", type_name(type), nonzero);
    }
    CHECK(quant_row(TYPE_Q4_K, x, q, 128) == -1 && dequant_row(TYPE_Q6_K, q, y, 300) == -1);
}

/* ---- dot products ------------------------------------------------------------------------ */

typedef struct {
    guard_t gw, gx, gp;
    unsigned char w[KERN_TILE_ROWS][ROWMAX];
    unsigned char x[4][ROWMAX], ref[ROWMAX], wz[ROWMAX];
    float f[NMAX], wd[NMAX], xd[NMAX], od[NMAX];
} scratch_t;

/* The quant fields of a block (zeroed, the rest dequantizes to the block's offset). */
static void quant_fields(uint32_t type, size_t *off, size_t *len, size_t *off2, size_t *len2)
{
    *off2 = *len2 = 0;
    switch (type) {
    case TYPE_Q4_1: *off = 4; *len = 16; break;
    case TYPE_Q5_1: *off = 4; *len = 20; break;
    case TYPE_Q2_K: *off = 16; *len = 64; break;
    case TYPE_Q4_K: *off = 16; *len = 128; break;
    case TYPE_Q5_K: *off = 16; *len = 160; break;
    default: *off = *len = 0; break;
    }
}

/* Exact dot of the dequantized operands and an f32 error bound for any order. */
static void reference(uint32_t type, uint32_t act, size_t n, const unsigned char *w, const unsigned char *x,
                      scratch_t *s, double *dot, double *bound)
{
    dequant_row(type, w, s->wd, n);
    dequant_row(act, x, s->xd, n);
    size_t off, len, off2, len2;
    quant_fields(type, &off, &len, &off2, &len2);
    const size_t bb = type_block_bytes(type), be = type_block_elems(type), rb = type_row_bytes(type, n);
    memcpy(s->wz, w, rb);
    for (size_t b = 0; len && b < n / be; b++)
        memset(s->wz + b * bb + off, 0, len);
    dequant_row(type, s->wz, s->od, n);
    double d = 0, mag = 0, soff = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)s->wd[i] * s->xd[i];
        mag += fabs((double)s->wd[i] * s->xd[i]) + 2.0 * (len ? fabs((double)s->od[i] * s->xd[i]) : 0.0);
    }
    if (act == TYPE_Q8_1)   /* m_w * s_x with s_x = half(d_x * sum q): its rounding */
        for (size_t b = 0; b < n / 32; b++) {
            uint16_t sh;
            memcpy(&sh, x + b * sizeof(block_q8_1_t) + 2, 2);
            soff += fabs((double)s->od[32 * b] * f16_to_f32(sh)) * 0x1p-10;
        }
    *dot = d;
    *bound = (double)(n + 16) * U32 * mag + soff + 1e-30;
}

/* Weights for one row: realistic (quantized random floats) or raw (random bytes,
 * random moderate scales). */
static void make_row(uint32_t type, size_t n, int raw, rng_t *r, scratch_t *s, unsigned char *w)
{
    if (!raw) {
        fill_floats(r, s->f, n, 0.05f * ldexpf(1.0f, rng_int(r, -3, 3)));
        quant_row(type, s->f, w, n);
        return;
    }
    const size_t rb = type_row_bytes(type, n), bb = type_block_bytes(type);
    for (size_t i = 0; i < rb; i++)
        w[i] = (unsigned char)rng_next(r);
    /* the halves: d (and m/dmin) at the start of the 32-value blocks and Q4_K/Q5_K,
     * at the end of Q2_K/Q3_K/Q6_K */
    size_t at = type == TYPE_Q2_K ? 80 : type == TYPE_Q3_K ? 108 : type == TYPE_Q6_K ? 208 : 0;
    int two = type == TYPE_Q4_1 || type == TYPE_Q5_1 || type == TYPE_Q2_K || type == TYPE_Q4_K || type == TYPE_Q5_K;
    for (size_t b = 0; b < rb / bb; b++) {
        put16(w + b * bb + at, rng_unit(r) * 0.01f);
        if (two)
            put16(w + b * bb + at + 2, rng_unit(r) * 0.01f);
    }
}

static void test_dot_case(const kern_table_t *t, const kern_table_t *ref, uint32_t type, size_t n, int raw,
                          rng_t *r, scratch_t *s)
{
    const char *isa = kern_isa_name(t->isa), *tn = type_name(type);
    const kern_matvec_t *mv = kern_matvec_for(t, type), *rv = kern_matvec_for(ref, type);
    const size_t wb = type_row_bytes(type, n), xb = type_row_bytes(mv->act_type, n);
    CHECK(mv->act_type == rv->act_type);
    for (int k = 0; k < KERN_TILE_ROWS; k++)
        make_row(type, n, raw && k % 2 == 0, r, s, s->w[k]);
    for (int j = 0; j < 4; j++) {
        fill_floats(r, s->f, n, ldexpf(1.0f, rng_int(r, -6, 6)));
        const size_t o = (size_t)j;   /* act_from_f32 at byte offset j */
        mv->act_from_f32(s->f, s->x[j] + o, n);
        quant_row_act(mv->act_type, s->f, s->ref, n);
        CHECKF(memcmp(s->x[j] + o, s->ref, xb) == 0, "%s %s n=%zu: act bytes differ from the reference", isa, tn,
               n);
        memmove(s->x[j], s->x[j] + o, xb);
    }

    /* Rows placed at the guard page (offset gap), columns x_stride apart ending at it. */
    int bad = 0;
    for (size_t gap = 0; gap < 4; gap++) {
        const size_t w_stride = wb + gap, x_stride = xb + (n + gap) % 4;
        unsigned char *w = guard_place(&s->gw, (KERN_TILE_ROWS - 1) * w_stride + wb, gap);
        unsigned char *x = guard_place(&s->gx, 3 * x_stride + xb, (4 - gap) % 4);
        for (int k = 0; k < KERN_TILE_ROWS; k++)
            memcpy(w + k * w_stride, s->w[k], wb);
        for (int j = 0; j < 4; j++)
            memcpy(x + j * x_stride, s->x[j], xb);

        float want[KERN_TILE_ROWS][4];
        for (int k = 0; k < KERN_TILE_ROWS; k++) {
            for (int j = 0; j < 4; j++) {
                mv->dot(n, w + k * w_stride, x + j * x_stride, &want[k][j]);
                float rd;
                rv->dot(n, w + k * w_stride, x + j * x_stride, &rd);
                if (!same_bits(rd, want[k][j]) && bad++ < 5)
                    CHECKF(0, "%s %s n=%zu: dot %.9g, scalar %.9g", isa, tn, n, want[k][j], rd);
                if (gap == 0 && k < 2) {
                    double dref, bound;
                    reference(type, mv->act_type, n, w + k * w_stride, x + j * x_stride, s, &dref, &bound);
                    if (fabs(want[k][j] - dref) > bound && bad++ < 5)
                        CHECKF(0, "%s %s n=%zu %s: dot %.9g, exact %.9g, |err| %.3g > %.3g", isa, tn, n,
                               raw ? "raw" : "realistic", want[k][j], dref, fabs(want[k][j] - dref), bound);
                }
            }
            float four[4];
            mv->dot_x4(n, w + k * w_stride, x, x_stride, four);
            for (int j = 0; j < 4; j++)
                if (!same_bits(four[j], want[k][j]) && bad++ < 5)
                    CHECKF(0, "%s %s n=%zu: dot_x4[%d] %.9g, dot %.9g", isa, tn, n, j, four[j], want[k][j]);
        }
        enum { LDO = KERN_TILE_ROWS + 3 };
        float out[KERN_TILE * LDO];
        for (int nr = 1; nr <= KERN_TILE_ROWS; nr++) {
            for (int nc = 1; nc <= KERN_TILE && nr * nc <= KERN_TILE_SIZE; nc++) {
                const int r0 = KERN_TILE_ROWS - nr;
                memset(out, 0x7f, sizeof out);
                mv->dot_tile(n, w + r0 * w_stride, w_stride, nr, x, x_stride, nc, out, LDO);
                for (int c = 0; c < KERN_TILE; c++) {
                    for (int k = 0; k < LDO; k++) {
                        uint32_t bits;
                        memcpy(&bits, &out[c * LDO + k], 4);
                        int ok = k < nr && c < nc ? same_bits(out[c * LDO + k], want[r0 + k][c]) : bits == 0x7f7f7f7fu;
                        if (!ok && bad++ < 5)
                            CHECKF(0, "%s %s n=%zu tile %dx%d: (%d,%d) wrong or written", isa, tn, n, nr, nc, k, c);
                    }
                }
            }
        }
        if (gap == 0 && mv->dot_tile_packed)
            check_packed_tiles(mv, &s->gp, isa, tn, n, s->w[KERN_TILE_ROWS - KERN_TILE], ROWMAX, s->x[0], ROWMAX,
                               n % 7, n % 3, (const float(*)[KERN_TILE])want[KERN_TILE_ROWS - KERN_TILE]);
    }
    CHECKF(bad == 0, "%s %s n=%zu: %d mismatches", isa, tn, n, bad);
}

static void test_table(const kern_table_t *t, const kern_table_t *ref, rng_t *r, scratch_t *s)
{
    static const size_t ksizes[] = {256, 512, 768, 1024, 1536, 2304, 4096 + 256};
    static const size_t qsizes[] = {32, 64, 96, 128, 160, 192, 224, 256, 288, 768, 1536, 4096 + 32};
    for (size_t ti = 0; ti < N_NEW; ti++) {
        const uint32_t type = new_types[ti];
        const int k = type_block_elems(type) == QK_K;
        const size_t *sz = k ? ksizes : qsizes;
        const size_t nsz = k ? sizeof ksizes / sizeof ksizes[0] : sizeof qsizes / sizeof qsizes[0];
        CHECK(kern_matvec_for(t, type) != NULL);
        for (size_t i = 0; i < nsz; i++) {
            test_dot_case(t, ref, type, sz[i], 0, r, s);
            test_dot_case(t, ref, type, sz[i], 1, r, s);
        }
    }
}

int main(void)
{
    test_layouts();
    test_act_known();
    test_quantizers();

    scratch_t *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    if (!s || guard_init(&s->gw, KERN_TILE_ROWS * (ROWMAX + 4)) || guard_init(&s->gx, 4 * (ROWMAX + 4)) ||
        guard_init(&s->gp, 8 * (NMAX / QK_K * 640 + 16))) {
        free(s);
        return check_finish("test_kern_q");
    }
    kern_table_t ref;
    CHECK(kern_table_init(&ref, KERN_ISA_SCALAR, NULL) == 0);
    char tested[64] = "";
    for (int i = KERN_ISA_SCALAR; i <= KERN_ISA_NEON; i++) {
        const kern_isa_t isa = (kern_isa_t)i;
        if (!kern_isa_supported(isa)) {
            printf("test_kern_q: ISA %s: not supported here, skipped\n", kern_isa_name(isa));
            continue;
        }
        kern_table_t t;
        if (kern_table_init(&t, isa, NULL) != 0) {
            CHECKF(0, "kern_table_init(%s) failed", kern_isa_name(isa));
            continue;
        }
        rng_t r = {2000 + (uint64_t)i};
        const int before = check_failures;
        test_table(&t, &ref, &r, s);
        printf("test_kern_q: ISA %s: tested, %s\n", kern_isa_name(isa), check_failures == before ? "ok" : "FAILED");
        strcat(tested, " ");
        strcat(tested, kern_isa_name(isa));
    }
    printf("test_kern_q: ISAs tested:%s\n", tested);
    guard_fini(&s->gw);
    guard_fini(&s->gx);
    guard_fini(&s->gp);
    free(s);
    return check_finish("test_kern_q");
}
