#include "common/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secret.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int buf_append(struct buf *b, const void *p, size_t n)
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
	char chunk[16384];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		ret = buf_append(b, chunk, (size_t)n);
		if (ret < 0)
			return ret;
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
