/*
 * Unit tests for fs/resolve.c, the one resolver: what a path below the
 * mount names, as tables run against a fake registry (fake_remote.h) with
 * a catalog and without one (as Docker Hub).  The same steps serve `ls`
 * (tree_lookup_level) and link targets (resolve_path), so each row is
 * checked both ways where both apply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "reg.test:5000"
#define O "other.test:5000"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char *registries[] = {H, O, NULL};

/* The world every row is resolved in. */
static struct {
	struct fake_object *amd64, *arm64, *attest, *list, *ab_latest, *ab_c, *abc_latest,
		*inner, *outer, *other, *solo;
} w;

static void world_build(bool no_catalog)
{
	fake_reset();
	fake.no_catalog = no_catalog;
	w.amd64 = fake_image(H, "onap/py-app-amd64", "latest", false, "linux", "amd64", NULL);
	w.arm64 = fake_image(H, "onap/py-app-arm64v8", "latest", false, "linux", "arm64", "v8");
	/* the list lives in onap/py-app: its children are pushed there too */
	fake_image(H, "onap/py-app", NULL, false, "linux", "amd64", NULL);
	w.attest = fake_attestation(H, "onap/py-app");
	{
		struct fake_object *a = fake_image(H, "onap/py-app", NULL, false, "linux", "amd64",
						   NULL);
		struct fake_object *b = fake_image(H, "onap/py-app", NULL, false, "linux", "arm64",
						   "v8");
		struct fake_entry e[] = {
			{a, "\"architecture\":\"amd64\",\"os\":\"linux\"", NULL},
			{b, "\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"", NULL},
			{w.attest, NULL, a},
		};

		w.list = fake_index(H, "onap/py-app", "v1", true, e, ARRAY_SIZE(e));
	}
	/* a/b has tags latest and c; a/b/c is a repository too */
	w.ab_latest = fake_image(H, "a/b", "latest", false, "linux", "amd64", NULL);
	w.ab_c = fake_image(H, "a/b", "c", false, "linux", "ppc64le", NULL);
	w.abc_latest = fake_image(H, "a/b/c", "latest", false, "linux", "s390x", NULL);
	/* an index holding an index */
	{
		struct fake_object *r = fake_image(H, "nest/outer", NULL, true, "linux", "riscv64",
						   NULL);
		struct fake_object *m = fake_image(H, "nest/outer", NULL, true, "linux", "arm64",
						   "v8");
		struct fake_entry ie[] = {{m, "\"architecture\":\"arm64\",\"os\":\"linux\","
					      "\"variant\":\"v8\"", NULL}};
		struct fake_entry oe[] = {
			{r, "\"architecture\":\"riscv64\",\"os\":\"linux\"", NULL},
			{NULL, "\"architecture\":\"mips64\",\"os\":\"linux\"", NULL},
		};

		w.inner = fake_index(H, "nest/outer", NULL, true, ie, 1);
		oe[1].o = w.inner;
		w.outer = fake_index(H, "nest/outer", "latest", true, oe, 2);
	}
	w.other = fake_image(O, "x/y", "latest", true, "linux", "arm", "v7");
	w.solo = fake_image(H, "solo", "latest", true, "linux", "amd64", NULL);
}

struct row {
	const char *path;          /* below the mount; "%L" stands for the list's digest */
	enum resolved_kind kind;
	const char *repo;          /* RESOLVED_REPO, RESOLVED_MANIFEST */
	struct fake_object **want; /* RESOLVED_MANIFEST: the manifest named */
	struct fake_object **parent; /* RESOLVED_MANIFEST below an index: that index */
	const char *why;           /* a word the reason must hold, or NULL */
};

static const struct row rows[] = {
	{"", RESOLVED_ROOT, NULL, NULL, NULL, NULL},
	{H, RESOLVED_REGISTRY, NULL, NULL, NULL, NULL},
	{"Not_A_Host!", RESOLVED_NONE, NULL, NULL, NULL, "registry"},
	{H "/onap", RESOLVED_REPO, "onap", NULL, NULL, NULL},
	{H "/onap/py-app", RESOLVED_REPO, "onap/py-app", NULL, NULL, NULL},
	{H "/onap/py-app/v1", RESOLVED_MANIFEST, "onap/py-app", &w.list, NULL, NULL},
	{H "/onap/py-app-amd64/latest", RESOLVED_MANIFEST, "onap/py-app-amd64", &w.amd64, NULL,
	 NULL},
	{H "/onap/py-app/v1/linux-arm64-v8", RESOLVED_MANIFEST, "onap/py-app", NULL, &w.list,
	 NULL},
	{H "/onap/py-app/v1/linux-s390x", RESOLVED_NOT_MANIFEST, NULL, NULL, NULL, "entry"},
	{H "/onap/py-app-amd64/latest/layers", RESOLVED_NOT_MANIFEST, NULL, NULL, NULL, "image"},
	{H "/onap/py-app/nope", RESOLVED_NONE, NULL, NULL, NULL, NULL},
	{H "/onap/py-app/@%L", RESOLVED_MANIFEST, "onap/py-app", &w.list, NULL, NULL},
	{H "/onap/py-app/@%L/linux-amd64", RESOLVED_MANIFEST, "onap/py-app", NULL, &w.list, NULL},
	{H "/onap/py-app/@sha256:0000000000000000000000000000000000000000000000000000000000000000",
	 RESOLVED_NONE, NULL, NULL, NULL, NULL},
	{H "/onap/py-app/@sha256:nothex", RESOLVED_NONE, NULL, NULL, NULL, NULL},
	/* a tag wins over a nested repository of the same name, as in `ls` */
	{H "/a/b/c", RESOLVED_MANIFEST, "a/b", &w.ab_c, NULL, NULL},
	{H "/a/b/c/latest", RESOLVED_NOT_MANIFEST, NULL, NULL, NULL, "image"},
	{H "/a/b/latest", RESOLVED_MANIFEST, "a/b", &w.ab_latest, NULL, NULL},
	/* platform directories of nested indexes */
	{H "/nest/outer/latest/linux-mips64", RESOLVED_MANIFEST, "nest/outer", &w.inner, &w.outer,
	 NULL},
	{H "/nest/outer/latest/linux-mips64/linux-arm64-v8", RESOLVED_MANIFEST, "nest/outer", NULL,
	 &w.inner, NULL},
	/* a repository at the top */
	{H "/solo/latest", RESOLVED_MANIFEST, "solo", &w.solo, NULL, NULL},
	{H "/solo/nope", RESOLVED_NONE, NULL, NULL, NULL, NULL},
	/* another registry */
	{O "/x/y/latest", RESOLVED_MANIFEST, "x/y", &w.other, NULL, NULL},
	{O "/x/y/nope", RESOLVED_NONE, NULL, NULL, NULL, NULL},
	/* a draft, and a path through one */
	{H "/onap/py-app/wip", RESOLVED_DRAFT, NULL, NULL, NULL, NULL},
	{H "/onap/py-app/wip/amd64", RESOLVED_DRAFT, NULL, NULL, NULL, NULL},
	/* a tag being amended is a draft, as `ls` shows it */
	{H "/onap/py-app-arm64v8/latest", RESOLVED_DRAFT, NULL, NULL, NULL, NULL},
	/* a namespace only the draft store holds */
	{H "/newns", RESOLVED_REPO, "newns", NULL, NULL, NULL},
};

/* @path with "%L" replaced by the list's digest (new string). */
static char *row_path(const char *path)
{
	const char *at = strstr(path, "%L");

	if (!at)
		return strdup(path);
	return fake_printf("%.*s%s%s", (int)(at - path), path, w.list->digest, at + 2);
}

static void drafts_make(struct fake_fs *f)
{
	CHECK(cache_draft_mkdir(f->fs.drafts, H "/onap/py-app/wip") == 0);
	CHECK(cache_draft_symlink(f->fs.drafts, H "/onap/py-app/wip", "amd64",
				  "../../py-app-amd64/latest") == 0);
	CHECK(cache_draft_mkdir(f->fs.drafts, H "/onap/py-app-arm64v8/latest") == 0);
	CHECK(cache_draft_mkdir(f->fs.drafts, H "/newns/app/v1") == 0);
}

static void check_row(struct fake_fs *f, const struct row *r, bool no_catalog)
{
	const char *mode = no_catalog ? "without a catalog" : "with a catalog";
	char *path = row_path(r->path);
	struct resolved t;
	int ret = resolve_path(&f->fs, path, true, &t);

	CHECK(ret == 0, "%s %s: resolve_path: %s", mode, path, strerror(-ret));
	CHECK(t.kind == r->kind, "%s %s: kind %d, want %d", mode, path, t.kind, r->kind);
	if (ret == 0 && t.kind == r->kind && r->repo)
		CHECK(t.repo && strcmp(t.repo, r->repo) == 0, "%s %s: repository %s, want %s",
		      mode, path, t.repo ? t.repo : "(none)", r->repo);
	if (ret == 0 && t.kind == RESOLVED_MANIFEST && r->want)
		CHECK(strcmp(t.view.digest, (*r->want)->digest) == 0, "%s %s: wrong manifest", mode,
		      path);
	if (ret == 0 && t.kind == RESOLVED_MANIFEST)
		CHECK(r->parent ? t.parent.m && strcmp(t.parent.digest, (*r->parent)->digest) == 0
				: !t.parent.m,
		      "%s %s: wrong parent index", mode, path);
	if (ret == 0 && r->why)
		CHECK(t.why && strstr(t.why, r->why), "%s %s: reason '%s', want one with '%s'",
		      mode, path, t.why ? t.why : "(none)", r->why);
	resolved_release(&t);
	free(path);
}

static void resolve_rows(bool no_catalog)
{
	struct fake_fs f;

	world_build(no_catalog);
	fake_fs_open(&f, registries);
	drafts_make(&f);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_row(&f, &rows[i], no_catalog);
	/* a second time, from the caches: the same answers */
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_row(&f, &rows[i], no_catalog);
	fake_fs_close(&f);
	fake_reset();
}

static void test_resolve_with_catalog(void)
{
	resolve_rows(false);
}

static void test_resolve_without_catalog(void)
{
	resolve_rows(true);
}

/* The lookups `ls` makes name the same things resolve_path does: walk
 * every row's path with tree_lookup, node by node. */
static void test_lookup_agrees(void)
{
	struct fake_fs f;

	world_build(false);
	fake_fs_open(&f, registries);
	drafts_make(&f);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct row *r = &rows[i];
		char *path = row_path(r->path), *save = NULL, *name;
		struct node *n = node_root(f.fs.nodes), *chain[16];
		size_t depth = 0;
		int ret = 0;

		for (name = strtok_r(path, "/", &save); name && ret == 0;
		     name = strtok_r(NULL, "/", &save)) {
			struct node *child = NULL;

			ret = tree_lookup(&f.fs, n, name, &child);
			if (ret == 0)
				n = chain[depth++] = child;
		}
		switch (r->kind) {
		case RESOLVED_NONE:
		case RESOLVED_NOT_MANIFEST:
			/* "layers" is a directory of its own in the tree */
			CHECK(ret == -ENOENT || (r->why && strcmp(r->why, "image") == 0 && ret == 0 &&
						 n->kind == NODE_LAYERS),
			      "ls %s: %s, want no such manifest", r->path, strerror(-ret));
			break;
		case RESOLVED_ROOT:
			CHECK(ret == 0 && n->kind == NODE_ROOT, "ls %s", r->path);
			break;
		case RESOLVED_REGISTRY:
			CHECK(ret == 0 && n->kind == NODE_REGISTRY, "ls %s", r->path);
			break;
		case RESOLVED_REPO:
			CHECK(ret == 0 && n->kind == NODE_REPO && strcmp(n->repo, r->repo) == 0,
			      "ls %s: %s", r->path, strerror(-ret));
			break;
		case RESOLVED_DRAFT:
			CHECK(ret == 0 && (n->kind == NODE_DRAFT || n->kind == NODE_DRAFT_LINK ||
					   tree_is_draft(&f.fs, n)),
			      "ls %s: %s", r->path, strerror(-ret));
			break;
		case RESOLVED_MANIFEST:
		case RESOLVED_UNREADABLE:
			CHECK(ret == 0 && n->kind == NODE_MANIFEST && strcmp(n->repo, r->repo) == 0,
			      "ls %s: %s", r->path, strerror(-ret));
			break;
		}
		while (depth)
			node_free(chain[--depth]);
		free(path);
	}
	fake_fs_close(&f);
	fake_reset();
}

/* With a catalog, a link into a list costs no probing: the catalog and the
 * tags list answer (once, then cached), and the tag itself is asked fresh. */
static void test_resolve_cost(void)
{
	struct fake_fs f;
	struct resolved t;

	world_build(false);
	fake_fs_open(&f, registries);
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1/linux-amd64", true, &t) == 0);
	CHECK(t.kind == RESOLVED_MANIFEST);
	resolved_release(&t);
	CHECK(fake.heads == 0, "%d HEAD requests, want none", fake.heads);
	CHECK(fake.catalogs == 1, "%d catalog requests, want 1", fake.catalogs);
	CHECK(fake.pings == 0, "%d pings of a configured registry", fake.pings);
	fake.gets = fake.catalogs = fake.tag_lists = fake.heads = 0;
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1/linux-amd64", true, &t) == 0);
	resolved_release(&t);
	CHECK(fake.catalogs == 0 && fake.tag_lists == 0, "listings asked again within the TTL");
	/* fresh: the tag is asked now, with a HEAD; its manifest is at hand */
	CHECK(fake.heads == 1, "%d HEADs, want 1 (the tag, fresh)", fake.heads);
	CHECK(fake.gets == 0, "%d GETs, want none (the digest did not move)", fake.gets);
	/* not fresh (as `cat` asks): once the tag's digest is known, no request */
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1/linux-amd64", false, &t) == 0);
	resolved_release(&t);
	fake.gets = 0;
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1/linux-amd64", false, &t) == 0);
	resolved_release(&t);
	CHECK(fake.gets == 0, "%d GETs for a tag cached for the TTL", fake.gets);
	fake_fs_close(&f);
	fake_reset();
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0)
		;
}

#define QUOTA_TTL 0.05

static struct fake_object *quota_read(struct fake_fs *f, bool fresh, int want_ret)
{
	struct reg_registry *r = NULL;
	struct resolve_view v;
	struct fake_object *got = NULL;
	int ret;

	CHECK(reg_client_registry(f->fs.client, H, &r) == 0);
	fake.gets = fake.heads = 0;
	ret = resolve_ref(&f->fs, r, "onap/py-app-amd64", "latest", fresh, &v);
	CHECK(ret == want_ret, "resolve_ref: %s", strerror(-ret));
	for (size_t i = 0; ret == 0 && !got && i < fake.n; i++)
		if (strcmp(fake.v[i].digest, v.digest) == 0)
			got = &fake.v[i]; /* the first: others may hold the same bytes */
	if (ret == 0)
		resolve_view_release(&v);
	return got;
}

/* Quota: a manifest GET per digest per mount.  After the TTL a tag whose
 * digest did not move costs one HEAD and no GET; one that moved, a HEAD
 * and a GET by its new digest; one that is gone, a HEAD. */
static void test_tag_quota(void)
{
	struct fake_fs f;
	struct fake_object *moved;

	world_build(false);
	fake_fs_open(&f, registries);
	f.fs.cfg.ttl = QUOTA_TTL;
	CHECK(quota_read(&f, false, 0) == w.amd64);
	CHECK(fake.gets == 1 && fake.heads == 0, "first read: %d GETs, %d HEADs, want 1, 0",
	      fake.gets, fake.heads);
	CHECK(quota_read(&f, false, 0) == w.amd64);
	CHECK(fake.gets == 0 && fake.heads == 0, "within the TTL: %d GETs, %d HEADs", fake.gets,
	      fake.heads);
	sleep_s(2 * QUOTA_TTL);
	CHECK(quota_read(&f, false, 0) == w.amd64);
	CHECK(fake.gets == 0 && fake.heads == 1, "after the TTL: %d GETs, %d HEADs, want 0, 1",
	      fake.gets, fake.heads);
	CHECK(quota_read(&f, true, 0) == w.amd64);
	CHECK(fake.gets == 0 && fake.heads == 1, "fresh: %d GETs, %d HEADs, want 0, 1", fake.gets,
	      fake.heads);

	/* the tag moves to another image */
	w.amd64->tag[0] = '\0';
	moved = fake_image(H, "onap/py-app-amd64", "latest", false, "linux", "riscv64", NULL);
	sleep_s(2 * QUOTA_TTL);
	CHECK(quota_read(&f, false, 0) == moved);
	CHECK(fake.gets == 1 && fake.heads == 1, "moved: %d GETs, %d HEADs, want 1, 1", fake.gets,
	      fake.heads);
	sleep_s(2 * QUOTA_TTL);
	CHECK(quota_read(&f, false, 0) == moved);
	CHECK(fake.gets == 0 && fake.heads == 1, "moved, then still: %d GETs, %d HEADs, want 0, 1",
	      fake.gets, fake.heads);

	/* and is removed */
	moved->tag[0] = '\0';
	sleep_s(2 * QUOTA_TTL);
	quota_read(&f, false, -ENOENT);
	CHECK(fake.gets == 0 && fake.heads == 1, "removed: %d GETs, %d HEADs, want 0, 1",
	      fake.gets, fake.heads);
	fake_fs_close(&f);
	fake_reset();
}

/* A path named in full is probed, not found by paging the catalog: a
 * repository by its tags list, a tag in it by that listing.  Only a name
 * the probes cannot tell (a namespace, or nothing) asks the catalog, and a
 * catalog at hand (fetched by a listing) answers for free. */
static void test_full_path_cost(void)
{
	struct fake_fs f;
	struct resolved t;
	struct tree_listing l;
	struct node *reg = NULL;

	world_build(false);
	fake_fs_open(&f, registries);
	CHECK(resolve_path(&f.fs, H "/solo/latest", false, &t) == 0);
	CHECK(t.kind == RESOLVED_MANIFEST);
	resolved_release(&t);
	CHECK(fake.catalogs == 0, "%d catalog requests for a full path, want none", fake.catalogs);
	CHECK(fake.tag_lists == 1, "%d tags lists, want 1", fake.tag_lists);
	CHECK(fake.heads == 0 && fake.gets == 1, "%d HEADs, %d GETs, want 0, 1", fake.heads,
	      fake.gets);
	/* so through lookups, as the kernel asks */
	fake.catalogs = fake.tag_lists = fake.gets = 0;
	CHECK(tree_lookup(&f.fs, node_root(f.fs.nodes), H, &reg) == 0);
	{
		struct node *repo = NULL, *tag = NULL;

		CHECK(reg && tree_lookup(&f.fs, reg, "solo", &repo) == 0);
		CHECK(repo && tree_lookup(&f.fs, repo, "latest", &tag) == 0 &&
		      tag->kind == NODE_MANIFEST);
		node_free(tag);
		node_free(repo);
	}
	CHECK(fake.catalogs == 0 && fake.tag_lists == 0 && fake.gets == 0,
	      "lookups: %d catalogs, %d tags lists, %d GETs, want none (cached)", fake.catalogs,
	      fake.tag_lists, fake.gets);
	/* a name no probe can tell: the catalog says it is not there */
	CHECK(resolve_path(&f.fs, H "/nosuch", false, &t) == 0 && t.kind == RESOLVED_NONE);
	resolved_release(&t);
	CHECK(fake.catalogs == 1, "%d catalog requests, want 1", fake.catalogs);
	/* a listing of the registry fetched it: later names cost nothing more */
	CHECK(reg && tree_list(&f.fs, reg, &l) == 0);
	tree_listing_release(&l);
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1", false, &t) == 0 &&
	      t.kind == RESOLVED_MANIFEST);
	resolved_release(&t);
	CHECK(fake.catalogs == 1, "%d catalog requests, want 1 (at hand)", fake.catalogs);
	node_free(reg);
	fake_fs_close(&f);
	fake_reset();
}

/* Many names looked up one after another: a few are probed, then the
 * catalog answers the rest (one read, not a probe each). */
static void test_probe_budget(void)
{
	struct fake_fs f;
	struct resolved t;

	world_build(false);
	for (int i = 0; i < 8; i++) {
		char repo[8];

		snprintf(repo, sizeof(repo), "top%d", i);
		fake_image(H, repo, "latest", true, "linux", "amd64", NULL);
	}
	fake_fs_open(&f, registries);
	for (int i = 0; i < 8; i++) {
		char *path = fake_printf(H "/top%d/latest", i);

		CHECK(resolve_path(&f.fs, path, false, &t) == 0 && t.kind == RESOLVED_MANIFEST,
		      "%s", path);
		resolved_release(&t);
		free(path);
		if (i < 4)
			CHECK(fake.catalogs == 0, "%d: catalog read while probes were left", i);
	}
	CHECK_EQ(fake.catalogs, 1);
	fake_fs_close(&f);
	fake_reset();
}

/* After the TTL, a path below a namespace the last catalog named pages no
 * catalog again: the repository and tag below are probed by name.  A name
 * the last catalog did not name asks it afresh, and so does a listing. */
static void test_catalog_after_ttl(void)
{
	struct fake_fs f;
	struct resolved t;

	world_build(false);
	fake_fs_open(&f, registries);
	f.fs.cfg.ttl = QUOTA_TTL;
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1", false, &t) == 0 &&
	      t.kind == RESOLVED_MANIFEST);
	resolved_release(&t);
	CHECK_EQ(fake.catalogs, 1);
	sleep_s(2 * QUOTA_TTL);
	fake.catalogs = fake.gets = fake.heads = 0;
	CHECK(resolve_path(&f.fs, H "/onap/py-app/v1", false, &t) == 0 &&
	      t.kind == RESOLVED_MANIFEST);
	resolved_release(&t);
	CHECK(fake.catalogs == 0, "%d catalog requests after the TTL, want none", fake.catalogs);
	CHECK(fake.gets == 0 && fake.heads == 1, "%d GETs, %d HEADs after the TTL, want 0, 1",
	      fake.gets, fake.heads);
	/* still "not there" for what it did not name, from a fresh catalog */
	CHECK(resolve_path(&f.fs, H "/onap/nope", false, &t) == 0 && t.kind == RESOLVED_NONE);
	resolved_release(&t);
	CHECK_EQ(fake.catalogs, 1);
	fake_fs_close(&f);
	fake_reset();
}

/* A registry that fails is an error, never "not there", and leaves the
 * caller nothing to free (the sanitizer build checks the leaks). */
static void test_resolve_errors(void)
{
	static const struct {
		const char *path;
		int fail_tags, fail_gets, want;
	} cases[] = {
		{H "/onap/py-app/v1", 0, -EIO, -EIO},            /* the tag, asked fresh */
		{H "/onap/py-app/v1/linux-amd64", 0, -EIO, -EIO}, /* so with an entry below */
		{H "/onap/py-app/v1", -EIO, 0, -EIO},            /* the tags listing */
		{H "/onap/py-app/v1", -EACCES, 0, 0},            /* refused: asked by name */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fake_fs f;
		struct resolved t;
		int ret;

		world_build(false);
		fake_fs_open(&f, registries);
		fake.fail_tags = cases[i].fail_tags;
		fake.fail_gets = cases[i].fail_gets;
		ret = resolve_path(&f.fs, cases[i].path, true, &t);
		CHECK(ret == cases[i].want, "%s: %s, want %s", cases[i].path, strerror(-ret),
		      strerror(-cases[i].want));
		if (ret < 0)
			CHECK(!t.repo && !t.ref && !t.view.bytes, "%s: a failed resolve left memory",
			      cases[i].path);
		if (ret == 0)
			CHECK(t.kind == RESOLVED_MANIFEST, "%s: kind %d", cases[i].path, t.kind);
		resolved_release(&t);
		fake_fs_close(&f);
		fake_reset();
	}
}

int main(void)
{
	static const struct check_test tests[] = {
		{"resolve_with_catalog", test_resolve_with_catalog},
		{"resolve_without_catalog", test_resolve_without_catalog},
		{"lookup_agrees", test_lookup_agrees},
		{"resolve_cost", test_resolve_cost},
		{"resolve_errors", test_resolve_errors},
		{"tag_quota", test_tag_quota},
		{"full_path_cost", test_full_path_cost},
		{"catalog_after_ttl", test_catalog_after_ttl},
		{"probe_budget", test_probe_budget},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, ARRAY_SIZE(tests));
}
