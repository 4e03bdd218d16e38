/*
 * One HTTP exchange: pooled curl easy handles sharing DNS, connections and
 * TLS sessions; the response headers regfs cares about captured; the body
 * sent to a bounded buffer or a sink; a PUT body from memory or a file.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "registry/http.h"

/* --- small helpers ------------------------------------------------------- */

double http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void http_free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

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

void http_call_release(struct http_call *h)
{
	call_reset_headers(h);
	buf_release(&h->body, 0);
}

/* One exchange.  Returns 0 when an HTTP status was received (whatever it
 * was), -EIO for a transport failure (h->cc and h->errbuf say why). */
int http_perform(struct reg_client *c, bool plain, struct http_call *h)
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
		http_free_secret(line);
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
		/* an upload session (empty) or an OAuth2 form (send_bytes) */
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(h->send_bytes ? h->send_len : 0));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, h->send_bytes ? h->send_bytes : "");
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

