/*
 * The blob downloads in flight, for MOUNT/.downloads and the log.
 *
 * A cold read of a large layer is a long wait; this is where it can be
 * watched: every fill of the store from the network (tree.c) is in the
 * mount's table from its first byte to its last, and `cat MOUNT/.downloads`
 * prints one line per download (`watch cat MOUNT/.downloads` is the
 * progress bar).  Downloads of DOWNLOAD_LOG_MIN bytes or more log a line
 * when they start and when they end, with the rate; smaller ones only with
 * -o verbose.
 *
 * The filling thread alone adds to a download's count (atomically, as a
 * reader of .downloads may look at it at any time); the table's links are
 * protected by fs->downloads_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"

struct fs_download {
	char digest[DIGEST_STR_LEN + 1];
	char *where;    /* owned: "host/repository", or a foreign layer's URL without query */
	int64_t total;  /* bytes, from the descriptor; < 0 when unknown */
	uint64_t done;  /* bytes stored so far (atomic) */
	double started; /* mono_now() */
	struct fs_download *next;
};

/* @bytes for people: "812 B", "3.0 MiB", "1.2 GiB" (into @out, @n bytes). */
static const char *size_text(double bytes, char *out, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return out;
}

/* An index being built (imagefs.c) is shown as "index:HOST/REPO" in
 * .downloads; the log says what it is in words. */
#define INDEX_PREFIX "index:"

static const char *verb_of(const struct fs_download *d)
{
	return strncmp(d->where, INDEX_PREFIX, strlen(INDEX_PREFIX)) == 0 ? "index of" : "download";
}

static const char *from_of(const struct fs_download *d)
{
	return strncmp(d->where, INDEX_PREFIX, strlen(INDEX_PREFIX)) == 0
		       ? d->where + strlen(INDEX_PREFIX)
		       : d->where;
}

static bool loud(const struct fs_download *d)
{
	return d->total >= (int64_t)DOWNLOAD_LOG_MIN;
}

struct fs_download *download_begin(struct fs *fs, const char *where, const char *digest,
				   int64_t total)
{
	struct fs_download *d = calloc(1, sizeof(*d));
	char size[32];

	if (!d || !(d->where = strdup(where))) {
		free(d);
		return NULL; /* not shown, not logged: the download goes on */
	}
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	d->total = total;
	d->started = mono_now();
	pthread_mutex_lock(&fs->downloads_lock);
	d->next = fs->downloads;
	fs->downloads = d;
	pthread_mutex_unlock(&fs->downloads_lock);
	log_msg(loud(d) ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s %s from %s: %s, started", verb_of(d),
		d->digest, from_of(d),
		total >= 0 ? size_text((double)total, size, sizeof(size)) : "size unknown");
	return d;
}

void download_add(struct fs_download *d, size_t n)
{
	if (d)
		__atomic_add_fetch(&d->done, (uint64_t)n, __ATOMIC_RELAXED);
}

void download_end(struct fs *fs, struct fs_download *d, int ret)
{
	double secs;
	char size[32], rate[32];

	if (!d)
		return;
	pthread_mutex_lock(&fs->downloads_lock);
	for (struct fs_download **pp = &fs->downloads; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&fs->downloads_lock);
	secs = mono_now() - d->started;
	size_text((double)d->done, size, sizeof(size));
	size_text(secs > 0 ? (double)d->done / secs : 0, rate, sizeof(rate));
	if (ret == 0)
		log_msg(loud(d) ? LOG_LVL_INFO : LOG_LVL_DEBUG,
			"%s %s from %s: done, %s in %.1f s (%s/s)", verb_of(d), d->digest, from_of(d), size,
			secs, rate);
	else
		log_msg(loud(d) ? LOG_LVL_INFO : LOG_LVL_DEBUG,
			"%s %s from %s: stopped after %s in %.1f s: %s", verb_of(d), d->digest, from_of(d),
			size, secs, strerror(-ret));
	free(d->where);
	free(d);
}

/* One line of .downloads for @d at @now. */
static int download_line(struct buf *b, const struct fs_download *d, double now)
{
	uint64_t done = __atomic_load_n(&d->done, __ATOMIC_RELAXED);
	double secs = now - d->started;
	char line[DIGEST_STR_LEN + 512], pct[16], rate[32];
	int n;

	if (d->total > 0)
		snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * (double)done / (double)d->total);
	else
		snprintf(pct, sizeof(pct), "?%%");
	size_text(secs > 0 ? (double)done / secs : 0, rate, sizeof(rate));
	n = snprintf(line, sizeof(line), "%s %.300s %llu/%lld %s %s/s %.1fs\n", d->digest,
		     d->where, (unsigned long long)done, (long long)d->total, pct, rate, secs);
	return buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int downloads_text(struct fs *fs, char **bytes, size_t *len)
{
	struct buf b = BUF_INIT(DOWNLOADS_TEXT_MAX);
	double now = mono_now();
	int ret = 0;

	pthread_mutex_lock(&fs->downloads_lock);
	for (const struct fs_download *d = fs->downloads; d && ret == 0; d = d->next)
		ret = download_line(&b, d, now);
	pthread_mutex_unlock(&fs->downloads_lock);
	if (ret == -E2BIG)
		ret = 0; /* a screenful of the first ones says enough */
	if (ret < 0) {
		buf_release(&b, 0);
		return ret;
	}
	*bytes = buf_detach(&b, len);
	return *bytes ? 0 : -ENOMEM;
}
