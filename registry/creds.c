/*
 * Reading docker's config.json for registry credentials.  The file is read
 * on each lookup (it is small, and a `docker login` while mounted should
 * take effect); the client caches what it gets per registry.
 */
#include "registry/creds.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static char *default_config_path(void)
{
	const char *dir = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");
	char *p = NULL;

	if (dir && *dir) {
		if (asprintf(&p, "%s/config.json", dir) < 0)
			p = NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/.docker/config.json", home) < 0)
			p = NULL;
	}
	return p;
}

/* The host part of an auths key: "https://host:port/v1/" -> "host:port". */
static int key_matches(const char *key, const char *host)
{
	const char *k = key;
	size_t hl = strlen(host);

	if (strncmp(k, "https://", 8) == 0)
		k += 8;
	else if (strncmp(k, "http://", 7) == 0)
		k += 7;
	if (strncmp(k, host, hl) != 0)
		return 0;
	return k[hl] == '\0' || k[hl] == '/';
}

static char *dup_secret(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Decode base64 "user:password" into the two fields. */
static int decode_auth(const char *b64, struct reg_creds *out)
{
	size_t n = strlen(b64);
	unsigned char *raw;
	int len, ret = -EINVAL;
	char *colon;

	if (n == 0 || n > 16384 || n % 4)
		return -EINVAL;
	raw = malloc(n + 1);
	if (!raw)
		return -ENOMEM;
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (len < 0)
		goto out;
	/* EVP_DecodeBlock counts '=' padding as zero bytes */
	while (n && b64[n - 1] == '=') {
		n--;
		len--;
	}
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len))
		goto out;
	colon = strchr((char *)raw, ':');
	if (!colon)
		goto out;
	*colon = '\0';
	out->username = strdup((char *)raw);
	out->password = strdup(colon + 1);
	ret = (out->username && out->password) ? 0 : -ENOMEM;
out:
	OPENSSL_cleanse(raw, n + 1);
	free(raw);
	return ret;
}

int reg_creds_lookup(const char *file, const char *host, struct reg_creds *out)
{
	char *path = file ? strdup(file) : default_config_path();
	const char *lookup_host = host;
	json_t *root = NULL, *auths, *entry;
	const char *key;
	json_error_t jerr;
	int ret = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (!path)
		return -ENOENT;
	if (strcmp(host, "docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0)
		lookup_host = "index.docker.io";
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		if (file)
			log_warn("credentials '%s': %s", path, jerr.text);
		goto out;
	}
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths))
		goto out;
	json_object_foreach(auths, key, entry) {
		const char *auth, *user, *pass, *idt;

		if (!json_is_object(entry) || !key_matches(key, lookup_host))
			continue;
		auth = json_string_value(json_object_get(entry, "auth"));
		user = json_string_value(json_object_get(entry, "username"));
		pass = json_string_value(json_object_get(entry, "password"));
		idt = json_string_value(json_object_get(entry, "identitytoken"));
		if (auth && *auth) {
			ret = decode_auth(auth, out);
			if (ret < 0)
				log_warn("credentials for '%s' in '%s': undecodable auth", host, path);
		} else if (user && pass) {
			out->username = strdup(user);
			out->password = dup_secret(pass);
			ret = (out->username && out->password) ? 0 : -ENOMEM;
		}
		if (idt && *idt) {
			out->identitytoken = dup_secret(idt);
			if (ret == -ENOENT)
				ret = out->identitytoken ? 0 : -ENOMEM;
		}
		if (ret == 0)
			break;
	}
out:
	if (ret < 0)
		reg_creds_release(out);
	json_decref(root); /* holds secrets too, but jansson offers no wipe */
	free(path);
	return ret;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void reg_creds_release(struct reg_creds *c)
{
	free(c->username);
	free_secret(c->password);
	free_secret(c->identitytoken);
	memset(c, 0, sizeof(*c));
}

/* --- the store (for now: the one docker config, read on every lookup) ---- */

struct reg_creds_store {
	char *auth_file; /* or NULL: the default docker config */
};

int reg_creds_store_new(const char *auth_file, struct reg_creds_store **out)
{
	struct reg_creds_store *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (auth_file && !(s->auth_file = strdup(auth_file))) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void reg_creds_store_free(struct reg_creds_store *s)
{
	if (!s)
		return;
	free(s->auth_file);
	free(s);
}

int reg_creds_get(struct reg_creds_store *s, const char *host, const char *repo,
		  struct reg_creds *out)
{
	(void)repo;
	return reg_creds_lookup(s->auth_file, host, out);
}
