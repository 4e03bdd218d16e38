/*
 * Unit tests for list planning (fs/commit.c, commit_plan_text): what a
 * draft of links would push and what .status says about it, as tables
 * run against a fake registry (fake_remote.h): platforms from configs
 * and from link names, duplicates, an index source with its attestation,
 * the media-type rule, links across registries, and the sizes of the
 * user's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "reg.test:5000"
#define O "other.test:5000"
#define DRAFT H "/onap/py-app/multi"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char *registries[] = {H, O, NULL};

static void world_build(void)
{
	struct fake_object *img, *att;

	fake_reset();
	fake_image(H, "onap/py-app-amd64", "latest", false, "linux", "amd64", NULL);
	fake_image(H, "onap/py-app-arm64v8", "latest", false, "linux", "arm64", "v8");
	fake_image(H, "onap/py-app-s390x", "latest", true, "linux", "s390x", NULL);
	/* an image whose config names no os */
	fake_image(H, "onap/py-app-mips", "latest", false, "", "mips64le", NULL);
	/* an index of one image with its attestation (as buildx pushes one) */
	img = fake_image(H, "onap/py-app-ppc64le", NULL, true, "linux", "ppc64le", NULL);
	att = fake_attestation(H, "onap/py-app-ppc64le");
	{
		struct fake_entry e[] = {
			{img, "\"architecture\":\"ppc64le\",\"os\":\"linux\"", NULL},
			{att, NULL, img},
		};

		fake_index(H, "onap/py-app-ppc64le", "latest", true, e, ARRAY_SIZE(e));
	}
	/* a/b has tag c, and a/b/c is a repository too */
	fake_image(H, "a/b", "c", false, "linux", "riscv64", NULL);
	fake_image(H, "a/b/c", "latest", false, "linux", "386", NULL);
	fake_image(O, "x/y", "latest", false, "linux", "arm", "v7");
}

struct file {
	const char *name; /* below the draft: ".mediatype", ".annotations/KEY" */
	const char *text; /* NULL: @size bytes of 'x' */
	size_t size;
};

struct row {
	const char *what;
	const char *links[4][2]; /* name, target */
	struct file files[2];
	bool ready;
	const char *media_type;  /* ready: of the list */
	const char *platforms;   /* ready: the entries' platforms, ' '-separated, in order */
	size_t n_entries;        /* ready: manifests[] length, attestations included */
	const char *status[2];   /* lines .status must hold */
};

static const struct row rows[] = {
	{"two Docker images make a Docker list",
	 {{"amd64", "../../py-app-amd64/latest"}, {"arm64", "../../py-app-arm64v8/latest"}},
	 {{0}},
	 true, MT_DOCKER_LIST, "linux/amd64 linux/arm64/v8", 2,
	 {"ready: 2 entries", NULL}},
	{"an OCI image makes it an OCI index",
	 {{"amd64", "../../py-app-amd64/latest"}, {"s390x", "../../py-app-s390x/latest"}},
	 {{0}},
	 true, MT_OCI_INDEX, "linux/amd64 linux/s390x", 2,
	 {NULL}},
	{".mediatype oci forces an OCI index",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".mediatype", "oci\n", 0}},
	 true, MT_OCI_INDEX, "linux/amd64", 1,
	 {NULL}},
	{".mediatype docker cannot hold annotations",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".mediatype", "docker\n", 0}, {".annotations/org.opencontainers.image.title", "x\n", 0}},
	 false, NULL, NULL, 0,
	 {"not ready", NULL}},
	{"annotations make an OCI index",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".annotations/org.opencontainers.image.title", "py-app\n", 0}},
	 true, MT_OCI_INDEX, "linux/amd64", 1,
	 {NULL}},
	{"a bad .mediatype is named",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".mediatype", "xml\n", 0}},
	 false, NULL, NULL, 0,
	 {".mediatype: 'xml' is neither 'docker' nor 'oci'", NULL}},
	{"a 5 KiB .mediatype is a bad .mediatype, not an unreadable draft",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".mediatype", NULL, 5 << 10}},
	 false, NULL, NULL, 0,
	 {".mediatype: 'xxxx", "not ready: 1 error"}},
	{"a .mediatype over the cap is said so",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".mediatype", NULL, DRAFT_USER_FILE_MAX + 1}},
	 false, NULL, NULL, 0,
	 {".mediatype: over 65536 bytes", "not ready: 1 error"}},
	{"an annotation over the cap is said so",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".annotations/big", NULL, DRAFT_USER_FILE_MAX + 1}},
	 false, NULL, NULL, 0,
	 {".annotations/big: over 65536 bytes", NULL}},
	{"an annotation at the cap is fine",
	 {{"amd64", "../../py-app-amd64/latest"}},
	 {{".annotations/big", NULL, DRAFT_USER_FILE_MAX}},
	 true, MT_OCI_INDEX, "linux/amd64", 1,
	 {NULL}},
	{"duplicate platforms are refused",
	 {{"one", "../../py-app-amd64/latest"}, {"two", "../../py-app-amd64/latest"}},
	 {{0}},
	 false, NULL, NULL, 0,
	 {"duplicate platform linux/amd64: 'one' has it too", NULL}},
	{"a link name in platform form overrides the config, with a warning",
	 {{"linux-arm-v7", "../../py-app-amd64/latest"}},
	 {{0}},
	 true, MT_DOCKER_LIST, "linux/arm/v7", 1,
	 {"warning: 'py-app-amd64' is named for amd64", NULL}},
	{"a link name sets a missing os",
	 {{"linux-mips64le", "../../py-app-mips/latest"}},
	 {{0}},
	 true, MT_DOCKER_LIST, "linux/mips64le", 1,
	 {NULL}},
	{"a missing os is refused",
	 {{"mips", "../../py-app-mips/latest"}},
	 {{0}},
	 false, NULL, NULL, 0,
	 {"missing os/arch", NULL}},
	{"an index of one image brings its attestation",
	 {{"ppc64le", "../../py-app-ppc64le/latest"}},
	 {{0}},
	 true, MT_OCI_INDEX, "linux/ppc64le unknown/unknown", 2,
	 {"(with attestations)", NULL}},
	{"a tag wins over a nested repository of its name",
	 {{"riscv", "../../../a/b/c"}},
	 {{0}},
	 true, MT_DOCKER_LIST, "linux/riscv64", 1,
	 {"reg.test:5000/a/b:c@", NULL}},
	{"inside an image's directory is no image",
	 {{"i386", "../../../a/b/c/latest"}},
	 {{0}},
	 false, NULL, NULL, 0,
	 {"is inside an image's directory", NULL}},
	{"links across registries",
	 {{"arm", "../../../../" O "/x/y/latest"}, {"amd64", "/mnt/regfs-unit/" H "/onap/py-app-amd64/latest"}},
	 {{0}},
	 true, MT_DOCKER_LIST, "linux/arm/v7 linux/amd64", 2,
	 {"other.test:5000/x/y:latest@", NULL}},
	{"dangling links, repositories, registries and outside targets",
	 {{"gone", "../../py-app-amd64/nope"}, {"repo", "../../py-app-amd64"},
	  {"reg", "../../.."}, {"out", "/etc"}},
	 {{0}},
	 false, NULL, NULL, 0,
	 {"not ready: 4 errors", "gone -> ../../py-app-amd64/nope: error: dangling link"}},
	{"no entries", {{NULL, NULL}}, {{0}}, false, NULL, NULL, 0, {"no entries", NULL}},
};

static void write_file(struct fake_fs *f, const struct file *file)
{
	char *text = file->text ? strdup(file->text) : malloc(file->size);
	size_t len = file->text ? strlen(file->text) : file->size;
	int fd;

	if (!file->text)
		memset(text, 'x', len);
	if (strncmp(file->name, ".annotations/", 13) == 0)
		cache_draft_mkdir_annotations(f->fs.drafts, DRAFT);
	fd = cache_draft_file_open(f->fs.drafts, DRAFT, file->name, O_WRONLY | O_CREAT | O_TRUNC);
	CHECK(fd >= 0, "open %s: %s", file->name, strerror(-fd));
	if (fd >= 0) {
		CHECK(write(fd, text, len) == (ssize_t)len, "write %s", file->name);
		close(fd);
	}
	free(text);
}

/* The draft's node: MOUNT/reg.test:5000/onap/py-app/multi. */
static struct node *draft_node(struct fake_fs *f, struct node **chain)
{
	struct node *root = node_root(f->fs.nodes);

	chain[0] = node_new(root, H, NODE_REGISTRY);
	reg_client_registry(f->fs.client, H, &chain[0]->reg);
	chain[1] = node_new(chain[0], "onap", NODE_REPO);
	chain[1]->repo = strdup("onap");
	chain[2] = node_new(chain[1], "py-app", NODE_REPO);
	chain[2]->repo = strdup("onap/py-app");
	chain[3] = node_new(chain[2], "multi", NODE_DRAFT);
	chain[3]->repo = strdup("onap/py-app");
	chain[3]->ref = strdup("multi");
	return chain[3];
}

/* The platforms of @preview's entries, ' '-separated (new string). */
static char *preview_platforms(const char *preview, size_t len, const char **media_type,
			       size_t *n)
{
	json_t *doc = json_loadb(preview, len, 0, NULL), *m;
	char *out = strdup(""), *next;
	size_t i;

	*n = 0;
	*media_type = NULL;
	if (!doc)
		return out;
	*media_type = strdup(json_string_value(json_object_get(doc, "mediaType")));
	json_array_foreach(json_object_get(doc, "manifests"), i, m) {
		json_t *p = json_object_get(m, "platform");
		const char *v = json_string_value(json_object_get(p, "variant"));

		next = fake_printf("%s%s%s/%s%s%s", out, i ? " " : "",
				   json_string_value(json_object_get(p, "os")),
				   json_string_value(json_object_get(p, "architecture")),
				   v ? "/" : "", v ? v : "");
		free(out);
		out = next;
		(*n)++;
	}
	json_decref(doc);
	return out;
}

static void check_row(const struct row *r)
{
	struct fake_fs f;
	struct node *chain[4], *d;
	char *preview = NULL, *digest = NULL, *status = NULL;
	size_t len = 0;
	int ret;

	world_build();
	fake_fs_open(&f, registries);
	CHECK(cache_draft_mkdir(f.fs.drafts, DRAFT) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(r->links) && r->links[i][0]; i++)
		CHECK(cache_draft_symlink(f.fs.drafts, DRAFT, r->links[i][0], r->links[i][1]) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(r->files) && r->files[i].name; i++)
		write_file(&f, &r->files[i]);
	d = draft_node(&f, chain);

	ret = commit_plan_text(&f.fs, d, &preview, &len, &digest, &status);
	CHECK(status != NULL, "%s: no .status", r->what);
	CHECK(r->ready ? ret == 0 : ret == -EINVAL, "%s: %s\n%s", r->what, strerror(-ret),
	      status ? status : "");
	for (size_t i = 0; i < ARRAY_SIZE(r->status) && r->status[i]; i++)
		CHECK(status && strstr(status, r->status[i]), "%s: .status lacks '%s':\n%s", r->what,
		      r->status[i], status ? status : "");
	if (r->ready && ret == 0) {
		const char *mt = NULL;
		size_t n;
		char *platforms = preview_platforms(preview, len, &mt, &n), want[DIGEST_STR_LEN + 1];

		CHECK(mt && strcmp(mt, r->media_type) == 0, "%s: a %s, want a %s", r->what,
		      mt ? mt : "(none)", r->media_type);
		CHECK(strcmp(platforms, r->platforms) == 0, "%s: platforms '%s', want '%s'", r->what,
		      platforms, r->platforms);
		CHECK(n == r->n_entries, "%s: %zu entries, want %zu", r->what, n, r->n_entries);
		digest_of(preview, len, want);
		CHECK(digest && strcmp(digest, want) == 0, "%s: .digest is not the preview's",
		      r->what);
		CHECK(strstr(status, want) != NULL, "%s: .status does not name the digest", r->what);
		free((char *)mt);
		free(platforms);
	}
	free(preview);
	free(digest);
	free(status);
	for (int i = 3; i >= 0; i--)
		node_free(chain[i]);
	fake_fs_close(&f);
	fake_reset();
}

static void test_plan_rows(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_row(&rows[i]);
}

/* The same draft gives the same bytes, whatever order the plan is asked. */
static void test_plan_stable(void)
{
	char *first = NULL, *again = NULL;
	size_t l1 = 0, l2 = 0;

	for (int k = 0; k < 2; k++) {
		struct fake_fs f;
		struct node *chain[4];

		world_build();
		fake_fs_open(&f, registries);
		cache_draft_mkdir(f.fs.drafts, DRAFT);
		cache_draft_symlink(f.fs.drafts, DRAFT, "b", "../../py-app-arm64v8/latest");
		cache_draft_symlink(f.fs.drafts, DRAFT, "a", "../../py-app-amd64/latest");
		CHECK(commit_plan_text(&f.fs, draft_node(&f, chain), k ? &again : &first,
				       k ? &l2 : &l1, NULL, NULL) == 0);
		for (int i = 3; i >= 0; i--)
			node_free(chain[i]);
		fake_fs_close(&f);
		fake_reset();
	}
	CHECK(first && again && l1 == l2 && memcmp(first, again, l1) == 0,
	      "two plans of one draft differ");
	/* link order, not name order: arm64 first */
	CHECK(first && strstr(first, "arm64") < strstr(first, "amd64"), "entries not in link order");
	free(first);
	free(again);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"plan_rows", test_plan_rows},
		{"plan_stable", test_plan_stable},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, ARRAY_SIZE(tests));
}
