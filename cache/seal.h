/*
 * Seals: what lets a new mount trust a big cached blob without hashing it
 * again.  Private to cache/ (the blob store uses it).
 *
 * Every process hashes a cached blob before it first serves it (store.c),
 * because a crash may leave a torn file under a blob's name: writes are
 * not synced before the rename.  For a layer of hundreds of MiB that hash
 * is most of the time a fresh mount takes to read it.  A seal is a small
 * file, seals/<hex>, saying "the file with this inode, size and ctime was
 * hashed to <hex>, and its bytes were on disk before this was written".
 * It is written by one background thread, after an fdatasync of the blob,
 * so a crash can lose a seal (the blob is hashed again) but never leave
 * one over bytes that did not reach the disk.  Anything that changes the
 * file (a write, truncate, chmod, utimes, a replacement) moves its ctime
 * or inode, and the seal no longer matches.  Only blobs of at least
 * SEAL_MIN_SIZE are sealed: smaller ones hash in less time than reading a
 * seal costs.
 *
 * Trust: a seal is read only if it is a regular file of the store's owner
 * that nobody else can write, like a blob.  Whoever can write as that
 * user can plant a blob and its seal alike, as they could plant anything
 * else this user runs.
 */
#ifndef REGFS_CACHE_SEAL_H
#define REGFS_CACHE_SEAL_H

#include <stdbool.h>
#include <sys/stat.h>

#define SEAL_MIN_SIZE (4 * 1024 * 1024)

struct cache_sealer;

/* Start the sealer for the store whose directory is @dir (seals go to
 * @dir/seals, made 0700 if missing; @blob_dfd is its blobs directory,
 * @tmp_dfd its temp directory; both stay the caller's and must outlive
 * the sealer).  Seals whose blob is gone are removed first.  Its thread is
 * made with the first seal queued, so a process may fork (daemonize)
 * after this.  *out is NULL (and nothing is sealed) when the directory
 * cannot be had; returns 0 or -errno. */
int cache_sealer_start(const char *dir, int blob_dfd, int tmp_dfd, struct cache_sealer **out);

/* Stop @sr: a seal being written is finished, the queue dropped (those
 * blobs are hashed again by the next mount).  NULL is a no-op. */
void cache_sealer_stop(struct cache_sealer *sr);

/* Queue a seal for blob @hex, just verified in the file @st describes
 * (its fstat at the time).  The seal is written only if that file is still
 * the one under the blob's name, unchanged, after its bytes reached the
 * disk.  Blobs under SEAL_MIN_SIZE, or with a matching seal already, are
 * left alone. */
void cache_sealer_queue(struct cache_sealer *sr, const char *hex, const struct stat *st);

/* Whether a seal says the file @st describes holds blob @hex. */
bool cache_seal_matches(struct cache_sealer *sr, const char *hex, const struct stat *st);

/* Remove blob @hex's seal (the blob is being removed). */
void cache_seal_remove(struct cache_sealer *sr, const char *hex);

#endif
