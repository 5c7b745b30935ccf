/*
 * quant_k.c — reference conversions for the K-quants (Q2_K..Q6_K, super-blocks of
 * 256 values, layouts in types.h) and for Q8_K, the activation format their
 * kernels take.  Declared in quant.h; plain scalar code, no state.
 *
 * Dequantization is the format's definition: each value is (d * scale) * q, minus
 * (dmin * min) for the types with mins, the products formed in that order in f32.
 *
 * Q8_K follows llama.cpp's reference quantizer, which its x86 CPU backend uses and
 * which made the golden files: max = the value of largest magnitude (sign kept,
 * first on ties), iscale = -127/max, q = min(127, round-half-even(iscale * x)),
 * d = 1/iscale (all zero when max is 0), bsums[j] = sum of q[16j..16j+15].
 *
 * The weight quantizers are simple one-pass ones (no error search, unlike
 * llama-quantize): per sub-block a scale from the sub-block's range (and a min
 * for the types with mins, clamped so that min <= 0), the sub-block scales
 * quantized linearly against their largest one, then every value rounded to the
 * nearest level of its stored (d * scale, dmin * min).  They make valid files with
 * sensible error for tests and benchmarks; they do not reproduce llama-quantize's
 * bytes.
 */
#include <math.h>
#include <string.h>

#include "tensor/f16.h"
#include "tensor/quant.h"

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int nint(float v)
{
    return (int)nearbyintf(v);
}

/* The value of largest magnitude in b[0..n), sign kept, first on ties. */
static float signed_max(const float *b, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(b[j]) > amax) {
            amax = fabsf(b[j]);
            max = b[j];
        }
    }
    return max;
}

/* ---- Q8_K -------------------------------------------------------------------- */

void quant_row_q8_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q8_k_t blk;
        memset(&blk, 0, sizeof blk);
        const float max = signed_max(xb, QK_K);
        if (max != 0.0f) {
            const float iscale = -127.0f / max;
            for (int j = 0; j < QK_K; j++) {
                int v = nint(iscale * xb[j]);
                blk.q[j] = (int8_t)(v > 127 ? 127 : v);
            }
            for (int j = 0; j < QK_K / 16; j++) {
                int s = 0;
                for (int i = 0; i < 16; i++)
                    s += blk.q[16 * j + i];
                blk.bsums[j] = (int16_t)s;
            }
            blk.d = 1.0f / iscale;
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void dequant_row_q8_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q8_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        for (int j = 0; j < QK_K; j++)
            y[b * QK_K + j] = blk.d * (float)blk.q[j];
    }
}

/* ---- shared quantizer steps --------------------------------------------------- */

/* Sub-blocks of `len` values with levels 0..top and a min: per sub-block the raw
 * scale and min (min >= 0, value = scale*q - min), then both quantized to
 * 0..smax against the largest; returns d and dmin. */
static void scales_with_mins(const float *xb, int nsub, int len, int top, int smax, uint8_t *ls, uint8_t *lm,
                             float *d, float *dmin)
{
    float sc[QK_K / 16], mn[QK_K / 16], max_sc = 0.0f, max_mn = 0.0f;
    for (int j = 0; j < nsub; j++) {
        float lo = 0.0f, hi = -INFINITY;
        for (int i = 0; i < len; i++) {
            const float v = xb[j * len + i];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        sc[j] = hi > lo ? (hi - lo) / (float)top : 0.0f;
        mn[j] = -lo;
        if (sc[j] > max_sc) max_sc = sc[j];
        if (mn[j] > max_mn) max_mn = mn[j];
    }
    const float is = max_sc > 0.0f ? (float)smax / max_sc : 0.0f;
    const float im = max_mn > 0.0f ? (float)smax / max_mn : 0.0f;
    for (int j = 0; j < nsub; j++) {
        ls[j] = (uint8_t)clampi(nint(is * sc[j]), 0, smax);
        lm[j] = (uint8_t)clampi(nint(im * mn[j]), 0, smax);
    }
    *d = max_sc / (float)smax;
    *dmin = max_mn / (float)smax;
}

/* Levels 0..top for values with stored (d, dmin) and sub-block (ls, lm). */
static void levels_with_mins(const float *xb, int nsub, int len, int top, const uint8_t *ls, const uint8_t *lm,
                             uint16_t dh, uint16_t dminh, uint8_t *q)
{
    const float d = f16_to_f32(dh), dmin = f16_to_f32(dminh);
    for (int j = 0; j < nsub; j++) {
        const float dd = d * (float)ls[j], dm = dmin * (float)lm[j];
        for (int i = 0; i < len; i++)
            q[j * len + i] = dd != 0.0f ? (uint8_t)clampi(nint((xb[j * len + i] + dm) / dd), 0, top) : 0;
    }
}

/* Symmetric sub-blocks of 16 values with levels lo..hi (the value of largest
 * magnitude maps to lo) and signed sub-block scales in smin..smax; returns d. */
static float scales_symmetric(const float *xb, int lo, int smin, int smax, int *ls)
{
    float sc[QK_K / 16], max_s = 0.0f;
    for (int j = 0; j < QK_K / 16; j++) {
        sc[j] = signed_max(xb + 16 * j, 16) / (float)lo;
        if (fabsf(sc[j]) > fabsf(max_s)) max_s = sc[j];
    }
    if (max_s == 0.0f) {
        for (int j = 0; j < QK_K / 16; j++)
            ls[j] = 0;
        return 0.0f;
    }
    const float iscale = (float)smin / max_s;
    for (int j = 0; j < QK_K / 16; j++)
        ls[j] = clampi(nint(iscale * sc[j]), smin, smax);
    return 1.0f / iscale;
}

static void levels_symmetric(const float *xb, const int *ls, uint16_t dh, int lo, int hi, int8_t *q)
{
    const float d = f16_to_f32(dh);
    for (int j = 0; j < QK_K / 16; j++) {
        const float dd = d * (float)ls[j];
        for (int i = 0; i < 16; i++)
            q[16 * j + i] = dd != 0.0f ? (int8_t)clampi(nint(xb[16 * j + i] / dd), lo, hi) : 0;
    }
}

/* ---- Q4_K / Q5_K ---------------------------------------------------------------- */

void kq_pack_scale_min(uint8_t s[K_SCALE_SIZE], const uint8_t sc[8], const uint8_t m[8])
{
    memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= sc[j] & 63;
            s[j + 4] |= m[j] & 63;
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

static void quant_q4q5_k(const float *xb, int top, uint16_t *dh, uint16_t *dminh, uint8_t scales[K_SCALE_SIZE],
                         uint8_t q[QK_K])
{
    uint8_t ls[8], lm[8];
    float d, dmin;
    scales_with_mins(xb, 8, 32, top, 63, ls, lm, &d, &dmin);
    *dh = f32_to_f16(d);
    *dminh = f32_to_f16(dmin);
    kq_pack_scale_min(scales, ls, lm);
    levels_with_mins(xb, 8, 32, top, ls, lm, *dh, *dminh, q);
}

void quant_row_q4_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q4_k_t blk;
        uint8_t q[QK_K];
        quant_q4q5_k(x + b * QK_K, 15, &blk.d, &blk.dmin, blk.scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                blk.qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void quant_row_q5_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q5_k_t blk;
        uint8_t q[QK_K];
        quant_q4q5_k(x + b * QK_K, 31, &blk.d, &blk.dmin, blk.scales, q);
        memset(blk.qh, 0, sizeof blk.qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                const uint8_t a = q[64 * c + l], h = q[64 * c + 32 + l];
                blk.qs[32 * c + l] = (uint8_t)((a & 15) | (h & 15) << 4);
                blk.qh[l] |= (uint8_t)(((a >> 4) & 1) << (2 * c) | ((h >> 4) & 1) << (2 * c + 1));
            }
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

/* Q4_K and Q5_K: the levels of one super-block come from `level`. */
static void dequant_q45_k(uint16_t dh, uint16_t dminh, const uint8_t scales[K_SCALE_SIZE], const uint8_t q[QK_K],
                          float *yb)
{
    const float d = f16_to_f32(dh), dmin = f16_to_f32(dminh);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        kq_scale_min(scales, j, &s, &m);
        const float dj = d * (float)s, mj = dmin * (float)m;
        for (int l = 0; l < 32; l++)
            yb[32 * j + l] = dj * (float)q[32 * j + l] - mj;
    }
}

void dequant_row_q4_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q4_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        uint8_t q[QK_K];
        for (int v = 0; v < QK_K; v++)
            q[v] = (blk.qs[32 * (v / 64) + v % 32] >> (v % 64 >= 32 ? 4 : 0)) & 15;
        dequant_q45_k(blk.d, blk.dmin, blk.scales, q, y + b * QK_K);
    }
}

void dequant_row_q5_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q5_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        uint8_t q[QK_K];
        for (int v = 0; v < QK_K; v++)
            q[v] = (uint8_t)(((blk.qs[32 * (v / 64) + v % 32] >> (v % 64 >= 32 ? 4 : 0)) & 15) |
                             ((blk.qh[v % 32] >> (v / 32)) & 1) << 4);
        dequant_q45_k(blk.d, blk.dmin, blk.scales, q, y + b * QK_K);
    }
}

/* ---- Q6_K ------------------------------------------------------------------------ */

void quant_row_q6_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q6_k_t blk;
        int ls[QK_K / 16];
        int8_t q[QK_K];
        blk.d = f32_to_f16(scales_symmetric(xb, -32, -128, 127, ls));
        for (int j = 0; j < QK_K / 16; j++)
            blk.scales[j] = (int8_t)ls[j];
        levels_symmetric(xb, ls, blk.d, -32, 31, q);
        memset(blk.ql, 0, sizeof blk.ql);
        memset(blk.qh, 0, sizeof blk.qh);
        for (int v = 0; v < QK_K; v++) {
            const int u = q[v] + 32, h = v / 128, k = (v % 128) / 32, l = v % 32;
            const int li = 64 * h + 32 * (k & 1) + l;
            blk.ql[li] |= (uint8_t)((u & 15) << (k >= 2 ? 4 : 0));
            blk.qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void dequant_row_q6_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q6_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d);
        for (int v = 0; v < QK_K; v++)
            y[b * QK_K + v] = (d * (float)blk.scales[v / 16]) * (float)q6k_level(&blk, v);
    }
}

/* ---- Q3_K ------------------------------------------------------------------------ */

void quant_row_q3_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q3_k_t blk;
        int ls[QK_K / 16];
        int8_t q[QK_K];
        blk.d = f32_to_f16(scales_symmetric(xb, -4, -32, 31, ls));
        levels_symmetric(xb, ls, blk.d, -4, 3, q);
        memset(blk.scales, 0, sizeof blk.scales);
        for (int j = 0; j < QK_K / 16; j++) {
            const int L = ls[j] + 32;
            blk.scales[j < 8 ? j : j - 8] |= (uint8_t)((L & 15) << (j < 8 ? 0 : 4));
            blk.scales[8 + j % 4] |= (uint8_t)((L >> 4) << (2 * (j / 4)));
        }
        memset(blk.qs, 0, sizeof blk.qs);
        memset(blk.hmask, 0, sizeof blk.hmask);
        for (int v = 0; v < QK_K; v++) {
            const int u = q[v] + 4, h = v / 128, s = (v % 128) / 32, l = v % 32;
            blk.qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * s));
            blk.hmask[l] |= (uint8_t)((u >> 2) << (4 * h + s));
        }
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void dequant_row_q3_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q3_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d);
        for (int v = 0; v < QK_K; v++)
            y[b * QK_K + v] = (d * (float)(q3k_scale(blk.scales, v / 16) - 32)) * (float)q3k_level(&blk, v);
    }
}

/* ---- Q2_K ------------------------------------------------------------------------ */

void quant_row_q2_k(const float *x, void *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        block_q2_k_t blk;
        uint8_t ls[16], lm[16], q[QK_K];
        float d, dmin;
        scales_with_mins(xb, 16, 16, 3, 15, ls, lm, &d, &dmin);
        blk.d = f32_to_f16(d);
        blk.dmin = f32_to_f16(dmin);
        levels_with_mins(xb, 16, 16, 3, ls, lm, blk.d, blk.dmin, q);
        for (int j = 0; j < 16; j++)
            blk.scales[j] = (uint8_t)(ls[j] | lm[j] << 4);
        memset(blk.qs, 0, sizeof blk.qs);
        for (int v = 0; v < QK_K; v++)
            blk.qs[32 * (v / 128) + v % 32] |= (uint8_t)(q[v] << (2 * ((v % 128) / 32)));
        memcpy((unsigned char *)y + b * sizeof blk, &blk, sizeof blk);
    }
}

void dequant_row_q2_k(const void *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / QK_K; b++) {
        block_q2_k_t blk;
        memcpy(&blk, (const unsigned char *)x + b * sizeof blk, sizeof blk);
        const float d = f16_to_f32(blk.d), dmin = f16_to_f32(blk.dmin);
        for (int v = 0; v < QK_K; v++) {
            const uint8_t s = blk.scales[v / 16];
            const int q = (blk.qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
            y[b * QK_K + v] = (d * (float)(s & 15)) * (float)q - dmin * (float)(s >> 4);
        }
    }
}
