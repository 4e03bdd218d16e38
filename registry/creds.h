/*
 * Credentials for a registry host, from the files docker users already
 * have.  For now: the "auths" section of a docker config.json
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json, or an explicit
 * file), entries with "auth" (base64 user:password), "username"/"password"
 * or "identitytoken".  Keys may be a bare host, host:port, or a URL
 * ("https://index.docker.io/v1/" for the Hub).
 */
#ifndef REGFS_REGISTRY_CREDS_H
#define REGFS_REGISTRY_CREDS_H

struct reg_creds {
	char *username;      /* owned, or NULL */
	char *password;      /* owned secret, or NULL */
	char *identitytoken; /* owned secret (OAuth2 refresh token), or NULL */
};

/* Look up @host in @file (NULL: the default docker config).  Returns 0 and
 * fills @out (release with reg_creds_release), or -ENOENT when there are
 * none, or -errno. */
int reg_creds_lookup(const char *file, const char *host, struct reg_creds *out);

/*
 * All the credentials on the machine, merged: the store the client asks.
 * @auth_file (or NULL) is the mount option's file, the most specific
 * source.  Thread-safe.  *out is new (reg_creds_store_free).  0 or -errno.
 */
struct reg_creds_store;
int reg_creds_store_new(const char *auth_file, struct reg_creds_store **out);
void reg_creds_store_free(struct reg_creds_store *s); /* NULL is a no-op */

/*
 * Credentials for repository @repo (NULL: the registry as a whole) of
 * @host as written in the tree ("localhost:5000", "docker.io").  Returns
 * 0 and fills @out (release with reg_creds_release), -ENOENT when there
 * are none, or -errno.  Never logs a secret.
 */
int reg_creds_get(struct reg_creds_store *s, const char *host, const char *repo,
		  struct reg_creds *out);
/* Wipe and free the secrets. */
void reg_creds_release(struct reg_creds *c);

#endif
