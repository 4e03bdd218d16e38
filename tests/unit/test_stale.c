/*
 * Unit tests for stale-if-error (fs/resolve.c, fs/fs.c's marks): while the
 * fake registry fails to answer, the tags, listings and catalog seen
 * before are served past their TTL, marked stale (the text
 * user.regfs.stale shows, one log line per key); answers (ENOENT, EACCES)
 * are never covered up; nothing is cached from the outage, and after it
 * fresh answers replace the stale ones.
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
#define TTL 0.05

static char *registries[] = {H, NULL};

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	nanosleep(&ts, NULL);
}

/* Is cache key @key marked stale now? */
static bool marked(struct fs *fs, char *key)
{
	char *text = NULL;
	size_t len;
	bool ret = fs_stale_text(fs, key, &text, &len) == 0;

	CHECK(!ret || (strstr(text, "since=") && strstr(text, "error=EIO")), "mark '%s'",
	      text ? text : "");
	free(text);
	free(key);
	return ret;
}

/* Lines of @path holding @needle. */
static int count_lines(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[2048];
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* The digest resolve_ref gives for @ref of @repo: 0 or -errno. */
static int ref_digest(struct fs *fs, const char *repo, const char *ref, bool fresh,
		      char digest[DIGEST_STR_LEN + 1])
{
	struct reg_registry *r;
	struct resolve_view v;
	int ret;

	CHECK(reg_client_registry(fs->client, H, &r) == 0);
	ret = resolve_ref(fs, r, repo, ref, fresh, &v);
	if (ret == 0) {
		memcpy(digest, v.digest, DIGEST_STR_LEN + 1);
		resolve_view_release(&v);
	}
	return ret;
}

/* The number of names of @repo's tags (or the catalog with NULL): >= 0 or -errno. */
static int listing_size(struct fs *fs, const char *repo)
{
	const struct resolve_listing *l = NULL;
	struct reg_registry *r;
	int ret;

	CHECK(reg_client_registry(fs->client, H, &r) == 0);
	ret = repo ? resolve_tags(fs, r, repo, &l) : resolve_catalog(fs, r, &l);
	if (ret == 0)
		ret = (int)l->n;
	resolve_listing_put(l);
	return ret;
}

/* Seen before the outage, served during it past the TTL, marked and logged
 * once per key however often asked; never seen is EIO, not ENOENT; a
 * commit's fresh question gets the error; after the outage everything is
 * fresh, marks are gone, and what was asked during it (v2) is there. */
static void test_outage_and_recovery(void)
{
	struct fake_fs f;
	struct reg_registry *r;
	struct resolve_view v;
	struct resolved t;
	char d1[DIGEST_STR_LEN + 1], d[DIGEST_STR_LEN + 1];
	char *logpath = NULL, *logdir = check_tmpdir_new("stale-log");
	FILE *logfp;

	if (asprintf(&logpath, "%s/log", logdir) < 0 || !(logfp = fopen(logpath, "w"))) {
		perror("log");
		exit(1);
	}
	log_setup(logfp, LOG_LVL_INFO);
	fake_reset();
	fake_image(H, "app", "v1", false, "linux", "amd64", NULL);
	fake_image(H, "app", "v2", false, "linux", "arm64", NULL);
	fake_image(H, "ns/tool", "latest", true, "linux", "s390x", NULL);
	fake_fs_open(&f, registries);
	f.fs.cfg.ttl = TTL;
	CHECK(reg_client_registry(f.fs.client, H, &r) == 0);

	/* seen: the catalog, app's tags, tag v1 (and ns/tool through a path) */
	CHECK_EQ(listing_size(&f.fs, NULL), 2);
	CHECK_EQ(listing_size(&f.fs, "app"), 2);
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d1), 0);
	CHECK_EQ(resolve_path(&f.fs, H "/ns/tool/latest", false, &t), 0);
	CHECK_EQ(t.kind, RESOLVED_MANIFEST);
	resolved_release(&t);

	sleep_s(2 * TTL);
	fake.outage = -EIO;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(listing_size(&f.fs, NULL), 2);
		CHECK_EQ(listing_size(&f.fs, "app"), 2);
		CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), 0);
		CHECK(strcmp(d, d1) == 0, "stale digest %s, want %s", d, d1);
		/* the whole path resolves through the stale answers */
		CHECK_EQ(resolve_path(&f.fs, H "/ns/tool/latest", false, &t), 0);
		CHECK_EQ(t.kind, RESOLVED_MANIFEST);
		resolved_release(&t);
	}
	CHECK(marked(&f.fs, fs_key_catalog(r)));
	CHECK(marked(&f.fs, fs_key_tags(r, "app")));
	CHECK(marked(&f.fs, fs_key_tag(r, "app", "v1")));
	CHECK(!marked(&f.fs, fs_key_tag(r, "app", "v2")));
	/* never seen: the outage shows, as EIO, never as "no such file" */
	CHECK_EQ(ref_digest(&f.fs, "app", "v2", false, d), -EIO);
	CHECK_EQ(listing_size(&f.fs, "never"), -EIO);
	/* a commit asks for the tag as it is now: no stale answer for it */
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", true, d), -EIO);
	/* one line per key going stale, however often served */
	fflush(logfp);
	CHECK_EQ(count_lines(logpath, "serving its last answer"), 4);
	CHECK_EQ(count_lines(logpath, "tags of '" H "/app'"), 1);
	CHECK_EQ(count_lines(logpath, "tag '" H "/app:v1'"), 1);
	CHECK_EQ(count_lines(logpath, "catalog of '" H "'"), 1);

	/* answers are not covered up: a refusal is EACCES, not the old list */
	fake.outage = -EACCES;
	CHECK_EQ(listing_size(&f.fs, "app"), -EACCES);
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), -EACCES);

	/* recovery: a tag pushed during the outage, v2 asked during it */
	fake.outage = 0;
	fake_image(H, "app", "v3", false, "linux", "ppc64le", NULL);
	CHECK_EQ(listing_size(&f.fs, "app"), 3);
	CHECK_EQ(ref_digest(&f.fs, "app", "v2", false, d), 0);
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), 0);
	CHECK_EQ(listing_size(&f.fs, NULL), 2);
	CHECK(!marked(&f.fs, fs_key_catalog(r)));
	CHECK(!marked(&f.fs, fs_key_tags(r, "app")));
	CHECK(!marked(&f.fs, fs_key_tag(r, "app", "v1")));
	CHECK_EQ(resolve_ref(&f.fs, r, "app", "v3", false, &v), 0);
	resolve_view_release(&v);

	fake_fs_close(&f);
	log_setup(stderr, LOG_LVL_ERR);
	fclose(logfp);
	free(logpath);
	check_tmpdir_free(logdir);
}

/* A tag deleted (ENOENT) is an answer: the stale digest is not served,
 * and it is forgotten. */
static void test_gone_is_an_answer(void)
{
	struct fake_fs f;
	struct fake_object *o;
	char d[DIGEST_STR_LEN + 1];

	fake_reset();
	o = fake_image(H, "app", "v1", false, "linux", "amd64", NULL);
	fake_fs_open(&f, registries);
	f.fs.cfg.ttl = TTL;
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), 0);
	sleep_s(2 * TTL);
	o->tag[0] = '\0'; /* untagged on the registry */
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), -ENOENT);
	fake.outage = -EIO;
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), -EIO);
	fake_fs_close(&f);
}

/* A registry answering 503 or 429 (EAGAIN) is failing too. */
static void test_busy_registry(void)
{
	struct fake_fs f;
	char d1[DIGEST_STR_LEN + 1], d[DIGEST_STR_LEN + 1];

	fake_reset();
	fake_image(H, "app", "v1", false, "linux", "amd64", NULL);
	fake_fs_open(&f, registries);
	f.fs.cfg.ttl = TTL;
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d1), 0);
	CHECK_EQ(listing_size(&f.fs, "app"), 1);
	sleep_s(2 * TTL);
	fake.outage = -EAGAIN;
	CHECK_EQ(ref_digest(&f.fs, "app", "v1", false, d), 0);
	CHECK(strcmp(d, d1) == 0);
	CHECK_EQ(listing_size(&f.fs, "app"), 1);
	fake_fs_close(&f);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"outage_and_recovery", test_outage_and_recovery},
		{"gone_is_an_answer", test_gone_is_an_answer},
		{"busy_registry", test_busy_registry},
	};

	log_setup(stderr, LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
