/*
 * Unit tests for registry/inspect.c: the inspect.json document must match
 * what `docker manifest inspect --verbose` prints (docker CLI ImageManifest
 * encoded with json.MarshalIndent(v, "", "\t")), byte for byte for the
 * cases below, whose expected output was written out by hand from the Go
 * encoder's rules: key order, omitempty, base64 Raw, HTML escaping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/inspect.h"

#include "check.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* 360 bytes, sha256 93da75bf..., as a registry would serve them. */
static const char v2_bytes[] =
	"{\n   \"schemaVersion\": 2,\n   \"mediaType\": "
	"\"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      "
	"\"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": "
	"1469,\n      \"digest\": \"" DA "\"\n   },\n   \"layers\": [],\n   \"annotations\": "
	"{\"z\": \"<a&b>\", \"a\": \"\xe2\x80\xa8\"}\n}";

static const char v2_want[] =
	"{\n"
	"\t\"Ref\": \"localhost:5000/onap/x:latest\",\n"
	"\t\"Descriptor\": {\n"
	"\t\t\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
	"\t\t\"digest\": \"sha256:93da75bf2432973b4695600b300ee9b75c3055d20ae7465a1089af9f430f7945\",\n"
	"\t\t\"size\": 360,\n"
	"\t\t\"platform\": {\n"
	"\t\t\t\"architecture\": \"arm64\",\n"
	"\t\t\t\"os\": \"linux\",\n"
	"\t\t\t\"variant\": \"v8\"\n"
	"\t\t}\n"
	"\t},\n"
	"\t\"Raw\": \"ewogICAic2NoZW1hVmVyc2lvbiI6IDIsCiAgICJtZWRpYVR5cGUiOiAiYXBwbGljYXRpb24vdm5kLmRvY2tl"
	"ci5kaXN0cmlidXRpb24ubWFuaWZlc3QudjIranNvbiIsCiAgICJjb25maWciOiB7CiAgICAgICJtZWRpYVR5cGUiOiAi"
	"YXBwbGljYXRpb24vdm5kLmRvY2tlci5jb250YWluZXIuaW1hZ2UudjEranNvbiIsCiAgICAgICJzaXplIjogMTQ2OSwK"
	"ICAgICAgImRpZ2VzdCI6ICJzaGEyNTY6YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
	"YWFhYWFhYWFhYWFhYWFhYWFhYSIKICAgfSwKICAgImxheWVycyI6IFtdLAogICAiYW5ub3RhdGlvbnMiOiB7InoiOiAi"
	"PGEmYj4iLCAiYSI6ICLigKgifQp9\",\n"
	"\t\"SchemaV2Manifest\": {\n"
	"\t\t\"schemaVersion\": 2,\n"
	"\t\t\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
	"\t\t\"config\": {\n"
	"\t\t\t\"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n"
	"\t\t\t\"size\": 1469,\n"
	"\t\t\t\"digest\": \"" DA "\"\n"
	"\t\t},\n"
	"\t\t\"layers\": [],\n"
	"\t\t\"annotations\": {\n"
	"\t\t\t\"z\": \"\\u003ca\\u0026b\\u003e\",\n"
	"\t\t\t\"a\": \"\\u2028\"\n"
	"\t\t}\n"
	"\t}\n"
	"}\n";

static void test_docker_v2(void)
{
	struct reg_platform p = {(char *)"linux", (char *)"arm64", (char *)"v8", NULL, NULL, 0};
	struct reg_manifest *m = NULL;
	json_t *j;
	char *s;
	size_t len = 0;
	int ret;

	ret = reg_manifest_parse(v2_bytes, sizeof(v2_bytes) - 1, NULL, &m);
	CHECK(ret == 0 && m, "parse: %d", ret);
	if (!m)
		return;
	CHECK(sizeof(v2_bytes) - 1 == 360, "setup: %zu bytes", sizeof(v2_bytes) - 1);
	j = reg_inspect_image("localhost:5000/onap/x:latest", v2_bytes, sizeof(v2_bytes) - 1, m, &p);
	CHECK(j != NULL, "inspect returned NULL");
	s = reg_inspect_dump(j, &len);
	CHECK(s && strcmp(s, v2_want) == 0, "docker v2 output differs:\n--- got\n%s--- want\n%s",
	      s ? s : "(null)", v2_want);
	CHECK(s && len == strlen(s), "length %zu", len);
	free(s);
	json_decref(j);
	reg_manifest_free(m);
}

static const char oci_bytes[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" DA
	"\",\"size\":7},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
	"\"digest\":\"" DB "\",\"size\":3}]}";

/* Windows platform: os.version and os.features appear, in ocispec order
 * (architecture, os, os.version, os.features, variant). */
static void test_oci_windows(void)
{
	char *features[] = {(char *)"win32k"};
	struct reg_platform p = {(char *)"windows", (char *)"amd64", NULL, (char *)"10.0.17763.1",
				 features, 1};
	struct reg_manifest *m = NULL;
	json_t *j, *back;
	char *s;
	const char *keys[] = {"\"Ref\"", "\"Descriptor\"", "\"mediaType\"", "\"digest\"", "\"size\"",
			      "\"platform\"", "\"architecture\"", "\"os\"", "\"os.version\"",
			      "\"os.features\"", "\"Raw\"", "\"OCIManifest\"", "\"schemaVersion\""};
	const char *prev = NULL;
	int ret;

	ret = reg_manifest_parse(oci_bytes, sizeof(oci_bytes) - 1, NULL, &m);
	CHECK(ret == 0 && m && m->type == REG_MT_OCI_MANIFEST, "oci parse: %d", ret);
	if (!m)
		return;
	j = reg_inspect_image("r.example.com/a/b@" DA, oci_bytes, sizeof(oci_bytes) - 1, m, &p);
	s = reg_inspect_dump(j, NULL);
	CHECK(s != NULL, "oci dump NULL");
	if (!s)
		goto out;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *at = strstr(s, keys[i]);

		CHECK(at && (!prev || at > prev), "key %s missing or out of order", keys[i]);
		prev = at;
	}
	CHECK(strstr(s, "\"SchemaV2Manifest\"") == NULL, "OCI manifest under SchemaV2Manifest");
	CHECK(strstr(s, "\"variant\"") == NULL, "empty variant printed");
	CHECK(s[strlen(s) - 1] == '\n' && s[strlen(s) - 2] == '}', "no trailing newline");
	CHECK(strstr(s, "\n\t\"Raw\"") && !strstr(s, "\n "), "not tab-indented");

	back = json_loads(s, 0, NULL);
	CHECK(back != NULL, "dump is not JSON");
	if (back) {
		json_t *d = json_object_get(back, "Descriptor");
		json_t *plat = json_object_get(d, "platform");
		json_t *om = json_object_get(back, "OCIManifest");

		CHECK(json_is_string(json_object_get(back, "Ref")) &&
			      strcmp(json_string_value(json_object_get(back, "Ref")),
				     "r.example.com/a/b@" DA) == 0,
		      "Ref");
		CHECK(strcmp(json_string_value(json_object_get(d, "mediaType")),
			     REG_MT_OCI_MANIFEST_STR) == 0,
		      "mediaType");
		CHECK(json_integer_value(json_object_get(d, "size")) == (json_int_t)sizeof(oci_bytes) - 1,
		      "size");
		CHECK(strcmp(json_string_value(json_object_get(plat, "os.version")), "10.0.17763.1") == 0,
		      "os.version");
		CHECK(json_array_size(json_object_get(plat, "os.features")) == 1, "os.features");
		CHECK(json_integer_value(json_object_get(json_object_get(om, "config"), "size")) == 7,
		      "OCIManifest.config.size");
		CHECK(json_array_size(json_object_get(om, "layers")) == 1, "OCIManifest.layers");
		json_decref(back);
	}
	free(s);
out:
	json_decref(j);
	reg_manifest_free(m);
}

/* No platform: the key is left out.  A platform with empty fields keeps
 * architecture and os (no omitempty) as "". */
static void test_platform_edges(void)
{
	struct reg_platform empty = {NULL, NULL, (char *)"", (char *)"", NULL, 0};
	struct reg_manifest *m = NULL;
	json_t *j;
	char *s;

	if (reg_manifest_parse(oci_bytes, sizeof(oci_bytes) - 1, NULL, &m) < 0)
		return;
	j = reg_inspect_image("x/y:z", oci_bytes, sizeof(oci_bytes) - 1, m, NULL);
	s = reg_inspect_dump(j, NULL);
	CHECK(s && !strstr(s, "platform"), "NULL platform printed");
	free(s);
	json_decref(j);

	j = reg_inspect_image("x/y:z", oci_bytes, sizeof(oci_bytes) - 1, m, &empty);
	s = reg_inspect_dump(j, NULL);
	CHECK(s && strstr(s, "\"platform\": {\n\t\t\t\"architecture\": \"\",\n\t\t\t\"os\": \"\"\n\t\t}"),
	      "empty platform: %s", s ? s : "(null)");
	free(s);
	json_decref(j);
	reg_manifest_free(m);
}

/* A list is printed as an array of images. */
static void test_array(void)
{
	struct reg_manifest *m = NULL;
	json_t *arr = json_array();
	char *s;

	if (reg_manifest_parse(oci_bytes, sizeof(oci_bytes) - 1, NULL, &m) < 0)
		return;
	json_array_append_new(arr, reg_inspect_image("a@" DA, oci_bytes, sizeof(oci_bytes) - 1, m, NULL));
	json_array_append_new(arr, reg_inspect_image("b@" DB, oci_bytes, sizeof(oci_bytes) - 1, m, NULL));
	s = reg_inspect_dump(arr, NULL);
	CHECK(s && strncmp(s, "[\n\t{\n\t\t\"Ref\": \"a@", 17) == 0, "array start: %.40s",
	      s ? s : "(null)");
	CHECK(s && strstr(s, "\n\t},\n\t{\n\t\t\"Ref\": \"b@") && strcmp(s + strlen(s) - 5, "\t}\n]\n") == 0,
	      "array shape");
	free(s);
	json_decref(arr);
	reg_manifest_free(m);
}

/* An index nested in a list: an image's shape, its document under
 * OCIIndex (SchemaV2ManifestList for a Docker list), then Manifests. */
static void test_nested_index(void)
{
	static const char oci_index[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\",\"manifests\":[]}";
	static const char docker_list[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_DOCKER_LIST_STR "\",\"manifests\":[]}";
	static const char start[] = "{\n\t\"Ref\": \"r/x:t@" DA "\",\n\t\"Descriptor\": {\n"
				    "\t\t\"mediaType\": \"" REG_MT_OCI_INDEX_STR "\",\n";
	struct reg_platform riscv = {(char *)"linux", (char *)"riscv64", NULL, NULL, NULL, 0};
	struct reg_manifest *m = NULL, *img = NULL, *dl = NULL;
	json_t *kids, *j;
	char *s;

	if (reg_manifest_parse(oci_index, sizeof(oci_index) - 1, NULL, &m) < 0 ||
	    reg_manifest_parse(oci_bytes, sizeof(oci_bytes) - 1, NULL, &img) < 0 ||
	    reg_manifest_parse(docker_list, sizeof(docker_list) - 1, NULL, &dl) < 0) {
		CHECK(0, "fixtures do not parse");
		goto out;
	}
	kids = json_array();
	json_array_append_new(kids, reg_inspect_image("r/x:t@" DB, oci_bytes, sizeof(oci_bytes) - 1,
						      img, NULL));
	j = reg_inspect_index("r/x:t@" DA, oci_index, sizeof(oci_index) - 1, m, &riscv, kids);
	s = reg_inspect_dump(j, NULL);
	CHECK(s && strncmp(s, start, sizeof(start) - 1) == 0, "nested index start: %.200s",
	      s ? s : "(null)");
	CHECK(s && strstr(s, "\t\t\"platform\": {\n\t\t\t\"architecture\": \"riscv64\",\n"
			     "\t\t\t\"os\": \"linux\"\n\t\t}\n\t},\n\t\"Raw\": \""),
	      "nested index descriptor: %s", s ? s : "(null)");
	CHECK(s && strstr(s, "\t\"OCIIndex\": {\n\t\t\"schemaVersion\": 2,") &&
	      strstr(s, "\t\"Manifests\": [\n\t\t{\n\t\t\t\"Ref\": \"r/x:t@" DB "\"") &&
	      strstr(s, "\t\t\t\"OCIManifest\": {") && strcmp(s + strlen(s) - 9, "\t\t}\n\t]\n}\n") == 0,
	      "nested index document and entries: %s", s ? s : "(null)");
	free(s);
	json_decref(j);

	j = reg_inspect_index("r/x@" DA, docker_list, sizeof(docker_list) - 1, dl, NULL, NULL);
	s = reg_inspect_dump(j, NULL);
	CHECK(s && strstr(s, "\t\"SchemaV2ManifestList\": {") && !strstr(s, "Manifests") &&
	      !strstr(s, "platform"), "docker list, no entries given: %s", s ? s : "(null)");
	free(s);
	json_decref(j);

	/* an image is no index; children must be an array (taken over either way) */
	j = reg_inspect_index("a", oci_bytes, sizeof(oci_bytes) - 1, img, NULL, json_array());
	CHECK(j == NULL, "image inspected as index");
	json_decref(j);
	j = reg_inspect_index("a", oci_index, sizeof(oci_index) - 1, m, NULL, json_object());
	CHECK(j == NULL, "children not an array");
	json_decref(j);
	j = reg_inspect_index("a", "[1]", 3, m, NULL, json_array());
	CHECK(j == NULL, "index bytes that are not an object");
	json_decref(j);
out:
	reg_manifest_free(m);
	reg_manifest_free(img);
	reg_manifest_free(dl);
}

/* Refusals: not an image, bytes that are not JSON, NULL arguments. */
static void test_refused(void)
{
	static const char index_bytes[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX_STR "\",\"manifests\":[]}";
	static const char v1_bytes[] = "{\"schemaVersion\":1}";
	struct reg_manifest *m = NULL;
	json_t *j;
	size_t len = 7;

	if (reg_manifest_parse(index_bytes, sizeof(index_bytes) - 1, NULL, &m) == 0) {
		j = reg_inspect_image("a", index_bytes, sizeof(index_bytes) - 1, m, NULL);
		CHECK(j == NULL, "index inspected as image");
		json_decref(j);
		reg_manifest_free(m);
	}
	m = NULL;
	if (reg_manifest_parse(v1_bytes, sizeof(v1_bytes) - 1, NULL, &m) == 0) {
		j = reg_inspect_image("a", v1_bytes, sizeof(v1_bytes) - 1, m, NULL);
		CHECK(j == NULL, "schema 1 inspected");
		json_decref(j);
		reg_manifest_free(m);
	}
	m = NULL;
	if (reg_manifest_parse(oci_bytes, sizeof(oci_bytes) - 1, NULL, &m) == 0) {
		j = reg_inspect_image("a", "not json", 8, m, NULL);
		CHECK(j == NULL, "bytes that are not JSON");
		json_decref(j);
		j = reg_inspect_image("a", "[1]", 3, m, NULL);
		CHECK(j == NULL, "bytes that are not an object");
		json_decref(j);
		j = reg_inspect_image(NULL, oci_bytes, sizeof(oci_bytes) - 1, m, NULL);
		CHECK(j == NULL, "NULL ref");
		json_decref(j);
		j = reg_inspect_image("bad\xff", oci_bytes, sizeof(oci_bytes) - 1, m, NULL);
		CHECK(j == NULL, "non-UTF-8 ref");
		json_decref(j);
		reg_manifest_free(m);
	}
	j = reg_inspect_image("a", oci_bytes, sizeof(oci_bytes) - 1, NULL, NULL);
	CHECK(j == NULL, "NULL manifest");
	CHECK(reg_inspect_dump(NULL, &len) == NULL && len == 0, "dump NULL");
}

/* --- reg_inspect_entries ---------------------------------------------------
 * A fake repository: manifests by name, each served by digest through
 * fake_fetch (or failing with its err), and indexes built from them. */

#define FAKES_MAX 32

struct fake {
	const char *name;
	char *bytes; /* owned */
	size_t len;
	char digest[DIGEST_STR_LEN + 1];
	int err; /* what fetching it returns, or 0 */
	int fetched;
};

static struct fake fakes[FAKES_MAX];
static size_t n_fakes;

static void fakes_reset(void)
{
	for (size_t i = 0; i < n_fakes; i++)
		free(fakes[i].bytes);
	memset(fakes, 0, sizeof(fakes));
	n_fakes = 0;
}

static struct fake *fake_named(const char *name)
{
	for (size_t i = 0; i < n_fakes; i++)
		if (strcmp(fakes[i].name, name) == 0)
			return &fakes[i];
	return NULL;
}

static struct fake *fake_add(const char *name, const char *bytes, int err)
{
	struct fake *f = &fakes[n_fakes++];

	if (n_fakes > FAKES_MAX)
		abort();
	f->name = name;
	f->bytes = strdup(bytes);
	f->len = strlen(bytes);
	f->err = err;
	digest_of(name, strlen(name), f->digest); /* a failing one has no bytes to hash */
	if (!err)
		digest_of(f->bytes, f->len, f->digest);
	return f;
}

/* An OCI index named @name whose entries are the fakes named in @kids
 * (space-separated), each with platform linux/amd64 and the media type of
 * an index when its name starts with "idx". */
static struct fake *fake_index(const char *name, const char *kids)
{
	char *doc = strdup("{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX_STR
			   "\",\"manifests\":["), *list = strdup(kids), *save = NULL;
	const char *sep = "";
	struct fake *f;

	for (char *k = strtok_r(list, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		struct fake *c = fake_named(k);
		char *more = NULL;

		if (!c)
			abort();
		if (asprintf(&more, "%s%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
			     "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}", doc, sep,
			     strncmp(k, "idx", 3) == 0 ? REG_MT_OCI_INDEX_STR : REG_MT_OCI_MANIFEST_STR,
			     c->digest, c->len) < 0)
			abort();
		free(doc);
		doc = more;
		sep = ",";
	}
	doc = realloc(doc, strlen(doc) + 3);
	strcat(doc, "]}");
	f = fake_add(name, doc, 0);
	free(doc);
	free(list);
	return f;
}

static int fake_fetch(void *arg, const char *digest, char **bytes, size_t *len)
{
	(void)arg;
	for (size_t i = 0; i < n_fakes; i++) {
		struct fake *f = &fakes[i];

		if (strcmp(f->digest, digest) != 0)
			continue;
		f->fetched++;
		if (f->err)
			return f->err;
		*bytes = malloc(f->len + 1);
		memcpy(*bytes, f->bytes, f->len + 1);
		*len = f->len;
		return 0;
	}
	return -ENOENT;
}

/* The shape of an inspect.json array: each element's fake name (its Ref
 * is "p@<digest>"), with its Manifests in parentheses: "a idx(b c)". */
static void shape_of(const json_t *arr, char *out, size_t n)
{
	const json_t *el;
	size_t i, o = strlen(out);

	json_array_foreach(arr, i, el) {
		const char *ref = json_string_value(json_object_get(el, "Ref"));
		const json_t *kids = json_object_get(el, "Manifests");
		const char *name = "?";

		for (size_t k = 0; ref && k < n_fakes; k++)
			if (strncmp(ref, "p@", 2) == 0 && strcmp(ref + 2, fakes[k].digest) == 0)
				name = fakes[k].name;
		o += (size_t)snprintf(out + o, n - o, "%s%s", i ? " " : "", name);
		if (kids) {
			o += (size_t)snprintf(out + o, n - o, "(");
			shape_of(kids, out, n);
			o = strlen(out);
			o += (size_t)snprintf(out + o, n - o, ")");
		}
	}
}

/* A chain of indexes idx1 -> idx2 -> ... -> idx10 -> img (fixtures for the
 * depth cap). */
static void fakes_chain(void)
{
	static const char *const names[] = {"idx10", "idx9", "idx8", "idx7", "idx6",
					    "idx5",  "idx4", "idx3", "idx2", "idx1"};
	const char *below = "img";

	fake_add("img", oci_bytes, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fake_index(names[i], below);
		below = names[i];
	}
}

static void fakes_mixed(void)
{
	fake_add("img", oci_bytes, 0);
	fake_add("v2", v2_bytes, 0);
	fake_add("v1", "{\"schemaVersion\":1,\"name\":\"a\"}", 0);
	fake_add("junk", "not a manifest", 0);
	fake_add("arr", "[1]", 0);
	fake_add("gone", "", -ENOENT);
	fake_add("busy", "", -EAGAIN);
	fake_index("idxleaf", "v2");
	fake_index("idxempty", "");
	fake_index("idxbusy", "img busy");
	fake_index("idxmid", "idxleaf img");
}

static void test_entries_table(void)
{
	static const struct {
		const char *what;
		void (*fixtures)(void);
		const char *top;     /* the entries of the index given */
		int ret;
		const char *shape;   /* of the output (see shape_of); NULL on error */
		const char *unasked; /* a fake that must not be fetched, or NULL */
	} rows[] = {
		{"images in order", fakes_mixed, "img v2 img", 0, "img v2 img", NULL},
		{"nested index with its own entries", fakes_mixed, "img idxleaf", 0,
		 "img idxleaf(v2)", NULL},
		{"index in an index in an index", fakes_mixed, "idxmid v2", 0,
		 "idxmid(idxleaf(v2) img) v2", NULL},
		{"nested index without entries", fakes_mixed, "idxempty", 0, "idxempty()", NULL},
		{"no entries", fakes_mixed, "", 0, "", NULL},
		{"schema 1 left out", fakes_mixed, "v1 img", 0, "img", NULL},
		{"bytes that are no manifest left out", fakes_mixed, "junk img arr", 0, "img", NULL},
		{"missing entry is an error", fakes_mixed, "img gone v2", -ENOENT, NULL, "v2"},
		{"fetch error propagated", fakes_mixed, "busy img", -EAGAIN, NULL, "img"},
		{"fetch error in a nested index propagated", fakes_mixed, "idxbusy v2", -EAGAIN, NULL,
		 "v2"},
		{"depth cap: 8 levels listed, an index on the eighth without Manifests", fakes_chain,
		 "idx1", 0, "idx1(idx2(idx3(idx4(idx5(idx6(idx7(idx8)))))))", "idx9"},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct reg_manifest *m = NULL;
		struct fake *top;
		json_t *out = (json_t *)&out;
		char shape[1024] = "";
		int ret;

		fakes_reset();
		rows[r].fixtures();
		top = fake_index("top", rows[r].top);
		if (reg_manifest_parse(top->bytes, top->len, NULL, &m) < 0) {
			CHECK(0, "%s: fixture does not parse", rows[r].what);
			continue;
		}
		ret = reg_inspect_entries("p", m, fake_fetch, NULL, &out);
		CHECK(ret == rows[r].ret, "%s: returned %d, want %d", rows[r].what, ret, rows[r].ret);
		if (rows[r].shape) {
			CHECK(json_is_array(out), "%s: no array", rows[r].what);
			shape_of(out, shape, sizeof(shape));
			CHECK(strcmp(shape, rows[r].shape) == 0, "%s: got '%s', want '%s'",
			      rows[r].what, shape, rows[r].shape);
		} else {
			CHECK(out == NULL, "%s: output on error", rows[r].what);
		}
		CHECK(!rows[r].unasked || fake_named(rows[r].unasked)->fetched == 0,
		      "%s: '%s' fetched", rows[r].what, rows[r].unasked);
		json_decref(out);
		reg_manifest_free(m);
	}
	fakes_reset();
}

/* Byte for byte what the elements are when composed by hand from
 * reg_inspect_image and reg_inspect_index (what inspect.json served before
 * reg_inspect_entries existed): Ref, the entry's platform, Manifests. */
static void test_entries_bytes(void)
{
	struct reg_platform amd64 = {(char *)"linux", (char *)"amd64", NULL, NULL, NULL, 0};
	struct reg_manifest *top = NULL, *img = NULL, *leaf = NULL, *v2 = NULL;
	struct fake *fi, *fl, *fv, *ft;
	json_t *got = NULL, *want = NULL, *kids;
	char *gs = NULL, *ws = NULL, *ref = NULL;

	fakes_reset();
	fakes_mixed();
	fi = fake_named("img");
	fl = fake_named("idxleaf");
	fv = fake_named("v2");
	ft = fake_index("top", "img idxleaf");
	if (reg_manifest_parse(ft->bytes, ft->len, NULL, &top) < 0 ||
	    reg_manifest_parse(fi->bytes, fi->len, NULL, &img) < 0 ||
	    reg_manifest_parse(fl->bytes, fl->len, NULL, &leaf) < 0 ||
	    reg_manifest_parse(fv->bytes, fv->len, NULL, &v2) < 0) {
		CHECK(0, "fixtures do not parse");
		goto out;
	}
	CHECK(reg_inspect_entries("localhost:5000/a/b:t", top, fake_fetch, NULL, &got) == 0,
	      "entries");
	want = json_array();
	kids = json_array();
	if (asprintf(&ref, "localhost:5000/a/b:t@%s", fv->digest) > 0)
		json_array_append_new(kids, reg_inspect_image(ref, fv->bytes, fv->len, v2, &amd64));
	free(ref);
	if (asprintf(&ref, "localhost:5000/a/b:t@%s", fi->digest) > 0)
		json_array_append_new(want, reg_inspect_image(ref, fi->bytes, fi->len, img, &amd64));
	free(ref);
	if (asprintf(&ref, "localhost:5000/a/b:t@%s", fl->digest) > 0)
		json_array_append_new(want, reg_inspect_index(ref, fl->bytes, fl->len, leaf, &amd64,
							      kids));
	free(ref);
	gs = reg_inspect_dump(got, NULL);
	ws = reg_inspect_dump(want, NULL);
	CHECK(gs && ws && strcmp(gs, ws) == 0, "entries differ:\n--- got\n%s--- want\n%s",
	      gs ? gs : "(null)\n", ws ? ws : "(null)\n");
out:
	free(gs);
	free(ws);
	json_decref(got);
	json_decref(want);
	reg_manifest_free(top);
	reg_manifest_free(img);
	reg_manifest_free(leaf);
	reg_manifest_free(v2);
	fakes_reset();
}

int main(void)
{
	test_docker_v2();
	test_oci_windows();
	test_platform_edges();
	test_array();
	test_nested_index();
	test_refused();
	test_entries_table();
	test_entries_bytes();
	if (failures) {
		fprintf(stderr, "test_inspect: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_inspect: ok\n");
	return 0;
}
