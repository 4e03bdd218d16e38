/*
 * The FUSE low-level operations.  Each one finds its node, calls one helper
 * from tree.c that returns 0 or -errno, and replies exactly once.
 *
 * Waiting.  A request that needs the network, or another request's
 * download, must not hold one of libfuse's few worker threads: a handful of
 * slow readers would freeze the whole mount.  So every operation that may
 * wait is a struct call, first run on the FUSE thread that received it in
 * a scope where nothing may wait (common/cancel.h): whatever the caches
 * hold answers at once there, which keeps `ls MOUNT/` and cached reads
 * answering whatever else waits.  When something answers CANCEL_WOULD_WAIT
 * the call is copied and run again from the start on a waiter thread (a
 * pool of up to WAITERS_MAX), and the FUSE thread goes back to the kernel;
 * the reply comes later from the waiter (the low-level API allows that).
 * A FUSE interrupt (Ctrl-C, or SIGKILL, of the caller) replies EINTR at
 * once and calls the waiter's work off: its transfers and waits end within
 * CANCEL_POLL_MS, or go on for other readers who still want them.  Of the
 * two, whoever claims the reply first sends it; a body that loses undoes
 * what its reply would have handed over (a lookup count, a handle).
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
 * (-o write_group=) may write at all: may_write() is the first thing every
 * writing operation asks, and the modes tree_stat gives say the same to the
 * kernel (default_permissions).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cancel.h"
#include "common/fdshort.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pool.h"
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


/* --- requests that may wait ---------------------------------------------- */

/* The waiter threads (ops_waiters_start); NULL: calls wait where they came. */
static struct pool *waiters;

struct call;
typedef void (*call_body)(struct call *c);

/*
 * One request that may wait, and what its body needs of it.  Everything
 * the body reads of the request is copied in when it arrives: on a waiter,
 * an interrupt may answer the request (and libfuse free it) at any moment,
 * so a body touches c->req only through a claimed reply (call_reply_*).
 */
struct call {
	fuse_req_t req;
	struct fs *fs;
	call_body body;
	struct fs_caller who;
	int write_ok;              /* may_write's answer, for writing operations */
	fuse_ino_t ino, ino2;
	const char *name, *name2;  /* borrowed on the FUSE thread, owned on a waiter */
	struct fuse_file_info fi;  /* a copy; what the reply hands the kernel */
	bool has_fi;
	struct stat attr;
	int to_set;
	size_t size;
	off_t off;                 /* readdir's offset */
	bool plus;                 /* a READDIRPLUS */
	bool on_waiter; /* runs on a waiter: may wait, replies are claimed */
	bool deferred;  /* met CANCEL_WOULD_WAIT and did not reply */
	bool interrupted; /* atomic: the kernel called the request off */
	int replied;      /* atomic: 1 once the body or the interrupt claimed the reply */
	int refs;         /* atomic, on a waiter: the waiter's, and the interrupt hook's */
	char *owned[2];
	/* on a waiter, the nodes of ino and ino2, held: after an interrupt the
	 * kernel may forget them while the body still runs */
	struct node *held[2];
};

/* Set on a FUSE thread while it registers an interrupt hook: libfuse then
 * runs a hook for an interrupt that already came under the request's lock,
 * where replying (and so freeing the request) is not allowed. */
static __thread bool registering_hook;

static void call_put(struct call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	node_release(c->fs->nodes, c->held[0]);
	node_release(c->fs->nodes, c->held[1]);
	free(c->owned[0]);
	free(c->owned[1]);
	free(c);
}

/* May @c reply now?  On the FUSE thread always; on a waiter only if the
 * interrupt hook did not reply first.  A winner removes the hook (waiting
 * for one that runs now) so the request stays ours until the reply. */
static bool call_claim(struct call *c)
{
	if (!c->on_waiter)
		return true;
	if (__atomic_exchange_n(&c->replied, 1, __ATOMIC_ACQ_REL))
		return false;
	fuse_req_interrupt_func(c->req, NULL, NULL);
	call_put(c); /* the hook's: it will not run again */
	return true;
}

static void call_interrupted(fuse_req_t req, void *data)
{
	struct call *c = data;

	__atomic_store_n(&c->interrupted, true, __ATOMIC_RELEASE);
	if (registering_hook)
		return; /* call_defer answers it */
	if (!__atomic_exchange_n(&c->replied, 1, __ATOMIC_ACQ_REL)) {
		fuse_reply_err(req, EINTR);
		call_put(c); /* the hook's own */
	}
}

static bool call_is_cancelled(void *arg)
{
	const struct call *c = arg;

	return __atomic_load_n(&c->interrupted, __ATOMIC_ACQUIRE);
}

static void call_wait_run(void *arg)
{
	struct call *c = arg;
	struct cancel_scope old;

	old = cancel_scope_set((struct cancel_scope){.check = call_is_cancelled, .arg = c});
	if (!__atomic_load_n(&c->replied, __ATOMIC_ACQUIRE))
		c->body(c);
	cancel_scope_set(old);
	call_put(c); /* the waiter's */
}

/* Copy the string @s into @h's own, NULL stays NULL.  false without memory. */
static bool call_own(struct call *h, int i, const char **s)
{
	if (!*s)
		return true;
	h->owned[i] = strdup(*s);
	*s = h->owned[i];
	return h->owned[i] != NULL;
}

/* @c met a wait on the FUSE thread: run it again on a waiter. */
static void call_defer(const struct call *c)
{
	struct call *h = malloc(sizeof(*h));

	if (h) {
		*h = *c;
		h->owned[0] = h->owned[1] = NULL;
		h->held[0] = h->held[1] = NULL;
	}
	if (!h || !call_own(h, 0, &h->name) || !call_own(h, 1, &h->name2)) {
		if (h)
			free(h->owned[0]);
		free(h);
		fuse_reply_err(c->req, ENOMEM);
		return;
	}
	h->on_waiter = true;
	h->deferred = false;
	h->refs = 2;
	h->held[0] = node_hold(h->fs->nodes, h->ino);
	h->held[1] = h->ino2 ? node_hold(h->fs->nodes, h->ino2) : NULL;
	registering_hook = true;
	fuse_req_interrupt_func(h->req, call_interrupted, h);
	registering_hook = false;
	if (__atomic_load_n(&h->interrupted, __ATOMIC_ACQUIRE)) {
		if (call_claim(h))
			fuse_reply_err(h->req, EINTR);
		call_put(h);
		return;
	}
	if (pool_submit(waiters, call_wait_run, h) < 0) {
		log_err("no thread to wait on: a request fails with EAGAIN");
		if (call_claim(h))
			fuse_reply_err(h->req, EAGAIN);
		call_put(h);
	}
}

/* Run @c: here, from what is at hand, else on a waiter. */
static void call_start(struct call *c)
{
	struct cancel_scope old;

	if (!waiters) {
		c->body(c); /* no waiters (yet): wait right here */
		return;
	}
	old = cancel_scope_set((struct cancel_scope){.no_wait = true});
	c->body(c);
	cancel_scope_set(old);
	if (c->deferred)
		call_defer(c);
}

/* A call for @req about inode @ino, as it came. */
static struct call call_of(fuse_req_t req, fuse_ino_t ino, call_body body)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct call){.req = req, .fs = fs_of(req), .body = body, .ino = ino,
			     .who = {.uid = ctx->uid, .pid = ctx->pid}};
}

static struct node *call_node(const struct call *c, fuse_ino_t ino)
{
	return node_get(c->fs->nodes, ino);
}

/* The reply helpers: 0, or -ENOENT when the reply did not go out (lost to
 * an interrupt, or the kernel gave up on it): the caller undoes then. */
static int call_reply_err(struct call *c, int err)
{
	if (err == CANCEL_WOULD_WAIT) {
		if (!c->on_waiter) {
			c->deferred = true;
			return 0;
		}
		log_err("a request meant to wait was told not to (a bug)");
		err = EIO;
	}
	fd_short_note(err); /* what keeps descriptors idle lets them go (fdshort.h) */
	return call_claim(c) ? fuse_reply_err(c->req, err) : -ENOENT;
}

static int call_reply_entry(struct call *c, const struct fuse_entry_param *e)
{
	return call_claim(c) ? fuse_reply_entry(c->req, e) : -ENOENT;
}

static int call_reply_attr(struct call *c, const struct stat *st, double timeout)
{
	return call_claim(c) ? fuse_reply_attr(c->req, st, timeout) : -ENOENT;
}

static int call_reply_open(struct call *c)
{
	return call_claim(c) ? fuse_reply_open(c->req, &c->fi) : -ENOENT;
}

static int call_reply_create(struct call *c, const struct fuse_entry_param *e)
{
	return call_claim(c) ? fuse_reply_create(c->req, e, &c->fi) : -ENOENT;
}

static int call_reply_readlink(struct call *c, const char *target)
{
	return call_claim(c) ? fuse_reply_readlink(c->req, target) : -ENOENT;
}

static int call_reply_buf(struct call *c, const char *buf, size_t len)
{
	return call_claim(c) ? fuse_reply_buf(c->req, buf, len) : -ENOENT;
}

static int call_reply_xattr(struct call *c, const char *val, size_t len)
{
	if (!call_claim(c))
		return -ENOENT;
	if (c->size == 0)
		return fuse_reply_xattr(c->req, len);
	if (c->size < len)
		return fuse_reply_err(c->req, ERANGE);
	return fuse_reply_buf(c->req, val, len);
}

int ops_waiters_start(void)
{
	return waiters ? 0 : pool_new(WAITERS_MAX, WAITER_STACK_BYTES, &waiters);
}

void ops_waiters_stop(void)
{
	cancel_all();
	pool_free(waiters);
	waiters = NULL;
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
	/* rootfs/ and a layer's directory are fixed by a digest, but which
	 * one a tag's directory names changes with the tag */
	if (n && n->kind == NODE_IMAGEFS && parent->kind != NODE_IMAGEFS)
		return parent->immutable ? IMMUTABLE_TIMEOUT : fs->cfg.ttl;
	/* the name -> node mapping changes with the tag even for immutable
	 * layer files, so the entry follows the parent */
	if (parent->immutable || parent->kind == NODE_ROOT)
		return IMMUTABLE_TIMEOUT;
	return n && n->immutable ? IMMUTABLE_TIMEOUT : fs->cfg.ttl;
}

/*
 * Every handle the kernel was given and has not released.  A mount that
 * ends by an abort, or a lazy unmount whose last close races the
 * connection's end, never sends the RELEASE of what was open: at shutdown
 * ops_handles_drop() frees what is left here, so that nothing is held past
 * the session (and a leak check at exit sees none).  Both kinds of handle
 * start with their link, so one list holds them.
 */
struct open_link {
	struct open_link *prev, *next; /* in open_list, under open_lock */
	bool dir;                      /* a struct dir_handle, else a struct handle */
};

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct open_link open_list = {&open_list, &open_list, false};

/*
 * An open file: a snapshot of a generated file, or a layer in the store.
 * The kernel may send RELEASE as soon as it has a READ's reply, which can
 * be before fuse_reply_*() returns to us; a read therefore holds its own
 * reference so the bytes outlive the reply.
 */
struct handle {
	struct open_link link; /* first: see open_link */
	char *bytes;   /* owned, or NULL for a layer */
	size_t len;
	int fd;        /* layer fd, a draft's user file, or -1 */
	struct imagefs_file *file; /* a file of rootfs/ or layerfs/, or NULL */
	bool writable; /* fd is a draft's user file open for writing */
	int refs;      /* atomic: the open, plus each read in flight */
};

struct dir_handle {
	struct open_link link; /* first: see open_link */
	struct tree_listing list;
};

/* Put @l, the link of a handle (@dir: of a struct dir_handle), in the list
 * of open ones. */
static void open_link_add(struct open_link *l, bool dir)
{
	l->dir = dir;
	pthread_mutex_lock(&open_lock);
	l->next = open_list.next;
	l->prev = &open_list;
	open_list.next->prev = l;
	open_list.next = l;
	pthread_mutex_unlock(&open_lock);
}

/* Take @l out of the list of open ones. */
static void open_link_del(struct open_link *l)
{
	pthread_mutex_lock(&open_lock);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	pthread_mutex_unlock(&open_lock);
}

static void handle_free(struct handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	imagefs_close(h->file);
	free(h->bytes);
	free(h);
}

static void dir_handle_free_unlinked(struct dir_handle *d)
{
	tree_listing_release(&d->list);
	free(d);
}

static void handle_put(struct handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	open_link_del(&h->link);
	handle_free(h);
}

static void dir_handle_free(struct dir_handle *d)
{
	open_link_del(&d->link);
	dir_handle_free_unlinked(d);
}

static void passes_drop(void);

void ops_handles_drop(void)
{
	pthread_mutex_lock(&open_lock);
	while (open_list.next != &open_list) {
		struct open_link *l = open_list.next;

		open_list.next = l->next;
		if (l->dir)
			dir_handle_free_unlinked((struct dir_handle *)l);
		else
			handle_free((struct handle *)l);
	}
	open_list.prev = &open_list;
	pthread_mutex_unlock(&open_lock);
	passes_drop();
}

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

static void reply_new_entry(struct call *c, struct node *parent, struct node *proto)
{
	struct fuse_entry_param e;
	struct node *n = NULL;
	int ret = entry_of(c->fs, parent, proto, &e, &n);

	if (ret < 0)
		call_reply_err(c, -ret);
	else if (call_reply_entry(c, &e) == -ENOENT)
		node_forget(c->fs->nodes, n, 1); /* interrupted: undo the lookup */
}

static void body_lookup(struct call *c)
{
	struct fs *fs = c->fs;
	struct node *parent = call_node(c, c->ino), *proto = NULL;
	struct fuse_entry_param e;
	int ret;

	memset(&e, 0, sizeof(e));
	if (!parent) {
		call_reply_err(c, ESTALE);
		return;
	}
	ret = tree_lookup(fs, parent, c->name, &proto);
	if (ret == -ENOENT) {
		/* a negative entry: the kernel remembers the miss for a while */
		e.ino = 0;
		e.entry_timeout = entry_timeout_for(fs, parent, NULL);
		if (e.entry_timeout == IMMUTABLE_TIMEOUT && !parent->immutable)
			e.entry_timeout = fs->cfg.ttl; /* a registry may appear */
		call_reply_entry(c, &e);
		return;
	}
	if (ret < 0) {
		call_reply_err(c, -ret);
		return;
	}
	reply_new_entry(c, parent, proto);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct call c = call_of(req, parent_ino, body_lookup);

	c.name = name;
	call_start(&c);
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

static void body_getattr(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	struct handle *h = c->has_fi ? (struct handle *)(uintptr_t)c->fi.fh : NULL;
	struct stat st;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	ret = tree_stat(c->fs, n, &st);
	if (ret == 0 && h && h->bytes && (n->kind == NODE_FILE || n->kind == NODE_DRAFT_FILE))
		st.st_size = (off_t)h->len; /* an open file keeps its snapshot */
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		call_reply_attr(c, &st, timeout_for(c->fs, n));
}

/* A call about @ino that carries @fi (which may be NULL). */
static struct call call_with_fi(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
				call_body body)
{
	struct call c = call_of(req, ino, body);

	if (fi) {
		c.fi = *fi;
		c.has_fi = true;
	}
	return c;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct call c = call_with_fi(req, ino, fi, body_getattr);

	call_start(&c);
}

/*
 * Directory reads.  A kernel that offers FUSE_CAP_NO_OPENDIR_SUPPORT is
 * answered ENOSYS on the first OPENDIR and then sends no OPENDIR or
 * RELEASEDIR at all: a walk of rootfs/ costs a LOOKUP and two READDIRs a
 * directory instead of five requests (docs/performance.md, B6).  Without
 * an open there is no handle to keep a listing in, so a read from offset
 * 0 starts a "pass": the listing made then, kept in a small ring, and
 * named by a generation that the offsets of its entries carry in their
 * high 32 bits.  The next READDIR of that pass continues in the same
 * listing, as it would in an open handle's; the pass is dropped when it
 * reaches its end.  A pass pushed out of the ring (more than PASS_RING
 * unfinished at once) is listed again, and may then skip or repeat what
 * changed; a listing a digest fixes is not listed again while any pass
 * over it lives (they all list the same), and readers that start together
 * share one pass.  Older kernels get the open handle, as before.
 *
 * Such a kernel also keeps every listing it read whole, as if opened with
 * cache_readdir and keep_cache.  That is right for a listing a digest
 * fixes (node_listing_fixed: a second find over rootfs/ sends no READDIR
 * at all); any other is dropped from the kernel (an inode invalidation) as
 * soon as its pass has ended, so that each ls asks again, as with a handle.
 */
#define PASS_RING 256

struct pass {
	uint64_t ino;
	uint32_t gen; /* 0: the slot is free */
	struct tree_listing list;
};

static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pass passes[PASS_RING];
static uint32_t pass_gen_last;
static bool no_opendir; /* atomic: set in op_init, before any request */
static struct fuse_session *session; /* for invalidations */

void ops_session_set(struct fuse_session *se)
{
	session = se;
}

/*
 * A READDIRPLUS reply is filled under the pass's lock with entries of node
 * id 0 (the kernel then looks a name up when it is used, as after a plain
 * READDIR).  Only the directories of rootfs/ and layerfs/ are noted here,
 * to get their nodes once the lock is let go (plus_publish): find then
 * walks into them without a LOOKUP each.  Nothing else: a listing of tags
 * must not resolve every tag it names, nor a tree make a node of every file.
 */
struct plus_fix {
	size_t at, len;     /* the entry's bytes in the reply */
	off_t off;
	char *name;         /* owned */
	struct node *node;  /* once published (one kernel lookup), or NULL */
};

struct plus {
	struct plus_fix *v; /* owned, room for max */
	size_t n, max;
};

static void plus_release(struct plus *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++)
		free(pl->v[i].name);
	free(pl->v);
}

/* Fill @buf (@size bytes) with @n's directory entries from position
 * @from on: "." and ".." first, then @list.  Each entry's offset is @tag
 * or'ed with the position after it.  With @pl, READDIRPLUS entries (see
 * struct plus_fix).  Returns the bytes used. */
static size_t dir_fill(fuse_req_t req, const struct node *n, const struct tree_listing *list,
		       uint64_t from, uint64_t tag, char *buf, size_t size, struct plus *pl)
{
	size_t used = 0;

	for (uint64_t i = from; i < list->n + 2; i++) {
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
			const struct tree_entry *te = &list->v[i - 2];

			name = te->name;
			st.st_ino = te->ino ? te->ino : node_ino_for(n, name, te->kind);
			st.st_mode = te->type ? te->type : node_kind_type(te->kind);
		}
		if (pl) {
			struct fuse_entry_param e = {.attr = st};

			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(tag | (i + 1)));
			if (need <= size - used && i >= 2 && S_ISDIR(st.st_mode) &&
			    n->kind == NODE_IMAGEFS && pl->n < pl->max &&
			    (pl->v[pl->n].name = strdup(name))) {
				pl->v[pl->n].at = used;
				pl->v[pl->n].len = need;
				pl->v[pl->n].off = (off_t)(tag | (i + 1));
				pl->n++;
			}
		} else {
			need = fuse_add_direntry(req, buf + used, size - used, name, &st,
						 (off_t)(tag | (i + 1)));
		}
		if (need > size - used)
			break;
		used += need;
	}
	return used;
}

/* Keep @list (taken over) as a new pass over @n, and fill @buf (@size
 * bytes) from it at position @from: the bytes used. */
static size_t pass_start(fuse_req_t req, const struct node *n, struct tree_listing *list,
			 uint64_t from, char *buf, size_t size, struct plus *pl)
{
	struct tree_listing old = {0};
	struct pass *p;
	uint32_t gen;
	size_t used;

	pthread_mutex_lock(&pass_lock);
	/* 31 bits, never 0: offsets stay positive and 0 stays "start" */
	do
		gen = ++pass_gen_last & 0x7fffffffu;
	while (gen == 0);
	p = &passes[gen % PASS_RING];
	old = p->list;
	p->ino = n->ino;
	p->gen = gen;
	p->list = *list;
	used = dir_fill(req, n, &p->list, from, (uint64_t)gen << 32, buf, size, pl);
	pthread_mutex_unlock(&pass_lock);
	memset(list, 0, sizeof(*list));
	tree_listing_release(&old);
	return used;
}

/* Fill @buf from pass @gen of @n at position @from, dropping the pass at
 * its end (nothing left: *used 0).  false if the pass is gone. */
static bool pass_fill(fuse_req_t req, const struct node *n, uint32_t gen, uint64_t from,
		      char *buf, size_t size, struct plus *pl, size_t *used)
{
	struct tree_listing done = {0};
	struct pass *p = &passes[gen % PASS_RING];
	bool found;

	pthread_mutex_lock(&pass_lock);
	found = gen != 0 && p->gen == gen && p->ino == n->ino;
	if (found) {
		*used = dir_fill(req, n, &p->list, from, (uint64_t)gen << 32, buf, size, pl);
		if (*used == 0) {
			done = p->list;
			memset(p, 0, sizeof(*p));
		}
	}
	pthread_mutex_unlock(&pass_lock);
	tree_listing_release(&done);
	return found;
}

/* A live pass over @ino, or 0.  For a listing a digest fixes only: any
 * pass of it lists the same names in the same order. */
static uint32_t pass_of_ino(uint64_t ino)
{
	uint32_t gen = 0;

	pthread_mutex_lock(&pass_lock);
	for (size_t i = 0; i < PASS_RING && !gen; i++)
		if (passes[i].gen && passes[i].ino == ino)
			gen = passes[i].gen;
	pthread_mutex_unlock(&pass_lock);
	return gen;
}

static void passes_drop(void)
{
	pthread_mutex_lock(&pass_lock);
	for (size_t i = 0; i < PASS_RING; i++) {
		tree_listing_release(&passes[i].list);
		memset(&passes[i], 0, sizeof(passes[i]));
	}
	pthread_mutex_unlock(&pass_lock);
}

static void body_opendir(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	struct dir_handle *d;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		call_reply_err(c, ENOMEM);
		return;
	}
	ret = tree_list(c->fs, n, &d->list);
	if (ret < 0) {
		free(d);
		call_reply_err(c, -ret);
		return;
	}
	open_link_add(&d->link, true);
	c->fi.fh = (uintptr_t)d;
	c->fi.cache_readdir = node_listing_fixed(n);
	c->fi.keep_cache = node_listing_fixed(n);
	if (call_reply_open(c) == -ENOENT)
		dir_handle_free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct call c;

	if (__atomic_load_n(&no_opendir, __ATOMIC_RELAXED)) {
		fuse_reply_err(req, ENOSYS); /* success: see PASS_RING */
		return;
	}
	c = call_with_fi(req, ino, fi, body_opendir);
	call_start(&c);
}

/* Give the directories noted in @pl their nodes, rewriting their entries
 * in @buf in place (the same name, so the same size).  A directory that
 * cannot be had here keeps node id 0, and is looked up when used. */
static void plus_publish(struct call *c, struct node *parent, char *buf, struct plus *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		struct plus_fix *f = &pl->v[i];
		struct fuse_entry_param e;
		struct node *proto = NULL, *child = NULL;

		if (tree_lookup(c->fs, parent, f->name, &proto) < 0 ||
		    entry_of(c->fs, parent, proto, &e, &child) < 0)
			continue;
		if (fuse_add_direntry_plus(c->req, buf + f->at, f->len, f->name, &e, f->off) != f->len)
			node_forget(c->fs->nodes, child, 1);
		else
			f->node = child;
	}
}

/* A READDIR without an open handle: see PASS_RING. */
static void body_readdir_pass(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	struct tree_listing list = {0};
	/* offset 0 starts a pass; any other names one and a position in it */
	uint32_t gen = (uint32_t)((uint64_t)c->off >> 32);
	uint64_t from = (uint64_t)c->off & 0xffffffffu;
	size_t used = 0;
	struct plus pl = {0}, *plp = c->plus ? &pl : NULL;
	bool found;
	char *buf;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	buf = malloc(c->size ? c->size : 1);
	if (!buf) {
		call_reply_err(c, ENOMEM);
		return;
	}
	if (c->plus) {
		/* an entry of READDIRPLUS takes at least its fixed part: the
		 * size of one with a one-byte name */
		pl.max = c->size / fuse_add_direntry_plus(c->req, NULL, 0, ".", NULL, 0) + 1;
		pl.v = calloc(pl.max, sizeof(*pl.v));
		if (!pl.v) {
			free(buf);
			call_reply_err(c, ENOMEM);
			return;
		}
	}
	found = c->off != 0 && pass_fill(c->req, n, gen, from, buf, c->size, plp, &used);
	/* every pass of a listing a digest fixes lists the same: share one */
	if (!found && node_listing_fixed(n) && (gen = pass_of_ino(n->ino)) != 0)
		found = pass_fill(c->req, n, gen, from, buf, c->size, plp, &used);
	if (!found) {
		ret = tree_list(c->fs, n, &list);
		if (ret < 0) {
			plus_release(plp);
			free(buf);
			call_reply_err(c, -ret);
			return;
		}
		used = pass_start(c->req, n, &list, from, buf, c->size, plp);
	}
	if (plp)
		plus_publish(c, n, buf, plp);
	ret = call_reply_buf(c, buf, used);
	/* not sent: the kernel counted none of the lookups */
	for (size_t i = 0; ret == -ENOENT && i < pl.n; i++)
		if (pl.v[i].node)
			node_forget(c->fs->nodes, pl.v[i].node, 1);
	plus_release(plp);
	if (ret == 0 && used == 0 && !node_listing_fixed(n) && session) {
		/* the end of a listing that may change: see PASS_RING */
		ret = fuse_lowlevel_notify_inval_inode(session, n->ino, 0, 0);
		if (ret < 0 && ret != -ENOENT)
			log_debug("listing of inode %llu not dropped from the kernel: %s",
				  (unsigned long long)n->ino, strerror(-ret));
	}
	free(buf);
}

static void readdir_either(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct plus none = {0}; /* an open handle's READDIRPLUS: no nodes */
	struct node *n;
	char *buf;

	if (!d) {
		struct call c = call_of(req, ino, body_readdir_pass);

		c.size = size;
		c.off = off;
		c.plus = plus;
		call_start(&c);
		return;
	}
	n = node_of(req, ino);
	buf = calloc(1, size);
	if (!buf || !n) {
		free(buf);
		fuse_reply_err(req, buf ? ESTALE : ENOMEM);
		return;
	}
	/* positions: 0 ".", 1 "..", 2.. the listing; an offset is the next one */
	fuse_reply_buf(req, buf,
		       dir_fill(req, n, &d->list, (uint64_t)off, 0, buf, size, plus ? &none : NULL));
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_either(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_either(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (d)
		dir_handle_free(d);
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
	open_link_add(&h->link, false);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return h;
}

static void reply_open_fd(struct call *c, int fd)
{
	struct handle *h = handle_for_fd(fd, &c->fi);

	if (!h) {
		if (fd >= 0)
			close(fd);
		call_reply_err(c, ENOMEM);
		return;
	}
	if (call_reply_open(c) == -ENOENT)
		handle_put(h);
}

/* Open @n for writing (a draft's file): the write check came first. */
static void open_for_writing(struct call *c, struct node *n)
{
	/* writes through the handle need no check of their own: like any
	 * file, it was checked when opened */
	int ret = c->write_ok;

	if (ret == 0)
		ret = draft_open_write(c->fs, n, c->fi.flags & (O_ACCMODE | O_TRUNC | O_APPEND));
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		reply_open_fd(c, ret);
}

static void body_open(struct call *c)
{
	struct fs *fs = c->fs;
	struct node *n = call_node(c, c->ino);
	struct handle *h;
	int ret = 0;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	if ((c->fi.flags & O_ACCMODE) != O_RDONLY || (c->fi.flags & O_TRUNC)) {
		open_for_writing(c, n);
		return;
	}
	if (n->kind != NODE_FILE && n->kind != NODE_LAYER && n->kind != NODE_DRAFT_FILE &&
	    n->kind != NODE_IMAGEFS) {
		call_reply_err(c, EISDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		call_reply_err(c, ENOMEM);
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
		c->fi.keep_cache = 1;
	} else if (n->kind == NODE_IMAGEFS) {
		ret = imagefs_open(fs, n, &h->file);
		c->fi.keep_cache = 1; /* fixed by its tree's digest */
	} else {
		ret = tree_file_content(fs, n, &h->bytes, &h->len);
		/* A file under a tag changes when the tag moves, and the kernel
		 * may still hold the old size for up to the TTL: serve this
		 * open's snapshot past its page cache, which would cut reads at
		 * the old size.  A path fixed by a digest keeps its pages. */
		c->fi.keep_cache = n->immutable;
		c->fi.direct_io = !n->immutable;
	}
	if (ret < 0) {
		free(h);
		call_reply_err(c, -ret);
		return;
	}
	open_link_add(&h->link, false);
	c->fi.fh = (uintptr_t)h;
	if (call_reply_open(c) == -ENOENT)
		handle_put(h);
}

/* May the caller of @req write (@op, on @n or in it)?  Asked on the FUSE
 * thread, where the request is there to ask. */
static void call_check_write(struct call *c, const char *op, const struct node *n)
{
	c->write_ok = may_write(c->req, op, n);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct call c = call_with_fi(req, ino, fi, body_open);

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		call_check_write(&c, "open for writing", node_of(req, ino));
	call_start(&c);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	if (h->file) {
		/* decompressed here: at most a checkpoint's span of work,
		 * nothing that waits on the network */
		char *buf = malloc(size ? size : 1);
		size_t got = 0;
		int ret = buf ? imagefs_read(h->file, buf, size, off, &got) : -ENOMEM;

		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_buf(req, buf, got);
		free(buf);
	} else if (h->fd >= 0) {
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

static void body_getxattr(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	char *val = NULL;
	size_t len = 0;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	ret = tree_xattr(c->fs, n, c->name, &val, &len);
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		call_reply_xattr(c, val, len);
	free(val);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct call c = call_of(req, ino, body_getxattr);

	c.name = name;
	c.size = size;
	call_start(&c);
}

static void body_listxattr(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	char *names = NULL;
	size_t len = 0;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	ret = tree_xattr_list(c->fs, n, &names, &len);
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		call_reply_xattr(c, names, len);
	free(names);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct call c = call_of(req, ino, body_listxattr);

	c.size = size;
	call_start(&c);
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

static void body_readlink(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	char *target = NULL;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	if (n->kind == NODE_IMAGEFS)
		ret = imagefs_readlink(c->fs, n, &target);
	else
		ret = draft_readlink(c->fs, n, &target);
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		call_reply_readlink(c, target);
	free(target);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct call c = call_of(req, ino, body_readlink);

	call_start(&c);
}

/* --- everything that writes: drafts, else EROFS -------------------------- */

#define TIMES_ONLY                                                                                 \
	(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |                     \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

/* What a setattr of @n asks, done: 0 or -errno. */
static int setattr_apply(struct call *c, struct node *n)
{
	struct fs *fs = c->fs;
	struct handle *h = c->has_fi ? (struct handle *)(uintptr_t)c->fi.fh : NULL;
	int ret = 0;

	if (c->to_set & FUSE_SET_ATTR_SIZE) {
		if (h && h->writable)
			ret = c->attr.st_size > (off_t)DRAFT_USER_FILE_MAX ? -EFBIG
			      : ftruncate(h->fd, c->attr.st_size) < 0 ? -errno : 0;
		else
			ret = draft_truncate(fs, n, c->attr.st_size);
	} else if (c->to_set & ~(TIMES_ONLY | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		ret = -EPERM; /* modes are not kept */
	} else if (((c->to_set & FUSE_SET_ATTR_UID) && c->attr.st_uid != fs->cfg.uid) ||
		   ((c->to_set & FUSE_SET_ATTR_GID) && c->attr.st_gid != fs->cfg.gid)) {
		ret = -EPERM; /* owners neither; chown to the owner (mv does it) is fine */
	}
	/* times are not kept either, but `touch` must work on a draft */
	if (ret == 0 && n->kind < NODE_DRAFT && !tree_is_draft(fs, n))
		ret = -EROFS;
	return ret;
}

static void body_setattr(struct call *c)
{
	struct node *n = call_node(c, c->ino);
	struct stat st;
	int ret;

	if (!n) {
		call_reply_err(c, ESTALE);
		return;
	}
	ret = c->write_ok;
	if (ret == 0)
		ret = setattr_apply(c, n);
	if (ret == 0)
		ret = tree_stat(c->fs, n, &st);
	if (ret < 0)
		call_reply_err(c, n->kind < NODE_DRAFT && ret == -EPERM ? EROFS : -ret);
	else
		call_reply_attr(c, &st, timeout_for(c->fs, n));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct call c = call_with_fi(req, ino, fi, body_setattr);

	c.attr = *attr;
	c.to_set = to_set;
	call_check_write(&c, "setattr", node_of(req, ino));
	call_start(&c);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, may_write(req, "mknod in", node_of(req, parent)) < 0 ? EACCES : EROFS);
}

/* A writing call in directory @parent_ino about @name, checked. */
static struct call call_writing_in(fuse_req_t req, fuse_ino_t parent_ino, const char *name,
				   const char *op, call_body body)
{
	struct call c = call_of(req, parent_ino, body);

	c.name = name;
	call_check_write(&c, op, node_of(req, parent_ino));
	return c;
}

static void body_mkdir(struct call *c)
{
	struct node *parent = call_node(c, c->ino), *proto = NULL;
	int ret = parent ? c->write_ok : -ESTALE;

	if (ret == 0)
		ret = draft_mkdir(c->fs, parent, c->name, &proto);
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		reply_new_entry(c, parent, proto);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode)
{
	struct call c = call_writing_in(req, parent_ino, name, "mkdir in", body_mkdir);

	(void)mode;
	call_start(&c);
}

static void body_unlink(struct call *c)
{
	struct node *parent = call_node(c, c->ino);
	int ret = parent ? c->write_ok : -ESTALE;

	if (ret == 0)
		ret = draft_unlink(c->fs, parent, c->name);
	call_reply_err(c, -ret);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct call c = call_writing_in(req, parent_ino, name, "unlink in", body_unlink);

	call_start(&c);
}

static void body_rmdir(struct call *c)
{
	struct node *parent = call_node(c, c->ino);
	int ret = parent ? c->write_ok : -ESTALE;

	if (ret == 0)
		ret = draft_rmdir(c->fs, parent, c->name);
	call_reply_err(c, -ret);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct call c = call_writing_in(req, parent_ino, name, "rmdir in", body_rmdir);

	call_start(&c);
}

static void body_symlink(struct call *c)
{
	struct node *parent = call_node(c, c->ino), *proto = NULL;
	int ret = parent ? c->write_ok : -ESTALE;

	if (ret == 0)
		ret = draft_symlink(c->fs, parent, c->name, c->name2, &proto);
	if (ret < 0)
		call_reply_err(c, -ret);
	else
		reply_new_entry(c, parent, proto);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent_ino, const char *name)
{
	struct call c = call_writing_in(req, parent_ino, name, "symlink in", body_symlink);

	c.name2 = link;
	call_start(&c);
}

static void body_rename(struct call *c)
{
	struct fs *fs = c->fs;
	struct node *from = call_node(c, c->ino), *to = call_node(c, c->ino2);

	/* mv inside drafts: EXDEV makes it copy the link and remove the old */
	if (c->write_ok < 0)
		call_reply_err(c, EACCES);
	else if (from && to && (from->kind >= NODE_DRAFT || tree_is_draft(fs, from)) &&
		 (to->kind >= NODE_DRAFT || tree_is_draft(fs, to)))
		call_reply_err(c, EXDEV);
	else
		call_reply_err(c, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct call c = call_writing_in(req, parent, NULL, "rename in", body_rename);

	(void)name;
	(void)newname;
	(void)flags;
	c.ino2 = newparent;
	call_start(&c);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newname;
	fuse_reply_err(req, may_write(req, "link in", node_of(req, newparent)) < 0 ? EACCES : EROFS);
}

static void body_create(struct call *c)
{
	struct fs *fs = c->fs;
	struct node *parent = call_node(c, c->ino), *proto = NULL, *n = NULL;
	struct fuse_entry_param e;
	struct handle *h;
	int ret = parent ? c->write_ok : -ESTALE, fd = -1;

	if (ret == 0)
		ret = draft_create(fs, parent, c->name,
				   c->fi.flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_EXCL), &c->who,
				   &proto, &fd);
	if (ret == 0)
		ret = entry_of(fs, parent, proto, &e, &n);
	h = ret == 0 ? handle_for_fd(fd, &c->fi) : NULL;
	if (ret == 0 && !h) {
		node_forget(fs->nodes, n, 1);
		ret = -ENOMEM;
	}
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		call_reply_err(c, -ret);
		return;
	}
	if (call_reply_create(c, &e) == -ENOENT) {
		node_forget(fs->nodes, n, 1);
		handle_put(h);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct call c = call_writing_in(req, parent_ino, name, "create in", body_create);

	(void)mode;
	c.fi = *fi;
	c.has_fi = true;
	call_start(&c);
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

/*
 * A read of a cached blob is answered from its file descriptor
 * (op_read).  Without splice, libfuse copies each answer through a buffer
 * it allocates per read: for 128-256 KiB that is a fresh mmap, faulted in
 * page by page and unmapped again, which made reading a blob through this
 * mount 3-5x slower than a plain FUSE passthrough.  With splice the pages
 * go from the page cache to the kernel's FUSE queue through a pipe, and
 * no byte is copied here.
 */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	fs_mounted(userdata);
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* (only offered: "want" has no say in it) */
	__atomic_store_n(&no_opendir, (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0,
			 __ATOMIC_RELAXED);
}

const struct fuse_lowlevel_ops regfs_ops = {
	.init = op_init,
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
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};
