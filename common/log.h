/*
 * Logging for every room.  One line per event, lower case, the subject in
 * quotes, no trailing period.  Thread-safe: each call writes one whole line.
 *
 * Secrets never go through here: callers log host names, repositories and
 * HTTP statuses, never headers or bodies.
 */
#ifndef REGFS_COMMON_LOG_H
#define REGFS_COMMON_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Send log lines to @fp (borrowed; stderr when NULL) at or below @level.
 * Not thread-safe: call before the threads that log start. */
void log_setup(FILE *fp, enum log_level level);
/* Send them to syslog instead (facility daemon, ident "regfs", with the
 * pid; the level as its priority), for a daemon whose stderr is closed. */
void log_setup_syslog(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_DEBUG)                                              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

/*
 * A rate limit for lines anyone can cause (a name looked up at the root):
 * at most @burst lines per @interval seconds pass; the others are held
 * back and counted, and the next that passes learns how many were.
 */
struct log_ratelimit {
	pthread_mutex_t lock; /* protects the fields below; a leaf */
	unsigned burst;
	double interval;
	double window_start; /* mono_now() of the current window */
	unsigned passed;     /* lines let through in this window */
	unsigned dropped;    /* lines held back since the last one let through */
};
#define LOG_RATELIMIT_INIT(burst_, interval_)                                                      \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .burst = (burst_), .interval = (interval_) }
/* May one more line go out now?  When it may, *dropped gets how many were
 * held back since the last one did (and that count starts again). */
bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned *dropped);

/* An invariant was violated: this is a bug in regfs, not an error to report. */
#define BUG(msg)                                                                                   \
	do {                                                                                       \
		log_msg(LOG_LVL_ERR, "BUG at %s:%d: %s", __FILE__, __LINE__, (msg));               \
		abort();                                                                           \
	} while (0)

#endif
