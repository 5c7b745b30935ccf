/*
 * split.c — even and hand-written unit ranges (see split.h).
 *
 * The even split walks the units once, closing device k's range at the unit
 * boundary nearest to the cumulative target (k+1)·total/n, while leaving at
 * least one unit for every later device.
 */
#include "coord/split.h"

#include <errno.h>
#include <stdlib.h>

int split_even(const size_t *unit_bytes, int n_units, int n_devices, unit_range_t *ranges, err_t *err)
{
    if (n_devices < 1 || n_units < 1)
        return err_set(err, ERR_INVAL, "cannot split %d units over %d devices", n_units, n_devices);
    double total = 0;
    for (int u = 0; u < n_units; u++)
        total += (double)unit_bytes[u];
    int at = 0;
    double done = 0;
    for (int k = 0; k < n_devices; k++) {
        ranges[k].begin = at;
        if (k == n_devices - 1) {
            at = n_units;
        } else {
            double target = total * (k + 1) / n_devices;
            int must_leave = n_units - at > n_devices - k ? n_devices - k - 1 : 0;
            /* Take units while doing so brings the cumulative bytes closer to the target. */
            while (at < n_units - must_leave) {
                double next = done + (double)unit_bytes[at];
                if (at > ranges[k].begin && next - target > target - done)
                    break;
                done = next;
                at++;
            }
        }
        ranges[k].end = at;
    }
    return 0;
}

int split_parse(const char *text, int n_units, int n_devices, unit_range_t *ranges, err_t *err)
{
    const char *p = text;
    int expect = 0;
    for (int k = 0; k < n_devices; k++) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10);
        if (end == p || *end != '-')
            return err_set(err, ERR_INVAL, "--ranges '%s': range %d is not of the form A-B", text, k + 1);
        p = end + 1;
        long b = strtol(p, &end, 10);
        if (end == p || errno)
            return err_set(err, ERR_INVAL, "--ranges '%s': range %d is not of the form A-B", text, k + 1);
        if (a != expect || b < a || b > n_units)
            return err_set(err, ERR_INVAL,
                           "--ranges '%s': range %d (%ld-%ld) must start at %d and end within %d, in order",
                           text, k + 1, a, b, expect, n_units);
        ranges[k].begin = (int)a;
        ranges[k].end = (int)b;
        expect = (int)b;
        p = end;
        if (k + 1 < n_devices) {
            if (*p != ',')
                return err_set(err, ERR_INVAL, "--ranges '%s': %d ranges needed, one per worker", text, n_devices);
            p++;
        }
    }
    if (*p != '\0')
        return err_set(err, ERR_INVAL, "--ranges '%s': more ranges than the %d workers", text, n_devices);
    if (expect != n_units)
        return err_set(err, ERR_INVAL, "--ranges '%s': the ranges end at unit %d, the model has %d units", text,
                       expect, n_units);
    return 0;
}
