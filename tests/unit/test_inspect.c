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

int main(void)
{
	test_docker_v2();
	test_oci_windows();
	test_platform_edges();
	test_array();
	test_nested_index();
	test_refused();
	if (failures) {
		fprintf(stderr, "test_inspect: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_inspect: ok\n");
	return 0;
}
