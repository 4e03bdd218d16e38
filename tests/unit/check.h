/*
 * The assertions the unit tests share: CHECK(cond[, fmt, args...]) counts a
 * failure and says where and why, without stopping the test, so a
 * table-driven test reports every failing row at once; CHECK_EQ(got, want)
 * does so for two integers and shows both.  check_run() runs a list of test
 * functions and gives main()'s exit status; check_tmpdir_new(),
 * check_count_entries() and check_tmpdir_free() are for tests on disk.
 */
#ifndef REGFS_TESTS_CHECK_H
#define REGFS_TESTS_CHECK_H

#include <dirent.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* CHECK that two integers are equal, showing both when they are not. */
#define CHECK_EQ(got, want)                                                                        \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_) {                                                                    \
			fprintf(stderr, "%s:%d: %s: %s is %lld, want %lld\n", __FILE__, __LINE__,  \
				__func__, #got, g_, w_);                                           \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

struct check_test {
	const char *name;
	void (*fn)(void);
};

/* Run each test, print "ok NAME" or "FAIL NAME", and return main()'s exit
 * status: 0 when every check passed. */
static inline int check_run(const struct check_test *tests, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int before = failures;

		tests[i].fn();
		printf("%s %s\n", failures == before ? "ok" : "FAIL", tests[i].name);
	}
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}

/* A new empty directory under $TMPDIR (or /tmp) named after @what (new
 * string); exits the test when it cannot be made. */
static inline char *check_tmpdir_new(const char *what)
{
	const char *t = getenv("TMPDIR");
	char *d;

	if (asprintf(&d, "%s/regfs-test-%s.XXXXXX", t && *t ? t : "/tmp", what) < 0 || !mkdtemp(d)) {
		perror("mkdtemp");
		exit(1);
	}
	return d;
}

static inline int check_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Entries in directory @path, not counting . and .. (-1 if unreadable). */
static inline int check_count_entries(const char *path)
{
	struct dirent *de;
	int n = 0;
	DIR *dir;

	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

/* Remove directory @d with everything below it (links not followed), and
 * free the string. */
static inline void check_tmpdir_free(char *d)
{
	nftw(d, check_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

#endif
