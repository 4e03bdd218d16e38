/*
 * Unit tests for layer/index.c: tars written here with libarchive's writer
 * (ustar, pax, GNU), compressed here with zlib and libzstd (one gzip
 * member or several, one zstd frame or several), indexed, read back file
 * by file and compared with what was written; a 24 MiB gzip layer read
 * near its end from a checkpoint; the stored form round-tripped, then
 * corrupted and truncated; and hostile tars.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "layer/index.h"
#include "layer/merge.h"

#include "check.h"

/* the tables below leave the fields they do not need zero on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *tmpdir;

/* One entry to write: type is a layer_type (LAYER_HARDLINK writes a link). */
struct tent {
	const char *path;
	int type;
	unsigned mode;
	const char *data; /* NULL with size: pseudo-random bytes from seed */
	size_t size;
	const char *link;
	const char *xname, *xval;
	unsigned seed;
};

/* Bytes of @n for seed @seed: compressible like real files, not trivially. */
static void fill_bytes(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)("abcdefghijklmnop\n "[(x >> 16) % 18] ^ ((x >> 28) & 1));
	}
}

static unsigned char *tent_bytes(const struct tent *t)
{
	unsigned char *p = malloc(t->size ? t->size : 1);

	if (t->data)
		memcpy(p, t->data, t->size);
	else
		fill_bytes(p, t->size, t->seed);
	return p;
}

/* Write the tar @path in libarchive @format. */
static void tar_write(const char *path, int format, const struct tent *t, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();

	archive_write_set_format(a, format);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		fprintf(stderr, "tar_write: %s\n", archive_error_string(a));
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char *data = NULL;

		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, t[i].path);
		archive_entry_set_perm(ae, t[i].mode);
		archive_entry_set_uid(ae, 1000 + i);
		archive_entry_set_gid(ae, 2000 + i);
		archive_entry_set_mtime(ae, 1700000000 + (time_t)i, 123456789);
		switch (t[i].type) {
		case LAYER_REG: archive_entry_set_filetype(ae, AE_IFREG); break;
		case LAYER_DIR: archive_entry_set_filetype(ae, AE_IFDIR); break;
		case LAYER_SYMLINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, t[i].link);
			break;
		case LAYER_HARDLINK:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, t[i].link);
			break;
		case LAYER_CHR:
		case LAYER_BLK:
			archive_entry_set_filetype(ae, t[i].type == LAYER_CHR ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_rdev(ae, makedev(4, 64 + i));
			break;
		case LAYER_FIFO: archive_entry_set_filetype(ae, AE_IFIFO); break;
		}
		if (t[i].type == LAYER_REG) {
			data = tent_bytes(&t[i]);
			archive_entry_set_size(ae, (int64_t)t[i].size);
		}
		if (t[i].xname)
			archive_entry_xattr_add_entry(ae, t[i].xname, t[i].xval, strlen(t[i].xval));
		if (archive_write_header(a, ae) < ARCHIVE_WARN) {
			fprintf(stderr, "tar_write '%s': %s\n", t[i].path, archive_error_string(a));
			exit(1);
		}
		if (data && t[i].size)
			archive_write_data(a, data, t[i].size);
		free(data);
	}
	archive_entry_free(ae);
	archive_write_close(a);
	archive_write_free(a);
}

static unsigned char *file_read(const char *path, size_t *len)
{
	struct buf b = BUF_INIT(1u << 30);
	int fd = open(path, O_RDONLY);

	if (fd < 0 || buf_read_fd(&b, fd) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
	return (unsigned char *)buf_detach(&b, len);
}

static void file_write(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

enum comp { C_PLAIN, C_GZIP, C_GZIP3, C_ZSTD, C_ZSTD_FRAMES };
static const char *const comp_names[] = { "plain", "gzip", "gzip-3-members", "zstd",
					  "zstd-frames" };

/* Compress @in into @out: gzip in @parts members, or zstd in frames of
 * @frame bytes (0: one frame). */
static void compress_file(const char *in, const char *out, enum comp c, size_t frame)
{
	size_t len, olen = 0, cap;
	unsigned char *src = file_read(in, &len), *dst;
	size_t parts = c == C_GZIP3 ? 3 : 1;

	cap = len + len / 2 + (1u << 20);
	dst = malloc(cap);
	if (c == C_PLAIN) {
		memcpy(dst, src, len);
		olen = len;
	} else if (c == C_GZIP || c == C_GZIP3) {
		for (size_t k = 0; k < parts; k++) {
			size_t from = len * k / parts, to = len * (k + 1) / parts;
			z_stream z = { 0 };

			deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
			z.next_in = src + from;
			z.avail_in = (uInt)(to - from);
			z.next_out = dst + olen;
			z.avail_out = (uInt)(cap - olen);
			if (deflate(&z, Z_FINISH) != Z_STREAM_END)
				exit(2);
			olen = cap - z.avail_out;
			deflateEnd(&z);
		}
	} else {
		size_t step = c == C_ZSTD_FRAMES && frame ? frame : len;

		for (size_t from = 0; from < len || from == 0; from += step) {
			size_t n = len - from < step ? len - from : step;
			size_t r = ZSTD_compress(dst + olen, cap - olen, src + from, n, 3);

			if (ZSTD_isError(r))
				exit(2);
			olen += r;
			if (n == 0)
				break;
		}
	}
	file_write(out, dst, olen);
	free(src);
	free(dst);
}

static char *tmp_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		exit(1);
	return p;
}

/* Build the index of blob @path; the fd stays open in *@fd. */
static int build(const char *path, struct layer_index **ix, int *fd, char *why, size_t n)
{
	*fd = open(path, O_RDONLY);
	if (*fd < 0) {
		perror(path);
		exit(1);
	}
	return layer_index_build(*fd, DIGEST, ix, why, n);
}

/* Does entry @path hold exactly @want's bytes, read in odd-sized pieces? */
static void check_content(struct layer_index *ix, int fd, const char *path, const struct tent *want)
{
	size_t i = layer_index_find(ix, path), got, pos = 0;
	/* odd-sized pieces, but not so many that each restarts a long way back */
	size_t piece = want->size / 5 > 7777 ? want->size / 5 + 1 : 7777;
	unsigned char *exp = tent_bytes(want), *buf = malloc(want->size + 16);

	struct layer_reader *r = NULL;

	CHECK(i != LAYER_NONE, "'%s' not found", path);
	if (i == LAYER_NONE || layer_reader_new(ix, fd, &r) < 0)
		goto out;
	/* front to back through one reader, as a file open for reading is */
	while (pos < want->size) {
		int ret = layer_reader_read(r, i, pos, buf + pos, piece, &got);

		CHECK_EQ(ret, 0);
		if (ret || got == 0)
			break;
		pos += got;
	}
	CHECK_EQ(pos, want->size);
	CHECK(memcmp(buf, exp, want->size) == 0, "'%s': bytes differ", path);
	/* past the end: nothing; across the end: only the rest */
	CHECK_EQ(layer_index_read(ix, fd, i, want->size, buf, 10, &got), 0);
	CHECK_EQ(got, 0);
	if (want->size > 3) {
		CHECK_EQ(layer_index_read(ix, fd, i, want->size - 3, buf, 16, &got), 0);
		CHECK_EQ(got, 3);
		/* and back to the start through the same reader */
		CHECK_EQ(layer_reader_read(r, i, 1, buf, 2, &got), 0);
		CHECK(got == 2 && !memcmp(buf, exp + 1, 2), "'%s': back to the start", path);
	}
out:
	layer_reader_free(r);
	free(exp);
	free(buf);
}

static void test_normalize(void)
{
	static const struct {
		const char *in, *out; /* out NULL: -EINVAL */
	} cases[] = {
		{ "a", "a" },	       { "./a/b", "a/b" },  { "/a//b/", "a/b" }, { "./", "" },
		{ ".", "" },	       { "//", "" },	     { "a/./b", "a/b" },  { "././x", "x" },
		{ "", NULL },	       { "..", NULL },	     { "../a", NULL },	  { "a/../b", NULL },
		{ "a/..", NULL },      { "a/..b", "a/..b" }, { "...", "..." },	  { ".a/.b", ".a/.b" },
	};
	char out[LAYER_PATH_MAX + 1], *big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = layer_path_normalize(cases[i].in, out, sizeof(out));

		if (!cases[i].out)
			CHECK(r == -EINVAL, "'%s' gave %d", cases[i].in, r);
		else
			CHECK(r >= 0 && !strcmp(out, cases[i].out), "'%s' gave %d '%s'", cases[i].in,
			      r, r >= 0 ? out : "");
	}
	big = malloc(3 * LAYER_PATH_MAX);
	memset(big, 'x', LAYER_PATH_MAX);
	big[LAYER_PATH_MAX] = '\0';
	CHECK_EQ(layer_path_normalize(big, out, sizeof(out)), LAYER_PATH_MAX);
	big[LAYER_PATH_MAX] = 'x';
	big[LAYER_PATH_MAX + 1] = '\0';
	CHECK_EQ(layer_path_normalize(big, out, sizeof(out)), -EINVAL);
	for (size_t i = 0; i < 2 * (LAYER_DEPTH_MAX + 1); i += 2) {
		big[i] = 'd';
		big[i + 1] = '/';
	}
	big[2 * (LAYER_DEPTH_MAX + 1)] = '\0'; /* 257 components */
	CHECK_EQ(layer_path_normalize(big, out, sizeof(out)), -EINVAL);
	big[2 * LAYER_DEPTH_MAX] = '\0'; /* 256 */
	CHECK_EQ(layer_path_normalize(big, out, sizeof(out)), 2 * LAYER_DEPTH_MAX - 1);
	free(big);
}

/* A layer with one of everything; the long name and xattr need pax or GNU. */
static char long_name[400];
static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n";

static struct tent everything[] = {
	{ "./", LAYER_DIR, 0755 },
	{ "./etc/", LAYER_DIR, 0755 },
	{ "./etc/passwd", LAYER_REG, 0644, passwd, sizeof(passwd) - 1 },
	{ "./bin/", LAYER_DIR, 0755 },
	{ "./bin/su", LAYER_REG, 04755, NULL, 70000, .seed = 3 },
	{ "./bin/sh", LAYER_SYMLINK, 0777, .link = "../usr/bin/dash" },
	/* its own header's mode is not what it shows: the file's is */
	{ "./bin/passwd-link", LAYER_HARDLINK, 0600, .link = "./etc/passwd" },
	{ "./tmp/", LAYER_DIR, 01777 },
	{ "./dev/null", LAYER_CHR, 0666 },
	{ "./dev/sda", LAYER_BLK, 0660 },
	{ "./run/fifo", LAYER_FIFO, 0600 },
	{ "./usr/lib/x86_64-linux-gnu/libz.so.1", LAYER_REG, 02755, NULL, 100000, .seed = 4 },
	{ "./empty", LAYER_REG, 0644, "", 0 },
	{ NULL /* long_name */, LAYER_REG, 0644, NULL, 5000, .seed = 5 },
	{ "./caps", LAYER_REG, 0755, "x", 1, .xname = "security.capability", .xval = "cap!" },
};
#define N_EVERYTHING (sizeof(everything) / sizeof(everything[0]))

static void check_everything(struct layer_index *ix, int fd, bool long_ok, bool pax,
			     const char *what)
{
	size_t i, root, n = 0;
	const struct layer_entry *e;
	const char *xn;
	const void *xv;
	size_t xs;

	CHECK_EQ(layer_index_skipped(ix), 0);
	for (size_t k = 0; k < N_EVERYTHING; k++) {
		const struct tent *t = &everything[k];
		char norm[LAYER_PATH_MAX + 1];
		size_t mk;

		if ((!pax && t->xname) || (!long_ok && t == &everything[13]))
			continue;
		layer_path_normalize(t->path, norm, sizeof(norm));
		i = layer_index_find(ix, norm);
		CHECK(i != LAYER_NONE, "%s: '%s' missing", what, norm);
		if (i == LAYER_NONE)
			continue;
		e = layer_index_entry(ix, i);
		CHECK(e->type == t->type, "%s: '%s' type %d", what, norm, e->type);
		/* a hardlink shows its file's metadata (etc/passwd's), as
		 * link(2) on extraction gives */
		mk = t->type == LAYER_HARDLINK ? 2 : k;
		CHECK(e->mode == everything[mk].mode, "%s: '%s' mode %o", what, norm, e->mode);
		CHECK_EQ(e->mtime, 1700000000 + (int64_t)mk);
		if (pax)
			CHECK_EQ(e->mtime_nsec, 123456789);
		CHECK_EQ(e->uid, 1000 + mk);
		CHECK_EQ(e->gid, 2000 + mk);
		CHECK(!(e->flags & LAYER_F_IMPLICIT), "%s: '%s'", what, norm);
		if (t->type == LAYER_REG)
			check_content(ix, fd, norm, t);
		if (t->type == LAYER_CHR || t->type == LAYER_BLK)
			CHECK(e->rdev == makedev(4, 64 + k), "%s: '%s' rdev", what, norm);
		if (t->type == LAYER_SYMLINK)
			CHECK(!strcmp(layer_entry_link(ix, e), t->link), "%s: '%s' -> '%s'", what,
			      norm, layer_entry_link(ix, e));
		if (t->xname) {
			CHECK_EQ(e->xattr_count, 1);
			if (e->xattr_count == 1) {
				layer_entry_xattr(ix, e, 0, &xn, &xv, &xs);
				CHECK(!strcmp(xn, t->xname) && xs == 4 && !memcmp(xv, "cap!", 4),
				      "%s: xattr", what);
			}
		}
	}
	/* the hardlink reads as its target and names it normalized */
	i = layer_index_find(ix, "bin/passwd-link");
	if (i != LAYER_NONE) {
		e = layer_index_entry(ix, i);
		CHECK(!strcmp(layer_entry_link(ix, e), "etc/passwd"), "%s", what);
		CHECK(!(e->flags & LAYER_F_LINK_MISSING), "%s", what);
		check_content(ix, fd, "bin/passwd-link", &everything[2]);
	}
	/* implied directories */
	static const char *const implied[] = { "dev", "run", "usr", "usr/lib",
					       "usr/lib/x86_64-linux-gnu" };
	for (size_t k = 0; k < sizeof(implied) / sizeof(implied[0]); k++) {
		i = layer_index_find(ix, implied[k]);
		CHECK(i != LAYER_NONE, "%s: implied '%s'", what, implied[k]);
		if (i == LAYER_NONE)
			continue;
		e = layer_index_entry(ix, i);
		CHECK(e->type == LAYER_DIR && (e->flags & LAYER_F_IMPLICIT) && e->mode == 0755,
		      "%s: '%s'", what, implied[k]);
	}
	/* the root's children, in order, each once */
	root = layer_index_find(ix, "");
	CHECK_EQ(root, 0);
	for (i = layer_index_child_first(ix, root); i != LAYER_NONE; i = layer_index_child_next(ix, i)) {
		e = layer_index_entry(ix, i);
		CHECK(e->parent == 0 && !strchr(layer_entry_path(ix, e), '/'), "%s: '%s'", what,
		      layer_entry_path(ix, e));
		n++;
	}
	/* bin caps (or no-caps) dev empty etc run tmp usr, and the long name's
	 * first directory or short-instead */
	CHECK_EQ(n, 9);
	i = layer_index_find(ix, "bin");
	n = 0;
	for (i = layer_index_child_first(ix, i); i != LAYER_NONE; i = layer_index_child_next(ix, i))
		n++;
	CHECK_EQ(n, 3);
	CHECK(layer_index_find(ix, "bin/s") == LAYER_NONE, "%s", what);
	CHECK(layer_index_child_first(ix, layer_index_find(ix, "etc/passwd")) == LAYER_NONE, "%s",
	      what);
}

static void test_formats(void)
{
	static const struct {
		int format;
		const char *name;
		bool pax;
	} formats[] = {
		{ ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, "pax", true },
		{ ARCHIVE_FORMAT_TAR_GNUTAR, "gnu", false },
		{ ARCHIVE_FORMAT_TAR_USTAR, "ustar", false },
	};

	/* 300 bytes in directories of 50: past ustar's 255, needs pax or a GNU long name */
	for (size_t k = 0; k < 6; k++)
		snprintf(long_name + k * 51, sizeof(long_name) - k * 51, "%050d/", (int)k);
	strcpy(long_name + 6 * 51, "the-file");
	everything[13].path = long_name;

	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		struct tent t[N_EVERYTHING];
		size_t n = 0;
		char *tar = tmp_path("f.tar");

		for (size_t k = 0; k < N_EVERYTHING; k++) {
			t[n] = everything[k];
			/* GNU keeps long names but not xattrs; ustar neither */
			if (t[n].xname && !formats[f].pax)
				t[n].path = "./no-caps"; /* keep the numbering of uid and mtime */
			if (k == 13 && f == 2)
				t[n].path = "./short-instead";
			n++;
		}
		tar_write(tar, formats[f].format, t, n);
		for (int c = C_PLAIN; c <= C_ZSTD_FRAMES; c++) {
			char *blob = tmp_path("f.blob"), why[256] = "", what[64];
			struct layer_index *ix = NULL;
			int fd, ret;

			snprintf(what, sizeof(what), "%s/%s", formats[f].name, comp_names[c]);
			compress_file(tar, blob, c, 20000);
			ret = build(blob, &ix, &fd, why, sizeof(why));
			CHECK(ret == 0, "%s: %d %s", what, ret, why);
			if (ret == 0) {
				CHECK_EQ(layer_index_compression(ix),
					 c == C_PLAIN ? LAYER_PLAIN : c <= C_GZIP3 ? LAYER_GZIP : LAYER_ZSTD);
				if (f == 2) /* ustar: the short name stands in */
					CHECK(layer_index_find(ix, "short-instead") != LAYER_NONE, "%s", what);
				check_everything(ix, fd, f != 2, formats[f].pax, what);
			}
			layer_index_free(ix);
			close(fd);
			unlink(blob);
			free(blob);
		}
		unlink(tar);
		free(tar);
	}
}

/* A gzip layer of 24 MiB in 6 files: reading the last one starts from a
 * checkpoint, not from the start.  In three members (as pigz writes), f3
 * crosses from the second into the third. */
static void big_gzip(enum comp c)
{
	struct tent t[6];
	char *tar = tmp_path("big.tar"), *blob = tmp_path("big.tar.gz"), why[256];
	struct layer_index *ix = NULL, *ix2 = NULL;
	struct buf saved = BUF_INIT(1u << 30);
	unsigned char *exp = NULL, got_buf[4096];
	struct timespec t0, t1;
	size_t i, got;
	struct stat st;
	int fd = -1, ret;
	double secs;

	for (size_t k = 0; k < 6; k++) {
		static char names[6][16];

		snprintf(names[k], sizeof(names[k]), "data/f%zu", k);
		t[k] = (struct tent){ names[k], LAYER_REG, 0644, NULL, 4u << 20, .seed = 100 + (unsigned)k };
	}
	tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, t, 6);
	compress_file(tar, blob, c, 0);
	stat(blob, &st);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = build(blob, &ix, &fd, why, sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(ret == 0, "%d %s", ret, why);
	if (ret)
		goto out;
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(layer_index_checkpoints(ix) >= 5, "%zu checkpoints", layer_index_checkpoints(ix));
	layer_index_save(ix, &saved);
	printf("# big %s: %.1f MiB tar, %.1f MiB blob, indexed in %.3f s (%.0f MiB/s of tar), "
	       "%zu checkpoints, index %zu bytes\n",
	       comp_names[c], layer_index_stream_size(ix) / 1048576.0, st.st_size / 1048576.0, secs,
	       layer_index_stream_size(ix) / 1048576.0 / secs, layer_index_checkpoints(ix), saved.len);

	/* the last 4 KiB of the last file */
	i = layer_index_find(ix, "data/f5");
	exp = tent_bytes(&t[5]);
	CHECK_EQ(layer_index_read(ix, fd, i, t[5].size - 4096, got_buf, 4096, &got), 0);
	CHECK_EQ(got, 4096);
	CHECK(!memcmp(got_buf, exp + t[5].size - 4096, 4096), "bytes differ");
	CHECK(layer_index_decompressed(ix) < LAYER_CHECKPOINT_SPAN + (1u << 20),
	      "%llu bytes decompressed", (unsigned long long)layer_index_decompressed(ix));
	/* and the whole of a middle one, through a loaded index, 128 KiB at a
	 * time as FUSE asks: decompressed once, not once per read */
	CHECK_EQ(layer_index_load(saved.data, saved.len, DIGEST, &ix2), 0);
	if (ix2) {
		struct layer_reader *r = NULL;
		unsigned char *all = malloc(t[3].size);
		size_t pos = 0;

		free(exp);
		exp = tent_bytes(&t[3]);
		i = layer_index_find(ix2, "data/f3");
		CHECK_EQ(layer_reader_new(ix2, fd, &r), 0);
		while (r && pos < t[3].size &&
		       layer_reader_read(r, i, pos, all + pos, 128u << 10, &got) == 0 && got)
			pos += got;
		CHECK_EQ(pos, t[3].size);
		CHECK(!memcmp(all, exp, t[3].size), "f3 differs");
		CHECK(layer_index_decompressed(ix2) < t[3].size + LAYER_CHECKPOINT_SPAN + (1u << 20),
		      "%llu bytes decompressed for %zu",
		      (unsigned long long)layer_index_decompressed(ix2), t[3].size);
		layer_reader_free(r);
		free(all);
		check_content(ix2, fd, "data/f3", &t[3]);
	}
out:
	free(exp);
	buf_release(&saved, 0);
	layer_index_free(ix);
	layer_index_free(ix2);
	if (fd >= 0)
		close(fd);
	unlink(tar);
	unlink(blob);
	free(tar);
	free(blob);
}

static void test_big_gzip(void)
{
	big_gzip(C_GZIP);
	big_gzip(C_GZIP3);
}

/* A zstd layer of several frames reads near its end from a frame boundary. */
static void test_zstd_frames(void)
{
	struct tent t[3];
	char *tar = tmp_path("z.tar"), *blob = tmp_path("z.tar.zst"), why[256];
	struct layer_index *ix = NULL;
	unsigned char *exp = NULL, buf[4096];
	size_t i, got;
	int fd = -1;

	for (size_t k = 0; k < 3; k++) {
		static char names[3][8];

		snprintf(names[k], sizeof(names[k]), "z%zu", k);
		t[k] = (struct tent){ names[k], LAYER_REG, 0644, NULL, 5u << 20, .seed = 7 + (unsigned)k };
	}
	tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, t, 3);
	compress_file(tar, blob, C_ZSTD_FRAMES, 1u << 20);
	CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), 0);
	if (!ix)
		goto out;
	CHECK(layer_index_checkpoints(ix) >= 3, "%zu", layer_index_checkpoints(ix));
	i = layer_index_find(ix, "z2");
	exp = tent_bytes(&t[2]);
	CHECK_EQ(layer_index_read(ix, fd, i, t[2].size - 4096, buf, 4096, &got), 0);
	CHECK(got == 4096 && !memcmp(buf, exp + t[2].size - 4096, 4096), "bytes differ");
	/* from a frame boundary at most a span and a frame before */
	CHECK(layer_index_decompressed(ix) <= LAYER_CHECKPOINT_SPAN + (1u << 20), "%llu",
	      (unsigned long long)layer_index_decompressed(ix));
	check_content(ix, fd, "z2", &t[2]);
out:
	free(exp);
	layer_index_free(ix);
	if (fd >= 0)
		close(fd);
	unlink(tar);
	unlink(blob);
	free(tar);
	free(blob);
}

/* Save, load, save again: the same bytes; then every damage is refused. */
static void test_save_load(void)
{
	static const struct tent t[] = {
		{ "a/b/c", LAYER_REG, 0644, NULL, 3000000, .seed = 1 },
		{ "a/l", LAYER_SYMLINK, 0777, .link = "b/c" },
		{ "x", LAYER_REG, 0600, "hello", 5, .xname = "user.k", .xval = "v" },
		{ "h", LAYER_HARDLINK, 0600, .link = "x" },
	};
	char *tar = tmp_path("s.tar"), *blob = tmp_path("s.tar.gz"), why[256];
	struct layer_index *ix = NULL, *ix2 = NULL;
	struct buf a = BUF_INIT(64u << 20), b = BUF_INIT(64u << 20);
	unsigned char *copy;
	int fd = -1;

	tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, t, 4);
	compress_file(tar, blob, C_GZIP3, 0);
	CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), 0);
	if (!ix)
		goto out;
	CHECK_EQ(layer_index_save(ix, &a), 0);
	CHECK_EQ(layer_index_load(a.data, a.len, DIGEST, &ix2), 0);
	if (!ix2)
		goto out;
	CHECK_EQ(layer_index_save(ix2, &b), 0);
	CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len), "round trip differs");
	CHECK_EQ(layer_index_count(ix2), layer_index_count(ix));
	check_content(ix2, fd, "h", &t[2]);
	check_content(ix2, fd, "a/b/c", &t[0]);
	layer_index_free(ix2);
	ix2 = NULL;

	/* a foreign digest */
	CHECK_EQ(layer_index_load(a.data, a.len,
				  "sha256:1111111111111111111111111111111111111111111111111111111111111111",
				  &ix2), -EINVAL);
	/* every truncation, and flips through the header and the body */
	for (size_t n = 0; n < a.len; n += n < 300 ? 1 : 997)
		CHECK(layer_index_load(a.data, n, DIGEST, &ix2) == -EINVAL && !ix2, "cut at %zu", n);
	copy = malloc(a.len + 1);
	for (size_t k = 0; k < a.len; k += k < 300 ? 1 : 211) {
		memcpy(copy, a.data, a.len);
		copy[k] ^= 0x40;
		CHECK(layer_index_load(copy, a.len, DIGEST, &ix2) == -EINVAL && !ix2, "flip at %zu", k);
	}
	/* one byte too many */
	memcpy(copy, a.data, a.len);
	copy[a.len] = 0;
	CHECK(layer_index_load(copy, a.len + 1, DIGEST, &ix2) == -EINVAL, "trailing byte");
	free(copy);
out:
	layer_index_free(ix);
	layer_index_free(ix2);
	buf_release(&a, 0);
	buf_release(&b, 0);
	if (fd >= 0)
		close(fd);
	unlink(tar);
	unlink(blob);
	free(tar);
	free(blob);
}

/* What a hostile or broken layer gets. */
static void test_hostile(void)
{
	static const struct tent t[] = {
		{ "../evil", LAYER_REG, 0644, "e", 1 },
		{ "a/../../evil2", LAYER_REG, 0644, "e", 1 },
		{ "/abs/file", LAYER_REG, 0644, "abs", 3 },
		{ "link", LAYER_SYMLINK, 0777, .link = "/etc" },
		{ "link/passwd", LAYER_REG, 0644, "through", 7 }, /* never through the link */
		{ "early", LAYER_HARDLINK, 0644, .link = "late" }, /* to a later entry */
		{ "late", LAYER_REG, 0644, "late", 4 },
		{ "nowhere", LAYER_HARDLINK, 0644, .link = "missing" },
		{ "up", LAYER_HARDLINK, 0644, .link = "../late" },
		{ "dup", LAYER_REG, 0644, "first", 5 },
		{ "dup", LAYER_REG, 0644, "second!", 7 },
		{ "d/f", LAYER_REG, 0644, "in d", 4 },
		{ "d", LAYER_REG, 0644, "d is a file now", 15 }, /* the later one wins */
		{ "x", LAYER_REG, 0644, "x", 1 },
		{ "x/", LAYER_DIR, 0700 }, /* a file replaced by a directory */
		{ "x/y", LAYER_REG, 0644, "y", 1 },
		{ "late-link", LAYER_HARDLINK, 0644, .link = "/./late" },
	};
	char *tar = tmp_path("h.tar"), why[256];
	struct layer_index *ix = NULL;
	const struct layer_entry *e;
	char buf[64];
	size_t got, i;
	int fd = -1;

	tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, t, sizeof(t) / sizeof(t[0]));
	CHECK_EQ(build(tar, &ix, &fd, why, sizeof(why)), 0);
	if (!ix)
		goto out;
	/* ../evil, a/../../evil2, link/passwd (below a symlink), d/f (below a file) */
	CHECK_EQ(layer_index_skipped(ix), 4);
	CHECK(layer_index_find(ix, "evil") == LAYER_NONE, "evil");
	CHECK(layer_index_find(ix, "evil2") == LAYER_NONE, "evil2");
	CHECK(layer_index_find(ix, "link/passwd") == LAYER_NONE, "through a link");
	check_content(ix, fd, "abs/file", &t[2]);
	i = layer_index_find(ix, "link");
	CHECK(i != LAYER_NONE && layer_index_entry(ix, i)->type == LAYER_SYMLINK, "link");
	for (size_t k = 0; k < 3; k++) {
		static const char *const bad[] = { "early", "nowhere", "up" };

		i = layer_index_find(ix, bad[k]);
		CHECK(i != LAYER_NONE, "'%s'", bad[k]);
		if (i == LAYER_NONE)
			continue;
		e = layer_index_entry(ix, i);
		CHECK(e->type == LAYER_HARDLINK && (e->flags & LAYER_F_LINK_MISSING), "'%s'", bad[k]);
		CHECK_EQ(layer_index_read(ix, fd, i, 0, buf, sizeof(buf), &got), -EIO);
	}
	check_content(ix, fd, "late-link", &t[6]);
	check_content(ix, fd, "dup", &t[10]);
	check_content(ix, fd, "d", &t[12]);
	i = layer_index_find(ix, "x");
	CHECK(i != LAYER_NONE && layer_index_entry(ix, i)->type == LAYER_DIR, "x is a directory");
	check_content(ix, fd, "x/y", &t[15]);
	/* not a file */
	CHECK_EQ(layer_index_read(ix, fd, i, 0, buf, 1, &got), -EINVAL);
	CHECK_EQ(layer_index_read(ix, fd, 99999, 0, buf, 1, &got), -EINVAL);
out:
	layer_index_free(ix);
	if (fd >= 0)
		close(fd);
	unlink(tar);
	free(tar);
}

/* Blobs that are not whole tars fail to index with -EIO and a reason. */
static void test_broken(void)
{
	static const struct tent t[] = {
		{ "a", LAYER_REG, 0644, NULL, 1u << 20, .seed = 9 },
		{ "b", LAYER_REG, 0644, NULL, 1u << 20, .seed = 10 },
	};
	char *tar = tmp_path("b.tar"), *blob = tmp_path("b.blob"), why[256];
	struct layer_index *ix = NULL;
	unsigned char *p;
	size_t len;
	int fd;

	tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, t, 2);
	for (int c = C_PLAIN; c <= C_ZSTD; c++) {
		if (c == C_GZIP3)
			continue;
		compress_file(tar, blob, c, 0);
		p = file_read(blob, &len);
		file_write(blob, p, len * 2 / 3); /* truncated in b's data */
		free(p);
		why[0] = '\0';
		CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), -EIO);
		CHECK(!ix && why[0], "%s: '%s'", comp_names[c], why);
		close(fd);
	}
	/* a size far past the stream's end (libarchive's writer would pad it out) */
	{
		unsigned char blocks[4 * 512] = { 0 };
		unsigned sum = 0;

		strcpy((char *)blocks, "huge");
		memcpy(blocks + 100, "0000644", 7);
		memcpy(blocks + 108, "0000000", 7);
		memcpy(blocks + 116, "0000000", 7);
		memcpy(blocks + 124, "77777777777", 11); /* 8 GiB */
		memcpy(blocks + 136, "14741634600", 11);
		blocks[156] = '0';
		memcpy(blocks + 257, "ustar\0" "00", 8);
		memset(blocks + 148, ' ', 8);
		for (size_t k = 0; k < 512; k++)
			sum += blocks[k];
		snprintf((char *)blocks + 148, 8, "%06o", sum);
		memcpy(blocks + 512, "small", 5);
		file_write(tar, blocks, sizeof(blocks));
	}
	CHECK_EQ(build(tar, &ix, &fd, why, sizeof(why)), -EIO);
	CHECK(!ix && why[0], "'%s'", why);
	close(fd);
	/* not a tar at all, and garbage behind a gzip magic */
	file_write(blob, "this is not a tar archive, not even close to one", 48);
	CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), -EIO);
	close(fd);
	file_write(blob, "\x1f\x8b\x08\x00garbage garbage garbage", 27);
	CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), -EIO);
	close(fd);
	/* an empty tar (two zero blocks) is an empty layer, not an error */
	p = calloc(1, 1024);
	file_write(blob, p, 1024);
	free(p);
	CHECK_EQ(build(blob, &ix, &fd, why, sizeof(why)), 0);
	CHECK(ix && layer_index_count(ix) == 1, "the root alone");
	layer_index_free(ix);
	close(fd);
	unlink(tar);
	unlink(blob);
	free(tar);
	free(blob);
}

/* Three layers merged: replaced files, whiteouts, opaque directories, a
 * file turned directory and back, implied directories keeping real ones. */
static void test_merge(void)
{
	static const struct tent l0[] = {
		{ "etc/passwd", LAYER_REG, 0644, "v1", 2 },
		{ "etc/group", LAYER_REG, 0644, "g", 1 },
		{ "etc/ssl/cert", LAYER_REG, 0644, "c", 1 },
		{ "opt/keep/a", LAYER_REG, 0644, "a", 1 },
		{ "opt/keep/b", LAYER_REG, 0644, "b", 1 },
		{ "var/lib/x", LAYER_REG, 0644, "x", 1 },
		{ "file-to-dir", LAYER_REG, 0644, "f", 1 },
		{ "dir-to-file/", LAYER_DIR, 0755 },
		{ "dir-to-file/child", LAYER_REG, 0644, "k", 1 },
		{ "lib/", LAYER_DIR, 0700 },
	};
	static const struct tent l1[] = {
		{ "etc/passwd", LAYER_REG, 0600, "v2!", 3 },
		{ "etc/.wh.group", LAYER_REG, 0644, "", 0 },
		{ "opt/keep/.wh..wh..opq", LAYER_REG, 0644, "", 0 },
		{ "opt/keep/c", LAYER_REG, 0644, "c", 1 },
		{ "var/.wh.lib", LAYER_REG, 0644, "", 0 },
		{ "file-to-dir/inner", LAYER_REG, 0644, "i", 1 },
		{ "dir-to-file", LAYER_REG, 0644, "now a file", 10 },
		{ "lib/newfile", LAYER_REG, 0644, "n", 1 },
		{ ".wh.nonexistent", LAYER_REG, 0644, "", 0 },
	};
	static const struct tent l2[] = {
		{ "etc/ssl/.wh..wh..opq", LAYER_REG, 0644, "", 0 },
	};
	static const char *const want[] = {
		"", "dir-to-file", "etc", "etc/passwd", "etc/ssl", "file-to-dir",
		"file-to-dir/inner", "lib", "lib/newfile", "opt", "opt/keep", "opt/keep/c", "var",
	};
	const struct tent *tabs[3] = { l0, l1, l2 };
	size_t ns[3] = { sizeof(l0) / sizeof(l0[0]), sizeof(l1) / sizeof(l1[0]), 1 };
	struct layer_index *ix[3] = { NULL, NULL, NULL };
	struct layer_merge *m = NULL;
	int fds[3] = { -1, -1, -1 };
	size_t i, n = 0;
	char why[256];

	for (size_t k = 0; k < 3; k++) {
		char name[16], *tar;

		snprintf(name, sizeof(name), "m%zu.tar", k);
		tar = tmp_path(name);
		tar_write(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, tabs[k], ns[k]);
		CHECK_EQ(build(tar, &ix[k], &fds[k], why, sizeof(why)), 0);
		free(tar);
		if (!ix[k])
			goto out;
	}
	CHECK_EQ(layer_merge_new(ix, 0, &m), -EINVAL);
	CHECK_EQ(layer_merge_new(ix, 3, &m), 0);
	if (!m)
		goto out;
	CHECK_EQ(layer_merge_count(m), sizeof(want) / sizeof(want[0]));
	for (i = 0; i < layer_merge_count(m) && i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(!strcmp(layer_merge_path(m, i), want[i]), "%zu: '%s', want '%s'", i,
		      layer_merge_path(m, i), want[i]);
	/* the root's children */
	for (i = layer_merge_child_first(m, 0); i != LAYER_NONE; i = layer_merge_child_next(m, i))
		n++;
	CHECK_EQ(n, 6);
	i = layer_merge_find(m, "etc/passwd");
	CHECK(i != LAYER_NONE && layer_merge_entry(m, i)->layer == 1, "etc/passwd from layer 1");
	if (i != LAYER_NONE)
		check_content(layer_merge_index(m, i), fds[1], "etc/passwd", &l1[0]);
	i = layer_merge_find(m, "lib");
	CHECK(i != LAYER_NONE && layer_merge_entry(m, i)->layer == 0 &&
		      layer_merge_layer_entry(m, i)->mode == 0700,
	      "lib keeps layer 0's real directory");
	i = layer_merge_find(m, "dir-to-file");
	CHECK(i != LAYER_NONE && layer_merge_layer_entry(m, i)->type == LAYER_REG, "dir-to-file");
	CHECK(layer_merge_child_first(m, i) == LAYER_NONE, "a file has no children");
	i = layer_merge_find(m, "etc/ssl");
	CHECK(i != LAYER_NONE && layer_merge_child_first(m, i) == LAYER_NONE, "opaque etc/ssl");
	CHECK(layer_merge_find(m, "etc/group") == LAYER_NONE, "whited out");
	CHECK(layer_merge_find(m, "opt/keep/.wh..wh..opq") == LAYER_NONE, "marker hidden");
	CHECK(layer_merge_find(m, "var/lib/x") == LAYER_NONE, "whited out subtree");
out:
	layer_merge_free(m);
	for (size_t k = 0; k < 3; k++) {
		layer_index_free(ix[k]);
		if (fds[k] >= 0)
			close(fds[k]);
	}
}

/* A sparse file (pax GNU.sparse) is listed, flagged, and refuses reads. */
static void test_sparse(void)
{
	char *tar = tmp_path("sp.tar"), why[256], data[4096], buf[16];
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	struct layer_index *ix = NULL;
	size_t i, got;
	int fd = -1;

	memset(data, 's', sizeof(data));
	archive_write_set_format(a, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	archive_write_open_filename(a, tar);
	archive_entry_set_pathname(ae, "holes");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, 1 << 20);
	archive_entry_sparse_add_entry(ae, 0, sizeof(data));
	archive_entry_sparse_add_entry(ae, (1 << 20) - sizeof(data), sizeof(data));
	archive_write_header(a, ae);
	archive_write_data(a, data, sizeof(data));
	archive_write_data(a, data, sizeof(data));
	archive_entry_free(ae);
	archive_write_close(a);
	archive_write_free(a);

	CHECK_EQ(build(tar, &ix, &fd, why, sizeof(why)), 0);
	if (!ix)
		goto out;
	i = layer_index_find(ix, "holes");
	CHECK(i != LAYER_NONE && (layer_index_entry(ix, i)->flags & LAYER_F_SPARSE) &&
		      layer_index_entry(ix, i)->size == 1u << 20,
	      "holes is sparse");
	if (i != LAYER_NONE)
		CHECK_EQ(layer_index_read(ix, fd, i, 0, buf, sizeof(buf), &got), -EIO);
out:
	layer_index_free(ix);
	if (fd >= 0)
		close(fd);
	unlink(tar);
	free(tar);
}

int main(void)
{
	static const struct check_test tests[] = {
		{ "normalize: ./, //, . and .. as tar writers spell them", test_normalize },
		{ "formats: ustar, pax and GNU, plain, gzip (1 and 3 members), zstd (1 frame and many)",
		  test_formats },
		{ "a 24 MiB gzip layer (1 and 3 members) reads its last file from a checkpoint",
		  test_big_gzip },
		{ "a zstd layer of many frames reads from a frame boundary", test_zstd_frames },
		{ "save and load round-trip; damaged, cut or foreign indexes are refused",
		  test_save_load },
		{ "hostile entries: .., absolute, through a symlink, bad hardlinks, duplicates",
		  test_hostile },
		{ "truncated, lying and non-tar blobs fail with EIO", test_broken },
		{ "sparse files are listed and refuse reads (EIO)", test_sparse },
		{ "merge: whiteouts, opaque directories, files and directories replacing each other",
		  test_merge },
	};
	int ret;

	tmpdir = check_tmpdir_new("layer");
	ret = check_run(tests, sizeof(tests) / sizeof(tests[0]));
	check_tmpdir_free(tmpdir);
	return ret;
}
