/* Fuzz reg_wwwauth_parse: results must respect the documented limits and
 * lower-casing, and lookups must find what was parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/wwwauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_challenges c;
	char *h = malloc(size + 1);

	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	if (reg_wwwauth_parse(h, &c) < 0) {
		if (c.n || c.v)
			abort();
		goto out;
	}
	if (c.n == 0 || c.n > 16)
		abort();
	for (size_t i = 0; i < c.n; i++) {
		const struct reg_challenge *ch = &c.v[i];

		if (!ch->scheme[0] || ch->n_params > 32)
			abort();
		for (const char *q = ch->scheme; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				abort();
		if (!reg_challenges_find(&c, ch->scheme))
			abort();
		for (size_t k = 0; k < ch->n_params; k++) {
			if (!ch->params[k].name || !ch->params[k].value)
				abort();
			if (reg_challenge_param(ch, ch->params[k].name) != ch->params[k].value)
				abort(); /* names are unique within a challenge */
		}
	}
	reg_challenges_release(&c);
out:
	free(h);
	return 0;
}
