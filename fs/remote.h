/*
 * The core's one door to registries for reading.  Every request fs/ makes
 * to learn what a path names or holds goes through a struct fs_remote:
 * regfs passes fs_remote_registry (the registry client, registry/client.h),
 * the unit tests a fake that answers from tables, so the resolver and list
 * planning can be tested without a network.  Pushes (commit_run) are not
 * reads and call the registry client directly.
 *
 * Each function is called as its registry/client.h namesake says, and
 * answers the same way: 0 or -errno by the one table (404 -ENOENT, refusals
 * -EACCES, outages -EIO, never -ENOENT for an outage).  Registry handles
 * come from reg_client_registry(), which needs no network, for the
 * registries regfs was given, and from admit for any other.
 */
#ifndef REGFS_FS_REMOTE_H
#define REGFS_FS_REMOTE_H

#include <stdbool.h>

#include "common/digest.h"
#include "registry/client.h"

struct fs_remote {
	/* a host named at the root that regfs was not given, taken in only
	 * once it answers (reg_client_registry_if_answers) */
	int (*admit)(struct reg_client *c, const char *host, bool may_add,
		     struct reg_registry **out, bool *added);
	/* /v2/ only: settles https or plain HTTP (reg_ping) */
	int (*ping)(struct reg_registry *r);
	int (*catalog)(struct reg_registry *r, struct reg_strlist *out);
	int (*tags)(struct reg_registry *r, const char *repo, struct reg_strlist *out);
	/* a manifest by tag or digest, verified as reg_manifest_get does */
	int (*manifest_get)(struct reg_registry *r, const char *repo, const char *ref,
			    struct reg_fetched *out);
	/* where a tag points (a HEAD) */
	int (*manifest_digest)(struct reg_registry *r, const char *repo, const char *ref,
			       char digest[DIGEST_STR_LEN + 1]);
	/* a blob's bytes to @sink; the caller verifies them */
	int (*blob_stream)(struct reg_registry *r, const char *repo, const char *digest,
			   reg_sink_fn sink, void *arg);
	/* a foreign layer from one of its URLs, without credentials */
	int (*blob_stream_url)(struct reg_client *c, const char *url, reg_sink_fn sink, void *arg);
	/* the referrers API (reg_referrers); NULL: there is none to ask */
	int (*referrers)(struct reg_registry *r, const char *repo, const char *digest,
			 struct reg_referrers *out);
};

/* The registries themselves, through registry/client.h. */
extern const struct fs_remote fs_remote_registry;
/* No network at all (-o offline): every request is -ENETDOWN, but for
 * listings, which are empty: a catalog the registry keeps (-ENOTSUP), a
 * repository without tags (-ENOENT). */
extern const struct fs_remote fs_remote_offline;

#endif
