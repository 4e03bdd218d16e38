#include "common/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Room for @n more bytes and the NUL.  0, -E2BIG or -ENOMEM. */
static int buf_room(struct buf *b, size_t n)
{
	size_t want;
	char *nd;

	if (n > b->max || b->len > b->max - n)
		return -E2BIG;
	want = b->len + n + 1;
	if (want > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < want)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	return 0;
}

void buf_prefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (len < BUF_PREFAULT_MIN || page <= 0)
		return;
	/* the whole pages inside the range: the rest is someone else's */
	start = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	end = ((uintptr_t)p + len) & ~((uintptr_t)page - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)len;
#endif
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int ret = buf_room(b, n);

	if (ret < 0)
		return ret;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *d = b->data;

	if (!d) {
		d = calloc(1, 1);
		if (!d)
			return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void buf_release(struct buf *b, int wipe)
{
	if (wipe)
		secret_free_n(b->data, b->cap);
	else
		free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int buf_read_fd(struct buf *b, int fd)
{
	struct stat st;
	size_t step = 16384;

	/* a file's size known: one allocation, read into place (a 3 MB
	 * layer index read in 16 KiB appends cost more than its parsing) */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		step = (size_t)st.st_size + 1; /* +1: the read that finds the end */
	for (;;) {
		/* what is allocated already, else a step */
		size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : step;
		ssize_t n;
		char probe;
		int ret;

		if (room > b->max - b->len)
			room = b->max - b->len;
		if (room == 0) {
			/* full: only the end of the file may follow */
			n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			return n < 0 ? -errno : n > 0 ? -E2BIG : 0;
		}
		ret = buf_room(b, room);
		if (ret < 0)
			return ret;
		buf_prefault(b->data + b->len, room);
		b->data[b->len] = '\0'; /* still text if nothing comes */
		n = read(fd, b->data + b->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		step = 16384;
	}
}

int array_reserve(void *v, size_t *cap, size_t need, size_t elem)
{
	void **vp = v, *nv;
	size_t ncap = *cap ? *cap : 8;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nv = reallocarray(*vp, ncap, elem);
	if (!nv)
		return -ENOMEM;
	*vp = nv;
	*cap = ncap;
	return 0;
}
