/*
 * Hosts that cannot be reached, and what registries say of their limits.
 *
 * A registry that accepts connections and never answers, or does not
 * accept them, would otherwise cost every request the whole wait again.
 * The first request that finds it so (route.c) marks it unreachable, with
 * one log line; from then on:
 *   - a request to it fails at once (-EIO) when finding out made us wait
 *     (REG_QUICK_FAILURE or more); a host that refuses at once costs
 *     nothing to ask, so requests still try it, quietly;
 *   - a mirror marked so is skipped (read_routes);
 *   - one background thread for the whole client, the prober, asks each
 *     such host GET /v2/ after REG_PROBE_FIRST seconds, doubling the wait
 *     up to REG_PROBE_MAX; any HTTP answer, to the prober or to a request,
 *     clears the mark, with one log line.
 * The prober starts with the first host marked, ends when none is left,
 * and ends within CANCEL_POLL_MS of cancel_all() or reg_client_free().
 *
 * Rate limits: the last RateLimit-* headers each registry sent (Docker Hub
 * spells them ratelimit-limit: 100;w=21600 and adds
 * docker-ratelimit-source), kept for the user to read
 * (reg_registry_ratelimit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cancel.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/thread.h"
#include "registry/request.h"

/* --- reachability --------------------------------------------------------- */

int reach_fail_fast(struct reg_registry *r)
{
	double now = mono_now();
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	/* a prober long overdue (it could not be started) leaves the asking
	 * to the requests: a host is never given up for good */
	if (r->reach.down && r->reach.slow && now < r->reach.next_probe + REG_PROBE_MAX)
		ret = r->reach.err;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

bool reach_is_down(struct reg_registry *r)
{
	bool down;

	pthread_mutex_lock(&r->lock);
	down = r->reach.down;
	pthread_mutex_unlock(&r->lock);
	return down;
}

static void prober_kick(struct reg_client *c);

bool reach_mark_down(struct reg_registry *r, double took)
{
	double now = mono_now();
	bool was_up;

	pthread_mutex_lock(&r->lock);
	was_up = !r->reach.down;
	if (was_up) {
		r->reach.down = true;
		r->reach.slow = false;
		r->reach.since = now;
		r->reach.probe_wait = REG_PROBE_FIRST;
		r->reach.next_probe = now + REG_PROBE_FIRST;
	}
	r->reach.err = -EIO;
	/* once it has made us wait, it is not asked by requests until it answers */
	r->reach.slow = r->reach.slow || took >= REG_QUICK_FAILURE;
	pthread_mutex_unlock(&r->lock);
	if (was_up)
		prober_kick(r->client);
	return was_up;
}

void reach_mark_up(struct reg_registry *r)
{
	double since = 0;
	bool was_down;

	pthread_mutex_lock(&r->lock);
	was_down = r->reach.down;
	if (was_down) {
		since = r->reach.since;
		r->reach.down = false;
		r->reach.slow = false;
	}
	pthread_mutex_unlock(&r->lock);
	if (was_down)
		log_info("registry '%s': reachable again (after %.0f s)", r->host,
			 mono_now() - since);
}

/* --- the prober ------------------------------------------------------------ */

static bool prober_should_stop(struct reg_client *c)
{
	return cancel_all_requested() || __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE);
}

/* The registry marked down whose probe is due first (borrowed), with its
 * time in *due; NULL when none is marked.  @head: the client's list as it
 * was read under its lock (entries are never removed, and a registry's
 * next never changes once it is in the list). */
static struct reg_registry *prober_next(struct reg_registry *head, double *due)
{
	struct reg_registry *best = NULL;

	for (struct reg_registry *r = head; r; r = r->next) {
		pthread_mutex_lock(&r->lock);
		if (r->reach.down && (!best || r->reach.next_probe < *due)) {
			best = r;
			*due = r->reach.next_probe;
		}
		pthread_mutex_unlock(&r->lock);
	}
	return best;
}

/* Ask @r once; it is up again, or its next probe waits twice as long. */
static void prober_try(struct reg_registry *r)
{
	char why[CURL_ERROR_SIZE];
	double wait;
	int ret = route_probe(r, why, sizeof(why));

	if (ret == 0) {
		reach_mark_up(r);
		return;
	}
	pthread_mutex_lock(&r->lock);
	wait = r->reach.probe_wait * 2 > REG_PROBE_MAX ? REG_PROBE_MAX : r->reach.probe_wait * 2;
	r->reach.probe_wait = wait;
	r->reach.next_probe = mono_now() + wait;
	pthread_mutex_unlock(&r->lock);
	if (!http_call_off(ret))
		log_debug("registry '%s': still unreachable (%s); asked again in %.0f s", r->host,
			  why, wait);
}

static void *prober_main(void *arg)
{
	struct reg_client *c = arg;

	thread_name_set("regfs-probe");
	while (!prober_should_stop(c)) {
		struct reg_registry *head, *r;
		uint64_t gen;
		double due = 0, nap;

		pthread_mutex_lock(&c->lock);
		gen = c->prober_gen;
		head = c->registries;
		pthread_mutex_unlock(&c->lock);
		r = prober_next(head, &due);
		if (!r) {
			/* nothing left to ask, unless a host went down meanwhile */
			pthread_mutex_lock(&c->lock);
			if (c->prober_gen == gen) {
				c->prober_running = false;
				pthread_mutex_unlock(&c->lock);
				return NULL;
			}
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		nap = due - mono_now();
		if (nap <= 0)
			prober_try(r);
		else /* a slice at most: a host may go down meanwhile, due sooner */
			cancel_sleep(nap < CANCEL_POLL_MS / 1000.0 ? nap : CANCEL_POLL_MS / 1000.0);
	}
	pthread_mutex_lock(&c->lock);
	c->prober_running = false;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* A host went down: make sure the prober runs. */
static void prober_kick(struct reg_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->prober_gen++;
	if (!c->prober_running && !prober_should_stop(c)) {
		/* the last one has ended (it said so under this lock): reap it */
		if (c->prober_joinable)
			pthread_join(c->prober, NULL);
		c->prober_joinable = false;
		if (pthread_create(&c->prober, NULL, prober_main, c) == 0)
			c->prober_running = c->prober_joinable = true;
		else
			log_warn("no thread to probe unreachable registries: requests will ask "
				 "them again themselves");
	}
	pthread_mutex_unlock(&c->lock);
}

void prober_stop(struct reg_client *c)
{
	pthread_t t;
	bool join;

	pthread_mutex_lock(&c->lock);
	join = c->prober_joinable;
	t = c->prober;
	c->prober_joinable = false;
	pthread_mutex_unlock(&c->lock);
	if (join)
		pthread_join(t, NULL); /* it sees c->stopping within CANCEL_POLL_MS */
}

/* --- rate limits ------------------------------------------------------------ */

/* the text of reg_registry_ratelimit: five values, their keys and the time */
_Static_assert(5 * (REG_RATELIMIT_VALUE_MAX + 16) + 32 <= REG_RATELIMIT_TEXT_MAX,
	       "REG_RATELIMIT_TEXT_MAX holds every value at its longest");

/* @src (or NULL: "") into @dst, printable ASCII only (spaces dropped, so
 * the text stays "key=value ..."), cut at REG_RATELIMIT_VALUE_MAX. */
static void ratelimit_copy(char dst[REG_RATELIMIT_VALUE_MAX + 1], const char *src)
{
	size_t n = 0;

	for (; src && *src && n < REG_RATELIMIT_VALUE_MAX; src++) {
		if (*src == ' ' || *src == '\t')
			continue;
		dst[n++] = *src > ' ' && *src < 0x7f ? *src : '?';
	}
	dst[n] = '\0';
}

void ratelimit_take(struct reg_registry *r, const struct http_call *h)
{
	bool headers = h->rl_limit || h->rl_remaining || h->rl_reset || h->rl_source;
	struct ratelimit *l = &r->ratelimit;

	if (!headers && h->status != 429)
		return;
	pthread_mutex_lock(&r->lock);
	if (headers) {
		ratelimit_copy(l->limit, h->rl_limit);
		ratelimit_copy(l->remaining, h->rl_remaining);
		ratelimit_copy(l->reset, h->rl_reset);
		ratelimit_copy(l->source, h->rl_source);
	}
	/* the Retry-After of the last 429; an answer that is none forgets it */
	ratelimit_copy(l->retry_after, h->status == 429 ? (h->retry_after ? h->retry_after : "?")
						       : NULL);
	l->seen = (double)time(NULL);
	pthread_mutex_unlock(&r->lock);
}

int reg_registry_ratelimit(struct reg_registry *r, char *buf, size_t n)
{
	const struct ratelimit *l = &r->ratelimit;
	char text[REG_RATELIMIT_TEXT_MAX];
	size_t len = 0;

	pthread_mutex_lock(&r->lock);
	if (l->seen > 0) {
		const struct {
			const char *key, *value;
		} parts[] = {
			{"limit", l->limit},   {"remaining", l->remaining},
			{"reset", l->reset},   {"source", l->source},
			{"retry-after", l->retry_after},
		};

		/* five values of REG_RATELIMIT_VALUE_MAX and their keys fit */
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			if (parts[i].value[0])
				len += (size_t)snprintf(text + len, sizeof(text) - len, "%s=%s ",
							parts[i].key, parts[i].value);
		len += (size_t)snprintf(text + len, sizeof(text) - len, "seen=%.0f", l->seen);
	}
	pthread_mutex_unlock(&r->lock);
	if (!len)
		return -ENOENT;
	if (len >= n)
		return -ERANGE;
	memcpy(buf, text, len + 1);
	return 0;
}
