/*
 * cli_secure.c — `lingua keygen [--keys DIR]` and the security settings of the
 * ring commands (see cli.h): whether CURVE is on, and the keys it uses.
 *
 * Policy: --secure turns CURVE on; so does a socket bound to anything but
 * loopback, because then any device on the network could otherwise join the
 * ring and read or forge activations.  --insecure keeps plaintext, with a
 * warning when the socket is reachable from other machines.  `run --local N
 * --secure` makes throwaway keys in a private temporary directory (mode 0700)
 * and removes them when the ring stops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/keydir.h"

int cli_keygen(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli_parse(argc, argv, 2, CLI_OPT_SECURE, &o);
    if (rc)
        return rc;
    char dir[4096];
    err_t err;
    err_clear(&err);
    if (o.keys)
        snprintf(dir, sizeof dir, "%s", o.keys);
    else if (keydir_default(dir, sizeof dir, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    sec_keypair_t kp;
    if (keydir_generate(dir, &kp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    char z85[SEC_Z85_LEN + 1];
    sec_key_to_z85(kp.pub, z85);
    explicit_bzero(&kp, sizeof kp);
    fprintf(stderr, "wrote %s/%s (secret, mode 0600) and %s/%s\n", dir, KEYDIR_SECRET, dir, KEYDIR_PUBLIC);
    printf("%s\n", z85);
    return 0;
}

int cli_sec_setup(const cli_opts_t *o, int is_worker, const char *bind_ep, cli_sec_t *s)
{
    memset(s, 0, sizeof *s);
    if (o->secure && o->insecure) {
        fprintf(stderr, "error: --secure and --insecure contradict each other\n");
        return 1;
    }
    int exposed = bind_ep && !sec_endpoint_is_loopback(bind_ep);
    if (o->insecure) {
        if (exposed)
            fprintf(stderr, "warning: --insecure: %s is reachable from other machines in plaintext; anyone who can "
                            "reach it can join the ring, read the prompts and forge activations\n", bind_ep);
        return 0;
    }
    if (!o->secure && !exposed)
        return 0;
    s->on = 1;
    char dir[4096];
    err_t err;
    err_clear(&err);
    if (o->keys)
        snprintf(dir, sizeof dir, "%s", o->keys);
    else if (keydir_default(dir, sizeof dir, &err))
        goto fail;
    if (keydir_load(dir, &s->kp, &err))
        goto fail;
    if (is_worker) {
        if (!o->coord_key) {
            fprintf(stderr, "error: a secure worker needs --coordinator-key KEY (the coordinator's lingua.pub, "
                            "or its 40 characters)%s\n", exposed && !o->secure ? "; or --insecure" : "");
            return 1;
        }
        if (keydir_parse_key(o->coord_key, s->coord_key, &err))
            goto fail;
        return 0;
    }
    if (!o->allow) {
        fprintf(stderr, "error: a secure coordinator needs --allow FILE (one 'KEY NAME' line per admitted worker)%s\n",
                exposed && !o->secure ? "; or --insecure" : "");
        return 1;
    }
    if (!(s->allow = malloc(sizeof *s->allow))) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    sec_allow_init(s->allow);
    if (sec_allow_load(s->allow, o->allow, &err))
        goto fail;
    if (s->allow->n == 0) {
        fprintf(stderr, "error: %s admits no key: no worker could join\n", o->allow);
        return 1;
    }
    return 0;
fail:
    fprintf(stderr, "error: %s\n", err.msg);
    return 1;
}

void cli_sec_local_dir(const cli_sec_t *s, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/worker-%d", s->tmp_dir, i);
}

int cli_sec_local(cli_sec_t *s, int n)
{
    err_t err;
    err_clear(&err);
    const char *base = getenv("TMPDIR");
    snprintf(s->tmp_dir, sizeof s->tmp_dir, "%s/lingua-keys-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(s->tmp_dir)) {
        fprintf(stderr, "error: cannot make a temporary key directory %s: %s\n", s->tmp_dir, strerror(errno));
        s->tmp_dir[0] = '\0';
        return 1;
    }
    s->allow = malloc(sizeof *s->allow);
    if (!s->allow || sec_keypair_generate(&s->kp, &err))
        goto fail;
    sec_allow_init(s->allow);
    memcpy(s->coord_key, s->kp.pub, SEC_KEY_BYTES);
    for (int i = 0; i < n; i++) {
        char dir[512], name[32];
        cli_sec_local_dir(s, i, dir, sizeof dir);
        snprintf(name, sizeof name, "local-%d", i);
        sec_keypair_t kp;
        int rc = keydir_generate(dir, &kp, &err);
        if (!rc)
            rc = sec_allow_add_named(s->allow, kp.pub, name, &err);
        explicit_bzero(&kp, sizeof kp);
        if (rc)
            goto fail;
    }
    s->on = 1;
    return 0;
fail:
    fprintf(stderr, "error: ephemeral keys: %s\n", s->allow ? err.msg : "out of memory");
    return 1;
}

void cli_sec_fini(cli_sec_t *s, int n_local)
{
    if (s->tmp_dir[0]) {
        for (int i = 0; i < n_local; i++) {
            char dir[512], path[600];
            cli_sec_local_dir(s, i, dir, sizeof dir);
            snprintf(path, sizeof path, "%s/%s", dir, KEYDIR_SECRET);
            unlink(path);
            snprintf(path, sizeof path, "%s/%s", dir, KEYDIR_PUBLIC);
            unlink(path);
            rmdir(dir);
        }
        rmdir(s->tmp_dir);
    }
    free(s->allow);
    explicit_bzero(s, sizeof *s);
}
