/*
 * Calling off a wait.  A thread that waits on the network or on another
 * thread's download does so on behalf of someone (a FUSE request, a
 * prefetch), and that someone may go away: the reader pressed Ctrl-C, or
 * the daemon is shutting down.  Every long wait in registry/ and cache/
 * asks cancel_requested() at least every CANCEL_POLL_MS and then ends with
 * -EINTR, so no wait outlives the reason for it by much.
 *
 * The question is per thread: whoever runs work on a thread sets the scope
 * (a check function and its argument) before and clears it after.  The
 * process-wide cancel_all() answers yes on every thread, for shutdown.
 * A thread with no scope is cancelled only by cancel_all().
 *
 * A scope may also say that the thread must not wait at all (no_wait):
 * the FUSE adapter first tries each request on the thread that received
 * it, where only answers at hand may be given, and moves the request to a
 * thread that may wait when something answers CANCEL_WOULD_WAIT.  Every
 * place that would wait (an HTTP request, a token fetch, another thread's
 * download, hashing a big file) asks cancel_may_wait() first.  A
 * CANCEL_WOULD_WAIT is no failure: never log it, cache it, count it
 * against a host, or fall back to a mirror for it.
 */
#ifndef REGFS_COMMON_CANCEL_H
#define REGFS_COMMON_CANCEL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* How often, at most, a wait asks whether it is called off. */
#define CANCEL_POLL_MS 100

/* What a function answers (negated, as -CANCEL_WOULD_WAIT) instead of
 * waiting when its thread may not wait.  Not EAGAIN (== EWOULDBLOCK),
 * which a registry's 429 answers. */
#define CANCEL_WOULD_WAIT EINPROGRESS

/* Should the thread's work stop?  Called from any thread, with no lock of
 * the caller's held; it must be quick and must not block. */
typedef bool (*cancel_check_fn)(void *arg);

struct cancel_scope {
	cancel_check_fn check; /* NULL: nobody calls this thread's work off */
	void *arg;
	bool no_wait; /* answer -CANCEL_WOULD_WAIT instead of waiting */
};

/* Set this thread's scope, returning the one it replaces (to put back
 * with another cancel_scope_set when the work is done). */
struct cancel_scope cancel_scope_set(struct cancel_scope scope);

/* This thread's scope, as set. */
struct cancel_scope cancel_scope_get(void);

/* Has this thread's work been called off (its scope says so, or
 * cancel_all() was called)? */
bool cancel_requested(void);

/* May this thread wait (its scope is not no_wait)?  A place that would
 * wait answers -CANCEL_WOULD_WAIT when this is false. */
bool cancel_may_wait(void);

/* Wait on @cond, with @lock held, for at most one CANCEL_POLL_MS slice:
 * the way every wait on a condition variable sees cancel_requested() in
 * time (its caller asks that between slices).  @clock is the one @cond
 * was set up with (CLOCK_REALTIME unless its attributes said otherwise). */
void cancel_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock, clockid_t clock);

/* Sleep @seconds in slices of at most CANCEL_POLL_MS: 0, or -EINTR as
 * soon as cancel_requested().  @seconds <= 0 returns at once. */
int cancel_sleep(double seconds);

/* Call off every wait in the process, now and from now on (shutdown). */
void cancel_all(void);

/* Was cancel_all() called? */
bool cancel_all_requested(void);

#endif
