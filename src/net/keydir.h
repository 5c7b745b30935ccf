/*
 * keydir.h — where a device keeps its CURVE key pair, and how a key is named on
 * the command line.  Owns the directory convention only; the key files
 * themselves (format, modes) belong to security.h.
 *
 * A key directory holds lingua.key (the secret key, mode 0600) and lingua.pub
 * (the public key, one Z85 line, safe to copy to other devices).  The default
 * directory is $XDG_CONFIG_HOME/lingua, else $HOME/.config/lingua.  A key on
 * the command line (--coordinator-key) is either its 40 Z85 characters or the
 * path of a public key file.
 */
#ifndef LL_NET_KEYDIR_H
#define LL_NET_KEYDIR_H

#include <stddef.h>
#include <stdint.h>

#include "net/security.h"
#include "util/err.h"

#define KEYDIR_SECRET "lingua.key"
#define KEYDIR_PUBLIC "lingua.pub"

/* The default key directory into buf (ERR_STATE when neither variable is set,
 * ERR_RANGE when it does not fit). */
int keydir_default(char *buf, size_t cap, err_t *err);

/* Creates dir (mode 0700, parents included) and a fresh key pair in it.
 * ERR_STATE when dir already holds a secret key: an existing identity is never
 * overwritten. */
int keydir_generate(const char *dir, sec_keypair_t *kp, err_t *err);

/* Loads dir's key pair; the error says how to make one when there is none. */
int keydir_load(const char *dir, sec_keypair_t *kp, err_t *err);

/* A key given as 40 Z85 characters or as the path of a public key file. */
int keydir_parse_key(const char *arg, uint8_t key[SEC_KEY_BYTES], err_t *err);

#endif
