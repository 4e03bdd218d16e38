/* Fuzz reg_content_range_parse: an accepted value is the one canonical
 * form (printing what was parsed gives the input back, but for the unit's
 * case and leading zeros), so nothing the parser lets through can mean two
 * things; and FIRST <= LAST < LENGTH always holds. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* @s with "bytes" in lower case and the leading zeros of every number
 * dropped, into @out (@n bytes; @s fits, being what the parser accepted). */
static void normalise(const char *s, char *out, size_t n)
{
	bool leading = false; /* in the zeros a number starts with */
	size_t k = 0;

	for (size_t i = 0; s[i] && k + 1 < n; i++) {
		char c = s[i];

		if (i < 5 && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (digit(c) && (i == 0 || !digit(s[i - 1])))
			leading = true;
		if (leading && c == '0' && digit(s[i + 1]))
			continue;
		leading = false;
		out[k++] = c;
	}
	out[k] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_content_range r = {-7, -7, -7}, back;
	char *s = malloc(size + 1), *norm = malloc(size + 1), again[128];

	if (!s || !norm)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	if (reg_content_range_parse(s, &r) < 0) {
		if (r.first != -7 || r.last != -7 || r.length != -7)
			abort(); /* written on failure */
		goto out;
	}
	if (r.first < 0 || r.first > r.last || r.length < -1 || (r.length >= 0 && r.last >= r.length))
		abort();
	if (r.length >= 0)
		snprintf(again, sizeof(again), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, r.first,
			 r.last, r.length);
	else
		snprintf(again, sizeof(again), "bytes %" PRId64 "-%" PRId64 "/*", r.first, r.last);
	/* the canonical form parses to the same range, and is the input but
	 * for the unit's case and leading zeros */
	if (reg_content_range_parse(again, &back) < 0 || back.first != r.first ||
	    back.last != r.last || back.length != r.length)
		abort();
	normalise(s, norm, size + 1);
	if (strcmp(norm, again) != 0)
		abort();
out:
	free(s);
	free(norm);
	return 0;
}
