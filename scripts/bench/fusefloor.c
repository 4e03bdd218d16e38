/*
 * fusefloor — the FUSE read floor of this machine, for scripts/bench.sh's B4 warm row: a
 * read-only passthrough of one directory through libfuse's high-level API with its defaults
 * (multi-threaded loop, 128 KiB reads, no keep_cache, no splice tuning), doing no more per read
 * than a pread.  What regfs does on top of that (resolving names, checking blobs) is what B4
 * warm measures against it.  B6 times a find over it (directory entries carry the file type,
 * so find stats no file), beside the same find on the local disk.
 *
 *   cc -O2 -o fusefloor fusefloor.c $(pkg-config --cflags --libs fuse3)
 *   fusefloor SOURCE_DIR MOUNTPOINT [fuse options, e.g. -f]
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int src_fd = -1; /* the source directory; paths are looked up relative to it */

/* "/a/b" -> "a/b", "/" -> "." */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static int floor_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	return fstatat(src_fd, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int floor_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			 struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *d;
	int fd;

	(void)off, (void)fi, (void)flags;
	fd = openat(src_fd, rel(path), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		/* the type only, as any filesystem gives in its directory entries: find and
		 * fts then stat no file (B6's floor) */
		struct stat st = {.st_mode = DTTOIF(de->d_type)};

		fill(buf, de->d_name, &st, 0, 0);
	}
	closedir(d);
	return 0;
}

static int floor_open(const char *path, struct fuse_file_info *fi)
{
	int fd;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fd = openat(src_fd, rel(path), O_RDONLY);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int floor_read(const char *path, char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	ssize_t n = pread((int)fi->fh, buf, size, off);

	(void)path;
	return n < 0 ? -errno : (int)n;
}

static int floor_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static const struct fuse_operations floor_ops = {
    .getattr = floor_getattr,
    .readdir = floor_readdir,
    .open = floor_open,
    .read = floor_read,
    .release = floor_release,
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fusefloor SOURCE_DIR MOUNTPOINT [fuse options]\n");
		return 2;
	}
	src_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (src_fd < 0) {
		perror(argv[1]);
		return 1;
	}
	argv[1] = argv[0]; /* fuse_main sees: fusefloor MOUNTPOINT [options] */
	return fuse_main(argc - 1, argv + 1, &floor_ops, NULL);
}
