/*
 * monitor.c — the smoothed stage times (see monitor.h).
 */
#include "coord/monitor.h"

void coord_monitor_reset(coord_monitor_t *m)
{
    m->samples = 0;
    m->compute_s = m->send_s = 0;
}

void coord_monitor_add(coord_monitor_t *m, double compute_s, double send_s)
{
    if (m->samples++ == 0) {
        m->compute_s = compute_s;
        m->send_s = send_s;
        return;
    }
    m->compute_s += COORD_MONITOR_ALPHA * (compute_s - m->compute_s);
    m->send_s += COORD_MONITOR_ALPHA * (send_s - m->send_s);
}
