/*
 * The draft store: manifest lists being written, kept on disk under the
 * state directory so they survive unmount, crashes and reboots until they
 * are committed or removed.
 *
 * A draft lives at a mount-relative path ("localhost:5000/onap/py-app/latest")
 * and is a real directory under <state>/drafts/ with the same path: its
 * symlinks are the list's entries, stored verbatim (symlink(2) is atomic,
 * so a crash leaves a link whole or absent).  Directories made on the way
 * (a new repository "py-app" above "latest") are drafts too.  Besides links
 * and subdirectories a draft may hold these files:
 *   .mediatype           user's choice of list type ("docker" / "oci")
 *   .annotations/<key>   user's OCI index annotations, one file each
 *   .last-commit         written by regfs: why the last commit failed
 * Names starting with '.' other than these are refused.
 *
 * Paths are checked here: components must be non-empty, not "." or "..",
 * without '/' inside, at most 255 bytes; the whole at most 4095.  Anything
 * else is -EINVAL, so no path ever leaves the drafts directory.  Nor may a
 * component start with '.' (so "" and "/abs" are -EINVAL too; only
 * cache_draft_list takes a path ending in "/.annotations").  Links are
 * never followed: a path through one of the user's links, or naming one
 * where a draft is expected, is -ENOTDIR.
 * Every function returns 0 or -errno (errno of the failed syscall).
 * Thread-safe: no state beyond the directory path; the filesystem's own
 * atomicity is relied on (mkdir, symlink, unlink, rename).
 */
#ifndef REGFS_CACHE_DRAFT_H
#define REGFS_CACHE_DRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct cache_drafts;

#define CACHE_DRAFT_MEDIATYPE ".mediatype"
#define CACHE_DRAFT_ANNOTATIONS ".annotations"
#define CACHE_DRAFT_LAST_COMMIT ".last-commit"

/* Open (creating <state_dir>/drafts, mode 0700, when missing) the draft
 * store.  *out is new (cache_drafts_close). */
int cache_drafts_open(const char *state_dir, struct cache_drafts **out);
void cache_drafts_close(struct cache_drafts *d); /* NULL is a no-op */

/* lstat of the draft directory @path or of its entry @name (NULL: the
 * directory itself; else a link or subdirectory name, or one of the dot
 * names above).  -ENOENT when there is none. */
int cache_draft_stat(struct cache_drafts *d, const char *path, const char *name, struct stat *st);

/* Make draft directory @path; missing ancestors are made too.  -EEXIST
 * when it exists already. */
int cache_draft_mkdir(struct cache_drafts *d, const char *path);

/* Remove the empty draft directory @path (.mediatype, .annotations/ and
 * .last-commit do not count as content and go with it; nor does anything
 * else whose name starts with '.', such as a temporary file left by a
 * crash).  -ENOTEMPTY when it holds links or subdirectories; then nothing
 * is removed.  Ancestors stay. */
int cache_draft_rmdir(struct cache_drafts *d, const char *path);

/* Remove draft @path with everything in it (after a commit), then every
 * ancestor draft directory left empty (holding nothing at all), deepest
 * first; the drafts directory itself stays.  Links inside are unlinked,
 * never followed.  -ENOENT when there is none. */
int cache_draft_remove(struct cache_drafts *d, const char *path);

/* Add the link @name -> @target in draft @path.  -EEXIST, -ENOENT (no
 * such draft), -EINVAL (bad name: empty, '/', leading '.', > 255 bytes;
 * or a target that is empty or longer than 4095 bytes). */
int cache_draft_symlink(struct cache_drafts *d, const char *path, const char *name,
			const char *target);
/* The target of link @name of draft @path (*target new).  -EINVAL when
 * @name is not a link. */
int cache_draft_readlink(struct cache_drafts *d, const char *path, const char *name,
			 char **target);
/* Remove link or file @name of draft @path (also ".mediatype",
 * ".annotations/<key>" and ".last-commit").  -EISDIR for a directory. */
int cache_draft_unlink(struct cache_drafts *d, const char *path, const char *name);

struct cache_draft_entry {
	char *name;  /* owned */
	mode_t type; /* S_IFLNK, S_IFDIR or S_IFREG */
};
struct cache_draft_listing {
	struct cache_draft_entry *v; /* owned array, sorted by name (strcmp) */
	size_t n;
};
void cache_draft_listing_release(struct cache_draft_listing *l);

/* The entries of draft directory @path, sorted by name, including
 * .mediatype and .annotations when present but never .last-commit; or of
 * @path's ".annotations" subdirectory when @path ends in "/.annotations".
 * Entries that are not what their names promise (a file among the links,
 * a symlink named .mediatype, other dot names) are left out.  *out is new
 * (cache_draft_listing_release); empty when this fails. */
int cache_draft_list(struct cache_drafts *d, const char *path, struct cache_draft_listing *out);

/* Open user file @name (".mediatype" or ".annotations/<key>", key a
 * valid file name) of draft @path with open(2) @flags (O_CREAT makes it,
 * and the .annotations directory, mode 0600); returns an fd (the caller
 * closes it) or -errno.  O_NOFOLLOW and O_CLOEXEC are added: -ELOOP for
 * a symlink under that name, -EISDIR for a directory. */
int cache_draft_file_open(struct cache_drafts *d, const char *path, const char *name, int flags);

/* Make the ".annotations" subdirectory of draft @path.  -EEXIST. */
int cache_draft_mkdir_annotations(struct cache_drafts *d, const char *path);

/* Remove the empty ".annotations" subdirectory of draft @path.
 * -ENOTEMPTY while it holds annotations, -ENOENT when there is none. */
int cache_draft_rmdir_annotations(struct cache_drafts *d, const char *path);

/* Whole content of file @name (as for cache_draft_file_open, or
 * ".last-commit") into a new NUL-terminated buffer, at most @max bytes
 * (-EFBIG beyond).  -ENOENT when absent. */
int cache_draft_read_file(struct cache_drafts *d, const char *path, const char *name, size_t max,
			  char **bytes, size_t *len);
/* Replace file @name of draft @path atomically (temp file, fsync, rename)
 * with @bytes; names as for cache_draft_read_file, the .annotations
 * directory is made when missing.  The directory is not fsynced: after a
 * crash the name holds the old bytes or the new, whole.  -ENOENT when
 * there is no such draft. */
int cache_draft_write_file(struct cache_drafts *d, const char *path, const char *name,
			   const void *bytes, size_t len);

/* Real path of the drafts directory (borrowed), for messages and tests. */
const char *cache_drafts_dir(const struct cache_drafts *d);

#endif
