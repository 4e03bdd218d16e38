/*
 * Unit tests for registry/headers.c: Content-Range as a resumed download
 * meets it (RFC 9110 examples, what registries send, and the malformed,
 * duplicated and overflowing forms a splice must refuse), and Retry-After
 * in seconds, in each HTTP-date form, past, huge and broken.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "registry/headers.h"

#include "check.h"

struct range_case {
	const char *value;
	int ret;
	int64_t first, last, length;
};

static const struct range_case range_cases[] = {
	{"bytes 0-499/1234", 0, 0, 499, 1234},
	{"bytes 500-999/1234", 0, 500, 999, 1234},
	{"bytes 734-1233/1234", 0, 734, 1233, 1234},
	{"bytes 42-1233/*", 0, 42, 1233, -1},
	{"BYTES 1-1/2", 0, 1, 1, 2},
	{"Bytes 0-0/1", 0, 0, 0, 1},
	{"bytes 9223372036854775806-9223372036854775806/9223372036854775807", 0,
	 INT64_MAX - 1, INT64_MAX - 1, INT64_MAX},
	/* overflow */
	{"bytes 9223372036854775808-9223372036854775809/*", -EINVAL, 0, 0, 0},
	{"bytes 0-1/99999999999999999999999", -EINVAL, 0, 0, 0},
	/* the unsatisfied form, other units, no unit */
	{"bytes */1234", -EINVAL, 0, 0, 0},
	{"items 0-1/2", -EINVAL, 0, 0, 0},
	{"0-499/1234", -EINVAL, 0, 0, 0},
	{"bytes=0-499/1234", -EINVAL, 0, 0, 0},
	/* blanks, signs, missing parts, junk */
	{"bytes  0-499/1234", -EINVAL, 0, 0, 0},
	{"bytes 0 -499/1234", -EINVAL, 0, 0, 0},
	{"bytes 0-499 /1234", -EINVAL, 0, 0, 0},
	{"bytes 0-499/1234 ", -EINVAL, 0, 0, 0},
	{"bytes -5-499/1234", -EINVAL, 0, 0, 0},
	{"bytes +5-499/1234", -EINVAL, 0, 0, 0},
	{"bytes 5-/1234", -EINVAL, 0, 0, 0},
	{"bytes 5-499", -EINVAL, 0, 0, 0},
	{"bytes 5-499/", -EINVAL, 0, 0, 0},
	{"bytes 0x10-499/1234", -EINVAL, 0, 0, 0},
	{"bytes 5-499/1234x", -EINVAL, 0, 0, 0},
	{"bytes 5-499/**", -EINVAL, 0, 0, 0},
	{"", -EINVAL, 0, 0, 0},
	/* inverted or past the end */
	{"bytes 500-499/1234", -EINVAL, 0, 0, 0},
	{"bytes 0-1234/1234", -EINVAL, 0, 0, 0},
	/* two Content-Range headers, as http.c joins them */
	{"bytes 0-499/1234, bytes 500-999/1234", -EINVAL, 0, 0, 0},
	{"bytes 0-499/1234, bytes 0-499/1234", -EINVAL, 0, 0, 0},
};

static void test_content_range(void)
{
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];
		struct reg_content_range r = {-7, -7, -7};
		int ret = reg_content_range_parse(c->value, &r);

		CHECK(ret == c->ret, "'%s': ret %d, want %d", c->value, ret, c->ret);
		if (c->ret == 0)
			CHECK(r.first == c->first && r.last == c->last && r.length == c->length,
			      "'%s': %lld-%lld/%lld", c->value, (long long)r.first,
			      (long long)r.last, (long long)r.length);
		else
			CHECK(r.first == -7 && r.last == -7 && r.length == -7,
			      "'%s': *out written on failure", c->value);
	}
	CHECK(reg_content_range_parse(NULL, &(struct reg_content_range){0}) == -EINVAL);
}

/* 1994-11-06 08:49:37 UTC, the RFC's example */
#define RFC_DATE ((time_t)784111777)

struct retry_case {
	const char *value;
	time_t now;
	long cap;
	int ret;
	long wait;
};

static const struct retry_case retry_cases[] = {
	{"3", 0, 60, 0, 3},
	{"0", 0, 60, 0, 0},
	{"60", 0, 60, 0, 60},
	{"61", 0, 60, 0, 60},
	{"99999", 0, 60, 0, 60},
	{"0000000000000000000000000000000000000000000000003", 0, 60, 0, 3},
	{"99999999999999999999999999999999999999", 0, 5, 0, 5},
	{"3", 0, 0, 0, 0},
	/* the three date forms, seen a little before */
	{"Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE - 3, 60, 0, 3},
	{"Sunday, 06-Nov-94 08:49:37 GMT", RFC_DATE - 3, 60, 0, 3},
	{"Sun Nov  6 08:49:37 1994", RFC_DATE - 3, 60, 0, 3},
	/* past, now, far ahead */
	{"Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE + 3600, 60, 0, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE, 60, 0, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT", 0, 60, 0, 60},
	{"Fri, 31 Dec 9999 23:59:59 GMT", RFC_DATE, 60, 0, 60},
	{"Thu, 01 Jan 1970 00:00:00 GMT", RFC_DATE, 60, 0, 0},
	/* a leap second is a second early */
	{"Sat, 31 Dec 2016 23:59:60 GMT", 1483228799 - 10, 60, 0, 10},
	/* not seconds, not a date */
	{"", 0, 60, -EINVAL, 0},
	{"-3", 0, 60, -EINVAL, 0},
	{"+3", 0, 60, -EINVAL, 0},
	{" 3", 0, 60, -EINVAL, 0},
	{"3 ", 0, 60, -EINVAL, 0},
	{"3.5", 0, 60, -EINVAL, 0},
	{"3, 4", 0, 60, -EINVAL, 0},
	{"soon", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 1994 08:49:37 UTC", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT ", 0, 60, -EINVAL, 0},
	{"sun, 06 nov 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 6 Nov 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 94 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 1994 8:49:37 GMT", 0, 60, -EINVAL, 0},
	/* fields out of range, a day that does not exist, the wrong day name */
	{"Sun, 06 Nov 1994 24:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 1994 08:60:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 1994 08:49:61 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 00 Nov 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Tue, 31 Feb 1995 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Mon, 06 Nov 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Nov 0000 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sun, 06 Xyz 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
	/* asctime with its day not padded, RFC 850 with a long day name wrong */
	{"Sun Nov 6 08:49:37 1994", 0, 60, -EINVAL, 0},
	{"Sun, 06-Nov-94 08:49:37 GMT", 0, 60, -EINVAL, 0},
	{"Sunday, 06 Nov 1994 08:49:37 GMT", 0, 60, -EINVAL, 0},
};

static void test_retry_after(void)
{
	for (size_t i = 0; i < sizeof(retry_cases) / sizeof(retry_cases[0]); i++) {
		const struct retry_case *c = &retry_cases[i];
		long wait = -7;
		int ret = reg_retry_after_parse(c->value, c->now, c->cap, &wait);

		CHECK(ret == c->ret, "'%s': ret %d, want %d", c->value, ret, c->ret);
		if (c->ret == 0)
			CHECK(wait == c->wait, "'%s' at %lld: %ld s, want %ld", c->value,
			      (long long)c->now, wait, c->wait);
		else
			CHECK(wait == -7, "'%s': *out written on failure", c->value);
	}
	CHECK(reg_retry_after_parse(NULL, 0, 60, &(long){0}) == -EINVAL);
	CHECK(reg_retry_after_parse("3", 0, -1, &(long){0}) == -EINVAL);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"content_range", test_content_range},
		{"retry_after", test_retry_after},
	};

	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
