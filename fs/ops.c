/*
 * The FUSE low-level operations.  Each one finds its node, calls one helper
 * from tree.c that returns 0 or -errno, and replies exactly once.
 *
 * Kernel caching follows what can change: nodes fixed by a digest on their
 * path (below @sha256:, and layer files, whose names carry their digest)
 * are cached for a day and opened with keep_cache; everything that hangs
 * off a tag or a listing lives for the TTL.  Names inside a tag's directory
 * and inside drafts are not cached at all: a write turns a tag into a
 * draft and a commit turns it back, and the kernel must see that at once.
 *
 * Writes are drafts' (draft.c); everywhere else they answer EROFS.  Only
 * the writing user (the mounting user, or -o uid=) and the write group
 * (-o write_group=) may write at all: may_write() is the first thing every writing operation asks, and
 * the modes tree_stat gives say the same to the kernel (default_permissions).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/ops.h"
#include "registry/names.h"

#define IMMUTABLE_TIMEOUT 86400.0

_Static_assert(NODE_ROOT_INO == FUSE_ROOT_ID, "the root's inode number is the kernel's");

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The node @ino of the mount @req is for (borrowed), or NULL. */
static struct node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return node_get(fs_of(req)->nodes, ino);
}

/* Is @gid the group id of the caller of @req, or one of its supplementary
 * groups (which libfuse reads from /proc)? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t few[32], *groups = few;
	int cap = 32, n;
	bool found = fuse_req_ctx(req)->gid == gid;

	n = found ? 0 : fuse_req_getgroups(req, cap, few);
	if (n > cap) {
		/* more than a few: ask again with room for all */
		groups = calloc((size_t)n, sizeof(*groups));
		cap = groups ? n : 0;
		n = groups ? fuse_req_getgroups(req, cap, groups) : 0;
	}
	for (int i = 0; i < n && i < cap && !found; i++)
		found = groups[i] == gid;
	if (groups != few)
		free(groups);
	return found;
}

/*
 * May the caller of @req write (@op, on @n or in it, for the log)?  The
 * writing user (cfg.uid) may, and with -o write_group= the group's members;
 * nobody else, root included: the kernel lets root past the modes, this does not.
 * Every writing operation asks this first, so a refusal is EACCES
 * wherever it is tried.  0 or -EACCES (logged).
 */
static int may_write(fuse_req_t req, const char *op, const struct node *n)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	char *path;

	if (c->uid == fs->cfg.uid || (fs->cfg.group_writes && caller_in_group(req, fs->cfg.gid)))
		return 0;
	path = n ? tree_path(n) : NULL;
	log_info("refused %s '%s' for uid %u (pid %d): only uid %u%s may write", op,
		 path ? path : "?", (unsigned)c->uid, (int)c->pid, (unsigned)fs->cfg.uid,
		 fs->cfg.group_writes ? " and the write group" : "");
	free(path);
	return -EACCES;
}

static double timeout_for(struct fs *fs, const struct node *n)
{
	if (node_kind_is_draft(n->kind))
		return 0;
	return n->immutable || n->kind == NODE_LAYER ? IMMUTABLE_TIMEOUT : fs->cfg.ttl;
}

/* How long the kernel may keep the name @n in directory @parent. */
static double entry_timeout_for(struct fs *fs, const struct node *parent, const struct node *n)
{
	if (node_names_follow_drafts(parent))
		return 0;
	/* the name -> node mapping changes with the tag even for immutable
	 * layer files, so the entry follows the parent */
	if (parent->immutable || parent->kind == NODE_ROOT)
		return IMMUTABLE_TIMEOUT;
	return n && n->immutable ? IMMUTABLE_TIMEOUT : fs->cfg.ttl;
}

/*
 * An open file: a snapshot of a generated file, or a layer in the store.
 * The kernel may send RELEASE as soon as it has a READ's reply, which can
 * be before fuse_reply_*() returns to us; a read therefore holds its own
 * reference so the bytes outlive the reply.
 */
struct handle {
	char *bytes;   /* owned, or NULL for a layer */
	size_t len;
	int fd;        /* layer fd, a draft's user file, or -1 */
	bool writable; /* fd is a draft's user file open for writing */
	int refs;      /* atomic: the open, plus each read in flight */
};

static void handle_put(struct handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h->bytes);
	free(h);
}

struct dir_handle {
	struct tree_listing list;
};

/* Publish @proto (taken over) and fill @e for a reply about it: one
 * kernel lookup is counted.  0 or -errno (nothing to undo then). */
static int entry_of(struct fs *fs, struct node *parent, struct node *proto,
		    struct fuse_entry_param *e, struct node **out)
{
	struct node *n = node_publish(fs->nodes, proto);
	int ret;

	memset(e, 0, sizeof(*e));
	ret = tree_stat(fs, n, &e->attr);
	if (ret < 0) {
		node_forget(fs->nodes, n, 1);
		return ret;
	}
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = timeout_for(fs, n);
	e->entry_timeout = entry_timeout_for(fs, parent, n);
	*out = n;
	return 0;
}

static void reply_new_entry(fuse_req_t req, struct fs *fs, struct node *parent, struct node *proto)
{
	struct fuse_entry_param e;
	struct node *n = NULL;
	int ret = entry_of(fs, parent, proto, &e, &n);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_entry(req, &e) == -ENOENT)
		node_forget(fs->nodes, n, 1); /* the request was interrupted: undo the lookup */
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node *parent = node_of(req, parent_ino), *proto = NULL;
	struct fuse_entry_param e;
	int ret;

	memset(&e, 0, sizeof(e));
	if (!parent) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = tree_lookup(fs, parent, name, &proto);
	if (ret == -ENOENT) {
		/* a negative entry: the kernel remembers the miss for a while */
		e.ino = 0;
		e.entry_timeout = entry_timeout_for(fs, parent, NULL);
		if (e.entry_timeout == IMMUTABLE_TIMEOUT && !parent->immutable)
			e.entry_timeout = fs->cfg.ttl; /* a registry may appear */
		fuse_reply_entry(req, &e);
		return;
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_new_entry(req, fs, parent, proto);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = node_of(req, ino);

	if (n)
		node_forget(fs_of(req)->nodes, n, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++) {
		struct node *n = node_of(req, forgets[i].ino);

		if (n)
			node_forget(fs_of(req)->nodes, n, forgets[i].nlookup);
	}
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	int ret;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = tree_stat(fs, n, &st);
	if (ret == 0 && h && h->bytes && (n->kind == NODE_FILE || n->kind == NODE_DRAFT_FILE))
		st.st_size = (off_t)h->len; /* an open file keeps its snapshot */
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, timeout_for(fs, n));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct dir_handle *d;
	int ret;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = tree_list(fs, n, &d->list);
	if (ret < 0) {
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = n->immutable;
	fi->keep_cache = n->immutable;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		tree_listing_release(&d->list);
		free(d);
	}
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct node *n = node_of(req, ino);
	char *buf = calloc(1, size);
	size_t used = 0;

	if (!buf || !n) {
		free(buf);
		fuse_reply_err(req, buf ? ESTALE : ENOMEM);
		return;
	}
	/* offsets: 0 ".", 1 "..", 2.. the listing */
	for (off_t i = off; i < (off_t)d->list.n + 2; i++) {
		struct stat st;
		const char *name;
		size_t need;

		memset(&st, 0, sizeof(st));
		if (i == 0) {
			name = ".";
			st.st_ino = n->ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_ino = n->parent ? n->parent->ino : n->ino;
			st.st_mode = S_IFDIR;
		} else {
			const struct tree_entry *te = &d->list.v[i - 2];

			name = te->name;
			st.st_ino = te->ino ? te->ino : node_ino_for(n, name, te->kind);
			st.st_mode = node_kind_type(te->kind);
		}
		need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		tree_listing_release(&d->list);
		free(d);
	}
	fuse_reply_err(req, 0);
}

/* A handle of a draft's file that owns @fd (-1: an empty file, as
 * .commit), set in @fi.  Served with direct I/O: the file is written
 * through us.  NULL on -ENOMEM. */
static struct handle *handle_for_fd(int fd, struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->fd = fd;
	h->writable = fd >= 0;
	h->refs = 1;
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return h;
}

static void reply_open_fd(fuse_req_t req, int fd, struct fuse_file_info *fi)
{
	struct handle *h = handle_for_fd(fd, fi);

	if (!h) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_put(h);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct handle *h;
	int ret = 0;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		/* writes through the handle need no check of their own: like
		 * any file, it was checked when opened */
		ret = may_write(req, "open for writing", n);
		if (ret == 0)
			ret = draft_open_write(fs, n, fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND));
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		reply_open_fd(req, ret, fi);
		return;
	}
	if (n->kind != NODE_FILE && n->kind != NODE_LAYER && n->kind != NODE_DRAFT_FILE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = -1;
	h->refs = 1;
	if (n->kind == NODE_LAYER) {
		ret = tree_layer_open(fs, n);
		if (ret >= 0) {
			h->fd = ret;
			ret = 0;
		}
		fi->keep_cache = 1;
	} else {
		ret = tree_file_content(fs, n, &h->bytes, &h->len);
		/* A file under a tag changes when the tag moves, and the kernel
		 * may still hold the old size for up to the TTL: serve this
		 * open's snapshot past its page cache, which would cut reads at
		 * the old size.  A path fixed by a digest keeps its pages. */
		fi->keep_cache = n->immutable;
		fi->direct_io = !n->immutable;
	}
	if (ret < 0) {
		free(h);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_put(h);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	if (h->fd >= 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	} else if (off < 0 || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		if (size > h->len - (size_t)off)
			size = h->len - (size_t)off;
		fuse_reply_buf(req, h->bytes + off, size);
	}
	handle_put(h);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (h)
		handle_put(h);
	fuse_reply_err(req, 0);
}

static void reply_xattr_value(fuse_req_t req, const char *val, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct node *n = node_of(req, ino);
	char *val = NULL;
	size_t len = 0;
	int ret;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = tree_xattr(fs_of(req), n, name, &val, &len);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_xattr_value(req, val, len, size);
	free(val);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node *n = node_of(req, ino);
	char *names = NULL;
	size_t len = 0;
	int ret;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = tree_xattr_list(fs_of(req), n, &names, &len);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_xattr_value(req, names, len, size);
	free(names);
}

/* df shows the blob cache (fs_statfs): a true size, and not the 0 blocks
 * that make df leave a filesystem out. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int ret = fs_statfs(fs_of(req), &sv);

	(void)ino;
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = node_of(req, ino);
	char *target = NULL;
	int ret;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = draft_readlink(fs_of(req), n, &target);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* --- everything that writes: drafts, else EROFS -------------------------- */

#define TIMES_ONLY                                                                                 \
	(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |                     \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *n = node_of(req, ino);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	int ret = 0;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = may_write(req, "setattr", n);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (h && h->writable)
			ret = attr->st_size > (off_t)DRAFT_USER_FILE_MAX ? -EFBIG
			      : ftruncate(h->fd, attr->st_size) < 0 ? -errno : 0;
		else
			ret = draft_truncate(fs, n, attr->st_size);
	} else if (to_set & ~(TIMES_ONLY | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		ret = -EPERM; /* modes are not kept */
	} else if (((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != fs->cfg.uid) ||
		   ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != fs->cfg.gid)) {
		ret = -EPERM; /* owners neither; chown to the owner (mv does it) is fine */
	}
	/* times are not kept either, but `touch` must work on a draft */
	if (ret == 0 && n->kind < NODE_DRAFT && !tree_is_draft(fs, n))
		ret = -EROFS;
	if (ret == 0)
		ret = tree_stat(fs, n, &st);
	if (ret < 0)
		fuse_reply_err(req, n->kind < NODE_DRAFT && ret == -EPERM ? EROFS : -ret);
	else
		fuse_reply_attr(req, &st, timeout_for(fs, n));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, may_write(req, "mknod in", node_of(req, parent)) < 0 ? EACCES : EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct node *parent = node_of(req, parent_ino), *proto = NULL;
	int ret;

	(void)mode;
	if (!parent) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = may_write(req, "mkdir in", parent);
	if (ret == 0)
		ret = draft_mkdir(fs, parent, name, &proto);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, fs, parent, proto);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct node *parent = node_of(req, parent_ino);
	int ret = parent ? may_write(req, "unlink in", parent) : -ESTALE;

	if (ret == 0)
		ret = draft_unlink(fs_of(req), parent, name);
	fuse_reply_err(req, -ret);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct node *parent = node_of(req, parent_ino);
	int ret = parent ? may_write(req, "rmdir in", parent) : -ESTALE;

	if (ret == 0)
		ret = draft_rmdir(fs_of(req), parent, name);
	fuse_reply_err(req, -ret);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent_ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node *parent = node_of(req, parent_ino), *proto = NULL;
	int ret;

	if (!parent) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = may_write(req, "symlink in", parent);
	if (ret == 0)
		ret = draft_symlink(fs, parent, name, link, &proto);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, fs, parent, proto);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct node *from = node_of(req, parent), *to = node_of(req, newparent);

	(void)name;
	(void)newname;
	(void)flags;
	/* mv inside drafts: EXDEV makes it copy the link and remove the old */
	if (may_write(req, "rename in", from) < 0)
		fuse_reply_err(req, EACCES);
	else if (from && to && (from->kind >= NODE_DRAFT || tree_is_draft(fs, from)) &&
	    (to->kind >= NODE_DRAFT || tree_is_draft(fs, to)))
		fuse_reply_err(req, EXDEV);
	else
		fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newname;
	fuse_reply_err(req, may_write(req, "link in", node_of(req, newparent)) < 0 ? EACCES : EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *parent = node_of(req, parent_ino), *proto = NULL, *n = NULL;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_caller who = {.uid = c->uid, .pid = c->pid};
	struct fuse_entry_param e;
	struct handle *h;
	int ret, fd = -1;

	(void)mode;
	if (!parent) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = may_write(req, "create in", parent);
	if (ret == 0)
		ret = draft_create(fs, parent, name,
				   fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_EXCL), &who, &proto,
				   &fd);
	if (ret == 0)
		ret = entry_of(fs, parent, proto, &e, &n);
	h = ret == 0 ? handle_for_fd(fd, fi) : NULL;
	if (ret == 0 && !h) {
		node_forget(fs->nodes, n, 1);
		ret = -ENOMEM;
	}
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -ret);
		return;
	}
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		node_forget(fs->nodes, n, 1);
		handle_put(h);
	}
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	ssize_t n;

	(void)ino;
	if (!h || !h->writable) {
		/* .commit takes `echo > .commit` too: the create did the work */
		if (h && h->fd < 0 && !h->bytes)
			fuse_reply_write(req, size);
		else
			fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0 || (size_t)off > DRAFT_USER_FILE_MAX || size > DRAFT_USER_FILE_MAX - (size_t)off) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	n = pwrite(h->fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, may_write(req, "setxattr", node_of(req, ino)) < 0 ? EACCES : EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)name;
	fuse_reply_err(req, may_write(req, "removexattr", node_of(req, ino)) < 0 ? EACCES : EROFS);
}

const struct fuse_lowlevel_ops regfs_ops = {
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};
