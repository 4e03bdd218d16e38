/*
 * Unit tests for common/log.c's rate limit (log_ratelimit_allow): a burst
 * passes, the rest are held back and counted, and the first line of the
 * next window learns how many were.
 */
#include <stdbool.h>
#include <time.h>

#include "common/log.h"

#include "check.h"

static void test_ratelimit(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(3, 0.1);
	struct timespec pause = {0, 150 * 1000 * 1000};
	unsigned dropped = 99, passed = 0;

	for (int i = 0; i < 10; i++)
		if (log_ratelimit_allow(&rl, &dropped)) {
			passed++;
			CHECK_EQ(dropped, 0);
		}
	CHECK_EQ(passed, 3);
	nanosleep(&pause, NULL);
	CHECK(log_ratelimit_allow(&rl, &dropped));
	CHECK_EQ(dropped, 7); /* held back in the window before */
	CHECK(log_ratelimit_allow(&rl, &dropped));
	CHECK_EQ(dropped, 0);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"ratelimit", test_ratelimit},
	};

	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
