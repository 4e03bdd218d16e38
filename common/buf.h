/*
 * A growable byte buffer with a hard maximum fixed at creation, for
 * everything read from the network (manifests, configs, tokens, listings)
 * and for files read whole.
 * The contents are always NUL-terminated so text can be parsed in place.
 */
#ifndef REGFS_COMMON_BUF_H
#define REGFS_COMMON_BUF_H

#include <stddef.h>

struct buf {
	char *data;  /* owned; NULL until the first append */
	size_t len;  /* bytes used, not counting the terminating NUL */
	size_t cap;  /* bytes allocated */
	size_t max;  /* appends that would pass this fail with -E2BIG */
};

#define BUF_INIT(max_) {NULL, 0, 0, (max_)}

void buf_init(struct buf *b, size_t max);
/* Append @n bytes.  Returns 0, -E2BIG past the maximum, or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append what @fd holds from its offset to its end.  Returns 0, -E2BIG
 * when that passes the maximum, -ENOMEM, or the -errno of read(2). */
int buf_read_fd(struct buf *b, int fd);
/* Hand the bytes to the caller (new allocation, NUL-terminated, never NULL
 * on success); the buffer is left empty.  Returns NULL on -ENOMEM. */
char *buf_detach(struct buf *b, size_t *len);
/* Free the contents.  With @wipe the bytes are cleansed first (secrets). */
void buf_release(struct buf *b, int wipe);

/* Fault in the pages of [@p, @p + @len) in one call, ahead of their
 * first write: a large new buffer then does not take a page fault every
 * 4 KiB (dear in a virtual machine).  Only a hint: nothing happens for
 * less than BUF_PREFAULT_MIN bytes, or where the kernel (before 5.14)
 * cannot. */
#define BUF_PREFAULT_MIN (256u << 10)
void buf_prefault(void *p, size_t len);

/* Room in array *@v (of @elem-byte elements, *@cap of them allocated) for
 * at least @need: grows it by doubling (from 8), keeping what it holds.
 * 0 or -ENOMEM (the array is left as it was). */
int array_reserve(void *v, size_t *cap, size_t need, size_t elem);

#endif
