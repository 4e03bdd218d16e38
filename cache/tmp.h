/*
 * Temporary names in the directories cache/ owns (the blob store's tmp/,
 * the drafts): a prefix and 16 random hex digits, made with O_EXCL so a
 * file or link planted under a name is never followed, only skipped.
 *
 * A file made here is locked (flock, LOCK_EX) for as long as the fd that
 * made it stays open, so the lock says "a live process is writing this":
 * a process killed mid-write (kill -9, a crash) lets go of it, and
 * cache_tmp_sweep() removes what it left however recently that was, while
 * another mount sharing the directory keeps its files.  Private to cache/.
 */
#ifndef REGFS_CACHE_TMP_H
#define REGFS_CACHE_TMP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CACHE_TMP_RANDOM_LEN 16 /* hex digits after the prefix */

/* @prefix and 16 random hex digits into @name (@size bytes: at least
 * strlen(@prefix) + 17); @salt varies the fallback when the kernel has no
 * random bytes to give. */
void cache_tmp_name(char *name, size_t size, const char *prefix, int salt);

/* Create a file of a new temporary name in directory @dfd, mode 0600,
 * open with @flags (O_WRONLY or O_RDWR) and close-on-exec, and lock it
 * (see above) until the fd is closed; its name goes to @name as for
 * cache_tmp_name.  New fd or -errno (-EEXIST after 100 names taken).  On a
 * file system without flock the file is made all the same, unlocked. */
int cache_tmp_create(int dfd, const char *prefix, char *name, size_t size, int flags);

/* Remove what writers that died left in directory @dfd: the entries named
 * @prefix... that nobody holds locked, a regular file only once its lock
 * is taken (so never one a live process, this one included, still
 * writes), anything else (a link, a FIFO) at once; never a directory.
 * Where the file system refuses locks, only files unchanged for
 * @stale_secs.  Adds the bytes the removed files held to *@freed (NULL: not
 * counted).  Returns how many it removed. */
int cache_tmp_sweep(int dfd, const char *prefix, time_t stale_secs, uint64_t *freed);

#endif
