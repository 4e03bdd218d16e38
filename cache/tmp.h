/*
 * Temporary names in the directories cache/ owns (the blob store's tmp/,
 * the drafts): a prefix and 16 random hex digits, made with O_EXCL so a
 * file or link planted under a name is never followed, only skipped.
 * Private to cache/.
 */
#ifndef REGFS_CACHE_TMP_H
#define REGFS_CACHE_TMP_H

#include <stddef.h>

#define CACHE_TMP_RANDOM_LEN 16 /* hex digits after the prefix */

/* @prefix and 16 random hex digits into @name (@size bytes: at least
 * strlen(@prefix) + 17); @salt varies the fallback when the kernel has no
 * random bytes to give. */
void cache_tmp_name(char *name, size_t size, const char *prefix, int salt);

/* Create a file of a new temporary name in directory @dfd, mode 0600,
 * open with @flags (O_WRONLY or O_RDWR) and close-on-exec; its name goes
 * to @name as for cache_tmp_name.  New fd or -errno (-EEXIST after 100
 * names taken). */
int cache_tmp_create(int dfd, const char *prefix, char *name, size_t size, int flags);

#endif
