/*
 * What each node of the tree holds: a lookup's answer as a node (what a
 * name means is resolve.c's to say), listings from _catalog and tags/list,
 * directories of manifests from the manifest they name, files from
 * manifest bytes, configs and layers, attributes and xattrs.
 *
 * Caching: listings, tag -> digest and manifests are resolve.c's; configs
 * and layers live in the store, verified against their digest before they
 * got there and again before they are served.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/mountpath.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/inspect.h"
#include "registry/manifest.h"
#include "registry/names.h"

#define CONFIG_MAX REG_MANIFEST_MAX

static const struct {
	const char *name;
	enum file_kind kind;
	bool image_only;
} manifest_files[] = {
	{"manifest.json", FILE_MANIFEST, false}, {"digest", FILE_DIGEST, false},
	{"inspect.json", FILE_INSPECT, false},   {"config.json", FILE_CONFIG, true},
	{"platform", FILE_PLATFORM, true},
};
#define N_MANIFEST_FILES (sizeof(manifest_files) / sizeof(manifest_files[0]))

/* Does manifest_files[i] exist in the directory of a manifest of type @t?
 * Unsupported types (schema 1) show only manifest.json and digest. */
static bool manifest_file_applies(size_t i, enum reg_mtype t)
{
	if (manifest_files[i].image_only)
		return reg_mtype_is_image(t);
	if (manifest_files[i].kind == FILE_INSPECT)
		return reg_mtype_is_image(t) || reg_mtype_is_index(t);
	return true;
}

void tree_listing_release(struct tree_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	free(l->slots);
	l->v = NULL;
	l->slots = NULL;
	l->n = l->cap = l->nslots = 0;
}

#define LISTING_MIN_SLOTS 64

static size_t name_hash(const char *s)
{
	uint64_t h = 14695981039346656037u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211u;
	}
	return (size_t)h;
}

/* The slot of @name in @l's hash: where it is, or the empty one where it
 * would go. */
static size_t listing_slot(const struct tree_listing *l, const char *name)
{
	size_t mask = l->nslots - 1, i = name_hash(name) & mask;

	while (l->slots[i] && strcmp(l->v[l->slots[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Room in the hash for one more name (at most half full).  0 or -ENOMEM. */
static int listing_slots_reserve(struct tree_listing *l)
{
	size_t n = l->nslots ? l->nslots : LISTING_MIN_SLOTS;
	size_t *old = l->slots, old_n = l->nslots;

	while (n < 2 * (l->n + 1))
		n *= 2;
	if (n == l->nslots)
		return 0;
	l->slots = calloc(n, sizeof(*l->slots));
	if (!l->slots) {
		l->slots = old;
		return -ENOMEM;
	}
	l->nslots = n;
	for (size_t i = 0; i < old_n; i++)
		if (old[i])
			l->slots[listing_slot(l, l->v[old[i] - 1].name)] = old[i];
	free(old);
	return 0;
}

static int listing_add(struct tree_listing *l, const char *name, enum node_kind kind,
		       uint64_t ino, mode_t type)
{
	size_t slot;

	if (listing_slots_reserve(l) < 0)
		return -ENOMEM;
	slot = listing_slot(l, name);
	if (l->slots[slot])
		return 0; /* first one wins: a tag shadows a namespace */
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->v[l->n].kind = kind;
	l->v[l->n].ino = ino;
	l->v[l->n].type = type;
	l->n++;
	l->slots[slot] = l->n;
	return 0;
}

int tree_listing_add(struct tree_listing *l, const char *name, enum node_kind kind)
{
	return listing_add(l, name, kind, 0, 0);
}

int tree_listing_add_inner(struct tree_listing *l, const char *name, uint64_t ino, mode_t type)
{
	return listing_add(l, name, NODE_IMAGEFS, ino, type);
}

/* A blob's one inode, wherever it shows (node.c). */
static uint64_t blob_ino(const struct reg_registry *r, const char *digest)
{
	return node_ino_for_blob(reg_registry_host(r), digest);
}

int tree_listing_add_blob(struct tree_listing *l, const char *name, const struct reg_registry *r,
			  const char *digest)
{
	return listing_add(l, name, NODE_LAYER, blob_ino(r, digest), 0);
}

/* --- manifests ----------------------------------------------------------- */

static struct node *manifest_node_of(struct node *n)
{
	/* a draft directory whose draft was committed stands for its tag */
	while (n && n->kind != NODE_MANIFEST && n->kind != NODE_DRAFT)
		n = n->parent;
	return n;
}

/* The manifest @n is in (the manifest of a manifest's directory, or of
 * the directory a file or layers/ is in), resolved now. */
static int view_manifest(struct fs *fs, struct node *n, struct resolve_view *v)
{
	int ret;

	memset(v, 0, sizeof(*v));
	n = manifest_node_of(n);
	if (!n)
		BUG("view of a node outside any manifest");
	if (n->ref) {
		ret = resolve_ref(fs, n->reg, n->repo, n->ref, false, v);
	} else {
		struct resolve_view parent;

		ret = view_manifest(fs, n->parent, &parent);
		if (ret < 0)
			return ret;
		ret = resolve_entry(fs, n->reg, n->repo, &parent, n->name, v);
		resolve_view_release(&parent);
		if (ret == -ENOTDIR)
			ret = -ENOENT; /* the tag moved and the entry went with it */
	}
	if (ret == -EINVAL) {
		log_err("manifest '%s' of '%s': not a manifest regfs can read",
			n->ref ? n->ref : n->name, n->repo);
		ret = -EIO;
	}
	return ret;
}

int tree_view_manifest(struct fs *fs, struct node *n, struct resolve_view *v)
{
	return view_manifest(fs, n, v);
}

/* --- blobs --------------------------------------------------------------- */

/* One fill of the store with a blob: from the registry, or from a
 * foreign layer's URL. */
struct fill_ctx {
	struct fs *fs;
	struct reg_registry *reg;
	const char *repo;
	const char *digest;
	int64_t size;
	const char *url; /* a foreign layer's URL, or NULL: the registry */
	struct cache_writer *w;
	struct fs_download *dl;
};

static int fill_sink(void *arg, const void *p, size_t len)
{
	struct fill_ctx *f = arg;
	int ret = cache_writer_write(f->w, p, len);

	if (ret == 0)
		download_add(f->dl, len);
	return ret;
}

/* Where a fill comes from, as .downloads and the log say it: never a
 * URL's query (signed URLs carry credentials there).  New string. */
static char *fill_where(const struct fill_ctx *f)
{
	if (f->url)
		return fs_strdup_printf("%.*s", (int)strcspn(f->url, "?#"), f->url);
	return fs_strdup_printf("%s/%s", reg_registry_host(f->reg), f->repo);
}

/* The cache_store_ensure fill: the bytes, counted in .downloads. */
static int fill(struct cache_writer *w, void *arg)
{
	struct fill_ctx *f = arg;
	char *where = fill_where(f);
	int ret;

	f->w = w;
	f->dl = where ? download_begin(f->fs, where, f->digest, f->size) : NULL;
	free(where);
	if (f->url)
		ret = f->fs->remote->blob_stream_url(f->fs->client, f->url, fill_sink, f);
	else
		ret = f->fs->remote->blob_stream(f->reg, f->repo, f->digest, fill_sink, f);
	download_end(f->fs, f->dl, ret);
	return ret;
}

int tree_blob_ensure(struct fs *fs, struct reg_registry *r, const char *repo,
		     const char *digest, int64_t size)
{
	struct fill_ctx f = {.fs = fs, .reg = r, .repo = repo, .digest = digest, .size = size};
	int ret = cache_store_ensure(fs->store, digest, size, fill, &f);

	if (ret == -EFBIG)
		ret = -EIO; /* more bytes than the descriptor says: content is wrong */
	if (ret == -EIO)
		log_err("blob '%s@%s' from '%s': not stored (failed or did not verify)", repo,
			digest, reg_registry_host(r));
	return ret;
}

static int ensure_blob(struct fs *fs, struct node *n, const char *digest, int64_t size)
{
	return tree_blob_ensure(fs, n->reg, n->repo, digest, size);
}

int tree_config_read(struct fs *fs, struct reg_registry *r, const char *repo,
		     const struct reg_manifest *m, char **bytes, size_t *len)
{
	int ret = -ENOENT;

	if (!reg_mtype_is_image(m->type))
		return -ENOENT;
	if (m->config.size > (int64_t)CONFIG_MAX) {
		log_err("config '%s@%s': %lld bytes, over the limit", repo, m->config.digest,
			(long long)m->config.size);
		return -EIO;
	}
	/* another mount may evict it between the two calls: try again */
	for (int tries = 0; tries < 3; tries++) {
		ret = tree_blob_ensure(fs, r, repo, m->config.digest, m->config.size);
		if (ret < 0)
			return ret;
		ret = cache_store_read(fs->store, m->config.digest, CONFIG_MAX, bytes, len);
		if (ret != -ENOENT)
			break;
	}
	return ret;
}

static int image_platform(struct fs *fs, struct node *n, const struct resolve_view *v,
			  struct reg_platform *p)
{
	char *cfg = NULL;
	size_t len;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = tree_config_read(fs, n->reg, n->repo, v->m, &cfg, &len);
	if (ret < 0)
		return ret;
	ret = reg_config_platform(cfg, len, p);
	free(cfg);
	return ret < 0 ? -EIO : 0;
}

/* --- file contents ------------------------------------------------------- */

static char *reference_of(struct node *mn, const struct resolve_view *v)
{
	char *ref = NULL;

	if (mn->ref && !digest_is_valid(mn->ref)) {
		if (asprintf(&ref, "%s/%s:%s", reg_registry_host(mn->reg), mn->repo, mn->ref) < 0)
			ref = NULL;
	} else if (asprintf(&ref, "%s/%s@%s", reg_registry_host(mn->reg), mn->repo, v->digest) <
		   0) {
		ref = NULL;
	}
	return ref;
}


/* Where reg_inspect_entries gets an index's entries: the manifests of
 * @mn's repository, by digest. */
struct inspect_source {
	struct fs *fs;
	const struct node *mn;
};

static int inspect_fetch(void *arg, const char *digest, char **bytes, size_t *len)
{
	const struct inspect_source *src = arg;

	return resolve_manifest_by_digest(src->fs, src->mn->reg, src->mn->repo, digest, bytes,
					  len);
}

static int inspect_content(struct fs *fs, struct node *n, const struct resolve_view *v, char **out,
			   size_t *len)
{
	struct node *mn = manifest_node_of(n);
	json_t *doc = NULL;
	char *ref = reference_of(mn, v);
	int ret = -ENOMEM;

	if (!ref)
		goto out;
	if (reg_mtype_is_image(v->m->type)) {
		struct reg_platform p;

		ret = image_platform(fs, n, v, &p);
		if (ret < 0)
			goto out;
		doc = reg_inspect_image(ref, v->bytes, v->len, v->m, &p);
		reg_platform_release(&p);
	} else if (reg_mtype_is_index(v->m->type)) {
		bool by_tag = mn->ref && !digest_is_valid(mn->ref);
		struct inspect_source src = {fs, mn};
		char *base = NULL;

		if (asprintf(&base, "%s/%s", reg_registry_host(mn->reg), mn->repo) < 0)
			goto out;
		/* docker names a child "repo:tag@child" when the list was asked
		 * for by tag, "repo@child" otherwise */
		ret = reg_inspect_entries(by_tag ? ref : base, v->m, inspect_fetch, &src, &doc);
		free(base);
		if (ret < 0)
			goto out;
	} else {
		ret = -ENOENT;
		goto out;
	}
	ret = -ENOMEM;
	if (!doc)
		goto out;
	*out = reg_inspect_dump(doc, len);
	ret = *out ? 0 : -ENOMEM;
out:
	json_decref(doc);
	free(ref);
	return ret;
}

int tree_file_content(struct fs *fs, struct node *n, char **bytes, size_t *len)
{
	struct resolve_view v;
	int ret;

	*bytes = NULL;
	*len = 0;
	if (n->kind == NODE_DRAFT_FILE)
		return draft_file_content(fs, n, bytes, len);
	if (n->file == FILE_DOWNLOADS)
		return downloads_text(fs, bytes, len);
	if (n->file == FILE_ATTEST_PREDICATE)
		return attest_predicate(fs, n, bytes, len);
	ret = view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	switch (n->file) {
	case FILE_MANIFEST:
		/* a copy: the view may be shared */
		*bytes = malloc(v.len + 1);
		if (!*bytes) {
			ret = -ENOMEM;
			break;
		}
		memcpy(*bytes, v.bytes, v.len);
		(*bytes)[v.len] = '\0';
		*len = v.len;
		break;
	case FILE_DIGEST:
		if (asprintf(bytes, "%s\n", v.digest) < 0)
			*bytes = NULL;
		*len = DIGEST_STR_LEN + 1;
		ret = *bytes ? 0 : -ENOMEM;
		break;
	case FILE_INSPECT:
		ret = inspect_content(fs, n, &v, bytes, len);
		break;
	case FILE_CONFIG:
		BUG("config.json is a blob node (NODE_LAYER), read through the store");
	case FILE_DOWNLOADS:
		BUG(".downloads holds no manifest");
	case FILE_ATTEST_PREDICATE:
		BUG("a predicate is its statement's, not the manifest's");
	case FILE_PLATFORM: {
		struct reg_platform p;
		char *s;

		ret = image_platform(fs, n, &v, &p);
		if (ret < 0)
			break;
		s = reg_platform_string(&p);
		reg_platform_release(&p);
		if (!s || asprintf(bytes, "%s\n", s) < 0)
			*bytes = NULL;
		free(s);
		ret = *bytes ? 0 : -ENOMEM;
		if (*bytes)
			*len = strlen(*bytes);
		break;
	}
	}
	resolve_view_release(&v);
	return ret;
}

/* A foreign layer the registry does not hold: from its descriptor's URLs
 * in the manifest @n is in, in order, with no credentials
 * (registry/foreign.c). */
static int ensure_foreign(struct fs *fs, struct node *n, const char *digest, int64_t size)
{
	struct resolve_view v;
	int ret;

	ret = view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	ret = -ENOENT;
	for (size_t i = 0; i < v.m->n_layers; i++) {
		const struct reg_descriptor *d = &v.m->layers[i];

		if (strcmp(d->digest, digest) != 0 || !reg_descriptor_is_foreign(d))
			continue;
		for (size_t k = 0; ret < 0 && k < d->n_urls; k++) {
			struct fill_ctx f = {.fs = fs, .digest = digest, .size = size,
					     .url = d->urls[k]};

			ret = cache_store_ensure(fs->store, digest, size, fill, &f);
		}
		if (ret < 0)
			log_err("foreign layer '%s' of '%s': none of its %zu URLs gave it", digest,
				n->repo, d->n_urls);
		break;
	}
	resolve_view_release(&v);
	return ret == -EFBIG ? -EIO : ret;
}

int tree_blob_open(struct fs *fs, struct node *n, const char *digest, int64_t size)
{
	int ret = -ENOENT;

	/* the fd stays readable after eviction; the name may not last until
	 * the open, so try again if it went */
	for (int tries = 0; tries < 3 && ret == -ENOENT; tries++) {
		ret = ensure_blob(fs, n, digest, size);
		if (ret == -ENOENT)
			ret = ensure_foreign(fs, n, digest, size);
		if (ret < 0)
			return ret;
		ret = cache_store_open_blob(fs->store, digest);
	}
	return ret;
}

int tree_layer_open(struct fs *fs, struct node *n)
{
	return tree_blob_open(fs, n, n->layer_digest, n->layer_size);
}

/* --- lookups ------------------------------------------------------------- */

/* A new unpublished child in *out, for repository @repo (NULL: the
 * parent's).  0 or -ENOMEM. */
static int new_child(struct node *parent, const char *name, enum node_kind kind,
		     const char *repo, struct node **out)
{
	*out = node_new(parent, name, kind);
	if (!*out)
		return -ENOMEM;
	if (!repo)
		repo = parent->repo;
	if (repo && !((*out)->repo = strdup(repo))) {
		node_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int lookup_root(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct reg_registry *r;
	int ret = resolve_registry(fs, name, &r);

	if (ret < 0)
		return ret;
	ret = new_child(parent, name, NODE_REGISTRY, NULL, out);
	if (ret == 0)
		(*out)->reg = r;
	return ret;
}

/* A new unpublished @kind child @name of @parent for repository @repo
 * (NULL: at the registry level) and tag or digest @ref. */
static int ref_child(struct node *parent, enum node_kind kind, const char *name,
		     const char *repo, const char *ref, struct node **out)
{
	int ret = new_child(parent, name, kind, repo, out);

	if (ret < 0)
		return ret;
	(*out)->ref = strdup(ref);
	(*out)->immutable = kind == NODE_MANIFEST && digest_is_valid(ref);
	if (!(*out)->ref) {
		node_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int repo_child(struct node *parent, const char *prefix, const char *name,
		      struct node **out)
{
	char *path = prefix ? mountpath_join(prefix, name) : strdup(name);
	int ret = path ? new_child(parent, name, NODE_REPO, path, out) : -ENOMEM;

	free(path);
	return ret;
}

int tree_lookup_level(struct fs *fs, struct node *parent, const char *prefix, const char *name,
		      struct node **out)
{
	char *at = tree_path(parent);
	int level;

	if (!at)
		return -ENOMEM;
	level = resolve_level(fs, parent->reg, prefix, at, name);
	free(at);
	switch (level) {
	case LEVEL_DRAFT:
		return ref_child(parent, NODE_DRAFT, name, prefix, name, out);
	case LEVEL_TAG:
		return ref_child(parent, NODE_MANIFEST, name, prefix, name, out);
	case LEVEL_DIGEST:
		return ref_child(parent, NODE_MANIFEST, name, prefix, name + 1, out);
	case LEVEL_REPO:
		return repo_child(parent, prefix, name, out);
	default:
		return level < 0 ? level : -EIO;
	}
}

int tree_blob_child(struct node *parent, const char *name, const struct reg_descriptor *d,
		    struct node **out)
{
	int ret = new_child(parent, name, NODE_LAYER, NULL, out);

	if (ret < 0)
		return ret;
	memcpy((*out)->layer_digest, d->digest, DIGEST_STR_LEN + 1);
	(*out)->layer_size = d->size;
	(*out)->ino = blob_ino(parent->reg, d->digest);
	return 0;
}

/*
 * Is @child, just looked up in an index's directory, a sign that its
 * entries are read next: a platform directory (the reader walks them, as
 * docker manifest inspect -v does), or inspect.json (which reads them all)?
 * Not manifest.json or digest: reading ahead costs manifest GETs, which
 * some registries count against a pull quota, and a reader of the list
 * alone should not pay for children it never opens.
 */
static bool index_read_next(const struct node *child)
{
	return child->kind == NODE_MANIFEST ||
	       (child->kind == NODE_FILE && child->file == FILE_INSPECT);
}

static int lookup_manifest(struct fs *fs, struct node *parent, const char *name,
			   struct node **out)
{
	struct resolve_view v;
	int ret;

	ret = view_manifest(fs, parent, &v);
	if (ret < 0)
		return ret;
	ret = -ENOENT;
	for (size_t i = 0; i < N_MANIFEST_FILES; i++) {
		if (strcmp(name, manifest_files[i].name) != 0)
			continue;
		if (!manifest_file_applies(i, v.m->type))
			break;
		if (manifest_files[i].kind == FILE_CONFIG) {
			ret = tree_blob_child(parent, name, &v.m->config, out);
			if (ret == 0)
				(*out)->file = FILE_CONFIG;
			goto found;
		}
		ret = new_child(parent, name, NODE_FILE, NULL, out);
		if (ret == 0)
			(*out)->file = manifest_files[i].kind;
		goto found;
	}
	if (reg_mtype_is_image(v.m->type) && strcmp(name, "layers") == 0)
		ret = new_child(parent, name, NODE_LAYERS, NULL, out);
	else if (reg_mtype_is_image(v.m->type) && imagefs_is_top(name))
		ret = imagefs_lookup_top(fs, parent, &v, name, out);
	else if (reg_mtype_is_image(v.m->type) && attest_is_top(name))
		ret = attest_lookup_top(fs, parent, &v, out);
	else if (referrers_is_top(name) &&
		 (reg_mtype_is_image(v.m->type) || reg_mtype_is_index(v.m->type)))
		ret = referrers_lookup_top(fs, parent, out);
	else if (reg_mtype_is_index(v.m->type) && resolve_view_find_entry(&v, name) >= 0)
		ret = new_child(parent, name, NODE_MANIFEST, NULL, out);
found:
	if (ret == 0 && index_read_next(*out))
		prefetch_index(fs, parent->reg, parent->repo, &v);
	resolve_view_release(&v);
	return ret;
}

static int lookup_layer(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct resolve_view v;
	long i;
	int ret;

	ret = view_manifest(fs, parent, &v);
	if (ret < 0)
		return ret;
	i = reg_layer_find(v.m, name);
	ret = i < 0 ? -ENOENT : tree_blob_child(parent, name, &v.m->layers[i], out);
	resolve_view_release(&v);
	return ret;
}

#define DOWNLOADS_NAME ".downloads"

/* MOUNT/.downloads: the downloads in flight (downloads.c). */
static int downloads_child(struct node *parent, struct node **out)
{
	int ret = new_child(parent, DOWNLOADS_NAME, NODE_FILE, NULL, out);

	if (ret == 0)
		(*out)->file = FILE_DOWNLOADS;
	return ret;
}

static int lookup_acting(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	if (parent->kind == NODE_DRAFT || parent->kind == NODE_DRAFT_ANNOTATIONS)
		return draft_lookup(fs, parent, name, out);
	if (parent->kind == NODE_ROOT && strcmp(name, DOWNLOADS_NAME) == 0)
		return downloads_child(parent, out);
	/* an image's files have names of every kind */
	if (parent->kind == NODE_LAYERFS || parent->kind == NODE_IMAGEFS)
		return imagefs_lookup(fs, parent, name, out);
	/* outside drafts no other name starts with '.', so such names (shells
	 * and editors probe for many) never reach the network */
	if (name[0] == '.')
		return -ENOENT;
	switch (parent->kind) {
	case NODE_ROOT:
		return lookup_root(fs, parent, name, out);
	case NODE_REGISTRY:
	case NODE_REPO:
		return tree_lookup_level(fs, parent, tree_level_prefix(parent), name, out);
	case NODE_MANIFEST:
		return lookup_manifest(fs, parent, name, out);
	case NODE_LAYERS:
		return lookup_layer(fs, parent, name, out);
	case NODE_ATTESTS:
		return attest_lookup(fs, parent, name, out);
	case NODE_REFERRERS:
		return referrers_lookup(fs, parent, name, out);
	default:
		return -ENOTDIR;
	}
}

int tree_lookup(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct node *acting, *tmp;
	int ret;

	*out = NULL;
	if (strlen(name) > 255 || strchr(name, '/'))
		return -ENOENT;
	ret = tree_effective(fs, parent, &acting, &tmp);
	if (ret < 0)
		return ret;
	ret = lookup_acting(fs, acting, name, out);
	/* children hang off the real node, not its stand-in */
	if (*out && tmp && (*out)->parent == tmp)
		(*out)->parent = parent;
	node_free(tmp);
	return ret;
}

/* --- drafts over the tree ------------------------------------------------ */

char *tree_path(const struct node *n)
{
	size_t len = 0;
	char *p;

	for (const struct node *a = n; a && a->parent; a = a->parent)
		len += strlen(a->name) + 1;
	if (len)
		len--; /* no '/' before the first name */
	p = malloc(len + 1);
	if (!p)
		return NULL;
	p[len] = '\0';
	for (const struct node *a = n; a && a->parent; a = a->parent) {
		size_t k = strlen(a->name);

		len -= k;
		memcpy(p + len, a->name, k);
		if (len)
			p[--len] = '/';
	}
	return p;
}

const char *tree_level_prefix(const struct node *n)
{
	return n->kind == NODE_REPO ? n->repo : NULL;
}

bool tree_is_draft(struct fs *fs, struct node *n)
{
	char *path = tree_path(n);
	bool ret = path && cache_draft_kind(fs->drafts, path) == CACHE_DRAFT_LIST;

	free(path);
	return ret;
}

int tree_effective(struct fs *fs, struct node *n, struct node **acting, struct node **tmp)
{
	struct node *t = NULL;
	int ret = 0;

	*acting = n;
	*tmp = NULL;
	if (node_is_tag_dir(n) && tree_is_draft(fs, n)) {
		/* amend: the tag's directory holds a draft */
		ret = ref_child(n->parent, NODE_DRAFT, n->name, n->repo, n->ref, &t);
	} else if (n->kind == NODE_DRAFT && !tree_is_draft(fs, n)) {
		/* committed (or removed behind our back): what is there now */
		ret = tree_lookup_level(fs, n->parent, n->repo, n->ref, &t);
	} else {
		return 0;
	}
	if (ret < 0) {
		node_free(t);
		return ret;
	}
	t->ino = n->ino;
	*acting = *tmp = t;
	return 0;
}

/* --- listings ------------------------------------------------------------ */

/* Draft directories below @n join its listing. */
static int list_draft_dirs(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct cache_draft_listing dl = {0};
	char *path = tree_path(n);
	int ret;

	if (!path)
		return -ENOMEM;
	ret = cache_draft_list(fs->drafts, path, &dl);
	if (ret < 0) {
		free(path);
		return ret == -ENOENT || ret == -EINVAL || ret == -ENOTDIR ? 0 : ret;
	}
	for (size_t i = 0; ret == 0 && i < dl.n; i++) {
		char *full = NULL;
		int kind;

		if (!S_ISDIR(dl.v[i].type) || dl.v[i].name[0] == '.')
			continue;
		if (asprintf(&full, "%s/%s", path, dl.v[i].name) < 0) {
			ret = -ENOMEM;
			break;
		}
		kind = cache_draft_kind(fs->drafts, full);
		free(full);
		ret = tree_listing_add(out, dl.v[i].name,
				       kind == CACHE_DRAFT_NAMESPACE ? NODE_REPO : NODE_DRAFT);
	}
	cache_draft_listing_release(&dl);
	free(path);
	return ret;
}

/* The repository paths one level below @prefix (NULL: the top) that the
 * catalog @cat names, added to @out.  The names below "prefix/" sort
 * together, so only they are read. */
static int list_catalog_level(const struct resolve_listing *cat, const char *prefix,
			      struct tree_listing *out)
{
	char *below = prefix ? fs_strdup_printf("%s/", prefix) : strdup("");
	size_t bl = below ? strlen(below) : 0;
	int ret = 0;

	if (!below)
		return -ENOMEM;
	for (size_t i = resolve_listing_lower_bound(cat, below); ret == 0 && i < cat->n; i++) {
		const char *rest = cat->v[i];
		char *comp;

		if (strncmp(rest, below, bl) != 0)
			break;
		rest += bl;
		comp = strndup(rest, strcspn(rest, "/"));
		ret = comp ? tree_listing_add(out, comp, NODE_REPO) : -ENOMEM;
		free(comp);
	}
	free(below);
	return ret;
}

int tree_list_level(struct fs *fs, struct node *n, const char *prefix, struct tree_listing *out)
{
	const struct resolve_listing *cat = NULL, *tl = NULL;
	bool denied = false;
	int ret = 0, cret;

	/* a refused catalog is the registry's answer to `ls` of it; below,
	 * the tags answer as without a catalog */
	cret = resolve_catalog(fs, n->reg, &cat);
	if (cret < 0 && cret != -ENOTSUP && (cret != -EACCES || !prefix))
		return cret;
	/* a level the catalog does not name as a repository has no tags to
	 * ask for (one pushed since shows up within the TTL, as everywhere) */
	if (prefix && (!cat || resolve_listing_has(cat, prefix))) {
		ret = resolve_tags(fs, n->reg, prefix, &tl);
		if (ret < 0 && ret != -ENOENT && ret != -EACCES) {
			resolve_listing_put(cat);
			return ret;
		}
		denied = ret == -EACCES;
		for (size_t i = 0; ret == 0 && i < tl->n; i++)
			if (!fs->cfg.hide_referrer_tags || !referrers_is_plumbing_tag(tl->v[i]))
				ret = tree_listing_add(out, tl->v[i], NODE_MANIFEST);
		resolve_listing_put(tl);
		if (ret == -ENOMEM) {
			resolve_listing_put(cat);
			return ret;
		}
		ret = 0;
	}
	ret = cat ? list_catalog_level(cat, prefix, out) : 0;
	resolve_listing_put(cat);
	if (ret == 0)
		ret = list_draft_dirs(fs, n, out);
	/* a refused repository with nothing below it: say so, not "empty" */
	if (ret == 0 && denied && out->n == 0)
		ret = -EACCES;
	return ret;
}

static int list_manifest(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct resolve_view v;
	bool image, index;
	int ret;

	ret = view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	image = reg_mtype_is_image(v.m->type);
	index = reg_mtype_is_index(v.m->type);
	for (size_t i = 0; ret == 0 && i < N_MANIFEST_FILES; i++) {
		if (!manifest_file_applies(i, v.m->type))
			continue;
		if (manifest_files[i].kind == FILE_CONFIG)
			ret = tree_listing_add_blob(out, manifest_files[i].name, n->reg,
					       v.m->config.digest);
		else
			ret = tree_listing_add(out, manifest_files[i].name, NODE_FILE);
	}
	if (ret == 0 && image)
		ret = tree_listing_add(out, "layers", NODE_LAYERS);
	/* the index it is in has it at hand: no request to know */
	if (ret == 0 && image) {
		ret = attest_has(fs, n, &v);
		if (ret > 0)
			ret = tree_listing_add(out, "attestations", NODE_ATTESTS);
	}
	for (size_t i = 0; ret == 0 && index && i < v.m->n_entries; i++)
		if (v.m->entry_names[i])
			ret = tree_listing_add(out, v.m->entry_names[i], NODE_MANIFEST);
	/* a listing of a list's directory: its platforms are opened next */
	if (ret == 0 && index)
		prefetch_index(fs, n->reg, n->repo, &v);
	resolve_view_release(&v);
	return ret;
}

static int list_layers(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct resolve_view v;
	int ret;

	ret = view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	for (size_t i = 0; ret == 0 && i < v.m->n_layers; i++) {
		char *ln = reg_layer_name(i, v.m->n_layers, v.m->layers[i].digest);

		ret = ln ? tree_listing_add_blob(out, ln, n->reg, v.m->layers[i].digest) : -ENOMEM;
		free(ln);
	}
	resolve_view_release(&v);
	return ret;
}

int tree_list(struct fs *fs, struct node *real, struct tree_listing *out)
{
	struct node *n, *tmp;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = tree_effective(fs, real, &n, &tmp);
	if (ret < 0)
		return ret;
	switch (n->kind) {
	case NODE_ROOT:
		ret = tree_listing_add(out, DOWNLOADS_NAME, NODE_FILE);
		for (char **p = fs->cfg.registries; ret == 0 && p && *p; p++)
			ret = tree_listing_add(out, *p, NODE_REGISTRY);
		break;
	case NODE_REGISTRY:
	case NODE_REPO:
		ret = tree_list_level(fs, n, tree_level_prefix(n), out);
		break;
	case NODE_DRAFT:
	case NODE_DRAFT_ANNOTATIONS:
		ret = draft_list(fs, n, out);
		break;
	case NODE_MANIFEST:
		ret = list_manifest(fs, n, out);
		break;
	case NODE_LAYERS:
		ret = list_layers(fs, n, out);
		break;
	case NODE_LAYERFS:
	case NODE_IMAGEFS:
		ret = imagefs_list(fs, n, out);
		break;
	case NODE_ATTESTS:
		ret = attest_list(fs, n, out);
		break;
	case NODE_REFERRERS:
		ret = referrers_list(fs, n, out);
		break;
	default:
		ret = -ENOTDIR;
	}
	node_free(tmp);
	if (ret < 0)
		tree_listing_release(out);
	return ret;
}

/* --- attributes ---------------------------------------------------------- */

static int stat_acting(struct fs *fs, struct node *n, struct stat *st);

/*
 * Who may write, said by owner and modes, for the kernel to enforce
 * (default_permissions; ops.c checks the same): the writing user (-o uid=)
 * owns every node, and what the owner may write the write group may too.
 * The umask then takes its bits away, so the kernel refuses what it hides.
 * A symlink keeps 0777: its mode is never checked, and every filesystem
 * shows it so.
 */
static void stat_owner(const struct fs *fs, struct stat *st)
{
	st->st_uid = fs->cfg.uid;
	st->st_gid = fs->cfg.gid;
	if (S_ISLNK(st->st_mode))
		return;
	if (fs->cfg.group_writes && (st->st_mode & S_IWUSR))
		st->st_mode |= S_IWGRP;
	st->st_mode &= ~fs->cfg.umask;
}

int tree_stat(struct fs *fs, struct node *real, struct stat *st)
{
	struct node *n, *tmp;
	int ret;

	/* an image's files show their own owners and modes */
	if (real->kind == NODE_IMAGEFS)
		return imagefs_stat(fs, real, st);
	ret = tree_effective(fs, real, &n, &tmp);
	if (ret < 0)
		return ret;
	ret = stat_acting(fs, n, st);
	if (ret == 0)
		stat_owner(fs, st);
	node_free(tmp);
	return ret;
}

/* A directory a write may start in: mkdir of a draft at registry and
 * repository level, ln -s and rmdir in a tag's directory (amend), and the
 * removals `rm -r` of a live list's platform directory makes inside it
 * before the rmdir that amends. */
static bool takes_writes(const struct node *n)
{
	return n->kind == NODE_REGISTRY || n->kind == NODE_REPO || node_is_tag_dir(n) ||
	       node_in_live_entry(n);
}

static int stat_acting(struct fs *fs, struct node *n, struct stat *st)
{
	int ret = 0;

	if (node_kind_is_draft(n->kind))
		return draft_stat(fs, n, st);
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mount_time;
	st->st_blksize = 65536;
	switch (n->kind) {
	case NODE_FILE: {
		char *bytes = NULL;
		size_t len = 0;

		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		/* .downloads changes all the time: generated on every open and
		 * served with direct I/O, its size is not promised here */
		if (n->file == FILE_DOWNLOADS)
			break;
		ret = tree_file_content(fs, n, &bytes, &len);
		free(bytes);
		st->st_size = (off_t)len;
		break;
	}
	case NODE_LAYER:
		/* one inode for every path to the blob, as hardlinks are; du
		 * and tar look for a second link before they count it once */
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 2;
		st->st_size = n->layer_size;
		break;
	default:
		st->st_mode = S_IFDIR | (takes_writes(n) ? 0755 : 0555);
		st->st_nlink = 2;
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return ret;
}

/* --- extended attributes ------------------------------------------------- */

#define XA_DIGEST "user.regfs.digest"
#define XA_MEDIA "user.regfs.media_type"
#define XA_PLATFORM "user.regfs.platform"
/* on a manifest's directory that is an artifact (a signature, an SBOM):
 * its artifactType, or its config's media type */
#define XA_ARTIFACT "user.regfs.artifact_type"
/* on a registry's directory: the rate limits it last announced */
#define XA_RATELIMIT "user.regfs.ratelimit"

/* on a registry's, repository's or tag's directory, while what it shows is
 * served past its TTL because the registry fails: "since=… expired=…
 * error=EIO" (fs_stale_text) */
#define XA_STALE "user.regfs.stale"

/* The cache key whose staleness directory @n shows: a registry's catalog,
 * a repository path's tags list (or, for a namespace, the catalog), a
 * tag's digest.  A new string, or NULL (none, or no memory). */
static char *stale_key(const struct node *n, const char *which)
{
	if (n->kind == NODE_REGISTRY)
		return fs_key_catalog(n->reg);
	if (n->kind == NODE_REPO && strcmp(which, "tags") == 0)
		return fs_key_tags(n->reg, n->repo);
	if (n->kind == NODE_REPO)
		return fs_key_catalog(n->reg);
	if (node_is_tag_dir(n))
		return fs_key_tag(n->reg, n->repo, n->ref);
	return NULL;
}

/* user.regfs.stale of @n, no I/O: -ENODATA while it shows fresh answers. */
static int xattr_stale(struct fs *fs, const struct node *n, char **val, size_t *len)
{
	static const char *const which[] = {"tags", "catalog"};
	int ret = -ENODATA;

	for (size_t i = 0; i < 2 && ret == -ENODATA; i++) {
		char *key = stale_key(n, which[i]);

		if (key)
			ret = fs_stale_text(fs, key, val, len);
		free(key);
	}
	return ret;
}

/* user.regfs.ratelimit of registry @n: what the client kept (no I/O). */
static int xattr_ratelimit(const struct node *n, char **val)
{
	char text[REG_RATELIMIT_TEXT_MAX];
	int ret = reg_registry_ratelimit(n->reg, text, sizeof(text));

	if (ret < 0)
		return ret == -ENOENT ? -ENODATA : ret;
	*val = strdup(text);
	return *val ? 0 : -ENOMEM;
}

/* The media type of blob @digest (its config or a layer) in image @v. */
static int blob_media_type(const struct resolve_view *v, const char *digest, char **val)
{
	if (reg_mtype_is_image(v->m->type) && strcmp(v->m->config.digest, digest) == 0 &&
	    v->m->config.media_type) {
		*val = strdup(v->m->config.media_type);
		return *val ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < v->m->n_layers; i++) {
		if (strcmp(v->m->layers[i].digest, digest) == 0 && v->m->layers[i].media_type) {
			*val = strdup(v->m->layers[i].media_type);
			return *val ? 0 : -ENOMEM;
		}
	}
	return -ENODATA;
}

static int xattr_acting(struct fs *fs, struct node *n, const char *name, char **val, size_t *len);

int tree_xattr(struct fs *fs, struct node *real, const char *name, char **val, size_t *len)
{
	struct node *n, *tmp;
	int ret;

	*val = NULL;
	if (real->kind == NODE_IMAGEFS)
		return imagefs_xattr(fs, real, name, val, len);
	ret = tree_effective(fs, real, &n, &tmp);
	if (ret < 0)
		return ret;
	ret = xattr_acting(fs, n, name, val, len);
	node_free(tmp);
	return ret;
}

static int xattr_acting(struct fs *fs, struct node *n, const char *name, char **val, size_t *len)
{
	struct resolve_view v;
	int ret;

	*val = NULL;
	if (n->kind == NODE_REGISTRY && strcmp(name, XA_RATELIMIT) == 0) {
		ret = xattr_ratelimit(n, val);
		goto done;
	}
	if (strcmp(name, XA_STALE) == 0)
		return xattr_stale(fs, n, val, len);
	if (n->kind != NODE_MANIFEST && n->kind != NODE_LAYER)
		return -ENODATA;
	if (strcmp(name, XA_DIGEST) && strcmp(name, XA_MEDIA) && strcmp(name, XA_PLATFORM) &&
	    strcmp(name, XA_ARTIFACT))
		return -ENODATA;
	if (n->kind == NODE_LAYER && strcmp(name, XA_ARTIFACT) == 0)
		return -ENODATA;
	if (n->kind == NODE_LAYER && strcmp(name, XA_DIGEST) == 0) {
		*val = strdup(n->layer_digest);
		ret = *val ? 0 : -ENOMEM;
		goto done;
	}
	if (n->kind == NODE_LAYER && strcmp(name, XA_PLATFORM) == 0)
		return -ENODATA;
	ret = view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	if (n->kind == NODE_LAYER) {
		ret = blob_media_type(&v, n->layer_digest, val);
	} else if (strcmp(name, XA_ARTIFACT) == 0) {
		ret = referrers_artifact_type(v.m, val);
	} else if (strcmp(name, XA_DIGEST) == 0) {
		*val = strdup(v.digest);
		ret = *val ? 0 : -ENOMEM;
	} else if (strcmp(name, XA_MEDIA) == 0) {
		const char *mt = v.m->media_type ? v.m->media_type : reg_mtype_string(v.m->type);

		*val = strdup(mt);
		ret = *val ? 0 : -ENOMEM;
	} else if (reg_mtype_is_image(v.m->type)) {
		struct reg_platform p;

		ret = image_platform(fs, n, &v, &p);
		if (ret == 0) {
			*val = reg_platform_string(&p);
			reg_platform_release(&p);
			ret = *val ? 0 : -ENOMEM;
		}
	} else {
		ret = -ENODATA;
	}
	resolve_view_release(&v);
done:
	if (ret == 0)
		*len = strlen(*val);
	return ret;
}

int tree_xattr_list(struct fs *fs, struct node *real, char **names, size_t *len)
{
	static const char manifest_names[] = XA_DIGEST "\0" XA_MEDIA "\0";
	static const char image_names[] = XA_DIGEST "\0" XA_MEDIA "\0" XA_PLATFORM "\0";
	static const char artifact_names[] = XA_DIGEST "\0" XA_MEDIA "\0" XA_ARTIFACT "\0";
	char *artifact = NULL;
	const char *src = "";
	size_t n_src = 0, n_stale = 0, stale_len;
	struct node *n, *tmp;
	char *stale = NULL;
	int eret;

	if (real->kind == NODE_IMAGEFS)
		return imagefs_xattr_list(fs, real, names, len);
	eret = tree_effective(fs, real, &n, &tmp);
	if (eret < 0)
		return eret;

	if (n->kind == NODE_REGISTRY) {
		char text[REG_RATELIMIT_TEXT_MAX];

		/* listed only once the registry has announced a limit */
		if (reg_registry_ratelimit(n->reg, text, sizeof(text)) == 0) {
			src = XA_RATELIMIT;
			n_src = sizeof(XA_RATELIMIT);
		}
	} else if (n->kind == NODE_LAYER) {
		src = manifest_names;
		n_src = sizeof(manifest_names) - 1;
	} else if (n->kind == NODE_MANIFEST) {
		struct resolve_view v;
		int ret = view_manifest(fs, n, &v);

		if (ret < 0) {
			node_free(tmp);
			return ret;
		}
		if (referrers_artifact_type(v.m, &artifact) == 0) {
			src = artifact_names;
			n_src = sizeof(artifact_names) - 1;
		} else if (reg_mtype_is_image(v.m->type)) {
			src = image_names;
			n_src = sizeof(image_names) - 1;
		} else {
			src = manifest_names;
			n_src = sizeof(manifest_names) - 1;
		}
		free(artifact);
		resolve_view_release(&v);
	}
	/* listed only while the directory shows stale answers */
	if (xattr_stale(fs, n, &stale, &stale_len) == 0)
		n_stale = sizeof(XA_STALE);
	free(stale);
	node_free(tmp);
	*names = malloc(n_src + n_stale + 1);
	if (!*names)
		return -ENOMEM;
	memcpy(*names, src, n_src);
	memcpy(*names + n_src, XA_STALE, n_stale);
	*len = n_src + n_stale;
	return 0;
}
