/* A pool of threads for work that waits: see pool.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/pool.h"
#include "common/thread.h"

/* How long a thread with nothing to do stays. */
#define POOL_IDLE_SECONDS 10

struct pool_work {
	pool_fn fn;
	void *arg;
	struct pool_work *next;
};

struct pool {
	pthread_mutex_t lock;     /* protects everything below */
	pthread_cond_t work_came; /* signalled for each piece of queued work */
	pthread_cond_t all_ended; /* broadcast when the last thread ends */
	struct pool_work *head, *tail;
	unsigned threads, idle, queued, max_threads;
	bool closing;
	pthread_attr_t attr; /* detached, with the stack size asked for */
};

/* The next piece of work, waiting up to POOL_IDLE_SECONDS for one; NULL
 * when the thread should end.  Called and returns with p->lock held. */
static struct pool_work *next_work_locked(struct pool *p)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += POOL_IDLE_SECONDS;
	while (!p->head && !p->closing) {
		int ret;

		p->idle++;
		ret = pthread_cond_timedwait(&p->work_came, &p->lock, &until);
		p->idle--;
		if (ret == ETIMEDOUT && !p->head)
			return NULL;
	}
	struct pool_work *w = p->head;

	if (w) {
		p->queued--;
		p->head = w->next;
		if (!p->head)
			p->tail = NULL;
	}
	return w;
}

static void *pool_thread(void *arg)
{
	struct pool *p = arg;
	struct pool_work *w;

	thread_name_set("regfs-wait");
	pthread_mutex_lock(&p->lock);
	while ((w = next_work_locked(p))) {
		pthread_mutex_unlock(&p->lock);
		w->fn(w->arg);
		free(w);
		pthread_mutex_lock(&p->lock);
	}
	if (--p->threads == 0)
		pthread_cond_broadcast(&p->all_ended);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pool_new(unsigned max_threads, size_t stack_bytes, struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->work_came, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->all_ended, NULL);
	p->max_threads = max_threads ? max_threads : 1;
	pthread_attr_init(&p->attr);
	pthread_attr_setdetachstate(&p->attr, PTHREAD_CREATE_DETACHED);
	if (stack_bytes)
		pthread_attr_setstacksize(&p->attr, stack_bytes);
	*out = p;
	return 0;
}

int pool_submit(struct pool *p, pool_fn fn, void *arg)
{
	struct pool_work *w = malloc(sizeof(*w));
	pthread_t t;
	int ret = 0;

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	w->next = NULL;
	pthread_mutex_lock(&p->lock);
	/* a thread for it unless an idle one is left over for it: work must
	 * not queue behind work that waits while a thread could be had */
	if (p->queued >= p->idle && p->threads < p->max_threads) {
		ret = -pthread_create(&t, &p->attr, pool_thread, p);
		if (ret == 0)
			p->threads++;
		else if (p->threads > 0)
			ret = 0; /* the running ones will get to it */
	}
	if (ret == 0) {
		if (p->tail)
			p->tail->next = w;
		else
			p->head = w;
		p->tail = w;
		p->queued++;
		pthread_cond_signal(&p->work_came);
	}
	pthread_mutex_unlock(&p->lock);
	if (ret < 0)
		free(w);
	return ret;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->work_came);
	while (p->threads > 0)
		pthread_cond_wait(&p->all_ended, &p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_attr_destroy(&p->attr);
	pthread_cond_destroy(&p->all_ended);
	pthread_cond_destroy(&p->work_came);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
