/*
 * OCI / Docker manifest parsing: bytes in, structs out, no I/O.
 *
 * Everything here comes from a registry we do not trust, and some of it
 * becomes directory names, so the parser is strict: duplicate keys, wrong
 * JSON types, invalid digests, negative or fractional sizes and strings
 * with control characters refuse the whole document.  jansson already
 * refuses invalid UTF-8, "\u0000" inside strings (we never pass
 * JSON_ALLOW_NUL) and nesting deeper than its parser limit.
 *
 * The names given to index entries are computed here too, once per parse,
 * so that every reader of the same document sees the same tree.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, qsort_r */
#endif
#include "registry/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/limits.h"

#define NAME_FIELD_MAX 48	  /* per field of an entry name: 4 fields fit NAME_MAX */

static const struct {
	enum reg_mtype type;
	const char *str;
} mtypes[] = {
	{REG_MT_DOCKER_V2, REG_MT_DOCKER_V2_STR},
	{REG_MT_OCI_MANIFEST, REG_MT_OCI_MANIFEST_STR},
	{REG_MT_DOCKER_LIST, REG_MT_DOCKER_LIST_STR},
	{REG_MT_OCI_INDEX, REG_MT_OCI_INDEX_STR},
	{REG_MT_DOCKER_V1, REG_MT_DOCKER_V1_SIGNED_STR},
	{REG_MT_DOCKER_V1, REG_MT_DOCKER_V1_STR},
};

/* Length of a media type without parameters and surrounding whitespace;
 * *start is set past leading whitespace. */
static size_t mtype_trim(const char *s, const char **start)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strcspn(s, ";");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*start = s;
	return n;
}

enum reg_mtype reg_mtype_from_string(const char *s)
{
	const char *start;
	size_t n;

	if (!s)
		return REG_MT_UNKNOWN;
	/* Media types are case-insensitive (RFC 6838 4.2) and a Content-Type
	 * may carry parameters ("; charset=utf-8"). */
	n = mtype_trim(s, &start);
	for (size_t i = 0; i < sizeof(mtypes) / sizeof(mtypes[0]); i++)
		if (strlen(mtypes[i].str) == n && strncasecmp(start, mtypes[i].str, n) == 0)
			return mtypes[i].type;
	return REG_MT_UNKNOWN;
}

const char *reg_mtype_string(enum reg_mtype t)
{
	for (size_t i = 0; i < sizeof(mtypes) / sizeof(mtypes[0]); i++)
		if (mtypes[i].type == t)
			return mtypes[i].str;
	return "";
}

bool reg_mtype_is_image(enum reg_mtype t)
{
	return t == REG_MT_DOCKER_V2 || t == REG_MT_OCI_MANIFEST;
}

bool reg_mtype_is_index(enum reg_mtype t)
{
	return t == REG_MT_DOCKER_LIST || t == REG_MT_OCI_INDEX;
}

/* No control characters (which includes NUL: jansson can hand out strings
 * with embedded NULs when asked to, and a length check catches it). */
static bool str_is_clean(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* A copy of @v (new string) when it is a clean string.  0, -EINVAL for
 * anything else, -ENOMEM. */
static int clean_string_dup(const json_t *v, char **out)
{
	*out = NULL;
	if (!json_is_string(v) || !str_is_clean(json_string_value(v), json_string_length(v)))
		return -EINVAL;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

/*
 * Copy the string member @key of @obj into *out (new string), leaving NULL
 * when the key is absent.  Anything but a clean string is -EINVAL.
 */
static int str_member(const json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	return v ? clean_string_dup(v, out) : 0;
}

bool reg_media_type_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REG_MEDIA_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int media_type_member_named(const json_t *obj, const char *key, char **out)
{
	int ret = str_member(obj, key, out);

	if (ret == 0 && *out && !reg_media_type_is_valid(*out)) {
		free(*out);
		*out = NULL;
		ret = -EINVAL;
	}
	return ret;
}

/* "mediaType" of @obj, validated (NULL when absent). */
static int media_type_member(const json_t *obj, char **out)
{
	return media_type_member_named(obj, "mediaType", out);
}

/* Free @n owned strings of @v, and @v. */
static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void reg_platform_release(struct reg_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	strv_free(p->os_features, p->n_os_features);
	memset(p, 0, sizeof(*p));
}

/* Fill @p (zeroed by the caller) from the platform members of @obj, which
 * is either a descriptor's "platform" or the top level of an image config. */
static int platform_from_json(const json_t *obj, struct reg_platform *p)
{
	json_t *features;
	int ret;

	ret = str_member(obj, "os", &p->os);
	if (ret == 0)
		ret = str_member(obj, "architecture", &p->architecture);
	if (ret == 0)
		ret = str_member(obj, "variant", &p->variant);
	if (ret == 0)
		ret = str_member(obj, "os.version", &p->os_version);
	if (ret < 0)
		return ret;
	features = json_object_get(obj, "os.features");
	if (!features)
		return 0;
	if (!json_is_array(features) || json_array_size(features) > REG_ITEMS_MAX)
		return -EINVAL;
	if (json_array_size(features) == 0)
		return 0;
	p->os_features = calloc(json_array_size(features), sizeof(*p->os_features));
	if (!p->os_features)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(features); i++) {
		ret = clean_string_dup(json_array_get(features, i), &p->os_features[i]);
		if (ret < 0)
			return ret;
		p->n_os_features = i + 1;
	}
	return 0;
}

static void descriptor_release(struct reg_descriptor *d)
{
	free(d->media_type);
	if (d->platform) {
		reg_platform_release(d->platform);
		free(d->platform);
	}
	free(d->reference_type);
	free(d->reference_digest);
	free(d->predicate_type);
	free(d->artifact_type);
	strv_free(d->urls, d->n_urls);
	memset(d, 0, sizeof(*d));
}

bool reg_descriptor_is_foreign(const struct reg_descriptor *d)
{
	return d->media_type && (strstr(d->media_type, ".foreign.") ||
				 strstr(d->media_type, ".nondistributable."));
}

/* The "urls" of a descriptor: strings without control characters or
 * spaces; those that are not http(s) are dropped (never fetched). */
static int urls_parse(const json_t *arr, struct reg_descriptor *d)
{
	size_t n = json_array_size(arr);

	if (!json_is_array(arr) || n > REG_URLS_MAX)
		return -EINVAL;
	d->urls = calloc(n ? n : 1, sizeof(*d->urls));
	if (!d->urls)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *u = json_array_get(arr, i);
		const char *s = json_string_value(u);

		if (!s || !str_is_clean(s, json_string_length(u)) || json_string_length(u) > REG_URL_MAX ||
		    strpbrk(s, " \t"))
			return -EINVAL;
		if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
			continue;
		d->urls[d->n_urls] = strdup(s);
		if (!d->urls[d->n_urls])
			return -ENOMEM;
		d->n_urls++;
	}
	return 0;
}

static int annotations_parse(const json_t *ann, struct reg_descriptor *d)
{
	const char *key;
	json_t *v;
	int ret;

	if (!json_is_object(ann))
		return -EINVAL;
	/* The image spec says annotations map strings to strings. */
	json_object_foreach((json_t *)ann, key, v)
		if (!json_is_string(v))
			return -EINVAL;
	ret = str_member(ann, "vnd.docker.reference.type", &d->reference_type);
	if (ret == 0)
		ret = str_member(ann, "vnd.docker.reference.digest", &d->reference_digest);
	if (ret == 0 && d->reference_digest && !digest_is_valid(d->reference_digest))
		ret = -EINVAL;
	if (ret == 0)
		ret = str_member(ann, "in-toto.io/predicate-type", &d->predicate_type);
	return ret;
}

/* Parse one descriptor object into @d (zeroed by the caller; released by
 * the caller on error too). */
static int descriptor_parse(const json_t *obj, struct reg_descriptor *d)
{
	json_t *v;
	json_int_t size;
	int ret;

	if (!json_is_object(obj))
		return -EINVAL;
	ret = media_type_member(obj, &d->media_type);
	if (ret == 0)
		ret = media_type_member_named(obj, "artifactType", &d->artifact_type);
	if (ret < 0)
		return ret;

	v = json_object_get(obj, "digest");
	if (!json_is_string(v) || json_string_length(v) != DIGEST_STR_LEN ||
	    !digest_is_valid(json_string_value(v)))
		return -EINVAL;
	memcpy(d->digest, json_string_value(v), DIGEST_STR_LEN + 1);

	/* jansson refuses integers that do not fit json_int_t (int64) at
	 * load time; 1.0 or 1e3 are reals and refused here. */
	v = json_object_get(obj, "size");
	if (!json_is_integer(v))
		return -EINVAL;
	size = json_integer_value(v);
	if (size < 0)
		return -EINVAL;
	d->size = (int64_t)size;

	v = json_object_get(obj, "platform");
	if (v) {
		if (!json_is_object(v))
			return -EINVAL;
		d->platform = calloc(1, sizeof(*d->platform));
		if (!d->platform)
			return -ENOMEM;
		ret = platform_from_json(v, d->platform);
		if (ret < 0)
			return ret;
	}

	v = json_object_get(obj, "urls");
	if (v) {
		ret = urls_parse(v, d);
		if (ret < 0)
			return ret;
	}

	v = json_object_get(obj, "annotations");
	if (v)
		return annotations_parse(v, d);
	return 0;
}

/* Parse the array member @key of @root into a new descriptor array. */
static int descriptors_parse(const json_t *root, const char *key, struct reg_descriptor **out,
			     size_t *n_out)
{
	json_t *arr = json_object_get(root, key);
	struct reg_descriptor *v = NULL;
	size_t n = 0;
	int ret = -EINVAL;

	if (!json_is_array(arr) || json_array_size(arr) > REG_ITEMS_MAX)
		goto out;
	n = json_array_size(arr);
	if (n > 0) {
		v = calloc(n, sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		ret = descriptor_parse(json_array_get(arr, i), &v[i]);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		for (size_t i = 0; i < n && v; i++)
			descriptor_release(&v[i]);
		free(v);
		v = NULL;
		n = 0;
	}
	*out = v;
	*n_out = n;
	return ret;
}

void reg_manifest_free(struct reg_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	descriptor_release(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_release(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_entries; i++) {
		descriptor_release(&m->entries[i]);
		if (m->entry_names)
			free(m->entry_names[i]);
	}
	free(m->entries);
	free(m->entry_names);
	descriptor_release(&m->subject);
	free(m->artifact_type);
	free(m);
}

/* A platform field as entry names and platform strings print it:
 * "unknown" when it is missing or empty. */
static const char *field_or_unknown(const char *s)
{
	return s && *s ? s : "unknown";
}

bool reg_descriptor_is_attestation(const struct reg_descriptor *d)
{
	const struct reg_platform *p = d->platform;
	const char *os = field_or_unknown(p ? p->os : NULL);
	const char *arch = field_or_unknown(p ? p->architecture : NULL);

	return d->reference_type && strcmp(os, "unknown") == 0 && strcmp(arch, "unknown") == 0;
}

/*
 * Append one sanitised field to @dst (which has room for NAME_FIELD_MAX
 * more bytes plus the NUL).  Every byte outside [A-Za-z0-9._+] becomes '_'
 * (so '/' cannot occur), a leading '.' becomes '_' (so no field, and hence
 * no name, is "." or ".." or hidden), long fields are cut.
 */
static void field_append(char *dst, const char *field)
{
	size_t n = strlen(dst);

	field = field_or_unknown(field);
	for (size_t i = 0; field[i] && i < NAME_FIELD_MAX; i++) {
		char c = field[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+';

		if (!ok || (i == 0 && c == '.'))
			c = '_';
		dst[n++] = c;
	}
	dst[n] = '\0';
}

/* "<os>-<arch>[-<variant>][-<os.version>]", sanitised.  New string. */
static char *entry_base_name(const struct reg_descriptor *d)
{
	const struct reg_platform *p = d->platform;
	char *s = malloc(4 * (NAME_FIELD_MAX + 1) + 1);

	if (!s)
		return NULL;
	s[0] = '\0';
	field_append(s, p ? p->os : NULL);
	strcat(s, "-");
	field_append(s, p ? p->architecture : NULL);
	if (p && p->variant && *p->variant) {
		strcat(s, "-");
		field_append(s, p->variant);
	}
	if (p && p->os_version && *p->os_version) {
		strcat(s, "-");
		field_append(s, p->os_version);
	}
	return s;
}

static int entry_order_cmp(const void *a, const void *b, void *ctx)
{
	char *const *names = ctx;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	int c = strcmp(names[ia], names[ib]);

	if (c)
		return c;
	return ia < ib ? -1 : ia > ib;
}

/* Append "~<pos>" to *name. */
static int name_suffix(char **name, size_t pos)
{
	char *s = NULL;

	if (asprintf(&s, "%s~%zu", *name, pos) < 0)
		return -ENOMEM;
	free(*name);
	*name = s;
	return 0;
}

/*
 * Name every non-attestation entry; repeated names get "~<position>"
 * appended except the first.  Sorting makes this O(n log n) even for a
 * hostile index with 100000 identical entries.  Base names never contain
 * '~', so a suffixed name cannot collide with another entry's base name.
 */
static int entry_names_assign(struct reg_manifest *m)
{
	size_t *order = NULL, n_named = 0, first;
	int ret = -ENOMEM;

	if (m->n_entries == 0)
		return 0;
	m->entry_names = calloc(m->n_entries, sizeof(*m->entry_names));
	if (!m->entry_names)
		goto out;
	order = calloc(m->n_entries, sizeof(*order));
	if (!order)
		goto out;
	for (size_t i = 0; i < m->n_entries; i++) {
		if (reg_descriptor_is_attestation(&m->entries[i]))
			continue;
		m->entry_names[i] = entry_base_name(&m->entries[i]);
		if (!m->entry_names[i])
			goto out;
		order[n_named++] = i;
	}
	ret = 0;
	if (n_named == 0)
		goto out;
	/* Sorted by (name, position): in each run of equal names the first
	 * is the earliest in the document, which keeps its name. */
	qsort_r(order, n_named, sizeof(*order), entry_order_cmp, m->entry_names);
	first = order[0];
	for (size_t k = 1; k < n_named; k++) {
		if (strcmp(m->entry_names[order[k]], m->entry_names[first]) != 0) {
			first = order[k];
			continue;
		}
		ret = name_suffix(&m->entry_names[order[k]], order[k]);
		if (ret < 0)
			goto out;
	}
out:
	free(order);
	return ret;
}

int reg_manifest_find_entry(const struct reg_manifest *m, const char *name)
{
	if (!m || !name || !m->entry_names)
		return -1;
	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entry_names[i] && strcmp(m->entry_names[i], name) == 0)
			return (int)i;
	return -1;
}

char *reg_layer_name(size_t index, size_t n_layers, const char *digest)
{
	int width = 2;
	char *s = NULL;

	if (!digest)
		return NULL;
	for (size_t top = n_layers > 0 ? n_layers - 1 : 0; top >= 100; top /= 10)
		width++;
	if (asprintf(&s, "%0*zu-%s", width, index, digest) < 0)
		return NULL;
	return s;
}

long reg_layer_find(const struct reg_manifest *m, const char *name)
{
	for (size_t i = 0; reg_mtype_is_image(m->type) && i < m->n_layers; i++) {
		char *ln = reg_layer_name(i, m->n_layers, m->layers[i].digest);
		bool match = ln && strcmp(ln, name) == 0;

		free(ln);
		if (match)
			return (long)i;
	}
	return -1;
}

char *reg_platform_string(const struct reg_platform *p)
{
	const char *os = field_or_unknown(p ? p->os : NULL);
	const char *arch = field_or_unknown(p ? p->architecture : NULL);
	bool has_variant = p && p->variant && *p->variant;
	bool has_version = p && p->os_version && *p->os_version;
	char *s = NULL;

	if (asprintf(&s, "%s/%s%s%s%s%s", os, arch, has_variant ? "/" : "",
		     has_variant ? p->variant : "", has_version ? ":" : "",
		     has_version ? p->os_version : "") < 0)
		return NULL;
	return s;
}

/* Load untrusted JSON that must be an object: bounded size, duplicate keys
 * refused (two "digest" keys would let different readers see different
 * documents).  0, -EINVAL (not JSON, not an object), -ENOMEM. */
static int json_load_object(const char *bytes, size_t len, json_t **out)
{
	json_error_t err;

	*out = NULL;
	if (!bytes || len == 0 || len > REG_MANIFEST_MAX)
		return -EINVAL;
	*out = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &err);
	if (!*out)
		return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* *out: the media type of a Content-Type header value (new string), or
 * NULL when it is missing or not a plausible media type.  0 or -ENOMEM. */
static int content_type_dup(const char *content_type, char **out)
{
	const char *start;
	size_t n;

	*out = NULL;
	if (!content_type)
		return 0;
	n = mtype_trim(content_type, &start);
	*out = strndup(start, n);
	if (!*out)
		return -ENOMEM;
	if (!reg_media_type_is_valid(*out)) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* Fill m->schema_version, m->media_type and m->type from the document
 * @root: the type from its mediaType, else from @content_type, else from
 * its shape (config+layers: OCI manifest, manifests: OCI index); schema 1
 * whichever way it says so.  0, -EINVAL or -ENOMEM. */
static int manifest_type(const json_t *root, const char *content_type, struct reg_manifest *m)
{
	json_t *v = json_object_get(root, "schemaVersion");
	enum reg_mtype doc_type, ct_type;
	bool has_config, has_manifests;
	int ret;

	if (v) {
		if (!json_is_integer(v) ||
		    (json_integer_value(v) != 1 && json_integer_value(v) != 2))
			return -EINVAL;
		m->schema_version = (int)json_integer_value(v);
	}
	ret = media_type_member(root, &m->media_type);
	if (ret < 0)
		return ret;
	doc_type = reg_mtype_from_string(m->media_type);
	ct_type = reg_mtype_from_string(content_type);
	if (!m->media_type && (ret = content_type_dup(content_type, &m->media_type)) < 0)
		return ret;

	if (m->schema_version == 1 || doc_type == REG_MT_DOCKER_V1 ||
	    (doc_type == REG_MT_UNKNOWN && ct_type == REG_MT_DOCKER_V1))
		m->type = REG_MT_DOCKER_V1;
	else if (doc_type != REG_MT_UNKNOWN)
		m->type = doc_type;
	else if (ct_type != REG_MT_UNKNOWN)
		m->type = ct_type;
	if (m->type != REG_MT_UNKNOWN)
		return 0;
	has_config = json_object_get(root, "config") != NULL;
	has_manifests = json_object_get(root, "manifests") != NULL;
	if (has_manifests && !has_config)
		m->type = REG_MT_OCI_INDEX;
	else if (has_config && !has_manifests)
		m->type = REG_MT_OCI_MANIFEST;
	else
		return -EINVAL;
	return 0;
}

/* The descriptors of @root, an image or an index as m->type says, into @m.
 * 0, -EINVAL or -ENOMEM. */
static int manifest_descriptors(const json_t *root, struct reg_manifest *m)
{
	json_t *subject = json_object_get(root, "subject");
	int ret;

	ret = media_type_member_named(root, "artifactType", &m->artifact_type);
	if (ret == 0 && subject) {
		m->has_subject = true;
		ret = descriptor_parse(subject, &m->subject);
	}
	if (ret < 0)
		return ret;
	if (reg_mtype_is_index(m->type)) {
		ret = descriptors_parse(root, "manifests", &m->entries, &m->n_entries);
		return ret < 0 ? ret : entry_names_assign(m);
	}
	ret = descriptor_parse(json_object_get(root, "config"), &m->config);
	/* Layers may be absent (an artifact with only a config); present,
	 * they must be a valid array. */
	if (ret == 0 && json_object_get(root, "layers"))
		ret = descriptors_parse(root, "layers", &m->layers, &m->n_layers);
	return ret;
}

int reg_manifest_parse(const char *bytes, size_t len, const char *content_type,
		       struct reg_manifest **out)
{
	struct reg_manifest *m = NULL;
	json_t *root = NULL;
	int ret;

	*out = NULL;
	ret = json_load_object(bytes, len, &root);
	if (ret < 0)
		goto out;
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	ret = manifest_type(root, content_type, m);
	/* Schema 1 is recognised so that callers can say so, but its
	 * fsLayers/history are not parsed: no descriptors. */
	if (ret == 0 && m->type != REG_MT_DOCKER_V1)
		ret = manifest_descriptors(root, m);
out:
	if (ret == 0) {
		*out = m;
		m = NULL;
	}
	reg_manifest_free(m);
	json_decref(root);
	return ret;
}

int reg_config_platform(const char *bytes, size_t len, struct reg_platform *out)
{
	json_t *root = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = json_load_object(bytes, len, &root);
	if (ret < 0)
		goto out;
	ret = platform_from_json(root, out);
out:
	if (ret < 0)
		reg_platform_release(out);
	json_decref(root);
	return ret;
}
