/*
 * cache.c — cache_evict (see cache.h).
 */
#include "util/cache.h"

#include <stdint.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define CACHE_LINE 64

int cache_evict(const void *p, size_t n)
{
    const uintptr_t end = (uintptr_t)p + n;
    for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)(CACHE_LINE - 1); a < end; a += CACHE_LINE)
        _mm_clflush((const void *)a);
    _mm_mfence();
    return 1;
}
#elif defined(__aarch64__)
int cache_evict(const void *p, size_t n)
{
    uint64_t ctr;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    const uintptr_t line = (uintptr_t)4 << ((ctr >> 16) & 15);   /* DminLine: the smallest data cache line, in words */
    const uintptr_t end = (uintptr_t)p + n;
    for (uintptr_t a = (uintptr_t)p & ~(line - 1); a < end; a += line)
        __asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
    __asm__ volatile("dsb ish" : : : "memory");
    return 1;
}
#else
int cache_evict(const void *p, size_t n)
{
    (void)p;
    (void)n;
    return 0;
}
#endif
