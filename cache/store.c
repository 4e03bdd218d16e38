/*
 * The content-addressed blob store on disk; store.h has the contract.
 *
 * Layout under the store directory:
 *
 *   blobs/sha256/<64 hex>   blobs, mode 0400 (BLOB_MODE), one flat directory
 *   seals/<64 hex>          what lets a later mount skip hashing a big blob
 *                           (cache/seal.h)
 *   tmp/blob.<16 hex>       writers' temporary files, mode 0600, each locked
 *                           (flock) by its writer while it lives (cache/tmp.h)
 *
 * A writer streams into a new temp file (O_EXCL, made relative to the tmp/
 * directory opened with the store) while hashing and counting bytes.
 * Commit checks the size and the sha256 and renames the file into place
 * without replacing (another mount may have stored the same blob first);
 * it does not wait for the disk (see writer_commit: a blob is hashed
 * before its first use in each process anyway).
 *
 * What is on disk is not trusted, though: the directory may be shared with
 * other users, and anyone with write access to it (or a bad disk) can leave
 * anything under a blob's name.  So before a name's bytes are first used,
 * blob_open_checked() opens it without following a link or blocking on a
 * FIFO and checks the open file: a regular file of ours that others cannot
 * write, of the size the caller expects.  Then blob_settle() hashes it
 * unless this store has verified that very file before.  Anything that
 * fails is removed (blob_drop(), one log line) and the caller fetches the
 * blob again.  "That very file" is a table of digests this store verified
 * (struct verified), each with the file's device, inode, size and ctime:
 * a file replaced, cut or written in place since then is a stranger and is
 * hashed again.  ctime rather than mtime because nobody can set it (touch
 * -d can set mtime) and every write, chmod, chown or utimes moves it; the
 * store's own LRU bumps move it too, so they update the table (another
 * mount's bump makes this one hash the blob again, at most once a minute
 * per blob, see blob_touch()).  The limit:
 * ctime has the resolution of the kernel's coarse clock (a few ms), so a
 * write in place within that tick of the file's last change goes unseen;
 * only the owner or root can write a 0400 file of ours.  The table is per
 * store (one per mount process), bounded, and forgets the least recently
 * used entries, which are simply hashed again.
 *
 * A verification reads the whole blob, so it is one per digest at a time:
 * it runs as a flight (below), like a fill, and whoever arrives meanwhile
 * waits and then finds it in the table.  Eviction may unlink a blob while
 * it is hashed or just after: open_blob hands out the very fd it checked,
 * which stays readable, and a new file under the name later is another
 * inode, so it is hashed again (eviction also forgets the entry).
 *
 * Usage is counted in memory: scanned at open, added to on insert.  It is
 * only approximate when other mounts share the directory, so when it passes
 * the cap the directory is rescanned and the least recently used blobs
 * (oldest mtime) are unlinked until usage falls to 90% of the cap; the
 * margin keeps every insert near the cap from paying for a rescan.  Using a
 * blob bumps its mtime, at most once a minute (see blob_touch()).  A blob
 * handed out by open_blob carries a shared flock for as long as its fd is
 * open (blob_hold()); eviction takes an exclusive one before it unlinks
 * (blob_evict_unused()), so it skips blobs in use, in any mount: their
 * space would not come back before they are closed anyway.
 *
 * The cap is not the only limit: the file system under the cache may be
 * smaller, or shared.  Before a fill of known size, store_relieve() makes
 * room for it by the same LRU order when the disk has less free; a fill
 * that fails with ENOSPC anyway is tried once more after making room
 * (store_fill_within()).  A blob bigger than the cap, or than the file
 * system could hold with the cache empty, is refused before its fill.
 *
 * Concurrent cache_store_ensure() calls for one digest share one fill
 * through a table of flights; the table is per store, so two mounts may
 * each fill the same blob once, and the no-replace rename keeps the first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, asprintf */
#endif

#include "cache/store.h"
#include "cache/disk.h"
#include "cache/seal.h"
#include "cache/tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cancel.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/thread.h"

#define TMP_PREFIX "blob."
#define TMP_NAME_LEN (sizeof(TMP_PREFIX) - 1 + CACHE_TMP_RANDOM_LEN) /* blob.<16 hex> */
/* Where locks do not work, how long a temp file must sit unchanged before
 * it is taken for dead: writers write steadily, an hour idle is dead. */
#define TMP_STALE_SECS 3600
/* A stored blob: read-only, as it never changes, and the owner's alone: a
 * private layer stays private even in a directory others can enter. */
#define BLOB_MODE 0400
#define TOUCH_SECS 60	    /* LRU resolution: bump mtime at most this often */
#define HASH_CHUNK (256 * 1024)
/* What a blob needs free on disk besides its bytes before its fill starts:
 * the file system's own blocks for it (extents, the directory). */
#define RELIEF_MARGIN(need) ((need) / 64 + 64 * 1024)
/* The room to make after a fill of unknown size ran out of it. */
#define RELIEF_UNKNOWN_SIZE (16u << 20)
/* Bytes a writer gathers before one write(2): a download hands them over
 * in curl's pieces of 16 KiB, and a write per piece is 16k system calls
 * for a 256 MiB layer. */
#define WRITE_BUF (1024 * 1024)
/* A blob at least this big is hashed and written by a second thread (struct
 * writer_helper) while the download thread receives the next buffer: the
 * hash is a third of a download's CPU time (SHA-256 of 256 MiB is 0.2 s
 * here).  Below it a thread costs more than it saves. */
#define HELPER_MIN_SIZE (8 * 1024 * 1024)

/* The table of verified blobs: VERIFIED_SETS sets of VERIFIED_WAYS entries,
 * a digest's set chosen by its first hex digits (sha256 spreads them). */
#define VERIFIED_WAYS 8
#define VERIFIED_SETS 256

/* How often one call waits for another thread's flight on the same digest
 * before it checks the blob itself (someone keeps changing the file). */
#define FLIGHT_WAITS 4

/*
 * One fill or verification in progress.  Lives while its leader or any
 * waiter holds it.
 *
 * The work is done for everyone who wants it, so it is called off only
 * when nobody does: the leader's own scope says so and no other thread is
 * waiting (or the process is shutting down).  A reader that leaves does
 * not kill a download another reader still waits for.  The leader runs the
 * work under a scope of the flight's own (flight_cancelled), which asks
 * the leader's scope, kept in @leader, and counts @waiting.
 */
struct flight {
	struct flight *next;
	char digest[DIGEST_STR_LEN + 1];
	int refs;	 /* the leader plus each waiter */
	bool done;	 /* set with ret once the leader is through */
	bool look_again; /* the leader only checked the name: ret is not a fill's */
	int ret;
	int waiting; /* waiters not yet gone; atomic, read without flight_lock */
	struct cancel_scope leader; /* the leader's scope, set before it leads */
};

/* A blob this store hashed, and the file it hashed. */
struct verified {
	char hex[DIGEST_HEX_LEN + 1]; /* "" for a free entry */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
	uint64_t used; /* the table's clock when last found or added */
};

struct cache_store {
	char *dir_path; /* <dir>, for messages */
	char *tmp_path; /* <dir>/tmp, for messages; files are made in tmp_dfd */
	int blob_dfd;	/* <dir>/blobs/sha256; blobs are opened relative to it */
	int tmp_dfd;	/* <dir>/tmp */
	int side_dfd[CACHE_SIDE_KINDS]; /* <dir>/<side_dirs[kind]>/sha256 */
	uint64_t max_bytes;

	/*
	 * Lock order: evict_lock, then usage_lock.  flight_lock and
	 * verified_lock are leaves (verified_lock may be taken under
	 * evict_lock), and no lock is held while a fill runs or a blob is
	 * hashed.
	 */
	pthread_mutex_t evict_lock; /* serialises rescans and eviction */
	pthread_mutex_t usage_lock; /* protects usage */
	uint64_t usage;
	pthread_mutex_t flight_lock; /* protects flights and each flight */
	pthread_cond_t flight_done;  /* broadcast when any flight is done */
	struct flight *flights;
	pthread_mutex_t verified_lock; /* protects verified and verified_clock */
	struct verified *verified;     /* VERIFIED_SETS * VERIFIED_WAYS */
	uint64_t verified_clock;
	struct cache_sealer *sealer; /* NULL: no seals (seal.h) */
};

struct cache_writer {
	struct cache_store *s;
	int fd;				 /* the temp file, -1 once closed */
	char tmp_name[TMP_NAME_LEN + 1]; /* under tmp/; "" once renamed */
	char digest[DIGEST_STR_LEN + 1]; /* what the bytes must hash to */
	struct digest_ctx md;
	uint64_t written;    /* bytes taken (hashed or handed to the helper), on disk or not */
	int64_t expect_size; /* < 0: unknown */
	int err;	     /* first failed write; sticky, commit returns it */
	char *buf;	     /* bytes taken but not yet written to fd; NULL until needed */
	size_t buf_len, buf_cap;
	/* NULL: this thread hashes and writes.  Else the helper does both,
	 * and md, fd and err belong to it until writer_helper_finish. */
	struct writer_helper *helper;
};

/*
 * The second thread of a big blob's writer.  The writer fills one buffer
 * while the helper hashes and writes the other: a full buffer is handed
 * over (writer_helper_hand) once the helper is idle, and the writer goes
 * on in the buffer the helper finished.  At most two buffers per writer.
 */
struct writer_helper {
	struct cache_writer *w;
	pthread_t thread;
	pthread_mutex_t lock; /* protects what follows */
	pthread_cond_t cond;  /* signalled on each change of busy or done */
	char *busy;	      /* handed over and not yet written; NULL when idle */
	size_t busy_len;
	char *spare; /* the buffer the writer fills next */
	bool done;   /* nothing more will be handed over */
	int err;     /* the first write that failed */
};

/* Where each kind of side file lives, below <dir> (and then sha256/). */
static const char *const side_dirs[CACHE_SIDE_KINDS] = {
	[CACHE_SIDE_LAYER_INDEX] = "indexes",
};

/* One blob as seen by a directory scan. */
struct blob_ent {
	char hex[DIGEST_HEX_LEN + 1];
	struct timespec mtime;
	uint64_t size;
};

/* @bytes for a log line, "812 B", "3.0 KiB", "65.0 MiB", "1.2 GiB" (into
 * @out of @n bytes); returns @out. */
static const char *size_str(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, n, "%.1f %s", v, units[u]);
	return out;
}

/* --- the table of verified blobs ----------------------------------------- */

static struct verified *verified_set_locked(struct cache_store *s, const char *hex)
{
	unsigned idx = 0;

	for (int i = 0; i < 4; i++)
		idx = idx << 4 | (unsigned)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return &s->verified[(idx % VERIFIED_SETS) * VERIFIED_WAYS];
}

static bool verified_same_file(const struct verified *v, const struct stat *st)
{
	return v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
	       v->ctime.tv_sec == st->st_ctim.tv_sec && v->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Whether this store verified blob @hex in the very file @st describes. */
static bool verified_has(struct cache_store *s, const char *hex, const struct stat *st)
{
	struct verified *v;
	bool found = false;

	pthread_mutex_lock(&s->verified_lock);
	v = verified_set_locked(s, hex);
	for (int i = 0; i < VERIFIED_WAYS; i++) {
		if (strcmp(v[i].hex, hex) == 0) {
			found = verified_same_file(&v[i], st);
			if (found)
				v[i].used = ++s->verified_clock;
			break;
		}
	}
	pthread_mutex_unlock(&s->verified_lock);
	return found;
}

/* Remember that the file @st describes holds blob @hex, in place of what
 * was remembered of @hex or else of the set's least recently used. */
static void verified_add(struct cache_store *s, const char *hex, const struct stat *st)
{
	struct verified *v, *slot;

	pthread_mutex_lock(&s->verified_lock);
	v = verified_set_locked(s, hex);
	slot = &v[0];
	for (int i = 0; i < VERIFIED_WAYS; i++) {
		if (strcmp(v[i].hex, hex) == 0) {
			slot = &v[i];
			break;
		}
		if (v[i].used < slot->used)
			slot = &v[i];
	}
	memcpy(slot->hex, hex, DIGEST_HEX_LEN + 1);
	slot->dev = st->st_dev;
	slot->ino = st->st_ino;
	slot->size = st->st_size;
	slot->ctime = st->st_ctim;
	slot->used = ++s->verified_clock;
	pthread_mutex_unlock(&s->verified_lock);
}

static void verified_forget(struct cache_store *s, const char *hex)
{
	struct verified *v;

	pthread_mutex_lock(&s->verified_lock);
	v = verified_set_locked(s, hex);
	for (int i = 0; i < VERIFIED_WAYS; i++)
		if (strcmp(v[i].hex, hex) == 0)
			memset(&v[i], 0, sizeof(v[i]));
	pthread_mutex_unlock(&s->verified_lock);
}

/* --- checking what is under a blob's name -------------------------------- */

/*
 * Why the file @st describes cannot be one of our blobs, into @why, or
 * false when it may be one.  Only a regular file is read as a blob; only
 * one of ours, because another user of a shared directory could plant it;
 * only one nobody else can write, because what was verified must stay so.
 */
static bool blob_unfit(const struct stat *st, char *why, size_t n)
{
	const char *type = NULL;

	if (S_ISLNK(st->st_mode))
		type = "a symbolic link";
	else if (S_ISDIR(st->st_mode))
		type = "a directory";
	else if (S_ISFIFO(st->st_mode))
		type = "a FIFO";
	else if (S_ISSOCK(st->st_mode))
		type = "a socket";
	else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		type = "a device";
	else if (!S_ISREG(st->st_mode))
		type = "not a regular file";
	if (type)
		snprintf(why, n, "%s", type);
	else if (st->st_uid != geteuid())
		snprintf(why, n, "owned by uid %u, not %u", (unsigned)st->st_uid,
			 (unsigned)geteuid());
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, n, "writable by others (mode %04o)", (unsigned)(st->st_mode & 07777));
	else
		return false;
	return true;
}

/*
 * Remove what is under blob @hex's name because of @why, but only if it
 * is still the file @st describes: a good blob another mount stored there
 * since is not removed in its place.  A directory is removed only if it is
 * empty; nothing is ever removed below it.  Returns -ENOENT (gone: the
 * caller fetches the blob again) or -EIO (it stays, and the blob cannot be
 * stored under its name; the name is never read as the blob).
 */
static int blob_drop(struct cache_store *s, const char *hex, const struct stat *st,
		     const char *why)
{
	struct stat now;

	verified_forget(s, hex);
	cache_seal_remove(s->sealer, hex);
	if (fstatat(s->blob_dfd, hex, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino)
		return -ENOENT; /* gone or replaced meanwhile: look again */
	if (unlinkat(s->blob_dfd, hex, S_ISDIR(now.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
	    errno != ENOENT) {
		log_err("cached blob 'sha256:%s' not used: %s, and it cannot be removed: %s", hex,
			why, strerror(errno));
		return -EIO;
	}
	log_warn("cached blob 'sha256:%s' dropped: %s", hex, why);
	return -ENOENT;
}

/*
 * Open what is under blob @hex's name for reading, if it may be the blob:
 * blob_unfit() says no on the name (lstat) and again on the open file, and
 * when @expect_size >= 0 the size must match.  The open does not follow a
 * symlink (O_NOFOLLOW) nor block on a FIFO (O_NONBLOCK), so swapping the
 * name between the two checks gains nothing.  Whatever fails is dropped
 * (blob_drop), except a verified blob whose size is not what the caller
 * expects: then the caller's descriptor is wrong, not the blob (-EIO).
 * Fills *st.  Returns an fd whose content is not checked yet, -ENOENT,
 * -EIO, or -errno.
 */
static int blob_open_checked(struct cache_store *s, const char *hex, int64_t expect_size,
			     struct stat *st)
{
	char why[96];
	int fd;

	if (fstatat(s->blob_dfd, hex, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (blob_unfit(st, why, sizeof(why)))
		return blob_drop(s, hex, st, why);
	fd = openat(s->blob_dfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno; /* made a link since: look again */
	if (fstat(fd, st) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (blob_unfit(st, why, sizeof(why))) {
		close(fd);
		return blob_drop(s, hex, st, why);
	}
	if (expect_size >= 0 && st->st_size != expect_size) {
		close(fd);
		if (verified_has(s, hex, st)) {
			log_err("blob 'sha256:%s' has %lld bytes, not %lld as its descriptor says",
				hex, (long long)st->st_size, (long long)expect_size);
			return -EIO;
		}
		snprintf(why, sizeof(why), "%lld bytes, expected %lld", (long long)st->st_size,
			 (long long)expect_size);
		return blob_drop(s, hex, st, why);
	}
	/* a regular file: O_NONBLOCK means nothing to it, but readers
	 * should not see it set */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/*
 * Hash the open blob @fd (@st its fstat) and compare with sha256:@hex.
 * Returns 0 (and remembers it as verified), or what blob_drop returns,
 * -EINTR when called off (the file is left as it is), or -errno when it
 * cannot be read.
 */
static int blob_hash_check(struct cache_store *s, const char *hex, int fd, const struct stat *st)
{
	char want[DIGEST_STR_LEN + 1], got[DIGEST_STR_LEN + 1], why[128];
	char *chunk = malloc(HASH_CHUNK);
	struct digest_ctx md = {0};
	uint64_t off = 0;
	int ret;

	if (!chunk)
		return -ENOMEM;
	ret = digest_ctx_init(&md);
	if (ret < 0)
		goto out;
	for (;;) {
		ssize_t n;

		/* a big blob from a cold disk takes seconds: ask between
		 * chunks whether anybody still wants it */
		if (cancel_requested()) {
			ret = -EINTR;
			goto out;
		}
		n = pread(fd, chunk, HASH_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			log_err("cannot read cached blob 'sha256:%s': %s", hex, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		digest_ctx_update(&md, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	digest_ctx_final(&md, got);
	snprintf(want, sizeof(want), DIGEST_PREFIX "%s", hex);
	if (off != (uint64_t)st->st_size) {
		snprintf(why, sizeof(why), "changed size while being checked");
		ret = blob_drop(s, hex, st, why);
	} else if (strcmp(got, want) != 0) {
		snprintf(why, sizeof(why), "content hashes to '%s'", got);
		ret = blob_drop(s, hex, st, why);
	} else {
		verified_add(s, hex, st);
		cache_sealer_queue(s->sealer, hex, st);
		log_debug("cached blob '%s' verified (%llu bytes)", want, (unsigned long long)off);
		ret = 0;
	}
out:
	digest_ctx_release(&md);
	free(chunk);
	return ret;
}

/*
 * Open blob @hex checked (blob_open_checked) and, unless this store has
 * verified this very file before, hashed.  Hashing is not shared here: the
 * caller leads the digest's flight, or has waited for others long enough.
 * Fills *st.  Returns an fd on verified bytes, -ENOENT (absent or
 * dropped), -EIO, or -errno.
 */
static int blob_settle(struct cache_store *s, const char *hex, int64_t expect_size,
		       struct stat *st)
{
	int fd, ret;

	fd = blob_open_checked(s, hex, expect_size, st);
	if (fd < 0 || verified_has(s, hex, st))
		return fd;
	/* a big blob a process sealed after it reached the disk (seal.h) */
	if (cache_seal_matches(s->sealer, hex, st)) {
		verified_add(s, hex, st);
		log_debug("cached blob 'sha256:%s' trusted by its seal", hex);
		return fd;
	}
	ret = blob_hash_check(s, hex, fd, st);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Mark an open, verified blob used for LRU.  Bumping on every open would
 * turn each read-only open into an inode write (and a journal commit) for
 * hot blobs; LRU only needs to tell "used lately" from "not used for a long
 * while", so a blob whose mtime is under a minute old is left alone.  The
 * file's own mtime is the note, read from @st (the fd's fstat), so there
 * is no table to keep and other mounts' bumps count too.  The bump moves
 * the ctime the table of verified blobs knows the file by, so the new one
 * is recorded: our own bump does not make the file a stranger.  Failure (a
 * read-only file system) only costs LRU accuracy.
 */
static void blob_touch(struct cache_store *s, const char *hex, int fd, const struct stat *st)
{
	struct stat now;

	if (st->st_mtime + TOUCH_SECS > time(NULL))
		return;
	if (futimens(fd, NULL) < 0) {
		log_debug("cannot bump blob mtime: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &now) == 0) {
		verified_add(s, hex, &now);
		cache_sealer_queue(s->sealer, hex, &now); /* the ctime moved */
	}
}

/*
 * Mark the open, verified blob @fd in use for as long as the caller keeps
 * it open: a shared flock, which eviction in this mount or another asks
 * about (blob_evict_unused).  Unlinking a file that is open frees no space
 * until its last reader closes it, and only makes the next reader fetch it
 * again, so eviction leaves an open blob alone.  -ENOENT when an eviction
 * holds the file right now (the name is going: the caller looks again),
 * else 0 (also where the file system has no locks: then nothing is held).
 */
static int blob_hold(int fd)
{
	while (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return -ENOENT;
		if (errno != EINTR)
			break;
	}
	return 0;
}

/* A side file goes with its blob (eviction, or found without it). */
static void side_remove_all(struct cache_store *s, const char *hex)
{
	for (int k = 0; k < CACHE_SIDE_KINDS; k++)
		if (s->side_dfd[k] >= 0 && unlinkat(s->side_dfd[k], hex, 0) < 0 && errno != ENOENT)
			log_warn("cannot remove '%s/%s/sha256/%s': %s", s->dir_path, side_dirs[k],
				 hex, strerror(errno));
}

/*
 * Unlink blob @hex unless a reader holds it open (blob_hold).  The unlink
 * happens under an exclusive lock, so a reader that opens the file
 * meanwhile either holds it first (and it stays) or finds it going.
 * Returns 1 when it is gone, 0 when it stays (in use, or replaced since
 * the caller looked), -errno when it cannot be removed.
 */
static int blob_evict_unused(struct cache_store *s, const char *hex)
{
	struct stat st, now;
	int fd, lk, ret = 1;

	fd = openat(s->blob_dfd, hex, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 1; /* another mount evicted it */
	if (fd >= 0) {
		do
			lk = flock(fd, LOCK_EX | LOCK_NB);
		while (lk < 0 && errno == EINTR);
		/* (a file system without locks: evicted unasked, as a file we
		 * cannot open, another user's, is) */
		if (lk < 0 && errno == EWOULDBLOCK)
			ret = 0; /* a reader holds it */
		else if (fstatat(s->blob_dfd, hex, &now, AT_SYMLINK_NOFOLLOW) < 0)
			ret = errno == ENOENT ? 2 : -errno; /* 2: gone already */
		else if (fstat(fd, &st) < 0 || st.st_dev != now.st_dev || st.st_ino != now.st_ino)
			ret = 0; /* replaced since the caller looked */
	}
	if (ret == 1 && unlinkat(s->blob_dfd, hex, 0) < 0 && errno != ENOENT)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret > 0) {
		verified_forget(s, hex);
		cache_seal_remove(s->sealer, hex);
		side_remove_all(s, hex);
		ret = 1;
	}
	return ret;
}

/*
 * Remove the temp files of writers that died (a crash, kill -9): those
 * nobody holds locked (cache/tmp.h), however recent, while the live
 * writers of other mounts sharing the directory keep theirs.  Where the
 * file system has no locks, only files idle for TMP_STALE_SECS.  Returns
 * the bytes freed on disk.
 */
static uint64_t store_clean_tmp(struct cache_store *s)
{
	uint64_t freed = 0;
	int n = cache_tmp_sweep(s->tmp_dfd, TMP_PREFIX, TMP_STALE_SECS, &freed);
	char a[32];

	if (n > 0)
		log_info("removed %d temp file%s of downloads that did not finish (%s) from '%s'",
			 n, n == 1 ? "" : "s", size_str(freed, a, sizeof(a)), s->tmp_path);
	return freed;
}

/* Give the blob file @name of directory @dfd BLOB_MODE: earlier versions
 * stored blobs 0444, readable by anyone who could enter the directory.
 * Through an fd opened without following a link; the change of ctime only
 * makes this store hash the blob again before its next use. */
static void blob_make_private(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
		fchmod(fd, BLOB_MODE);
	close(fd);
}

static int blob_ent_hex_cmp(const void *a, const void *b)
{
	return strcmp(((const struct blob_ent *)a)->hex, ((const struct blob_ent *)b)->hex);
}

/*
 * Add the sizes of @kind's side files to their blobs' entries (@v, sorted
 * by hex) and return their sum; remove the side files of blobs that are
 * gone (evicted by a mount of a version that knew no side files, or
 * written as their blob went).
 */
static uint64_t side_scan(struct cache_store *s, int kind, struct blob_ent *v, size_t len)
{
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if (s->side_dfd[kind] < 0)
		return 0;
	fd = openat(s->side_dfd[kind], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct blob_ent key, *e;
		struct stat st;

		if (!digest_hex_is_valid(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		memcpy(key.hex, de->d_name, DIGEST_HEX_LEN + 1);
		e = len ? bsearch(&key, v, len, sizeof(*v), blob_ent_hex_cmp) : NULL;
		if (!e) {
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		e->size += (uint64_t)st.st_size;
		sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

/*
 * List the blobs in blobs/sha256 with their sizes (side files included)
 * and mtimes, sorted by hex.  *ents is new (caller frees).  Names that are
 * not 64 lower-case hex are not ours: they are neither counted nor
 * evicted.
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

		if (!digest_hex_is_valid(de->d_name))
			continue;
		/* ENOENT: another mount evicted it since readdir saw it. */
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((st.st_mode & 07777) != BLOB_MODE && st.st_uid == geteuid())
			blob_make_private(fd, de->d_name);
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
	if (len)
		qsort(v, len, sizeof(*v), blob_ent_hex_cmp);
	for (int k = 0; k < CACHE_SIDE_KINDS; k++)
		sum += side_scan(s, k, v, len);
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
			ret = blob_evict_unused(s, ents[i].hex);
			if (ret < 0)
				log_warn("cannot evict blob 'sha256:%s': %s", ents[i].hex,
					 strerror(-ret));
			if (ret <= 0)
				continue;
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

/* Bytes the cache's file system has free for this process: root may
 * write into the blocks reserved for it, so it counts them (its writes
 * will).  UINT64_MAX when the file system does not say. */
static uint64_t store_disk_free(struct cache_store *s)
{
	struct statvfs sv;

	if (fstatvfs(s->blob_dfd, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) * sv.f_frsize;
}

/*
 * Make room on the cache's file system for a blob of @need bytes.  What is
 * free there is all that counts, whatever holds the rest (this mount,
 * others, other programs): the cap is store_evict's business.  When less
 * than @need and a margin (RELIEF_MARGIN) is free, remove the temp files of
 * writers that died, then evict the least recently used blobs nobody holds
 * open, oldest first, until the room is there or nothing is left to try.
 * When even every blob of the cache could not make the room (a file system
 * smaller than the blob, or full of other files), nothing is evicted.
 * *@freed gets the bytes removed (temp files and blobs).  Returns 0 when
 * the room is there, 1 when it is not (blobs in use), -ENOSPC when it
 * cannot be (nothing was evicted).
 */
static int store_relieve(struct cache_store *s, uint64_t need, uint64_t *freed)
{
	uint64_t want = need + RELIEF_MARGIN(need), free_now, total = 0, evicted = 0;
	struct blob_ent *ents = NULL;
	size_t n = 0, n_evicted = 0;
	int ret = 0;

	*freed = 0;
	if (store_disk_free(s) >= want)
		return 0;
	pthread_mutex_lock(&s->evict_lock);
	*freed += store_clean_tmp(s);
	free_now = store_disk_free(s);
	if (free_now >= want)
		goto out;
	ret = store_scan(s, &ents, &n, &total);
	if (ret < 0) {
		log_warn("cannot scan blob store: %s", strerror(-ret));
		ret = 1;
		goto out;
	}
	if (free_now + total < need) {
		ret = -ENOSPC;
		goto out;
	}
	qsort(ents, n, sizeof(*ents), blob_ent_cmp);
	for (size_t i = 0; i < n && free_now < want; i++) {
		if (blob_evict_unused(s, ents[i].hex) <= 0)
			continue; /* in use, or cannot be removed */
		log_debug("evicted blob 'sha256:%s' to make room", ents[i].hex);
		total -= ents[i].size;
		evicted += ents[i].size;
		n_evicted++;
		free_now = store_disk_free(s);
	}
	pthread_mutex_lock(&s->usage_lock);
	s->usage = total;
	pthread_mutex_unlock(&s->usage_lock);
	*freed += evicted;
	ret = free_now >= want ? 0 : 1;
	if (n_evicted) {
		char a[32], b[32];

		log_warn("cache in '%s' is short of space: evicted %zu blob%s (%s) to make room "
			 "for %s%s", s->dir_path, n_evicted, n_evicted == 1 ? "" : "s",
			 size_str(evicted, a, sizeof(a)), size_str(need, b, sizeof(b)),
			 ret ? ", not enough: the rest are in use" : "");
	}
out:
	pthread_mutex_unlock(&s->evict_lock);
	free(ents);
	return ret;
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

/* A condition variable whose timed waits run on the monotonic clock, so a
 * wall clock set back does not stretch a waiter's CANCEL_POLL_MS slice. */
static void flight_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(cond, &attr) != 0)
		BUG("cannot make a condition variable on the monotonic clock");
	pthread_condattr_destroy(&attr);
}

int cache_store_open(const char *dir, uint64_t max_bytes, struct cache_store **out)
{
	struct cache_store *s = NULL;
	char *blobs = NULL;
	int ret;

	*out = NULL;
	if (!dir || !*dir)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->blob_dfd = -1;
	s->tmp_dfd = -1;
	for (int k = 0; k < CACHE_SIDE_KINDS; k++)
		s->side_dfd[k] = -1;
	s->max_bytes = max_bytes;
	pthread_mutex_init(&s->evict_lock, NULL);
	pthread_mutex_init(&s->usage_lock, NULL);
	pthread_mutex_init(&s->flight_lock, NULL);
	flight_cond_init(&s->flight_done);
	pthread_mutex_init(&s->verified_lock, NULL);
	s->verified = calloc(VERIFIED_SETS * VERIFIED_WAYS, sizeof(*s->verified));
	if (!s->verified) {
		ret = -ENOMEM;
		goto out;
	}

	s->dir_path = strdup(dir);
	if (!s->dir_path) {
		ret = -ENOMEM;
		goto out;
	}
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
	/* the last components are not followed: a link planted in a shared
	 * directory must not send blobs or temp files elsewhere */
	s->blob_dfd = cache_dir_make_open(blobs, O_NOFOLLOW);
	if (s->blob_dfd < 0) {
		ret = s->blob_dfd;
		goto out;
	}
	s->tmp_dfd = cache_dir_make_open(s->tmp_path, O_NOFOLLOW);
	if (s->tmp_dfd < 0) {
		ret = s->tmp_dfd;
		goto out;
	}
	for (int k = 0; k < CACHE_SIDE_KINDS; k++) {
		char *side = NULL;

		if (asprintf(&side, "%s/%s/sha256", dir, side_dirs[k]) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		s->side_dfd[k] = cache_dir_make_open(side, O_NOFOLLOW);
		free(side);
		if (s->side_dfd[k] < 0) {
			ret = s->side_dfd[k];
			goto out;
		}
	}
	store_clean_tmp(s);
	store_evict(s, NULL, true); /* counts usage; the cap may have shrunk */
	if (cache_sealer_start(dir, s->blob_dfd, s->tmp_dfd, &s->sealer) < 0)
		log_warn("cannot keep seals in '%s/seals': every mount hashes its big blobs "
			 "before their first use", dir);

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
	cache_sealer_stop(s->sealer); /* before the directories it uses close */
	if (s->blob_dfd >= 0)
		close(s->blob_dfd);
	if (s->tmp_dfd >= 0)
		close(s->tmp_dfd);
	for (int k = 0; k < CACHE_SIDE_KINDS; k++)
		if (s->side_dfd[k] >= 0)
			close(s->side_dfd[k]);
	pthread_mutex_destroy(&s->evict_lock);
	pthread_mutex_destroy(&s->usage_lock);
	pthread_mutex_destroy(&s->flight_lock);
	pthread_cond_destroy(&s->flight_done);
	pthread_mutex_destroy(&s->verified_lock);
	free(s->verified);
	free(s->dir_path);
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

int cache_store_space(struct cache_store *s, struct cache_store_space *out)
{
	struct statvfs sv;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(s->blob_dfd, &sv) < 0)
		return -errno;
	out->cap = s->max_bytes; /* set at open, never changed */
	out->used = cache_store_usage(s);
	out->disk_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	out->avail = out->disk_free;
	if (out->cap) {
		/* the cap is soft: blobs held open are not evicted */
		uint64_t room = out->used < out->cap ? out->cap - out->used : 0;

		if (room < out->avail)
			out->avail = room;
	}
	return 0;
}

static int flight_enter(struct cache_store *s, const char *digest, struct flight **out, int *ret,
			bool *again);
static void flight_finish(struct cache_store *s, struct flight *f, int ret, bool look_again);
static struct cancel_scope flight_scope_enter(struct flight *f);

int cache_store_open_blob(struct cache_store *s, const char *digest)
{
	const char *hex = digest + 7;
	struct cancel_scope scope;
	struct flight *f;
	struct stat st;
	bool again;
	int fd, lead, res;

	if (!digest_is_valid(digest))
		return -EINVAL;
	if (!cancel_may_wait()) {
		/* only what is at hand: absent, or verified before; a file
		 * that would be hashed is not even opened (nor dropped) */
		if (fstatat(s->blob_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!verified_has(s, hex, &st))
			return -CANCEL_WOULD_WAIT;
	}
	for (int waits = 0;; waits++) {
		fd = blob_open_checked(s, hex, -1, &st);
		if (fd < 0)
			return fd;
		if (verified_has(s, hex, &st))
			break;
		close(fd);
		if (!cancel_may_wait())
			return -CANCEL_WOULD_WAIT; /* changed since we looked */
		if (waits == FLIGHT_WAITS) {
			/* someone keeps changing it: check it without a flight */
			fd = blob_settle(s, hex, -1, &st);
			if (fd < 0)
				return fd;
			break;
		}
		/* Hash it once, however many threads open it now.  Whoever
		 * arrives while another thread hashes or fills it waits, then
		 * looks again: the table then knows the file, or it is gone. */
		lead = flight_enter(s, digest, &f, &res, &again);
		if (lead < 0)
			return lead;
		if (!lead)
			continue;
		scope = flight_scope_enter(f);
		fd = blob_settle(s, hex, -1, &st);
		cancel_scope_set(scope);
		flight_finish(s, f, fd < 0 ? fd : 0, true);
		if (fd < 0)
			return fd;
		break;
	}
	if (blob_hold(fd) < 0) {
		close(fd);
		return -ENOENT; /* being evicted: fetch it again */
	}
	blob_touch(s, hex, fd, &st);
	return fd;
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

static void *writer_helper_main(void *arg)
{
	struct writer_helper *h = arg;
	struct cache_writer *w = h->w;

	thread_name_set("regfs-write");
	pthread_mutex_lock(&h->lock);
	for (;;) {
		char *p;
		size_t len;
		int ret = 0;

		while (!h->busy && !h->done)
			pthread_cond_wait(&h->cond, &h->lock);
		if (!h->busy)
			break;
		p = h->busy;
		len = h->busy_len;
		pthread_mutex_unlock(&h->lock);
		digest_ctx_update(&w->md, p, len);
		if (h->err == 0) /* only this thread sets it */
			ret = cache_write_all(w->fd, p, len);
		pthread_mutex_lock(&h->lock);
		if (ret < 0 && h->err == 0)
			h->err = ret;
		h->spare = p;
		h->busy = NULL;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Give @w a helper thread (and its second buffer) if its blob is big
 * enough to gain from one.  Without one (or if it cannot start) @w hashes
 * and writes on its caller's thread. */
static void writer_helper_start(struct cache_writer *w)
{
	struct writer_helper *h;

	if (w->expect_size < HELPER_MIN_SIZE)
		return;
	h = calloc(1, sizeof(*h));
	if (!h)
		return;
	h->w = w;
	h->spare = malloc(w->buf_cap);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (!h->spare || pthread_create(&h->thread, NULL, writer_helper_main, h) != 0) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h->spare);
		free(h);
		return;
	}
	w->helper = h;
}

/* Hand @w's gathered bytes to its helper (after it finished the previous
 * ones) and go on in the other buffer.  0, or the helper's write error. */
static int writer_helper_hand(struct cache_writer *w)
{
	struct writer_helper *h = w->helper;
	int ret;

	pthread_mutex_lock(&h->lock);
	while (h->busy)
		pthread_cond_wait(&h->cond, &h->lock);
	ret = h->err;
	if (ret == 0) {
		h->busy = w->buf;
		h->busy_len = w->buf_len;
		w->buf = h->spare;
		h->spare = NULL;
		w->buf_len = 0;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* Let @w's helper finish what it was handed, and end it: md, fd and err
 * are this thread's again.  0 or the helper's write error. */
static int writer_helper_finish(struct cache_writer *w)
{
	struct writer_helper *h = w->helper;
	int ret;

	if (!h)
		return 0;
	pthread_mutex_lock(&h->lock);
	h->done = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	ret = h->err;
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->spare);
	free(h);
	w->helper = NULL;
	return ret;
}

/* Free @w, removing its temp file unless it was renamed into place.  NULL
 * is a no-op. */
static void writer_abort(struct cache_writer *w)
{
	if (!w)
		return;
	writer_helper_finish(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_name[0])
		unlinkat(w->s->tmp_dfd, w->tmp_name, 0);
	digest_ctx_release(&w->md);
	free(w->buf);
	free(w);
}

/* A new writer (*out) into a new temp file for the valid @digest; end it
 * with writer_commit or writer_abort.  0 or -errno. */
static int writer_begin(struct cache_store *s, const char *digest, int64_t expect_size,
			struct cache_writer **out)
{
	struct cache_writer *w;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->s = s;
	w->fd = -1;
	w->expect_size = expect_size;
	/* a small blob of known size needs no more than itself */
	w->buf_cap = expect_size >= 0 && expect_size < WRITE_BUF ? (size_t)expect_size : WRITE_BUF;
	memcpy(w->digest, digest, DIGEST_STR_LEN + 1);
	ret = digest_ctx_init(&w->md);
	if (ret < 0)
		goto out;
	/* made relative to the directory opened with the store, never by
	 * path, and O_EXCL: a planted name is skipped, never followed */
	w->fd = cache_tmp_create(s->tmp_dfd, TMP_PREFIX, w->tmp_name, sizeof(w->tmp_name),
				 O_RDWR);
	if (w->fd < 0) {
		ret = w->fd;
		w->tmp_name[0] = '\0';
		log_err("cannot create temp file in '%s': %s", s->tmp_path, strerror(-ret));
		goto out;
	}
	writer_helper_start(w);
	*out = w;
	w = NULL;
	ret = 0;
out:
	writer_abort(w);
	return ret;
}

/* Write what @w has gathered to its file.  0 or -errno (sticky in w->err). */
static int writer_flush(struct cache_writer *w)
{
	int ret = w->err;

	if (ret == 0 && w->buf_len) {
		if (w->helper) {
			ret = writer_helper_hand(w);
		} else {
			ret = cache_write_all(w->fd, w->buf, w->buf_len);
			w->buf_len = 0;
		}
	}
	if (ret < 0)
		w->err = ret;
	return ret;
}

/* Take @len bytes of @p into @w's buffer (or straight to the file when the
 * buffer is empty and they would fill it anyway). */
static int writer_take(struct cache_writer *w, const char *p, size_t len)
{
	while (len > 0) {
		size_t n;

		if (w->buf_len == 0 && len >= w->buf_cap && !w->helper)
			return cache_write_all(w->fd, p, len);
		if (!w->buf) {
			w->buf = malloc(w->buf_cap);
			if (!w->buf)
				return -ENOMEM;
		}
		n = w->buf_cap - w->buf_len;
		if (n > len)
			n = len;
		memcpy(w->buf + w->buf_len, p, n);
		w->buf_len += n;
		p += n;
		len -= n;
		if (w->buf_len == w->buf_cap && writer_flush(w) < 0)
			return w->err;
	}
	return 0;
}

int cache_writer_write(struct cache_writer *w, const void *p, size_t len)
{
	int ret = w->err;

	if (ret < 0)
		goto out;
	if (w->expect_size >= 0 && len > (uint64_t)w->expect_size - w->written) {
		ret = -EFBIG;
		goto out;
	}
	if (!w->helper)
		digest_ctx_update(&w->md, p, len);
	ret = writer_take(w, p, len);
	if (ret == 0)
		w->written += len;
out:
	if (ret < 0)
		w->err = ret;
	return ret;
}

/*
 * Rename the verified temp file (of @size bytes) to its final name unless
 * the blob is already there (another writer or mount stored the same bytes
 * first; ours is then left for the caller to remove).  What is there is
 * kept only if it is the blob (blob_settle); anything else is dropped and
 * the rename tried again.  *added says whether we created the name, i.e.
 * whether usage grew.
 */
static int store_install(struct cache_store *s, const char *tmp, const char *hex, uint64_t size,
			 bool *added)
{
	struct stat st;
	int fd;

	*added = false;
	for (int tries = 0; tries < 3; tries++) {
		if (renameat2(s->tmp_dfd, tmp, s->blob_dfd, hex, RENAME_NOREPLACE) == 0) {
			*added = true;
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS)
			goto replace;
		if (errno != EEXIST)
			return -errno;
		fd = blob_settle(s, hex, (int64_t)size, &st);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (fd != -ENOENT)
			return fd;
	}
	return -EIO; /* the name is taken again each time it is freed */
replace:
	/* No RENAME_NOREPLACE here (some network filesystems): replacing
	 * is harmless, ours holds verified bytes and whatever was there is
	 * the same or wrong, but usage may count the blob twice until the
	 * next rescan. */
	if (renameat(s->tmp_dfd, tmp, s->blob_dfd, hex) < 0)
		return -errno;
	*added = true;
	return 0;
}

/* Verify what @w holds and store it under its digest; frees @w.  0, -EIO
 * when the bytes are not the blob, the error of a write that failed, or
 * -errno. */
static int writer_commit(struct cache_writer *w)
{
	struct cache_store *s = w->s;
	char got[DIGEST_STR_LEN + 1];
	char hex[DIGEST_HEX_LEN + 1];
	uint64_t size = w->written;
	bool added = false;
	int ret;

	memcpy(hex, w->digest + 7, sizeof(hex)); /* outlives w */

	ret = writer_flush(w);
	if (ret == 0)
		ret = writer_helper_finish(w);
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
	/*
	 * No fdatasync before the rename.  A crash after it may leave a short,
	 * empty or zero-filled file under the blob's name (ext4 delalloc), but
	 * nothing under a blob's name is served before this store has hashed
	 * it: the table of verified blobs lives in memory, so after a crash
	 * (a new process) every blob is hashed before its first use, and a
	 * torn one is dropped and fetched again.  (A big blob may skip that
	 * hash, but only on a seal the sealer wrote after its own fdatasync
	 * of the blob, off this path: seal.h.)  The sync only spared that
	 * refetch, and cost every cold read its length in disk writes before
	 * the first byte (0.2-0.3 s for 256 MiB here, more on slow disks; a
	 * manifest's or config's few bytes paid a journal commit each).  Nor
	 * is writeback started here (sync_file_range costs 50-80 ms for 256
	 * MiB): the kernel writes the pages back within its dirty expiry
	 * (30 s by default), and only a crash before that costs a refetch.
	 * The directory is not synced either: losing the whole blob is fine.
	 */
	if (fchmod(w->fd, BLOB_MODE) < 0) {
		ret = -errno;
		goto out;
	}
	ret = store_install(s, w->tmp_name, hex, size, &added);
	if (ret < 0) {
		log_err("cannot store blob '%s': %s", w->digest, strerror(-ret));
		goto out;
	}
	if (added) {
		struct stat st;

		w->tmp_name[0] = '\0';
		/* the file we hashed, known by what fstat says after the
		 * rename (which may move its ctime): its first open in this
		 * store need not hash it again */
		if (fstat(w->fd, &st) == 0) {
			verified_add(s, hex, &st);
			cache_sealer_queue(s->sealer, hex, &st);
		}
	}
out:
	writer_abort(w); /* frees; removes the temp file unless renamed */
	if (added)
		store_account(s, hex, size);
	return ret;
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

/*
 * Wait, as a waiter holding a reference to @f, until its leader is done,
 * in slices of CANCEL_POLL_MS so that this thread's own cancellation is
 * seen.  Called and returns with flight_lock held; drops it around
 * cancel_requested(), whose check may not run under the caller's locks.
 * 0 when done, -EINTR when called off (the caller stops waiting).
 */
static int flight_wait_locked(struct cache_store *s, struct flight *f)
{
	while (!f->done) {
		bool off;

		cancel_cond_wait(&s->flight_done, &s->flight_lock, CLOCK_MONOTONIC);
		if (f->done)
			break;
		pthread_mutex_unlock(&s->flight_lock);
		off = cancel_requested();
		pthread_mutex_lock(&s->flight_lock);
		if (off && !f->done)
			return -EINTR;
	}
	return 0;
}

/*
 * Lead the flight for @digest, or wait for the one in progress.  Returns 1
 * when the caller leads it (*out: run its work under flight_scope_enter and
 * end it with flight_finish), 0 after another leader finished (*ret is its
 * result, *again says whether that leader only checked the blob, so its
 * result answers no fill), -CANCEL_WOULD_WAIT when there is a flight and
 * this thread may not wait, -EINTR when this thread's wait was called off
 * (the flight goes on for whoever else wants it), -ENOMEM.
 */
static int flight_enter(struct cache_store *s, const char *digest, struct flight **out, int *ret,
			bool *again)
{
	struct flight *f;
	int waited;

	*out = NULL;
	pthread_mutex_lock(&s->flight_lock);
	f = flight_find_locked(s, digest);
	if (f && !cancel_may_wait()) {
		pthread_mutex_unlock(&s->flight_lock);
		return -CANCEL_WOULD_WAIT;
	}
	if (f) {
		f->refs++;
		__atomic_add_fetch(&f->waiting, 1, __ATOMIC_SEQ_CST);
		waited = flight_wait_locked(s, f);
		__atomic_sub_fetch(&f->waiting, 1, __ATOMIC_SEQ_CST);
		*ret = f->ret;
		*again = f->look_again;
		flight_put_locked(f);
		pthread_mutex_unlock(&s->flight_lock);
		return waited;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&s->flight_lock);
		return -ENOMEM;
	}
	memcpy(f->digest, digest, DIGEST_STR_LEN + 1);
	f->refs = 1;
	f->leader = cancel_scope_get();
	f->next = s->flights;
	s->flights = f;
	pthread_mutex_unlock(&s->flight_lock);
	*out = f;
	return 1;
}

/* The check of a flight's scope: see struct flight.  Runs on the leader's
 * thread, so the leader's own check is asked where it expects to be. */
static bool flight_cancelled(void *arg)
{
	const struct flight *f = arg;

	if (cancel_all_requested())
		return true;
	if (!f->leader.check || !f->leader.check(f->leader.arg))
		return false;
	return __atomic_load_n(&f->waiting, __ATOMIC_SEQ_CST) == 0;
}

/* Run the leader's work on @f under the flight's scope; returns the scope
 * to put back with cancel_scope_set when the work is done. */
static struct cancel_scope flight_scope_enter(struct flight *f)
{
	struct cancel_scope scope = {.check = flight_cancelled, .arg = f, .no_wait = false};

	return cancel_scope_set(scope);
}

/* The leader's end of a flight: publish @ret (with @look_again, see struct
 * flight), wake the waiters, let go. */
static void flight_finish(struct cache_store *s, struct flight *f, int ret, bool look_again)
{
	pthread_mutex_lock(&s->flight_lock);
	for (struct flight **p = &s->flights; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	f->ret = ret;
	f->look_again = look_again;
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

	ret = writer_begin(s, digest, expect_size, &w);
	if (ret < 0)
		return ret;
	ret = fill(w, arg);
	if (ret > 0)
		BUG("cache fill returned a positive value");
	if (ret < 0) {
		writer_abort(w);
		return ret;
	}
	return writer_commit(w); /* verifies before anything is stored */
}

/* What cache_store_put() stores, for fill_from_memory(). */
struct memory_blob {
	const void *bytes;
	size_t len;
};

static int fill_from_memory(struct cache_writer *w, void *arg)
{
	const struct memory_blob *b = arg;

	return cache_writer_write(w, b->bytes, b->len);
}

/*
 * store_fill, for a blob that has to fit.  One bigger than the cap is
 * refused before a byte of it is fetched (storing it would evict every
 * other blob and still pass the cap), with one log line saying how to
 * raise it.  Room on the disk is made for one of known size before its
 * fill starts (store_relieve), and one that cannot fit there even in an
 * empty cache is refused.  A fill that runs out of room anyway (another
 * mount or program filled the disk meanwhile, or the size was not known)
 * left nothing behind; then room is made and the blob fetched once more.
 * -ENOSPC when it does not fit, else what store_fill returns.
 */
static int store_fill_within(struct cache_store *s, const char *digest, int64_t expect_size,
			     cache_fill_fn fill, void *arg)
{
	uint64_t need = expect_size >= 0 ? (uint64_t)expect_size : RELIEF_UNKNOWN_SIZE;
	char a[32], b[32];
	uint64_t freed;
	int ret;

	if (s->max_bytes && expect_size >= 0 && (uint64_t)expect_size > s->max_bytes) {
		log_err("blob '%s' is %s, more than the cache may hold (cache_max %s): not "
			"downloaded; raise -o cache_max to read it", digest,
			size_str(need, a, sizeof(a)), size_str(s->max_bytes, b, sizeof(b)));
		return -ENOSPC;
	}
	if (expect_size >= 0 && store_relieve(s, need, &freed) == -ENOSPC) {
		log_err("blob '%s' is %s, more than the file system of the cache in '%s' can "
			"hold: not downloaded", digest, size_str(need, a, sizeof(a)), s->dir_path);
		return -ENOSPC;
	}
	ret = store_fill(s, digest, expect_size, fill, arg);
	if (ret != -ENOSPC)
		return ret;
	if (store_relieve(s, need, &freed) == -ENOSPC || freed == 0) {
		log_err("blob '%s': no space left for it in '%s', and nothing to evict", digest,
			s->dir_path);
		return -ENOSPC;
	}
	ret = store_fill(s, digest, expect_size, fill, arg);
	if (ret == -ENOSPC)
		log_err("blob '%s': no space left for it in '%s', even after evicting %s", digest,
			s->dir_path, size_str(freed, a, sizeof(a)));
	return ret;
}

int cache_store_put(struct cache_store *s, const char *digest, const void *bytes, size_t len)
{
	struct memory_blob b = {bytes, len};

	if (!digest_is_valid(digest))
		return -EINVAL;
	/* a fill that cannot fail, so the bytes are verified (and a file
	 * already under the name replaced) exactly as a download's are */
	return store_fill_within(s, digest, (int64_t)len, fill_from_memory, &b);
}

int cache_store_ensure(struct cache_store *s, const char *digest, int64_t expect_size,
		       cache_fill_fn fill, void *arg)
{
	const char *hex = digest + 7;
	struct cancel_scope scope;
	struct flight *f = NULL;
	struct stat st;
	bool again;
	int lead, ret, fd;

	if (!digest_is_valid(digest))
		return -EINVAL;
	for (int waits = 0;; waits++) {
		/* verified by this store, this very file, of the size the
		 * caller expects: stored, and nothing to open */
		if (fstatat(s->blob_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    verified_has(s, hex, &st) && (expect_size < 0 || st.st_size == expect_size))
			return 0;
		/* anything else waits: on a flight, a hash or a fill */
		if (!cancel_may_wait())
			return -CANCEL_WOULD_WAIT;
		lead = flight_enter(s, digest, &f, &ret, &again);
		if (lead < 0)
			return lead;
		if (lead)
			break;
		/* A fill's result is ours too; after a mere check, look
		 * again, and after a fill called off because nobody wanted it
		 * any more, look again if we still do. */
		if (!again && !(ret == -EINTR && !cancel_requested()))
			return ret;
		if (waits == FLIGHT_WAITS)
			return -EAGAIN;
	}

	/* Leading.  What is there is checked (and hashed unless known), so a
	 * blob another flight stored between our first look and taking the
	 * lock is found too; only if nothing good is there is it filled.  A
	 * fill called off returns -EINTR, and store_fill leaves nothing
	 * behind. */
	scope = flight_scope_enter(f);
	fd = blob_settle(s, hex, expect_size, &st);
	if (fd >= 0) {
		close(fd);
		ret = 0;
	} else if (fd == -ENOENT) {
		ret = store_fill_within(s, digest, expect_size, fill, arg);
	} else {
		ret = fd;
	}
	cancel_scope_set(scope);
	flight_finish(s, f, ret, false);
	return ret;
}

/* --- side files ------------------------------------------------------------ */

static bool side_args_ok(enum cache_side kind, const char *digest)
{
	return (int)kind >= 0 && kind < CACHE_SIDE_KINDS && digest_is_valid(digest);
}

int cache_store_side_read(struct cache_store *s, enum cache_side kind, const char *digest,
			  size_t max, char **bytes, size_t *len)
{
	struct buf b = BUF_INIT(max);
	const char *hex = digest + 7;
	char why[96];
	struct stat st;
	int fd, ret;

	*bytes = NULL;
	*len = 0;
	if (!side_args_ok(kind, digest))
		return -EINVAL;
	fd = openat(s->side_dfd[kind], hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		if (errno != ELOOP)
			return -errno;
		/* a link planted under the name: never followed, removed */
		snprintf(why, sizeof(why), "a symbolic link");
		goto unfit;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (blob_unfit(&st, why, sizeof(why)) ||
	    ((uint64_t)st.st_size > max &&
	     snprintf(why, sizeof(why), "%lld bytes, over %zu", (long long)st.st_size, max))) {
		close(fd);
		goto unfit;
	}
	ret = buf_read_fd(&b, fd);
	close(fd);
	if (ret == -E2BIG) {
		snprintf(why, sizeof(why), "grew past %zu bytes while read", max);
		goto unfit;
	}
	if (ret == 0) {
		*bytes = buf_detach(&b, len);
		ret = *bytes ? 0 : -ENOMEM;
	}
	buf_release(&b, 0);
	return ret;
unfit:
	buf_release(&b, 0);
	log_warn("side file '%s/%s/sha256/%s' dropped: %s", s->dir_path, side_dirs[kind], hex, why);
	cache_store_side_drop(s, kind, digest);
	return -ENOENT;
}

int cache_store_side_write(struct cache_store *s, enum cache_side kind, const char *digest,
			   const void *bytes, size_t len)
{
	char tmp[TMP_NAME_LEN + 1];
	const char *hex = digest + 7;
	const char *p = bytes;
	size_t done = 0;
	struct stat st;
	bool over;
	int fd, ret = 0;

	if (!side_args_ok(kind, digest))
		return -EINVAL;
	if (fstatat(s->blob_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	fd = cache_tmp_create(s->tmp_dfd, TMP_PREFIX, tmp, sizeof(tmp), O_WRONLY);
	if (fd < 0)
		return fd;
	while (done < len && ret == 0) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0 && errno != EINTR)
			ret = -errno;
		else if (w > 0)
			done += (size_t)w;
	}
	/* the blob may have been evicted meanwhile: then the side file would
	 * be an orphan until the next scan, so it is not put in place */
	if (ret == 0 && fstatat(s->blob_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	if (ret == 0 && renameat(s->tmp_dfd, tmp, s->side_dfd[kind], hex) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(s->tmp_dfd, tmp, 0);
	close(fd); /* after the rename: the lock keeps a sweep off it until then */
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->usage_lock);
	s->usage += len;
	over = s->max_bytes && s->usage > s->max_bytes;
	pthread_mutex_unlock(&s->usage_lock);
	if (over)
		store_evict(s, hex, false);
	return 0;
}

void cache_store_side_drop(struct cache_store *s, enum cache_side kind, const char *digest)
{
	if (side_args_ok(kind, digest) && unlinkat(s->side_dfd[kind], digest + 7, 0) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove '%s/%s/sha256/%s': %s", s->dir_path, side_dirs[kind],
			 digest + 7, strerror(errno));
}
