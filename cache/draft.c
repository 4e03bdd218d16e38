/*
 * The draft store on disk; draft.h has the contract.
 *
 * Layout: <state>/drafts/<mount-relative path>/ is a draft directory; in it
 * the user's links are real symlinks and the dot files of draft.h hold the
 * list's settings; a directory holding a subdirectory is a namespace.
 * Temporary files and directories (cache_draft_write_file, _create and
 * _remove) are ".tmp-<random>" next to their target; being dot names they
 * are never listed, never count as content, and a crash that leaves one
 * behind leaves nothing half-made under a real name.
 *
 * Everything is reached from one O_DIRECTORY fd of the drafts directory,
 * one component at a time with openat(O_NOFOLLOW | O_DIRECTORY), and every
 * final name is used with an *at() call that does not follow a symlink
 * (fstatat(AT_SYMLINK_NOFOLLOW), open(O_NOFOLLOW), unlinkat, symlinkat,
 * renameat).  The user's links are real symlinks and may point anywhere
 * ("/etc", "../../.."), so a path through one must stop at it: openat()
 * then fails with ELOOP, reported as -ENOTDIR ("not a directory").  Names
 * are checked before any syscall, so ".." never reaches the filesystem.
 *
 * There are no locks: each call works on its own fds and relies on the
 * atomicity of mkdir, symlink, unlink, rename and rmdir.  The one race
 * handled explicitly is cache_draft_mkdir() against the ancestor pruning
 * of cache_draft_remove(): a directory just made may be pruned before the
 * next level is made in it, and the walk is then retried.
 */
#include "cache/draft.h"
#include "common/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/disk.h"
#include "cache/tmp.h"
#include "common/buf.h"
#include "common/log.h"

#define NAME_MAX_LEN 255  /* bytes in one component or name */
#define PATH_MAX_LEN 4095 /* bytes in a draft path or link target */
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define TMP_PREFIX ".tmp-"
#define MKDIR_TRIES 64 /* walks retried when a concurrent remove pruned a level */

struct cache_drafts {
	char *dir; /* real path of <state>/drafts, for messages */
	int dfd;   /* <state>/drafts; everything is opened relative to it */
};

/* What a name given to an entry function may be; bits, so a function can
 * say which it accepts. */
enum name_kind {
	NAME_BAD = 0,
	NAME_LINK = 1 << 0,	   /* a link or subdirectory: no leading '.' */
	NAME_MEDIATYPE = 1 << 1,   /* .mediatype */
	NAME_ANNOTATIONS = 1 << 2, /* .annotations (the directory) */
	NAME_ANNOTATION = 1 << 3,  /* .annotations/<key> */
	NAME_LAST_COMMIT = 1 << 4, /* .last-commit */
	NAME_FORCE = 1 << 5,	   /* .force */
	NAME_BASE = 1 << 6,	   /* .base */
	NAME_ORDER = 1 << 7,	   /* .order */
};

#define NAME_USER_FILE (NAME_MEDIATYPE | NAME_FORCE | NAME_ANNOTATION)
#define NAME_ANY_FILE (NAME_USER_FILE | NAME_LAST_COMMIT | NAME_BASE | NAME_ORDER)

/* A component or entry name of @len bytes: non-empty, at most 255 bytes,
 * no '/', no control character (so .order can hold one per line and no
 * message shows a raw one), and no leading '.' (which also keeps out "."
 * and ".."). */
static bool name_plain(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

bool cache_draft_name_valid(const char *name)
{
	return name && name_plain(name, strnlen(name, NAME_MAX_LEN + 1));
}

/* The dot names a draft may hold, by kind (".annotations/<key>" aside). */
static const struct {
	const char *name;
	enum name_kind kind;
} dot_names[] = {
    {CACHE_DRAFT_MEDIATYPE, NAME_MEDIATYPE},
    {CACHE_DRAFT_ANNOTATIONS, NAME_ANNOTATIONS},
    {CACHE_DRAFT_LAST_COMMIT, NAME_LAST_COMMIT},
    {CACHE_DRAFT_FORCE, NAME_FORCE},
    {CACHE_DRAFT_BASE, NAME_BASE},
    {CACHE_DRAFT_ORDER, NAME_ORDER},
};

static enum name_kind name_kind(const char *name)
{
	static const char ann[] = CACHE_DRAFT_ANNOTATIONS "/";
	size_t len;

	if (!name)
		return NAME_BAD;
	len = strnlen(name, PATH_MAX_LEN + 1);
	if (name_plain(name, len))
		return NAME_LINK;
	for (size_t i = 0; i < sizeof(dot_names) / sizeof(dot_names[0]); i++)
		if (strcmp(name, dot_names[i].name) == 0)
			return dot_names[i].kind;
	if (len > sizeof(ann) - 1 && strncmp(name, ann, sizeof(ann) - 1) == 0 &&
	    name_plain(name + sizeof(ann) - 1, len - (sizeof(ann) - 1)))
		return NAME_ANNOTATION;
	return NAME_BAD;
}

/*
 * Check a draft path: non-empty, at most 4095 bytes, no leading or trailing
 * '/', every component a plain name.  With @allow_ann the last component
 * may be ".annotations" when there is a draft before it.
 */
static int path_check(const char *path, bool allow_ann)
{
	size_t len, i = 0;

	if (!path)
		return -EINVAL;
	len = strnlen(path, PATH_MAX_LEN + 1);
	if (len == 0 || len > PATH_MAX_LEN)
		return -EINVAL;
	for (;;) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - path) : len;

		if (!name_plain(path + i, end - i)) {
			if (slash || i == 0 || !allow_ann ||
			    strcmp(path + i, CACHE_DRAFT_ANNOTATIONS) != 0)
				return -EINVAL;
		}
		if (!slash)
			return 0;
		i = end + 1;
	}
}

/* The last component of a checked @path, and the length of what is before
 * it (0 for a single component). */
static const char *path_leaf(const char *path, size_t *parent_len)
{
	const char *slash = strrchr(path, '/');

	*parent_len = slash ? (size_t)(slash - path) : 0;
	return slash ? slash + 1 : path;
}

static int open_errno(void)
{
	/* O_NOFOLLOW met a symlink: for a path that is "not a directory". */
	return errno == ELOOP ? -ENOTDIR : -errno;
}

/* Open directory @name of directory @fd, never through a symlink; with
 * @create, make it (mode 0700) when missing.  New fd or -errno: -ENOTDIR
 * for a link or file under that name. */
static int subdir_open(int fd, const char *name, bool create)
{
	int sfd = openat(fd, name, DIR_FLAGS);

	if (sfd < 0 && errno == ENOENT && create) {
		if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
			return -errno;
		sfd = openat(fd, name, DIR_FLAGS);
	}
	return sfd < 0 ? open_errno() : sfd;
}

/*
 * Open the directory at the first @len bytes of the checked @path (0: the
 * drafts directory itself), never following a symlink.  With @create,
 * missing directories are made (mode 0700).  Returns a new fd (the caller
 * closes it) or -errno: -ENOENT, -ENOTDIR for a link or file on the way.
 */
static int dir_walk(struct cache_drafts *d, const char *path, size_t len, bool create)
{
	char comp[NAME_MAX_LEN + 1];
	size_t i = 0;
	int fd, ret;

	/* A new open file description, not a dup: a caller may readdir it. */
	fd = openat(d->dfd, ".", DIR_FLAGS);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	while (i < len) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - path) : len;
		int nfd;

		if (end - i > NAME_MAX_LEN)
			BUG("unchecked draft path");
		memcpy(comp, path + i, end - i);
		comp[end - i] = '\0';
		nfd = subdir_open(fd, comp, create);
		if (nfd < 0) {
			ret = nfd;
			goto out;
		}
		close(fd);
		fd = nfd;
		i = end + 1;
	}
	ret = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Open the draft directory @path (checked here).  New fd or -errno. */
static int draft_open(struct cache_drafts *d, const char *path)
{
	int ret = path_check(path, false);

	if (ret < 0)
		return ret;
	return dir_walk(d, path, strlen(path), false);
}

/*
 * Check @path and open the directory that holds its last component, *leaf
 * (borrowed from @path); with @create, missing ancestors are made.  New fd
 * or -errno.
 */
static int parent_open(struct cache_drafts *d, const char *path, bool create, const char **leaf)
{
	size_t plen;
	int ret;

	*leaf = NULL;
	ret = path_check(path, false);
	if (ret < 0)
		return ret;
	*leaf = path_leaf(path, &plen);
	return dir_walk(d, path, plen, create);
}

/*
 * Open the directory that holds entry @name of draft @path: the draft
 * itself, or its .annotations directory for ".annotations/<key>" (made
 * first when @create_ann).  @allowed is the name kinds the caller accepts;
 * any other name is -EINVAL.  *leaf is the name within that directory
 * (borrowed from @name).  New fd or -errno.
 */
static int entry_dir(struct cache_drafts *d, const char *path, const char *name, unsigned allowed,
		     bool create_ann, const char **leaf)
{
	enum name_kind kind = name_kind(name);
	int fd, afd;

	*leaf = NULL;
	if (!(kind & allowed))
		return -EINVAL;
	fd = draft_open(d, path);
	if (fd < 0 || kind != NAME_ANNOTATION) {
		*leaf = name;
		return fd;
	}
	afd = subdir_open(fd, CACHE_DRAFT_ANNOTATIONS, create_ann);
	if (afd >= 0)
		*leaf = name + sizeof(CACHE_DRAFT_ANNOTATIONS);
	close(fd);
	return afd;
}

/* Next entry of @dir other than "." and "..": 1, 0 at the end, -errno. */
static int dir_next(DIR *dir, struct dirent **de)
{
	for (;;) {
		errno = 0;
		*de = readdir(dir);
		if (!*de)
			return errno ? -errno : 0;
		if (strcmp((*de)->d_name, ".") != 0 && strcmp((*de)->d_name, "..") != 0)
			return 1;
	}
}

/* The file type (S_IFMT bits) of entry @de of directory @fd, as lstat
 * sees it; 0 when it has gone meanwhile. */
static mode_t entry_type(int fd, const struct dirent *de)
{
	struct stat st;

	switch (de->d_type) {
	case DT_LNK:
		return S_IFLNK;
	case DT_DIR:
		return S_IFDIR;
	case DT_REG:
		return S_IFREG;
	case DT_UNKNOWN:
		break;
	default:
		return S_IFMT & (mode_t)DTTOIF(de->d_type);
	}
	if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return st.st_mode & S_IFMT;
}

/* fdopendir() that closes @fd when it fails.  NULL with errno set. */
static DIR *dir_adopt(int fd)
{
	DIR *dir = fdopendir(fd);

	if (!dir) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return dir;
}

/* Directory @name of @parent opened for reading entries (never through a
 * symlink): *dir and its fd *fd.  0 or -errno. */
static int dir_open_at(int parent, const char *name, DIR **dir, int *fd)
{
	*dir = NULL;
	*fd = subdir_open(parent, name, false);
	if (*fd < 0)
		return *fd;
	*dir = dir_adopt(*fd);
	return *dir ? 0 : -errno;
}

static int rm_tree_at(int parent, const char *name);

/* Remove entry @de of directory @fd: a directory with all below it, else
 * the name (a symlink is unlinked, never followed).  0 or -errno. */
static int remove_entry_at(int fd, const struct dirent *de)
{
	if (entry_type(fd, de) == S_IFDIR)
		return rm_tree_at(fd, de->d_name);
	return unlinkat(fd, de->d_name, 0) < 0 ? -errno : 0;
}

/* Remove what is left to read of @dir (whose fd is @fd) as
 * remove_entry_at() does; with @dot_only, only names starting with '.'.
 * Entries that vanish meanwhile are fine.  0 or -errno. */
static int remove_entries(DIR *dir, int fd, bool dot_only)
{
	struct dirent *de;
	int ret;

	while ((ret = dir_next(dir, &de)) > 0) {
		if (dot_only && de->d_name[0] != '.')
			continue;
		ret = remove_entry_at(fd, de);
		if (ret < 0 && ret != -ENOENT)
			return ret;
	}
	return ret;
}

/*
 * Remove directory @name of @parent with everything below it.  Symlinks
 * are unlinked, never followed.  Holds one fd per level: depth is bounded
 * by the 4095-byte paths the drafts are made with.  Entries that vanish
 * meanwhile are fine.
 */
static int rm_tree_at(int parent, const char *name)
{
	DIR *dir;
	int fd, ret;

	ret = dir_open_at(parent, name, &dir, &fd);
	if (ret < 0)
		return ret;
	ret = remove_entries(dir, fd, false);
	closedir(dir);
	if (ret < 0)
		return ret;
	return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

#define TMP_LEN (sizeof(TMP_PREFIX) + CACHE_TMP_RANDOM_LEN)

/* Create a new temporary directory in directory @fd and open it; its name
 * goes to @tmp.  New fd or -errno. */
static int tmp_mkdir(int fd, char tmp[static TMP_LEN])
{
	for (int tries = 0; tries < 100; tries++) {
		int tfd;

		cache_tmp_name(tmp, TMP_LEN, TMP_PREFIX, tries);
		if (mkdirat(fd, tmp, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		tfd = openat(fd, tmp, DIR_FLAGS);
		if (tfd < 0) {
			tfd = -errno;
			unlinkat(fd, tmp, AT_REMOVEDIR);
		}
		return tfd;
	}
	return -EEXIST;
}

/*
 * Rename @from to @to in directory @dfd unless @to exists (-EEXIST).  A
 * filesystem without RENAME_NOREPLACE gets a look first and a plain
 * rename: a race with another mount making @to at that very moment could
 * then replace an empty directory, never one with content (ENOTEMPTY).
 */
static int rename_noreplace(int dfd, const char *from, const char *to)
{
	struct stat st;

	if (renameat2(dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno == ENOTEMPTY ? -EEXIST : -errno;
	if (fstatat(dfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (renameat(dfd, from, dfd, to) == 0)
		return 0;
	return errno == ENOTEMPTY ? -EEXIST : -errno;
}

/* Replace file @leaf of directory @dfd with @bytes: a temporary file,
 * fsync, rename.  0 or -errno. */
static int replace_file_at(int dfd, const char *leaf, const void *bytes, size_t len)
{
	char tmp[TMP_LEN] = "";
	int fd, ret;

	fd = cache_tmp_create(dfd, TMP_PREFIX, tmp, TMP_LEN, O_WRONLY);
	if (fd < 0)
		return fd;
	ret = cache_write_all(fd, bytes, len);
	/* Without fsync a crash after the rename could leave an empty file
	 * under the name (ext4 delalloc).  The directory is not synced: like
	 * a symlink, the new file is whole or the old one stays. */
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	/* renameat() replaces the name itself, even a symlink or a file
	 * someone holds open; nothing is written through it. */
	if (ret == 0 && renameat(dfd, tmp, dfd, leaf) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dfd, tmp, 0);
	return ret;
}

#define TMP_STALE_SECONDS 3600 /* a temporary name older than this was left by a crash */
#define SWEEP_DEPTH 64

/* Remove temporary names that a crash left in directory @fd and below:
 * only old ones, since another mount of the same state directory may be
 * using a new one right now.  A namespace left holding nothing goes too
 * (it held only what the crash interrupted).  Whether anything went. */
static bool sweep_at(int fd, int depth, time_t now)
{
	struct dirent *de;
	bool swept = false;
	DIR *dir;
	int dfd;

	dfd = openat(fd, ".", DIR_FLAGS);
	if (dfd < 0)
		return false;
	dir = dir_adopt(dfd);
	if (!dir)
		return false;
	while (dir_next(dir, &de) > 0) {
		struct stat st;

		if (strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0) {
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    now - st.st_mtime > TMP_STALE_SECONDS && remove_entry_at(dfd, de) == 0) {
				log_info("removed '%s', left in the drafts by an interrupted change",
					 de->d_name);
				swept = true;
			}
		} else if (de->d_name[0] != '.' && depth < SWEEP_DEPTH &&
			   entry_type(dfd, de) == S_IFDIR) {
			int sub = openat(dfd, de->d_name, DIR_FLAGS);
			bool gone = false;

			if (sub >= 0) {
				gone = sweep_at(sub, depth + 1, now);
				close(sub);
			}
			/* fails, as it should, unless it is empty now */
			if (gone && unlinkat(dfd, de->d_name, AT_REMOVEDIR) == 0)
				swept = true;
		}
	}
	closedir(dir);
	return swept;
}

int cache_drafts_open(const char *state_dir, struct cache_drafts **out)
{
	struct cache_drafts *d = NULL;
	char *path = NULL;
	int ret;

	*out = NULL;
	if (!state_dir || !*state_dir)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->dfd = -1;
	if (asprintf(&path, "%s/drafts", state_dir) < 0) {
		path = NULL;
		ret = -ENOMEM;
		goto out;
	}
	d->dfd = cache_dir_make_open(path, 0); /* the state directory may be new too */
	if (d->dfd < 0) {
		ret = d->dfd;
		goto out;
	}
	d->dir = realpath(path, NULL);
	if (!d->dir) {
		ret = -errno;
		log_err("cannot resolve '%s': %s", path, strerror(errno));
		goto out;
	}
	sweep_at(d->dfd, 0, time(NULL));
	*out = d;
	d = NULL;
	ret = 0;
out:
	free(path);
	cache_drafts_close(d);
	return ret;
}

void cache_drafts_close(struct cache_drafts *d)
{
	if (!d)
		return;
	if (d->dfd >= 0)
		close(d->dfd);
	free(d->dir);
	free(d);
}

int cache_draft_stat(struct cache_drafts *d, const char *path, const char *name, struct stat *st)
{
	const char *leaf;
	int fd, ret;

	memset(st, 0, sizeof(*st));
	if (name)
		fd = entry_dir(d, path, name, NAME_LINK | NAME_ANNOTATIONS | NAME_ANY_FILE, false,
			       &leaf);
	else
		fd = parent_open(d, path, false, &leaf);
	if (fd < 0)
		return fd;
	ret = fstatat(fd, leaf, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* One try of cache_draft_mkdir(). */
static int draft_mkdir_once(struct cache_drafts *d, const char *path)
{
	const char *leaf;
	int fd, ret;

	fd = parent_open(d, path, true, &leaf);
	if (fd < 0)
		return fd;
	ret = mkdirat(fd, leaf, 0700) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

int cache_draft_mkdir(struct cache_drafts *d, const char *path)
{
	int ret = path_check(path, false);

	if (ret < 0)
		return ret;
	/* -ENOENT can only mean that a concurrent cache_draft_remove() pruned
	 * an ancestor between our making it and making the next level. */
	for (int i = 0; i < MKDIR_TRIES; i++) {
		ret = draft_mkdir_once(d, path);
		if (ret != -ENOENT)
			break;
	}
	return ret;
}

static void prune_ancestors(struct cache_drafts *d, const char *path);

int cache_draft_rmdir(struct cache_drafts *d, const char *path)
{
	struct dirent *de;
	DIR *dir = NULL;
	const char *leaf;
	int pfd, fd, ret;

	pfd = parent_open(d, path, false, &leaf);
	if (pfd < 0)
		return pfd;
	ret = dir_open_at(pfd, leaf, &dir, &fd);
	if (ret < 0)
		goto out;
	/* Look at everything before removing anything, so a draft that is
	 * not empty keeps its settings. */
	while ((ret = dir_next(dir, &de)) > 0) {
		if (de->d_name[0] != '.') {
			ret = -ENOTEMPTY;
			goto out;
		}
	}
	if (ret < 0)
		goto out;
	/* Only dot names are left: our files, .annotations/ and temporary
	 * files; none of them is content.  A link added meanwhile makes the
	 * final rmdir fail, so no link is ever lost. */
	rewinddir(dir);
	ret = remove_entries(dir, fd, true);
	if (ret < 0)
		goto out;
	ret = unlinkat(pfd, leaf, AT_REMOVEDIR) < 0 ? -errno : 0;
out:
	if (dir)
		closedir(dir);
	if (pfd >= 0)
		close(pfd);
	if (ret == 0)
		prune_ancestors(d, path);
	return ret;
}

/* Remove the ancestors of checked @path that hold nothing at all, deepest
 * first, stopping at the first that holds something.  The drafts
 * directory itself stays. */
static void prune_ancestors(struct cache_drafts *d, const char *path)
{
	char name[NAME_MAX_LEN + 1];
	size_t len;

	path_leaf(path, &len);
	while (len > 0) {
		const char *slash = memrchr(path, '/', len);
		size_t start = slash ? (size_t)(slash - path) + 1 : 0;
		int fd;

		memcpy(name, path + start, len - start);
		name[len - start] = '\0';
		fd = dir_walk(d, path, start ? start - 1 : 0, false);
		if (fd < 0)
			return;
		if (unlinkat(fd, name, AT_REMOVEDIR) < 0) {
			if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
				log_debug("cannot prune draft directory '%.*s': %s", (int)len, path,
					  strerror(errno));
			close(fd);
			return;
		}
		close(fd);
		len = start ? start - 1 : 0;
	}
}


/* The start of a removal: draft directory @leaf of parent @pfd renamed to
 * a new temp name (into @tmp, TMP_LEN bytes).  0, -ENOTDIR for what is
 * no directory (a link in a draft is not a draft), or -errno. */
static int removal_hide(int pfd, const char *leaf, char *tmp)
{
	struct stat st;
	int ret = -EEXIST;

	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	for (int tries = 0; tries < 100 && ret == -EEXIST; tries++) {
		cache_tmp_name(tmp, TMP_LEN, TMP_PREFIX, tries);
		ret = rename_noreplace(pfd, leaf, tmp);
	}
	return ret;
}

/* The end of a removal: the draft @path, renamed to @tmp in its parent
 * @pfd (closed here), goes from the disk, and the directories above it
 * that held nothing else. */
static void removal_finish(struct cache_drafts *d, int pfd, const char *path, const char *leaf,
			   const char *tmp)
{
	int ret = rm_tree_at(pfd, tmp);

	if (ret < 0)
		log_warn("draft '%s' is gone, but its files stay in '%s/%.*s%s': %s", path, d->dir,
			 (int)(leaf - path), path, tmp, strerror(-ret));
	close(pfd);
	prune_ancestors(d, path);
}

int cache_draft_remove(struct cache_drafts *d, const char *path)
{
	char tmp[TMP_LEN];
	const char *leaf;
	int pfd, ret;

	pfd = parent_open(d, path, false, &leaf);
	if (pfd < 0)
		return pfd;
	/* Out of sight first, in one step: a crash half-way through the
	 * deletion below must not leave a draft with some of its links. */
	ret = removal_hide(pfd, leaf, tmp);
	if (ret < 0)
		goto out;
	removal_finish(d, pfd, path, leaf, tmp);
	pfd = -1;
	ret = 0;
out:
	if (pfd >= 0)
		close(pfd);
	return ret;
}


/* --- fingerprints -------------------------------------------------------- */

static int file_open_at(int fd, const char *leaf, int flags);

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory @fd that a fingerprint covers, sorted (*names
 * new, each name too).  0 or -errno. */
static int fingerprint_names(int fd, char ***names, size_t *n)
{
	struct dirent *de;
	size_t cap = 0;
	char **v = NULL;
	DIR *dir;
	int dfd, ret;

	*names = NULL;
	*n = 0;
	dfd = dup(fd);
	if (dfd < 0)
		return -errno;
	dir = dir_adopt(dfd);
	if (!dir)
		return -errno;
	while ((ret = dir_next(dir, &de)) > 0) {
		enum name_kind kind = name_kind(de->d_name);

		/* regfs' own files and temporary names say nothing of the user's */
		if (kind == NAME_BAD || kind == NAME_BASE || kind == NAME_LAST_COMMIT)
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[*n] = strdup(de->d_name);
		if (!v[*n]) {
			ret = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(dir);
	if (ret < 0) {
		while (*n > 0)
			free(v[--*n]);
		free(v);
		return ret;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	*names = v;
	return 0;
}

/* Feed directory @fd's entries (names, types, link targets, file content;
 * .annotations below it when @depth allows) into @c.  0 or -errno. */
static int fingerprint_at(int fd, struct digest_ctx *c, int depth)
{
	struct buf b = BUF_INIT(DRAFT_ORDER_MAX);
	char **names = NULL, target[PATH_MAX_LEN + 2];
	size_t n = 0;
	int ret;

	ret = fingerprint_names(fd, &names, &n);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		struct stat st;
		ssize_t len;
		int sub;

		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = errno == ENOENT ? 0 : -errno;
			continue;
		}
		digest_ctx_update(c, names[i], strlen(names[i]) + 1);
		switch (st.st_mode & S_IFMT) {
		case S_IFLNK:
			len = readlinkat(fd, names[i], target, sizeof(target) - 1);
			if (len < 0) {
				ret = -errno;
				break;
			}
			digest_ctx_update(c, "L", 1);
			digest_ctx_update(c, target, (size_t)len);
			digest_ctx_update(c, "", 1);
			break;
		case S_IFREG:
			sub = file_open_at(fd, names[i], O_RDONLY | O_NONBLOCK);
			if (sub < 0) {
				ret = sub;
				break;
			}
			b.len = 0;
			ret = buf_read_fd(&b, sub);
			close(sub);
			if (ret == -E2BIG)
				ret = -EFBIG;
			if (ret < 0)
				break;
			digest_ctx_update(c, "F", 1);
			digest_ctx_update(c, &b.len, sizeof(b.len));
			digest_ctx_update(c, b.data ? b.data : "", b.len);
			break;
		case S_IFDIR:
			digest_ctx_update(c, "D", 1);
			if (depth <= 0)
				break;
			sub = subdir_open(fd, names[i], false);
			if (sub < 0) {
				ret = sub;
				break;
			}
			ret = fingerprint_at(sub, c, depth - 1);
			close(sub);
			digest_ctx_update(c, "E", 1);
			break;
		default:
			digest_ctx_update(c, "?", 1);
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	buf_release(&b, 0);
	return ret;
}

/* The fingerprint of draft directory @fd into @out.  0 or -errno. */
static int fingerprint_fd(int fd, char out[DIGEST_STR_LEN + 1])
{
	struct digest_ctx c;
	int ret;

	if (digest_ctx_init(&c) < 0)
		return -ENOMEM;
	ret = fingerprint_at(fd, &c, 1); /* the draft and its .annotations */
	digest_ctx_final(&c, out);
	digest_ctx_release(&c);
	return ret;
}

int cache_draft_fingerprint(struct cache_drafts *d, const char *path,
			    char out[DIGEST_STR_LEN + 1])
{
	int fd = draft_open(d, path), ret;

	out[0] = '\0';
	if (fd < 0)
		return fd;
	ret = fingerprint_fd(fd, out);
	close(fd);
	return ret;
}

int cache_draft_remove_unchanged(struct cache_drafts *d, const char *path, const char *fp)
{
	char tmp[TMP_LEN], now[DIGEST_STR_LEN + 1];
	const char *leaf;
	int pfd, fd, ret;

	pfd = parent_open(d, path, false, &leaf);
	if (pfd < 0)
		return pfd;
	/* out of reach first: an edit that comes later finds no draft (and
	 * says so) rather than one about to be deleted */
	ret = removal_hide(pfd, leaf, tmp);
	if (ret < 0)
		goto out;
	fd = subdir_open(pfd, tmp, false);
	ret = fd < 0 ? fd : fingerprint_fd(fd, now);
	if (fd >= 0)
		close(fd);
	if (ret < 0 || strcmp(now, fp) != 0) {
		/* changed since @fp was taken (or unreadable: keep it, to be safe) */
		int back = rename_noreplace(pfd, tmp, leaf);

		if (back < 0) {
			log_warn("draft '%s' changed while it was committed, but a new draft "
				 "took its place: the changed one is in '%s/%.*s%s': %s", path,
				 d->dir, (int)(leaf - path), path, tmp, strerror(-back));
			ret = back;
			goto out;
		}
		ret = 1;
		goto out;
	}
	removal_finish(d, pfd, path, leaf, tmp);
	pfd = -1;
	ret = 0;
out:
	if (pfd >= 0)
		close(pfd);
	return ret;
}


/* The content of .order of draft directory @fd (new, NUL-terminated), or
 * NULL when there is none or it cannot be read. */
static char *order_read(int fd, size_t *len)
{
	struct buf b = BUF_INIT(DRAFT_ORDER_MAX);
	char *out = NULL;
	int ofd;

	*len = 0;
	ofd = openat(fd, CACHE_DRAFT_ORDER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (ofd < 0)
		return NULL;
	if (buf_read_fd(&b, ofd) == 0)
		out = buf_detach(&b, len);
	buf_release(&b, 0);
	close(ofd);
	return out;
}

/* Put @name last in .order of draft directory @fd (dropping an earlier
 * mention: a link removed and made again goes last).  The order is a
 * preference: when it cannot be written the link stays, ordered by name. */
static void order_append(int fd, const char *name)
{
	struct buf b = BUF_INIT(DRAFT_ORDER_MAX);
	size_t len, nlen = strlen(name);
	char *old = order_read(fd, &len), *p, *end;
	int ret = 0;

	for (p = old, end = old ? old + len : NULL; p && p < end && ret == 0;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l && !(l == nlen && memcmp(p, name, l) == 0)) {
			ret = buf_append(&b, p, l);
			if (ret == 0)
				ret = buf_append(&b, "\n", 1);
		}
		p += l + 1;
	}
	if (ret == 0)
		ret = buf_append(&b, name, nlen);
	if (ret == 0)
		ret = buf_append(&b, "\n", 1);
	if (ret == 0)
		ret = replace_file_at(fd, CACHE_DRAFT_ORDER, b.data, b.len);
	if (ret < 0)
		log_debug("cannot record the order of link '%s': %s", name, strerror(-ret));
	buf_release(&b, 0);
	free(old);
}

int cache_draft_symlink(struct cache_drafts *d, const char *path, const char *name,
			const char *target)
{
	const char *leaf;
	size_t tlen;
	int fd, ret;

	if (!target)
		return -EINVAL;
	tlen = strnlen(target, PATH_MAX_LEN + 1);
	if (tlen == 0 || tlen > PATH_MAX_LEN)
		return -EINVAL;
	fd = entry_dir(d, path, name, NAME_LINK, false, &leaf);
	if (fd < 0)
		return fd;
	ret = symlinkat(target, fd, leaf) < 0 ? -errno : 0;
	if (ret == 0)
		order_append(fd, leaf);
	close(fd);
	return ret;
}

int cache_draft_readlink(struct cache_drafts *d, const char *path, const char *name, char **target)
{
	char *buf = NULL;
	const char *leaf;
	ssize_t n;
	int fd, ret;

	*target = NULL;
	fd = entry_dir(d, path, name, NAME_LINK, false, &leaf);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	buf = malloc(PATH_MAX_LEN + 2);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	n = readlinkat(fd, leaf, buf, PATH_MAX_LEN + 1);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if (n > PATH_MAX_LEN) { /* not made by us */
		ret = -ENAMETOOLONG;
		goto out;
	}
	buf[n] = '\0';
	*target = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

int cache_draft_unlink(struct cache_drafts *d, const char *path, const char *name)
{
	const char *leaf;
	int fd, ret;

	fd = entry_dir(d, path, name, NAME_LINK | NAME_ANNOTATIONS | NAME_ANY_FILE, false, &leaf);
	if (fd < 0)
		return fd;
	/* Linux gives EISDIR for a directory; POSIX allows EPERM. */
	ret = unlinkat(fd, leaf, 0) < 0 ? -errno : 0;
	if (ret == -EPERM) {
		struct stat st;

		if (fstatat(fd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			ret = -EISDIR;
	}
	close(fd);
	return ret;
}

void cache_draft_listing_release(struct cache_draft_listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append a copy of @name, of @type, to @l, whose array has room for *cap
 * entries (grown as needed).  0 or -ENOMEM. */
static int listing_add(struct cache_draft_listing *l, size_t *cap, const char *name, mode_t type)
{
	if (array_reserve(&l->v, cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->v[l->n].type = type;
	l->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct cache_draft_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Whether entry @name of type @type belongs in a listing of a draft
 * (@ann false) or of its .annotations directory. */
static bool entry_listed(const char *name, mode_t type, bool ann)
{
	enum name_kind kind = name_kind(name);

	if (ann)
		return kind == NAME_LINK && type == S_IFREG;
	switch (kind) {
	case NAME_LINK:
		return type == S_IFLNK || type == S_IFDIR;
	case NAME_MEDIATYPE:
	case NAME_FORCE:
		return type == S_IFREG;
	case NAME_ANNOTATIONS:
		return type == S_IFDIR;
	default: /* .last-commit, temporary files, strangers */
		return false;
	}
}

int cache_draft_list(struct cache_drafts *d, const char *path, struct cache_draft_listing *out)
{
	struct cache_draft_listing l = {0};
	struct dirent *de;
	size_t cap = 0, plen;
	const char *leaf;
	DIR *dir = NULL;
	bool ann;
	int fd, ret;

	out->v = NULL;
	out->n = 0;
	ret = path_check(path, true);
	if (ret < 0)
		goto out;
	leaf = path_leaf(path, &plen);
	ann = strcmp(leaf, CACHE_DRAFT_ANNOTATIONS) == 0;
	fd = dir_walk(d, path, ann ? plen : strlen(path), false);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	if (ann) {
		int afd = subdir_open(fd, CACHE_DRAFT_ANNOTATIONS, false);

		close(fd);
		fd = afd;
		if (fd < 0) {
			ret = fd;
			goto out;
		}
	}
	dir = dir_adopt(fd);
	if (!dir) {
		ret = -errno;
		goto out;
	}
	while ((ret = dir_next(dir, &de)) > 0) {
		mode_t type = entry_type(fd, de);

		if (!entry_listed(de->d_name, type, ann))
			continue;
		ret = listing_add(&l, &cap, de->d_name, type);
		if (ret < 0)
			goto out;
	}
	if (ret < 0)
		goto out;
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	*out = l;
	l.v = NULL;
	l.n = 0;
	ret = 0;
out:
	if (dir)
		closedir(dir);
	cache_draft_listing_release(&l);
	return ret;
}

/* Open file @leaf of directory @fd with @flags, never through a symlink,
 * and only if it is a regular file.  New fd or -errno. */
static int file_open_at(int fd, const char *leaf, int flags)
{
	struct stat st;
	int ffd, ret;

	ffd = openat(fd, leaf, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ffd < 0)
		return -errno;
	if (fstat(ffd, &st) < 0)
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else
		return ffd;
	close(ffd);
	return ret;
}

int cache_draft_file_open(struct cache_drafts *d, const char *path, const char *name, int flags)
{
	const char *leaf;
	int fd, ret;

	fd = entry_dir(d, path, name, NAME_USER_FILE, flags & O_CREAT, &leaf);
	if (fd < 0)
		return fd;
	ret = file_open_at(fd, leaf, flags);
	close(fd);
	return ret;
}

/* Make (@make) or remove the ".annotations" subdirectory of draft @path. */
static int annotations_dir(struct cache_drafts *d, const char *path, bool make)
{
	int fd, ret;

	fd = draft_open(d, path);
	if (fd < 0)
		return fd;
	if (make)
		ret = mkdirat(fd, CACHE_DRAFT_ANNOTATIONS, 0700) < 0 ? -errno : 0;
	else
		ret = unlinkat(fd, CACHE_DRAFT_ANNOTATIONS, AT_REMOVEDIR) < 0 ? -errno : 0;
	close(fd);
	return ret == -EEXIST && !make ? -ENOTEMPTY : ret;
}

int cache_draft_mkdir_annotations(struct cache_drafts *d, const char *path)
{
	return annotations_dir(d, path, true);
}

int cache_draft_rmdir_annotations(struct cache_drafts *d, const char *path)
{
	return annotations_dir(d, path, false);
}

int cache_draft_read_file(struct cache_drafts *d, const char *path, const char *name, size_t max,
			  char **bytes, size_t *len)
{
	struct buf b = BUF_INIT(max);
	const char *leaf;
	int dfd, fd, ret;

	*bytes = NULL;
	*len = 0;
	dfd = entry_dir(d, path, name, NAME_ANY_FILE, false, &leaf);
	if (dfd < 0)
		return dfd;
	fd = file_open_at(dfd, leaf, O_RDONLY);
	close(dfd);
	if (fd < 0)
		return fd;
	ret = buf_read_fd(&b, fd);
	if (ret == -E2BIG)
		ret = -EFBIG;
	if (ret == 0) {
		*bytes = buf_detach(&b, len);
		ret = *bytes ? 0 : -ENOMEM;
	}
	buf_release(&b, 0);
	close(fd);
	return ret;
}

int cache_draft_write_file(struct cache_drafts *d, const char *path, const char *name,
			   const void *bytes, size_t len)
{
	const char *leaf;
	int dfd, ret;

	dfd = entry_dir(d, path, name, NAME_ANY_FILE, true, &leaf);
	if (dfd < 0)
		return dfd;
	ret = replace_file_at(dfd, leaf, bytes, len);
	close(dfd);
	return ret;
}

int cache_draft_kind(struct cache_drafts *d, const char *path)
{
	struct dirent *de;
	DIR *dir;
	int fd, ret, kind = CACHE_DRAFT_LIST;

	fd = draft_open(d, path);
	if (fd == -ENOENT || fd == -ENOTDIR || fd == -EINVAL)
		return CACHE_DRAFT_NONE;
	if (fd < 0)
		return fd;
	dir = dir_adopt(fd);
	if (!dir)
		return -errno;
	/* a temporary directory is a draft being made or removed below: the
	 * directory is a namespace even when a crash left only that */
	while ((ret = dir_next(dir, &de)) > 0) {
		if (strcmp(de->d_name, CACHE_DRAFT_ANNOTATIONS) != 0 &&
		    entry_type(fd, de) == S_IFDIR) {
			kind = CACHE_DRAFT_NAMESPACE;
			break;
		}
	}
	closedir(dir);
	return ret < 0 ? ret : kind;
}

/*
 * A test hook: with REGFS_TEST_CRASH="<where>:<n>" in the environment the
 * process kills itself (SIGKILL, as a crash or an OOM kill would) when it
 * reaches point @where for the @n-th time.  Lets a test stop a multi-step
 * change exactly half-way and check that nothing half-made shows.
 */
static void crash_point(const char *where, size_t n)
{
	const char *spec = getenv("REGFS_TEST_CRASH");
	size_t wl = strlen(where);

	if (spec && strncmp(spec, where, wl) == 0 && spec[wl] == ':' &&
	    strtoul(spec + wl + 1, NULL, 10) == n) {
		log_warn("REGFS_TEST_CRASH: killed at %s:%zu", where, n);
		kill(getpid(), SIGKILL);
	}
}

/* Fill the new draft directory @fd from @seed.  0 or -errno. */
static int seed_fill(int fd, const struct cache_draft_seed *seed)
{
	struct buf order = BUF_INIT(DRAFT_ORDER_MAX);
	int afd, ret = 0;

	for (size_t i = 0; ret == 0 && i < seed->n; i++) {
		ret = symlinkat(seed->targets[i], fd, seed->names[i]) < 0 ? -errno : 0;
		crash_point("draft-seed", i + 1);
		if (ret == 0)
			ret = buf_append(&order, seed->names[i], strlen(seed->names[i]));
		if (ret == 0)
			ret = buf_append(&order, "\n", 1);
	}
	if (ret == 0 && seed->n)
		ret = replace_file_at(fd, CACHE_DRAFT_ORDER, order.data, order.len);
	buf_release(&order, 0);
	if (ret == 0 && seed->mediatype)
		ret = replace_file_at(fd, CACHE_DRAFT_MEDIATYPE, seed->mediatype,
				      strlen(seed->mediatype));
	if (ret == 0 && seed->base)
		ret = replace_file_at(fd, CACHE_DRAFT_BASE, seed->base, strlen(seed->base));
	if (ret < 0 || seed->n_ann == 0)
		return ret;
	afd = subdir_open(fd, CACHE_DRAFT_ANNOTATIONS, true);
	if (afd < 0)
		return afd;
	for (size_t i = 0; ret == 0 && i < seed->n_ann; i++)
		ret = replace_file_at(afd, seed->ann_keys[i], seed->ann_values[i],
				      strlen(seed->ann_values[i]));
	if (ret == 0 && fsync(afd) < 0)
		ret = -errno;
	close(afd);
	return ret;
}

int cache_draft_create(struct cache_drafts *d, const char *path, const struct cache_draft_seed *seed)
{
	char tmp[TMP_LEN] = "";
	const char *leaf;
	struct stat st;
	int pfd = -ENOENT, tfd = -1, ret;

	ret = path_check(path, false);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < seed->n; i++) {
		size_t tlen = strnlen(seed->targets[i], PATH_MAX_LEN + 1);

		if (name_kind(seed->names[i]) != NAME_LINK || tlen == 0 || tlen > PATH_MAX_LEN)
			return -EINVAL;
	}
	for (size_t i = 0; i < seed->n_ann; i++)
		if (name_kind(seed->ann_keys[i]) != NAME_LINK)
			return -EINVAL;
	/* -ENOENT: a concurrent remove pruned a level we had just made */
	for (int i = 0; i < MKDIR_TRIES && pfd == -ENOENT; i++)
		pfd = parent_open(d, path, true, &leaf);
	if (pfd < 0)
		return pfd;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		ret = -EEXIST;
		goto out;
	}
	tfd = tmp_mkdir(pfd, tmp);
	if (tfd < 0) {
		ret = tfd;
		tmp[0] = '\0';
		goto out;
	}
	ret = seed_fill(tfd, seed);
	/* the entries reach the disk before the name does */
	if (ret == 0 && fsync(tfd) < 0)
		ret = -errno;
	if (ret == 0)
		ret = rename_noreplace(pfd, tmp, leaf);
	if (ret == 0)
		tmp[0] = '\0';
out:
	if (tfd >= 0)
		close(tfd);
	if (tmp[0])
		rm_tree_at(pfd, tmp);
	close(pfd);
	return ret;
}

int cache_draft_links(struct cache_drafts *d, const char *path, struct cache_draft_listing *out)
{
	struct cache_draft_listing all = {0};
	char *order = NULL, *p, *end;
	bool *taken = NULL;
	size_t len = 0, cap = 0;
	int fd, ret;

	out->v = NULL;
	out->n = 0;
	ret = cache_draft_list(d, path, &all);
	if (ret < 0)
		return ret;
	fd = draft_open(d, path);
	if (fd >= 0) {
		order = order_read(fd, &len);
		close(fd);
	}
	taken = calloc(all.n ? all.n : 1, sizeof(*taken));
	if (!taken) {
		ret = -ENOMEM;
		goto out;
	}
	/* .order first: the listing is sorted, so each name is one bsearch */
	for (p = order, end = order ? order + len : NULL; p && p < end; p += strlen(p) + 1) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cache_draft_entry key, *e;

		if (nl)
			*nl = '\0';
		key.name = p;
		e = all.n ? bsearch(&key, all.v, all.n, sizeof(*all.v), entry_cmp) : NULL;
		if (!e || e->type != S_IFLNK || taken[e - all.v])
			continue;
		taken[e - all.v] = true;
		ret = listing_add(out, &cap, e->name, S_IFLNK);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < all.n; i++) {
		if (taken[i] || all.v[i].type != S_IFLNK)
			continue;
		ret = listing_add(out, &cap, all.v[i].name, S_IFLNK);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		cache_draft_listing_release(out);
	cache_draft_listing_release(&all);
	free(taken);
	free(order);
	return ret;
}
