/*
 * Routes: how one API request of the registry client reaches a registry.
 *
 * A request goes through three layers:
 *   http_perform()   (http.c) one HTTP exchange on a pooled curl handle;
 *   route_request()  here: the scheme settled by the first /v2/ answer
 *                    (https, or http by the plain-HTTP rule), auth (auth.c:
 *                    Basic, Bearer tokens per scope, fetched on a 401
 *                    challenge), bounded retries with backoff for transient
 *                    failures, a cut-off stream resumed with a Range request;
 *   the API calls    pull.c and push.c.
 *
 * Mirrors (-o mirror=): reads (manifests, blobs, tags lists) of a registry
 * go to its mirrors first (read_routes), each a registry of its own
 * (scheme, credentials, TLS); any failure of a mirror is a warning and the
 * next source is tried, ending with the registry itself (a 404 is a
 * warning once a later source served the thing: route_mirror_lacked).  A mirror that
 * cannot be reached is skipped while it is marked unreachable (probe.c);
 * one that fails otherwise (TLS, no v2 API) is skipped for MIRROR_RETRY
 * seconds; one that served a digest wrong is not asked for it again.
 *
 * Waiting: one request, its retries and its mirrors together, waits at
 * most c->request_timeout for an answer to start (h->deadline); each try
 * waits at most c->connect_timeout, and a mirror at most half of what is
 * left, so the registry behind it always has its turn.  -EINTR and
 * -CANCEL_WOULD_WAIT (common/cancel.h) pass through every layer as they
 * are: not logged, not retried, no mirror fallback, no host marked.
 * See registry/request.h.
 */
#include "registry/request.h"

#include <errno.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/cancel.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/headers.h"
#include "registry/names.h"

#define MIRROR_RETRY 30           /* seconds an unreachable mirror is skipped */
#define STR_(x) #x
#define STR(x) STR_(x)
#define RETRY_WAIT_MAX 5          /* seconds: the longest wait between tries */
#define DISTRUST_KEEP 16          /* digests remembered per mirror that served them wrong */

/* How long the next try on @rt may wait for its answer before @deadline:
 * the connect timeout, or less when less is left (for a mirror, half of
 * what is left: the next source needs the rest).  Below REG_QUICK_FAILURE
 * it is not worth trying (and a failure then says nothing of the host):
 * 0 then. */
static double try_wait(const struct route *rt, double deadline)
{
	double left = deadline - mono_now(), wait = (double)rt->r->client->connect_timeout;

	if (rt->origin)
		left /= 2;
	if (left < wait)
		wait = left;
	return wait < REG_QUICK_FAILURE ? 0 : wait;
}

/* --- routes: a registry, or a mirror of one ------------------------------ */

/* Failures of hosts named at the root that do not answer (trial
 * registries): any user of an allow_other mount can name thousands, so
 * their lines share one rate limit; the rest go to the debug level. */
static struct log_ratelimit trial_lines = LOG_RATELIMIT_INIT(10, 60);

void route_log(const struct route *rt, enum log_level level, const char *fmt, ...)
{
	char msg[1024];
	unsigned dropped = 0;
	va_list ap;

	if (rt->r->trial && level < LOG_LVL_DEBUG && !log_ratelimit_allow(&trial_lines, &dropped))
		level = LOG_LVL_DEBUG;
	if (dropped)
		log_msg(level, "%u more names looked up at the root that no registry answered "
			"were not logged", dropped);
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

void mirror_distrust(struct reg_registry *m, const char *digest)
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
	if (m->down_until > now || m->reach.down)
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

size_t read_routes(struct reg_registry *r, const char *digest, struct route *rt)
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

void route_mirror_lacked(const struct route *rt, const char *what, const struct route *by)
{
	if (!rt->origin)
		BUG("route_mirror_lacked on a registry's own route");
	log_warn("mirror '%s' for '%s': %s: HTTP 404 from '%s', read from '%s' instead",
		 rt->r->host, rt->origin->host, what, rt->r->host, by->r->host);
}

bool route_fall_back_on(int err)
{
	return err != -EINVAL && err != -ENOMEM && !http_call_off(err);
}

/* --- the scheme ------------------------------------------------------------ */

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

/* GET /v2/ of @r over @s into @h, waiting @wait seconds at most for the
 * answer; *url is the URL asked (new, replacing the one there).  0 when an
 * HTTP status came back (whatever it was), -EIO for a transport failure
 * (@h says why), -ENOMEM, or as http_perform when called off. */
static int v2_probe(struct reg_registry *r, enum scheme s, const struct http_tls *tls,
		    double wait, struct http_call *h, char **url)
{
	int ret;

	free(*url);
	if (asprintf(url, "%s://%s/v2/", s == SCHEME_HTTPS ? "https" : "http", r->api_host) < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	h->url = *url;
	h->max = HTTP_ERROR_BODY_MAX;
	h->total_timeout = 30;
	h->answer_wait = wait;
	h->tls = tls;
	ret = http_perform(r->client, s == SCHEME_HTTP, h);
	return ret < 0 && !http_call_off(ret) && ret != -ENOMEM ? -EIO : ret;
}

/* @r answered /v2/ over @s (@h: 200 or 401): that is its scheme from now
 * on, and the answer says whether it wants credentials. */
static void scheme_settle(struct reg_registry *r, enum scheme s, const struct http_call *h)
{
	pthread_mutex_lock(&r->lock);
	r->scheme = s;
	if (r->auth == AUTH_UNKNOWN && h->status == 200)
		r->auth = AUTH_NONE;
	pthread_mutex_unlock(&r->lock);
	if (s == SCHEME_HTTP)
		log_info("registry '%s': plain HTTP, it does not speak TLS (%s)", r->host,
			 reg_host_is_loopback(r->host) ? "a loopback host" : "-o insecure");
	if (h->status == 401 && !h->answered_elsewhere)
		auth_take_challenge(r, h->www_auth);
}

/* Whether @r, over its settled scheme, answers GET /v2/ within @wait
 * seconds (any HTTP status). */
static bool host_answers(struct reg_registry *r, double wait)
{
	struct http_call h = {0};
	const struct http_tls *tls;
	char *url = NULL;
	enum scheme s;
	bool ret = false;

	pthread_mutex_lock(&r->lock);
	s = r->scheme;
	pthread_mutex_unlock(&r->lock);
	if (s != SCHEME_UNKNOWN && registry_tls(r, &tls) == 0)
		ret = v2_probe(r, s, tls, wait, &h, &url) == 0;
	http_call_release(&h);
	free(url);
	return ret;
}

/* What a failure of @rt's host (@h, after @took seconds) does to it: a host
 * that cannot be reached is marked so (probe.c); a mirror that fails
 * otherwise is skipped for MIRROR_RETRY seconds.  With @confirm (a request
 * that is not /v2/ itself), a host that was connected to and did not answer
 * is first asked /v2/ within @confirm seconds: when that answers, only the
 * thing asked for hangs, and nothing is marked.  Returns the level to log
 * the failure at: an error (a warning for a mirror: route_log) the first
 * time, debug while the host is known unreachable already.  *note says
 * what the log line adds (static). */
static enum log_level route_down(const struct route *rt, const struct http_call *h, double took,
				 double confirm, const char **note)
{
	*note = "";
	if (rt->r->trial)
		return LOG_LVL_ERR; /* not kept: nothing to mark (route_log limits the lines) */
	if (http_unreachable(h) && confirm > 0 && h->cc != CURLE_COULDNT_CONNECT &&
	    !reach_is_down(rt->r) && host_answers(rt->r, confirm))
		return LOG_LVL_ERR; /* the host is there: this request hangs */
	if (http_unreachable(h)) {
		*note = " (marked unreachable: asked again in the background)";
		return reach_mark_down(rt->r, took) ? LOG_LVL_ERR : LOG_LVL_DEBUG;
	}
	mirror_set_down(rt);
	*note = down_note(rt);
	return LOG_LVL_ERR;
}

/* Lines about this process running out of sockets: a load that causes
 * one causes many. */
static struct log_ratelimit no_socket_lines = LOG_RATELIMIT_INIT(1, 10);

/* @h failed for want of a socket of our own (http.c's local_err): logged,
 * rate limited, and returned as that errno.  Nothing is held against the
 * host: no unreachable mark, no mirror skipped. */
static int route_no_socket(const struct route *rt, const char *what, const struct http_call *h)
{
	unsigned dropped = 0;

	if (log_ratelimit_allow(&no_socket_lines, &dropped))
		log_err("%s on '%s': this process cannot open a socket: %s%s", what, rt->r->host,
			strerror(h->local_err), dropped ? " (and more since, not logged)" : "");
	return -h->local_err;
}

/* Log why @rt's registry could not be reached, @took seconds after it was
 * first asked: @h is the last try, @https_err why https failed (or ""),
 * @tls_failed whether TLS refused the peer or the peer refused us.
 * -ENXIO when the host name does not resolve, else -EIO. */
static int scheme_unreachable(const struct route *rt, const struct http_call *h,
			      const char *https_err, bool tls_failed, double took)
{
	struct reg_registry *r = rt->r;
	const char *note;
	enum log_level level = route_down(rt, h, took, 0, &note);
	char hint[512];

	if (tls_failed)
		route_log(rt, level, "registry '%s': %s%s%s", r->host, h->errbuf,
			  tls_hint(r, h, hint, sizeof(hint)), note);
	else if (r->plain_ok)
		route_log(rt, level, "registry '%s': unreachable: %s%s%s", r->host, h->errbuf,
			  strstr(https_err, h->errbuf) ? "" : https_err, note);
	else
		route_log(rt, level,
			  "registry '%s': unreachable: %s (plain HTTP is not allowed for this "
			  "host; see -o insecure)%s", r->host, h->errbuf, note);
	/* reg_ping tells this apart; requests see -EIO */
	return h->cc == CURLE_COULDNT_RESOLVE_HOST ? -ENXIO : -EIO;
}

/* Ask /v2/ of @r over https, then over http by the plain-HTTP rule, until
 * one answers, each try waiting what try_wait(@rt, @deadline) allows.  The
 * answer (or the last failure) is left in @h, its URL in *url;
 * *tls_failed says TLS refused (then http is not tried), @https_err
 * (@n bytes) why https failed.  0 when one answered (*s: over which),
 * -EIO when none did, -ETIMEDOUT when no time was left to ask, or as
 * http_perform when called off. */
static int scheme_find(const struct route *rt, double deadline, const struct http_tls *tls,
		       struct http_call *h, char **url, enum scheme *s, bool *tls_failed,
		       char *https_err, size_t n)
{
	static const enum scheme order[] = {SCHEME_HTTPS, SCHEME_HTTP};
	struct reg_registry *r = rt->r;
	int ret = -EIO;

	for (size_t i = 0; i < 2; i++) {
		double wait = try_wait(rt, deadline);

		if (order[i] == SCHEME_HTTP && !r->plain_ok)
			break;
		if (!wait)
			return ret == -EIO && i == 0 ? -ETIMEDOUT : ret;
		*s = order[i];
		ret = v2_probe(r, order[i], tls, wait, h, url);
		if (ret == 0 || ret != -EIO)
			return ret;
		log_debug("registry '%s': %s: %s", r->host, *url, h->errbuf);
		if (order[i] == SCHEME_HTTPS) {
			snprintf(https_err, n, " (https: %s)", h->errbuf);
			if (http_tls_refused(h) || h->tls_spoken) {
				*tls_failed = true;
				break;
			}
		}
	}
	return ret;
}

/* Settle on https, or http by the plain-HTTP rule, asking by @deadline.
 * The first /v2/ answer decides; until one comes, every request tries
 * again (unless the host is marked unreachable after a slow failure: then
 * it fails at once).  A host that answers in TLS and fails it (a
 * certificate that does not verify, an alert) is never asked over plain
 * HTTP: it is a TLS server with a problem. */
/*
 * Take the finding of @r's scheme, or wait (in slices, called off like any
 * wait) while another thread has it: many first requests at once would
 * each probe https and http.  1 when it is ours to find (end it with
 * scheme_release), 0 when it was found meanwhile, -EINTR.
 */
static int scheme_claim(struct reg_registry *r)
{
	int ret = 1;

	pthread_mutex_lock(&r->lock);
	while (r->scheme == SCHEME_UNKNOWN && r->scheme_finding) {
		if (cancel_requested()) {
			ret = -EINTR;
			break;
		}
		cancel_cond_wait(&r->scheme_done, &r->lock, CLOCK_REALTIME);
	}
	if (ret == 1 && r->scheme != SCHEME_UNKNOWN)
		ret = 0;
	else if (ret == 1)
		r->scheme_finding = true;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void scheme_release(struct reg_registry *r)
{
	pthread_mutex_lock(&r->lock);
	r->scheme_finding = false;
	pthread_cond_broadcast(&r->scheme_done);
	pthread_mutex_unlock(&r->lock);
}

static int ensure_scheme_now(const struct route *rt, double deadline);

static int ensure_scheme(const struct route *rt, double deadline)
{
	struct reg_registry *r = rt->r;
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = r->scheme != SCHEME_UNKNOWN;
	pthread_mutex_unlock(&r->lock);
	if (ret)
		return 0;
	ret = reach_fail_fast(r);
	if (ret < 0) {
		log_debug("registry '%s': unreachable, not asked", r->host);
		return ret;
	}
	if (!cancel_may_wait())
		return -CANCEL_WOULD_WAIT;
	ret = scheme_claim(r);
	if (ret <= 0)
		return ret;
	/* the thread before may have found the host unreachable */
	ret = reach_fail_fast(r);
	if (ret == 0)
		ret = ensure_scheme_now(rt, deadline);
	scheme_release(r);
	return ret;
}

/* Find @rt's scheme (this thread holds the finding). */
static int ensure_scheme_now(const struct route *rt, double deadline)
{
	struct reg_registry *r = rt->r;
	struct http_call h = {0};
	char https_err[CURL_ERROR_SIZE + 16] = ""; /* why https failed, for the log */
	const struct http_tls *tls;
	char *url = NULL;
	enum scheme s;
	bool tls_failed = false;
	double started = mono_now();
	int ret;

	if (registry_tls(r, &tls) < 0) {
		mirror_set_down(rt);
		route_log(rt, LOG_LVL_ERR, "registry '%s': its TLS certificates cannot be read%s",
			  r->host, down_note(rt));
		return -EIO;
	}
	ret = scheme_find(rt, deadline, tls, &h, &url, &s, &tls_failed, https_err,
			  sizeof(https_err));
	if (ret == 0 && (h.status == 200 || h.status == 401)) {
		reach_mark_up(r);
		scheme_settle(r, s, &h);
	} else if (ret == 0) {
		reach_mark_up(r);
		mirror_set_down(rt);
		route_log(rt, LOG_LVL_ERR, "registry '%s': HTTP %ld on %s, not a v2 registry%s%s",
			  r->host, h.status, url, https_err, down_note(rt));
		ret = reg_status_errno(h.status, NULL);
		if (ret == -ENOENT)
			ret = -EIO; /* no /v2/ is an unusable registry, not a missing file */
	} else if (ret == -ETIMEDOUT) {
		route_log(rt, LOG_LVL_ERR, "registry '%s': no time left to ask it", r->host);
		ret = -EIO;
	} else if (ret == -EIO && h.local_err) {
		ret = route_no_socket(rt, "GET /v2/", &h);
	} else if (ret == -EIO) {
		ret = scheme_unreachable(rt, &h, https_err, tls_failed, mono_now() - started);
	}
	http_call_release(&h);
	free(url);
	return ret;
}

int route_probe(struct reg_registry *r, char *why, size_t n)
{
	struct route rt = {r, NULL, NULL};
	struct http_call h = {0};
	char https_err[CURL_ERROR_SIZE + 16] = "";
	const struct http_tls *tls;
	char *url = NULL;
	enum scheme s;
	bool tls_failed = false;
	int ret;

	snprintf(why, n, "its TLS certificates cannot be read");
	if (registry_tls(r, &tls) < 0)
		return -EIO;
	pthread_mutex_lock(&r->lock);
	s = r->scheme;
	pthread_mutex_unlock(&r->lock);
	if (s != SCHEME_UNKNOWN)
		ret = v2_probe(r, s, tls, (double)r->client->connect_timeout, &h, &url);
	else
		ret = scheme_find(&rt, mono_now() + (double)r->client->request_timeout, tls, &h,
				  &url, &s, &tls_failed, https_err, sizeof(https_err));
	/* any answer will do, and TLS that fails is an answer too: the host is
	 * there, and a request says what is wrong with it */
	if (ret == -EIO && !http_unreachable(&h))
		ret = 0;
	snprintf(why, n, "%s", h.errbuf);
	http_call_release(&h);
	free(url);
	return ret;
}

int reg_ping(struct reg_registry *r)
{
	struct route rts[ROUTES_MAX], origin = {r, NULL, NULL};
	double now = mono_now(), bound = (double)r->client->request_timeout;
	size_t n;
	int ret;

	/* with mirrors to fall back on, the registry may take half the time */
	ret = ensure_scheme(&origin, now + (r->n_mirrors ? bound / 2 : bound));
	if (ret == 0 || !r->n_mirrors || http_call_off(ret))
		return ret;
	/* the registry cannot be reached, but it can still be read through a
	 * mirror (the last route is the registry itself, tried above) */
	n = read_routes(r, NULL, rts);
	for (size_t i = 0; i + 1 < n; i++) {
		int m = ensure_scheme(&rts[i], now + bound);

		if (m == 0) {
			log_warn("registry '%s': read through mirror '%s' only", r->host,
				 rts[i].r->host);
			return 0;
		}
		if (http_call_off(m))
			return m;
	}
	return ret;
}

/* --- one request: auth, retries, resumption ------------------------------ */

static bool transient(const struct http_call *h, int perform_ret)
{
	if (perform_ret < 0)
		return h->stale_conn || (!http_tls_refused(h) && h->cc != CURLE_UNSUPPORTED_PROTOCOL &&
					 h->cc != CURLE_URL_MALFORMAT);
	/* not 429: a rate limit is the reader's to know at once (-EAGAIN), and
	 * its Retry-After is often an hour */
	return h->status == 502 || h->status == 503 || h->status == 504;
}

/* How long to wait before try @attempt + 1: doubling from 0.2 s, or the
 * Retry-After of a 503 (seconds or an HTTP-date; a date past is no wait),
 * at most RETRY_WAIT_MAX s (and route_request retries only when the wait
 * and a try still fit before the request's deadline). */
static double backoff(const struct http_call *h, int attempt)
{
	double wait = 0.2 * (1 << attempt);
	long asked;

	/* never let a server park a reader for long: RETRY_WAIT_MAX at most */
	if (h->retry_after &&
	    reg_retry_after_parse(h->retry_after, time(NULL), RETRY_WAIT_MAX, &asked) == 0)
		wait = (double)asked;
	return wait > RETRY_WAIT_MAX ? RETRY_WAIT_MAX : wait;
}

/* The URL of @path on @r (*url, new) over http (@plain) or https: @path
 * itself when it is absolute (an upload's Location), *foreign then saying
 * whether it leaves the registry (credentials go only to the registry
 * itself).  0 or -ENOMEM. */
static int route_url(const struct reg_registry *r, bool plain, const char *path, char **url,
		     bool *foreign)
{
	const char *scheme = plain ? "http" : "https";

	*url = NULL;
	*foreign = false;
	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
		char *own = NULL;

		if (asprintf(&own, "%s://%s/", scheme, r->api_host) < 0)
			return -ENOMEM;
		*foreign = strncmp(path, own, strlen(own)) != 0;
		free(own);
		*url = strdup(path);
	} else if (asprintf(url, "%s://%s%s", scheme, r->api_host, path) < 0) {
		*url = NULL;
	}
	return *url ? 0 : -ENOMEM;
}

/* One exchange of @h with @url, @auth and @tls (all borrowed, kept in @h
 * until route_request returns); a stream asks for the rest of what it was
 * getting.  As http_perform. */
static int route_send(struct reg_client *c, bool plain, char *url, const char *auth,
		      const struct http_tls *tls, struct http_call *h)
{
	h->url = url;
	h->auth = auth;
	h->tls = tls;
	if (h->sink && h->delivered > 0) {
		/* resume: ask for the rest; if the server ignores Range and
		 * sends it all again, the first bytes are dropped */
		h->range_from = h->delivered;
		h->skip = h->delivered;
	}
	return http_perform(c, plain, h);
}

/* How an exchange (@pr: what http_perform returned) ends whatever its
 * status said: 0 done (2xx; a resumed range that starts where asked), or
 * -errno (the caller's sink refused the bytes, a body over the cap, a
 * bad resumed range; logged).  1: the status decides (an error to answer,
 * retry or report). */
static int route_settled(const struct route *rt, const char *what, const struct http_call *h,
			 int pr)
{
	struct reg_registry *r = rt->r;

	if (pr < 0)
		return 1;
	if (h->sink_err) {
		/* the caller's sink refused the bytes: not this source's failure */
		log_err("%s on '%s': %s", what, r->host, strerror(-h->sink_err));
		return h->sink_err;
	}
	if (h->too_big) {
		route_log(rt, LOG_LVL_ERR, "%s on '%s': response larger than %zu bytes, refused",
			  what, r->host, h->max);
		return -EIO;
	}
	if (h->status == 206 && h->range_from > 0) {
		struct reg_content_range cr;

		/* spliced only where it starts where we asked (a malformed
		 * Content-Range, or two of them, is no range at all) */
		if (!h->content_range || reg_content_range_parse(h->content_range, &cr) < 0 ||
		    cr.first != (int64_t)h->range_from) {
			route_log(rt, LOG_LVL_ERR, "%s on '%s': bad resumed range (%s)", what,
				  r->host, h->content_range ? "Content-Range does not start where "
				  "asked, or is malformed" : "no Content-Range");
			return -EIO;
		}
		return 0;
	}
	return h->status >= 200 && h->status < 300 ? 0 : 1;
}

/*
 * A 401 from @r for @scope to @auth (@h): learn from its challenge what it
 * wants.  1: ask again (with Basic credentials, or a fresh token; then
 * *scope_refused says whether that token was got with all our credentials,
 * so that another 401 is about its scope); 0: nothing to be done, the 401
 * stands; -errno: the token server failed (logged), an outage rather than
 * a refusal.
 */
static int route_challenge(struct reg_registry *r, const char *scope, const char *auth,
			   const struct http_call *h, bool *scope_refused)
{
	bool bearer, withheld;
	int ret;

	if (h->answered_elsewhere) {
		/* blob storage or a CDN the registry redirected to wants
		 * credentials: the registry's are not its to have, nor may
		 * its challenge pick a realm they are sent to */
		log_warn("registry '%s': a redirect led to a host that asks for credentials; "
			 "none are sent to it", r->host);
		return 0;
	}
	if (auth_take_challenge(r, h->www_auth) < 0)
		return 0;
	pthread_mutex_lock(&r->lock);
	bearer = r->auth == AUTH_BEARER;
	pthread_mutex_unlock(&r->lock);
	if (!bearer)
		return 1;
	ret = auth_fetch_token(r, scope, auth, &withheld);
	if (ret == 0) {
		*scope_refused = !withheld;
		return 1;
	}
	return ret == -EACCES ? 0 : ret;
}

/* Log the failure of @h (@pr: what http_perform returned, after @took
 * seconds) on @rt and return its errno (the table's, for an HTTP
 * status). */
static int route_failed(const struct route *rt, const char *what, struct http_call *h, int pr,
			bool scope_refused, double took)
{
	struct reg_registry *r = rt->r;
	const char *note;
	char *code;
	int ret;

	if (pr < 0 && h->local_err)
		return route_no_socket(rt, what, h);
	if (pr < 0) {
		double left = h->deadline - mono_now();
		enum log_level level = route_down(rt, h, took,
						  left < REG_QUICK_FAILURE ? REG_QUICK_FAILURE
						  : left > REG_CONFIRM_WAIT ? REG_CONFIRM_WAIT : left,
						  &note);

		route_log(rt, level, "%s on '%s': %s%s", what, r->host, h->errbuf, note);
		return -EIO;
	}
	code = http_error_code(&h->body);
	ret = reg_status_errno(h->status, code);
	h->creds_refused = h->status == 401 && !scope_refused;
	/* "not there" is an answer, not a failure: lookups probe for it.  From
	 * a mirror too, until a later source has it (route_mirror_lacked) */
	route_log(rt, ret == -ENOENT ? LOG_LVL_DEBUG : LOG_LVL_ERR, "%s: HTTP %ld%s%s from '%s'%s%s%s",
		  what, h->status, code ? " " : "", code ? code : "", r->host,
		  h->status == 429 ? " (rate limited; Retry-After: " : "",
		  h->status == 429 ? (h->retry_after ? h->retry_after : "none") : "",
		  h->status == 429 ? ")" : "");
	free(code);
	return ret;
}

/* Start @h's wait for an answer: a request's first, or a stream's
 * resumption after bytes came (a new wait, with a new bound). */
static void route_deadline(struct reg_client *c, struct http_call *h)
{
	if (!h->deadline || h->delivered > 0)
		h->deadline = mono_now() + (double)c->request_timeout;
}

/* What route_request does before any exchange: whether it may wait at
 * all, whether @rt's host is to be asked, its scheme.  0 or -errno. */
static int route_ready(const struct route *rt, struct http_call *h)
{
	int ret;

	/* a host known unreachable is an answer at hand, even where the
	 * thread may not wait */
	ret = reach_fail_fast(rt->r);
	if (ret < 0) {
		log_debug("registry '%s': unreachable, not asked", rt->r->host);
		return ret;
	}
	if (!cancel_may_wait())
		return -CANCEL_WOULD_WAIT;
	if (cancel_requested())
		return -EINTR;
	route_deadline(rt->r->client, h);
	ret = ensure_scheme(rt, h->deadline);
	return ret == -ENXIO ? -EIO : ret;
}

/* Whether a try of @h may wait @wait more seconds and then fit in its
 * deadline, and how long it may wait for its answer (h->answer_wait).  A
 * PUT with a body waits for its answer after sending as long as a stall
 * may last (the registry may be checking what it got): the bound is for
 * reaching a host, not for the work asked of it. */
static bool route_try_fits(const struct route *rt, struct http_call *h, double wait)
{
	/* REG_CONFIRM_WAIT is kept for asking /v2/ should this get no answer */
	double tw = try_wait(rt, h->deadline - wait - REG_CONFIRM_WAIT);

	if (h->method && strcmp(h->method, "PUT") == 0 && h->send_len > 0) {
		h->answer_wait = (double)rt->r->client->stall_timeout;
		return true;
	}
	h->answer_wait = tw;
	return tw > 0;
}

int route_request(const struct route *rt, const char *path, const char *scope, const char *what,
		  struct http_call *h)
{
	struct reg_registry *r = rt->r;
	const struct http_tls *tls;
	char *url = NULL, *auth = NULL;
	bool plain, foreign, challenged = false;
	bool scope_refused = false; /* a token fetched with all our credentials was refused */
	int ret, pr, attempt = 0, retries = rt->origin ? 0 : r->client->retries;

	h->creds_refused = false;
	ret = route_ready(rt, h);
	if (ret < 0)
		return ret;
	if (registry_tls(r, &tls) < 0)
		return -EIO;
	pthread_mutex_lock(&r->lock);
	plain = r->scheme == SCHEME_HTTP;
	pthread_mutex_unlock(&r->lock);
	ret = route_url(r, plain, path, &url, &foreign);
	if (ret < 0)
		return ret;
	if (!route_try_fits(rt, h, 0)) {
		/* the scheme's probe or a mirror took the time: no word on this host */
		route_log(rt, LOG_LVL_ERR, "%s on '%s': no answer within %ld s", what, r->host,
			  r->client->request_timeout);
		free(url);
		return -EIO;
	}

	for (;;) {
		double tried = mono_now(), wait;
		curl_off_t before = h->delivered;

		secret_free(auth);
		auth = foreign ? NULL : auth_header_for(r, scope);
		pr = route_send(r->client, plain, url, auth, foreign ? NULL : tls, h);
		if (http_call_off(pr)) {
			ret = pr;
			break;
		}
		if (pr == 0 && !foreign) {
			reach_mark_up(r);
			ratelimit_take(r, h);
		}
		ret = route_settled(rt, what, h, pr);
		if (ret <= 0)
			break;
		if (h->delivered > before)
			route_deadline(r->client, h); /* bytes came: a resumption waits anew */
		if (pr == 0 && h->status == 401 && !challenged && !foreign) {
			challenged = true;
			ret = route_challenge(r, scope, auth, h, &scope_refused);
			if (ret < 0)
				break;
			if (ret > 0 && route_try_fits(rt, h, 0))
				continue;
		}
		wait = backoff(h, attempt);
		/* a host known unreachable is not worth a retry: the prober asks it */
		if (attempt < retries && transient(h, pr) && !(pr < 0 && reach_is_down(r)) &&
		    route_try_fits(rt, h, wait)) {
			log_debug("%s on '%s': %s, retrying in %.1fs", what, r->host,
				  pr < 0 ? h->errbuf : "busy", wait);
			attempt++;
			ret = cancel_sleep(wait);
			if (ret < 0)
				break;
			continue;
		}
		ret = route_failed(rt, what, h, pr, scope_refused, mono_now() - tried);
		break;
	}
	secret_free(auth);
	free(url);
	h->url = NULL;
	h->auth = NULL;
	h->tls = NULL;
	return ret;
}

int registry_request(struct reg_registry *r, const char *path, const char *scope,
		     const char *what, struct http_call *h)
{
	struct route rt = {r, NULL, NULL};

	return route_request(&rt, path, scope, what, h);
}
