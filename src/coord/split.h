/*
 * split.h — fixed unit ranges for the ring: the even split by weight bytes
 * (the baseline LinguaLinked compares against, and the default until a plan
 * is made) and parsing of hand-written ranges ("0-5,5-9,9-12").
 */
#ifndef LL_COORD_SPLIT_H
#define LL_COORD_SPLIT_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    int begin, end;   /* units [begin, end); begin == end: the device holds nothing */
} unit_range_t;

/* Splits n_units units with the given weight bytes into n_devices contiguous
 * ranges of nearly equal bytes, every range non-empty when n_units >= n_devices. */
int split_even(const size_t *unit_bytes, int n_units, int n_devices, unit_range_t *ranges, err_t *err);

/* Parses "A-B,C-D,...": exactly n_devices ranges that together cover 0..n_units
 * in order (empty ranges "A-A" allowed). */
int split_parse(const char *text, int n_units, int n_devices, unit_range_t *ranges, err_t *err);

#endif
