/*
 * The registry client: the client itself (options, the curl share, the
 * credentials store), the registries it knows, and the one table from
 * HTTP statuses and registry error codes to errno.  The API calls are in
 * pull.c (listings, manifests, blobs) and push.c (the commit's calls);
 * route.c takes each of their requests to a registry or a mirror of it
 * (the scheme, auth, retries); http.c does one exchange.  See
 * registry/http.h for the shared state and the locks.
 */
#include "registry/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry/http.h"
#include "registry/names.h"

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

bool client_allows_plain(const struct reg_client *c, const char *host)
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
		token_free(t);
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
	pthread_cond_destroy(&r->scheme_done);
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

/* A new registry for @host, in no list yet (registry_free it), or NULL. */
static struct reg_registry *registry_new(struct reg_client *c, const char *host)
{
	struct reg_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->client = c;
	r->host = strdup(host);
	r->api_host = strdup(api_host_of(host));
	r->plain_ok = client_allows_plain(c, host);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->token_done, NULL);
	pthread_cond_init(&r->scheme_done, NULL);
	if (!r->host || !r->api_host || registry_set_mirrors(r, c) < 0) {
		registry_free(r);
		return NULL;
	}
	return r;
}

/* The listed registry for @host, or NULL. */
static struct reg_registry *registry_find_locked(struct reg_client *c, const char *host)
{
	struct reg_registry *r;

	for (r = c->registries; r; r = r->next)
		if (strcmp(r->host, host) == 0)
			break;
	return r;
}

int reg_client_registry(struct reg_client *c, const char *host, struct reg_registry **out)
{
	struct reg_registry *r, *fresh = NULL;

	*out = NULL;
	if (!reg_name_is_host(host))
		return -EINVAL;

	pthread_mutex_lock(&c->lock);
	r = registry_find_locked(c, host);
	if (!r && (fresh = registry_new(c, host))) {
		fresh->next = c->registries;
		c->registries = fresh;
		r = fresh;
	}
	pthread_mutex_unlock(&c->lock);
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}

int reg_client_registry_if_answers(struct reg_client *c, const char *host, bool may_add,
				   struct reg_registry **out, bool *added)
{
	struct reg_registry *r, *trial;
	int ret;

	*out = NULL;
	*added = false;
	if (!reg_name_is_host(host))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = registry_find_locked(c, host);
	pthread_mutex_unlock(&c->lock);
	if (r) {
		ret = reg_ping(r);
		*out = ret == 0 ? r : NULL;
		return ret;
	}
	if (!may_add)
		return -ENOSPC;
	/* asked on its own, out of the list: a host that does not answer
	 * leaves nothing behind (no entry, no background probe) */
	trial = registry_new(c, host);
	if (!trial)
		return -ENOMEM;
	trial->trial = true;
	ret = reg_ping(trial);
	if (ret < 0) {
		registry_free(trial);
		return ret;
	}
	trial->trial = false; /* no other thread has it yet */
	pthread_mutex_lock(&c->lock);
	r = registry_find_locked(c, host); /* taken in meanwhile by another lookup */
	if (!r) {
		trial->next = c->registries;
		c->registries = trial;
		r = trial;
		trial = NULL;
		*added = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (trial)
		registry_free(trial);
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
	c->connect_timeout = o && o->connect_timeout > 0 ? o->connect_timeout : REG_ANSWER_TIMEOUT;
	c->stall_timeout = o && o->stall_timeout > 0 ? o->stall_timeout : REG_STALL_TIMEOUT;
	/* a longer -o timeout= than the bound makes the bound longer: one try
	 * must fit in it */
	c->request_timeout = c->connect_timeout > REG_REQUEST_TIMEOUT ? c->connect_timeout
								      : REG_REQUEST_TIMEOUT;
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
	/* no request runs now (the contract), but the prober may */
	__atomic_store_n(&c->stopping, true, __ATOMIC_RELEASE);
	prober_stop(c);
	for (p = c->pool; p; p = pn) {
		pn = p->next;
		http_pooled_free(p);
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
