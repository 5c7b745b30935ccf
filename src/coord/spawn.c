/*
 * spawn.c — starting and stopping local worker processes (see spawn.h).
 */
#include "coord/spawn.h"

#include "util/clock.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void spawn_init(spawn_set_t *s)
{
    memset(s, 0, sizeof *s);
}

int spawn_start(spawn_set_t *s, char *const argv[], err_t *err)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return err_set(err, ERR_IO, "cannot find this executable (/proc/self/exe): %s", strerror(errno));
    exe[len] = '\0';
    return spawn_start_exe(s, exe, argv, err);
}

int spawn_start_exe(spawn_set_t *s, const char *exe, char *const argv[], err_t *err)
{
    if (s->n == SPAWN_MAX)
        return err_set(err, ERR_RANGE, "at most %d local workers", SPAWN_MAX);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
    if (rc != 0)
        return err_set(err, ERR_IO, "cannot start a worker (%s): %s", exe, strerror(rc));
    s->pids[s->n++] = pid;
    return 0;
}

int spawn_check(spawn_set_t *s, err_t *err)
{
    for (int i = 0; i < s->n; i++) {
        if (s->pids[i] <= 0)
            continue;
        int status;
        pid_t r = waitpid(s->pids[i], &status, WNOHANG);
        if (r == s->pids[i]) {
            s->pids[i] = 0;
            if (WIFEXITED(status))
                return err_set(err, ERR_STATE, "local worker %d exited with status %d", i, WEXITSTATUS(status));
            return err_set(err, ERR_STATE, "local worker %d was killed by signal %d", i,
                           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        }
    }
    return 0;
}

void spawn_stop_all(spawn_set_t *s, int grace_ms)
{
    for (int i = 0; i < s->n; i++)
        if (s->pids[i] > 0)
            kill(s->pids[i], SIGTERM);
    for (int waited = 0;; waited += 10) {
        int alive = 0;
        for (int i = 0; i < s->n; i++) {
            if (s->pids[i] <= 0)
                continue;
            int status;
            if (waitpid(s->pids[i], &status, WNOHANG) == s->pids[i])
                s->pids[i] = 0;
            else
                alive++;
        }
        if (!alive)
            break;
        if (waited >= grace_ms) {
            for (int i = 0; i < s->n; i++) {
                if (s->pids[i] > 0) {
                    kill(s->pids[i], SIGKILL);
                    waitpid(s->pids[i], NULL, 0);
                    s->pids[i] = 0;
                }
            }
            break;
        }
        clock_sleep(0.01);
    }
    s->n = 0;
}
