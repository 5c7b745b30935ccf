/*
 * worker_secure.c — CURVE roles, the peer key book, the data allow-list and
 * the control handshake monitor of a worker (see worker_secure.h).
 */
#include "node/worker_secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define BOOK_MAX (2 * MSG_MAX_PEERS)
#define FAILED_HANDSHAKES 3   /* disconnects without a handshake before we call it refused */

struct worker_sec {
    sec_keypair_t kp;
    uint8_t coord_key[SEC_KEY_BYTES];
    char name[MSG_NAME_MAX + 1];
    char coordinator[MSG_ENDPOINT_MAX + 1];
    sec_zap_t *zap;
    void *mon;                              /* PAIR reading the DEALER's monitor events */
    int handshakes, failures;
    /* endpoint -> server key */
    int n_book;
    char book_ep[BOOK_MAX][MSG_ENDPOINT_MAX + 1];
    uint8_t book_key[BOOK_MAX][SEC_KEY_BYTES];
    /* admitted senders (Z85): the deployment's peers, and PEER_KEYS keys for probes */
    int deployed, n_peers, n_probers;
    char peers[MSG_MAX_PEERS][SEC_Z85_LEN + 1];
    char probers[MSG_MAX_PEERS][SEC_Z85_LEN + 1];
};

int wsec_create(void *zctx, const sec_keypair_t *kp, const uint8_t coord_key[SEC_KEY_BYTES], const char *name,
                worker_sec_t **out, err_t *err)
{
    *out = NULL;
    worker_sec_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        return err_set(err, ERR_NOMEM, "out of memory");
    ws->kp = *kp;
    memcpy(ws->coord_key, coord_key, SEC_KEY_BYTES);
    snprintf(ws->name, sizeof ws->name, "%s", name);
    int rc = sec_zap_create(zctx, NULL, &ws->zap, err);
    if (rc) {
        free(ws);
        return rc;
    }
    char label[96];
    snprintf(label, sizeof label, "worker %s (data socket)", ws->name);
    sec_zap_set_label(ws->zap, label);
    *out = ws;
    return 0;
}

void wsec_destroy(worker_sec_t **wsp)
{
    if (!wsp || !*wsp)
        return;
    worker_sec_t *ws = *wsp;
    if (ws->mon)
        zmq_close(ws->mon);
    sec_zap_destroy(&ws->zap);
    explicit_bzero(&ws->kp, sizeof ws->kp);
    free(ws);
    *wsp = NULL;
}

void wsec_pull_opts(const worker_sec_t *ws, net_opts_t *o)
{
    if (ws)
        o->curve = &ws->kp;
}

void wsec_dealer_opts(const worker_sec_t *ws, net_opts_t *o)
{
    if (!ws)
        return;
    o->curve = &ws->kp;
    o->curve_server_key = ws->coord_key;
}

static int book_find(const worker_sec_t *ws, const char *endpoint)
{
    for (int i = 0; i < ws->n_book; i++)
        if (!strcmp(ws->book_ep[i], endpoint))
            return i;
    return -1;
}

static void book_put(worker_sec_t *ws, const char *endpoint, const uint8_t key[SEC_KEY_BYTES])
{
    int i = book_find(ws, endpoint);
    if (i < 0) {
        if (ws->n_book == BOOK_MAX) {   /* full: forget the oldest */
            memmove(ws->book_ep[0], ws->book_ep[1], sizeof ws->book_ep[0] * (BOOK_MAX - 1));
            memmove(ws->book_key[0], ws->book_key[1], sizeof ws->book_key[0] * (BOOK_MAX - 1));
            ws->n_book--;
        }
        i = ws->n_book++;
        snprintf(ws->book_ep[i], sizeof ws->book_ep[i], "%s", endpoint);
    }
    memcpy(ws->book_key[i], key, SEC_KEY_BYTES);
}

int wsec_push_opts(const worker_sec_t *ws, const char *endpoint, net_opts_t *o, err_t *err)
{
    if (!ws)
        return 0;
    int i = book_find(ws, endpoint);
    if (i < 0)
        return err_set(err, ERR_NOTFOUND, "no CURVE key known for the data endpoint %s", endpoint);
    o->curve = &ws->kp;
    o->curve_server_key = ws->book_key[i];
    return 0;
}

int wsec_watch(worker_sec_t *ws, void *zctx, void *dealer, const char *coordinator, err_t *err)
{
    if (!ws)
        return 0;
    snprintf(ws->coordinator, sizeof ws->coordinator, "%s", coordinator);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://ll-wsec-mon-%p", (void *)ws);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor(dealer, ep, events) != 0)
        return err_set(err, ERR_IO, "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    ws->mon = zmq_socket(zctx, ZMQ_PAIR);
    int zero = 0;
    if (!ws->mon || zmq_setsockopt(ws->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(ws->mon, ep) != 0)
        return err_set(err, ERR_IO, "monitor %s: %s", ep, zmq_strerror(zmq_errno()));
    return 0;
}

int wsec_poll(worker_sec_t *ws, err_t *err)
{
    if (!ws || !ws->mon)
        return 0;
    for (int k = 0; k < 16; k++) {
        uint8_t ev[6];
        int n = zmq_recv(ws->mon, ev, sizeof ev, ZMQ_DONTWAIT);
        if (n < 0)
            return 0;
        char addr[256];
        int more = 0;
        size_t len = sizeof more;
        zmq_getsockopt(ws->mon, ZMQ_RCVMORE, &more, &len);
        if (more)
            zmq_recv(ws->mon, addr, sizeof addr, 0);   /* the endpoint frame: not needed */
        if (n < 6)
            continue;
        uint16_t event = (uint16_t)(ev[0] | ev[1] << 8);
        uint32_t value = (uint32_t)ev[2] | (uint32_t)ev[3] << 8 | (uint32_t)ev[4] << 16 | (uint32_t)ev[5] << 24;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            ws->handshakes++;
            ws->failures = 0;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            return err_set(err, ERR_STATE,
                           "the coordinator at %s refused this device's key (status %u): add this device's "
                           "lingua.pub to the coordinator's --allow file", ws->coordinator, value);
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                   (event == ZMQ_EVENT_DISCONNECTED && ws->handshakes == 0)) {
            if (++ws->failures >= FAILED_HANDSHAKES)
                return err_set(err, ERR_STATE,
                               "no secure handshake with the coordinator at %s (%d attempts failed): check "
                               "--coordinator-key, and that the coordinator runs with --secure", ws->coordinator,
                               ws->failures);
        }
    }
    return 0;
}

void wsec_fill_hello(const worker_sec_t *ws, msg_hello_t *h)
{
    if (!ws)
        return;
    h->has_key = true;
    memcpy(h->key, ws->kp.pub, SEC_KEY_BYTES);
}

/* The ZAP list: the deployment's peers and the probing peers (PEER_KEYS since the last deployment). */
static void update_zap(worker_sec_t *ws)
{
    sec_allow_t *a = malloc(sizeof *a);
    if (!a)
        return;   /* out of memory: the previous list stays */
    sec_allow_init(a);
    err_t ignored;
    for (int i = 0; i < ws->n_peers + ws->n_probers; i++) {
        const char *z = i < ws->n_peers ? ws->peers[i] : ws->probers[i - ws->n_peers];
        uint8_t key[SEC_KEY_BYTES];
        if (sec_key_from_z85(z, key, &ignored) == 0)
            sec_allow_add(a, key, &ignored);
    }
    sec_zap_set(ws->zap, a);
    free(a);
}

void wsec_on_peer_keys(worker_sec_t *ws, const msg_peer_keys_t *pk)
{
    if (!ws)
        return;
    ws->n_probers = 0;
    for (uint32_t i = 0; i < pk->n && i < MSG_MAX_PEERS; i++) {
        book_put(ws, pk->peer[i].endpoint, pk->peer[i].key);
        sec_key_to_z85(pk->peer[i].key, ws->probers[ws->n_probers++]);
    }
    update_zap(ws);
}

int wsec_on_deploy(worker_sec_t *ws, const msg_deploy_t *d, err_t *err)
{
    if (!ws)
        return 0;
    for (uint32_t r = 0; r < d->n_routes; r++) {
        if (!d->routes[r].has_key)
            return err_set(err, ERR_PROTO, "DEPLOY: route to %s carries no CURVE key (is the coordinator secure?)",
                           d->routes[r].endpoint);
        book_put(ws, d->routes[r].endpoint, d->routes[r].key);
    }
    ws->n_peers = 0;
    for (uint32_t i = 0; i < d->n_peers && i < MSG_MAX_PEERS; i++)
        sec_key_to_z85(d->peers[i], ws->peers[ws->n_peers++]);
    ws->n_probers = 0;   /* a deployment ends profiling */
    ws->deployed = 1;
    update_zap(ws);
    return 0;
}

static int in_list(const char (*list)[SEC_Z85_LEN + 1], int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], id))
            return 1;
    return 0;
}

int wsec_sender_ok(const worker_sec_t *ws, net_rx_t *rx, const msg_t *m, err_t *err)
{
    if (!ws)
        return 0;
    const char *id = net_rx_user_id(rx);
    if (!id)
        return err_set(err, ERR_STATE, "%s without an authenticated key dropped", msg_type_name(m->type));
    if (ws->deployed && m->type != MSG_PROBE && in_list((const char (*)[SEC_Z85_LEN + 1])ws->peers, ws->n_peers, id))
        return 0;
    if (m->type == MSG_PROBE &&
        (in_list((const char (*)[SEC_Z85_LEN + 1])ws->probers, ws->n_probers, id) ||
         in_list((const char (*)[SEC_Z85_LEN + 1])ws->peers, ws->n_peers, id)))
        return 0;
    return err_set(err, ERR_STATE, "%s from key %s, which is not a peer of this stage's deployment: dropped",
                   msg_type_name(m->type), id);
}
