/*
 * kern.c — choosing a kernel table: which ISAs this build contains, which of
 * them this CPU (and its operating system) can run, and the names they go by.
 *
 * The kernels themselves live in kern_scalar.c and one file per ISA; this file
 * only knows their fillers.  CPU features are read with cpuid, and the OS
 * support for the wider register state with xgetbv, on x86-64; arm64 always has
 * NEON.  Nothing is cached (detection is cheap and runs once at start-up), and
 * the environment is not consulted: forcing an ISA is the caller's business
 * (the CLI has a flag).  The platform #ifs stay at file level, one definition
 * of each helper per platform.
 */
#include "tensor/kern.h"

#include <stddef.h>
#include <strings.h>

#if defined(__x86_64__) && defined(LL_HAVE_X86_KERNELS)
#include <cpuid.h>

/* XCR0 bits the OS must enable: SSE and AVX state (1, 2); AVX-512 opmask, ZMM0-15
 * upper halves and ZMM16-31 (5, 6, 7). */
#define XCR0_YMM 0x06u
#define XCR0_ZMM 0xe0u

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* 1 if cpuid and xgetbv report every feature the given table relies on. */
static int cpu_runs(kern_isa_t isa)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx || !fma || !f16c)
        return 0;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_YMM) != XCR0_YMM)
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    const int avx2 = (b >> 5) & 1;
    const int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int avx512vnni = (c >> 11) & 1;
    if (isa == KERN_ISA_AVX2)
        return avx2;
    if (isa == KERN_ISA_AVX512)
        return avx2 && avx512f && avx512bw && avx512vl && avx512vnni &&
               (xcr0 & XCR0_ZMM) == XCR0_ZMM;
    return 0;
}

static void (*const fill_avx2)(kern_table_t *) = kern_fill_avx2;
static void (*const fill_avx512)(kern_table_t *) = kern_fill_avx512;
static void (*const fill_neon)(kern_table_t *) = NULL;

#elif defined(__aarch64__) && defined(LL_HAVE_NEON_KERNELS)

/* Advanced SIMD is part of the arm64 base architecture. */
static int cpu_runs(kern_isa_t isa)
{
    return isa == KERN_ISA_NEON;
}

static void (*const fill_avx2)(kern_table_t *) = NULL;
static void (*const fill_avx512)(kern_table_t *) = NULL;
static void (*const fill_neon)(kern_table_t *) = kern_fill_neon;

#else

static int cpu_runs(kern_isa_t isa)
{
    (void)isa;
    return 0;
}

static void (*const fill_avx2)(kern_table_t *) = NULL;
static void (*const fill_avx512)(kern_table_t *) = NULL;
static void (*const fill_neon)(kern_table_t *) = NULL;

#endif

/* The filler compiled into this build for isa, or NULL. */
static void (*filler(kern_isa_t isa))(kern_table_t *)
{
    switch (isa) {
    case KERN_ISA_SCALAR: return kern_fill_scalar;
    case KERN_ISA_AVX2: return fill_avx2;
    case KERN_ISA_AVX512: return fill_avx512;
    case KERN_ISA_NEON: return fill_neon;
    default: return NULL;
    }
}

int kern_isa_supported(kern_isa_t isa)
{
    if (isa == KERN_ISA_SCALAR)
        return 1;
    return filler(isa) != NULL && cpu_runs(isa);
}

kern_isa_t kern_isa_best(void)
{
    static const kern_isa_t preference[] = {KERN_ISA_AVX512, KERN_ISA_AVX2, KERN_ISA_NEON};
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++)
        if (kern_isa_supported(preference[i]))
            return preference[i];
    return KERN_ISA_SCALAR;
}

const char *kern_isa_name(kern_isa_t isa)
{
    switch (isa) {
    case KERN_ISA_AUTO: return "auto";
    case KERN_ISA_SCALAR: return "scalar";
    case KERN_ISA_AVX2: return "avx2";
    case KERN_ISA_AVX512: return "avx512";
    case KERN_ISA_NEON: return "neon";
    default: return "unknown";
    }
}

int kern_isa_parse(const char *s, kern_isa_t *isa)
{
    static const kern_isa_t all[] = {KERN_ISA_AUTO, KERN_ISA_SCALAR, KERN_ISA_AVX2, KERN_ISA_AVX512,
                                     KERN_ISA_NEON};
    if (!s || !isa)
        return -1;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(s, kern_isa_name(all[i])) == 0) {
            *isa = all[i];
            return 0;
        }
    }
    return -1;
}

int kern_table_init(kern_table_t *t, kern_isa_t isa, err_t *err)
{
    if (!t)
        return err_set(err, ERR_INVAL, "kern_table_init: NULL table");
    if (isa == KERN_ISA_AUTO)
        isa = kern_isa_best();
    if (isa < KERN_ISA_SCALAR || isa > KERN_ISA_NEON)
        return err_set(err, ERR_INVAL, "kernel ISA %d is not one of auto, scalar, avx2, avx512, neon",
                       (int)isa);
    if (filler(isa) == NULL)
        return err_set(err, ERR_UNSUP, "kernel ISA '%s' is not compiled into this build (best here: '%s')",
                       kern_isa_name(isa), kern_isa_name(kern_isa_best()));
    if (!kern_isa_supported(isa))
        return err_set(err, ERR_UNSUP, "kernel ISA '%s' is not supported by this CPU (best here: '%s')",
                       kern_isa_name(isa), kern_isa_name(kern_isa_best()));
    filler(isa)(t);
    t->isa = isa;
    return 0;
}

const kern_matvec_t *kern_matvec_for(const kern_table_t *t, uint32_t weight_type)
{
    if (!t)
        return NULL;
    switch (weight_type) {
    case TYPE_F32: return &t->f32;
    case TYPE_F16: return &t->f16;
    case TYPE_Q8_0: return &t->q8_0;
    case TYPE_Q4_0: return &t->q4_0;
    case TYPE_Q4_1: return &t->q4_1;
    case TYPE_Q5_0: return &t->q5_0;
    case TYPE_Q5_1: return &t->q5_1;
    case TYPE_IQ4_NL: return &t->iq4_nl;
    case TYPE_Q2_K: return &t->q2_k;
    case TYPE_Q3_K: return &t->q3_k;
    case TYPE_Q4_K: return &t->q4_k;
    case TYPE_Q5_K: return &t->q5_k;
    case TYPE_Q6_K: return &t->q6_k;
    default: return NULL;
    }
}
