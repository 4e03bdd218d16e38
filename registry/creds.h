/*
 * Credentials for a registry, from the files docker and podman users
 * already have, merged.  The sources, most specific first (the first one
 * with credentials for the host and repository wins):
 *
 *   1. the mount option's file (-o auth_file=FILE)
 *   2. $REGISTRY_AUTH_FILE
 *   3. containers auth.json: $XDG_RUNTIME_DIR/containers/auth.json (when
 *      unset: /run/containers/$UID/auth.json), then
 *      ~/.config/containers/auth.json
 *   4. docker: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
 *
 * Every file is read the same way.  Inside one file a credential helper
 * comes first: "credHelpers" (host -> helper name) for the host, else
 * "credsStore" (one helper for every host) — `docker-credential-NAME get`
 * run with the server on stdin as docker runs it; a helper that has
 * nothing (non-zero exit, timeout, bad answer) gives way to the file's
 * "auths".  An "auths" entry holds "auth" (base64 user:password),
 * "username"/"password" and/or "identitytoken".  Its key may be a host,
 * host:port, a URL ("https://host/v1/": only its host counts) or
 * host/namespace[/repo]; the longest key that is "host/repo" or a
 * path-prefix of it wins (podman's rule).  docker.io, index.docker.io and
 * registry-1.docker.io are one registry (the Hub).
 *
 * The environment is read once, by reg_creds_store_new.  Each file is
 * parsed once per version (device, inode, size, mtime, ctime): a
 * `docker login` while mounted counts from the next request.  Helper
 * answers (found or not) are kept REG_CREDS_HELPER_TTL seconds.  Secrets
 * are never logged, and are wiped when dropped.
 */
#ifndef REGFS_REGISTRY_CREDS_H
#define REGFS_REGISTRY_CREDS_H

#include <stddef.h>

#include "common/limits.h"

#define REG_CREDS_HELPER_TIMEOUT_MS 10000   /* then the helper is killed */
#define REG_CREDS_HELPER_TTL 30             /* seconds a helper's answer is kept */

struct reg_creds {
	char *username;      /* owned, or NULL */
	char *password;      /* owned secret, or NULL */
	char *identitytoken; /* owned secret (OAuth2 refresh token), or NULL */
};

/*
 * All the credentials on the machine, merged: the store the client asks.
 * @auth_file (or NULL) is the mount option's file, the most specific
 * source (a relative path is taken from the current directory now).
 * Reads the environment (HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR,
 * DOCKER_CONFIG) now, not later.  Thread-safe.  *out is new
 * (reg_creds_store_free).  0 or -errno.
 */
struct reg_creds_store;
int reg_creds_store_new(const char *auth_file, struct reg_creds_store **out);
/* Whether @path is a credentials file regfs can read: a readable regular
 * file of at most REG_CREDS_FILE_MAX bytes holding a JSON object (what is
 * in it is looked at per lookup).  0, or -errno with the reason for people
 * in @why (@n bytes; never quoting the file).  For -o auth_file= at mount. */
int reg_creds_file_check(const char *path, char *why, size_t n);

/* NULL is a no-op.  No reg_creds_get may be running. */
void reg_creds_store_free(struct reg_creds_store *s);

/*
 * Credentials for repository @repo (NULL: the registry as a whole) of
 * @host as written in the tree ("localhost:5000", "docker.io").  Returns
 * 0 and fills @out (new secrets: reg_creds_release), -ENOENT when there
 * are none, or -ENOMEM.  A broken file or helper counts as none (and is
 * logged once, without its contents).  May run a credential helper (at
 * most REG_CREDS_HELPER_TIMEOUT_MS); never holds the store's lock while doing so.
 * -EINTR when the thread's wait is called off (common/cancel.h) while a
 * helper runs for it (it is killed) or for another thread (nothing is
 * remembered of that run).
 */
int reg_creds_get(struct reg_creds_store *s, const char *host, const char *repo,
		  struct reg_creds *out);
/* Wipe and free the secrets; @c is left zeroed. */
void reg_creds_release(struct reg_creds *c);

#endif
