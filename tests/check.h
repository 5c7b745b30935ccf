/*
 * check.h — the few assertion macros our test programs share.  A failed CHECK
 * prints file:line and the condition and counts a failure; the test continues,
 * so one run shows every broken case.  check_finish() prints the summary line
 * and returns the exit status for main.  check_shared_dir() returns the path of
 * ../shared, or NULL (the caller then skips with a clear message) when it is absent.
 */
#ifndef LL_TESTS_CHECK_H
#define LL_TESTS_CHECK_H

#include <stdio.h>
#include <sys/stat.h>

static int check_failures;
static int check_passes;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (cond) {                                                               \
            check_passes++;                                                       \
        } else {                                                                  \
            check_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

#define CHECKF(cond, ...)                                                         \
    do {                                                                          \
        if (cond) {                                                               \
            check_passes++;                                                       \
        } else {                                                                  \
            check_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

static inline int check_finish(const char *name)
{
    printf("%s: %d checks passed, %d failed\n", name, check_passes, check_failures);
    return check_failures ? 1 : 0;
}

/* Exit code 77 is not special to CTest by default; tests that skip print SKIP and pass. */
static inline const char *check_shared_dir(void)
{
#ifdef LL_SHARED_DIR
    struct stat st;
    if (stat(LL_SHARED_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return LL_SHARED_DIR;
#endif
    return NULL;
}

#endif
