/*
 * One HTTP exchange: pooled curl easy handles sharing DNS, connections and
 * TLS sessions; the response headers regfs cares about captured; the body
 * sent to a bounded buffer or a sink; a PUT body from memory or a file.
 *
 * Each exchange is driven through a multi handle polled every
 * CANCEL_POLL_MS rather than by curl_easy_perform, so that it notices
 * within that time that its reader went away or the daemon stops
 * (common/cancel.h), and that an answer that does not start in time is
 * given up (curl's own checks run about once a second on an idle
 * connection).  Connections are cached in the share, whichever multi
 * handle used them, so they are reused as before.
 *
 * TLS: the system store always, plus a registry's own CAs and client
 * certificate (struct http_tls, read by certsd.c).  A TLS failure is put
 * into words here (errbuf): which certificate problem, or which alert the
 * server sent, so every log line that quotes it says why.
 *
 * Every exchange of the client (routes, token requests, foreign layers)
 * ends in http_perform, so this is where -o verbose gets its line per
 * request (exchange_log), and where our copy of the Authorization header
 * is wiped (request_headers_free).  What stays behind is curl's: the
 * request it formats into its own buffer, and OpenSSL's record buffers,
 * are freed without wiping.
 */
#include <curl/mprintf.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cancel.h"
#include "common/clock.h"
#include "common/fdshort.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/http.h"

/* --- small helpers ------------------------------------------------------- */

/* The first error code in a registry error body, or NULL.  New string. */
char *http_error_code(const struct buf *body)
{
	json_t *root, *errs, *code;
	char *ret = NULL;

	if (!body->data || !body->len)
		return NULL;
	root = json_loadb(body->data, body->len, 0, NULL);
	errs = json_object_get(root, "errors");
	code = json_object_get(json_array_get(errs, 0), "code");
	if (json_is_string(code) && json_string_length(code) < 64) {
		const char *c = json_string_value(code);
		bool ok = true;

		for (const char *p = c; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
				ok = false;
		if (ok)
			ret = strdup(c);
	}
	json_decref(root);
	return ret;
}

char *http_url_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *ret = e ? strdup(e) : NULL;

	curl_free(e);
	return ret;
}

/* --- curl plumbing -------------------------------------------------------- */

void http_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct reg_client *c = userp;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

void http_share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct reg_client *c = userp;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

/* An idle handle pair from the pool, or a new one; NULL without memory. */
static struct pooled *pool_get(struct reg_client *c)
{
	struct pooled *p;

	pthread_mutex_lock(&c->lock);
	p = c->pool;
	if (p) {
		c->pool = p->next;
		c->pool_n--;
	}
	pthread_mutex_unlock(&c->lock);
	if (p) {
		curl_easy_reset(p->easy);
		return p;
	}
	p = calloc(1, sizeof(*p));
	if (p) {
		p->easy = curl_easy_init();
		p->multi = curl_multi_init();
	}
	if (p && (!p->easy || !p->multi)) {
		http_pooled_free(p);
		p = NULL;
	}
	return p;
}

void http_pooled_free(struct pooled *p)
{
	if (!p)
		return;
	if (p->easy)
		curl_easy_cleanup(p->easy);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	free(p);
}

/* Back into the pool, or freed: when the pool is full, and while the
 * process is short of descriptors (each pair's multi holds two, its wakeup
 * socketpair), when the pool is emptied as well. */
static void pool_put(struct reg_client *c, struct pooled *p)
{
	struct pooled *shed = NULL;
	bool kept = false;

	pthread_mutex_lock(&c->lock);
	if (fd_short_recent()) {
		shed = c->pool;
		c->pool = NULL;
		c->pool_n = 0;
	} else if (c->pool_n < POOL_KEEP) {
		p->next = c->pool;
		c->pool = p;
		c->pool_n++;
		kept = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (!kept)
		http_pooled_free(p);
	while (shed) {
		struct pooled *next = shed->next;

		http_pooled_free(shed);
		shed = next;
	}
}

/* Keep a copy of a header value we care about; a new response in a redirect
 * chain starts over. */
static void capture(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = strndup(v, n);
}

static void call_reset_headers(struct http_call *h)
{
	free(h->content_type);
	free(h->docker_digest);
	free(h->www_auth);
	free(h->link);
	free(h->retry_after);
	free(h->content_range);
	free(h->location);
	free(h->rl_limit);
	free(h->rl_remaining);
	free(h->rl_reset);
	free(h->rl_source);
	h->content_type = h->docker_digest = h->www_auth = NULL;
	h->link = h->retry_after = h->content_range = h->location = NULL;
	h->rl_limit = h->rl_remaining = h->rl_reset = h->rl_source = NULL;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_call *h = userp;
	size_t n = size * nmemb, nl;
	const char *colon, *v;
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
		{"content-type", offsetof(struct http_call, content_type)},
		{"docker-content-digest", offsetof(struct http_call, docker_digest)},
		{"www-authenticate", offsetof(struct http_call, www_auth)},
		{"link", offsetof(struct http_call, link)},
		{"retry-after", offsetof(struct http_call, retry_after)},
		{"content-range", offsetof(struct http_call, content_range)},
		{"location", offsetof(struct http_call, location)},
		{"ratelimit-limit", offsetof(struct http_call, rl_limit)},
		{"ratelimit-remaining", offsetof(struct http_call, rl_remaining)},
		{"ratelimit-reset", offsetof(struct http_call, rl_reset)},
		{"docker-ratelimit-source", offsetof(struct http_call, rl_source)},
	};

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		call_reset_headers(h);
		return n;
	}
	if (n > HTTP_HEADER_MAX)
		return n; /* ignore absurd headers rather than fail the request */
	colon = memchr(data, ':', n);
	if (!colon)
		return n;
	nl = (size_t)(colon - data);
	v = colon + 1;
	while (v < data + n && (*v == ' ' || *v == '\t'))
		v++;
	n = (size_t)(data + n - v);
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strlen(want[i].name) == nl && strncasecmp(data, want[i].name, nl) == 0) {
			char **slot = (char **)((char *)h + want[i].off);

			/* several WWW-Authenticate or Link headers: keep them all; two
			 * Content-Range headers too, so that its parser refuses them */
			if (*slot && (i == 2 || i == 3 || i == 5)) {
				char *joined = NULL;

				if (asprintf(&joined, "%s, %.*s", *slot, (int)n, v) >= 0) {
					free(*slot);
					*slot = joined;
				}
			} else {
				capture(slot, v, n);
			}
		}
	}
	return size * nmemb;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_call *h = userp;
	size_t n = size * nmemb;
	long status = h->status;

	if (status >= 300 && status < 400)
		return n; /* body of a redirect we follow */
	if (status < 200 || status >= 300) {
		if (h->body.len < HTTP_ERROR_BODY_MAX)
			buf_append(&h->body, data,
				   n < HTTP_ERROR_BODY_MAX - h->body.len ? n : HTTP_ERROR_BODY_MAX - h->body.len);
		return n;
	}
	if (h->sink) {
		const char *p = data;
		size_t left = n;

		if (h->skip > 0) {
			size_t drop = (curl_off_t)left < h->skip ? left : (size_t)h->skip;

			h->skip -= (curl_off_t)drop;
			p += drop;
			left -= drop;
		}
		if (left) {
			int r = h->sink(h->sink_arg, p, left);

			if (r < 0) {
				h->sink_err = r;
				return 0;
			}
			h->delivered += (curl_off_t)left;
		}
		return n;
	}
	if (buf_append(&h->body, data, n) < 0) {
		h->too_big = true;
		return 0;
	}
	return n;
}

/* The request body of a PUT, from memory or from a file.  curl may ask to
 * start over (a 401 or a redirect), hence the seek callback. */
static size_t on_send(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_call *h = userp;
	size_t want = size * nmemb, left = h->send_len - h->send_pos;
	ssize_t n;

	if (want > left)
		want = left;
	if (!want)
		return 0;
	if (h->send_bytes) {
		memcpy(data, h->send_bytes + h->send_pos, want);
		n = (ssize_t)want;
	} else {
		n = pread(h->send_fd, data, want, (off_t)h->send_pos);
		if (n <= 0) {
			h->sink_err = n < 0 ? -errno : -EIO; /* the file shrank */
			return CURL_READFUNC_ABORT;
		}
	}
	h->send_pos += (size_t)n;
	return (size_t)n;
}

static int on_send_seek(void *userp, curl_off_t offset, int origin)
{
	struct http_call *h = userp;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > h->send_len)
		return CURL_SEEKFUNC_FAIL;
	h->send_pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* The body callback needs the status; curl knows it once the headers are
 * in, and the header callback sees the blank line that ends them. */
struct header_ctx {
	struct http_call *h;
	CURL *easy;
};

static size_t on_header_status(char *data, size_t size, size_t nmemb, void *userp)
{
	struct header_ctx *hc = userp;
	size_t n = size * nmemb;

	hc->h->answered = true;
	if (n <= 2 && (data[0] == '\r' || data[0] == '\n')) {
		long st = 0;

		curl_easy_getinfo(hc->easy, CURLINFO_RESPONSE_CODE, &st);
		hc->h->status = st;
		if (st == 206)
			hc->h->skip = 0; /* the server honoured our Range */
		return n;
	}
	return on_header(data, size, nmemb, hc->h);
}

void http_call_release(struct http_call *h)
{
	call_reset_headers(h);
	buf_release(&h->body, 0);
}

void http_tls_release(struct http_tls *t)
{
	free(t->ca);
	free(t->cert);
	secret_free_n(t->key, t->key_len);
	free(t->dir);
	free(t->cert_name);
	memset(t, 0, sizeof(*t));
}

/* --- what TLS said --------------------------------------------------------
 * OpenSSL's message callback sees every TLS record the peer sends.  It is
 * set on the SSL_CTX of each new connection (curl makes one per
 * connection) and reports to the call the thread is performing, and only
 * about the connection that call opened: curl may close another, idle one
 * meanwhile, and what that peer says is not this call's business. */

static __thread struct http_call *tls_watch;
static __thread SSL_CTX *tls_watch_ctx;

static void on_tls_msg(int write_p, int version, int content_type, const void *buf, size_t len,
		       SSL *ssl, void *arg)
{
	struct http_call *h = tls_watch;
	const unsigned char *b = buf;

	(void)version;
	(void)ssl;
	(void)arg;
	if (!h || write_p || !ssl || SSL_get_SSL_CTX(ssl) != tls_watch_ctx)
		return;
	if (content_type == SSL3_RT_HANDSHAKE || content_type == SSL3_RT_ALERT)
		h->tls_spoken = true;
	if (content_type == SSL3_RT_HANDSHAKE && len >= 1 && b[0] == SSL3_MT_CERTIFICATE_REQUEST)
		h->tls_cert_asked = true;
	if (content_type == SSL3_RT_ALERT && len >= 2 && b[0] == SSL3_AL_FATAL)
		h->tls_alert = b[1];
}

static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	(void)arg;
	SSL_CTX_set_msg_callback(ssl_ctx, on_tls_msg);
	tls_watch_ctx = ssl_ctx;
	return CURLE_OK;
}

/* The server asked for a client certificate and got none. */
static bool cert_missing(const struct http_call *h)
{
	return h->tls_cert_asked && !(h->tls && h->tls->cert);
}

bool http_tls_refused(const struct http_call *h)
{
	if (h->cc == CURLE_OK)
		return false;
	return h->cc == CURLE_PEER_FAILED_VERIFICATION || h->cc == CURLE_SSL_CERTPROBLEM ||
	       h->cc == CURLE_SSL_CACERT_BADFILE || h->cc == CURLE_SSL_ISSUER_ERROR ||
	       h->cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || h->tls_alert >= 0 || cert_missing(h);
}

/* Replace curl's words for a TLS failure of @h by ones that say what is
 * wrong: "TLS certificate verify failed: certificate has expired". */
static void tls_explain(struct http_call *h)
{
	char why[CURL_ERROR_SIZE + 128];
	const char *curl_says = h->errbuf[0] ? h->errbuf : curl_easy_strerror(h->cc);

	why[0] = '\0';
	/* curl checks the name itself, after OpenSSL passed the chain; what
	 * it leaves in the verify result then says nothing */
	if (h->cc == CURLE_PEER_FAILED_VERIFICATION && strstr(curl_says, "match"))
		snprintf(why, sizeof(why), "TLS certificate verify failed: name mismatch (%s)",
			 curl_says);
	else if (h->cc == CURLE_PEER_FAILED_VERIFICATION && h->tls_verify != X509_V_OK &&
		 h->tls_verify != X509_V_ERR_UNSPECIFIED)
		snprintf(why, sizeof(why), "TLS certificate verify failed: %s",
			 X509_verify_cert_error_string(h->tls_verify));
	else if (h->cc == CURLE_PEER_FAILED_VERIFICATION)
		snprintf(why, sizeof(why), "TLS certificate verify failed: %s", curl_says);
	else if (h->cc == CURLE_SSL_CERTPROBLEM)
		snprintf(why, sizeof(why), "TLS client certificate unusable: %s", curl_says);
	else if (h->cc == CURLE_SSL_CACERT_BADFILE)
		snprintf(why, sizeof(why), "TLS CA certificates unusable: %s", curl_says);
	else if (h->tls_alert >= 0)
		snprintf(why, sizeof(why), "TLS refused by the server: %s%s",
			 SSL_alert_desc_string_long(h->tls_alert),
			 cert_missing(h) ? " (it asked for a client certificate and none was sent)"
					 : "");
	else if (cert_missing(h))
		/* in TLS 1.3 the refusal comes after the handshake: curl fails
		 * to send or read before the server's alert is read */
		snprintf(why, sizeof(why), "TLS refused by the server: it asked for a client "
			 "certificate and none was sent (%s)", curl_says);
	if (why[0]) {
		size_t n = strnlen(why, sizeof(h->errbuf) - 1);

		memcpy(h->errbuf, why, n);
		h->errbuf[n] = '\0';
	}
}

/* --- one exchange ---------------------------------------------------------- */

/* Forget what a previous exchange left in @h's answer. */
static void call_reset(struct http_call *h)
{
	h->status = 0;
	h->cc = CURLE_OK;
	h->errbuf[0] = '\0';
	h->tls_verify = X509_V_OK;
	h->tls_alert = -1;
	h->tls_spoken = false;
	h->tls_cert_asked = false;
	h->too_big = false;
	h->answered = false;
	h->stale_conn = false;
	h->no_answer = false;
	h->local_err = 0;
	h->answered_elsewhere = false;
	h->sink_err = 0;
	call_reset_headers(h);
	buf_release(&h->body, 0);
	buf_init(&h->body, h->max ? h->max : HTTP_ERROR_BODY_MAX);
}

/* Free a header list request_headers made, wiping every line first: one
 * of them is "Authorization: ..." (curl_slist_append copies what it is
 * given, so ours is the only other copy of the secret besides curl's own
 * request buffer).  NULL is a no-op. */
static void request_headers_free(struct curl_slist *hdrs)
{
	for (struct curl_slist *l = hdrs; l; l = l->next)
		if (l->data)
			OPENSSL_cleanse(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
}

/* Append the header line @fmt makes to *hdrs; with @secret the line is
 * wiped once curl has its copy.  false without memory (*hdrs stays as it
 * was: curl_slist_append returns NULL then and leaves the list alone). */
static bool __attribute__((format(printf, 3, 4)))
request_header_add(struct curl_slist **hdrs, bool secret, const char *fmt, ...)
{
	struct curl_slist *l = NULL;
	char *line = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	l = curl_slist_append(*hdrs, line);
	if (secret)
		secret_free(line);
	else
		free(line);
	if (!l)
		return false;
	*hdrs = l;
	return true;
}

/* The request headers @h asks for into *out: Accept, Authorization,
 * Content-Type, Range, and no Expect (no 100-continue round trip for a
 * PUT).  A new list (request_headers_free: it holds the Authorization
 * secret), or NULL when there is none.  0 or -ENOMEM: a request is never
 * sent short of a header it was meant to carry. */
static int request_headers(const struct http_call *h, struct curl_slist **out)
{
	struct curl_slist *hdrs = NULL;
	bool ok = true;

	*out = NULL;
	if (h->accept)
		ok = request_header_add(&hdrs, false, "Accept: %s", h->accept);
	if (ok && h->auth)
		ok = request_header_add(&hdrs, true, "Authorization: %s", h->auth);
	if (ok && h->send_type)
		ok = request_header_add(&hdrs, false, "Content-Type: %s", h->send_type);
	if (ok && h->method && strcmp(h->method, "PUT") == 0)
		ok = request_header_add(&hdrs, false, "Expect:");
	if (ok && h->range_from > 0)
		ok = request_header_add(&hdrs, false, "Range: bytes=%lld-", (long long)h->range_from);
	if (!ok) {
		request_headers_free(hdrs);
		return -ENOMEM;
	}
	*out = hdrs;
	return 0;
}

/* Milliseconds @h may take to connect: the client's connect timeout, or
 * less when the answer must start sooner. */
static long connect_ms(const struct reg_client *c, const struct http_call *h)
{
	double ms = (double)c->connect_timeout * 1000.0;

	if (h->answer_wait > 0 && h->answer_wait * 1000.0 < ms)
		ms = h->answer_wait * 1000.0;
	return ms < 1 ? 1 : (long)ms;
}

/* curl's socket opener, ours so that a socket the process cannot have is
 * told apart from a host that refuses (curl says "Couldn't connect" for
 * both, with no errno): the errno goes into the call (@clientp). */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_call *h = clientp;
	int fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0) {
		int err = errno;

		if (fd_short_errno(err) || err == ENOBUFS || err == ENOMEM) {
			h->local_err = err;
			fd_short_note(err);
		}
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* Where @h goes, with which headers (@hdrs), over which protocols (http
 * as well when @plain), and how long it may take. */
static void easy_set_transfer(CURL *easy, const struct reg_client *c, bool plain,
			      const struct http_call *h, struct curl_slist *hdrs)
{
	curl_easy_setopt(easy, CURLOPT_URL, h->url);
	curl_easy_setopt(easy, CURLOPT_SHARE, c->share);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "regfs/" "0.1");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, plain ? "http,https" : "https");
	/* Blob storage redirects elsewhere (S3, a CDN).  curl sends our custom
	 * Authorization header only to the host it was set for, and we never
	 * follow https -> http. */
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, plain ? "http,https" : "https");
	curl_easy_setopt(easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms(c, h));
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, (long)REG_LOW_SPEED_MIN);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, c->stall_timeout);
	if (h->total_timeout)
		curl_easy_setopt(easy, CURLOPT_TIMEOUT, h->total_timeout);
}

/* The CAs the peer of @h is verified with, the client certificate @h
 * presents, and the watch on what TLS says (on_ssl_ctx). */
static void easy_set_tls(CURL *easy, const struct reg_client *c, const struct http_call *h)
{
	if (h->tls && h->tls->ca) {
		/* The blob replaces curl's CA bundle file but not its CA
		 * directory, which keeps the system store (certsd.c adds the
		 * bundle to the blob where curl has no directory). */
		struct curl_blob ca = {h->tls->ca, h->tls->ca_len, CURL_BLOB_NOCOPY};

		curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
	} else if (!h->tls && c->cafile) {
		/* CAINFO replaces curl's default bundle: keep the system store
		 * through its directory, so the option adds and never narrows */
		curl_easy_setopt(easy, CURLOPT_CAINFO, c->cafile);
		if (c->sys_capath)
			curl_easy_setopt(easy, CURLOPT_CAPATH, c->sys_capath);
	}
	if (h->tls && h->tls->cert && h->tls->key) {
		struct curl_blob cert = {h->tls->cert, h->tls->cert_len, CURL_BLOB_NOCOPY};
		struct curl_blob key = {h->tls->key, h->tls->key_len, CURL_BLOB_NOCOPY};

		curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	}
	/* not OpenSSL: no callback, and TLS failures are told in curl's words */
	curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
}

/* @h's method (GET unless it says otherwise) and the body it sends. */
static void easy_set_method(CURL *easy, struct http_call *h)
{
	if (!h->method)
		return;
	if (strcmp(h->method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(h->method, "POST") == 0) {
		/* an upload session (empty) or an OAuth2 form (send_bytes) */
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(h->send_bytes ? h->send_len : 0));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, h->send_bytes ? h->send_bytes : "");
	} else if (strcmp(h->method, "PUT") == 0) {
		h->send_pos = 0;
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_send);
		curl_easy_setopt(easy, CURLOPT_READDATA, h);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_send_seek);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, h);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)h->send_len);
	} else {
		BUG("unknown HTTP method");
	}
}

bool http_call_off(int err)
{
	return err == -EINTR || err == -CANCEL_WOULD_WAIT;
}

bool http_unreachable(const struct http_call *h)
{
	if (h->answered || http_tls_refused(h) || h->local_err)
		return false;
	return h->no_answer || h->cc == CURLE_COULDNT_CONNECT || h->cc == CURLE_OPERATION_TIMEDOUT ||
	       h->cc == CURLE_RECV_ERROR || h->cc == CURLE_SEND_ERROR || h->cc == CURLE_GOT_NOTHING;
}

/* Is the thread's work (or all of the client's) called off? */
static bool call_called_off(const struct reg_client *c)
{
	return cancel_requested() || __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE);
}

/* Has @h waited too long for its answer to start?  The clock starts once
 * the request is sent: at once for a request without a body, when the
 * last byte of a PUT body went out (*sent_at, mono_now(), 0 until then). */
static bool answer_overdue(struct http_call *h, double started, double *sent_at)
{
	double now;

	if (h->answered || h->answer_wait <= 0)
		return false;
	now = mono_now();
	if (h->method && strcmp(h->method, "PUT") == 0) {
		if (h->send_pos < h->send_len)
			return false; /* still sending: the speed floor watches that */
		if (!*sent_at)
			*sent_at = now;
		started = *sent_at;
	}
	return now - started >= h->answer_wait;
}

/*
 * Run the transfer of @p->easy (set up) on @p->multi until it ends, it is
 * called off (-EINTR), or its answer is overdue (h->no_answer, as
 * CURLE_OPERATION_TIMEDOUT).  curl's own result goes to h->cc.  0 or
 * -EINTR.
 */
static int transfer_run(struct reg_client *c, struct pooled *p, struct http_call *h)
{
	double started = mono_now(), sent_at = 0;
	int running = 1, ret = 0;
	CURLMcode mc;

	mc = curl_multi_add_handle(p->multi, p->easy);
	if (mc != CURLM_OK) {
		h->cc = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	h->cc = CURLE_OK;
	for (;;) {
		mc = curl_multi_perform(p->multi, &running);
		if (mc != CURLM_OK) {
			h->cc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			break;
		}
		if (!running) {
			int left;
			CURLMsg *m = curl_multi_info_read(p->multi, &left);

			h->cc = m && m->msg == CURLMSG_DONE ? m->data.result : CURLE_GOT_NOTHING;
			break;
		}
		if (call_called_off(c)) {
			h->cc = CURLE_ABORTED_BY_CALLBACK;
			ret = -EINTR;
			break;
		}
		if (answer_overdue(h, started, &sent_at)) {
			h->cc = CURLE_OPERATION_TIMEDOUT;
			h->no_answer = true;
			snprintf(h->errbuf, sizeof(h->errbuf), "no answer within %.0f s",
				 h->answer_wait);
			break;
		}
		mc = curl_multi_poll(p->multi, NULL, 0, CANCEL_POLL_MS, NULL);
		if (mc != CURLM_OK) {
			h->cc = CURLE_FAILED_INIT;
			break;
		}
	}
	/* a transfer left half-way closes its connection; a finished one
	 * leaves it in the share's cache for the next exchange */
	curl_multi_remove_handle(p->multi, p->easy);
	return ret;
}

/* What a log line may show of @url: "host[:port]" into *host and the path
 * into *path (new strings, curl_free), or both NULL when curl cannot parse
 * it.  Never the query (a presigned URL's signature, an upload's state),
 * the fragment or user:password@. */
static void url_loggable(const char *url, char **host, char **path)
{
	CURLU *u = curl_url();
	char *name = NULL, *port = NULL;

	*host = *path = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &name, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, path, 0) == CURLUE_OK) {
		/* CURLUE_NO_PORT when the URL names none: the host alone */
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		if (port) {
			*host = curl_maprintf("%s:%s", name, port);
		} else {
			*host = name;
			name = NULL;
		}
	}
	if (!*host) {
		curl_free(*path);
		*path = NULL;
	}
	curl_free(name);
	curl_free(port);
	curl_url_cleanup(u);
}

/* "scheme://host:port" of @url into @out (the port spelled out even when
 * it is the scheme's default); false when curl cannot parse it. */
static bool url_origin(const char *url, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	bool ok = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		ok = snprintf(out, size, "%s://%s:%s", scheme, host, port) < (int)size;
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

/*
 * Whether the answer @h got came from another origin than its URL's: a
 * redirect (blob storage, a CDN) ended on another scheme, host or port.
 * Such an answer speaks for that host only; a 401 challenge in it must not
 * be taken as the registry's (route.c), or a redirect could send the
 * registry's credentials to a realm of the other host's choosing (the
 * go-containerregistry #2349 class).  An unparsable URL counts as elsewhere.
 */
static bool answer_from_elsewhere(CURL *easy, const struct http_call *h)
{
	char asked[512], answered[512];
	const char *effective = NULL;
	long redirects = 0;

	curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
	if (redirects <= 0)
		return false;
	if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK || !effective)
		return true;
	if (!url_origin(h->url, asked, sizeof(asked)) ||
	    !url_origin(effective, answered, sizeof(answered)))
		return true;
	return strcasecmp(asked, answered) != 0;
}

/* curl's words for a redirect it was not allowed to follow, https to
 * plain http (CURLOPT_REDIR_PROTOCOLS_STR), are "Protocol "http" not
 * supported or disabled in libcurl": say what happened instead. */
static void redirect_explain(CURL *easy, struct http_call *h)
{
	const char *effective = NULL;
	char *host = NULL, *path = NULL;
	long redirects = 0;

	curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
	if (h->cc != CURLE_UNSUPPORTED_PROTOCOL || redirects <= 0 ||
	    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK || !effective ||
	    strncasecmp(effective, "http:", 5) != 0)
		return;
	url_loggable(effective, &host, &path);
	snprintf(h->errbuf, sizeof(h->errbuf),
		 "redirected to plain http ('%s'): refused, https is never followed to http",
		 host ? host : "?");
	curl_free(host);
	curl_free(path);
}

/*
 * The debug line of one exchange (-o verbose), the way to see what a
 * misbehaving registry was asked and what it did: method, host and path
 * (never the query, userinfo or a header: url_loggable), the status or
 * why there was none, the time it took and the body bytes received; a
 * redirect names where it ended.  @ret: what http_perform returns.
 */
static void exchange_log(CURL *easy, const struct http_call *h, int ret, double started)
{
	char *host = NULL, *path = NULL, *to_host = NULL, *to_path = NULL;
	char outcome[CURL_ERROR_SIZE + 64];
	const char *effective = NULL;
	curl_off_t bytes = 0;
	long redirects = 0;

	if (log_get_level() < LOG_LVL_DEBUG)
		return;
	url_loggable(h->url, &host, &path);
	curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &bytes);
	curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
	if (redirects > 0 && curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK &&
	    effective)
		url_loggable(effective, &to_host, &to_path);
	if (ret == -EINTR)
		snprintf(outcome, sizeof(outcome), "called off");
	else if (h->status && ret == 0 && h->cc == CURLE_OK)
		snprintf(outcome, sizeof(outcome), "%ld", h->status);
	else if (h->status)
		snprintf(outcome, sizeof(outcome), "%ld, then failed: %s", h->status,
			 h->too_big ? "body over the cap" : h->errbuf);
	else
		snprintf(outcome, sizeof(outcome), "failed: %s", h->errbuf);
	log_debug("http %s %s%s: %s in %.0f ms, %lld bytes%s%s%s%s", h->method ? h->method : "GET",
		  host ? host : "(unparsable URL)", path ? path : "", outcome,
		  (mono_now() - started) * 1000.0, (long long)bytes,
		  to_host ? " (redirected to " : "", to_host ? to_host : "",
		  to_path ? to_path : "", to_host ? ")" : "");
	curl_free(host);
	curl_free(path);
	curl_free(to_host);
	curl_free(to_path);
}

int http_perform(struct reg_client *c, bool plain, struct http_call *h)
{
	struct curl_slist *hdrs = NULL;
	struct header_ctx hc;
	struct pooled *p;
	CURL *easy;
	double started = mono_now();
	int ret = -EIO;

	call_reset(h);
	if (!cancel_may_wait())
		return -CANCEL_WOULD_WAIT;
	if (call_called_off(c))
		return -EINTR;
	if (request_headers(h, &hdrs) < 0)
		return -ENOMEM;
	p = pool_get(c);
	if (!p) {
		request_headers_free(hdrs);
		return -ENOMEM;
	}
	easy = p->easy;
	hc.h = h;
	hc.easy = easy;
	easy_set_transfer(easy, c, plain, h, hdrs);
	easy_set_tls(easy, c, h);
	easy_set_method(easy, h);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header_status);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, &hc);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, h);
	/* short of descriptors: each exchange closes the oldest idle cached
	 * connection until one is left; -1 is curl's own sizing */
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, fd_short_recent() ? 1L : -1L);

	tls_watch = h;
	tls_watch_ctx = NULL;
	ret = transfer_run(c, p, h);
	tls_watch = NULL;
	tls_watch_ctx = NULL;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &h->tls_verify);
	if (h->cc == CURLE_UNSUPPORTED_PROTOCOL && !h->answered) {
		/* curl's "Received HTTP/0.9 when not allowed": no status line.  On
		 * a connection it opened for this exchange, the server's doing;
		 * on one it reused, junk an earlier answer left (a body longer
		 * than its Content-Length: curl 7.88 reuses such a connection) */
		long connects = -1;

		curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
		h->stale_conn = connects == 0;
	}
	h->answered_elsewhere = answer_from_elsewhere(easy, h);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	request_headers_free(hdrs); /* curl does not copy the list: freed only now */

	if (ret == -EINTR) {
		snprintf(h->errbuf, sizeof(h->errbuf), "called off");
	} else {
		ret = -EIO;
		if (h->cc == CURLE_OK || h->too_big || h->sink_err)
			ret = 0;
		else if (!h->no_answer)
			tls_explain(h);
		if (ret < 0)
			redirect_explain(easy, h);
		if (!h->errbuf[0])
			snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(h->cc));
	}
	exchange_log(easy, h, ret, started);
	pool_put(c, p);
	return ret;
}
