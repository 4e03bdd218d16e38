/*
 * Unit tests for cache/store: verification before anything is stored,
 * hostile digest names, single-flight fills, LRU eviction under the cap,
 * two stores (two mounts) sharing one directory, and what a store finds on
 * disk not trusted: corrupted, truncated, swapped or foreign files and
 * planted FIFOs, symlinks and directories are dropped and fetched again.  Each test works in a
 * fresh directory under $TMPDIR and removes it afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "common/cancel.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"

#include "check.h"

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

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	return check_count_entries(path);
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

/* Size of the file under a blob's name, or -1 when there is none. */
static long long blob_size_on_disk(const char *dir, const char *digest)
{
	char path[4096];
	struct stat st;

	blob_path(dir, digest, path, sizeof(path));
	return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
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
	size_t chunk; /* bytes per write; 0: all at once */
	int ret;      /* returned after writing */
	atomic_int calls;
	atomic_int *entered; /* when set: wait for @want threads to enter */
	int want;
};

static int fill_bytes(struct cache_writer *w, void *p)
{
	struct fill_arg *a = p;
	size_t off = 0;
	int ret;

	atomic_fetch_add(&a->calls, 1);
	if (a->entered) {
		/* Hold the flight until every thread is inside ensure, then give
		 * the stragglers time to reach the wait. */
		while (atomic_load(a->entered) < a->want)
			usleep(1000);
		usleep(200000);
	}
	do {
		size_t n = a->len - off;

		if (a->chunk && n > a->chunk)
			n = a->chunk;
		ret = cache_writer_write(w, a->bytes + off, n);
		if (ret < 0)
			return ret;
		off += n;
	} while (off < a->len);
	return a->ret;
}

/*
 * A fill that writes @chunks one by one, whatever each write returns, notes
 * those returns in @wrote and the entries of @dir's tmp/ after the last
 * write in @tmp_entries, and then returns @ret: the store must refuse the
 * blob whenever a write failed, even if the fill says 0.
 */
struct fill_chunks {
	const char *const *chunks; /* NULL-terminated */
	int ret;
	const char *dir;
	int wrote[8];
	int tmp_entries;
};

static int fill_chunks(struct cache_writer *w, void *p)
{
	struct fill_chunks *a = p;

	for (size_t i = 0; a->chunks[i]; i++)
		a->wrote[i] = cache_writer_write(w, a->chunks[i], strlen(a->chunks[i]));
	a->tmp_entries = count_entries(a->dir, "tmp");
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
		char *bytes = (char *)&fa;
		size_t len = 7;

		CHECK_EQ(cache_store_open_blob(s, bad[i]), -EINVAL);
		CHECK_EQ(cache_store_read(s, bad[i], 100, &bytes, &len), -EINVAL);
		CHECK(bytes == NULL && len == 0);
		CHECK_EQ(cache_store_put(s, bad[i], "x", 1), -EINVAL);
		CHECK_EQ(cache_store_ensure(s, bad[i], -1, fill_bytes, &fa), -EINVAL);
		if (failures != before)
			fprintf(stderr, "  (digest \"%s\")\n", bad[i]);
	}
	CHECK_EQ(atomic_load(&fa.calls), 0);
	/* the names the store and the sealer accept in their directories */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strncmp(bad[i], "sha256:", 7) == 0)
			CHECK(!digest_hex_is_valid(bad[i] + 7), "\"%s\"", bad[i]);
	CHECK(digest_hex_is_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!digest_hex_is_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"));
	/* Nothing was created anywhere: only blobs/, indexes/, seals/ and
	 * tmp/ exist. */
	CHECK_EQ(count_entries(dir, "."), 4);
	CHECK_EQ(count_entries(dir, "indexes/sha256"), 0);
	CHECK_EQ(count_entries(dir, "seals"), 0);
	CHECK_EQ(count_entries(dir, "blobs"), 1);
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 0);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK_EQ(cache_store_usage(s), 0);
	cache_store_free(s);
	dir_free(dir);
}

static void test_put_read(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	const char *text = "{\"schemaVersion\":2}";
	char digest[DIGEST_STR_LEN + 1], other[DIGEST_STR_LEN + 1];
	char path[4096], got[64];
	char *bytes = NULL;
	size_t len = 0;
	struct stat st;
	int fd;

	digest_of(text, strlen(text), digest);
	digest_of("other", 5, other);
	CHECK_EQ(cache_store_open_blob(s, digest), -ENOENT);
	CHECK_EQ(cache_store_read(s, digest, 100, &bytes, &len), -ENOENT);

	CHECK_EQ(cache_store_put(s, digest, text, strlen(text)), 0);
	CHECK_EQ(blob_size_on_disk(dir, digest), strlen(text));
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
	/* the owner's alone, and read-only (F8) */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0400);

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
	struct streamed_case {
		const char *what;
		int64_t expect_size;
		const char *const chunks[4];
		int wrote[3]; /* what each write returns */
		int fill_ret;
		int want;
	};
	static const struct streamed_case streamed[] = {
	    {"wrong content of the right size", 5, {"wr", "ong"}, {0, 0}, 0, -EIO},
	    {"right prefix, too short", 5, {"righ"}, {0}, 0, -EIO},
	    {"the right bytes, but a size that claims more", 6, {"right"}, {0}, 0, -EIO},
	    {"past the size, for good", 5, {"rig", "ht!", ""}, {0, -EFBIG, -EFBIG}, 0, -EFBIG},
	    {"the right bytes, then the fill fails", -1, {"right"}, {0}, -EPERM, -EPERM},
	};
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	struct fill_arg fa = {0};

	digest_of("right", 5, digest);
	CHECK_EQ(cache_store_put(s, digest, "wrong", 5), -EIO);
	CHECK_EQ(cache_store_put(s, digest, "righ", 4), -EIO);
	CHECK_EQ(cache_store_put(s, digest, "right!", 6), -EIO);

	/* Streamed by a fill: every way of writing other bytes than the
	 * digest's, or other than the size the fill was started with. */
	for (size_t i = 0; i < sizeof(streamed) / sizeof(streamed[0]); i++) {
		const struct streamed_case *c = &streamed[i];
		struct fill_chunks fc = {.chunks = c->chunks, .ret = c->fill_ret, .dir = dir};

		CHECK_EQ(cache_store_ensure(s, digest, c->expect_size, fill_chunks, &fc), c->want);
		for (size_t j = 0; c->chunks[j]; j++)
			CHECK(fc.wrote[j] == c->wrote[j], "%s: write %zu gave %d, want %d", c->what,
			      j, fc.wrote[j], c->wrote[j]);
		CHECK(fc.tmp_entries == 1, "%s: %d temp files while filling", c->what,
		      fc.tmp_entries);
		CHECK(count_entries(dir, "tmp") == 0, "%s: temp file left", c->what);
	}

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
	struct fill_arg fa = {.bytes = b, .len = len, .chunk = 65536};
	size_t glen = 0;

	CHECK_EQ(cache_store_ensure(s, digest, -1, fill_bytes, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 1);
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

	/* d takes usage to 12000 > cap: b is the oldest but open (evicting it
	 * would free nothing and refetch it), so c goes instead (down to 9000
	 * = 90%). */
	CHECK_EQ(cache_store_put(s, d, bd, SZ), 0);
	CHECK(blob_on_disk(dir, b));
	CHECK(!blob_on_disk(dir, c));
	CHECK(blob_on_disk(dir, a) && blob_on_disk(dir, d));
	CHECK_EQ(cache_store_usage(s), 3 * SZ);

	/* The open fd reads b, and once it is closed b is the first to go. */
	CHECK_EQ(pread(fd_b, got, SZ, 0), SZ);
	CHECK(memcmp(got, bb, SZ) == 0);
	close(fd_b);
	CHECK_EQ(cache_store_put(s, c, bc, SZ), 0);
	CHECK(!blob_on_disk(dir, b));
	CHECK_EQ(cache_store_open_blob(s, b), -ENOENT);

	/* e alone is over 90% of the cap: everything else goes, never e. */
	blob_age(dir, c, 1000);
	blob_age(dir, a, 500);
	blob_age(dir, d, 100);
	CHECK_EQ(cache_store_put(s, e, be, 9500), 0);
	CHECK(blob_on_disk(dir, e));
	CHECK(!blob_on_disk(dir, a) && !blob_on_disk(dir, c) && !blob_on_disk(dir, d));
	CHECK_EQ(cache_store_usage(s), 9500);

	/* A blob bigger than the cap is refused (test_oversized): e stays. */
	CHECK_EQ(cache_store_put(s, f, bf, CAP + 2000), -ENOSPC);
	CHECK(!blob_on_disk(dir, f) && blob_on_disk(dir, e));
	CHECK_EQ(cache_store_usage(s), 9500);
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	cache_store_free(s);
	free(ba), free(bb), free(bc), free(bd), free(be), free(bf);
	dir_free(dir);
}

/* What df is told: the cap, what is stored, and the room left, which is
 * never more than the disk has free nor than the cap leaves. */
static void test_space(void)
{
	enum { CAP = 10000, SZ = 3000 };
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, CAP);
	struct cache_store *nocap = store_open_or_die(dir, 0);
	struct cache_store_space sp;
	char a[DIGEST_STR_LEN + 1], big[DIGEST_STR_LEN + 1];
	char *ba = blob_make(SZ, 20, a), *bbig = blob_make(CAP - 100, 21, big);
	int fd;

	CHECK_EQ(cache_store_space(s, &sp), 0);
	CHECK_EQ(sp.cap, CAP);
	CHECK_EQ(sp.used, 0);
	CHECK(sp.disk_free > 0);
	CHECK_EQ(sp.avail, sp.disk_free < CAP ? sp.disk_free : CAP);

	CHECK_EQ(cache_store_put(s, a, ba, SZ), 0);
	CHECK_EQ(cache_store_space(s, &sp), 0);
	CHECK_EQ(sp.cap, CAP);
	CHECK_EQ(sp.used, SZ);
	CHECK_EQ(sp.avail, sp.disk_free < CAP - SZ ? sp.disk_free : CAP - SZ);

	/* past the (soft) cap, while a is open and so not evicted: no room,
	 * and no wrap-around */
	fd = cache_store_open_blob(s, a);
	CHECK(fd >= 0);
	CHECK_EQ(cache_store_put(s, big, bbig, CAP - 100), 0);
	CHECK_EQ(cache_store_space(s, &sp), 0);
	CHECK_EQ(sp.used, CAP - 100 + SZ);
	CHECK_EQ(sp.avail, 0);
	close(fd);

	/* no cap: the disk's free space is the room */
	CHECK_EQ(cache_store_space(nocap, &sp), 0);
	CHECK_EQ(sp.cap, 0);
	CHECK_EQ(sp.avail, sp.disk_free);

	cache_store_free(nocap);
	cache_store_free(s);
	free(ba), free(bbig);
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
	char *got = NULL;
	size_t glen = 0;

	CHECK_EQ(cache_store_put(s1, x, bx, SZ), 0);
	s2 = store_open_or_die(dir, 5000);
	CHECK_EQ(cache_store_usage(s2), SZ); /* counted at open */

	/* Each sees the other's blobs. */
	CHECK_EQ(cache_store_read(s2, x, SZ, &got, &glen), 0);
	CHECK(got && glen == SZ && memcmp(got, bx, SZ) == 0);
	free(got);
	CHECK_EQ(cache_store_ensure(s2, x, SZ, fill_never, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	blob_age(dir, x, 100);
	CHECK_EQ(cache_store_put(s2, z, bz, SZ), 0);
	/* z pushed s2 over its cap: x (older) was evicted, by s2, from s1 too. */
	CHECK(!blob_on_disk(dir, x));
	CHECK_EQ(cache_store_open_blob(s1, x), -ENOENT);
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

/* Open removes the temp files of writers that died (stale or not), keeps
 * those a live writer holds, ignores foreign names, and enforces a cap
 * smaller than what is on disk. */
static void test_open(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1];
	char *ba = blob_make(4000, 30, a), *bb = blob_make(4000, 31, b);
	struct timespec old[2];
	char path[4096];
	int fd, live;

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
	/* a writer that died a moment ago: nobody holds its lock */
	snprintf(path, sizeof(path), "%s/tmp/blob.dead1", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "partial", 7) == 7);
	close(fd);
	/* a live one (another mount's download): it holds the lock */
	snprintf(path, sizeof(path), "%s/tmp/blob.live1", dir);
	live = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(live >= 0 && flock(live, LOCK_EX) == 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256/README", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "not a blob", 10) == 10 && futimens(fd, old) == 0);
	close(fd);

	s = store_open_or_die(dir, 6000);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	snprintf(path, sizeof(path), "%s/tmp/blob.live1", dir);
	CHECK(access(path, F_OK) == 0);
	close(live);
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

/* ---- the disk is not trusted: what is found under a blob's name ---- */

/*
 * Every test below runs under a watchdog: a store that opens a planted FIFO
 * for reading blocks for ever, and that must fail the test, not hang it.
 */
static void watchdog_fired(int sig)
{
	static const char msg[] = "test_store: timed out (blocked on a planted file?)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void watchdog_arm(unsigned secs)
{
	struct sigaction sa = {.sa_handler = watchdog_fired};

	sigaction(SIGALRM, &sa, NULL);
	alarm(secs);
}

/* The log goes to a scratch file while a test looks for its lines. */
static FILE *log_capture(enum log_level level)
{
	FILE *fp = tmpfile();

	if (!fp) {
		perror("tmpfile");
		exit(1);
	}
	log_setup(fp, level);
	return fp;
}

static void log_release(FILE *fp)
{
	log_setup(stderr, LOG_LVL_ERR);
	fclose(fp);
}

/* How many lines of the captured log contain @needle. */
static int log_count(FILE *fp, const char *needle)
{
	char line[1024];
	int n = 0;

	fflush(fp);
	rewind(fp);
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, needle))
			n++;
	fseek(fp, 0, SEEK_END);
	return n;
}

/* Store @b with a store of its own, so another store on @dir has never
 * verified it: what a new mount finds in the cache. */
/* Path of blob @digest's seal under store directory @dir. */
static void seal_path(const char *dir, const char *digest, char *out, size_t n)
{
	snprintf(out, n, "%s/seals/%s", dir, digest + 7);
}

/* Store @b as blob @digest with a store of its own, as an earlier mount
 * did, and leave it unsealed (as a crash, or an older regfs, leaves it):
 * the next store hashes it before its first use. */
static void stored_earlier(const char *dir, const char *digest, const char *b, size_t len)
{
	struct cache_store *s0 = store_open_or_die(dir, 0);
	char seal[4096];

	CHECK_EQ(cache_store_put(s0, digest, b, len), 0);
	cache_store_free(s0);
	seal_path(dir, digest, seal, sizeof(seal));
	unlink(seal);
}

/* Write @n bytes at @off into the (mode 0444) file @path, in place. */
static int rewrite_at(const char *path, off_t off, const void *p, size_t n)
{
	int fd, ok;

	if (chmod(path, 0644) < 0)
		return -1;
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = pwrite(fd, p, n, off) == (ssize_t)n;
	close(fd);
	return ok && chmod(path, 0444) == 0 ? 0 : -1;
}

/* A file of @len bytes at @path (mode 0444) holding @p. */
static int file_make(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, p, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

struct plant_ctx {
	const char *dir;
	const char *path; /* the blob's name in the store */
	const char *bytes;
	size_t len;
};

static int plant_flip(const struct plant_ctx *c)
{
	char x = (char)(c->bytes[c->len / 2] ^ 0x20);

	return rewrite_at(c->path, (off_t)(c->len / 2), &x, 1);
}

static int plant_truncate(const struct plant_ctx *c)
{
	if (chmod(c->path, 0644) < 0 || truncate(c->path, (off_t)(c->len - 100)) < 0)
		return -1;
	return chmod(c->path, 0444);
}

static int plant_extend(const struct plant_ctx *c)
{
	return rewrite_at(c->path, (off_t)c->len, "more", 4);
}

static int plant_fifo(const struct plant_ctx *c)
{
	return unlink(c->path) == 0 && mkfifo(c->path, 0600) == 0 ? 0 : -1;
}

/* A symlink to a scratch file that even holds the right bytes: a link is
 * never followed, whatever it points at. */
static int plant_symlink(const struct plant_ctx *c)
{
	char target[4096];

	snprintf(target, sizeof(target), "%s/symlink-target", c->dir);
	if (file_make(target, c->bytes, c->len) < 0)
		return -1;
	return unlink(c->path) == 0 && symlink(target, c->path) == 0 ? 0 : -1;
}

static int plant_dir(const struct plant_ctx *c)
{
	return unlink(c->path) == 0 && mkdir(c->path, 0700) == 0 ? 0 : -1;
}

static int plant_full_dir(const struct plant_ctx *c)
{
	char inner[4096];

	snprintf(inner, sizeof(inner), "%s/inside", c->path);
	if (plant_dir(c) < 0)
		return -1;
	return file_make(inner, "x", 1);
}

/* The right bytes, but in a file another user owns (a shared cache). */
static int plant_other_owner(const struct plant_ctx *c)
{
	return chown(c->path, 65534, 65534);
}

/* The right bytes, but others may write them after they are checked. */
static int plant_writable(const struct plant_ctx *c)
{
	return chmod(c->path, 0666);
}

/* Another file (new inode) of the same size renamed over the blob. */
static int plant_swap(const struct plant_ctx *c)
{
	char other[4096];
	char *b = malloc(c->len);
	int ret;

	snprintf(other, sizeof(other), "%s/swap", c->dir);
	memcpy(b, c->bytes, c->len);
	b[0] ^= 1;
	ret = file_make(other, b, c->len) == 0 && rename(other, c->path) == 0 ? 0 : -1;
	free(b);
	return ret;
}

/* The same inode and size, rewritten in place. */
static int plant_rewrite(const struct plant_ctx *c)
{
	return rewrite_at(c->path, 0, "X", 1);
}

struct plant_case {
	const char *name;
	int (*plant)(const struct plant_ctx *c);
	bool verified_first; /* this store has already verified the blob */
	bool needs_root;
	int want_open; /* what open_blob gives for what was planted */
};

static const struct plant_case plant_cases[] = {
    {"flipped byte", plant_flip, false, false, -ENOENT},
    {"truncated", plant_truncate, false, false, -ENOENT},
    {"extended", plant_extend, false, false, -ENOENT},
    {"fifo", plant_fifo, false, false, -ENOENT},
    {"symlink to a scratch file", plant_symlink, false, false, -ENOENT},
    {"empty directory", plant_dir, false, false, -ENOENT},
    {"directory that cannot be removed", plant_full_dir, false, false, -EIO},
    {"owned by uid 65534", plant_other_owner, false, true, -ENOENT},
    {"writable by others", plant_writable, false, false, -ENOENT},
    {"verified, then another file renamed over it", plant_swap, true, false, -ENOENT},
    {"verified, then rewritten in place", plant_rewrite, true, false, -ENOENT},
    {"verified, then flipped", plant_flip, true, false, -ENOENT},
};

/* Plant @c over a good stored blob; then go through ensure first (as
 * fs/tree.c does) or open first. */
static void plant_one(const struct plant_case *c, bool ensure_first)
{
	const size_t len = 200000;
	char *dir = dir_new();
	char digest[DIGEST_STR_LEN + 1], path[4096], needle[128], *got = NULL;
	char *b = blob_make(len, 40, digest);
	struct fill_arg fa = {.bytes = b, .len = len};
	struct cache_store *s;
	struct plant_ctx pc;
	struct stat st;
	size_t glen = 0;
	FILE *log = log_capture(LOG_LVL_WARN);
	int before = failures, fd;

	blob_path(dir, digest, path, sizeof(path));
	pc = (struct plant_ctx){dir, path, b, len};
	if (c->verified_first) {
		s = store_open_or_die(dir, 0);
		CHECK_EQ(cache_store_put(s, digest, b, len), 0);
		fd = cache_store_open_blob(s, digest);
		CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
	} else {
		stored_earlier(dir, digest, b, len);
		s = store_open_or_die(dir, 0);
	}
	if (c->verified_first)
		usleep(20000); /* past the coarse clock tick of its last change */
	CHECK_EQ(c->plant(&pc), 0);

	watchdog_arm(20);
	if (!ensure_first) {
		CHECK_EQ(cache_store_open_blob(s, digest), c->want_open);
		CHECK_EQ(cache_store_read(s, digest, len, &got, &glen), c->want_open);
		CHECK(got == NULL);
	}
	if (c->want_open == -ENOENT) {
		/* dropped, said so, fetched again through the fill, served */
		snprintf(needle, sizeof(needle), "cached blob '%s' dropped", digest);
		if (!ensure_first)
			CHECK(lstat(path, &st) < 0 && errno == ENOENT);
		CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), 0);
		CHECK_EQ(atomic_load(&fa.calls), 1);
		CHECK_EQ(log_count(log, needle), 1);
		CHECK_EQ(cache_store_read(s, digest, len, &got, &glen), 0);
		CHECK(got && glen == len && memcmp(got, b, len) == 0);
		CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid());
		free(got);
	} else {
		/* left where it is, never read, and no download is wasted on a
		 * name that cannot take the blob */
		CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa),
			 c->want_open);
		CHECK_EQ(atomic_load(&fa.calls), 0);
		CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
		snprintf(needle, sizeof(needle), "cached blob '%s' not used", digest);
		CHECK(log_count(log, needle) >= 1);
	}
	alarm(0);
	if (c->plant == plant_symlink) {
		/* the link's target was neither read as the blob nor removed */
		snprintf(path, sizeof(path), "%s/symlink-target", dir);
		CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len);
	}
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	if (failures != before)
		fprintf(stderr, "  (planted: %s; %s first)\n", c->name,
			ensure_first ? "ensure" : "open");
	cache_store_free(s);
	log_release(log);
	free(b);
	dir_free(dir);
}

static void test_planted(void)
{
	for (size_t i = 0; i < sizeof(plant_cases) / sizeof(plant_cases[0]); i++) {
		if (plant_cases[i].needs_root && geteuid() != 0) {
			printf("skip planted '%s': needs root to chown\n", plant_cases[i].name);
			continue;
		}
		plant_one(&plant_cases[i], false);
		plant_one(&plant_cases[i], true);
	}
}

/* A descriptor's size that disagrees with the file is caught without
 * hashing; one that disagrees with a verified blob is the descriptor's
 * fault, and the good blob stays. */
static void test_size_checks(void)
{
	const size_t len = 5000;
	char *dir = dir_new();
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 41, digest);
	struct fill_arg fa = {.bytes = b, .len = len};
	FILE *log;
	struct cache_store *s;

	stored_earlier(dir, digest, b, len);
	s = store_open_or_die(dir, 0);
	log = log_capture(LOG_LVL_DEBUG);
	/* the file has 5000 bytes, the caller expects 4999: not hashed */
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len - 1, fill_never, &fa), -EPERM);
	CHECK_EQ(log_count(log, "bytes, expected 4999"), 1);
	CHECK_EQ(log_count(log, "verified"), 0);
	CHECK(!blob_on_disk(dir, digest));

	CHECK_EQ(cache_store_put(s, digest, b, len), 0);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len + 1, fill_never, &fa), -EIO);
	CHECK(blob_on_disk(dir, digest));
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_never, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 1);
	cache_store_free(s); /* first: its sealer may still log */
	log_release(log);
	free(b);
	dir_free(dir);
}

struct open_thread {
	pthread_t tid;
	struct cache_store *s;
	const char *digest;
	const char *bytes;
	size_t len;
	pthread_barrier_t *go;
	int ret;
	bool ensure; /* ensure (with a fill that must not run) before open */
};

static void *open_main(void *p)
{
	struct open_thread *t = p;
	struct fill_arg never = {0};
	char *got = malloc(t->len);
	int fd;

	pthread_barrier_wait(t->go);
	t->ret = 0;
	if (t->ensure)
		t->ret = cache_store_ensure(t->s, t->digest, (int64_t)t->len, fill_never, &never);
	fd = t->ret == 0 ? cache_store_open_blob(t->s, t->digest) : -1;
	if (fd >= 0) {
		if (pread(fd, got, t->len, 0) != (ssize_t)t->len || memcmp(got, t->bytes, t->len))
			t->ret = -EBADMSG;
		close(fd);
	} else if (t->ret == 0) {
		t->ret = fd;
	}
	if (atomic_load(&never.calls))
		t->ret = -EPERM;
	free(got);
	return NULL;
}

/* Eight threads use one big blob this store has not verified: it is hashed
 * once, and each reader gets the right bytes. */
static void test_verify_once(void)
{
	enum { N = 8 };
	const size_t len = 8 * 1024 * 1024;
	char *dir = dir_new();
	char digest[DIGEST_STR_LEN + 1], needle[128];
	char *b = blob_make(len, 42, digest);
	struct open_thread t[N];
	pthread_barrier_t go;
	struct cache_store *s;
	FILE *log;

	snprintf(needle, sizeof(needle), "cached blob '%s' verified", digest);
	for (int round = 0; round < 2; round++) {
		stored_earlier(dir, digest, b, len);
		s = store_open_or_die(dir, 0);
		log = log_capture(LOG_LVL_DEBUG);
		pthread_barrier_init(&go, NULL, N);
		for (int i = 0; i < N; i++) {
			t[i] = (struct open_thread){.s = s,
						    .digest = digest,
						    .bytes = b,
						    .len = len,
						    .go = &go,
						    .ret = 1,
						    .ensure = round == 1 && i % 2};
			pthread_create(&t[i].tid, NULL, open_main, &t[i]);
		}
		for (int i = 0; i < N; i++) {
			pthread_join(t[i].tid, NULL);
			CHECK_EQ(t[i].ret, 0);
		}
		pthread_barrier_destroy(&go);
		CHECK_EQ(log_count(log, needle), 1);
		/* and not again for later opens of the same file */
		for (int i = 0; i < 3; i++) {
			int fd = cache_store_open_blob(s, digest);

			CHECK(fd >= 0);
			if (fd >= 0)
				close(fd);
		}
		CHECK_EQ(log_count(log, needle), 1);
		cache_store_free(s); /* first: its sealer may still log */
		log_release(log);
	}
	free(b);
	dir_free(dir);
}

/* Temp files are made in the tmp/ directory opened with the store: a
 * symlink that replaces tmp/ later is not followed, and one there at open
 * is refused. */
static void test_tmp_not_followed(void)
{
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1], tmp[4096], moved[4096], away[4096];
	char *b = blob_make(3000, 43, digest);

	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(moved, sizeof(moved), "%s/tmp.moved", dir);
	snprintf(away, sizeof(away), "%s/away", dir);
	CHECK(mkdir(away, 0700) == 0);
	CHECK(rename(tmp, moved) == 0 && symlink(away, tmp) == 0);
	CHECK_EQ(cache_store_put(s, digest, b, 3000), 0);
	CHECK(blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "away"), 0);
	CHECK_EQ(count_entries(dir, "tmp.moved"), 0);
	cache_store_free(s);

	s = (struct cache_store *)&s; /* must be reset */
	CHECK(cache_store_open(dir, 0, &s) < 0 && s == NULL);
	CHECK_EQ(count_entries(dir, "away"), 0);
	free(b);
	dir_free(dir);
}

/* ---- waiting under a cancel scope ---- */

/* A thread's side of a cancellation test: its scope asks @off, and every
 * time it is asked counts in @polls (so the test knows the thread is
 * waiting: in ensure only a wait for another's flight asks). */
struct party {
	atomic_bool off;
	atomic_int polls;
};

static bool party_check(void *arg)
{
	struct party *p = arg;

	atomic_fetch_add(&p->polls, 1);
	return atomic_load(&p->off);
}

/*
 * A fill that writes half the blob, says it has started, then waits for
 * @release, polling cancel_requested() as a download does between chunks;
 * called off, it returns -EINTR, else it writes the rest.  Spins on flags
 * with 1 ms naps: what it waits for is set by the test, not by a clock.
 */
struct slow_fill {
	const char *bytes;
	size_t len;
	atomic_int calls;
	atomic_bool started;
	atomic_bool release;
	atomic_bool saw_cancel;
	atomic_int polls; /* cancel_requested() asked while waiting */
};

static int fill_slow(struct cache_writer *w, void *p)
{
	struct slow_fill *a = p;
	int ret;

	atomic_fetch_add(&a->calls, 1);
	ret = cache_writer_write(w, a->bytes, a->len / 2);
	if (ret < 0)
		return ret;
	atomic_store(&a->started, true);
	while (!atomic_load(&a->release)) {
		atomic_fetch_add(&a->polls, 1);
		if (cancel_requested()) {
			atomic_store(&a->saw_cancel, true);
			return -EINTR;
		}
		usleep(1000);
	}
	return cache_writer_write(w, a->bytes + a->len / 2, a->len - a->len / 2);
}

struct scoped_ensure {
	pthread_t tid;
	struct cache_store *s;
	const char *digest;
	struct slow_fill *fill;
	struct party *party;
	int ret;
	uint64_t done_ns; /* mono_now_ns() when ensure returned */
};

static void *scoped_ensure_main(void *p)
{
	struct scoped_ensure *t = p;
	struct cancel_scope scope = {.check = party_check, .arg = t->party};

	cancel_scope_set(scope);
	t->ret = cache_store_ensure(t->s, t->digest, (int64_t)t->fill->len, fill_slow, t->fill);
	t->done_ns = mono_now_ns();
	cancel_scope_set((struct cancel_scope){0});
	return NULL;
}

static void scoped_ensure_start(struct scoped_ensure *t, struct cache_store *s,
				const char *digest, struct slow_fill *fill, struct party *party)
{
	*t = (struct scoped_ensure){.s = s, .digest = digest, .fill = fill, .party = party, .ret = 1};
	pthread_create(&t->tid, NULL, scoped_ensure_main, t);
}

/* Spin (1 ms naps) until *@v reaches @want; the watchdog bounds it. */
static void wait_for_int(atomic_int *v, int want)
{
	while (atomic_load(v) < want)
		usleep(1000);
}

static void wait_for_bool(atomic_bool *v)
{
	while (!atomic_load(v))
		usleep(1000);
}

/* A thread that may not wait gets what is at hand, and nothing changes:
 * no fill, no hash, no temp file, nothing dropped. */
static void test_no_wait(void)
{
	const size_t len = 300000;
	char *dir = dir_new();
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 50, digest);
	struct cancel_scope no_wait = {.no_wait = true}, old;
	struct fill_arg fa = {.bytes = b, .len = len};
	struct cache_store *s;
	int fd;

	watchdog_arm(30);
	s = store_open_or_die(dir, 0);
	old = cancel_scope_set(no_wait);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), -CANCEL_WOULD_WAIT);
	CHECK_EQ(cache_store_open_blob(s, digest), -ENOENT);
	cancel_scope_set(old);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 0);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	cache_store_free(s);

	/* stored by an earlier mount: this store would have to hash it */
	stored_earlier(dir, digest, b, len);
	s = store_open_or_die(dir, 0);
	old = cancel_scope_set(no_wait);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), -CANCEL_WOULD_WAIT);
	CHECK_EQ(cache_store_open_blob(s, digest), -CANCEL_WOULD_WAIT);
	cancel_scope_set(old);
	CHECK_EQ(blob_size_on_disk(dir, digest), (long long)len);

	/* once verified by a thread that may wait, it is at hand */
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), 0);
	old = cancel_scope_set(no_wait);
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_bytes, &fa), 0);
	fd = cache_store_open_blob(s, digest);
	cancel_scope_set(old);
	CHECK(fd >= 0, "open_blob on a verified blob without waiting: %d", fd);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	alarm(0);
	cache_store_free(s);
	free(b);
	dir_free(dir);
}

/* A waiter called off leaves within a poll or two, while the leader's fill
 * goes on and stores the blob; meanwhile a thread that may not wait is
 * told so at once. */
static void test_waiter_cancelled(void)
{
	const size_t len = 200000;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 51, digest);
	struct slow_fill fill = {.bytes = b, .len = len};
	struct party lp = {0}, wp = {0};
	struct scoped_ensure leader, waiter;
	struct cancel_scope old;
	uint64_t t0;

	watchdog_arm(30);
	scoped_ensure_start(&leader, s, digest, &fill, &lp);
	wait_for_bool(&fill.started);
	old = cancel_scope_set((struct cancel_scope){.no_wait = true});
	CHECK_EQ(cache_store_ensure(s, digest, (int64_t)len, fill_slow, &fill), -CANCEL_WOULD_WAIT);
	cancel_scope_set(old);

	scoped_ensure_start(&waiter, s, digest, &fill, &wp);
	wait_for_int(&wp.polls, 1); /* it is waiting on the flight */
	t0 = mono_now_ns();
	atomic_store(&wp.off, true);
	pthread_join(waiter.tid, NULL);
	CHECK_EQ(waiter.ret, -EINTR);
	CHECK((waiter.done_ns - t0) < 1000000000ull, "waiter took %llu ms to leave",
	      (unsigned long long)((waiter.done_ns - t0) / 1000000));
	CHECK(!atomic_load(&fill.saw_cancel));

	atomic_store(&fill.release, true);
	pthread_join(leader.tid, NULL);
	CHECK_EQ(leader.ret, 0);
	CHECK_EQ(atomic_load(&fill.calls), 1);
	CHECK_EQ(blob_size_on_disk(dir, digest), (long long)len);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	alarm(0);
	cache_store_free(s);
	free(b);
	dir_free(dir);
}

/* The leader called off: with nobody waiting its fill sees it and stops,
 * leaving nothing; with another waiting the fill goes on for that one,
 * until that one leaves too. */
static void test_leader_cancelled(void)
{
	const size_t len = 200000;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 52, digest);
	struct slow_fill fill = {.bytes = b, .len = len};
	struct party lp = {0}, wp = {0};
	struct scoped_ensure leader, waiter;
	int polls;

	watchdog_arm(30);
	/* nobody waits: the fill is called off */
	scoped_ensure_start(&leader, s, digest, &fill, &lp);
	wait_for_bool(&fill.started);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	atomic_store(&lp.off, true);
	pthread_join(leader.tid, NULL);
	CHECK_EQ(leader.ret, -EINTR);
	CHECK(atomic_load(&fill.saw_cancel));
	CHECK(!blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK_EQ(cache_store_usage(s), 0);

	/* another waits: the leader's Ctrl-C does not stop the fill */
	fill = (struct slow_fill){.bytes = b, .len = len};
	lp = (struct party){0};
	scoped_ensure_start(&leader, s, digest, &fill, &lp);
	wait_for_bool(&fill.started);
	scoped_ensure_start(&waiter, s, digest, &fill, &wp);
	wait_for_int(&wp.polls, 1);
	atomic_store(&lp.off, true);
	polls = atomic_load(&fill.polls);
	wait_for_int(&fill.polls, polls + 5); /* the fill asked, after the leader left */
	CHECK(!atomic_load(&fill.saw_cancel));
	atomic_store(&fill.release, true);
	pthread_join(leader.tid, NULL);
	pthread_join(waiter.tid, NULL);
	CHECK_EQ(leader.ret, 0);
	CHECK_EQ(waiter.ret, 0);
	CHECK_EQ(atomic_load(&fill.calls), 1);
	CHECK_EQ(blob_size_on_disk(dir, digest), (long long)len);
	alarm(0);
	cache_store_free(s);
	free(b);
	dir_free(dir);
}

/* Leader and waiter both called off: the waiter leaves, then the fill
 * nobody wants stops and leaves nothing. */
static void test_everyone_cancelled(void)
{
	const size_t len = 200000;
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, 0);
	char digest[DIGEST_STR_LEN + 1];
	char *b = blob_make(len, 53, digest);
	struct slow_fill fill = {.bytes = b, .len = len};
	struct party lp = {0}, wp = {0};
	struct scoped_ensure leader, waiter;

	watchdog_arm(30);
	scoped_ensure_start(&leader, s, digest, &fill, &lp);
	wait_for_bool(&fill.started);
	scoped_ensure_start(&waiter, s, digest, &fill, &wp);
	wait_for_int(&wp.polls, 1);
	atomic_store(&lp.off, true);
	atomic_store(&wp.off, true);
	pthread_join(waiter.tid, NULL);
	pthread_join(leader.tid, NULL);
	CHECK_EQ(waiter.ret, -EINTR);
	CHECK_EQ(leader.ret, -EINTR);
	CHECK(atomic_load(&fill.saw_cancel));
	CHECK(!blob_on_disk(dir, digest));
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	alarm(0);
	cache_store_free(s);
	free(b);
	dir_free(dir);
}

/* ---- limits: the cap, the disk, dead writers, readers under pressure ---- */

/* A blob bigger than the cap is refused before its fill runs, with one log
 * line naming it, its size and the option to raise; nothing is evicted.
 * One of exactly the cap is stored. */
static void test_oversized(void)
{
	enum { CAP = 10000, SZ = 3000 };
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, CAP), *nocap;
	char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1], big[DIGEST_STR_LEN + 1];
	char exact[DIGEST_STR_LEN + 1], line[256];
	char *ba = blob_make(SZ, 60, a), *bb = blob_make(SZ, 61, b);
	char *bbig = blob_make(CAP + 1, 62, big), *bexact = blob_make(CAP, 63, exact);
	struct fill_arg fa = {.bytes = bbig, .len = CAP + 1};
	struct fill_arg fe = {.bytes = bexact, .len = CAP};
	FILE *log;

	CHECK_EQ(cache_store_put(s, a, ba, SZ), 0);
	CHECK_EQ(cache_store_put(s, b, bb, SZ), 0);
	log = log_capture(LOG_LVL_ERR);
	CHECK_EQ(cache_store_ensure(s, big, CAP + 1, fill_bytes, &fa), -ENOSPC);
	CHECK_EQ(atomic_load(&fa.calls), 0);
	snprintf(line, sizeof(line),
		 "blob '%s' is 9.8 KiB, more than the cache may hold (cache_max 9.8 KiB): not "
		 "downloaded; raise -o cache_max to read it", big);
	CHECK_EQ(log_count(log, line), 1);
	CHECK_EQ(log_count(log, "regfs"), 1); /* and nothing else */
	log_release(log);
	CHECK(!blob_on_disk(dir, big));
	CHECK(blob_on_disk(dir, a) && blob_on_disk(dir, b));
	CHECK_EQ(cache_store_usage(s), 2 * SZ);
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	/* the cap itself fits; the rest goes to make room under it */
	CHECK_EQ(cache_store_ensure(s, exact, CAP, fill_bytes, &fe), 0);
	CHECK(blob_on_disk(dir, exact) && !blob_on_disk(dir, a) && !blob_on_disk(dir, b));
	CHECK_EQ(cache_store_usage(s), CAP);

	/* without a cap, any size */
	nocap = store_open_or_die(dir, 0);
	CHECK_EQ(cache_store_ensure(nocap, big, CAP + 1, fill_bytes, &fa), 0);
	CHECK_EQ(atomic_load(&fa.calls), 1);
	CHECK(blob_on_disk(dir, big));

	cache_store_free(nocap);
	cache_store_free(s);
	free(ba), free(bb), free(bbig), free(bexact);
	dir_free(dir);
}

/* Reads the held blob again and again until told to stop, counting reads
 * that did not give its bytes. */
struct held_reader {
	int fd;
	const char *want;
	size_t len;
	atomic_bool stop;
	atomic_int reads, bad;
};

static void *held_reader_main(void *p)
{
	struct held_reader *r = p;
	char *got = malloc(r->len);

	while (got && !atomic_load(&r->stop)) {
		if (pread(r->fd, got, r->len, 0) != (ssize_t)r->len || memcmp(got, r->want, r->len))
			atomic_fetch_add(&r->bad, 1);
		atomic_fetch_add(&r->reads, 1);
	}
	free(got);
	return NULL;
}

/* Eviction pressure while a blob is open and read (F9): two stores on one
 * directory (two mounts) insert far past their cap while a thread reads a
 * blob through the fd cache_store_open_blob gave; every read gives its
 * bytes, neither store evicts it while it is open, and once it is closed
 * it is the first to go. */
static void test_held_under_pressure(void)
{
	enum { CAP = 12000, SZ = 3000, N = 40 };
	char *dir = dir_new();
	struct cache_store *s1 = store_open_or_die(dir, CAP), *s2 = store_open_or_die(dir, CAP);
	char held[DIGEST_STR_LEN + 1], d[DIGEST_STR_LEN + 1];
	char *bheld = blob_make(SZ, 70, held);
	struct held_reader r = {.want = bheld, .len = SZ};
	pthread_t tid;

	CHECK_EQ(cache_store_put(s1, held, bheld, SZ), 0);
	blob_age(dir, held, 5000);
	r.fd = cache_store_open_blob(s1, held);
	CHECK(r.fd >= 0);
	if (r.fd < 0)
		goto out;
	pthread_create(&tid, NULL, held_reader_main, &r);
	for (unsigned i = 0; i < N; i++) {
		char *b = blob_make(SZ, 100 + i, d);

		CHECK_EQ(cache_store_put(i % 2 ? s2 : s1, d, b, SZ), 0);
		free(b);
		CHECK(blob_on_disk(dir, held), "evicted while open, at insert %u", i);
	}
	wait_for_int(&r.reads, 10);
	atomic_store(&r.stop, true);
	pthread_join(tid, NULL);
	CHECK_EQ(atomic_load(&r.bad), 0);
	/* the cap holds but for the one held open */
	CHECK(cache_store_usage(s1) <= CAP + SZ, "usage %llu",
	      (unsigned long long)cache_store_usage(s1));
	close(r.fd);
	/* (each store counts what the other adds only when it rescans, so a
	 * few inserts may pass before one of them evicts) */
	for (unsigned i = 0; i < 8 && blob_on_disk(dir, held); i++) {
		char *b = blob_make(SZ, 200 + i, d);

		CHECK_EQ(cache_store_put(i % 2 ? s2 : s1, d, b, SZ), 0);
		free(b);
	}
	CHECK(!blob_on_disk(dir, held));
	CHECK(cache_store_usage(s2) <= CAP);
out:
	cache_store_free(s1);
	cache_store_free(s2);
	free(bheld);
	dir_free(dir);
}

/* Leads a fill that never ends, in a child that is then killed: what a
 * crash or kill -9 mid-download leaves. */
static void dead_writer(const char *dir, const char *digest, const char *bytes, size_t len)
{
	int before = count_entries(dir, "tmp"), status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct cache_store *s = store_open_or_die(dir, 0);
		struct slow_fill f = {.bytes = bytes, .len = len};

		cache_store_ensure(s, digest, (int64_t)len, fill_slow, &f);
		_exit(0);
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	while (count_entries(dir, "tmp") <= before && waitpid(pid, &status, WNOHANG) == 0)
		usleep(1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* A download killed mid-way leaves its temp file; the next store opened on
 * the directory removes it at once (it need not be an hour old), while a
 * live download of another store on the same directory keeps its own. */
static void test_dead_writer_swept(void)
{
	enum { SZ = 200000 };
	char *dir = dir_new();
	char dead[DIGEST_STR_LEN + 1], live[DIGEST_STR_LEN + 1];
	char *bdead = blob_make(SZ, 80, dead), *blive = blob_make(SZ, 81, live);
	struct slow_fill lf = {.bytes = blive, .len = SZ};
	struct fill_arg fa = {.bytes = bdead, .len = SZ};
	struct party party = {0};
	struct cache_store *s1, *s2;
	struct scoped_ensure t;

	watchdog_arm(60);
	cache_store_free(store_open_or_die(dir, 0)); /* makes the directories */
	dead_writer(dir, dead, bdead, SZ);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	s1 = store_open_or_die(dir, 0);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK(!blob_on_disk(dir, dead));

	/* s1 downloads (live); another writer dies; a new mount comes */
	scoped_ensure_start(&t, s1, live, &lf, &party);
	wait_for_bool(&lf.started);
	dead_writer(dir, dead, bdead, SZ);
	CHECK_EQ(count_entries(dir, "tmp"), 2);
	s2 = store_open_or_die(dir, 0);
	CHECK_EQ(count_entries(dir, "tmp"), 1);
	atomic_store(&lf.release, true);
	pthread_join(t.tid, NULL);
	CHECK_EQ(t.ret, 0);
	CHECK(blob_on_disk(dir, live));
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	/* and the blob the dead one wanted is fetched whole */
	CHECK_EQ(cache_store_ensure(s2, dead, SZ, fill_bytes, &fa), 0);
	CHECK(blob_on_disk(dir, dead));

	cache_store_free(s1);
	cache_store_free(s2);
	alarm(0);
	free(bdead), free(blive);
	dir_free(dir);
}

/* A fill that first lets another store (another mount) fill the disk. */
struct crowded_fill {
	struct fill_arg fa;
	struct cache_store *other;
	const char *other_digest, *other_bytes;
	size_t other_len;
};

static int fill_crowded(struct cache_writer *w, void *p)
{
	struct crowded_fill *c = p;

	if (atomic_load(&c->fa.calls) == 0)
		CHECK_EQ(cache_store_put(c->other, c->other_digest, c->other_bytes, c->other_len), 0);
	return fill_bytes(w, &c->fa);
}

/* The scenario of test_disk_full, on the 2 MiB tmpfs at @dir. */
static void disk_full_on(const char *dir)
{
	enum { SZ = 400 * 1024, SMALL = 300 * 1024 };
	struct cache_store *s = store_open_or_die(dir, 0), *s2 = store_open_or_die(dir, 0);
	char d[9][DIGEST_STR_LEN + 1], line[256];
	char *b[9];
	int fds[8], n_fds = 0;
	FILE *log;

	for (unsigned i = 0; i < 9; i++)
		b[i] = blob_make(i == 5 || i == 6 ? SMALL : i == 7 ? 3u << 20 : SZ, 90 + i, d[i]);

	/* 1.6 MiB in the cache, the oldest first; the fifth does not fit
	 * beside them (no cap): the oldest goes before its fill */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(cache_store_put(s, d[i], b[i], SZ), 0);
		blob_age(dir, d[i], 5000 - 1000 * i);
	}
	{
		struct fill_arg fa = {.bytes = b[4], .len = SZ};

		CHECK_EQ(cache_store_ensure(s, d[4], SZ, fill_bytes, &fa), 0);
		CHECK_EQ(atomic_load(&fa.calls), 1);
	}
	CHECK(!blob_on_disk(dir, d[0]));
	CHECK(blob_on_disk(dir, d[1]) && blob_on_disk(dir, d[4]));

	/* room at the start, but another mount fills the disk during the
	 * fill: ENOSPC, room is made (the oldest goes), and a second fill
	 * stores it */
	{
		struct crowded_fill c = {.fa = {.bytes = b[5], .len = SMALL}, .other = s2,
					 .other_digest = d[6], .other_bytes = b[6],
					 .other_len = SMALL};

		CHECK_EQ(cache_store_ensure(s, d[5], SMALL, fill_crowded, &c), 0);
		CHECK_EQ(atomic_load(&c.fa.calls), 2);
	}
	CHECK(blob_on_disk(dir, d[5]) && blob_on_disk(dir, d[6]));
	CHECK(!blob_on_disk(dir, d[1]));
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	/* bigger than the whole file system: refused before its fill, and
	 * nothing evicted for it */
	{
		struct fill_arg fa = {.bytes = b[7], .len = 3u << 20};

		log = log_capture(LOG_LVL_ERR);
		CHECK_EQ(cache_store_ensure(s, d[7], 3u << 20, fill_bytes, &fa), -ENOSPC);
		CHECK_EQ(atomic_load(&fa.calls), 0);
		snprintf(line, sizeof(line), "blob '%s' is 3.0 MiB, more than the file system", d[7]);
		CHECK_EQ(log_count(log, line), 1);
		log_release(log);
	}
	CHECK_EQ(count_entries(dir, "blobs/sha256"), 5);

	/* full, and every blob held open: ENOSPC reaches the caller, no temp
	 * file is left and nothing is under the blob's name; once they are
	 * closed the same blob is stored */
	for (unsigned i = 2; i < 7; i++) {
		int fd = cache_store_open_blob(s, d[i]);

		CHECK(fd >= 0);
		if (fd >= 0)
			fds[n_fds++] = fd;
	}
	{
		struct fill_arg fa = {.bytes = b[8], .len = SZ};

		CHECK_EQ(cache_store_ensure(s, d[8], SZ, fill_bytes, &fa), -ENOSPC);
		CHECK_EQ(count_entries(dir, "tmp"), 0);
		CHECK(!blob_on_disk(dir, d[8]));
		CHECK_EQ(count_entries(dir, "blobs/sha256"), 5);
		while (n_fds)
			close(fds[--n_fds]);
		CHECK_EQ(cache_store_ensure(s, d[8], SZ, fill_bytes, &fa), 0);
		CHECK(blob_on_disk(dir, d[8]));
	}
	CHECK_EQ(count_entries(dir, "tmp"), 0);

	cache_store_free(s);
	cache_store_free(s2);
	for (unsigned i = 0; i < 9; i++)
		free(b[i]);
}

/* The disk fills before the cap is reached (F5): a cache on a 2 MiB tmpfs,
 * mounted in a mount namespace of a child of its own (so it goes with the
 * child, whatever happens).  Needs root; skipped otherwise. */
static void test_disk_full(void)
{
	char *dir = dir_new();
	pid_t pid;
	int status = 0;

	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=2m,mode=0700") < 0)
			_exit(77);
		failures = 0;
		watchdog_arm(60);
		disk_full_on(dir);
		_exit(failures ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		printf("skip disk_full: no tmpfs in a mount namespace here (needs root)\n");
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	dir_free(dir);
}

/* Bytes this process read through read(2) and friends (rchar). */
static unsigned long long io_rchar(void)
{
	unsigned long long v = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Wait up to 5 s for @path to exist. */
static bool appears(const char *path)
{
	for (int i = 0; i < 500; i++) {
		if (access(path, F_OK) == 0)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* Open blob @digest in a new store on @dir; how many bytes that read. */
static unsigned long long open_reads(const char *dir, const char *digest, int *ret)
{
	struct cache_store *s = store_open_or_die(dir, 0);
	unsigned long long before = io_rchar();

	*ret = cache_store_open_blob(s, digest);
	before = io_rchar() - before;
	if (*ret >= 0)
		close(*ret);
	cache_store_free(s);
	return before;
}

/* A big blob, once stored and synced, gets a seal, and a new store (the
 * next mount) trusts the very file the seal describes without reading it;
 * a file changed since (its ctime moved) is hashed again and sealed anew;
 * one whose bytes changed is dropped, seal and all. */
static void test_sealed(void)
{
	const size_t len = 8 * 1024 * 1024;
	char *dir = dir_new();
	char digest[DIGEST_STR_LEN + 1], path[4096], seal[4096], flip = 'x';
	char *b = blob_make(len, 7, digest);
	struct cache_store *s0 = store_open_or_die(dir, 0);
	struct stat st0 = {0}, st1 = {0};
	int ret;

	blob_path(dir, digest, path, sizeof(path));
	seal_path(dir, digest, seal, sizeof(seal));
	CHECK_EQ(cache_store_put(s0, digest, b, len), 0);
	CHECK(appears(seal));
	cache_store_free(s0);

	/* trusted by its seal: hardly a byte read (the seal's line) */
	CHECK(open_reads(dir, digest, &ret) < 4096);
	CHECK(ret >= 0);

	/* the ctime moves (a chmod to the same mode): hashed again, resealed
	 * while the store lives (a store that stops drops what it has not
	 * sealed yet) */
	CHECK_EQ(stat(seal, &st0), 0);
	CHECK_EQ(chmod(path, 0400), 0);
	s0 = store_open_or_die(dir, 0);
	{
		unsigned long long before = io_rchar();

		ret = cache_store_open_blob(s0, digest);
		CHECK(io_rchar() - before >= len);
	}
	CHECK(ret >= 0);
	if (ret >= 0)
		close(ret);
	for (int i = 0; i < 500; i++) {
		if (stat(seal, &st1) == 0 && st1.st_ino != st0.st_ino)
			break;
		usleep(10 * 1000);
	}
	CHECK(st1.st_ino != st0.st_ino);
	cache_store_free(s0);
	CHECK(open_reads(dir, digest, &ret) < 4096);
	CHECK(ret >= 0);

	/* a byte flipped in place: the seal does not vouch for it; the blob is
	 * dropped and its seal with it */
	CHECK_EQ(rewrite_at(path, 1000, &flip, 1), 0);
	open_reads(dir, digest, &ret);
	CHECK_EQ(ret, -ENOENT);
	CHECK(access(path, F_OK) < 0);
	CHECK(access(seal, F_OK) < 0);

	/* a small blob is not sealed */
	{
		char small[DIGEST_STR_LEN + 1];
		char *sb = blob_make(64 * 1024, 8, small);

		s0 = store_open_or_die(dir, 0);
		CHECK_EQ(cache_store_put(s0, small, sb, 64 * 1024), 0);
		cache_store_free(s0);
		seal_path(dir, small, seal, sizeof(seal));
		CHECK(access(seal, F_OK) < 0);
		free(sb);
	}
	free(b);
	dir_free(dir);
}

static void side_path(const char *dir, const char *digest, char *out, size_t n)
{
	snprintf(out, n, "%s/indexes/sha256/%s", dir, digest + 7);
}

/* Side files: kept beside their blob, 0600, counted with it, evicted with
 * it, removed when found without it, and read as carefully as blobs. */
static void test_side_files(void)
{
	enum { CAP = 10000, SZ = 3000, SIDE = 500 };
	char *dir = dir_new();
	struct cache_store *s = store_open_or_die(dir, CAP);
	char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1], c[DIGEST_STR_LEN + 1];
	char *ba = blob_make(SZ, 40, a), *bb = blob_make(SZ, 41, b), *bc = blob_make(SZ, 42, c);
	char side[SIDE], path[4096], *bytes = NULL;
	struct stat st;
	size_t len = 0;
	FILE *logs;

	memset(side, 'i', sizeof(side));
	/* only beside a blob that is stored */
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, a, side, SIDE), -ENOENT);
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, "sha256:../x", side, SIDE),
		 -EINVAL);
	CHECK_EQ(cache_store_side_read(s, CACHE_SIDE_LAYER_INDEX, a, 1 << 20, &bytes, &len),
		 -ENOENT);
	CHECK_EQ(cache_store_put(s, a, ba, SZ), 0);
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, a, side, SIDE), 0);
	side_path(dir, a, path, sizeof(path));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_size == SIDE);
	CHECK_EQ(cache_store_usage(s), SZ + SIDE);
	CHECK_EQ(count_entries(dir, "tmp"), 0);
	CHECK_EQ(cache_store_side_read(s, CACHE_SIDE_LAYER_INDEX, a, 1 << 20, &bytes, &len), 0);
	CHECK(len == SIDE && bytes && memcmp(bytes, side, SIDE) == 0);
	free(bytes);
	/* bigger than the reader allows: dropped */
	logs = log_capture(LOG_LVL_WARN);
	CHECK_EQ(cache_store_side_read(s, CACHE_SIDE_LAYER_INDEX, a, SIDE - 1, &bytes, &len),
		 -ENOENT);
	CHECK(log_count(logs, "dropped") == 1);
	log_release(logs);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	/* a symlink planted under the name is never followed, and goes */
	CHECK(symlink("/etc/passwd", path) == 0);
	logs = log_capture(LOG_LVL_WARN);
	CHECK_EQ(cache_store_side_read(s, CACHE_SIDE_LAYER_INDEX, a, 1 << 20, &bytes, &len),
		 -ENOENT);
	log_release(logs);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);

	/* counted against the cap and evicted with its blob */
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, a, side, SIDE), 0);
	blob_age(dir, a, 3000);
	CHECK_EQ(cache_store_put(s, b, bb, SZ), 0);
	blob_age(dir, b, 2000);
	CHECK_EQ(cache_store_put(s, c, bc, SZ), 0); /* 9000 + 500: under the cap */
	CHECK(blob_on_disk(dir, a));
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, b, side, SIDE), 0);
	/* 10000: at the cap, not over it; one more side file passes it, and
	 * a (the least recently used) goes with its side file */
	CHECK_EQ(cache_store_side_write(s, CACHE_SIDE_LAYER_INDEX, c, side, SIDE), 0);
	CHECK(!blob_on_disk(dir, a));
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ(cache_store_usage(s), 2 * (SZ + SIDE));

	/* found without its blob (a version that knew no side files evicted
	 * it): removed by the next scan, not counted */
	cache_store_free(s);
	blob_path(dir, b, path, sizeof(path));
	CHECK(unlink(path) == 0);
	s = store_open_or_die(dir, CAP);
	side_path(dir, b, path, sizeof(path));
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ(cache_store_usage(s), SZ + SIDE);

	cache_store_free(s);
	free(ba), free(bb), free(bc);
	dir_free(dir);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"invalid_digests", test_invalid_digests},
	    {"put_read", test_put_read},
	    {"mismatch", test_mismatch},
	    {"streaming", test_streaming},
	    {"ensure_single_flight", test_ensure_single_flight},
	    {"ensure_error", test_ensure_error},
	    {"evict_lru", test_evict_lru},
	    {"space", test_space},
	    {"two_mounts", test_two_mounts},
	    {"open", test_open},
	    {"planted", test_planted},
	    {"size_checks", test_size_checks},
	    {"verify_once", test_verify_once},
	    {"tmp_not_followed", test_tmp_not_followed},
	    {"no_wait", test_no_wait},
	    {"waiter_cancelled", test_waiter_cancelled},
	    {"leader_cancelled", test_leader_cancelled},
	    {"everyone_cancelled", test_everyone_cancelled},
	    {"oversized", test_oversized},
	    {"held_under_pressure", test_held_under_pressure},
	    {"dead_writer_swept", test_dead_writer_swept},
	    {"disk_full", test_disk_full},
	    {"sealed", test_sealed},
	    {"side_files", test_side_files},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
