/*
 * Inside the registry client (not for other rooms): how the API calls of
 * pull.c and push.c make their requests.
 *
 *   route.c  routes (a registry, or a read mirror of it), the scheme
 *            (https, or http by the plain-HTTP rule), authentication
 *            (auth.c), bounded retries, resumed streams
 *   pull.c   the names of an API object (/v2/<repo>/<kind>/<ref>)
 *   push.c   its HEAD, with pull or push scope
 *
 * A read (manifests, blobs, tags lists) goes to the routes read_routes()
 * gives: the mirrors that are up, then the registry itself.  The catalog
 * and every push go to the registry only (registry_request).  See
 * registry/http.h for the shared state and the locks.
 */
#ifndef REGFS_REGISTRY_REQUEST_H
#define REGFS_REGISTRY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"
#include "common/log.h"
#include "registry/http.h"

#define ROUTES_MAX (REG_MIRRORS_MAX + 1) /* a read: the mirrors, then the registry */

struct route {
	struct reg_registry *r;      /* where the requests go (borrowed) */
	struct reg_registry *origin; /* non-NULL: @r is a read mirror of @origin; one try,
				      * failures are warnings and the caller goes on */
	const char *next;            /* with @origin: the host tried next (borrowed) */
};

/* --- route.c -------------------------------------------------------------- */

/* Where a read of @r goes, in order, into @rt (ROUTES_MAX slots): its
 * mirrors that are up and not known to have served @digest (or NULL) wrong,
 * then @r itself, always last.  Returns how many (at least 1). */
size_t read_routes(struct reg_registry *r, const char *digest, struct route *rt);

/* Whether a read that failed with @err on a mirror is worth asking the next
 * source: everything but our own mistakes (-EINVAL, -ENOMEM). */
bool route_fall_back_on(int err);

/* A read the mirror route @rt answered "not there" (-ENOENT) and the later
 * route @by served: the mirror lacks what it should hold, a warning (a
 * mirror's 404 alone is only debug: what is nowhere is an answer, and
 * lookups probe for names that are not there). */
void route_mirror_lacked(const struct route *rt, const char *what, const struct route *by);

/* Remember that mirror @m served @digest wrong: it is not asked for it
 * again (the DISTRUST_KEEP latest digests are kept). */
void mirror_distrust(struct reg_registry *m, const char *digest);

/* Log @fmt at @level; for a mirror at warning level (debug stays debug),
 * saying which mirror of what failed and who is asked next. */
void route_log(const struct route *rt, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Do @h against @rt's registry at @path (a path on the registry, or an
 * absolute URL such as an upload's Location, which gets no credentials
 * when it leaves the registry), authenticating for @scope and retrying
 * transient failures (a mirror gets one try: there is a next source).
 * @what names the request in log lines.  Returns 0 with h->status 2xx, or
 * -errno (logged here; h->creds_refused says what a final 401 was about);
 * -EINTR and -CANCEL_WOULD_WAIT as they are, not logged.  The answer must
 * start by h->deadline (set here when 0, to the client's request bound,
 * and again when a stream resumes after bytes came): callers that try
 * several routes for one read keep @h, and so one bound, across them.
 * A streaming call resumes from h->delivered with a Range request, also
 * when the bytes so far came from another route.  h->url, h->auth and
 * h->tls belong to this function: set for each exchange, NULL after.
 */
int route_request(const struct route *rt, const char *path, const char *scope, const char *what,
		  struct http_call *h);

/* GET /v2/ of @r once, for the prober (probe.c): over its scheme, or
 * https then http (the plain-HTTP rule) while it has none.  0 when any
 * answer came back (any HTTP status; TLS that refuses us is an answer
 * too), else -EIO (or -EINTR when called off) with @why (@n bytes) saying
 * why, for the log.  Marks nothing. */
int route_probe(struct reg_registry *r, char *why, size_t n);

/* route_request to @r itself (the catalog, pushes): no mirror. */
int registry_request(struct reg_registry *r, const char *path, const char *scope,
		     const char *what, struct http_call *h);

/* --- pull.c --------------------------------------------------------------- */

/* The path, pull scope and log name of /v2/<repo>/<kind>/<ref> (new
 * strings, the caller frees all three, also on error).  0, or -EINVAL for
 * an invalid @repo or @ref (a tag or a digest), or -ENOMEM. */
int object_names(const char *repo, const char *kind, const char *ref, char **path,
		 char **scope, char **what);

/* --- push.c --------------------------------------------------------------- */

/* HEAD /v2/<repo>/<kind>/<ref> on @r itself, with push scope (@push: the
 * commit asks in the scope it pushes with) or pull scope; @digest (or
 * NULL) receives the Docker-Content-Digest answered, "" when there was
 * none.  0 when it is there, -ENOENT when not, else -errno. */
int object_head(struct reg_registry *r, const char *repo, const char *kind, const char *ref,
		bool push, char digest[DIGEST_STR_LEN + 1]);

#endif
