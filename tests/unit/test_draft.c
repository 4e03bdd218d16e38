/*
 * Unit tests for cache/draft: drafts made with their ancestors, links kept
 * verbatim, listings in order, rmdir and remove with the pruning of empty
 * ancestors, the dot files, atomic replacement, persistence across opens,
 * hostile paths and names, and -- since the user's links are real symlinks
 * -- no path ever followed through one of them out of the drafts
 * directory.  Each test works in a fresh directory under $TMPDIR and
 * removes it afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/draft.h"
#include "common/log.h"

#include "check.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TAG "localhost:5000/onap/py-app/latest"

/* ---- helpers ---- */

static char *dir_new(void)
{
	return check_tmpdir_new("draft");
}

static void dir_free(char *d)
{
	check_tmpdir_free(d);
}

/* The drafts directory of the store drafts_open_or_die() opened last: the
 * helpers below look at the disk there, behind the store's back. */
static char drafts_dir[4096];

static struct cache_drafts *drafts_open_or_die(const char *state)
{
	struct cache_drafts *d = NULL;
	int ret = cache_drafts_open(state, &d);

	if (ret < 0) {
		fprintf(stderr, "cache_drafts_open '%s': %s\n", state, strerror(-ret));
		exit(1);
	}
	if ((size_t)snprintf(drafts_dir, sizeof(drafts_dir), "%s/drafts", state) >=
	    sizeof(drafts_dir)) {
		fprintf(stderr, "state directory '%s' is too long for the test\n", state);
		exit(1);
	}
	return d;
}

/* @rel below the drafts directory, on disk. */
static void disk_path(const char *rel, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", drafts_dir, rel);
}

/* lstat type of @rel below the drafts directory; 0 when absent. */
static mode_t disk_type(const char *rel)
{
	char path[8192];
	struct stat st;

	disk_path(rel, path, sizeof(path));
	return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0;
}

static int count_disk(const char *rel)
{
	char path[8192];

	disk_path(rel, path, sizeof(path));
	return check_count_entries(path);
}

/* Write @text to file @rel below the drafts directory, bypassing the API. */
static void disk_write(const char *rel, const char *text)
{
	char path[8192];
	FILE *f;

	disk_path(rel, path, sizeof(path));
	f = fopen(path, "w");
	CHECK(f != NULL, "fopen '%s': %s", path, strerror(errno));
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static bool file_has(const char *path, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

/* Whether draft file @name of @path reads back as exactly @want. */
static bool draft_has(struct cache_drafts *d, const char *path, const char *name, const char *want)
{
	char *b = NULL;
	size_t len = 0;
	int ret = cache_draft_read_file(d, path, name, 4096, &b, &len);
	bool ok = ret == 0 && b && len == strlen(want) && strcmp(b, want) == 0;

	if (!ok)
		fprintf(stderr, "  '%s' '%s': ret %d, '%s', want '%s'\n", path, name, ret,
			b ? b : "(null)", want);
	free(b);
	return ok;
}

/* Write @n copies of @c and a NUL at @dst; returns the end (the NUL). */
static char *fill(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst + n;
}

/* cache_draft_list() expected to fail: its result, with the listing
 * checked empty (and freed should it not be). */
static int list_err(struct cache_drafts *d, const char *path)
{
	struct cache_draft_listing l = {0};
	int ret = cache_draft_list(d, path, &l);

	CHECK(l.v == NULL && l.n == 0, "'%s' listed %zu entries", path, l.n);
	cache_draft_listing_release(&l);
	return ret;
}

/* ---- tests ---- */

static void test_open(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = (struct cache_drafts *)dir;
	char state[4096], path[8192];
	struct stat st;

	/* The state directory itself may be new. */
	snprintf(state, sizeof(state), "%s/state/deeper", dir);
	CHECK_EQ(cache_drafts_open(state, &d), 0);
	snprintf(path, sizeof(path), "%s/drafts", state);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK(d != NULL);
	cache_drafts_close(d);
	/* Again, existing. */
	d = drafts_open_or_die(state);
	cache_drafts_close(d);
	cache_drafts_close(NULL);

	d = (struct cache_drafts *)dir;
	CHECK_EQ(cache_drafts_open("", &d), -EINVAL);
	CHECK(d == NULL);
	d = (struct cache_drafts *)dir;
	CHECK_EQ(cache_drafts_open(NULL, &d), -EINVAL);
	CHECK(d == NULL);
	/* A state "directory" that is a file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	d = (struct cache_drafts *)dir;
	CHECK(cache_drafts_open(path, &d) < 0);
	CHECK(d == NULL);
	dir_free(dir);
}

static void test_mkdir(void)
{
	static const char *const ancestors[] = {
	    "localhost:5000",
	    "localhost:5000/onap",
	    "localhost:5000/onap/py-app",
	    TAG,
	};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct stat st;

	CHECK_EQ(cache_draft_stat(d, TAG, NULL, &st), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ancestors); i++) {
		CHECK_EQ(cache_draft_stat(d, ancestors[i], NULL, &st), 0);
		CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "'%s' mode %o",
		      ancestors[i], st.st_mode);
		/* Only the final one counts: each exists now. */
		CHECK_EQ(cache_draft_mkdir(d, ancestors[i]), -EEXIST);
	}
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/onap/py-app/v2"), 0);
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/onap/py-app/v2"), -EEXIST);
	CHECK_EQ(count_disk("localhost:5000/onap/py-app"), 2);
	CHECK_EQ(count_disk(TAG), 0);

	/* A draft under a link is refused and nothing is made. */
	CHECK_EQ(cache_draft_symlink(d, TAG, "amd64", "../v2"), 0);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/amd64"), -EEXIST);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/amd64/x"), -ENOTDIR);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/amd64/x/y"), -ENOTDIR);
	CHECK_EQ(count_disk("localhost:5000/onap/py-app/v2"), 0);
	/* Nor under a file. */
	disk_write(TAG "/plain", "x");
	CHECK_EQ(cache_draft_mkdir(d, TAG "/plain/x"), -ENOTDIR);
	CHECK_EQ(disk_type(TAG "/plain"), S_IFREG);

	/* The longest path there may be: 16 components of 255 bytes. */
	{
		char longp[4200], *e = longp;

		for (int i = 0; i < 16; i++) {
			if (i)
				*e++ = '/';
			e = fill(e, (char)('a' + i), 255);
		}
		CHECK_EQ(strlen(longp), 4095);
		CHECK_EQ(cache_draft_mkdir(d, longp), 0);
		CHECK_EQ(cache_draft_stat(d, longp, NULL, &st), 0);
		CHECK_EQ(cache_draft_symlink(d, longp, "l", "t"), 0);
		CHECK_EQ(cache_draft_remove(d, longp), 0);
		CHECK_EQ(count_disk("."), 1); /* all of it pruned */
	}
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_hostile_paths(void)
{
	char len4096[4200], *e = len4096;
	char comp256[300];
	static const char *const bad[] = {
	    "",
	    "/",
	    "/abs",
	    /* absolute and under a directory that does not exist: were the
	     * check ever broken, the calls could not harm the machine */
	    "/nonexistent-regfs-test/passwd",
	    ".",
	    "..",
	    "../x",
	    "../../../../../../../../tmp/x",
	    "a/..",
	    "a/../b",
	    "a/../../b",
	    "a/.",
	    "a/./b",
	    "./a",
	    "a//b",
	    "a/",
	    "a/b/",
	    "//a",
	    ".hidden",
	    "a/.hidden",
	    "a/.annotations",
	    ".annotations",
	    "a/.annotations/k",
	    "a/.mediatype",
	    "a/.last-commit",
	    "a/.tmp-0123456789abcdef",
	    NULL, /* comp256 */
	    NULL, /* len4096 */
	    NULL, /* a NULL path */
	};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	char outside[4096];

	memcpy(comp256, "a/", 2);
	fill(comp256 + 2, 'x', 256);
	/* 4096 bytes of valid components: 15 of 255, one of 127, one of 128. */
	for (int i = 0; i < 17; i++) {
		if (i)
			*e++ = '/';
		e = fill(e, (char)('a' + i), i < 15 ? 255 : i == 15 ? 127 : 128);
	}
	CHECK_EQ(strlen(len4096), 4096);

	/* Something for ".." to find, if it ever got through. */
	CHECK_EQ(cache_draft_mkdir(d, "a/b"), 0);
	snprintf(outside, sizeof(outside), "%s/x", dir);
	CHECK_EQ(mkdir(outside, 0700), 0);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct cache_draft_listing l = {(struct cache_draft_entry *)dir, 9};
		const char *p = bad[i];
		int before = failures;
		struct stat st;
		char *s = dir;
		size_t len = 9;

		if (i == ARRAY_SIZE(bad) - 3)
			p = comp256;
		else if (i == ARRAY_SIZE(bad) - 2)
			p = len4096;
		CHECK_EQ(cache_draft_mkdir(d, p), -EINVAL);
		CHECK_EQ(cache_draft_rmdir(d, p), -EINVAL);
		CHECK_EQ(cache_draft_remove(d, p), -EINVAL);
		CHECK_EQ(cache_draft_stat(d, p, NULL, &st), -EINVAL);
		CHECK_EQ(cache_draft_stat(d, p, "l", &st), -EINVAL);
		CHECK_EQ(cache_draft_symlink(d, p, "l", "t"), -EINVAL);
		CHECK_EQ(cache_draft_readlink(d, p, "l", &s), -EINVAL);
		CHECK(s == NULL);
		CHECK_EQ(cache_draft_unlink(d, p, "l"), -EINVAL);
		CHECK_EQ(cache_draft_file_open(d, p, ".mediatype", O_RDWR | O_CREAT), -EINVAL);
		CHECK_EQ(cache_draft_mkdir_annotations(d, p), -EINVAL);
		s = dir;
		CHECK_EQ(cache_draft_read_file(d, p, ".mediatype", 100, &s, &len), -EINVAL);
		CHECK(s == NULL && len == 0);
		CHECK_EQ(cache_draft_write_file(d, p, ".mediatype", "oci", 3), -EINVAL);
		/* list takes "<draft>/.annotations" and nothing else odd */
		if (!p || strcmp(p, "a/.annotations") != 0) {
			CHECK_EQ(cache_draft_list(d, p, &l), -EINVAL);
			CHECK(l.v == NULL && l.n == 0);
			if (l.v != (struct cache_draft_entry *)dir)
				cache_draft_listing_release(&l);
		}
		if (failures != before)
			fprintf(stderr, "  (path \"%.60s\")\n", p ? p : "(null)");
	}
	/* Nothing was made anywhere: not outside, not inside. */
	CHECK_EQ(check_count_entries(dir), 2); /* drafts/ and x/ */
	CHECK_EQ(check_count_entries(outside), 0);
	CHECK_EQ(count_disk("."), 1);
	CHECK_EQ(count_disk("a"), 1);
	CHECK_EQ(count_disk("a/b"), 0);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_hostile_names(void)
{
	char name255[300], name256[300], ann256[300], target4096[4200];
	struct {
		const char *name;
		bool link_ok; /* stat/symlink/readlink/unlink as a link name */
		bool file_ok; /* file_open */
		bool rw_ok;   /* read_file/write_file */
	} const rows[] = {
	    {"ok", true, false, false},
	    {"a:b@sha256-x_y.z", true, false, false},
	    {name255, true, false, false},
	    {"", false, false, false},
	    {".", false, false, false},
	    {"..", false, false, false},
	    {".hidden", false, false, false},
	    {"a/b", false, false, false},
	    {"/x", false, false, false},
	    {"../x", false, false, false},
	    {"x/", false, false, false},
	    {name256, false, false, false},
	    {".mediatype", false, true, true},
	    {".mediatypex", false, false, false},
	    {".mediatype/x", false, false, false},
	    {".last-commit", false, false, true},
	    {".annotations", false, false, false},
	    {".annotations/", false, false, false},
	    {".annotations/k", false, true, true},
	    {".annotations/org.opencontainers.image.title", false, true, true},
	    {".annotations/.k", false, false, false},
	    {".annotations/..", false, false, false},
	    {".annotations/a/b", false, false, false},
	    {".annotations//k", false, false, false},
	    {".annotations/k/", false, false, false},
	    {ann256, false, false, false},
	    {"../.mediatype", false, false, false},
	    {"./.mediatype", false, false, false},
	    {".tmp-0123456789abcdef", false, false, false},
	    {NULL, false, false, false},
	};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);

	fill(name255, 'n', 255);
	fill(name256, 'n', 256);
	memcpy(ann256, ".annotations/", 13);
	fill(ann256 + 13, 'k', 256);
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *name = rows[i].name;
		int before = failures;
		struct stat st;
		char *s = NULL;
		size_t len;
		int fd;

		if (rows[i].link_ok) {
			CHECK_EQ(cache_draft_symlink(d, TAG, name, "target"), 0);
			CHECK_EQ(cache_draft_stat(d, TAG, name, &st), 0);
			CHECK(S_ISLNK(st.st_mode));
			CHECK_EQ(cache_draft_readlink(d, TAG, name, &s), 0);
			CHECK(s && strcmp(s, "target") == 0);
			free(s);
			CHECK_EQ(cache_draft_unlink(d, TAG, name), 0);
		} else {
			CHECK_EQ(cache_draft_symlink(d, TAG, name, "target"), -EINVAL);
			CHECK_EQ(cache_draft_readlink(d, TAG, name, &s), -EINVAL);
			CHECK(s == NULL);
		}
		fd = cache_draft_file_open(d, TAG, name, O_RDWR | O_CREAT);
		if (rows[i].file_ok) {
			CHECK(fd >= 0, "file_open: %d", fd);
			if (fd >= 0)
				close(fd);
			CHECK_EQ(cache_draft_unlink(d, TAG, name), 0);
		} else {
			CHECK_EQ(fd, -EINVAL);
		}
		if (rows[i].rw_ok) {
			CHECK_EQ(cache_draft_write_file(d, TAG, name, "v", 1), 0);
			CHECK(draft_has(d, TAG, name, "v"));
			CHECK_EQ(cache_draft_stat(d, TAG, name, &st), 0);
			CHECK(S_ISREG(st.st_mode));
			CHECK_EQ(cache_draft_unlink(d, TAG, name), 0);
			CHECK_EQ(cache_draft_stat(d, TAG, name, &st), -ENOENT);
		} else {
			CHECK_EQ(cache_draft_write_file(d, TAG, name, "v", 1), -EINVAL);
			s = (char *)d;
			CHECK_EQ(cache_draft_read_file(d, TAG, name, 10, &s, &len), -EINVAL);
			CHECK(s == NULL);
		}
		/* (A NULL name is the draft itself for stat.) */
		if (!rows[i].link_ok && !rows[i].rw_ok && name && strcmp(name, ".annotations")) {
			CHECK_EQ(cache_draft_stat(d, TAG, name, &st), -EINVAL);
			CHECK_EQ(cache_draft_unlink(d, TAG, name), -EINVAL);
		}
		if (failures != before)
			fprintf(stderr, "  (name \"%.60s\")\n", name ? name : "(null)");
	}
	CHECK_EQ(cache_draft_unlink(d, TAG, NULL), -EINVAL);
	/* Only .annotations/ is left over, from the annotation rows, and the
	 * .order the links were recorded in. */
	CHECK_EQ(count_disk(TAG), 2);
	CHECK_EQ(count_disk(TAG "/.annotations"), 0);
	CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations"), -EISDIR);

	/* Targets: verbatim, non-empty, at most 4095 bytes. */
	fill(target4096, 't', 4096);
	CHECK_EQ(cache_draft_symlink(d, TAG, "l", ""), -EINVAL);
	CHECK_EQ(cache_draft_symlink(d, TAG, "l", NULL), -EINVAL);
	CHECK_EQ(cache_draft_symlink(d, TAG, "l", target4096), -EINVAL);
	target4096[4095] = '\0';
	CHECK_EQ(cache_draft_symlink(d, TAG, "l", target4096), 0);
	{
		char *s = NULL;

		CHECK_EQ(cache_draft_readlink(d, TAG, "l", &s), 0);
		CHECK(s && strcmp(s, target4096) == 0);
		free(s);
	}
	CHECK_EQ(count_disk(TAG), 3);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_links(void)
{
	static const char *const targets[] = {
	    "../../py-app/amd64",
	    "/mnt/regfs/localhost:5000/onap/py-app/latest/linux-amd64",
	    "/etc/passwd",
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "a b\tc\nd",
	    ".",
	    "..",
	    "dangling/nowhere",
	};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	char name[32], *s = NULL;
	struct stat st;

	CHECK_EQ(cache_draft_symlink(d, TAG, "x", "t"), -ENOENT); /* no such draft */
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		snprintf(name, sizeof(name), "l%zu", i);
		CHECK_EQ(cache_draft_symlink(d, TAG, name, targets[i]), 0);
		CHECK_EQ(cache_draft_symlink(d, TAG, name, "other"), -EEXIST);
		CHECK_EQ(cache_draft_readlink(d, TAG, name, &s), 0);
		CHECK(s && strcmp(s, targets[i]) == 0, "'%s' != '%s'", s, targets[i]);
		free(s);
		s = NULL;
		CHECK_EQ(cache_draft_stat(d, TAG, name, &st), 0);
		CHECK(S_ISLNK(st.st_mode) && (size_t)st.st_size == strlen(targets[i]));
	}
	CHECK_EQ(cache_draft_symlink(d, TAG, "sub", "t"), -EEXIST);
	CHECK_EQ(cache_draft_readlink(d, TAG, "missing", &s), -ENOENT);
	CHECK_EQ(cache_draft_readlink(d, TAG, "sub", &s), -EINVAL); /* not a link */
	CHECK(s == NULL);
	CHECK_EQ(cache_draft_unlink(d, TAG, "sub"), -EISDIR);
	CHECK_EQ(cache_draft_unlink(d, TAG, "missing"), -ENOENT);
	CHECK_EQ(cache_draft_unlink(d, TAG, "l0"), 0);
	CHECK_EQ(cache_draft_unlink(d, TAG, "l0"), -ENOENT);
	CHECK_EQ(cache_draft_readlink(d, TAG, "l0", &s), -ENOENT);
	CHECK_EQ(cache_draft_stat(d, TAG, "l0", &st), -ENOENT);
	CHECK_EQ(disk_type(TAG "/sub"), S_IFDIR);
	/* A link in a link's place: the draft path is through a link. */
	CHECK_EQ(cache_draft_symlink(d, TAG "/l1", "x", "t"), -ENOTDIR);
	CHECK_EQ(cache_draft_readlink(d, TAG "/l1", "x", &s), -ENOTDIR);
	CHECK_EQ(cache_draft_unlink(d, TAG "/l1", "x"), -ENOTDIR);
	CHECK_EQ(cache_draft_symlink(d, TAG "/missing", "x", "t"), -ENOENT);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_list(void)
{
	static const struct {
		const char *name;
		mode_t type;
	} want[] = {
	    {".annotations", S_IFDIR}, {".mediatype", S_IFREG}, {"Z", S_IFLNK},	 {"a", S_IFLNK},
	    {"a-1", S_IFLNK},	       {"a.b", S_IFLNK},	{"a0", S_IFDIR}, {"b", S_IFLNK},
	    {"sub", S_IFDIR},
	};
	static const char *const want_ann[] = {"a", "org.opencontainers.image.title", "z"};
	struct cache_draft_listing l = {0};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	int fd;

	CHECK_EQ(list_err(d, TAG), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_list(d, TAG, &l), 0);
	CHECK(l.n == 0 && l.v == NULL);
	cache_draft_listing_release(&l);
	CHECK_EQ(list_err(d, TAG "/.annotations"), -ENOENT);

	CHECK_EQ(cache_draft_symlink(d, TAG, "b", "t"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "a", "t"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "Z", "t"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "a.b", "t"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "a-1", "/"), 0);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub"), 0);
	CHECK_EQ(cache_draft_mkdir(d, TAG "/a0"), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".last-commit", "HTTP 400", 8), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/z", "1", 1), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/a", "2", 1), 0);
	fd = cache_draft_file_open(d, TAG, ".annotations/org.opencontainers.image.title",
				   O_WRONLY | O_CREAT);
	CHECK(fd >= 0);
	close(fd);
	/* Strangers on disk are never listed: dot names, a leftover temp
	 * file, a plain file among the links, a symlink as .mediatype. */
	disk_write(TAG "/.junk", "x");
	disk_write(TAG "/.tmp-0000000000000000", "x");
	disk_write(TAG "/plain", "x");
	disk_write(TAG "/.annotations/.tmp-0000000000000000", "x");
	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub/deeper"), 0); /* not listed here */
	{
		char p[8192];

		disk_path(TAG "/.annotations/adir", p, sizeof(p));
		CHECK_EQ(mkdir(p, 0700), 0);
		disk_path(TAG "/.annotations/alink", p, sizeof(p));
		CHECK_EQ(symlink("a", p), 0);
	}

	CHECK_EQ(cache_draft_list(d, TAG, &l), 0);
	CHECK_EQ(l.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < l.n && i < ARRAY_SIZE(want); i++) {
		CHECK(strcmp(l.v[i].name, want[i].name) == 0, "[%zu] '%s' want '%s'", i,
		      l.v[i].name, want[i].name);
		CHECK(l.v[i].type == want[i].type, "[%zu] '%s' type %o", i, l.v[i].name,
		      l.v[i].type);
	}
	cache_draft_listing_release(&l);
	CHECK(l.v == NULL && l.n == 0);
	cache_draft_listing_release(NULL);

	CHECK_EQ(cache_draft_list(d, TAG "/.annotations", &l), 0);
	CHECK_EQ(l.n, ARRAY_SIZE(want_ann));
	for (size_t i = 0; i < l.n && i < ARRAY_SIZE(want_ann); i++) {
		CHECK(strcmp(l.v[i].name, want_ann[i]) == 0, "[%zu] '%s'", i, l.v[i].name);
		CHECK(l.v[i].type == S_IFREG);
	}
	cache_draft_listing_release(&l);

	/* An ancestor lists its subdirectories. */
	CHECK_EQ(cache_draft_list(d, "localhost:5000/onap", &l), 0);
	CHECK(l.n == 1 && strcmp(l.v[0].name, "py-app") == 0 && l.v[0].type == S_IFDIR);
	cache_draft_listing_release(&l);

	CHECK_EQ(list_err(d, TAG "/b"), -ENOTDIR);
	CHECK_EQ(list_err(d, TAG "/b/.annotations"), -ENOTDIR);
	CHECK_EQ(list_err(d, TAG "/missing"), -ENOENT);
	CHECK_EQ(list_err(d, TAG "/sub/.annotations"), -ENOENT);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_rmdir(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct stat st;

	CHECK_EQ(cache_draft_rmdir(d, TAG), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);

	/* A link is content. */
	CHECK_EQ(cache_draft_symlink(d, TAG, "amd64", "../x"), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), -ENOTEMPTY);
	CHECK(draft_has(d, TAG, ".mediatype", "oci")); /* kept whole */
	CHECK_EQ(cache_draft_rmdir(d, TAG "/amd64"), -ENOTDIR);
	CHECK_EQ(disk_type(TAG "/amd64"), S_IFLNK);
	CHECK_EQ(cache_draft_unlink(d, TAG, "amd64"), 0);

	/* So is a subdirectory. */
	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub"), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), -ENOTEMPTY);
	CHECK_EQ(cache_draft_rmdir(d, TAG "/sub"), 0);

	/* The dot files are not. */
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/k", "v", 1), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".last-commit", "why", 3), 0);
	disk_write(TAG "/.tmp-0000000000000000", "leftover");
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/onap/other"), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), 0);
	CHECK_EQ(cache_draft_stat(d, TAG, NULL, &st), -ENOENT);
	/* rmdir prunes the levels left holding nothing ("py-app"), and
	 * stops at one that holds something ("onap", with "other") */
	CHECK_EQ(cache_draft_stat(d, "localhost:5000/onap/py-app", NULL, &st), -ENOENT);
	CHECK_EQ(count_disk("localhost:5000/onap"), 1);

	/* An empty draft with only .mediatype. */
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "docker", 6), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), 0);
	/* And a bare one. */
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), 0);
	CHECK_EQ(cache_draft_rmdir(d, TAG), -ENOENT);
	CHECK_EQ(cache_draft_rmdir(d, "localhost:5000/onap"), -ENOTEMPTY);
	CHECK_EQ(cache_draft_rmdir(d, "localhost:5000/onap/other"), 0);
	CHECK_EQ(cache_draft_stat(d, "localhost:5000", NULL, &st), -ENOENT);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_remove(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	char outside[4096], canary[4096];
	struct stat st;

	/* Something outside for a link to point at: it must survive. */
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	CHECK_EQ(mkdir(outside, 0700), 0);
	snprintf(canary, sizeof(canary), "%s/outside/canary", dir);
	close(open(canary, O_WRONLY | O_CREAT, 0600));

	CHECK_EQ(cache_draft_remove(d, "h/ns/r1/t1"), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, "h/ns/r1/t1"), 0);
	CHECK_EQ(cache_draft_mkdir(d, "h/ns/r1/t1/sub/deeper"), 0);
	CHECK_EQ(cache_draft_symlink(d, "h/ns/r1/t1", "out", outside), 0);
	CHECK_EQ(cache_draft_symlink(d, "h/ns/r1/t1/sub/deeper", "up", "../../../../../.."), 0);
	CHECK_EQ(cache_draft_symlink(d, "h/ns/r1/t1/sub", "canary", canary), 0);
	CHECK_EQ(cache_draft_write_file(d, "h/ns/r1/t1", ".mediatype", "oci", 3), 0);
	CHECK_EQ(cache_draft_write_file(d, "h/ns/r1/t1", ".annotations/k", "v", 1), 0);
	CHECK_EQ(cache_draft_write_file(d, "h/ns/r1/t1", ".last-commit", "x", 1), 0);
	CHECK_EQ(cache_draft_mkdir(d, "h/ns/r2/t2"), 0);

	/* A link is not a draft. */
	CHECK_EQ(cache_draft_remove(d, "h/ns/r1/t1/out"), -ENOTDIR);
	CHECK_EQ(cache_draft_remove(d, "h/ns/r1/t1/out/canary"), -ENOTDIR);
	CHECK_EQ(disk_type("h/ns/r1/t1/out"), S_IFLNK);

	CHECK_EQ(cache_draft_remove(d, "h/ns/r1/t1"), 0);
	CHECK_EQ(cache_draft_stat(d, "h/ns/r1/t1", NULL, &st), -ENOENT);
	CHECK_EQ(cache_draft_stat(d, "h/ns/r1", NULL, &st), -ENOENT); /* pruned */
	CHECK_EQ(cache_draft_stat(d, "h/ns", NULL, &st), 0);	      /* r2 is in it */
	CHECK_EQ(cache_draft_stat(d, "h/ns/r2/t2", NULL, &st), 0);
	CHECK(access(canary, F_OK) == 0);
	CHECK_EQ(check_count_entries(outside), 1);
	CHECK_EQ(cache_draft_remove(d, "h/ns/r1/t1"), -ENOENT);

	/* An ancestor holding anything at all stays: here a .mediatype. */
	CHECK_EQ(cache_draft_mkdir(d, "h/ns/r3/t3"), 0);
	CHECK_EQ(cache_draft_write_file(d, "h/ns/r3", ".mediatype", "oci", 3), 0);
	CHECK_EQ(cache_draft_remove(d, "h/ns/r3/t3"), 0);
	CHECK_EQ(count_disk("h/ns/r3"), 1);
	CHECK_EQ(cache_draft_remove(d, "h/ns/r3"), 0);

	/* The last draft takes every ancestor but the drafts directory. */
	CHECK_EQ(cache_draft_remove(d, "h/ns/r2/t2"), 0);
	CHECK_EQ(count_disk("."), 0);
	CHECK_EQ(disk_type("."), S_IFDIR);

	/* Removing an ancestor takes what is below it. */
	CHECK_EQ(cache_draft_mkdir(d, "h/a/b/c"), 0);
	CHECK_EQ(cache_draft_mkdir(d, "h/a/d"), 0);
	CHECK_EQ(cache_draft_mkdir(d, "g"), 0);
	CHECK_EQ(cache_draft_remove(d, "h/a"), 0);
	CHECK_EQ(count_disk("."), 1); /* h went too; g stays */
	CHECK_EQ(cache_draft_remove(d, "g"), 0);
	CHECK_EQ(count_disk("."), 0);
	CHECK(access(canary, F_OK) == 0);
	CHECK_EQ(check_count_entries(dir), 2); /* drafts/ and outside/ */
	cache_drafts_close(d);
	dir_free(dir);
}

/*
 * Links to directories outside the store: no call may go through them,
 * whatever the path or name.  The "etc" link points at a scratch copy of
 * an /etc-like tree, never at the real /etc: a regression here must not
 * be able to delete the machine's files (an early version of this test
 * did remove /etc/ssl when remove() still followed links).
 */
static void test_symlink_not_followed(void)
{
	static const char *const through[] = {
	    TAG "/etc", TAG "/etc/ssl", TAG "/out",	TAG "/out/sub",
	    TAG "/up",	TAG "/up/x",	TAG "/sub/up2", TAG "/sub/up2/" TAG,
	};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	char outside[4096], secret[8192], p[8192], victim_ssl[8192];
	struct stat st;

	snprintf(outside, sizeof(outside), "%s/outside", dir);
	CHECK_EQ(mkdir(outside, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub", outside);
	CHECK_EQ(mkdir(p, 0700), 0);
	snprintf(secret, sizeof(secret), "%s/secret", outside);
	close(open(secret, O_WRONLY | O_CREAT, 0600));
	snprintf(p, sizeof(p), "%s/.mediatype", outside);
	close(open(p, O_WRONLY | O_CREAT, 0600));

	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub"), 0);
	snprintf(p, sizeof(p), "%s/victim", dir);
	CHECK_EQ(mkdir(p, 0700), 0);
	snprintf(victim_ssl, sizeof(victim_ssl), "%s/victim/ssl", dir);
	CHECK_EQ(mkdir(victim_ssl, 0700), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "etc", p), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "out", outside), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "up", "../../../../.."), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG "/sub", "up2", "../../../../../.."), 0);

	for (size_t i = 0; i < ARRAY_SIZE(through); i++) {
		const char *path = through[i];
		bool is_link = i % 2 == 0; /* the link itself, or below it */
		int before = failures;
		char *s = NULL;
		size_t len;
		int fd;

		/* lstat of the link itself is fine; anything below is not. */
		if (is_link) {
			CHECK_EQ(cache_draft_stat(d, path, NULL, &st), 0);
			CHECK(S_ISLNK(st.st_mode));
		} else {
			CHECK_EQ(cache_draft_stat(d, path, NULL, &st), -ENOTDIR);
		}
		CHECK_EQ(cache_draft_stat(d, path, "passwd", &st), -ENOTDIR);
		CHECK_EQ(cache_draft_stat(d, path, "secret", &st), -ENOTDIR);
		CHECK_EQ(cache_draft_stat(d, path, ".mediatype", &st), -ENOTDIR);
		CHECK_EQ(list_err(d, path), -ENOTDIR);
		snprintf(p, sizeof(p), "%s/.annotations", path);
		CHECK_EQ(list_err(d, p), -ENOTDIR);
		snprintf(p, sizeof(p), "%s/x", path);
		CHECK_EQ(cache_draft_mkdir(d, p), -ENOTDIR);
		CHECK_EQ(cache_draft_rmdir(d, path), -ENOTDIR);
		CHECK_EQ(cache_draft_remove(d, path), -ENOTDIR);
		CHECK_EQ(cache_draft_symlink(d, path, "planted", "x"), -ENOTDIR);
		CHECK_EQ(cache_draft_readlink(d, path, "planted", &s), -ENOTDIR);
		CHECK_EQ(cache_draft_unlink(d, path, "secret"), -ENOTDIR);
		CHECK_EQ(cache_draft_unlink(d, path, ".mediatype"), -ENOTDIR);
		CHECK_EQ(cache_draft_file_open(d, path, ".mediatype", O_RDONLY), -ENOTDIR);
		CHECK_EQ(cache_draft_file_open(d, path, ".mediatype", O_RDWR | O_CREAT | O_TRUNC),
			 -ENOTDIR);
		CHECK_EQ(cache_draft_file_open(d, path, ".annotations/k", O_RDWR | O_CREAT),
			 -ENOTDIR);
		CHECK_EQ(cache_draft_mkdir_annotations(d, path), -ENOTDIR);
		fd = cache_draft_read_file(d, path, ".mediatype", 100, &s, &len);
		CHECK_EQ(fd, -ENOTDIR);
		CHECK(s == NULL);
		CHECK_EQ(cache_draft_write_file(d, path, ".mediatype", "x", 1), -ENOTDIR);
		CHECK_EQ(cache_draft_write_file(d, path, ".annotations/k", "x", 1), -ENOTDIR);
		CHECK_EQ(cache_draft_write_file(d, path, ".last-commit", "x", 1), -ENOTDIR);
		if (failures != before)
			fprintf(stderr, "  (path \"%s\")\n", path);
	}
	/* The links are all still there, and nothing outside changed. */
	CHECK_EQ(disk_type(TAG "/etc"), S_IFLNK);
	CHECK_EQ(disk_type(TAG "/out"), S_IFLNK);
	CHECK_EQ(disk_type(TAG "/up"), S_IFLNK);
	CHECK_EQ(disk_type(TAG "/sub/up2"), S_IFLNK);
	CHECK_EQ(check_count_entries(outside), 3);
	CHECK(file_has(secret, ""));
	CHECK_EQ(stat(victim_ssl, &st), 0);
	CHECK_EQ(check_count_entries(dir), 3);

	/* Dot names planted as symlinks (not by us) are not followed either. */
	snprintf(p, sizeof(p), "%s/%s/.mediatype", drafts_dir, TAG);
	CHECK_EQ(symlink(secret, p), 0);
	snprintf(p, sizeof(p), "%s/%s/.annotations", drafts_dir, TAG);
	CHECK_EQ(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/%s/.last-commit", drafts_dir, TAG);
	CHECK_EQ(symlink(secret, p), 0);
	{
		struct cache_draft_listing l = {0};
		char *s = NULL;
		size_t len;

		CHECK_EQ(cache_draft_file_open(d, TAG, ".mediatype", O_RDONLY), -ELOOP);
		CHECK_EQ(cache_draft_file_open(d, TAG, ".mediatype", O_WRONLY | O_TRUNC), -ELOOP);
		CHECK_EQ(cache_draft_read_file(d, TAG, ".mediatype", 100, &s, &len), -ELOOP);
		CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", 100, &s, &len), -ELOOP);
		CHECK_EQ(cache_draft_file_open(d, TAG, ".annotations/secret", O_RDONLY), -ENOTDIR);
		CHECK_EQ(cache_draft_file_open(d, TAG, ".annotations/new", O_WRONLY | O_CREAT),
			 -ENOTDIR);
		CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/new", "x", 1), -ENOTDIR);
		CHECK_EQ(cache_draft_read_file(d, TAG, ".annotations/secret", 100, &s, &len),
			 -ENOTDIR);
		CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations/secret"), -ENOTDIR);
		CHECK_EQ(list_err(d, TAG "/.annotations"), -ENOTDIR);
		CHECK_EQ(cache_draft_mkdir_annotations(d, TAG), -EEXIST);
		/* Not listed: they are not what their names promise. */
		CHECK_EQ(cache_draft_list(d, TAG, &l), 0);
		for (size_t i = 0; i < l.n; i++)
			CHECK(l.v[i].name[0] != '.', "'%s' listed", l.v[i].name);
		cache_draft_listing_release(&l);
		/* Replacing writes over the name, not through it. */
		CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), 0);
		CHECK(draft_has(d, TAG, ".mediatype", "oci"));
		CHECK_EQ(disk_type(TAG "/.mediatype"), S_IFREG);
		CHECK_EQ(cache_draft_write_file(d, TAG, ".last-commit", "x", 1), 0);
		CHECK(file_has(secret, ""));
		/* Unlink takes the planted link, not its target. */
		CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations"), 0);
		CHECK_EQ(check_count_entries(outside), 3);
	}
	/* Removing the draft unlinks links, never what they point at. */
	CHECK_EQ(cache_draft_remove(d, TAG), 0);
	CHECK_EQ(check_count_entries(outside), 3);
	CHECK(access(secret, F_OK) == 0);
	CHECK_EQ(count_disk("."), 0);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_files(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	char buf[64], p[8192], *s = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), -ENOENT);
	CHECK_EQ(cache_draft_file_open(d, TAG, ".mediatype", O_RDWR | O_CREAT), -ENOENT);
	CHECK_EQ(cache_draft_mkdir_annotations(d, TAG), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);

	/* file_open: O_CREAT makes the file (0600), and .annotations/. */
	CHECK_EQ(cache_draft_file_open(d, TAG, ".mediatype", O_RDONLY), -ENOENT);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".mediatype", 100, &s, &len), -ENOENT);
	fd = cache_draft_file_open(d, TAG, ".mediatype", O_WRONLY | O_CREAT | O_TRUNC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
		CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600);
		CHECK_EQ(write(fd, "docker", 6), 6);
		close(fd);
	}
	CHECK(draft_has(d, TAG, ".mediatype", "docker"));
	CHECK_EQ(cache_draft_file_open(d, TAG, ".mediatype", O_RDWR | O_CREAT | O_EXCL), -EEXIST);
	fd = cache_draft_file_open(d, TAG, ".mediatype", O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		CHECK(n == 6 && memcmp(buf, "docker", 6) == 0);
		close(fd);
	}
	CHECK_EQ(cache_draft_file_open(d, TAG, ".annotations/k", O_RDONLY), -ENOENT);
	CHECK_EQ(disk_type(TAG "/.annotations"), 0);
	fd = cache_draft_file_open(d, TAG, ".annotations/k", O_WRONLY | O_CREAT);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(disk_type(TAG "/.annotations"), S_IFDIR);
	CHECK_EQ(cache_draft_mkdir_annotations(d, TAG), -EEXIST);
	CHECK_EQ(cache_draft_stat(d, TAG, ".annotations", &st), 0);
	CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK(draft_has(d, TAG, ".annotations/k", ""));
	/* A directory under an annotation's name is not a file. */
	disk_path(TAG "/.annotations/adir", p, sizeof(p));
	CHECK_EQ(mkdir(p, 0700), 0);
	CHECK_EQ(cache_draft_file_open(d, TAG, ".annotations/adir", O_RDONLY), -EISDIR);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".annotations/adir", 10, &s, &len), -EISDIR);
	CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations/adir"), -EISDIR);
	/* .last-commit is ours: read and written, never opened for the user. */
	CHECK_EQ(cache_draft_file_open(d, TAG, ".last-commit", O_RDONLY), -EINVAL);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", 100, &s, &len), -ENOENT);

	/* mkdir_annotations on a draft without one. */
	CHECK_EQ(cache_draft_mkdir(d, TAG "/sub"), 0);
	CHECK_EQ(cache_draft_mkdir_annotations(d, TAG "/sub"), 0);
	CHECK_EQ(cache_draft_mkdir_annotations(d, TAG "/sub"), -EEXIST);

	/* read_file: at most @max bytes. */
	CHECK_EQ(cache_draft_write_file(d, TAG, ".last-commit", "0123456789", 10), 0);
	s = (char *)d;
	len = 7;
	CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", 9, &s, &len), -EFBIG);
	CHECK(s == NULL && len == 0);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", 0, &s, &len), -EFBIG);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", 10, &s, &len), 0);
	CHECK(s && len == 10 && memcmp(s, "0123456789", 11) == 0);
	free(s);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".last-commit", (size_t)-1, &s, &len), 0);
	CHECK(s && len == 10 && strcmp(s, "0123456789") == 0);
	free(s);
	/* Empty: an empty string, not NULL. */
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "", 0), 0);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".mediatype", 0, &s, &len), 0);
	CHECK(s && len == 0 && s[0] == '\0');
	free(s);
	/* Bytes, NULs included. */
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/bin", "a\0b", 3), 0);
	CHECK_EQ(cache_draft_read_file(d, TAG, ".annotations/bin", 3, &s, &len), 0);
	CHECK(s && len == 3 && memcmp(s, "a\0b", 4) == 0);
	free(s);
	/* Bigger than any first guess. */
	{
		size_t big = 1 << 20;
		char *b = malloc(big);

		for (size_t i = 0; i < big; i++)
			b[i] = (char)('a' + i % 26);
		CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/big", b, big), 0);
		CHECK_EQ(cache_draft_read_file(d, TAG, ".annotations/big", big - 1, &s, &len),
			 -EFBIG);
		CHECK_EQ(cache_draft_read_file(d, TAG, ".annotations/big", big, &s, &len), 0);
		CHECK(s && len == big && memcmp(s, b, big) == 0 && s[big] == '\0');
		free(s);
		free(b);
	}

	/* write_file replaces atomically: a reader holding the old file keeps
	 * its bytes whole, the name gets a new inode, no temp file is left. */
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), 0);
	fd = cache_draft_file_open(d, TAG, ".mediatype", O_RDONLY);
	CHECK(fd >= 0);
	{
		struct stat before, after;

		CHECK_EQ(cache_draft_stat(d, TAG, ".mediatype", &before), 0);
		CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "docker", 6), 0);
		CHECK_EQ(cache_draft_stat(d, TAG, ".mediatype", &after), 0);
		CHECK(before.st_ino != after.st_ino);
		CHECK((after.st_mode & 0777) == 0600);
	}
	if (fd >= 0) {
		n = pread(fd, buf, sizeof(buf), 0);
		CHECK(n == 3 && memcmp(buf, "oci", 3) == 0);
		close(fd);
	}
	CHECK(draft_has(d, TAG, ".mediatype", "docker"));
	CHECK_EQ(count_disk(TAG), 4); /* .mediatype .annotations .last-commit sub */
	CHECK_EQ(count_disk(TAG "/.annotations"), 4); /* k adir bin big */

	/* unlink of the dot files. */
	CHECK_EQ(cache_draft_unlink(d, TAG, ".mediatype"), 0);
	CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations/k"), 0);
	CHECK_EQ(cache_draft_unlink(d, TAG, ".annotations/k"), -ENOENT);
	CHECK_EQ(cache_draft_unlink(d, TAG, ".last-commit"), 0);
	CHECK_EQ(count_disk(TAG), 2);
	cache_drafts_close(d);
	dir_free(dir);
}

static void test_persist(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct cache_draft_listing l = {0};
	char *s = NULL;

	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "amd64", "../v1/linux-amd64"), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".mediatype", "oci", 3), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/k", "v", 1), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".last-commit", "HTTP 400", 8), 0);
	cache_drafts_close(d);

	d = drafts_open_or_die(dir);
	CHECK_EQ(cache_draft_readlink(d, TAG, "amd64", &s), 0);
	CHECK(s && strcmp(s, "../v1/linux-amd64") == 0);
	free(s);
	CHECK(draft_has(d, TAG, ".mediatype", "oci"));
	CHECK(draft_has(d, TAG, ".annotations/k", "v"));
	CHECK(draft_has(d, TAG, ".last-commit", "HTTP 400"));
	CHECK_EQ(cache_draft_list(d, TAG, &l), 0);
	CHECK_EQ(l.n, 3);
	cache_draft_listing_release(&l);
	CHECK_EQ(cache_draft_mkdir(d, TAG), -EEXIST);
	cache_drafts_close(d);
	dir_free(dir);
}

/*
 * Threads making drafts under shared ancestors while others remove theirs
 * and prune those ancestors: mkdir must still succeed every time.
 */
#define N_THREADS 8
#define N_ROUNDS 200

struct worker {
	struct cache_drafts *d;
	int id;
	int errors;
};

static void *worker_run(void *p)
{
	struct worker *w = p;
	char path[128], *s = NULL;

	snprintf(path, sizeof(path), "h/ns/r%d/t", w->id);
	for (int i = 0; i < N_ROUNDS; i++) {
		int ret = cache_draft_mkdir(w->d, path);

		if (ret < 0) {
			fprintf(stderr, "  mkdir '%s': %s\n", path, strerror(-ret));
			w->errors++;
			continue;
		}
		w->errors += cache_draft_symlink(w->d, path, "l", "target") != 0;
		w->errors += cache_draft_readlink(w->d, path, "l", &s) != 0;
		free(s);
		s = NULL;
		w->errors += cache_draft_write_file(w->d, path, ".mediatype", "oci", 3) != 0;
		w->errors += cache_draft_remove(w->d, path) != 0;
	}
	return NULL;
}

static void test_threads(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];

	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){.d = d, .id = i};
		CHECK_EQ(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].errors, 0);
	}
	CHECK_EQ(count_disk("."), 0);
	cache_drafts_close(d);
	dir_free(dir);
}

/*
 * Readers never see a missing or partial file while a writer keeps
 * replacing it: each read gives one whole version or the other.
 */
struct rewriter {
	struct cache_drafts *d;
	atomic_bool stop;
	int errors;
};

static void *rewriter_run(void *p)
{
	struct rewriter *r = p;
	char big[4096];

	memset(big, 'b', sizeof(big));
	for (int i = 0; i < 400; i++) {
		const char *v = i % 2 ? big : "a";
		size_t len = i % 2 ? sizeof(big) : 1;

		r->errors += cache_draft_write_file(r->d, TAG, ".annotations/k", v, len) != 0;
	}
	atomic_store(&r->stop, true);
	return NULL;
}

static void test_write_atomic(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct rewriter r = {.d = d};
	int bad = 0, reads = 0;
	pthread_t t;

	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_write_file(d, TAG, ".annotations/k", "a", 1), 0);
	CHECK_EQ(pthread_create(&t, NULL, rewriter_run, &r), 0);
	while (!atomic_load(&r.stop)) {
		char *s = NULL;
		size_t len = 0;
		int ret = cache_draft_read_file(d, TAG, ".annotations/k", 8192, &s, &len);
		bool whole = ret == 0 && (len == 1 ? s[0] == 'a' : len == 4096);

		for (size_t i = 0; whole && len == 4096 && i < len; i++)
			whole = s[i] == 'b';
		if (!whole && bad++ < 3)
			fprintf(stderr, "  read: ret %d, %zu bytes\n", ret, len);
		reads++;
		free(s);
	}
	pthread_join(t, NULL);
	CHECK_EQ(r.errors, 0);
	CHECK_EQ(bad, 0);
	CHECK(reads > 0);
	CHECK_EQ(count_disk(TAG "/.annotations"), 1); /* no temp file left */
	cache_drafts_close(d);
	dir_free(dir);
}

/* Names of the links of @path in draft order, joined by ' '. */
static void links_joined(struct cache_drafts *d, const char *path, char *out, size_t n)
{
	struct cache_draft_listing l = {0};
	size_t used = 0;

	out[0] = '\0';
	CHECK_EQ(cache_draft_links(d, path, &l), 0);
	for (size_t i = 0; i < l.n; i++)
		used += (size_t)snprintf(out + used, n - used, "%s%s", i ? " " : "", l.v[i].name);
	cache_draft_listing_release(&l);
}

static void test_create(void)
{
	static const char *const names[] = {"linux-s390x", "linux-amd64", "linux-mips"};
	static const char *const targets[] = {"../@x/linux-s390x", "../@x/linux-amd64",
					      "../@x/linux-mips"};
	static const char *const keys[] = {"org.opencontainers.image.description"};
	static const char *const values[] = {"my app"};
	static const char *const bad_names[] = {".hidden", "a/b", "nl\nready"};
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct cache_draft_seed seed = {names, targets, 3, "oci\n", "sha256:base\n",
					keys, values, 1};
	char order[512];
	struct stat st;

	/* whole: links in list order, settings, base, annotations */
	CHECK_EQ(cache_draft_create(d, TAG, &seed), 0);
	CHECK_EQ(cache_draft_kind(d, TAG), CACHE_DRAFT_LIST);
	links_joined(d, TAG, order, sizeof(order));
	CHECK(strcmp(order, "linux-s390x linux-amd64 linux-mips") == 0, "order '%s'", order);
	CHECK(draft_has(d, TAG, ".mediatype", "oci\n"));
	CHECK(draft_has(d, TAG, ".base", "sha256:base\n"));
	CHECK(draft_has(d, TAG, ".annotations/org.opencontainers.image.description", "my app"));
	/* nothing temporary is left next to it */
	CHECK_EQ(count_disk("localhost:5000/onap/py-app"), 1);

	/* new links go last, in the order made; one made again goes last */
	CHECK_EQ(cache_draft_symlink(d, TAG, "arm64", "../a"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "a-first-by-name", "../b"), 0);
	CHECK_EQ(cache_draft_unlink(d, TAG, "linux-amd64"), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "linux-amd64", "../c"), 0);
	links_joined(d, TAG, order, sizeof(order));
	CHECK(strcmp(order, "linux-s390x linux-mips arm64 a-first-by-name linux-amd64") == 0,
	      "order '%s'", order);
	/* links the order does not know (made by hand) follow, by name */
	{
		char path[8192];

		disk_path(TAG "/b-by-hand", path, sizeof(path));
		CHECK_EQ(symlink("../z", path), 0);
		disk_path(TAG "/a-by-hand", path, sizeof(path));
		CHECK_EQ(symlink("../z", path), 0);
	}
	links_joined(d, TAG, order, sizeof(order));
	CHECK(strcmp(order, "linux-s390x linux-mips arm64 a-first-by-name linux-amd64 a-by-hand "
			    "b-by-hand") == 0,
	      "order '%s'", order);

	/* an existing draft is not replaced, and keeps what it has */
	CHECK_EQ(cache_draft_create(d, TAG, &seed), -EEXIST);
	CHECK_EQ(disk_type(TAG "/arm64"), S_IFLNK);
	CHECK_EQ(count_disk("localhost:5000/onap/py-app"), 1);

	/* bad names in a seed change nothing */
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct cache_draft_seed bad = {&bad_names[i], targets, 1, NULL, NULL, NULL, NULL, 0};

		CHECK_EQ(cache_draft_create(d, "localhost:5000/onap/py-app/bad", &bad), -EINVAL);
		CHECK_EQ(cache_draft_stat(d, "localhost:5000/onap/py-app/bad", NULL, &st), -ENOENT);
	}
	CHECK_EQ(cache_draft_symlink(d, TAG, "nl\nready", "../x"), -EINVAL);

	/* kinds: a directory holding a subdirectory is a namespace */
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/onap/py-app"), CACHE_DRAFT_NAMESPACE);
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/onap/nothing"), CACHE_DRAFT_NONE);
	CHECK_EQ(cache_draft_kind(d, TAG "/arm64"), CACHE_DRAFT_NONE); /* a link */
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/new"), 0);
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/new"), CACHE_DRAFT_LIST);
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/new/app"), 0);
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/new"), CACHE_DRAFT_NAMESPACE);
	cache_drafts_close(d);
	dir_free(dir);
}

/* Temporary names left by a crash (a half-built draft, a half-deleted
 * one) are swept when the store opens once they are old; a fresh one may
 * be another mount's, in use, and stays.  Neither is ever a draft. */
static void test_sweep(void)
{
	char *dir = dir_new();
	struct cache_drafts *d = drafts_open_or_die(dir);
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	char path[8192];
	struct stat st;

	CHECK_EQ(cache_draft_mkdir(d, TAG), 0);
	CHECK_EQ(cache_draft_symlink(d, TAG, "amd64", "../x"), 0);
	CHECK_EQ(cache_draft_remove(d, TAG), 0);
	CHECK_EQ(cache_draft_stat(d, TAG, NULL, &st), -ENOENT);
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/onap/py-app/v2"), 0);
	disk_path("localhost:5000/onap/py-app/.tmp-00000000000000aa", path, sizeof(path));
	CHECK_EQ(mkdir(path, 0700), 0);
	disk_write("localhost:5000/onap/py-app/.tmp-00000000000000aa/.order", "half\n");
	CHECK_EQ(utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW), 0);
	disk_path("localhost:5000/onap/py-app/.tmp-00000000000000bb", path, sizeof(path));
	CHECK_EQ(mkdir(path, 0700), 0);
	CHECK_EQ(count_disk("localhost:5000/onap/py-app"), 3);
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/onap/py-app/.tmp-00000000000000bb"),
		 CACHE_DRAFT_NONE);
	/* a level holding only a draft being made is a namespace, not an empty draft */
	disk_path("localhost:5000/other/.tmp-00000000000000cc", path, sizeof(path));
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/other/x"), 0);
	CHECK_EQ(cache_draft_rmdir(d, "localhost:5000/other/x"), 0);
	CHECK_EQ(cache_draft_mkdir(d, "localhost:5000/other/x"), 0);
	CHECK_EQ(mkdir(path, 0700), 0);
	CHECK_EQ(utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW), 0);
	CHECK_EQ(cache_draft_rmdir(d, "localhost:5000/other/x"), 0);
	CHECK_EQ(cache_draft_kind(d, "localhost:5000/other"), CACHE_DRAFT_NAMESPACE);
	cache_drafts_close(d);
	d = drafts_open_or_die(dir);
	CHECK_EQ(disk_type("localhost:5000/onap/py-app/.tmp-00000000000000aa"), 0);
	CHECK_EQ(disk_type("localhost:5000/onap/py-app/.tmp-00000000000000bb"), S_IFDIR);
	CHECK_EQ(disk_type("localhost:5000/onap/py-app/v2"), S_IFDIR);
	/* ... and the namespace that held only the old one went with it */
	CHECK_EQ(disk_type("localhost:5000/other"), 0);
	cache_drafts_close(d);
	dir_free(dir);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"open", test_open},
	    {"mkdir", test_mkdir},
	    {"hostile_paths", test_hostile_paths},
	    {"hostile_names", test_hostile_names},
	    {"links", test_links},
	    {"list", test_list},
	    {"rmdir", test_rmdir},
	    {"remove", test_remove},
	    {"symlink_not_followed", test_symlink_not_followed},
	    {"files", test_files},
	    {"persist", test_persist},
	    {"threads", test_threads},
	    {"write_atomic", test_write_atomic},
	    {"create", test_create},
	    {"sweep", test_sweep},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
