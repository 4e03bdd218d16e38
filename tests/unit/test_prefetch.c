/*
 * Unit tests for fs/prefetch.c, reading an index's children ahead, against
 * the fake registry (fake_remote.h) with read ahead turned on: opening a
 * list's platform directory fetches every platform's manifest and config
 * in the background, each once; the reads that follow cost no request; a
 * reader of the list alone (manifest.json) starts nothing; one index is
 * read ahead once, and only so far (PREFETCH_ENTRIES_MAX).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "registry/manifest.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "reg.test:5000"
#define N_PLATFORMS 5
#define N_WIDE (PREFETCH_ENTRIES_MAX + 8)

static char *registries[] = {H, NULL};
static const char *arches[N_PLATFORMS] = {"amd64", "arm64", "ppc64le", "s390x", "riscv64"};
static struct fake_object *images[N_WIDE], *list;

/* A list of @n platforms (arch "a<i>" past the five named) in multi/app:v1. */
static void world_build(size_t n)
{
	struct fake_entry e[N_WIDE];
	char *plat[N_WIDE];

	fake_reset();
	for (size_t i = 0; i < n; i++) {
		char arch[16];

		snprintf(arch, sizeof(arch), "a%zu", i);
		images[i] = fake_image(H, "multi/app", NULL, true, "linux",
				       i < N_PLATFORMS ? arches[i] : arch, NULL);
		plat[i] = fake_printf("\"architecture\":\"%s\",\"os\":\"linux\"",
				      i < N_PLATFORMS ? arches[i] : arch);
		e[i] = (struct fake_entry){images[i], plat[i], NULL};
	}
	list = fake_index(H, "multi/app", "v1", true, e, n);
	for (size_t i = 0; i < n; i++)
		free(plat[i]);
}

static void open_fs(struct fake_fs *f)
{
	fake_fs_open(f, registries);
	f->fs.cfg.prefetch = 4;
}

/* The published node of @path below the mount. */
static struct node *walk(struct fake_fs *f, const char *path)
{
	char *p = strdup(path), *save = NULL;
	struct node *n = node_root(f->fs.nodes);

	for (char *name = strtok_r(p, "/", &save); n && name; name = strtok_r(NULL, "/", &save)) {
		struct node *child = NULL;
		int ret = tree_lookup(&f->fs, n, name, &child);

		CHECK(ret == 0, "lookup '%s' of %s: %s", name, path, strerror(-ret));
		n = ret == 0 ? node_publish(f->fs.nodes, child) : NULL;
	}
	free(p);
	return n;
}

/* The object whose bytes are config @digest. */
static struct fake_object *object_of(const char *digest)
{
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.v[i].digest, digest) == 0)
			return &fake.v[i];
	return NULL;
}

/* What docker manifest inspect -v reads: every platform's manifest and
 * config, after the list.  Read ahead, each is asked once, in the
 * background, and the reads cost nothing more. */
static void test_platforms_read_ahead(void)
{
	struct fake_fs f;

	world_build(N_PLATFORMS);
	open_fs(&f);
	CHECK(walk(&f, H "/multi/app/v1/linux-amd64"));
	prefetch_drain(&f.fs);
	for (size_t i = 0; i < N_PLATFORMS; i++) {
		char path[128];
		struct node *cfg;
		struct resolve_view v;
		struct reg_registry *r = NULL;
		int fd;

		CHECK_EQ(images[i]->got, 1);
		CHECK(reg_client_registry(f.fs.client, H, &r) == 0);
		CHECK(resolve_digest(&f.fs, r, "multi/app", images[i]->digest, NULL, &v) == 0);
		if (v.m) {
			struct fake_object *c = object_of(v.m->config.digest);

			CHECK(c && c->got == 1, "config of %s fetched %d times", arches[i],
			      c ? c->got : -1);
			resolve_view_release(&v);
		}
		snprintf(path, sizeof(path), H "/multi/app/v1/linux-%s/config.json", arches[i]);
		cfg = walk(&f, path);
		fd = cfg ? tree_layer_open(&f.fs, cfg) : -1;
		CHECK(fd >= 0, "%s: %s", path, strerror(-fd));
		if (fd >= 0)
			close(fd);
	}
	for (size_t i = 0; i < N_PLATFORMS; i++)
		CHECK_EQ(images[i]->got, 1);
	CHECK_EQ(list->got, 1);
	CHECK_EQ(fake.gets, 1 + N_PLATFORMS);
	CHECK_EQ(fake.blobs, N_PLATFORMS);
	fake_fs_close(&f);
	fake_reset();
}

/* Reading the list alone starts nothing: reading ahead would cost GETs
 * some registries count. */
static void test_list_alone(void)
{
	struct fake_fs f;
	struct node *mf;
	char *bytes = NULL;
	size_t len;

	world_build(N_PLATFORMS);
	open_fs(&f);
	mf = walk(&f, H "/multi/app/v1/manifest.json");
	CHECK(mf && tree_file_content(&f.fs, mf, &bytes, &len) == 0);
	free(bytes);
	prefetch_drain(&f.fs);
	CHECK_EQ(fake.gets, 1);
	CHECK_EQ(fake.blobs, 0);
	fake_fs_close(&f);
	fake_reset();
}

/* A listing of the list's directory reads ahead too, once however many
 * lookups follow, and no further than PREFETCH_ENTRIES_MAX entries. */
static void test_bounded(void)
{
	struct fake_fs f;
	struct tree_listing l;
	struct node *tag;
	int fetched = 0;

	world_build(N_WIDE);
	open_fs(&f);
	tag = walk(&f, H "/multi/app/v1");
	CHECK(tag && tree_list(&f.fs, tag, &l) == 0);
	prefetch_drain(&f.fs);
	for (size_t i = 0; i < N_WIDE; i++)
		fetched += images[i]->got;
	CHECK(fetched == PREFETCH_ENTRIES_MAX, "%d read ahead, want %d", fetched,
	      PREFETCH_ENTRIES_MAX);
	for (size_t i = 0; tag && i < l.n; i++) {
		struct node *e = NULL;

		CHECK(tree_lookup(&f.fs, tag, l.v[i].name, &e) == 0);
		node_free(e);
	}
	prefetch_drain(&f.fs);
	fetched = 0;
	for (size_t i = 0; i < N_WIDE; i++)
		fetched += images[i]->got;
	CHECK(fetched == PREFETCH_ENTRIES_MAX, "%d fetched after lookups, want %d (once)",
	      fetched, PREFETCH_ENTRIES_MAX);
	tree_listing_release(&l);
	fake_fs_close(&f);
	fake_reset();
}

/* Read ahead off (cfg.prefetch < 0): nothing in the background. */
static void test_off(void)
{
	struct fake_fs f;

	world_build(N_PLATFORMS);
	fake_fs_open(&f, registries);
	CHECK(walk(&f, H "/multi/app/v1/linux-amd64"));
	prefetch_drain(&f.fs);
	CHECK_EQ(fake.gets, 1);
	CHECK(!f.fs.prefetch);
	fake_fs_close(&f);
	fake_reset();
}

int main(void)
{
	static const struct check_test tests[] = {
		{"platforms_read_ahead", test_platforms_read_ahead},
		{"list_alone", test_list_alone},
		{"bounded", test_bounded},
		{"off", test_off},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
