/*
 * Building manifest lists: the bytes regfs pushes when a draft is
 * committed, and the small naming rules a draft's links follow.
 *
 * Everything is checked before a single JSON value is made, so that what
 * comes out is a document reg_manifest_parse() takes back with the same
 * entries (a registry would otherwise refuse it, or worse, accept a list
 * regfs itself could not read).  The bytes depend only on the input: keys
 * are inserted in a fixed order and dumped with JSON_PRESERVE_ORDER, so a
 * commit retried after a failure pushes the same digest.
 */
#include "registry/listbuild.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/digest.h"
#include "common/limits.h"

#define ANN_REF_DIGEST "vnd.docker.reference.digest"
#define ANN_REF_TYPE "vnd.docker.reference.type"

/* -EINVAL with a new reason in *why; -ENOMEM when the reason cannot be
 * made (then *why stays NULL, as the header promises). */
static int fail(char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **why, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!why)
		return -EINVAL;
	va_start(ap, fmt);
	n = vasprintf(why, fmt, ap);
	va_end(ap);
	if (n < 0) {
		*why = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

int reg_list_kind_parse(const char *s, enum reg_list_kind *out)
{
	static const struct {
		const char *name;
		enum reg_list_kind kind;
	} names[] = {
		{"docker", REG_LIST_DOCKER},
		{"oci", REG_LIST_OCI},
		{REG_MT_DOCKER_LIST_STR, REG_LIST_DOCKER},
		{REG_MT_OCI_INDEX_STR, REG_LIST_OCI},
	};
	size_t n;

	*out = REG_LIST_AUTO;
	if (!s)
		return 0;
	/* What `echo oci > .mediatype` or an editor leaves around the word. */
	s += strspn(s, " \t\n\r");
	n = strlen(s);
	while (n > 0 && strchr(" \t\n\r", s[n - 1]))
		n--;
	if (n == 0)
		return 0;
	/* Media types are case-insensitive (RFC 6838), and so, for a user
	 * typing them, are the two short names. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == n && strncasecmp(s, names[i].name, n) == 0) {
			*out = names[i].kind;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Well-formed UTF-8 as jansson wants it (no overlong forms, no surrogates,
 * nothing above U+10FFFF).  Checked here so that a NULL from json_string()
 * can only mean out of memory.  @allow_ctl: control characters (which the
 * parser refuses in platform fields and reference annotations) allowed.
 */
static bool text_is_clean(const char *s, bool allow_ctl)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned char c = *p;
		uint32_t cp;
		int more;

		if (c < 0x80) {
			if (!allow_ctl && (c < 0x20 || c == 0x7f))
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

static bool is_set(const char *s)
{
	return s && *s;
}

static bool has_reference(const struct reg_descriptor *d)
{
	return d->reference_type || d->reference_digest;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every field of @p clean text (what the parser wants back). */
static bool platform_is_clean(const struct reg_platform *p)
{
	const char *fields[] = {p->os, p->architecture, p->variant, p->os_version};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i] && !text_is_clean(fields[i], false))
			return false;
	if (p->n_os_features > REG_ITEMS_MAX || (p->n_os_features > 0 && !p->os_features))
		return false;
	for (size_t i = 0; i < p->n_os_features; i++)
		if (!p->os_features[i] || !text_is_clean(p->os_features[i], false))
			return false;
	return true;
}

/* One child on its own.  *type is its manifest type (written in canonical
 * form whatever case or parameters the child's string had). */
static int check_child(const struct reg_descriptor *d, size_t i, enum reg_mtype *type, char **why)
{
	enum reg_mtype t;

	if (!digest_is_valid(d->digest))
		return fail(why, "manifest %zu: invalid digest", i);
	if (!d->media_type)
		return fail(why, "manifest '%s' has no media type", d->digest);
	if (!reg_media_type_is_valid(d->media_type))
		return fail(why, "manifest '%s': invalid media type", d->digest);
	t = reg_mtype_from_string(d->media_type);
	if (!reg_mtype_is_image(t) && !reg_mtype_is_index(t))
		return fail(why, "manifest '%s': media type '%s' is not an image manifest or index",
			    d->digest, d->media_type);
	*type = t;
	if (d->size < 0)
		return fail(why, "manifest '%s': negative size", d->digest);
	if (d->reference_type && !text_is_clean(d->reference_type, false))
		return fail(why, "manifest '%s': reference type is not clean text", d->digest);
	if (d->reference_digest && !digest_is_valid(d->reference_digest))
		return fail(why, "manifest '%s': invalid reference digest", d->digest);
	if (reg_descriptor_is_attestation(d)) {
		/* Its platform is written as unknown/unknown, whatever else. */
		if (!d->reference_digest)
			return fail(why, "attestation '%s' refers to no image", d->digest);
		return 0;
	}
	if (d->platform && !platform_is_clean(d->platform))
		return fail(why, "manifest '%s': platform is not clean text", d->digest);
	/* An index may go without a platform; an image may not. */
	if (reg_mtype_is_image(t) &&
	    (!d->platform || !is_set(d->platform->os) || !is_set(d->platform->architecture)))
		return fail(why, "image '%s' has no platform (os and architecture)", d->digest);
	return 0;
}

/* Every attestation refers to an image (not an attestation) of the list.
 * Sorted digests and a binary search: a hostile draft may hold many. */
static int check_attestations(const struct reg_descriptor *children, size_t n, char **why)
{
	const char **images = NULL;
	size_t n_images = 0;
	int ret = -ENOMEM;

	if (n == 0)
		return 0;
	images = calloc(n, sizeof(*images));
	if (!images)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!reg_descriptor_is_attestation(&children[i]))
			images[n_images++] = children[i].digest;
	qsort(images, n_images, sizeof(*images), cmp_str_ptr);
	ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct reg_descriptor *d = &children[i];
		const char *key = d->reference_digest;

		if (!reg_descriptor_is_attestation(d))
			continue;
		if (!bsearch(&key, images, n_images, sizeof(*images), cmp_str_ptr))
			ret = fail(why, "attestation '%s' refers to '%s', not an image of the list",
				   d->digest, d->reference_digest);
	}
out:
	free(images);
	return ret;
}

static int check_annotations(const struct reg_annotation *a, size_t n, char **why)
{
	for (size_t i = 0; i < n; i++) {
		if (!a[i].key || !*a[i].key)
			return fail(why, "annotation %zu has an empty key", i);
		if (!text_is_clean(a[i].key, false))
			return fail(why, "annotation %zu: key is not clean text", i);
		if (!a[i].value)
			return fail(why, "annotation '%s' has no value", a[i].key);
		/* Values are free text: a description may hold newlines. */
		if (!text_is_clean(a[i].value, true))
			return fail(why, "annotation '%s': value is not UTF-8 text", a[i].key);
		/* Quadratic, but annotations are a handful of files. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(a[i].key, a[j].key) == 0)
				return fail(why, "annotation '%s' given twice", a[i].key);
	}
	return 0;
}

/*
 * What a Docker list has no place for: annotations, on the list or on a
 * child (every attestation has them).  A forced Docker list may hold OCI
 * manifests, as one made by `docker manifest create` does.
 */
static int check_docker(const struct reg_descriptor *children, size_t n, size_t n_annotations,
			char **why)
{
	for (size_t i = 0; i < n; i++) {
		const struct reg_descriptor *d = &children[i];

		if (reg_descriptor_is_attestation(d))
			return fail(why, "a docker manifest list cannot carry attestation '%s'",
				    d->digest);
		if (has_reference(d))
			return fail(why,
				    "a docker manifest list cannot carry the annotations of '%s'",
				    d->digest);
	}
	if (n_annotations > 0)
		return fail(why, "a docker manifest list cannot carry annotations");
	return 0;
}

/* Set @key of @o to the string @v; 0 or -ENOMEM (@v is known clean). */
static int set_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v)) ? -ENOMEM : 0;
}

/* Fields in the order of the header: architecture, os, os.version,
 * os.features, variant (the order of ocispec.Platform, as docker writes). */
static json_t *platform_json(const struct reg_platform *p, bool attestation)
{
	json_t *o = json_object(), *features;
	int ret = 0;

	if (!o)
		return NULL;
	if (attestation) {
		ret = set_str(o, "architecture", "unknown");
		if (ret == 0)
			ret = set_str(o, "os", "unknown");
		goto out;
	}
	if (is_set(p->architecture))
		ret = set_str(o, "architecture", p->architecture);
	if (ret == 0 && is_set(p->os))
		ret = set_str(o, "os", p->os);
	if (ret == 0 && is_set(p->os_version))
		ret = set_str(o, "os.version", p->os_version);
	if (ret == 0 && p->n_os_features > 0) {
		features = json_array();
		ret = json_object_set_new(o, "os.features", features) ? -ENOMEM : 0;
		for (size_t i = 0; ret == 0 && i < p->n_os_features; i++)
			if (json_array_append_new(features, json_string(p->os_features[i])))
				ret = -ENOMEM;
	}
	if (ret == 0 && is_set(p->variant))
		ret = set_str(o, "variant", p->variant);
out:
	if (ret < 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* One descriptor: mediaType, digest, size, platform, annotations.
 * Returns a new reference or NULL (out of memory). */
static json_t *descriptor_json(const struct reg_descriptor *d)
{
	bool attestation = reg_descriptor_is_attestation(d);
	enum reg_mtype t = reg_mtype_from_string(d->media_type);
	json_t *o = json_object(), *ann;
	int ret;

	if (!o)
		return NULL;
	ret = set_str(o, "mediaType", reg_mtype_string(t));
	if (ret == 0)
		ret = set_str(o, "digest", d->digest);
	if (ret == 0 && json_object_set_new(o, "size", json_integer((json_int_t)d->size)))
		ret = -ENOMEM;
	if (ret == 0 && (attestation || d->platform) &&
	    json_object_set_new(o, "platform", platform_json(d->platform, attestation)))
		ret = -ENOMEM;
	if (ret == 0 && has_reference(d)) {
		ann = json_object();
		ret = json_object_set_new(o, "annotations", ann) ? -ENOMEM : 0;
		if (ret == 0 && d->reference_digest)
			ret = set_str(ann, ANN_REF_DIGEST, d->reference_digest);
		if (ret == 0 && d->reference_type)
			ret = set_str(ann, ANN_REF_TYPE, d->reference_type);
	}
	if (ret < 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* The whole document for @type; a new reference or NULL. */
static json_t *list_json(const struct reg_descriptor *children, size_t n, enum reg_mtype type,
			 const struct reg_annotation *annotations, size_t n_annotations)
{
	json_t *root = json_object(), *manifests, *ann;
	int ret;

	if (!root)
		return NULL;
	ret = json_object_set_new(root, "schemaVersion", json_integer(2)) ? -ENOMEM : 0;
	if (ret == 0)
		ret = set_str(root, "mediaType", reg_mtype_string(type));
	if (ret == 0) {
		manifests = json_array();
		ret = json_object_set_new(root, "manifests", manifests) ? -ENOMEM : 0;
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (json_array_append_new(manifests, descriptor_json(&children[i])))
			ret = -ENOMEM;
	if (ret == 0 && n_annotations > 0) {
		ann = json_object();
		ret = json_object_set_new(root, "annotations", ann) ? -ENOMEM : 0;
		for (size_t i = 0; ret == 0 && i < n_annotations; i++)
			ret = set_str(ann, annotations[i].key, annotations[i].value);
	}
	if (ret < 0) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

int reg_list_build(const struct reg_descriptor *children, size_t n, enum reg_list_kind kind,
		   const struct reg_annotation *annotations, size_t n_annotations, char **bytes,
		   size_t *len, enum reg_mtype *type_out, char **why)
{
	bool all_docker = true, any_reference = false;
	enum reg_mtype type;
	json_t *root = NULL;
	char *s = NULL;
	size_t s_len;
	int ret;

	*bytes = NULL;
	*len = 0;
	*type_out = REG_MT_UNKNOWN;
	if (why)
		*why = NULL;

	if (kind != REG_LIST_AUTO && kind != REG_LIST_DOCKER && kind != REG_LIST_OCI) {
		ret = fail(why, "unknown list kind %d", (int)kind);
		goto out;
	}
	if ((n > 0 && !children) || (n_annotations > 0 && !annotations)) {
		ret = fail(why, "no children or annotations given");
		goto out;
	}
	if (n > REG_ITEMS_MAX) {
		ret = fail(why, "%zu manifests, more than %d", n, REG_ITEMS_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		enum reg_mtype t = REG_MT_UNKNOWN;

		ret = check_child(&children[i], i, &t, why);
		if (ret < 0)
			goto out;
		all_docker = all_docker && (t == REG_MT_DOCKER_V2 || t == REG_MT_DOCKER_LIST);
		any_reference = any_reference || has_reference(&children[i]);
	}
	ret = check_attestations(children, n, why);
	if (ret < 0)
		goto out;
	ret = check_annotations(annotations, n_annotations, why);
	if (ret < 0)
		goto out;

	if (kind == REG_LIST_DOCKER) {
		ret = check_docker(children, n, n_annotations, why);
		if (ret < 0)
			goto out;
	}
	if (kind == REG_LIST_DOCKER ||
	    (kind == REG_LIST_AUTO && all_docker && !any_reference && n_annotations == 0))
		type = REG_MT_DOCKER_LIST;
	else
		type = REG_MT_OCI_INDEX;

	ret = -ENOMEM;
	root = list_json(children, n, type, annotations, n_annotations);
	if (!root)
		goto out;
	s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(3));
	if (!s)
		goto out;
	s_len = strlen(s);
	if (s_len > REG_MANIFEST_MAX) {
		ret = fail(why, "the list is %zu bytes, more than the %u a registry takes", s_len,
			   REG_MANIFEST_MAX);
		goto out;
	}
	*bytes = s; /* success: hand over ownership */
	s = NULL;
	*len = s_len;
	*type_out = type;
	ret = 0;
out:
	free(s);
	json_decref(root);
	return ret;
}

/* GOOS values (go/build/syslist.go): the first field of a platform name. */
static const char *const goos[] = {
	"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
	"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
};

/* [a-z0-9_]+ */
static bool is_arch_field(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int reg_platform_from_name(const char *name, struct reg_platform *out)
{
	const char *f[3];
	size_t len[3], n_fields = 0;
	bool known_os = false;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!name)
		goto out;
	/* Split at '-' into at most three fields; a fourth is not this form. */
	for (const char *p = name, *dash;; p = dash + 1) {
		if (n_fields == 3)
			goto out;
		dash = strchr(p, '-');
		f[n_fields] = p;
		len[n_fields++] = dash ? (size_t)(dash - p) : strlen(p);
		if (!dash)
			break;
	}
	if (n_fields < 2)
		goto out;
	for (size_t i = 0; i < sizeof(goos) / sizeof(goos[0]); i++)
		if (strlen(goos[i]) == len[0] && memcmp(goos[i], f[0], len[0]) == 0)
			known_os = true;
	if (!known_os)
		goto out;
	for (size_t i = 1; i < n_fields; i++)
		if (!is_arch_field(f[i], len[i]))
			goto out;

	ret = -ENOMEM;
	out->os = strndup(f[0], len[0]);
	out->architecture = strndup(f[1], len[1]);
	if (!out->os || !out->architecture)
		goto out;
	if (n_fields == 3) {
		out->variant = strndup(f[2], len[2]);
		if (!out->variant)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		reg_platform_release(out);
	return ret;
}

/* The image-name suffixes of the ONAP multi-arch guide and of Docker's
 * per-architecture organisations, with the Debian and uname spellings
 * people also use.  All linux. */
static const struct {
	const char *suffix;
	const char *arch;
	const char *variant;
} suffixes[] = {
	{"amd64", "amd64", NULL},
	{"x86_64", "amd64", NULL},
	{"arm64v8", "arm64", "v8"},
	{"arm64", "arm64", NULL},
	{"aarch64", "arm64", NULL},
	{"arm32v7", "arm", "v7"},
	{"armhf", "arm", "v7"},
	{"arm32v6", "arm", "v6"},
	{"arm32v5", "arm", "v5"},
	{"armel", "arm", "v5"},
	{"i386", "386", NULL},
	{"386", "386", NULL},
	{"mips", "mips", NULL},
	{"mipsle", "mipsle", NULL},
	{"mips64", "mips64", NULL},
	{"mips64le", "mips64le", NULL},
	{"ppc64le", "ppc64le", NULL},
	{"ppc64", "ppc64", NULL},
	{"s390x", "s390x", NULL},
	{"riscv64", "riscv64", NULL},
	{"loong64", "loong64", NULL},
};

bool reg_name_suffix_platform(const char *name, const char **arch, const char **variant)
{
	const char *last;

	*arch = NULL;
	*variant = NULL;
	if (!name)
		return false;
	/* The last path component of a repository ("onap/py-app-amd64"),
	 * then what follows its last '-' (or all of it: "amd64"). */
	last = strrchr(name, '/');
	last = last ? last + 1 : name;
	if (strrchr(last, '-'))
		last = strrchr(last, '-') + 1;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(last, suffixes[i].suffix) == 0) {
			*arch = suffixes[i].arch;
			*variant = suffixes[i].variant;
			return true;
		}
	}
	return false;
}

/* @d is an attestation of the manifest @digest. */
static bool attests(const struct reg_descriptor *d, const char *digest)
{
	return reg_descriptor_is_attestation(d) && d->reference_digest &&
	       strcmp(d->reference_digest, digest) == 0;
}

int reg_index_pick_image(const struct reg_manifest *m, size_t *image, size_t **attest,
			 size_t *n_attest, size_t *n_images)
{
	size_t found = 0, pick = 0, k = 0;
	const char *digest;
	size_t *v = NULL;
	int ret = -EINVAL;

	*image = 0;
	*attest = NULL;
	*n_attest = 0;
	*n_images = 0;
	if (!m)
		goto out;
	for (size_t i = 0; i < m->n_entries; i++) {
		if (reg_descriptor_is_attestation(&m->entries[i]))
			continue;
		if (found++ == 0)
			pick = i;
	}
	*n_images = found;
	if (found != 1)
		goto out;

	digest = m->entries[pick].digest;
	for (size_t i = 0; i < m->n_entries; i++)
		if (attests(&m->entries[i], digest))
			k++;
	if (k > 0) {
		ret = -ENOMEM;
		v = calloc(k, sizeof(*v));
		if (!v)
			goto out;
		k = 0;
		for (size_t i = 0; i < m->n_entries; i++)
			if (attests(&m->entries[i], digest))
				v[k++] = i;
	}
	*image = pick;
	*attest = v; /* success: hand over ownership */
	v = NULL;
	*n_attest = k;
	ret = 0;
out:
	free(v);
	return ret;
}

void reg_annotations_free(char **keys, char **values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(keys ? keys[i] : NULL);
		free(values ? values[i] : NULL);
	}
	free(keys);
	free(values);
}

/* The "annotations" object of list document @bytes (a new reference), or
 * NULL with *err set: -EINVAL for no JSON object, 0 for none. */
static json_t *list_annotations_json(const char *bytes, size_t len, int *err)
{
	json_t *doc = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL), *ann;

	*err = 0;
	if (!json_is_object(doc)) {
		json_decref(doc);
		*err = -EINVAL;
		return NULL;
	}
	ann = json_object_get(doc, "annotations");
	if (json_is_object(ann))
		json_incref(ann);
	else
		ann = NULL;
	json_decref(doc);
	return ann;
}

int reg_list_annotations(const char *bytes, size_t len, char ***keys, char ***values, size_t *n)
{
	const char *key;
	json_t *ann, *val;
	int ret;

	*keys = *values = NULL;
	*n = 0;
	ann = list_annotations_json(bytes, len, &ret);
	if (!ann)
		return ret;
	*keys = calloc(json_object_size(ann) + 1, sizeof(char *));
	*values = calloc(json_object_size(ann) + 1, sizeof(char *));
	if (!*keys || !*values)
		goto nomem;
	json_object_foreach(ann, key, val) {
		if (!json_is_string(val))
			continue; /* not an annotation: OCI says strings */
		(*keys)[*n] = strdup(key);
		(*values)[*n] = strdup(json_string_value(val));
		if (!(*keys)[*n] || !(*values)[*n]) {
			(*n)++;
			goto nomem;
		}
		(*n)++;
	}
	json_decref(ann);
	return 0;
nomem:
	json_decref(ann);
	reg_annotations_free(*keys, *values, *n);
	*keys = *values = NULL;
	*n = 0;
	return -ENOMEM;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Does base entry @e say what child @c would? */
static bool same_entry(const struct reg_descriptor *e, const struct reg_descriptor *c)
{
	char *pe, *pc;
	bool same;

	if (strcmp(e->digest, c->digest) != 0 || e->size != c->size ||
	    reg_mtype_from_string(e->media_type) != reg_mtype_from_string(c->media_type))
		return false;
	if (reg_descriptor_is_attestation(c))
		return reg_descriptor_is_attestation(e) &&
		       same_string(e->reference_digest, c->reference_digest);
	if (!e->platform || !c->platform)
		return !e->platform && !c->platform;
	pe = reg_platform_string(e->platform);
	pc = reg_platform_string(c->platform);
	same = pe && pc && strcmp(pe, pc) == 0 &&
	       e->platform->n_os_features == c->platform->n_os_features;
	for (size_t i = 0; same && i < e->platform->n_os_features; i++)
		same = strcmp(e->platform->os_features[i], c->platform->os_features[i]) == 0;
	free(pe);
	free(pc);
	return same;
}

bool reg_list_same_content(const char *base, size_t len, enum reg_mtype type,
			   const struct reg_descriptor *children, size_t n,
			   const struct reg_annotation *annotations, size_t n_annotations)
{
	struct reg_manifest *m = NULL;
	json_t *ann = NULL;
	bool *used = NULL, same = false;
	int err;

	if (reg_manifest_parse(base, len, NULL, &m) < 0 || m->type != type || m->n_entries != n)
		goto out;
	used = calloc(n ? n : 1, sizeof(*used));
	if (!used)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < n; k++)
			if (!used[k] && same_entry(&m->entries[k], &children[i]))
				break;
		if (k == n)
			goto out;
		used[k] = true;
	}
	ann = list_annotations_json(base, len, &err);
	if ((ann ? json_object_size(ann) : 0) != n_annotations)
		goto out;
	for (size_t i = 0; i < n_annotations; i++) {
		json_t *v = json_object_get(ann, annotations[i].key);

		if (!json_is_string(v) || strcmp(json_string_value(v), annotations[i].value) != 0)
			goto out;
	}
	same = true;
out:
	json_decref(ann);
	free(used);
	reg_manifest_free(m);
	return same;
}
