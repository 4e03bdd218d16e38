/*
 * The filesystem room's core: nodes of the mounted tree and what each one
 * shows, as a library with no FUSE in it.  The FUSE adapter (ops.c, the
 * low-level operations; main.c, options and the session; notify.c, systemd
 * readiness) is the only code that speaks to the kernel; the unit tests
 * link the core directly.
 *
 *   fs.c       one mount's state (fs_init), the memory-cache keys
 *   downloads.c  the blob downloads in flight (.downloads, the log)
 *   node.c     the node table: stable inode numbers, lookup counts
 *   resolve.c  what a name means: the one resolver, for lookups and links
 *   tree.c     what a node holds: listings, file contents, attributes
 *   draft.c    drafts in the tree: their files and every write
 *   commit.c   a draft's plan (.status, .preview.json) and its push
 *   remote.h   the door to registries for reading (a fake in unit tests)
 *   mountpath.c  link targets as paths below the mount, lexically
 *   prefetch.c   an index's children fetched ahead, in parallel, bounded
 *
 * Where to find the code for a path of the tree (lookups start in
 * tree_lookup, listings in tree_list, attributes in tree_stat):
 *   MOUNT/                          NODE_ROOT       tree_list (the configured registries)
 *   MOUNT/.downloads                NODE_FILE       downloads_text (downloads.c)
 *   MOUNT/host/                     NODE_REGISTRY   resolve_registry
 *   MOUNT/host/ns/repo/             NODE_REPO       resolve_level, tree_list_level
 *   MOUNT/host/ns/repo/tag/         NODE_MANIFEST   resolve_level (LEVEL_TAG), resolve_ref
 *   .../tag/linux-amd64/            NODE_MANIFEST   resolve_entry (an index entry)
 *   .../repo/@sha256:.../           NODE_MANIFEST   resolve_level (LEVEL_DIGEST)
 *   .../tag/manifest.json etc.      NODE_FILE       tree_file_content
 *   .../tag/config.json             NODE_LAYER      tree_layer_open (a blob)
 *   .../tag/layers/                 NODE_LAYERS     tree_list
 *   .../tag/layers/00-sha256:...    NODE_LAYER      tree_layer_open
 *   .../tag/rootfs/..., layerfs/    NODE_IMAGEFS, NODE_LAYERFS  imagefs.c
 *   .../list/linux-amd64/attestations/  NODE_ATTESTS  attest.c
 *   .../tag/referrers/<type>@sha256:.../  NODE_REFERRERS, NODE_MANIFEST  referrers.c
 *
 * Drafts (manifest lists being written; draft.c, commit.c):
 *   MOUNT/host/ns/new/ (mkdir)      NODE_DRAFT      draft_mkdir, draft_lookup
 *   MOUNT/host/newns/ (mkdir -p)    NODE_REPO       a level holding drafts (resolve_level)
 *   .../draft/amd64 (ln -s)         NODE_DRAFT_LINK draft_symlink, draft_readlink
 *   .../draft/.preview.json etc.    NODE_DRAFT_FILE draft_file_content -> commit_plan_text
 *   .../draft/.annotations/         NODE_DRAFT_ANNOTATIONS
 *   .../draft/.commit (touch)       NODE_DRAFT_FILE draft_create -> commit_run
 * A directory at tag level is a draft while the draft store holds one at
 * its path, whatever node kind it was looked up as: tree_effective()
 * decides on every request, so a tag becomes a draft (amend) and a draft
 * becomes the live list (commit) under the same inode.
 */
#ifndef REGFS_FS_H
#define REGFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "cache/mem.h"
#include "common/cancel.h"
#include "common/digest.h"

struct reg_client;
struct reg_registry;
struct reg_manifest;
struct reg_strlist;
struct cache_store;
struct cache_drafts;
struct fs_remote;

/* What a node is.  The order means nothing: ask the predicates below. */
enum node_kind {
	NODE_ROOT,
	NODE_REGISTRY, /* a registry host */
	NODE_REPO,     /* a namespace, a repository, or both ("a/b" with "a/b/c") */
	NODE_MANIFEST, /* a tag, an @sha256: directory, or an index entry */
	NODE_LAYERS,   /* layers/ of an image */
	NODE_FILE,     /* manifest.json, digest, inspect.json, config.json, platform */
	NODE_LAYER,    /* one blob by digest: a layer, or an image's config.json */
	NODE_DRAFT,    /* a draft directory: repo = repository it pushes to, ref = tag */
	NODE_DRAFT_LINK,        /* an entry of a draft (a symlink) */
	NODE_DRAFT_FILE,        /* a dot file of a draft */
	NODE_DRAFT_ANNOTATIONS, /* .annotations/ of a draft */
	NODE_LAYERFS, /* layerfs/ of an image: a directory per layer */
	NODE_IMAGEFS, /* in rootfs/ or a layer's directory of layerfs/: a file of the image */
	NODE_ATTESTS, /* attestations/ of an image in an index: its in-toto statements */
	NODE_REFERRERS, /* referrers/ of a manifest: what names it as subject */
};

enum file_kind {
	FILE_MANIFEST, FILE_DIGEST, FILE_INSPECT, FILE_CONFIG, FILE_PLATFORM,
	FILE_DOWNLOADS, /* MOUNT/.downloads */
	FILE_ATTEST_PREDICATE, /* attestations/<name>.json: statement layer_digest's predicate */
};

enum draft_file {
	DF_PREVIEW,    /* .preview.json: the bytes a commit would push */
	DF_DIGEST,     /* .digest: their digest */
	DF_STATUS,     /* .status: what is wrong, per link, and the last commit */
	DF_MEDIATYPE,  /* .mediatype: the user's choice of list type */
	DF_FORCE,      /* .force: the user's "commit even though the tag moved" */
	DF_ANNOTATION, /* .annotations/<key> */
	DF_COMMIT,     /* .commit: touching it commits */
};

struct node {
	uint64_t ino;
	struct node *parent; /* holds a reference; NULL for the root */
	char *name;          /* owned */
	enum node_kind kind;
	bool immutable;      /* what it shows is fixed by a digest on its path */

	struct reg_registry *reg; /* borrowed from the client; NULL for the root */
	char *repo;  /* owned: NODE_REPO its path; NODE_MANIFEST and below the repository */
	char *ref;   /* owned: NODE_MANIFEST at repo level: the tag or digest; NULL for entries */
	enum file_kind file;                   /* NODE_FILE; FILE_CONFIG marks a config NODE_LAYER */
	enum draft_file dfile;                 /* NODE_DRAFT_FILE */
	/* NODE_LAYER: the blob.  NODE_IMAGEFS: the tree's digest, the
	 * image's manifest (rootfs/) or the layer's blob (layerfs/) */
	char layer_digest[DIGEST_STR_LEN + 1];
	int64_t layer_size; /* NODE_LAYER; NODE_IMAGEFS of a layer's tree: the blob's */
	/* NODE_IMAGEFS: the path in the tree ("" its top, owned), whether the
	 * tree is one layer's, and the entry's type (S_IFDIR, S_IFREG...) */
	char *inner;
	bool inner_layer;
	mode_t inner_type;
	/* the number the node was published for, before any probing past a
	 * collision (node_publish; same_node compares it for NODE_IMAGEFS) */
	uint64_t ino_want;

	/* protected by the node table lock */
	uint64_t refs;    /* kernel lookups + children (an open handle holds a lookup) */
	uint64_t nlookup; /* kernel lookups alone */
	struct node *hash_next;
};

/* --- node kinds: every predicate on them (node.c) ------------------------- */

/* Is @kind a draft's node (the draft, its links, files, .annotations/)? */
bool node_kind_is_draft(enum node_kind kind);
/* The file type (S_IFDIR, S_IFREG, S_IFLNK) of nodes of @kind; for
 * NODE_IMAGEFS, whose type is its entry's, S_IFDIR (ask node_type). */
mode_t node_kind_type(enum node_kind kind);
/* The file type of node @n. */
mode_t node_type(const struct node *n);
/* Is @n a tag's directory (a live tag, as looked up: not an @sha256:
 * directory, not a list's entry)? */
bool node_is_tag_dir(const struct node *n);
/* Is @n a platform directory of a live tag's list, or inside one (its
 * layers/, a nested index's entries)?  There `rm -r` removes files before
 * the rmdir of the platform directory, which amends the list. */
bool node_in_live_entry(const struct node *n);
/* Do the names in directory @d change with drafts (a draft, its
 * .annotations/, or a tag's directory, which an amend turns into one)? */
bool node_names_follow_drafts(const struct node *d);
/* Is directory @n's listing fixed for as long as the node lives (fixed by
 * a digest: an @sha256: directory and what is in it, rootfs/, layerfs/)?
 * The kernel may keep such a listing; every other one is listed afresh. */
bool node_listing_fixed(const struct node *n);

struct fs_config {
	char **registries; /* NULL-terminated hosts shown at the root */
	double ttl;        /* seconds tags and listings are trusted */
	char *mountpoint;  /* absolute, for link targets written absolutely */
	/* Who may write (make drafts, link, commit): uid (-o uid=, else the
	 * daemon's euid), and with group_writes the members of gid (-o
	 * write_group=).  Every node is shown owned by uid:gid. */
	uid_t uid;
	gid_t gid;         /* -o write_group= or gid=, else the daemon's egid */
	bool group_writes; /* members of gid may write too */
	mode_t umask;      /* bits no mode shows (-o umask=) */
	/* Threads reading an index's children ahead (prefetch.c): 0 the
	 * default (PREFETCH_THREADS), < 0 none.  Set before fs_init. */
	int prefetch;
	/* -o offline: no network at all (remote is fs_remote_offline).  A
	 * path below a registry is a draft, a manifest by digest the store
	 * holds, or a repository path; a tag cannot be resolved, and a commit
	 * is -ENETDOWN. */
	bool offline;
	/* -o hide_referrer_tags: tag listings leave out the plumbing tags of
	 * referrers (referrers_is_plumbing_tag); lookups still find them. */
	bool hide_referrer_tags;
};

/* Who asked for a write (the FUSE request's uid and pid), for the log. */
struct fs_caller {
	uid_t uid;
	pid_t pid;
};

struct commit_lock; /* commit.c */
struct fs_download; /* downloads.c */

/* One mount.  The caller fills cfg and the borrowed rooms, then fs_init. */
struct fs {
	struct fs_config cfg;
	const struct fs_remote *remote; /* how registries are read (remote.h) */
	struct reg_client *client;  /* borrowed */
	struct cache_store *store;  /* borrowed */
	struct cache_mem *mem;      /* borrowed */
	/* Owned (fs_init): what is decoded once and shared by reference,
	 * capped apart from mem so that one big listing cannot flush every
	 * tag and manifest: listings (LISTINGS_MEM_MAX), parsed manifests by
	 * digest (PARSED_MEM_MAX). */
	struct cache_mem *listings;
	struct cache_mem *parsed;
	/* Owned (fs_init): what is served stale now, by cache key (fs_stale_*,
	 * STALE_MARKS_MEM_MAX); and names at the root that no registry
	 * answered, for the TTL (resolve_registry, ROOT_MISSES_MEM_MAX). */
	struct cache_mem *stale;
	struct cache_mem *root_misses;
	/* Owned (fs_init): layer indexes and merged trees by digest
	 * (imagefs.c, IMAGEFS_MEM_MAX), and which layers could not be
	 * indexed, for IMAGEFS_FAILURE_TTL. */
	struct cache_mem *imagefs;
	pthread_mutex_t stale_lock; /* makes a mark's check and put one step; taken alone */
	unsigned root_hosts;        /* atomic: hosts taken in at the root (ROOT_HOSTS_MAX) */
	bool root_full_logged;      /* atomic: that the cap was reached is logged */
	struct cache_drafts *drafts; /* borrowed */
	struct node_table *nodes;    /* owned: this mount's nodes */
	time_t mount_time;           /* what live nodes show as their times */

	pthread_mutex_t downloads_lock; /* protects the links of downloads; taken alone */
	struct fs_download *downloads;  /* blob downloads in flight (downloads.c) */

	/* protects the four below; taken alone (prefetch.c's own lock is
	 * never taken with it held) */
	pthread_mutex_t prefetch_lock;
	struct prefetch *prefetch;  /* owned: the read-ahead pool, started at its first job */
	bool prefetch_failed;       /* it could not start: not tried again */
	bool prefetch_stopped;      /* fs_release stopped it: never started again */

	pthread_mutex_t fetch_lock;   /* protects fetches; taken alone */
	pthread_cond_t fetch_done;    /* a fetch ended */
	struct fs_fetch *fetches;     /* keys being fetched now (fs_fetch_begin) */

	pthread_mutex_t commit_mutex; /* protects commits; taken alone */
	pthread_cond_t commit_done;
	struct commit_lock *commits;  /* drafts being committed now */
};

/* Set up the mount's own state (node table, commit locks).  0 or -ENOMEM. */
int fs_init(struct fs *fs);
/* The mount is up (the kernel's INIT, in the process that serves it):
 * each registry it was given is warmed up in the background
 * (prefetch_registry), so that the first `ls` or `cat` does not also pay
 * for finding its scheme.  Not offline. */
void fs_mounted(struct fs *fs);
/* Take it down; the borrowed rooms stay.  A zeroed, never initialised
 * struct fs is a no-op.  Nothing else may be calling into @fs; the read
 * ahead threads are joined here (call cancel_all() first to end their
 * transfers at once, as shutdown does). */
void fs_release(struct fs *fs);

/* What statfs shows (df): the blob cache, its cap as the size (or, with no
 * cap, what it holds plus what its disk has free) and what it holds as
 * used, in 4 KiB blocks; inodes are not limited, so a round number of them
 * is free.  0 or -errno. */
int fs_statfs(struct fs *fs, struct statvfs *sv);

/*
 * One fetch of a key at a time: many lookups that miss the same listing at
 * once (parallel lookups in one directory) make one request, not one each.
 * fs_fetch_begin answers 1 when the caller fetches @key (and ends with
 * fs_fetch_end), 0 once another thread's fetch of it ended (look in the
 * cache again), -CANCEL_WOULD_WAIT on a thread that may not wait while
 * another fetches, -EINTR when the wait is called off, -ENOMEM.
 */
int fs_fetch_begin(struct fs *fs, const char *key);
void fs_fetch_end(struct fs *fs, const char *key);

/* Is @err (-errno) "not now" rather than an answer: the thread may not
 * wait (common/cancel.h's CANCEL_WOULD_WAIT), or the wait was called off?
 * Such an error is passed up as it is: never cached, logged, or written
 * into a file's text (.status). */
static inline bool fs_not_now(int err)
{
	return err == -CANCEL_WOULD_WAIT || err == -EINTR;
}

/*
 * Stale-if-error marks.  While a registry fails (fs_error_is_outage), a tag
 * or a listing seen before is served as it was (resolve.c); each such cache
 * key (fs_key_*) is marked, for user.regfs.stale and one log line per key
 * going stale.  A fresh answer clears the mark.
 */
/* Is @err (-errno) a registry that failed to answer (-EIO: unreachable, a
 * 5xx, a timeout; -EAGAIN: 503 or 429), not an answer?  Never -ENOENT or
 * -EACCES: those are answers, and the registry's to give. */
bool fs_error_is_outage(int err);
/* @key is served stale: its answer expired @age seconds ago and the
 * registry failed with @err.  Logs one line when @key was not marked yet
 * (@what names it for people: "tags of 'host/repo'"). */
void fs_stale_mark(struct fs *fs, const char *key, const char *what, double age, int err);
/* @key has a fresh answer again: its mark goes (nothing when unmarked). */
void fs_stale_clear(struct fs *fs, const char *key);
/* The mark of @key as text (new string: "since=<unix time> expired=<unix
 * time> error=EIO"), or -ENODATA when @key is not served stale. */
int fs_stale_text(struct fs *fs, const char *key, char **val, size_t *len);

/* A name for the tree made of @s (a media type, a URL): at most @max
 * bytes of it, every byte outside [A-Za-z0-9.+_-] an '_', no trailing
 * '_'; @fallback when nothing is left or it would start with '.'.  Into
 * @out (@n bytes). */
void fs_name_from(const char *s, size_t max, const char *fallback, char *out, size_t n);

/* @fmt and its arguments as a new string (NULL without memory). */
char *fs_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Memory-cache keys, every one of the room (fs.c says the formats): new
 * strings, NULL without memory. */
char *fs_key_catalog(const struct reg_registry *r);
char *fs_key_tags(const struct reg_registry *r, const char *repo);
char *fs_key_tag(const struct reg_registry *r, const char *repo, const char *tag);
char *fs_key_manifest(const char *digest);
/* @content_type: what the bytes are read as (NULL: the document alone). */
char *fs_key_parsed(const char *digest, const char *content_type);
char *fs_key_probes(const struct reg_registry *r);
char *fs_key_committed(const char *path);

/* --- node.c -------------------------------------------------------------- */

#define NODE_ROOT_INO 1 /* the root's inode number (FUSE_ROOT_ID) */

/* One mount's table of nodes (node.c). */
struct node_table;
/* New table holding the root (*out; free with node_table_free).  0 or -ENOMEM. */
int node_table_new(struct node_table **out);
void node_table_free(struct node_table *t); /* frees every node; NULL is a no-op */
struct node *node_root(struct node_table *t); /* borrowed, lives as long as @t */
/* How many nodes @t holds now (the root and every node the kernel knows). */
size_t node_table_count(struct node_table *t);
/* The node for @ino, borrowed (the kernel keeps it alive while it uses it),
 * or NULL. */
struct node *node_get(struct node_table *t, uint64_t ino);
/* The inode number a child called @name of @parent of @kind gets, when no
 * other node took it first: stable across mounts, and different for kinds
 * the kernel sees as different files (node.c says which). */
uint64_t node_ino_for(const struct node *parent, const char *name, enum node_kind kind);
/* The inode number of blob @digest of registry @host, wherever it shows. */
uint64_t node_ino_for_blob(const char *host, const char *digest);
/* Inode numbers in rootfs/ and layerfs/ (imagefs.c).  A directory, symlink
 * or special file: by @name below @parent, with the tree's digest as
 * @salt for a tree's top (NULL below it), so a tag that moves to another
 * image gives new numbers.  A regular file: by its tree (@tree, the
 * digest; @layer_tree, one layer's), the layer of the tree it comes from
 * and the path its bytes came under (a hardlink's target), whatever path
 * it is looked up by, so the names of hardlinks are one inode. */
uint64_t node_ino_for_inner(const struct node *parent, const char *name, const char *salt);
uint64_t node_ino_for_inner_file(const char *tree, bool layer_tree, uint32_t layer,
				 const char *path);
/*
 * Find or add @proto's child of @parent (takes ownership of @proto, which
 * must have parent, name and kind set, and for a NODE_LAYER or NODE_IMAGEFS
 * its number in ino; it is freed if an equal node exists: same parent,
 * name and class, or for a blob the same registry and digest, whatever the
 * parent, or for NODE_IMAGEFS the same registry, tree and number asked
 * for).  Counts one kernel lookup.  Returns the node, borrowed.
 */
struct node *node_publish(struct node_table *t, struct node *proto);
/* New unpublished node, or NULL. */
struct node *node_new(struct node *parent, const char *name, enum node_kind kind);
void node_free(struct node *n); /* only for unpublished nodes */
/* Drop @nlookup kernel lookups. */
void node_forget(struct node_table *t, struct node *n, uint64_t nlookup);

/* The node @ino, held (NULL when unknown): it stays, and stays findable
 * by node_get, until node_release, whatever the kernel forgets meanwhile.
 * For work that outlives the request it serves (a waiter whose reader
 * was interrupted). */
struct node *node_hold(struct node_table *t, uint64_t ino);
void node_release(struct node_table *t, struct node *n); /* NULL: no-op */

/* --- downloads.c: blob downloads in flight ---------------------------------- */

/* A download of blob @digest (@total bytes, < 0 unknown) from @where
 * ("host/repository", or a URL without its query) begins: it shows in
 * .downloads until download_end.  NULL without memory (then it is just
 * not shown; the other calls take NULL). */
struct fs_download *download_begin(struct fs *fs, const char *where, const char *digest,
				   int64_t total);
/* @n more bytes of @d are stored.  Only the filling thread calls this. */
void download_add(struct fs_download *d, size_t n);
/* @d ended with @ret (0 or -errno): it leaves the table (and is freed). */
void download_end(struct fs *fs, struct fs_download *d, int ret);
/* What MOUNT/.downloads shows now (new buffer): one line per download,
 * "DIGEST WHERE DONE/TOTAL PERCENT RATE/s ELAPSEDs".  0 or -ENOMEM. */
int downloads_text(struct fs *fs, char **bytes, size_t *len);

/* --- prefetch.c: reading an index's children ahead ------------------------- */

struct resolve_view; /* resolve.c, below */

/* Warm @r up for the first reader: its /v2/ asked in the background
 * (https or plain HTTP settled), as a mount does for the registries it
 * was given.  Returns at once; nothing when read ahead is off (-o
 * prefetch=0) or its queue is full. */
void prefetch_registry(struct fs *fs, struct reg_registry *r);

/* Read @r's catalog into the listing cache in the background: a lookup at
 * the registry's top whose own probe may not tell (a namespace) has it on
 * its way meanwhile (resolve.c).  Returns at once; nothing when read ahead
 * is off, the queue is full, or a catalog job for @r is queued or running. */
void prefetch_catalog(struct fs *fs, struct reg_registry *r);

/* Fetch tag @tag of @repo's manifest in the background (by the tag, kept by
 * digest, the tag's digest for the TTL): a lookup of the tag that has to
 * ask for its tags list has it on its way meanwhile (resolve.c).  Returns
 * at once; nothing when read ahead is off or the queue is full. */
void prefetch_tag(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag);

/* Download blob @digest (@size bytes) of @repo of @r into the store in the
 * background: the layers of an image whose rootfs/ is being made, so that
 * their downloads run while the layers below are indexed (imagefs.c).
 * Returns at once; nothing when read ahead is off, the queue is full or
 * the blob is queued or being fetched already. */
void prefetch_blob(struct fs *fs, struct reg_registry *r, const char *repo, const char *digest,
		   int64_t size);

/* Index @idx of @repo of @r was opened: fetch its platform entries'
 * manifests and their configs in the background (once per index, bounded;
 * prefetch.c).  Returns at once; work that does not fit is dropped. */
void prefetch_index(struct fs *fs, struct reg_registry *r, const char *repo,
		    const struct resolve_view *idx);
/* Wait until no read ahead is queued or running (for tests). */
void prefetch_drain(struct fs *fs);
/* Stop the pool and join its threads (fs_release; a wait in flight ends
 * when the transfer does, or at once after cancel_all()). */
void prefetch_stop(struct fs *fs);

/* --- resolve.c: what a name means ------------------------------------------ */

/* A manifest as resolved: its digest, exact bytes and parse. */
struct resolve_parsed; /* resolve.c: a manifest parsed once, shared by digest */
struct resolve_view {
	char digest[DIGEST_STR_LEN + 1];
	char *bytes;            /* owned, or shared's */
	size_t len;
	struct reg_manifest *m; /* owned, or shared's */
	/* A reference to the parse bytes and m belong to, or NULL (they are
	 * the view's own).  A shared view is read, never taken apart: one
	 * parse of a 20,000-entry index serves every lookup in it. */
	struct resolve_parsed *shared;
};
void resolve_view_release(struct resolve_view *v);
/* The position of entry @name (a platform directory's name) in index @v,
 * or -1: a binary search in a shared view. */
int resolve_view_find_entry(const struct resolve_view *v, const char *name);
/* Fill @v from manifest @bytes (taken over; their digest is @digest), read
 * as @content_type says (NULL: from the document alone).  -EINVAL (@v
 * empty, @bytes freed) for bytes that are no manifest regfs can read. */
int resolve_view_take(struct resolve_view *v, const char *digest, char *bytes, size_t len,
		      const char *content_type);

/* A listing (a catalog, a repository's tags) as cached: decoded once, the
 * names sorted (strcmp) and each there once, shared by every reader until
 * its TTL ends.  Immutable; hold a reference while reading it. */
struct resolve_listing {
	struct cache_mem_obj obj; /* the reference count (cache/mem.h) */
	bool absent;              /* cached "no such listing" (never given out) */
	char **v;                 /* owned, sorted */
	size_t n;
};
void resolve_listing_put(const struct resolve_listing *l); /* NULL is a no-op */
/* Is @name in @l? */
bool resolve_listing_has(const struct resolve_listing *l, const char *name);
/* The index of the first name of @l not below @s (n when none). */
size_t resolve_listing_lower_bound(const struct resolve_listing *l, const char *s);

/* Listings through the listing cache (for the TTL; misses too): the
 * catalog of @r (-ENOTSUP: none), the tags of @repo (-ENOENT: no such
 * repository).  0 with *out a new reference, or -errno (*out NULL). */
int resolve_catalog(struct fs *fs, struct reg_registry *r, const struct resolve_listing **out);
int resolve_tags(struct fs *fs, struct reg_registry *r, const char *repo,
		 const struct resolve_listing **out);
/* Forget what is cached about @repo's tags, tag @tag and the catalog of
 * @r, after a push. */
void resolve_forget_pushed(struct fs *fs, struct reg_registry *r, const char *repo,
			   const char *tag);
/* Bytes of manifest @digest of @repo (new buffer): memory, store (checked
 * again), then the registry.  0 or -errno. */
int resolve_manifest_by_digest(struct fs *fs, struct reg_registry *r, const char *repo,
			       const char *digest, char **bytes, size_t *len);

/* Registry @name at the root (*out borrowed): one regfs was given, or one
 * that answers (taken in then: at most ROOT_HOSTS_MAX; a name that does not
 * answer is remembered for the TTL and leaves nothing else behind).
 * -ENOENT for a name that is none or does not resolve. */
int resolve_registry(struct fs *fs, const char *name, struct reg_registry **out);

/* What a name below a registry or repository path is (resolve_level). */
enum level_kind {
	LEVEL_DRAFT,  /* a draft of the draft store (maybe over a tag: an amend) */
	LEVEL_TAG,    /* a tag of the level's repository */
	LEVEL_DIGEST, /* "@sha256:..." of the level's repository, which it has */
	LEVEL_REPO,   /* a deeper repository path: a repository, a namespace, or both */
};
/* @name below repository path @prefix (NULL: the registry's top) of @r;
 * @at is that level's path below the mount ("host/prefix").  Returns a
 * level_kind (>= 0), -ENOENT when nothing is there, -EACCES when the
 * registry refused to say, or another -errno. */
int resolve_level(struct fs *fs, struct reg_registry *r, const char *prefix, const char *at,
		  const char *name);
/* The manifest tag or digest @ref of @repo names: a tag through the TTL
 * cache, or with @fresh asked of the registry now.  -EINVAL when the bytes
 * are no manifest regfs can read; else 0 or -errno.  The view is shared
 * (resolve_view): read it, release it. */
int resolve_ref(struct fs *fs, struct reg_registry *r, const char *repo, const char *ref,
		bool fresh, struct resolve_view *out);
/* Read tag @tag of @repo ahead (prefetch.c): its manifest fetched by the
 * tag and kept, unless the tag was seen before.  A 429 or 503 (EAGAIN) is
 * kept a few seconds for the reader it was for, who takes it as its answer
 * instead of asking again.  0 or -errno. */
int resolve_tag_ahead(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag);
/* Manifest @digest of @repo read as @content_type says (NULL: from the
 * document alone), as a shared view.  -EINVAL as resolve_ref. */
int resolve_digest(struct fs *fs, struct reg_registry *r, const char *repo, const char *digest,
		   const char *content_type, struct resolve_view *out);
/* Entry @name (a platform directory's name) of index @idx in @repo.
 * -ENOTDIR when @idx is no index, -ENOENT when it has no such entry,
 * -EINVAL as resolve_ref.  A shared view, as resolve_ref's. */
int resolve_entry(struct fs *fs, struct reg_registry *r, const char *repo,
		  const struct resolve_view *idx, const char *name, struct resolve_view *out);

/* What a whole path names (resolve_path). */
enum resolved_kind {
	RESOLVED_ROOT,         /* the mount's root */
	RESOLVED_REGISTRY,     /* a registry */
	RESOLVED_REPO,         /* a repository path: a repository, a namespace, or both */
	RESOLVED_DRAFT,        /* a draft, or something inside one */
	RESOLVED_MANIFEST,     /* a manifest: view (and parent, for an index entry) */
	RESOLVED_NONE,         /* nothing there (why says more, or NULL) */
	RESOLVED_NOT_MANIFEST, /* inside a manifest's directory, no manifest (why) */
	RESOLVED_UNREADABLE,   /* a manifest regfs cannot read */
};
struct resolved {
	enum resolved_kind kind;
	const char *why;          /* static, or NULL */
	struct reg_registry *reg; /* borrowed; from RESOLVED_REGISTRY on */
	char *repo;               /* owned: RESOLVED_REPO its path; MANIFEST the repository */
	char *ref;                /* owned: MANIFEST the tag or digest the path names */
	bool by_tag;              /* ref is a tag */
	/* the views are the caller's own (not shared): they may be taken apart */
	struct resolve_view view;   /* MANIFEST: the manifest named */
	struct resolve_view parent; /* MANIFEST, an index entry: the index it is in */
};
void resolved_release(struct resolved *t);
/* Resolve mount-relative path @rel (normalised: mountpath_resolve) by the
 * same steps as lookups, component by component: so a link names what `ls`
 * shows at its target.  With @fresh the tag's manifest is asked of the
 * registry now (a commit pushes what the tag is now).  0 with *t set (what
 * is there, or why nothing is; release it with resolved_release), or
 * -errno when the registry could not be asked (nothing to release). */
int resolve_path(struct fs *fs, const char *rel, bool fresh, struct resolved *t);

/* --- tree.c -------------------------------------------------------------- */

struct tree_entry {
	char *name;          /* owned */
	enum node_kind kind; /* what a lookup of it gives */
	uint64_t ino;        /* a blob's or NODE_IMAGEFS number, else 0: node_ino_for() */
	mode_t type;         /* NODE_IMAGEFS: the entry's file type, else 0: the kind's */
};

struct tree_listing {
	struct tree_entry *v; /* owned array, in the order added */
	size_t n, cap;
	/* owned: an open-addressing hash of the names (index + 1 into v, 0
	 * empty), so adding a name costs O(1), not a scan of the listing */
	size_t *slots;
	size_t nslots; /* a power of two, at least twice n; 0 before the first add */
};
void tree_listing_release(struct tree_listing *l);

/* Add @name, which a lookup makes a node of @kind, unless the listing has
 * it already (first one wins).  0 or -ENOMEM. */
int tree_listing_add(struct tree_listing *l, const char *name, enum node_kind kind);
/* Add blob file @name (a NODE_LAYER): blob @digest of @r, one inode
 * wherever it shows. */
int tree_listing_add_blob(struct tree_listing *l, const char *name, const struct reg_registry *r,
			  const char *digest);
/* Add NODE_IMAGEFS entry @name, of number @ino and file type @type. */
int tree_listing_add_inner(struct tree_listing *l, const char *name, uint64_t ino, mode_t type);
/* Repository-level lookups and listings below repository path @prefix
 * (NULL: the registry's top level), as for NODE_REGISTRY / NODE_REPO:
 * resolve_level's answer as a node. */
int tree_lookup_level(struct fs *fs, struct node *parent, const char *prefix, const char *name,
		      struct node **out);
int tree_list_level(struct fs *fs, struct node *n, const char *prefix, struct tree_listing *out);

/* Resolve @name in @parent into a new unpublished node (*out).  0 or -errno. */
int tree_lookup(struct fs *fs, struct node *parent, const char *name, struct node **out);
/* The children of a directory node.  0 or -errno. */
int tree_list(struct fs *fs, struct node *n, struct tree_listing *out);
/* Attributes of @n: owned by cfg.uid:cfg.gid (fs_config), directories
 * that take writes (registries, repositories, tags, drafts) 0755, files
 * that can be written 0644, the rest 0555/0444; group-writable with
 * group_writes; less cfg.umask (symlinks stay 0777).  0 or -errno. */
int tree_stat(struct fs *fs, struct node *n, struct stat *st);
/* The whole content of a NODE_FILE (new buffer, caller frees).  0 or -errno. */
int tree_file_content(struct fs *fs, struct node *n, char **bytes, size_t *len);
/* Make a layer present and verified in the store; returns an fd to it or
 * -errno. */
int tree_layer_open(struct fs *fs, struct node *n);
/* The manifest @n is in (of a manifest's directory, or of the directory a
 * file, layers/ or layerfs/ is in), resolved now: a shared view.  0 or
 * -errno (-EIO for a manifest regfs cannot read). */
int tree_view_manifest(struct fs *fs, struct node *n, struct resolve_view *v);
/* Blob @digest of @size bytes of the image @n is in, present and verified
 * in the store (from the registry, or a foreign layer's URLs): an fd to
 * it, or -errno. */
int tree_blob_open(struct fs *fs, struct node *n, const char *digest, int64_t size);
/*
 * What @n acts as now: @n itself, or a new unpublished stand-in (*tmp,
 * freed by the caller with node_free) when a tag's directory holds a draft
 * (a NODE_DRAFT) or a draft directory's draft is gone (the tag or
 * namespace the registry has at that path now).  0 or -errno.
 */
int tree_effective(struct fs *fs, struct node *n, struct node **acting, struct node **tmp);
/* Does @n's path hold a draft now? */
bool tree_is_draft(struct fs *fs, struct node *n);
/* "host/ns/repo/tag..." of @n (new string, NULL on -ENOMEM); "" for the root. */
char *tree_path(const struct node *n);
/* The repository path a child of repository-level node @n lives in, i.e.
 * @n's own repository path (NULL for a registry).  Borrowed. */
const char *tree_level_prefix(const struct node *n);

/* Blob @digest of @size bytes from @repo of @r, present and verified in
 * the store.  0 or -errno. */
int tree_blob_ensure(struct fs *fs, struct reg_registry *r, const char *repo,
		     const char *digest, int64_t size);
/* The config of image @m (new buffer).  0 or -errno. */
int tree_config_read(struct fs *fs, struct reg_registry *r, const char *repo,
		     const struct reg_manifest *m, char **bytes, size_t *len);

/* Extended attribute @name of @n into a new string (*val), or -ENODATA. */
int tree_xattr(struct fs *fs, struct node *n, const char *name, char **val, size_t *len);
/* NUL-separated list of @n's attribute names (new buffer). */
int tree_xattr_list(struct fs *fs, struct node *n, char **names, size_t *len);

/* --- imagefs.c: rootfs/ and layerfs/, the files inside an image ------------ */

/* Is @name one of an image directory's own trees (rootfs, layerfs)? */
bool imagefs_is_top(const char *name);
/* @name (imagefs_is_top) in image directory @parent, whose manifest @v is
 * an image: a new unpublished node (*out).  0 or -ENOMEM. */
int imagefs_lookup_top(struct fs *fs, struct node *parent, const struct resolve_view *v,
		       const char *name, struct node **out);
/* Lookups, listings, attributes, link targets and xattrs in layerfs/
 * (NODE_LAYERFS) and in the trees (NODE_IMAGEFS), as the tree_* functions.
 * A layer that cannot be had or indexed is -EIO (the log says why), and
 * so is every path of a tree that has it. */
int imagefs_lookup(struct fs *fs, struct node *parent, const char *name, struct node **out);
int imagefs_list(struct fs *fs, struct node *n, struct tree_listing *out);
int imagefs_stat(struct fs *fs, struct node *n, struct stat *st);
int imagefs_readlink(struct fs *fs, struct node *n, char **target);
int imagefs_xattr(struct fs *fs, struct node *n, const char *name, char **val, size_t *len);
int imagefs_xattr_list(struct fs *fs, struct node *n, char **names, size_t *len);

/* A regular file of a tree, open: its layer's blob and a decompressor
 * that goes on where its last read stopped. */
struct imagefs_file;
/* Open file @n (*out new, imagefs_close it).  0, -EISDIR or -EACCES for
 * what is not a regular file, -EIO, -errno. */
int imagefs_open(struct fs *fs, struct node *n, struct imagefs_file **out);
/* Read up to @size bytes at @off into @buf; *got gets how many (short only
 * at the end).  Any thread; reads of one file take turns.  0 or -EIO. */
int imagefs_read(struct imagefs_file *f, char *buf, size_t size, off_t off, size_t *got);
/* The file's size. */
uint64_t imagefs_size(const struct imagefs_file *f);
void imagefs_close(struct imagefs_file *f); /* NULL is a no-op */

/* --- attest.c: attestations/, an image's in-toto statements ---------------- */

struct reg_descriptor;
/* A new unpublished blob file node @name in @parent for blob @d (*out). */
int tree_blob_child(struct node *parent, const char *name, const struct reg_descriptor *d,
		    struct node **out);
/* Is @name attestations/? */
bool attest_is_top(const char *name);
/* Does image @v, whose directory is @dir, have attestations (is @dir an
 * entry of an index that attests it)?  1, 0, or -errno (the index could
 * not be had; -CANCEL_WOULD_WAIT where the thread may not wait). */
int attest_has(struct fs *fs, struct node *dir, const struct resolve_view *v);
/* attestations/ in image directory @parent: a new unpublished node, or
 * -ENOENT when the image has none. */
int attest_lookup_top(struct fs *fs, struct node *parent, const struct resolve_view *v,
		      struct node **out);
/* Lookups and listings in attestations/, as the tree_* functions. */
int attest_lookup(struct fs *fs, struct node *n, const char *name, struct node **out);
int attest_list(struct fs *fs, struct node *n, struct tree_listing *out);
/* The content of FILE_ATTEST_PREDICATE @n: its statement's predicate,
 * pretty-printed JSON (new buffer).  0, -EIO for a statement that is no
 * in-toto statement (logged), -errno. */
int attest_predicate(struct fs *fs, struct node *n, char **bytes, size_t *len);

/* --- referrers.c: referrers/, what names a manifest as its subject ------------ */

/* Is @name referrers/? */
bool referrers_is_top(const char *name);
/* Is tag @tag one of the referrers' plumbing: sha256-<64 hex>, the OCI 1.1
 * fallback tag, or that with cosign's .sig, .att or .sbom? */
bool referrers_is_plumbing_tag(const char *tag);
/* referrers/ in manifest directory @parent: a new unpublished node. */
int referrers_lookup_top(struct fs *fs, struct node *parent, struct node **out);
/* Lookups and listings in referrers/, as the tree_* functions; each entry
 * is a manifest's directory by digest. */
int referrers_lookup(struct fs *fs, struct node *n, const char *name, struct node **out);
int referrers_list(struct fs *fs, struct node *n, struct tree_listing *out);
/* What kind of artifact @m is (its artifactType, else an image's config
 * media type when it is not an image config's): a new string, or
 * -ENODATA for a plain image or index. */
int referrers_artifact_type(const struct reg_manifest *m, char **val);

/* --- draft.c: drafts in the tree ------------------------------------------ */

/* Lookups, listings, attributes and contents of draft nodes (@n acting as
 * a draft per tree_effective).  As the tree_* functions; draft_stat
 * leaves the owner to tree_stat. */
int draft_lookup(struct fs *fs, struct node *n, const char *name, struct node **out);
int draft_list(struct fs *fs, struct node *n, struct tree_listing *out);
int draft_stat(struct fs *fs, struct node *n, struct stat *st);
int draft_file_content(struct fs *fs, struct node *n, char **bytes, size_t *len);
int draft_readlink(struct fs *fs, struct node *n, char **target);

/* The writing operations.  @parent is the directory written in; on
 * success *out (when given) is a new unpublished node for the reply.
 * Outside drafts they answer -EROFS, except where a tag turns into a
 * draft (amend). */
int draft_mkdir(struct fs *fs, struct node *parent, const char *name, struct node **out);
int draft_rmdir(struct fs *fs, struct node *parent, const char *name);
int draft_symlink(struct fs *fs, struct node *parent, const char *name, const char *target,
		  struct node **out);
int draft_unlink(struct fs *fs, struct node *parent, const char *name);
/* create(2) of @name in @parent: ".commit" commits (and returns only when
 * done; @who asked, for the log); ".mediatype" and annotation files are
 * made.  *fd is an open file for writable user files, else -1. */
int draft_create(struct fs *fs, struct node *parent, const char *name, int flags,
		 const struct fs_caller *who, struct node **out, int *fd);
/* open(2) of a user file for writing (@flags as given); returns an fd or
 * -errno.  -EROFS for everything else. */
int draft_open_write(struct fs *fs, struct node *n, int flags);
/* truncate of a user file. */
int draft_truncate(struct fs *fs, struct node *n, off_t size);

/* --- commit.c: turning a draft into a pushed list -------------------------- */

void commit_init(struct fs *fs);
void commit_release(struct fs *fs);
/* What a commit of draft @path would push, and what is wrong with it.
 * @preview/@digest/@status (each may be NULL) receive new strings.
 * Returns 0 when the draft is committable, -EINVAL when not (status says
 * why), other -errno when the registry could not be asked. */
int commit_plan_text(struct fs *fs, struct node *draft, char **preview, size_t *preview_len,
		     char **digest, char **status);
/* Commit draft @draft: push children, then the list; on success the draft
 * is removed.  Serialised per draft.  @who asked for it (the log names
 * them).  0 or -errno (reason kept for .status). */
int commit_run(struct fs *fs, struct node *draft, const struct fs_caller *who);
/* Was the tag @tag's directory committed by this mount a moment ago? */
bool commit_was_just_done(struct fs *fs, struct node *tag);

#endif
