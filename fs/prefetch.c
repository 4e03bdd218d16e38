/*
 * Reading ahead.  Whoever opens a platform directory of a manifest list,
 * lists the list's directory or reads its inspect.json is about to read
 * every entry: `docker manifest inspect -v` does, and so do a `find` or a
 * `cat` of each platform's manifest.  One at a time, each is a round trip
 * to the registry (each child manifest, then each child's config), so
 * their manifests and configs are fetched here in the background, a few at
 * a time, and the reads that follow find them in memory and in the store.
 * Reading the list alone (manifest.json, digest) starts nothing: manifest
 * GETs count against some registries' pull quotas (tree.c decides).
 *
 * Bounded all the way: PREFETCH_THREADS threads (started at the first job,
 * stopped and joined by fs_release), a queue of PREFETCH_QUEUE_MAX jobs
 * that drops what does not fit (the caller never waits for room), at most
 * PREFETCH_ENTRIES_MAX entries of one index, and an index is read ahead
 * once (the last PREFETCH_SEEN_MAX indexes are remembered).  Nothing is
 * fetched twice: a job is deduplicated by digest against the queue and
 * the jobs running; a reader that needs a manifest a job is fetching waits
 * for that fetch like for any other (resolve_manifest_by_digest's single
 * flight); blobs are deduplicated by the store (cache_store_ensure).
 *
 * Three jobs are a lookup's rather than an index's: a registry's warm-up
 * at mount (/v2/); its catalog, asked beside the first probe of a
 * top-level name; and a tag's manifest, asked beside the tags list that
 * answers a lookup of the tag (both resolve.c decides).  One is an image's
 * rootfs/: the layers above the first are downloaded while the ones below
 * them are indexed (imagefs.c).
 *
 * The threads run with an empty cancel scope: they may wait, and only
 * cancel_all() (shutdown) calls their waits off.  A job that fails is
 * forgotten: the reader that wants the thing asks for it again, and sees
 * the error itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cancel.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/thread.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/manifest.h"

enum prefetch_kind {
	PREFETCH_MANIFEST, /* a manifest (and an image's config) by digest */
	PREFETCH_WARM_UP,  /* a registry's /v2/ */
	PREFETCH_CATALOG,  /* a registry's catalog, into the listing cache */
	PREFETCH_TAG,      /* a tag's manifest, by the tag */
	PREFETCH_BLOB,     /* a layer blob into the store (imagefs.c) */
};

struct prefetch_job {
	enum prefetch_kind kind;
	struct reg_registry *reg; /* borrowed from the client */
	char *repo;               /* owned (PREFETCH_MANIFEST, PREFETCH_TAG) */
	char *tag;                /* owned (PREFETCH_TAG) */
	/* PREFETCH_MANIFEST: the digest; else what running[] shows for the job
	 * (never a digest, never "", the mark of an idle thread) */
	char digest[DIGEST_STR_LEN + 1];
	char *media_type;         /* owned, or NULL */
	int64_t size;             /* PREFETCH_BLOB: the descriptor's */
};

struct prefetch;

/* What a thread is told: its pool and its slot in running[]. */
struct prefetch_worker {
	struct prefetch *p;
	size_t self;
};

struct prefetch {
	/*
	 * Protects every field below but the ones set before the threads
	 * start (workers, threads, n_threads, fs).  A leaf lock: nothing is
	 * called with it held but the condition waits.
	 */
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stopping */
	pthread_cond_t done; /* a running job ended */
	struct prefetch_job queue[PREFETCH_QUEUE_MAX]; /* a ring */
	size_t head, count;
	char running[PREFETCH_THREADS][DIGEST_STR_LEN + 1]; /* "" for an idle thread */
	char seen[PREFETCH_SEEN_MAX][DIGEST_STR_LEN + 1];   /* indexes read ahead, a ring */
	size_t seen_next;
	bool stopping;

	struct prefetch_worker workers[PREFETCH_THREADS];
	pthread_t threads[PREFETCH_THREADS];
	size_t n_threads; /* started */
	struct fs *fs;
};

static void job_release(struct prefetch_job *j)
{
	free(j->repo);
	free(j->tag);
	free(j->media_type);
	memset(j, 0, sizeof(*j));
}

/* Is @digest running?  Which slot (or -1). */
static int running_slot_locked(struct prefetch *p, const char *digest)
{
	for (size_t i = 0; i < PREFETCH_THREADS; i++)
		if (strcmp(p->running[i], digest) == 0)
			return (int)i;
	return -1;
}

/* Where @digest is in the queue (an offset from head), or -1. */
static int queued_locked(struct prefetch *p, const char *digest)
{
	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->queue[(p->head + i) % PREFETCH_QUEUE_MAX].digest, digest) == 0)
			return (int)i;
	return -1;
}

/* A registry's warm-up: its /v2/, which settles https or plain HTTP (and
 * finds it unreachable, if it is) before the first reader has to.  No
 * token and no catalog: nothing that takes credentials, or that a lookup
 * would then treat differently, is asked before someone asks. */
static void warm_up_run(struct fs *fs, struct reg_registry *r)
{
	int ret = fs->remote->ping ? fs->remote->ping(r) : 0;

	if (ret < 0 && ret != -EINTR)
		log_debug("warm-up of '%s': %s", reg_registry_host(r), strerror(-ret));
}

/* A registry's catalog read into the listing cache, where the lookup that
 * asked for it (resolve.c) finds it, or joins its flight. */
static void catalog_run(struct fs *fs, struct reg_registry *r)
{
	const struct resolve_listing *cat = NULL;
	int ret = resolve_catalog(fs, r, &cat);

	resolve_listing_put(cat);
	if (ret < 0 && ret != -EINTR && ret != -ENOTSUP)
		log_debug("catalog of '%s' ahead: %s", reg_registry_host(r), strerror(-ret));
}

/* One job: the manifest, parsed (and so kept), and an image's config. */
static void job_run(struct fs *fs, struct prefetch_job *j)
{
	struct resolve_view v;
	int ret;

	if (j->kind == PREFETCH_WARM_UP) {
		warm_up_run(fs, j->reg);
		return;
	}
	if (j->kind == PREFETCH_CATALOG) {
		catalog_run(fs, j->reg);
		return;
	}
	if (j->kind == PREFETCH_BLOB) {
		ret = tree_blob_ensure(fs, j->reg, j->repo, j->digest, j->size);
		if (ret < 0 && ret != -EINTR && ret != -CANCEL_WOULD_WAIT)
			log_debug("layer '%s' of '%s' ahead: %s", j->digest, j->repo, strerror(-ret));
		return;
	}
	if (j->kind == PREFETCH_TAG) {
		/* the manifest; an index's children are not read ahead for
		 * this (tree.c decides when they are) */
		ret = resolve_tag_ahead(fs, j->reg, j->repo, j->tag);
		if (ret < 0 && ret != -EINTR && ret != -CANCEL_WOULD_WAIT && ret != -ENOENT)
			log_debug("read ahead of '%s:%s': %s", j->repo, j->tag, strerror(-ret));
		return;
	}
	ret = resolve_digest(fs, j->reg, j->repo, j->digest, j->media_type, &v);

	if (ret == 0 && reg_mtype_is_image(v.m->type) &&
	    v.m->config.size <= (int64_t)REG_MANIFEST_MAX)
		ret = tree_blob_ensure(fs, j->reg, j->repo, v.m->config.digest, v.m->config.size);
	if (ret < 0 && ret != -EINTR && ret != -CANCEL_WOULD_WAIT)
		log_debug("read ahead of '%s@%s': %s", j->repo, j->digest, strerror(-ret));
	if (v.m)
		resolve_view_release(&v);
}

static void *prefetch_main(void *arg)
{
	struct prefetch_worker *w = arg;
	struct prefetch *p = w->p;

	thread_name_set("regfs-ahead");
	/* may wait: nobody but shutdown calls a read ahead off */
	cancel_scope_set((struct cancel_scope){0});
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct prefetch_job j;

		while (!p->count && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stopping)
			break;
		j = p->queue[p->head];
		memset(&p->queue[p->head], 0, sizeof(p->queue[p->head]));
		p->head = (p->head + 1) % PREFETCH_QUEUE_MAX;
		p->count--;
		memcpy(p->running[w->self], j.digest, sizeof(j.digest));
		pthread_mutex_unlock(&p->lock);
		job_run(p->fs, &j);
		job_release(&j);
		pthread_mutex_lock(&p->lock);
		p->running[w->self][0] = '\0';
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pool_free(struct prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->count; i++)
		job_release(&p->queue[(p->head + i) % PREFETCH_QUEUE_MAX]);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct prefetch *pool_new(struct fs *fs, size_t threads)
{
	struct prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->fs = fs;
	for (size_t i = 0; i < threads; i++) {
		p->workers[i] = (struct prefetch_worker){p, i};
		if (pthread_create(&p->threads[i], NULL, prefetch_main, &p->workers[i]) != 0)
			break;
		p->n_threads++;
	}
	if (!p->n_threads) {
		pool_free(p);
		return NULL;
	}
	return p;
}

/* The pool of @fs, started now if it is not yet; NULL when read ahead is
 * off or cannot start (then it is not tried again). */
static struct prefetch *pool_of(struct fs *fs)
{
	size_t want = fs->cfg.prefetch == 0 ? PREFETCH_THREADS : (size_t)fs->cfg.prefetch;
	struct prefetch *p;

	if (fs->cfg.prefetch < 0)
		return NULL;
	if (want > PREFETCH_THREADS)
		want = PREFETCH_THREADS;
	pthread_mutex_lock(&fs->prefetch_lock);
	p = fs->prefetch;
	if (!p && !fs->prefetch_failed && !fs->prefetch_stopped) {
		p = fs->prefetch = pool_new(fs, want);
		fs->prefetch_failed = !p;
	}
	pthread_mutex_unlock(&fs->prefetch_lock);
	return p;
}

/* Has index @digest been read ahead already?  It is remembered now. */
static bool seen_locked(struct prefetch *p, const char *digest)
{
	for (size_t i = 0; i < PREFETCH_SEEN_MAX; i++)
		if (strcmp(p->seen[i], digest) == 0)
			return true;
	memcpy(p->seen[p->seen_next], digest, DIGEST_STR_LEN + 1);
	p->seen_next = (p->seen_next + 1) % PREFETCH_SEEN_MAX;
	return false;
}

/* The queue's next free slot, to fill and then hand over with
 * push_locked; NULL when the queue is full. */
static struct prefetch_job *free_slot_locked(struct prefetch *p)
{
	return p->count < PREFETCH_QUEUE_MAX ? &p->queue[(p->head + p->count) % PREFETCH_QUEUE_MAX]
					     : NULL;
}

/* The slot free_slot_locked gave, filled: queued, and a thread woken. */
static void push_locked(struct prefetch *p)
{
	p->count++;
	pthread_cond_signal(&p->work);
}

/* Queue manifest @d of @repo unless it is queued or running, or the queue
 * is full.  0, or -ENOMEM. */
static int enqueue_locked(struct prefetch *p, struct reg_registry *r, const char *repo,
			  const struct reg_descriptor *d)
{
	struct prefetch_job *j;

	if (!(j = free_slot_locked(p)) || queued_locked(p, d->digest) >= 0 ||
	    running_slot_locked(p, d->digest) >= 0)
		return 0;
	j->kind = PREFETCH_MANIFEST;
	j->reg = r;
	j->repo = strdup(repo);
	j->media_type = d->media_type ? strdup(d->media_type) : NULL;
	memcpy(j->digest, d->digest, DIGEST_STR_LEN + 1);
	if (!j->repo || (d->media_type && !j->media_type)) {
		job_release(j);
		return -ENOMEM;
	}
	push_locked(p);
	return 0;
}

void prefetch_index(struct fs *fs, struct reg_registry *r, const char *repo,
		    const struct resolve_view *idx)
{
	struct prefetch *p;
	size_t queued = 0;

	if (!reg_mtype_is_index(idx->m->type) || !idx->m->n_entries || !(p = pool_of(fs)))
		return;
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && !seen_locked(p, idx->digest))
		for (size_t i = 0; i < idx->m->n_entries && queued < PREFETCH_ENTRIES_MAX; i++) {
			/* the platform directories: what a reader goes on to open */
			if (!idx->m->entry_names[i])
				continue;
			if (enqueue_locked(p, r, repo, &idx->m->entries[i]) < 0)
				break;
			queued++;
		}
	pthread_mutex_unlock(&p->lock);
}

/* Queue a job of @kind (not a manifest) for @r, unless one of that kind
 * for @r is queued or running, or the queue is full. */
static void enqueue_registry_job(struct fs *fs, struct reg_registry *r, enum prefetch_kind kind)
{
	struct prefetch *p = pool_of(fs);
	struct prefetch_job *j;
	char mark[DIGEST_STR_LEN + 1];

	if (!p)
		return;
	/* running[] holds text: the kind and the registry's address tell one
	 * registry's job from another's */
	snprintf(mark, sizeof(mark), "%s %p", kind == PREFETCH_CATALOG ? "catalog" : "warm-up",
		 (void *)r);
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && (j = free_slot_locked(p)) && queued_locked(p, mark) < 0 &&
	    running_slot_locked(p, mark) < 0) {
		j->kind = kind;
		j->reg = r;
		memcpy(j->digest, mark, sizeof(mark));
		push_locked(p);
	}
	pthread_mutex_unlock(&p->lock);
}

void prefetch_registry(struct fs *fs, struct reg_registry *r)
{
	enqueue_registry_job(fs, r, PREFETCH_WARM_UP);
}

void prefetch_catalog(struct fs *fs, struct reg_registry *r)
{
	enqueue_registry_job(fs, r, PREFETCH_CATALOG);
}

void prefetch_blob(struct fs *fs, struct reg_registry *r, const char *repo, const char *digest,
		   int64_t size)
{
	struct prefetch *p = pool_of(fs);
	struct prefetch_job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && (j = free_slot_locked(p)) && queued_locked(p, digest) < 0 &&
	    running_slot_locked(p, digest) < 0) {
		j->kind = PREFETCH_BLOB;
		j->reg = r;
		j->repo = strdup(repo);
		j->size = size;
		snprintf(j->digest, sizeof(j->digest), "%s", digest);
		if (j->repo)
			push_locked(p);
		else
			job_release(j);
	}
	pthread_mutex_unlock(&p->lock);
}

void prefetch_tag(struct fs *fs, struct reg_registry *r, const char *repo, const char *tag)
{
	struct prefetch *p = pool_of(fs);
	struct prefetch_job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	/* not deduplicated here: the GET of a tag is single-flight already */
	if (!p->stopping && (j = free_slot_locked(p))) {
		j->kind = PREFETCH_TAG;
		j->reg = r;
		j->repo = strdup(repo);
		j->tag = strdup(tag);
		snprintf(j->digest, sizeof(j->digest), "tag");
		if (j->repo && j->tag)
			push_locked(p);
		else
			job_release(j);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Wait on @p->done for at most CANCEL_POLL_MS.  Called with the lock held. */
static void wait_done_locked(struct prefetch *p)
{
	cancel_cond_wait(&p->done, &p->lock, CLOCK_REALTIME);
}

void prefetch_drain(struct fs *fs)
{
	struct prefetch *p;

	pthread_mutex_lock(&fs->prefetch_lock);
	p = fs->prefetch;
	pthread_mutex_unlock(&fs->prefetch_lock);
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		bool idle = !p->count;

		for (size_t i = 0; idle && i < PREFETCH_THREADS; i++)
			idle = !p->running[i][0];
		if (idle)
			break;
		wait_done_locked(p);
	}
	pthread_mutex_unlock(&p->lock);
}

void prefetch_stop(struct fs *fs)
{
	struct prefetch *p;

	pthread_mutex_lock(&fs->prefetch_lock);
	p = fs->prefetch;
	fs->prefetch = NULL;
	fs->prefetch_stopped = true;
	pthread_mutex_unlock(&fs->prefetch_lock);
	pool_free(p);
}
