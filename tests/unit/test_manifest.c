/*
 * Unit tests for registry/manifest.c: media types, manifests, indexes,
 * image configs, entry and layer names.  Hostile documents (wrong types,
 * bad digests, negative and huge sizes, duplicate keys, NULs, invalid
 * UTF-8, deep nesting, oversized arrays, path tricks in platform fields)
 * must be refused or sanitised, never crash or produce a dangerous name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/limits.h"
#include "registry/manifest.h"

#include "check.h"

#define STREQ(a, b) ((a) && (b) && strcmp((a), (b)) == 0)

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:" H64

#define DESC(mt, d, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #sz "}"
#define CFG DESC("application/vnd.docker.container.image.v1+json", DA, 1469)
#define LAYER DESC("application/vnd.docker.image.rootfs.diff.tar.gzip", DB, 3370706)

#define DOCKER_V2                                                                                  \
	"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_DOCKER_V2_STR "\",\"config\":" CFG           \
	",\"layers\":[" LAYER "," LAYER "]}"

#define PLAT(os, arch) "\"platform\":{\"architecture\":\"" arch "\",\"os\":\"" os "\"}"
#define ENTRY(d, plat) "{\"mediaType\":\"" REG_MT_OCI_MANIFEST_STR "\",\"digest\":\"" d "\",\"size\":500," plat "}"
#define INDEX(entries) "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\",\"manifests\":[" entries "]}"

struct parse_case {
	const char *what;
	const char *json;
	const char *content_type;
	int ret;
	enum reg_mtype type;
	size_t n_layers;
	size_t n_entries;
};

static const struct parse_case cases[] = {
	{"docker v2", DOCKER_V2, NULL, 0, REG_MT_DOCKER_V2, 2, 0},
	{"docker v2, content-type disagrees", DOCKER_V2, REG_MT_OCI_INDEX_STR, 0, REG_MT_DOCKER_V2, 2, 0},
	{"oci manifest by content-type", "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}",
	 REG_MT_OCI_MANIFEST_STR "; charset=utf-8", 0, REG_MT_OCI_MANIFEST, 0, 0},
	{"docker v2 by content-type", "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[" LAYER "]}",
	 "  APPLICATION/vnd.docker.distribution.manifest.v2+JSON ;x=y", 0, REG_MT_DOCKER_V2, 1, 0},
	{"oci manifest by shape", "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[" LAYER "]}",
	 NULL, 0, REG_MT_OCI_MANIFEST, 1, 0},
	{"oci manifest by shape, text/plain", "{\"config\":" CFG "}", "text/plain", 0,
	 REG_MT_OCI_MANIFEST, 0, 0},
	{"oci index by shape", "{\"schemaVersion\":2,\"manifests\":[]}", NULL, 0, REG_MT_OCI_INDEX, 0, 0},
	{"docker list", "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_DOCKER_LIST_STR
	 "\",\"manifests\":[" ENTRY(DA, PLAT("linux", "amd64")) "]}",
	 NULL, 0, REG_MT_DOCKER_LIST, 0, 1},
	{"unknown doc media type, shape decides",
	 "{\"mediaType\":\"application/x-thing\",\"config\":" CFG "}", NULL, 0, REG_MT_OCI_MANIFEST, 0, 0},
	{"schema 1", "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[{\"blobSum\":\"" DA
	 "\"}],\"history\":[]}",
	 NULL, 0, REG_MT_DOCKER_V1, 0, 0},
	{"schema 1 by content-type", "{\"name\":\"x\"}", REG_MT_DOCKER_V1_SIGNED_STR, 0, REG_MT_DOCKER_V1, 0, 0},
	{"schema 1 with garbage", "{\"schemaVersion\":1,\"fsLayers\":7,\"config\":[]}", NULL, 0,
	 REG_MT_DOCKER_V1, 0, 0},
	{"extra unknown fields", "{\"schemaVersion\":2,\"config\":" CFG ",\"x\":{\"y\":[1,2,{}]},\"annotations\":{\"a\":\"b\"}}",
	 NULL, 0, REG_MT_OCI_MANIFEST, 0, 0},
	{"size 0", "{\"config\":" DESC("x/y", DA, 0) "}", NULL, 0, REG_MT_OCI_MANIFEST, 0, 0},
	{"size int64 max", "{\"config\":" DESC("x/y", DA, 9223372036854775807) "}", NULL, 0,
	 REG_MT_OCI_MANIFEST, 0, 0},

	/* Refused. */
	{"empty", "", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"not json", "hello", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"array root", "[]", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"string root", "\"x\"", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"null root", "null", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"empty object", "{}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"both shapes", "{\"config\":" CFG ",\"manifests\":[]}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"trailing garbage", DOCKER_V2 "x", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"two documents", DOCKER_V2 DOCKER_V2, NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"truncated", "{\"schemaVersion\":2,\"config\":{", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"unterminated string", "{\"mediaType\":\"abc", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"schemaVersion string", "{\"schemaVersion\":\"2\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"schemaVersion 3", "{\"schemaVersion\":3,\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"schemaVersion -1", "{\"schemaVersion\":-1,\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"schemaVersion 2.0", "{\"schemaVersion\":2.0,\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"schemaVersion huge", "{\"schemaVersion\":4294967298,\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"mediaType number", "{\"mediaType\":5,\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"mediaType empty", "{\"mediaType\":\"\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"mediaType with space", "{\"mediaType\":\"a b\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"mediaType with newline", "{\"mediaType\":\"a\\nb\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"mediaType NUL", "{\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\\u0000x\",\"manifests\":[]}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"image without config", "{\"mediaType\":\"" REG_MT_DOCKER_V2_STR "\",\"layers\":[]}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"image, config array", "{\"mediaType\":\"" REG_MT_DOCKER_V2_STR "\",\"config\":[]}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"layers object", "{\"config\":" CFG ",\"layers\":{}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"layers null", "{\"config\":" CFG ",\"layers\":null}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"layer not object", "{\"config\":" CFG ",\"layers\":[\"" DB "\"]}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"index without manifests", "{\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\"}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"manifests object", "{\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\",\"manifests\":{}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"missing digest", "{\"config\":{\"size\":1}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"missing size", "{\"config\":{\"digest\":\"" DA "\"}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest upper-case", "{\"config\":" DESC("x/y", "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest sha512", "{\"config\":" DESC("x/y", "sha512:" H64 H64, 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest short", "{\"config\":" DESC("x/y", "sha256:abc", 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest long", "{\"config\":" DESC("x/y", DA "a", 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest path", "{\"config\":" DESC("x/y", "../../etc/passwd", 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest NUL", "{\"config\":" DESC("x/y", DA "\\u0000", 1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"digest number", "{\"config\":{\"digest\":7,\"size\":1}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size negative", "{\"config\":" DESC("x/y", DA, -1) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size real", "{\"config\":" DESC("x/y", DA, 1.0) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size exp", "{\"config\":" DESC("x/y", DA, 1e3) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size huge", "{\"config\":" DESC("x/y", DA, 99999999999999999999999) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size int64 min", "{\"config\":" DESC("x/y", DA, -9223372036854775808) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size inf", "{\"config\":" DESC("x/y", DA, 1e400) "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size string", "{\"config\":{\"digest\":\"" DA "\",\"size\":\"1\"}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size bool", "{\"config\":{\"digest\":\"" DA "\",\"size\":true}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"size null", "{\"config\":{\"digest\":\"" DA "\",\"size\":null}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"duplicate key", "{\"config\":" CFG ",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"duplicate digest", "{\"config\":{\"digest\":\"" DA "\",\"digest\":\"" DB "\",\"size\":1}}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"platform string", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":\"linux\"}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"platform os number", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":1}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"platform os NUL", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"linux\\u0000x\"}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"platform os control", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"li\\u001bnux\"}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"os.features string", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os.features\":\"x\"}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"os.features numbers", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os.features\":[1]}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"annotations array", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"annotations\":[]}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"annotation number", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"annotations\":{\"a\":1}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"reference digest bad", INDEX("{\"digest\":\"" DA "\",\"size\":1,\"annotations\":{\"vnd.docker.reference.digest\":\"x\"}}"), NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"invalid utf-8", "{\"mediaType\":\"\xff\xfe\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"overlong utf-8", "{\"x\":\"\xc0\xaf\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
	{"lone surrogate", "{\"x\":\"\\ud800\",\"config\":" CFG "}", NULL, -EINVAL, REG_MT_UNKNOWN, 0, 0},
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct reg_manifest *m = (struct reg_manifest *)1;
		int ret = reg_manifest_parse(c->json, strlen(c->json), c->content_type, &m);

		CHECK(ret == c->ret, "%s: ret %d, want %d", c->what, ret, c->ret);
		if (ret < 0) {
			CHECK(m == NULL, "%s: *out not NULL on error", c->what);
			continue;
		}
		if (!m)
			continue;
		CHECK(m->type == c->type, "%s: type %d, want %d", c->what, m->type, c->type);
		CHECK(m->n_layers == c->n_layers, "%s: %zu layers, want %zu", c->what, m->n_layers,
		      c->n_layers);
		CHECK(m->n_entries == c->n_entries, "%s: %zu entries, want %zu", c->what,
		      m->n_entries, c->n_entries);
		reg_manifest_free(m);
	}
}

static void test_docker_v2_fields(void)
{
	static const char doc[] = DOCKER_V2;
	struct reg_manifest *m = NULL;
	int ret = reg_manifest_parse(doc, sizeof(doc) - 1, NULL, &m);

	CHECK(ret == 0 && m, "docker v2 parse: %d", ret);
	if (!m)
		return;
	CHECK(STREQ(m->media_type, REG_MT_DOCKER_V2_STR), "media type \"%s\"", m->media_type);
	CHECK(m->schema_version == 2, "schema version %d", m->schema_version);
	CHECK(STREQ(m->config.digest, DA), "config digest");
	CHECK(m->config.size == 1469, "config size %lld", (long long)m->config.size);
	CHECK(STREQ(m->config.media_type, "application/vnd.docker.container.image.v1+json"),
	      "config media type");
	CHECK(m->n_layers == 2 && STREQ(m->layers[1].digest, DB) && m->layers[1].size == 3370706,
	      "layer 1");
	CHECK(m->entries == NULL && m->entry_names == NULL, "image has entries");
	reg_manifest_free(m);

	/* Media type from Content-Type, parameters stripped. */
	m = NULL;
	ret = reg_manifest_parse("{\"config\":" CFG "}", strlen("{\"config\":" CFG "}"),
				 REG_MT_OCI_MANIFEST_STR " ; charset=utf-8", &m);
	CHECK(ret == 0 && m && STREQ(m->media_type, REG_MT_OCI_MANIFEST_STR),
	      "content-type media type \"%s\"", m ? m->media_type : "");
	reg_manifest_free(m);

	/* No media type anywhere: NULL, shape decides. */
	m = NULL;
	ret = reg_manifest_parse("{\"config\":" CFG "}", strlen("{\"config\":" CFG "}"), NULL, &m);
	CHECK(ret == 0 && m && m->media_type == NULL && m->schema_version == 0, "no media type");
	reg_manifest_free(m);
	reg_manifest_free(NULL);
}

/* Platform fields, annotations, names: a realistic buildx index. */
static void test_index_names(void)
{
	static const char doc[] = INDEX(
		ENTRY(DA, PLAT("linux", "amd64")) ","
		"{\"mediaType\":\"" REG_MT_OCI_MANIFEST_STR "\",\"digest\":\"" DB "\",\"size\":1,"
		"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
		"{\"digest\":\"" DC "\",\"size\":1,"
		"\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.1\","
		"\"os.features\":[\"win32k\",\"x\"]}},"
		/* attestation for entry 0 */
		"{\"mediaType\":\"" REG_MT_OCI_MANIFEST_STR "\",\"digest\":\"" DC "\",\"size\":840,"
		"\"annotations\":{\"vnd.docker.reference.digest\":\"" DA "\","
		"\"vnd.docker.reference.type\":\"attestation-manifest\"},"
		"\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
		/* duplicate of entry 0 */
		ENTRY(DB, PLAT("linux", "amd64")) ","
		/* no platform at all */
		"{\"digest\":\"" DA "\",\"size\":1},"
		/* another duplicate of entry 0 */
		ENTRY(DC, PLAT("linux", "amd64")) ","
		/* unknown/unknown without the annotation is not an attestation */
		ENTRY(DC, PLAT("unknown", "unknown")));
	static const char *const want[] = {
		"linux-amd64", "linux-arm64-v8", "windows-amd64-10.0.17763.1", NULL,
		"linux-amd64~4", "unknown-unknown", "linux-amd64~6", "unknown-unknown~7",
	};
	struct reg_manifest *m = NULL;
	int ret = reg_manifest_parse(doc, sizeof(doc) - 1, NULL, &m);

	CHECK(ret == 0 && m, "index parse: %d", ret);
	if (!m)
		return;
	CHECK(m->type == REG_MT_OCI_INDEX && m->n_entries == 8, "index type/entries");
	for (size_t i = 0; i < 8 && i < m->n_entries; i++) {
		if (!want[i])
			CHECK(m->entry_names[i] == NULL, "entry %zu named \"%s\"", i, m->entry_names[i]);
		else
			CHECK(STREQ(m->entry_names[i], want[i]), "entry %zu \"%s\", want \"%s\"", i,
			      m->entry_names[i] ? m->entry_names[i] : "(null)", want[i]);
		if (want[i])
			CHECK(reg_manifest_find_entry(m, want[i]) == (int)i, "find \"%s\"", want[i]);
	}
	CHECK(reg_descriptor_is_attestation(&m->entries[3]), "entry 3 not attestation");
	CHECK(!reg_descriptor_is_attestation(&m->entries[0]), "entry 0 attestation");
	CHECK(!reg_descriptor_is_attestation(&m->entries[7]), "entry 7 attestation");
	CHECK(STREQ(m->entries[3].reference_type, "attestation-manifest"), "reference type");
	CHECK(STREQ(m->entries[3].reference_digest, DA), "reference digest");
	CHECK(m->entries[0].reference_type == NULL, "entry 0 reference type");
	CHECK(m->entries[2].platform && m->entries[2].platform->n_os_features == 2 &&
		      STREQ(m->entries[2].platform->os_features[0], "win32k"),
	      "os.features");
	CHECK(m->entries[5].platform == NULL, "entry 5 platform");
	CHECK(m->entries[1].platform && STREQ(m->entries[1].platform->variant, "v8"), "variant");
	CHECK(m->entries[0].platform && m->entries[0].platform->variant == NULL, "no variant");
	CHECK(reg_manifest_find_entry(m, "linux-arm64") == -1, "prefix matched");
	CHECK(reg_manifest_find_entry(m, "") == -1, "empty matched");
	CHECK(reg_manifest_find_entry(m, NULL) == -1, "NULL matched");
	CHECK(reg_manifest_find_entry(NULL, "linux-amd64") == -1, "NULL manifest");
	reg_manifest_free(m);
}

/* A name must be a single, visible, non-special path component. */
static bool name_is_safe(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '.' || strchr(s, '/'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._+-~", c)))
			return false;
	}
	return true;
}

struct name_case {
	const char *platform; /* JSON object text */
	const char *want;
};

static const struct name_case name_cases[] = {
	{"{\"os\":\"linux\",\"architecture\":\"amd64\"}", "linux-amd64"},
	{"{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}", "linux-arm-v7"},
	{"{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"\"}", "linux-arm"},
	{"{\"os\":\"\",\"architecture\":\"\"}", "unknown-unknown"},
	{"{\"architecture\":\"amd64\"}", "unknown-amd64"},
	{"{\"os\":\"windows\",\"architecture\":\"amd64\",\"os.version\":\"10.0.20348.2227\"}",
	 "windows-amd64-10.0.20348.2227"},
	{"{\"os\":\"windows\",\"architecture\":\"arm64\",\"variant\":\"v8\",\"os.version\":\"10.0\"}",
	 "windows-arm64-v8-10.0"},
	{"{\"os\":\"..\",\"architecture\":\"..\"}", "_.-_."},
	{"{\"os\":\".\",\"architecture\":\".\"}", "_-_"},
	{"{\"os\":\".hidden\",\"architecture\":\"x\"}", "_hidden-x"},
	{"{\"os\":\"../../etc\",\"architecture\":\"passwd\"}", "_._.._etc-passwd"},
	{"{\"os\":\"/\",\"architecture\":\"/\"}", "_-_"},
	{"{\"os\":\"a/b\",\"architecture\":\"c\\\\d\"}", "a_b-c_d"},
	{"{\"os\":\"linux\",\"architecture\":\"amd64~1\"}", "linux-amd64_1"},
	{"{\"os\":\"li nux\",\"architecture\":\"x-y\"}", "li_nux-x_y"},
	{"{\"os\":\"l\\u00e9\",\"architecture\":\"\\u2028\"}", "l__-___"},
	{"{\"os\":\"linux\",\"architecture\":\"riscv64+x.y_z\"}", "linux-riscv64+x.y_z"},
	{"{\"os\":\"LINUX\",\"architecture\":\"AMD64\"}", "LINUX-AMD64"},
	{"{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"../..\"}", "linux-amd64-_._.."},
	{"{\"os\":\"linux\",\"architecture\":\"amd64\",\"os.version\":\"..\"}", "linux-amd64-_."},
};

static void test_name_sanitising(void)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		char doc[1024];
		struct reg_manifest *m = NULL;
		int ret;

		snprintf(doc, sizeof(doc),
			 "{\"manifests\":[{\"digest\":\"" DA "\",\"size\":1,\"platform\":%s}]}",
			 name_cases[i].platform);
		ret = reg_manifest_parse(doc, strlen(doc), NULL, &m);
		CHECK(ret == 0 && m && m->n_entries == 1, "name case %zu: ret %d", i, ret);
		if (!m)
			continue;
		CHECK(STREQ(m->entry_names[0], name_cases[i].want), "name case %zu: \"%s\", want \"%s\"",
		      i, m->entry_names[0] ? m->entry_names[0] : "(null)", name_cases[i].want);
		CHECK(m->entry_names[0] && name_is_safe(m->entry_names[0]), "name case %zu unsafe", i);
		reg_manifest_free(m);
	}
}

static void test_long_fields(void)
{
	size_t big = 100000;
	char *doc = malloc(4 * big + 512), *p;
	struct reg_manifest *m = NULL;
	int ret;

	p = doc + sprintf(doc, "{\"manifests\":[");
	for (int e = 0; e < 2; e++) {
		p += sprintf(p, "%s{\"digest\":\"" DA "\",\"size\":1,\"platform\":{", e ? "," : "");
		const char *keys[] = {"os", "architecture", "variant", "os.version"};
		for (int k = 0; k < 4; k++) {
			p += sprintf(p, "%s\"%s\":\"", k ? "," : "", keys[k]);
			memset(p, '/', big / 4);
			p += big / 4;
			*p++ = '"';
		}
		p += sprintf(p, "}}");
	}
	p += sprintf(p, "]}");
	ret = reg_manifest_parse(doc, (size_t)(p - doc), NULL, &m);
	CHECK(ret == 0 && m && m->n_entries == 2, "long fields: ret %d", ret);
	if (m) {
		CHECK(m->entry_names[0] && name_is_safe(m->entry_names[0]), "long name 0 unsafe");
		CHECK(m->entry_names[1] && name_is_safe(m->entry_names[1]) &&
			      strcmp(m->entry_names[1] + strlen(m->entry_names[1]) - 2, "~1") == 0,
		      "long name 1 \"%s\"", m->entry_names[1]);
		CHECK(strlen(m->entry_names[0]) <= 200, "long name %zu bytes", strlen(m->entry_names[0]));
	}
	reg_manifest_free(m);
	free(doc);
}

/* Build {"<key>":[<item> x n]} with an optional wrapper. */
static char *repeat_doc(const char *head, const char *item, size_t n, const char *tail, size_t *len)
{
	size_t il = strlen(item);
	char *doc = malloc(strlen(head) + n * (il + 1) + strlen(tail) + 1), *p = doc;

	p = stpcpy(p, head);
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		p = stpcpy(p, item);
	}
	p = stpcpy(p, tail);
	*len = (size_t)(p - doc);
	return doc;
}

static void test_sizes_and_counts(void)
{
	struct reg_manifest *m = NULL;
	size_t len;
	char *doc;
	int ret;
	clock_t t0;

	/* 40000 layers fit in 4 MiB.  The 100000-item limit cannot be
	 * reached with valid descriptors inside 4 MiB, so for layers and
	 * entries it is only checked to refuse; os.features, whose items
	 * are short, checks both sides of it. */
	doc = repeat_doc("{\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":[",
			 "{\"digest\":\"" DB "\",\"size\":1}", 40000, "]}", &len);
	ret = reg_manifest_parse(doc, len, NULL, &m);
	CHECK(ret == 0 && m && m->n_layers == 40000, "40000 layers: ret %d", ret);
	reg_manifest_free(m);
	free(doc);

	doc = repeat_doc("{\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":[", "{}", 100001,
			 "]}", &len);
	ret = reg_manifest_parse(doc, len, NULL, &m);
	CHECK(ret == -EINVAL && m == NULL, "100001 layers: ret %d", ret);
	free(doc);

	doc = repeat_doc("{\"manifests\":[", "1", 100001, "]}", &len);
	ret = reg_manifest_parse(doc, len, NULL, &m);
	CHECK(ret == -EINVAL && m == NULL, "100001 entries: ret %d", ret);
	free(doc);

	/* 25000 identical entries: names stay unique and it stays fast. */
	doc = repeat_doc("{\"manifests\":[",
			 "{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"l\",\"architecture\":\"a\"}}",
			 25000, "]}", &len);
	CHECK(len < REG_MANIFEST_MAX, "setup: %zu bytes", len);
	t0 = clock();
	ret = reg_manifest_parse(doc, len, NULL, &m);
	CHECK(ret == 0 && m && m->n_entries == 25000, "25000 entries: ret %d", ret);
	CHECK(clock() - t0 < 20 * CLOCKS_PER_SEC, "25000 entries too slow");
	if (m && m->n_entries == 25000) {
		CHECK(STREQ(m->entry_names[0], "l-a"), "first name");
		CHECK(STREQ(m->entry_names[1], "l-a~1"), "second name");
		CHECK(STREQ(m->entry_names[24999], "l-a~24999"), "last name");
		CHECK(reg_manifest_find_entry(m, "l-a~12345") == 12345, "find ~12345");
	}
	reg_manifest_free(m);
	free(doc);

	doc = repeat_doc("{\"os.features\":[", "\"a\"", 100000, "]}", &len);
	{
		struct reg_platform p;

		ret = reg_config_platform(doc, len, &p);
		CHECK(ret == 0 && p.n_os_features == 100000, "100000 features: ret %d", ret);
		reg_platform_release(&p);
		free(doc);
		doc = repeat_doc("{\"os.features\":[", "\"a\"", 100001, "]}", &len);
		ret = reg_config_platform(doc, len, &p);
		CHECK(ret == -EINVAL && p.os_features == NULL, "100001 features: ret %d", ret);
		reg_platform_release(&p);
	}
	free(doc);

	/* Over 4 MiB: refused before parsing. */
	len = REG_MANIFEST_MAX + 1;
	doc = malloc(len);
	memset(doc, ' ', len);
	doc[0] = '{';
	doc[len - 1] = '}';
	ret = reg_manifest_parse(doc, len, NULL, &m);
	CHECK(ret == -EINVAL && m == NULL, "4 MiB + 1: ret %d", ret);
	free(doc);

	/* Deep nesting: jansson's depth limit, not our stack. */
	len = 200000;
	doc = malloc(len + 16);
	strcpy(doc, "{\"config\":");
	memset(doc + 10, '[', len);
	strcpy(doc + 10 + len, "}");
	ret = reg_manifest_parse(doc, strlen(doc), NULL, &m);
	CHECK(ret == -EINVAL && m == NULL, "deep nesting: ret %d", ret);
	free(doc);

	/* A NUL byte inside the buffer, outside and inside a string. */
	{
		static const char nul1[] = "{\"config\":" CFG "}\0garbage";
		static const char nul2[] = "{\"mediaType\":\"a\0b\",\"config\":" CFG "}";

		ret = reg_manifest_parse(nul1, sizeof(nul1) - 1, NULL, &m);
		CHECK(ret == -EINVAL && m == NULL, "NUL after document: ret %d", ret);
		ret = reg_manifest_parse(nul2, sizeof(nul2) - 1, NULL, &m);
		CHECK(ret == -EINVAL && m == NULL, "raw NUL in string: ret %d", ret);
	}
	ret = reg_manifest_parse(NULL, 10, NULL, &m);
	CHECK(ret == -EINVAL && m == NULL, "NULL bytes: ret %d", ret);
}

static void test_mtypes(void)
{
	static const struct {
		const char *s;
		enum reg_mtype t;
	} c[] = {
		{REG_MT_DOCKER_V2_STR, REG_MT_DOCKER_V2},
		{REG_MT_DOCKER_LIST_STR, REG_MT_DOCKER_LIST},
		{REG_MT_OCI_MANIFEST_STR, REG_MT_OCI_MANIFEST},
		{REG_MT_OCI_INDEX_STR, REG_MT_OCI_INDEX},
		{REG_MT_DOCKER_V1_STR, REG_MT_DOCKER_V1},
		{REG_MT_DOCKER_V1_SIGNED_STR, REG_MT_DOCKER_V1},
		{REG_MT_OCI_INDEX_STR "; charset=utf-8", REG_MT_OCI_INDEX},
		{" " REG_MT_OCI_INDEX_STR " ", REG_MT_OCI_INDEX},
		{"Application/VND.OCI.Image.Index.V1+JSON", REG_MT_OCI_INDEX},
		{REG_MT_OCI_INDEX_STR "x", REG_MT_UNKNOWN},
		{"application/vnd.oci.image.index.v1", REG_MT_UNKNOWN},
		{"application/json", REG_MT_UNKNOWN},
		{"", REG_MT_UNKNOWN},
		{";", REG_MT_UNKNOWN},
		{NULL, REG_MT_UNKNOWN},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		CHECK(reg_mtype_from_string(c[i].s) == c[i].t, "mtype \"%s\"", c[i].s ? c[i].s : "(null)");
	CHECK(strcmp(reg_mtype_string(REG_MT_DOCKER_V2), REG_MT_DOCKER_V2_STR) == 0, "v2 string");
	CHECK(strcmp(reg_mtype_string(REG_MT_OCI_INDEX), REG_MT_OCI_INDEX_STR) == 0, "index string");
	CHECK(strcmp(reg_mtype_string(REG_MT_UNKNOWN), "") == 0, "unknown string");
	CHECK(strcmp(reg_mtype_string((enum reg_mtype)99), "") == 0, "bogus string");
	CHECK(reg_mtype_is_image(REG_MT_DOCKER_V2) && reg_mtype_is_image(REG_MT_OCI_MANIFEST), "image");
	CHECK(!reg_mtype_is_image(REG_MT_OCI_INDEX) && !reg_mtype_is_image(REG_MT_DOCKER_V1), "not image");
	CHECK(reg_mtype_is_index(REG_MT_DOCKER_LIST) && reg_mtype_is_index(REG_MT_OCI_INDEX), "index");
	CHECK(!reg_mtype_is_index(REG_MT_OCI_MANIFEST) && !reg_mtype_is_index(REG_MT_UNKNOWN), "not index");
}

static void test_layer_names(void)
{
	static const struct {
		size_t i, n;
		const char *want;
	} c[] = {
		{0, 3, "00-" DA},     {2, 3, "02-" DA},	      {0, 1, "00-" DA},
		{0, 0, "00-" DA},     {99, 100, "99-" DA},    {100, 101, "100-" DA},
		{0, 150, "000-" DA},  {149, 150, "149-" DA},  {5, 1001, "0005-" DA},
		{0, 100000, "00000-" DA},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *s = reg_layer_name(c[i].i, c[i].n, DA);

		CHECK(STREQ(s, c[i].want), "layer %zu/%zu: \"%s\", want \"%s\"", c[i].i, c[i].n,
		      s ? s : "(null)", c[i].want);
		free(s);
	}
	CHECK(reg_layer_name(0, 1, NULL) == NULL, "NULL digest");
}

static void test_platform_string(void)
{
	char *os_features[] = {(char *)"win32k"};
	static const struct {
		struct reg_platform p;
		const char *want;
	} c[] = {
		{{(char *)"linux", (char *)"arm64", (char *)"v8", NULL, NULL, 0}, "linux/arm64/v8"},
		{{(char *)"linux", (char *)"amd64", NULL, NULL, NULL, 0}, "linux/amd64"},
		{{(char *)"linux", (char *)"amd64", (char *)"", (char *)"", NULL, 0}, "linux/amd64"},
		{{(char *)"windows", (char *)"amd64", NULL, (char *)"10.0.17763.1", NULL, 0},
		 "windows/amd64:10.0.17763.1"},
		{{NULL, NULL, NULL, NULL, NULL, 0}, "unknown/unknown"},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *s = reg_platform_string(&c[i].p);

		CHECK(STREQ(s, c[i].want), "platform %zu: \"%s\", want \"%s\"", i, s ? s : "(null)",
		      c[i].want);
		free(s);
	}
	{
		struct reg_platform p = {(char *)"windows", (char *)"amd64", NULL, (char *)"10.0",
					 os_features, 1};
		char *s = reg_platform_string(&p);

		CHECK(STREQ(s, "windows/amd64:10.0"), "features do not show");
		free(s);
	}
}

struct config_case {
	const char *json;
	int ret;
	const char *os, *arch, *variant, *os_version;
	size_t n_features;
};

static const struct config_case config_cases[] = {
	{"{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"PATH=/bin\"]},\"os\":\"linux\",\"rootfs\":{}}",
	 0, "linux", "amd64", NULL, NULL, 0},
	{"{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}", 0, "linux", "arm64", "v8", NULL, 0},
	{"{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.5458\","
	 "\"os.features\":[\"win32k\"]}",
	 0, "windows", "amd64", NULL, "10.0.17763.5458", 1},
	{"{\"os.features\":[]}", 0, NULL, NULL, NULL, NULL, 0},
	{"{}", 0, NULL, NULL, NULL, NULL, 0},
	{"[]", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":1}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":null}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"architecture\":[\"amd64\"]}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"variant\":{}}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os.version\":10}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os.features\":\"win32k\"}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os.features\":[\"a\",null]}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":\"linux\\u0000evil\"}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":\"linux\",\"os\":\"windows\"}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":\"\xff\"}", -EINVAL, NULL, NULL, NULL, NULL, 0},
	{"{\"os\":\"linux\"", -EINVAL, NULL, NULL, NULL, NULL, 0},
};

static void test_config_platform(void)
{
	for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
		const struct config_case *c = &config_cases[i];
		struct reg_platform p;
		int ret = reg_config_platform(c->json, strlen(c->json), &p);

#define FIELD_OK(got, want) ((want) ? STREQ((got), (want)) : (got) == NULL)
		CHECK(ret == c->ret, "config %zu \"%s\": ret %d, want %d", i, c->json, ret, c->ret);
		if (ret == 0) {
			CHECK(FIELD_OK(p.os, c->os), "config %zu: os", i);
			CHECK(FIELD_OK(p.architecture, c->arch), "config %zu: architecture", i);
			CHECK(FIELD_OK(p.variant, c->variant), "config %zu: variant", i);
			CHECK(FIELD_OK(p.os_version, c->os_version), "config %zu: os.version", i);
			CHECK(p.n_os_features == c->n_features, "config %zu: features", i);
		} else {
			CHECK(p.os == NULL && p.architecture == NULL && p.os_features == NULL,
			      "config %zu: output not empty on error", i);
		}
		reg_platform_release(&p);
	}
	reg_platform_release(NULL);
}

/* Foreign layers' "urls": http(s) kept in order, other schemes dropped,
 * hostile shapes refuse the document. */
static void test_foreign_urls(void)
{
#define FOREIGN(urls)                                                                              \
	"{\"config\":" CFG ",\"layers\":[{\"mediaType\":"                                         \
	"\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"" DB        \
	"\",\"size\":5,\"urls\":" urls "}]}"
	static const struct {
		const char *doc;
		int ret;
		size_t n_urls;
	} url_cases[] = {
		{FOREIGN("[\"https://a.example/x\",\"http://127.0.0.1:9/y\"]"), 0, 2},
		{FOREIGN("[\"ftp://a.example/x\",\"file:///etc/passwd\",\"https://b/z\"]"), 0, 1},
		{FOREIGN("[]"), 0, 0},
		{FOREIGN("\"https://a.example/x\""), -EINVAL, 0},
		{FOREIGN("[1]"), -EINVAL, 0},
		{FOREIGN("[\"https://a.example/x y\"]"), -EINVAL, 0},
		{FOREIGN("[\"https://a.example/\\u0001\"]"), -EINVAL, 0},
		{FOREIGN("[\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\",\"h\","
			 "\"h\",\"h\",\"h\",\"h\",\"h\"]"),
		 -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		struct reg_manifest *m = NULL;
		int ret = reg_manifest_parse(url_cases[i].doc, strlen(url_cases[i].doc), NULL, &m);

		CHECK(ret == url_cases[i].ret, "urls case %zu: ret %d", i, ret);
		if (ret == 0) {
			CHECK(m->n_layers == 1 && m->layers[0].n_urls == url_cases[i].n_urls,
			      "urls case %zu: %zu urls", i, m->layers[0].n_urls);
			CHECK(reg_descriptor_is_foreign(&m->layers[0]), "urls case %zu: foreign", i);
			CHECK(!reg_descriptor_is_foreign(&m->config), "urls case %zu: config", i);
		}
		reg_manifest_free(m);
	}
#undef FOREIGN
}

/* OCI 1.1: subject and artifactType, on manifests, indexes and descriptors
 * (a referrers answer); an in-toto layer's predicate type. */
static void test_referrer_fields(void)
{
	static const char sig[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_MANIFEST_STR "\","
		"\"artifactType\":\"application/vnd.dev.cosign.artifact.sig.v1+json\","
		"\"config\":" CFG ",\"layers\":[{\"mediaType\":\"application/vnd.in-toto+json\","
		"\"digest\":\"" DB "\",\"size\":9,\"annotations\":{\"in-toto.io/predicate-type\":"
		"\"https://spdx.dev/Document\"}}],\"subject\":" DESC(REG_MT_OCI_MANIFEST_STR, DC, 12) "}";
	static const char refs[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\",\"manifests\":["
		"{\"mediaType\":\"" REG_MT_OCI_MANIFEST_STR "\",\"digest\":\"" DA "\",\"size\":7,"
		"\"artifactType\":\"application/spdx+json\"}]}";
	static const char *const bad[] = {
		/* a subject that is no descriptor, a bad digest, an artifactType with a space */
		"{\"config\":" CFG ",\"subject\":\"" DC "\"}",
		"{\"config\":" CFG ",\"subject\":" DESC(REG_MT_OCI_MANIFEST_STR, "sha256:xyz", 1) "}",
		"{\"config\":" CFG ",\"artifactType\":\"a b\"}",
		"{\"config\":" CFG ",\"artifactType\":7}",
	};
	struct reg_manifest *m = NULL;

	CHECK_EQ(reg_manifest_parse(sig, strlen(sig), NULL, &m), 0);
	if (m) {
		CHECK(m->has_subject && STREQ(m->subject.digest, DC) && m->subject.size == 12,
		      "subject");
		CHECK(STREQ(m->artifact_type, "application/vnd.dev.cosign.artifact.sig.v1+json"),
		      "artifactType");
		CHECK(m->n_layers == 1 && STREQ(m->layers[0].predicate_type, "https://spdx.dev/Document"),
		      "predicate type");
		reg_manifest_free(m);
		m = NULL;
	}
	CHECK_EQ(reg_manifest_parse(refs, strlen(refs), NULL, &m), 0);
	if (m) {
		CHECK(!m->has_subject && !m->artifact_type, "no subject");
		CHECK(m->n_entries == 1 && STREQ(m->entries[0].artifact_type, "application/spdx+json"),
		      "a descriptor's artifactType");
		reg_manifest_free(m);
		m = NULL;
	}
	CHECK_EQ(reg_manifest_parse(DOCKER_V2, strlen(DOCKER_V2), NULL, &m), 0);
	if (m) {
		CHECK(!m->has_subject && !m->artifact_type && !m->layers[0].predicate_type, "none");
		reg_manifest_free(m);
		m = NULL;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(reg_manifest_parse(bad[i], strlen(bad[i]), NULL, &m) == -EINVAL, "bad %zu", i);
		reg_manifest_free(m);
		m = NULL;
	}
}

int main(void)
{
	test_foreign_urls();
	test_table();
	test_docker_v2_fields();
	test_index_names();
	test_name_sanitising();
	test_long_fields();
	test_sizes_and_counts();
	test_mtypes();
	test_layer_names();
	test_platform_string();
	test_config_platform();
	test_referrer_fields();
	if (failures) {
		fprintf(stderr, "test_manifest: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_manifest: ok\n");
	return 0;
}
