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
 * time; others wait for it.
 *
 * Concurrent misses for the same digest share one fill: the first caller of
 * cache_store_ensure() runs the fill function, later callers wait for it and
 * get its result.
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
 * Counts what is stored, evicting down to the cap if it has shrunk, and
 * removes temp files idle for over an hour.  Returns 0 or -errno.
 *
 * The cap is soft: after an insert passes it, least recently used blobs
 * are unlinked until usage is under 90% of it, but never the blob just
 * inserted (so one blob bigger than the cap is stored, alone). */
int cache_store_open(const char *dir, uint64_t max_bytes, struct cache_store **out);
void cache_store_free(struct cache_store *s); /* NULL is a no-op */

/* Open a stored blob read-only (O_CLOEXEC), checked and verified as above.
 * Returns an fd on bytes that hash to @digest (caller closes) or -ENOENT
 * (absent, or dropped: fetch it again), -EIO (a bad file that cannot be
 * removed), -EINVAL for an invalid digest, other -errno.  Marks the blob
 * used (bumps its mtime, at most once a minute).  The fd stays readable
 * even if the blob is evicted meanwhile, so hold it rather than reopen. */
int cache_store_open_blob(struct cache_store *s, const char *digest);

/* Size of the regular file under a blob's name into *size, or -ENOENT
 * (-EINVAL for an invalid digest).  Does not mark the blob used, nor check
 * or verify the file (opening it does). */
int cache_store_stat(struct cache_store *s, const char *digest, uint64_t *size);

/* Read a whole stored blob of at most @max bytes into a new NUL-terminated
 * buffer (caller frees), opened as cache_store_open_blob does.  Returns 0,
 * -ENOENT, -E2BIG, -errno.  Marks the blob used. */
int cache_store_read(struct cache_store *s, const char *digest, size_t max, char **bytes,
		     size_t *len);

/* Store bytes already in memory; verifies them against @digest first.
 * Returns 0 (also when already stored), -EIO on mismatch (nothing stored),
 * -EINVAL for an invalid digest, -errno.  A file already under the name is
 * kept only if it verifies; otherwise it is dropped and replaced. */
int cache_store_put(struct cache_store *s, const char *digest, const void *bytes, size_t len);

/* Streaming insert.  cache_writer_begin gives a new writer (*out); after
 * writes, exactly one of commit or abort frees it.  commit verifies the
 * sha256 (and, when @expect_size >= 0, the size) and renames into place:
 * 0, or -EIO on mismatch (temp removed, nothing stored).  A write fails
 * with -EFBIG past @expect_size when that is >= 0.  A failed write is
 * sticky: later writes and commit return the same error.  A writer is
 * used by one thread at a time. */
int cache_writer_begin(struct cache_store *s, const char *digest, int64_t expect_size,
		       struct cache_writer **out);
int cache_writer_write(struct cache_writer *w, const void *p, size_t len);
int cache_writer_commit(struct cache_writer *w);
void cache_writer_abort(struct cache_writer *w);

/*
 * Make sure @digest is stored and verified.  If a file under its name
 * passes the checks above (with @expect_size when >= 0; a size that
 * differs is caught before hashing): 0.  Otherwise (absent, or dropped)
 * exactly one caller at a time runs @fill(w, arg) with a fresh writer;
 * fill writes the bytes and returns 0 or -errno, and must neither commit
 * nor abort (the store does that).  Callers that arrive while a fill or a
 * check for the same digest is running wait and get its result; a failure
 * is not remembered, so the next call runs a fill again.  Returns 0 or
 * -errno (-EIO on digest mismatch, on a verified blob of another size than
 * @expect_size, or on a bad file that cannot be removed; -EINVAL for an
 * invalid digest; -EAGAIN if the file kept changing under it).
 *
 * 0 means the blob was stored, not that it still is: an insert elsewhere
 * (this mount or another) may evict it before cache_store_open_blob, which
 * then gives -ENOENT; callers loop ensure+open a bounded number of times.
 */
typedef int (*cache_fill_fn)(struct cache_writer *w, void *arg);
int cache_store_ensure(struct cache_store *s, const char *digest, int64_t expect_size,
		       cache_fill_fn fill, void *arg);

/* Bytes currently stored (as the store counts them: exact after open and
 * each eviction, approximate in between when other mounts share the
 * directory). */
uint64_t cache_store_usage(struct cache_store *s);

#endif
