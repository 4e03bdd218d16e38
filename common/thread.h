/*
 * Names for regfs's own threads.  Each thread that regfs starts names
 * itself ("regfs-<role>", at most 15 bytes) as it begins, so that `top -H`,
 * a debugger and /proc/PID/task/TID/comm tell them apart from libfuse's
 * workers and curl's resolver threads, which keep the process's name.
 * The soak test counts them apart: libfuse keeps up to its max_threads
 * workers for good, while every regfs thread must come and go with work.
 */
#ifndef REGFS_COMMON_THREAD_H
#define REGFS_COMMON_THREAD_H

#include <pthread.h>

/* Name the calling thread @name (a string literal of at most 15 bytes).
 * Best effort: a name that cannot be set changes nothing else. */
static inline void thread_name_set(const char *name)
{
	(void)pthread_setname_np(pthread_self(), name);
}

#endif
