/*
 * The node table.  Every node the kernel knows about lives here, keyed by
 * inode number.  Inode numbers are a hash of the parent's number and the
 * name, so the same path gets the same number in every mount (audits that
 * compare `ls -i` or `find -inum` across runs keep working); a collision is
 * resolved by probing to the next free number.
 *
 * A node lives while something refers to it: kernel lookups (nlookup),
 * children (each holds its parent), and open handles.  When the count
 * drops to zero the node leaves the table and lets go of its parent.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/fs.h"

#define TABLE_BITS 16

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER; /* protects table, refs,
								  nlookup, hash_next */
static struct node *table[1u << TABLE_BITS];
static struct node *root;

static size_t slot_of(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS));
}

static struct node *find_locked(uint64_t ino)
{
	for (struct node *n = table[slot_of(ino)]; n; n = n->hash_next)
		if (n->ino == ino)
			return n;
	return NULL;
}

static void insert_locked(struct node *n)
{
	size_t s = slot_of(n->ino);

	n->hash_next = table[s];
	table[s] = n;
}

static void remove_locked(struct node *n)
{
	struct node **pp = &table[slot_of(n->ino)];

	while (*pp && *pp != n)
		pp = &(*pp)->hash_next;
	if (!*pp)
		BUG("node not in table");
	*pp = n->hash_next;
}

uint64_t node_ino_for(const struct node *parent, const char *name)
{
	/* FNV-1a over the parent's number and the name */
	uint64_t h = 0xcbf29ce484222325ull;
	uint64_t p = parent->ino;

	for (int i = 0; i < 8; i++) {
		h ^= (p >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		h ^= *s;
		h *= 0x100000001b3ull;
	}
	if (h <= FUSE_ROOT_ID)
		h += 2;
	return h;
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
	free(n);
}

int node_table_init(void)
{
	root = node_new(NULL, "", NODE_ROOT);
	if (!root)
		return -ENOMEM;
	root->ino = FUSE_ROOT_ID;
	root->refs = 1; /* the root is never forgotten */
	insert_locked(root);
	return 0;
}

void node_table_release(void)
{
	for (size_t i = 0; i < (1u << TABLE_BITS); i++) {
		struct node *n = table[i], *next;

		for (; n; n = next) {
			next = n->hash_next;
			node_free(n);
		}
		table[i] = NULL;
	}
	root = NULL;
}

struct node *node_root(void)
{
	return root;
}

struct node *node_get(uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&table_lock);
	n = find_locked(ino);
	pthread_mutex_unlock(&table_lock);
	return n;
}

struct node *node_publish(struct node *proto)
{
	struct node *parent = proto->parent, *n;
	uint64_t ino = node_ino_for(parent, proto->name);

	pthread_mutex_lock(&table_lock);
	/* the same child may already be known, maybe at a probed number */
	for (;;) {
		n = find_locked(ino);
		if (!n)
			break;
		if (n->parent == parent && strcmp(n->name, proto->name) == 0)
			break;
		ino++;
		if (ino <= FUSE_ROOT_ID)
			ino = FUSE_ROOT_ID + 1;
	}
	if (n) {
		node_free(proto);
	} else {
		n = proto;
		n->ino = ino;
		parent->refs++;
		insert_locked(n);
	}
	n->refs++;
	n->nlookup++;
	pthread_mutex_unlock(&table_lock);
	return n;
}

/* Drop @count references; frees nodes (and walks up parents) that reach 0. */
static void unref_locked(struct node *n, uint64_t count, struct node **dead)
{
	while (n) {
		struct node *parent = n->parent;

		if (n->refs < count)
			BUG("node reference count underflow");
		n->refs -= count;
		if (n->refs > 0 || n == root)
			return;
		remove_locked(n);
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

void node_forget(struct node *n, uint64_t nlookup)
{
	struct node *dead = NULL;

	pthread_mutex_lock(&table_lock);
	if (n->nlookup < nlookup)
		nlookup = n->nlookup;
	n->nlookup -= nlookup;
	unref_locked(n, nlookup, &dead);
	pthread_mutex_unlock(&table_lock);
	free_dead(dead);
}

void node_hold(struct node *n)
{
	pthread_mutex_lock(&table_lock);
	n->refs++;
	pthread_mutex_unlock(&table_lock);
}

void node_put(struct node *n)
{
	struct node *dead = NULL;

	pthread_mutex_lock(&table_lock);
	unref_locked(n, 1, &dead);
	pthread_mutex_unlock(&table_lock);
	free_dead(dead);
}
