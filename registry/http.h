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
 *   probe.c    hosts found unreachable: failing fast, the background prober,
 *              the RateLimit headers a registry sent
 *
 * Locks: client->lock protects the registry list, the handle pool and the
 * prober's state; registry->lock protects that registry's scheme, auth
 * state and tokens, and its TLS material until loaded, its resolved
 * mirrors, its state as a mirror (down_until, distrust), whether it is
 * reachable, and its rate limits; the share locks are curl's own.  None is
 * held across an HTTP request and none is taken while another is held, so
 * there is no lock order to keep.
 */
#ifndef REGFS_REGISTRY_HTTP_H
#define REGFS_REGISTRY_HTTP_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "registry/client.h"
#include "registry/creds.h"

#define POOL_KEEP 16              /* idle curl handles kept */
#define TOKEN_DEFAULT_TTL 60      /* seconds, when the token server omits expires_in */
#define TOKEN_EARLY 10            /* renew this many seconds before expiry */

enum scheme { SCHEME_UNKNOWN = 0, SCHEME_HTTPS, SCHEME_HTTP };
enum auth_kind { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

/*
 * One token scope of a registry (auth.c).  A registry keeps at most
 * REG_TOKEN_SCOPES_MAX of them, most recently used first: past that the
 * last one with no users is dropped.  Every field is under the registry's
 * lock; a thread that lets go of the lock while it holds a pointer to an
 * entry (to fetch its token, or to wait for another thread's fetch) counts
 * itself in @users first, so the entry is not freed under it.
 */
struct token {
	char *scope;    /* owned: "repository:onap/x:pull" */
	char *value;    /* owned secret, or NULL while the first one is fetched */
	double renew;   /* monotonic seconds: used until then, fetched again after */
	bool fetching;  /* one thread asks the token server; others wait */
	uint64_t fetches; /* fetches finished */
	int last_err;     /* how the last one ended: 0 or -errno */
	bool withheld;    /* @value was fetched without the credentials we hold (a realm
			   * they may not go to): anonymous */
	unsigned users;   /* threads holding this entry (token_get_locked): never dropped
			   * while not 0 */
	struct token *next; /* the next less recently used one */
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

/*
 * Whether a host can be reached (probe.c).  A host found unreachable (no
 * connection, no answer in time, a connection reset before an answer) is
 * marked so once, with one log line; while marked, a request to it fails
 * at once with @err when the failure made us wait (@slow), and the
 * background prober asks GET /v2/ until any answer comes back.
 */
struct reach {
	bool down;
	bool slow;          /* the failure took REG_QUICK_FAILURE or more */
	int err;            /* what requests answer meanwhile (-EIO) */
	double since;       /* mono_now() when marked */
	double next_probe;  /* mono_now() of the prober's next try */
	double probe_wait;  /* seconds before the try after that */
};

/* The last RateLimit-* (or ratelimit-*, Docker Hub's spelling) headers a
 * registry sent, and the Retry-After of its last 429: strings checked to
 * be printable, cut at REG_RATELIMIT_VALUE_MAX. */
struct ratelimit {
	char limit[REG_RATELIMIT_VALUE_MAX + 1];
	char remaining[REG_RATELIMIT_VALUE_MAX + 1];
	char reset[REG_RATELIMIT_VALUE_MAX + 1];
	char source[REG_RATELIMIT_VALUE_MAX + 1];      /* docker-ratelimit-source */
	char retry_after[REG_RATELIMIT_VALUE_MAX + 1]; /* of the last 429 */
	double seen;                                   /* time(NULL) of the last one, 0: none */
};

struct reg_registry {
	struct reg_client *client;
	char *host;     /* owned: as written in the tree */
	char *api_host; /* owned: where requests go */
	bool plain_ok;  /* the plain-HTTP rule allows http:// */
	char **mirror_hosts; /* owned, NULL-terminated: read mirrors of this registry, in order */
	size_t n_mirrors;
	struct reg_registry *next;
	/* Set only while a host named at the root is asked whether it answers
	 * (reg_client_registry_if_answers), before it is in the client's list:
	 * it is never marked unreachable (no prober), and its failures are
	 * logged under one rate limit for all such hosts (route.c). */
	bool trial;

	pthread_mutex_t lock; /* protects everything below */
	enum scheme scheme;
	bool scheme_finding;        /* a thread is finding the scheme now */
	pthread_cond_t scheme_done; /* it stopped (with lock) */
	enum auth_kind auth;
	char *realm;   /* owned: Bearer challenge realm */
	char *service; /* owned: Bearer challenge service, may be NULL */
	struct token *tokens;      /* owned, most recently used first */
	unsigned n_tokens;         /* entries in @tokens (over REG_TOKEN_SCOPES_MAX only
				    * while all are in use) */
	pthread_cond_t token_done; /* a token fetch finished (with lock) */
	bool tls_loaded;           /* @tls is read and immutable from now on */
	struct http_tls tls;
	struct reg_registry **mirrors; /* n_mirrors slots, each NULL until first used
					* (borrowed from the client's list) */
	double down_until;   /* as a mirror: unreachable, skipped until then (mono_now) */
	char (*distrust)[DIGEST_STR_LEN + 1]; /* as a mirror: digests it served wrong
					       * (DISTRUST_KEEP, a ring) */
	unsigned distrust_next;
	struct reach reach;        /* unreachable or not (probe.c) */
	struct ratelimit ratelimit; /* the last RateLimit headers it sent (probe.c) */
};

/* An idle curl easy handle and the multi handle that drives it (polled
 * so that a transfer notices in time that it is called off). */
struct pooled {
	CURL *easy;
	CURLM *multi;
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
	long connect_timeout; /* seconds to connect, and for the start of an answer */
	long stall_timeout;   /* seconds below REG_LOW_SPEED_MIN before giving up */
	long request_timeout; /* seconds one request may wait for an answer in all */
	int retries;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	bool stopping; /* atomic: reg_client_free has begun; transfers end */

	pthread_mutex_t lock; /* protects registries, pool and the prober's state */
	struct reg_registry *registries; /* new ones go first; never removed */
	struct pooled *pool;
	int pool_n;
	pthread_t prober;
	bool prober_running; /* @prober is running (it clears this as it ends) */
	bool prober_joinable; /* @prober was started and not joined yet */
	uint64_t prober_gen;  /* hosts marked down so far: the prober ends only when
			       * none was while it looked */
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
	double answer_wait;   /* seconds the start of the answer may take once the
			       * request is sent (connecting included), 0 = no limit */
	double deadline;      /* route_request: mono_now() by which an answer must have
			       * started, over all tries and routes; 0: it sets one */
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
	char *rl_limit, *rl_remaining, *rl_reset, *rl_source; /* RateLimit-* headers */
	bool answered;        /* a status line came back */
	bool stale_conn;      /* the reply, on a connection reused from an earlier exchange,
			       * did not even start like HTTP: bytes an earlier answer sent
			       * past its Content-Length (curl closes the connection after
			       * this), so another try gets a fresh one */
	bool no_answer;       /* given up: no answer within @answer_wait */
	int local_err;        /* errno when this process could not make a socket (EMFILE,
			       * ENFILE, ENOBUFS, ENOMEM): our state, not the host's */
	bool answered_elsewhere; /* a redirect ended on another scheme, host or port: the
				  * answer (a 401's challenge above all) is that host's,
				  * not the registry's */
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
/* Free an idle handle pair (NULL is a no-op): reg_client_free, for the
 * pool. */
void http_pooled_free(struct pooled *p);
/* Free what exchanges left in @h (the captured headers, the body); the
 * inputs are the caller's.  @h may be used again. */
void http_call_release(struct http_call *h);
/* One exchange of @h (its outputs reset first) on a pooled curl handle;
 * http:// allowed as well when @plain.  Returns 0 when an HTTP status was
 * received (whatever it was), also when the body cap (h->too_big) or the
 * sink (h->sink_err) stopped the transfer; -EIO for a transport failure
 * (h->cc and h->errbuf say why; h->no_answer when the answer did not start
 * within h->answer_wait); -ENOMEM without a curl handle.  It honours the
 * thread's cancel scope (common/cancel.h): -CANCEL_WOULD_WAIT at once when
 * the thread may not wait; -EINTR at once, or within CANCEL_POLL_MS of the
 * scope (or cancel_all, or reg_client_free) calling it off, the transfer
 * abandoned.  Neither is a failure of the host: callers pass them on as
 * they are (http_call_off). */
int http_perform(struct reg_client *c, bool plain, struct http_call *h);
/* Whether @err is no failure but the caller's wait called off (-EINTR) or
 * forbidden (-CANCEL_WOULD_WAIT): passed on as it is, never logged as an
 * error, retried, counted against a host or a reason to ask a mirror. */
bool http_call_off(int err);
/* Whether the transport failure of @h (http_perform said -EIO) means its
 * host cannot be reached: no connection, no answer in time, the connection
 * dropped before an answer.  Not TLS refusals, not HTTP statuses. */
bool http_unreachable(const struct http_call *h);
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

/* --- probe.c -------------------------------------------------------------- */

/* Whether requests to @r fail at once now (it is marked unreachable after
 * a failure that made us wait): 0, or the -errno they answer. */
int reach_fail_fast(struct reg_registry *r);
/* Is @r marked unreachable (quick or slow)? */
bool reach_is_down(struct reg_registry *r);
/* @r could not be reached (a transport failure for which
 * http_unreachable holds, after @took seconds): mark it so and start the
 * prober.  Returns whether it was up until now (the caller logs the
 * failure as an error then, and at debug level when it was down already). */
bool reach_mark_down(struct reg_registry *r, double took);
/* @r answered (any HTTP status): clear the mark, saying so once. */
void reach_mark_up(struct reg_registry *r);
/* End the prober and wait for it (reg_client_free, after c->stopping). */
void prober_stop(struct reg_client *c);
/* Keep the RateLimit-* headers of @h, an answer from @r, if it has any. */
void ratelimit_take(struct reg_registry *r, const struct http_call *h);

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
/* The entry of @r's token list for @scope (made, without a token, when
 * missing), held: it is not freed until token_put_locked.  It becomes the
 * most recently used; making one may drop the least recently used entries
 * that no thread holds, to keep within REG_TOKEN_SCOPES_MAX.  Borrowed;
 * NULL on -ENOMEM.  Caller holds r->lock. */
struct token *token_get_locked(struct reg_registry *r, const char *scope);
/* Let go of @t, got from token_get_locked.  Caller holds r->lock. */
void token_put_locked(struct token *t);
/* Free a token entry taken out of its list, its token wiped (NULL is a
 * no-op): token_get_locked's evictions and registry_free. */
void token_free(struct token *t);
/* Learn from a 401's WWW-Authenticate how @r wants to be spoken to.
 * 0, or -EACCES when the challenge is unusable. */
int auth_take_challenge(struct reg_registry *r, const char *header);

#endif
