/*
 * The content-addressed blob store on disk; store.h has the contract.
 *
 * Layout under the store directory:
 *
 *   blobs/sha256/<64 hex>   verified blobs, mode 0444, one flat directory
 *   tmp/blob.XXXXXX         writers' temporary files
 *
 * A writer streams into a mkostemp() file while hashing and counting bytes.
 * Commit checks the size and the sha256, fdatasync()s and renames the file
 * into place without replacing (another mount may have stored the same blob
 * first).  So a name under blobs/ always holds complete, verified bytes,
 * even after a crash; at worst a crash loses a blob, which is refetched.
 *
 * Usage is counted in memory: scanned at open, added to on insert.  It is
 * only approximate when other mounts share the directory, so when it passes
 * the cap the directory is rescanned and the least recently used blobs
 * (oldest mtime) are unlinked until usage falls to 90% of the cap; the
 * margin keeps every insert near the cap from paying for a rescan.  Using a
 * blob bumps its mtime, at most once a minute (see blob_touch()).
 *
 * Concurrent cache_store_ensure() calls for one digest share one fill
 * through a table of flights; the table is per store, so two mounts may
 * each fill the same blob once, and the no-replace rename keeps the first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, mkostemp, asprintf */
#endif

#include "cache/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"

#define TMP_PREFIX "blob."
#define TMP_TEMPLATE TMP_PREFIX "XXXXXX"
#define TMP_STALE_SECS 3600 /* writers write steadily; an hour idle is dead */
#define TOUCH_SECS 60	    /* LRU resolution: bump mtime at most this often */

/* One fill in progress.  Lives while its leader or any waiter holds it. */
struct flight {
	struct flight *next;
	char digest[DIGEST_STR_LEN + 1];
	int refs;  /* the leader plus each waiter */
	bool done; /* set with ret once the fill is committed or abandoned */
	int ret;
};

struct cache_store {
	char *tmp_path; /* <dir>/tmp, for mkostemp() which wants a path */
	int blob_dfd;	/* <dir>/blobs/sha256; blobs are opened relative to it */
	int tmp_dfd;	/* <dir>/tmp */
	uint64_t max_bytes;

	/*
	 * Lock order: evict_lock, then usage_lock.  flight_lock is a leaf
	 * held with no other lock, and no lock is held while a fill runs.
	 */
	pthread_mutex_t evict_lock; /* serialises rescans and eviction */
	pthread_mutex_t usage_lock; /* protects usage */
	uint64_t usage;
	pthread_mutex_t flight_lock; /* protects flights and each flight */
	pthread_cond_t flight_done;  /* broadcast when any flight is done */
	struct flight *flights;
};

struct cache_writer {
	struct cache_store *s;
	int fd;				     /* the temp file, -1 once closed */
	char tmp_name[sizeof(TMP_TEMPLATE)]; /* under tmp/; "" once renamed */
	char digest[DIGEST_STR_LEN + 1];     /* what the bytes must hash to */
	struct digest_ctx md;
	uint64_t written;
	int64_t expect_size; /* < 0: unknown */
	int err;	     /* first failed write; sticky, commit returns it */
};

/* One blob as seen by a directory scan. */
struct blob_ent {
	char hex[DIGEST_HEX_LEN + 1];
	struct timespec mtime;
	uint64_t size;
};

static bool hex_name_valid(const char *name)
{
	char digest[DIGEST_STR_LEN + 1];

	if (strlen(name) != DIGEST_HEX_LEN)
		return false;
	memcpy(digest, DIGEST_PREFIX, 7);
	memcpy(digest + 7, name, DIGEST_HEX_LEN + 1);
	return digest_is_valid(digest);
}

static bool blob_exists(struct cache_store *s, const char *hex)
{
	struct stat st;

	return fstatat(s->blob_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/*
 * Mark an open blob used for LRU.  Bumping on every open would turn each
 * read-only open into an inode write (and a journal commit) for hot blobs;
 * LRU only needs to tell "used lately" from "not used for a long while", so
 * a blob whose mtime is under a minute old is left alone.  The file's own
 * mtime is the note, read with fstat() on the fd we already hold, so there
 * is no table to keep and other mounts' bumps count too.  Failure (a blob
 * owned by another user of a shared directory) only costs LRU accuracy.
 */
static void blob_touch(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_mtime + TOUCH_SECS > time(NULL))
		return;
	if (futimens(fd, NULL) < 0)
		log_debug("cannot bump blob mtime: %s", strerror(errno));
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (char *c = p + 1;; c++) {
		char saved = *c;

		if (saved != '/' && saved != '\0')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			log_err("cannot create '%s': %s", p, strerror(errno));
			break;
		}
		*c = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return ret;
}

/* Remove temp files left by writers that died (crash, kill -9). */
static void store_clean_tmp(struct cache_store *s)
{
	time_t cutoff = time(NULL) - TMP_STALE_SECS;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(s->tmp_dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mtime >= cutoff)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			log_debug("removed stale temp file '%s'", de->d_name);
	}
	closedir(d);
}

/*
 * List the blobs in blobs/sha256 with their sizes and mtimes.  *ents is new
 * (caller frees).  Names that are not 64 lower-case hex are not ours: they
 * are neither counted nor evicted.
 */
static int store_scan(struct cache_store *s, struct blob_ent **ents, size_t *n, uint64_t *total)
{
	struct blob_ent *v = NULL;
	size_t len = 0, cap = 0;
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d = NULL;
	int ret = 0;
	int fd;

	*ents = NULL;
	*n = 0;
	*total = 0;
	fd = openat(s->blob_dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		goto out;
	}
	errno = 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (!hex_name_valid(de->d_name))
			continue;
		/* ENOENT: another mount evicted it since readdir saw it. */
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			struct blob_ent *nv = reallocarray(v, ncap, sizeof(*v));

			if (!nv) {
				ret = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		memcpy(v[len].hex, de->d_name, DIGEST_HEX_LEN + 1);
		v[len].mtime = st.st_mtim;
		v[len].size = (uint64_t)st.st_size;
		sum += v[len].size;
		len++;
		errno = 0;
	}
	if (errno) {
		ret = -errno;
		goto out;
	}
	*ents = v;
	v = NULL;
	*n = len;
	*total = sum;
out:
	if (d)
		closedir(d);
	free(v);
	return ret;
}

static int blob_ent_cmp(const void *a, const void *b)
{
	const struct blob_ent *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->hex, y->hex);
}

/*
 * Recount usage from the directory and, when it is over the cap, unlink the
 * least recently used blobs until it is under 90% of the cap.  @keep (hex or
 * NULL) is never evicted: it is the blob just inserted, which its caller is
 * about to open.  Without @force the scan is skipped when the count is
 * already under the cap (another thread evicted while we waited).
 */
static void store_evict(struct cache_store *s, const char *keep, bool force)
{
	uint64_t target = s->max_bytes - s->max_bytes / 10;
	struct blob_ent *ents = NULL;
	uint64_t total = 0;
	size_t n = 0;
	int ret;

	pthread_mutex_lock(&s->evict_lock);
	if (!force && cache_store_usage(s) <= s->max_bytes)
		goto out;
	ret = store_scan(s, &ents, &n, &total);
	if (ret < 0) {
		log_warn("cannot scan blob store: %s", strerror(-ret));
		goto out;
	}
	if (s->max_bytes && total > s->max_bytes) {
		qsort(ents, n, sizeof(*ents), blob_ent_cmp);
		for (size_t i = 0; i < n && total > target; i++) {
			if (keep && strcmp(ents[i].hex, keep) == 0)
				continue;
			if (unlinkat(s->blob_dfd, ents[i].hex, 0) < 0 && errno != ENOENT) {
				log_warn("cannot evict blob 'sha256:%s': %s", ents[i].hex,
					 strerror(errno));
				continue;
			}
			log_debug("evicted blob 'sha256:%s'", ents[i].hex);
			total -= ents[i].size;
		}
	}
	pthread_mutex_lock(&s->usage_lock);
	s->usage = total;
	pthread_mutex_unlock(&s->usage_lock);
out:
	pthread_mutex_unlock(&s->evict_lock);
	free(ents);
}

/* Count an inserted blob @hex of @size bytes; evict if that passes the cap. */
static void store_account(struct cache_store *s, const char *hex, uint64_t size)
{
	bool over;

	pthread_mutex_lock(&s->usage_lock);
	s->usage += size;
	over = s->max_bytes && s->usage > s->max_bytes;
	pthread_mutex_unlock(&s->usage_lock);
	if (over)
		store_evict(s, hex, false);
}

int cache_store_open(const char *dir, uint64_t max_bytes, struct cache_store **out)
{
	struct cache_store *s = NULL;
	char *blobs = NULL;
	int ret;

	*out = NULL;
	if (!dir || !*dir) {
		ret = -EINVAL;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	s->blob_dfd = -1;
	s->tmp_dfd = -1;
	s->max_bytes = max_bytes;
	pthread_mutex_init(&s->evict_lock, NULL);
	pthread_mutex_init(&s->usage_lock, NULL);
	pthread_mutex_init(&s->flight_lock, NULL);
	pthread_cond_init(&s->flight_done, NULL);

	if (asprintf(&s->tmp_path, "%s/tmp", dir) < 0) {
		s->tmp_path = NULL;
		ret = -ENOMEM;
		goto out;
	}
	if (asprintf(&blobs, "%s/blobs/sha256", dir) < 0) {
		blobs = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = mkdir_p(blobs);
	if (ret < 0)
		goto out;
	ret = mkdir_p(s->tmp_path);
	if (ret < 0)
		goto out;
	s->blob_dfd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->blob_dfd < 0) {
		ret = -errno;
		log_err("cannot open '%s': %s", blobs, strerror(errno));
		goto out;
	}
	s->tmp_dfd = open(s->tmp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tmp_dfd < 0) {
		ret = -errno;
		log_err("cannot open '%s': %s", s->tmp_path, strerror(errno));
		goto out;
	}
	store_clean_tmp(s);
	store_evict(s, NULL, true); /* counts usage; the cap may have shrunk */

	*out = s;
	s = NULL;
	ret = 0;
out:
	free(blobs);
	cache_store_free(s);
	return ret;
}

void cache_store_free(struct cache_store *s)
{
	if (!s)
		return;
	if (s->flights)
		BUG("blob store freed with a fill in progress");
	if (s->blob_dfd >= 0)
		close(s->blob_dfd);
	if (s->tmp_dfd >= 0)
		close(s->tmp_dfd);
	pthread_mutex_destroy(&s->evict_lock);
	pthread_mutex_destroy(&s->usage_lock);
	pthread_mutex_destroy(&s->flight_lock);
	pthread_cond_destroy(&s->flight_done);
	free(s->tmp_path);
	free(s);
}

uint64_t cache_store_usage(struct cache_store *s)
{
	uint64_t u;

	pthread_mutex_lock(&s->usage_lock);
	u = s->usage;
	pthread_mutex_unlock(&s->usage_lock);
	return u;
}

int cache_store_open_blob(struct cache_store *s, const char *digest)
{
	int fd;

	if (!digest_is_valid(digest))
		return -EINVAL;
	fd = openat(s->blob_dfd, digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	blob_touch(fd);
	return fd;
}

int cache_store_stat(struct cache_store *s, const char *digest, uint64_t *size)
{
	struct stat st;

	*size = 0;
	if (!digest_is_valid(digest))
		return -EINVAL;
	if (fstatat(s->blob_dfd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	*size = (uint64_t)st.st_size;
	return 0;
}

int cache_store_read(struct cache_store *s, const char *digest, size_t max, char **bytes,
		     size_t *len)
{
	struct buf b = BUF_INIT(max);
	struct stat st;
	int fd, ret;

	*bytes = NULL;
	*len = 0;
	fd = cache_store_open_blob(s, digest);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = (uint64_t)st.st_size > max ? -E2BIG : buf_read_fd(&b, fd);
	if (ret == 0 && b.len != (size_t)st.st_size) {
		/* blobs are immutable: someone changed it */
		log_warn("blob '%s' changed size while being read", digest);
		ret = -EIO;
	}
	if (ret == 0) {
		*bytes = buf_detach(&b, len);
		ret = *bytes ? 0 : -ENOMEM;
	}
out:
	buf_release(&b, 0);
	close(fd);
	return ret;
}

int cache_store_put(struct cache_store *s, const char *digest, const void *bytes, size_t len)
{
	struct cache_writer *w = NULL;
	int ret;

	if (!digest_is_valid(digest))
		return -EINVAL;
	ret = cache_writer_begin(s, digest, (int64_t)len, &w);
	if (ret < 0)
		return ret;
	ret = cache_writer_write(w, bytes, len);
	if (ret < 0) {
		cache_writer_abort(w);
		return ret;
	}
	return cache_writer_commit(w); /* verifies before anything is stored */
}

int cache_writer_begin(struct cache_store *s, const char *digest, int64_t expect_size,
		       struct cache_writer **out)
{
	struct cache_writer *w = NULL;
	char *path = NULL;
	int ret;

	*out = NULL;
	if (!digest_is_valid(digest)) {
		ret = -EINVAL;
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	w->s = s;
	w->fd = -1;
	w->expect_size = expect_size;
	memcpy(w->digest, digest, DIGEST_STR_LEN + 1);
	ret = digest_ctx_init(&w->md);
	if (ret < 0)
		goto out;
	if (asprintf(&path, "%s/" TMP_TEMPLATE, s->tmp_path) < 0) {
		path = NULL;
		ret = -ENOMEM;
		goto out;
	}
	w->fd = mkostemp(path, O_CLOEXEC);
	if (w->fd < 0) {
		ret = -errno;
		log_err("cannot create temp file in '%s': %s", s->tmp_path, strerror(errno));
		goto out;
	}
	memcpy(w->tmp_name, strrchr(path, '/') + 1, sizeof(w->tmp_name));
	*out = w;
	w = NULL;
	ret = 0;
out:
	free(path);
	if (w)
		cache_writer_abort(w);
	return ret;
}

int cache_writer_write(struct cache_writer *w, const void *p, size_t len)
{
	const char *c = p;
	int ret = w->err;

	if (ret < 0)
		goto out;
	if (w->expect_size >= 0 && len > (uint64_t)w->expect_size - w->written) {
		ret = -EFBIG;
		goto out;
	}
	digest_ctx_update(&w->md, p, len);
	while (len > 0) {
		ssize_t n = write(w->fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		c += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
	}
	ret = 0;
out:
	if (ret < 0)
		w->err = ret;
	return ret;
}

/*
 * Rename the verified temp file to its final name unless the blob is
 * already there (another writer or mount stored the same bytes first; ours
 * is then left for the caller to remove).  *added says whether we created
 * the name, i.e. whether usage grew.
 */
static int store_install(struct cache_store *s, const char *tmp, const char *hex, bool *added)
{
	*added = false;
	if (renameat2(s->tmp_dfd, tmp, s->blob_dfd, hex, RENAME_NOREPLACE) == 0) {
		*added = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_NOREPLACE here (some network filesystems): replacing
	 * is harmless, both files hold the same verified bytes, but usage
	 * may count the blob twice until the next rescan. */
	if (renameat(s->tmp_dfd, tmp, s->blob_dfd, hex) < 0)
		return -errno;
	*added = true;
	return 0;
}

int cache_writer_commit(struct cache_writer *w)
{
	struct cache_store *s = w->s;
	char got[DIGEST_STR_LEN + 1];
	char hex[DIGEST_HEX_LEN + 1];
	uint64_t size = w->written;
	bool added = false;
	int ret = w->err;

	memcpy(hex, w->digest + 7, sizeof(hex)); /* outlives w */

	if (ret < 0)
		goto out;
	if (w->expect_size >= 0 && w->written != (uint64_t)w->expect_size) {
		log_warn("blob '%s': got %llu bytes, expected %lld", w->digest,
			 (unsigned long long)w->written, (long long)w->expect_size);
		ret = -EIO;
		goto out;
	}
	digest_ctx_final(&w->md, got);
	if (strcmp(got, w->digest) != 0) {
		log_warn("blob '%s': content hashes to '%s'", w->digest, got);
		ret = -EIO;
		goto out;
	}
	/* Without fdatasync a crash after the rename could leave a short or
	 * empty file under a verified name (ext4 delalloc); losing the whole
	 * blob instead is fine, so the directory itself is not synced. */
	if (fchmod(w->fd, 0444) < 0 || fdatasync(w->fd) < 0) {
		ret = -errno;
		goto out;
	}
	ret = close(w->fd) < 0 ? -errno : 0;
	w->fd = -1;
	if (ret < 0)
		goto out;
	ret = store_install(s, w->tmp_name, hex, &added);
	if (ret < 0) {
		log_err("cannot store blob '%s': %s", w->digest, strerror(-ret));
		goto out;
	}
	if (added)
		w->tmp_name[0] = '\0';
out:
	cache_writer_abort(w); /* frees; removes the temp file unless renamed */
	if (added)
		store_account(s, hex, size);
	return ret;
}

void cache_writer_abort(struct cache_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_name[0])
		unlinkat(w->s->tmp_dfd, w->tmp_name, 0);
	digest_ctx_release(&w->md);
	free(w);
}

static struct flight *flight_find_locked(struct cache_store *s, const char *digest)
{
	for (struct flight *f = s->flights; f; f = f->next)
		if (strcmp(f->digest, digest) == 0)
			return f;
	return NULL;
}

static void flight_put_locked(struct flight *f)
{
	if (--f->refs == 0)
		free(f);
}

/* The leader's end of a flight: publish @ret, wake the waiters, let go. */
static void flight_finish(struct cache_store *s, struct flight *f, int ret)
{
	pthread_mutex_lock(&s->flight_lock);
	for (struct flight **p = &s->flights; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	f->ret = ret;
	f->done = true;
	pthread_cond_broadcast(&s->flight_done);
	flight_put_locked(f);
	pthread_mutex_unlock(&s->flight_lock);
}

/* Run one fill and commit or abort its writer. */
static int store_fill(struct cache_store *s, const char *digest, int64_t expect_size,
		      cache_fill_fn fill, void *arg)
{
	struct cache_writer *w = NULL;
	int ret;

	ret = cache_writer_begin(s, digest, expect_size, &w);
	if (ret < 0)
		return ret;
	ret = fill(w, arg);
	if (ret > 0)
		BUG("cache fill returned a positive value");
	if (ret < 0) {
		cache_writer_abort(w);
		return ret;
	}
	return cache_writer_commit(w);
}

int cache_store_ensure(struct cache_store *s, const char *digest, int64_t expect_size,
		       cache_fill_fn fill, void *arg)
{
	struct flight *f;
	int ret;

	if (!digest_is_valid(digest)) {
		ret = -EINVAL;
		goto out;
	}
	if (blob_exists(s, digest + 7)) {
		ret = 0;
		goto out;
	}

	pthread_mutex_lock(&s->flight_lock);
	f = flight_find_locked(s, digest);
	if (f) {
		f->refs++;
		while (!f->done)
			pthread_cond_wait(&s->flight_done, &s->flight_lock);
		ret = f->ret;
		flight_put_locked(f);
		pthread_mutex_unlock(&s->flight_lock);
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&s->flight_lock);
		ret = -ENOMEM;
		goto out;
	}
	memcpy(f->digest, digest, DIGEST_STR_LEN + 1);
	f->refs = 1;
	f->next = s->flights;
	s->flights = f;
	pthread_mutex_unlock(&s->flight_lock);

	/* A flight that finished between our first look and taking the lock
	 * renamed its blob before leaving the table, so look again. */
	if (blob_exists(s, digest + 7))
		ret = 0;
	else
		ret = store_fill(s, digest, expect_size, fill, arg);
	flight_finish(s, f, ret);
out:
	return ret;
}
