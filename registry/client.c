/*
 * The registry client: requests, authentication and the errno table.
 *
 * A request goes through three layers:
 *   http_perform()  one HTTP exchange on a pooled curl easy handle, with the
 *                   response headers regfs cares about captured and the body
 *                   sent to a bounded buffer or a sink;
 *   reg_request()   auth (Basic, Bearer tokens per scope, fetched on a 401
 *                   challenge), bounded retries with backoff for transient
 *                   failures, the plain-HTTP rule;
 *   the API calls   catalog, tags, manifests and blobs, with pagination and
 *                   digest verification.
 *
 * Locks: client->lock protects the registry list and the handle pool;
 * registry->lock protects that registry's scheme, auth state and tokens;
 * the share locks are curl's own.  None is held across an HTTP request and
 * none is taken while another is held, so there is no lock order to keep.
 */
#include "registry/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "registry/creds.h"
#include "registry/link.h"
#include "registry/manifest.h"
#include "registry/names.h"
#include "registry/wwwauth.h"

#define LISTING_MAX (16u << 20)   /* one page of _catalog or tags/list */
#define ERROR_BODY_MAX (64u << 10) /* error bodies are only read for their code */
#define HEADER_MAX 8192
#define PAGE_LIMIT 10000          /* pages followed before a listing is cut off */
#define POOL_KEEP 16              /* idle curl handles kept */
#define TOKEN_DEFAULT_TTL 60      /* seconds, when the token server omits expires_in */
#define TOKEN_EARLY 10            /* renew this many seconds before expiry */

enum scheme { SCHEME_UNKNOWN = 0, SCHEME_HTTPS, SCHEME_HTTP };
enum auth_kind { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct token {
	char *scope;    /* owned: "repository:onap/x:pull" */
	char *value;    /* owned secret */
	double renew;   /* monotonic seconds: used until then, fetched again after */
	struct token *next;
};

struct reg_registry {
	struct reg_client *client;
	char *host;     /* owned: as written in the tree */
	char *api_host; /* owned: where requests go */
	bool plain_ok;  /* the plain-HTTP rule allows http:// */
	struct reg_registry *next;

	pthread_mutex_t lock; /* protects everything below */
	enum scheme scheme;
	enum auth_kind auth;
	char *realm;   /* owned: Bearer challenge realm */
	char *service; /* owned: Bearer challenge service, may be NULL */
	struct token *tokens;
};

struct pooled {
	CURL *easy;
	struct pooled *next;
};

struct reg_client {
	char *cafile;
	char **insecure; /* NULL-terminated */
	char *auth_file;
	long connect_timeout;
	long stall_timeout;
	int retries;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock; /* protects registries and pool */
	struct reg_registry *registries;
	struct pooled *pool;
	int pool_n;
};

/* One HTTP exchange. */
struct http_call {
	/* in */
	char *url;            /* borrowed */
	const char *accept;   /* or NULL */
	const char *auth;     /* full Authorization header value, or NULL; borrowed secret */
	size_t max;           /* body cap when there is no sink */
	reg_sink_fn sink;     /* or NULL: body into @body */
	void *sink_arg;
	curl_off_t skip;      /* body bytes to drop first (resume without Range support) */
	curl_off_t range_from; /* > 0: ask for bytes from here on */
	long total_timeout;   /* seconds, 0 = none */
	const char *method;   /* NULL: GET; "HEAD", "POST" (empty body) or "PUT" (body below) */
	const char *send_type;  /* Content-Type of the body, or NULL */
	const char *send_bytes; /* PUT body from memory (borrowed), or NULL: from send_fd */
	int send_fd;            /* PUT body from this fd (borrowed, read with pread) */
	size_t send_len;        /* body length */
	size_t send_pos;        /* next body byte to send */

	/* out */
	long status;
	CURLcode cc;
	char errbuf[CURL_ERROR_SIZE];
	struct buf body;      /* 2xx body (no sink) or error body */
	bool too_big;
	int sink_err;
	curl_off_t delivered; /* bytes handed to the sink */
	char *content_type, *docker_digest, *www_auth, *link, *retry_after, *content_range;
	char *location;
};

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

/* --- small helpers ------------------------------------------------------- */

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* The first error code in a registry error body, or NULL.  New string. */
static char *error_code(const struct buf *body)
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

/* --- curl plumbing -------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct reg_client *c = userp;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct reg_client *c = userp;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

static CURL *pool_get(struct reg_client *c)
{
	struct pooled *p;
	CURL *easy = NULL;

	pthread_mutex_lock(&c->lock);
	p = c->pool;
	if (p) {
		c->pool = p->next;
		c->pool_n--;
	}
	pthread_mutex_unlock(&c->lock);
	if (p) {
		easy = p->easy;
		free(p);
		curl_easy_reset(easy);
		return easy;
	}
	return curl_easy_init();
}

static void pool_put(struct reg_client *c, CURL *easy)
{
	struct pooled *p = NULL;

	if (!easy)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->pool_n < POOL_KEEP && (p = malloc(sizeof(*p)))) {
		p->easy = easy;
		p->next = c->pool;
		c->pool = p;
		c->pool_n++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!p)
		curl_easy_cleanup(easy);
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
	h->content_type = h->docker_digest = h->www_auth = NULL;
	h->link = h->retry_after = h->content_range = h->location = NULL;
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
	};

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		call_reset_headers(h);
		return n;
	}
	if (n > HEADER_MAX)
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

			/* several WWW-Authenticate or Link headers: keep them all */
			if (*slot && (i == 2 || i == 3)) {
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
		if (h->body.len < ERROR_BODY_MAX)
			buf_append(&h->body, data,
				   n < ERROR_BODY_MAX - h->body.len ? n : ERROR_BODY_MAX - h->body.len);
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

static void http_call_release(struct http_call *h)
{
	call_reset_headers(h);
	buf_release(&h->body, 0);
}

/* One exchange.  Returns 0 when an HTTP status was received (whatever it
 * was), -EIO for a transport failure (h->cc and h->errbuf say why). */
static int http_perform(struct reg_client *c, bool plain, struct http_call *h)
{
	struct curl_slist *hdrs = NULL;
	struct header_ctx hc;
	char *line = NULL;
	CURL *easy;
	int ret = -EIO;

	h->status = 0;
	h->cc = CURLE_OK;
	h->errbuf[0] = '\0';
	h->too_big = false;
	h->sink_err = 0;
	call_reset_headers(h);
	buf_release(&h->body, 0);
	buf_init(&h->body, h->max ? h->max : ERROR_BODY_MAX);

	easy = pool_get(c);
	if (!easy)
		return -ENOMEM;
	hc.h = h;
	hc.easy = easy;

	if (h->accept && asprintf(&line, "Accept: %s", h->accept) >= 0) {
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}
	if (h->auth && asprintf(&line, "Authorization: %s", h->auth) >= 0) {
		hdrs = curl_slist_append(hdrs, line);
		free_secret(line);
	}
	if (h->send_type && asprintf(&line, "Content-Type: %s", h->send_type) >= 0) {
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}
	if (h->method && strcmp(h->method, "PUT") == 0)
		hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
	if (h->range_from > 0 &&
	    asprintf(&line, "Range: bytes=%lld-", (long long)h->range_from) >= 0) {
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}

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
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, c->connect_timeout);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, c->stall_timeout);
	if (h->total_timeout)
		curl_easy_setopt(easy, CURLOPT_TIMEOUT, h->total_timeout);
	if (c->cafile) {
		/* CAINFO replaces curl's default bundle: keep the system store
		 * through its directory, so the option adds and never narrows */
		curl_easy_setopt(easy, CURLOPT_CAINFO, c->cafile);
		curl_easy_setopt(easy, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	if (h->method && strcmp(h->method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (h->method && strcmp(h->method, "POST") == 0) {
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (h->method && strcmp(h->method, "PUT") == 0) {
		h->send_pos = 0;
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_send);
		curl_easy_setopt(easy, CURLOPT_READDATA, h);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_send_seek);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, h);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)h->send_len);
	} else if (h->method) {
		BUG("unknown HTTP method");
	}
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header_status);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, &hc);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, h);

	h->cc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs); /* held the Authorization line: curl copies nothing */
	pool_put(c, easy);

	if (h->cc == CURLE_OK || h->too_big || h->sink_err)
		ret = 0;
	if (!h->errbuf[0])
		snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(h->cc));
	return ret;
}

/* --- registries, auth ---------------------------------------------------- */

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
		free_secret(t->value);
		free(t);
	}
	free(r->realm);
	free(r->service);
	free(r->host);
	free(r->api_host);
	pthread_mutex_destroy(&r->lock);
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

/* "Basic <base64 user:password>" for @r's host from the credentials file,
 * or NULL when there are none.  New secret string (free_secret). */
static char *basic_auth(struct reg_registry *r)
{
	struct reg_creds cr;
	char *plain = NULL, *ret = NULL;
	unsigned char *b64 = NULL;
	int n;

	if (reg_creds_lookup(r->client->auth_file, r->host, &cr) < 0)
		return NULL;
	if (!cr.username || !cr.password)
		goto out;
	if (asprintf(&plain, "%s:%s", cr.username, cr.password) < 0) {
		plain = NULL;
		goto out;
	}
	n = (int)strlen(plain);
	b64 = malloc(4 * ((size_t)n / 3 + 1) + 1);
	if (!b64)
		goto out;
	EVP_EncodeBlock(b64, (unsigned char *)plain, n);
	if (asprintf(&ret, "Basic %s", b64) < 0)
		ret = NULL;
out:
	free_secret((char *)b64);
	free_secret(plain);
	reg_creds_release(&cr);
	return ret;
}

/* A copy of the Authorization value to send to the registry for @scope, or
 * NULL.  New secret string (free_secret). */
static char *auth_for_scope(struct reg_registry *r, const char *scope)
{
	char *ret = NULL;
	double now = now_mono();
	enum auth_kind kind;

	pthread_mutex_lock(&r->lock);
	kind = r->auth;
	if (kind == AUTH_BEARER) {
		for (struct token *t = r->tokens; t; t = t->next) {
			if (strcmp(t->scope, scope) == 0 && t->renew > now) {
				if (asprintf(&ret, "Bearer %s", t->value) < 0)
					ret = NULL;
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (kind == AUTH_BASIC)
		ret = basic_auth(r); /* reads a file: not under the lock */
	return ret;
}

/* Keep a copy of @value as the token for @scope, valid for @ttl seconds.
 * It is renewed TOKEN_EARLY seconds before it expires, or half way through
 * its life when that is shorter (a token server may hand out tokens of a
 * few seconds: renewing 10 s early would make them useless). */
static void store_token(struct reg_registry *r, const char *scope, const char *value, double ttl)
{
	double early = ttl > 2 * TOKEN_EARLY ? TOKEN_EARLY : ttl / 2;
	struct token *t;

	pthread_mutex_lock(&r->lock);
	for (t = r->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0)
			break;
	if (!t && (t = calloc(1, sizeof(*t)))) {
		t->scope = strdup(scope);
		if (!t->scope) {
			free(t);
			t = NULL;
		} else {
			t->next = r->tokens;
			r->tokens = t;
		}
	}
	if (t) {
		char *v = strdup(value);

		if (v) {
			free_secret(t->value);
			t->value = v;
			t->renew = now_mono() + ttl - early;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static char *url_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *ret = e ? strdup(e) : NULL;

	curl_free(e);
	return ret;
}

/* "scope=a&scope=b" for the space-separated scopes in @scope, escaped
 * (new string or NULL). */
static char *scope_params(const char *scope)
{
	struct buf b;
	char *ret = NULL;
	size_t len;

	buf_init(&b, 64u << 10);
	while (*scope) {
		size_t n = strcspn(scope, " ");
		char *one = strndup(scope, n), *esc = one ? url_escape(one) : NULL;

		if (!esc || (b.len && buf_append(&b, "&", 1) < 0) ||
		    buf_append(&b, "scope=", 6) < 0 || buf_append(&b, esc, strlen(esc)) < 0) {
			free(one);
			free(esc);
			goto out;
		}
		free(one);
		free(esc);
		scope += n;
		scope += strspn(scope, " ");
	}
	ret = buf_detach(&b, &len);
out:
	buf_release(&b, 0);
	return ret;
}

/* Ask the token server at the registry's realm for a token for @scope. */
static int fetch_token(struct reg_registry *r, const char *scope)
{
	struct http_call h = {0};
	char *realm = NULL, *service = NULL, *url = NULL, *basic = NULL;
	char *esc_scope = NULL, *esc_service = NULL;
	const char *tok;
	json_t *root = NULL;
	double ttl = TOKEN_DEFAULT_TTL;
	int ret = -EIO;
	bool plain;

	pthread_mutex_lock(&r->lock);
	realm = r->realm ? strdup(r->realm) : NULL;
	service = r->service ? strdup(r->service) : NULL;
	plain = r->scheme == SCHEME_HTTP;
	pthread_mutex_unlock(&r->lock);
	if (!realm)
		goto out;
	if (strncmp(realm, "https://", 8) != 0 && !(plain && strncmp(realm, "http://", 7) == 0)) {
		log_err("registry '%s': token realm is not https, refusing it", r->host);
		ret = -EACCES;
		goto out;
	}
	/* several scopes (a push that mounts from another repository) are
	 * space-separated in @scope and go as one scope= parameter each */
	esc_scope = scope_params(scope);
	esc_service = service ? url_escape(service) : NULL;
	if (!esc_scope || (service && !esc_service) ||
	    asprintf(&url, "%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?", esc_scope,
		     esc_service ? "&service=" : "", esc_service ? esc_service : "") < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto out;
	}
	/* Basic credentials go to the token server, never a token.  r->auth
	 * stays BEARER: other threads send requests meanwhile. */
	basic = basic_auth(r);

	h.url = url;
	h.auth = basic;
	h.max = REG_MANIFEST_MAX;
	h.total_timeout = 60;
	if (http_perform(r->client, plain, &h) < 0) {
		log_err("token for '%s' from '%s': %s", scope, r->host, h.errbuf);
		goto out;
	}
	if (h.status != 200) {
		log_err("token for '%s' on '%s': HTTP %ld from the token server", scope, r->host,
			h.status);
		ret = reg_status_errno(h.status, NULL);
		goto out;
	}
	root = json_loadb(h.body.data, h.body.len, 0, NULL);
	tok = json_string_value(json_object_get(root, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(root, "access_token"));
	if (!tok || !*tok) {
		log_err("token for '%s' on '%s': the token server sent no token", scope, r->host);
		goto out;
	}
	if (json_is_integer(json_object_get(root, "expires_in"))) {
		json_int_t e = json_integer_value(json_object_get(root, "expires_in"));

		if (e > 0 && e < 86400 * 365)
			ttl = (double)e;
	}
	store_token(r, scope, tok, ttl);
	ret = 0;
out:
	if (root) {
		/* the token lives in jansson's memory too */
		json_t *t = json_object_get(root, "token");

		if (json_is_string(t))
			OPENSSL_cleanse((void *)json_string_value(t), json_string_length(t));
		t = json_object_get(root, "access_token");
		if (json_is_string(t))
			OPENSSL_cleanse((void *)json_string_value(t), json_string_length(t));
		json_decref(root);
	}
	if (h.body.data)
		OPENSSL_cleanse(h.body.data, h.body.len);
	http_call_release(&h);
	free(url);
	free(esc_scope);
	free(esc_service);
	free(realm);
	free(service);
	free_secret(basic);
	return ret;
}

/* Learn from a 401's challenge how this registry wants to be spoken to. */
static int take_challenge(struct reg_registry *r, const char *header)
{
	struct reg_challenges chs = {0};
	const struct reg_challenge *ch;
	int ret = -EACCES;

	if (!header || reg_wwwauth_parse(header, &chs) < 0)
		goto out;
	ch = reg_challenges_find(&chs, "bearer");
	if (ch && reg_challenge_param(ch, "realm")) {
		const char *realm = reg_challenge_param(ch, "realm");
		const char *service = reg_challenge_param(ch, "service");

		pthread_mutex_lock(&r->lock);
		free(r->realm);
		free(r->service);
		r->realm = strdup(realm);
		r->service = service ? strdup(service) : NULL;
		r->auth = AUTH_BEARER;
		pthread_mutex_unlock(&r->lock);
		ret = 0;
	} else if (reg_challenges_find(&chs, "basic")) {
		pthread_mutex_lock(&r->lock);
		r->auth = AUTH_BASIC;
		pthread_mutex_unlock(&r->lock);
		ret = 0;
	}
out:
	reg_challenges_release(&chs);
	return ret;
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
				take_challenge(r, h.www_auth);
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

		free_secret(auth);
		auth = foreign ? NULL : auth_for_scope(r, scope);
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
			if (take_challenge(r, h->www_auth) == 0) {
				bool bearer;

				pthread_mutex_lock(&r->lock);
				bearer = r->auth == AUTH_BEARER;
				pthread_mutex_unlock(&r->lock);
				if (!bearer || fetch_token(r, scope) == 0)
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
		code = error_code(&h->body);
		ret = reg_status_errno(h->status, code);
		/* "not there" is an answer, not a failure: lookups probe for it */
		log_msg(ret == -ENOENT ? LOG_LVL_DEBUG : LOG_LVL_ERR, "%s: HTTP %ld%s%s from '%s'",
			what, h->status, code ? " " : "", code ? code : "", r->host);
		goto out;
	}
out:
	free(code);
	free_secret(auth);
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
		esc_from = url_escape(from_repo);
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
	free(c->auth_file);
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
	if (o && o->auth_file)
		c->auth_file = strdup(o->auth_file);
	while (o && o->insecure && o->insecure[n])
		n++;
	c->insecure = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; c->insecure && i < n; i++)
		c->insecure[i] = strdup(o->insecure[i]);
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (!c->share || !c->insecure) {
		reg_client_free(c);
		return -ENOMEM;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
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
	free(c);
}
