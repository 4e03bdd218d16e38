/*
 * fail_writes.c — an LD_PRELOAD shim that makes write(2) fail with EIO on files below one
 * directory, for tests/integration/cachefaults.bats (reliability row F6).
 *
 * A fault-injection fake: a full disk is one thing a test can make (a small tmpfs), but a
 * device that fails a write is not.  strace -e inject cannot aim at one directory (6.1 has no
 * filter by descriptor, -P wants exact paths, and the cache's temp names are random), and the
 * daemon's other writes (its log) must go on.  So each call on a descriptor is checked here:
 * while the file named by REGFS_FAULT_WHILE exists and the descriptor's path starts with
 * REGFS_FAULT_PREFIX, the call fails with EIO and a line "CALL PATH" is appended to
 * REGFS_FAULT_LOG.  Anything else goes to libc.
 *
 *   cc -shared -fPIC -o fail_writes.so fail_writes.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);

/* Whether a call on @fd is to fail now; logs it when so (@call names it). */
static int injected(int fd, const char *call)
{
	const char *prefix = getenv("REGFS_FAULT_PREFIX"), *trigger = getenv("REGFS_FAULT_WHILE");
	const char *log = getenv("REGFS_FAULT_LOG");
	char link[64], path[4096], line[4200];
	ssize_t n;
	int saved = errno, lfd;

	if (!prefix || !trigger || access(trigger, F_OK) != 0) {
		errno = saved;
		return 0;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0 || strncmp(path, prefix, strlen(prefix)) != 0) {
		errno = saved;
		return 0;
	}
	path[n] = '\0';
	if (log && (lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		int len = snprintf(line, sizeof(line), "%s %s\n", call, path);
		write_fn real = (write_fn)dlsym(RTLD_NEXT, "write");

		if (real && len > 0)
			(void)!real(lfd, line, (size_t)len);
		close(lfd);
	}
	return 1;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static write_fn real;

	if (injected(fd, "write")) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (write_fn)dlsym(RTLD_NEXT, "write");
	return real(fd, buf, count);
}
