/*
 * In-memory metadata with lifetimes: tag -> digest, listings (catalog,
 * tags), manifest bytes by digest.  A map from string keys to byte values,
 * each with an expiry (or none), capped in total bytes with least recently
 * used eviction.  Values are copied in and out, so no lock is ever held by
 * a caller.  Thread-safe.
 */
#ifndef REGFS_CACHE_MEM_H
#define REGFS_CACHE_MEM_H

#include <stddef.h>

struct cache_mem;

#define CACHE_MEM_FOREVER 0.0

/* New map capped at @max_bytes of keys+values (0 = no cap).  NULL on
 * -ENOMEM. */
struct cache_mem *cache_mem_new(size_t max_bytes);
void cache_mem_free(struct cache_mem *c); /* NULL is a no-op */

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

#endif
