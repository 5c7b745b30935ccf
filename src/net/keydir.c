/*
 * keydir.c — the key directory convention (see keydir.h).
 */
#include "net/keydir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int keydir_default(char *buf, size_t cap, err_t *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/lingua", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.config/lingua", home);
    else
        return err_set(err, ERR_STATE, "neither XDG_CONFIG_HOME nor HOME is set: give the key directory with --keys DIR");
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, ERR_RANGE, "key directory path longer than %zu bytes", cap - 1);
    return 0;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, err_t *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return err_set(err, ERR_RANGE, "directory path longer than %zu bytes", sizeof path - 1);
    for (char *p = path + 1;; p++) {
        int end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return err_set(err, ERR_IO, "cannot create %s: %s", path, strerror(errno));
            if (end)
                break;
            *p = '/';
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, ERR_IO, "%s is not a directory", dir);
    return 0;
}

static int join(char *buf, size_t cap, const char *dir, const char *file, err_t *err)
{
    int n = snprintf(buf, cap, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, ERR_RANGE, "path %s/%s longer than %zu bytes", dir, file, cap - 1);
    return 0;
}

int keydir_generate(const char *dir, sec_keypair_t *kp, err_t *err)
{
    char sec[4096], pub[4096];
    int rc;
    if ((rc = join(sec, sizeof sec, dir, KEYDIR_SECRET, err)) || (rc = join(pub, sizeof pub, dir, KEYDIR_PUBLIC, err)))
        return rc;
    if (access(sec, F_OK) == 0)
        return err_set(err, ERR_STATE, "%s already exists: this device has a key pair (remove it first to replace it)",
                       sec);
    if ((rc = make_dirs(dir, err)) || (rc = sec_keypair_generate(kp, err)))
        return rc;
    return sec_keypair_save(kp, pub, sec, err);
}

int keydir_load(const char *dir, sec_keypair_t *kp, err_t *err)
{
    char sec[4096];
    int rc = join(sec, sizeof sec, dir, KEYDIR_SECRET, err);
    if (rc)
        return rc;
    if (access(sec, F_OK) != 0)
        return err_set(err, ERR_NOTFOUND, "no key pair in %s: run 'lingua keygen --keys %s' first", dir, dir);
    return sec_keypair_load(kp, sec, err);
}

int keydir_parse_key(const char *arg, uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    if (!arg || !arg[0])
        return err_set(err, ERR_INVAL, "empty key");
    if (strlen(arg) == SEC_Z85_LEN && access(arg, F_OK) != 0)
        return sec_key_from_z85(arg, key, err);
    if (access(arg, R_OK) == 0)
        return sec_public_load(key, arg, err);
    return err_set(err, ERR_FORMAT, "key '%.60s' is neither 40 Z85 characters nor a readable public key file", arg);
}
