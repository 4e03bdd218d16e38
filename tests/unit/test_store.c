/*
 * Unit tests for cache/store: verification before anything is stored,
 * hostile digest names, single-flight fills, LRU eviction under the cap,
 * and two stores (two mounts) sharing one directory.  Each test works in a
 * fresh directory under $TMPDIR and removes it afterwards.
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
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "common/digest.h"
#include "common/log.h"

#include "check.h"

#define CHECK_EQ(got, want)                                                                        \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_) {                                                                    \
			fprintf(stderr, "%s:%d: %s: %s is %lld, want %lld\n", __FILE__, __LINE__,  \
				__func__, #got, g_, w_);                                           \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* ---- helpers ---- */

static char *dir_new(void)
{
	return check_tmpdir_new("store");
}

static void dir_free(char *d)
{
	check_tmpdir_free(d);
}

/* Entries in @dir/@sub, not counting . and .. (-1 if it cannot be read). */
static int count_entries(const char *dir, const char *sub)
{
	char path[4096];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void blob_path(const char *dir, const char *digest, char *out, size_t n)
{
	snprintf(out, n, "%s/blobs/sha256/%s", dir, digest + 7);
}

static bool blob_on_disk(const char *dir, const char *digest)
{
	char path[4096];

	blob_path(dir, digest, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/* Set a stored blob's mtime to @ago seconds in the past. */
static void blob_age(const char *dir, const char *digest, time_t ago)
{
	struct timespec ts[2];
	char path[4096];

	blob_path(dir, digest, path, sizeof(path));
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, path, ts, 0) < 0) {
		fprintf(stderr, "utimensat '%s': %s\n", path, strerror(errno));
		failures++;
	}
}

static time_t blob_mtime(const char *dir, const char *digest)
{
	char path[4096];
	struct stat st;

	blob_path(dir, digest, path, sizeof(path));
	return stat(path, &st) == 0 ? st.st_mtime : 0;
}

/* @len deterministic bytes that differ per @seed, and their digest. */
static char *blob_make(size_t len, unsigned seed, char digest[DIGEST_STR_LEN + 1])
{
	char *b = malloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (char)x;
	}
	digest_of(b, len, digest);
	return b;
}

static struct cache_store *store_open_or_die(const char *dir, uint64_t cap)
{
	struct cache_store *s = NULL;
	int ret = cache_store_open(dir, cap, &s);

	if (ret < 0) {
		fprintf(stderr, "cache_store_open '%s': %s\n", dir, strerror(-ret));
		exit(1);
	}
	return s;
}

/* ---- fills ---- */

struct fill_arg {
	const char *bytes;
	size_t len;
	int ret; /* returned after writing */
	atomic_int calls;
	atomic_int *entered; /* when set: wait for @want threads to enter */
	int want;
};

static int fill_bytes(struct cache_writer *w, void *p)
{
	struct fill_arg *a = p;
	int ret;

	atomic_fetch_add(&a->calls, 1);
	if (a->entered) {
		/* Hold the flight until every thread is inside ensure, then give
		 * the stragglers time to reach the wait. */
		while (atomic_load(a->entered) < a->want)
			usleep(1000);
		usleep(200000);
	}
	ret = cache_writer_write(w, a->bytes, a->len);
	if (ret < 0)
		return ret;
	return a->ret;
}

static int fill_never(struct cache_writer *w, void *p)
{
	(void)w;
	atomic_fetch_add(&((struct fill_arg *)p)->calls, 1);
	return -EPERM;
}

/* ---- tests ---- */

static void test_invalid_digests(void)
{
	static const char *const bad[] = {
	    "sha256:../../etc",
	    "sha256:../../escaped",
	    "sha256:../../../../../../../../../../../../../../../../../../../../../../tmp/x1",
	    "sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef01234567/9abcdef",
	    "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "sha256:",
	    "",
	};
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	struct fill_arg fa = {.bytes = "x", .len = 1};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int before = failures;
		struct cache_writer *w = (struct cache_writer *)&fa; /* must be reset */
		char *bytes = (char *)&fa;
		uint64_t size = 7;
		size_t len = 7;

		CHECK_EQ(cache_store_open_blob(s, bad[i]), -EINVAL);
		CHECK_EQ(cache_store_stat(s, bad[i], &size), -EINVAL);
		CHECK_EQ(cache_store_read(s, bad[i], 100, &bytes, &len), -EINVAL);
		CHECK(bytes == NULL && len == 0);
		CHECK_EQ(cache_store_put(s, bad[i], "x", 1), -EINVAL);
		CHECK_EQ(cache_writer_begin(s, bad[i], -1, &w), -EINVAL);
		CHECK(w == NULL);
		CHECK_EQ(cache_store_ensure(s, bad[i], -1, fill_bytes, &fa), -EINVAL);
		if (failures != before)
			fprintf(stderr, "  (digest \"%s\")\n", bad[i]);
	}
	CHECK_EQ(atomic_load(&fa.calls), 0);
	/* Nothing was created anywhere: only blobs/ and tmp/ exist. */
	CHECK_EQ(count_entries(dir, "."), 2);
	CHECK_EQ(count_entries(dir, "blobs"), 1);
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 0);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK_EQ(cache_store_usage(s), 0);
	cache_store_free(s);
	dir_free(dir);
}

static void test_put_read_stat(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	const char *text = "{\"schemaVersion\":2}";
	char digest[DIGEST_STR_LEN + 1], other[DIGEST_STR_LEN + 1];
	char path[4096], got[64];
	char *bytes = NULL;
	uint64_t size = 0;
	size_t len = 0;
	struct stat st;
	int fd;

	digest_of(text, strlen(text), digest);
	digest_of("other", 5, other);
	CHECK_EQ(cache_store_stat(s, digest, &size), -ENOENT);
	CHECK_EQ(cache_store_open_blob(s, digest), -ENOENT);
	CHECK_EQ(cache_store_read(s, digest, 100, &bytes, &len), -ENOENT);

	CHECK_EQ(cache_store_put(s, digest, text, strlen(text)), 0);
	CHECK_EQ(cache_store_stat(s, digest, &size), 0);
	CHECK_EQ(size, strlen(text));
	CHECK_EQ(cache_store_usage(s), strlen(text));

	CHECK_EQ(cache_store_read(s, digest, 100, &bytes, &len), 0);
	CHECK(bytes && len == strlen(text) && strcmp(bytes, text) == 0);
	free(bytes);
	CHECK_EQ(cache_store_read(s, digest, strlen(text) - 1, &bytes, &len), -E2BIG);
	CHECK(bytes == NULL);
	CHECK_EQ(cache_store_read(s, digest, strlen(text), &bytes, &len), 0);
	free(bytes);

	fd = cache_store_open_blob(s, digest);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ(read(fd, got, sizeof(got)), strlen(text));
		CHECK(memcmp(got, text, strlen(text)) == 0);
		CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
		close(fd);
	}
	blob_path(dir, digest, path, sizeof(path));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0444);

	/* Storing it again is a no-op, and usage does not count it twice. */
	CHECK_EQ(cache_store_put(s, digest, text, strlen(text)), 0);
	CHECK_EQ(cache_store_usage(s), strlen(text));
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 1);
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	/* An empty blob is a blob. */
	digest_of("", 0, other);
	CHECK_EQ(cache_store_put(s, other, "", 0), 0);
	CHECK_EQ(cache_store_read(s, other, 0, &bytes, &len), 0);
	CHECK(bytes && len == 0 && bytes[0] == '\0');
	free(bytes);

	cache_store_free(s);
	dir_free(dir);
}

/* Every way of handing over wrong bytes: nothing under blobs/ or tmp/. */
static void test_mismatch(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	struct cache_writer *w;
	struct fill_arg fa = {0};

	digest_of("right", 5, digest);
	CHECK_EQ(cache_store_put(s, digest, "wrong", 5), -EIO);
	CHECK_EQ(cache_store_put(s, digest, "righ", 4), -EIO);
	CHECK_EQ(cache_store_put(s, digest, "right!", 6), -EIO);

	/* Streamed: wrong content of the right size. */
	CHECK_EQ(cache_writer_begin(s, digest, 5, &w), 0);
	CHECK_EQ(cache_writer_write(w, "wr", 2), 0);
	CHECK_EQ(cache_writer_write(w, "ong", 3), 0);
	CHECK_EQ(cache_writer_commit(w), -EIO);

	/* Streamed: right prefix, too short for expect_size. */
	CHECK_EQ(cache_writer_begin(s, digest, 5, &w), 0);
	CHECK_EQ(cache_writer_write(w, "righ", 4), 0);
	CHECK_EQ(cache_writer_commit(w), -EIO);

	/* Streamed: the right bytes, but a descriptor that claims more. */
	CHECK_EQ(cache_writer_begin(s, digest, 6, &w), 0);
	CHECK_EQ(cache_writer_write(w, "right", 5), 0);
	CHECK_EQ(cache_writer_commit(w), -EIO);

	/* Streamed: writes past expect_size fail and stay failed. */
	CHECK_EQ(cache_writer_begin(s, digest, 5, &w), 0);
	CHECK_EQ(cache_writer_write(w, "rig", 3), 0);
	CHECK_EQ(cache_writer_write(w, "ht!", 3), -EFBIG);
	CHECK_EQ(cache_writer_write(w, "", 0), -EFBIG);
	CHECK_EQ(cache_writer_commit(w), -EFBIG);

	/* Abort after writing right bytes. */
	CHECK_EQ(cache_writer_begin(s, digest, -1, &w), 0);
	CHECK_EQ(cache_writer_write(w, "right", 5), 0);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	cache_writer_abort(w);
	cache_writer_abort(NULL);

	/* Through ensure: the fill returns success but wrote other bytes. */
	fa.bytes = "wrong";
	fa.len = 5;
	CHECK_EQ(cache_store_ensure(s, digest, 5, fill_bytes, &fa), -EIO);
	fa.len = 3;
	CHECK_EQ(cache_store_ensure(s, digest, -1, fill_bytes, &fa), -EIO);
	fa.bytes = "right!";
	fa.len = 6;
	CHECK_EQ(cache_store_ensure(s, digest, 5, fill_bytes, &fa), -EFBIG);

	CHECK(!blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 0);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK_EQ(cache_store_usage(s), 0);

	/* And the right bytes still go in afterwards. */
	CHECK_EQ(cache_store_put(s, digest, "right", 5), 0);
	CHECK(blob_on_disk(dir, digest));
	cache_store_free(s);
	dir_free(dir);
}

static void test_streaming(void)
{
	const size_t len = 3 * 1024 * 1024 + 17;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 1, digest), *got = NULL;
	struct cache_writer *w;
	size_t glen = 0;

	CHECK_EQ(cache_writer_begin(s, digest, -1, &w), 0);
	for (size_t off = 0; off < len; off += 65536) {
		size_t n = len - off < 65536 ? len - off : 65536;

		CHECK_EQ(cache_writer_write(w, b + off, n), 0);
	}
	CHECK_EQ(cache_writer_commit(w), 0);
	CHECK_EQ(cache_store_read(s, digest, len, &got, &glen), 0);
	CHECK(got && glen == len && memcmp(got, b, len) == 0);
	CHECK_EQ(cache_store_usage(s), len);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	free(got);
	free(b);
	cache_store_free(s);
	dir_free(dir);
}

struct ensure_thread {
	pthread_t tid;
	struct cache_store *s;
	const char *digest;
	struct fill_arg *fa;
	pthread_barrier_t *go;
	atomic_int *entered;
	int ret;
};

static void *ensure_main(void *p)
{
	struct ensure_thread *t = p;

	pthread_barrier_wait(t->go);
	atomic_fetch_add(t->entered, 1);
	t->ret = cache_store_ensure(t->s, t->digest, (int64_t)t->fa->len, fill_bytes, t->fa);
	return NULL;
}

/* Start 8 ensures of one digest at once; return how many fills ran. */
static int ensure_together(struct cache_store *s, const char *digest, struct fill_arg *fa,
			   int want_ret)
{
	enum { N = 8 };
	struct ensure_thread t[N];
	pthread_barrier_t go;
	atomic_int entered = 0;

	atomic_store(&fa->calls, 0);
	fa->entered = &entered;
	fa->want = N;
	pthread_barrier_init(&go, NULL, N);
	for (int i = 0; i < N; i++) {
		t[i] = (struct ensure_thread){
		    .s = s, .digest = digest, .fa = fa, .go = &go, .entered = &entered, .ret = 1};
		pthread_create(&t[i].tid, NULL, ensure_main, &t[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i].tid, NULL);
		CHECK_EQ(t[i].ret, want_ret);
	}
	pthread_barrier_destroy(&go);
	fa->entered = NULL;
	return atomic_load(&fa->calls);
}

static void test_ensure_single_flight(void)
{
	const size_t len = 100000;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	struct fill_arg fa = {0};
	char *b = blob_make(len, 2, digest);
	char *got = NULL;
	size_t glen = 0;

	fa.bytes = b;
	fa.len = len;
	CHECK_EQ(ensure_together(s, digest, &fa, 0), 1);
	CHECK_EQ(cache_store_read(s, digest, len, &got, &glen), 0);
	CHECK(got && glen == len && memcmp(got, b, len) == 0);
	free(got);
	CHECK_EQ(cache_store_usage(s), len);

	/* Stored now: ensure does not fill again. */
	atomic_store(&fa.calls, 0);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_never, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	free(b);
	cache_store_free(s);
	dir_free(dir);
}

static void test_ensure_error(void)
{
	const size_t len = 5000;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	struct fill_arg fa = {0};
	char *b = blob_make(len, 3, digest);

	/* The one fill fails after writing everything: all eight get its error. */
	fa.bytes = b;
	fa.len = len;
	fa.ret = -ECONNRESET;
	CHECK_EQ(ensure_together(s, digest, &fa, -ECONNRESET), 1);
	CHECK(!blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	/* A failure is not remembered: the next ensure runs a fill again. */
	fa.ret = 0;
	atomic_store(&fa.calls, 0);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 1);
	CHECK(blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	free(b);
	cache_store_free(s);
	dir_free(dir);
}

static void test_evict_lru(void)
{
	enum { CAP = 10000, SZ = 3000 };
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, CAP);
	char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1], c[DIGEST_STR_LEN + 1];
	char d[DIGEST_STR_LEN + 1], e[DIGEST_STR_LEN + 1], f[DIGEST_STR_LEN + 1];
	char *ba = blob_make(SZ, 10, a), *bb = blob_make(SZ, 11, b), *bc = blob_make(SZ, 12, c);
	char *bd = blob_make(SZ, 13, d), *be = blob_make(9500, 14, e);
	char *bf = blob_make(CAP + 2000, 15, f);
	char got[SZ];
	int fd_b, fd;

	CHECK_EQ(cache_store_put(s, a, ba, SZ), 0);
	CHECK_EQ(cache_store_put(s, b, bb, SZ), 0);
	CHECK_EQ(cache_store_put(s, c, bc, SZ), 0);
	CHECK_EQ(cache_store_usage(s), 3 * SZ);
	fd_b = cache_store_open_blob(s, b);
	CHECK(fd_b >= 0);

	/* Written in order a, b, c; then a is used.  LRU order: b, c, a. */
	blob_age(dir, a, 3000);
	blob_age(dir, b, 2000);
	blob_age(dir, c, 1000);
	fd = cache_store_open_blob(s, a);
	CHECK(fd >= 0);
	close(fd);
	CHECK(blob_mtime(dir, a) >= time(NULL) - 5);

	/* A blob used within the last minute is not bumped again. */
	blob_age(dir, c, 30);
	fd = cache_store_open_blob(s, c);
	CHECK(fd >= 0);
	close(fd);
	CHECK(blob_mtime(dir, c) <= time(NULL) - 29);
	blob_age(dir, c, 1000);

	/* d takes usage to 12000 > cap: evict b only (down to 9000 = 90%). */
	CHECK_EQ(cache_store_put(s, d, bd, SZ), 0);
	CHECK(!blob_on_disk(dir, b));
	CHECK(blob_on_disk(dir, a) && blob_on_disk(dir, c) && blob_on_disk(dir, d));
	CHECK_EQ(cache_store_usage(s), 3 * SZ);
	CHECK(cache_store_usage(s) <= CAP);

	/* The fd opened before eviction still reads b. */
	CHECK_EQ(pread(fd_b, got, SZ, 0), SZ);
	CHECK(memcmp(got, bb, SZ) == 0);
	close(fd_b);
	CHECK_EQ(cache_store_open_blob(s, b), -ENOENT);

	/* e alone is over 90% of the cap: everything else goes, never e. */
	blob_age(dir, c, 1000);
	blob_age(dir, a, 500);
	blob_age(dir, d, 100);
	CHECK_EQ(cache_store_put(s, e, be, 9500), 0);
	CHECK(blob_on_disk(dir, e));
	CHECK(!blob_on_disk(dir, a) && !blob_on_disk(dir, c) && !blob_on_disk(dir, d));
	CHECK_EQ(cache_store_usage(s), 9500);

	/* A blob bigger than the cap is still stored (the caller is about to
	 * read it); the cap is exceeded until the next insert. */
	CHECK_EQ(cache_store_put(s, f, bf, CAP + 2000), 0);
	CHECK(blob_on_disk(dir, f) && !blob_on_disk(dir, e));
	CHECK_EQ(cache_store_usage(s), CAP + 2000);
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	cache_store_free(s);
	free(ba), free(bb), free(bc), free(bd), free(be), free(bf);
	dir_free(dir);
}

/* Two stores on one directory, as two mounts sharing a cache. */
static void test_two_mounts(void)
{
	enum { SZ = 3000 };
	char *dir = dir_new();
	struct cache_store *s1 = store_open_or_die(dir, 0), *s2;
	char x[DIGEST_STR_LEN + 1], y[DIGEST_STR_LEN + 1], z[DIGEST_STR_LEN + 1];
	char *bx = blob_make(SZ, 20, x), *by = blob_make(SZ, 21, y), *bz = blob_make(SZ, 22, z);
	struct fill_arg fa = {0};
	uint64_t size = 0;
	char *got = NULL;
	size_t glen = 0;

	CHECK_EQ(cache_store_put(s1, x, bx, SZ), 0);
	s2 = store_open_or_die(dir, 5000);
	CHECK_EQ(cache_store_usage(s2), SZ); /* counted at open */

	/* Each sees the other's blobs. */
	CHECK_EQ(cache_store_stat(s2, x, &size), 0);
	CHECK_EQ(size, SZ);
	CHECK_EQ(cache_store_ensure(s2, x, SZ, fill_never, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	blob_age(dir, x, 100);
	CHECK_EQ(cache_store_put(s2, z, bz, SZ), 0);
	/* z pushed s2 over its cap: x (older) was evicted, by s2, from s1 too. */
	CHECK(!blob_on_disk(dir, x));
	CHECK_EQ(cache_store_stat(s1, x, &size), -ENOENT);
	CHECK_EQ(cache_store_read(s1, z, SZ, &got, &glen), 0);
	CHECK(got && glen == SZ && memcmp(got, bz, SZ) == 0);
	free(got);

	/* s2 rescans when over the cap, so it counts what s1 added. */
	CHECK_EQ(cache_store_put(s1, y, by, SZ), 0);
	blob_age(dir, y, 100);
	CHECK_EQ(cache_store_put(s2, x, bx, SZ), 0); /* 9000 on disk > 5000 */
	CHECK(blob_on_disk(dir, x));
	CHECK(!blob_on_disk(dir, y));
	CHECK(cache_store_usage(s2) <= 5000);

	cache_store_free(s1);
	cache_store_free(s2);
	free(bx), free(by), free(bz);
	dir_free(dir);
}

/* Open cleans stale temp files, keeps fresh ones, ignores foreign names,
 * and enforces a cap smaller than what is on disk. */
static void test_open(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1];
	char *ba = blob_make(4000, 30, a), *bb = blob_make(4000, 31, b);
	struct timespec old[2];
	char path[4096];
	int fd;

	CHECK_EQ(cache_store_put(s, a, ba, 4000), 0);
	CHECK_EQ(cache_store_put(s, b, bb, 4000), 0);
	cache_store_free(s);
	blob_age(dir, a, 200);

	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= 7200;
	old[1] = old[0];
	snprintf(path, sizeof(path), "%s/tmp/blob.stale1", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && futimens(fd, old) == 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/tmp/blob.fresh1", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/blobs/sha256/README", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "not a blob", 10) == 10 && futimens(fd, old) == 0);
	close(fd);

	s = store_open_or_die(dir, 6000);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	snprintf(path, sizeof(path), "%s/tmp/blob.fresh1", dir);
	CHECK(access(path, F_OK) == 0);
	CHECK(!blob_on_disk(dir, a) && blob_on_disk(dir, b));
	snprintf(path, sizeof(path), "%s/blobs/sha256/README", dir);
	CHECK(access(path, F_OK) == 0);
	CHECK_EQ(cache_store_usage(s), 4000);
	cache_store_free(s);

	/* A path that is a file cannot hold a store. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/README/x", dir);
	CHECK(cache_store_open(path, 0, &s) < 0 && s == NULL);
	cache_store_free(NULL);
	free(ba), free(bb);
	dir_free(dir);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"invalid_digests", test_invalid_digests},
	    {"put_read_stat", test_put_read_stat},
	    {"mismatch", test_mismatch},
	    {"streaming", test_streaming},
	    {"ensure_single_flight", test_ensure_single_flight},
	    {"ensure_error", test_ensure_error},
	    {"evict_lru", test_evict_lru},
	    {"two_mounts", test_two_mounts},
	    {"open", test_open},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
