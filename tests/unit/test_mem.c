/*
 * Unit tests for cache/mem: copies in and out, replacement, expiry on the
 * monotonic clock, the byte cap with least recently used eviction, drops,
 * and many threads at once (run under TSan to mean something).
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/mem.h"

#include "check.h"

/* Whether @key holds exactly @want (NULL: absent). */
static int has(struct cache_mem *c, const char *key, const char *want)
{
	char *v = NULL;
	size_t len = 7;
	int ret = cache_mem_get(c, key, &v, &len);
	int ok;

	if (!want)
		ok = ret == -ENOENT && v == NULL && len == 0;
	else
		ok = ret == 0 && v && len == strlen(want) && memcmp(v, want, len) == 0 &&
		     v[len] == '\0';
	if (!ok)
		fprintf(stderr, "  key '%s': ret %d, value '%s', want '%s'\n", key, ret,
			v ? v : "(null)", want ? want : "(absent)");
	free(v);
	return ok;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0)
		;
}

static void test_basic(void)
{
	struct cache_mem *c = cache_mem_new(1 << 20);
	char buf[8] = "abc";
	char bin[4] = {'a', '\0', 'b', '\0'};
	char *v = NULL;
	size_t len = 0;

	CHECK(c);
	CHECK(has(c, "k", NULL));
	CHECK(cache_mem_put(c, "k", buf, 3, CACHE_MEM_FOREVER) == 0);
	buf[0] = 'X'; /* copied in */
	CHECK(has(c, "k", "abc"));
	CHECK(cache_mem_put(c, "k", "defg", 4, CACHE_MEM_FOREVER) == 0);
	CHECK(has(c, "k", "defg"));

	/* Values are bytes, NULs included, and come back NUL-terminated. */
	CHECK(cache_mem_put(c, "bin", bin, sizeof(bin), 0) == 0);
	CHECK(cache_mem_get(c, "bin", &v, &len) == 0);
	CHECK(v && len == 4 && memcmp(v, bin, 4) == 0 && v[4] == '\0');
	free(v);
	CHECK(cache_mem_put(c, "empty", "", 0, 0) == 0);
	CHECK(has(c, "empty", ""));
	CHECK(cache_mem_put(c, "", "empty key", 9, 0) == 0);
	CHECK(has(c, "", "empty key"));

	cache_mem_drop(c, "k");
	cache_mem_drop(c, "never there");
	CHECK(has(c, "k", NULL));
	cache_mem_free(c);
	cache_mem_free(NULL);
}

/* Enough keys to grow the table several times; every one still found. */
static void test_many(void)
{
	struct cache_mem *c = cache_mem_new(0);
	char key[32], val[32];
	int bad = 0;

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key/%d", i);
		snprintf(val, sizeof(val), "val %d", i * 7);
		CHECK(cache_mem_put(c, key, val, strlen(val), CACHE_MEM_FOREVER) == 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key/%d", i);
		snprintf(val, sizeof(val), "val %d", i * 7);
		bad += !has(c, key, val);
	}
	CHECK(bad == 0);
	cache_mem_free(c);
}

static void test_ttl(void)
{
	struct cache_mem *c = cache_mem_new(1 << 20);

	CHECK(cache_mem_put(c, "short", "1", 1, 0.05) == 0);
	CHECK(cache_mem_put(c, "long", "2", 1, 60) == 0);
	CHECK(cache_mem_put(c, "forever", "3", 1, CACHE_MEM_FOREVER) == 0);
	CHECK(cache_mem_put(c, "huge", "4", 1, 1e300) == 0);
	CHECK(has(c, "short", "1"));
	sleep_s(0.08);
	CHECK(has(c, "short", NULL));
	CHECK(has(c, "long", "2"));
	CHECK(has(c, "forever", "3"));
	CHECK(has(c, "huge", "4"));

	/* Replacing restarts the lifetime. */
	CHECK(cache_mem_put(c, "short", "a", 1, 0.05) == 0);
	sleep_s(0.03);
	CHECK(cache_mem_put(c, "short", "b", 1, 0.05) == 0);
	sleep_s(0.03);
	CHECK(has(c, "short", "b"));

	/* A negative lifetime is over already, and removes the old value. */
	CHECK(cache_mem_put(c, "long", "x", 1, -1) == 0);
	CHECK(has(c, "long", NULL));
	cache_mem_free(c);
}

static void test_lru_cap(void)
{
	/* Each entry costs 2 (key) + 8 (value) = 10 bytes; room for 3. */
	struct cache_mem *c = cache_mem_new(30);

	CHECK(cache_mem_put(c, "k1", "11111111", 8, 0) == 0);
	CHECK(cache_mem_put(c, "k2", "22222222", 8, 0) == 0);
	CHECK(cache_mem_put(c, "k3", "33333333", 8, 0) == 0);
	CHECK(has(c, "k1", "11111111")); /* k1 is now the most recent */
	CHECK(cache_mem_put(c, "k4", "44444444", 8, 0) == 0);
	CHECK(has(c, "k2", NULL)); /* least recently used */
	CHECK(has(c, "k3", "33333333"));
	CHECK(has(c, "k1", "11111111"));
	CHECK(has(c, "k4", "44444444"));

	/* Least recent first: k3, k1, k4.  Replacing k3 makes it the most
	 * recent, and its growth pushes out k1. */
	CHECK(cache_mem_put(c, "k3", "3333333333", 10, 0) == 0); /* 32 > 30 */
	CHECK(has(c, "k1", NULL));
	CHECK(has(c, "k4", "44444444"));
	CHECK(has(c, "k3", "3333333333"));

	/* A value bigger than the whole cap is not kept, and the old one
	 * under its key does not linger; the others stay. */
	CHECK(cache_mem_put(c, "k4", "0123456789012345678901234567890", 31, 0) == 0);
	CHECK(has(c, "k4", NULL));
	CHECK(has(c, "k3", "3333333333"));
	/* Exactly the cap fits, alone. */
	CHECK(cache_mem_put(c, "k5", "0123456789012345678901234567", 28, 0) == 0);
	CHECK(has(c, "k5", "0123456789012345678901234567"));
	CHECK(has(c, "k3", NULL));
	cache_mem_free(c);
}

struct hammer {
	pthread_t tid;
	struct cache_mem *c;
	int id, n; /* this thread's number, of n */
	int bad;
};

static void *hammer_main(void *p)
{
	struct hammer *h = p;
	char key[32], val[32];

	for (int i = 0; i < 3000; i++) {
		char *v = NULL;
		size_t len = 0;
		int ret;

		snprintf(key, sizeof(key), "t%d/%d", h->id, i % 50);
		snprintf(val, sizeof(val), "v%d", i);
		if (cache_mem_put(h->c, key, val, strlen(val), i % 3 ? 0 : 0.001) < 0)
			h->bad++;
		ret = cache_mem_get(h->c, key, &v, &len);
		/* Another thread may have evicted it; never a wrong value. */
		if (ret == 0 && (len != strlen(val) || memcmp(v, val, len) != 0))
			h->bad++;
		free(v);
		/* and entries go under other threads' feet */
		if (i % 10 == 0) {
			snprintf(key, sizeof(key), "t%d/%d", (h->id + 1) % h->n, i % 50);
			cache_mem_drop(h->c, key);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	enum { N = 8 };
	struct cache_mem *c = cache_mem_new(4096);
	struct hammer h[N];

	for (int i = 0; i < N; i++) {
		h[i] = (struct hammer){.c = c, .id = i, .n = N};
		pthread_create(&h[i].tid, NULL, hammer_main, &h[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(h[i].tid, NULL);
		CHECK(h[i].bad == 0);
	}
	cache_mem_free(c);
}

/* An object that counts its destruction. */
struct tobj {
	struct cache_mem_obj obj;
	int *destroyed;
};

static void tobj_destroy(struct cache_mem_obj *o)
{
	struct tobj *t = (struct tobj *)o;

	(*t->destroyed)++;
	free(t);
}

static struct tobj *tobj_new(int *destroyed, size_t charge)
{
	struct tobj *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	cache_mem_obj_init(&t->obj, tobj_destroy, charge);
	t->destroyed = destroyed;
	return t;
}

/* Objects are shared, not copied: a find is the same object; the map's
 * reference goes on replace, drop, expiry and eviction, and the object
 * lives on while a reader holds one; bytes and objects never answer for
 * each other; the charge counts against the cap. */
static void test_objects(void)
{
	struct cache_mem *c = cache_mem_new(1000);
	int gone = 0;
	struct tobj *a = tobj_new(&gone, 100), *b = tobj_new(&gone, 100);
	struct cache_mem_obj *o;
	char *v = NULL;
	size_t len;

	CHECK(cache_mem_put_obj(c, "a", &a->obj, CACHE_MEM_FOREVER) == 0);
	cache_mem_obj_put(&a->obj); /* the map's reference alone */
	o = cache_mem_find_obj(c, "a");
	CHECK(o == &a->obj);
	CHECK(cache_mem_get(c, "a", &v, &len) == -ENOENT, "an object read as bytes");
	CHECK(cache_mem_bytes(c) == 1 + 100);
	cache_mem_drop(c, "a");
	CHECK_EQ(gone, 0); /* still held */
	CHECK(!cache_mem_find_obj(c, "a"));
	cache_mem_obj_put(o);
	CHECK_EQ(gone, 1);

	CHECK(cache_mem_put(c, "bytes", "x", 1, CACHE_MEM_FOREVER) == 0);
	CHECK(!cache_mem_find_obj(c, "bytes"), "bytes read as an object");
	/* replaced */
	CHECK(cache_mem_put_obj(c, "b", &b->obj, CACHE_MEM_FOREVER) == 0);
	cache_mem_obj_put(&b->obj);
	CHECK(cache_mem_put(c, "b", "y", 1, CACHE_MEM_FOREVER) == 0);
	CHECK_EQ(gone, 2);
	/* evicted by the cap: ten of 100 bytes do not fit in 1000 with keys */
	for (int i = 0; i < 10; i++) {
		char key[8];
		struct tobj *t = tobj_new(&gone, 100);

		snprintf(key, sizeof(key), "o%d", i);
		CHECK(cache_mem_put_obj(c, key, &t->obj, CACHE_MEM_FOREVER) == 0);
		cache_mem_obj_put(&t->obj);
	}
	CHECK(gone >= 3, "nothing evicted");
	CHECK(cache_mem_bytes(c) <= 1000);
	/* bigger than the cap: not kept */
	{
		struct tobj *t = tobj_new(&gone, 2000);
		int before = gone;

		CHECK(cache_mem_put_obj(c, "huge", &t->obj, CACHE_MEM_FOREVER) == 0);
		CHECK(!cache_mem_find_obj(c, "huge"));
		cache_mem_obj_put(&t->obj);
		CHECK_EQ(gone, before + 1);
	}
	cache_mem_free(c); /* puts the rest */
	CHECK_EQ(gone, 2 + 10 + 1);
}

/* An expired value is still there for get_stale (and says so), and stays
 * there for the next one; cache_mem_get does not see it. */
static void test_stale(void)
{
	struct cache_mem *c = cache_mem_new(0);
	char *v = NULL;
	size_t len;
	bool live = false;

	CHECK(cache_mem_put(c, "t", "d1", 2, 0.05) == 0);
	CHECK(cache_mem_get_stale(c, "t", &v, &len, &live) == 0 && live && strcmp(v, "d1") == 0);
	free(v);
	CHECK(cache_mem_expired_for(c, "t") == 0);
	sleep_s(0.1);
	CHECK(cache_mem_get_stale(c, "t", &v, &len, &live) == 0 && !live && strcmp(v, "d1") == 0);
	free(v);
	/* how long past its lifetime: about 0.05 s, and 0 for what is absent */
	CHECK(cache_mem_expired_for(c, "t") > 0.02 && cache_mem_expired_for(c, "t") < 5);
	CHECK(cache_mem_expired_for(c, "absent") == 0);
	CHECK(cache_mem_get_stale(c, "t", &v, &len, &live) == 0 && !live);
	free(v);
	CHECK(has(c, "t", NULL));
	CHECK(cache_mem_get_stale(c, "t", &v, &len, &live) == -ENOENT && !v);
	/* objects too */
	{
		int gone = 0;
		struct tobj *t = tobj_new(&gone, 10);
		struct cache_mem_obj *o;

		CHECK(cache_mem_put_obj(c, "o", &t->obj, 0.05) == 0);
		cache_mem_obj_put(&t->obj);
		sleep_s(0.1);
		o = cache_mem_find_obj_stale(c, "o", &live);
		CHECK(o == &t->obj && !live);
		cache_mem_obj_put(o);
		CHECK(!cache_mem_find_obj(c, "o"));
		CHECK(!cache_mem_find_obj_stale(c, "o", &live));
		CHECK_EQ(gone, 1);
	}
	cache_mem_free(c);
}

/* Past the grace, an expired entry at the LRU tail goes at the next put;
 * within it, or with no grace, it stays for get_stale. */
static void test_grace(void)
{
	struct cache_mem *c = cache_mem_new(0), *keep = cache_mem_new(0);
	char *v = NULL;
	size_t len;
	bool live;

	cache_mem_set_grace(c, 0.05);
	CHECK(cache_mem_put(c, "old", "x", 1, 0.01) == 0);
	CHECK(cache_mem_put(keep, "old", "x", 1, 0.01) == 0);
	sleep_s(0.03);
	CHECK(cache_mem_put(c, "new1", "y", 1, 60) == 0);
	CHECK(cache_mem_get_stale(c, "old", &v, &len, &live) == 0 && !live); /* within grace */
	free(v);
	/* used just now, it is at the head: the put reaps only the tail */
	CHECK(cache_mem_put(c, "new2", "y", 1, 60) == 0);
	CHECK(cache_mem_get_stale(c, "old", &v, &len, &live) == 0);
	free(v);
	cache_mem_drop(c, "new1");
	cache_mem_drop(c, "new2");
	sleep_s(0.1);
	CHECK(cache_mem_put(c, "new3", "z", 1, 60) == 0); /* old, the tail, long expired */
	CHECK(cache_mem_get_stale(c, "old", &v, &len, &live) == -ENOENT);
	CHECK_EQ(cache_mem_bytes(c), strlen("new3") + 1);
	/* no grace: kept until the cap */
	sleep_s(0.1);
	CHECK(cache_mem_put(keep, "new", "y", 1, 60) == 0);
	CHECK(cache_mem_get_stale(keep, "old", &v, &len, &live) == 0 && !live);
	free(v);
	cache_mem_free(c);
	cache_mem_free(keep);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"basic", test_basic},
	    {"many", test_many},
	    {"ttl", test_ttl},
	    {"lru_cap", test_lru_cap},
	    {"threads", test_threads},
	    {"objects", test_objects},
	    {"stale", test_stale},
	    {"grace", test_grace},
	};

	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
