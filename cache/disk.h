/*
 * File-system steps that the blob store and the draft store both take:
 * making and opening the directories they live in, and writing a whole
 * buffer.  Private to cache/.
 */
#ifndef REGFS_CACHE_DISK_H
#define REGFS_CACHE_DISK_H

#include <stddef.h>

/* mkdir -p @path, mode 0700 for what it creates (what exists already is
 * left as it is), then open it with O_RDONLY | O_DIRECTORY | O_CLOEXEC |
 * @flags.  New fd (the caller closes it) or -errno (-EINVAL for ""); the
 * failure is logged with the directory that could not be made or opened. */
int cache_dir_make_open(const char *path, int flags);

/* Write all @len bytes of @bytes to @fd, retrying short writes and EINTR.
 * 0 or -errno (what was written before the failure stays written). */
int cache_write_all(int fd, const void *bytes, size_t len);

#endif
