/*
 * Parsers of the response headers that decide how regfs waits and what it
 * splices: Content-Range (whether a resumed download goes on where it
 * stopped) and Retry-After (how long a busy registry asks us to wait).
 * Both take a header value (as http.c captured it: leading and trailing
 * blanks gone, several headers of one name joined with ", ") and do no
 * I/O, so they are unit-tested and fuzzed on their own (tests/fuzz).
 */
#ifndef REGFS_REGISTRY_HEADERS_H
#define REGFS_REGISTRY_HEADERS_H

#include <stdint.h>
#include <time.h>

/* A satisfied byte range (RFC 9110 14.4): bytes @first to @last of a
 * representation @length long (-1: "*", unknown). */
struct reg_content_range {
	int64_t first;
	int64_t last;
	int64_t length;
};

/*
 * Parse a Content-Range value: "bytes FIRST-LAST/LENGTH", LENGTH a number
 * or "*" (unknown); the unit case-insensitive, exactly one space, no signs,
 * no other blanks, nothing after, every number at most INT64_MAX, FIRST <=
 * LAST and LAST < LENGTH.  Anything else is -EINVAL, *out then untouched:
 * the unsatisfied form (a "*" for the range), other units, two values (two
 * Content-Range headers, joined by a comma), trailing junk.
 * Returns 0 or -EINVAL.
 */
int reg_content_range_parse(const char *s, struct reg_content_range *out);

/*
 * The seconds a Retry-After value @s asks for, seen at @now (time(NULL)),
 * into *out, clamped to [0, @cap] (@cap >= 0): delta-seconds (digits only,
 * however many: a huge value is @cap), or an HTTP-date in any of the
 * three forms RFC 9110 5.6.7 has recipients accept (IMF-fixdate "Sun, 06
 * Nov 1994 08:49:37 GMT", the obsolete RFC 850 "Sunday, 06-Nov-94
 * 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994"), a date in the
 * past being 0.  -EINVAL for anything else (*out untouched): the caller
 * waits as it would without the header.
 */
int reg_retry_after_parse(const char *s, time_t now, long cap, long *out);

#endif
