/*
 * Pulls: the API calls that read a registry.  Listings (_catalog and
 * tags/list, every page, invalid names skipped), manifests by tag or
 * digest, and blobs streamed to the caller's sink.
 *
 * Reads of manifests, blobs and tags lists go to the registry's mirrors
 * first (read_routes, route.c); the catalog is the registry's own.
 * Content by digest is verified whoever served it: a manifest in memory
 * before it is returned, a blob from a mirror through a tee that holds it
 * back while it is small.  A blob from the registry itself is verified by
 * the caller (the cache writer).
 */
#include "registry/client.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "registry/link.h"
#include "registry/manifest.h"
#include "registry/names.h"
#include "registry/request.h"

/* --- listings ------------------------------------------------------------ */

void reg_strlist_release(struct reg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strlist_add(struct reg_strlist *l, const char *s)
{
	char **nv;

	if ((l->n & (l->n - 1)) == 0) {
		nv = realloc(l->v, (l->n ? l->n * 2 : 16) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Follow a Link: next to the same registry only.  Returns a new path or
 * absolute URL, NULL when there is none or it points elsewhere. */
static char *next_page(const struct route *rt, const char *link, const char *what)
{
	struct reg_registry *r = rt->r;
	char *next = NULL, *host_part = NULL;

	if (!link)
		return NULL;
	if (reg_link_next(link, &next) < 0) {
		route_log(rt, LOG_LVL_WARN, "%s on '%s': malformed Link header, the listing ends here",
			  what, r->host);
		return NULL;
	}
	if (!next)
		return NULL;
	if (next[0] == '/' && next[1] != '/')
		return next;
	if (strncmp(next, "http://", 7) == 0 || strncmp(next, "https://", 8) == 0) {
		const char *h = strstr(next, "://") + 3;
		size_t hl = strcspn(h, "/?#");

		host_part = strndup(h, hl);
		if (host_part && strcasecmp(host_part, r->api_host) == 0) {
			char *path = strdup(h + hl);

			free(host_part);
			free(next);
			return path;
		}
	}
	route_log(rt, LOG_LVL_WARN, "%s on '%s': ignoring a next page link that leaves the registry",
		  what, r->host);
	free(host_part);
	free(next);
	return NULL;
}

/* The names of the JSON array @key of one listing page (@body) into @out,
 * invalid ones counted in *skipped.  0, -EIO for a page that is no
 * listing (logged), -ENOMEM. */
static int listing_page(const struct route *rt, const struct buf *body, const char *key,
			const char *what, bool (*valid)(const char *), struct reg_strlist *out,
			size_t *skipped)
{
	json_t *root = json_loadb(body->data, body->len, 0, NULL);
	json_t *arr = json_object_get(root, key), *v;
	size_t i;
	int ret = 0;

	if (!root || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
		route_log(rt, LOG_LVL_ERR, "%s on '%s': malformed listing", what, rt->r->host);
		json_decref(root);
		return -EIO;
	}
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || json_string_length(v) != strlen(s) || !valid(s)) {
			(*skipped)++;
			continue;
		}
		ret = strlist_add(out, s);
		if (ret < 0)
			break;
	}
	json_decref(root);
	return ret;
}

/* Whether @path is one of the @n pages of @seen already read. */
static bool page_seen(char *const *seen, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(seen[i], path) == 0)
			return true;
	return false;
}

/* One page of a paginated answer, read: 0 or -errno (ends the walk). */
typedef int (*page_fn)(const struct route *rt, const struct buf *body, void *arg);

/* Every page from @first on, following Link, each handed to @page: the
 * first page's answer due by @deadline (0: the request bound from now;
 * each further page has a bound of its own), with @accept (NULL: any).
 * 0 or -errno; *creds_refused (or NULL) says a final EACCES was about our
 * credentials (struct http_call). */
static int fetch_pages(const struct route *rt, const char *first, const char *scope,
		       const char *what, const char *accept, double deadline, page_fn page,
		       void *arg, bool *creds_refused)
{
	struct reg_registry *r = rt->r;
	struct http_call h = {0};
	char *path = strdup(first), **seen = NULL;
	size_t pages = 0;
	int ret = 0;

	if (!path)
		return -ENOMEM;
	while (path) {
		h.max = REG_LISTING_PAGE_MAX;
		h.total_timeout = 120;
		h.deadline = pages == 0 ? deadline : 0;
		h.accept = accept;
		ret = route_request(rt, path, scope, what, &h);
		if (creds_refused)
			*creds_refused = ret == -EACCES && h.creds_refused;
		if (ret == 0)
			ret = page(rt, &h.body, arg);
		if (ret < 0)
			break;
		/* every page read is kept, to stop a Link that leads back to
		 * any of them (A -> B -> A), not only to the page itself */
		if ((pages & (pages - 1)) == 0) {
			char **ns = realloc(seen, (pages ? pages * 2 : 16) * sizeof(*ns));

			if (!ns) {
				ret = -ENOMEM;
				break;
			}
			seen = ns;
		}
		seen[pages++] = path;
		path = next_page(rt, h.link, what);
		if (path && page_seen(seen, pages, path)) {
			route_log(rt, LOG_LVL_WARN, "%s on '%s': a next page link leads back to a page "
				  "already read, the listing ends here", what, r->host);
			free(path);
			path = NULL;
		} else if (path && pages >= REG_LISTING_PAGES_MAX) {
			route_log(rt, LOG_LVL_WARN, "%s on '%s': more than %d pages, the listing is cut "
				  "off there", what, r->host, REG_LISTING_PAGES_MAX);
			free(path);
			path = NULL;
		}
	}
	http_call_release(&h);
	for (size_t i = 0; i < pages; i++)
		free(seen[i]);
	free(seen);
	free(path);
	return ret;
}

/* What a listing's pages are read into (listing_page_read). */
struct listing_read {
	const char *key, *what;
	bool (*valid)(const char *);
	struct reg_strlist *out;
	size_t skipped;
};

static int listing_page_read(const struct route *rt, const struct buf *body, void *arg)
{
	struct listing_read *l = arg;

	return listing_page(rt, body, l->key, l->what, l->valid, l->out, &l->skipped);
}

/* Every page of the listing @key (a JSON array) from @first on, as
 * fetch_pages reads them. */
static int fetch_listing(const struct route *rt, const char *first, const char *scope,
			 const char *key, const char *what, bool (*valid)(const char *),
			 double deadline, struct reg_strlist *out, bool *creds_refused)
{
	struct listing_read l = {.key = key, .what = what, .valid = valid, .out = out};
	int ret;

	memset(out, 0, sizeof(*out));
	ret = fetch_pages(rt, first, scope, what, NULL, deadline, listing_page_read, &l,
			  creds_refused);
	if (l.skipped)
		log_warn("%s on '%s': skipped %zu invalid names", what, rt->r->host, l.skipped);
	if (ret < 0)
		reg_strlist_release(out);
	return ret;
}

int reg_catalog(struct reg_registry *r, struct reg_strlist *out)
{
	struct route rt = {r, NULL, NULL}; /* the catalog is the registry's own, never a mirror's */
	bool creds_refused = false;
	int ret = fetch_listing(&rt, "/v2/_catalog?n=1000", "registry:catalog:*", "repositories",
				"catalog", reg_name_is_repo, 0, out, &creds_refused);

	/* a registry whose page limit is below our n refuses the request
	 * (distribution: 400 PAGINATION_NUMBER_INVALID); its own page size will do */
	if (ret == -EIO)
		ret = fetch_listing(&rt, "/v2/_catalog", "registry:catalog:*", "repositories",
				    "catalog", reg_name_is_repo, 0, out, &creds_refused);

	/* Docker Hub and others lack _catalog (404) or keep it from whoever we
	 * are (403, or a token got with all our credentials that does not
	 * cover it): browsing by name still works.  A registry that wants
	 * credentials we do not have, or may not send, refuses: EACCES (the
	 * 401 is logged) */
	if (ret == -ENOENT || (ret == -EACCES && !creds_refused))
		ret = -ENOTSUP;
	return ret;
}

/* Route @i of @rt served @what: warn of each mirror before it that said it
 * had no such thing (@lacked). */
static void mirrors_lacked(const struct route *rt, const bool *lacked, size_t i, const char *what)
{
	for (size_t j = 0; j < i; j++)
		if (lacked[j])
			route_mirror_lacked(&rt[j], what, &rt[i]);
}

/* The tags listing again in pages of REG_TAGS_PAGE_N_SMALL, after a source
 * failed the large ones: a registry whose page limit is below
 * REG_TAGS_PAGE_N refuses the request (a 400, as distribution does for a
 * catalog past its maxentries).  A source that failed for another reason
 * fails again, within the same bound.  0 or -errno, as fetch_listing. */
static int tags_small_pages(const struct route *rt, const char *repo, const char *scope,
			    const char *what, double deadline, struct reg_strlist *out)
{
	char *path = NULL;
	int ret;

	if (asprintf(&path, "/v2/%s/tags/list?n=%d", repo, REG_TAGS_PAGE_N_SMALL) < 0)
		return -ENOMEM;
	ret = fetch_listing(rt, path, scope, "tags", what, reg_name_is_tag, deadline, out, NULL);
	free(path);
	return ret;
}

int reg_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	char *path = NULL, *scope = NULL, *what = NULL;
	int ret = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!reg_name_is_repo(repo))
		return -EINVAL;
	if (asprintf(&path, "/v2/%s/tags/list?n=%d", repo, REG_TAGS_PAGE_N) < 0)
		path = NULL;
	if (asprintf(&scope, "repository:%s:pull", repo) < 0)
		scope = NULL;
	if (asprintf(&what, "tags of '%s'", repo) < 0)
		what = NULL;
	if (path && scope && what) {
		struct route rt[ROUTES_MAX];
		bool lacked[ROUTES_MAX] = {false};
		size_t n = read_routes(r, NULL, rt);
		/* one bound for the first page over every source */
		double deadline = mono_now() + (double)r->client->request_timeout;

		for (size_t i = 0; i < n; i++) {
			ret = fetch_listing(&rt[i], path, scope, "tags", what, reg_name_is_tag,
					    deadline, out, NULL);
			if (ret == -EIO)
				ret = tags_small_pages(&rt[i], repo, scope, what, deadline, out);
			if (ret == 0)
				mirrors_lacked(rt, lacked, i, what);
			if (ret == 0 || !route_fall_back_on(ret))
				break;
			lacked[i] = ret == -ENOENT;
		}
	}
	free(path);
	free(scope);
	free(what);
	return ret;
}

/* --- manifests ----------------------------------------------------------- */

void reg_fetched_release(struct reg_fetched *f)
{
	free(f->bytes);
	free(f->media_type);
	memset(f, 0, sizeof(*f));
}

static char *media_type_of(const char *content_type)
{
	size_t n;

	if (!content_type)
		return NULL;
	n = strcspn(content_type, "; ");
	return n ? strndup(content_type, n) : NULL;
}

int object_names(const char *repo, const char *kind, const char *ref, char **path,
		 char **scope, char **what)
{
	bool by_digest = digest_is_valid(ref);

	*path = *scope = *what = NULL;
	if (!reg_name_is_repo(repo) || (!by_digest && !reg_name_is_tag(ref)))
		return -EINVAL;
	if (asprintf(path, "/v2/%s/%s/%s", repo, kind, ref) < 0)
		*path = NULL;
	if (asprintf(scope, "repository:%s:pull", repo) < 0)
		*scope = NULL;
	if (asprintf(what, "%s '%s%s%s'",
		     !strcmp(kind, "blobs")       ? "blob"
		     : !strcmp(kind, "referrers") ? "referrers of"
						  : "manifest",
		     repo, by_digest ? "@" : ":", ref) < 0)
		*what = NULL;
	return *path && *scope && *what ? 0 : -ENOMEM;
}

/* Whether the bytes @rt served in @h are what was asked for: @by_digest
 * (or NULL: a tag), else the Docker-Content-Digest the registry sent, if
 * any.  @digest gets their digest.  0, or -EIO (logged; a mirror that
 * served a digest wrong is not asked for it again). */
static int manifest_verify(const struct route *rt, const char *what, const char *by_digest,
			   const struct http_call *h, char digest[DIGEST_STR_LEN + 1])
{
	const char *want = by_digest;

	digest_of(h->body.data ? h->body.data : "", h->body.len, digest);
	if (!want && h->docker_digest && digest_is_valid(h->docker_digest))
		want = h->docker_digest;
	if (!want || strcmp(digest, want) == 0)
		return 0;
	route_log(rt, LOG_LVL_ERR, "%s on '%s': content has digest %s, expected %s: refused", what,
		  rt->r->host, digest, want);
	if (rt->origin && by_digest)
		mirror_distrust(rt->r, by_digest);
	return -EIO;
}

int reg_manifest_get(struct reg_registry *r, const char *repo, const char *ref,
		     struct reg_fetched *out)
{
	struct http_call h = {0};
	struct route rt[ROUTES_MAX];
	bool lacked[ROUTES_MAX] = {false};
	char *path, *scope, *what;
	const char *by_digest = digest_is_valid(ref) ? ref : NULL;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	h.accept = REG_MANIFEST_ACCEPT;
	h.max = REG_MANIFEST_MAX;
	h.total_timeout = 120;
	ret = object_names(repo, "manifests", ref, &path, &scope, &what);
	if (ret < 0)
		goto out;
	n = read_routes(r, by_digest, rt);
	for (size_t i = 0; i < n; i++) {
		ret = route_request(&rt[i], path, scope, what, &h);
		lacked[i] = ret == -ENOENT;
		if (ret == 0)
			ret = manifest_verify(&rt[i], what, by_digest, &h, out->digest);
		if (ret == 0)
			mirrors_lacked(rt, lacked, i, what);
		if (ret == 0 || !rt[i].origin || !route_fall_back_on(ret))
			break;
	}
	if (ret < 0)
		goto out;
	out->media_type = media_type_of(h.content_type);
	out->bytes = buf_detach(&h.body, &out->len);
	ret = out->bytes ? 0 : -ENOMEM;
out:
	if (ret < 0)
		reg_fetched_release(out);
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	return ret;
}

int reg_manifest_digest(struct reg_registry *r, const char *repo, const char *ref,
			char digest[DIGEST_STR_LEN + 1])
{
	struct reg_fetched f;
	int ret = object_head(r, repo, "manifests", ref, false, digest);

	if (ret < 0 || digest[0])
		return ret;
	/* a HEAD without the header says only "there": the bytes say what */
	ret = reg_manifest_get(r, repo, ref, &f);
	if (ret == 0)
		memcpy(digest, f.digest, DIGEST_STR_LEN + 1);
	reg_fetched_release(&f);
	return ret;
}

/* --- blobs --------------------------------------------------------------- */

/*
 * A blob read through a mirror goes through a tee: hashed, and held back
 * while it is small (REG_MIRROR_HOLD_MAX), so that when the mirror's bytes do
 * not verify nothing has reached the caller's sink and the next source can
 * start over.  A bigger blob streams on once it passes the limit; if the
 * mirror's then turns out wrong, the caller's writer refuses it, this read
 * fails, and the mirror is not asked for that digest again.
 */
struct tee {
	reg_sink_fn sink;
	void *arg;
	struct digest_ctx d;
	struct buf held;             /* bytes not handed on yet, while @holding */
	bool holding;
	struct reg_registry *mirror; /* the last mirror that handed over bytes, or NULL */
};

/* Hand what is held on and stream from now on.  0 or the sink's -errno. */
static int tee_flush(struct tee *t)
{
	int ret = t->held.len ? t->sink(t->arg, t->held.data, t->held.len) : 0;

	buf_release(&t->held, 0);
	t->holding = false;
	return ret;
}

/* Forget what a mirror handed over (nothing of it reached the sink). */
static int tee_reset(struct tee *t, struct http_call *h)
{
	buf_release(&t->held, 0);
	digest_ctx_release(&t->d);
	t->mirror = NULL;
	h->delivered = 0;
	h->range_from = 0;
	h->skip = 0;
	return digest_ctx_init(&t->d);
}

static int tee_sink(void *arg, const void *p, size_t len)
{
	struct tee *t = arg;

	digest_ctx_update(&t->d, p, len);
	if (t->holding) {
		int ret = buf_append(&t->held, p, len);

		if (ret == 0)
			return 0;
		if (ret != -E2BIG)
			return ret;
		ret = tee_flush(t); /* too big to hold back: stream it */
		if (ret < 0)
			return ret;
	}
	return t->sink(t->arg, p, len);
}

/* The sha256 of everything the tee saw; the hashing starts over. */
static int tee_digest(struct tee *t, char out[DIGEST_STR_LEN + 1])
{
	digest_ctx_final(&t->d, out);
	return digest_ctx_init(&t->d);
}

int reg_blob_stream(struct reg_registry *r, const char *repo, const char *digest,
		    reg_sink_fn sink, void *arg)
{
	struct http_call h = {0};
	struct route rt[ROUTES_MAX];
	struct tee tee = {sink, arg, {NULL}, BUF_INIT(REG_MIRROR_HOLD_MAX), false, NULL};
	char *path, *scope, *what, got[DIGEST_STR_LEN + 1];
	bool verified = false, lacked[ROUTES_MAX] = {false};
	size_t n = 0;
	int ret;

	if (!digest_is_valid(digest))
		return -EINVAL;
	ret = object_names(repo, "blobs", digest, &path, &scope, &what);
	if (ret == 0) {
		n = read_routes(r, digest, rt);
		if (n > 1)
			ret = digest_ctx_init(&tee.d);
	}
	tee.holding = n > 1;
	h.sink = n > 1 ? tee_sink : sink;
	h.sink_arg = n > 1 ? (void *)&tee : arg;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		const struct route *x = &rt[i];
		curl_off_t before = h.delivered;

		if (!x->origin && tee.holding && (ret = tee_flush(&tee)) < 0)
			break; /* the registry itself: no need to hold back */
		ret = route_request(x, path, scope, what, &h);
		lacked[i] = ret == -ENOENT;
		if (x->origin && h.delivered > before)
			tee.mirror = x->r;
		if (ret == 0 && x->origin && tee.holding) {
			/* all of it is held: check it before anything goes on */
			ret = tee_digest(&tee, got);
			if (ret == 0 && strcmp(got, digest) == 0) {
				ret = tee_flush(&tee);
				verified = true;
				if (ret == 0)
					mirrors_lacked(rt, lacked, i, what);
				break;
			}
			if (ret == 0) {
				route_log(x, LOG_LVL_WARN, "%s on '%s': content has digest %s: refused",
					  what, x->r->host, got);
				mirror_distrust(x->r, digest);
				ret = -EIO;
			}
		}
		if (ret == 0)
			mirrors_lacked(rt, lacked, i, what);
		if (ret == 0 || !x->origin || h.sink_err || !route_fall_back_on(ret))
			break;
		/* the next source starts over, or resumes after what was handed on */
		ret = tee.holding ? tee_reset(&tee, &h) : 0;
		if (ret == 0 && i + 1 == n)
			BUG("the last route of a read is not the registry");
	}
	if (n > 1 && !verified && tee.mirror && (ret == 0 || h.sink_err == -EFBIG)) {
		/* a big blob that passed through from a mirror: the caller's
		 * writer refuses it if it is wrong; make sure the mirror is not
		 * asked for it again */
		if (tee_digest(&tee, got) == 0 && (h.sink_err == -EFBIG || strcmp(got, digest) != 0)) {
			log_warn("mirror '%s' for '%s': %s does not verify (%s): not asked for it "
				 "again", tee.mirror->host, r->host, what,
				 h.sink_err ? "too long" : got);
			mirror_distrust(tee.mirror, digest);
			ret = -EIO;
		}
	}
	if (n > 1)
		digest_ctx_release(&tee.d);
	buf_release(&tee.held, 0);
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	return ret;
}

/* --- referrers ------------------------------------------------------------- */

void reg_referrers_release(struct reg_referrers *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->types[i]);
	free(l->types);
	free(l->digests);
	memset(l, 0, sizeof(*l));
}

/* One page of a referrers answer: an index whose entries join @arg. */
static int referrers_page(const struct route *rt, const struct buf *body, void *arg)
{
	struct reg_referrers *l = arg;
	struct reg_manifest *m = NULL;
	int ret = reg_manifest_parse(body->data, body->len, REG_MT_OCI_INDEX_STR, &m);

	if (ret == -ENOMEM)
		return ret;
	if (ret < 0 || !reg_mtype_is_index(m->type)) {
		route_log(rt, LOG_LVL_ERR, "referrers on '%s': the answer is no index", rt->r->host);
		reg_manifest_free(m);
		return -EIO;
	}
	for (size_t i = 0; ret == 0 && i < m->n_entries && l->n < REG_REFERRERS_MAX; i++) {
		char(*nd)[DIGEST_STR_LEN + 1] = reallocarray(l->digests, l->n + 1, sizeof(*nd));
		char **nt = nd ? reallocarray(l->types, l->n + 1, sizeof(*nt)) : NULL;

		if (nd)
			l->digests = nd;
		if (nt)
			l->types = nt;
		if (!nd || !nt || !(nt[l->n] = strdup(m->entries[i].artifact_type
						      ? m->entries[i].artifact_type : ""))) {
			ret = -ENOMEM;
			break;
		}
		memcpy(l->digests[l->n], m->entries[i].digest, DIGEST_STR_LEN + 1);
		l->n++;
	}
	reg_manifest_free(m);
	return ret;
}

int reg_referrers(struct reg_registry *r, const char *repo, const char *digest,
		  struct reg_referrers *out)
{
	struct route rt = {r, NULL, NULL}; /* the registry's own, never a mirror's */
	char *path = NULL, *scope = NULL, *what = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!digest_is_valid(digest))
		return -EINVAL;
	ret = object_names(repo, "referrers", digest, &path, &scope, &what);
	if (ret == 0)
		ret = fetch_pages(&rt, path, scope, what, REG_MT_OCI_INDEX_STR, 0, referrers_page, out,
				  NULL);
	/* no such route: a registry without the API (distribution 2.8, the Hub) */
	if (ret == -ENOENT)
		ret = -ENOTSUP;
	if (ret < 0)
		reg_referrers_release(out);
	free(path);
	free(scope);
	free(what);
	return ret;
}
