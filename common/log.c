/*
 * The log sink.  A mutex keeps lines from interleaving; a timestamp and the
 * level lead each line so a log from a long audit can be read afterwards.
 *
 * A daemon in the background has no stderr: unless it was given a log
 * file, its lines go to syslog instead, which stamps them itself.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>
#include <time.h>

#include "common/clock.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* protects log_fp writes */
static FILE *log_fp;
static bool log_syslog; /* lines go to syslog, not log_fp */
static enum log_level log_level = LOG_LVL_INFO;

void log_setup(FILE *fp, enum log_level level)
{
	if (log_syslog)
		closelog();
	log_syslog = false;
	log_fp = fp;
	log_level = level;
}

void log_setup_syslog(enum log_level level)
{
	/* LOG_PID: syslog() reads the pid at each call, so lines logged
	 * after fuse_daemonize() forks carry the daemon's */
	openlog("regfs", LOG_PID, LOG_DAEMON);
	log_syslog = true;
	log_fp = NULL;
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	FILE *fp;

	if (level > log_level)
		return;
	if (log_syslog) {
		/* syslog() writes one datagram per call: lines cannot interleave */
		va_start(ap, fmt);
		vsyslog(priorities[level], fmt, ap);
		va_end(ap);
		return;
	}
	fp = log_fp ? log_fp : stderr;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	fprintf(fp, "%s.%03ldZ regfs %s: ", stamp, ts.tv_nsec / 1000000, names[level]);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fputc('\n', fp);
	fflush(fp);
	pthread_mutex_unlock(&log_lock);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned *dropped)
{
	double now = mono_now();
	bool ok;

	*dropped = 0;
	pthread_mutex_lock(&rl->lock);
	if (rl->passed == 0 || now - rl->window_start >= rl->interval) {
		rl->window_start = now;
		rl->passed = 0;
	}
	ok = rl->passed < rl->burst;
	if (ok) {
		rl->passed++;
		*dropped = rl->dropped;
		rl->dropped = 0;
	} else {
		rl->dropped++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
