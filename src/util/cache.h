/*
 * cache.h — evicting a range of memory from the CPU caches, so that a timing
 * that follows sees it come from main memory (plan/profile.c: a stage's
 * weights stream from memory at every step when serving, while the one unit a
 * profile times again and again would otherwise stay cached).  x86-64: CLFLUSH
 * per cache line; AArch64: DC CIVAC (Linux lets user space run it); elsewhere
 * nothing is evicted.  No state; any alignment.
 */
#ifndef LL_UTIL_CACHE_H
#define LL_UTIL_CACHE_H

#include <stddef.h>

/* Writes back and evicts every cache line holding bytes of [p, p + n), then
 * waits until that is done.  Returns 1 when this build can evict, 0 otherwise. */
int cache_evict(const void *p, size_t n);

#endif
