/*
 * coord_secure.h — CURVE on the coordinator: its ZAP handler (the allow-list of
 * workers), checking that a HELLO comes from the key it names, and the keys a
 * deployment and a profile hand to the workers.  coord.c and coord_plan.c call
 * these hooks; each is a no-op when the coordinator runs without CURVE
 * (coord_opts_t.curve == NULL).
 *
 * Admission: the ROUTER is a CURVE server whose ZAP handler admits only keys on
 * the allow-list, so a device with another key never completes the handshake,
 * never gets a HELLO through and so never a deployment or data.  A HELLO must
 * also carry the very key the handshake authenticated (its frames' user id).
 *
 * Keys handed out: each route of a DEPLOY carries the server key of the stage it
 * points to, and its peers list the keys of every stage that sends to it (so
 * its ZAP handler admits exactly them).  Before profiling, PEER_KEYS gives every
 * worker the keys of all the others, for the link probes.
 */
#ifndef LL_COORD_COORD_SECURE_H
#define LL_COORD_COORD_SECURE_H

#include "coord/coord_internal.h"

/* Starts the ZAP handler (before the ROUTER binds) and sets the ROUTER's options. */
int coord_sec_start(coord_t *c, net_opts_t *router_opts, err_t *err);
/* Stops the ZAP handler (before the context terminates). */
void coord_sec_stop(coord_t *c);
/* 0 when the HELLO just received (c->rx) may register; ERR_STATE naming why not. */
int coord_sec_admit(coord_t *c, const msg_t *hello, err_t *err);
/* Fills the route keys and the peers of stage s's DEPLOY (routes already set). */
int coord_sec_deploy_keys(coord_t *c, int s, msg_deploy_t *d, err_t *err);
/* 1 when every live worker has acknowledged every PEER_KEYS sent to it: its data allow-list holds the keys, so
 * a probe connecting to it now is not refused (a refused CURVE handshake is never retried by libzmq). */
int coord_sec_keys_in_place(const coord_t *c);
/* Sends worker i the keys of every other worker's data endpoint (PEER_KEYS). */
int coord_sec_send_peer_keys(coord_t *c, int worker, err_t *err);

#endif
