/*
 * A pool of threads for work that waits.  Threads are started as work
 * arrives, up to a maximum, and end after a while with nothing to do, so
 * an idle daemon holds none.  Work is queued, never refused for being
 * many: when every thread is busy it waits its turn.  Sized for latency
 * (threads that mostly sleep on the network), not for CPUs.
 */
#ifndef REGFS_COMMON_POOL_H
#define REGFS_COMMON_POOL_H

#include <stddef.h>

struct pool;

typedef void (*pool_fn)(void *arg);

/* A new pool of at most @max_threads threads (at least 1), each with a
 * stack of @stack_bytes (0: the system's default).  0 or -ENOMEM;
 * *out is the caller's, for pool_free. */
int pool_new(unsigned max_threads, size_t stack_bytes, struct pool **out);

/* Run @fn(@arg) on a thread of the pool, soon.  Never blocks.  0, or
 * -errno when the work could not be queued (no memory, or no thread could
 * be started and none runs): then @fn will not run and @arg is still the
 * caller's. */
int pool_submit(struct pool *p, pool_fn fn, void *arg);

/* Run what is queued, wait until every thread has ended, free.  Whoever
 * calls it makes the work end soon first (common/cancel.h's cancel_all).
 * NULL is a no-op. */
void pool_free(struct pool *p);

#endif
