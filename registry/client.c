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
 *
 * Mirrors (-o mirror=): reads (manifests, blobs, tags lists) of a registry
 * go to its mirrors first, each a registry of its own (scheme, credentials,
 * TLS); any failure of a mirror is a warning and the next source is tried,
 * ending with the registry itself.  The catalog and everything the commit
 * path does go to the registry only.  Content by digest is verified
 * whoever served it.
 */
#include "registry/client.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/http.h"
#include "registry/link.h"
#include "registry/manifest.h"
#include "registry/names.h"

#define LISTING_MAX (16u << 20)   /* one page of _catalog or tags/list */
#define PAGE_LIMIT 10000          /* pages followed before a listing is cut off */
#define MIRROR_RETRY 30           /* seconds an unreachable mirror is skipped */
#define STR_(x) #x
#define STR(x) STR_(x)
#define DISTRUST_KEEP 16          /* digests remembered per mirror that served them wrong */
#define ROUTES_MAX (REG_MIRRORS_MAX + 1) /* a read: the mirrors, then the registry */
#define MIRROR_HOLD_MAX (4u << 20) /* a blob from a mirror is held back up to this size
				    * until it verifies (configs always are) */

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
		secret_free(t->value);
		free(t);
	}
	free(r->realm);
	free(r->service);
	free(r->host);
	free(r->api_host);
	for (size_t i = 0; i < r->n_mirrors; i++)
		free(r->mirror_hosts[i]);
	free(r->mirror_hosts);
	free(r->mirrors);
	free(r->distrust);
	http_tls_release(&r->tls);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->token_done);
	free(r);
}

/* Where requests for @host go: the Hub's names speak to its API host. */
static const char *api_host_of(const char *host)
{
	if (strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0)
		return "registry-1.docker.io";
	return host;
}

/* The -o mirror= hosts that serve reads of @r, in order.  0 or -ENOMEM. */
static int registry_set_mirrors(struct reg_registry *r, const struct reg_client *c)
{
	size_t n = 0;

	r->mirror_hosts = calloc(c->n_mirrors + 1, sizeof(char *));
	r->mirrors = calloc(c->n_mirrors + 1, sizeof(struct reg_registry *));
	if (!r->mirror_hosts || !r->mirrors)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_mirrors; i++) {
		const struct reg_mirror *m = &c->mirrors[i];

		/* a registry is never its own mirror */
		if (strcasecmp(m->origin_api, r->api_host) != 0 ||
		    strcasecmp(m->mirror, r->host) == 0)
			continue;
		r->mirror_hosts[n] = strdup(m->mirror);
		if (!r->mirror_hosts[n])
			return -ENOMEM;
		r->n_mirrors = ++n;
	}
	return 0;
}

int reg_client_registry(struct reg_client *c, const char *host, struct reg_registry **out)
{
	struct reg_registry *r, *fresh = NULL;
	const char *api;

	*out = NULL;
	if (!reg_name_is_host(host))
		return -EINVAL;
	api = api_host_of(host);

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
		if (fresh->host && fresh->api_host && registry_set_mirrors(fresh, c) == 0) {
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

int registry_tls(struct reg_registry *r, const struct http_tls **out)
{
	struct http_tls fresh;
	bool loaded;
	int ret;

	pthread_mutex_lock(&r->lock);
	loaded = r->tls_loaded;
	pthread_mutex_unlock(&r->lock);
	if (!loaded) {
		/* read without the lock; when two threads race, the first wins */
		ret = http_tls_load(r->client, r->host, &fresh);
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&r->lock);
		if (!r->tls_loaded) {
			r->tls = fresh;
			r->tls_loaded = true;
			memset(&fresh, 0, sizeof(fresh));
		}
		pthread_mutex_unlock(&r->lock);
		http_tls_release(&fresh);
	}
	*out = &r->tls;
	return 0;
}

/* What to add to a TLS failure of @h on @r for the log: where the CAs came
 * from when the issuer is unknown, which certificate was sent when the
 * server refused it.  Static or @buf. */
static const char *tls_hint(const struct reg_registry *r, const struct http_call *h,
			    char *buf, size_t n)
{
	const struct http_tls *t = h->tls;
	long v = h->tls_verify;

	if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
		snprintf(buf, n, " (trusted: the system CAs%s%s%s%s; a registry's CA goes in "
			 "<certs.d>/%s/ca.crt)", r->client->cafile ? ", cafile " : "",
			 r->client->cafile ? r->client->cafile : "", t && t->dir ? ", " : "",
			 t && t->dir ? t->dir : "", r->host);
		return buf;
	}
	if (h->tls_alert >= 0 && t && t->cert) {
		snprintf(buf, n, " (sent client certificate '%s/%s')", t->dir, t->cert_name);
		return buf;
	}
	return "";
}

/* --- routes: a registry, or a mirror of one ------------------------------ */

struct route {
	struct reg_registry *r;      /* where the requests go */
	struct reg_registry *origin; /* non-NULL: @r is a read mirror of @origin; one try,
				      * failures are warnings and the caller goes on */
	const char *next;            /* with @origin: the host tried next */
};

/* Log @fmt at @level; for a mirror, at warning level (debug stays debug),
 * saying which mirror of what failed and who is asked next. */
__attribute__((format(printf, 3, 4)))
static void route_log(const struct route *rt, enum log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level == LOG_LVL_DEBUG && log_get_level() < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!rt->origin) {
		log_msg(level, "%s", msg);
		return;
	}
	log_msg(level == LOG_LVL_DEBUG ? LOG_LVL_DEBUG : LOG_LVL_WARN,
		"mirror '%s' for '%s': %s; falling back to '%s'", rt->r->host, rt->origin->host, msg,
		rt->next ? rt->next : rt->origin->host);
}

/* A mirror that cannot be reached is left alone for MIRROR_RETRY seconds
 * (the failure's log line says so: down_note). */
static void mirror_set_down(const struct route *rt)
{
	if (!rt->origin)
		return;
	pthread_mutex_lock(&rt->r->lock);
	rt->r->down_until = mono_now() + MIRROR_RETRY;
	pthread_mutex_unlock(&rt->r->lock);
}

static const char *down_note(const struct route *rt)
{
	return rt->origin ? " (mirror skipped for the next " STR(MIRROR_RETRY) " s)" : "";
}

/* Remember that mirror @m served @digest wrong: it is not asked for it
 * again (the DISTRUST_KEEP latest are kept). */
static void mirror_distrust(struct reg_registry *m, const char *digest)
{
	pthread_mutex_lock(&m->lock);
	if (!m->distrust)
		m->distrust = calloc(DISTRUST_KEEP, sizeof(*m->distrust));
	if (m->distrust) {
		snprintf(m->distrust[m->distrust_next % DISTRUST_KEEP], DIGEST_STR_LEN + 1, "%s",
			 digest);
		m->distrust_next++;
	}
	pthread_mutex_unlock(&m->lock);
}

static bool mirror_usable_locked(const struct reg_registry *m, const char *digest, double now)
{
	if (m->down_until > now)
		return false;
	for (size_t i = 0; digest && m->distrust && i < DISTRUST_KEEP; i++)
		if (strcmp(m->distrust[i], digest) == 0)
			return false;
	return true;
}

/* Mirror @i of @r (borrowed: registries live as long as the client), or
 * NULL without memory. */
static struct reg_registry *registry_mirror(struct reg_registry *r, size_t i)
{
	struct reg_registry *m;

	pthread_mutex_lock(&r->lock);
	m = r->mirrors[i];
	pthread_mutex_unlock(&r->lock);
	if (m || reg_client_registry(r->client, r->mirror_hosts[i], &m) < 0)
		return m;
	pthread_mutex_lock(&r->lock);
	if (!r->mirrors[i])
		r->mirrors[i] = m;
	pthread_mutex_unlock(&r->lock);
	return m;
}

/* Where a read of @r goes, in order, into @rt (ROUTES_MAX slots): its
 * mirrors that are up and not known to have served @digest (or NULL) wrong,
 * then @r.  Returns how many. */
static size_t read_routes(struct reg_registry *r, const char *digest, struct route *rt)
{
	double now = mono_now();
	size_t n = 0;

	for (size_t i = 0; i < r->n_mirrors && n + 1 < ROUTES_MAX; i++) {
		struct reg_registry *m = registry_mirror(r, i);
		bool usable;

		if (!m)
			continue;
		pthread_mutex_lock(&m->lock);
		usable = mirror_usable_locked(m, digest, now);
		pthread_mutex_unlock(&m->lock);
		if (!usable) {
			log_debug("mirror '%s' for '%s': skipped (down, or served this digest "
				  "wrong)", m->host, r->host);
			continue;
		}
		rt[n++] = (struct route){m, r, NULL};
	}
	rt[n++] = (struct route){r, NULL, NULL};
	for (size_t i = 0; i + 1 < n; i++)
		rt[i].next = rt[i + 1].r->host;
	return n;
}

/* Whether a read that failed with @err on a mirror is worth asking the next
 * source: everything but our own mistakes. */
static bool fall_back_on(int err)
{
	return err != -EINVAL && err != -ENOMEM;
}

/* Settle on https, or http by the plain-HTTP rule.  The first /v2/ answer
 * decides; until one comes, every request tries again.  A host that
 * answers in TLS and fails it (a certificate that does not verify, an alert)
 * is never asked over plain HTTP: it is a TLS server with a problem. */
static int ensure_scheme(const struct route *rt)
{
	static const enum scheme order[] = {SCHEME_HTTPS, SCHEME_HTTP};
	struct reg_registry *r = rt->r;
	struct http_call h = {0};
	char https_err[CURL_ERROR_SIZE + 16] = ""; /* why https failed, for the log */
	char hint[512];
	const struct http_tls *tls;
	char *url = NULL;
	enum scheme s;
	bool tls_failed = false;
	int ret = -EIO;

	pthread_mutex_lock(&r->lock);
	s = r->scheme;
	pthread_mutex_unlock(&r->lock);
	if (s != SCHEME_UNKNOWN)
		return 0;
	if (registry_tls(r, &tls) < 0) {
		route_log(rt, LOG_LVL_ERR, "registry '%s': its TLS certificates cannot be read%s",
			  r->host, down_note(rt));
		return -EIO;
	}

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
		h.tls = tls;
		if (http_perform(r->client, order[i] == SCHEME_HTTP, &h) < 0) {
			log_debug("registry '%s': %s: %s", r->host, url, h.errbuf);
			if (order[i] == SCHEME_HTTPS) {
				snprintf(https_err, sizeof(https_err), " (https: %s)", h.errbuf);
				if (http_tls_refused(&h) || h.tls_spoken) {
					tls_failed = true;
					break;
				}
			}
			continue;
		}
		if (h.status == 200 || h.status == 401) {
			pthread_mutex_lock(&r->lock);
			r->scheme = order[i];
			if (r->auth == AUTH_UNKNOWN && h.status == 200)
				r->auth = AUTH_NONE;
			pthread_mutex_unlock(&r->lock);
			if (order[i] == SCHEME_HTTP)
				log_info("registry '%s': plain HTTP, it does not speak TLS (%s)",
					 r->host, reg_host_is_loopback(r->host) ? "a loopback host"
										: "-o insecure");
			if (h.status == 401)
				auth_take_challenge(r, h.www_auth);
			ret = 0;
			goto out;
		}
		route_log(rt, LOG_LVL_ERR, "registry '%s': HTTP %ld on %s, not a v2 registry%s%s",
			  r->host, h.status, url, https_err, down_note(rt));
		ret = reg_status_errno(h.status, NULL);
		if (ret == -ENOENT)
			ret = -EIO; /* no /v2/ is an unusable registry, not a missing file */
		goto out;
	}
	if (tls_failed)
		route_log(rt, LOG_LVL_ERR, "registry '%s': %s%s%s", r->host, h.errbuf,
			  tls_hint(r, &h, hint, sizeof(hint)), down_note(rt));
	else if (r->plain_ok)
		route_log(rt, LOG_LVL_ERR, "registry '%s': unreachable: %s%s%s", r->host, h.errbuf,
			  strstr(https_err, h.errbuf) ? "" : https_err, down_note(rt));
	else
		route_log(rt, LOG_LVL_ERR,
			  "registry '%s': unreachable: %s (plain HTTP is not allowed for this "
			  "host; see -o insecure)%s", r->host, h.errbuf, down_note(rt));
	if (h.cc == CURLE_COULDNT_RESOLVE_HOST)
		ret = -ENXIO; /* reg_ping tells this apart; requests see -EIO */
out:
	http_call_release(&h);
	free(url);
	return ret;
}

int reg_ping(struct reg_registry *r)
{
	struct route rts[ROUTES_MAX], origin = {r, NULL, NULL};
	size_t n;
	int ret = ensure_scheme(&origin);

	if (ret == 0 || !r->n_mirrors)
		return ret;
	/* the registry cannot be reached, but it can still be read through a
	 * mirror (the last route is the registry itself, tried above) */
	n = read_routes(r, NULL, rts);
	for (size_t i = 0; i + 1 < n; i++) {
		if (ensure_scheme(&rts[i]) == 0) {
			log_warn("registry '%s': read through mirror '%s' only", r->host,
				 rts[i].r->host);
			return 0;
		}
		mirror_set_down(&rts[i]);
	}
	return ret;
}

static bool transient(const struct http_call *h, int perform_ret)
{
	if (perform_ret < 0)
		return !http_tls_refused(h) && h->cc != CURLE_UNSUPPORTED_PROTOCOL &&
		       h->cc != CURLE_URL_MALFORMAT;
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
 * Do @h against @rt's registry at @path, authenticating for @scope and
 * retrying transient failures (a mirror gets one try: there is a next
 * source).  @what names the request in log lines.  Returns 0 with h->status
 * 2xx, or -errno (logged here).  Streaming calls resume from h->delivered
 * with a Range request, also when the bytes so far came from another route.
 */
static int route_request(const struct route *rt, const char *path, const char *scope,
			 const char *what, struct http_call *h)
{
	struct reg_registry *r = rt->r;
	char *url = NULL, *auth = NULL, *code = NULL;
	bool plain, challenged = false, foreign = false;
	bool scope_refused = false; /* a token fetched with all our credentials was refused */
	int ret, attempt = 0, retries = rt->origin ? 0 : r->client->retries;
	const struct http_tls *tls;

	h->creds_refused = false;
	ret = ensure_scheme(rt);
	if (ret < 0) {
		mirror_set_down(rt);
		return ret == -ENXIO ? -EIO : ret;
	}
	if (registry_tls(r, &tls) < 0)
		return -EIO;
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

		secret_free(auth);
		auth = foreign ? NULL : auth_header_for(r, scope);
		h->url = url;
		h->auth = auth;
		h->tls = foreign ? NULL : tls;
		if (h->sink && h->delivered > 0) {
			/* resume: ask for the rest; if the server ignores Range and
			 * sends it all again, the first bytes are dropped */
			h->range_from = h->delivered;
			h->skip = h->delivered;
		}
		pr = http_perform(r->client, plain, h);
		if (pr == 0 && h->sink_err) {
			/* the caller's sink refused the bytes: not this source's failure */
			ret = h->sink_err;
			log_err("%s on '%s': %s", what, r->host, strerror(-ret));
			goto out;
		}
		if (pr == 0 && h->too_big) {
			route_log(rt, LOG_LVL_ERR, "%s on '%s': response larger than %zu bytes, refused",
				  what, r->host, h->max);
			ret = -EIO;
			goto out;
		}
		if (pr == 0 && h->status == 401 && !challenged && !foreign) {
			challenged = true;
			if (auth_take_challenge(r, h->www_auth) == 0) {
				bool bearer, withheld;
				int tr;

				pthread_mutex_lock(&r->lock);
				bearer = r->auth == AUTH_BEARER;
				pthread_mutex_unlock(&r->lock);
				if (!bearer)
					continue;
				tr = auth_fetch_token(r, scope, auth, &withheld);
				if (tr == 0) {
					scope_refused = !withheld;
					continue;
				}
				if (tr != -EACCES) {
					/* the token server failed (logged): an outage,
					 * not a refusal */
					ret = tr;
					goto out;
				}
			}
		}
		if (pr == 0 && h->status == 206 && h->range_from > 0) {
			long long start = -1;

			if (!h->content_range ||
			    sscanf(h->content_range, "bytes %lld-", &start) != 1 ||
			    start != (long long)h->range_from) {
				route_log(rt, LOG_LVL_ERR, "%s on '%s': bad resumed range", what,
					  r->host);
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
		if (attempt < retries && transient(h, pr)) {
			double wait = backoff(h, attempt);

			log_debug("%s on '%s': %s, retrying in %.1fs", what, r->host,
				  pr < 0 ? h->errbuf : "busy", wait);
			attempt++;
			sleep_seconds(wait);
			continue;
		}
		if (pr < 0) {
			route_log(rt, LOG_LVL_ERR, "%s on '%s': %s%s", what, r->host, h->errbuf,
				  down_note(rt));
			mirror_set_down(rt);
			ret = -EIO;
			goto out;
		}
		code = http_error_code(&h->body);
		ret = reg_status_errno(h->status, code);
		h->creds_refused = h->status == 401 && !scope_refused;
		/* "not there" is an answer, not a failure: lookups probe for it */
		route_log(rt, ret == -ENOENT ? LOG_LVL_DEBUG : LOG_LVL_ERR, "%s: HTTP %ld%s%s from '%s'",
			  what, h->status, code ? " " : "", code ? code : "", r->host);
		goto out;
	}
out:
	free(code);
	secret_free(auth);
	free(url);
	h->url = NULL;
	h->auth = NULL;
	h->tls = NULL;
	return ret;
}

/* A request to @r itself (the catalog, pushes): no mirror. */
static int reg_request(struct reg_registry *r, const char *path, const char *scope,
		       const char *what, struct http_call *h)
{
	struct route rt = {r, NULL, NULL};

	return route_request(&rt, path, scope, what, h);
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
static char *next_page(const struct route *rt, const char *link, const char *what)
{
	struct reg_registry *r = rt->r;
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
	route_log(rt, LOG_LVL_WARN, "%s on '%s': ignoring a next page link that leaves the registry",
		  what, r->host);
	free(host_part);
	free(next);
	return NULL;
}

/* Every page of the listing @key (a JSON array) from @first on.  0 or
 * -errno; *creds_refused (or NULL) says a final EACCES was about our
 * credentials (struct http_call). */
static int fetch_listing(const struct route *rt, const char *first, const char *scope,
			 const char *key, const char *what, bool (*valid)(const char *),
			 struct reg_strlist *out, bool *creds_refused)
{
	struct reg_registry *r = rt->r;
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
		ret = route_request(rt, path, scope, what, &h);
		if (creds_refused)
			*creds_refused = ret == -EACCES && h.creds_refused;
		if (ret < 0)
			break;
		root = json_loadb(h.body.data, h.body.len, 0, NULL);
		arr = json_object_get(root, key);
		if (!root || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
			route_log(rt, LOG_LVL_ERR, "%s on '%s': malformed listing", what, r->host);
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
		path = next_page(rt, h.link, what);
		if (path && (strcmp(path, prev) == 0 || ++pages >= PAGE_LIMIT)) {
			route_log(rt, LOG_LVL_WARN, "%s on '%s': pagination does not advance, stopping",
				  what, r->host);
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
	struct route rt = {r, NULL, NULL}; /* the catalog is the registry's own, never a mirror's */
	bool creds_refused = false;
	int ret = fetch_listing(&rt, "/v2/_catalog?n=1000", "registry:catalog:*", "repositories",
				"catalog", reg_name_is_repo, out, &creds_refused);

	/* a registry whose page limit is below our n refuses the request
	 * (distribution: 400 PAGINATION_NUMBER_INVALID); its own page size will do */
	if (ret == -EIO)
		ret = fetch_listing(&rt, "/v2/_catalog", "registry:catalog:*", "repositories",
				    "catalog", reg_name_is_repo, out, &creds_refused);

	/* Docker Hub and others lack _catalog (404) or keep it from whoever we
	 * are (403, or a token got with all our credentials that does not
	 * cover it): browsing by name still works.  A registry that wants
	 * credentials we do not have, or may not send, refuses: EACCES (the
	 * 401 is logged) */
	if (ret == -ENOENT || (ret == -EACCES && !creds_refused))
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
	if (path && scope && what) {
		struct route rt[ROUTES_MAX];
		size_t n = read_routes(r, NULL, rt);

		for (size_t i = 0; i < n; i++) {
			ret = fetch_listing(&rt[i], path, scope, "tags", what, reg_name_is_tag, out,
					    NULL);
			if (ret == 0 || !fall_back_on(ret))
				break;
		}
	}
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
	struct route rt[ROUTES_MAX];
	char *path, *scope, *what;
	const char *by_digest = digest_is_valid(ref) ? ref : NULL;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = object_names(repo, kind, ref, &path, &scope, &what);
	if (ret < 0)
		goto out;
	n = read_routes(r, by_digest, rt);
	for (size_t i = 0; i < n; i++) {
		const char *want = by_digest;

		ret = route_request(&rt[i], path, scope, what, h);
		if (ret == 0) {
			digest_of(h->body.data ? h->body.data : "", h->body.len, out->digest);
			if (!want && h->docker_digest && digest_is_valid(h->docker_digest))
				want = h->docker_digest;
			if (want && strcmp(out->digest, want) != 0) {
				route_log(&rt[i], LOG_LVL_ERR,
					  "%s on '%s': content has digest %s, expected %s: refused",
					  what, rt[i].r->host, out->digest, want);
				if (rt[i].origin && by_digest)
					mirror_distrust(rt[i].r, by_digest);
				ret = -EIO;
			}
		}
		if (ret == 0 || !rt[i].origin || !fall_back_on(ret))
			break;
	}
	if (ret < 0)
		goto out;
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

/*
 * A blob read through a mirror goes through a tee: hashed, and held back
 * while it is small (MIRROR_HOLD_MAX), so that when the mirror's bytes do
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
	struct tee tee = {sink, arg, {NULL}, BUF_INIT(MIRROR_HOLD_MAX), false, NULL};
	char *path, *scope, *what, got[DIGEST_STR_LEN + 1];
	bool verified = false;
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
		if (x->origin && h.delivered > before)
			tee.mirror = x->r;
		if (ret == 0 && x->origin && tee.holding) {
			/* all of it is held: check it before anything goes on */
			ret = tee_digest(&tee, got);
			if (ret == 0 && strcmp(got, digest) == 0) {
				ret = tee_flush(&tee);
				verified = true;
				break;
			}
			if (ret == 0) {
				route_log(x, LOG_LVL_WARN, "%s on '%s': content has digest %s: refused",
					  what, x->r->host, got);
				mirror_distrust(x->r, digest);
				ret = -EIO;
			}
		}
		if (ret == 0 || !x->origin || h.sink_err || !fall_back_on(ret))
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
/* HEAD /v2/<repo>/<kind>/<ref>, with push scope (@push: the commit asks
 * in the scope it pushes with) or pull scope; @digest (or NULL) receives
 * the Docker-Content-Digest answered, "" when there was none. */
static int head_object(struct reg_registry *r, const char *repo, const char *kind,
		       const char *ref, bool push, char digest[DIGEST_STR_LEN + 1])
{
	struct http_call h = {0};
	char *path, *scope, *what, *pscope = NULL;
	int ret;

	ret = object_names(repo, kind, ref, &path, &scope, &what);
	if (ret == 0 && push && !(pscope = push_scope(repo, NULL)))
		ret = -ENOMEM;
	if (ret == 0) {
		h.method = "HEAD";
		h.accept = strcmp(kind, "manifests") == 0 ? REG_MANIFEST_ACCEPT : NULL;
		h.total_timeout = 60;
		ret = reg_request(r, path, push ? pscope : scope, what, &h);
	}
	if (digest)
		snprintf(digest, DIGEST_STR_LEN + 1, "%s",
			 ret == 0 && h.docker_digest && digest_is_valid(h.docker_digest)
				 ? h.docker_digest
				 : "");
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
	return head_object(r, repo, "blobs", digest, true, NULL);
}

int reg_manifest_exists(struct reg_registry *r, const char *repo, const char *ref)
{
	return head_object(r, repo, "manifests", ref, true, NULL);
}

int reg_manifest_digest(struct reg_registry *r, const char *repo, const char *ref,
			char digest[DIGEST_STR_LEN + 1])
{
	struct reg_fetched f;
	int ret = head_object(r, repo, "manifests", ref, false, digest);

	if (ret < 0 || digest[0])
		return ret;
	/* a HEAD without the header says only "there": the bytes say what */
	ret = reg_manifest_get(r, repo, ref, &f);
	if (ret == 0)
		memcpy(digest, f.digest, DIGEST_STR_LEN + 1);
	reg_fetched_release(&f);
	return ret;
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
	free(c->certs_dir);
	free(c->sys_capath);
	free(c->sys_cainfo);
	for (size_t i = 0; i < c->n_mirrors; i++) {
		free(c->mirrors[i].origin_api);
		free(c->mirrors[i].mirror);
	}
	free(c->mirrors);
}

/* "ORIGIN=MIRROR", or "MIRROR" for docker.io, into @m.  0, -EINVAL, -ENOMEM. */
static int mirror_parse(const char *spec, struct reg_mirror *m)
{
	const char *eq = strchr(spec, '=');
	char *origin = eq ? strndup(spec, (size_t)(eq - spec)) : strdup("docker.io");
	const char *mirror = eq ? eq + 1 : spec;
	int ret = -ENOMEM;

	memset(m, 0, sizeof(*m));
	if (!origin)
		return -ENOMEM;
	if (!reg_name_is_host(origin) || !reg_name_is_host(mirror)) {
		ret = -EINVAL;
		goto out;
	}
	m->origin_api = strdup(api_host_of(origin));
	m->mirror = strdup(mirror);
	if (m->origin_api && m->mirror)
		ret = 0;
out:
	if (ret < 0) {
		free(m->origin_api);
		free(m->mirror);
		memset(m, 0, sizeof(*m));
	}
	free(origin);
	return ret;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The -o mirror= specs of @o into @c.  0, -EINVAL or -ENOMEM. */
static int client_set_mirrors(struct reg_client *c, const struct reg_client_opts *o)
{
	size_t n = 0;

	while (o && o->mirrors && o->mirrors[n])
		n++;
	if (!n)
		return 0;
	c->mirrors = calloc(n, sizeof(*c->mirrors));
	if (!c->mirrors)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int ret = mirror_parse(o->mirrors[i], &c->mirrors[i]);

		if (ret < 0)
			return ret;
		c->n_mirrors = i + 1;
	}
	return 0;
}

int reg_client_new(const struct reg_client_opts *o, struct reg_client **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct reg_client *c;
	size_t n = 0;
	int ret;

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
	if (o && o->certs_dir)
		c->certs_dir = strdup(o->certs_dir);
	http_tls_find_system_cas(c);
	while (o && o->insecure && o->insecure[n])
		n++;
	c->insecure = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; c->insecure && i < n; i++)
		c->insecure[i] = strdup(o->insecure[i]);
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	ret = client_set_mirrors(c, o);
	if (ret == 0 && (!c->share || !c->insecure || (o && o->cafile && !c->cafile) ||
			 (o && o->certs_dir && !c->certs_dir)))
		ret = -ENOMEM;
	if (ret == 0 && reg_creds_store_new(o ? o->auth_file : NULL, &c->creds) < 0)
		ret = -ENOMEM;
	if (ret < 0) {
		reg_client_free(c);
		return ret;
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
