/*
 * The filesystem room: nodes of the mounted tree and what each one shows.
 *
 *   node.c  the node table: stable inode numbers, lookup counts, lifetimes
 *   tree.c  what a node is and holds: children, file contents, attributes,
 *           resolved through the registry client and the caches
 *   ops.c   the FUSE low-level operations, each a thin wrapper that replies
 *           once around a helper returning 0 or -errno
 *   main.c  options, wiring of the rooms, the session loop
 *
 * Where to find the code for a path of the tree:
 *   MOUNT/                          NODE_ROOT       tree_list_root
 *   MOUNT/host/                     NODE_REGISTRY   tree_lookup_registry
 *   MOUNT/host/ns/repo/             NODE_REPO       tree_lookup_repo
 *   MOUNT/host/ns/repo/tag/         NODE_MANIFEST   tree_lookup_manifest
 *   .../tag/linux-amd64/            NODE_MANIFEST   (an index entry)
 *   .../tag/@sha256:.../            NODE_MANIFEST   (by digest)
 *   .../tag/manifest.json etc.      NODE_FILE       tree_file_content
 *   .../tag/layers/                 NODE_LAYERS
 *   .../tag/layers/00-sha256:...    NODE_LAYER      tree_layer_open
 */
#ifndef REGFS_FS_H
#define REGFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/digest.h"

struct reg_client;
struct reg_registry;
struct reg_manifest;
struct cache_store;
struct cache_mem;

enum node_kind {
	NODE_ROOT,
	NODE_REGISTRY, /* a registry host */
	NODE_REPO,     /* a namespace, a repository, or both ("a/b" with "a/b/c") */
	NODE_MANIFEST, /* a tag, an @sha256: directory, or an index entry */
	NODE_LAYERS,   /* layers/ of an image */
	NODE_FILE,     /* manifest.json, digest, inspect.json, config.json, platform */
	NODE_LAYER,    /* one layer blob */
};

enum file_kind { FILE_MANIFEST, FILE_DIGEST, FILE_INSPECT, FILE_CONFIG, FILE_PLATFORM };

struct node {
	uint64_t ino;
	struct node *parent; /* holds a reference; NULL for the root */
	char *name;          /* owned */
	enum node_kind kind;
	bool immutable;      /* what it shows is fixed by a digest on its path */

	struct reg_registry *reg; /* borrowed from the client; NULL for the root */
	char *repo;  /* owned: NODE_REPO its path; NODE_MANIFEST and below the repository */
	char *ref;   /* owned: NODE_MANIFEST at repo level: the tag or digest; NULL for entries */
	enum file_kind file;                   /* NODE_FILE */
	char layer_digest[DIGEST_STR_LEN + 1]; /* NODE_LAYER */
	int64_t layer_size;                    /* NODE_LAYER */

	/* protected by the node table lock */
	uint64_t refs;    /* kernel lookups + children + open handles */
	uint64_t nlookup; /* kernel lookups alone */
	struct node *hash_next;
};

struct fs_config {
	char **registries; /* NULL-terminated hosts shown at the root */
	double ttl;        /* seconds tags and listings are trusted */
};

struct fs {
	struct fs_config cfg;
	struct reg_client *client;  /* borrowed */
	struct cache_store *store;  /* borrowed */
	struct cache_mem *mem;      /* borrowed */
};

/* --- node.c -------------------------------------------------------------- */

int node_table_init(void);
void node_table_release(void);
struct node *node_root(void);
/* The node for @ino, borrowed (the kernel keeps it alive while it uses it),
 * or NULL. */
struct node *node_get(uint64_t ino);
/* The inode number a child called @name of @parent gets, when no other node
 * took it first: stable across mounts. */
uint64_t node_ino_for(const struct node *parent, const char *name);
/*
 * Find or add @proto's child of @parent (takes ownership of @proto, which
 * must have parent, name and kind set; it is freed if an equal node exists).
 * Counts one kernel lookup.  Returns the node, borrowed.
 */
struct node *node_publish(struct node *proto);
/* New unpublished node, or NULL. */
struct node *node_new(struct node *parent, const char *name, enum node_kind kind);
void node_free(struct node *n); /* only for unpublished nodes */
/* Drop @nlookup kernel lookups. */
void node_forget(struct node *n, uint64_t nlookup);
/* Hold/put a node for an open handle. */
void node_hold(struct node *n);
void node_put(struct node *n);

/* --- tree.c -------------------------------------------------------------- */

struct tree_entry {
	char *name; /* owned */
	mode_t type; /* S_IFDIR or S_IFREG */
};

struct tree_listing {
	struct tree_entry *v; /* owned array */
	size_t n;
};
void tree_listing_release(struct tree_listing *l);

/* Resolve @name in @parent into a new unpublished node (*out).  0 or -errno. */
int tree_lookup(struct fs *fs, struct node *parent, const char *name, struct node **out);
/* The children of a directory node.  0 or -errno. */
int tree_list(struct fs *fs, struct node *n, struct tree_listing *out);
/* Attributes of @n.  0 or -errno. */
int tree_stat(struct fs *fs, struct node *n, struct stat *st);
/* The whole content of a NODE_FILE (new buffer, caller frees).  0 or -errno. */
int tree_file_content(struct fs *fs, struct node *n, char **bytes, size_t *len);
/* Make a layer present and verified in the store; returns an fd to it or
 * -errno. */
int tree_layer_open(struct fs *fs, struct node *n);
/* Extended attribute @name of @n into a new string (*val), or -ENODATA. */
int tree_xattr(struct fs *fs, struct node *n, const char *name, char **val, size_t *len);
/* NUL-separated list of @n's attribute names (new buffer). */
int tree_xattr_list(struct fs *fs, struct node *n, char **names, size_t *len);

#endif
