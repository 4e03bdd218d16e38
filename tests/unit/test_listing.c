/*
 * Unit tests for big listings and indexes in the fs/ core: a listing is
 * built in O(n log n) and decoded once, a lookup in it is a search in the
 * shared copy, and an index is parsed once per digest however many of its
 * entries are looked up.  Nothing here is timed: the 200,000-name listing
 * finishes in a blink now and took over a minute when each name added
 * scanned the listing; the other checks count decodes and parses by the
 * identity of what is shared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/fs.h"

#include "fake_remote.h"

#define H "big.test:5000"
#define BIG_TAGS 200000
#define BIG_ENTRIES 5000

static char *registries[] = {H, NULL};
static char *big_index;
static char big_index_digest[DIGEST_STR_LEN + 1];

/* Tags "t0".."t199999" of big/tags, in an order no sort keeps (the last
 * first), with every tenth name twice (overlapping pages). */
static int big_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	size_t n = BIG_TAGS + BIG_TAGS / 10, k = 0;

	(void)r;
	memset(out, 0, sizeof(*out));
	FAKE_COUNT(fake.tag_lists);
	if (strcmp(repo, "big/tags") != 0 && strcmp(repo, "big/index") != 0)
		return -ENOENT;
	if (strcmp(repo, "big/index") == 0)
		n = 1;
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t t = n == 1 ? 0 : i < BIG_TAGS ? BIG_TAGS - 1 - i : (i - BIG_TAGS) * 10;

		out->v[k] = fake_printf("t%zu", t);
		out->n = ++k;
	}
	return 0;
}

static int big_catalog(struct reg_registry *r, struct reg_strlist *out)
{
	(void)r;
	FAKE_COUNT(fake.catalogs);
	out->v = calloc(2, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->v[0] = strdup("big/tags");
	out->v[1] = strdup("big/index");
	out->n = 2;
	return 0;
}

/* big/index:t0 is an index of BIG_ENTRIES platforms. */
static int big_get(struct reg_registry *r, const char *repo, const char *ref,
		   struct reg_fetched *out)
{
	(void)r;
	(void)repo;
	memset(out, 0, sizeof(*out));
	FAKE_COUNT(fake.gets);
	if (strcmp(ref, "t0") != 0 && strcmp(ref, big_index_digest) != 0)
		return -ENOENT;
	out->bytes = strdup(big_index);
	out->len = strlen(big_index);
	out->media_type = strdup(MT_OCI_INDEX);
	memcpy(out->digest, big_index_digest, sizeof(out->digest));
	return 0;
}

static void big_index_make(void)
{
	size_t cap = 256 * BIG_ENTRIES + 256, o = 0;

	big_index = malloc(cap);
	if (!big_index)
		abort();
	o += (size_t)snprintf(big_index + o, cap - o,
			      "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[", MT_OCI_INDEX);
	for (size_t i = 0; i < BIG_ENTRIES; i++)
		o += (size_t)snprintf(big_index + o, cap - o,
				      "%s{\"mediaType\":\"%s\",\"size\":10,\"digest\":\"sha256:%064zx\","
				      "\"platform\":{\"architecture\":\"a%zu\",\"os\":\"linux\"}}",
				      i ? "," : "", MT_OCI_IMAGE, i + 1, i);
	snprintf(big_index + o, cap - o, "]}");
	digest_of(big_index, strlen(big_index), big_index_digest);
}

static struct fs_remote big_remote;

static void big_open(struct fake_fs *f)
{
	fake_reset();
	big_remote = fake_remote;
	big_remote.tags = big_tags;
	big_remote.catalog = big_catalog;
	big_remote.manifest_get = big_get;
	fake_fs_open(f, registries);
	f->fs.remote = &big_remote;
}

/* A node of @path below the mount, published (the walk holds it). */
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

/* 200,000 tags (and 20,000 names twice): listed once each, sorted, looked
 * up from the listing without another request. */
static void test_big_listing(void)
{
	struct fake_fs f;
	struct tree_listing l;
	struct node *repo;
	const struct resolve_listing *a = NULL, *b = NULL;
	struct reg_registry *r = NULL;

	big_open(&f);
	repo = walk(&f, H "/big/tags");
	CHECK(repo && tree_list(&f.fs, repo, &l) == 0);
	CHECK_EQ(l.n, BIG_TAGS);
	for (size_t i = 1; i < l.n; i++)
		if (strcmp(l.v[i - 1].name, l.v[i].name) >= 0) {
			CHECK(0, "listing not sorted at %zu", i);
			break;
		}
	tree_listing_release(&l);
	fake.tag_lists = 0;
	for (size_t i = 0; repo && i < BIG_TAGS; i += BIG_TAGS / 100) {
		char name[16];
		struct node *tag = NULL;

		snprintf(name, sizeof(name), "t%zu", i);
		CHECK(tree_lookup(&f.fs, repo, name, &tag) == 0 && tag->kind == NODE_MANIFEST,
		      "tag %s", name);
		node_free(tag);
	}
	CHECK(fake.tag_lists == 0 && fake.heads == 0, "%d tags lists, %d HEADs after the listing",
	      fake.tag_lists, fake.heads);
	/* decoded once: every reader shares one copy */
	CHECK(reg_client_registry(f.fs.client, H, &r) == 0);
	CHECK(resolve_tags(&f.fs, r, "big/tags", &a) == 0 && resolve_tags(&f.fs, r, "big/tags", &b) == 0);
	CHECK(a && a == b, "the listing was decoded again");
	CHECK(a && resolve_listing_has(a, "t199999") && !resolve_listing_has(a, "t200000"));
	resolve_listing_put(a);
	resolve_listing_put(b);
	fake_fs_close(&f);
	fake_reset();
}

/* The names a level's listing adds once each, in O(1) apiece: a tag and a
 * namespace of one name show once, the first added (the tag) winning. */
static void test_listing_dedupe(void)
{
	struct tree_listing l = {0};

	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 1000; i++) {
			char name[16];

			snprintf(name, sizeof(name), "n%d", i);
			CHECK(tree_listing_add(&l, name, round ? NODE_REPO : NODE_MANIFEST) == 0);
		}
	CHECK_EQ(l.n, 1000);
	CHECK(l.v[999].kind == NODE_MANIFEST && strcmp(l.v[999].name, "n999") == 0);
	tree_listing_release(&l);
	CHECK(l.n == 0 && !l.v && !l.slots);
}

/* An index is parsed once: every lookup of an entry, and every view of the
 * index, shares that parse. */
static void test_index_parsed_once(void)
{
	struct fake_fs f;
	struct tree_listing l;
	struct node *tag;
	struct resolve_view v1, v2;
	struct reg_registry *r = NULL;

	big_open(&f);
	tag = walk(&f, H "/big/index/t0");
	CHECK(tag && tree_list(&f.fs, tag, &l) == 0);
	CHECK_EQ(l.n, BIG_ENTRIES + 3); /* manifest.json, digest, inspect.json */
	for (size_t i = 0; tag && i < l.n; i += 50) {
		struct node *e = NULL;
		struct stat st;

		CHECK(tree_lookup(&f.fs, tag, l.v[i].name, &e) == 0, "entry %s", l.v[i].name);
		CHECK(e && tree_stat(&f.fs, e, &st) == 0);
		node_free(e);
	}
	tree_listing_release(&l);
	CHECK(reg_client_registry(f.fs.client, H, &r) == 0);
	CHECK(resolve_ref(&f.fs, r, "big/index", "t0", false, &v1) == 0);
	CHECK(resolve_ref(&f.fs, r, "big/index", big_index_digest, false, &v2) == 0);
	CHECK(v1.m && v1.m == v2.m, "the index was parsed again");
	CHECK(resolve_view_find_entry(&v1, "linux-a4999") == 4999);
	CHECK(resolve_view_find_entry(&v1, "linux-a5000") == -1);
	resolve_view_release(&v1);
	resolve_view_release(&v2);
	CHECK_EQ(fake.gets, 1);
	fake_fs_close(&f);
	fake_reset();
}

int main(void)
{
	static const struct check_test tests[] = {
		{"big_listing", test_big_listing},
		{"listing_dedupe", test_listing_dedupe},
		{"index_parsed_once", test_index_parsed_once},
	};
	int ret;

	log_setup(stderr, LOG_LVL_ERR);
	big_index_make();
	ret = check_run(tests, sizeof(tests) / sizeof(tests[0]));
	free(big_index);
	return ret;
}
