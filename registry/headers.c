/*
 * Content-Range and Retry-After, strictly: a value regfs cannot read
 * exactly is refused, never guessed at.  A resumed download spliced at the
 * wrong offset would be caught by the digest only after the whole blob
 * came; a wait read wrong either hammers a busy registry or parks a reader.
 * The contracts are in headers.h.
 */
#include "registry/headers.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* --- small scanners ------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A run of digits at *p into *v, *p moved past it.  false when there is
 * none or it exceeds INT64_MAX. */
static bool scan_int64(const char **p, int64_t *v)
{
	const char *s = *p;
	int64_t n = 0;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		int d = *s - '0';

		if (n > (INT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*v = n;
	*p = s;
	return true;
}

/* Exactly @n digits at *p into *v, *p moved past them. */
static bool scan_fixed(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*v = x;
	*p += n;
	return true;
}

/* The literal @lit at *p (case-sensitive, as the grammar spells dates),
 * *p moved past it. */
static bool scan_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* --- Content-Range ------------------------------------------------------- */

int reg_content_range_parse(const char *s, struct reg_content_range *out)
{
	struct reg_content_range r;
	const char *p = s;

	if (!s || strncasecmp(p, "bytes ", 6) != 0)
		return -EINVAL;
	p += 6;
	if (!scan_int64(&p, &r.first) || *p++ != '-' || !scan_int64(&p, &r.last) || *p++ != '/')
		return -EINVAL;
	if (*p == '*') {
		r.length = -1;
		p++;
	} else if (!scan_int64(&p, &r.length)) {
		return -EINVAL;
	}
	if (*p || r.first > r.last || (r.length >= 0 && r.last >= r.length))
		return -EINVAL;
	*out = r;
	return 0;
}

/* --- Retry-After --------------------------------------------------------- */

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_names_long[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					     "Thursday", "Friday", "Saturday"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* One of the @n names in @names at *p: its index, *p moved past it; or -1. */
static int scan_name(const char **p, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (scan_lit(p, names[i]))
			return i;
	return -1;
}

/* "HH:MM:SS" at *p into @tm. */
static bool scan_clock(const char **p, struct tm *tm)
{
	return scan_fixed(p, 2, &tm->tm_hour) && scan_lit(p, ":") && scan_fixed(p, 2, &tm->tm_min) &&
	       scan_lit(p, ":") && scan_fixed(p, 2, &tm->tm_sec);
}

/* IMF-fixdate after the day name: ", 06 Nov 1994 08:49:37 GMT". */
static bool scan_imf(const char **p, struct tm *tm)
{
	return scan_lit(p, ", ") && scan_fixed(p, 2, &tm->tm_mday) && scan_lit(p, " ") &&
	       (tm->tm_mon = scan_name(p, month_names, 12)) >= 0 && scan_lit(p, " ") &&
	       scan_fixed(p, 4, &tm->tm_year) && scan_lit(p, " ") && scan_clock(p, tm) &&
	       scan_lit(p, " GMT");
}

/* RFC 850 after the long day name: ", 06-Nov-94 08:49:37 GMT".  A
 * two-digit year is taken in 1970-2069 (RFC 9110 says: within 50 years
 * ahead of now; for a wait that only has to be right about the near future
 * this is close enough). */
static bool scan_rfc850(const char **p, struct tm *tm)
{
	if (!(scan_lit(p, ", ") && scan_fixed(p, 2, &tm->tm_mday) && scan_lit(p, "-") &&
	      (tm->tm_mon = scan_name(p, month_names, 12)) >= 0 && scan_lit(p, "-") &&
	      scan_fixed(p, 2, &tm->tm_year) && scan_lit(p, " ") && scan_clock(p, tm) &&
	      scan_lit(p, " GMT")))
		return false;
	tm->tm_year += tm->tm_year < 70 ? 2000 : 1900;
	return true;
}

/* asctime after the day name: " Nov  6 08:49:37 1994" (the day padded with
 * a space). */
static bool scan_asctime(const char **p, struct tm *tm)
{
	if (!(scan_lit(p, " ") && (tm->tm_mon = scan_name(p, month_names, 12)) >= 0 &&
	      scan_lit(p, " ")))
		return false;
	if (**p == ' ') {
		(*p)++;
		if (!scan_fixed(p, 1, &tm->tm_mday))
			return false;
	} else if (!scan_fixed(p, 2, &tm->tm_mday)) {
		return false;
	}
	return scan_lit(p, " ") && scan_clock(p, tm) && scan_lit(p, " ") &&
	       scan_fixed(p, 4, &tm->tm_year);
}

/* An HTTP-date @s as seconds since the epoch into *t.  The fields must
 * name a real moment (no 31 Feb, no 25:00): timegm normalises such
 * values, and what it gives back must be what was written. */
static bool http_date(const char *s, time_t *t)
{
	struct tm tm = {0}, back;
	const char *p = s;
	int wday;
	bool ok;

	if ((wday = scan_name(&p, day_names_long, 7)) >= 0)
		ok = scan_rfc850(&p, &tm);
	else if ((wday = scan_name(&p, day_names, 7)) >= 0)
		ok = *p == ',' ? scan_imf(&p, &tm) : scan_asctime(&p, &tm);
	else
		ok = false;
	if (!ok || *p || tm.tm_year < 1900)
		return false;
	tm.tm_year -= 1900;
	if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return false;
	if (tm.tm_sec == 60)
		tm.tm_sec = 59; /* a leap second: a second early will do */
	*t = timegm(&tm);
	if (*t == (time_t)-1 || !gmtime_r(t, &back))
		return false;
	/* the day name is a check too: a date with the wrong one is not what
	 * its sender meant */
	return back.tm_mday == tm.tm_mday && back.tm_mon == tm.tm_mon && back.tm_wday == wday;
}

int reg_retry_after_parse(const char *s, time_t now, long cap, long *out)
{
	const char *p = s;
	int64_t secs;
	time_t when;

	if (!s || cap < 0)
		return -EINVAL;
	if (is_digit(*p)) {
		/* as many digits as it likes: what does not fit is over the cap */
		while (is_digit(*p))
			p++;
		if (*p)
			return -EINVAL;
		p = s;
		*out = scan_int64(&p, &secs) && secs < cap ? (long)secs : cap;
		return 0;
	}
	if (!http_date(s, &when))
		return -EINVAL;
	if (when <= now)
		*out = 0;
	else
		*out = (double)when - (double)now < (double)cap ? (long)(when - now) : cap;
	return 0;
}
