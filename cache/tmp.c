/* Temporary names for cache/; tmp.h has the contract. */
#include "cache/tmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"

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

int cache_tmp_create(int dfd, const char *prefix, char *name, size_t size, int flags)
{
	for (int tries = 0; tries < TRIES; tries++) {
		int fd;

		cache_tmp_name(name, size, prefix, tries);
		fd = openat(dfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}
