/*
 * The registry client: registries, the plain-HTTP rule, retries and the
 * API calls.
 *
 * A request goes through three layers:
 *   http_perform()  (http.c) one HTTP exchange on a pooled curl handle;
 *   reg_request()   auth (auth.c: Basic, Bearer tokens per scope, fetched
 *                   on a 401 challenge), bounded retries with backoff for
 *                   transient failures, the plain-HTTP rule;
 *   the API calls   catalog, tags, manifests and blobs with pagination and
 *                   digest verification; pushes for the commit of a draft.
 * See registry/http.h for the shared state and the locks.
 */
#include "registry/client.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "registry/http.h"
#include "registry/link.h"
#include "registry/manifest.h"
#include "registry/names.h"

#define LISTING_MAX (16u << 20)   /* one page of _catalog or tags/list */
#define PAGE_LIMIT 10000          /* pages followed before a listing is cut off */

/* --- the errno table ----------------------------------------------------- */

int reg_status_errno(long status, const char *code)
{
	static const struct {
		const char *code;
		int err;
	} codes[] = {
		{"NAME_UNKNOWN", ENOENT},     {"MANIFEST_UNKNOWN", ENOENT},
		{"BLOB_UNKNOWN", ENOENT},     {"UNAUTHORIZED", EACCES},
		{"DENIED", EACCES},           {"TOOMANYREQUESTS", EAGAIN},
		{"UNSUPPORTED", ENOTSUP},
	};

	if (code) {
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (strcmp(code, codes[i].code) == 0)
				return -codes[i].err;
	}
	switch (status) {
	case 404:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 429:
	case 503:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* --- registries ----------------------------------------------------------- */

static void sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static bool host_is_insecure(const struct reg_client *c, const char *host)
{
	if (reg_host_is_loopback(host))
		return true;
	for (char **p = c->insecure; p && *p; p++)
		if (strcasecmp(*p, host) == 0)
			return true;
	return false;
}

const char *reg_registry_host(const struct reg_registry *r)
{
	return r->host;
}

static void registry_free(struct reg_registry *r)
{
	struct token *t, *next;

	for (t = r->tokens; t; t = next) {
		next = t->next;
		free(t->scope);
		http_free_secret(t->value);
		free(t);
	}
	free(r->realm);
	free(r->service);
	free(r->host);
	free(r->api_host);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->token_done);
	free(r);
}

int reg_client_registry(struct reg_client *c, const char *host, struct reg_registry **out)
{
	struct reg_registry *r, *fresh = NULL;
	const char *api = host;

	*out = NULL;
	if (!reg_name_is_host(host))
		return -EINVAL;
	if (strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0)
		api = "registry-1.docker.io";

	pthread_mutex_lock(&c->lock);
	for (r = c->registries; r; r = r->next)
		if (strcmp(r->host, host) == 0)
			break;
	if (!r && (fresh = calloc(1, sizeof(*fresh)))) {
		fresh->client = c;
		fresh->host = strdup(host);
		fresh->api_host = strdup(api);
		fresh->plain_ok = host_is_insecure(c, host);
		pthread_mutex_init(&fresh->lock, NULL);
		pthread_cond_init(&fresh->token_done, NULL);
		if (fresh->host && fresh->api_host) {
			fresh->next = c->registries;
			c->registries = fresh;
			r = fresh;
		} else {
			registry_free(fresh);
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}

/* Settle on https, or http by the plain-HTTP rule.  The first /v2/ answer
 * decides; until one comes, every request tries again. */
static int ensure_scheme(struct reg_registry *r)
{
	static const enum scheme order[] = {SCHEME_HTTPS, SCHEME_HTTP};
	struct http_call h = {0};
	char https_err[CURL_ERROR_SIZE + 16] = ""; /* why https failed, for the log */
	char *url = NULL;
	enum scheme s;
	int ret = -EIO;

	pthread_mutex_lock(&r->lock);
	s = r->scheme;
	pthread_mutex_unlock(&r->lock);
	if (s != SCHEME_UNKNOWN)
		return 0;

	for (size_t i = 0; i < 2; i++) {
		if (order[i] == SCHEME_HTTP && !r->plain_ok)
			break;
		free(url);
		if (asprintf(&url, "%s://%s/v2/", order[i] == SCHEME_HTTPS ? "https" : "http",
			     r->api_host) < 0) {
			url = NULL;
			ret = -ENOMEM;
			goto out;
		}
		h.url = url;
		h.max = ERROR_BODY_MAX;
		h.total_timeout = 30;
		if (http_perform(r->client, order[i] == SCHEME_HTTP, &h) < 0) {
			log_debug("registry '%s': %s: %s", r->host, url, h.errbuf);
			if (order[i] == SCHEME_HTTPS)
				snprintf(https_err, sizeof(https_err), " (https: %s)", h.errbuf);
			continue;
		}
		if (h.status == 200 || h.status == 401) {
			pthread_mutex_lock(&r->lock);
			r->scheme = order[i];
			if (r->auth == AUTH_UNKNOWN && h.status == 200)
				r->auth = AUTH_NONE;
			pthread_mutex_unlock(&r->lock);
			if (h.status == 401)
				auth_take_challenge(r, h.www_auth);
			ret = 0;
			goto out;
		}
		log_err("registry '%s': HTTP %ld on %s, not a v2 registry%s", r->host, h.status, url,
			https_err);
		ret = reg_status_errno(h.status, NULL);
		if (ret == -ENOENT)
			ret = -EIO; /* no /v2/ is an unusable registry, not a missing file */
		goto out;
	}
	if (r->plain_ok)
		log_err("registry '%s': unreachable: %s%s", r->host, h.errbuf,
			strstr(https_err, h.errbuf) ? "" : https_err);
	else
		log_err("registry '%s': unreachable: %s (plain HTTP is not allowed for this host; "
			"see -o insecure)", r->host, h.errbuf);
	if (h.cc == CURLE_COULDNT_RESOLVE_HOST)
		ret = -ENXIO; /* reg_ping tells this apart; requests see -EIO */
out:
	http_call_release(&h);
	free(url);
	return ret;
}

int reg_ping(struct reg_registry *r)
{
	return ensure_scheme(r);
}

static bool transient(const struct http_call *h, int perform_ret)
{
	if (perform_ret < 0)
		return h->cc != CURLE_SSL_CACERT && h->cc != CURLE_PEER_FAILED_VERIFICATION &&
		       h->cc != CURLE_UNSUPPORTED_PROTOCOL && h->cc != CURLE_URL_MALFORMAT;
	return h->status == 429 || h->status == 502 || h->status == 503 || h->status == 504;
}

static double backoff(const struct http_call *h, int attempt)
{
	double wait = 0.2 * (1 << attempt);

	if (h->retry_after) {
		char *end;
		long s = strtol(h->retry_after, &end, 10);

		if (end != h->retry_after && s >= 0)
			wait = (double)s;
	}
	return wait > 5.0 ? 5.0 : wait; /* never let a server park a reader for long */
}

/*
 * Do @h against @r at @path, authenticating for @scope and retrying
 * transient failures.  @what names the request in log lines.  Returns 0
 * with h->status 2xx, or -errno (logged here).  Streaming calls resume from
 * h->delivered with a Range request.
 */
static int reg_request(struct reg_registry *r, const char *path, const char *scope,
		       const char *what, struct http_call *h)
{
	char *url = NULL, *auth = NULL, *code = NULL;
	bool plain, challenged = false, foreign = false;
	int ret, attempt = 0;

	ret = ensure_scheme(r);
	if (ret < 0)
		return ret == -ENXIO ? -EIO : ret;
	pthread_mutex_lock(&r->lock);
	plain = r->scheme == SCHEME_HTTP;
	pthread_mutex_unlock(&r->lock);
	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
		/* an upload Location: credentials go only to the registry itself */
		char *own = NULL;

		if (asprintf(&own, "%s://%s/", plain ? "http" : "https", r->api_host) < 0)
			return -ENOMEM;
		foreign = strncmp(path, own, strlen(own)) != 0;
		free(own);
		url = strdup(path);
	} else if (asprintf(&url, "%s://%s%s", plain ? "http" : "https", r->api_host, path) < 0)
		url = NULL;
	if (!url)
		return -ENOMEM;

	for (;;) {
		int pr;

		http_free_secret(auth);
		auth = foreign ? NULL : auth_header_for(r, scope);
		h->url = url;
		h->auth = auth;
		if (h->sink && h->delivered > 0) {
			/* resume: ask for the rest; if the server ignores Range and
			 * sends it all again, the first bytes are dropped */
			h->range_from = h->delivered;
			h->skip = h->delivered;
		}
		pr = http_perform(r->client, plain, h);
		if (pr == 0 && h->sink_err) {
			ret = h->sink_err;
			log_err("%s on '%s': %s", what, r->host, strerror(-ret));
			goto out;
		}
		if (pr == 0 && h->too_big) {
			log_err("%s on '%s': response larger than %zu bytes, refused", what, r->host,
				h->max);
			ret = -EIO;
			goto out;
		}
		if (pr == 0 && h->status == 401 && !challenged && !foreign) {
			challenged = true;
			if (auth_take_challenge(r, h->www_auth) == 0) {
				bool bearer;

				pthread_mutex_lock(&r->lock);
				bearer = r->auth == AUTH_BEARER;
				pthread_mutex_unlock(&r->lock);
				if (!bearer || auth_fetch_token(r, scope, auth) == 0)
					continue;
			}
		}
		if (pr == 0 && h->status == 206 && h->range_from > 0) {
			long long start = -1;

			if (!h->content_range ||
			    sscanf(h->content_range, "bytes %lld-", &start) != 1 ||
			    start != (long long)h->range_from) {
				log_err("%s on '%s': bad resumed range", what, r->host);
				ret = -EIO;
				goto out;
			}
			ret = 0;
			goto out;
		}
		if (pr == 0 && h->status >= 200 && h->status < 300) {
			ret = 0;
			goto out;
		}
		if (attempt < r->client->retries && transient(h, pr)) {
			double wait = backoff(h, attempt);

			log_debug("%s on '%s': %s, retrying in %.1fs", what, r->host,
				  pr < 0 ? h->errbuf : "busy", wait);
			attempt++;
			sleep_seconds(wait);
			continue;
		}
		if (pr < 0) {
			log_err("%s on '%s': %s", what, r->host, h->errbuf);
			ret = -EIO;
			goto out;
		}
		code = http_error_code(&h->body);
		ret = reg_status_errno(h->status, code);
		/* "not there" is an answer, not a failure: lookups probe for it */
		log_msg(ret == -ENOENT ? LOG_LVL_DEBUG : LOG_LVL_ERR, "%s: HTTP %ld%s%s from '%s'",
			what, h->status, code ? " " : "", code ? code : "", r->host);
		goto out;
	}
out:
	free(code);
	http_free_secret(auth);
	free(url);
	h->url = NULL;
	h->auth = NULL;
	return ret;
}

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
static char *next_page(struct reg_registry *r, const char *link, const char *what)
{
	char *next = NULL, *host_part = NULL;

	if (!link || reg_link_next(link, &next) < 0 || !next)
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
	log_warn("%s on '%s': ignoring a next page link that leaves the registry", what,
		 r->host);
	free(host_part);
	free(next);
	return NULL;
}

static int fetch_listing(struct reg_registry *r, const char *first, const char *scope,
			 const char *key, const char *what, bool (*valid)(const char *),
			 struct reg_strlist *out)
{
	struct http_call h = {0};
	char *path = strdup(first), *prev = NULL;
	size_t skipped = 0;
	int ret = 0, pages = 0;

	memset(out, 0, sizeof(*out));
	if (!path)
		return -ENOMEM;
	while (path) {
		json_t *root, *arr, *v;
		size_t i;

		h.max = LISTING_MAX;
		h.total_timeout = 120;
		ret = reg_request(r, path, scope, what, &h);
		if (ret < 0)
			break;
		root = json_loadb(h.body.data, h.body.len, 0, NULL);
		arr = json_object_get(root, key);
		if (!root || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
			log_err("%s on '%s': malformed listing", what, r->host);
			json_decref(root);
			ret = -EIO;
			break;
		}
		json_array_foreach(arr, i, v) {
			const char *s = json_string_value(v);

			if (!s || json_string_length(v) != strlen(s) || !valid(s)) {
				skipped++;
				continue;
			}
			ret = strlist_add(out, s);
			if (ret < 0)
				break;
		}
		json_decref(root);
		if (ret < 0)
			break;
		free(prev);
		prev = path;
		path = next_page(r, h.link, what);
		if (path && (strcmp(path, prev) == 0 || ++pages >= PAGE_LIMIT)) {
			log_warn("%s on '%s': pagination does not advance, stopping", what, r->host);
			free(path);
			path = NULL;
		}
	}
	if (skipped)
		log_warn("%s on '%s': skipped %zu invalid names", what, r->host, skipped);
	if (ret < 0)
		reg_strlist_release(out);
	http_call_release(&h);
	free(prev);
	free(path);
	return ret;
}

int reg_catalog(struct reg_registry *r, struct reg_strlist *out)
{
	int ret = fetch_listing(r, "/v2/_catalog?n=1000", "registry:catalog:*", "repositories",
				"catalog", reg_name_is_repo, out);

	/* a registry whose page limit is below our n refuses the request
	 * (distribution: 400 PAGINATION_NUMBER_INVALID); its own page size will do */
	if (ret == -EIO)
		ret = fetch_listing(r, "/v2/_catalog", "registry:catalog:*", "repositories",
				    "catalog", reg_name_is_repo, out);

	/* Docker Hub and others deny or lack _catalog: browsing by name still works */
	if (ret == -ENOENT || ret == -EACCES)
		ret = -ENOTSUP;
	return ret;
}

int reg_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	char *path = NULL, *scope = NULL, *what = NULL;
	int ret = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!reg_name_is_repo(repo))
		return -EINVAL;
	if (asprintf(&path, "/v2/%s/tags/list?n=1000", repo) < 0)
		path = NULL;
	if (asprintf(&scope, "repository:%s:pull", repo) < 0)
		scope = NULL;
	if (asprintf(&what, "tags of '%s'", repo) < 0)
		what = NULL;
	if (path && scope && what)
		ret = fetch_listing(r, path, scope, "tags", what, reg_name_is_tag, out);
	free(path);
	free(scope);
	free(what);
	return ret;
}

/* --- manifests and blobs ------------------------------------------------- */

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

/* The path, token scope and log name of /v2/<repo>/<kind>/<ref> (new
 * strings, the caller frees all three, also on error).  0 or -errno. */
static int object_names(const char *repo, const char *kind, const char *ref, char **path,
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
	if (asprintf(what, "%s '%s%s%s'", strcmp(kind, "blobs") ? "manifest" : "blob", repo,
		     by_digest ? "@" : ":", ref) < 0)
		*what = NULL;
	return *path && *scope && *what ? 0 : -ENOMEM;
}

/*
 * GET /v2/<repo>/<kind>/<ref> into memory (@h says how much and with what
 * Accept) and check the bytes: by digest they must have that digest, by
 * tag the Docker-Content-Digest the registry sent, if any.
 */
static int get_verified(struct reg_registry *r, const char *repo, const char *kind,
			const char *ref, struct http_call *h, struct reg_fetched *out)
{
	char *path, *scope, *what;
	const char *want = digest_is_valid(ref) ? ref : NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = object_names(repo, kind, ref, &path, &scope, &what);
	if (ret < 0)
		goto out;
	ret = reg_request(r, path, scope, what, h);
	if (ret < 0)
		goto out;
	digest_of(h->body.data ? h->body.data : "", h->body.len, out->digest);
	if (!want && h->docker_digest && digest_is_valid(h->docker_digest))
		want = h->docker_digest;
	if (want && strcmp(out->digest, want) != 0) {
		log_err("%s on '%s': content has digest %s, expected %s: refused", what, r->host,
			out->digest, want);
		ret = -EIO;
		goto out;
	}
	out->media_type = media_type_of(h->content_type);
	out->bytes = buf_detach(&h->body, &out->len);
	ret = out->bytes ? 0 : -ENOMEM;
out:
	if (ret < 0)
		reg_fetched_release(out);
	free(path);
	free(scope);
	free(what);
	return ret;
}

int reg_manifest_get(struct reg_registry *r, const char *repo, const char *ref,
		     struct reg_fetched *out)
{
	struct http_call h = {0};
	int ret;

	h.accept = REG_MANIFEST_ACCEPT;
	h.max = REG_MANIFEST_MAX;
	h.total_timeout = 120;
	ret = get_verified(r, repo, "manifests", ref, &h, out);
	http_call_release(&h);
	return ret;
}

int reg_blob_get(struct reg_registry *r, const char *repo, const char *digest, size_t max,
		 struct reg_fetched *out)
{
	struct http_call h = {0};
	int ret;

	if (!digest_is_valid(digest)) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	h.max = max;
	h.total_timeout = 300;
	ret = get_verified(r, repo, "blobs", digest, &h, out);
	http_call_release(&h);
	return ret;
}

int reg_blob_stream(struct reg_registry *r, const char *repo, const char *digest,
		    reg_sink_fn sink, void *arg)
{
	struct http_call h = {0};
	char *path, *scope, *what;
	int ret = -EINVAL;

	if (!digest_is_valid(digest))
		return -EINVAL;
	ret = object_names(repo, "blobs", digest, &path, &scope, &what);
	if (ret == 0) {
		h.sink = sink;
		h.sink_arg = arg;
		ret = reg_request(r, path, scope, what, &h);
	}
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	return ret;
}

/* --- pushing -------------------------------------------------------------- */

/* The token scope for writing to @repo, also reading @from (or NULL). */
static char *push_scope(const char *repo, const char *from)
{
	char *scope = NULL;

	if (asprintf(&scope, "repository:%s:pull,push%s%s%s", repo, from ? " repository:" : "",
		     from ? from : "", from ? ":pull" : "") < 0)
		return NULL;
	return scope;
}

/* HEAD /v2/<repo>/<kind>/<ref> with push scope: 0 there, -ENOENT not, -errno. */
static int head_object(struct reg_registry *r, const char *repo, const char *kind,
		       const char *ref)
{
	struct http_call h = {0};
	char *path, *scope, *what, *pscope = NULL;
	int ret;

	ret = object_names(repo, kind, ref, &path, &scope, &what);
	if (ret == 0 && !(pscope = push_scope(repo, NULL)))
		ret = -ENOMEM;
	if (ret == 0) {
		h.method = "HEAD";
		h.accept = strcmp(kind, "manifests") == 0 ? REG_MANIFEST_ACCEPT : NULL;
		h.total_timeout = 60;
		ret = reg_request(r, path, pscope, what, &h);
	}
	http_call_release(&h);
	free(path);
	free(scope);
	free(pscope);
	free(what);
	return ret;
}

int reg_blob_exists(struct reg_registry *r, const char *repo, const char *digest)
{
	if (!digest_is_valid(digest))
		return -EINVAL;
	return head_object(r, repo, "blobs", digest);
}

int reg_manifest_exists(struct reg_registry *r, const char *repo, const char *ref)
{
	return head_object(r, repo, "manifests", ref);
}

/* The URL to PUT an upload's bytes to: @location (absolute, or a path on
 * the registry) with digest=@digest added.  New string or NULL. */
static char *upload_url(struct reg_registry *r, const char *location, const char *digest)
{
	char *url = NULL, *full;
	bool plain;
	int ret;

	if (!location || (location[0] != '/' && strncmp(location, "https://", 8) != 0 &&
			  strncmp(location, "http://", 7) != 0))
		return NULL;
	pthread_mutex_lock(&r->lock);
	plain = r->scheme == SCHEME_HTTP;
	pthread_mutex_unlock(&r->lock);
	if (location[0] == '/')
		ret = asprintf(&url, "%s://%s%s", plain ? "http" : "https", r->api_host, location);
	else
		ret = asprintf(&url, "%s", location);
	if (ret < 0)
		return NULL;
	full = NULL;
	ret = asprintf(&full, "%s%sdigest=%s", url, strchr(url, '?') ? "&" : "?", digest);
	free(url);
	return ret < 0 ? NULL : full;
}

int reg_blob_push(struct reg_registry *r, const char *repo, const char *digest, int64_t size,
		  const char *from_repo, reg_blob_source_fn source, void *arg, const char **how)
{
	struct http_call h = {0};
	char *path = NULL, *scope = NULL, *what = NULL, *url = NULL, *esc_from = NULL;
	int ret, fd = -1;

	*how = "failed";
	if (!digest_is_valid(digest) || !reg_name_is_repo(repo) || size < 0 ||
	    (from_repo && (!reg_name_is_repo(from_repo) || strcmp(from_repo, repo) == 0)))
		return -EINVAL;
	ret = reg_blob_exists(r, repo, digest);
	if (ret != -ENOENT) {
		if (ret == 0)
			*how = "present";
		return ret;
	}

	ret = -ENOMEM;
	scope = push_scope(repo, from_repo);
	if (from_repo)
		esc_from = http_url_escape(from_repo);
	if (!scope || (from_repo && !esc_from) ||
	    asprintf(&path, "/v2/%s/blobs/uploads/%s%s%s%s", repo, from_repo ? "?mount=" : "",
		     from_repo ? digest : "", from_repo ? "&from=" : "", from_repo ? esc_from : "") < 0 ||
	    asprintf(&what, "upload of blob '%s@%s'", repo, digest) < 0)
		goto out;
	h.method = "POST";
	h.total_timeout = 60;
	ret = reg_request(r, path, scope, what, &h);
	if (ret < 0)
		goto out;
	if (h.status == 201) {
		/* mounted from @from_repo: nothing to send */
		*how = "mounted";
		goto out;
	}
	url = upload_url(r, h.location, digest);
	if (h.status != 202 || !url) {
		log_err("%s on '%s': HTTP %ld without an upload location", what, r->host, h.status);
		ret = -EIO;
		goto out;
	}
	fd = source(arg);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	http_call_release(&h);
	memset(&h, 0, sizeof(h));
	h.method = "PUT";
	h.send_type = "application/octet-stream";
	h.send_fd = fd;
	h.send_len = (size_t)size;
	h.total_timeout = 0; /* a big layer takes what it takes; the stall limit applies */
	ret = reg_request(r, url, scope, what, &h);
	if (ret == 0)
		*how = "uploaded";
out:
	if (fd >= 0)
		close(fd);
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	free(url);
	free(esc_from);
	return ret;
}

int reg_manifest_put(struct reg_registry *r, const char *repo, const char *ref,
		     const char *media_type, const char *bytes, size_t len)
{
	struct http_call h = {0};
	char *path, *scope, *what, *pscope = NULL;
	char digest[DIGEST_STR_LEN + 1];
	int ret;

	ret = object_names(repo, "manifests", ref, &path, &scope, &what);
	if (ret == 0 && !(pscope = push_scope(repo, NULL)))
		ret = -ENOMEM;
	if (ret < 0)
		goto out;
	digest_of(bytes, len, digest);
	if (digest_is_valid(ref) && strcmp(ref, digest) != 0)
		BUG("manifest pushed by a digest that is not its own");
	h.method = "PUT";
	h.send_type = media_type;
	h.send_bytes = bytes;
	h.send_len = len;
	h.total_timeout = 120;
	ret = reg_request(r, path, pscope, what, &h);
	if (ret == 0 && h.docker_digest && strcmp(h.docker_digest, digest) != 0) {
		log_err("push of %s to '%s': the registry stored %s, regfs sent %s", what, r->host,
			h.docker_digest, digest);
		ret = -EIO;
	}
out:
	http_call_release(&h);
	free(path);
	free(scope);
	free(pscope);
	free(what);
	return ret;
}

/* --- the client ---------------------------------------------------------- */

static void client_release_strings(struct reg_client *c)
{
	for (char **p = c->insecure; p && *p; p++)
		free(*p);
	free(c->insecure);
	free(c->cafile);
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int reg_client_new(const struct reg_client_opts *o, struct reg_client **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct reg_client *c;
	size_t n = 0;

	*out = NULL;
	pthread_once(&once, curl_init_once);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->connect_timeout = o && o->connect_timeout > 0 ? o->connect_timeout : 10;
	c->stall_timeout = o && o->stall_timeout > 0 ? o->stall_timeout : 30;
	c->retries = o && o->retries >= 0 ? o->retries : 2;
	if (o && o->cafile)
		c->cafile = strdup(o->cafile);
	while (o && o->insecure && o->insecure[n])
		n++;
	c->insecure = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; c->insecure && i < n; i++)
		c->insecure[i] = strdup(o->insecure[i]);
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (!c->share || !c->insecure ||
	    reg_creds_store_new(o ? o->auth_file : NULL, &c->creds) < 0) {
		reg_client_free(c);
		return -ENOMEM;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, http_share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, http_share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	*out = c;
	return 0;
}

void reg_client_free(struct reg_client *c)
{
	struct reg_registry *r, *rn;
	struct pooled *p, *pn;

	if (!c)
		return;
	for (p = c->pool; p; p = pn) {
		pn = p->next;
		curl_easy_cleanup(p->easy);
		free(p);
	}
	for (r = c->registries; r; r = rn) {
		rn = r->next;
		registry_free(r);
	}
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	client_release_strings(c);
	reg_creds_store_free(c->creds);
	free(c);
}
