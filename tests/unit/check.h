/*
 * The one assertion the unit tests share: CHECK(cond[, fmt, args...])
 * counts a failure and says where and why, without stopping the test, so a
 * table-driven test reports every failing row at once.  main() returns
 * check_status().
 */
#ifndef REGFS_TESTS_CHECK_H
#define REGFS_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, " " __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#endif
