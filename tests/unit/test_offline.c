/*
 * Unit tests for -o offline (fs_remote_offline, resolve_level's offline
 * rule): after an online mount read an image, a fresh mount of the same
 * store with no network resolves the manifest by digest below any
 * repository path, reads its config and layers from the store, and
 * answers tags, uncached digests and other hosts without a request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "reg.test:5000"

static char *registries[] = {H, NULL};

/* The same store and drafts, new memory: what a new mount of them has. */
static void remount_offline(struct fake_fs *f)
{
	fs_release(&f->fs);
	cache_mem_free(f->fs.mem);
	f->fs.mem = cache_mem_new(16u << 20);
	f->fs.cfg.offline = true;
	f->fs.remote = &fs_remote_offline;
	if (!f->fs.mem || fs_init(&f->fs) < 0) {
		fprintf(stderr, "remount_offline: cannot set up\n");
		exit(1);
	}
}

static void test_offline_by_digest(void)
{
	struct fake_fs f;
	struct fake_object *img, *other;
	struct resolved t;
	struct reg_registry *r;
	char *path, *cfg = NULL;
	size_t len;
	int before;

	fake_reset();
	img = fake_image(H, "ns/app", "v1", false, "linux", "amd64", NULL);
	other = fake_image(H, "ns/other", "v1", false, "linux", "arm64", NULL);
	fake_fs_open(&f, registries);
	CHECK(reg_client_registry(f.fs.client, H, &r) == 0);
	/* online: the tag, then its config, into the store */
	CHECK_EQ(resolve_path(&f.fs, H "/ns/app/v1", false, &t), 0);
	CHECK_EQ(t.kind, RESOLVED_MANIFEST);
	CHECK_EQ(tree_config_read(&f.fs, r, "ns/app", t.view.m, &cfg, &len), 0);
	free(cfg);
	resolved_release(&t);

	remount_offline(&f);
	before = fake.gets + fake.heads + fake.tag_lists + fake.catalogs + fake.blobs + fake.pings;
	path = fake_printf(H "/ns/app/@%s", img->digest);
	CHECK_EQ(resolve_path(&f.fs, path, false, &t), 0);
	CHECK_EQ(t.kind, RESOLVED_MANIFEST);
	CHECK(t.kind != RESOLVED_MANIFEST || strcmp(t.view.digest, img->digest) == 0);
	if (t.kind == RESOLVED_MANIFEST) {
		cfg = NULL;
		CHECK_EQ(tree_config_read(&f.fs, r, "ns/app", t.view.m, &cfg, &len), 0);
		free(cfg);
	}
	resolved_release(&t);
	free(path);
	/* any repository path leads there: the store is by digest */
	path = fake_printf(H "/elsewhere/deep/repo/@%s", img->digest);
	CHECK_EQ(resolve_path(&f.fs, path, false, &t), 0);
	CHECK_EQ(t.kind, RESOLVED_MANIFEST);
	resolved_release(&t);
	free(path);
	/* not cached: the network is down, not "no such manifest" */
	path = fake_printf(H "/ns/other/@%s", other->digest);
	CHECK_EQ(resolve_path(&f.fs, path, false, &t), -ENETDOWN);
	free(path);
	/* a tag is not known: never a manifest */
	CHECK_EQ(resolve_level(&f.fs, r, "ns/app", H "/ns/app", "V1_upper"), -ENETDOWN);
	CHECK(resolve_path(&f.fs, H "/ns/app/v1", false, &t) < 0 || t.kind != RESOLVED_MANIFEST);
	resolved_release(&t);
	/* another host is not asked */
	CHECK_EQ(resolve_registry(&f.fs, "other.test:5000", &r), -ENETDOWN);
	/* and the fake registry got no request at all */
	CHECK_EQ(fake.gets + fake.heads + fake.tag_lists + fake.catalogs + fake.blobs + fake.pings,
		 before);
	fake_fs_close(&f);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"offline_by_digest", test_offline_by_digest},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
