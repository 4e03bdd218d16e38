/*
 * Drafts in the tree: what `ls`, `cat`, `ln -s`, `rm`, `mkdir` and `touch`
 * do inside a draft, and where a write turns a tag into a draft (amend).
 *
 * A draft directory lists its links, the user's .mediatype, .force and
 * .annotations/, and three generated files: .preview.json (the exact bytes
 * a commit would push), .digest and .status.  `touch .commit` commits
 * (commit.c).  The draft itself lives in the draft store (cache/draft.h),
 * so all that is kept here is the node; every request reads the store.
 * A directory made inside an empty draft turns it into a namespace (a
 * level of a new repository path), which the tree shows as a NODE_REPO.
 *
 * Names are checked where they are decided: a name right below a registry
 * must be a repository path component; below that a tag or a component;
 * the mkdir that makes a draft a namespace needs the draft's name to be a
 * component, and the first link in a draft needs its name to be a tag.
 * Each refusal is EINVAL with the reason in the log.
 *
 * Every function takes the node acting as a draft (tree_effective) and
 * returns 0 or -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/draft.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/listbuild.h"
#include "registry/manifest.h"
#include "registry/names.h"


static const struct {
	const char *name;
	enum draft_file kind;
} generated[] = {
	{".preview.json", DF_PREVIEW},
	{".digest", DF_DIGEST},
	{".status", DF_STATUS},
};
#define N_GENERATED (sizeof(generated) / sizeof(generated[0]))

/* Dot files of a draft that the user writes. */
static const struct {
	const char *name;
	enum draft_file kind;
} user_files[] = {
	{CACHE_DRAFT_MEDIATYPE, DF_MEDIATYPE},
	{CACHE_DRAFT_FORCE, DF_FORCE},
};
#define N_USER_FILES (sizeof(user_files) / sizeof(user_files[0]))

static int user_file_kind(const char *name)
{
	for (size_t i = 0; i < N_USER_FILES; i++)
		if (strcmp(name, user_files[i].name) == 0)
			return (int)user_files[i].kind;
	return -1;
}

static const char *user_file_name(enum draft_file kind)
{
	for (size_t i = 0; i < N_USER_FILES; i++)
		if (user_files[i].kind == kind)
			return user_files[i].name;
	return NULL;
}

/* The draft directory a draft node belongs to (itself for NODE_DRAFT). */
static struct node *draft_dir_of(struct node *n)
{
	while (n && n->kind != NODE_DRAFT && n->kind != NODE_MANIFEST)
		n = n->parent;
	if (!n)
		BUG("draft node outside any draft");
	return n;
}

/* The repository path below a draft directory: its own path without the
 * host ("onap/py-app/latest"), for directories made inside it.  New
 * string or NULL. */
static char *own_prefix(const struct node *d)
{
	char *p = NULL;

	if (d->repo) {
		if (asprintf(&p, "%s/%s", d->repo, d->ref) < 0)
			return NULL;
		return p;
	}
	return strdup(d->ref);
}

static int new_draft_node(struct node *parent, const char *name, enum node_kind kind,
			  struct node **out)
{
	*out = node_new(parent, name, kind);
	return *out ? 0 : -ENOMEM;
}


/* --- reading ------------------------------------------------------------- */

int draft_lookup(struct fs *fs, struct node *n, const char *name, struct node **out)
{
	struct stat st;
	char *path = NULL, *rel = NULL;
	int ret, uf;

	*out = NULL;
	if (n->kind == NODE_DRAFT_ANNOTATIONS) {
		if (!cache_draft_name_valid(name))
			return -ENOENT;
		path = tree_path(n->parent);
		if (!path || asprintf(&rel, "%s/%s", CACHE_DRAFT_ANNOTATIONS, name) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		ret = cache_draft_stat(fs->drafts, path, rel, &st);
		if (ret == 0 && !S_ISREG(st.st_mode))
			ret = -ENOENT;
		if (ret == 0 && (ret = new_draft_node(n, name, NODE_DRAFT_FILE, out)) == 0)
			(*out)->dfile = DF_ANNOTATION;
		goto out;
	}

	for (size_t i = 0; i < N_GENERATED; i++) {
		if (strcmp(name, generated[i].name) == 0) {
			ret = new_draft_node(n, name, NODE_DRAFT_FILE, out);
			if (ret == 0)
				(*out)->dfile = generated[i].kind;
			return ret;
		}
	}
	uf = user_file_kind(name);
	if (name[0] == '.' && uf < 0 && strcmp(name, CACHE_DRAFT_ANNOTATIONS) != 0)
		return -ENOENT; /* .commit among them: it is only ever created */
	path = tree_path(n);
	if (!path)
		return -ENOMEM;
	ret = cache_draft_stat(fs->drafts, path, name, &st);
	if (ret == -EINVAL)
		ret = -ENOENT;
	if (ret < 0)
		goto out;
	if (uf >= 0 && S_ISREG(st.st_mode)) {
		ret = new_draft_node(n, name, NODE_DRAFT_FILE, out);
		if (ret == 0)
			(*out)->dfile = (enum draft_file)uf;
	} else if (strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0 && S_ISDIR(st.st_mode)) {
		ret = new_draft_node(n, name, NODE_DRAFT_ANNOTATIONS, out);
	} else if (name[0] != '.' && S_ISLNK(st.st_mode)) {
		ret = new_draft_node(n, name, NODE_DRAFT_LINK, out);
	} else {
		ret = -ENOENT;
	}
out:
	free(path);
	free(rel);
	return ret;
}

int draft_list(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct cache_draft_listing dl = {0};
	char *path = tree_path(n->kind == NODE_DRAFT_ANNOTATIONS ? n->parent : n);
	char *full = NULL;
	int ret;

	if (!path)
		return -ENOMEM;
	if (n->kind == NODE_DRAFT_ANNOTATIONS) {
		if (asprintf(&full, "%s/%s", path, CACHE_DRAFT_ANNOTATIONS) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		ret = cache_draft_list(fs->drafts, full, &dl);
		for (size_t i = 0; ret == 0 && i < dl.n; i++)
			ret = tree_listing_add(out, dl.v[i].name, NODE_DRAFT_FILE);
		goto out;
	}
	ret = cache_draft_list(fs->drafts, path, &dl);
	for (size_t i = 0; ret == 0 && i < dl.n; i++) {
		const struct cache_draft_entry *e = &dl.v[i];

		if (S_ISLNK(e->type))
			ret = tree_listing_add(out, e->name, NODE_DRAFT_LINK);
		else if (S_ISDIR(e->type) && strcmp(e->name, CACHE_DRAFT_ANNOTATIONS) == 0)
			ret = tree_listing_add(out, e->name, NODE_DRAFT_ANNOTATIONS);
		else if (S_ISREG(e->type))
			ret = tree_listing_add(out, e->name, NODE_DRAFT_FILE);
	}
	for (size_t i = 0; ret == 0 && i < N_GENERATED; i++)
		ret = tree_listing_add(out, generated[i].name, NODE_DRAFT_FILE);
out:
	cache_draft_listing_release(&dl);
	free(path);
	free(full);
	return ret;
}

/* The path of the draft and the store name of user file @n. */
static int user_file_names(struct node *n, char **path, char **rel)
{
	*rel = NULL;
	*path = tree_path(draft_dir_of(n));
	if (!*path)
		return -ENOMEM;
	if (user_file_name(n->dfile))
		*rel = strdup(user_file_name(n->dfile));
	else if (asprintf(rel, "%s/%s", CACHE_DRAFT_ANNOTATIONS, n->name) < 0)
		*rel = NULL;
	if (!*rel) {
		free(*path);
		*path = NULL;
		return -ENOMEM;
	}
	return 0;
}

int draft_stat(struct fs *fs, struct node *n, struct stat *st)
{
	char *path = NULL, *rel = NULL;
	struct stat ds;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_blksize = 65536;
	st->st_nlink = 1;
	switch (n->kind) {
	case NODE_DRAFT:
		path = tree_path(n);
		ret = path ? cache_draft_stat(fs->drafts, path, NULL, &ds) : -ENOMEM;
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		break;
	case NODE_DRAFT_ANNOTATIONS:
		path = tree_path(n->parent);
		ret = path ? cache_draft_stat(fs->drafts, path, CACHE_DRAFT_ANNOTATIONS, &ds)
			   : -ENOMEM;
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		break;
	case NODE_DRAFT_LINK:
		path = tree_path(n->parent);
		ret = path ? cache_draft_stat(fs->drafts, path, n->name, &ds) : -ENOMEM;
		st->st_mode = S_IFLNK | 0777;
		st->st_size = ds.st_size;
		break;
	case NODE_DRAFT_FILE:
		if (user_file_name(n->dfile) || n->dfile == DF_ANNOTATION) {
			ret = user_file_names(n, &path, &rel);
			if (ret == 0)
				ret = cache_draft_stat(fs->drafts, path, rel, &ds);
			st->st_mode = S_IFREG | 0644;
			st->st_size = ds.st_size;
			break;
		}
		/* generated on every open and served with direct I/O: the size
		 * is only known by building, so it is not promised here */
		path = tree_path(draft_dir_of(n));
		ret = path ? cache_draft_stat(fs->drafts, path, NULL, &ds) : -ENOMEM;
		st->st_mode = S_IFREG | (n->dfile == DF_COMMIT ? 0644 : 0444);
		if (n->dfile == DF_COMMIT && ret == -ENOENT)
			ret = 0; /* a committed draft's .commit, still open */
		break;
	default:
		BUG("draft_stat of a node that is no draft");
	}
	if (ret == 0 && n->kind != NODE_DRAFT_FILE) {
		st->st_size = n->kind == NODE_DRAFT_LINK ? ds.st_size : 0;
	}
	if (ret == 0 && !(n->kind == NODE_DRAFT_FILE && n->dfile == DF_COMMIT)) {
		st->st_atim = ds.st_atim;
		st->st_mtim = ds.st_mtim;
		st->st_ctim = ds.st_ctim;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	free(path);
	free(rel);
	return ret == -EINVAL ? -ENOENT : ret;
}

int draft_file_content(struct fs *fs, struct node *n, char **bytes, size_t *len)
{
	struct node *d = draft_dir_of(n);
	char *path = NULL, *rel = NULL, *digest = NULL;
	int ret;

	*bytes = NULL;
	*len = 0;
	switch (n->dfile) {
	case DF_PREVIEW:
		return commit_plan_text(fs, d, bytes, len, NULL, NULL);
	case DF_DIGEST:
		ret = commit_plan_text(fs, d, NULL, NULL, &digest, NULL);
		if (ret == 0 && asprintf(bytes, "%s\n", digest) < 0) {
			*bytes = NULL;
			ret = -ENOMEM;
		}
		free(digest);
		if (ret == 0)
			*len = strlen(*bytes);
		return ret;
	case DF_STATUS:
		ret = commit_plan_text(fs, d, NULL, NULL, NULL, bytes);
		if (*bytes) {
			*len = strlen(*bytes);
			ret = 0; /* the status says what is wrong: reading it works */
		}
		return ret;
	case DF_MEDIATYPE:
	case DF_FORCE:
	case DF_ANNOTATION:
		ret = user_file_names(n, &path, &rel);
		if (ret == 0)
			ret = cache_draft_read_file(fs->drafts, path, rel, DRAFT_USER_FILE_MAX, bytes, len);
		free(path);
		free(rel);
		return ret;
	case DF_COMMIT:
		*bytes = strdup("");
		return *bytes ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

int draft_readlink(struct fs *fs, struct node *n, char **target)
{
	char *path;
	int ret;

	*target = NULL;
	if (n->kind != NODE_DRAFT_LINK)
		return -EINVAL;
	path = tree_path(n->parent);
	if (!path)
		return -ENOMEM;
	ret = cache_draft_readlink(fs->drafts, path, n->name, target);
	free(path);
	return ret;
}

/* --- writing ------------------------------------------------------------- */

/* What directory @parent acts as now (*a, with *tmp to free: see
 * tree_effective) and that one's path (*path, new).  0 or -errno (nothing
 * to free then). */
static int acting_dir(struct fs *fs, struct node *parent, struct node **a, struct node **tmp,
		      char **path)
{
	int ret = tree_effective(fs, parent, a, tmp);

	*path = NULL;
	if (ret < 0)
		return ret;
	*path = tree_path(*a);
	if (!*path) {
		node_free(*tmp);
		*tmp = NULL;
		return -ENOMEM;
	}
	return 0;
}

static bool is_repo_level(const struct node *a)
{
	return a->kind == NODE_REGISTRY || a->kind == NODE_REPO || a->kind == NODE_DRAFT;
}

/*
 * Removing @name from @parent, inside a live list's platform directory
 * (node_in_live_entry): nothing to do, so that `rm -r` of the platform
 * directory reaches its own rmdir, which amends the list.  Still the
 * answers a removal gives: -ENOENT for no such name, -EISDIR (unlink,
 * @dir false) or -ENOTDIR (rmdir) for the wrong kind.
 */
static int removal_in_live_entry(struct fs *fs, struct node *parent, const char *name, bool dir)
{
	struct node *probe = NULL;
	int ret = tree_lookup(fs, parent, name, &probe);

	if (ret == 0 && (node_type(probe) == S_IFDIR) != dir)
		ret = dir ? -ENOTDIR : -EISDIR;
	node_free(probe);
	return ret;
}

/* The links a live list's draft starts from, owned. */
struct seed_links {
	char **names, **targets;
	size_t n;
};

static void seed_links_release(struct seed_links *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->targets[i]);
	}
	free(l->names);
	free(l->targets);
	memset(l, 0, sizeof(*l));
}

/* Add link @name -> @target (both taken over; NULL is -ENOMEM). */
static int seed_links_add(struct seed_links *l, char *name, char *target)
{
	char **nn = NULL, **nt = NULL;

	if (name && target) {
		nn = realloc(l->names, (l->n + 1) * sizeof(*nn));
		if (nn)
			l->names = nn;
		nt = nn ? realloc(l->targets, (l->n + 1) * sizeof(*nt)) : NULL;
		if (nt)
			l->targets = nt;
	}
	if (!nn || !nt) {
		free(name);
		free(target);
		return -ENOMEM;
	}
	l->names[l->n] = name;
	l->targets[l->n] = target;
	l->n++;
	return 0;
}

/* The links of image @m (digest @digest) of tag @a as an amend starts it:
 * one, named for its platform. */
static int image_seed(struct fs *fs, struct node *a, const struct reg_manifest *m,
		      const char *digest, struct seed_links *l)
{
	struct reg_platform p = {0};
	char *cfg = NULL;
	size_t cfg_len;
	int ret;

	ret = tree_config_read(fs, a->reg, a->repo, m, &cfg, &cfg_len);
	if (ret == 0 && reg_config_platform(cfg, cfg_len, &p) < 0)
		ret = -EIO;
	if (ret == 0)
		ret = seed_links_add(l,
				     fs_strdup_printf("%s-%s%s%s", p.os ? p.os : "unknown",
						   p.architecture ? p.architecture : "unknown",
						   p.variant ? "-" : "", p.variant ? p.variant : ""),
				     fs_strdup_printf("../@%s", digest));
	reg_platform_release(&p);
	free(cfg);
	return ret;
}

/*
 * Turn live tag @a into a draft at @path holding its current entries, as
 * links to them inside the list's @sha256: directory (amend), with the
 * list's type in .mediatype, its annotations, and its digest in .base (so
 * a commit sees whether someone else moved the tag meanwhile).  An image
 * tag becomes a draft of one entry, a link to its @sha256: directory.
 * Then entry @drop is left out (-ENOENT when there is none) or link
 * @add_name -> @add_target is added last (-EEXIST when taken).  The draft
 * appears whole or not at all.
 */
static int seed_from_live(struct fs *fs, struct node *a, const char *path, const char *drop,
			  const char *add_name, const char *add_target)
{
	struct cache_draft_seed seed = {0};
	struct seed_links l = {0};
	struct reg_manifest *m = NULL;
	struct reg_fetched f = {0};
	char **ann_keys = NULL, **ann_values = NULL, *base = NULL;
	size_t n_ann = 0;
	bool dropped = false;
	int ret;

	ret = fs->remote->manifest_get(a->reg, a->repo, a->ref, &f);
	if (ret < 0)
		return ret;
	ret = reg_manifest_parse(f.bytes, f.len, f.media_type, &m);
	if (ret < 0) {
		log_err("tag '%s:%s': not a manifest regfs can amend", a->repo, a->ref);
		ret = -EIO;
		goto out;
	}
	if (reg_mtype_is_index(m->type)) {
		seed.mediatype = m->type == REG_MT_DOCKER_LIST ? "docker\n" : "oci\n";
		for (size_t i = 0; ret == 0 && i < m->n_entries; i++) {
			if (!m->entry_names[i])
				continue; /* attestations go with their image's link */
			if (drop && strcmp(drop, m->entry_names[i]) == 0) {
				dropped = true;
				continue;
			}
			/* an entry of the list by the list's digest, so the
			 * list's attestations of it are carried along */
			ret = seed_links_add(&l, strdup(m->entry_names[i]),
					     fs_strdup_printf("../@%s/%s", f.digest,
							   m->entry_names[i]));
		}
		if (ret == 0)
			ret = reg_list_annotations(f.bytes, f.len, &ann_keys, &ann_values, &n_ann);
	} else if (reg_mtype_is_image(m->type)) {
		ret = image_seed(fs, a, m, f.digest, &l);
	} else {
		ret = -EROFS;
	}
	if (ret == 0 && drop && !dropped)
		ret = -ENOENT;
	for (size_t i = 0; ret == 0 && add_name && i < l.n; i++)
		if (strcmp(l.names[i], add_name) == 0)
			ret = -EEXIST;
	if (ret == 0 && add_name)
		ret = seed_links_add(&l, strdup(add_name), strdup(add_target));
	if (ret == 0 && !(base = fs_strdup_printf("%s\n", f.digest)))
		ret = -ENOMEM;
	if (ret < 0)
		goto out;
	seed.names = (const char *const *)l.names;
	seed.targets = (const char *const *)l.targets;
	seed.n = l.n;
	seed.base = base;
	seed.ann_keys = (const char *const *)ann_keys;
	seed.ann_values = (const char *const *)ann_values;
	seed.n_ann = n_ann;
	ret = cache_draft_create(fs->drafts, path, &seed);
	if (ret == 0)
		log_info("tag '%s:%s': now a draft holding %zu entries, from %s", a->repo, a->ref,
			 l.n, f.digest);
out:
	reg_annotations_free(ann_keys, ann_values, n_ann);
	seed_links_release(&l);
	reg_manifest_free(m);
	reg_fetched_release(&f);
	free(base);
	return ret;
}

/*
 * Whether a directory @name may be made in @a (acting as a registry,
 * repository path or draft) at @path: the one rule for new names.  0 or
 * -EINVAL, with the reason in the log.
 */
static int check_new_dir(struct fs *fs, struct node *a, const char *path, const char *name)
{
	struct cache_draft_listing dl = {0};
	const char *repo = a->kind == NODE_REPO ? a->repo : NULL;
	char *own = NULL;
	bool tag = reg_name_is_tag(name), component = reg_name_is_component(name);
	int ret = 0;

	if (a->kind == NODE_REGISTRY && !component) {
		log_err("mkdir '%s/%s': below a registry a name is a repository path component "
			"(lowercase letters and digits, joined by '.', '_', '__' or '-')",
			path, name);
		return -EINVAL;
	}
	if (a->kind == NODE_DRAFT) {
		/* the draft becomes a namespace: its own name must be one */
		own = own_prefix(a);
		if (!own)
			return -ENOMEM;
		if (!reg_name_is_repo(own)) {
			log_err("mkdir '%s/%s': '%s' would become a repository path, but '%s' is "
				"not a repository name (lowercase letters and digits, joined by "
				"'.', '_', '__' or '-')",
				path, name, path, own);
			ret = -EINVAL;
		} else if (cache_draft_links(fs->drafts, path, &dl) == 0 && dl.n > 0) {
			log_err("mkdir '%s/%s': '%s' is a draft holding links; a list holds no "
				"directories",
				path, name, path);
			ret = -EINVAL;
		}
		cache_draft_listing_release(&dl);
		repo = own;
	}
	if (ret == 0 && !tag && !component) {
		log_err("mkdir '%s/%s': neither a tag ([A-Za-z0-9_][A-Za-z0-9_.-], at most %d) nor "
			"a repository path component",
			path, name, REG_TAG_MAX);
		ret = -EINVAL;
	}
	if (ret == 0 && !tag && repo && strlen(repo) + 1 + strlen(name) > REG_REPO_MAX) {
		log_err("mkdir '%s/%s': repository names are at most %d bytes", path, name,
			REG_REPO_MAX);
		ret = -EINVAL;
	}
	free(own);
	return ret;
}

/* Whether links may be made in draft @a (at @path): its name must be a
 * tag of a repository.  0 or -EINVAL, with the reason in the log. */
static int check_list_draft(const struct node *a, const char *path)
{
	if (!a->repo) {
		log_err("'%s': a directory right below a registry names a repository, not a tag; "
			"make the tag inside it",
			path);
		return -EINVAL;
	}
	if (!reg_name_is_tag(a->ref) || !reg_name_is_repo(a->repo)) {
		log_err("'%s': '%s' is not a valid %s", path,
			reg_name_is_tag(a->ref) ? a->repo : a->ref,
			reg_name_is_tag(a->ref) ? "repository name" : "tag (at most 128 of A-Z a-z 0-9 _ . -, not starting with . or -)");
		return -EINVAL;
	}
	return 0;
}

int draft_mkdir(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct node *a, *tmp, *probe = NULL;
	char *path = NULL, *full = NULL;
	int ret;

	*out = NULL;
	ret = acting_dir(fs, parent, &a, &tmp, &path);
	if (ret < 0)
		return ret;
	if (!is_repo_level(a)) {
		ret = a->kind == NODE_DRAFT_ANNOTATIONS ? -EPERM : -EROFS;
		goto out;
	}
	if (a->kind == NODE_DRAFT && strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0) {
		ret = cache_draft_mkdir_annotations(fs->drafts, path);
		if (ret == 0)
			ret = new_draft_node(parent, name, NODE_DRAFT_ANNOTATIONS, out);
		goto out;
	}
	ret = check_new_dir(fs, a, path, name);
	if (ret < 0)
		goto out;
	/* an existing tag or repository is not a new draft */
	ret = tree_lookup(fs, parent, name, &probe);
	node_free(probe);
	if (ret == 0) {
		ret = -EEXIST;
		goto out;
	}
	if (ret != -ENOENT)
		goto out;
	if (asprintf(&full, "%s/%s", path, name) < 0) {
		full = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = cache_draft_mkdir(fs->drafts, full);
	if (ret < 0)
		goto out;
	ret = new_draft_node(parent, name, NODE_DRAFT, out);
	if (ret == 0) {
		(*out)->repo = a->kind == NODE_DRAFT ? own_prefix(a)
			       : a->kind == NODE_REPO ? strdup(a->repo) : NULL;
		(*out)->ref = strdup(name);
		if (!(*out)->ref || (a->kind != NODE_REGISTRY && !(*out)->repo)) {
			node_free(*out);
			*out = NULL;
			ret = -ENOMEM;
		}
	}
out:
	node_free(tmp);
	free(path);
	free(full);
	return ret;
}

int draft_rmdir(struct fs *fs, struct node *parent, const char *name)
{
	struct node *a, *tmp;
	char *path = NULL, *full = NULL;
	struct stat st;
	int ret;

	ret = acting_dir(fs, parent, &a, &tmp, &path);
	if (ret < 0)
		return ret;
	if (a->kind == NODE_DRAFT && strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0) {
		ret = cache_draft_rmdir_annotations(fs->drafts, path);
		goto out;
	}
	if (node_is_tag_dir(a)) {
		/* amend: dropping an entry of a live list */
		struct node *probe = NULL;

		ret = tree_lookup(fs, parent, name, &probe);
		if (ret == 0 && probe->kind != NODE_MANIFEST)
			ret = -EROFS;
		node_free(probe);
		if (ret == 0)
			ret = seed_from_live(fs, a, path, name, NULL, NULL);
		goto out;
	}
	if (node_in_live_entry(a)) {
		ret = removal_in_live_entry(fs, parent, name, true);
		goto out;
	}
	if (!is_repo_level(a)) {
		ret = -EROFS;
		goto out;
	}
	if (asprintf(&full, "%s/%s", path, name) < 0) {
		full = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = cache_draft_stat(fs->drafts, path, name, &st);
	if (ret == 0 && !S_ISDIR(st.st_mode))
		ret = -ENOTDIR;
	else if (ret == 0)
		ret = cache_draft_rmdir(fs->drafts, full);
	else if (ret == -ENOENT || ret == -EINVAL)
		ret = -EROFS; /* a live repository or tag: regfs never deletes them */
out:
	node_free(tmp);
	free(path);
	free(full);
	return ret;
}

int draft_symlink(struct fs *fs, struct node *parent, const char *name, const char *target,
		  struct node **out)
{
	struct node *a, *tmp;
	char *path = NULL;
	int ret;

	*out = NULL;
	ret = acting_dir(fs, parent, &a, &tmp, &path);
	if (ret < 0)
		return ret;
	if (a->kind != NODE_DRAFT && !node_is_tag_dir(a)) {
		ret = a->kind == NODE_DRAFT_ANNOTATIONS ? -EPERM : -EROFS;
		goto out;
	}
	if (!cache_draft_name_valid(name)) {
		/* (the name is not printed: it may hold a newline that forges a line) */
		log_err("ln -s in '%s': refused a name with a '/', a control character or a "
			"leading '.'",
			path);
		ret = -EINVAL;
		goto out;
	}
	if (a->kind == NODE_DRAFT) {
		ret = check_list_draft(a, path);
		if (ret == 0)
			ret = cache_draft_symlink(fs->drafts, path, name, target);
	} else {
		ret = seed_from_live(fs, a, path, NULL, name, target);
	}
	if (ret == 0)
		ret = new_draft_node(parent, name, NODE_DRAFT_LINK, out);
out:
	node_free(tmp);
	free(path);
	return ret;
}

int draft_unlink(struct fs *fs, struct node *parent, const char *name)
{
	struct node *a, *tmp;
	char *path = NULL, *rel = NULL;
	int ret;

	ret = tree_effective(fs, parent, &a, &tmp);
	if (ret < 0)
		return ret;
	if (a->kind == NODE_DRAFT_ANNOTATIONS) {
		path = tree_path(a->parent);
		if (!path || asprintf(&rel, "%s/%s", CACHE_DRAFT_ANNOTATIONS, name) < 0) {
			rel = NULL;
			ret = -ENOMEM;
			goto out;
		}
		ret = cache_draft_unlink(fs->drafts, path, rel);
		goto out;
	}
	if (node_in_live_entry(a)) {
		ret = removal_in_live_entry(fs, parent, name, false);
		goto out;
	}
	if (a->kind != NODE_DRAFT) {
		ret = -EROFS;
		goto out;
	}
	/* generated files cannot go, but `rm -r` of a draft must not stumble
	 * over them: removing one is a no-op */
	for (size_t i = 0; i < N_GENERATED; i++) {
		if (strcmp(name, generated[i].name) == 0) {
			ret = 0;
			goto out;
		}
	}
	path = tree_path(a);
	ret = path ? cache_draft_unlink(fs->drafts, path, name) : -ENOMEM;
	if (ret == -EINVAL)
		ret = -ENOENT;
out:
	node_free(tmp);
	free(path);
	free(rel);
	return ret;
}

int draft_create(struct fs *fs, struct node *parent, const char *name, int flags,
		 const struct fs_caller *who, struct node **out, int *fd)
{
	struct node *a, *tmp;
	char *path = NULL, *rel = NULL;
	enum draft_file kind;
	int ret;

	*out = NULL;
	*fd = -1;
	ret = tree_effective(fs, parent, &a, &tmp);
	if (ret < 0)
		return ret;
	if (strcmp(name, ".commit") == 0 && node_is_tag_dir(a) && commit_was_just_done(fs, a)) {
		/* a second touch that waited for the first: that one committed */
		ret = new_draft_node(parent, name, NODE_DRAFT_FILE, out);
		if (ret == 0)
			(*out)->dfile = DF_COMMIT;
		goto out;
	}
	if (a->kind == NODE_DRAFT && strcmp(name, ".commit") == 0) {
		ret = commit_run(fs, a, who);
		if (ret == 0 || ret == -EALREADY) {
			ret = new_draft_node(parent, name, NODE_DRAFT_FILE, out);
			if (ret == 0)
				(*out)->dfile = DF_COMMIT;
		}
		goto out;
	}
	if (a->kind == NODE_DRAFT && user_file_kind(name) >= 0) {
		path = tree_path(a);
		rel = strdup(name);
		kind = (enum draft_file)user_file_kind(name);
	} else if (a->kind == NODE_DRAFT_ANNOTATIONS && cache_draft_name_valid(name)) {
		path = tree_path(a->parent);
		if (asprintf(&rel, "%s/%s", CACHE_DRAFT_ANNOTATIONS, name) < 0)
			rel = NULL;
		kind = DF_ANNOTATION;
	} else {
		ret = a->kind == NODE_DRAFT || a->kind == NODE_DRAFT_ANNOTATIONS ? -EPERM : -EROFS;
		goto out;
	}
	if (!path || !rel) {
		ret = -ENOMEM;
		goto out;
	}
	ret = cache_draft_file_open(fs->drafts, path, rel, flags | O_CREAT);
	if (ret < 0)
		goto out;
	*fd = ret;
	ret = new_draft_node(parent, name, NODE_DRAFT_FILE, out);
	if (ret == 0) {
		(*out)->dfile = kind;
	} else {
		close(*fd);
		*fd = -1;
	}
out:
	node_free(tmp);
	free(path);
	free(rel);
	return ret;
}

int draft_open_write(struct fs *fs, struct node *n, int flags)
{
	char *path, *rel;
	int ret;

	if (n->kind != NODE_DRAFT_FILE)
		return -EROFS;
	if (!user_file_name(n->dfile) && n->dfile != DF_ANNOTATION)
		return n->dfile == DF_COMMIT ? -EPERM : -EACCES;
	ret = user_file_names(n, &path, &rel);
	if (ret < 0)
		return ret;
	ret = cache_draft_file_open(fs->drafts, path, rel, flags & ~O_CREAT);
	free(path);
	free(rel);
	return ret;
}

int draft_truncate(struct fs *fs, struct node *n, off_t size)
{
	int fd, ret = 0;

	if (n->kind == NODE_DRAFT_FILE && n->dfile == DF_COMMIT)
		return 0;
	if (size < 0 || size > (off_t)DRAFT_USER_FILE_MAX)
		return -EFBIG;
	fd = draft_open_write(fs, n, O_WRONLY);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, size) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
