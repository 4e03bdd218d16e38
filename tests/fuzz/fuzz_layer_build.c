/* Fuzz layer_index_build with hostile blobs (tars, gzip and zstd streams):
 * it returns 0 or a -errno with no index, and an index it builds reads
 * every file back within its size, saves, and loads again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "layer/index.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layer_index *ix = NULL, *again = NULL;
	struct buf saved = BUF_INIT(1u << 30);
	unsigned char chunk[4096];
	char why[256];
	int fd = memfd_create("blob", 0), ret;
	static bool quiet;

	if (!quiet) { /* entries left out are logged at info: not news here */
		log_setup(NULL, LOG_LVL_WARN);
		quiet = true;
	}

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		goto out;
	ret = layer_index_build(fd, DIGEST, &ix, why, sizeof(why));
	if (ret < 0) {
		if (ix || (ret != -EIO && ret != -EFBIG && ret != -ENOMEM))
			abort();
		goto out;
	}
	for (size_t i = 0; i < layer_index_count(ix); i++) {
		const struct layer_entry *e = layer_index_entry(ix, i);
		size_t got;

		if (e->type != LAYER_REG && e->type != LAYER_HARDLINK)
			continue;
		/* the first and the last bytes: never more than the size */
		ret = layer_index_read(ix, fd, i, 0, chunk, sizeof(chunk), &got);
		if (ret == 0 && got > e->size)
			abort();
		if (e->size > sizeof(chunk)) {
			ret = layer_index_read(ix, fd, i, e->size - 10, chunk, sizeof(chunk), &got);
			if (ret == 0 && got != 10)
				abort();
		}
	}
	if (layer_index_save(ix, &saved) == 0 &&
	    layer_index_load(saved.data, saved.len, DIGEST, &again) != 0)
		abort();
out:
	layer_index_free(again);
	layer_index_free(ix);
	buf_release(&saved, 0);
	if (fd >= 0)
		close(fd);
	return 0;
}
