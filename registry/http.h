/*
 * Inside the registry client (not for other rooms): the shared state of
 * its files.
 *
 *   client.c   the client, its registries, the errno table
 *   route.c    a request to a registry or a mirror: scheme, auth, retries
 *              (registry/request.h)
 *   pull.c     listings, manifests, blobs
 *   push.c     the commit's calls
 *   foreign.c  foreign layers, from URLs outside the registry
 *   http.c     one HTTP exchange on a pooled curl easy handle
 *   certsd.c   a registry's TLS material from certs.d directories
 *   auth.c     credentials to send, Bearer tokens, challenges
 *
 * Locks: client->lock protects the registry list and the handle pool;
 * registry->lock protects that registry's scheme, auth state and tokens,
 * and its TLS material until loaded, its resolved mirrors, and its state
 * as a mirror (down_until, distrust);
 * the share locks are curl's own.  None is held across an HTTP request and
 * none is taken while another is held, so there is no lock order to keep.
 */
#ifndef REGFS_REGISTRY_HTTP_H
#define REGFS_REGISTRY_HTTP_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "registry/client.h"
#include "registry/creds.h"

#define POOL_KEEP 16              /* idle curl handles kept */
#define TOKEN_DEFAULT_TTL 60      /* seconds, when the token server omits expires_in */
#define TOKEN_EARLY 10            /* renew this many seconds before expiry */

enum scheme { SCHEME_UNKNOWN = 0, SCHEME_HTTPS, SCHEME_HTTP };
enum auth_kind { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct token {
	char *scope;    /* owned: "repository:onap/x:pull" */
	char *value;    /* owned secret, or NULL while the first one is fetched */
	double renew;   /* monotonic seconds: used until then, fetched again after */
	bool fetching;  /* one thread asks the token server; others wait */
	uint64_t fetches; /* fetches finished */
	int last_err;     /* how the last one ended: 0 or -errno */
	bool withheld;    /* @value was fetched without the credentials we hold (a realm
			   * they may not go to): anonymous */
	struct token *next;
};

/*
 * The TLS material of one registry: the CAs it is verified with beyond the
 * system store and the client certificate it presents.  Read from disk
 * once, when the registry is first used (client.c registry_tls), and
 * immutable after that, so requests borrow it without a lock.
 */
struct http_tls {
	char *ca;        /* owned PEM: -o cafile= and the certs.d *.crt, or NULL: none */
	size_t ca_len;
	char *cert;      /* owned PEM client certificate, or NULL */
	size_t cert_len;
	char *key;       /* owned secret PEM key of @cert (wiped when released) */
	size_t key_len;
	char *dir;       /* owned: the certs.d directory used, or NULL; for log lines */
	char *cert_name; /* owned: file name of @cert in @dir, or NULL */
};

struct reg_registry {
	struct reg_client *client;
	char *host;     /* owned: as written in the tree */
	char *api_host; /* owned: where requests go */
	bool plain_ok;  /* the plain-HTTP rule allows http:// */
	char **mirror_hosts; /* owned, NULL-terminated: read mirrors of this registry, in order */
	size_t n_mirrors;
	struct reg_registry *next;

	pthread_mutex_t lock; /* protects everything below */
	enum scheme scheme;
	enum auth_kind auth;
	char *realm;   /* owned: Bearer challenge realm */
	char *service; /* owned: Bearer challenge service, may be NULL */
	struct token *tokens;
	pthread_cond_t token_done; /* a token fetch finished (with lock) */
	bool tls_loaded;           /* @tls is read and immutable from now on */
	struct http_tls tls;
	struct reg_registry **mirrors; /* n_mirrors slots, each NULL until first used
					* (borrowed from the client's list) */
	double down_until;   /* as a mirror: unreachable, skipped until then (mono_now) */
	char (*distrust)[DIGEST_STR_LEN + 1]; /* as a mirror: digests it served wrong
					       * (DISTRUST_KEEP, a ring) */
	unsigned distrust_next;
};

struct pooled {
	CURL *easy;
	struct pooled *next;
};

struct reg_mirror {
	char *origin_api; /* owned: the API host of the registry mirrored */
	char *mirror;     /* owned: the mirror's host */
};

struct reg_client {
	char *cafile;
	char *certs_dir; /* -o certs_dir=, searched before /etc/{containers,docker}/certs.d */
	char *sys_capath; /* curl's CA directory, kept when a registry brings its own CAs */
	char *sys_cainfo; /* curl's CA bundle: added to a registry's CAs when there is no
			   * CA directory */
	char **insecure; /* NULL-terminated */
	struct reg_mirror *mirrors; /* from -o mirror=, in order */
	size_t n_mirrors;
	struct reg_creds_store *creds;
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
	const struct http_tls *tls; /* borrowed: the registry's TLS material, or NULL: the
				     * system store and -o cafile= */

	/* out */
	long status;
	CURLcode cc;
	char errbuf[CURL_ERROR_SIZE]; /* a transport failure, said for people (TLS
				       * failures name the certificate problem) */
	long tls_verify;      /* X509 verify result of the peer's chain, 0 = ok */
	int tls_alert;        /* fatal TLS alert the server sent, or -1 */
	bool tls_spoken;      /* the peer answered in TLS (so it is no plain-HTTP server) */
	bool tls_cert_asked;  /* the server asked for a client certificate */
	struct buf body;      /* 2xx body (no sink) or error body */
	bool too_big;
	int sink_err;
	curl_off_t delivered; /* bytes handed to the sink */
	char *content_type, *docker_digest, *www_auth, *link, *retry_after, *content_range;
	char *location;
	bool creds_refused;   /* set by route_request (route.c): the final 401 was about
			       * our credentials (none or wrong for a Basic challenge, refused by
			       * the token server, or withheld from its realm), not about the
			       * scope of a token we got with all we have */
};

/* --- http.c --------------------------------------------------------------- */

/* The registry error code ("MANIFEST_UNKNOWN") of an error body: new
 * string or NULL. */
char *http_error_code(const struct buf *body);
/* Escaped for a URL query (new string or NULL). */
char *http_url_escape(const char *s);
/* The curl share's lock callbacks: c->share_locks, one per kind of data
 * (@userp is the client). */
void http_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp);
void http_share_unlock(CURL *h, curl_lock_data data, void *userp);
/* Free what exchanges left in @h (the captured headers, the body); the
 * inputs are the caller's.  @h may be used again. */
void http_call_release(struct http_call *h);
/* One exchange of @h (its outputs reset first) on a pooled curl handle;
 * http:// allowed as well when @plain.  Returns 0 when an HTTP status was
 * received (whatever it was), also when the body cap (h->too_big) or the
 * sink (h->sink_err) stopped the transfer; -EIO for a transport failure
 * (h->cc and h->errbuf say why); -ENOMEM without a curl handle. */
int http_perform(struct reg_client *c, bool plain, struct http_call *h);
/* Whether the transport failure of @h was TLS refusing the peer or the
 * peer refusing us (certificate verification, a fatal alert, our own
 * certificate unusable): not transient, and never a reason to try plain
 * HTTP. */
bool http_tls_refused(const struct http_call *h);
/* Release @t's contents (the key is wiped). */
void http_tls_release(struct http_tls *t);

/* --- certsd.c ------------------------------------------------------------- */

/* Read into @t (all new) the TLS material of registry @host: -o cafile=,
 * its certs.d directory, and, when that gives CAs and curl has no CA
 * directory, the system bundle too.  0, or -EIO (logged, naming the
 * file). */
int http_tls_load(const struct reg_client *c, const char *host, struct http_tls *t);
/* Where curl finds the system's CAs into c->sys_capath (its directory,
 * kept when a registry brings CAs of its own) and c->sys_cainfo (its bundle,
 * added to them where there is no directory); either may stay NULL. */
void http_tls_find_system_cas(struct reg_client *c);

/* --- client.c ------------------------------------------------------------- */

/* The plain-HTTP rule: whether @host ("host[:port]") may be spoken to over
 * http://: a loopback host, or one named by -o insecure= (case-insensitive). */
bool client_allows_plain(const struct reg_client *c, const char *host);
/* @r's TLS material (*out, borrowed; immutable once read): read on first
 * use.  0 or -EIO (logged; the next request tries again). */
int registry_tls(struct reg_registry *r, const struct http_tls **out);

/* --- auth.c --------------------------------------------------------------- */

/* The Authorization value to send to @r for @scope, or NULL (new secret
 * string: secret_free). */
char *auth_header_for(struct reg_registry *r, const char *scope);
/* Make a fresh token for @scope of @r's realm ready: one request to the
 * token server per scope of @r however many threads ask at once (the
 * others wait and share its outcome).  @rejected is the Authorization
 * value the registry just refused (or NULL): a token other than that one,
 * still valid, is used as it is.  *withheld says whether the token was
 * fetched without the credentials we hold (the realm may not have them).
 * 0, or -errno (the token server's failures logged; -ENOMEM not). */
int auth_fetch_token(struct reg_registry *r, const char *scope, const char *rejected,
		     bool *withheld);
/* Learn from a 401's WWW-Authenticate how @r wants to be spoken to.
 * 0, or -EACCES when the challenge is unusable. */
int auth_take_challenge(struct reg_registry *r, const char *header);

#endif
