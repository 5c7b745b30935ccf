/*
 * coord_secure.c — the coordinator's CURVE hooks (see coord_secure.h).
 */
#include "coord/coord_secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int coord_sec_start(coord_t *c, net_opts_t *o, err_t *err)
{
    if (!c->o.curve)
        return 0;
    int rc = sec_zap_create(c->zctx, c->o.allow, &c->zap, err);
    if (rc)
        return rc;
    sec_zap_set_label(c->zap, "coordinator");
    o->curve = c->o.curve;
    return 0;
}

void coord_sec_stop(coord_t *c) { sec_zap_destroy(&c->zap); }

int coord_sec_admit(coord_t *c, const msg_t *m, err_t *err)
{
    if (!c->o.curve)
        return 0;
    const char *id = net_rx_user_id(&c->rx);
    char named[SEC_Z85_LEN + 1] = "";
    if (m->hello.has_key)
        sec_key_to_z85(m->hello.key, named);
    if (!id || !m->hello.has_key || strcmp(id, named) != 0)
        return err_set(err, ERR_STATE, "HELLO from %s names key '%s' but the connection authenticated '%s': refused",
                       m->hello.device, named, id ? id : "(none)");
    const char *name = c->o.allow ? sec_allow_name(c->o.allow, m->hello.key) : NULL;
    if (!name)   /* the ZAP handler admitted it, so this only happens if the lists differ */
        return err_set(err, ERR_STATE, "worker %s: key %s is not on the allow-list", m->hello.device, named);
    if (name[0] && strcmp(name, m->hello.device) != 0)
        fprintf(stderr, "coordinator: worker '%s' has the key of '%s' on the allow-list\n", m->hello.device, name);
    return 0;
}

static const worker_rec_t *worker_at(const coord_t *c, const char *endpoint)
{
    for (int i = 0; i < c->n_workers; i++)
        if (!strcmp(c->workers[i].endpoint, endpoint))
            return &c->workers[i];
    return NULL;
}

int coord_sec_deploy_keys(coord_t *c, int s, msg_deploy_t *d, err_t *err)
{
    if (!c->o.curve)
        return 0;
    for (uint32_t r = 0; r < d->n_routes; r++) {
        const worker_rec_t *to = worker_at(c, d->routes[r].endpoint);
        if (!to || !to->has_key)
            return err_set(err, ERR_STATE, "no CURVE key for the data endpoint %s", d->routes[r].endpoint);
        d->routes[r].has_key = true;
        memcpy(d->routes[r].key, to->key, MSG_KEY_BYTES);
    }
    const char *mine = c->workers[c->stages[s].worker].endpoint;
    msg_deploy_t *other = malloc(sizeof *other);
    if (!other)
        return err_set(err, ERR_NOMEM, "out of memory");
    d->n_peers = 0;
    int rc = 0;
    for (int t = 0; t < c->n_stages && rc == 0; t++) {
        if (t == s)
            continue;
        memset(other, 0, sizeof *other);
        if ((rc = coord_routes_for(c, t, other, err)))
            break;
        for (uint32_t r = 0; r < other->n_routes; r++) {
            if (strcmp(other->routes[r].endpoint, mine) != 0)
                continue;
            if (d->n_peers == MSG_MAX_PEERS) {
                rc = err_set(err, ERR_RANGE, "stage %d has more than %d senders", s, MSG_MAX_PEERS);
                break;
            }
            memcpy(d->peers[d->n_peers++], c->workers[c->stages[t].worker].key, MSG_KEY_BYTES);
            break;
        }
    }
    free(other);
    return rc;
}

int coord_sec_send_peer_keys(coord_t *c, int i, err_t *err)
{
    if (!c->o.curve)
        return 0;
    msg_t m;
    msg_init(&m, MSG_PEER_KEYS);
    for (int k = 0; k < c->n_workers && m.peer_keys.n < MSG_MAX_PEERS; k++) {
        if (k == i || !c->workers[k].has_key)
            continue;
        snprintf(m.peer_keys.peer[m.peer_keys.n].endpoint, sizeof m.peer_keys.peer[0].endpoint, "%s",
                 c->workers[k].endpoint);
        memcpy(m.peer_keys.peer[m.peer_keys.n].key, c->workers[k].key, MSG_KEY_BYTES);
        m.peer_keys.n++;
    }
    int rc = coord_send_to(c, i, &m, err);
    if (rc == 0)
        c->workers[i].keys_sent++;
    return rc;
}

int coord_sec_keys_in_place(const coord_t *c)
{
    for (int k = 0; k < c->n_workers; k++)
        if (coord_worker_alive(c, k) && c->workers[k].keys_acked < c->workers[k].keys_sent)
            return 0;
    return 1;
}
