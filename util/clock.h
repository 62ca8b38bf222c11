/*
 * clock.h - the one clock bootstrap measures with.
 */
#ifndef BS_UTIL_CLOCK_H
#define BS_UTIL_CLOCK_H

/* Milliseconds on the monotonic clock: for deadlines and elapsed times,
 * never for dates. */
long long bs_now_ms(void);

#endif
