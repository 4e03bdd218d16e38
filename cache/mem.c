/*
 * The in-memory metadata map; mem.h has the contract.
 *
 * A chained hash table (FNV-1a, power-of-two buckets, doubled when the load
 * passes one) threaded on a doubly linked LRU list, most recent first.  Each
 * entry is one allocation holding the key and the value, so a put builds the
 * new entry before taking the lock and a replace is an unlink and a link.
 * Expiry uses CLOCK_MONOTONIC so a wall clock step neither revives nor
 * kills entries; expired entries are dropped when looked up or when they
 * reach the LRU tail.
 */
#include "cache/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

#define MEM_MIN_BUCKETS 64
#define MEM_MAX_TTL 1e9 /* seconds; longer is as good as forever */

struct mem_entry {
	struct mem_entry *hnext;       /* bucket chain */
	struct mem_entry *prev, *next; /* LRU list */
	uint64_t hash;
	uint64_t expires; /* CLOCK_MONOTONIC ns; 0: never */
	size_t klen, len;
	char *val;  /* points into this allocation, after the key */
	char key[]; /* klen bytes, NUL, then the value's len bytes, NUL */
};

struct cache_mem {
	/*
	 * One mutex for the whole map protects every field below.  Each
	 * operation is a hash lookup plus a memcpy of a small value (a
	 * digest, a tag list), far too short for striping to pay off.  A
	 * leaf lock: nothing else is taken while it is held.
	 */
	pthread_mutex_t lock;
	struct mem_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	size_t bytes;		       /* sum of klen + len */
	size_t max_bytes;	       /* 0: no cap */
	struct mem_entry *head, *tail; /* most and least recently used */
};

static uint64_t mem_hash(const char *key, size_t len)
{
	uint64_t h = 14695981039346656037u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211u;
	}
	return h;
}

static void lru_unlink_locked(struct cache_mem *c, struct mem_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_locked(struct cache_mem *c, struct mem_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static struct mem_entry *mem_find_locked(struct cache_mem *c, const char *key, size_t klen,
					 uint64_t hash)
{
	struct mem_entry *e = c->buckets[hash & (c->nbuckets - 1)];

	for (; e; e = e->hnext)
		if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

/* Take @e out of the map and free it. */
static void mem_remove_locked(struct cache_mem *c, struct mem_entry *e)
{
	struct mem_entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink_locked(c, e);
	c->count--;
	c->bytes -= e->klen + e->len;
	free(e);
}

/* Double the bucket array; on -ENOMEM chains just grow longer. */
static void mem_grow_locked(struct cache_mem *c)
{
	size_t n = c->nbuckets * 2;
	struct mem_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct mem_entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

struct cache_mem *cache_mem_new(size_t max_bytes)
{
	struct cache_mem *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->buckets = calloc(MEM_MIN_BUCKETS, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->nbuckets = MEM_MIN_BUCKETS;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void cache_mem_free(struct cache_mem *c)
{
	struct mem_entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int cache_mem_put(struct cache_mem *c, const char *key, const void *val, size_t len, double ttl)
{
	size_t klen = strlen(key);
	uint64_t hash = mem_hash(key, klen);
	struct mem_entry *e = NULL, *old;
	int ret;

	/* A negative (or NaN) lifetime is already over, and an entry bigger
	 * than the whole cap would only flush everything else: either way
	 * the key ends up absent, never stale.  So it does when the new
	 * entry cannot be made: the caller put it because the old value is
	 * no longer true. */
	if (!(ttl >= 0) || (c->max_bytes && (len > c->max_bytes || klen > c->max_bytes - len))) {
		ret = 0;
		goto out;
	}
	if (len > SIZE_MAX - sizeof(*e) - klen - 2) {
		ret = -ENOMEM;
		goto out;
	}
	e = malloc(sizeof(*e) + klen + 1 + len + 1);
	if (!e) {
		ret = -ENOMEM;
		goto out;
	}
	e->hnext = e->prev = e->next = NULL;
	e->hash = hash;
	e->expires = 0;
	if (ttl > MEM_MAX_TTL)
		ttl = CACHE_MEM_FOREVER;
	if (ttl > 0)
		e->expires = mono_now_ns() + (uint64_t)(ttl * 1e9);
	e->klen = klen;
	e->len = len;
	memcpy(e->key, key, klen + 1);
	e->val = e->key + klen + 1;
	if (len)
		memcpy(e->val, val, len);
	e->val[len] = '\0';

	pthread_mutex_lock(&c->lock);
	old = mem_find_locked(c, key, klen, hash);
	if (old)
		mem_remove_locked(c, old);
	if (c->count >= c->nbuckets)
		mem_grow_locked(c);
	e->hnext = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	lru_push_locked(c, e);
	c->count++;
	c->bytes += klen + len;
	/* e alone fits under the cap, so it is never its own victim. */
	while (c->max_bytes && c->bytes > c->max_bytes)
		mem_remove_locked(c, c->tail);
	pthread_mutex_unlock(&c->lock);
	ret = 0;
out:
	if (!e) /* not stored: the key is left absent (see above) */
		cache_mem_drop(c, key);
	return ret;
}

int cache_mem_get(struct cache_mem *c, const char *key, char **val, size_t *len)
{
	size_t klen = strlen(key);
	uint64_t hash = mem_hash(key, klen);
	uint64_t now = mono_now_ns();
	struct mem_entry *e;
	int ret;

	*val = NULL;
	*len = 0;
	pthread_mutex_lock(&c->lock);
	e = mem_find_locked(c, key, klen, hash);
	if (!e) {
		ret = -ENOENT;
		goto out;
	}
	if (e->expires && now >= e->expires) {
		mem_remove_locked(c, e);
		ret = -ENOENT;
		goto out;
	}
	*val = malloc(e->len + 1);
	if (!*val) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*val, e->val, e->len + 1);
	*len = e->len;
	lru_unlink_locked(c, e);
	lru_push_locked(c, e);
	ret = 0;
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void cache_mem_drop(struct cache_mem *c, const char *key)
{
	size_t klen = strlen(key);
	uint64_t hash = mem_hash(key, klen);
	struct mem_entry *e;

	pthread_mutex_lock(&c->lock);
	e = mem_find_locked(c, key, klen, hash);
	if (e)
		mem_remove_locked(c, e);
	pthread_mutex_unlock(&c->lock);
}
