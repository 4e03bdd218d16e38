/* Fuzz layer_index_load with hostile index bytes: it returns 0 or -EINVAL
 * (or -ENOMEM), and an index it accepts is one every accessor can walk:
 * each path is found where it stands, each directory's children list
 * ends, each xattr and link target is inside the index, and it saves to
 * bytes that load again.
 *
 * A random change is nearly always caught by the checksum, so each input
 * is also loaded with its checksum made right, to reach the tables behind
 * it.  The offsets are those of the stored form (layer/index.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/digest.h"
#include "layer/index.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SUM_AT (8 + 4 + (DIGEST_STR_LEN + 1) + 4 * 4 + 3 * 8)
#define BODY_AT (SUM_AT + DIGEST_STR_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(struct layer_index *ix)
{
	size_t n = layer_index_count(ix);
	struct buf saved = BUF_INIT(1u << 30);
	struct layer_index *again = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct layer_entry *e = layer_index_entry(ix, i);
		const char *p = layer_entry_path(ix, e), *name;
		const void *value;
		size_t vlen, kids = 0;

		if (layer_index_find(ix, p) != i || strlen(layer_entry_link(ix, e)) != e->link_len)
			abort();
		for (size_t k = 0; k < e->xattr_count; k++) {
			layer_entry_xattr(ix, e, k, &name, &value, &vlen);
			if (!*name || (vlen && !value))
				abort();
		}
		for (size_t c = layer_index_child_first(ix, i); c != LAYER_NONE;
		     c = layer_index_child_next(ix, c)) {
			if (c <= i || c >= n || layer_index_entry(ix, c)->parent != i || ++kids > n)
				abort();
		}
	}
	if (layer_index_save(ix, &saved) < 0)
		goto out;
	if (layer_index_load(saved.data, saved.len, DIGEST, &again) != 0)
		abort();
out:
	layer_index_free(again);
	buf_release(&saved, 0);
}

static void load(const uint8_t *data, size_t size)
{
	struct layer_index *ix = NULL;
	int ret = layer_index_load(data, size, DIGEST, &ix);

	if (ret == 0)
		walk(ix);
	else if (ix || (ret != -EINVAL && ret != -ENOMEM))
		abort();
	layer_index_free(ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest_ctx c;
	uint8_t *fixed;
	char sum[DIGEST_STR_LEN + 1];

	load(data, size);
	if (size < BODY_AT || !(fixed = malloc(size)))
		return 0;
	memcpy(fixed, data, size);
	if (digest_ctx_init(&c) == 0) {
		digest_ctx_update(&c, fixed, SUM_AT);
		digest_ctx_update(&c, fixed + BODY_AT, size - BODY_AT);
		digest_ctx_final(&c, sum);
		memcpy(fixed + SUM_AT, sum, DIGEST_STR_LEN);
		load(fixed, size);
	}
	free(fixed);
	return 0;
}
