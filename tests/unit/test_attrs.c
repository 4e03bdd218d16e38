/*
 * Unit tests for what a mount tells stat and statfs: the owner and modes
 * tree_stat gives (fs/tree.c: -o uid=, gid=, write_group=, umask=), and the
 * blob cache as fs_statfs shows it to df (fs/fs.c).  Run on a whole core
 * over the fake registry (fake_remote.h); no request reaches it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cache/store.h"
#include "common/digest.h"
#include "common/log.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "reg.test:5000"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char *registries[] = {H, NULL};

/* The registry's node below the root (published: freed with the table). */
static struct node *registry_node(struct fake_fs *f)
{
	struct node *root = node_root(f->fs.nodes), *proto = NULL;

	if (tree_lookup(&f->fs, root, H, &proto) < 0)
		return NULL;
	return node_publish(f->fs.nodes, proto);
}

/* Owner and modes of the root (0555 as such) and of a registry (0755: a
 * draft may start there) under each configuration. */
static void test_owner_modes(void)
{
	static const struct {
		uid_t uid;
		gid_t gid;
		bool group_writes;
		mode_t umask;
		mode_t root, reg;
	} rows[] = {
	    {1000, 1000, false, 0, 0555, 0755},
	    {4242, 77, false, 0, 0555, 0755},  /* uid=, gid= */
	    {4242, 77, true, 0, 0555, 0775},   /* write_group= */
	    {4242, 77, true, 022, 0555, 0755}, /* the umask takes the group's write bit */
	    {0, 0, false, 077, 0500, 0700},
	    {0, 0, false, 0777, 0000, 0000},
	    {0, 0, true, 002, 0555, 0775},
	};
	struct fake_fs f;
	struct node *reg;
	struct stat st;

	fake_reset();
	fake_fs_open(&f, registries);
	reg = registry_node(&f);
	CHECK(reg != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(rows) && reg; i++) {
		f.fs.cfg.uid = rows[i].uid;
		f.fs.cfg.gid = rows[i].gid;
		f.fs.cfg.group_writes = rows[i].group_writes;
		f.fs.cfg.umask = rows[i].umask;
		CHECK_EQ(tree_stat(&f.fs, node_root(f.fs.nodes), &st), 0);
		CHECK_EQ(st.st_uid, rows[i].uid);
		CHECK_EQ(st.st_gid, rows[i].gid);
		CHECK_EQ(st.st_mode, S_IFDIR | rows[i].root);
		CHECK_EQ(tree_stat(&f.fs, reg, &st), 0);
		CHECK_EQ(st.st_uid, rows[i].uid);
		CHECK_EQ(st.st_mode, S_IFDIR | rows[i].reg);
	}
	fake_fs_close(&f);
}

/* df: 4 KiB blocks, the cap (fake_fs_open's 1 GiB) as the size, the
 * blobs stored as used, and a round number of free inodes above the nodes
 * the mount knows. */
static void test_statfs(void)
{
	const unsigned long cap_blocks = (1ul << 30) / 4096;
	static char blob[5000];
	char digest[DIGEST_STR_LEN + 1];
	struct statvfs sv;
	struct fake_fs f;

	fake_reset();
	fake_fs_open(&f, registries);
	CHECK_EQ(fs_statfs(&f.fs, &sv), 0);
	CHECK_EQ(sv.f_bsize, 4096);
	CHECK_EQ(sv.f_frsize, 4096);
	CHECK_EQ(sv.f_blocks, cap_blocks);
	CHECK_EQ(sv.f_bfree, cap_blocks);
	CHECK(sv.f_bavail <= sv.f_bfree);
	CHECK_EQ(sv.f_namemax, 255);
	CHECK(sv.f_ffree > 0 && sv.f_favail == sv.f_ffree);
	CHECK_EQ(sv.f_files, sv.f_ffree + 1); /* the root */

	memset(blob, 'x', sizeof(blob));
	digest_of(blob, sizeof(blob), digest);
	CHECK_EQ(cache_store_put(f.fs.store, digest, blob, sizeof(blob)), 0);
	CHECK(registry_node(&f) != NULL);
	CHECK_EQ(fs_statfs(&f.fs, &sv), 0);
	CHECK_EQ(sv.f_blocks, cap_blocks);
	CHECK_EQ(sv.f_bfree, cap_blocks - 2); /* 5000 bytes: two blocks */
	CHECK(sv.f_bavail <= sv.f_bfree);
	CHECK_EQ(sv.f_files, sv.f_ffree + 2); /* the root and the registry */
	fake_fs_close(&f);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"owner_modes", test_owner_modes},
	    {"statfs", test_statfs},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, ARRAY_SIZE(tests));
}
