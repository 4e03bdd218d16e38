/*
 * referrers/: what names a manifest as its subject (signatures, SBOMs,
 * attestations attached OCI 1.1 style), and cosign's tags for it.
 *
 *   .../tag/referrers/                         NODE_REFERRERS  referrers_list
 *   .../tag/referrers/<type>@sha256:<hex>/     NODE_MANIFEST   a manifest by digest, as any
 *                                              (and its own referrers/: they nest)
 *
 * Where they come from, for a manifest of digest sha256:<hex>, each at most
 * one request and every answer through the caches as tags and manifests are:
 *   - the fallback tag sha256-<hex> (OCI 1.1, for registries without the
 *     referrers API, as distribution, Docker Hub and GHCR are): an index
 *     whose entries are the referrers;
 *   - cosign's tags sha256-<hex>.sig, .att and .sbom: each is a referrer.
 * Both are found in the repository's tags list, which a lookup has at hand.
 * A registry with the referrers API (GET /v2/<name>/referrers/<digest>:
 * Harbor, ACR, Quay, distribution 3) is asked that instead of the fallback
 * tag, its answer kept for the TTL; one that answers 404 has none, and is
 * not asked again for the mount's life.  A referrer that carries a subject
 * other than this manifest is not shown here, and the log says so;
 * cosign's manifests carry none (their tag is what ties them).
 *
 * referrers/ is not in a manifest directory's listing: a walk of the
 * registry would otherwise ask for every manifest's referrers.  Named, it
 * is there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/mem.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/manifest.h"

#define REFERRERS_NAME "referrers"
#define TYPE_NAME_MAX 64

bool referrers_is_top(const char *name)
{
	return strcmp(name, REFERRERS_NAME) == 0;
}

bool referrers_is_plumbing_tag(const char *tag)
{
	const char *rest;

	if (strncmp(tag, "sha256-", 7) != 0 || strspn(tag + 7, "0123456789abcdef") != DIGEST_HEX_LEN)
		return false;
	rest = tag + 7 + DIGEST_HEX_LEN;
	return !*rest || !strcmp(rest, ".sig") || !strcmp(rest, ".att") || !strcmp(rest, ".sbom");
}

int referrers_lookup_top(struct fs *fs, struct node *parent, struct node **out)
{
	(void)fs;
	*out = node_new(parent, REFERRERS_NAME, NODE_REFERRERS);
	if (*out && parent->repo && !((*out)->repo = strdup(parent->repo))) {
		node_free(*out);
		*out = NULL;
	}
	/* even below an @sha256: directory: new signatures and SBOMs name a
	 * digest that never changes, so what lists them does */
	if (*out)
		(*out)->immutable = false;
	return *out ? 0 : -ENOMEM;
}

/* A referrer's artifact type made a short name: the well-known ones by
 * what they are, any other its media type (fs_name_from).  Into @out. */
static void type_name(const char *type, char *out, size_t n)
{
	static const struct {
		const char *type, *name;
	} known[] = {
		{"application/vnd.dev.cosign.artifact.sig.v1+json", "cosign-sig"},
		{"application/vnd.dev.cosign.simplesigning.v1+json", "cosign-sig"},
		{"application/vnd.dev.sigstore.bundle.v0.3+json", "sigstore-bundle"},
		{"application/vnd.cncf.notary.signature", "notary-sig"},
		{"application/spdx+json", "sbom.spdx"},
		{"application/vnd.spdx+json", "sbom.spdx"},
		{"text/spdx", "sbom.spdx"},
		{"application/vnd.cyclonedx+json", "sbom.cyclonedx"},
		{"application/vnd.cyclonedx+xml", "sbom.cyclonedx"},
		{"application/vnd.in-toto+json", "in-toto"},
	};

	if (!type || !*type) {
		snprintf(out, n, "artifact");
		return;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(type, known[i].type) == 0) {
			snprintf(out, n, "%s", known[i].name);
			return;
		}
	if (strncmp(type, "application/", 12) == 0)
		type += 12;
	if (strncmp(type, "vnd.", 4) == 0)
		type += 4;
	fs_name_from(type, TYPE_NAME_MAX, "artifact", out, n);
}

/* One referrer as referrers/ shows it. */
struct referrer {
	char digest[DIGEST_STR_LEN + 1];
	char name[TYPE_NAME_MAX + DIGEST_STR_LEN + 2];
	char type[REG_MEDIA_TYPE_MAX + 1]; /* artifact type, or "" */
};

struct referrer_set {
	struct referrer *v;
	size_t n, cap;
};

/* Add @digest, of artifact type @type (NULL: unknown yet), unless the set
 * has it (the first convention that names it wins).  0 or -ENOMEM. */
static int set_add(struct referrer_set *s, const char *digest, const char *type)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].digest, digest) == 0)
			return 0;
	if (s->n == REFERRERS_MAX)
		return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 8;
		struct referrer *nv = reallocarray(s->v, ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	snprintf(s->v[s->n].digest, sizeof(s->v[s->n].digest), "%s", digest);
	snprintf(s->v[s->n].type, sizeof(s->v[s->n].type), "%s", type ? type : "");
	s->n++;
	return 0;
}

/* The fallback tag's index for @subject: its entries join @s. */
static int from_fallback_tag(struct fs *fs, struct node *n, const char *tag, struct referrer_set *s)
{
	struct resolve_view iv;
	int ret = resolve_ref(fs, n->reg, n->repo, tag, false, &iv);

	if (ret == -ENOENT)
		return 0; /* listed a moment ago, gone now */
	if (ret < 0)
		return ret == -EINVAL ? 0 : ret;
	if (!reg_mtype_is_index(iv.m->type)) {
		log_warn("'%s:%s' is no index: not read as the referrers of a manifest", n->repo,
			 tag);
	} else {
		for (size_t i = 0; ret == 0 && i < iv.m->n_entries; i++)
			ret = set_add(s, iv.m->entries[i].digest, iv.m->entries[i].artifact_type);
	}
	resolve_view_release(&iv);
	return ret;
}

/* cosign's tag @tag: the manifest it names joins @s as @type. */
static int from_cosign_tag(struct fs *fs, struct node *n, const char *tag, const char *type,
			   struct referrer_set *s)
{
	struct resolve_view tv;
	int ret = resolve_ref(fs, n->reg, n->repo, tag, false, &tv);

	if (ret == -ENOENT || ret == -EINVAL)
		return 0;
	if (ret < 0)
		return ret;
	ret = set_add(s, tv.digest, type);
	resolve_view_release(&tv);
	return ret;
}

/*
 * Keep in @s what is a referrer of @subject: each read by digest (which
 * also checks it), its artifact type settled, those with another subject
 * dropped (and logged), then named.
 */
static int settle(struct fs *fs, struct node *n, const char *subject, struct referrer_set *s)
{
	size_t w = 0;
	int ret = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct referrer *r = &s->v[i];
		struct resolve_view rv;
		char short_name[TYPE_NAME_MAX + 1];

		ret = resolve_digest(fs, n->reg, n->repo, r->digest, NULL, &rv);
		if (ret == -EINVAL || ret == -ENOENT) {
			log_warn("referrer '%s@%s' of '%s': %s, not shown", n->repo, r->digest, subject,
				 ret == -ENOENT ? "the registry does not have it"
						: "not a manifest regfs can read");
			ret = 0;
			continue;
		}
		if (ret < 0)
			break;
		if (rv.m->has_subject && strcmp(rv.m->subject.digest, subject) != 0) {
			log_warn("referrer '%s@%s' is listed for '%s' but its subject is '%s': not "
				 "shown there", n->repo, r->digest, subject, rv.m->subject.digest);
			resolve_view_release(&rv);
			continue;
		}
		if (!r->type[0]) {
			/* OCI 1.1: artifactType, else the config's media type */
			const char *t = rv.m->artifact_type ? rv.m->artifact_type
				      : reg_mtype_is_image(rv.m->type) ? rv.m->config.media_type
									: NULL;

			snprintf(r->type, sizeof(r->type), "%s", t ? t : "");
		}
		resolve_view_release(&rv);
		type_name(r->type, short_name, sizeof(short_name));
		snprintf(r->name, sizeof(r->name), "%s@%s", short_name, r->digest);
		s->v[w++] = *r;
	}
	s->n = w;
	return ret;
}

/* The referrers API's answer for @subject as kept in memory: a line
 * "<digest> <artifact type>" per referrer.  Into @s. */
static int api_answer_add(const char *text, size_t len, struct referrer_set *s)
{
	const char *p = text, *end = text + len;
	int ret = 0;

	while (ret == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char digest[DIGEST_STR_LEN + 1], type[REG_MEDIA_TYPE_MAX + 1];

		if (l > DIGEST_STR_LEN && p[DIGEST_STR_LEN] == ' ' &&
		    l - DIGEST_STR_LEN - 1 <= REG_MEDIA_TYPE_MAX) {
			memcpy(digest, p, DIGEST_STR_LEN);
			digest[DIGEST_STR_LEN] = '\0';
			memcpy(type, p + DIGEST_STR_LEN + 1, l - DIGEST_STR_LEN - 1);
			type[l - DIGEST_STR_LEN - 1] = '\0';
			ret = set_add(s, digest, type[0] ? type : NULL);
		}
		p += l + 1;
	}
	return ret;
}

/*
 * The referrers of @subject through the registry's referrers API, into @s:
 * *@asked says whether the registry has one (else the fallback tag is
 * read).  The answer is kept for the TTL, "no API" for the mount.
 */
static int from_api(struct fs *fs, struct node *n, const char *subject, struct referrer_set *s,
		    bool *asked)
{
	const char *host = reg_registry_host(n->reg);
	char *none_key = fs_strdup_printf("referrers-api-none %s", host);
	char *key = fs_strdup_printf("referrers %s %s %s", host, n->repo, subject);
	struct reg_referrers l = {0};
	struct buf b = BUF_INIT(SIZE_MAX);
	char *val = NULL;
	size_t len;
	int ret = -ENOMEM;

	*asked = false;
	if (!none_key || !key)
		goto out;
	ret = 0;
	if (!fs->remote->referrers || cache_mem_get(fs->mem, none_key, &val, &len) == 0)
		goto out;
	*asked = true;
	if (cache_mem_get(fs->mem, key, &val, &len) == 0) {
		ret = api_answer_add(val, len, s);
		goto out;
	}
	ret = fs->remote->referrers(n->reg, n->repo, subject, &l);
	if (ret == -ENOTSUP) {
		log_info("registry '%s' has no referrers API: referrers are read from fallback "
			 "tags", host);
		cache_mem_put(fs->mem, none_key, "", 0, CACHE_MEM_FOREVER);
		*asked = false;
		ret = 0;
		goto out;
	}
	for (size_t i = 0; ret == 0 && i < l.n; i++) {
		ret = buf_append(&b, l.digests[i], DIGEST_STR_LEN);
		if (ret == 0)
			ret = buf_append(&b, " ", 1);
		if (ret == 0)
			ret = buf_append(&b, l.types[i], strlen(l.types[i]));
		if (ret == 0)
			ret = buf_append(&b, "\n", 1);
	}
	if (ret == 0) {
		cache_mem_put(fs->mem, key, b.data ? b.data : "", b.len, fs->cfg.ttl);
		ret = api_answer_add(b.data ? b.data : "", b.len, s);
	}
out:
	reg_referrers_release(&l);
	buf_release(&b, 0);
	free(val);
	free(none_key);
	free(key);
	return ret;
}

/* The referrers of the manifest referrers/ @n is in. */
static int referrers_collect(struct fs *fs, struct node *n, struct referrer_set *s)
{
	static const struct {
		const char *suffix, *type;
	} cosign[] = {
		{".sig", "application/vnd.dev.cosign.artifact.sig.v1+json"},
		{".att", "application/vnd.dev.cosign.artifact.att.v1+json"},
		{".sbom", "application/vnd.dev.cosign.artifact.sbom.v1+json"},
	};
	const struct resolve_listing *tags = NULL;
	char subject[DIGEST_STR_LEN + 1], tag[DIGEST_STR_LEN + 8];
	struct resolve_view v;
	bool api = false;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = tree_view_manifest(fs, n, &v);
	if (ret < 0)
		return ret;
	snprintf(subject, sizeof(subject), "%s", v.digest);
	resolve_view_release(&v);
	ret = from_api(fs, n, subject, s, &api);
	if (ret == 0)
		ret = resolve_tags(fs, n->reg, n->repo, &tags);
	if (ret == -ENOENT)
		ret = 0; /* no tags: no fallback tag, no cosign tag */
	if (ret < 0 || !tags)
		goto settle;
	/* sha256:<hex> -> sha256-<hex> */
	snprintf(tag, sizeof(tag), "sha256-%s", subject + 7);
	if (!api && resolve_listing_has(tags, tag))
		ret = from_fallback_tag(fs, n, tag, s);
	for (size_t i = 0; ret == 0 && i < sizeof(cosign) / sizeof(cosign[0]); i++) {
		snprintf(tag, sizeof(tag), "sha256-%s%s", subject + 7, cosign[i].suffix);
		if (resolve_listing_has(tags, tag))
			ret = from_cosign_tag(fs, n, tag, cosign[i].type, s);
	}
	resolve_listing_put(tags);
settle:
	if (ret == 0)
		ret = settle(fs, n, subject, s);
	if (ret < 0) {
		free(s->v);
		memset(s, 0, sizeof(*s));
	}
	return ret;
}

int referrers_list(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct referrer_set s;
	int ret = referrers_collect(fs, n, &s);

	for (size_t i = 0; ret == 0 && i < s.n; i++)
		ret = tree_listing_add(out, s.v[i].name, NODE_MANIFEST);
	free(s.v);
	return ret;
}

int referrers_lookup(struct fs *fs, struct node *n, const char *name, struct node **out)
{
	struct referrer_set s;
	int ret;

	*out = NULL;
	if (!strstr(name, "@sha256:"))
		return -ENOENT;
	ret = referrers_collect(fs, n, &s);
	for (size_t i = 0; ret == 0 && i < s.n; i++) {
		if (strcmp(s.v[i].name, name) != 0)
			continue;
		*out = node_new(n, name, NODE_MANIFEST);
		if (*out && ((n->repo && !((*out)->repo = strdup(n->repo))) ||
			     !((*out)->ref = strdup(s.v[i].digest)))) {
			node_free(*out);
			*out = NULL;
		}
		if (*out)
			(*out)->immutable = true; /* fixed by its digest */
		ret = *out ? 1 : -ENOMEM;
	}
	free(s.v);
	return ret == 1 ? 0 : ret == 0 ? -ENOENT : ret;
}

int referrers_artifact_type(const struct reg_manifest *m, char **val)
{
	const char *t = m->artifact_type;

	*val = NULL;
	if (!t && reg_mtype_is_image(m->type) && m->config.media_type &&
	    strcmp(m->config.media_type, "application/vnd.oci.image.config.v1+json") != 0 &&
	    strcmp(m->config.media_type, "application/vnd.docker.container.image.v1+json") != 0)
		t = m->config.media_type; /* OCI 1.1: an artifact says what it is here */
	if (!t)
		return -ENODATA;
	*val = strdup(t);
	return *val ? 0 : -ENOMEM;
}
