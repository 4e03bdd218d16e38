/* File-system steps shared by cache/store.c and cache/draft.c; disk.h has the contract. */
#include "cache/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static int mkdir_p(const char *path)
{
	char *p;
	int ret = 0;

	if (!*path)
		return -EINVAL;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	/* from p + 1: the '/' that starts an absolute path ends no component */
	for (char *c = p + 1;; c++) {
		char saved = *c;

		if (saved != '/' && saved != '\0')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			log_err("cannot create '%s': %s", p, strerror(errno));
			break;
		}
		*c = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return ret;
}

int cache_dir_make_open(const char *path, int flags)
{
	int fd = mkdir_p(path);

	if (fd < 0)
		return fd;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	if (fd < 0) {
		fd = -errno;
		log_err("cannot open '%s': %s", path, strerror(-fd));
	}
	return fd;
}

int cache_write_all(int fd, const void *bytes, size_t len)
{
	const char *p = bytes;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
