/*
 * A layer blob's index: its file table and the decompressor checkpoints
 * that let one file be read without decompressing the layer from its start.
 *
 * A layer is a tar, plain or compressed with gzip or zstd.  Building the
 * index decompresses it once, hands the tar stream to libarchive for its
 * headers, and records for every entry its normalized path, type, mode,
 * owners, times, link target, xattrs and, for a regular file, where its
 * bytes start in the uncompressed stream.  Along the way it keeps a
 * checkpoint every LAYER_CHECKPOINT_SPAN bytes of output: for gzip the
 * deflate state at a block boundary (bit offset, compressed offset and the
 * 32 KiB window: zlib's zran technique); for zstd a frame boundary, when
 * the blob has several frames (a blob of one frame has no checkpoint but
 * its start, so a read decompresses from there); a plain tar needs none.
 *
 * The module does no I/O but on the descriptor it is given (pread only, so
 * the descriptor's offset is left alone) and knows neither FUSE, HTTP nor
 * the cache's layout: the caller verifies the blob, stores the bytes of
 * layer_index_save() next to it and gives them back to layer_index_load(),
 * which trusts nothing it reads (a checksum, then every field bounds-checked)
 * and fails so the caller rebuilds.
 *
 * An index is immutable once built or loaded: any number of threads may
 * look up and read through one at the same time.
 */
#ifndef REGFS_LAYER_INDEX_H
#define REGFS_LAYER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;

/* --- limits: what one layer can make the daemon hold ------------------- */

/* Entries of one layer (with the directories its paths imply): Debian's
 * biggest images have ~100k files. */
#define LAYER_ENTRIES_MAX 1000000u
/* Bytes of paths, link targets and xattrs of one layer, all together. */
#define LAYER_NAMES_MAX (256u << 20)
/* One path (after normalization) and its number of components: PATH_MAX,
 * and far more directories deep than any real tree. */
#define LAYER_PATH_MAX 4096u
#define LAYER_DEPTH_MAX 256u
/* One xattr's name and value (Linux's XATTR_NAME_MAX and XATTR_SIZE_MAX). */
#define LAYER_XATTR_NAME_MAX 255u
#define LAYER_XATTR_VALUE_MAX 65536u
/* Uncompressed bytes between two checkpoints: a read decompresses at most
 * this much (plus one deflate block) before its first byte.  Each gzip
 * checkpoint keeps a 32 KiB window, deflated, so the windows take under 1%
 * of the layer's uncompressed size (about 0.25% for text and code). */
#define LAYER_CHECKPOINT_SPAN (4u << 20)
/* Checkpoints one index may hold when loaded: 1 TiB of layer at the span. */
#define LAYER_CHECKPOINTS_MAX (1u << 18)
/* deflate's window, kept at each gzip checkpoint */
#define LAYER_WINDOW 32768u

enum layer_compression {
	LAYER_PLAIN = 0,
	LAYER_GZIP = 1,
	LAYER_ZSTD = 2,
};

enum layer_type {
	LAYER_REG = 1,
	LAYER_DIR,
	LAYER_SYMLINK,
	LAYER_HARDLINK, /* the target's data and metadata, copied in when built */
	LAYER_CHR,
	LAYER_BLK,
	LAYER_FIFO,
};

/* entry flags */
#define LAYER_F_IMPLICIT 0x1	 /* a directory no header named, implied by a path below it */
#define LAYER_F_SPARSE 0x2	 /* a sparse file: listed, but its reads fail with -EIO */
#define LAYER_F_LINK_MISSING 0x4 /* a hardlink to no earlier file: reads fail with -EIO */

#define LAYER_NONE ((size_t)-1)

/* One entry of the file table.  Entries are sorted by path, component by
 * component (as if '/' sorted before every other byte), so a directory's
 * whole subtree follows it contiguously; entry 0 is the root (path ""). */
struct layer_entry {
	uint64_t data_off;   /* regular file or resolved hardlink: first byte in the tar stream */
	uint64_t size;	     /* bytes of data (0 for all but regular files and hardlinks) */
	uint64_t rdev;	     /* character and block devices */
	int64_t mtime;	     /* seconds */
	uint32_t mtime_nsec;
	uint32_t mode;	     /* permission bits with setuid, setgid, sticky (07777) */
	uint32_t uid, gid;
	uint32_t path_off;   /* into the names; NUL-terminated */
	uint32_t path_len;
	uint32_t link_off;   /* symlink target as written, or hardlink target normalized */
	uint32_t link_len;
	uint32_t xattr_first; /* into the xattr table */
	uint32_t xattr_count;
	uint32_t parent;      /* entry of the parent directory (0 for the root itself) */
	uint32_t end;	      /* one past the last entry of this entry's subtree */
	uint8_t type;	      /* enum layer_type */
	uint8_t flags;	      /* LAYER_F_* */
};

struct layer_index;

/*
 * Build the index of the verified layer blob open on @fd (read with pread
 * from offset 0) whose digest is @digest (kept in the index and checked by
 * load).  *@out gets a new index to free with layer_index_free().
 * Entries named "..", or with a ".." component, an empty name or a path
 * past the limits are left out (counted in layer_index_skipped(), and
 * logged); a later entry of the same path replaces the earlier one, as tar
 * extraction does; a child of a non-directory is left out.
 * Returns 0; -EIO for a blob that is not a tar (truncated, corrupt, or a
 * file's size past its end); -EFBIG past a LAYER_*_MAX; -ENOMEM; the
 * -errno of pread.  The reason goes into @why (@n bytes, may be NULL).
 */
int layer_index_build(int fd, const char *digest, struct layer_index **out, char *why, size_t n);

/* A gzip or zstd blob may decompress to LAYER_RATIO_MAX times its size,
 * or LAYER_STREAM_FREE bytes, whichever is more: past that the build stops
 * with -EFBIG ("a decompression bomb").  Real layers stay far under it
 * (text and code compress 3-10 times; a file of zeros 1000 times is what
 * the bound is for). */
#define LAYER_RATIO_MAX 256u
#define LAYER_STREAM_FREE (1ull << 30)

/* How a build reports as it goes (layer_index_build_with). */
struct layer_build_opts {
	/* Called from the building thread about every LAYER_PROGRESS_STEP
	 * bytes of the blob read, and once at its end, with the bytes of the
	 * blob read so far of @total (its size).  A non-zero return (a
	 * -errno: the reader went away) ends the build with that error.  May
	 * be NULL. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *arg;
};
#define LAYER_PROGRESS_STEP (1u << 20)

/* layer_index_build(), reporting through @opts (NULL: as layer_index_build). */
int layer_index_build_with(int fd, const char *digest, const struct layer_build_opts *opts,
			   struct layer_index **out, char *why, size_t n);

void layer_index_free(struct layer_index *ix);

/*
 * Read up to @len bytes of entry @entry's data from byte @off into @buf,
 * from the blob open on @fd (the one the index was built from).  *@got
 * gets the bytes read: fewer than @len only at the file's end (0 at or
 * past it).  Never reads past the entry's size.  Returns 0; -EINVAL for
 * an entry that is not a regular file or hardlink; -EIO for a sparse file,
 * a hardlink whose target is missing, or a blob that does not decompress
 * as it did when indexed; -ENOMEM; the -errno of pread.
 */
int layer_index_read(struct layer_index *ix, int fd, size_t entry, uint64_t off, void *buf,
		     size_t len, size_t *got);

/*
 * A reader keeps its decompressor where its last read stopped, so the next
 * read at or after that point goes on from there (a file read front to
 * back is decompressed once) instead of starting again from a checkpoint.
 * For one thread at a time: one per open file.  layer_reader_new() gives a
 * new reader of @ix from @fd (both borrowed: they must outlive it); 0 or
 * -ENOMEM.  layer_reader_read() is layer_index_read() through it.
 */
struct layer_reader;
int layer_reader_new(struct layer_index *ix, int fd, struct layer_reader **out);
int layer_reader_read(struct layer_reader *r, size_t entry, uint64_t off, void *buf, size_t len,
		      size_t *got);
void layer_reader_free(struct layer_reader *r);

/* Entries in the table (at least 1: the root). */
size_t layer_index_count(const struct layer_index *ix);
/* Entry @i (borrowed, lives as long as the index); @i < count. */
const struct layer_entry *layer_index_entry(const struct layer_index *ix, size_t i);
/* The entry's normalized path ("" for the root) and link target ("" for
 * none): borrowed, NUL-terminated. */
const char *layer_entry_path(const struct layer_index *ix, const struct layer_entry *e);
const char *layer_entry_link(const struct layer_index *ix, const struct layer_entry *e);
/* The entry's @k-th xattr (k < xattr_count): *@name NUL-terminated, *@value
 * of *@size bytes, both borrowed. */
void layer_entry_xattr(const struct layer_index *ix, const struct layer_entry *e, size_t k,
		       const char **name, const void **value, size_t *size);

/* The entry of normalized path @path ("" is the root), or LAYER_NONE. */
size_t layer_index_find(const struct layer_index *ix, const char *path);
/* A directory's first child and a child's next sibling (in path order), or
 * LAYER_NONE when there is none. */
size_t layer_index_child_first(const struct layer_index *ix, size_t dir);
size_t layer_index_child_next(const struct layer_index *ix, size_t child);

/* What the build found: the compression, entries left out, checkpoints,
 * the uncompressed bytes of the tar stream it read. */
enum layer_compression layer_index_compression(const struct layer_index *ix);
size_t layer_index_skipped(const struct layer_index *ix);
size_t layer_index_checkpoints(const struct layer_index *ix);
uint64_t layer_index_stream_size(const struct layer_index *ix);
/* Bytes of memory the index holds (for a cache's cap). */
size_t layer_index_memory(const struct layer_index *ix);
/* Bytes decompressed by reads so far (for tests and statistics). */
uint64_t layer_index_decompressed(const struct layer_index *ix);

/*
 * Normalize the tar path @in into @out (@n bytes): no leading "/" or "./",
 * no empty or "." components, no trailing "/".  "" is the root.  Returns
 * the length, or -EINVAL for an empty name, a ".." component, or a path
 * longer than LAYER_PATH_MAX or deeper than LAYER_DEPTH_MAX (or @n).
 */
int layer_path_normalize(const char *in, char *out, size_t n);

/* Order two paths of @alen and @blen bytes component by component, as the
 * entries are ('/' before every other byte, so a directory's subtree
 * follows it without a gap: "a", "a/b", "a-b").  <0, 0 or >0. */
int layer_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Append the index to @out in its stored form: a header (magic, format
 * version, the blob's digest, the counts, the sha256 of what follows)
 * then the tables.  0, -E2BIG past @out's maximum, or -ENOMEM.
 */
int layer_index_save(const struct layer_index *ix, struct buf *out);
/*
 * Load an index from the @len bytes at @p (borrowed; copied) saved for the
 * blob @digest.  *@out gets a new index.  Returns 0; -EINVAL for bytes
 * that are not a whole, intact index of this format version for @digest
 * (the caller rebuilds it); -ENOMEM.
 */
int layer_index_load(const void *p, size_t len, const char *digest, struct layer_index **out);

#endif
