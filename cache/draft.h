/*
 * The draft store: manifest lists being written, kept on disk under the
 * state directory so they survive unmount, crashes and reboots until they
 * are committed or removed.
 *
 * A draft lives at a mount-relative path ("localhost:5000/onap/py-app/latest")
 * and is a real directory under <state>/drafts/ with the same path: its
 * symlinks are the list's entries, stored verbatim (symlink(2) is atomic,
 * so a crash leaves a link whole or absent).  A directory that holds a
 * subdirectory (other than its .annotations) is no draft but a namespace:
 * the levels of a new repository path ("newns" and "app" above
 * "newns/app/v1"), or of a live one that has a draft below it
 * (cache_draft_kind).  Besides links a draft may hold:
 *   .mediatype           user's choice of list type ("docker" / "oci")
 *   .annotations/<key>   user's OCI index annotations, one file each
 *   .force               user's: commit even though the tag moved
 *   .base                written by regfs: the digest the draft started from
 *   .order               written by regfs: link names in the order added
 *   .last-commit         written by regfs: why the last commit failed
 * Names starting with '.' other than these are refused.
 *
 * Every change that takes more than one step is made whole or not at all:
 * a draft with content is built under a temporary name and renamed into
 * place (cache_draft_create), and a whole draft is renamed away before it
 * is deleted (cache_draft_remove), so a crash never leaves half a draft.
 *
 * Paths are checked here: components must be non-empty, not "." or "..",
 * without '/' or a control character inside, at most 255 bytes; the whole
 * at most 4095.  Anything else is -EINVAL, so no path ever leaves the
 * drafts directory.  Nor may a component start with '.' (so "" and "/abs"
 * are -EINVAL too; only cache_draft_list takes a path ending in
 * "/.annotations").  Links are never followed: a path through one of the
 * user's links, or naming one where a draft is expected, is -ENOTDIR.
 * Every function returns 0 or -errno (errno of the failed syscall) unless
 * it says otherwise.
 * Thread-safe: no state beyond the drafts directory (an fd and its path);
 * the filesystem's own atomicity is relied on (mkdir, symlink, unlink,
 * rename).
 */
#ifndef REGFS_CACHE_DRAFT_H
#define REGFS_CACHE_DRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/digest.h"

struct cache_drafts;

#define CACHE_DRAFT_MEDIATYPE ".mediatype"
#define CACHE_DRAFT_ANNOTATIONS ".annotations"
#define CACHE_DRAFT_LAST_COMMIT ".last-commit"
#define CACHE_DRAFT_FORCE ".force"
#define CACHE_DRAFT_BASE ".base"
#define CACHE_DRAFT_ORDER ".order"

/* Whether @name may name a link, an annotation or a path component here:
 * non-empty, at most 255 bytes, no '/', no control character, no leading
 * '.' (the rule every function below applies). */
bool cache_draft_name_valid(const char *name);

/* Open (creating <state_dir>/drafts, and <state_dir> itself, mode 0700,
 * when missing) the draft store.  *out is new (cache_drafts_close).  A
 * temporary name over an hour old (a change a crash interrupted) is removed
 * then, with any namespace it leaves holding nothing; -EINVAL for a NULL or
 * empty @state_dir. */
int cache_drafts_open(const char *state_dir, struct cache_drafts **out);
void cache_drafts_close(struct cache_drafts *d); /* NULL is a no-op */

/* lstat of the draft directory @path or of its entry @name (NULL: the
 * directory itself; else a link or subdirectory name, one of the dot names
 * above, or ".annotations/<key>").  -ENOENT when there is none. */
int cache_draft_stat(struct cache_drafts *d, const char *path, const char *name, struct stat *st);

enum cache_draft_kind {
	CACHE_DRAFT_NONE,      /* nothing at that path */
	CACHE_DRAFT_LIST,      /* a draft: holds links (or nothing yet) */
	CACHE_DRAFT_NAMESPACE, /* holds a subdirectory: a level of repository paths */
};
/* What the directory at @path is (>= 0), or -errno.  A link or file there,
 * or an invalid @path, is CACHE_DRAFT_NONE. */
int cache_draft_kind(struct cache_drafts *d, const char *path);

/* Make draft directory @path; missing ancestors are made too.  -EEXIST
 * when it exists already. */
int cache_draft_mkdir(struct cache_drafts *d, const char *path);

/* What a new draft holds (all borrowed). */
struct cache_draft_seed {
	const char *const *names;   /* links, in list order */
	const char *const *targets; /* parallel to names */
	size_t n;
	const char *mediatype; /* .mediatype content, or NULL */
	const char *base;      /* .base content, or NULL */
	const char *const *ann_keys; /* .annotations/<key> = value */
	const char *const *ann_values;
	size_t n_ann;
};
/* Make draft @path holding @seed, whole or not at all: built under a
 * temporary name next to it, synced, then renamed into place.  Missing
 * ancestors are made.  -EEXIST when @path exists already (nothing
 * changes), -EINVAL for a bad name or link target in @seed (as for
 * cache_draft_symlink). */
int cache_draft_create(struct cache_drafts *d, const char *path, const struct cache_draft_seed *seed);

/* Remove the empty draft directory @path (the dot files do not count as
 * content and go with it; nor does anything else whose name starts with
 * '.', such as a temporary file left by a crash).  -ENOTEMPTY when it
 * holds anything else (links, subdirectories); then nothing is removed.
 * Then every
 * ancestor left holding nothing at all goes too (a namespace exists while
 * something is below it), deepest first. */
int cache_draft_rmdir(struct cache_drafts *d, const char *path);

/* Remove draft @path with everything in it (after a commit), then every
 * ancestor directory left empty (holding nothing at all), deepest first;
 * the drafts directory itself stays.  The draft is renamed away first, so
 * a crash leaves it whole or gone.  Links inside are unlinked, never
 * followed.  -ENOENT when there is none, -ENOTDIR when @path is a link. */
int cache_draft_remove(struct cache_drafts *d, const char *path);

/* A digest of everything the user put in draft @path: each link's name
 * and target, .order (the list's order), .mediatype, .force and the
 * annotations; not what regfs writes for itself (.base, .last-commit) nor
 * temporary names.  Equal fingerprints mean a commit would push the same
 * list from the same links.  Into @out ("sha256:<hex>").  -EFBIG for a
 * file over DRAFT_ORDER_MAX bytes. */
int cache_draft_fingerprint(struct cache_drafts *d, const char *path,
			    char out[DIGEST_STR_LEN + 1]);

/* cache_draft_remove(), but only while the draft's fingerprint is still
 * @fp: the draft is renamed away first (so no edit can reach it any
 * more), fingerprinted there, and renamed back when it differs.  0 when
 * it was removed, 1 when it changed and is kept, -errno (-EEXIST when it
 * changed but a new draft took its place meanwhile: it is then left
 * under its temporary name, logged). */
int cache_draft_remove_unchanged(struct cache_drafts *d, const char *path, const char *fp);

/* Add the link @name -> @target in draft @path, last in the draft's order
 * (cache_draft_links).  -EEXIST, -ENOENT (no such draft), -EINVAL (bad
 * name: empty, '/', leading '.', a control character, > 255 bytes; or a
 * target that is empty or longer than 4095 bytes). */
int cache_draft_symlink(struct cache_drafts *d, const char *path, const char *name,
			const char *target);
/* The target of link @name of draft @path (*target new).  -EINVAL when
 * @name is not a link, -ENAMETOOLONG for a target over 4095 bytes (not
 * made by regfs). */
int cache_draft_readlink(struct cache_drafts *d, const char *path, const char *name,
			 char **target);
/* Remove link or file @name of draft @path (also the dot files above and
 * ".annotations/<key>").  -EISDIR for a directory. */
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
 * .mediatype, .force and .annotations when present but never the files
 * regfs writes (.base, .order, .last-commit); or of
 * @path's ".annotations" subdirectory when @path ends in "/.annotations".
 * Entries that are not what their names promise (a file among the links,
 * a symlink named .mediatype, other dot names) are left out.  *out is new
 * (cache_draft_listing_release); empty when this fails. */
int cache_draft_list(struct cache_drafts *d, const char *path, struct cache_draft_listing *out);

/* The links of draft @path in list order: those named in .order first,
 * as ordered there, then any others sorted by name.  *out is new (empty
 * when this fails). */
int cache_draft_links(struct cache_drafts *d, const char *path, struct cache_draft_listing *out);

/* Open user file @name (".mediatype", ".force" or ".annotations/<key>",
 * key a valid file name) of draft @path with open(2) @flags (O_CREAT makes
 * it, mode 0600, and the .annotations directory when missing); returns an
 * fd (the caller closes it) or -errno.  O_NOFOLLOW and O_CLOEXEC are added:
 * -ELOOP for a symlink under that name, -EISDIR for a directory, -EINVAL
 * for anything else that is not a regular file. */
int cache_draft_file_open(struct cache_drafts *d, const char *path, const char *name, int flags);

/* Make the ".annotations" subdirectory of draft @path.  -EEXIST. */
int cache_draft_mkdir_annotations(struct cache_drafts *d, const char *path);

/* Remove the empty ".annotations" subdirectory of draft @path.
 * -ENOTEMPTY while it holds annotations, -ENOENT when there is none. */
int cache_draft_rmdir_annotations(struct cache_drafts *d, const char *path);

/* Whole content of file @name (as for cache_draft_file_open, or one of
 * the files regfs writes) into a new NUL-terminated buffer, at most @max bytes
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

#endif
