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
/* Wipe and free the secrets. */
void reg_creds_release(struct reg_creds *c);

#endif
