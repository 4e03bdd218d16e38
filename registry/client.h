/*
 * The registry client: Distribution API v2 over libcurl.
 *
 * One struct reg_client per process holds the options, a curl share handle
 * (DNS, connections, TLS sessions), a pool of idle curl easy handles and
 * the known registries.  Each HTTP exchange takes a handle from the pool
 * (or a new one) and gives it back when done, so a handle belongs to one
 * thread at a time (curl's threading rule).  Any number of threads may
 * call in at once (reg_client_free only when none does); no lock is ever
 * held across an HTTP request.
 *
 * Reads (manifests, blobs, tags lists) go to a registry's -o mirror=
 * mirrors first, then to the registry itself; the catalog and pushes go to
 * the registry only.  Content asked for by digest is verified whoever
 * served it.
 *
 * Every call that asks a registry returns 0 or -errno, by one table
 * (reg_status_errno):
 *   404 or NAME/MANIFEST/BLOB_UNKNOWN   -> -ENOENT
 *   401, 403, DENIED, UNAUTHORIZED      -> -EACCES
 *   429, 503, TOOMANYREQUESTS           -> -EAGAIN (429 at once: its Retry-After
 *                                          is logged, never slept out)
 *   UNSUPPORTED                         -> -ENOTSUP
 *   a digest that does not verify       -> -EIO
 *   anything else (5xx, timeouts, refused connections, bad TLS) -> -EIO
 * and -EINVAL for a repository, tag or digest that is not a valid name
 * (nothing is asked then).  An outage is never -ENOENT.  Each failure of a
 * request is logged once, here, with its reason (host, repository, status
 * or curl error); callers do not log again.
 *
 * Waiting is bounded and can be called off.  One request, its retries and
 * mirrors together, gives up with -EIO when no answer has started within
 * REG_REQUEST_TIMEOUT seconds (common/limits.h); a body being received
 * only has to keep above REG_LOW_SPEED_MIN bytes a second.  A host found
 * unreachable is marked so (one log line, and one when it is back): while
 * it is, requests to it fail at once with -EIO, and a background prober
 * asks it again, backing off.  Every call honours the thread's cancel
 * scope (common/cancel.h): -CANCEL_WOULD_WAIT at once, before any I/O,
 * when the thread may not wait; -EINTR within CANCEL_POLL_MS when its
 * work is called off (also cancel_all()).  Neither is logged or held
 * against the registry.
 *
 * Nothing here knows about FUSE, inodes or the cache.
 */
#ifndef REGFS_REGISTRY_CLIENT_H
#define REGFS_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/limits.h"

struct reg_client;
struct reg_registry;

struct reg_client_opts {
	const char *cafile;          /* extra CA bundle (PEM) or NULL: system store */
	const char *certs_dir;       /* a certs.d-style directory searched before
				      * /etc/containers/certs.d and /etc/docker/certs.d, or NULL */
	const char *const *insecure; /* NULL-terminated hosts allowed plain HTTP, or NULL */
	const char *const *mirrors;  /* NULL-terminated "ORIGIN=MIRROR" or "MIRROR" (a mirror
				      * of docker.io): reads go to MIRROR first; or NULL */
	const char *auth_file;       /* the most specific credentials file, or NULL (creds.h) */
	long connect_timeout;        /* seconds to connect, and for an answer to start once
				      * asked; 0 = REG_ANSWER_TIMEOUT */
	long stall_timeout;          /* seconds below REG_LOW_SPEED_MIN bytes/s before giving
				      * up; 0 = REG_STALL_TIMEOUT */
	int retries;                 /* extra tries for transient failures; < 0 = 2 */
};

/* Whether @path is what -o cafile= needs: a readable regular file of at
 * most 1 MiB holding PEM certificates that parse (as curl will parse them).
 * 0, or -errno with the reason for people in @why (@n bytes). */
int reg_cafile_check(const char *path, char *why, size_t n);

/* New client (*out; free with reg_client_free).  0, -EINVAL for a mirror
 * that does not name hosts, -ENOMEM. */
int reg_client_new(const struct reg_client_opts *opts, struct reg_client **out);
void reg_client_free(struct reg_client *c); /* NULL is a no-op */

/*
 * The registry for @host as written in the tree ("localhost:5000",
 * "docker.io").  "docker.io" and "index.docker.io" speak to the Hub's API
 * host.  *out is borrowed and lives as long as the client.
 * Returns 0, -EINVAL for an invalid host name, -ENOMEM.
 */
int reg_client_registry(struct reg_client *c, const char *host, struct reg_registry **out);

/*
 * The registry for @host, a name looked up at the root that regfs was not
 * given: a host taken in before is pinged (reg_ping) and returned; a new
 * one is asked /v2/ on its own and taken in (kept, as reg_client_registry
 * keeps it) only once it answers, *added then true.  A host that does not
 * answer leaves nothing behind: no entry, no background probe, and its
 * failure is logged under one rate limit shared by all such hosts.  With
 * @may_add false a new host is -ENOSPC, not asked.  Otherwise 0 (*out
 * borrowed) or as reg_ping (-ENXIO: the name does not resolve), -EINVAL
 * for an invalid name.
 */
int reg_client_registry_if_answers(struct reg_client *c, const char *host, bool may_add,
				   struct reg_registry **out, bool *added);

/* The host name @r was asked for (borrowed). */
const char *reg_registry_host(const struct reg_registry *r);

/*
 * The last rate limits @r announced (RateLimit-Limit, -Remaining, -Reset,
 * in either spelling, Docker-RateLimit-Source, and the Retry-After of its
 * last 429) as one line of text into @buf (@n bytes, NUL-terminated):
 * "limit=100;w=21600 remaining=76;w=21600 reset=… source=… retry-after=…
 * seen=<unix time>", the parts it did not send left out.  0, -ENOENT when
 * it never sent any, -ERANGE when @n is too small (REG_RATELIMIT_TEXT_MAX
 * always does).  Never does I/O.
 */
int reg_registry_ratelimit(struct reg_registry *r, char *buf, size_t n);

/* Check that @r speaks the v2 API (200 or 401 on /v2/) and settle on
 * https, or on plain http where the plain-HTTP rule allows it (loopback
 * hosts, -o insecure=).  When @r cannot be reached but one of its mirrors
 * can, 0 (it is read through the mirror).  Returns -ENXIO when the host
 * name does not resolve, -EIO for a host without /v2/, else as the table
 * says. */
int reg_ping(struct reg_registry *r);

struct reg_strlist {
	char **v; /* owned strings */
	size_t n;
};
void reg_strlist_release(struct reg_strlist *l);

/* All repositories from _catalog, every page, invalid names skipped.
 * -ENOTSUP when the registry offers no catalog or keeps it from us (as
 * Docker Hub: 404, 403, or a 401 for a token got with all our credentials);
 * -EACCES when it wants credentials we lack (a 401 to none or wrong ones,
 * a token server that refuses us, or one they may not go to). */
int reg_catalog(struct reg_registry *r, struct reg_strlist *out);

/* All tags of @repo, every page, invalid names skipped. */
int reg_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out);

/* The referrers of a manifest, as the OCI 1.1 referrers API lists them. */
struct reg_referrers {
	char (*digests)[DIGEST_STR_LEN + 1]; /* owned */
	char **types; /* owned: each one's artifactType, "" when it gives none */
	size_t n;
};
void reg_referrers_release(struct reg_referrers *l);
/* The referrers of manifest @digest of @repo through the registry's
 * referrers API (GET /v2/<repo>/referrers/<digest>, every page, at most
 * REG_REFERRERS_MAX).  0; -ENOTSUP when the registry has no such API (a
 * 404); -EIO for an answer that is no index; -errno as any request. */
int reg_referrers(struct reg_registry *r, const char *repo, const char *digest,
		  struct reg_referrers *out);

struct reg_fetched {
	char *bytes;      /* owned, NUL-terminated */
	size_t len;
	char *media_type; /* owned Content-Type without parameters, or NULL */
	char digest[DIGEST_STR_LEN + 1];
};
void reg_fetched_release(struct reg_fetched *f);

/*
 * GET a manifest by tag or digest (@ref), at most REG_MANIFEST_MAX bytes.
 * out->digest is the sha256 of the bytes; by digest it must equal @ref, by
 * tag it must equal Docker-Content-Digest when the registry sends one;
 * otherwise -EIO and nothing is returned.
 */
int reg_manifest_get(struct reg_registry *r, const char *repo, const char *ref,
		     struct reg_fetched *out);

/*
 * Stream a blob to @sink, which returns 0 or -errno (stops the transfer).
 * A transfer cut off part-way is resumed with a Range request, so @sink
 * sees every byte exactly once, in order.  The caller verifies the digest
 * (the cache writer does); a blob from a mirror is checked here as well,
 * and one of at most 4 MiB that does not verify never reaches @sink (the
 * next source is asked).
 */
typedef int (*reg_sink_fn)(void *arg, const void *p, size_t len);
int reg_blob_stream(struct reg_registry *r, const char *repo, const char *digest,
		    reg_sink_fn sink, void *arg);

/* --- pushing (the commit of a draft) ----------------------------------------
 * These ask for push scope ("repository:<repo>:pull,push"). */

/* Whether manifest @ref is in @repo (HEAD): 0 when it is, -ENOENT when
 * not, else -errno. */
int reg_manifest_exists(struct reg_registry *r, const char *repo, const char *ref);

/* What tag (or digest) @ref of @repo points at now, asked with a HEAD
 * (pull scope; Docker Hub does not count HEADs against its pull limit),
 * or a GET where the registry answers a HEAD without Docker-Content-Digest.
 * 0 with @digest set, -ENOENT when there is no such manifest, else -errno. */
int reg_manifest_digest(struct reg_registry *r, const char *repo, const char *ref,
			char digest[DIGEST_STR_LEN + 1]);

/* Where the bytes of a blob come from when they have to be sent: returns a
 * new fd open for reading (read with pread from offset 0; the client
 * closes it) or -errno.  Called at most once, and only when needed. */
typedef int (*reg_blob_source_fn)(void *arg);

/*
 * Make blob @digest of @size bytes present in @repo: nothing to do when it
 * is there already; else, with @from_repo (another repository of the same
 * registry), a cross-repository mount; when the registry declines the
 * mount, or without @from_repo, the bytes from @source in one PUT (the
 * registry checks the digest).  *how says which ("present", "mounted",
 * "uploaded"; "failed" on an error; static).  0 or -errno.
 */
int reg_blob_push(struct reg_registry *r, const char *repo, const char *digest, int64_t size,
		  const char *from_repo, reg_blob_source_fn source, void *arg, const char **how);

/* PUT manifest @bytes (@media_type) as @ref (a tag, or the digest of
 * @bytes) of @repo.  A Docker-Content-Digest answer other than the digest
 * of @bytes is -EIO.  0 or -errno. */
int reg_manifest_put(struct reg_registry *r, const char *repo, const char *ref,
		     const char *media_type, const char *bytes, size_t len);

/*
 * Stream a foreign layer from @url (one of its descriptor's "urls") to
 * @sink, with no credentials: https, or http only for loopback and
 * -o insecure= hosts.  The caller verifies the digest.  0 or -errno.
 */
int reg_blob_stream_url(struct reg_client *c, const char *url, reg_sink_fn sink, void *arg);

/* The errno for an HTTP status and optional registry error code. */
int reg_status_errno(long status, const char *code);

#endif
