/*
 * security.c — CURVE keys, key files, socket options and the ZAP handler; the
 * contract is in security.h.
 *
 * The ZAP handler is a ROUTER bound to inproc://zeromq.zap.01 plus a PAIR pipe
 * from the creating thread; its thread polls both and exits on "$TERM" from the
 * pipe (or when the context terminates).  A ROUTER rather than a REP, so a
 * request we cannot parse can be dropped without wedging a REP state machine.
 * Replies carry the client's Z85 public key as user id, which libzmq attaches
 * to every message from that peer as the "User-Id" property.
 */
#include "net/security.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define KEY_FILE_MAX 4096   /* a key file is one line and some comments */
#define ZAP_MAX_PARTS 12    /* routing id, delimiter, 6 request fields, credentials */

int sec_available(void) { return zmq_has("curve") ? 1 : 0; }

void sec_key_to_z85(const uint8_t key[SEC_KEY_BYTES], char out[SEC_Z85_LEN + 1])
{
    zmq_z85_encode(out, key, SEC_KEY_BYTES);
}

int sec_key_from_z85(const char *z85, uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    if (!z85 || strlen(z85) != SEC_Z85_LEN)
        return err_set(err, ERR_FORMAT, "key text has %zu characters, want %d Z85 characters",
                       z85 ? strlen(z85) : 0, SEC_Z85_LEN);
    if (!zmq_z85_decode(key, z85))
        return err_set(err, ERR_FORMAT, "key text '%.40s' is not valid Z85", z85);
    return 0;
}

int sec_keypair_generate(sec_keypair_t *kp, err_t *err)
{
    if (!sec_available())
        return err_set(err, ERR_UNSUP, "this libzmq was built without CURVE");
    char pub[SEC_Z85_LEN + 1], sec[SEC_Z85_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        return err_set(err, ERR_IO, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
    int rc = sec_key_from_z85(pub, kp->pub, err);
    if (!rc)
        rc = sec_key_from_z85(sec, kp->sec, err);
    explicit_bzero(sec, sizeof sec);
    return rc;
}

/* ---- key files ---- */

static int write_key_file(const char *path, const char *comment, const uint8_t key[SEC_KEY_BYTES], mode_t mode,
                          err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    char text[256];
    char z85[SEC_Z85_LEN + 1];
    sec_key_to_z85(key, z85);
    int len = snprintf(text, sizeof text, "# %s\n%s\n", comment, z85);
    int rc = 0;
    /* fchmod too: O_CREAT's mode does not apply to a file that already existed. */
    if (fchmod(fd, mode) != 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    explicit_bzero(text, sizeof text);
    explicit_bzero(z85, sizeof z85);
    return rc;
}

int sec_keypair_save(const sec_keypair_t *kp, const char *pub_path, const char *sec_path, err_t *err)
{
    if (!kp || !pub_path || !sec_path)
        return err_set(err, ERR_INVAL, "sec_keypair_save: NULL argument");
    int rc = write_key_file(sec_path, "LinguaLinked CURVE secret key: keep private", kp->sec, 0600, err);
    if (!rc)
        rc = write_key_file(pub_path, "LinguaLinked CURVE public key", kp->pub, 0644, err);
    return rc;
}

/* Reads a small file whole into buf (NUL-terminated).  When private_file is set,
 * refuses a file that group or others may read. */
static int read_small(const char *path, char *buf, size_t cap, bool private_file, err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = err_set(err, ERR_IO, "%s: not a regular file", path);
    else if (private_file && (st.st_mode & 077))
        rc = err_set(err, ERR_STATE, "%s: secret key file has mode %04o, readable by others; want 0600", path,
                     (unsigned)(st.st_mode & 07777));
    else if ((uint64_t)st.st_size >= cap)
        rc = err_set(err, ERR_FORMAT, "%s: %lld bytes, a key file has at most %zu", path, (long long)st.st_size,
                     cap - 1);
    size_t got = 0;
    while (!rc && got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return rc;
}

/* Next non-blank, non-comment line of text at *pos, stripped of surrounding
 * blanks, into line[cap]; 0 at end of text, 1 for a line, -1 for a line too long. */
static int next_line(const char *text, size_t *pos, char *line, size_t cap, int *line_no)
{
    while (text[*pos]) {
        const char *s = text + *pos;
        size_t len = strcspn(s, "\n");
        *pos += len + (s[len] == '\n');
        (*line_no)++;
        while (len && (*s == ' ' || *s == '\t' || *s == '\r')) {
            s++;
            len--;
        }
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
            len--;
        if (len == 0 || *s == '#')
            continue;
        if (len >= cap)
            return -1;
        memcpy(line, s, len);
        line[len] = '\0';
        return 1;
    }
    return 0;
}

/* The single key of a key file. */
static int parse_key_file(const char *path, const char *text, uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    size_t pos = 0;
    int line_no = 0;
    char line[SEC_Z85_LEN + 2];
    int r = next_line(text, &pos, line, sizeof line, &line_no);
    int rc = 0;
    if (r == 0)
        rc = err_set(err, ERR_FORMAT, "%s: no key in the file", path);
    else if (r < 0)
        rc = err_set(err, ERR_FORMAT, "%s:%d: line longer than a %d-character Z85 key", path, line_no, SEC_Z85_LEN);
    else if (sec_key_from_z85(line, key, err))
        rc = err_prefix(err, "%s:%d", path, line_no);
    else if (next_line(text, &pos, line, sizeof line, &line_no) != 0)
        rc = err_set(err, ERR_FORMAT, "%s:%d: more than one key in the file", path, line_no);
    explicit_bzero(line, sizeof line);
    return rc;
}

int sec_keypair_load(sec_keypair_t *kp, const char *sec_path, err_t *err)
{
    if (!kp || !sec_path)
        return err_set(err, ERR_INVAL, "sec_keypair_load: NULL argument");
    if (!sec_available())
        return err_set(err, ERR_UNSUP, "this libzmq was built without CURVE");
    char text[KEY_FILE_MAX];
    int rc = read_small(sec_path, text, sizeof text, true, err);
    if (!rc)
        rc = parse_key_file(sec_path, text, kp->sec, err);
    explicit_bzero(text, sizeof text);
    if (rc)
        return rc;
    char sec[SEC_Z85_LEN + 1], pub[SEC_Z85_LEN + 1];
    sec_key_to_z85(kp->sec, sec);
    if (zmq_curve_public(pub, sec) != 0)
        rc = err_set(err, ERR_IO, "zmq_curve_public: %s", zmq_strerror(zmq_errno()));
    else
        rc = sec_key_from_z85(pub, kp->pub, err);
    explicit_bzero(sec, sizeof sec);
    return rc;
}

int sec_public_load(uint8_t pub[SEC_KEY_BYTES], const char *path, err_t *err)
{
    if (!pub || !path)
        return err_set(err, ERR_INVAL, "sec_public_load: NULL argument");
    char text[KEY_FILE_MAX];
    int rc = read_small(path, text, sizeof text, false, err);
    return rc ? rc : parse_key_file(path, text, pub, err);
}

/* ---- socket options ---- */

static int set_opt(void *sock, int opt, const void *val, size_t len, const char *name, err_t *err)
{
    if (zmq_setsockopt(sock, opt, val, len) != 0)
        return err_set(err, ERR_IO, "zmq_setsockopt(%s): %s", name, zmq_strerror(zmq_errno()));
    return 0;
}

int sec_server_apply(void *sock, const sec_keypair_t *kp, err_t *err)
{
    if (!sock || !kp)
        return err_set(err, ERR_INVAL, "sec_server_apply: NULL argument");
    if (!sec_available())
        return err_set(err, ERR_UNSUP, "this libzmq was built without CURVE");
    int one = 1;
    int rc = set_opt(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER", err);
    if (!rc)
        rc = set_opt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, SEC_KEY_BYTES, "ZMQ_CURVE_SECRETKEY", err);
    if (!rc)
        rc = set_opt(sock, ZMQ_ZAP_DOMAIN, SEC_ZAP_DOMAIN, strlen(SEC_ZAP_DOMAIN), "ZMQ_ZAP_DOMAIN", err);
    return rc;
}

int sec_client_apply(void *sock, const sec_keypair_t *kp, const uint8_t server_pub[SEC_KEY_BYTES], err_t *err)
{
    if (!sock || !kp || !server_pub)
        return err_set(err, ERR_INVAL, "sec_client_apply: NULL argument");
    if (!sec_available())
        return err_set(err, ERR_UNSUP, "this libzmq was built without CURVE");
    int rc = set_opt(sock, ZMQ_CURVE_SERVERKEY, server_pub, SEC_KEY_BYTES, "ZMQ_CURVE_SERVERKEY", err);
    if (!rc)
        rc = set_opt(sock, ZMQ_CURVE_PUBLICKEY, kp->pub, SEC_KEY_BYTES, "ZMQ_CURVE_PUBLICKEY", err);
    if (!rc)
        rc = set_opt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, SEC_KEY_BYTES, "ZMQ_CURVE_SECRETKEY", err);
    return rc;
}

/* ---- allow-list ---- */

void sec_allow_init(sec_allow_t *a) { a->n = 0; }

bool sec_allow_has(const sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES])
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->keys[i], key, SEC_KEY_BYTES) == 0)
            return true;
    return false;
}

const char *sec_allow_name(const sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES])
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->keys[i], key, SEC_KEY_BYTES) == 0)
            return a->names[i];
    return NULL;
}

int sec_allow_add_named(sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES], const char *name, err_t *err)
{
    if (sec_allow_has(a, key))
        return 0;
    if (a->n >= SEC_MAX_KEYS)
        return err_set(err, ERR_RANGE, "allow-list is full: %d keys", SEC_MAX_KEYS);
    memcpy(a->keys[a->n], key, SEC_KEY_BYTES);
    snprintf(a->names[a->n], sizeof a->names[0], "%s", name ? name : "");
    a->n++;
    return 0;
}

int sec_allow_add(sec_allow_t *a, const uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    return sec_allow_add_named(a, key, NULL, err);
}

int sec_endpoint_is_loopback(const char *ep)
{
    if (!ep)
        return 0;
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *h = ep + 6;
    const char *semi = strchr(h, ';');   /* "tcp://SRC;DST": the destination decides */
    if (semi)
        h = semi + 1;
    return !strncmp(h, "127.", 4) || !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6);
}

/* One allow-list line (without its newline): blank, comment, or "KEY [NAME]". */
static int allow_line(sec_allow_t *a, const char *path, int line_no, char *buf, err_t *err)
{
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        s[--len] = '\0';
    if (len == 0 || *s == '#')
        return 0;
    size_t klen = strcspn(s, " \t");
    char *name = s + klen;
    while (*name == ' ' || *name == '\t')
        name++;
    if (klen != SEC_Z85_LEN)
        return err_set(err, ERR_FORMAT, "%s:%d: '%.*s' is not a %d-character Z85 key", path, line_no,
                       (int)(klen > 48 ? 48 : klen), s, SEC_Z85_LEN);
    s[klen] = '\0';
    uint8_t key[SEC_KEY_BYTES];
    if (sec_key_from_z85(s, key, err))
        return err_prefix(err, "%s:%d", path, line_no);
    if (strlen(name) > SEC_NAME_MAX || strcspn(name, " \t") != strlen(name))
        return err_set(err, ERR_FORMAT, "%s:%d: the name after the key must be one word of at most %d characters",
                       path, line_no, SEC_NAME_MAX);
    return sec_allow_add_named(a, key, name, err);
}

int sec_allow_load(sec_allow_t *a, const char *path, err_t *err)
{
    if (!a || !path)
        return err_set(err, ERR_INVAL, "sec_allow_load: NULL argument");
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    char buf[256];
    int line_no = 0, rc = 0;
    while (!rc && fgets(buf, sizeof buf, f)) {
        line_no++;
        char *nl = strchr(buf, '\n');
        if (!nl && !feof(f)) {
            rc = err_set(err, ERR_FORMAT, "%s:%d: line longer than %zu bytes", path, line_no, sizeof buf - 2);
            break;
        }
        if (nl)
            *nl = '\0';
        rc = allow_line(a, path, line_no, buf, err);
    }
    if (!rc && ferror(f))
        rc = err_set(err, ERR_IO, "%s: read error", path);
    fclose(f);
    return rc;
}

/* ---- ZAP handler ---- */

struct sec_zap {
    void *zap;              /* ROUTER on ZAP_ENDPOINT; used by the thread only once it runs */
    void *pipe_main;        /* PAIR, creator's end */
    void *pipe_thread;      /* PAIR, thread's end */
    pthread_t thread;
    pthread_mutex_t lock;   /* guards allow and the counters */
    sec_allow_t allow;
    uint64_t allowed, denied;
    char label[64];         /* "" : refusals are not logged */
};

static bool part_is(const zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size((zmq_msg_t *)m) == n && memcmp(zmq_msg_data((zmq_msg_t *)m), s, n) == 0;
}

/* Receives one request (all parts) and answers it.  Request frames after the
 * routing id: "" | "1.0" | request id | domain | address | routing id |
 * mechanism | credentials…  Reply: "" | "1.0" | request id | status | text |
 * user id | metadata. */
static void zap_serve_one(struct sec_zap *z)
{
    zmq_msg_t part[ZAP_MAX_PARTS];
    size_t n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *m = &part[n < ZAP_MAX_PARTS ? n : ZAP_MAX_PARTS - 1];
        if (n >= ZAP_MAX_PARTS)
            zmq_msg_close(m);   /* too many parts: keep overwriting the last slot */
        zmq_msg_init(m);
        if (zmq_msg_recv(m, z->zap, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (n < ZAP_MAX_PARTS)
            n++;
    }
    /* Only a well-formed request gets a reply; libzmq is the only client. */
    if (n >= 9 && more == 0 && zmq_msg_size(&part[1]) == 0 && part_is(&part[2], "1.0")) {
        bool ok = false;
        char user[SEC_Z85_LEN + 1] = "";
        if (part_is(&part[7], "CURVE") && zmq_msg_size(&part[8]) == SEC_KEY_BYTES) {
            const uint8_t *key = zmq_msg_data(&part[8]);
            pthread_mutex_lock(&z->lock);
            ok = sec_allow_has(&z->allow, key);
            pthread_mutex_unlock(&z->lock);
            sec_key_to_z85(key, user);
        }
        pthread_mutex_lock(&z->lock);
        if (ok)
            z->allowed++;
        else
            z->denied++;
        if (!ok && z->label[0]) {
            size_t alen = zmq_msg_size(&part[5]);
            fprintf(stderr, "%s: refused a %.*s client at %.*s: key %s is not on the allow-list\n", z->label,
                    (int)(zmq_msg_size(&part[7]) > 16 ? 16 : zmq_msg_size(&part[7])),
                    (const char *)zmq_msg_data(&part[7]), (int)(alen > 64 ? 64 : alen),
                    (const char *)zmq_msg_data(&part[5]), user[0] ? user : "(none: not CURVE)");
        }
        pthread_mutex_unlock(&z->lock);
        const char *status = ok ? "200" : "400";
        const char *text = ok ? "OK" : "key not on the allow-list";
        zmq_send(z->zap, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]), ZMQ_SNDMORE);
        zmq_send(z->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(z->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->zap, zmq_msg_data(&part[3]), zmq_msg_size(&part[3]), ZMQ_SNDMORE);
        zmq_send(z->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(z->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(z->zap, user, ok ? strlen(user) : 0, ZMQ_SNDMORE);
        zmq_send(z->zap, "", 0, 0);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

static void *zap_main(void *arg)
{
    struct sec_zap *z = arg;
    for (;;) {
        zmq_pollitem_t items[2] = {{z->zap, 0, ZMQ_POLLIN, 0}, {z->pipe_thread, 0, ZMQ_POLLIN, 0}};
        /* No timeout: the pipe ends the wait ($TERM), and a terminated context ends it with ETERM. */
        int rc = zmq_poll(items, 2, -1);
        if (rc < 0 && zmq_errno() == EINTR)
            continue;
        if (rc < 0 || (items[1].revents & ZMQ_POLLIN))
            break;
        if (items[0].revents & ZMQ_POLLIN)
            zap_serve_one(z);
    }
    zmq_close(z->zap);
    zmq_close(z->pipe_thread);
    return NULL;
}

int sec_zap_create(void *ctx, const sec_allow_t *allow, sec_zap_t **out, err_t *err)
{
    if (!ctx || !out)
        return err_set(err, ERR_INVAL, "sec_zap_create: NULL argument");
    *out = NULL;
    struct sec_zap *z = calloc(1, sizeof *z);
    if (!z)
        return err_set(err, ERR_NOMEM, "sec_zap_create: out of memory");
    if (allow)
        z->allow = *allow;
    int zero = 0, rc = 0;
    char pipe_ep[64];
    snprintf(pipe_ep, sizeof pipe_ep, "inproc://ll-sec-zap-%p", (void *)z);
    z->zap = zmq_socket(ctx, ZMQ_ROUTER);
    z->pipe_main = zmq_socket(ctx, ZMQ_PAIR);
    z->pipe_thread = zmq_socket(ctx, ZMQ_PAIR);
    if (!z->zap || !z->pipe_main || !z->pipe_thread) {
        rc = err_set(err, ERR_IO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    zmq_setsockopt(z->zap, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z->pipe_main, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z->pipe_thread, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(z->zap, ZAP_ENDPOINT) != 0) {
        int e = zmq_errno();
        rc = err_set(err, e == EADDRINUSE ? ERR_STATE : ERR_IO, "zmq_bind(%s): %s%s", ZAP_ENDPOINT, zmq_strerror(e),
                     e == EADDRINUSE ? " (this context already has a ZAP handler)" : "");
        goto fail;
    }
    if (zmq_bind(z->pipe_main, pipe_ep) != 0 || zmq_connect(z->pipe_thread, pipe_ep) != 0) {
        rc = err_set(err, ERR_IO, "ZAP pipe %s: %s", pipe_ep, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_mutex_init(&z->lock, NULL) != 0) {
        rc = err_set(err, ERR_NOMEM, "sec_zap_create: pthread_mutex_init failed");
        goto fail;
    }
    /* The thread takes over z->zap and z->pipe_thread; pthread_create is the memory barrier libzmq asks for. */
    int e = pthread_create(&z->thread, NULL, zap_main, z);
    if (e != 0) {
        pthread_mutex_destroy(&z->lock);
        rc = err_set(err, ERR_NOMEM, "sec_zap_create: pthread_create: %s", strerror(e));
        goto fail;
    }
    *out = z;
    return 0;
fail:
    if (z->zap)
        zmq_close(z->zap);
    if (z->pipe_main)
        zmq_close(z->pipe_main);
    if (z->pipe_thread)
        zmq_close(z->pipe_thread);
    free(z);
    return rc;
}

int sec_zap_allow(sec_zap_t *z, const uint8_t key[SEC_KEY_BYTES], err_t *err)
{
    if (!z || !key)
        return err_set(err, ERR_INVAL, "sec_zap_allow: NULL argument");
    pthread_mutex_lock(&z->lock);
    int rc = sec_allow_add(&z->allow, key, err);
    pthread_mutex_unlock(&z->lock);
    return rc;
}

void sec_zap_set(sec_zap_t *z, const sec_allow_t *allow)
{
    pthread_mutex_lock(&z->lock);
    if (allow)
        z->allow = *allow;
    else
        sec_allow_init(&z->allow);
    pthread_mutex_unlock(&z->lock);
}

void sec_zap_set_label(sec_zap_t *z, const char *label)
{
    pthread_mutex_lock(&z->lock);
    snprintf(z->label, sizeof z->label, "%s", label ? label : "");
    pthread_mutex_unlock(&z->lock);
}

void sec_zap_counts(sec_zap_t *z, uint64_t *allowed, uint64_t *denied)
{
    pthread_mutex_lock(&z->lock);
    if (allowed)
        *allowed = z->allowed;
    if (denied)
        *denied = z->denied;
    pthread_mutex_unlock(&z->lock);
}

void sec_zap_destroy(sec_zap_t **zp)
{
    if (!zp || !*zp)
        return;
    struct sec_zap *z = *zp;
    zmq_send(z->pipe_main, "$TERM", 5, 0);
    pthread_join(z->thread, NULL);
    zmq_close(z->pipe_main);
    pthread_mutex_destroy(&z->lock);
    free(z);
    *zp = NULL;
}
