/*
 * Running out of file descriptors (fdshort.h).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "common/clock.h"
#include "common/fdshort.h"
#include "common/limits.h"

/* mono_now_ns() of the last shortage seen, 0: none yet */
static uint64_t last_short_ns;

bool fd_short_errno(int err)
{
	if (err < 0)
		err = -err;
	return err == EMFILE || err == ENFILE;
}

void fd_short_note(int err)
{
	if (fd_short_errno(err))
		__atomic_store_n(&last_short_ns, mono_now_ns(), __ATOMIC_RELAXED);
}

bool fd_short_recent(void)
{
	uint64_t at = __atomic_load_n(&last_short_ns, __ATOMIC_RELAXED);

	return at && mono_now_ns() - at < (uint64_t)FD_SHORT_WINDOW * 1000000000u;
}

unsigned long fd_limit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < FD_SOFT_WANTED && rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max < FD_SOFT_WANTED ? rl.rlim_max : FD_SOFT_WANTED;
		struct rlimit raised = {want, rl.rlim_max};

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = want;
	}
	return (unsigned long)rl.rlim_cur;
}
