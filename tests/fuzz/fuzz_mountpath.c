/* Fuzz mountpath_resolve with a hostile link target: a result is a clean
 * mount-relative path (no empty, "." or ".." component, no leading or
 * trailing '/'), and mountpath_split gives back exactly its components. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mountpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = malloc(size + 1), *out = NULL, **v = NULL;
	size_t n = 0, total = 0;
	int ret;

	if (!target)
		return 0;
	memcpy(target, data, size);
	target[size] = '\0';
	ret = mountpath_resolve("/mnt/regfs", "localhost:5000/onap/py-app/latest", target, &out);
	if (ret < 0) {
		if (out || (ret != -EXDEV && ret != -EINVAL && ret != -ENOMEM))
			abort();
		goto done;
	}
	if (!out || out[0] == '/' || (out[0] && out[strlen(out) - 1] == '/') || strstr(out, "//"))
		abort();
	if (mountpath_split(out, &v, &n) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (!v[i][0] || strcmp(v[i], ".") == 0 || strcmp(v[i], "..") == 0 || strchr(v[i], '/'))
			abort();
		total += strlen(v[i]) + (i ? 1 : 0);
	}
	if (total != strlen(out))
		abort();
	mountpath_free_parts(v, n);
done:
	free(out);
	free(target);
	return 0;
}
