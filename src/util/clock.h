/*
 * clock.h — monotonic wall time and sleeping, in seconds, for timing steps,
 * deadlines and emulated slowdowns.  No state.
 */
#ifndef LL_UTIL_CLOCK_H
#define LL_UTIL_CLOCK_H

/* Seconds on the monotonic clock (an arbitrary origin). */
double clock_now(void);
/* CPU seconds this process has used, all threads (CLOCK_PROCESS_CPUTIME_ID): on a
 * machine shared with other jobs, work per CPU-second is steadier than per second. */
double clock_cpu(void);
/* Sleeps for s seconds (nothing for s <= 0). */
void clock_sleep(double s);

#endif
