/* Fuzz reg_config_platform and reg_platform_string on image configs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_platform p;
	char *s;

	if (reg_config_platform((const char *)data, size, &p) < 0) {
		if (p.os || p.architecture || p.variant || p.os_version || p.os_features)
			abort();
		return 0;
	}
	s = reg_platform_string(&p);
	if (!s || !strchr(s, '/'))
		abort();
	free(s);
	for (size_t i = 0; i < p.n_os_features; i++)
		if (!p.os_features[i])
			abort();
	reg_platform_release(&p);
	return 0;
}
