/*
 * Seals of verified blobs, written by one background thread; seal.h has
 * the contract and why.
 *
 * Layout under the store directory:
 *
 *   seals/<64 hex>   one line: "regfs-seal 1 ino=<n> size=<n> ctime=<s>.<ns>"
 *   tmp/seal.<16 hex> a seal being written (renamed into seals/ when done)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cache/seal.h"
#include "cache/disk.h"
#include "cache/tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/thread.h"

#define SEAL_TMP_PREFIX "seal."
#define SEAL_TMP_NAME_LEN (sizeof(SEAL_TMP_PREFIX) - 1 + CACHE_TMP_RANDOM_LEN)
#define SEAL_TEXT_MAX 128
#define SEAL_QUEUE_MAX 1024 /* past this, blobs go unsealed */

struct seal_job {
	struct seal_job *next;
	char hex[DIGEST_HEX_LEN + 1];
	struct stat st; /* the file as it was verified */
};

struct cache_sealer {
	int dfd;      /* seals/ */
	int blob_dfd; /* the store's, not ours */
	int tmp_dfd;  /* the store's, not ours */
	pthread_t thread;
	pthread_mutex_t lock; /* protects what follows */
	bool started;	      /* the thread runs (made with the first job: see below) */
	pthread_cond_t cond;  /* a job queued, or stop */
	struct seal_job *head, *tail;
	unsigned queued;
	bool stop;
};

/* The one line a seal of the file @st holds, into @text. */
static void seal_text(char *text, size_t size, const struct stat *st)
{
	snprintf(text, size, "regfs-seal 1 ino=%llu size=%lld ctime=%lld.%09ld\n",
		 (unsigned long long)st->st_ino, (long long)st->st_size,
		 (long long)st->st_ctim.tv_sec, (long)st->st_ctim.tv_nsec);
}

bool cache_seal_matches(struct cache_sealer *sr, const char *hex, const struct stat *st)
{
	char want[SEAL_TEXT_MAX], got[SEAL_TEXT_MAX];
	struct stat sst;
	ssize_t n;
	int fd;

	if (!sr || st->st_size < SEAL_MIN_SIZE)
		return false;
	fd = openat(sr->dfd, hex, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	/* only a file of ours that nobody else can write, as for blobs */
	if (fstat(fd, &sst) < 0 || !S_ISREG(sst.st_mode) || sst.st_uid != geteuid() ||
	    (sst.st_mode & (S_IWGRP | S_IWOTH)) || sst.st_size >= SEAL_TEXT_MAX) {
		close(fd);
		return false;
	}
	n = pread(fd, got, sizeof(got) - 1, 0);
	close(fd);
	if (n <= 0)
		return false;
	got[n] = '\0';
	seal_text(want, sizeof(want), st);
	return strcmp(got, want) == 0;
}

void cache_seal_remove(struct cache_sealer *sr, const char *hex)
{
	if (sr && unlinkat(sr->dfd, hex, 0) < 0 && errno != ENOENT)
		log_debug("cannot remove seal of blob 'sha256:%s': %s", hex, strerror(errno));
}

/* Whether @a and @b describe the same file, unchanged. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Write the seal of @job once its bytes are on disk, if the file under the
 * blob's name is still the one verified, unchanged.  The blob is opened
 * here, by name, rather than through the verifier's fd: that fd's open
 * file may carry the writer's lock (cache/tmp.h), which must end with it.
 */
static void seal_write(struct cache_sealer *sr, const struct seal_job *job)
{
	char name[SEAL_TMP_NAME_LEN + 1], text[SEAL_TEXT_MAX];
	struct stat now;
	int fd, ret;

	fd = openat(sr->blob_dfd, job->hex, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	ret = fstat(fd, &now) == 0 && same_file(&now, &job->st) ? 0 : -1;
	while (ret == 0 && (ret = fdatasync(fd)) < 0 && errno == EINTR)
		;
	if (ret < 0) {
		close(fd);
		return;
	}
	/* changed while it was synced: the next mount hashes it */
	ret = fstat(fd, &now) == 0 && same_file(&now, &job->st) ? 0 : -1;
	close(fd);
	if (ret < 0)
		return;
	fd = cache_tmp_create(sr->tmp_dfd, SEAL_TMP_PREFIX, name, sizeof(name), O_WRONLY);
	if (fd < 0)
		return;
	seal_text(text, sizeof(text), &now);
	ret = cache_write_all(fd, text, strlen(text));
	close(fd);
	/* no sync of the seal: losing it costs one hash */
	if (ret == 0 && renameat(sr->tmp_dfd, name, sr->dfd, job->hex) == 0) {
		log_debug("sealed blob 'sha256:%s' (%lld bytes)", job->hex,
			  (long long)now.st_size);
		return;
	}
	unlinkat(sr->tmp_dfd, name, 0);
}

static void *sealer_main(void *arg)
{
	struct cache_sealer *sr = arg;

	thread_name_set("regfs-seal");
	pthread_mutex_lock(&sr->lock);
	for (;;) {
		struct seal_job *job;

		while (!sr->head && !sr->stop)
			pthread_cond_wait(&sr->cond, &sr->lock);
		if (sr->stop)
			break;
		job = sr->head;
		sr->head = job->next;
		if (!sr->head)
			sr->tail = NULL;
		sr->queued--;
		pthread_mutex_unlock(&sr->lock);
		seal_write(sr, job);
		free(job);
		pthread_mutex_lock(&sr->lock);
	}
	pthread_mutex_unlock(&sr->lock);
	return NULL;
}

void cache_sealer_queue(struct cache_sealer *sr, const char *hex, const struct stat *st)
{
	struct seal_job *job;

	if (!sr || st->st_size < SEAL_MIN_SIZE || cache_seal_matches(sr, hex, st))
		return;
	job = calloc(1, sizeof(*job));
	if (!job)
		return;
	memcpy(job->hex, hex, DIGEST_HEX_LEN + 1);
	job->st = *st;
	pthread_mutex_lock(&sr->lock);
	/* The thread is made with the first job, not with the sealer: a
	 * daemon opens its store before it forks into the background, and a
	 * thread made before a fork does not exist in the child. */
	if (!sr->started && !sr->stop)
		sr->started = pthread_create(&sr->thread, NULL, sealer_main, sr) == 0;
	if (!sr->started || sr->stop || sr->queued >= SEAL_QUEUE_MAX) {
		pthread_mutex_unlock(&sr->lock);
		free(job);
		return;
	}
	if (sr->tail)
		sr->tail->next = job;
	else
		sr->head = job;
	sr->tail = job;
	sr->queued++;
	pthread_cond_signal(&sr->cond);
	pthread_mutex_unlock(&sr->lock);
}

/* Remove the seals whose blob is gone (evicted by a mount that kept no
 * seals), and what a sealer killed mid-write left in tmp/. */
static void sealer_sweep(struct cache_sealer *sr)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	cache_tmp_sweep(sr->tmp_dfd, SEAL_TMP_PREFIX, 3600, NULL);
	fd = openat(sr->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (digest_hex_is_valid(de->d_name) &&
		    fstatat(sr->blob_dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}

int cache_sealer_start(const char *dir, int blob_dfd, int tmp_dfd, struct cache_sealer **out)
{
	struct cache_sealer *sr;
	char *path;
	int ret;

	*out = NULL;
	if (asprintf(&path, "%s/seals", dir) < 0)
		return -ENOMEM;
	sr = calloc(1, sizeof(*sr));
	if (!sr) {
		free(path);
		return -ENOMEM;
	}
	sr->blob_dfd = blob_dfd;
	sr->tmp_dfd = tmp_dfd;
	sr->dfd = cache_dir_make_open(path, O_NOFOLLOW);
	free(path);
	if (sr->dfd < 0) {
		ret = sr->dfd;
		free(sr);
		return ret;
	}
	sealer_sweep(sr);
	pthread_mutex_init(&sr->lock, NULL);
	pthread_cond_init(&sr->cond, NULL);
	*out = sr;
	return 0;
}

void cache_sealer_stop(struct cache_sealer *sr)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->lock);
	sr->stop = true;
	pthread_cond_signal(&sr->cond);
	pthread_mutex_unlock(&sr->lock);
	if (sr->started)
		pthread_join(sr->thread, NULL);
	while (sr->head) {
		struct seal_job *job = sr->head;

		sr->head = job->next;
		free(job);
	}
	pthread_cond_destroy(&sr->cond);
	pthread_mutex_destroy(&sr->lock);
	close(sr->dfd);
	free(sr);
}
