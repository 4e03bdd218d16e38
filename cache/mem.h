/*
 * In-memory metadata with lifetimes: tag -> digest, listings (catalog,
 * tags), manifest bytes by digest.  A map from string keys to values, each
 * with an expiry (or none), capped in total bytes with least recently used
 * eviction.  Thread-safe; no lock is ever held by a caller.
 *
 * A value is either bytes, copied in and out (cache_mem_put/get), or an
 * object held by reference (cache_mem_put_obj/find_obj): something decoded
 * once and then read by many (a listing, a parsed manifest) that a copy per
 * reader would make cost as much as decoding it again.  An object is
 * immutable once put, so readers share it without a lock.
 */
#ifndef REGFS_CACHE_MEM_H
#define REGFS_CACHE_MEM_H

#include <stdbool.h>
#include <stddef.h>

struct cache_mem;

#define CACHE_MEM_FOREVER 0.0

/* New map capped at @max_bytes of keys+values (0 = no cap).  NULL on
 * -ENOMEM. */
struct cache_mem *cache_mem_new(size_t max_bytes);
void cache_mem_free(struct cache_mem *c); /* NULL is a no-op */

/* How long past its lifetime an entry is kept for the _stale lookups before
 * it may be reaped: each put takes out up to two such entries from the
 * least recently used end, so what nobody asks for again does not wait for
 * the cap.  CACHE_MEM_FOREVER (the default), as with a put's ttl: until the
 * cap evicts it.  Set before the map is shared. */
void cache_mem_set_grace(struct cache_mem *c, double seconds);

/* Store a copy of @val under @key, living @ttl seconds (CACHE_MEM_FOREVER,
 * or more than 1e9: until evicted).  Replaces an existing value.  0 or
 * -ENOMEM.  A negative or NaN @ttl, or an entry bigger than the whole cap,
 * leaves @key absent (and returns 0), and so does -ENOMEM: a cache may
 * always forget, but never serve the old value. */
int cache_mem_put(struct cache_mem *c, const char *key, const void *val, size_t len, double ttl);

/* Copy the live value for @key into a new NUL-terminated buffer (caller
 * frees).  Returns 0, or -ENOENT when absent or expired (-ENOMEM when the
 * copy cannot be made).  Marks the entry used. */
int cache_mem_get(struct cache_mem *c, const char *key, char **val, size_t *len);

/* Forget @key (nothing when it is absent). */
void cache_mem_drop(struct cache_mem *c, const char *key);

/* Like cache_mem_get, but an expired value is given too (and kept): *live
 * says whether it still is.  For "what was it last time", which a cheaper
 * question (a HEAD) can then confirm. */
int cache_mem_get_stale(struct cache_mem *c, const char *key, char **val, size_t *len,
			bool *live);

/*
 * An object value.  Embed it in the object; set destroy and charge (the
 * bytes it holds, counted against the cap) and call cache_mem_obj_init
 * before putting it.  The map holds one reference while the entry lives;
 * destroy runs when the last reference goes, on whichever thread drops it,
 * with no lock of the map held.
 */
struct cache_mem_obj {
	void (*destroy)(struct cache_mem_obj *o);
	size_t charge;
	unsigned refs; /* atomic */
};
/* One reference, the caller's. */
void cache_mem_obj_init(struct cache_mem_obj *o, void (*destroy)(struct cache_mem_obj *o),
			size_t charge);
void cache_mem_obj_get(struct cache_mem_obj *o); /* one more reference */
void cache_mem_obj_put(struct cache_mem_obj *o); /* one less; NULL is a no-op */

/* Keep @o under @key for @ttl seconds, as cache_mem_put keeps bytes (the
 * map takes a reference of its own; the caller keeps theirs).  An object
 * bigger than the whole cap, or a negative @ttl, leaves @key absent. */
int cache_mem_put_obj(struct cache_mem *c, const char *key, struct cache_mem_obj *o, double ttl);
/* The live object under @key: a new reference (cache_mem_obj_put it), or
 * NULL when absent, expired or bytes.  Marks the entry used. */
struct cache_mem_obj *cache_mem_find_obj(struct cache_mem *c, const char *key);

/* Like cache_mem_find_obj, but an expired object is given too (and kept):
 * *live says whether it still is. */
struct cache_mem_obj *cache_mem_find_obj_stale(struct cache_mem *c, const char *key, bool *live);

/* How long ago @key's value expired, in seconds: 0 while it lives, when it
 * never expires, and when @key is absent.  Does not mark the entry used.
 * For the _stale lookups' callers that serve an old value only for so
 * long. */
double cache_mem_expired_for(struct cache_mem *c, const char *key);

/* Bytes the map counts now (keys, values, objects' charges). */
size_t cache_mem_bytes(struct cache_mem *c);

#endif
