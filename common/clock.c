/* The monotonic clock; clock.h has the contract. */
#include "common/clock.h"

#include <time.h>

uint64_t mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double mono_now(void)
{
	return (double)mono_now_ns() / 1e9;
}
