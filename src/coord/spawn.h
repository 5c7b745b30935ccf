/*
 * spawn.h — child processes for `lingua run --local N`: starts workers as
 * copies of this executable (`lingua worker ...`) and stops them again.
 * The spawner owns the pids it started; spawn_stop_all sends SIGTERM, waits a
 * grace period, then SIGKILLs whatever is left, so no child outlives the run.
 */
#ifndef LL_COORD_SPAWN_H
#define LL_COORD_SPAWN_H

#include <sys/types.h>

#include "util/err.h"

#define SPAWN_MAX 64

typedef struct {
    pid_t pids[SPAWN_MAX];
    int n;
} spawn_set_t;

void spawn_init(spawn_set_t *s);
/* Starts /proc/self/exe with argv. */
int spawn_start(spawn_set_t *s, char *const argv[], err_t *err);
/* Starts the given executable with argv. */
int spawn_start_exe(spawn_set_t *s, const char *exe, char *const argv[], err_t *err);
/* 0 while every child runs; else ERR_STATE naming the first that exited and how. */
int spawn_check(spawn_set_t *s, err_t *err);
/* SIGTERM, wait up to grace_ms, then SIGKILL; reaps all. */
void spawn_stop_all(spawn_set_t *s, int grace_ms);

#endif
