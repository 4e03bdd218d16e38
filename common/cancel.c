/* Calling off a wait: see cancel.h. */
#include "common/cancel.h"
#include "common/clock.h"

static __thread struct cancel_scope thread_scope;
static bool all_cancelled; /* atomic */

struct cancel_scope cancel_scope_set(struct cancel_scope scope)
{
	struct cancel_scope old = thread_scope;

	thread_scope = scope;
	return old;
}

struct cancel_scope cancel_scope_get(void)
{
	return thread_scope;
}

bool cancel_all_requested(void)
{
	return __atomic_load_n(&all_cancelled, __ATOMIC_ACQUIRE);
}

bool cancel_requested(void)
{
	if (cancel_all_requested())
		return true;
	return thread_scope.check && thread_scope.check(thread_scope.arg);
}

bool cancel_may_wait(void)
{
	return !thread_scope.no_wait;
}

void cancel_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock, clockid_t clock)
{
	struct timespec until;

	clock_gettime(clock, &until);
	until.tv_nsec += CANCEL_POLL_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, lock, &until);
}

int cancel_sleep(double seconds)
{
	double until = mono_now() + seconds, left;

	while ((left = until - mono_now()) > 0) {
		struct timespec ts;

		if (cancel_requested())
			return -EINTR;
		if (left > CANCEL_POLL_MS / 1000.0)
			left = CANCEL_POLL_MS / 1000.0;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
	return cancel_requested() ? -EINTR : 0;
}

void cancel_all(void)
{
	__atomic_store_n(&all_cancelled, true, __ATOMIC_RELEASE);
}
