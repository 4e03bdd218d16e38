/* Temporary names for cache/; tmp.h has the contract. */
#include "cache/tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define TRIES 100

void cache_tmp_name(char *name, size_t size, const char *prefix, int salt)
{
	static const char hex[] = "0123456789abcdef";
	char digits[CACHE_TMP_RANDOM_LEN + 1];
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = mono_now_ns() ^ ((uint64_t)getpid() << 40) ^ (uint64_t)salt;
	for (int i = 0; i < CACHE_TMP_RANDOM_LEN; i++)
		digits[i] = hex[(r >> (4 * i)) & 0xf];
	digits[CACHE_TMP_RANDOM_LEN] = '\0';
	snprintf(name, size, "%s%s", prefix, digits);
}

/* flock(@fd, @op), again after a signal.  0 or -errno. */
static int tmp_flock(int fd, int op)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int cache_tmp_create(int dfd, const char *prefix, char *name, size_t size, int flags)
{
	for (int tries = 0; tries < TRIES; tries++) {
		struct stat st;
		int fd, locked;

		cache_tmp_name(name, size, prefix, tries);
		fd = openat(dfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -errno;
		/* A sweep may find the file between the create and the lock,
		 * take the lock first and remove the name: it unlinks while
		 * holding the lock, so once ours is granted a link count of 0
		 * says so, and another name is made.  (Blocking: a sweep
		 * holds a lock only for a stat and an unlink.) */
		locked = tmp_flock(fd, LOCK_EX);
		if (locked < 0)
			log_debug("cannot lock temp file '%s': %s", name, strerror(-locked));
		else if (fstat(fd, &st) == 0 && st.st_nlink == 0) {
			close(fd);
			continue;
		}
		return fd;
	}
	return -EEXIST;
}

/* Whether @st, the entry @name of @dfd as opened, is still what the name
 * holds (not removed or replaced meanwhile). */
static bool tmp_still_named(int dfd, const char *name, const struct stat *st)
{
	struct stat now;

	return fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st->st_dev &&
	       now.st_ino == st->st_ino;
}

/* Remove the entry @name of @dfd (@st its lstat) if nobody writes it.
 * true when removed. */
static bool tmp_sweep_one(int dfd, const char *name, const struct stat *st, time_t cutoff)
{
	struct stat fst;
	bool dead;
	int fd, ret;

	if (S_ISDIR(st->st_mode))
		return false;
	if (!S_ISREG(st->st_mode))
		return unlinkat(dfd, name, 0) == 0; /* never ours: only junk */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ret = fstat(fd, &fst) < 0 ? -errno : tmp_flock(fd, LOCK_EX | LOCK_NB);
	if (ret == -EWOULDBLOCK)
		dead = false; /* a live writer holds it */
	else if (ret < 0)
		dead = st->st_mtime < cutoff; /* no locks here: only its age can tell */
	else
		dead = true;
	/* the unlink happens under our lock: see cache_tmp_create */
	dead = dead && tmp_still_named(dfd, name, &fst) && unlinkat(dfd, name, 0) == 0;
	close(fd);
	return dead;
}

int cache_tmp_sweep(int dfd, const char *prefix, time_t stale_secs, uint64_t *freed)
{
	time_t cutoff = time(NULL) - stale_secs;
	size_t plen = strlen(prefix);
	struct dirent *de;
	int removed = 0;
	DIR *d;
	int fd;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!tmp_sweep_one(fd, de->d_name, &st, cutoff))
			continue;
		log_debug("removed temp file '%s' that nobody writes any more", de->d_name);
		removed++;
		if (freed)
			*freed += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return removed;
}
