/*
 * Drafts in the tree: what `ls`, `cat`, `ln -s`, `rm`, `mkdir` and `touch`
 * do inside a draft, and where a write turns a tag into a draft (amend).
 *
 * A draft directory lists its links, the user's .mediatype and
 * .annotations/, and three generated files: .preview.json (the exact bytes
 * a commit would push), .digest and .status.  `touch .commit` commits
 * (commit.c).  The draft itself lives in the draft store (cache/draft.h),
 * so all that is kept here is the node; every request reads the store.
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
#include "common/log.h"
#include "fs/fs.h"
#include "registry/client.h"
#include "registry/manifest.h"
#include "registry/names.h"

#define USER_FILE_MAX (64u << 10) /* .mediatype and each annotation */

static const struct {
	const char *name;
	enum draft_file kind;
} generated[] = {
	{".preview.json", DF_PREVIEW},
	{".digest", DF_DIGEST},
	{".status", DF_STATUS},
};
#define N_GENERATED (sizeof(generated) / sizeof(generated[0]))

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

/* A new NODE_DRAFT for directory @name made in draft @d. */
static int new_subdraft(struct node *d, const char *name, struct node **out)
{
	int ret = new_draft_node(d, name, NODE_DRAFT, out);

	if (ret < 0)
		return ret;
	(*out)->repo = own_prefix(d);
	(*out)->ref = strdup(name);
	if (!(*out)->repo || !(*out)->ref) {
		node_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static bool valid_entry_name(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 255 && name[0] != '.' && !strchr(name, '/');
}

/* --- reading ------------------------------------------------------------- */

int draft_lookup(struct fs *fs, struct node *n, const char *name, struct node **out)
{
	struct stat st;
	char *path = NULL, *rel = NULL, *prefix = NULL;
	int ret;

	*out = NULL;
	if (n->kind == NODE_DRAFT_ANNOTATIONS) {
		if (!valid_entry_name(name))
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
	path = tree_path(n);
	if (!path)
		return -ENOMEM;
	if (name[0] == '.' && strcmp(name, CACHE_DRAFT_MEDIATYPE) != 0 &&
	    strcmp(name, CACHE_DRAFT_ANNOTATIONS) != 0) {
		ret = -ENOENT; /* .commit among them: it is only ever created */
		goto out;
	}
	ret = cache_draft_stat(fs->drafts, path, name, &st);
	if (ret == -EINVAL)
		ret = -ENOENT;
	if (ret == 0) {
		if (strcmp(name, CACHE_DRAFT_MEDIATYPE) == 0) {
			ret = new_draft_node(n, name, NODE_DRAFT_FILE, out);
			if (ret == 0)
				(*out)->dfile = DF_MEDIATYPE;
		} else if (strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0) {
			ret = new_draft_node(n, name, NODE_DRAFT_ANNOTATIONS, out);
		} else if (S_ISLNK(st.st_mode)) {
			ret = new_draft_node(n, name, NODE_DRAFT_LINK, out);
		} else if (S_ISDIR(st.st_mode)) {
			ret = new_subdraft(n, name, out);
		} else {
			ret = -ENOENT;
		}
		goto out;
	}
	if (ret != -ENOENT || name[0] == '.' || !reg_name_is_component(n->ref))
		goto out;
	/* a new namespace made as a draft may hold pushed repositories too */
	prefix = own_prefix(n);
	ret = prefix ? tree_lookup_level(fs, n, prefix, name, out) : -ENOMEM;
out:
	free(path);
	free(rel);
	free(prefix);
	return ret;
}

int draft_list(struct fs *fs, struct node *n, struct tree_listing *out)
{
	struct cache_draft_listing dl = {0};
	char *path = tree_path(n->kind == NODE_DRAFT_ANNOTATIONS ? n->parent : n);
	char *full = NULL, *prefix = NULL;
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
			ret = tree_listing_add(out, dl.v[i].name, S_IFREG);
		goto out;
	}
	ret = cache_draft_list(fs->drafts, path, &dl);
	for (size_t i = 0; ret == 0 && i < dl.n; i++)
		ret = tree_listing_add(out, dl.v[i].name, dl.v[i].type);
	for (size_t i = 0; ret == 0 && i < N_GENERATED; i++)
		ret = tree_listing_add(out, generated[i].name, S_IFREG);
	if (ret == 0 && reg_name_is_component(n->ref)) {
		struct tree_listing live = {0};

		/* a namespace made as a draft: what was pushed below it since */
		prefix = own_prefix(n);
		if (prefix && tree_list_level(fs, n, prefix, &live) == 0)
			for (size_t i = 0; ret == 0 && i < live.n; i++)
				ret = tree_listing_add(out, live.v[i].name, live.v[i].type);
		tree_listing_release(&live);
	}
out:
	cache_draft_listing_release(&dl);
	free(path);
	free(full);
	free(prefix);
	return ret;
}

/* The path of the draft and the store name of user file @n. */
static int user_file_names(struct node *n, char **path, char **rel)
{
	*rel = NULL;
	*path = tree_path(draft_dir_of(n));
	if (!*path)
		return -ENOMEM;
	if (n->dfile == DF_MEDIATYPE)
		*rel = strdup(CACHE_DRAFT_MEDIATYPE);
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
		if (n->dfile == DF_MEDIATYPE || n->dfile == DF_ANNOTATION) {
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
	case DF_ANNOTATION:
		ret = user_file_names(n, &path, &rel);
		if (ret == 0)
			ret = cache_draft_read_file(fs->drafts, path, rel, USER_FILE_MAX, bytes, len);
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

static bool is_repo_level(const struct node *a)
{
	return a->kind == NODE_REGISTRY || a->kind == NODE_REPO || a->kind == NODE_DRAFT;
}

static bool is_live_tag_dir(const struct node *a)
{
	return a->kind == NODE_MANIFEST && a->ref && !digest_is_valid(a->ref) && a->parent &&
	       a->parent->kind != NODE_MANIFEST;
}

/*
 * Turn live tag @a into a draft holding its current entries, as links to
 * them inside the list's @sha256: directory (amend).  An image tag
 * becomes a draft of one entry, a link to its @sha256: directory.  The list's media type is kept in .mediatype, so adding an
 * image does not change what kind of list it is.
 */
static int seed_from_live(struct fs *fs, struct node *a, const char *path)
{
	struct reg_manifest *m = NULL;
	struct reg_fetched f = {0};
	char *target = NULL, *cfg = NULL;
	size_t cfg_len;
	int ret;

	ret = reg_manifest_get(a->reg, a->repo, a->ref, &f);
	if (ret < 0)
		return ret;
	ret = reg_manifest_parse(f.bytes, f.len, f.media_type, &m);
	if (ret < 0) {
		log_err("tag '%s:%s': not a manifest regfs can amend", a->repo, a->ref);
		ret = -EIO;
		goto out;
	}
	ret = cache_draft_mkdir(fs->drafts, path);
	if (ret < 0)
		goto out;
	if (reg_mtype_is_index(m->type)) {
		const char *kind = m->type == REG_MT_DOCKER_LIST ? "docker\n" : "oci\n";

		ret = cache_draft_write_file(fs->drafts, path, CACHE_DRAFT_MEDIATYPE, kind,
					     strlen(kind));
		for (size_t i = 0; ret == 0 && i < m->n_entries; i++) {
			if (!m->entry_names[i])
				continue; /* attestations go with their image's link */
			/* an entry of the list by the list's digest, so the
			 * list's attestations of it are carried along */
			free(target);
			if (asprintf(&target, "../@%s/%s", f.digest, m->entry_names[i]) < 0) {
				target = NULL;
				ret = -ENOMEM;
				break;
			}
			ret = cache_draft_symlink(fs->drafts, path, m->entry_names[i], target);
		}
	} else if (reg_mtype_is_image(m->type)) {
		struct reg_platform p = {0};
		char *name = NULL;

		ret = tree_config_read(fs, a->reg, a->repo, m, &cfg, &cfg_len);
		if (ret == 0 && reg_config_platform(cfg, cfg_len, &p) < 0)
			ret = -EIO;
		if (ret == 0 &&
		    (asprintf(&name, "%s-%s%s%s", p.os ? p.os : "unknown",
			      p.architecture ? p.architecture : "unknown", p.variant ? "-" : "",
			      p.variant ? p.variant : "") < 0 ||
		     asprintf(&target, "../@%s", f.digest) < 0)) {
			name = NULL;
			ret = -ENOMEM;
		}
		if (ret == 0)
			ret = cache_draft_symlink(fs->drafts, path, name, target);
		free(name);
		reg_platform_release(&p);
	} else {
		ret = -EROFS;
	}
	if (ret < 0)
		cache_draft_remove(fs->drafts, path);
	else
		log_info("tag '%s:%s': now a draft holding its %zu entries", a->repo, a->ref,
			 reg_mtype_is_index(m->type) ? m->n_entries : (size_t)1);
out:
	reg_manifest_free(m);
	reg_fetched_release(&f);
	free(target);
	free(cfg);
	return ret;
}

int draft_mkdir(struct fs *fs, struct node *parent, const char *name, struct node **out)
{
	struct node *a, *tmp, *probe = NULL;
	char *path = NULL, *full = NULL;
	int ret;

	*out = NULL;
	ret = tree_effective(fs, parent, &a, &tmp);
	if (ret < 0)
		return ret;
	if (!is_repo_level(a)) {
		ret = a->kind == NODE_DRAFT_ANNOTATIONS ? -EPERM : -EROFS;
		goto out;
	}
	path = tree_path(a);
	if (!path) {
		ret = -ENOMEM;
		goto out;
	}
	if (a->kind == NODE_DRAFT && strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0) {
		ret = cache_draft_mkdir_annotations(fs->drafts, path);
		if (ret == 0)
			ret = new_draft_node(parent, name, NODE_DRAFT_ANNOTATIONS, out);
		goto out;
	}
	if (!reg_name_is_component(name) && !reg_name_is_tag(name)) {
		log_err("mkdir '%s/%s': not a valid repository or tag name", path, name);
		ret = -EINVAL;
		goto out;
	}
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

	ret = tree_effective(fs, parent, &a, &tmp);
	if (ret < 0)
		return ret;
	path = tree_path(a);
	if (!path) {
		ret = -ENOMEM;
		goto out;
	}
	if (a->kind == NODE_DRAFT && strcmp(name, CACHE_DRAFT_ANNOTATIONS) == 0) {
		ret = cache_draft_rmdir_annotations(fs->drafts, path);
		goto out;
	}
	if (is_live_tag_dir(a)) {
		/* amend: dropping an entry of a live list */
		struct node *probe = NULL;

		ret = tree_lookup(fs, parent, name, &probe);
		if (ret == 0 && probe->kind != NODE_MANIFEST)
			ret = -EROFS;
		node_free(probe);
		if (ret == 0)
			ret = seed_from_live(fs, a, path);
		if (ret == 0) {
			ret = cache_draft_unlink(fs->drafts, path, name);
			if (ret < 0)
				cache_draft_remove(fs->drafts, path);
		}
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
	bool seeded = false;
	int ret;

	*out = NULL;
	ret = tree_effective(fs, parent, &a, &tmp);
	if (ret < 0)
		return ret;
	if (a->kind != NODE_DRAFT && !is_live_tag_dir(a)) {
		ret = a->kind == NODE_DRAFT_ANNOTATIONS ? -EPERM : -EROFS;
		goto out;
	}
	if (!valid_entry_name(name)) {
		ret = -EINVAL;
		goto out;
	}
	path = tree_path(a);
	if (!path) {
		ret = -ENOMEM;
		goto out;
	}
	if (a->kind != NODE_DRAFT) {
		ret = seed_from_live(fs, a, path);
		if (ret < 0)
			goto out;
		seeded = true;
	}
	ret = cache_draft_symlink(fs->drafts, path, name, target);
	if (ret < 0 && seeded)
		cache_draft_remove(fs->drafts, path); /* leave the tag as it was */
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
	if (strcmp(name, ".commit") == 0 && is_live_tag_dir(a) && commit_was_just_done(fs, a)) {
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
	if (a->kind == NODE_DRAFT && strcmp(name, CACHE_DRAFT_MEDIATYPE) == 0) {
		path = tree_path(a);
		rel = strdup(name);
		kind = DF_MEDIATYPE;
	} else if (a->kind == NODE_DRAFT_ANNOTATIONS && valid_entry_name(name)) {
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
	if (n->dfile != DF_MEDIATYPE && n->dfile != DF_ANNOTATION)
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
	if (size < 0 || size > (off_t)USER_FILE_MAX)
		return -EFBIG;
	fd = draft_open_write(fs, n, O_WRONLY);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, size) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
