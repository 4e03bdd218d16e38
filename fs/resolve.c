/*
 * What a name below the mount means: the one resolver.
 *
 * Every question "what is at this path?" is answered here, by the same few
 * steps, whether the kernel asks one name at a time (tree.c turns the
 * answers into nodes) or a link target is resolved whole (commit.c, for
 * .status, .preview.json and the push):
 *
 *   resolve_registry()  a name at the root: a registry, or nothing
 *   resolve_level()     a name below a registry or repository path: a
 *                       draft, a tag or @sha256: of the path, a deeper
 *                       repository path, or nothing
 *   resolve_ref()       a tag or digest of a repository: its manifest
 *   resolve_entry()     an entry of an index, by its directory name
 *   resolve_path()      all of them over a mount-relative path
 *
 * What the registry holds comes through fs->remote (fs/remote.h), with
 * listings and tag -> digest answers kept in the memory cache for the TTL
 * and manifests by digest kept for good (memory and store: they cannot
 * change).  Everything from the store is checked against its digest again
 * before it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/mountpath.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/manifest.h"
#include "registry/names.h"

/* --- listings with a lifetime -------------------------------------------- */

/* Listings are cached as "Y" + NUL-separated names, or "N" for "there is no
 * such listing" (no catalog, not a repository) so misses are cached too. */
static int strlist_encode(const struct reg_strlist *l, char **out, size_t *len)
{
	size_t n = 1;
	char *p;

	for (size_t i = 0; i < l->n; i++)
		n += strlen(l->v[i]) + 1;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	*out = p;
	*len = n;
	*p++ = 'Y';
	for (size_t i = 0; i < l->n; i++) {
		size_t k = strlen(l->v[i]) + 1;

		memcpy(p, l->v[i], k);
		p += k;
	}
	return 0;
}

static int strlist_decode(const char *val, size_t len, struct reg_strlist *out)
{
	size_t count = 0;
	const char *p, *end = val + len;

	memset(out, 0, sizeof(*out));
	for (p = val + 1; p < end; p += strlen(p) + 1)
		count++;
	out->v = calloc(count ? count : 1, sizeof(char *));
	if (!out->v)
		return -ENOMEM;
	for (p = val + 1; p < end; p += strlen(p) + 1) {
		out->v[out->n] = strdup(p);
		if (!out->v[out->n]) {
			reg_strlist_release(out);
			return -ENOMEM;
		}
		out->n++;
	}
	return 0;
}

/* A listing (@repo's tags, or the catalog with @repo NULL) through the
 * memory cache under @key (taken over).  @absent is the error that means
 * "no such listing" and is cached like a result. */
static int cached_listing(struct fs *fs, char *key, struct reg_registry *r, const char *repo,
			  int absent, struct reg_strlist *out)
{
	char *val = NULL;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!key)
		return -ENOMEM;
	if (cache_mem_get(fs->mem, key, &val, &len) == 0) {
		ret = val[0] == 'Y' ? strlist_decode(val, len, out) : absent;
		free(val);
		free(key);
		return ret;
	}
	ret = repo ? fs->remote->tags(r, repo, out) : fs->remote->catalog(r, out);
	if (ret == 0 && strlist_encode(out, &val, &len) == 0) {
		cache_mem_put(fs->mem, key, val, len, fs->cfg.ttl);
		free(val);
	} else if (ret == absent) {
		cache_mem_put(fs->mem, key, "N", 1, fs->cfg.ttl);
	}
	free(key);
	return ret;
}

int resolve_catalog(struct fs *fs, struct reg_registry *r, struct reg_strlist *out)
{
	return cached_listing(fs, fs_key_catalog(r), r, NULL, -ENOTSUP, out);
}

int resolve_tags(struct fs *fs, struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	return cached_listing(fs, fs_key_tags(r, repo), r, repo, -ENOENT, out);
}

void resolve_forget_pushed(struct fs *fs, struct reg_registry *r, const char *repo,
			   const char *tag)
{
	char *keys[] = {fs_key_catalog(r), fs_key_tags(r, repo), fs_key_tag(r, repo, tag)};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i])
			cache_mem_drop(fs->mem, keys[i]);
		free(keys[i]);
	}
}

static bool strlist_has(const struct reg_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Does any catalog repository equal @path or live below it? */
static bool catalog_has_prefix(const struct reg_strlist *l, const char *path)
{
	size_t pl = strlen(path);

	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], path, pl) == 0 && (l->v[i][pl] == '\0' || l->v[i][pl] == '/'))
			return true;
	return false;
}

/* --- manifests ----------------------------------------------------------- */

/* Keep manifest @bytes (verified: their digest is @digest) in memory and in
 * the store. */
static void manifest_keep(struct fs *fs, const char *digest, const char *bytes, size_t len)
{
	char *key = fs_key_manifest(digest);

	cache_store_put(fs->store, digest, bytes, len);
	if (key)
		cache_mem_put(fs->mem, key, bytes, len, CACHE_MEM_FOREVER);
	free(key);
}

int resolve_manifest_by_digest(struct fs *fs, struct reg_registry *r, const char *repo,
			       const char *digest, char **bytes, size_t *len)
{
	char *key = fs_key_manifest(digest), check[DIGEST_STR_LEN + 1];
	struct reg_fetched f;
	int ret;

	if (!key)
		return -ENOMEM;
	ret = cache_mem_get(fs->mem, key, bytes, len);
	free(key);
	if (ret == 0)
		return 0;
	if (cache_store_read(fs->store, digest, REG_MANIFEST_MAX, bytes, len) == 0) {
		/* the store verified it on the way in; a file changed behind our
		 * back since then is refetched, never served */
		digest_of(*bytes, *len, check);
		if (strcmp(check, digest) == 0) {
			manifest_keep(fs, digest, *bytes, *len);
			return 0;
		}
		free(*bytes);
		*bytes = NULL;
	}
	ret = fs->remote->manifest_get(r, repo, digest, &f);
	if (ret < 0)
		return ret;
	manifest_keep(fs, f.digest, f.bytes, f.len);
	*bytes = f.bytes;
	*len = f.len;
	f.bytes = NULL;
	reg_fetched_release(&f);
	return 0;
}

/* The digest @tag of @repo points at now (within the TTL): a GET, whose
 * manifest is kept by its digest. */
static int tag_digest(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag,
		      char digest[DIGEST_STR_LEN + 1])
{
	struct reg_fetched f;
	char *key = fs_key_tag(r, repo, tag), *val = NULL;
	size_t len;
	int ret;

	if (!key)
		return -ENOMEM;
	if (cache_mem_get(fs->mem, key, &val, &len) == 0) {
		ret = len == DIGEST_STR_LEN && digest_is_valid(val) ? 0 : -EIO;
		if (ret == 0)
			memcpy(digest, val, DIGEST_STR_LEN + 1);
		free(val);
		free(key);
		return ret;
	}
	ret = fs->remote->manifest_get(r, repo, tag, &f);
	if (ret == 0) {
		memcpy(digest, f.digest, DIGEST_STR_LEN + 1);
		manifest_keep(fs, f.digest, f.bytes, f.len);
		cache_mem_put(fs->mem, key, f.digest, DIGEST_STR_LEN, fs->cfg.ttl);
		reg_fetched_release(&f);
	}
	free(key);
	return ret;
}

/* Whether tag @name of @repo is there (0) or not (-ENOENT), asked the way
 * that costs least without a listing: one manifest HEAD.  What it points at
 * is cached as tag_digest caches it. */
static int tag_exists(struct fs *fs, struct reg_registry *r, const char *repo, const char *name)
{
	char digest[DIGEST_STR_LEN + 1], *key = fs_key_tag(r, repo, name), *val = NULL;
	size_t len;
	int ret;

	if (!key)
		return -ENOMEM;
	if (cache_mem_get(fs->mem, key, &val, &len) == 0) {
		free(val);
		free(key);
		return 0;
	}
	ret = fs->remote->manifest_digest(r, repo, name, digest);
	if (ret == 0)
		cache_mem_put(fs->mem, key, digest, DIGEST_STR_LEN, fs->cfg.ttl);
	free(key);
	return ret;
}

void resolve_view_release(struct resolve_view *v)
{
	free(v->bytes);
	reg_manifest_free(v->m);
	memset(v, 0, sizeof(*v));
}

int resolve_view_take(struct resolve_view *v, const char *digest, char *bytes, size_t len,
		      const char *content_type)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->digest, digest, DIGEST_STR_LEN + 1);
	v->bytes = bytes;
	v->len = len;
	if (reg_manifest_parse(bytes, len, content_type, &v->m) < 0) {
		resolve_view_release(v);
		return -EINVAL;
	}
	return 0;
}

int resolve_ref(struct fs *fs, struct reg_registry *r, const char *repo, const char *ref,
		bool fresh, struct resolve_view *out)
{
	char digest[DIGEST_STR_LEN + 1], *bytes = NULL;
	struct reg_fetched f;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (fresh && !digest_is_valid(ref)) {
		ret = fs->remote->manifest_get(r, repo, ref, &f);
		if (ret < 0)
			return ret;
		cache_store_put(fs->store, f.digest, f.bytes, f.len);
		ret = resolve_view_take(out, f.digest, f.bytes, f.len, f.media_type);
		f.bytes = NULL;
		reg_fetched_release(&f);
		return ret;
	}
	if (digest_is_valid(ref))
		memcpy(digest, ref, DIGEST_STR_LEN + 1);
	else if ((ret = tag_digest(fs, r, repo, ref, digest)) < 0)
		return ret;
	ret = resolve_manifest_by_digest(fs, r, repo, digest, &bytes, &len);
	if (ret < 0)
		return ret;
	return resolve_view_take(out, digest, bytes, len, NULL);
}

int resolve_entry(struct fs *fs, struct reg_registry *r, const char *repo,
		  const struct resolve_view *idx, const char *name, struct resolve_view *out)
{
	const struct reg_descriptor *d;
	char *bytes = NULL;
	size_t len;
	int i, ret;

	memset(out, 0, sizeof(*out));
	if (!reg_mtype_is_index(idx->m->type))
		return -ENOTDIR;
	i = reg_manifest_find_entry(idx->m, name);
	if (i < 0)
		return -ENOENT;
	d = &idx->m->entries[i];
	ret = resolve_manifest_by_digest(fs, r, repo, d->digest, &bytes, &len);
	if (ret < 0)
		return ret;
	return resolve_view_take(out, d->digest, bytes, len, d->media_type);
}

/* --- names at the root and at repository levels ---------------------------- */

static bool is_configured(struct fs *fs, const char *host)
{
	for (char **p = fs->cfg.registries; p && *p; p++)
		if (strcmp(*p, host) == 0)
			return true;
	return false;
}

int resolve_registry(struct fs *fs, const char *name, struct reg_registry **out)
{
	int ret;

	*out = NULL;
	if (!reg_name_is_host(name))
		return -ENOENT;
	ret = reg_client_registry(fs->client, name, out);
	if (ret < 0)
		return ret == -EINVAL ? -ENOENT : ret;
	if (is_configured(fs, name))
		return 0;
	/* a name that does not resolve is no registry: "no such file", the
	 * way `ls` users expect for a typo */
	ret = fs->remote->ping(*out);
	if (ret < 0)
		*out = NULL;
	return ret == -ENXIO ? -ENOENT : ret;
}

/* What the draft store holds at @at/@name: CACHE_DRAFT_LIST,
 * CACHE_DRAFT_NAMESPACE, another kind, or -errno. */
static int draft_kind_at(struct fs *fs, const char *at, const char *name)
{
	char *full = NULL;
	int kind;

	if (asprintf(&full, "%s/%s", at, name) < 0)
		return -ENOMEM;
	kind = cache_draft_kind(fs->drafts, full);
	free(full);
	return kind;
}

/* What one level asks of the registry, for resolve_level. */
struct level {
	struct fs *fs;
	struct reg_registry *r;
	const char *prefix; /* the repository path of the level, or NULL at the top */
	const char *name;
	char *path;         /* prefix/name (owned) */
	bool is_tag, is_component;
	struct reg_strlist cat; /* the catalog, when there is one */
	bool has_catalog;
	bool prefix_is_repo;    /* as far as we can tell */
	bool denied;            /* the registry refused to tell us about @prefix */
};

/* With a catalog: a tag the (cached) tags listing names.  1 found, 0 not,
 * -errno. */
static int level_listed_tag(struct level *l)
{
	struct reg_strlist tl = {0};
	int ret = resolve_tags(l->fs, l->r, l->prefix, &tl);

	if (ret == -EACCES)
		l->denied = true;
	if (ret == -ENOENT || ret == -EACCES)
		ret = 0;
	else if (ret == 0)
		ret = strlist_has(&tl, l->name) ? 1 : 0;
	reg_strlist_release(&tl);
	return ret;
}

/* A tag pushed since the listing, one we may not list, or on a registry
 * without listings: one HEAD.  1 found, 0 not, -errno. */
static int level_probed_tag(struct level *l)
{
	int ret = tag_exists(l->fs, l->r, l->prefix, l->name);

	if (ret == -EACCES)
		l->denied = true;
	if (ret == -ENOENT || ret == -EACCES)
		return 0;
	return ret < 0 ? ret : 1;
}

/*
 * Without a catalog, below @prefix: is prefix/name a repository (its tags
 * list answers), or may it be a namespace?  Below a repository a name that
 * is neither tag nor repository is not there; below a namespace it may
 * still be one above deeper repositories, which no request can tell.
 * 0 (a repository path) or -errno.
 */
static int level_probed_repo(struct level *l)
{
	struct reg_strlist tl = {0};
	int ret = resolve_tags(l->fs, l->r, l->path, &tl);

	reg_strlist_release(&tl);
	if (ret != -ENOENT)
		return ret;
	ret = resolve_tags(l->fs, l->r, l->prefix, &tl);
	reg_strlist_release(&tl);
	if (ret == -ENOENT)
		return 0;
	return ret == 0 ? -ENOENT : ret;
}

/* The registry's answer for the level: LEVEL_TAG, LEVEL_REPO, or -errno. */
static int level_registry(struct level *l)
{
	int ret, cret;

	/* a catalog refused (credentials we lack for it) does not say which
	 * names are there: look the name up by itself, as without one */
	cret = resolve_catalog(l->fs, l->r, &l->cat);
	if (cret < 0 && cret != -ENOTSUP && cret != -EACCES)
		return cret;
	l->has_catalog = cret == 0;
	l->prefix_is_repo = l->prefix && (!l->has_catalog || strlist_has(&l->cat, l->prefix));

	if (l->is_tag && l->prefix_is_repo && l->has_catalog) {
		ret = level_listed_tag(l);
		if (ret != 0)
			return ret < 0 ? ret : LEVEL_TAG;
	}
	if (l->is_component && l->has_catalog && catalog_has_prefix(&l->cat, l->path))
		return LEVEL_REPO;
	if (l->is_tag && l->prefix_is_repo) {
		ret = level_probed_tag(l);
		if (ret != 0)
			return ret < 0 ? ret : LEVEL_TAG;
	}
	if (!l->is_component || l->has_catalog)
		return l->denied ? -EACCES : -ENOENT;
	if (!l->prefix)
		return LEVEL_REPO; /* a top-level namespace cannot be checked without a catalog */
	ret = level_probed_repo(l);
	return ret < 0 ? ret : LEVEL_REPO;
}

/* @name is "@sha256:<hex>" of repository @prefix: a manifest by digest,
 * when the registry has it. */
static int level_digest(struct fs *fs, struct reg_registry *r, const char *prefix,
			const char *name)
{
	char *b = NULL;
	size_t len;
	int ret;

	if (!digest_is_valid(name + 1) || !reg_name_is_repo(prefix))
		return -ENOENT;
	ret = resolve_manifest_by_digest(fs, r, prefix, name + 1, &b, &len);
	free(b);
	return ret < 0 ? ret : LEVEL_DIGEST;
}

/*
 * @name below repository path @prefix (NULL at the registry's top) of @r,
 * where @at is that level's path below the mount ("host/prefix"): a draft,
 * a tag or @digest of @prefix, or a deeper repository path.  A draft wins
 * (the tag's directory is being amended), then a tag wins over a
 * namespace of the same name.
 *
 * With a catalog the listings answer (a repository pushed since shows up
 * within the TTL, like in `ls`), so a path costs no probing requests.
 * Without one (Docker Hub) the registry is asked for the thing itself: a
 * tag with one manifest HEAD, a repository with its tags list.  A refusal
 * is reported as EACCES, never as "not there".  A level of the draft store
 * (a namespace of drafts) is there whatever the registry says.
 */
int resolve_level(struct fs *fs, struct reg_registry *r, const char *prefix, const char *at,
		  const char *name)
{
	struct level l = {.fs = fs, .r = r, .prefix = prefix, .name = name};
	int ret, kind;

	if (prefix && name[0] == '@')
		return level_digest(fs, r, prefix, name);
	l.is_component = reg_name_is_component(name);
	l.is_tag = prefix && reg_name_is_tag(name);
	if (!l.is_component && !l.is_tag)
		return -ENOENT;
	kind = draft_kind_at(fs, at, name);
	if (kind == CACHE_DRAFT_LIST)
		return LEVEL_DRAFT;
	if (kind < 0 && kind != -ENOENT)
		return kind;
	l.path = prefix ? mountpath_join(prefix, name) : strdup(name);
	if (!l.path)
		return -ENOMEM;
	ret = level_registry(&l);
	/* nothing in the registry, or no registry to ask: the level holding
	 * drafts is there all the same */
	if (ret < 0 && ret != -ENOMEM && kind == CACHE_DRAFT_NAMESPACE)
		ret = LEVEL_REPO;
	reg_strlist_release(&l.cat);
	free(l.path);
	return ret;
}

/* --- whole paths ----------------------------------------------------------- */

void resolved_release(struct resolved *t)
{
	free(t->repo);
	free(t->ref);
	resolve_view_release(&t->view);
	resolve_view_release(&t->parent);
	memset(t, 0, sizeof(*t));
}

/* Walk the levels of @v[1..n) below registry @t->reg: on return @t is a
 * repository path, a draft, nothing, or a reference (*rest: the index of
 * the first component after it).  0 or -errno. */
static int resolve_levels(struct fs *fs, char **v, size_t n, struct resolved *t, size_t *rest)
{
	char *at = strdup(v[0]); /* the level's path below the mount */
	int level = 0;

	t->kind = RESOLVED_REGISTRY;
	for (size_t i = 1; at && i < n; i++) {
		level = resolve_level(fs, t->reg, t->repo, at, v[i]);
		if (level == -ENOENT) {
			t->kind = RESOLVED_NONE;
		} else if (level == LEVEL_DRAFT) {
			t->kind = RESOLVED_DRAFT;
		} else if (level == LEVEL_TAG || level == LEVEL_DIGEST) {
			t->kind = RESOLVED_MANIFEST;
			t->by_tag = level == LEVEL_TAG;
			t->ref = strdup(t->by_tag ? v[i] : v[i] + 1);
			*rest = i + 1;
			if (!t->ref)
				level = -ENOMEM;
		} else if (level == LEVEL_REPO) {
			char *repo = t->repo ? mountpath_join(t->repo, v[i]) : strdup(v[i]);
			char *next = mountpath_join(at, v[i]);

			free(t->repo);
			free(at);
			t->repo = repo;
			at = next;
			t->kind = RESOLVED_REPO;
			if (!repo)
				break;
			continue;
		}
		break;
	}
	if (!at || (t->kind == RESOLVED_REPO && !t->repo))
		level = -ENOMEM;
	free(at);
	return level < 0 && level != -ENOENT ? level : 0;
}

/* Down the index entries @v[rest..n) from t->view.  0 or -errno. */
static int resolve_entries(struct fs *fs, char **v, size_t n, size_t rest, struct resolved *t)
{
	for (size_t i = rest; i < n; i++) {
		struct resolve_view next;
		int ret = resolve_entry(fs, t->reg, t->repo, &t->view, v[i], &next);

		if (ret == -ENOTDIR || (ret == -ENOENT && reg_mtype_is_index(t->view.m->type))) {
			t->kind = RESOLVED_NOT_MANIFEST;
			t->why = ret == -ENOTDIR ? "inside an image's directory"
						 : "not an entry of its index";
			return 0;
		}
		if (ret == -EINVAL) {
			t->kind = RESOLVED_UNREADABLE;
			return 0;
		}
		if (ret < 0)
			return ret;
		resolve_view_release(&t->parent);
		t->parent = t->view;
		t->view = next;
	}
	return 0;
}

int resolve_path(struct fs *fs, const char *rel, bool fresh, struct resolved *t)
{
	char **v = NULL;
	size_t n = 0, rest = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = mountpath_split(rel, &v, &n);
	if (ret < 0)
		return ret;
	t->kind = RESOLVED_ROOT;
	if (n == 0)
		goto out;
	ret = resolve_registry(fs, v[0], &t->reg);
	t->kind = RESOLVED_NONE;
	if (ret == -ENOENT) {
		t->why = "not below a registry";
		ret = 0;
	}
	if (ret == 0 && t->reg)
		ret = resolve_levels(fs, v, n, t, &rest);
	if (ret < 0 || t->kind != RESOLVED_MANIFEST)
		goto out;
	ret = resolve_ref(fs, t->reg, t->repo, t->ref, fresh, &t->view);
	if (ret == -ENOENT) {
		t->kind = RESOLVED_NONE; /* a tag gone since the listing, an unknown digest */
		ret = 0;
	} else if (ret == -EINVAL) {
		t->kind = RESOLVED_UNREADABLE;
		ret = 0;
	} else if (ret == 0) {
		ret = resolve_entries(fs, v, n, rest, t);
		if (ret == -ENOENT) {
			t->kind = RESOLVED_NONE; /* an entry the registry does not have */
			ret = 0;
		}
	}
out:
	if (ret < 0)
		resolved_release(t); /* nothing for the caller to free */
	mountpath_free_parts(v, n);
	return ret;
}
