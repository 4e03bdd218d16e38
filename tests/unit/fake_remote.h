/*
 * A fake registry for the unit tests of the fs/ core: a struct fs_remote
 * (fs/remote.h) that answers from tables the test builds (configs, images,
 * indexes, tags), plus a whole struct fs around it with real caches and a
 * real draft store in a scratch directory.  It is what a real registry
 * cannot be in a unit test: fast, offline, and counting its requests.
 * Every integration test keeps the real docker-registry and a real mount.
 *
 * The tables are file-level state, built before any request; the counters
 * are counted atomically, as read-ahead threads (fs/prefetch.c, off unless
 * a test sets cfg.prefetch) make requests too.
 */
#ifndef REGFS_TESTS_FAKE_REMOTE_H
#define REGFS_TESTS_FAKE_REMOTE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/digest.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"

#include "check.h"

#define FAKE_MAX 256

#define MT_DOCKER_IMAGE "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_IMAGE "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

struct fake_object {
	char host[64];
	char repo[128];
	char tag[64]; /* "" for an object reachable by digest only */
	char digest[DIGEST_STR_LEN + 1];
	char *bytes;
	const char *media_type; /* NULL for a blob */
	int got;                /* requests for its bytes (GETs of a manifest, of a blob) */
};

static struct {
	struct fake_object v[FAKE_MAX];
	size_t n;
	bool no_catalog; /* the registry keeps its catalog (-ENOTSUP), as Docker Hub */
	int fail_tags, fail_gets; /* -errno every tags list / manifest GET answers, or 0 */
	int outage; /* -errno every request answers (a registry down, a 5xx), or 0 */
	/* requests made, by kind */
	int catalogs, tag_lists, gets, heads, blobs, pings;
} fake;

#define FAKE_COUNT(counter) __atomic_add_fetch(&(counter), 1, __ATOMIC_RELAXED)

static struct fake_object *fake_add(const char *host, const char *repo, const char *tag,
				    const char *media_type, char *bytes)
{
	struct fake_object *o = &fake.v[fake.n++];

	if (fake.n > FAKE_MAX) {
		fprintf(stderr, "fake registry: table full\n");
		exit(1);
	}
	snprintf(o->host, sizeof(o->host), "%s", host);
	snprintf(o->repo, sizeof(o->repo), "%s", repo);
	snprintf(o->tag, sizeof(o->tag), "%s", tag ? tag : "");
	o->media_type = media_type;
	o->bytes = bytes;
	digest_of(bytes, strlen(bytes), o->digest);
	return o;
}

static char *fake_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fake_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		perror("vasprintf");
		exit(1);
	}
	va_end(ap);
	return s;
}

/* An image of platform @os/@arch[/@variant] in @repo (tagged @tag unless
 * NULL), Docker or OCI types; returns its manifest's object. */
__attribute__((unused)) /* not every test builds every kind */
static struct fake_object *fake_image(const char *host, const char *repo, const char *tag,
				      bool oci, const char *os, const char *arch,
				      const char *variant)
{
	struct fake_object *cfg;
	char *v = variant ? fake_printf(",\"variant\":\"%s\"", variant) : strdup("");

	cfg = fake_add(host, repo, NULL, NULL,
		       fake_printf("{\"architecture\":\"%s\",\"os\":\"%s\"%s,\"rootfs\":"
				   "{\"type\":\"layers\",\"diff_ids\":[]}}", arch, os, v));
	free(v);
	return fake_add(host, repo, tag, oci ? MT_OCI_IMAGE : MT_DOCKER_IMAGE,
			fake_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
				    "\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\"},"
				    "\"layers\":[]}",
				    oci ? MT_OCI_IMAGE : MT_DOCKER_IMAGE,
				    oci ? "application/vnd.oci.image.config.v1+json"
					: "application/vnd.docker.container.image.v1+json",
				    strlen(cfg->bytes), cfg->digest));
}

/* A BuildKit attestation manifest for image @of, in @repo. */
__attribute__((unused)) /* not every test builds every kind */
static struct fake_object *fake_attestation(const char *host, const char *repo)
{
	struct fake_object *cfg = fake_add(host, repo, NULL, NULL,
					   strdup("{\"architecture\":\"unknown\",\"os\":\"unknown\","
						  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"));

	return fake_add(host, repo, NULL, MT_OCI_IMAGE,
			fake_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
				    "\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
				    "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[]}",
				    MT_OCI_IMAGE, strlen(cfg->bytes), cfg->digest));
}

/* One entry of an index: @o with platform @platform (JSON members, or
 * NULL: an attestation of @attests). */
struct fake_entry {
	const struct fake_object *o;
	const char *platform;
	const struct fake_object *attests;
};

/* An index (OCI, or a Docker list) of @n entries in @repo, tagged @tag. */
__attribute__((unused)) /* not every test builds every kind */
static struct fake_object *fake_index(const char *host, const char *repo, const char *tag,
				      bool oci, const struct fake_entry *e, size_t n)
{
	char *body = strdup(""), *next;

	for (size_t i = 0; i < n; i++) {
		char *extra = e[i].attests
			? fake_printf("\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},"
				      "\"annotations\":{\"vnd.docker.reference.digest\":\"%s\","
				      "\"vnd.docker.reference.type\":\"attestation-manifest\"}",
				      e[i].attests->digest)
			: fake_printf("\"platform\":{%s}", e[i].platform);

		next = fake_printf("%s%s{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",%s}",
				   body, i ? "," : "", e[i].o->media_type, strlen(e[i].o->bytes),
				   e[i].o->digest, extra);
		free(extra);
		free(body);
		body = next;
	}
	next = fake_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
			   oci ? MT_OCI_INDEX : MT_DOCKER_LIST, body);
	free(body);
	return fake_add(host, repo, tag, oci ? MT_OCI_INDEX : MT_DOCKER_LIST, next);
}

static void fake_reset(void)
{
	for (size_t i = 0; i < fake.n; i++)
		free(fake.v[i].bytes);
	memset(&fake, 0, sizeof(fake));
}

/* --- the struct fs_remote ------------------------------------------------ */

static bool fake_known_host(const char *host)
{
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.v[i].host, host) == 0)
			return true;
	return false;
}

static int strlist_add_unique(struct reg_strlist *l, const char *s)
{
	char **nv;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 0;
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->v[l->n] = strdup(s);
	return l->v[l->n++] ? 0 : -ENOMEM;
}

static int fake_admit(struct reg_client *c, const char *host, bool may_add,
		      struct reg_registry **out, bool *added)
{
	*out = NULL;
	*added = false;
	FAKE_COUNT(fake.pings);
	if (fake.outage)
		return fake.outage;
	if (!fake_known_host(host))
		return -ENXIO;
	if (!may_add)
		return -ENOSPC;
	*added = true; /* the fake does not tell "again" apart */
	return reg_client_registry(c, host, out);
}

static int fake_catalog(struct reg_registry *r, struct reg_strlist *out)
{
	memset(out, 0, sizeof(*out));
	FAKE_COUNT(fake.catalogs);
	if (fake.outage)
		return fake.outage;
	if (fake.no_catalog)
		return -ENOTSUP;
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.v[i].host, reg_registry_host(r)) == 0 && fake.v[i].tag[0] &&
		    strlist_add_unique(out, fake.v[i].repo) < 0)
			return -ENOMEM;
	return 0;
}

static int fake_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	memset(out, 0, sizeof(*out));
	FAKE_COUNT(fake.tag_lists);
	if (fake.outage)
		return fake.outage;
	if (fake.fail_tags)
		return fake.fail_tags;
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.v[i].host, reg_registry_host(r)) == 0 &&
		    strcmp(fake.v[i].repo, repo) == 0 && fake.v[i].tag[0] &&
		    strlist_add_unique(out, fake.v[i].tag) < 0)
			return -ENOMEM;
	return out->n ? 0 : -ENOENT;
}

static const struct fake_object *fake_find(struct reg_registry *r, const char *repo,
					   const char *ref, bool manifest)
{
	for (size_t i = 0; i < fake.n; i++) {
		const struct fake_object *o = &fake.v[i];

		if (strcmp(o->host, reg_registry_host(r)) != 0 || strcmp(o->repo, repo) != 0 ||
		    (manifest && !o->media_type))
			continue;
		if (strcmp(o->digest, ref) == 0 || strcmp(o->tag, ref) == 0)
			return o;
	}
	return NULL;
}

static int fake_manifest_get(struct reg_registry *r, const char *repo, const char *ref,
			     struct reg_fetched *out)
{
	const struct fake_object *o = fake_find(r, repo, ref, true);

	memset(out, 0, sizeof(*out));
	FAKE_COUNT(fake.gets);
	if (o)
		FAKE_COUNT(((struct fake_object *)o)->got);
	if (fake.outage)
		return fake.outage;
	if (fake.fail_gets)
		return fake.fail_gets;
	if (!o)
		return -ENOENT;
	out->bytes = strdup(o->bytes);
	out->len = strlen(o->bytes);
	out->media_type = strdup(o->media_type);
	memcpy(out->digest, o->digest, sizeof(out->digest));
	return out->bytes && out->media_type ? 0 : -ENOMEM;
}

static int fake_manifest_digest(struct reg_registry *r, const char *repo, const char *ref,
				char digest[DIGEST_STR_LEN + 1])
{
	const struct fake_object *o = fake_find(r, repo, ref, true);

	FAKE_COUNT(fake.heads);
	if (fake.outage)
		return fake.outage;
	if (!o)
		return -ENOENT;
	memcpy(digest, o->digest, DIGEST_STR_LEN + 1);
	return 0;
}

static int fake_blob_stream(struct reg_registry *r, const char *repo, const char *digest,
			    reg_sink_fn sink, void *arg)
{
	const struct fake_object *o = fake_find(r, repo, digest, false);

	FAKE_COUNT(fake.blobs);
	if (o)
		FAKE_COUNT(((struct fake_object *)o)->got);
	if (fake.outage)
		return fake.outage;
	if (!o)
		return -ENOENT;
	return sink(arg, o->bytes, strlen(o->bytes));
}

static int fake_blob_stream_url(struct reg_client *c, const char *url, reg_sink_fn sink,
				void *arg)
{
	(void)c;
	(void)url;
	(void)sink;
	(void)arg;
	return -ENOENT;
}

static const struct fs_remote fake_remote = {
	.admit = fake_admit,
	.catalog = fake_catalog,
	.tags = fake_tags,
	.manifest_get = fake_manifest_get,
	.manifest_digest = fake_manifest_digest,
	.blob_stream = fake_blob_stream,
	.blob_stream_url = fake_blob_stream_url,
};

/* --- a whole mount's core around it --------------------------------------- */

struct fake_fs {
	struct fs fs;
	char *dir; /* scratch: store/, state/ */
};

/* A struct fs on the fake registry, for @registries (NULL-terminated
 * hosts shown at the root), with empty caches and draft store. */
static void fake_fs_open(struct fake_fs *f, char **registries)
{
	struct reg_client_opts opts = {0};
	char *store = NULL, *state = NULL;

	memset(f, 0, sizeof(*f));
	f->dir = check_tmpdir_new("fs");
	if (asprintf(&store, "%s/store", f->dir) < 0 || asprintf(&state, "%s/state", f->dir) < 0 ||
	    mkdir(store, 0700) < 0 || mkdir(state, 0700) < 0) {
		perror("scratch");
		exit(1);
	}
	f->fs.cfg.registries = registries;
	f->fs.cfg.ttl = 60;
	f->fs.cfg.mountpoint = "/mnt/regfs-unit";
	f->fs.cfg.prefetch = -1; /* counts stay exact; a test of read ahead turns it on */
	f->fs.remote = &fake_remote;
	f->fs.mem = cache_mem_new(16u << 20);
	if (!f->fs.mem || reg_client_new(&opts, &f->fs.client) < 0 ||
	    cache_store_open(store, 1u << 30, &f->fs.store) < 0 ||
	    cache_drafts_open(state, &f->fs.drafts) < 0 || fs_init(&f->fs) < 0) {
		fprintf(stderr, "fake_fs_open: cannot set up\n");
		exit(1);
	}
	free(store);
	free(state);
}

static void fake_fs_close(struct fake_fs *f)
{
	fs_release(&f->fs);
	cache_drafts_close(f->fs.drafts);
	cache_store_free(f->fs.store);
	cache_mem_free(f->fs.mem);
	reg_client_free(f->fs.client);
	check_tmpdir_free(f->dir);
	memset(f, 0, sizeof(*f));
}

#endif
