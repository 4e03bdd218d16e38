/*
 * An image's merged filesystem: its layers' indexes, bottom first, laid
 * over each other as an OCI runtime unpacks them.  A layer's entry replaces
 * the same path below it; a non-directory replaces a directory's whole
 * subtree and a directory a non-directory; ".wh.<name>" removes <name>
 * (and what lies below it) from the layers below; ".wh..wh..opq" in a
 * directory hides every child the layers below gave it.  The whiteout
 * markers themselves are not shown.  A directory a layer only implies
 * (LAYER_F_IMPLICIT) does not replace a real one below.
 *
 * Each merged entry names the layer and the entry of that layer's index
 * it comes from, so reads go to that layer's blob.  Like an index, a merge
 * is immutable once made: any number of threads may use one at once.
 */
#ifndef REGFS_LAYER_MERGE_H
#define REGFS_LAYER_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "layer/index.h"

/* Entries of one merged tree: a few layers' worth of LAYER_ENTRIES_MAX. */
#define LAYER_MERGE_ENTRIES_MAX (4u * LAYER_ENTRIES_MAX)

#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_OPAQUE ".wh..wh..opq"

struct layer_merged {
	uint32_t layer;	 /* which of the layers, 0 the bottom */
	uint32_t entry;	 /* in that layer's index */
	uint32_t parent; /* merged entry of the parent directory (0 for the root) */
	uint32_t end;	 /* one past the last merged entry of this one's subtree */
};

struct layer_merge;

/*
 * Merge the @n indexes @layers (bottom first; borrowed: they must outlive
 * the merge).  *@out gets a new merge to free with layer_merge_free().
 * Returns 0, -EINVAL for no layers, -EFBIG past LAYER_MERGE_ENTRIES_MAX,
 * -ENOMEM.
 */
int layer_merge_new(struct layer_index *const *layers, size_t n, struct layer_merge **out);
void layer_merge_free(struct layer_merge *m);

/* Bytes of memory the merge holds (for a cache's cap), its indexes apart. */
size_t layer_merge_memory(const struct layer_merge *m);
/* Merged entries (at least the root, entry 0), sorted as in an index. */
size_t layer_merge_count(const struct layer_merge *m);
/* Merged entry @i (borrowed); its path, and its layer's index and entry. */
const struct layer_merged *layer_merge_entry(const struct layer_merge *m, size_t i);
const char *layer_merge_path(const struct layer_merge *m, size_t i);
struct layer_index *layer_merge_index(const struct layer_merge *m, size_t i);
const struct layer_entry *layer_merge_layer_entry(const struct layer_merge *m, size_t i);

/* As layer_index_find() and the child walk of an index, on the merge. */
size_t layer_merge_find(const struct layer_merge *m, const char *path);
size_t layer_merge_child_first(const struct layer_merge *m, size_t dir);
size_t layer_merge_child_next(const struct layer_merge *m, size_t child);

#endif
