/*
 * The in-memory metadata map; mem.h has the contract.
 *
 * A chained hash table (FNV-1a, power-of-two buckets, doubled when the load
 * passes one) threaded on a doubly linked LRU list, most recent first.  Each
 * entry is one allocation holding the key and the value, so a put builds the
 * new entry before taking the lock and a replace is an unlink and a link.
 * Expiry uses CLOCK_MONOTONIC so a wall clock step neither revives nor
 * kills entries; expired entries are dropped when looked up, when the cap
 * evicts them, or (past the map's grace) when a put finds them at the LRU
 * tail.  Entries taken out under the lock are freed after it
 * is let go (an object's destroy may take a while: a parsed index).
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
	struct cache_mem_obj *obj; /* an object value (one reference), or NULL: bytes */
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
	size_t bytes;		       /* sum of klen + len + obj->charge */
	size_t max_bytes;	       /* 0: no cap */
	uint64_t grace;		       /* ns an expired entry is kept; 0: until evicted */
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

/* What @e counts against the cap. */
static size_t entry_bytes(const struct mem_entry *e)
{
	return e->klen + e->len + (e->obj ? e->obj->charge : 0);
}

/* Take @e out of the map onto *@dead (chained on hnext), for mem_free_dead
 * once the lock is let go. */
static void mem_remove_locked(struct cache_mem *c, struct mem_entry *e, struct mem_entry **dead)
{
	struct mem_entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink_locked(c, e);
	c->count--;
	c->bytes -= entry_bytes(e);
	e->hnext = *dead;
	*dead = e;
}

static void mem_free_dead(struct mem_entry *dead)
{
	while (dead) {
		struct mem_entry *next = dead->hnext;

		cache_mem_obj_put(dead->obj);
		free(dead);
		dead = next;
	}
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

void cache_mem_set_grace(struct cache_mem *c, double seconds)
{
	if (!(seconds > 0) || seconds > MEM_MAX_TTL)
		c->grace = 0; /* CACHE_MEM_FOREVER, as a put's ttl */
	else
		c->grace = (uint64_t)(seconds * 1e9);
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
		cache_mem_obj_put(e->obj);
		free(e);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Does a value of @len bytes under a key of @klen fit under the cap at all? */
static bool mem_fits(const struct cache_mem *c, size_t klen, size_t len)
{
	return !c->max_bytes || (len <= c->max_bytes && klen <= c->max_bytes - len);
}

/* A new entry for @key (no value yet) living @ttl seconds, or NULL. */
static struct mem_entry *entry_new(const char *key, size_t klen, size_t len, double ttl)
{
	struct mem_entry *e;

	if (len > SIZE_MAX - sizeof(*e) - klen - 2)
		return NULL;
	e = malloc(sizeof(*e) + klen + 1 + len + 1);
	if (!e)
		return NULL;
	e->hnext = e->prev = e->next = NULL;
	e->hash = mem_hash(key, klen);
	e->expires = 0;
	if (ttl > MEM_MAX_TTL)
		ttl = CACHE_MEM_FOREVER;
	if (ttl > 0)
		e->expires = mono_now_ns() + (uint64_t)(ttl * 1e9);
	e->klen = klen;
	e->len = len;
	e->obj = NULL;
	memcpy(e->key, key, klen + 1);
	e->val = e->key + klen + 1;
	e->val[len] = '\0';
	return e;
}

/* Put @e in the map in place of its key's entry, evicting from the LRU tail
 * down to the cap. */
static void mem_insert(struct cache_mem *c, struct mem_entry *e)
{
	struct mem_entry *old, *dead = NULL;

	pthread_mutex_lock(&c->lock);
	old = mem_find_locked(c, e->key, e->klen, e->hash);
	if (old)
		mem_remove_locked(c, old, &dead);
	if (c->count >= c->nbuckets)
		mem_grow_locked(c);
	e->hnext = c->buckets[e->hash & (c->nbuckets - 1)];
	c->buckets[e->hash & (c->nbuckets - 1)] = e;
	lru_push_locked(c, e);
	c->count++;
	c->bytes += entry_bytes(e);
	/* e alone fits under the cap, so it is never its own victim. */
	while (c->max_bytes && c->bytes > c->max_bytes)
		mem_remove_locked(c, c->tail, &dead);
	/* what expired long ago and nobody asked for since goes without
	 * waiting for the cap: two at most, so a put stays O(1) */
	for (int i = 0; i < 2 && c->grace && c->tail != e; i++) {
		struct mem_entry *t = c->tail;
		uint64_t now = mono_now_ns();

		if (!t->expires || now < t->expires || now - t->expires < c->grace)
			break;
		mem_remove_locked(c, t, &dead);
	}
	pthread_mutex_unlock(&c->lock);
	mem_free_dead(dead);
}

int cache_mem_put(struct cache_mem *c, const char *key, const void *val, size_t len, double ttl)
{
	size_t klen = strlen(key);
	struct mem_entry *e;

	/* A negative (or NaN) lifetime is already over, and an entry bigger
	 * than the whole cap would only flush everything else: either way
	 * the key ends up absent, never stale.  So it does when the new
	 * entry cannot be made: the caller put it because the old value is
	 * no longer true. */
	if (!(ttl >= 0) || !mem_fits(c, klen, len)) {
		cache_mem_drop(c, key);
		return 0;
	}
	e = entry_new(key, klen, len, ttl);
	if (!e) {
		cache_mem_drop(c, key);
		return -ENOMEM;
	}
	if (len)
		memcpy(e->val, val, len);
	mem_insert(c, e);
	return 0;
}

int cache_mem_put_obj(struct cache_mem *c, const char *key, struct cache_mem_obj *o, double ttl)
{
	size_t klen = strlen(key);
	struct mem_entry *e;

	if (!(ttl >= 0) || !mem_fits(c, klen, o->charge)) {
		cache_mem_drop(c, key);
		return 0;
	}
	e = entry_new(key, klen, 0, ttl);
	if (!e) {
		cache_mem_drop(c, key);
		return -ENOMEM;
	}
	cache_mem_obj_get(o);
	e->obj = o;
	mem_insert(c, e);
	return 0;
}

/* The entry under @key, live or (with @stale) expired; an expired one is
 * otherwise taken out onto *@dead. */
static struct mem_entry *mem_lookup_locked(struct cache_mem *c, const char *key, bool stale,
					   struct mem_entry **dead)
{
	size_t klen = strlen(key);
	struct mem_entry *e = mem_find_locked(c, key, klen, mem_hash(key, klen));

	if (e && !stale && e->expires && mono_now_ns() >= e->expires) {
		mem_remove_locked(c, e, dead);
		return NULL;
	}
	if (e) {
		lru_unlink_locked(c, e);
		lru_push_locked(c, e);
	}
	return e;
}

static int mem_get(struct cache_mem *c, const char *key, bool stale, char **val, size_t *len,
		   bool *live)
{
	struct mem_entry *e, *dead = NULL;
	int ret = -ENOENT;

	*val = NULL;
	*len = 0;
	pthread_mutex_lock(&c->lock);
	e = mem_lookup_locked(c, key, stale, &dead);
	if (e && !e->obj) {
		*val = malloc(e->len + 1);
		ret = *val ? 0 : -ENOMEM;
		if (*val) {
			memcpy(*val, e->val, e->len + 1);
			*len = e->len;
		}
		if (live)
			*live = !e->expires || mono_now_ns() < e->expires;
	}
	pthread_mutex_unlock(&c->lock);
	mem_free_dead(dead);
	return ret;
}

int cache_mem_get(struct cache_mem *c, const char *key, char **val, size_t *len)
{
	return mem_get(c, key, false, val, len, NULL);
}

int cache_mem_get_stale(struct cache_mem *c, const char *key, char **val, size_t *len,
			bool *live)
{
	*live = false;
	return mem_get(c, key, true, val, len, live);
}

static struct cache_mem_obj *find_obj(struct cache_mem *c, const char *key, bool stale,
				      bool *live)
{
	struct mem_entry *e, *dead = NULL;
	struct cache_mem_obj *o = NULL;

	pthread_mutex_lock(&c->lock);
	e = mem_lookup_locked(c, key, stale, &dead);
	if (e && e->obj) {
		o = e->obj;
		cache_mem_obj_get(o);
		if (live)
			*live = !e->expires || mono_now_ns() < e->expires;
	}
	pthread_mutex_unlock(&c->lock);
	mem_free_dead(dead);
	return o;
}

struct cache_mem_obj *cache_mem_find_obj(struct cache_mem *c, const char *key)
{
	return find_obj(c, key, false, NULL);
}

struct cache_mem_obj *cache_mem_find_obj_stale(struct cache_mem *c, const char *key, bool *live)
{
	*live = false;
	return find_obj(c, key, true, live);
}

void cache_mem_drop(struct cache_mem *c, const char *key)
{
	size_t klen = strlen(key);
	struct mem_entry *e, *dead = NULL;

	pthread_mutex_lock(&c->lock);
	e = mem_find_locked(c, key, klen, mem_hash(key, klen));
	if (e)
		mem_remove_locked(c, e, &dead);
	pthread_mutex_unlock(&c->lock);
	mem_free_dead(dead);
}

double cache_mem_expired_for(struct cache_mem *c, const char *key)
{
	size_t klen = strlen(key);
	uint64_t now = mono_now_ns();
	struct mem_entry *e;
	double past = 0;

	pthread_mutex_lock(&c->lock);
	e = mem_find_locked(c, key, klen, mem_hash(key, klen));
	if (e && e->expires && now >= e->expires)
		past = (double)(now - e->expires) / 1e9;
	pthread_mutex_unlock(&c->lock);
	return past;
}

size_t cache_mem_bytes(struct cache_mem *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->bytes;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* --- objects ---------------------------------------------------------------- */

void cache_mem_obj_init(struct cache_mem_obj *o, void (*destroy)(struct cache_mem_obj *o),
			size_t charge)
{
	o->destroy = destroy;
	o->charge = charge;
	o->refs = 1;
}

void cache_mem_obj_get(struct cache_mem_obj *o)
{
	__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
}

void cache_mem_obj_put(struct cache_mem_obj *o)
{
	if (o && __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
		o->destroy(o);
}
