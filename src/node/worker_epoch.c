/*
 * worker_epoch.c — the worker's side of the epoch rules (coord/epoch.h): a
 * data message of the deployed epoch is handled; one of an older epoch was in
 * flight when the plan changed and is dropped (counted, one log line per epoch
 * so a switch does not flood the log); one of a newer epoch cannot be
 * legitimate (the coordinator opens sessions under an epoch only after every
 * stage has deployed it) and is dropped with a log line naming it.
 */
#include <stdio.h>

#include "node/worker_internal.h"

int worker_check_epoch(worker_t *w, const msg_t *m, err_t *err)
{
    if (m->epoch == w->epoch)
        return 0;
    if (m->epoch > w->epoch)
        return err_set(err, ERR_STATE, "%s of epoch %u for session %llu: this worker runs epoch %u (forged or "
                       "confused sender)", msg_type_name(m->type), m->epoch, (unsigned long long)m->session, w->epoch);
    w->stale++;
    if (w->stale_logged != w->epoch) {
        w->stale_logged = w->epoch;
        char text[160];
        snprintf(text, sizeof text, "dropping data of older epochs (first: %s of epoch %u; this worker runs epoch %u)",
                 msg_type_name(m->type), m->epoch, w->epoch);
        worker_log(w, text, NULL);
    }
    return 1;
}
