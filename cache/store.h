/*
 * The content-addressed blob store on disk: <dir>/blobs/sha256/<hex>.
 *
 * Writers stream into a temporary file under <dir>/tmp and the file is
 * renamed into place only after its sha256 matches the digest it was asked
 * for.  Several mounts may share one directory; rename makes each insert
 * atomic, and eviction only unlinks (an open file stays readable).  The
 * store is capped in size and evicts least recently used blobs (mtime is
 * bumped on use) after inserts.
 *
 * What is on disk is not trusted: it may have been changed, cut short or
 * planted since it was stored.  Before this store first uses a blob's file
 * (cache_store_ensure, cache_store_open_blob, cache_store_read) it opens it
 * without following a symlink or blocking on a FIFO, checks that it is a
 * regular file owned by geteuid() that group and others cannot write, of
 * the expected size when one is given, and hashes it.  A file that fails
 * is removed with one log line ("cached blob '...' dropped: why") and
 * treated as absent, so it is fetched again; one that cannot be removed
 * (a non-empty directory, a file in a sticky directory) is never read and
 * makes that blob -EIO.  A file it verified is remembered by device,
 * inode, size and ctime, and checked against that on each later open; a
 * changed file is hashed again.  Only one thread hashes a given blob at a
 * time; others wait for it (a few times at most: when the file keeps
 * changing, each hashes it itself).
 *
 * Concurrent misses for the same digest share one fill: the first caller of
 * cache_store_ensure() runs the fill function, later callers wait for it and
 * get its result.
 *
 * Waiting follows the calling thread's cancel scope (common/cancel.h).  A
 * thread that may not wait gets what is at hand: a blob this store has
 * verified in that very file, or -ENOENT for an absent one from
 * cache_store_open_blob; anything that would wait (another thread's fill or
 * hash, a hash, a fill) answers -CANCEL_WOULD_WAIT at once and changes
 * nothing.  A thread waiting for another's flight asks cancel_requested()
 * every CANCEL_POLL_MS and leaves with -EINTR.  The thread that leads a
 * flight (runs the fill or hash) does it for every waiter: its work is
 * called off (the fill sees cancel_requested() true, a hash stops with
 * -EINTR) only when the leader's own scope says so and nobody else is
 * waiting, or at cancel_all().  A fill called off leaves nothing behind.
 *
 * Knows neither HTTP nor FUSE.
 */
#ifndef REGFS_CACHE_STORE_H
#define REGFS_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct cache_store;
struct cache_writer;

/* Open (creating directories as needed, mode 0700) the store at @dir with a
 * cap of @max_bytes (0 = no cap).  *out is new; free with cache_store_free.
 * Counts what is stored, evicting down to the cap if it has shrunk, makes
 * blob files of earlier versions (0444) the owner's alone (0400), and
 * removes the temp files of writers that died (a crash, kill -9): those
 * nobody holds locked (cache/tmp.h), however recent; another mount's live
 * download keeps its file.  Returns 0 or -errno.
 *
 * The cap is soft: after an insert passes it, least recently used blobs
 * are unlinked until usage is under 90% of it, but never the blob just
 * inserted, nor one a reader holds open (an fd from cache_store_open_blob,
 * in this process or another mount's: unlinking it would free nothing
 * until it is closed), so usage stays over the cap while those are open.
 * A blob bigger than the whole cap is never stored (cache_store_ensure).
 *
 * Besides the cap, the disk: before a blob of known size is fetched, room
 * for it is made on the cache's file system (which others may fill) by
 * evicting least recently used blobs nobody holds open, and a fill that
 * still runs out of space is tried once more after making room. */
int cache_store_open(const char *dir, uint64_t max_bytes, struct cache_store **out);
void cache_store_free(struct cache_store *s); /* NULL is a no-op */

/* Open a stored blob read-only (O_CLOEXEC), checked and verified as above.
 * Returns an fd on bytes that hash to @digest (caller closes) or -ENOENT
 * (absent, or dropped: fetch it again), -EIO (a bad file that cannot be
 * removed), -EINVAL for an invalid digest, -CANCEL_WOULD_WAIT (a file not
 * yet verified, on a thread that may not wait), -EINTR, other -errno.  Marks the blob
 * used (bumps its mtime, at most once a minute).  While the fd is open the
 * blob is in use (a shared flock on it): no eviction of this store or of
 * another on the same directory removes it, so hold the fd rather than
 * reopen. */
int cache_store_open_blob(struct cache_store *s, const char *digest);

/* Read a whole stored blob of at most @max bytes into a new NUL-terminated
 * buffer (caller frees), opened as cache_store_open_blob does.  Returns 0,
 * -E2BIG for a bigger blob, what cache_store_open_blob returns, -EIO when
 * the file changed size while read, -errno.  Marks the blob used. */
int cache_store_read(struct cache_store *s, const char *digest, size_t max, char **bytes,
		     size_t *len);

/* Store bytes already in memory; verifies them against @digest first.
 * Returns 0 (also when already stored), -EIO on mismatch (nothing stored),
 * -EINVAL for an invalid digest, -ENOSPC as cache_store_ensure, -errno.  A file already under the name is
 * kept only if it verifies; otherwise it is dropped and replaced.  Does not
 * wait for, nor join, a cache_store_ensure() of the same digest. */
int cache_store_put(struct cache_store *s, const char *digest, const void *bytes, size_t len);

/* Write @len bytes of a blob being filled (the writer a cache_fill_fn is
 * given; used by that fill's thread only).  0 or -errno; -EFBIG when the
 * bytes written would pass the size the fill was started with (when that is
 * >= 0).  A failed write is sticky: later writes return the same error and
 * the store refuses the blob with it, even if the fill then returns 0.  The
 * bytes are gathered in memory (up to 1 MiB) before they go to disk, so a
 * disk's error (ENOSPC) may come from a later write or from the commit. */
int cache_writer_write(struct cache_writer *w, const void *p, size_t len);

/*
 * Make sure @digest is stored and verified.  If a file under its name
 * passes the checks above (with @expect_size when >= 0; a size that
 * differs is caught before hashing): 0.  Otherwise (absent, or dropped)
 * exactly one caller at a time runs @fill(w, arg) with a fresh writer
 * (into a temporary file); fill writes the bytes with cache_writer_write
 * and returns 0 or -errno.  The store then verifies the sha256 (and the
 * size, when @expect_size >= 0) and renames the file into place, or
 * removes it.  Callers that arrive while a fill for the same digest is
 * running wait and get its result; those that arrive while a check runs
 * (cache_store_open_blob hashing it) wait and look again.  A failure is
 * not remembered, so the next call runs a fill again.  A fill's -EINTR
 * (called off because nobody wanted it any more) is not handed to a waiter
 * that still wants the blob: that waiter looks again and may lead a new
 * flight.  Returns 0 or -errno (-CANCEL_WOULD_WAIT and -EINTR as above;
 * -EIO on digest mismatch, on a verified blob of another size than
 * @expect_size, or on a bad file that cannot be removed; -EFBIG when the
 * fill wrote past @expect_size; -EINVAL for an invalid digest; -EAGAIN if
 * the file kept changing under it; -ENOSPC, the fill not run, for a blob
 * whose @expect_size is over the cap or over what the cache's file system
 * could hold with every blob evicted, each with one log line, and -ENOSPC
 * when the disk is full even after evicting what nobody holds open).
 * Whatever fails leaves no temp file and nothing under the blob's name.
 *
 * 0 means the blob was stored, not that it still is: an insert elsewhere
 * (this mount or another) may evict it before cache_store_open_blob, which
 * then gives -ENOENT; callers loop ensure+open a bounded number of times.
 */
typedef int (*cache_fill_fn)(struct cache_writer *w, void *arg);
int cache_store_ensure(struct cache_store *s, const char *digest, int64_t expect_size,
		       cache_fill_fn fill, void *arg);

/*
 * Side files: what regfs derives from a stored blob and keeps beside it,
 * so that it is worked out once per blob, not once per mount (a layer's
 * index: layer/index.h).  <dir>/<kind>/sha256/<hex>, mode 0600.  A side
 * file belongs to its blob: it is counted with the blob against the cap,
 * evicted with it, and removed when found without it.  The store does not
 * know what the bytes mean, so it cannot verify them: they are opened as
 * carefully as blobs (no link followed, a regular file of ours nobody else
 * can write) and the caller checks them (layer_index_load: a checksum and
 * the blob's digest inside) and drops them when they do not hold.
 */
enum cache_side {
	CACHE_SIDE_LAYER_INDEX, /* <dir>/indexes/ */
	CACHE_SIDE_KINDS
};
/* Read @kind's side file of blob @digest, at most @max bytes, into a new
 * buffer (caller frees).  0; -ENOENT when there is none (or it was unfit,
 * or bigger than @max: then it is removed); -EINVAL for an invalid
 * digest; -errno. */
int cache_store_side_read(struct cache_store *s, enum cache_side kind, const char *digest,
			  size_t max, char **bytes, size_t *len);
/* Keep @len bytes as @kind's side file of blob @digest, replacing what was
 * there (written to a temp file and renamed into place).  Only while the
 * blob is stored: -ENOENT when it is not.  0, -EINVAL, -errno (-ENOSPC). */
int cache_store_side_write(struct cache_store *s, enum cache_side kind, const char *digest,
			   const void *bytes, size_t len);
/* Remove @kind's side file of @digest (one its reader found wrong). */
void cache_store_side_drop(struct cache_store *s, enum cache_side kind, const char *digest);

/* Bytes currently stored (blobs and their side files), as the store
 * counts them to decide when to evict: exact after open and each rescan,
 * approximate in between when other mounts share the directory.
 * Thread-safe.  The unit tests check it
 * against the disk, because a count that drifts shows nowhere else until
 * eviction comes too early or too late. */
uint64_t cache_store_usage(struct cache_store *s);

/* How full the store is, for statfs (df). */
struct cache_store_space {
	uint64_t cap;       /* the cap it was opened with; 0 = none */
	uint64_t used;      /* bytes stored, as cache_store_usage */
	uint64_t disk_free; /* what its filesystem has free for this user */
	uint64_t avail;     /* what it may still take: disk_free, and with a cap
			     * no more than the cap minus used (0 past it, as
			     * while blobs over it are held open) */
};
/* Fill *out.  Thread-safe.  0 or -errno (from fstatvfs). */
int cache_store_space(struct cache_store *s, struct cache_store_space *out);

#endif
