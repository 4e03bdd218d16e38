/*
 * Authentication: what to send to a registry for a scope.  Basic
 * credentials come from the credentials files (creds.c); Bearer tokens are
 * fetched from the realm a 401 challenge names, kept per scope (at most
 * REG_TOKEN_SCOPES_MAX scopes a registry, the least recently used dropped
 * first) and renewed before they expire.  Secrets are wiped when dropped
 * and never logged.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
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
#include "registry/creds.h"
#include "registry/http.h"
#include "registry/manifest.h"
#include "registry/wwwauth.h"

/* The repository a token scope is about ("repository:a/b:pull" -> "a/b",
 * the first one when there are several), or NULL.  New string. */
static char *scope_repo(const char *scope)
{
	const char *p = scope && strncmp(scope, "repository:", 11) == 0 ? scope + 11 : NULL;
	const char *end = p ? strchr(p, ':') : NULL;

	return end ? strndup(p, (size_t)(end - p)) : NULL;
}

/* "Basic <base64 user:password>" for @r's host (and the repository of
 * @scope, for credentials kept per namespace), or NULL when there are
 * none.  New secret string (secret_free). */
static char *basic_auth(struct reg_registry *r, const char *scope)
{
	struct reg_creds cr;
	char *plain = NULL, *ret = NULL, *repo = scope_repo(scope);
	unsigned char *b64 = NULL;
	int n, got;

	got = reg_creds_get(r->client->creds, r->host, repo, &cr);
	free(repo);
	if (got < 0)
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
	secret_free((char *)b64);
	secret_free(plain);
	reg_creds_release(&cr);
	return ret;
}

/* --- the token list: one entry per scope, most recently used first ------- */

void token_free(struct token *t)
{
	if (!t)
		return;
	free(t->scope);
	secret_free(t->value);
	free(t);
}

/* @r's entry for @scope, made the most recently used (first), or NULL.
 * Borrowed.  A list of at most REG_TOKEN_SCOPES_MAX is searched as it is:
 * the scopes in use come first. */
static struct token *token_find_locked(struct reg_registry *r, const char *scope)
{
	struct token **p, *t;

	for (p = &r->tokens; (t = *p); p = &t->next) {
		if (strcmp(t->scope, scope) == 0) {
			*p = t->next;
			t->next = r->tokens;
			r->tokens = t;
			return t;
		}
	}
	return NULL;
}

/* Drop the least recently used entries no thread holds while @r has more
 * than REG_TOKEN_SCOPES_MAX.  When every one is held the list stays over
 * the cap: a reader is never made to wait for room. */
static void tokens_trim_locked(struct reg_registry *r)
{
	while (r->n_tokens > REG_TOKEN_SCOPES_MAX) {
		struct token **victim = NULL, *t;

		for (struct token **p = &r->tokens; *p; p = &(*p)->next)
			if ((*p)->users == 0)
				victim = p; /* the last idle one: least recently used */
		if (!victim)
			return;
		t = *victim;
		*victim = t->next;
		r->n_tokens--;
		token_free(t);
	}
}

struct token *token_get_locked(struct reg_registry *r, const char *scope)
{
	struct token *t = token_find_locked(r, scope);

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || !(t->scope = strdup(scope))) {
			free(t);
			return NULL;
		}
		t->next = r->tokens;
		r->tokens = t;
		r->n_tokens++;
	}
	t->users++; /* before the trim: the entry asked for is never the one dropped */
	tokens_trim_locked(r);
	return t;
}

void token_put_locked(struct token *t)
{
	if (t->users == 0)
		BUG("token entry let go of more often than held");
	t->users--;
}

/* A copy of the Authorization value to send to the registry for @scope, or
 * NULL.  New secret string (secret_free). */
char *auth_header_for(struct reg_registry *r, const char *scope)
{
	char *ret = NULL;
	double now = mono_now();
	enum auth_kind kind;

	pthread_mutex_lock(&r->lock);
	kind = r->auth;
	if (kind == AUTH_BEARER) {
		struct token *t = token_find_locked(r, scope);

		if (t && t->value && t->renew > now && asprintf(&ret, "Bearer %s", t->value) < 0)
			ret = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (kind == AUTH_BASIC)
		ret = basic_auth(r, scope); /* may stat files or run a helper: not under the lock */
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
		char *one = strndup(scope, n), *esc = one ? http_url_escape(one) : NULL;

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

/* Seconds since the epoch of an RFC 3339 time ("2026-11-27T01:00:00Z",
 * fraction and offset allowed), or -1. */
static double parse_issued_at(const char *s)
{
	struct tm tm;
	const char *p;
	double t;

	memset(&tm, 0, sizeof(tm));
	p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return -1;
	t = (double)timegm(&tm);
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		return *++p ? -1 : t;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = atoi(p + 1), mm = atoi(p + 4), sign = *p == '+' ? -1 : 1;

		return t + sign * (hh * 3600 + mm * 60);
	}
	return -1;
}

/* How long a token answer is good for: expires_in (TOKEN_DEFAULT_TTL when
 * absent), counted from issued_at when the server sent one and the clocks
 * roughly agree. */
static double token_ttl(json_t *root)
{
	json_t *e = json_object_get(root, "expires_in");
	double ttl = TOKEN_DEFAULT_TTL, issued, age;

	if (json_is_integer(e) && json_integer_value(e) > 0 &&
	    json_integer_value(e) < 86400 * 365)
		ttl = (double)json_integer_value(e);
	issued = parse_issued_at(json_string_value(json_object_get(root, "issued_at")));
	if (issued > 0) {
		age = (double)time(NULL) - issued;
		if (age > 0 && age < ttl)
			ttl -= age; /* a skewed clock is ignored, not trusted */
	}
	return ttl;
}

/* Wipe the secret strings of a token answer before jansson frees them. */
static void token_answer_free(json_t *root)
{
	static const char *const secret_keys[] = {"token", "access_token", "refresh_token"};

	for (size_t i = 0; root && i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++) {
		json_t *t = json_object_get(root, secret_keys[i]);

		if (json_is_string(t))
			OPENSSL_cleanse((void *)json_string_value(t), json_string_length(t));
	}
	json_decref(root);
}

/* The OAuth2 form that trades an identity token (docker's refresh token)
 * for an access token.  New secret string or NULL. */
static char *refresh_form(const char *identitytoken, const char *service, const char *scope)
{
	char *tok = http_url_escape(identitytoken), *svc = service ? http_url_escape(service) : NULL;
	char *scopes = scope_params(scope), *form = NULL;

	if (tok && (!service || svc) && scopes &&
	    asprintf(&form, "grant_type=refresh_token&client_id=regfs&refresh_token=%s%s%s%s%s",
		     tok, svc ? "&service=" : "", svc ? svc : "", *scopes ? "&" : "", scopes) < 0)
		form = NULL;
	secret_free(tok);
	free(svc);
	free(scopes);
	return form;
}

/* Is @realm a URL on @r's API host (same host and port)? */
static bool realm_on_registry_host(const struct reg_registry *r, const char *realm)
{
	const char *p = strstr(realm, "://");
	size_t n = strlen(r->api_host);

	return p && strncmp(p + 3, r->api_host, n) == 0 &&
	       (p[3 + n] == '/' || p[3 + n] == '\0' || p[3 + n] == '?');
}

/* The length of the host name in authority @a ("host[:port]",
 * "[v6][:port]", @len bytes), the port left out. */
static size_t host_name_len(const char *a, size_t len)
{
	const char *end;

	if (len && a[0] == '[') {
		end = memchr(a, ']', len);
		return end ? (size_t)(end - a) + 1 : len;
	}
	end = memchr(a, ':', len);
	return end ? (size_t)(end - a) : len;
}

/*
 * Whether the user's credentials for @r may go to token realm @realm.
 * Over https they may (the realm's certificate is verified).  Over plain
 * http only to the registry's own host name, any port (token servers
 * often listen beside the registry), and only when that host is allowed
 * plain HTTP (loopback, -o insecure=): the credentials would otherwise
 * cross the network in cleartext to a host the user never allowed it for.
 * *authority is a new string, the realm's "host[:port]" for the log, or
 * NULL.
 */
static bool realm_may_have_credentials(const struct reg_registry *r, const char *realm,
				       char **authority)
{
	const char *a = strstr(realm, "://"), *at;
	size_t n, hn;

	*authority = NULL;
	if (strncmp(realm, "https://", 8) == 0)
		return true;
	if (!a)
		return false;
	a += 3;
	n = strcspn(a, "/?#");
	at = memrchr(a, '@', n);
	/* the log names the host, never user information */
	*authority = at ? strndup(at + 1, n - (size_t)(at + 1 - a)) : strndup(a, n);
	if (at)
		return false; /* not a plain host to compare */
	hn = host_name_len(a, n);
	return r->plain_ok && hn == host_name_len(r->api_host, strlen(r->api_host)) &&
	       strncasecmp(a, r->api_host, hn) == 0;
}

/* The realm and service of @r's last Bearer challenge (new strings), and
 * whether the token server is spoken to over plain HTTP (*plain): only
 * when the realm is http:// and so is the registry.  0, -EACCES for a
 * realm that may not be used (logged), -EIO without one. */
static int token_realm(struct reg_registry *r, char **realm, char **service, bool *plain)
{
	bool registry_plain;

	pthread_mutex_lock(&r->lock);
	*realm = r->realm ? strdup(r->realm) : NULL;
	*service = r->service ? strdup(r->service) : NULL;
	registry_plain = r->scheme == SCHEME_HTTP;
	pthread_mutex_unlock(&r->lock);
	if (!*realm)
		return -EIO;
	if (strncmp(*realm, "https://", 8) != 0 &&
	    !(registry_plain && strncmp(*realm, "http://", 7) == 0)) {
		log_err("registry '%s': token realm is not https, refusing it", r->host);
		return -EACCES;
	}
	/* an https realm is never left for http (redirects included) */
	*plain = strncmp(*realm, "http://", 7) == 0;
	return 0;
}

/* The credentials for @r's token server at @realm, for repository @repo
 * (or NULL), into @cr (new secrets, or empty): returns whether they may go
 * there (realm_may_have_credentials).  When they may not, @cr is left
 * empty, and when there were some *withheld is set (and the log says why). */
static bool token_credentials(struct reg_registry *r, const char *realm, const char *repo,
			      struct reg_creds *cr, bool *withheld)
{
	char *authority = NULL;
	bool send = realm_may_have_credentials(r, realm, &authority);

	if (reg_creds_get(r->client->creds, r->host, repo, cr) == 0 && !send &&
	    (cr->identitytoken || (cr->username && cr->password))) {
		log_warn("registry '%s': not sending credentials to token realm '%s': plain HTTP "
			 "to a host other than the registry's; asking for an anonymous token",
			 r->host, authority ? authority : "?");
		reg_creds_release(cr);
		*withheld = true;
	}
	free(authority);
	return send;
}

/* What a token request owns while it is made. */
struct token_request {
	char *url;   /* owned */
	char *form;  /* owned secret: the OAuth2 form, or NULL */
	char *basic; /* owned secret: the Authorization value, or NULL */
};

static void token_request_release(struct token_request *q)
{
	free(q->url);
	secret_free(q->form);
	secret_free(q->basic);
	memset(q, 0, sizeof(*q));
}

/*
 * Make @h the request to the token server at @realm (@service, or NULL)
 * for @scope, its strings in @q: with an identity token in @cr (and
 * @send_creds) an OAuth2 POST, else a GET, with @r's Basic credentials
 * when @send_creds.  Several scopes (a push that mounts from another
 * repository) go as one scope= parameter each.  0 or -ENOMEM.
 */
static int token_request_make(struct reg_registry *r, const char *scope, const char *realm,
			      const char *service, const struct reg_creds *cr, bool send_creds,
			      struct http_call *h, struct token_request *q)
{
	char *esc_scope = NULL, *esc_service = NULL;

	if (send_creds && cr->identitytoken)
		q->form = refresh_form(cr->identitytoken, service, scope);
	if (q->form) {
		h->method = "POST";
		h->send_type = "application/x-www-form-urlencoded";
		h->send_bytes = q->form;
		h->send_len = strlen(q->form);
		q->url = strdup(realm);
	} else {
		esc_scope = scope_params(scope);
		esc_service = service ? http_url_escape(service) : NULL;
		if (esc_scope && (!service || esc_service) &&
		    asprintf(&q->url, "%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
			     esc_scope, esc_service ? "&service=" : "",
			     esc_service ? esc_service : "") < 0)
			q->url = NULL;
		q->basic = send_creds ? basic_auth(r, scope) : NULL;
		h->auth = q->basic;
	}
	free(esc_scope);
	free(esc_service);
	if (!q->url)
		return -ENOMEM;
	h->url = q->url;
	h->max = REG_TOKEN_ANSWER_MAX;
	h->total_timeout = 60;
	h->answer_wait = (double)r->client->connect_timeout;
	return 0;
}

/* The token the token server answered @h with for @scope of @r: *value
 * (new secret) and *ttl.  @identity: it was asked with an identity token
 * (for the log).  0, -EACCES or another -errno for a refusal, -EIO
 * without a token or for an answer over REG_TOKEN_ANSWER_MAX (logged),
 * -ENOMEM. */
static int token_answer(struct reg_registry *r, const char *scope, const struct http_call *h,
			bool identity, char **value, double *ttl)
{
	const char *tok;
	json_t *root;
	int ret;

	if (h->status != 200) {
		log_err("token for '%s' on '%s': HTTP %ld from the token server%s", scope, r->host,
			h->status, identity ? " (identity token)" : "");
		ret = reg_status_errno(h->status, NULL);
		return ret == -ENOENT ? -EACCES : ret; /* no token is a refusal, not a missing file */
	}
	if (h->too_big) {
		/* the token server failing, not refusing us: EIO, as for an
		 * answer without a token */
		log_err("token for '%s' on '%s': token answer larger than %u bytes, refused", scope,
			r->host, REG_TOKEN_ANSWER_MAX);
		return -EIO;
	}
	root = json_loadb(h->body.data, h->body.len, 0, NULL);
	tok = json_string_value(json_object_get(root, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(root, "access_token"));
	if (!tok || !*tok) {
		log_err("token for '%s' on '%s': the token server sent no token", scope, r->host);
		ret = -EIO;
	} else {
		*value = strdup(tok);
		*ttl = token_ttl(root);
		ret = *value ? 0 : -ENOMEM;
	}
	token_answer_free(root);
	return ret;
}

/*
 * One request to the token server at @r's realm for @scope: with an
 * identity token an OAuth2 POST, else a GET with the Basic credentials (or
 * none).  Only the token server ever sees the credentials, and only where
 * realm_may_have_credentials() allows it; elsewhere the request goes
 * without them (an anonymous token), the log says why and *withheld is
 * set.  *value is a new secret, *ttl its lifetime.
 */
static int request_token(struct reg_registry *r, const char *scope, char **value, double *ttl,
			 bool *withheld)
{
	struct http_call h = {0};
	struct reg_creds cr = {0};
	struct token_request q = {0};
	char *realm = NULL, *service = NULL, *repo = scope_repo(scope);
	const struct http_tls *tls = NULL;
	bool plain = false, send_creds;
	int ret;

	*value = NULL;
	*withheld = false;
	ret = token_realm(r, &realm, &service, &plain);
	if (ret < 0)
		goto out;
	send_creds = token_credentials(r, realm, repo, &cr, withheld);
	ret = token_request_make(r, scope, realm, service, &cr, send_creds, &h, &q);
	if (ret < 0)
		goto out;
	/* a token server on the registry's own host is trusted as the registry
	 * is (its certs.d CA, its client certificate); another host gets the
	 * system store and -o cafile only, and never the registry's client
	 * certificate */
	if (realm_on_registry_host(r, realm) && registry_tls(r, &tls) == 0)
		h.tls = tls;
	ret = http_perform(r->client, plain, &h);
	if (http_call_off(ret))
		goto out;
	if (ret < 0) {
		log_err("token for '%s' from '%s': %s", scope, r->host, h.errbuf);
		ret = -EIO;
		goto out;
	}
	ret = token_answer(r, scope, &h, q.form != NULL, value, ttl);
out:
	buf_release(&h.body, 1); /* the token */
	http_call_release(&h);
	reg_creds_release(&cr);
	token_request_release(&q);
	free(realm);
	free(service);
	free(repo);
	return ret;
}

static bool token_is(const struct token *t, const char *authorization)
{
	return authorization && strncmp(authorization, "Bearer ", 7) == 0 &&
	       strcmp(authorization + 7, t->value) == 0;
}

/* Wait (holding r->lock, which the wait lets go of) while another thread
 * fetches @t, asking every CANCEL_POLL_MS whether this thread's wait is
 * called off.  0, or -EINTR. */
static int token_wait_locked(struct reg_registry *r, const struct token *t)
{
	while (t->fetching) {
		if (cancel_requested())
			return -EINTR;
		cancel_cond_wait(&r->token_done, &r->lock, CLOCK_REALTIME);
	}
	return 0;
}

int auth_fetch_token(struct reg_registry *r, const char *scope, const char *rejected,
		     bool *withheld)
{
	struct token *t;
	char *value = NULL;
	double ttl = 0, early;
	uint64_t seen;
	bool anonymous = false;
	int ret;

	*withheld = false;
	if (!cancel_may_wait())
		return -CANCEL_WOULD_WAIT;
	pthread_mutex_lock(&r->lock);
	t = token_get_locked(r, scope); /* held: not dropped while we wait or fetch */
	if (!t) {
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	seen = t->fetches;
	ret = token_wait_locked(r, t);
	if (ret < 0)
		goto out;
	/* another thread fetched while we waited: its answer is ours (unless
	 * its own wait was called off: that says nothing of the token server) */
	if (t->fetches != seen && t->last_err && !http_call_off(t->last_err)) {
		ret = t->last_err;
		goto out;
	}
	if (t->value && t->renew > mono_now() && !token_is(t, rejected)) {
		*withheld = t->withheld;
		ret = 0;
		goto out;
	}
	t->fetching = true;
	pthread_mutex_unlock(&r->lock);

	ret = request_token(r, scope, &value, &ttl, &anonymous);

	pthread_mutex_lock(&r->lock);
	t->fetching = false;
	t->fetches++;
	t->last_err = ret;
	if (ret == 0) {
		/* renewed TOKEN_EARLY seconds before it expires, or half way
		 * through its life when that is shorter (a token server may
		 * hand out tokens of a few seconds) */
		early = ttl > 2 * TOKEN_EARLY ? TOKEN_EARLY : ttl / 2;
		secret_free(t->value);
		t->value = value;
		value = NULL;
		t->renew = mono_now() + ttl - early;
		t->withheld = anonymous;
		*withheld = anonymous;
	}
	pthread_cond_broadcast(&r->token_done);
out:
	token_put_locked(t);
	pthread_mutex_unlock(&r->lock);
	secret_free(value);
	return ret;
}

/* Learn from a 401's challenge how this registry wants to be spoken to. */
int auth_take_challenge(struct reg_registry *r, const char *header)
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

