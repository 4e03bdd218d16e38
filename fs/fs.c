/*
 * One mount's state: what fs_init sets up and fs_release takes down, the
 * registry door regfs uses, and the memory-cache keys of the whole room.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/mem.h"
#include "cache/store.h"
#include "common/cancel.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"

const struct fs_remote fs_remote_registry = {
	.admit = reg_client_registry_if_answers,
	.ping = reg_ping,
	.catalog = reg_catalog,
	.tags = reg_tags,
	.manifest_get = reg_manifest_get,
	.manifest_digest = reg_manifest_digest,
	.blob_stream = reg_blob_stream,
	.blob_stream_url = reg_blob_stream_url,
	.referrers = reg_referrers,
};

/* --- -o offline: nothing leaves the machine ------------------------------- */

static int offline_admit(struct reg_client *c, const char *host, bool may_add,
			 struct reg_registry **out, bool *added)
{
	(void)c;
	(void)host;
	(void)may_add;
	*out = NULL;
	*added = false;
	return -ENETDOWN;
}

static int offline_ping(struct reg_registry *r)
{
	(void)r;
	return -ENETDOWN;
}

static int offline_catalog(struct reg_registry *r, struct reg_strlist *out)
{
	(void)r;
	memset(out, 0, sizeof(*out));
	return -ENOTSUP;
}

static int offline_tags(struct reg_registry *r, const char *repo, struct reg_strlist *out)
{
	(void)r;
	(void)repo;
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}

static int offline_manifest_get(struct reg_registry *r, const char *repo, const char *ref,
				struct reg_fetched *out)
{
	(void)r;
	(void)repo;
	(void)ref;
	memset(out, 0, sizeof(*out));
	return -ENETDOWN;
}

static int offline_manifest_digest(struct reg_registry *r, const char *repo, const char *ref,
				   char digest[DIGEST_STR_LEN + 1])
{
	(void)r;
	(void)repo;
	(void)ref;
	digest[0] = '\0';
	return -ENETDOWN;
}

static int offline_blob_stream(struct reg_registry *r, const char *repo, const char *digest,
			       reg_sink_fn sink, void *arg)
{
	(void)r;
	(void)repo;
	(void)digest;
	(void)sink;
	(void)arg;
	return -ENETDOWN;
}

static int offline_blob_stream_url(struct reg_client *c, const char *url, reg_sink_fn sink,
				   void *arg)
{
	(void)c;
	(void)url;
	(void)sink;
	(void)arg;
	return -ENETDOWN;
}

const struct fs_remote fs_remote_offline = {
	.admit = offline_admit,
	.ping = offline_ping,
	.catalog = offline_catalog,
	.tags = offline_tags,
	.manifest_get = offline_manifest_get,
	.manifest_digest = offline_manifest_digest,
	.blob_stream = offline_blob_stream,
	.blob_stream_url = offline_blob_stream_url,
};

int fs_init(struct fs *fs)
{
	int ret = node_table_new(&fs->nodes);

	if (ret < 0)
		return ret;
	fs->listings = cache_mem_new(LISTINGS_MEM_MAX);
	fs->parsed = cache_mem_new(PARSED_MEM_MAX);
	fs->stale = cache_mem_new(STALE_MARKS_MEM_MAX);
	fs->root_misses = cache_mem_new(ROOT_MISSES_MEM_MAX);
	fs->imagefs = cache_mem_new(IMAGEFS_MEM_MAX);
	if (!fs->listings || !fs->parsed || !fs->stale || !fs->root_misses || !fs->imagefs) {
		cache_mem_free(fs->listings);
		cache_mem_free(fs->parsed);
		cache_mem_free(fs->stale);
		cache_mem_free(fs->root_misses);
		cache_mem_free(fs->imagefs);
		node_table_free(fs->nodes);
		fs->listings = fs->parsed = fs->stale = fs->root_misses = fs->imagefs = NULL;
		fs->nodes = NULL;
		return -ENOMEM;
	}
	/* what expired and nobody asked for goes, rather than fill the caps:
	 * a tag or listing after the day it may be served stale, a miss at
	 * the root a second after its TTL */
	cache_mem_set_grace(fs->mem, STALE_IF_ERROR_MAX);
	cache_mem_set_grace(fs->listings, STALE_IF_ERROR_MAX);
	cache_mem_set_grace(fs->root_misses, 1);
	pthread_mutex_init(&fs->stale_lock, NULL);
	fs->root_hosts = 0;
	fs->mount_time = time(NULL);
	pthread_mutex_init(&fs->prefetch_lock, NULL);
	fs->prefetch = NULL;
	fs->prefetch_failed = fs->prefetch_stopped = false;
	pthread_mutex_init(&fs->downloads_lock, NULL);
	fs->downloads = NULL;
	pthread_mutex_init(&fs->fetch_lock, NULL);
	pthread_cond_init(&fs->fetch_done, NULL);
	fs->fetches = NULL;
	commit_init(fs);
	return 0;
}

void fs_mounted(struct fs *fs)
{
	if (fs->cfg.offline)
		return;
	for (char **p = fs->cfg.registries; p && *p; p++) {
		struct reg_registry *r;

		if (reg_client_registry(fs->client, *p, &r) == 0)
			prefetch_registry(fs, r);
	}
}

void fs_release(struct fs *fs)
{
	if (!fs->nodes)
		return; /* never initialised */
	prefetch_stop(fs); /* first: its jobs use everything below */
	pthread_mutex_destroy(&fs->prefetch_lock);
	commit_release(fs);
	pthread_mutex_destroy(&fs->downloads_lock);
	pthread_mutex_destroy(&fs->fetch_lock);
	pthread_cond_destroy(&fs->fetch_done);
	node_table_free(fs->nodes);
	fs->nodes = NULL;
	cache_mem_free(fs->listings);
	cache_mem_free(fs->parsed);
	cache_mem_free(fs->stale);
	cache_mem_free(fs->root_misses);
	cache_mem_free(fs->imagefs);
	fs->listings = fs->parsed = fs->stale = fs->root_misses = fs->imagefs = NULL;
	pthread_mutex_destroy(&fs->stale_lock);
}

struct fs_fetch {
	char *key;
	struct fs_fetch *next;
};

static struct fs_fetch **fetch_find_locked(struct fs *fs, const char *key)
{
	struct fs_fetch **pp = &fs->fetches;

	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

int fs_fetch_begin(struct fs *fs, const char *key)
{
	struct fs_fetch *f;
	bool waited = false;
	int ret = 1;

	pthread_mutex_lock(&fs->fetch_lock);
	while (*fetch_find_locked(fs, key)) {
		if (!cancel_may_wait() || cancel_requested()) {
			ret = cancel_may_wait() ? -EINTR : -CANCEL_WOULD_WAIT;
			break;
		}
		waited = true;
		cancel_cond_wait(&fs->fetch_done, &fs->fetch_lock, CLOCK_REALTIME);
	}
	if (ret == 1 && waited) {
		ret = 0;
	} else if (ret == 1) {
		f = calloc(1, sizeof(*f));
		if (f && (f->key = strdup(key))) {
			f->next = fs->fetches;
			fs->fetches = f;
		} else {
			free(f);
			ret = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&fs->fetch_lock);
	return ret;
}

void fs_fetch_end(struct fs *fs, const char *key)
{
	struct fs_fetch **pp, *f = NULL;

	pthread_mutex_lock(&fs->fetch_lock);
	pp = fetch_find_locked(fs, key);
	if (*pp) {
		f = *pp;
		*pp = f->next;
	}
	pthread_cond_broadcast(&fs->fetch_done);
	pthread_mutex_unlock(&fs->fetch_lock);
	if (f)
		free(f->key);
	free(f);
}

#define STATFS_BLOCK 4096
#define STATFS_FREE_INODES 1000000

int fs_statfs(struct fs *fs, struct statvfs *sv)
{
	struct cache_store_space sp;
	uint64_t size, used_blocks;
	int ret = cache_store_space(fs->store, &sp);

	if (ret < 0)
		return ret;
	/* a soft cap: one blob bigger than it is stored, alone */
	size = sp.cap ? (sp.used > sp.cap ? sp.used : sp.cap) : sp.used + sp.disk_free;
	used_blocks = (sp.used + STATFS_BLOCK - 1) / STATFS_BLOCK;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = STATFS_BLOCK;
	sv->f_frsize = STATFS_BLOCK;
	sv->f_blocks = (size + STATFS_BLOCK - 1) / STATFS_BLOCK;
	sv->f_bfree = sv->f_blocks - used_blocks;
	sv->f_bavail = sp.avail / STATFS_BLOCK < sv->f_bfree ? sp.avail / STATFS_BLOCK
							     : sv->f_bfree;
	sv->f_ffree = STATFS_FREE_INODES;
	sv->f_favail = STATFS_FREE_INODES;
	sv->f_files = STATFS_FREE_INODES + node_table_count(fs->nodes);
	sv->f_namemax = 255;
	return 0;
}

/* --- stale-if-error marks ------------------------------------------------ */

bool fs_error_is_outage(int err)
{
	return err == -EIO || err == -EAGAIN || err == -ETIMEDOUT;
}

/* A short name for @err in a mark's text (no spaces: the text is
 * "key=value ..."). */
static const char *outage_name(int err)
{
	switch (err) {
	case -EAGAIN:
		return "EAGAIN";
	case -ETIMEDOUT:
		return "ETIMEDOUT";
	default:
		return "EIO";
	}
}

void fs_stale_mark(struct fs *fs, const char *key, const char *what, double age, int err)
{
	char *old = NULL, text[128];
	time_t now = time(NULL);
	size_t len;
	bool fresh_mark;

	/* check and put in one step: two readers of one key log one line */
	pthread_mutex_lock(&fs->stale_lock);
	fresh_mark = cache_mem_get(fs->stale, key, &old, &len) == -ENOENT;
	if (fresh_mark) {
		snprintf(text, sizeof(text), "since=%lld expired=%lld error=%s", (long long)now,
			 (long long)(now - (time_t)age), outage_name(err));
		cache_mem_put(fs->stale, key, text, strlen(text), CACHE_MEM_FOREVER);
	}
	pthread_mutex_unlock(&fs->stale_lock);
	free(old);
	if (fresh_mark)
		log_warn("%s: the registry failed (%s): serving its last answer, %.0f s past "
			 "its ttl, until it answers again",
			 what, strerror(-err), age);
}

void fs_stale_clear(struct fs *fs, const char *key)
{
	cache_mem_drop(fs->stale, key);
}

int fs_stale_text(struct fs *fs, const char *key, char **val, size_t *len)
{
	int ret = cache_mem_get(fs->stale, key, val, len);

	return ret == -ENOENT ? -ENODATA : ret;
}

void fs_name_from(const char *s, size_t max, const char *fallback, char *out, size_t n)
{
	size_t k = 0;

	for (; *s && k + 1 < n && k < max; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '+' || c == '-' || c == '_';

		out[k++] = ok ? c : '_';
	}
	while (k > 0 && out[k - 1] == '_')
		k--;
	out[k] = '\0';
	if (k == 0 || out[0] == '.')
		snprintf(out, n, "%s", fallback);
}

char *fs_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* --- memory-cache keys ------------------------------------------------------
 * Every key the room puts in the memory cache, and so every format, is made
 * here; the first letters keep the kinds apart:
 *   c:HOST               the catalog of a registry (fs->listings; resolve.c)
 *   l:HOST/REPO          the tags of a repository (fs->listings; resolve.c)
 *   t:HOST/REPO:TAG      the digest a tag points at; kept past the TTL, when
 *                        a HEAD confirms it (resolve.c)
 *   m:DIGEST             a manifest's bytes, for good (resolve.c)
 *   p:DIGEST[;TYPE]      a manifest parsed, read as TYPE says (fs->parsed;
 *                        resolve.c)
 *   probes:HOST          names probed without the catalog this TTL (resolve.c)
 *   committed:PATH       a draft this mount committed a moment ago (commit.c)
 */

char *fs_key_catalog(const struct reg_registry *r)
{
	return fs_strdup_printf("c:%s", reg_registry_host(r));
}

char *fs_key_tags(const struct reg_registry *r, const char *repo)
{
	return fs_strdup_printf("l:%s/%s", reg_registry_host(r), repo);
}

char *fs_key_tag(const struct reg_registry *r, const char *repo, const char *tag)
{
	return fs_strdup_printf("t:%s/%s:%s", reg_registry_host(r), repo, tag);
}

char *fs_key_manifest(const char *digest)
{
	return fs_strdup_printf("m:%s", digest);
}

char *fs_key_parsed(const char *digest, const char *content_type)
{
	if (!content_type)
		return fs_strdup_printf("p:%s", digest);
	return fs_strdup_printf("p:%s;%s", digest, content_type);
}

char *fs_key_probes(const struct reg_registry *r)
{
	return fs_strdup_printf("probes:%s", reg_registry_host(r));
}

char *fs_key_committed(const char *path)
{
	return fs_strdup_printf("committed:%s", path);
}
