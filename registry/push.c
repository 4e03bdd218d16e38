/*
 * Pushes: the API calls the commit of a draft makes.  Whether a blob or a
 * manifest is there (HEAD), a blob made present (there already, mounted
 * from another repository of the registry, or uploaded in one PUT), a
 * manifest put under a tag or its digest.  They go to the registry itself,
 * never a mirror, and ask for push scope ("repository:<repo>:pull,push").
 */
#include "registry/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "registry/manifest.h"
#include "registry/names.h"
#include "registry/request.h"

/* The token scope for writing to @repo, also reading @from (or NULL). */
static char *push_scope(const char *repo, const char *from)
{
	char *scope = NULL;

	if (asprintf(&scope, "repository:%s:pull,push%s%s%s", repo, from ? " repository:" : "",
		     from ? from : "", from ? ":pull" : "") < 0)
		return NULL;
	return scope;
}

/* object_names with the push scope of @repo in *scope. */
static int push_names(const char *repo, const char *kind, const char *ref, char **path,
		      char **scope, char **what)
{
	int ret = object_names(repo, kind, ref, path, scope, what);

	free(*scope);
	*scope = NULL;
	if (ret == 0 && !(*scope = push_scope(repo, NULL)))
		ret = -ENOMEM;
	return ret;
}

int object_head(struct reg_registry *r, const char *repo, const char *kind, const char *ref,
		bool push, char digest[DIGEST_STR_LEN + 1])
{
	struct http_call h = {0};
	char *path, *scope, *what;
	int ret;

	ret = push ? push_names(repo, kind, ref, &path, &scope, &what)
		   : object_names(repo, kind, ref, &path, &scope, &what);
	if (ret == 0) {
		h.method = "HEAD";
		h.accept = strcmp(kind, "manifests") == 0 ? REG_MANIFEST_ACCEPT : NULL;
		h.total_timeout = 60;
		ret = registry_request(r, path, scope, what, &h);
	}
	if (digest)
		snprintf(digest, DIGEST_STR_LEN + 1, "%s",
			 ret == 0 && h.docker_digest && digest_is_valid(h.docker_digest)
				 ? h.docker_digest
				 : "");
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	return ret;
}

int reg_manifest_exists(struct reg_registry *r, const char *repo, const char *ref)
{
	return object_head(r, repo, "manifests", ref, true, NULL);
}

/* Where to PUT an upload's bytes: @location (absolute, or a path on the
 * registry) with digest=@digest added.  New string, or NULL when
 * @location is neither (or on -ENOMEM). */
static char *upload_path(const char *location, const char *digest)
{
	char *path = NULL;

	if (!location || (location[0] != '/' && strncmp(location, "https://", 8) != 0 &&
			  strncmp(location, "http://", 7) != 0))
		return NULL;
	if (asprintf(&path, "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?",
		     digest) < 0)
		return NULL;
	return path;
}

/* Start an upload of @digest to @repo, or mount it from @from_repo (or
 * NULL), with @scope: *location is where to PUT the bytes (new), or NULL
 * when the registry mounted the blob.  0 or -errno (logged). */
static int upload_start(struct reg_registry *r, const char *repo, const char *digest,
			const char *from_repo, const char *scope, const char *what,
			char **location)
{
	struct http_call h = {0};
	char *path = NULL, *esc_from = NULL;
	int ret = -ENOMEM;

	*location = NULL;
	if (from_repo && !(esc_from = http_url_escape(from_repo)))
		goto out;
	if (asprintf(&path, "/v2/%s/blobs/uploads/%s%s%s%s", repo, from_repo ? "?mount=" : "",
		     from_repo ? digest : "", from_repo ? "&from=" : "",
		     from_repo ? esc_from : "") < 0) {
		path = NULL;
		goto out;
	}
	h.method = "POST";
	h.total_timeout = 60;
	ret = registry_request(r, path, scope, what, &h);
	if (ret < 0 || h.status == 201) /* 201: mounted from @from_repo, nothing to send */
		goto out;
	*location = upload_path(h.location, digest);
	if (h.status != 202 || !*location) {
		log_err("%s on '%s': HTTP %ld without an upload location", what, r->host, h.status);
		free(*location);
		*location = NULL;
		ret = -EIO;
	}
out:
	http_call_release(&h);
	free(path);
	free(esc_from);
	return ret;
}

/* PUT the @size bytes of @fd to @location.  0 or -errno (logged). */
static int upload_put(struct reg_registry *r, const char *location, int fd, int64_t size,
		      const char *scope, const char *what)
{
	struct http_call h = {0};
	int ret;

	h.method = "PUT";
	h.send_type = "application/octet-stream";
	h.send_fd = fd;
	h.send_len = (size_t)size;
	h.total_timeout = 0; /* a big layer takes what it takes; the stall limit applies */
	ret = registry_request(r, location, scope, what, &h);
	http_call_release(&h);
	return ret;
}

int reg_blob_push(struct reg_registry *r, const char *repo, const char *digest, int64_t size,
		  const char *from_repo, reg_blob_source_fn source, void *arg, const char **how)
{
	char *scope = NULL, *what = NULL, *location = NULL;
	int ret, fd = -1;

	*how = "failed";
	if (!digest_is_valid(digest) || !reg_name_is_repo(repo) || size < 0 ||
	    (from_repo && (!reg_name_is_repo(from_repo) || strcmp(from_repo, repo) == 0)))
		return -EINVAL;
	ret = object_head(r, repo, "blobs", digest, true, NULL);
	if (ret != -ENOENT) {
		if (ret == 0)
			*how = "present";
		return ret;
	}

	ret = -ENOMEM;
	scope = push_scope(repo, from_repo);
	if (!scope || asprintf(&what, "upload of blob '%s@%s'", repo, digest) < 0) {
		what = NULL;
		goto out;
	}
	ret = upload_start(r, repo, digest, from_repo, scope, what, &location);
	if (ret < 0)
		goto out;
	if (!location) {
		*how = "mounted";
		goto out;
	}
	fd = source(arg);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ret = upload_put(r, location, fd, size, scope, what);
	if (ret == 0)
		*how = "uploaded";
out:
	if (fd >= 0)
		close(fd);
	free(scope);
	free(what);
	free(location);
	return ret;
}

int reg_manifest_put(struct reg_registry *r, const char *repo, const char *ref,
		     const char *media_type, const char *bytes, size_t len)
{
	struct http_call h = {0};
	char *path, *scope, *what;
	char digest[DIGEST_STR_LEN + 1];
	int ret;

	ret = push_names(repo, "manifests", ref, &path, &scope, &what);
	if (ret < 0)
		goto out;
	digest_of(bytes, len, digest);
	if (digest_is_valid(ref) && strcmp(ref, digest) != 0)
		BUG("manifest pushed by a digest that is not its own");
	h.method = "PUT";
	h.send_type = media_type;
	h.send_bytes = bytes;
	h.send_len = len;
	h.total_timeout = 120;
	ret = registry_request(r, path, scope, what, &h);
	if (ret == 0 && h.docker_digest && strcmp(h.docker_digest, digest) != 0) {
		log_err("push of %s to '%s': the registry stored %s, regfs sent %s", what, r->host,
			h.docker_digest, digest);
		ret = -EIO;
	}
out:
	http_call_release(&h);
	free(path);
	free(scope);
	free(what);
	return ret;
}
