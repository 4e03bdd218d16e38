/*
 * The node table.  Every node the kernel knows about lives here, keyed by
 * inode number.  Inode numbers are a hash of the parent's number, the name
 * and the node's class (what kind of file the kernel sees it as), so the
 * same path gets the same number in every mount (audits that compare
 * `ls -i` or `find -inum` across runs keep working); a collision is
 * resolved by probing to the next free number.
 *
 * The class is part of a node's identity because the kernel never changes
 * the type of an inode it knows: when a name turns from a directory into a
 * symlink (a live list amended into a draft) or from a repository into a
 * tag, it must get a new number, or the kernel goes on treating it as what
 * it was.  A tag's directory and a draft at the same path are one class:
 * tree_effective() switches between them under one inode.
 *
 * Blobs (layers, configs) are the exception: their number comes from the
 * registry and the digest alone, so every path to one blob is one inode
 * (as hardlinks are) and du, tar or find -samefile see it once.
 *
 * A node lives while something refers to it: kernel lookups (nlookup),
 * children (each holds its parent), and open handles.  When the count
 * drops to zero the node leaves the table and lets go of its parent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/fs.h"

#define TABLE_BITS 16

/* One mount's nodes (struct fs holds it, as libfuse's passthrough_ll keeps
 * its inodes in the session's userdata). */
struct node_table {
	pthread_mutex_t lock; /* protects slots, count, and every node's refs, nlookup, hash_next */
	struct node *slots[1u << TABLE_BITS];
	size_t count;         /* nodes in slots */
	struct node *root;    /* never forgotten */
};

static size_t slot_of(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS));
}

static struct node *find_locked(struct node_table *t, uint64_t ino)
{
	for (struct node *n = t->slots[slot_of(ino)]; n; n = n->hash_next)
		if (n->ino == ino)
			return n;
	return NULL;
}

static void insert_locked(struct node_table *t, struct node *n)
{
	size_t s = slot_of(n->ino);

	n->hash_next = t->slots[s];
	t->slots[s] = n;
	t->count++;
}

static void remove_locked(struct node_table *t, struct node *n)
{
	struct node **pp = &t->slots[slot_of(n->ino)];

	while (*pp && *pp != n)
		pp = &(*pp)->hash_next;
	if (!*pp)
		BUG("node not in table");
	*pp = n->hash_next;
	t->count--;
}

/* What the kernel may take a node for; nodes of different classes never
 * share an inode number. */
static char class_of(enum node_kind kind)
{
	switch (kind) {
	case NODE_MANIFEST:
	case NODE_DRAFT:
		return 'T'; /* a tag's or entry's directory, or a draft there */
	case NODE_ROOT:
	case NODE_REGISTRY:
	case NODE_REPO:
		return 'R';
	case NODE_LAYERS:
		return 'L';
	case NODE_DRAFT_ANNOTATIONS:
		return 'A';
	case NODE_FILE:
		return 'F';
	case NODE_DRAFT_FILE:
		return 'D';
	case NODE_DRAFT_LINK:
		return 'S';
	case NODE_LAYER:
		return 'B';
	case NODE_LAYERFS:
		return 'Y';
	case NODE_ATTESTS:
		return 'Z';
	case NODE_REFERRERS:
		return 'X';
	case NODE_IMAGEFS:
		/* its type never changes under one number: the tree's
		 * digest is in its top's (node_ino_for_inner) */
		return 'I';
	}
	BUG("node of no kind");
}

/* FNV-1a, continued from @h over @len bytes of @p. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t ino_fix(uint64_t h)
{
	return h <= NODE_ROOT_INO ? h + 2 : h;
}

uint64_t node_ino_for(const struct node *parent, const char *name, enum node_kind kind)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char p[8];
	char c = class_of(kind);

	for (int i = 0; i < 8; i++)
		p[i] = (parent->ino >> (8 * i)) & 0xff;
	h = fnv1a(h, p, sizeof(p));
	h = fnv1a(h, name, strlen(name));
	/* 'T' hashes as before classes existed, so tag directories keep the
	 * numbers earlier versions gave them */
	if (c != 'T')
		h = fnv1a(h, &c, 1);
	return ino_fix(h);
}

uint64_t node_ino_for_blob(const char *host, const char *digest)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv1a(h, "blob\0", 5);
	h = fnv1a(h, host, strlen(host) + 1);
	h = fnv1a(h, digest, strlen(digest));
	return ino_fix(h);
}

uint64_t node_ino_for_inner(const struct node *parent, const char *name, const char *salt)
{
	uint64_t h = node_ino_for(parent, name, NODE_IMAGEFS);

	if (salt)
		h = ino_fix(fnv1a(h, salt, strlen(salt)));
	return h;
}

uint64_t node_ino_for_inner_file(const char *tree, bool layer_tree, uint32_t layer,
				 const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char k[4];

	for (int i = 0; i < 4; i++)
		k[i] = (layer >> (8 * i)) & 0xff;
	h = fnv1a(h, layer_tree ? "layerfs\0" : "rootfs\0", layer_tree ? 8 : 7);
	h = fnv1a(h, tree, strlen(tree) + 1);
	h = fnv1a(h, k, sizeof(k));
	h = fnv1a(h, path, strlen(path));
	return ino_fix(h);
}

/* Is @n the node @proto describes? */
static bool same_node(const struct node *n, const struct node *proto)
{
	if (proto->kind == NODE_LAYER)
		return n->kind == NODE_LAYER && n->reg == proto->reg &&
		       strcmp(n->layer_digest, proto->layer_digest) == 0;
	if (proto->kind == NODE_IMAGEFS)
		return n->kind == NODE_IMAGEFS && n->reg == proto->reg &&
		       n->ino_want == proto->ino_want && n->inner_layer == proto->inner_layer &&
		       strcmp(n->layer_digest, proto->layer_digest) == 0;
	return n->parent == proto->parent && class_of(n->kind) == class_of(proto->kind) &&
	       strcmp(n->name, proto->name) == 0;
}

struct node *node_new(struct node *parent, const char *name, enum node_kind kind)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->parent = parent;
	n->kind = kind;
	if (parent) {
		n->reg = parent->reg;
		n->immutable = parent->immutable;
	}
	return n;
}

void node_free(struct node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->repo);
	free(n->ref);
	free(n->inner);
	free(n);
}

int node_table_new(struct node_table **out)
{
	struct node_table *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->root = node_new(NULL, "", NODE_ROOT);
	if (!t->root) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->root->ino = NODE_ROOT_INO;
	t->root->refs = 1;
	insert_locked(t, t->root);
	*out = t;
	return 0;
}

void node_table_free(struct node_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < (1u << TABLE_BITS); i++) {
		struct node *n = t->slots[i], *next;

		for (; n; n = next) {
			next = n->hash_next;
			node_free(n);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct node *node_root(struct node_table *t)
{
	return t->root;
}

size_t node_table_count(struct node_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct node *node_get(struct node_table *t, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_locked(t, ino);
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct node *node_publish(struct node_table *t, struct node *proto)
{
	struct node *parent = proto->parent, *n;
	uint64_t ino = proto->kind == NODE_LAYER || proto->kind == NODE_IMAGEFS
			       ? proto->ino
			       : node_ino_for(parent, proto->name, proto->kind);

	proto->ino_want = ino;
	pthread_mutex_lock(&t->lock);
	/* the same child may already be known, maybe at a probed number */
	for (;;) {
		n = find_locked(t, ino);
		if (!n)
			break;
		if (same_node(n, proto))
			break;
		ino++;
		if (ino <= NODE_ROOT_INO)
			ino = NODE_ROOT_INO + 1;
	}
	if (n) {
		node_free(proto);
	} else {
		n = proto;
		n->ino = ino;
		parent->refs++;
		insert_locked(t, n);
	}
	n->refs++;
	n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Drop @count references; frees nodes (and walks up parents) that reach 0. */
static void unref_locked(struct node_table *t, struct node *n, uint64_t count,
			 struct node **dead)
{
	while (n) {
		struct node *parent = n->parent;

		if (n->refs < count)
			BUG("node reference count underflow");
		n->refs -= count;
		if (n->refs > 0 || n == t->root)
			return;
		remove_locked(t, n);
		n->hash_next = *dead;
		*dead = n;
		n = parent;
		count = 1;
	}
}

static void free_dead(struct node *dead)
{
	while (dead) {
		struct node *next = dead->hash_next;

		node_free(dead);
		dead = next;
	}
}

struct node *node_hold(struct node_table *t, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_locked(t, ino);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void node_release(struct node_table *t, struct node *n)
{
	struct node *dead = NULL;

	if (!n)
		return;
	pthread_mutex_lock(&t->lock);
	unref_locked(t, n, 1, &dead);
	pthread_mutex_unlock(&t->lock);
	free_dead(dead);
}

void node_forget(struct node_table *t, struct node *n, uint64_t nlookup)
{
	struct node *dead = NULL;

	pthread_mutex_lock(&t->lock);
	if (n->nlookup < nlookup)
		nlookup = n->nlookup;
	n->nlookup -= nlookup;
	unref_locked(t, n, nlookup, &dead);
	pthread_mutex_unlock(&t->lock);
	free_dead(dead);
}

/* --- predicates on kinds ------------------------------------------------- */

bool node_kind_is_draft(enum node_kind kind)
{
	switch (kind) {
	case NODE_DRAFT:
	case NODE_DRAFT_LINK:
	case NODE_DRAFT_FILE:
	case NODE_DRAFT_ANNOTATIONS:
		return true;
	case NODE_ROOT:
	case NODE_REGISTRY:
	case NODE_REPO:
	case NODE_MANIFEST:
	case NODE_LAYERS:
	case NODE_FILE:
	case NODE_LAYER:
	case NODE_LAYERFS:
	case NODE_IMAGEFS:
	case NODE_ATTESTS:
	case NODE_REFERRERS:
		return false;
	}
	BUG("node of no kind");
}

mode_t node_kind_type(enum node_kind kind)
{
	switch (kind) {
	case NODE_FILE:
	case NODE_LAYER:
	case NODE_DRAFT_FILE:
		return S_IFREG;
	case NODE_DRAFT_LINK:
		return S_IFLNK;
	default:
		return S_IFDIR;
	}
}

mode_t node_type(const struct node *n)
{
	return n->kind == NODE_IMAGEFS ? n->inner_type : node_kind_type(n->kind);
}

bool node_is_tag_dir(const struct node *n)
{
	return n->kind == NODE_MANIFEST && n->ref && !digest_is_valid(n->ref) && n->parent &&
	       n->parent->kind != NODE_MANIFEST;
}

bool node_in_live_entry(const struct node *n)
{
	bool in_entry = false;

	for (; n; n = n->parent) {
		if (n->kind == NODE_MANIFEST && !n->ref)
			in_entry = true;
		else if (n->kind != NODE_LAYERS && n->kind != NODE_ATTESTS)
			/* the tag's directory, maybe the node of a draft committed
			 * since; an @sha256: directory is no live list */
			return in_entry && (n->kind == NODE_DRAFT || node_is_tag_dir(n));
	}
	return false;
}

bool node_listing_fixed(const struct node *n)
{
	return n->immutable || n->kind == NODE_IMAGEFS;
}

bool node_names_follow_drafts(const struct node *d)
{
	return d->kind == NODE_DRAFT || d->kind == NODE_DRAFT_ANNOTATIONS || node_is_tag_dir(d);
}
