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
 * What the registry holds comes through fs->remote (fs/remote.h).  What it
 * said is kept, each for as long as it can be trusted:
 *   listings      decoded once, sorted, shared (fs->listings) for the TTL;
 *                 the catalog's is kept past it as a hint (level_registry)
 *   tag -> digest in fs->mem for the TTL, then confirmed by one HEAD
 * Past the TTL both stay in memory (until the caps push them out): while
 * the registry fails to answer, the last answer is served, marked stale
 * (stale_may_serve, fs_stale_mark), for at most STALE_IF_ERROR_MAX; a
 * failure never caches anything, so nothing negative outlives an outage.
 *   manifests     by digest for good: bytes in fs->mem and the store, the
 *                 parse shared in fs->parsed (they cannot change)
 * Everything from the store is checked against its digest again before it
 * is used.  An error that only means "not now" (-CANCEL_WOULD_WAIT, -EINTR:
 * common/cancel.h) is passed back as it is, never cached or mapped, and
 * what was done before it is safe to do again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/cancel.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/mountpath.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/manifest.h"
#include "registry/names.h"

/* Is @ret "not now" rather than an answer: the thread may not wait (the
 * request is run again where it may), or the reader went away?  Such an
 * error is passed back as it is: never cached, logged or mapped. */
static bool not_now(int ret)
{
	return ret == -CANCEL_WOULD_WAIT || ret == -EINTR;
}

/* --- listings with a lifetime -------------------------------------------- */

/* What one name costs in a listing: its bytes, the pointer to it, and the
 * allocator's own (about 16 bytes a block). */
#define LISTING_NAME_OVERHEAD (sizeof(char *) + 16)

static void listing_destroy(struct cache_mem_obj *o)
{
	struct resolve_listing *l = (struct resolve_listing *)o;

	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l);
}

void resolve_listing_put(const struct resolve_listing *l)
{
	if (l)
		cache_mem_obj_put((struct cache_mem_obj *)&l->obj);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A listing (one reference, the caller's) of the names of @sl, which it
 * takes over (@sl is left empty): sorted and each name once, in
 * O(n log n), or "absent" with @sl NULL.  NULL without memory. */
static struct resolve_listing *listing_new(struct reg_strlist *sl)
{
	struct resolve_listing *l = calloc(1, sizeof(*l));
	size_t charge = sizeof(*l), k = 0;

	if (!l) {
		if (sl)
			reg_strlist_release(sl);
		return NULL;
	}
	l->absent = !sl;
	if (sl) {
		l->v = sl->v;
		l->n = sl->n;
		memset(sl, 0, sizeof(*sl));
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), strp_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (k && strcmp(l->v[k - 1], l->v[i]) == 0) {
			free(l->v[i]); /* pages that overlap */
			continue;
		}
		l->v[k++] = l->v[i];
		charge += strlen(l->v[i]) + 1 + LISTING_NAME_OVERHEAD;
	}
	l->n = k;
	cache_mem_obj_init(&l->obj, listing_destroy, charge);
	return l;
}

size_t resolve_listing_lower_bound(const struct resolve_listing *l, const char *s)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(l->v[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool resolve_listing_has(const struct resolve_listing *l, const char *name)
{
	size_t i = resolve_listing_lower_bound(l, name);

	return i < l->n && strcmp(l->v[i], name) == 0;
}

/* Does any catalog repository equal @path or live below it?  Names below
 * "path/" sort together, after "path" and "path-x" ('-' and '.' come
 * before '/'). */
static bool catalog_has_prefix(const struct resolve_listing *l, const char *path)
{
	size_t pl = strlen(path), i;
	char *below;

	if (resolve_listing_has(l, path))
		return true;
	below = fs_strdup_printf("%s/", path);
	if (!below)
		return false;
	i = resolve_listing_lower_bound(l, below);
	free(below);
	return i < l->n && strncmp(l->v[i], path, pl) == 0 && l->v[i][pl] == '/';
}

/* What the listing cache holds under @key, without asking anyone: a new
 * reference, or NULL; *live says whether it is within its TTL (a stale
 * one is left in the cache, for stale-if-error). */
static struct resolve_listing *listing_find(struct fs *fs, const char *key, bool *live)
{
	struct cache_mem_obj *o = key ? cache_mem_find_obj_stale(fs->listings, key, live) : NULL;

	return o ? (struct resolve_listing *)o : NULL;
}

/* The live listing under @key now (a new reference), or NULL. */
static struct resolve_listing *listing_peek(struct fs *fs, const char *key)
{
	bool live = false;
	struct resolve_listing *l = listing_find(fs, key, &live);

	if (l && !live) {
		resolve_listing_put(l);
		l = NULL;
	}
	return l;
}

/*
 * Stale-if-error for what @key holds: may @old (the answer past its TTL,
 * or NULL) stand in for a registry that failed with @err?  Only for a
 * failure to answer (never an answer such as ENOENT or EACCES), only for
 * STALE_IF_ERROR_MAX past the TTL, and a cached "there is no such listing"
 * only where that is no "no such file" (@absent other than -ENOENT: a
 * registry without a catalog): an outage never turns into ENOENT.  When
 * it may, @key is marked stale (and logged once), naming it @what.
 */
static bool stale_may_serve(struct fs *fs, struct cache_mem *map, const char *key,
			    const char *what, bool absent_old, int absent, int err)
{
	double age;

	if (!fs_error_is_outage(err) || (absent_old && absent == -ENOENT))
		return false;
	age = cache_mem_expired_for(map, key);
	if (age > STALE_IF_ERROR_MAX)
		return false;
	fs_stale_mark(fs, key, what, age, err);
	return true;
}

/* A listing (@repo's tags, or the catalog with @repo NULL) through the
 * listing cache under @key (taken over).  @absent is the error that means
 * "no such listing" and is cached like a result; no other error is (a
 * CANCEL_WOULD_WAIT or EINTR is only "not now").  When the registry fails
 * to answer, the last answer past its TTL stands in (stale_may_serve). */
static int cached_listing(struct fs *fs, char *key, struct reg_registry *r, const char *repo,
			  int absent, const struct resolve_listing **out)
{
	struct resolve_listing *l, *old = NULL;
	struct reg_strlist sl = {0};
	bool live = false;
	char *what;
	int ret;

	*out = NULL;
	if (!key)
		return -ENOMEM;
	/* one request for many lookups that miss it at once: after another
	 * thread's fetch, look again (it may have failed: then fetch), and
	 * look once more after taking the fetch (one may just have ended) */
	for (int fetching = 0;;) {
		l = listing_find(fs, key, &live);
		if (l && live) {
			if (fetching)
				fs_fetch_end(fs, key);
			ret = l->absent ? absent : 0;
			if (ret == 0)
				*out = l;
			else
				resolve_listing_put(l);
			resolve_listing_put(old);
			free(key);
			return ret;
		}
		if (l) { /* past its TTL: kept at hand should the registry fail */
			resolve_listing_put(old);
			old = l;
		}
		if (fetching)
			break;
		fetching = fs_fetch_begin(fs, key);
		if (fetching < 0) {
			resolve_listing_put(old);
			free(key);
			return fetching;
		}
	}
	ret = repo ? fs->remote->tags(r, repo, &sl) : fs->remote->catalog(r, &sl);
	if (ret == 0 || ret == absent) {
		l = listing_new(ret == 0 ? &sl : NULL);
		if (!l) {
			ret = -ENOMEM;
		} else {
			cache_mem_put_obj(fs->listings, key, &l->obj, fs->cfg.ttl);
			fs_stale_clear(fs, key);
			if (ret == 0)
				*out = l;
			else
				resolve_listing_put(l);
		}
	} else if (old) {
		what = repo ? fs_strdup_printf("tags of '%s/%s'", reg_registry_host(r), repo)
			    : fs_strdup_printf("catalog of '%s'", reg_registry_host(r));
		if (what && stale_may_serve(fs, fs->listings, key, what, old->absent, absent, ret)) {
			ret = old->absent ? absent : 0;
			if (ret == 0) {
				*out = old;
				old = NULL;
			}
		}
		free(what);
	}
	fs_fetch_end(fs, key);
	reg_strlist_release(&sl);
	resolve_listing_put(old);
	free(key);
	return ret;
}

int resolve_catalog(struct fs *fs, struct reg_registry *r, const struct resolve_listing **out)
{
	return cached_listing(fs, fs_key_catalog(r), r, NULL, -ENOTSUP, out);
}

int resolve_tags(struct fs *fs, struct reg_registry *r, const char *repo,
		 const struct resolve_listing **out)
{
	return cached_listing(fs, fs_key_tags(r, repo), r, repo, -ENOENT, out);
}

void resolve_forget_pushed(struct fs *fs, struct reg_registry *r, const char *repo,
			   const char *tag)
{
	char *lists[] = {fs_key_catalog(r), fs_key_tags(r, repo)};
	char *tkey = fs_key_tag(r, repo, tag);

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (lists[i])
			cache_mem_drop(fs->listings, lists[i]);
		free(lists[i]);
	}
	if (tkey)
		cache_mem_drop(fs->mem, tkey);
	free(tkey);
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

/* Manifest @digest's bytes from memory (a new buffer): 0, -ENOENT, -ENOMEM. */
static int manifest_from_memory(struct fs *fs, const char *digest, char **bytes, size_t *len)
{
	char *key = fs_key_manifest(digest);
	int ret;

	if (!key)
		return -ENOMEM;
	ret = cache_mem_get(fs->mem, key, bytes, len);
	free(key);
	return ret;
}

int resolve_manifest_by_digest(struct fs *fs, struct reg_registry *r, const char *repo,
			       const char *digest, char **bytes, size_t *len)
{
	char check[DIGEST_STR_LEN + 1], *key;
	struct reg_fetched f;
	int ret;

	ret = manifest_from_memory(fs, digest, bytes, len);
	if (ret != -ENOENT)
		return ret;
	ret = cache_store_read(fs->store, digest, REG_MANIFEST_MAX, bytes, len);
	if (ret == 0) {
		/* the store verified it on the way in; a file changed behind our
		 * back since then is refetched, never served */
		digest_of(*bytes, *len, check);
		if (strcmp(check, digest) == 0) {
			manifest_keep(fs, digest, *bytes, *len);
			return 0;
		}
		free(*bytes);
		*bytes = NULL;
	} else if (not_now(ret)) {
		/* checking the file waits (it is hashed): on a thread that may
		 * wait, the store answers, not the registry */
		return ret;
	}
	/* one GET however many ask at once (a reader and a read ahead, or
	 * parallel lookups): after another's fetch it is in memory, or that
	 * fetch failed and this one tries */
	key = fs_key_manifest(digest);
	if (!key)
		return -ENOMEM;
	for (;;) {
		ret = fs_fetch_begin(fs, key);
		if (ret < 0) {
			free(key);
			return ret;
		}
		if (manifest_from_memory(fs, digest, bytes, len) == 0) {
			if (ret == 1)
				fs_fetch_end(fs, key);
			free(key);
			return 0;
		}
		if (ret == 1)
			break;
	}
	ret = fs->remote->manifest_get(r, repo, digest, &f);
	if (ret == 0) {
		manifest_keep(fs, f.digest, f.bytes, f.len);
		*bytes = f.bytes;
		*len = f.len;
		f.bytes = NULL;
		reg_fetched_release(&f);
	}
	fs_fetch_end(fs, key);
	free(key);
	return ret;
}

/* How long the failure of a tag's read ahead waits for the reader it was
 * for, in seconds. */
#define TAG_AHEAD_FAILURE_TTL 5.0

static char *tag_ahead_failure_key(const char *tag_key)
{
	return fs_strdup_printf("ahead-failed %s", tag_key);
}

/*
 * A tag never seen, fetched: one GET, its bytes kept by digest and where it
 * points kept under @key (its tag key) for the TTL.  One GET however many
 * ask at once (a read ahead of the tag and the reader that follows it):
 * after another's, the answer is in memory, or that GET failed.
 *
 * A read ahead (@ahead) that the registry tells to slow down (EAGAIN: a
 * 429 or 503) leaves that error for the reader it was for, for
 * TAG_AHEAD_FAILURE_TTL: the first reader to ask takes it as its answer
 * rather than asking again (a 429 asked twice is one too many; a reader
 * without the read ahead would have asked once), and the next one asks the
 * registry.  0 with @digest set, or -errno.
 */
static int tag_fetch(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag,
		     const char *key, bool ahead, char digest[DIGEST_STR_LEN + 1])
{
	char *fkey = tag_ahead_failure_key(key), *val = NULL;
	struct reg_fetched f;
	size_t len;
	int ret, failed;

	if (!fkey)
		return -ENOMEM;
	for (;;) {
		bool found;

		ret = fs_fetch_begin(fs, key);
		if (ret < 0)
			goto out;
		found = cache_mem_get(fs->mem, key, &val, &len) == 0 && len == DIGEST_STR_LEN &&
			digest_is_valid(val);
		if (found)
			memcpy(digest, val, DIGEST_STR_LEN + 1);
		free(val);
		val = NULL;
		if (found) {
			if (ret == 1)
				fs_fetch_end(fs, key);
			ret = 0;
			goto out;
		}
		if (ret == 1)
			break;
	}
	if (cache_mem_get(fs->mem, fkey, &val, &len) == 0 && len == sizeof(failed)) {
		/* a read ahead failed a moment ago: the reader takes its error,
		 * another read ahead leaves it be */
		memcpy(&failed, val, sizeof(failed));
		if (!ahead)
			cache_mem_drop(fs->mem, fkey);
		fs_fetch_end(fs, key);
		ret = failed;
		goto out;
	}
	ret = fs->remote->manifest_get(r, repo, tag, &f);
	if (ret == 0) {
		memcpy(digest, f.digest, DIGEST_STR_LEN + 1);
		manifest_keep(fs, f.digest, f.bytes, f.len);
		cache_mem_put(fs->mem, key, digest, DIGEST_STR_LEN, fs->cfg.ttl);
		reg_fetched_release(&f);
	} else if (ahead && ret == -EAGAIN) {
		/* only "slow down" (a 429 or 503): another failure may be gone
		 * when the reader asks (a token refused a moment ago), and "no
		 * such tag" may not hold the next moment (a commit) */
		cache_mem_put(fs->mem, fkey, &ret, sizeof(ret), TAG_AHEAD_FAILURE_TTL);
	}
	fs_fetch_end(fs, key);
out:
	free(val);
	free(fkey);
	return ret;
}

int resolve_tag_ahead(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag)
{
	char *key = fs_key_tag(r, repo, tag), *val = NULL, digest[DIGEST_STR_LEN + 1];
	bool live;
	size_t len;
	int ret = 0;

	if (!key)
		return -ENOMEM;
	/* a tag seen before is asked with a HEAD when it is read: nothing to
	 * read ahead */
	if (cache_mem_get_stale(fs->mem, key, &val, &len, &live) != 0)
		ret = tag_fetch(fs, r, repo, tag, key, true, digest);
	free(val);
	free(key);
	return ret;
}

/*
 * The digest @tag of @repo points at.  Within the TTL (unless @fresh) the
 * memory cache answers.  After it, or @fresh, a tag seen before costs one
 * HEAD, which confirms or moves it: registries do not count HEADs against
 * pull quotas, and the manifest is then found by its digest (memory, the
 * store), so an unchanged tag is never fetched again.  A tag never seen
 * costs one GET, whose bytes are kept by digest; with @head_only (is it
 * there at all?) a HEAD, so `ls -d` of a tag fetches no manifest.  When
 * the HEAD finds the registry failing, the tag is taken to point where it
 * did (stale_may_serve), unless @fresh.
 */
static int tag_digest(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag,
		      bool fresh, bool head_only, char digest[DIGEST_STR_LEN + 1])
{
	char *key = fs_key_tag(r, repo, tag), *val = NULL, last[DIGEST_STR_LEN + 1];
	bool live = false, known = false;
	size_t len;
	int ret;

	if (!key)
		return -ENOMEM;
	if (cache_mem_get_stale(fs->mem, key, &val, &len, &live) == 0) {
		known = len == DIGEST_STR_LEN && digest_is_valid(val);
		if (known)
			memcpy(digest, val, DIGEST_STR_LEN + 1);
		free(val);
		if (known && live && !fresh) {
			free(key);
			return 0;
		}
	}
	if (known) {
		memcpy(last, digest, sizeof(last));
		ret = fs->remote->manifest_digest(r, repo, tag, digest);
	} else if (head_only) {
		ret = fs->remote->manifest_digest(r, repo, tag, digest);
	} else {
		ret = tag_fetch(fs, r, repo, tag, key, false, digest);
	}
	if (ret == 0) {
		cache_mem_put(fs->mem, key, digest, DIGEST_STR_LEN, fs->cfg.ttl);
		fs_stale_clear(fs, key);
	} else if (ret == -ENOENT) {
		cache_mem_drop(fs->mem, key); /* gone: its last digest says nothing now */
		fs_stale_clear(fs, key);
	} else if (known && !fresh) {
		/* stale-if-error: where it pointed last (a commit, @fresh, wants
		 * the tag as it is now and gets the error) */
		char *what = fs_strdup_printf("tag '%s/%s:%s'", reg_registry_host(r), repo, tag);

		if (what && stale_may_serve(fs, fs->mem, key, what, false, -ENOENT, ret)) {
			memcpy(digest, last, sizeof(last));
			ret = 0;
		}
		free(what);
	}
	free(key);
	return ret;
}

/* Forget where tag @tag of @repo points: the next tag_digest asks anew. */
static void tag_forget(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag)
{
	char *key = fs_key_tag(r, repo, tag);

	if (key)
		cache_mem_drop(fs->mem, key);
	free(key);
}

/* Whether tag @name of @repo is there (0) or not (-ENOENT), asked the way
 * that costs least without a listing: one manifest HEAD (none within the
 * TTL of an answer). */
static int tag_exists(struct fs *fs, struct reg_registry *r, const char *repo, const char *name)
{
	char digest[DIGEST_STR_LEN + 1];

	return tag_digest(fs, r, repo, name, false, true, digest);
}

/* --- manifests parsed once ------------------------------------------------ */

/*
 * A manifest's parse, kept by digest (and the content type it was read
 * as) in fs->parsed for good, as its bytes are: what a digest names never
 * changes.  Views share it by reference.  An index's entries get a sorted
 * index by name, so finding one is a binary search.
 */
struct resolve_parsed {
	struct cache_mem_obj obj;
	char *bytes; /* owned */
	size_t len;
	char *content_type;     /* owned: what the bytes were read as, or NULL */
	struct reg_manifest *m; /* owned */
	size_t *by_name;        /* owned: positions of named entries, by name */
	size_t n_named;
};

/* What a parse costs in memory, about: the bytes, and per descriptor its
 * struct, strings and platform. */
#define PARSED_DESC_COST 256

static void parsed_destroy(struct cache_mem_obj *o)
{
	struct resolve_parsed *p = (struct resolve_parsed *)o;

	free(p->bytes);
	free(p->content_type);
	reg_manifest_free(p->m);
	free(p->by_name);
	free(p);
}

/* qsort_r's comparison of entry positions by name (@arg: the manifest). */
static int entry_name_cmp(const void *a, const void *b, void *arg)
{
	const struct reg_manifest *m = arg;

	return strcmp(m->entry_names[*(const size_t *)a], m->entry_names[*(const size_t *)b]);
}

/* The by-name index of @p's entries.  0 or -ENOMEM. */
static int parsed_index_names(struct resolve_parsed *p)
{
	const struct reg_manifest *m = p->m;

	if (!m->n_entries)
		return 0;
	p->by_name = malloc(m->n_entries * sizeof(*p->by_name));
	if (!p->by_name)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entry_names[i])
			p->by_name[p->n_named++] = i;
	qsort_r(p->by_name, p->n_named, sizeof(*p->by_name), entry_name_cmp, p->m);
	return 0;
}

/* A new parse (one reference) of @bytes (taken over) read as
 * @content_type.  -EINVAL for no manifest regfs can read, -ENOMEM. */
static int parsed_new(char *bytes, size_t len, const char *content_type,
		      struct resolve_parsed **out)
{
	struct resolve_parsed *p = calloc(1, sizeof(*p));
	int ret = -ENOMEM;

	*out = NULL;
	if (!p) {
		free(bytes);
		return -ENOMEM;
	}
	p->bytes = bytes;
	p->len = len;
	cache_mem_obj_init(&p->obj, parsed_destroy, 0);
	if (content_type && !(p->content_type = strdup(content_type)))
		goto out;
	ret = reg_manifest_parse(bytes, len, content_type, &p->m) < 0 ? -EINVAL : 0;
	if (ret == 0)
		ret = parsed_index_names(p);
	if (ret < 0)
		goto out;
	p->obj.charge = sizeof(*p) + 2 * len +
			(p->m->n_entries + p->m->n_layers + 1) * PARSED_DESC_COST;
	*out = p;
	p = NULL;
out:
	if (p)
		parsed_destroy(&p->obj);
	return ret;
}

/* Manifest @digest of @repo, parsed as @content_type says, shared: from
 * fs->parsed, else its bytes (resolve_manifest_by_digest) parsed and kept.
 * 0 with *out a new reference, -EINVAL, or -errno. */
static int parsed_find(struct fs *fs, struct reg_registry *r, const char *repo,
		       const char *digest, const char *content_type, struct resolve_parsed **out)
{
	char *key = fs_key_parsed(digest, content_type), *bytes = NULL;
	struct cache_mem_obj *o;
	size_t len;
	int ret;

	*out = NULL;
	if (!key)
		return -ENOMEM;
	o = cache_mem_find_obj(fs->parsed, key);
	if (o) {
		*out = (struct resolve_parsed *)o;
		free(key);
		return 0;
	}
	ret = resolve_manifest_by_digest(fs, r, repo, digest, &bytes, &len);
	if (ret == 0)
		ret = parsed_new(bytes, len, content_type, out);
	if (ret == 0)
		cache_mem_put_obj(fs->parsed, key, &(*out)->obj, CACHE_MEM_FOREVER);
	free(key);
	return ret;
}

/* A shared view of @p (taken over). */
static void view_of_parsed(struct resolve_view *v, const char *digest, struct resolve_parsed *p)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->digest, digest, DIGEST_STR_LEN + 1);
	v->bytes = p->bytes;
	v->len = p->len;
	v->m = p->m;
	v->shared = p;
}

/* Make @v's bytes and parse its own (a copy of a shared view's), for a
 * caller that takes the view apart.  0 or -errno (@v empty then). */
static int view_own(struct resolve_view *v)
{
	struct resolve_parsed *p = v->shared;
	struct resolve_view own;
	char *b;
	int ret;

	if (!p)
		return 0;
	b = malloc(p->len + 1);
	if (!b) {
		resolve_view_release(v);
		return -ENOMEM;
	}
	memcpy(b, p->bytes, p->len);
	b[p->len] = '\0';
	ret = resolve_view_take(&own, v->digest, b, p->len, p->content_type);
	resolve_view_release(v);
	if (ret == 0)
		*v = own;
	return ret == -EINVAL ? -ENOMEM : ret; /* it parsed before: only memory fails */
}

void resolve_view_release(struct resolve_view *v)
{
	if (v->shared) {
		cache_mem_obj_put(&v->shared->obj);
	} else {
		free(v->bytes);
		reg_manifest_free(v->m);
	}
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

int resolve_view_find_entry(const struct resolve_view *v, const char *name)
{
	const struct resolve_parsed *p = v->shared;
	size_t lo = 0, hi;

	if (!p)
		return reg_manifest_find_entry(v->m, name);
	hi = p->n_named;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->m->entry_names[p->by_name[mid]], name);

		if (c == 0)
			return (int)p->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int resolve_ref(struct fs *fs, struct reg_registry *r, const char *repo, const char *ref,
		bool fresh, struct resolve_view *out)
{
	char digest[DIGEST_STR_LEN + 1];
	struct resolve_parsed *p;
	int ret;

	memset(out, 0, sizeof(*out));
	if (digest_is_valid(ref))
		memcpy(digest, ref, DIGEST_STR_LEN + 1);
	else if ((ret = tag_digest(fs, r, repo, ref, fresh, false, digest)) < 0)
		return ret;
	ret = parsed_find(fs, r, repo, digest, NULL, &p);
	if (ret == -ENOENT && !digest_is_valid(ref)) {
		/* the digest a HEAD gave for the tag names nothing the registry
		 * has (a Docker-Content-Digest that lies, or the tag moved and
		 * its old manifest is gone): the tag's own GET tells, its bytes
		 * verified, rather than the tag being "not there" */
		tag_forget(fs, r, repo, ref);
		ret = tag_digest(fs, r, repo, ref, fresh, false, digest);
		if (ret == 0)
			ret = parsed_find(fs, r, repo, digest, NULL, &p);
	}
	if (ret < 0)
		return ret;
	view_of_parsed(out, digest, p);
	return 0;
}

int resolve_digest(struct fs *fs, struct reg_registry *r, const char *repo, const char *digest,
		   const char *content_type, struct resolve_view *out)
{
	struct resolve_parsed *p;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = parsed_find(fs, r, repo, digest, content_type, &p);
	if (ret == 0)
		view_of_parsed(out, digest, p);
	return ret;
}

int resolve_entry(struct fs *fs, struct reg_registry *r, const char *repo,
		  const struct resolve_view *idx, const char *name, struct resolve_view *out)
{
	const struct reg_descriptor *d;
	struct resolve_parsed *p;
	int i, ret;

	memset(out, 0, sizeof(*out));
	if (!reg_mtype_is_index(idx->m->type))
		return -ENOTDIR;
	i = resolve_view_find_entry(idx, name);
	if (i < 0)
		return -ENOENT;
	d = &idx->m->entries[i];
	ret = parsed_find(fs, r, repo, d->digest, d->media_type, &p);
	if (ret < 0)
		return ret;
	view_of_parsed(out, d->digest, p);
	return 0;
}

/* --- names at the root and at repository levels ---------------------------- */

static bool is_configured(struct fs *fs, const char *host)
{
	for (char **p = fs->cfg.registries; p && *p; p++)
		if (strcmp(*p, host) == 0)
			return true;
	return false;
}

/*
 * A name at the root that regfs was not given: a registry only once it
 * answers (fs->remote->admit), so that names looked up by anyone (under
 * allow_other, any user) leave nothing behind but an entry of the bounded
 * root_misses map for the TTL, which answers the same name again without
 * asking; at most ROOT_HOSTS_MAX such hosts are taken in.  One question
 * per name at a time.  0 or -errno (-ENOENT for a name that does not
 * resolve).
 */
static int registry_admit(struct fs *fs, const char *name, struct reg_registry **out)
{
	char *fkey = fs_strdup_printf("h:%s", name), *val = NULL;
	bool added = false, may_add;
	size_t len;
	int ret, fetching;

	if (!fkey)
		return -ENOMEM;
	for (;;) {
		fetching = fs_fetch_begin(fs, fkey);
		if (fetching < 0) {
			free(fkey);
			return fetching;
		}
		ret = 0;
		if (cache_mem_get(fs->root_misses, name, &val, &len) == 0 && len == sizeof(ret))
			memcpy(&ret, val, sizeof(ret));
		free(val);
		val = NULL;
		if (ret < 0 || fetching == 1)
			break;
	}
	if (ret == 0) {
		may_add = __atomic_load_n(&fs->root_hosts, __ATOMIC_RELAXED) < ROOT_HOSTS_MAX;
		ret = fs->remote->admit(fs->client, name, may_add, out, &added);
		if (added)
			__atomic_add_fetch(&fs->root_hosts, 1, __ATOMIC_RELAXED);
		if (ret == -ENOSPC) {
			if (!__atomic_exchange_n(&fs->root_full_logged, true, __ATOMIC_RELAXED))
				log_warn("'%s' looked up at the root: not taken in, %u hosts not given "
					 "with -o registry= are kept already (this is logged once)",
					 name, ROOT_HOSTS_MAX);
			ret = -ENOENT;
		}
		if (ret == -ENXIO || ret == -EINVAL)
			ret = -ENOENT;
		/* a miss is kept for the TTL: asking again costs nothing */
		if (ret < 0 && !not_now(ret) && ret != -ENOMEM)
			cache_mem_put(fs->root_misses, name, &ret, sizeof(ret), fs->cfg.ttl);
	}
	if (fetching == 1)
		fs_fetch_end(fs, fkey);
	free(fkey);
	if (ret < 0)
		*out = NULL;
	return ret;
}

int resolve_registry(struct fs *fs, const char *name, struct reg_registry **out)
{
	int ret;

	*out = NULL;
	if (!reg_name_is_host(name))
		return -ENOENT;
	if (!is_configured(fs, name))
		return registry_admit(fs, name, out);
	ret = reg_client_registry(fs->client, name, out);
	return ret == -EINVAL ? -ENOENT : ret;
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
	const struct resolve_listing *cat; /* the catalog, when there is one (a reference) */
	bool has_catalog;
	bool prefix_is_repo;    /* as far as we can tell */
	bool denied;            /* the registry refused to tell us about @prefix */
	bool tag_probed;        /* a HEAD said name is no tag of prefix (or refused) */
};

/* With a catalog: a tag the (cached) tags listing names.  1 found, 0 not,
 * -errno. */
static int level_listed_tag(struct level *l)
{
	const struct resolve_listing *tl = NULL;
	int ret = resolve_tags(l->fs, l->r, l->prefix, &tl);

	if (ret == -EACCES)
		l->denied = true;
	if (ret == -ENOENT || ret == -EACCES)
		ret = 0;
	else if (ret == 0)
		ret = resolve_listing_has(tl, l->name) ? 1 : 0;
	resolve_listing_put(tl);
	return ret;
}

/*
 * A tag looked up with neither its repository's tags listing nor the tag
 * itself at hand is a path walked in full (`cat repo/tag/manifest.json`),
 * and whoever walks it reads the tag's manifest next: its GET goes out
 * now, beside the tags list that answers the lookup, rather than after it
 * (the GET is single-flight: tag_fetch).  Only where a catalog answers: on
 * a registry without one (Docker Hub, whose pull quota counts manifest
 * GETs) a lookup asks one HEAD and nothing more.
 */
static void tag_read_ahead(struct level *l)
{
	char *lkey = fs_key_tags(l->r, l->prefix), *tkey = fs_key_tag(l->r, l->prefix, l->name);
	struct resolve_listing *tl = lkey ? listing_peek(l->fs, lkey) : NULL;
	char *val = NULL;
	size_t len;
	bool live;

	if (lkey && tkey && !tl && cache_mem_get_stale(l->fs->mem, tkey, &val, &len, &live) != 0)
		prefetch_tag(l->fs, l->r, l->prefix, l->name);
	free(val);
	resolve_listing_put(tl);
	free(lkey);
	free(tkey);
}

/* A tag pushed since the listing, one we may not list, or on a registry
 * without listings: one HEAD (asked once per resolve_level).  1 found, 0
 * not, -errno. */
static int level_probed_tag(struct level *l)
{
	int ret;

	if (l->tag_probed)
		return 0;
	ret = tag_exists(l->fs, l->r, l->prefix, l->name);
	if (ret == -EACCES)
		l->denied = true;
	if (ret == -ENOENT || ret == -EACCES) {
		l->tag_probed = true;
		return 0;
	}
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
	const struct resolve_listing *tl = NULL;
	int ret = resolve_tags(l->fs, l->r, l->path, &tl);

	resolve_listing_put(tl);
	if (ret != -ENOENT)
		return ret;
	ret = resolve_tags(l->fs, l->r, l->prefix, &tl);
	resolve_listing_put(tl);
	if (ret == -ENOENT)
		return 0;
	return ret == 0 ? -ENOENT : ret;
}

#define LEVEL_UNSURE (-ENOENT) /* level_probe: the probes cannot tell */

/*
 * Before any catalog: what asking for the name itself proves.  A tag with
 * the tags listing at hand, else one HEAD; a repository by its tags list.
 * A namespace, or nothing, no such request can tell apart: LEVEL_UNSURE.
 * Returns LEVEL_TAG, LEVEL_REPO, LEVEL_UNSURE or another -errno.
 */
static int level_probe(struct level *l)
{
	const struct resolve_listing *tl = NULL;
	char *key = l->prefix ? fs_key_tags(l->r, l->prefix) : NULL;
	struct resolve_listing *at_hand = l->is_tag ? listing_peek(l->fs, key) : NULL;
	int ret = 0;

	free(key);
	if (l->is_tag && at_hand && !at_hand->absent && resolve_listing_has(at_hand, l->name))
		ret = 1;
	else if (l->is_tag && !(at_hand && at_hand->absent))
		ret = level_probed_tag(l); /* not listed: maybe pushed since */
	resolve_listing_put(at_hand);
	if (ret != 0)
		return ret < 0 ? ret : LEVEL_TAG;
	if (!l->is_component)
		return LEVEL_UNSURE;
	ret = resolve_tags(l->fs, l->r, l->path, &tl);
	resolve_listing_put(tl);
	if (ret == 0)
		return LEVEL_REPO;
	/* refused: the catalog may still say it is there */
	return ret == -EACCES ? LEVEL_UNSURE : ret;
}

/*
 * Before the catalog is asked again: what the probes, then the catalog as
 * it was past its TTL (@stale, or NULL), can tell.  A repository path the
 * last catalog named is taken to be there still: namespaces and
 * repositories seldom go, a listing of the level asks the catalog afresh,
 * and what is below is probed by name.  A tag of a repository it named is
 * probed first (a tag wins over a namespace).  LEVEL_TAG, LEVEL_REPO,
 * LEVEL_UNSURE or -errno.
 */
static int level_before_catalog(struct level *l, const struct resolve_listing *stale)
{
	bool named = stale && !stale->absent && l->is_component &&
		     catalog_has_prefix(stale, l->path);
	int ret;

	/* no tag to look for where the last catalog had no repository */
	if (named && (!l->is_tag || !resolve_listing_has(stale, l->prefix)))
		return LEVEL_REPO;
	ret = level_probe(l);
	if (ret == LEVEL_UNSURE && named)
		return LEVEL_REPO;
	return ret;
}

/*
 * Names at a registry's top probed one by one (within a TTL of each other)
 * before the catalog is read after all.  A path named in full probes one;
 * many top-level names looked up at once (`xargs -P16 cat` over
 * top-level repositories) are answered by one catalog soon, which matters
 * while the kernel sends the lookups of one directory one at a time.
 */
#define LEVEL_PROBES_MAX 4

/* May @l probe rather than read the catalog?  Counts the probe. */
static bool probes_left(struct level *l)
{
	char *key = fs_key_probes(l->r), *val = NULL;
	size_t len;
	unsigned n = 0;

	if (!key)
		return true;
	if (cache_mem_get(l->fs->mem, key, &val, &len) == 0 && len == sizeof(n))
		memcpy(&n, val, sizeof(n));
	free(val);
	n++;
	/* forgotten a TTL after the last probe, as a catalog read would be */
	cache_mem_put(l->fs->mem, key, &n, sizeof(n), l->fs->cfg.ttl);
	free(key);
	return n <= LEVEL_PROBES_MAX;
}

/*
 * The registry's answer for the level: LEVEL_TAG, LEVEL_REPO, or -errno.
 * The catalog is asked only when the name itself could not tell, or when it
 * is at hand already (a listing of the level fetched it): a path named in
 * full costs a HEAD or a tags list, not pages of _catalog.
 */
static int level_registry(struct level *l)
{
	char *key = fs_key_catalog(l->r);
	bool live = false;
	struct cache_mem_obj *o = key ? cache_mem_find_obj_stale(l->fs->listings, key, &live) : NULL;
	struct resolve_listing *cat = o ? (struct resolve_listing *)o : NULL;
	int ret, cret;

	free(key);
	if (cat && cat->absent) {
		/* no catalog, even as it was past the TTL: a registry that
		 * offers none (Docker Hub) is asked again only by listings */
		cret = -ENOTSUP;
		resolve_listing_put(cat);
	} else if (cat && live) {
		cret = 0;
		l->cat = cat;
	} else {
		/* a name at the top whose probe finds no repository is a
		 * namespace or nothing, which only the catalog tells: never
		 * read yet, it is asked now, beside the probe, so that the
		 * answer is not two round trips in a row */
		if (!l->prefix && !cat && l->is_component)
			prefetch_catalog(l->fs, l->r);
		ret = l->prefix || probes_left(l) ? level_before_catalog(l, cat) : LEVEL_UNSURE;
		resolve_listing_put(cat);
		if (ret != LEVEL_UNSURE)
			return ret;
		/* a catalog refused (credentials we lack for it) does not say
		 * which names are there: look the name up by itself, as
		 * without one */
		cret = resolve_catalog(l->fs, l->r, &l->cat);
		if (cret < 0 && cret != -ENOTSUP && cret != -EACCES)
			return cret;
	}
	l->has_catalog = cret == 0;
	l->prefix_is_repo =
		l->prefix && (!l->has_catalog || resolve_listing_has(l->cat, l->prefix));

	if (l->is_tag && l->prefix_is_repo && l->has_catalog && !l->tag_probed) {
		tag_read_ahead(l);
		ret = level_listed_tag(l);
		if (ret != 0)
			return ret < 0 ? ret : LEVEL_TAG;
	}
	if (l->is_component && l->has_catalog && catalog_has_prefix(l->cat, l->path))
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
	/* offline no registry can tell a tag from a repository: every
	 * repository path is taken to be there, so that what the store holds
	 * by digest can be reached below it; a tag is not known */
	if (fs->cfg.offline)
		return l.is_component ? LEVEL_REPO : -ENETDOWN;
	l.path = prefix ? mountpath_join(prefix, name) : strdup(name);
	if (!l.path)
		return -ENOMEM;
	ret = level_registry(&l);
	/* nothing in the registry, or no registry to ask: the level holding
	 * drafts is there all the same (but "not now" is no answer yet) */
	if (ret < 0 && ret != -ENOMEM && !not_now(ret) && kind == CACHE_DRAFT_NAMESPACE)
		ret = LEVEL_REPO;
	resolve_listing_put(l.cat);
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
	/* the caller may take the views apart (commit.c does) */
	if (ret == 0)
		ret = view_own(&t->view);
	if (ret == 0)
		ret = view_own(&t->parent);
out:
	if (ret < 0)
		resolved_release(t); /* nothing for the caller to free */
	mountpath_free_parts(v, n);
	return ret;
}
