/*
 * rootfs/ and layerfs/: the files inside an image, read from its layers.
 *
 *   .../image/rootfs/...                  NODE_IMAGEFS  the layers merged (layer/merge.h)
 *   .../image/layerfs/                    NODE_LAYERFS  a directory per layer
 *   .../image/layerfs/NN-sha256:.../...   NODE_IMAGEFS  one layer as its tar has it
 *
 * Neither name is in the image directory's listing: `find`, `du` or
 * `grep -r` over a registry would otherwise download and index every layer
 * of every image they pass.  Named, they are there.
 *
 * A tree is fixed by a digest: rootfs/ by the image manifest's (taken when
 * `rootfs` is looked up, so a tag that moves gives a new rootfs/ at the
 * next lookup), a layer's directory by the layer's.  Building it takes each
 * layer into the store (verified, counted in .downloads), then the layer's
 * index: the one stored beside the blob when it loads intact, else built
 * from the blob (shown in .downloads as "index:host/repo" while it runs)
 * and stored.  Indexes and trees stay in fs->imagefs by digest, shared by
 * every image that has them, and every path below answers from there.
 *
 * Inode numbers: a directory, symlink or special file gets its number from
 * its path (node_ino_for_inner), and a tree's top from the tree's digest; a
 * regular file from the tree, the layer and the path its bytes came under
 * (a hardlink's target), so the names of one file are one inode, and
 * st_nlink counts the names the tree shows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/mem.h"
#include "cache/store.h"
#include "common/buf.h"
#include "common/cancel.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "layer/index.h"
#include "layer/merge.h"
#include "registry/client.h"
#include "registry/manifest.h"

#define ROOTFS_NAME "rootfs"
#define LAYERFS_NAME "layerfs"
/* on every entry: the digest of the layer it comes from */
#define XA_LAYER "user.regfs.layer"

bool imagefs_is_top(const char *name)
{
	return strcmp(name, ROOTFS_NAME) == 0 || strcmp(name, LAYERFS_NAME) == 0;
}

/* --- one layer's index ------------------------------------------------------ */

/* A layer's index as kept in fs->imagefs, shared by every tree with it. */
struct imagefs_layer {
	struct cache_mem_obj obj; /* first: the cache hands this back */
	struct layer_index *ix;	  /* owned */
};

static void layer_destroy(struct cache_mem_obj *o)
{
	struct imagefs_layer *l = (struct imagefs_layer *)o;

	layer_index_free(l->ix);
	free(l);
}

/* An index being built, as .downloads shows it. */
struct index_progress {
	struct fs_download *dl;
	uint64_t shown;
};

static int index_progress(void *arg, uint64_t done, uint64_t total)
{
	struct index_progress *p = arg;

	(void)total;
	if (done > p->shown) {
		download_add(p->dl, (size_t)(done - p->shown));
		p->shown = done;
	}
	/* a reader that leaves does not stop it (others may wait for it, and
	 * it is bounded work); the daemon stopping does */
	return cancel_all_requested() ? -EINTR : 0;
}

/* Store @ix beside its blob, for the next mount; a failure costs only
 * that the next mount builds it again. */
static void index_store(struct fs *fs, const struct layer_index *ix, const char *digest)
{
	struct buf b = BUF_INIT(IMAGEFS_INDEX_FILE_MAX);
	int ret = layer_index_save(ix, &b);

	if (ret == 0)
		ret = cache_store_side_write(fs->store, CACHE_SIDE_LAYER_INDEX, digest, b.data, b.len);
	if (ret < 0)
		log_warn("index of layer '%s' not stored (it is built again next time): %s", digest,
			 strerror(-ret));
	buf_release(&b, 0);
}

/* Keep index @ix (taken over) in memory under @key.  0 with *out a new
 * reference, or -ENOMEM (@ix freed). */
static int layer_keep(struct fs *fs, const char *key, struct layer_index *ix,
		      struct imagefs_layer **out)
{
	struct imagefs_layer *l = calloc(1, sizeof(*l));

	if (!l) {
		layer_index_free(ix);
		return -ENOMEM;
	}
	l->ix = ix;
	cache_mem_obj_init(&l->obj, layer_destroy, layer_index_memory(ix));
	cache_mem_put_obj(fs->imagefs, key, &l->obj, CACHE_MEM_FOREVER);
	*out = l;
	return 0;
}

/* Layer @digest's index from memory, or else from the copy stored beside
 * its blob (then kept in memory): no network, no blob.  0 with *out a new
 * reference; -ENOENT when neither has it (a stored copy that does not
 * load intact is removed); -errno. */
static int layer_at_hand(struct fs *fs, const char *digest, const char *key,
			 struct imagefs_layer **out)
{
	struct cache_mem_obj *o = cache_mem_find_obj(fs->imagefs, key);
	struct layer_index *ix;
	char *bytes = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (o) {
		*out = (struct imagefs_layer *)o;
		return 0;
	}
	ret = cache_store_side_read(fs->store, CACHE_SIDE_LAYER_INDEX, digest,
				    IMAGEFS_INDEX_FILE_MAX, &bytes, &len);
	if (ret < 0) {
		if (ret != -ENOENT)
			log_warn("stored index of layer '%s' cannot be read (%s): indexing the "
				 "layer again", digest, strerror(-ret));
		return -ENOENT;
	}
	ret = layer_index_load(bytes, len, digest, &ix);
	free(bytes);
	if (ret == -EINVAL) {
		log_warn("stored index of layer '%s' is not intact: indexing the layer again",
			 digest);
		cache_store_side_drop(fs->store, CACHE_SIDE_LAYER_INDEX, digest);
		return -ENOENT;
	}
	if (ret < 0)
		return ret;
	log_debug("layer '%s': index read from the cache", digest);
	return layer_keep(fs, key, ix, out);
}

/*
 * Index layer @digest, whose verified blob is open on @fd, and store the
 * index beside the blob.  0 with *out new, -EIO for a blob that cannot be
 * indexed (logged with why), or -errno.
 */
static int index_build(struct fs *fs, struct node *n, int fd, const char *digest,
		       struct layer_index **out)
{
	struct index_progress p = {0};
	struct layer_build_opts opts = {.progress = index_progress, .arg = &p};
	char why[256], *where;
	struct stat st;
	double started;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	where = fs_strdup_printf("index:%s/%s", reg_registry_host(n->reg), n->repo);
	p.dl = where ? download_begin(fs, where, digest, (int64_t)st.st_size) : NULL;
	free(where);
	started = mono_now();
	ret = layer_index_build_with(fd, digest, &opts, out, why, sizeof(why));
	download_end(fs, p.dl, ret);
	if (ret < 0) {
		if (ret != -ENOMEM && ret != -EINTR) {
			log_err("layer '%s' of '%s': cannot be indexed: %s", digest, n->repo, why);
			ret = -EIO;
		}
		return ret;
	}
	log_msg(st.st_size >= (off_t)DOWNLOAD_LOG_MIN ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		"layer '%s' of '%s': indexed, %zu entries, %zu checkpoint%s, in %.2f s", digest,
		n->repo, layer_index_count(*out), layer_index_checkpoints(*out),
		layer_index_checkpoints(*out) == 1 ? "" : "s", mono_now() - started);
	index_store(fs, *out, digest);
	return 0;
}

/* Take layer @digest into the store, index it and keep the index under
 * @key.  0 with *out a new reference, or -errno. */
static int layer_make(struct fs *fs, struct node *n, const char *digest, int64_t size,
		      const char *key, const char *failed_key, struct imagefs_layer **out)
{
	struct layer_index *ix = NULL;
	int fd, ret;

	fd = tree_blob_open(fs, n, digest, size);
	if (fd == -ENOENT) {
		/* the registry does not have it, nor (a foreign layer) its URLs */
		log_err("layer '%s' of '%s' cannot be had: its files are not shown", digest,
			n->repo);
		return -EIO;
	}
	if (fd < 0)
		return fd;
	ret = index_build(fs, n, fd, digest, &ix);
	close(fd);
	if (ret == -EIO) {
		/* the blob is verified, so this is its content: the same next
		 * time, which is not asked for a while */
		cache_mem_put(fs->imagefs, failed_key, "", 0, IMAGEFS_FAILURE_TTL);
	}
	if (ret < 0)
		return ret;
	return layer_keep(fs, key, ix, out);
}

static char *layer_key(const char *digest)
{
	return fs_strdup_printf("imagefs-index %s", digest);
}

/*
 * The object under @key in fs->imagefs: from memory, else made by
 * @make(@fs, @arg, out) in one thread however many ask at a time (the
 * others wait for it, then look again).  A failure kept under @failed_key
 * (NULL: none) answers -EIO at once.  0 with *out a new reference, or
 * -errno (-CANCEL_WOULD_WAIT where the thread may not wait).
 */
typedef int (*obj_make_fn)(struct fs *fs, void *arg, struct cache_mem_obj **out);
static int obj_get(struct fs *fs, const char *key, const char *failed_key, obj_make_fn make,
		   void *arg, struct cache_mem_obj **out)
{
	*out = NULL;
	for (int tries = 0;; tries++) {
		char *val = NULL;
		size_t len;
		int lead, ret;

		*out = cache_mem_find_obj(fs->imagefs, key);
		if (*out)
			return 0;
		if (failed_key && cache_mem_get(fs->imagefs, failed_key, &val, &len) == 0) {
			free(val);
			return -EIO;
		}
		if (!cancel_may_wait())
			return -CANCEL_WOULD_WAIT;
		lead = fs_fetch_begin(fs, key);
		if (lead < 0)
			return lead;
		if (lead == 0 && tries < 3)
			continue; /* another thread made it (or failed): look again */
		ret = make(fs, arg, out);
		if (lead == 1)
			fs_fetch_end(fs, key);
		return ret;
	}
}

/* What layer_get asks obj_get to make. */
struct layer_want {
	struct node *n;
	const char *digest, *key, *failed_key;
	int64_t size;
};

static int layer_want_make(struct fs *fs, void *arg, struct cache_mem_obj **out)
{
	struct layer_want *w = arg;
	struct imagefs_layer *l = NULL;
	int ret = layer_at_hand(fs, w->digest, w->key, &l);

	if (ret == -ENOENT)
		ret = layer_make(fs, w->n, w->digest, w->size, w->key, w->failed_key, &l);
	*out = l ? &l->obj : NULL;
	return ret;
}

/* Layer @digest (@size bytes) of the image @n is in, indexed: from memory
 * or the stored index, else made once however many ask at a time.  0 with
 * *out a new reference (cache_mem_obj_put), or -errno. */
static int layer_get(struct fs *fs, struct node *n, const char *digest, int64_t size,
		     struct imagefs_layer **out)
{
	struct layer_want w = {.n = n, .digest = digest, .size = size, .key = layer_key(digest),
			       .failed_key = fs_strdup_printf("imagefs-failed %s", digest)};
	struct cache_mem_obj *o = NULL;
	int ret = -ENOMEM;

	if (w.key && w.failed_key)
		ret = obj_get(fs, w.key, w.failed_key, layer_want_make, &w, &o);
	*out = (struct imagefs_layer *)o;
	free((char *)w.key);
	free((char *)w.failed_key);
	return ret;
}

/* --- trees ------------------------------------------------------------------ */

/* A hardlink target and how many hardlinks the tree shows to it. */
struct link_count {
	uint64_t key; /* node_ino_for_inner_file of the target */
	uint32_t n;
};

/* One tree: an image's layers merged (rootfs/), or one layer (layerfs/). */
struct imagefs_tree {
	struct cache_mem_obj obj; /* first: the cache hands this back */
	char digest[DIGEST_STR_LEN + 1];
	bool layer_tree;
	size_t n;			      /* layers */
	struct imagefs_layer **layers;	      /* references, bottom first */
	struct layer_index **ixs;	      /* their indexes: the array the merge borrows */
	char (*digests)[DIGEST_STR_LEN + 1];  /* the layers' */
	int64_t *sizes;
	struct layer_merge *m; /* rootfs/; NULL for a layer's tree (layers[0] alone) */
	struct link_count *links; /* sorted by key */
	size_t n_links;
};

static void tree_destroy(struct cache_mem_obj *o)
{
	struct imagefs_tree *t = (struct imagefs_tree *)o;

	layer_merge_free(t->m);
	for (size_t i = 0; t->layers && i < t->n; i++)
		if (t->layers[i])
			cache_mem_obj_put(&t->layers[i]->obj);
	free(t->layers);
	free(t->ixs);
	free(t->digests);
	free(t->sizes);
	free(t->links);
	free(t);
}

static void tree_put(struct imagefs_tree *t)
{
	if (t)
		cache_mem_obj_put(&t->obj);
}

/* An entry of a tree, wherever it comes from. */
struct tree_at {
	uint32_t layer;		    /* of the tree's layers */
	size_t entry;		    /* in that layer's index */
	struct layer_index *ix;	    /* that layer's */
	const struct layer_entry *e;
	const char *path;
};

static size_t tree_find(const struct imagefs_tree *t, const char *path)
{
	return t->m ? layer_merge_find(t->m, path) : layer_index_find(t->ixs[0], path);
}

static size_t tree_child_first(const struct imagefs_tree *t, size_t id)
{
	return t->m ? layer_merge_child_first(t->m, id) : layer_index_child_first(t->ixs[0], id);
}

static size_t tree_child_next(const struct imagefs_tree *t, size_t id)
{
	return t->m ? layer_merge_child_next(t->m, id) : layer_index_child_next(t->ixs[0], id);
}

static size_t tree_count(const struct imagefs_tree *t)
{
	return t->m ? layer_merge_count(t->m) : layer_index_count(t->ixs[0]);
}

static void tree_at(const struct imagefs_tree *t, size_t id, struct tree_at *a)
{
	if (t->m) {
		const struct layer_merged *me = layer_merge_entry(t->m, id);

		a->layer = me->layer;
		a->entry = me->entry;
		a->ix = layer_merge_index(t->m, id);
		a->e = layer_merge_layer_entry(t->m, id);
		a->path = layer_merge_path(t->m, id);
	} else {
		a->layer = 0;
		a->entry = id;
		a->ix = t->ixs[0];
		a->e = layer_index_entry(a->ix, id);
		a->path = layer_entry_path(a->ix, a->e);
	}
}

static bool type_has_data(uint8_t type)
{
	return type == LAYER_REG || type == LAYER_HARDLINK;
}

/* The key a regular file's inode number and link count go by: the layer
 * and the path its bytes came under. */
static uint64_t file_key(const struct imagefs_tree *t, const struct tree_at *a)
{
	/* a hardlink to nothing of its layer is a file of its own */
	const char *canon = a->e->type == LAYER_HARDLINK && !(a->e->flags & LAYER_F_LINK_MISSING)
				    ? layer_entry_link(a->ix, a->e)
				    : a->path;

	return node_ino_for_inner_file(t->digest, t->layer_tree, a->layer, canon);
}

static int link_count_cmp(const void *pa, const void *pb)
{
	const struct link_count *a = pa, *b = pb;

	return a->key < b->key ? -1 : a->key > b->key;
}

/* Count the hardlinks the tree shows, by target. */
static int tree_count_links(struct imagefs_tree *t)
{
	size_t count = tree_count(t), n = 0, cap = 0;
	struct link_count *v = NULL;

	for (size_t id = 0; id < count; id++) {
		struct tree_at a;

		tree_at(t, id, &a);
		if (a.e->type != LAYER_HARDLINK || (a.e->flags & LAYER_F_LINK_MISSING))
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct link_count *nv = reallocarray(v, ncap, sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = (struct link_count){.key = file_key(t, &a), .n = 1};
	}
	if (n)
		qsort(v, n, sizeof(*v), link_count_cmp);
	t->n_links = 0;
	for (size_t i = 0; i < n; i++) {
		if (t->n_links && v[t->n_links - 1].key == v[i].key)
			v[t->n_links - 1].n++;
		else
			v[t->n_links++] = v[i];
	}
	t->links = v;
	return 0;
}

/* The names the tree shows for the file at @a. */
static uint32_t tree_nlink(const struct imagefs_tree *t, const struct tree_at *a)
{
	struct link_count key = {.key = file_key(t, a)}, *c;
	uint32_t links;
	size_t target;

	if (a->e->flags & LAYER_F_LINK_MISSING)
		return 1;
	c = t->n_links ? bsearch(&key, t->links, t->n_links, sizeof(key), link_count_cmp) : NULL;
	links = c ? c->n : 0;
	if (a->e->type == LAYER_REG)
		return links + 1;
	/* a hardlink: its target counts if the tree still shows it, from
	 * the same layer (an upper layer may have replaced it) */
	target = tree_find(t, layer_entry_link(a->ix, a->e));
	if (target != LAYER_NONE) {
		struct tree_at b;

		tree_at(t, target, &b);
		if (b.layer == a->layer && b.e->type == LAYER_REG)
			links++;
	}
	return links ? links : 1;
}

/*
 * The indexes of @t's layers: first those at hand (memory, or stored);
 * then the others are indexed one after the other, bottom first, while
 * the blobs of those above the first are downloaded in the background, so
 * that a cold image costs about its slowest download plus its indexing,
 * not the sum of its downloads.
 */
static int tree_layers_get(struct fs *fs, struct node *n, struct imagefs_tree *t)
{
	bool first = true;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < t->n; i++) {
		char *key = layer_key(t->digests[i]);

		ret = key ? layer_at_hand(fs, t->digests[i], key, &t->layers[i]) : -ENOMEM;
		free(key);
		if (ret == -ENOENT) {
			if (!first)
				prefetch_blob(fs, n->reg, n->repo, t->digests[i], t->sizes[i]);
			first = false;
			ret = 0;
		}
	}
	for (size_t i = 0; ret == 0 && i < t->n; i++) {
		if (!t->layers[i])
			ret = layer_get(fs, n, t->digests[i], t->sizes[i], &t->layers[i]);
		if (ret == 0)
			t->ixs[i] = t->layers[i]->ix;
	}
	return ret;
}

/* Does layer @ix hold a whiteout marker (.wh.<name>, .wh..wh..opq)? */
static bool has_whiteouts(const struct layer_index *ix)
{
	for (size_t i = 1; i < layer_index_count(ix); i++) {
		const struct layer_entry *e = layer_index_entry(ix, i);
		const char *p = layer_entry_path(ix, e), *base = strrchr(p, '/');

		base = base ? base + 1 : p;
		if (strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0)
			return true;
	}
	return false;
}

/* Make the tree of @n (its top's digest) and keep it under @key. */
static int tree_make(struct fs *fs, struct node *n, const char *key, struct imagefs_tree **out)
{
	struct resolve_view v = {0};
	struct imagefs_tree *t;
	size_t charge;
	int ret;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	cache_mem_obj_init(&t->obj, tree_destroy, sizeof(*t));
	memcpy(t->digest, n->layer_digest, sizeof(t->digest));
	t->layer_tree = n->inner_layer;
	if (n->inner_layer) {
		t->n = 1;
	} else {
		ret = resolve_digest(fs, n->reg, n->repo, n->layer_digest, NULL, &v);
		if (ret == -EINVAL)
			ret = -EIO;
		if (ret < 0)
			goto fail;
		ret = -EIO;
		if (!reg_mtype_is_image(v.m->type) || v.m->n_layers == 0)
			goto fail;
		t->n = v.m->n_layers;
	}
	ret = -ENOMEM;
	t->layers = calloc(t->n, sizeof(*t->layers));
	t->ixs = calloc(t->n, sizeof(*t->ixs));
	t->digests = calloc(t->n, sizeof(*t->digests));
	t->sizes = calloc(t->n, sizeof(*t->sizes));
	if (!t->layers || !t->ixs || !t->digests || !t->sizes)
		goto fail;
	for (size_t i = 0; i < t->n; i++) {
		const char *d = n->inner_layer ? n->layer_digest : v.m->layers[i].digest;

		snprintf(t->digests[i], sizeof(t->digests[i]), "%s", d);
		t->sizes[i] = n->inner_layer ? n->layer_size : v.m->layers[i].size;
	}
	ret = tree_layers_get(fs, n, t);
	if (ret < 0)
		goto fail;
	/* one layer with no whiteout marker is its own merge: its index
	 * answers, and the first lookup of a big image's rootfs/ is spared
	 * building the same table again */
	if (!n->inner_layer && !(t->n == 1 && !has_whiteouts(t->ixs[0]))) {
		ret = layer_merge_new(t->ixs, t->n, &t->m);
		if (ret < 0) {
			log_err("image '%s' of '%s': its layers cannot be merged: %s", t->digest,
				n->repo, strerror(-ret));
			ret = ret == -ENOMEM ? ret : -EIO;
			goto fail;
		}
	}
	ret = tree_count_links(t);
	if (ret < 0)
		goto fail;
	charge = sizeof(*t) + t->n * (sizeof(*t->layers) + sizeof(*t->ixs) + sizeof(*t->digests) +
				      sizeof(*t->sizes)) +
		 t->n_links * sizeof(*t->links) + (t->m ? layer_merge_memory(t->m) : 0);
	t->obj.charge = charge;
	resolve_view_release(&v);
	cache_mem_put_obj(fs->imagefs, key, &t->obj, CACHE_MEM_FOREVER);
	*out = t;
	return 0;
fail:
	resolve_view_release(&v);
	tree_put(t);
	return ret;
}

/* What tree_get asks obj_get to make. */
struct tree_want {
	struct node *n;
	const char *key;
};

static int tree_want_make(struct fs *fs, void *arg, struct cache_mem_obj **out)
{
	struct tree_want *w = arg;
	struct imagefs_tree *t = NULL;
	int ret = tree_make(fs, w->n, w->key, &t);

	*out = t ? &t->obj : NULL;
	return ret;
}

/* The tree node @n is in: a new reference (tree_put), or -errno. */
static int tree_get(struct fs *fs, struct node *n, struct imagefs_tree **out)
{
	struct tree_want w = {.n = n};
	struct cache_mem_obj *o = NULL;
	char *key = fs_strdup_printf("imagefs-tree %s %s", n->inner_layer ? "layer" : "image",
				     n->layer_digest);
	int ret = -ENOMEM;

	w.key = key;
	if (key)
		ret = obj_get(fs, key, NULL, tree_want_make, &w, &o);
	*out = (struct imagefs_tree *)o;
	free(key);
	return ret;
}

/* The tree @n is in (*t, a reference) and @n's entry in it (*a). */
static int node_entry(struct fs *fs, struct node *n, struct imagefs_tree **t, struct tree_at *a)
{
	size_t id;
	int ret = tree_get(fs, n, t);

	if (ret < 0)
		return ret;
	id = tree_find(*t, n->inner);
	if (id == LAYER_NONE) {
		/* a tree never changes under its digest */
		tree_put(*t);
		*t = NULL;
		return -ENOENT;
	}
	tree_at(*t, id, a);
	return 0;
}

/* --- nodes ------------------------------------------------------------------ */

static mode_t type_of(uint8_t type)
{
	switch (type) {
	case LAYER_REG:
	case LAYER_HARDLINK:
		return S_IFREG;
	case LAYER_DIR:
		return S_IFDIR;
	case LAYER_SYMLINK:
		return S_IFLNK;
	case LAYER_CHR:
		return S_IFCHR;
	case LAYER_BLK:
		return S_IFBLK;
	default:
		return S_IFIFO;
	}
}

/* The number of the tree entry @a, child @name of @parent. */
static uint64_t entry_ino(const struct imagefs_tree *t, const struct node *parent, const char *name,
			  const struct tree_at *a)
{
	if (type_has_data(a->e->type))
		return file_key(t, a);
	return node_ino_for_inner(parent, name, NULL);
}

/* A new unpublished NODE_IMAGEFS child @name of @parent at @inner. */
static int inner_child(struct node *parent, const char *name, const char *inner,
		       struct node **out)
{
	struct node *c = node_new(parent, name, NODE_IMAGEFS);

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->inner = strdup(inner);
	c->repo = parent->repo ? strdup(parent->repo) : NULL;
	if (!c->inner || (parent->repo && !c->repo)) {
		node_free(c);
		return -ENOMEM;
	}
	c->immutable = true; /* fixed by its tree's digest */
	*out = c;
	return 0;
}

int imagefs_lookup_top(struct fs *fs, struct node *parent, const struct resolve_view *v,
		       const char *name, struct node **out)
{
	int ret;

	(void)fs;
	*out = NULL;
	if (strcmp(name, LAYERFS_NAME) == 0) {
		*out = node_new(parent, name, NODE_LAYERFS);
		if (*out && parent->repo && !((*out)->repo = strdup(parent->repo))) {
			node_free(*out);
			*out = NULL;
		}
		return *out ? 0 : -ENOMEM;
	}
	if (v->m->n_layers == 0)
		return -ENOENT; /* nothing to merge: no root filesystem */
	ret = inner_child(parent, name, "", out);
	if (ret < 0)
		return ret;
	memcpy((*out)->layer_digest, v->digest, sizeof((*out)->layer_digest));
	(*out)->inner_type = S_IFDIR;
	(*out)->ino = node_ino_for_inner(parent, name, v->digest);
	return 0;
}

/* Layer @name of layerfs/ @parent. */
static int lookup_layer_dir(struct fs *fs, struct node *parent, const char *name,
			    struct node **out)
{
	struct resolve_view v;
	long i;
	int ret = tree_view_manifest(fs, parent, &v);

	if (ret < 0)
		return ret;
	i = reg_layer_find(v.m, name);
	ret = i < 0 ? -ENOENT : inner_child(parent, name, "", out);
	if (ret == 0) {
		memcpy((*out)->layer_digest, v.m->layers[i].digest, sizeof((*out)->layer_digest));
		(*out)->layer_size = v.m->layers[i].size;
		(*out)->inner_layer = true;
		(*out)->inner_type = S_IFDIR;
		(*out)->ino = node_ino_for_inner(parent, name, NULL);
	}
	resolve_view_release(&v);
	return ret;
}

int imagefs_lookup(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct imagefs_tree *t;
	struct tree_at a;
	char *path;
	size_t id;
	int ret;

	*out = NULL;
	if (parent->kind == NODE_LAYERFS)
		return lookup_layer_dir(fs, parent, name, out);
	if (parent->inner_type != S_IFDIR)
		return -ENOTDIR;
	path = *parent->inner ? fs_strdup_printf("%s/%s", parent->inner, name) : strdup(name);
	if (!path)
		return -ENOMEM;
	ret = tree_get(fs, parent, &t);
	if (ret < 0)
		goto out;
	id = tree_find(t, path);
	ret = -ENOENT;
	if (id != LAYER_NONE) {
		tree_at(t, id, &a);
		ret = inner_child(parent, name, path, out);
	}
	if (ret == 0) {
		memcpy((*out)->layer_digest, parent->layer_digest, sizeof((*out)->layer_digest));
		(*out)->layer_size = parent->layer_size;
		(*out)->inner_layer = parent->inner_layer;
		(*out)->inner_type = type_of(a.e->type);
		(*out)->ino = entry_ino(t, parent, name, &a);
	}
	tree_put(t);
out:
	free(path);
	return ret;
}

/* The last component of @path. */
static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int imagefs_list(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct imagefs_tree *t;
	size_t id;
	int ret;

	if (n->kind == NODE_LAYERFS) {
		struct resolve_view v;

		ret = tree_view_manifest(fs, n, &v);
		if (ret < 0)
			return ret;
		for (size_t i = 0; ret == 0 && reg_mtype_is_image(v.m->type) && i < v.m->n_layers;
		     i++) {
			char *ln = reg_layer_name(i, v.m->n_layers, v.m->layers[i].digest);

			ret = ln ? tree_listing_add_inner(out, ln, node_ino_for_inner(n, ln, NULL),
							  S_IFDIR)
				 : -ENOMEM;
			free(ln);
		}
		resolve_view_release(&v);
		return ret;
	}
	if (n->inner_type != S_IFDIR)
		return -ENOTDIR;
	ret = tree_get(fs, n, &t);
	if (ret < 0)
		return ret;
	id = tree_find(t, n->inner);
	if (id == LAYER_NONE)
		ret = -ENOENT;
	for (size_t c = id == LAYER_NONE ? LAYER_NONE : tree_child_first(t, id);
	     ret == 0 && c != LAYER_NONE; c = tree_child_next(t, c)) {
		const char *name;
		struct tree_at a;

		tree_at(t, c, &a);
		name = base_name(a.path);
		ret = tree_listing_add_inner(out, name, entry_ino(t, n, name, &a),
					     type_of(a.e->type));
	}
	tree_put(t);
	return ret;
}

int imagefs_stat(struct fs *fs, struct node *n, struct stat *st)
{
	struct imagefs_tree *t;
	struct tree_at a;
	int ret = node_entry(fs, n, &t, &a);

	if (ret < 0)
		return ret;
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = type_of(a.e->type) | (a.e->mode & 07777);
	st->st_uid = a.e->uid;
	st->st_gid = a.e->gid;
	/* a directory's count of subdirectories is not kept: 1 says "unknown"
	 * to find and fts, as btrfs does */
	st->st_nlink = type_has_data(a.e->type) ? tree_nlink(t, &a) : 1;
	if (type_has_data(a.e->type))
		st->st_size = (off_t)a.e->size;
	else if (a.e->type == LAYER_SYMLINK)
		st->st_size = (off_t)a.e->link_len;
	if (a.e->type == LAYER_CHR || a.e->type == LAYER_BLK)
		st->st_rdev = (dev_t)a.e->rdev;
	st->st_mtim.tv_sec = a.e->mtime;
	st->st_mtim.tv_nsec = a.e->mtime_nsec;
	st->st_atim = st->st_ctim = st->st_mtim;
	st->st_blksize = 65536;
	st->st_blocks = (st->st_size + 511) / 512;
	tree_put(t);
	return 0;
}

int imagefs_readlink(struct fs *fs, struct node *n, char **target)
{
	struct imagefs_tree *t;
	struct tree_at a;
	int ret = node_entry(fs, n, &t, &a);

	*target = NULL;
	if (ret < 0)
		return ret;
	if (a.e->type != LAYER_SYMLINK)
		ret = -EINVAL;
	else if (!(*target = strdup(layer_entry_link(a.ix, a.e))))
		ret = -ENOMEM;
	tree_put(t);
	return ret;
}

int imagefs_xattr(struct fs *fs, struct node *n, const char *name, char **val, size_t *len)
{
	struct imagefs_tree *t;
	struct tree_at a;
	int ret = node_entry(fs, n, &t, &a);

	*val = NULL;
	if (ret < 0)
		return ret;
	ret = -ENODATA;
	if (strcmp(name, XA_LAYER) == 0) {
		*val = strdup(t->digests[a.layer]);
		*len = strlen(t->digests[a.layer]);
		ret = *val ? 0 : -ENOMEM;
	}
	for (size_t k = 0; ret == -ENODATA && k < a.e->xattr_count; k++) {
		const char *xn;
		const void *xv;
		size_t xlen;

		layer_entry_xattr(a.ix, a.e, k, &xn, &xv, &xlen);
		if (strcmp(xn, name) != 0)
			continue;
		*val = malloc(xlen + 1);
		if (!*val) {
			ret = -ENOMEM;
			break;
		}
		memcpy(*val, xv, xlen);
		(*val)[xlen] = '\0';
		*len = xlen;
		ret = 0;
	}
	tree_put(t);
	return ret;
}

int imagefs_xattr_list(struct fs *fs, struct node *n, char **names, size_t *len)
{
	struct buf b = BUF_INIT(SIZE_MAX);
	struct imagefs_tree *t;
	struct tree_at a;
	int ret = node_entry(fs, n, &t, &a);

	*names = NULL;
	if (ret < 0)
		return ret;
	ret = buf_append(&b, XA_LAYER, sizeof(XA_LAYER));
	for (size_t k = 0; ret == 0 && k < a.e->xattr_count; k++) {
		const char *xn;
		const void *xv;
		size_t xlen;

		layer_entry_xattr(a.ix, a.e, k, &xn, &xv, &xlen);
		ret = buf_append(&b, xn, strlen(xn) + 1);
	}
	tree_put(t);
	if (ret == 0) {
		*names = buf_detach(&b, len);
		ret = *names ? 0 : -ENOMEM;
	}
	buf_release(&b, 0);
	return ret;
}

/* --- open files ------------------------------------------------------------- */

struct imagefs_file {
	struct imagefs_tree *t;	   /* a reference: keeps the index the reader uses */
	int fd;			   /* the layer's blob */
	struct layer_reader *r;	   /* over fd; one read at a time (lock) */
	size_t entry;		   /* in the layer's index */
	uint64_t size;
	pthread_mutex_t lock;
};

int imagefs_open(struct fs *fs, struct node *n, struct imagefs_file **out)
{
	struct imagefs_file *f;
	struct tree_at a;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	ret = node_entry(fs, n, &f->t, &a);
	if (ret < 0)
		goto fail;
	if (!type_has_data(a.e->type)) {
		ret = a.e->type == LAYER_DIR ? -EISDIR : -EACCES;
		goto fail;
	}
	if (a.e->flags & (LAYER_F_SPARSE | LAYER_F_LINK_MISSING)) {
		/* refused at the open: a read of a size-0 file never comes */
		log_info("'%s' of layer '%s': %s, not readable", n->inner, f->t->digests[a.layer],
			 (a.e->flags & LAYER_F_SPARSE) ? "a sparse file"
						       : "a hardlink to nothing earlier in its layer");
		ret = -EIO;
		goto fail;
	}
	f->entry = a.entry;
	f->size = a.e->size;
	ret = tree_blob_open(fs, n, f->t->digests[a.layer], f->t->sizes[a.layer]);
	if (ret < 0)
		goto fail;
	f->fd = ret;
	ret = layer_reader_new(a.ix, f->fd, &f->r);
	if (ret < 0)
		goto fail;
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
fail:
	if (f->fd >= 0)
		close(f->fd);
	tree_put(f->t);
	free(f);
	return ret;
}

int imagefs_read(struct imagefs_file *f, char *buf, size_t size, off_t off, size_t *got)
{
	int ret;

	*got = 0;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	ret = layer_reader_read(f->r, f->entry, (uint64_t)off, buf, size, got);
	pthread_mutex_unlock(&f->lock);
	if (ret < 0 && ret != -ENOMEM) {
		log_err("layer file of '%s': read at %lld failed: %s", f->t->digest, (long long)off,
			strerror(-ret));
		ret = -EIO;
	}
	return ret;
}

uint64_t imagefs_size(const struct imagefs_file *f)
{
	return f->size;
}

void imagefs_close(struct imagefs_file *f)
{
	if (!f)
		return;
	layer_reader_free(f->r);
	close(f->fd);
	tree_put(f->t);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
