/*
 * attestations/: the in-toto statements BuildKit attaches to an image in
 * its index, as files.  An index's attestation manifest (an entry of
 * platform unknown/unknown annotated vnd.docker.reference.type:
 * attestation-manifest) names the image it is about in
 * vnd.docker.reference.digest; its layers are the statements, each an
 * SBOM, provenance, or any other predicate.
 *
 *   .../list/linux-amd64/attestations/            NODE_ATTESTS  attest_list, attest_lookup
 *   .../attestations/sbom.spdx.json               NODE_FILE     the predicate alone
 *                                                 (FILE_ATTEST_PREDICATE, attest_predicate)
 *   .../attestations/sbom.spdx.statement.json     NODE_LAYER    the statement as stored (a blob)
 *
 * A statement is named by its predicate type (the layer's
 * in-toto.io/predicate-type annotation, else the statement's own
 * predicateType): SPDX "sbom.spdx", CycloneDX "sbom.cyclonedx", SLSA
 * provenance "provenance.slsa", anything else its URL made a name.  So
 * `jq '.packages[].name' .../attestations/sbom.spdx.json` reads the SBOM.
 * The attestation manifest itself stays reachable by digest.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/mem.h"
#include "cache/store.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "registry/manifest.h"

#define ATTESTS_NAME "attestations"
#define STATEMENT_SUFFIX ".statement.json"
#define PREDICATE_SUFFIX ".json"
#define ITEM_NAME_MAX 120

bool attest_is_top(const char *name)
{
	return strcmp(name, ATTESTS_NAME) == 0;
}

/* The entry of index @idx that attests image @digest, or -1. */
static long attestation_entry(const struct reg_manifest *idx, const char *digest)
{
	for (size_t i = 0; reg_mtype_is_index(idx->type) && i < idx->n_entries; i++) {
		const struct reg_descriptor *d = &idx->entries[i];

		if (d->reference_type && strcmp(d->reference_type, "attestation-manifest") == 0 &&
		    d->reference_digest && strcmp(d->reference_digest, digest) == 0)
			return (long)i;
	}
	return -1;
}

/*
 * The attestation manifest of image @v, whose directory is @dir (an entry
 * of an index), into *@att (a view, released by the caller).  -ENOENT
 * when @dir is no index's entry or the index attests nothing about it.
 */
static int attestation_of(struct fs *fs, struct node *dir, const struct resolve_view *v,
			  struct resolve_view *att)
{
	struct resolve_view idx;
	long i;
	int ret;

	memset(att, 0, sizeof(*att));
	if (dir->kind != NODE_MANIFEST || dir->ref || !dir->parent)
		return -ENOENT;
	ret = tree_view_manifest(fs, dir->parent, &idx);
	if (ret < 0)
		return ret;
	i = attestation_entry(idx.m, v->digest);
	if (i < 0) {
		resolve_view_release(&idx);
		return -ENOENT;
	}
	ret = resolve_digest(fs, dir->reg, dir->repo, idx.m->entries[i].digest,
			     idx.m->entries[i].media_type, att);
	resolve_view_release(&idx);
	if (ret == -EINVAL) {
		log_err("attestation manifest of '%s@%s': not a manifest regfs can read",
			dir->repo, v->digest);
		ret = -EIO;
	}
	if (ret == 0 && !reg_mtype_is_image(att->m->type)) {
		resolve_view_release(att);
		ret = -EIO;
	}
	return ret;
}

int attest_has(struct fs *fs, struct node *dir, const struct resolve_view *v)
{
	struct resolve_view idx;
	int ret;

	if (dir->kind != NODE_MANIFEST || dir->ref || !dir->parent)
		return 0;
	/* the index alone says: the attestation manifest is not asked for */
	ret = tree_view_manifest(fs, dir->parent, &idx);
	if (ret < 0)
		return ret;
	ret = attestation_entry(idx.m, v->digest) >= 0;
	resolve_view_release(&idx);
	return ret;
}

int attest_lookup_top(struct fs *fs, struct node *parent, const struct resolve_view *v,
		      struct node **out)
{
	struct resolve_view att;
	int ret = attestation_of(fs, parent, v, &att);

	*out = NULL;
	if (ret < 0)
		return ret;
	resolve_view_release(&att);
	*out = node_new(parent, ATTESTS_NAME, NODE_ATTESTS);
	if (*out && parent->repo && !((*out)->repo = strdup(parent->repo))) {
		node_free(*out);
		*out = NULL;
	}
	return *out ? 0 : -ENOMEM;
}

/* Statement @d (a blob of @n's repository) read whole: a new buffer. */
static int statement_read(struct fs *fs, struct node *n, const char *digest, int64_t size,
			  char **bytes, size_t *len)
{
	int ret;

	if (size > (int64_t)ATTEST_STATEMENT_MAX) {
		log_err("attestation '%s' of '%s': %lld bytes, over the limit", digest, n->repo,
			(long long)size);
		return -EIO;
	}
	for (int tries = 0; tries < 3; tries++) {
		ret = tree_blob_ensure(fs, n->reg, n->repo, digest, size);
		if (ret < 0)
			return ret;
		ret = cache_store_read(fs->store, digest, ATTEST_STATEMENT_MAX, bytes, len);
		if (ret != -ENOENT)
			break; /* (-ENOENT: evicted between the two: again) */
	}
	return ret;
}

/* Statement @bytes parsed; NULL (logged) when it is no JSON object. */
static json_t *statement_parse(const char *digest, const char *bytes, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &err);

	if (!json_is_object(j)) {
		log_err("attestation '%s': not an in-toto statement: %s", digest,
			j ? "not a JSON object" : err.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* @type made a file name: the well-known ones by what they are, any other
 * by its URL (fs_name_from).  Into @out. */
static void name_of_type(const char *type, char *out, size_t n)
{
	static const struct {
		const char *prefix, *name;
	} known[] = {
		{"https://spdx.dev/Document", "sbom.spdx"},
		{"https://cyclonedx.org/bom", "sbom.cyclonedx"},
		{"https://slsa.dev/provenance/", "provenance.slsa"},
		{"https://in-toto.io/attestation/vulns", "vulns"},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strncmp(type, known[i].prefix, strlen(known[i].prefix)) == 0) {
			snprintf(out, n, "%s", known[i].name);
			return;
		}
	if (strncmp(type, "https://", 8) == 0)
		type += 8;
	else if (strncmp(type, "http://", 7) == 0)
		type += 7;
	fs_name_from(type, ITEM_NAME_MAX, "statement", out, n);
}

/* One statement as attestations/ shows it. */
struct attest_item {
	char name[ITEM_NAME_MAX + 16];
	const struct reg_descriptor *d; /* in the attestation manifest's view */
};

/* The statements of attestation manifest @att, named; unique names (a
 * repeat gets "~2", "~3"...).  *@items new (free), borrowing from @att. */
static int attest_items(struct fs *fs, struct node *n, const struct resolve_view *att,
			struct attest_item **items, size_t *count)
{
	size_t total = att->m->n_layers < ATTEST_ITEMS_MAX ? att->m->n_layers : ATTEST_ITEMS_MAX;
	struct attest_item *v = calloc(total ? total : 1, sizeof(*v));
	int ret = 0;

	*items = NULL;
	*count = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < total && ret == 0; i++) {
		const struct reg_descriptor *d = &att->m->layers[i];
		char base[ITEM_NAME_MAX + 1];
		const char *type = d->predicate_type;
		json_t *j = NULL;

		if (!type) {
			/* no annotation: the statement says */
			char *bytes = NULL;
			size_t len;

			ret = statement_read(fs, n, d->digest, d->size, &bytes, &len);
			if (ret < 0)
				break;
			j = statement_parse(d->digest, bytes, len);
			free(bytes);
			type = j ? json_string_value(json_object_get(j, "predicateType")) : NULL;
		}
		name_of_type(type ? type : "statement", base, sizeof(base));
		json_decref(j);
		snprintf(v[i].name, sizeof(v[i].name), "%s", base);
		for (unsigned k = 2;; k++) {
			bool taken = false;

			for (size_t p = 0; p < i && !taken; p++)
				taken = strcmp(v[p].name, v[i].name) == 0;
			if (!taken)
				break;
			snprintf(v[i].name, sizeof(v[i].name), "%s~%u", base, k);
		}
		v[i].d = d;
		*count = i + 1;
	}
	if (ret < 0) {
		free(v);
		*count = 0;
		return ret;
	}
	*items = v;
	return 0;
}

/* attestations/ @n's attestation manifest. */
static int attestation_at(struct fs *fs, struct node *n, struct resolve_view *att)
{
	struct resolve_view v;
	int ret = tree_view_manifest(fs, n->parent, &v);

	if (ret < 0)
		return ret;
	ret = attestation_of(fs, n->parent, &v, att);
	resolve_view_release(&v);
	return ret;
}

int attest_list(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct attest_item *items = NULL;
	struct resolve_view att;
	size_t count = 0;
	int ret = attestation_at(fs, n, &att);

	if (ret < 0)
		return ret;
	ret = attest_items(fs, n, &att, &items, &count);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		char name[sizeof(items[i].name) + sizeof(STATEMENT_SUFFIX)];

		snprintf(name, sizeof(name), "%s" PREDICATE_SUFFIX, items[i].name);
		ret = tree_listing_add(out, name, NODE_FILE);
		snprintf(name, sizeof(name), "%s" STATEMENT_SUFFIX, items[i].name);
		if (ret == 0)
			ret = tree_listing_add_blob(out, name, n->reg, items[i].d->digest);
	}
	free(items);
	resolve_view_release(&att);
	return ret;
}

/* Does @name end with @suffix, and what is before it? */
static bool split_suffix(const char *name, const char *suffix, size_t *base_len)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n <= s || strcmp(name + n - s, suffix) != 0)
		return false;
	*base_len = n - s;
	return true;
}

int attest_lookup(struct fs *fs, struct node *n, const char *name, struct node **out)
{
	struct attest_item *items = NULL;
	struct resolve_view att;
	size_t count = 0, base;
	bool statement = split_suffix(name, STATEMENT_SUFFIX, &base);
	int ret;

	*out = NULL;
	if (!statement && !split_suffix(name, PREDICATE_SUFFIX, &base))
		return -ENOENT;
	ret = attestation_at(fs, n, &att);
	if (ret < 0)
		return ret;
	ret = attest_items(fs, n, &att, &items, &count);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		const struct reg_descriptor *d = items[i].d;

		if (strlen(items[i].name) != base || strncmp(items[i].name, name, base) != 0)
			continue;
		if (statement) {
			ret = tree_blob_child(n, name, d, out);
		} else {
			*out = node_new(n, name, NODE_FILE);
			if (*out && n->repo && !((*out)->repo = strdup(n->repo))) {
				node_free(*out);
				*out = NULL;
			}
			if (*out) {
				(*out)->file = FILE_ATTEST_PREDICATE;
				memcpy((*out)->layer_digest, d->digest, sizeof((*out)->layer_digest));
				(*out)->layer_size = d->size;
			}
			ret = *out ? 0 : -ENOMEM;
		}
		goto done;
	}
	if (ret == 0)
		ret = -ENOENT;
done:
	free(items);
	resolve_view_release(&att);
	return ret;
}

int attest_predicate(struct fs *fs, struct node *n, char **bytes, size_t *len)
{
	char *key = fs_strdup_printf("predicate %s", n->layer_digest), *stmt = NULL, *text = NULL;
	size_t stmt_len = 0;
	json_t *j = NULL, *p;
	int ret;

	*bytes = NULL;
	*len = 0;
	if (!key)
		return -ENOMEM;
	/* a statement is fixed by its digest: its predicate is made once */
	ret = cache_mem_get(fs->mem, key, bytes, len);
	if (ret == 0)
		goto out;
	ret = statement_read(fs, n, n->layer_digest, n->layer_size, &stmt, &stmt_len);
	if (ret < 0)
		goto out;
	ret = -EIO;
	j = statement_parse(n->layer_digest, stmt, stmt_len);
	p = j ? json_object_get(j, "predicate") : NULL;
	if (j && !p)
		log_err("attestation '%s': the statement has no predicate", n->layer_digest);
	if (!p)
		goto out;
	text = json_dumps(p, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	*len = strlen(text) + 1;
	*bytes = malloc(*len + 1);
	if (!*bytes) {
		*len = 0;
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*bytes, text, *len - 1);
	(*bytes)[*len - 1] = '\n';
	(*bytes)[*len] = '\0';
	cache_mem_put(fs->mem, key, *bytes, *len, CACHE_MEM_FOREVER);
	ret = 0;
out:
	free(text);
	json_decref(j);
	free(stmt);
	free(key);
	return ret;
}
