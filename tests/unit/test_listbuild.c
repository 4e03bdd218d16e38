/*
 * Unit tests for registry/listbuild.c: the list documents regfs pushes
 * (type choice, refusals, exact bytes, round trip through
 * reg_manifest_parse), platform link names, ONAP name suffixes and the
 * image a link to an index means.  Hostile children (bad media types,
 * digests, sizes, control characters, invalid UTF-8, dangling
 * attestations, oversized lists) must be refused with a reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "registry/listbuild.h"

#include "check.h"

#define STREQ(a, b) ((a) && (b) && strcmp((a), (b)) == 0)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DD "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

#define DV2 REG_MT_DOCKER_V2_STR
#define DLIST REG_MT_DOCKER_LIST_STR
#define OCI REG_MT_OCI_MANIFEST_STR
#define OIDX REG_MT_OCI_INDEX_STR

static char *win_features[] = {"win32k", "x"};
static char *bad_features[] = {"ok", "bad\tfeature"};

static struct reg_platform p_amd64 = {.os = "linux", .architecture = "amd64"};
static struct reg_platform p_arm64 = {.os = "linux", .architecture = "arm64", .variant = "v8"};
static struct reg_platform p_mips = {.os = "linux", .architecture = "mips"};
static struct reg_platform p_win = {.os = "windows",
				    .architecture = "amd64",
				    .variant = "v1",
				    .os_version = "10.0.17763.1",
				    .os_features = win_features,
				    .n_os_features = 2};
static struct reg_platform p_unknown = {.os = "unknown", .architecture = "unknown"};
static struct reg_platform p_empty_variant = {.os = "linux", .architecture = "arm", .variant = ""};
static struct reg_platform p_utf8 = {
    .os = "linux", .architecture = "amd64", .os_version = "\xc3\xa9t\xc3\xa9"};
static struct reg_platform p_no_os = {.architecture = "amd64"};
static struct reg_platform p_empty_os = {.os = "", .architecture = "amd64"};
static struct reg_platform p_ctl = {.os = "li\nux", .architecture = "amd64"};
static struct reg_platform p_del = {.os = "linux", .architecture = "amd\17764"};
static struct reg_platform p_bad_utf8 = {.os = "linux", .architecture = "amd64", .variant = "\xff"};
static struct reg_platform p_overlong = {.os = "linux", .architecture = "\xc0\xaf"};
static struct reg_platform p_surrogate = {.os = "linux", .architecture = "\xed\xa0\x80"};
static struct reg_platform p_truncated = {.os = "linux", .architecture = "a\xe2\x82"};
static struct reg_platform p_bad_feature = {
    .os = "linux", .architecture = "amd64", .os_features = bad_features, .n_os_features = 2};
static struct reg_platform p_null_features = {
    .os = "linux", .architecture = "amd64", .n_os_features = 1};
/* An attestation's platform with a variant: written as plain unknown/unknown. */
static struct reg_platform p_unknown_variant = {
    .os = "unknown", .architecture = "unknown", .variant = "v9"};

#define IMG(mt, d, plat)                                                                           \
	{                                                                                          \
		.media_type = (mt), .digest = d, .size = 500, .platform = (plat)                   \
	}
#define ATT(d, ref)                                                                                \
	{                                                                                          \
		.media_type = OCI, .digest = d, .size = 840, .platform = &p_unknown,               \
		.reference_type = "attestation-manifest", .reference_digest = (ref)                \
	}
#define CHILDREN(...)                                                                              \
	(struct reg_descriptor[]){__VA_ARGS__},                                                    \
	    sizeof((struct reg_descriptor[]){__VA_ARGS__}) / sizeof(struct reg_descriptor)
#define ANNS(...)                                                                                  \
	(struct reg_annotation[]){__VA_ARGS__},                                                    \
	    sizeof((struct reg_annotation[]){__VA_ARGS__}) / sizeof(struct reg_annotation)
#define NO_ANNS NULL, 0

struct build_case {
	const char *what;
	struct reg_descriptor *children;
	size_t n;
	enum reg_list_kind kind;
	struct reg_annotation *annotations;
	size_t n_annotations;
	int ret;
	enum reg_mtype type; /* on success */
	const char *why;     /* on -EINVAL: a word the reason must hold */
};

static const struct build_case build_cases[] = {
    /* The type AUTO picks. */
    {"auto, docker images", CHILDREN(IMG(DV2, DA, &p_amd64), IMG(DV2, DB, &p_arm64)), REG_LIST_AUTO,
     NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"auto, docker image and docker list", CHILDREN(IMG(DV2, DA, &p_amd64), IMG(DLIST, DB, NULL)),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"auto, oci images", CHILDREN(IMG(OCI, DA, &p_amd64), IMG(OCI, DB, &p_mips)), REG_LIST_AUTO,
     NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"auto, mixed", CHILDREN(IMG(DV2, DA, &p_amd64), IMG(OCI, DB, &p_mips)), REG_LIST_AUTO, NO_ANNS,
     0, REG_MT_OCI_INDEX, NULL},
    {"auto, docker images and annotations", CHILDREN(IMG(DV2, DA, &p_amd64)), REG_LIST_AUTO,
     ANNS({"org.opencontainers.image.title", "py-app"}), 0, REG_MT_OCI_INDEX, NULL},
    {"auto, docker image with reference annotations",
     CHILDREN(
	 {.media_type = DV2, .digest = DA, .size = 1, .platform = &p_amd64, .reference_type = "x"}),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"auto, no children", NULL, 0, REG_LIST_AUTO, NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"auto, no children, annotations", NULL, 0, REG_LIST_AUTO, ANNS({"a", "b"}), 0,
     REG_MT_OCI_INDEX, NULL},
    {"auto, oci index child without platform", CHILDREN(IMG(OIDX, DA, NULL)), REG_LIST_AUTO,
     NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    /* Forced kinds. */
    {"oci, docker images", CHILDREN(IMG(DV2, DA, &p_amd64), IMG(DV2, DB, &p_arm64)), REG_LIST_OCI,
     NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"docker, oci images", CHILDREN(IMG(OCI, DA, &p_amd64), IMG(OCI, DB, &p_arm64)),
     REG_LIST_DOCKER, NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"docker, no children", NULL, 0, REG_LIST_DOCKER, NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"oci, no children", NULL, 0, REG_LIST_OCI, NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"docker, annotations", CHILDREN(IMG(DV2, DA, &p_amd64)), REG_LIST_DOCKER,
     ANNS({"org.opencontainers.image.title", "py-app"}), -EINVAL, 0, "annotations"},
    {"docker, attestation", CHILDREN(IMG(DV2, DA, &p_amd64), ATT(DB, DA)), REG_LIST_DOCKER, NO_ANNS,
     -EINVAL, 0, "attestation"},
    {"docker, image with reference annotations",
     CHILDREN({.media_type = DV2,
	       .digest = DA,
	       .size = 1,
	       .platform = &p_amd64,
	       .reference_digest = DB}),
     REG_LIST_DOCKER, NO_ANNS, -EINVAL, 0, "annotations"},
    {"unknown kind", CHILDREN(IMG(DV2, DA, &p_amd64)), (enum reg_list_kind)7, NO_ANNS, -EINVAL, 0,
     "kind"},
    /* Attestations. */
    {"attestation carried", CHILDREN(IMG(OCI, DA, &p_amd64), ATT(DB, DA)), REG_LIST_AUTO, NO_ANNS,
     0, REG_MT_OCI_INDEX, NULL},
    {"attestation before its image", CHILDREN(ATT(DB, DA), IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"attestation without platform",
     CHILDREN(IMG(OCI, DA, &p_amd64), {.media_type = OCI,
				       .digest = DB,
				       .size = 9,
				       .reference_type = "attestation-manifest",
				       .reference_digest = DA}),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"attestation platform with variant",
     CHILDREN(IMG(OCI, DA, &p_amd64), {.media_type = OCI,
				       .digest = DB,
				       .size = 9,
				       .platform = &p_unknown_variant,
				       .reference_type = "attestation-manifest",
				       .reference_digest = DA}),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"attestation of a digest not in the list", CHILDREN(IMG(OCI, DA, &p_amd64), ATT(DB, DC)),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "refers"},
    {"attestation of an attestation", CHILDREN(IMG(OCI, DA, &p_amd64), ATT(DB, DA), ATT(DC, DB)),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "refers"},
    {"attestation of itself", CHILDREN(IMG(OCI, DA, &p_amd64), ATT(DB, DB)), REG_LIST_AUTO, NO_ANNS,
     -EINVAL, 0, "refers"},
    {"attestation without reference digest",
     CHILDREN(IMG(OCI, DA, &p_amd64), {.media_type = OCI,
				       .digest = DB,
				       .size = 9,
				       .platform = &p_unknown,
				       .reference_type = "attestation-manifest"}),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "refers"},
    {"only an attestation", CHILDREN(ATT(DB, DA)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "refers"},
    /* unknown/unknown without the annotation is an image like any other. */
    {"unknown/unknown image", CHILDREN(IMG(OCI, DA, &p_unknown)), REG_LIST_AUTO, NO_ANNS, 0,
     REG_MT_OCI_INDEX, NULL},
    /* Platforms. */
    {"full windows platform", CHILDREN(IMG(DV2, DA, &p_win)), REG_LIST_AUTO, NO_ANNS, 0,
     REG_MT_DOCKER_LIST, NULL},
    {"empty variant left out", CHILDREN(IMG(DV2, DA, &p_empty_variant)), REG_LIST_AUTO, NO_ANNS, 0,
     REG_MT_DOCKER_LIST, NULL},
    {"utf-8 os.version", CHILDREN(IMG(OCI, DA, &p_utf8)), REG_LIST_AUTO, NO_ANNS, 0,
     REG_MT_OCI_INDEX, NULL},
    {"same digest twice", CHILDREN(IMG(OCI, DA, &p_amd64), IMG(OCI, DA, &p_arm64)), REG_LIST_AUTO,
     NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"image without platform", CHILDREN(IMG(OCI, DA, NULL)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"image without os", CHILDREN(IMG(OCI, DA, &p_no_os)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"image with empty os", CHILDREN(IMG(OCI, DA, &p_empty_os)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"newline in os", CHILDREN(IMG(OCI, DA, &p_ctl)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"DEL in architecture", CHILDREN(IMG(OCI, DA, &p_del)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"invalid utf-8 variant", CHILDREN(IMG(OCI, DA, &p_bad_utf8)), REG_LIST_AUTO, NO_ANNS, -EINVAL,
     0, "platform"},
    {"overlong utf-8", CHILDREN(IMG(OCI, DA, &p_overlong)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"surrogate", CHILDREN(IMG(OCI, DA, &p_surrogate)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"truncated utf-8", CHILDREN(IMG(OCI, DA, &p_truncated)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "platform"},
    {"tab in os.features", CHILDREN(IMG(OCI, DA, &p_bad_feature)), REG_LIST_AUTO, NO_ANNS, -EINVAL,
     0, "platform"},
    {"os.features count without array", CHILDREN(IMG(OCI, DA, &p_null_features)), REG_LIST_AUTO,
     NO_ANNS, -EINVAL, 0, "platform"},
    {"index child with bad platform", CHILDREN(IMG(OIDX, DA, &p_ctl)), REG_LIST_AUTO, NO_ANNS,
     -EINVAL, 0, "platform"},
    /* Media types, digests, sizes. */
    {"media type case and parameters",
     CHILDREN(
	 IMG("Application/VND.Docker.Distribution.Manifest.V2+JSON;charset=utf-8", DA, &p_amd64)),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_DOCKER_LIST, NULL},
    {"no media type", CHILDREN(IMG(NULL, DA, &p_amd64)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "media type"},
    {"config media type", CHILDREN(IMG("application/vnd.oci.image.config.v1+json", DA, &p_amd64)),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "media type"},
    {"schema 1 media type", CHILDREN(IMG(REG_MT_DOCKER_V1_SIGNED_STR, DA, &p_amd64)), REG_LIST_AUTO,
     NO_ANNS, -EINVAL, 0, "media type"},
    {"empty media type", CHILDREN(IMG("", DA, &p_amd64)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "media type"},
    {"media type with space", CHILDREN(IMG(DV2 " x", DA, &p_amd64)), REG_LIST_AUTO, NO_ANNS,
     -EINVAL, 0, "media type"},
    {"media type with newline", CHILDREN(IMG(DV2 "\n", DA, &p_amd64)), REG_LIST_AUTO, NO_ANNS,
     -EINVAL, 0, "media type"},
    {"bad digest", CHILDREN(IMG(OCI, "sha256:xyz", &p_amd64)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "digest"},
    {"empty digest", CHILDREN(IMG(OCI, "", &p_amd64)), REG_LIST_AUTO, NO_ANNS, -EINVAL, 0,
     "digest"},
    {"upper-case digest",
     CHILDREN(IMG(OCI, "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  &p_amd64)),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "digest"},
    {"negative size", CHILDREN({.media_type = OCI, .digest = DA, .size = -1, .platform = &p_amd64}),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "size"},
    {"size 0 and int64 max",
     CHILDREN({.media_type = OCI, .digest = DA, .size = 0, .platform = &p_amd64},
	      {.media_type = OCI, .digest = DB, .size = INT64_MAX, .platform = &p_arm64}),
     REG_LIST_AUTO, NO_ANNS, 0, REG_MT_OCI_INDEX, NULL},
    {"bad reference digest",
     CHILDREN({.media_type = OCI,
	       .digest = DA,
	       .size = 1,
	       .platform = &p_amd64,
	       .reference_digest = "sha256:x"}),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "reference digest"},
    {"reference type with control character",
     CHILDREN(IMG(OCI, DA, &p_amd64), {.media_type = OCI,
				       .digest = DB,
				       .size = 1,
				       .platform = &p_unknown,
				       .reference_type = "attestation\x01",
				       .reference_digest = DA}),
     REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "reference type"},
    /* Index annotations. */
    {"annotations", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     ANNS({"org.opencontainers.image.title", "py-app"},
	  {"org.opencontainers.image.description", "line one\nline two\t\"quoted\" \xc3\xa9"}),
     0, REG_MT_OCI_INDEX, NULL},
    {"annotation with empty value", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI, ANNS({"a", ""}),
     0, REG_MT_OCI_INDEX, NULL},
    {"annotation empty key", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI, ANNS({"", "x"}),
     -EINVAL, 0, "key"},
    {"annotation NULL key", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI, ANNS({NULL, "x"}),
     -EINVAL, 0, "key"},
    {"annotation NULL value", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI, ANNS({"a", NULL}),
     -EINVAL, 0, "value"},
    {"annotation key with newline", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     ANNS({"a\nb", "x"}), -EINVAL, 0, "key"},
    {"annotation key invalid utf-8", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     ANNS({"a\xfe", "x"}), -EINVAL, 0, "key"},
    {"annotation value invalid utf-8", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     ANNS({"a", "\xc3"}), -EINVAL, 0, "value"},
    {"annotation repeated", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI,
     ANNS({"a", "1"}, {"b", "2"}, {"a", "3"}), -EINVAL, 0, "twice"},
    /* Arguments. */
    {"children NULL, n 1", NULL, 1, REG_LIST_AUTO, NO_ANNS, -EINVAL, 0, "children"},
    {"annotations NULL, n 1", CHILDREN(IMG(OCI, DA, &p_amd64)), REG_LIST_OCI, NULL, 1, -EINVAL, 0,
     "annotations"},
};

/* NULL and "" are the same absent field. */
static bool field_eq(const char *a, const char *b)
{
	if (!a || !*a)
		return !b || !*b;
	return b && strcmp(a, b) == 0;
}

static bool opt_eq(const char *a, const char *b)
{
	return a ? b && strcmp(a, b) == 0 : b == NULL;
}

/* What reg_manifest_parse sees in @bytes is what was given. */
static void check_round_trip(const char *what, const struct reg_descriptor *c, size_t n,
			     const char *bytes, size_t len, enum reg_mtype type)
{
	struct reg_manifest *m = NULL;
	int ret = reg_manifest_parse(bytes, len, NULL, &m);

	CHECK(ret == 0 && m, "%s: round trip parse %d", what, ret);
	if (!m)
		return;
	CHECK(m->type == type && STREQ(m->media_type, reg_mtype_string(type)),
	      "%s: round trip type %d", what, m->type);
	CHECK(m->schema_version == 2, "%s: schemaVersion %d", what, m->schema_version);
	CHECK(m->n_entries == n, "%s: %zu entries, want %zu", what, m->n_entries, n);
	for (size_t i = 0; i < n && i < m->n_entries; i++) {
		const struct reg_descriptor *w = &c[i], *g = &m->entries[i];
		const struct reg_platform *wp = w->platform, *gp = g->platform;

		CHECK(STREQ(g->media_type, reg_mtype_string(reg_mtype_from_string(w->media_type))),
		      "%s: entry %zu media type \"%s\"", what, i, g->media_type);
		CHECK(strcmp(g->digest, w->digest) == 0, "%s: entry %zu digest", what, i);
		CHECK(g->size == w->size, "%s: entry %zu size", what, i);
		CHECK(opt_eq(g->reference_type, w->reference_type) &&
			  opt_eq(g->reference_digest, w->reference_digest),
		      "%s: entry %zu references", what, i);
		CHECK(reg_descriptor_is_attestation(g) == reg_descriptor_is_attestation(w),
		      "%s: entry %zu attestation", what, i);
		if (reg_descriptor_is_attestation(w)) {
			CHECK(gp && STREQ(gp->os, "unknown") &&
				  STREQ(gp->architecture, "unknown") && !gp->variant &&
				  !gp->os_version && gp->n_os_features == 0,
			      "%s: entry %zu attestation platform", what, i);
			CHECK(m->entry_names[i] == NULL, "%s: entry %zu named", what, i);
			continue;
		}
		if (!wp) {
			CHECK(gp == NULL, "%s: entry %zu platform appeared", what, i);
			continue;
		}
		CHECK(gp, "%s: entry %zu platform lost", what, i);
		if (!gp)
			continue;
		CHECK(field_eq(gp->os, wp->os) && field_eq(gp->architecture, wp->architecture) &&
			  field_eq(gp->variant, wp->variant) &&
			  field_eq(gp->os_version, wp->os_version),
		      "%s: entry %zu platform fields", what, i);
		CHECK(gp->n_os_features == wp->n_os_features, "%s: entry %zu os.features", what, i);
		for (size_t k = 0; k < gp->n_os_features && k < wp->n_os_features; k++)
			CHECK(STREQ(gp->os_features[k], wp->os_features[k]),
			      "%s: entry %zu os.features[%zu]", what, i, k);
	}
	reg_manifest_free(m);
}

/* The document's top-level annotations, in order, are @a. */
static void check_annotations(const char *what, const char *bytes, size_t len,
			      const struct reg_annotation *a, size_t n)
{
	json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *ann = json_object_get(root, "annotations");
	const char *key;
	json_t *v;
	size_t i = 0;

	CHECK(root, "%s: not JSON", what);
	if (n == 0) {
		CHECK(ann == NULL, "%s: annotations appeared", what);
	} else {
		CHECK(json_object_size(ann) == n, "%s: %zu annotations", what,
		      json_object_size(ann));
		json_object_foreach(ann, key, v)
		{
			CHECK(i < n && strcmp(key, a[i].key) == 0 && json_is_string(v) &&
				  strcmp(json_string_value(v), a[i].value) == 0,
			      "%s: annotation %zu \"%s\"", what, i, key);
			i++;
		}
	}
	json_decref(root);
}

static void test_build_table(void)
{
	for (size_t i = 0; i < COUNT(build_cases); i++) {
		const struct build_case *c = &build_cases[i];
		char *bytes = (char *)1, *bytes2 = NULL, *why = (char *)1, *why2 = NULL;
		size_t len = 99, len2 = 0;
		enum reg_mtype type = REG_MT_DOCKER_V1, type2;
		int ret, ret2;

		ret = reg_list_build(c->children, c->n, c->kind, c->annotations, c->n_annotations,
				     &bytes, &len, &type, &why);
		CHECK(ret == c->ret, "%s: ret %d, want %d (%s)", c->what, ret, c->ret,
		      ret == -EINVAL && why ? why : "");
		if (ret < 0) {
			CHECK(bytes == NULL && len == 0 && type == REG_MT_UNKNOWN,
			      "%s: output set on error", c->what);
			CHECK(ret != -EINVAL || (why && *why), "%s: no reason", c->what);
			if (why && c->why)
				CHECK(strstr(why, c->why), "%s: reason \"%s\" lacks \"%s\"",
				      c->what, why, c->why);
			/* House style: lower case, no trailing period. */
			if (why && *why)
				CHECK(!(why[0] >= 'A' && why[0] <= 'Z') &&
					  why[strlen(why) - 1] != '.',
				      "%s: reason style \"%s\"", c->what, why);
			free(why);
			/* Without a place for the reason: same answer. */
			ret2 = reg_list_build(c->children, c->n, c->kind, c->annotations,
					      c->n_annotations, &bytes2, &len2, &type2, NULL);
			CHECK(ret2 == ret && bytes2 == NULL, "%s: NULL why ret %d", c->what, ret2);
			continue;
		}
		CHECK(why == NULL, "%s: reason on success", c->what);
		CHECK(type == c->type, "%s: type %d, want %d", c->what, type, c->type);
		if (!bytes)
			continue;
		CHECK(strlen(bytes) == len, "%s: length %zu, strlen %zu", c->what, len,
		      strlen(bytes));
		CHECK(len > 0 && bytes[len - 1] == '}', "%s: trailing bytes", c->what);
		CHECK(strncmp(bytes, "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"", 42) == 0,
		      "%s: head \"%.60s\"", c->what, bytes);

		/* Deterministic: the same input, the same bytes. */
		ret2 = reg_list_build(c->children, c->n, c->kind, c->annotations, c->n_annotations,
				      &bytes2, &len2, &type2, &why2);
		CHECK(ret2 == 0 && len2 == len && bytes2 && memcmp(bytes, bytes2, len) == 0 &&
			  type2 == type,
		      "%s: second build differs", c->what);
		free(bytes2);

		check_round_trip(c->what, c->children, c->n, bytes, len, type);
		check_annotations(c->what, bytes, len, c->annotations, c->n_annotations);
		free(bytes);
	}
}

/* The exact bytes: key order, 3-space indent, omitted empty fields. */
static void test_build_bytes(void)
{
	static const char want_docker[] = "{\n"
					  "   \"schemaVersion\": 2,\n"
					  "   \"mediaType\": \"" DLIST "\",\n"
					  "   \"manifests\": [\n"
					  "      {\n"
					  "         \"mediaType\": \"" DV2 "\",\n"
					  "         \"digest\": \"" DA "\",\n"
					  "         \"size\": 500,\n"
					  "         \"platform\": {\n"
					  "            \"architecture\": \"amd64\",\n"
					  "            \"os\": \"windows\",\n"
					  "            \"os.version\": \"10.0.17763.1\",\n"
					  "            \"os.features\": [\n"
					  "               \"win32k\",\n"
					  "               \"x\"\n"
					  "            ],\n"
					  "            \"variant\": \"v1\"\n"
					  "         }\n"
					  "      },\n"
					  "      {\n"
					  "         \"mediaType\": \"" DV2 "\",\n"
					  "         \"digest\": \"" DB "\",\n"
					  "         \"size\": 500,\n"
					  "         \"platform\": {\n"
					  "            \"architecture\": \"arm\",\n"
					  "            \"os\": \"linux\"\n"
					  "         }\n"
					  "      }\n"
					  "   ]\n"
					  "}";
	static const char want_oci[] =
	    "{\n"
	    "   \"schemaVersion\": 2,\n"
	    "   \"mediaType\": \"" OIDX "\",\n"
	    "   \"manifests\": [\n"
	    "      {\n"
	    "         \"mediaType\": \"" OCI "\",\n"
	    "         \"digest\": \"" DA "\",\n"
	    "         \"size\": 500,\n"
	    "         \"platform\": {\n"
	    "            \"architecture\": \"arm64\",\n"
	    "            \"os\": \"linux\",\n"
	    "            \"variant\": \"v8\"\n"
	    "         }\n"
	    "      },\n"
	    "      {\n"
	    "         \"mediaType\": \"" OCI "\",\n"
	    "         \"digest\": \"" DB "\",\n"
	    "         \"size\": 840,\n"
	    "         \"platform\": {\n"
	    "            \"architecture\": \"unknown\",\n"
	    "            \"os\": \"unknown\"\n"
	    "         },\n"
	    "         \"annotations\": {\n"
	    "            \"vnd.docker.reference.digest\": \"" DA "\",\n"
	    "            \"vnd.docker.reference.type\": \"attestation-manifest\"\n"
	    "         }\n"
	    "      },\n"
	    "      {\n"
	    "         \"mediaType\": \"" OIDX "\",\n"
	    "         \"digest\": \"" DC "\",\n"
	    "         \"size\": 500\n"
	    "      }\n"
	    "   ],\n"
	    "   \"annotations\": {\n"
	    "      \"z.last\": \"1\",\n"
	    "      \"a.first\": \"2\"\n"
	    "   }\n"
	    "}";
	struct reg_descriptor docker[] = {IMG(DV2, DA, &p_win), IMG(DV2, DB, &p_empty_variant)};
	struct reg_descriptor oci[] = {IMG(OCI, DA, &p_arm64), ATT(DB, DA), IMG(OIDX, DC, NULL)};
	struct reg_annotation ann[] = {{"z.last", "1"}, {"a.first", "2"}};
	char *bytes = NULL, *why = NULL;
	size_t len = 0;
	enum reg_mtype type;
	int ret;

	ret = reg_list_build(docker, COUNT(docker), REG_LIST_AUTO, NULL, 0, &bytes, &len, &type,
			     &why);
	CHECK(ret == 0 && type == REG_MT_DOCKER_LIST, "docker bytes: ret %d", ret);
	CHECK(bytes && len == sizeof(want_docker) - 1 && memcmp(bytes, want_docker, len) == 0,
	      "docker bytes:\n%s\nwant:\n%s", bytes ? bytes : "(null)", want_docker);
	free(bytes);
	bytes = NULL;

	ret = reg_list_build(oci, COUNT(oci), REG_LIST_AUTO, ann, COUNT(ann), &bytes, &len, &type,
			     &why);
	CHECK(ret == 0 && type == REG_MT_OCI_INDEX, "oci bytes: ret %d", ret);
	CHECK(bytes && len == sizeof(want_oci) - 1 && memcmp(bytes, want_oci, len) == 0,
	      "oci bytes:\n%s\nwant:\n%s", bytes ? bytes : "(null)", want_oci);
	free(bytes);
	bytes = NULL;

	/* The order given is the order written: swapped children, other bytes. */
	{
		struct reg_descriptor a[] = {IMG(DV2, DA, &p_amd64), IMG(DV2, DB, &p_arm64)};
		struct reg_descriptor b[] = {IMG(DV2, DB, &p_arm64), IMG(DV2, DA, &p_amd64)};
		char *ba = NULL, *bb = NULL;
		size_t la = 0, lb = 0;

		reg_list_build(a, 2, REG_LIST_AUTO, NULL, 0, &ba, &la, &type, NULL);
		reg_list_build(b, 2, REG_LIST_AUTO, NULL, 0, &bb, &lb, &type, NULL);
		CHECK(ba && bb && la == lb && memcmp(ba, bb, la) != 0, "order ignored");
		CHECK(ba && bb && strstr(ba, DA) < strstr(ba, DB) &&
			  strstr(bb, DB) < strstr(bb, DA),
		      "order not kept");
		free(ba);
		free(bb);
	}
}

/* A list too big for a registry is refused, one that fits is not. */
static void test_build_size(void)
{
	size_t n = 20000;
	struct reg_descriptor *v = calloc(n, sizeof(*v));
	char *bytes = NULL, *why = NULL;
	size_t len = 0;
	enum reg_mtype type;
	int ret;

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		v[i].media_type = OCI;
		snprintf(v[i].digest, sizeof(v[i].digest), "sha256:%064zx", i);
		v[i].size = 1;
		v[i].platform = &p_win;
	}
	ret = reg_list_build(v, n, REG_LIST_AUTO, NULL, 0, &bytes, &len, &type, &why);
	CHECK(ret == -EINVAL && bytes == NULL && why && strstr(why, "bytes"),
	      "20000 windows entries: ret %d, %s", ret, why ? why : "");
	free(why);
	why = NULL;

	ret = reg_list_build(v, 1000, REG_LIST_AUTO, NULL, 0, &bytes, &len, &type, &why);
	CHECK(ret == 0 && bytes && len <= REG_MANIFEST_MAX, "1000 entries: ret %d", ret);
	if (bytes)
		check_round_trip("1000 entries", v, 1000, bytes, len, REG_MT_OCI_INDEX);
	free(bytes);
	free(v);
}

static void test_kind_parse(void)
{
	static const struct {
		const char *s;
		int ret;
		enum reg_list_kind kind;
	} c[] = {
	    {"docker", 0, REG_LIST_DOCKER},
	    {"oci", 0, REG_LIST_OCI},
	    {"docker\n", 0, REG_LIST_DOCKER},
	    {"oci\r\n", 0, REG_LIST_OCI},
	    {"  oci \t\n", 0, REG_LIST_OCI},
	    {"OCI", 0, REG_LIST_OCI},
	    {"Docker", 0, REG_LIST_DOCKER},
	    {DLIST, 0, REG_LIST_DOCKER},
	    {OIDX "\n", 0, REG_LIST_OCI},
	    {"APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON", 0, REG_LIST_OCI},
	    {"", 0, REG_LIST_AUTO},
	    {"\n", 0, REG_LIST_AUTO},
	    {" \t\r\n\n", 0, REG_LIST_AUTO},
	    {NULL, 0, REG_LIST_AUTO},
	    {"auto", -EINVAL, REG_LIST_AUTO},
	    {"oc", -EINVAL, REG_LIST_AUTO},
	    {"ocii", -EINVAL, REG_LIST_AUTO},
	    {"oci docker", -EINVAL, REG_LIST_AUTO},
	    {"oci\ndocker", -EINVAL, REG_LIST_AUTO},
	    {"o ci", -EINVAL, REG_LIST_AUTO},
	    {DV2, -EINVAL, REG_LIST_AUTO},
	    {OCI, -EINVAL, REG_LIST_AUTO},
	    {OIDX "; charset=utf-8", -EINVAL, REG_LIST_AUTO},
	    {OIDX "x", -EINVAL, REG_LIST_AUTO},
	    {"\"oci\"", -EINVAL, REG_LIST_AUTO},
	    {"oci\x01", -EINVAL, REG_LIST_AUTO},
	};

	for (size_t i = 0; i < COUNT(c); i++) {
		enum reg_list_kind k = (enum reg_list_kind)42;
		int ret = reg_list_kind_parse(c[i].s, &k);

		CHECK(ret == c[i].ret && k == c[i].kind, "kind \"%s\": ret %d kind %d",
		      c[i].s ? c[i].s : "(null)", ret, k);
	}
}

static void test_platform_from_name(void)
{
	static const struct {
		const char *name;
		const char *os, *arch, *variant; /* os NULL: -EINVAL */
	} c[] = {
	    {"linux-mips", "linux", "mips", NULL},
	    {"linux-amd64", "linux", "amd64", NULL},
	    {"linux-arm64-v8", "linux", "arm64", "v8"},
	    {"linux-arm-v7", "linux", "arm", "v7"},
	    {"windows-amd64", "windows", "amd64", NULL},
	    {"darwin-arm64", "darwin", "arm64", NULL},
	    {"freebsd-riscv64", "freebsd", "riscv64", NULL},
	    {"zos-s390x", "zos", "s390x", NULL},
	    {"wasip1-wasm", "wasip1", "wasm", NULL},
	    {"linux-386", "linux", "386", NULL},
	    {"linux-x86_64", "linux", "x86_64", NULL},
	    {"linux-loong64", "linux", "loong64", NULL},
	    {"linux-anyarch_9-z_1", "linux", "anyarch_9", "z_1"},
	    /* Not in platform form. */
	    {"amd64", NULL, NULL, NULL},
	    {"py-app-amd64", NULL, NULL, NULL},
	    {"linux-", NULL, NULL, NULL},
	    {"-amd64", NULL, NULL, NULL},
	    {"linux-AMD64", NULL, NULL, NULL},
	    {"linux-amd64-v8-x", NULL, NULL, NULL},
	    {"linux-amd64-V8", NULL, NULL, NULL},
	    {"Linux-amd64", NULL, NULL, NULL},
	    {"linux", NULL, NULL, NULL},
	    {"", NULL, NULL, NULL},
	    {"-", NULL, NULL, NULL},
	    {"--", NULL, NULL, NULL},
	    {"linux--amd64", NULL, NULL, NULL},
	    {"linux-amd64-", NULL, NULL, NULL},
	    {"linux-amd64~1", NULL, NULL, NULL},
	    {"linux-amd64-10.0.17763.1", NULL, NULL, NULL},
	    {"windows-amd64-10.0.17763.1", NULL, NULL, NULL},
	    {"unknown-unknown", NULL, NULL, NULL},
	    {"linux-arm.64", NULL, NULL, NULL},
	    {"linux-amd64 ", NULL, NULL, NULL},
	    {" linux-amd64", NULL, NULL, NULL},
	    {"linux-amd64\n", NULL, NULL, NULL},
	    {"linux/amd64", NULL, NULL, NULL},
	    {"linux-am d64", NULL, NULL, NULL},
	    {"linux-\xc3\xa4md64", NULL, NULL, NULL},
	    {"linuxx-amd64", NULL, NULL, NULL},
	    {"linu-amd64", NULL, NULL, NULL},
	    {"gnu-amd64", NULL, NULL, NULL},
	    {"linux-..", NULL, NULL, NULL},
	    {"linux-amd64-../..", NULL, NULL, NULL},
	    {".linux-amd64", NULL, NULL, NULL},
	    {NULL, NULL, NULL, NULL},
	};

	for (size_t i = 0; i < COUNT(c); i++) {
		struct reg_platform p;
		const char *name = c[i].name ? c[i].name : "(null)";
		int ret;

		memset(&p, 0x5a, sizeof(p));
		ret = reg_platform_from_name(c[i].name, &p);
		if (!c[i].os) {
			CHECK(ret == -EINVAL, "\"%s\": ret %d, want -EINVAL", name, ret);
			if (ret == 0)
				reg_platform_release(&p);
			CHECK(!p.os && !p.architecture && !p.variant && !p.os_version &&
				  !p.os_features && p.n_os_features == 0,
			      "\"%s\": output not empty on error", name);
			continue;
		}
		CHECK(ret == 0, "\"%s\": ret %d", name, ret);
		if (ret < 0)
			continue;
		CHECK(STREQ(p.os, c[i].os) && STREQ(p.architecture, c[i].arch) &&
			  opt_eq(p.variant, c[i].variant) && !p.os_version &&
			  p.n_os_features == 0 && !p.os_features,
		      "\"%s\": %s/%s/%s", name, p.os, p.architecture, p.variant ? p.variant : "");
		/* An entry of this platform is named as the link was. */
		{
			struct reg_descriptor d = {
			    .media_type = OCI, .digest = DA, .size = 1, .platform = &p};
			char *bytes = NULL;
			size_t len = 0;
			enum reg_mtype type;
			struct reg_manifest *m = NULL;

			if (reg_list_build(&d, 1, REG_LIST_AUTO, NULL, 0, &bytes, &len, &type,
					   NULL) == 0 &&
			    reg_manifest_parse(bytes, len, NULL, &m) == 0)
				CHECK(STREQ(m->entry_names[0], c[i].name),
				      "\"%s\": entry named \"%s\"", name, m->entry_names[0]);
			else
				CHECK(0, "\"%s\": no list", name);
			reg_manifest_free(m);
			free(bytes);
		}
		reg_platform_release(&p);
	}
}

static void test_name_suffix(void)
{
	static const struct {
		const char *name;
		const char *arch, *variant; /* arch NULL: no suffix */
	} c[] = {
	    {"py-app-amd64", "amd64", NULL},
	    {"onap/py-app-amd64", "amd64", NULL},
	    {"onap/py-app-arm64v8", "arm64", "v8"},
	    {"py-app-arm32v7", "arm", "v7"},
	    {"py-app-arm32v6", "arm", "v6"},
	    {"py-app-mips", "mips", NULL},
	    {"py-app-mips64le", "mips64le", NULL},
	    {"py-app-ppc64le", "ppc64le", NULL},
	    {"py-app-s390x", "s390x", NULL},
	    {"py-app-i386", "386", NULL},
	    {"py-app-riscv64", "riscv64", NULL},
	    {"py-app-arm64", "arm64", NULL},
	    {"a-b-c-amd64", "amd64", NULL},
	    {"amd64", "amd64", NULL},
	    {"arm64v8", "arm64", "v8"},
	    {"onap/amd64", "amd64", NULL},
	    {"x/y/z/py-app-s390x", "s390x", NULL},
	    /* No known suffix. */
	    {"py-app", NULL, NULL},
	    {"py-app-amd", NULL, NULL},
	    {"py-app-AMD64", NULL, NULL},
	    {"py-app-amd64x", NULL, NULL},
	    {"py-app-xamd64", NULL, NULL},
	    {"py-app_amd64", NULL, NULL},
	    {"py-app.amd64", NULL, NULL},
	    {"py-appamd64", NULL, NULL},
	    {"py-app-amd64-debug", NULL, NULL},
	    {"py-app-amd64/", NULL, NULL},
	    {"py-app-", NULL, NULL},
	    {"amd64/py-app", NULL, NULL},
	    {"onap-amd64/py-app", NULL, NULL},
	    {"py-app-arm64v8.1", NULL, NULL},
	    {"py-app-mipsel", NULL, NULL},
	    {"py-app-v8", NULL, NULL},
	    {"py-app-arm", NULL, NULL},
	    {"linux-amd64-v8", NULL, NULL},
	    {"", NULL, NULL},
	    {"-", NULL, NULL},
	    {NULL, NULL, NULL},
	};

	for (size_t i = 0; i < COUNT(c); i++) {
		const char *arch = "x", *variant = "x";
		bool ok = reg_name_suffix_platform(c[i].name, &arch, &variant);
		const char *name = c[i].name ? c[i].name : "(null)";

		if (!c[i].arch) {
			CHECK(!ok && !arch && !variant, "\"%s\": suffix %s", name,
			      arch ? arch : "");
			continue;
		}
		CHECK(ok && STREQ(arch, c[i].arch) && opt_eq(variant, c[i].variant),
		      "\"%s\": %d %s/%s, want %s/%s", name, ok, arch ? arch : "(null)",
		      variant ? variant : "(null)", c[i].arch,
		      c[i].variant ? c[i].variant : "(null)");
	}
}

#define PLAT(os, arch) "\"platform\":{\"architecture\":\"" arch "\",\"os\":\"" os "\"}"
#define ENTRY(d, plat) "{\"mediaType\":\"" OCI "\",\"digest\":\"" d "\",\"size\":500," plat "}"
#define ATTEST(d, ref)                                                                             \
	"{\"mediaType\":\"" OCI "\",\"digest\":\"" d "\",\"size\":840,"                            \
	"\"annotations\":{\"vnd.docker.reference.digest\":\"" ref "\","                            \
	"\"vnd.docker.reference.type\":\"attestation-manifest\"}," PLAT("unknown", "unknown") "}"
#define INDEX(entries)                                                                             \
	"{\"schemaVersion\":2,\"mediaType\":\"" OIDX "\",\"manifests\":[" entries "]}"

#define AMD64(d) ENTRY(d, PLAT("linux", "amd64"))
#define ARM64(d) ENTRY(d, PLAT("linux", "arm64"))
/* Attestations of other digests around the image (entry 1) and its two. */
#define OTHERS                                                                                     \
	INDEX(ATTEST(DB, DC) "," AMD64(DA) "," ATTEST(DC, DA) "," ATTEST(DD, DD) "," ATTEST(DB, DA))

#define NO_PLATFORM INDEX("{\"mediaType\":\"" OCI "\",\"digest\":\"" DA "\",\"size\":1}")
#define TWO_ATTESTED INDEX(AMD64(DA) "," ATTEST(DC, DA) "," ARM64(DB) "," ATTEST(DD, DB))
#define UNKNOWN_IMAGE INDEX(AMD64(DA) "," ENTRY(DB, PLAT("unknown", "unknown")))
#define THREE INDEX(AMD64(DA) "," ARM64(DB) "," ENTRY(DC, PLAT("linux", "mips")))
#define IMAGE_MANIFEST "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1}}"

static void test_pick_image(void)
{
	static const struct {
		const char *what;
		int ret;
		size_t n_images;
		size_t image;
		size_t n_attest;
		size_t attest[3];
		const char *doc;
	} c[] = {
	    {"empty index", -EINVAL, 0, 0, 0, {0}, INDEX("")},
	    {"only attestations", -EINVAL, 0, 0, 0, {0}, INDEX(ATTEST(DB, DA) "," ATTEST(DC, DA))},
	    {"one image", 0, 1, 0, 0, {0}, INDEX(AMD64(DA))},
	    {"image without platform", 0, 1, 0, 0, {0}, NO_PLATFORM},
	    {"buildx single platform", 0, 1, 0, 1, {1}, INDEX(AMD64(DA) "," ATTEST(DB, DA))},
	    {"attestation first", 0, 1, 1, 1, {0}, INDEX(ATTEST(DB, DA) "," ARM64(DA))},
	    {"attestations of others left out", 0, 1, 1, 2, {2, 4}, OTHERS},
	    {"no attestation of the image", 0, 1, 0, 0, {0}, INDEX(AMD64(DA) "," ATTEST(DB, DC))},
	    {"two images", -EINVAL, 2, 0, 0, {0}, INDEX(AMD64(DA) "," ARM64(DB))},
	    {"two images and attestations", -EINVAL, 2, 0, 0, {0}, TWO_ATTESTED},
	    {"same image twice", -EINVAL, 2, 0, 0, {0}, INDEX(AMD64(DA) "," AMD64(DA))},
	    {"unknown/unknown, no annotation", -EINVAL, 2, 0, 0, {0}, UNKNOWN_IMAGE},
	    {"three images", -EINVAL, 3, 0, 0, {0}, THREE},
	    {"an image manifest", -EINVAL, 0, 0, 0, {0}, IMAGE_MANIFEST},
	};

	for (size_t i = 0; i < COUNT(c); i++) {
		struct reg_manifest *m = NULL;
		size_t image = 99, *attest = (size_t *)1, n_attest = 99, n_images = 99;
		int ret = reg_manifest_parse(c[i].doc, strlen(c[i].doc), NULL, &m);

		CHECK(ret == 0 && m, "%s: setup parse %d", c[i].what, ret);
		if (!m)
			continue;
		ret = reg_index_pick_image(m, &image, &attest, &n_attest, &n_images);
		CHECK(ret == c[i].ret, "%s: ret %d, want %d", c[i].what, ret, c[i].ret);
		CHECK(n_images == c[i].n_images, "%s: %zu images, want %zu", c[i].what, n_images,
		      c[i].n_images);
		if (ret < 0) {
			CHECK(attest == NULL && n_attest == 0, "%s: attestations on error",
			      c[i].what);
		} else {
			CHECK(image == c[i].image, "%s: image %zu, want %zu", c[i].what, image,
			      c[i].image);
			CHECK(n_attest == c[i].n_attest, "%s: %zu attestations, want %zu",
			      c[i].what, n_attest, c[i].n_attest);
			CHECK((n_attest == 0) == (attest == NULL), "%s: attestation array",
			      c[i].what);
			for (size_t k = 0; k < n_attest && k < c[i].n_attest; k++)
				CHECK(attest[k] == c[i].attest[k],
				      "%s: attestation %zu is %zu, want %zu", c[i].what, k,
				      attest[k], c[i].attest[k]);
		}
		free(attest);
		reg_manifest_free(m);
	}
	{
		size_t image, *attest = (size_t *)1, n_attest, n_images = 99;

		CHECK(reg_index_pick_image(NULL, &image, &attest, &n_attest, &n_images) ==
			      -EINVAL &&
			  attest == NULL && n_images == 0,
		      "NULL manifest");
	}
}

/* What a commit does: the image and attestations picked out of a
 * single-platform index, next to a Docker image, in a new index. */
static void test_pick_then_build(void)
{
	static const char doc[] = INDEX(ENTRY(DB, PLAT("linux", "arm64")) "," ATTEST(DC, DB));
	struct reg_manifest *m = NULL;
	struct reg_descriptor children[3] = {IMG(DV2, DA, &p_amd64)};
	size_t image = 0, *attest = NULL, n_attest = 0, n_images = 0;
	char *bytes = NULL, *why = NULL;
	size_t len = 0;
	enum reg_mtype type;
	int ret;

	ret = reg_manifest_parse(doc, sizeof(doc) - 1, NULL, &m);
	CHECK(ret == 0, "parse %d", ret);
	if (ret < 0)
		return;
	ret = reg_index_pick_image(m, &image, &attest, &n_attest, &n_images);
	CHECK(ret == 0 && n_attest == 1, "pick %d", ret);
	if (ret == 0 && n_attest == 1) {
		children[1] = m->entries[image];
		children[2] = m->entries[attest[0]];
		ret =
		    reg_list_build(children, 3, REG_LIST_AUTO, NULL, 0, &bytes, &len, &type, &why);
		CHECK(ret == 0 && type == REG_MT_OCI_INDEX, "build %d %s", ret, why ? why : "");
		if (ret == 0)
			check_round_trip("pick then build", children, 3, bytes, len, type);
		free(bytes);
		bytes = NULL;
		ret = reg_list_build(children, 3, REG_LIST_DOCKER, NULL, 0, &bytes, &len, &type,
				     &why);
		CHECK(ret == -EINVAL && why && strstr(why, DC), "docker with attestation %d", ret);
		free(why);
	}
	free(bytes);
	free(attest);
	reg_manifest_free(m);
}

/* A list another tool wrote (its own spacing, key order and entry order)
 * says the same as our children when they hold the same entries and
 * annotations, in any order; any difference says no. */
static void test_same_content(void)
{
	static const char base[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" OIDX "\",\"manifests\":["
	    "{\"platform\":{\"os\":\"linux\",\"architecture\":\"mips\"},\"size\":500,"
	    "\"digest\":\"" DB "\",\"mediaType\":\"" OCI "\"},"
	    "{\"mediaType\":\"" OCI "\",\"digest\":\"" DA "\",\"size\":500,"
	    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}],"
	    "\"annotations\":{\"k\":\"v\",\"k2\":\"v2\"}}";
	struct reg_descriptor c[2] = {
	    {.media_type = OCI, .digest = DA, .size = 500, .platform = &p_amd64},
	    {.media_type = OCI, .digest = DB, .size = 500, .platform = &p_mips},
	};
	struct reg_annotation ann[2] = {{"k2", "v2"}, {"k", "v"}};
	char **keys = NULL, **values = NULL;
	size_t n = 0;

	CHECK(reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 2));
	/* a different type, entry, size, platform or annotation: not the same */
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_DOCKER_LIST, c, 2, ann, 2));
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 1, ann, 2));
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 1));
	c[1].platform = &p_arm64;
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 2));
	c[1].platform = &p_mips;
	c[1].size = 501;
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 2));
	c[1].size = 500;
	ann[0].value = "other";
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 2));
	/* the same entry twice is not two entries */
	c[1] = c[0];
	CHECK(!reg_list_same_content(base, strlen(base), REG_MT_OCI_INDEX, c, 2, ann, 2));
	CHECK(!reg_list_same_content("not json", 8, REG_MT_OCI_INDEX, c, 2, ann, 2));

	CHECK(reg_list_annotations(base, strlen(base), &keys, &values, &n) == 0);
		CHECK(n == 2 && STREQ(keys[0], "k") && STREQ(values[0], "v") && STREQ(keys[1], "k2"));
	reg_annotations_free(keys, values, n);
	CHECK(reg_list_annotations("{}", 2, &keys, &values, &n) == 0 && n == 0);
	reg_annotations_free(keys, values, n);
	CHECK(reg_list_annotations("[1]", 3, &keys, &values, &n) == -EINVAL);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"build_table", test_build_table},
	    {"build_bytes", test_build_bytes},
	    {"build_size", test_build_size},
	    {"kind_parse", test_kind_parse},
	    {"platform_from_name", test_platform_from_name},
	    {"name_suffix", test_name_suffix},
	    {"pick_image", test_pick_image},
	    {"pick_then_build", test_pick_then_build},
	    {"same_content", test_same_content},
	};

	return check_run(tests, COUNT(tests));
}
