/*
 * inspect.json: what `docker manifest inspect --verbose` prints, rebuilt
 * from the bytes the registry served so that scripts written against the
 * docker CLI work on a regfs mount.
 *
 * The docker CLI (cli/manifest/types.ImageManifest, encoded with
 * json.MarshalIndent(v, "", "\t")) prints, per image:
 *
 *   Ref              reference string
 *   Descriptor       ocispec.Descriptor{mediaType, digest, size, platform}
 *                    with platform{architecture, os, os.version?,
 *                    os.features?, variant?} ("?" = omitted when empty)
 *   Raw              base64 (standard, padded) of the manifest bytes
 *   SchemaV2Manifest or OCIManifest: the manifest document itself (its
 *                    MarshalJSON returns the canonical bytes, so keys keep
 *                    the document's order and unknown fields survive)
 *
 * Descriptor.mediaType is the canonical media type of the manifest kind
 * (what distribution's Payload() returns), not the Content-Type header.
 *
 * An index inside an index has no place in docker's output (its inspect
 * refuses one): regfs gives it an element of the same shape, its document
 * under SchemaV2ManifestList or OCIIndex, plus Manifests, the inspection
 * of its own entries.
 */
#include "registry/inspect.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
static json_t *platform_json(const struct reg_platform *p)
{
	json_t *o = json_object(), *features = NULL;
	int err = 0;

	if (!o)
		return NULL;
	/* architecture and os have no omitempty in ocispec.Platform. */
	err |= json_object_set_new(o, "architecture",
				   json_string(p->architecture ? p->architecture : ""));
	err |= json_object_set_new(o, "os", json_string(p->os ? p->os : ""));
	if (p->os_version && *p->os_version)
		err |= json_object_set_new(o, "os.version", json_string(p->os_version));
	if (p->n_os_features > 0) {
		features = json_array();
		for (size_t i = 0; features && i < p->n_os_features; i++)
			err |= json_array_append_new(features, json_string(p->os_features[i]));
		err |= json_object_set_new(o, "os.features", features);
	}
	if (p->variant && *p->variant)
		err |= json_object_set_new(o, "variant", json_string(p->variant));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Standard base64 with padding, as Go's encoding/json prints []byte. */
static json_t *base64_json(const char *bytes, size_t len)
{
	unsigned char *b64;
	json_t *s;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return NULL;
	EVP_EncodeBlock(b64, (const unsigned char *)bytes, (int)len);
	s = json_string((const char *)b64);
	free(b64);
	return s;
}

/* One element of inspect.json: Ref, Descriptor, Raw, then the document
 * under @doc_key, then "Manifests": @children when not NULL (taken over,
 * also on failure).  New reference, or NULL. */
static json_t *inspect_element(const char *ref, const char *bytes, size_t len,
			       const struct reg_manifest *m, const struct reg_platform *platform,
			       const char *doc_key, json_t *children)
{
	json_t *root = NULL, *desc = NULL, *doc = NULL, *ret = NULL;
	char digest[DIGEST_STR_LEN + 1];
	json_error_t jerr;
	int err = 0;

	if (!ref || !bytes || len > REG_MANIFEST_MAX)
		goto out;
	doc = json_loadb(bytes, len, 0, &jerr);
	if (!json_is_object(doc))
		goto out;
	root = json_object();
	desc = json_object();
	if (!root || !desc)
		goto out;

	digest_of(bytes, len, digest);
	err |= json_object_set_new(desc, "mediaType", json_string(reg_mtype_string(m->type)));
	err |= json_object_set_new(desc, "digest", json_string(digest));
	err |= json_object_set_new(desc, "size", json_integer((json_int_t)len));
	if (platform)
		err |= json_object_set_new(desc, "platform", platform_json(platform));

	err |= json_object_set_new(root, "Ref", json_string(ref));
	err |= json_object_set(root, "Descriptor", desc);
	err |= json_object_set_new(root, "Raw", base64_json(bytes, len));
	err |= json_object_set(root, doc_key, doc);
	if (children)
		err |= json_object_set(root, "Manifests", children);
	if (err)
		goto out;
	ret = root;
	root = NULL;
out:
	json_decref(root);
	json_decref(desc);
	json_decref(doc);
	json_decref(children);
	return ret;
}

json_t *reg_inspect_image(const char *ref, const char *bytes, size_t len,
			  const struct reg_manifest *m, const struct reg_platform *platform)
{
	if (!m || !reg_mtype_is_image(m->type))
		return NULL;
	return inspect_element(ref, bytes, len, m, platform,
			       m->type == REG_MT_DOCKER_V2 ? "SchemaV2Manifest" : "OCIManifest", NULL);
}

json_t *reg_inspect_index(const char *ref, const char *bytes, size_t len,
			  const struct reg_manifest *m, const struct reg_platform *platform,
			  json_t *children)
{
	if (!m || !reg_mtype_is_index(m->type) || (children && !json_is_array(children))) {
		json_decref(children);
		return NULL;
	}
	return inspect_element(ref, bytes, len, m, platform,
			       m->type == REG_MT_DOCKER_LIST ? "SchemaV2ManifestList" : "OCIIndex",
			       children);
}

/* The elements of the entries of @m, @depth levels down (reg_inspect_entries). */
static int entries_at(const char *prefix, const struct reg_manifest *m, int depth,
		      reg_inspect_fetch_fn fetch, void *arg, json_t **out);

/*
 * The element of entry @d (of an index @depth levels down) into *one, or
 * NULL when it is left out (unreadable, refused).  0 or -errno.
 */
static int entry_element(const char *prefix, const struct reg_descriptor *d, int depth,
			 reg_inspect_fetch_fn fetch, void *arg, json_t **one)
{
	struct reg_manifest *cm = NULL;
	json_t *kids = NULL;
	char *bytes = NULL, *ref = NULL;
	size_t len = 0;
	int ret;

	*one = NULL;
	ret = fetch(arg, d->digest, &bytes, &len);
	if (ret < 0)
		return ret;
	if (asprintf(&ref, "%s@%s", prefix, d->digest) < 0) {
		ref = NULL;
		ret = -ENOMEM;
		goto out;
	}
	if (reg_manifest_parse(bytes, len, d->media_type, &cm) < 0)
		goto out; /* schema 1 or not a manifest: left out */
	if (reg_mtype_is_image(cm->type)) {
		*one = reg_inspect_image(ref, bytes, len, cm, d->platform);
	} else if (reg_mtype_is_index(cm->type)) {
		if (depth < REG_INSPECT_DEPTH_MAX)
			ret = entries_at(prefix, cm, depth + 1, fetch, arg, &kids);
		if (ret == 0)
			*one = reg_inspect_index(ref, bytes, len, cm, d->platform, kids);
	}
out:
	reg_manifest_free(cm);
	free(ref);
	free(bytes);
	return ret;
}

static int entries_at(const char *prefix, const struct reg_manifest *m, int depth,
		      reg_inspect_fetch_fn fetch, void *arg, json_t **out)
{
	json_t *doc = json_array();
	int ret = doc ? 0 : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; ret == 0 && i < m->n_entries; i++) {
		json_t *one;

		ret = entry_element(prefix, &m->entries[i], depth, fetch, arg, &one);
		if (one)
			json_array_append_new(doc, one);
	}
	if (ret < 0) {
		json_decref(doc);
		return ret;
	}
	*out = doc;
	return 0;
}

int reg_inspect_entries(const char *prefix, const struct reg_manifest *m,
			reg_inspect_fetch_fn fetch, void *arg, json_t **out)
{
	return entries_at(prefix, m, 1, fetch, arg, out);
}

/*
 * Go's encoder escapes '<', '>', '&', U+2028 and U+2029 inside strings.  In
 * jansson's output those bytes can only occur inside strings (never in the
 * JSON structure), so a byte-level rewrite is exact.  Returns the number of
 * extra bytes the rewrite needs beyond @src[i] itself, and its text.
 */
static size_t go_escape(const char *src, size_t i, size_t len, const char **rep, size_t *skip)
{
	*skip = 1;
	switch (src[i]) {
	case '<':
		*rep = "\\u003c";
		return 6;
	case '>':
		*rep = "\\u003e";
		return 6;
	case '&':
		*rep = "\\u0026";
		return 6;
	case '\xe2':
		if (i + 2 < len && src[i + 1] == '\x80' && (src[i + 2] == '\xa8' || src[i + 2] == '\xa9')) {
			*rep = src[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
			*skip = 3;
			return 6;
		}
		break;
	}
	*rep = NULL;
	return 1;
}

char *reg_inspect_dump(const json_t *j, size_t *len)
{
	char *s, *out = NULL;
	size_t n, need = 1, o = 0;

	if (len)
		*len = 0;
	if (!j)
		return NULL;
	/* One space per level from jansson, turned into one tab per level
	 * below: docker indents with tabs.  Strings never hold a raw newline,
	 * so every run of spaces after '\n' is indentation. */
	s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!s)
		return NULL;
	n = strlen(s);
	for (size_t i = 0; i < n;) {
		const char *rep;
		size_t skip;

		need += go_escape(s, i, n, &rep, &skip);
		i += skip;
	}
	out = malloc(need + 1);
	if (!out)
		goto out;
	for (size_t i = 0; i < n;) {
		const char *rep;
		size_t skip;

		if (s[i] == '\n') {
			out[o++] = s[i++];
			while (s[i] == ' ') {
				out[o++] = '\t';
				i++;
			}
			continue;
		}
		go_escape(s, i, n, &rep, &skip);
		if (rep) {
			memcpy(out + o, rep, 6);
			o += 6;
		} else {
			out[o++] = s[i];
		}
		i += skip;
	}
	out[o++] = '\n';
	out[o] = '\0';
	if (len)
		*len = o;
out:
	free(s);
	return out;
}
