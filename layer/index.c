/*
 * The index of one layer blob (layer/index.h): built in one pass that
 * decompresses the blob, hands the tar stream to libarchive for its
 * headers and drops checkpoints as it goes; read back a file at a time from
 * the nearest checkpoint; saved and loaded as a checksummed table.
 *
 * Offsets: a regular file's data_off is archive_filter_bytes(a, 0) right
 * after its header was read, that is the bytes of the uncompressed stream
 * libarchive has consumed, headers (pax, GNU long names) included.  Python's
 * tarfile agrees (TarInfo.offset_data); the unit test pins it.
 *
 * The build's output buffer keeps the last 32 KiB of the stream in front of
 * the bytes handed to libarchive, so a gzip checkpoint's window is always
 * the contiguous LAYER_WINDOW bytes before the current output position.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"
#include "layer/index.h"

/* Entries left out that are logged one by one; the rest are counted in
 * one line at the end, so a hostile layer cannot flood the log. */
#define LOG_SKIPPED_MAX 10

#define IN_CHUNK (128u << 10)  /* compressed bytes read at once */
#define OUT_CHUNK (256u << 10) /* uncompressed bytes handed to libarchive at once */

struct layer_xattr {
	uint32_t name_off, name_len; /* NUL-terminated */
	uint32_t value_off, value_len;
};

struct layer_checkpoint {
	uint64_t uout;		 /* uncompressed offset */
	uint64_t cin;		 /* compressed offset of the first whole byte */
	uint8_t bits;		 /* gzip: bits of the byte before cin still to read */
	uint32_t window_len;	 /* gzip: bytes of window (LAYER_WINDOW but near the start) */
	uint32_t window_zlen;	 /* the window deflated (zlib format), as kept */
	unsigned char *window;	 /* owned, deflated; NULL when window_len is 0 */
};

struct layer_index {
	char digest[DIGEST_STR_LEN + 1];
	enum layer_compression comp;
	struct layer_entry *entries; /* owned, sorted by layer_path_cmp() */
	size_t n_entries, cap_entries;
	struct layer_xattr *xattrs; /* owned */
	size_t n_xattrs, cap_xattrs;
	struct layer_checkpoint *cps; /* owned; cps[0] is the stream's start when compressed */
	size_t n_cps, cap_cps;
	char *names; /* owned: paths, link targets, xattr names and values */
	size_t names_len;
	uint64_t stream_size; /* uncompressed bytes read while indexing */
	size_t skipped;
	uint64_t decompressed; /* by reads: updated with atomics */
};

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!why || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* --- paths -------------------------------------------------------------- */

int layer_path_normalize(const char *in, char *out, size_t n)
{
	size_t len = 0, depth = 0;
	const char *p = in;

	if (!in || !*in || n == 0)
		return -EINVAL;
	while (*p) {
		const char *c = p;
		size_t clen;

		while (*p && *p != '/')
			p++;
		clen = (size_t)(p - c);
		while (*p == '/')
			p++;
		if (clen == 0 || (clen == 1 && c[0] == '.'))
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		if (++depth > LAYER_DEPTH_MAX)
			return -EINVAL;
		if (len + (len ? 1 : 0) + clen > LAYER_PATH_MAX || len + (len ? 1 : 0) + clen >= n)
			return -EINVAL;
		if (len)
			out[len++] = '/';
		memcpy(out + len, c, clen);
		len += clen;
	}
	out[len] = '\0';
	return (int)len;
}

int layer_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;

	for (size_t i = 0; i < m; i++) {
		unsigned ca = a[i] == '/' ? 0 : (unsigned char)a[i] + 1u;
		unsigned cb = b[i] == '/' ? 0 : (unsigned char)b[i] + 1u;

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen;
}

/* Is @a (length @alen) a proper ancestor of @b? "" is everyone's. */
static bool path_is_ancestor(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen == 0)
		return blen > 0;
	return blen > alen && b[alen] == '/' && memcmp(a, b, alen) == 0;
}

/* --- accessors ---------------------------------------------------------- */

size_t layer_index_count(const struct layer_index *ix)
{
	return ix->n_entries;
}

const struct layer_entry *layer_index_entry(const struct layer_index *ix, size_t i)
{
	if (i >= ix->n_entries)
		BUG("layer entry out of range");
	return &ix->entries[i];
}

const char *layer_entry_path(const struct layer_index *ix, const struct layer_entry *e)
{
	return ix->names + e->path_off;
}

const char *layer_entry_link(const struct layer_index *ix, const struct layer_entry *e)
{
	return e->link_len ? ix->names + e->link_off : "";
}

void layer_entry_xattr(const struct layer_index *ix, const struct layer_entry *e, size_t k,
		       const char **name, const void **value, size_t *size)
{
	const struct layer_xattr *x;

	if (k >= e->xattr_count)
		BUG("layer xattr out of range");
	x = &ix->xattrs[e->xattr_first + k];
	*name = ix->names + x->name_off;
	*value = ix->names + x->value_off;
	*size = x->value_len;
}

size_t layer_index_find(const struct layer_index *ix, const char *path)
{
	size_t lo = 0, hi = ix->n_entries, plen = strlen(path);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct layer_entry *e = &ix->entries[mid];
		int c = layer_path_cmp(ix->names + e->path_off, e->path_len, path, plen);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return LAYER_NONE;
}

size_t layer_index_child_first(const struct layer_index *ix, size_t dir)
{
	if (dir >= ix->n_entries || ix->entries[dir].type != LAYER_DIR)
		return LAYER_NONE;
	return dir + 1 < ix->entries[dir].end ? dir + 1 : LAYER_NONE;
}

size_t layer_index_child_next(const struct layer_index *ix, size_t child)
{
	const struct layer_entry *e;

	if (child == 0 || child >= ix->n_entries)
		return LAYER_NONE;
	e = &ix->entries[child];
	return e->end < ix->entries[e->parent].end ? e->end : LAYER_NONE;
}

enum layer_compression layer_index_compression(const struct layer_index *ix)
{
	return ix->comp;
}

size_t layer_index_skipped(const struct layer_index *ix)
{
	return ix->skipped;
}

size_t layer_index_checkpoints(const struct layer_index *ix)
{
	return ix->n_cps;
}

uint64_t layer_index_stream_size(const struct layer_index *ix)
{
	return ix->stream_size;
}

uint64_t layer_index_decompressed(const struct layer_index *ix)
{
	return __atomic_load_n(&ix->decompressed, __ATOMIC_RELAXED);
}

size_t layer_index_memory(const struct layer_index *ix)
{
	size_t n = sizeof(*ix) + ix->cap_entries * sizeof(*ix->entries) +
		   ix->cap_xattrs * sizeof(*ix->xattrs) + ix->cap_cps * sizeof(*ix->cps) +
		   ix->names_len;

	for (size_t i = 0; i < ix->n_cps; i++)
		n += ix->cps[i].window_zlen;
	return n;
}

void layer_index_free(struct layer_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n_cps; i++)
		free(ix->cps[i].window);
	free(ix->cps);
	free(ix->entries);
	free(ix->xattrs);
	free(ix->names);
	free(ix);
}

static struct layer_index *index_new(const char *digest)
{
	struct layer_index *ix = calloc(1, sizeof(*ix));

	if (ix)
		snprintf(ix->digest, sizeof(ix->digest), "%s", digest ? digest : "");
	return ix;
}

/*
 * Give each entry its parent and the end of its subtree, checking what
 * both the build and a load rely on: paths strictly increasing, entry 0 the
 * root directory, every other entry's parent present and a directory.
 * 0 or -EINVAL.
 */
static int index_link(struct layer_index *ix)
{
	uint32_t stack[LAYER_DEPTH_MAX + 2];
	size_t top = 0;

	if (ix->n_entries == 0 || ix->entries[0].path_len != 0 || ix->entries[0].type != LAYER_DIR)
		return -EINVAL;
	stack[0] = 0;
	ix->entries[0].parent = 0;
	for (size_t i = 1; i < ix->n_entries; i++) {
		struct layer_entry *e = &ix->entries[i], *prev = &ix->entries[i - 1];
		const char *p = ix->names + e->path_off;
		size_t slash;

		if (layer_path_cmp(ix->names + prev->path_off, prev->path_len, p, e->path_len) >= 0)
			return -EINVAL;
		for (;;) {
			struct layer_entry *a = &ix->entries[stack[top]];

			if (path_is_ancestor(ix->names + a->path_off, a->path_len, p, e->path_len))
				break;
			a->end = (uint32_t)i;
			if (top == 0)
				return -EINVAL; /* cannot happen: the root is everyone's */
			top--;
		}
		/* the nearest ancestor on the stack must be the parent itself */
		slash = e->path_len;
		while (slash > 0 && p[slash - 1] != '/')
			slash--;
		slash = slash ? slash - 1 : 0;
		if (ix->entries[stack[top]].path_len != slash ||
		    ix->entries[stack[top]].type != LAYER_DIR || top + 1 > LAYER_DEPTH_MAX)
			return -EINVAL;
		e->parent = stack[top];
		stack[++top] = (uint32_t)i;
	}
	while (1) {
		ix->entries[stack[top]].end = (uint32_t)ix->n_entries;
		if (top == 0)
			break;
		top--;
	}
	return 0;
}

/* --- reading the blob ------------------------------------------------------ */

/* Compressed input from a descriptor, through a buffer. */
struct input {
	int fd;
	uint64_t off; /* file offset of the byte after buf[len] */
	unsigned char buf[IN_CHUNK];
	size_t pos, len;
	bool eof;
};

static void input_init(struct input *in, int fd, uint64_t off)
{
	in->fd = fd;
	in->off = off;
	in->pos = in->len = 0;
	in->eof = false;
}

/* File offset of buf[pos]. */
static uint64_t input_tell(const struct input *in)
{
	return in->off - (in->len - in->pos);
}

/* Make at least @need (<= IN_CHUNK) bytes available when the file has
 * them; returns how many are (>= 0), or -errno. */
static ssize_t input_fill(struct input *in, size_t need)
{
	if (in->len - in->pos >= need || in->eof)
		return (ssize_t)(in->len - in->pos);
	memmove(in->buf, in->buf + in->pos, in->len - in->pos);
	in->len -= in->pos;
	in->pos = 0;
	while (in->len < need && !in->eof) {
		ssize_t r = pread(in->fd, in->buf + in->len, IN_CHUNK - in->len, (off_t)in->off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			in->eof = true;
		in->len += (size_t)r;
		in->off += (uint64_t)r;
	}
	return (ssize_t)(in->len - in->pos);
}

static bool is_gzip_magic(const unsigned char *p, size_t n)
{
	return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* The build's source: the blob decompressed, for libarchive's reader. */
struct source {
	struct layer_index *ix;
	struct input in;
	z_stream z;
	bool z_ready;
	ZSTD_DCtx *zs;
	size_t zret; /* last ZSTD_decompressStream result: 0 at a frame's end */
	unsigned char *out; /* LAYER_WINDOW of history, then OUT_CHUNK */
	size_t keep, prod;  /* history at out, and bytes handed out after it */
	uint64_t total;	    /* uncompressed bytes produced */
	uint64_t last_cp;
	bool done;
	int err; /* -errno of the failure libarchive was told about */
	char why[256];
	const struct layer_build_opts *opts; /* never NULL */
	uint64_t blob_size;		     /* from fstat at the start */
	uint64_t reported;		     /* blob bytes last given to progress */
};

static int source_fail(struct source *s, struct archive *a, int err, const char *what)
{
	s->err = err;
	snprintf(s->why, sizeof(s->why), "%s", what);
	archive_set_error(a, err < 0 ? -err : EIO, "%s", what);
	return -1;
}

static int checkpoint_add(struct source *s, uint8_t bits, const unsigned char *end)
{
	struct layer_index *ix = s->ix;
	struct layer_checkpoint *cp;
	size_t wlen = 0;

	if (array_reserve(&ix->cps, &ix->cap_cps, ix->n_cps + 1, sizeof(*ix->cps)) < 0)
		return -ENOMEM;
	cp = &ix->cps[ix->n_cps];
	memset(cp, 0, sizeof(*cp));
	cp->uout = s->total;
	cp->cin = input_tell(&s->in);
	cp->bits = bits;
	if (s->ix->comp == LAYER_GZIP && s->total) {
		uLongf zlen = compressBound(LAYER_WINDOW);

		/* deflated: a window of text or code keeps a third of its size */
		wlen = s->total < LAYER_WINDOW ? (size_t)s->total : LAYER_WINDOW;
		cp->window = malloc(zlen);
		if (!cp->window || compress2(cp->window, &zlen, end - wlen, wlen, 1) != Z_OK) {
			free(cp->window);
			cp->window = NULL;
			return -ENOMEM;
		}
		cp->window_zlen = (uint32_t)zlen;
	}
	cp->window_len = (uint32_t)wlen;
	ix->n_cps++;
	s->last_cp = s->total;
	return 0;
}

/* Inflate up to OUT_CHUNK bytes at s->out + s->keep, stopping at every
 * deflate block to drop a checkpoint when one is due (zran.c's loop). */
static int source_gzip(struct source *s, struct archive *a)
{
	while (s->prod < OUT_CHUNK && !s->done) {
		unsigned char *o = s->out + s->keep + s->prod;
		ssize_t avail = input_fill(&s->in, 1);
		size_t got;
		int ret;

		if (avail < 0)
			return source_fail(s, a, (int)avail, "cannot read the blob");
		if (avail == 0)
			return source_fail(s, a, -EIO, "truncated gzip stream");
		s->z.next_in = s->in.buf + s->in.pos;
		s->z.avail_in = (uInt)avail;
		s->z.next_out = o;
		s->z.avail_out = OUT_CHUNK - (uInt)s->prod;
		ret = inflate(&s->z, Z_BLOCK);
		s->in.pos = s->in.len - s->z.avail_in;
		got = (size_t)(s->z.next_out - o);
		s->prod += got;
		s->total += got;
		if (ret == Z_STREAM_END) {
			/* a gzip of several members, as pigz and concatenation make */
			avail = input_fill(&s->in, 2);
			if (avail < 0)
				return source_fail(s, a, (int)avail, "cannot read the blob");
			if (is_gzip_magic(s->in.buf + s->in.pos, (size_t)avail))
				inflateReset(&s->z);
			else
				s->done = true; /* trailing bytes are ignored, as gzip does */
			continue;
		}
		if (ret == Z_BUF_ERROR && got == 0 && s->z.avail_in == 0)
			continue;
		if (ret != Z_OK)
			return source_fail(s, a, -EIO, "corrupt gzip stream");
		if ((s->z.data_type & 128) && !(s->z.data_type & 64) &&
		    s->total - s->last_cp >= LAYER_CHECKPOINT_SPAN &&
		    checkpoint_add(s, (uint8_t)(s->z.data_type & 7), s->out + s->keep + s->prod) < 0)
			return source_fail(s, a, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Decompress up to OUT_CHUNK bytes of zstd, with a checkpoint at a frame
 * boundary when one is due (only a blob of several frames has them). */
static int source_zstd(struct source *s, struct archive *a)
{
	while (s->prod < OUT_CHUNK && !s->done) {
		ssize_t avail = input_fill(&s->in, 1);
		ZSTD_inBuffer ib;
		ZSTD_outBuffer ob;

		if (avail < 0)
			return source_fail(s, a, (int)avail, "cannot read the blob");
		if (avail == 0) {
			if (s->zret != 0)
				return source_fail(s, a, -EIO, "truncated zstd stream");
			s->done = true;
			break;
		}
		ib = (ZSTD_inBuffer){ s->in.buf + s->in.pos, (size_t)avail, 0 };
		ob = (ZSTD_outBuffer){ s->out + s->keep + s->prod, OUT_CHUNK - s->prod, 0 };
		s->zret = ZSTD_decompressStream(s->zs, &ob, &ib);
		if (ZSTD_isError(s->zret))
			return source_fail(s, a, -EIO, "corrupt zstd stream");
		s->in.pos += ib.pos;
		s->prod += ob.pos;
		s->total += ob.pos;
		if (s->zret == 0 && s->total - s->last_cp >= LAYER_CHECKPOINT_SPAN &&
		    checkpoint_add(s, 0, NULL) < 0)
			return source_fail(s, a, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Tell the build's progress callback how much of the blob is read, when
 * LAYER_PROGRESS_STEP more is (or, with @last, whatever it is).  0 or
 * the callback's -errno. */
static int source_report(struct source *s, bool last)
{
	uint64_t done = s->ix->comp == LAYER_PLAIN ? s->total : input_tell(&s->in);

	if (!s->opts->progress || (!last && done - s->reported < LAYER_PROGRESS_STEP))
		return 0;
	s->reported = done;
	return s->opts->progress(s->opts->arg, done, s->blob_size);
}

/* libarchive's read callback: the next piece of the uncompressed stream.
 * The piece handed out last time is kept until now, as libarchive wants. */
static ssize_t source_read(struct archive *a, void *data, const void **bufp)
{
	struct source *s = data;
	size_t hist = s->keep + s->prod;
	size_t keep = hist < LAYER_WINDOW ? hist : LAYER_WINDOW;
	int ret;

	memmove(s->out, s->out + hist - keep, keep);
	s->keep = keep;
	s->prod = 0;
	switch (s->ix->comp) {
	case LAYER_PLAIN:
		while (!s->done) {
			ssize_t r = pread(s->in.fd, s->out + s->keep, OUT_CHUNK, (off_t)s->total);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return source_fail(s, a, -errno, "cannot read the blob");
			if (r == 0)
				s->done = true;
			s->prod = (size_t)r;
			s->total += (uint64_t)r;
			break;
		}
		ret = 0;
		break;
	case LAYER_GZIP:
		ret = source_gzip(s, a);
		break;
	default:
		ret = source_zstd(s, a);
		break;
	}
	if (ret < 0)
		return -1;
	if (s->ix->comp != LAYER_PLAIN && s->total > LAYER_STREAM_FREE &&
	    s->total / LAYER_RATIO_MAX > s->blob_size) {
		char what[96];

		snprintf(what, sizeof(what), "decompresses to over %u times its size (a bomb?)",
			 LAYER_RATIO_MAX);
		return source_fail(s, a, -EFBIG, what);
	}
	ret = source_report(s, false);
	if (ret < 0)
		return source_fail(s, a, ret, "called off");
	*bufp = s->out + s->keep;
	return (ssize_t)s->prod;
}

/* --- building ------------------------------------------------------------ */

/* The entries as libarchive gives them, before sorting: entries[i] is the
 * i-th header; path and link strings are in the names buffer. */
struct builder {
	struct layer_index *ix;
	struct buf names;
	struct layer_entry *raw;
	size_t n_raw, cap_raw;
	char path[LAYER_PATH_MAX + 1];
};

/* Append a NUL-terminated string of @len bytes to the names; its offset
 * into *@off.  0 or -EFBIG past LAYER_NAMES_MAX, -ENOMEM. */
static int names_add(struct builder *b, const void *p, size_t len, uint32_t *off)
{
	int ret;

	*off = (uint32_t)b->names.len;
	ret = buf_append(&b->names, p, len);
	if (ret == 0)
		ret = buf_append(&b->names, "", 1);
	return ret == -E2BIG ? -EFBIG : ret;
}

static int type_of(struct archive_entry *ae)
{
	if (archive_entry_hardlink(ae))
		return LAYER_HARDLINK;
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: return LAYER_REG;
	case AE_IFDIR: return LAYER_DIR;
	case AE_IFLNK: return LAYER_SYMLINK;
	case AE_IFCHR: return LAYER_CHR;
	case AE_IFBLK: return LAYER_BLK;
	case AE_IFIFO: return LAYER_FIFO;
	default: return -1; /* sockets and the unknown: not something a layer carries */
	}
}

/* Record one header.  0 (also for an entry skipped), -EFBIG, -ENOMEM. */
static int builder_add(struct builder *b, struct archive *a, struct archive_entry *ae)
{
	struct layer_index *ix = b->ix;
	const char *name = archive_entry_pathname(ae);
	struct layer_entry e = { 0 };
	const char *xname;
	const void *xval;
	size_t xsize;
	int len, type, ret;

	if (!name)
		name = archive_entry_pathname_utf8(ae);
	type = type_of(ae);
	len = name ? layer_path_normalize(name, b->path, sizeof(b->path)) : -EINVAL;
	if (len < 0 || type < 0 || (len == 0 && type != LAYER_DIR)) {
		if (ix->skipped++ < LOG_SKIPPED_MAX)
			log_info("layer '%s': entry '%.200s' left out (%s)", ix->digest,
				 name ? name : "", type < 0 ? "unsupported type" : "unsafe or empty path");
		return 0;
	}
	if (b->n_raw >= LAYER_ENTRIES_MAX)
		return -EFBIG;
	if (array_reserve(&b->raw, &b->cap_raw, b->n_raw + 1, sizeof(*b->raw)) < 0)
		return -ENOMEM;
	e.type = (uint8_t)type;
	e.mode = (uint32_t)archive_entry_perm(ae) & 07777;
	e.uid = (uint32_t)archive_entry_uid(ae);
	e.gid = (uint32_t)archive_entry_gid(ae);
	e.mtime = archive_entry_mtime(ae);
	e.mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
	if (type == LAYER_CHR || type == LAYER_BLK)
		e.rdev = archive_entry_rdev(ae);
	if (type == LAYER_REG) {
		e.size = (uint64_t)archive_entry_size(ae);
		e.data_off = (uint64_t)archive_filter_bytes(a, 0);
		if (archive_entry_sparse_reset(ae) > 0)
			e.flags |= LAYER_F_SPARSE;
	}
	e.path_len = (uint32_t)len;
	ret = names_add(b, b->path, (size_t)len, &e.path_off);
	if (ret < 0)
		return ret;
	if (type == LAYER_SYMLINK) {
		const char *t = archive_entry_symlink(ae);

		if (!t)
			t = archive_entry_symlink_utf8(ae);
		if (!t || !*t || strlen(t) > LAYER_PATH_MAX) {
			if (ix->skipped++ < LOG_SKIPPED_MAX)
				log_info("layer '%s': symlink '%s' left out (bad target)", ix->digest,
					 b->path);
			return 0;
		}
		/* kept as written: a relative target means something only where it stands */
		e.link_len = (uint32_t)strlen(t);
		ret = names_add(b, t, e.link_len, &e.link_off);
	} else if (type == LAYER_HARDLINK) {
		const char *t = archive_entry_hardlink(ae);
		int tlen = layer_path_normalize(t, b->path, sizeof(b->path));

		if (tlen <= 0) {
			e.flags |= LAYER_F_LINK_MISSING; /* nothing it could name is in the layer */
			tlen = 0;
		}
		e.link_len = (uint32_t)tlen;
		ret = names_add(b, tlen ? b->path : "", (size_t)tlen, &e.link_off);
	}
	if (ret < 0)
		return ret;
	e.xattr_first = (uint32_t)ix->n_xattrs;
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &xname, &xval, &xsize) == ARCHIVE_OK) {
		struct layer_xattr *x;
		size_t nlen = xname ? strlen(xname) : 0;

		if (nlen == 0 || nlen > LAYER_XATTR_NAME_MAX || xsize > LAYER_XATTR_VALUE_MAX) {
			if (ix->skipped < LOG_SKIPPED_MAX)
				log_info("layer '%s': an xattr of '%s' left out", ix->digest,
					 b->names.data + e.path_off);
			continue;
		}
		/* pax headers may carry one twice (SCHILY. and LIBARCHIVE.): the last wins */
		x = NULL;
		for (size_t k = e.xattr_first; k < ix->n_xattrs; k++)
			if (ix->xattrs[k].name_len == nlen &&
			    !memcmp(b->names.data + ix->xattrs[k].name_off, xname, nlen))
				x = &ix->xattrs[k];
		if (x) {
			x->value_len = (uint32_t)xsize;
			ret = names_add(b, xval, xsize, &x->value_off);
			if (ret < 0)
				return ret;
			continue;
		}
		if (array_reserve(&ix->xattrs, &ix->cap_xattrs, ix->n_xattrs + 1,
				  sizeof(*ix->xattrs)) < 0)
			return -ENOMEM;
		x = &ix->xattrs[ix->n_xattrs];
		x->name_len = (uint32_t)nlen;
		x->value_len = (uint32_t)xsize;
		ret = names_add(b, xname, nlen, &x->name_off);
		if (ret == 0)
			ret = names_add(b, xval, xsize, &x->value_off);
		if (ret < 0)
			return ret;
		ix->n_xattrs++;
		e.xattr_count++;
	}
	b->raw[b->n_raw++] = e;
	return 0;
}

static int raw_cmp(const void *pa, const void *pb, void *arg)
{
	const struct builder *b = arg;
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct layer_entry *ea = &b->raw[ia], *eb = &b->raw[ib];
	int c = layer_path_cmp(b->names.data + ea->path_off, ea->path_len, b->names.data + eb->path_off,
			 eb->path_len);

	return c ? c : (ia > ib) - (ia < ib);
}

/* In the sorted order @ord, the last header of path @p written before
 * header @before, or -1. */
static long raw_find_before(const struct builder *b, const uint32_t *ord, const char *p,
			    size_t plen, uint32_t before)
{
	size_t lo = 0, hi = b->n_raw;
	long found = -1;

	while (lo < hi) { /* the first of path >= p */
		size_t mid = lo + (hi - lo) / 2;
		const struct layer_entry *e = &b->raw[ord[mid]];

		if (layer_path_cmp(b->names.data + e->path_off, e->path_len, p, plen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < b->n_raw; lo++) {
		const struct layer_entry *e = &b->raw[ord[lo]];

		if (ord[lo] >= before ||
		    layer_path_cmp(b->names.data + e->path_off, e->path_len, p, plen) != 0)
			break;
		found = ord[lo];
	}
	return found;
}

/* Append @e to the final table. */
static int table_push(struct layer_index *ix, const struct layer_entry *e)
{
	if (ix->n_entries >= LAYER_ENTRIES_MAX)
		return -EFBIG;
	if (array_reserve(&ix->entries, &ix->cap_entries, ix->n_entries + 1, sizeof(*ix->entries)) < 0)
		return -ENOMEM;
	ix->entries[ix->n_entries++] = *e;
	return 0;
}

static struct layer_entry implicit_dir(uint32_t off, uint32_t len)
{
	return (struct layer_entry){ .type = LAYER_DIR, .mode = 0755, .flags = LAYER_F_IMPLICIT,
				     .path_off = off, .path_len = len };
}

/*
 * From the headers to the table: hardlinks take their target's data (the
 * target as it was when the link was written), the last header of a path
 * wins, missing parents become implicit directories, and whatever lies
 * below a non-directory is left out.
 */
static int builder_finish(struct builder *b)
{
	struct layer_index *ix = b->ix;
	uint32_t *ord = NULL;
	uint32_t stack[LAYER_DEPTH_MAX + 2];
	size_t top = 0;
	int ret = -ENOMEM;

	ord = malloc((b->n_raw ? b->n_raw : 1) * sizeof(*ord));
	if (!ord)
		goto out;
	for (size_t i = 0; i < b->n_raw; i++)
		ord[i] = (uint32_t)i;
	qsort_r(ord, b->n_raw, sizeof(*ord), raw_cmp, b);

	for (size_t i = 0; i < b->n_raw; i++) {
		struct layer_entry *e = &b->raw[i];
		long t;

		if (e->type != LAYER_HARDLINK || (e->flags & LAYER_F_LINK_MISSING))
			continue;
		t = raw_find_before(b, ord, b->names.data + e->link_off, e->link_len, (uint32_t)i);
		if (t < 0 || (b->raw[t].type != LAYER_REG && b->raw[t].type != LAYER_HARDLINK) ||
		    (b->raw[t].flags & LAYER_F_LINK_MISSING)) {
			e->flags |= LAYER_F_LINK_MISSING;
			continue;
		}
		/* one inode: the target's bytes and metadata, as link(2) on
		 * extraction gives (the hardlink's own header is not used);
		 * a link to a link names the file the chain ends at */
		e->data_off = b->raw[t].data_off;
		e->size = b->raw[t].size;
		e->flags |= b->raw[t].flags & LAYER_F_SPARSE;
		e->mode = b->raw[t].mode;
		e->uid = b->raw[t].uid;
		e->gid = b->raw[t].gid;
		e->mtime = b->raw[t].mtime;
		e->mtime_nsec = b->raw[t].mtime_nsec;
		e->xattr_first = b->raw[t].xattr_first;
		e->xattr_count = b->raw[t].xattr_count;
		if (b->raw[t].type == LAYER_HARDLINK) {
			e->link_off = b->raw[t].link_off;
			e->link_len = b->raw[t].link_len;
		}
	}

	/* the root: the last "./" header, else an implicit one */
	{
		struct layer_entry root = implicit_dir(0, 0);
		uint32_t off;

		for (size_t i = 0; i < b->n_raw && b->raw[ord[i]].path_len == 0; i++)
			root = b->raw[ord[i]];
		ret = names_add(b, "", 0, &off);
		if (ret < 0)
			goto out;
		root.path_off = off;
		ret = table_push(ix, &root);
		if (ret < 0)
			goto out;
	}
	stack[0] = 0;
	for (size_t i = 0; i < b->n_raw; i++) {
		struct layer_entry e = b->raw[ord[i]];
		const char *p = b->names.data + e.path_off;
		const struct layer_entry *a;

		if (e.path_len == 0)
			continue;
		if (i + 1 < b->n_raw && b->raw[ord[i + 1]].path_len == e.path_len &&
		    memcmp(b->names.data + b->raw[ord[i + 1]].path_off, p, e.path_len) == 0)
			continue; /* a later header of the same path wins */
		for (;;) {
			a = &ix->entries[stack[top]];
			if (path_is_ancestor(b->names.data + a->path_off, a->path_len, p, e.path_len))
				break;
			top--;
		}
		if (a->type != LAYER_DIR) {
			if (ix->skipped++ < LOG_SKIPPED_MAX)
				log_info("layer '%s': entry '%.200s' left out (below a non-directory)",
					 ix->digest, p);
			continue;
		}
		/* the directories between the nearest one present and the parent */
		for (size_t k = a->path_len ? a->path_len + 1 : 0; k < e.path_len; k++) {
			struct layer_entry d;

			if (p[k] != '/')
				continue;
			d = implicit_dir(0, (uint32_t)k);
			memcpy(b->path, p, k); /* not from the names, which the append may move */
			ret = names_add(b, b->path, k, &d.path_off);
			p = b->names.data + e.path_off; /* the names may have moved */
			if (ret < 0 || (ret = table_push(ix, &d)) < 0)
				goto out;
			stack[++top] = (uint32_t)(ix->n_entries - 1);
		}
		ret = table_push(ix, &e);
		if (ret < 0)
			goto out;
		stack[++top] = (uint32_t)(ix->n_entries - 1);
	}
	ret = 0;
out:
	free(ord);
	return ret;
}

int layer_index_build(int fd, const char *digest, struct layer_index **out, char *why, size_t n)
{
	return layer_index_build_with(fd, digest, NULL, out, why, n);
}

int layer_index_build_with(int fd, const char *digest, const struct layer_build_opts *opts,
			   struct layer_index **out, char *why, size_t n)
{
	static const struct layer_build_opts none;
	struct layer_index *ix = NULL;
	struct stat st;
	struct builder b = { 0 };
	struct source *s = NULL;
	struct archive *a = NULL;
	struct archive_entry *ae;
	ssize_t avail;
	int ret = -ENOMEM;

	*out = NULL;
	say(why, n, "out of memory");
	ix = index_new(digest);
	s = calloc(1, sizeof(*s));
	if (!ix || !s)
		goto out;
	buf_init(&b.names, LAYER_NAMES_MAX);
	b.ix = ix;
	s->ix = ix;
	s->zret = 1;
	s->opts = opts ? opts : &none;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		say(why, n, "cannot read the blob: %s", strerror(-ret));
		goto out;
	}
	s->blob_size = (uint64_t)st.st_size;
	input_init(&s->in, fd, 0);
	s->out = malloc(LAYER_WINDOW + OUT_CHUNK);
	if (!s->out)
		goto out;

	avail = input_fill(&s->in, 4);
	if (avail < 0) {
		ret = (int)avail;
		say(why, n, "cannot read the blob: %s", strerror(-ret));
		goto out;
	}
	if (is_gzip_magic(s->in.buf, (size_t)avail)) {
		ix->comp = LAYER_GZIP;
		if (inflateInit2(&s->z, 15 + 16) != Z_OK)
			goto out;
		s->z_ready = true;
	} else if (avail >= 4 && !memcmp(s->in.buf, "\x28\xb5\x2f\xfd", 4)) {
		ix->comp = LAYER_ZSTD;
		s->zs = ZSTD_createDCtx();
		if (!s->zs)
			goto out;
	}
	if (ix->comp != LAYER_PLAIN && checkpoint_add(s, 0, NULL) < 0)
		goto out;

	a = archive_read_new();
	if (!a)
		goto out;
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open(a, s, NULL, source_read, NULL) != ARCHIVE_OK) {
		ret = s->err ? s->err : -EIO;
		say(why, n, "not a tar: %s", s->err ? s->why : archive_error_string(a));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &ae);

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ret = s->err ? s->err : -EIO;
			say(why, n, "%s", s->err ? s->why : archive_error_string(a));
			goto out;
		}
		ret = builder_add(&b, a, ae);
		if (ret < 0) {
			say(why, n, ret == -EFBIG ? "more entries or names than a layer may hold"
						  : "out of memory");
			goto out;
		}
	}
	ix->stream_size = s->total;
	ret = source_report(s, true);
	if (ret < 0) {
		say(why, n, "called off");
		goto out;
	}
	ret = builder_finish(&b);
	if (ret < 0) {
		say(why, n, ret == -EFBIG ? "more entries or names than a layer may hold"
					  : "out of memory");
		goto out;
	}
	ix->names = buf_detach(&b.names, &ix->names_len);
	if (!ix->names) {
		ret = -ENOMEM;
		goto out;
	}
	if (index_link(ix) < 0)
		BUG("layer index built out of order");
	if (ix->skipped > LOG_SKIPPED_MAX)
		log_info("layer '%s': %zu entries left out in all", ix->digest, ix->skipped);
	*out = ix;
	ix = NULL;
	ret = 0;
	say(why, n, "indexed");
out:
	if (a)
		archive_read_free(a);
	if (s) {
		if (s->z_ready)
			inflateEnd(&s->z);
		ZSTD_freeDCtx(s->zs);
		free(s->out);
		free(s);
	}
	free(b.raw);
	buf_release(&b.names, 0);
	layer_index_free(ix);
	return ret;
}

/* --- reading a file ------------------------------------------------------ */

#define SCRATCH (64u << 10)

/* The last checkpoint at or before uncompressed offset @u (cps[0] is at 0). */
static const struct layer_checkpoint *checkpoint_find(const struct layer_index *ix, uint64_t u)
{
	size_t lo = 0, hi = ix->n_cps;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->cps[mid].uout <= u)
			lo = mid;
		else
			hi = mid;
	}
	return &ix->cps[lo];
}

/*
 * A decompressor left where the last read stopped: the next read at or a
 * little after that point goes on from there, so a file read front to back
 * is decompressed once rather than once per read from its checkpoint.
 */
struct layer_reader {
	struct layer_index *ix; /* borrowed */
	int fd;			/* borrowed */
	struct input in;
	z_stream z;
	bool z_ready, raw;
	ZSTD_DCtx *zs;
	bool live;  /* the decompressor is at spos + slen */
	bool ended; /* and the stream has no more */
	uint64_t spos; /* uncompressed offset of scratch[0] */
	size_t slen;
	unsigned char scratch[SCRATCH];
	unsigned char window[LAYER_WINDOW]; /* a checkpoint's, inflated */
};

int layer_reader_new(struct layer_index *ix, int fd, struct layer_reader **out)
{
	struct layer_reader *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->ix = ix;
	r->fd = fd;
	*out = r;
	return 0;
}

void layer_reader_free(struct layer_reader *r)
{
	if (!r)
		return;
	if (r->z_ready)
		inflateEnd(&r->z);
	ZSTD_freeDCtx(r->zs);
	free(r);
}

/* Put the decompressor at checkpoint @cp.  0, -EIO, -ENOMEM, -errno. */
static int reader_start(struct layer_reader *r, const struct layer_checkpoint *cp)
{
	ssize_t avail;

	r->live = r->ended = false;
	r->spos = cp->uout;
	r->slen = 0;
	input_init(&r->in, r->fd, cp->cin - (cp->bits ? 1 : 0));
	if (r->ix->comp == LAYER_ZSTD) {
		if (!r->zs && !(r->zs = ZSTD_createDCtx()))
			return -ENOMEM;
		ZSTD_DCtx_reset(r->zs, ZSTD_reset_session_only);
		r->live = true;
		return 0;
	}
	if (r->z_ready)
		inflateEnd(&r->z);
	memset(&r->z, 0, sizeof(r->z));
	r->raw = cp->uout != 0;
	r->z_ready = inflateInit2(&r->z, r->raw ? -15 : 15 + 16) == Z_OK;
	if (!r->z_ready)
		return -ENOMEM;
	if (r->raw && cp->bits) {
		avail = input_fill(&r->in, 1);
		if (avail < 1)
			return avail < 0 ? (int)avail : -EIO;
		inflatePrime(&r->z, cp->bits, r->in.buf[r->in.pos++] >> (8 - cp->bits));
	}
	if (r->raw && cp->window_len) {
		uLongf wlen = LAYER_WINDOW;

		if (uncompress(r->window, &wlen, cp->window, cp->window_zlen) != Z_OK ||
		    wlen != cp->window_len ||
		    inflateSetDictionary(&r->z, r->window, cp->window_len) != Z_OK)
			return -EIO;
	}
	r->live = true;
	return 0;
}

/* After a gzip member's end: on to the next member, or the stream ended. */
static int reader_next_member(struct layer_reader *r)
{
	ssize_t avail;

	if (r->raw) { /* the member's trailer, which the raw inflater leaves */
		avail = input_fill(&r->in, 8);
		if (avail < 8) {
			r->ended = true;
			return avail < 0 ? (int)avail : 0;
		}
		r->in.pos += 8;
	}
	avail = input_fill(&r->in, 2);
	if (avail < 0)
		return (int)avail;
	if (!is_gzip_magic(r->in.buf + r->in.pos, (size_t)avail)) {
		r->ended = true;
		return 0;
	}
	if (r->raw) {
		inflateEnd(&r->z);
		memset(&r->z, 0, sizeof(r->z));
		r->z_ready = inflateInit2(&r->z, 15 + 16) == Z_OK;
		if (!r->z_ready)
			return -ENOMEM;
		r->raw = false;
	} else {
		inflateReset(&r->z);
	}
	return 0;
}

/* Decompress the next bytes into the scratch (at least one unless the
 * stream ended).  0, -EIO for a stream cut short or corrupt, -errno. */
static int reader_step(struct layer_reader *r)
{
	r->spos += r->slen;
	r->slen = 0;
	while (r->slen == 0 && !r->ended) {
		ssize_t avail = input_fill(&r->in, 1);

		if (avail <= 0)
			return avail < 0 ? (int)avail : -EIO; /* shorter than when indexed */
		if (r->ix->comp == LAYER_ZSTD) {
			ZSTD_inBuffer ib = { r->in.buf + r->in.pos, (size_t)avail, 0 };
			ZSTD_outBuffer ob = { r->scratch, SCRATCH, 0 };

			if (ZSTD_isError(ZSTD_decompressStream(r->zs, &ob, &ib)))
				return -EIO;
			r->in.pos += ib.pos;
			r->slen = ob.pos;
		} else {
			int ret;

			r->z.next_in = r->in.buf + r->in.pos;
			r->z.avail_in = (uInt)avail;
			r->z.next_out = r->scratch;
			r->z.avail_out = SCRATCH;
			ret = inflate(&r->z, Z_NO_FLUSH);
			r->in.pos = r->in.len - r->z.avail_in;
			r->slen = SCRATCH - r->z.avail_out;
			if (ret == Z_STREAM_END) {
				ret = reader_next_member(r);
				if (ret < 0)
					return ret;
			} else if (ret != Z_OK && !(ret == Z_BUF_ERROR && r->z.avail_in == 0)) {
				return -EIO;
			}
		}
	}
	__atomic_fetch_add(&r->ix->decompressed, r->slen, __ATOMIC_RELAXED);
	return 0;
}

/* Copy what of the scratch falls in [@want, @want + @len), from @done on. */
static size_t reader_copy(const struct layer_reader *r, unsigned char *dst, uint64_t want,
			  size_t len, size_t done)
{
	uint64_t from = want + done, to = want + len, end = r->spos + r->slen;
	uint64_t lo = r->spos > from ? r->spos : from, hi = end < to ? end : to;

	if (lo >= hi)
		return 0;
	memcpy(dst + (lo - want), r->scratch + (lo - r->spos), (size_t)(hi - lo));
	return (size_t)(hi - lo);
}

/* Check entry @entry and clip [@off, @off + *@len) to its size; *@want gets
 * the stream offset.  1 to read, 0 for nothing to read, or -errno. */
static int read_clip(const struct layer_index *ix, size_t entry, uint64_t off, size_t *len,
		     uint64_t *want)
{
	const struct layer_entry *e;

	if (entry >= ix->n_entries)
		return -EINVAL;
	e = &ix->entries[entry];
	if (e->type != LAYER_REG && e->type != LAYER_HARDLINK)
		return -EINVAL;
	if (e->flags & (LAYER_F_SPARSE | LAYER_F_LINK_MISSING))
		return -EIO;
	if (off >= e->size || *len == 0)
		return 0;
	if (*len > e->size - off)
		*len = (size_t)(e->size - off);
	*want = e->data_off + off;
	return 1;
}

int layer_reader_read(struct layer_reader *r, size_t entry, uint64_t off, void *buf, size_t len,
		      size_t *got)
{
	const struct layer_checkpoint *cp;
	uint64_t want = 0;
	size_t done = 0;
	int ret;

	*got = 0;
	ret = read_clip(r->ix, entry, off, &len, &want);
	if (ret <= 0)
		return ret;
	if (r->ix->comp == LAYER_PLAIN) {
		while (done < len) {
			ssize_t n = pread(r->fd, (char *)buf + done, len - done, (off_t)(want + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			done += (size_t)n;
		}
		*got = len;
		return 0;
	}
	/* go on from where the last read stopped unless that is past the bytes
	 * wanted, or a checkpoint lies between it and them */
	cp = checkpoint_find(r->ix, want);
	if (!r->live || want < r->spos || cp->uout > r->spos + r->slen) {
		ret = reader_start(r, cp);
		if (ret < 0)
			goto out;
	}
	for (;;) {
		done += reader_copy(r, buf, want, len, done);
		if (done == len)
			break;
		ret = r->ended ? -EIO : reader_step(r);
		if (ret < 0)
			goto out;
	}
	*got = len;
	ret = 0;
out:
	if (ret < 0)
		r->live = false;
	return ret;
}

int layer_index_read(struct layer_index *ix, int fd, size_t entry, uint64_t off, void *buf,
		     size_t len, size_t *got)
{
	struct layer_reader *r = NULL;
	uint64_t want;
	int ret;

	*got = 0;
	ret = read_clip(ix, entry, off, &len, &want);
	if (ret <= 0)
		return ret;
	ret = layer_reader_new(ix, fd, &r);
	if (ret == 0)
		ret = layer_reader_read(r, entry, off, buf, len, got);
	layer_reader_free(r);
	return ret;
}

/* --- the stored form ------------------------------------------------------ */

/*
 * Little-endian throughout:
 *   "RGFSLIX\n", u32 version, char digest[DIGEST_STR_LEN + 1] (NUL-padded),
 *   u32 compression, u32 entries, u32 xattrs, u32 checkpoints, u64 names,
 *   u64 stream size, u64 skipped, char sha256[DIGEST_STR_LEN] of all the rest;
 *   then the body: the entries (ENTRY_BYTES each, parent and end left out:
 *   load works them out again), the xattrs (4 x u32), the checkpoints
 *   (u64 uout, u64 cin, u8 bits, u32 window length, u32 its deflated length,
 *   the window deflated) and the
 *   names.
 */
#define INDEX_MAGIC "RGFSLIX\n"
#define INDEX_VERSION 1u
#define HEADER_BYTES (8 + 4 + (DIGEST_STR_LEN + 1) + 4 * 4 + 3 * 8 + DIGEST_STR_LEN)
#define ENTRY_BYTES (4 * 8 + 10 * 4 + 2)
#define XATTR_BYTES (4 * 4)
#define CHECKPOINT_BYTES (8 + 8 + 1 + 4 + 4)

static int put(struct buf *o, const void *p, size_t n)
{
	return buf_append(o, p, n);
}

static int put_u8(struct buf *o, uint8_t v)
{
	return put(o, &v, 1);
}

static int put_u32(struct buf *o, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };

	return put(o, b, 4);
}

static int put_u64(struct buf *o, uint64_t v)
{
	int ret = put_u32(o, (uint32_t)v);

	return ret ? ret : put_u32(o, (uint32_t)(v >> 32));
}

/* The checksum of a stored index: of the header before it, then the body. */
static void index_sum(const void *head, size_t hlen, const void *body, size_t blen,
		      char sum[DIGEST_STR_LEN + 1])
{
	struct digest_ctx c;

	if (digest_ctx_init(&c) < 0) { /* cannot match any stored sum */
		memset(sum, 0, DIGEST_STR_LEN + 1);
		return;
	}
	digest_ctx_update(&c, head, hlen);
	if (blen)
		digest_ctx_update(&c, body, blen);
	digest_ctx_final(&c, sum);
}

int layer_index_save(const struct layer_index *ix, struct buf *out)
{
	struct buf body = BUF_INIT(out->max);
	char digest[DIGEST_STR_LEN + 1] = { 0 };
	char sum[DIGEST_STR_LEN + 1];
	size_t start;
	int ret = 0;

	for (size_t i = 0; i < ix->n_entries && !ret; i++) {
		const struct layer_entry *e = &ix->entries[i];

		ret = put_u64(&body, e->data_off);
		ret = ret ? ret : put_u64(&body, e->size);
		ret = ret ? ret : put_u64(&body, e->rdev);
		ret = ret ? ret : put_u64(&body, (uint64_t)e->mtime);
		ret = ret ? ret : put_u32(&body, e->mtime_nsec);
		ret = ret ? ret : put_u32(&body, e->mode);
		ret = ret ? ret : put_u32(&body, e->uid);
		ret = ret ? ret : put_u32(&body, e->gid);
		ret = ret ? ret : put_u32(&body, e->path_off);
		ret = ret ? ret : put_u32(&body, e->path_len);
		ret = ret ? ret : put_u32(&body, e->link_off);
		ret = ret ? ret : put_u32(&body, e->link_len);
		ret = ret ? ret : put_u32(&body, e->xattr_first);
		ret = ret ? ret : put_u32(&body, e->xattr_count);
		ret = ret ? ret : put_u8(&body, e->type);
		ret = ret ? ret : put_u8(&body, e->flags);
	}
	for (size_t i = 0; i < ix->n_xattrs && !ret; i++) {
		const struct layer_xattr *x = &ix->xattrs[i];

		ret = put_u32(&body, x->name_off);
		ret = ret ? ret : put_u32(&body, x->name_len);
		ret = ret ? ret : put_u32(&body, x->value_off);
		ret = ret ? ret : put_u32(&body, x->value_len);
	}
	for (size_t i = 0; i < ix->n_cps && !ret; i++) {
		const struct layer_checkpoint *cp = &ix->cps[i];

		ret = put_u64(&body, cp->uout);
		ret = ret ? ret : put_u64(&body, cp->cin);
		ret = ret ? ret : put_u8(&body, cp->bits);
		ret = ret ? ret : put_u32(&body, cp->window_len);
		ret = ret ? ret : put_u32(&body, cp->window_zlen);
		ret = ret ? ret : put(&body, cp->window, cp->window_zlen);
	}
	ret = ret ? ret : put(&body, ix->names, ix->names_len);
	if (ret)
		goto out;
	snprintf(digest, sizeof(digest), "%s", ix->digest);
	start = out->len;
	ret = put(out, INDEX_MAGIC, 8);
	ret = ret ? ret : put_u32(out, INDEX_VERSION);
	ret = ret ? ret : put(out, digest, sizeof(digest));
	ret = ret ? ret : put_u32(out, (uint32_t)ix->comp);
	ret = ret ? ret : put_u32(out, (uint32_t)ix->n_entries);
	ret = ret ? ret : put_u32(out, (uint32_t)ix->n_xattrs);
	ret = ret ? ret : put_u32(out, (uint32_t)ix->n_cps);
	ret = ret ? ret : put_u64(out, ix->names_len);
	ret = ret ? ret : put_u64(out, ix->stream_size);
	ret = ret ? ret : put_u64(out, ix->skipped);
	if (ret)
		goto out;
	index_sum(out->data + start, HEADER_BYTES - DIGEST_STR_LEN, body.data, body.len, sum);
	ret = put(out, sum, DIGEST_STR_LEN);
	ret = ret ? ret : put(out, body.data, body.len);
out:
	buf_release(&body, 0);
	return ret;
}

/* A bounds-checked reader over the stored bytes. */
struct cursor {
	const unsigned char *p;
	size_t left;
	bool bad; /* a read went past the end: every later read gives 0 */
};

static const unsigned char *take(struct cursor *c, size_t n)
{
	const unsigned char *p = c->p;

	if (c->bad || n > c->left) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

static uint8_t get_u8(struct cursor *c)
{
	const unsigned char *p = take(c, 1);

	return p ? p[0] : 0;
}

static uint32_t get_u32(struct cursor *c)
{
	const unsigned char *p = take(c, 4);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			   (uint32_t)p[3] << 24
		 : 0;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t lo = get_u32(c);

	return lo | (uint64_t)get_u32(c) << 32;
}

/* Is [@off, @off + @len] (the NUL included when @nul) inside the names, and
 * for a string, NUL-terminated there with no NUL before? */
static bool names_span_ok(const struct layer_index *ix, uint32_t off, uint32_t len, bool nul)
{
	if ((uint64_t)off + len + (nul ? 1 : 0) > ix->names_len)
		return false;
	return !nul || (ix->names[off + len] == '\0' && memchr(ix->names + off, 0, len) == NULL);
}

static bool entry_ok(const struct layer_index *ix, const struct layer_entry *e, size_t i,
		     char *norm)
{
	const char *p;

	if (e->type < LAYER_REG || e->type > LAYER_FIFO || e->mode & ~07777u ||
	    e->mtime_nsec >= 1000000000u ||
	    e->flags & ~(LAYER_F_IMPLICIT | LAYER_F_SPARSE | LAYER_F_LINK_MISSING))
		return false;
	if (!names_span_ok(ix, e->path_off, e->path_len, true) || (i == 0) != (e->path_len == 0))
		return false;
	p = ix->names + e->path_off;
	if (i > 0 && (layer_path_normalize(p, norm, LAYER_PATH_MAX + 1) != (int)e->path_len ||
		      memcmp(norm, p, e->path_len) != 0))
		return false;
	if ((uint64_t)e->xattr_first + e->xattr_count > ix->n_xattrs)
		return false;
	if (e->type == LAYER_SYMLINK && (e->link_len == 0 || e->link_len > LAYER_PATH_MAX))
		return false;
	if (e->type != LAYER_SYMLINK && e->type != LAYER_HARDLINK && e->link_len)
		return false;
	if (e->link_len && !names_span_ok(ix, e->link_off, e->link_len, true))
		return false;
	/* a sparse file's size is what it unpacks to, not what the tar holds
	 * (its reads are refused) */
	if (e->type == LAYER_REG || e->type == LAYER_HARDLINK)
		return (e->flags & LAYER_F_SPARSE) ||
		       (e->data_off <= ix->stream_size && e->size <= ix->stream_size - e->data_off);
	return e->size == 0 && e->data_off == 0;
}

static int checkpoints_load(struct layer_index *ix, struct cursor *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct layer_checkpoint *cp = &ix->cps[i];
		const unsigned char *w;

		cp->uout = get_u64(c);
		cp->cin = get_u64(c);
		cp->bits = get_u8(c);
		cp->window_len = get_u32(c);
		cp->window_zlen = get_u32(c);
		ix->n_cps = i + 1; /* so the window below is freed */
		if (c->bad || cp->bits > 7 || cp->window_len > LAYER_WINDOW ||
		    cp->window_zlen > compressBound(LAYER_WINDOW) ||
		    (cp->window_len == 0) != (cp->window_zlen == 0))
			return -EINVAL;
		if (i == 0 ? cp->uout || cp->cin || cp->bits || cp->window_len
			   : cp->uout <= ix->cps[i - 1].uout || cp->cin <= ix->cps[i - 1].cin ||
				     cp->uout > ix->stream_size)
			return -EINVAL;
		if (ix->comp == LAYER_ZSTD && (cp->bits || cp->window_len))
			return -EINVAL;
		if (ix->comp == LAYER_GZIP && i > 0 &&
		    cp->window_len != (cp->uout < LAYER_WINDOW ? cp->uout : LAYER_WINDOW))
			return -EINVAL;
		if (!cp->window_len)
			continue;
		/* whether it inflates to window_len is checked where it is used */
		w = take(c, cp->window_zlen);
		if (!w)
			return -EINVAL;
		cp->window = malloc(cp->window_zlen);
		if (!cp->window)
			return -ENOMEM;
		memcpy(cp->window, w, cp->window_zlen);
	}
	return 0;
}

int layer_index_load(const void *p, size_t len, const char *digest, struct layer_index **out)
{
	struct cursor c = { p, len, false };
	struct layer_index *ix = NULL;
	const unsigned char *magic, *dg, *sum;
	char body_sum[DIGEST_STR_LEN + 1];
	char norm[LAYER_PATH_MAX + 1];
	uint32_t comp, n_entries, n_xattrs, n_cps;
	uint64_t names_len;
	int ret = -EINVAL;

	*out = NULL;
	magic = take(&c, 8);
	if (!magic || memcmp(magic, INDEX_MAGIC, 8) || get_u32(&c) != INDEX_VERSION)
		goto out;
	dg = take(&c, DIGEST_STR_LEN + 1);
	if (!dg || !digest || strlen(digest) > DIGEST_STR_LEN ||
	    strncmp((const char *)dg, digest, DIGEST_STR_LEN + 1) != 0)
		goto out;
	comp = get_u32(&c);
	n_entries = get_u32(&c);
	n_xattrs = get_u32(&c);
	n_cps = get_u32(&c);
	names_len = get_u64(&c);
	ret = -ENOMEM;
	ix = index_new(digest);
	if (!ix)
		goto out;
	ret = -EINVAL;
	ix->comp = comp;
	ix->stream_size = get_u64(&c);
	ix->skipped = (size_t)get_u64(&c);
	sum = take(&c, DIGEST_STR_LEN);
	if (c.bad || comp > LAYER_ZSTD || n_entries == 0 || n_entries > LAYER_ENTRIES_MAX ||
	    n_xattrs > LAYER_NAMES_MAX / 2 || names_len > LAYER_NAMES_MAX ||
	    n_cps > LAYER_CHECKPOINTS_MAX || (comp == LAYER_PLAIN) != (n_cps == 0))
		goto out;
	/* the fixed-size tables and the names must fit in what is left */
	if ((uint64_t)n_entries * ENTRY_BYTES + (uint64_t)n_xattrs * XATTR_BYTES +
		    (uint64_t)n_cps * CHECKPOINT_BYTES + names_len > c.left)
		goto out;
	index_sum(p, HEADER_BYTES - DIGEST_STR_LEN, c.p, c.left, body_sum);
	if (memcmp(sum, body_sum, DIGEST_STR_LEN) != 0)
		goto out;

	ret = -ENOMEM;
	ix->entries = calloc(n_entries, sizeof(*ix->entries));
	ix->xattrs = calloc(n_xattrs ? n_xattrs : 1, sizeof(*ix->xattrs));
	ix->cps = calloc(n_cps ? n_cps : 1, sizeof(*ix->cps));
	ix->names = malloc(names_len + 1);
	if (!ix->entries || !ix->xattrs || !ix->cps || !ix->names)
		goto out;
	/* a fresh mount's first lookup is mostly these tables' page faults */
	buf_prefault(ix->entries, n_entries * sizeof(*ix->entries));
	buf_prefault(ix->names, names_len + 1);
	ix->n_entries = n_entries;
	ix->n_xattrs = n_xattrs;
	for (size_t i = 0; i < n_entries; i++) {
		struct layer_entry *e = &ix->entries[i];

		e->data_off = get_u64(&c);
		e->size = get_u64(&c);
		e->rdev = get_u64(&c);
		e->mtime = (int64_t)get_u64(&c);
		e->mtime_nsec = get_u32(&c);
		e->mode = get_u32(&c);
		e->uid = get_u32(&c);
		e->gid = get_u32(&c);
		e->path_off = get_u32(&c);
		e->path_len = get_u32(&c);
		e->link_off = get_u32(&c);
		e->link_len = get_u32(&c);
		e->xattr_first = get_u32(&c);
		e->xattr_count = get_u32(&c);
		e->type = get_u8(&c);
		e->flags = get_u8(&c);
	}
	for (size_t i = 0; i < n_xattrs; i++) {
		struct layer_xattr *x = &ix->xattrs[i];

		x->name_off = get_u32(&c);
		x->name_len = get_u32(&c);
		x->value_off = get_u32(&c);
		x->value_len = get_u32(&c);
	}
	ret = checkpoints_load(ix, &c, n_cps);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if (c.bad || c.left != names_len)
		goto out;
	memcpy(ix->names, c.p, names_len);
	ix->names[names_len] = '\0';
	ix->names_len = names_len;

	for (size_t i = 0; i < n_xattrs; i++) {
		const struct layer_xattr *x = &ix->xattrs[i];

		if (x->name_len == 0 || x->name_len > LAYER_XATTR_NAME_MAX ||
		    x->value_len > LAYER_XATTR_VALUE_MAX ||
		    !names_span_ok(ix, x->name_off, x->name_len, true) ||
		    !names_span_ok(ix, x->value_off, x->value_len, false))
			goto out;
	}
	for (size_t i = 0; i < n_entries; i++)
		if (!entry_ok(ix, &ix->entries[i], i, norm))
			goto out;
	if (index_link(ix) < 0)
		goto out;
	*out = ix;
	ix = NULL;
	ret = 0;
out:
	layer_index_free(ix);
	return ret;
}
