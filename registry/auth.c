/*
 * Authentication: what to send to a registry for a scope.  Basic
 * credentials come from the credentials files (creds.c); Bearer tokens are
 * fetched from the realm a 401 challenge names, kept per scope and renewed
 * before they expire.  Secrets are wiped when dropped and never logged.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
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
 * none.  New secret string (http_free_secret). */
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
	http_free_secret((char *)b64);
	http_free_secret(plain);
	reg_creds_release(&cr);
	return ret;
}

/* A copy of the Authorization value to send to the registry for @scope, or
 * NULL.  New secret string (http_free_secret). */
char *auth_header_for(struct reg_registry *r, const char *scope)
{
	char *ret = NULL;
	double now = http_now();
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
		ret = basic_auth(r, scope); /* reads files: not under the lock */
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
			http_free_secret(t->value);
			t->value = v;
			t->renew = http_now() + ttl - early;
		}
	}
	pthread_mutex_unlock(&r->lock);
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

/* Ask the token server at the registry's realm for a token for @scope. */
int auth_fetch_token(struct reg_registry *r, const char *scope)
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
	esc_service = service ? http_url_escape(service) : NULL;
	if (!esc_scope || (service && !esc_service) ||
	    asprintf(&url, "%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?", esc_scope,
		     esc_service ? "&service=" : "", esc_service ? esc_service : "") < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto out;
	}
	/* Basic credentials go to the token server, never a token.  r->auth
	 * stays BEARER: other threads send requests meanwhile. */
	basic = basic_auth(r, scope);

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
	http_free_secret(basic);
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

