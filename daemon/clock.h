/*
 * clock.h - homad's clock: CLOCK_MONOTONIC in nanoseconds, the `now` that
 * homad's loops pass to the engine and the channel, and the time its
 * uptime and deadlines count from.
 */
#ifndef HOMAD_CLOCK_H
#define HOMAD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t homad_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* HOMAD_CLOCK_H */
