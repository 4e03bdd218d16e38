/* Fuzz reg_retry_after_parse: the wait is always within [0, cap], for
 * any clock; digits alone are always accepted; and a value accepted at one
 * time is accepted at any other (only a date's distance changes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const time_t nows[] = {0, 784111777, 1767225600, 253402300799};
	static const long caps[] = {0, 5, 60, 86400};
	char *s;
	int first = 1;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	/* the first byte picks the cap; the rest is the value */
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		long cap = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))], wait = -7;
		int ret = reg_retry_after_parse(s, nows[i], cap, &wait);

		if (ret == 0 && (wait < 0 || wait > cap))
			abort();
		if (ret < 0 && wait != -7)
			abort();
		if (i == 0)
			first = ret;
		else if (ret != first)
			abort();
	}
	if (s[0] && strspn(s, "0123456789") == strlen(s) && first != 0)
		abort();
	free(s);
	return 0;
}
