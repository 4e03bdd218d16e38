/* Fuzz reg_link_next: a returned target is a non-empty URI reference with
 * no spaces, controls or angle brackets, and a substring of the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1), *next = NULL;

	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	if (reg_link_next(h, &next) < 0) {
		if (next)
			abort();
		goto out;
	}
	if (next) {
		if (!next[0] || !strstr(h, next))
			abort();
		for (const char *q = next; *q; q++)
			if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f || *q == '<' ||
			    *q == '>')
				abort();
	}
out:
	free(next);
	free(h);
	return 0;
}
