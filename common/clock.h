/*
 * The monotonic clock, read in one place for every room: deadlines, token
 * and cache lifetimes, retry and mirror timers.  CLOCK_MONOTONIC never
 * steps with the wall clock, so setting the date neither expires nor
 * revives anything.  The zero point is arbitrary (boot): compare and
 * subtract readings, never show them.
 */
#ifndef REGFS_COMMON_CLOCK_H
#define REGFS_COMMON_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t mono_now_ns(void);

/* Monotonic seconds, with the fraction (the same reading as mono_now_ns). */
double mono_now(void);

#endif
