/*
 * Committing a draft: from a directory of symlinks to a pushed list.
 *
 *   plan_make()   reads the draft, resolves every link lexically to a
 *                 registry path and then, fresh from the registry (never
 *                 from the TTL caches), to a manifest; takes each image's
 *                 platform from its config (a link named "<os>-<arch>..."
 *                 overrides it) and builds the list bytes, in the draft's
 *                 link order.  A draft amended from a live list pushes
 *                 that list's own bytes when nothing changed.  It also
 *                 asks where the tag points now: a tag moved since the
 *                 draft started (.base) is a lost update waiting to
 *                 happen, and blocks the commit unless .force is there.
 *                 Everything wrong is collected, per link, for .status.
 *   commit_run()  pushes: for each child not yet in the target repository
 *                 its blobs (cross-repository mount on the same registry,
 *                 else upload from the verified local store) and its
 *                 manifest by digest, with its exact bytes; then the list
 *                 by tag.  Each step first asks whether it is done
 *                 already, so a commit that failed half-way completes
 *                 when run again.  On success the draft is removed; on
 *                 failure it stays as it was and .last-commit says why.
 *
 * A commit pushes a snapshot: the draft's fingerprint (cache/draft.h) is
 * taken before and after plan_make() reads it, and the plan is made again
 * when they differ.  The kernel keeps links from changing meanwhile (a
 * create of .commit holds the directory's lock, so ln -s and rm there wait
 * for the commit and then amend the live list), but annotations, an open
 * .mediatype and another mount of the same state directory are not held
 * back.  So a draft is removed after its push only if it still has the
 * fingerprint that was pushed; one that changed meanwhile is kept, its
 * .base the digest just pushed, and .last-commit says so: the edit is
 * not lost, and the next commit pushes it.
 *
 * .preview.json, .digest and .status are plan_make() on every read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/buf.h"
#include "common/cancel.h"
#include "common/limits.h"
#include "common/log.h"
#include "fs/fs.h"
#include "fs/mountpath.h"
#include "fs/remote.h"
#include "registry/client.h"
#include "registry/listbuild.h"
#include "registry/manifest.h"
#include "registry/names.h"


/* A manifest that goes into the list, and where it comes from. */
struct piece {
	struct reg_registry *reg; /* borrowed: source registry */
	char *repo;               /* source repository */
	char *bytes;              /* the manifest, exactly */
	size_t len;
	struct reg_manifest *m;
	struct reg_descriptor desc; /* how the list refers to it (strings owned) */
};

/* One link of the draft. */
struct child {
	char *name;    /* the link's name */
	char *target;  /* as written */
	char *source;  /* "host/repo:tag" or "host/repo@digest" it resolved to */
	char *error;   /* what keeps it out of a commit, or NULL */
	char *warning; /* worth a look, not blocking */
	struct piece image;
	struct piece *attest; /* carried along with the image */
	size_t n_attest;
};

struct plan {
	struct node *draft;
	char *path;
	struct reg_registry *reg; /* target */
	const char *repo, *tag;   /* borrowed from the draft node */
	struct child *v;
	size_t n;
	struct buf problems; /* draft-level errors, one per line */
	int errors;          /* blocking problems, draft and links */
	int fetch_err;       /* a registry failure stood in the way (not the draft's fault) */
	char *bytes;         /* the list, when errors == 0 */
	size_t len;
	char digest[DIGEST_STR_LEN + 1];
	enum reg_mtype type;
	bool unchanged;                   /* bytes are the base list's own */
	char base[DIGEST_STR_LEN + 1];    /* where the tag pointed when the draft began; "" none */
	char current[DIGEST_STR_LEN + 1]; /* where it points now; "" no such tag */
	bool moved;                       /* neither base nor what we push: someone else's */
	bool forced;                      /* .force: commit all the same */
};

struct commit_lock {
	char *path;
	struct commit_lock *next;
};

/* --- helpers ------------------------------------------------------------- */

static void piece_release(struct piece *p)
{
	free(p->repo);
	free(p->bytes);
	reg_manifest_free(p->m);
	free(p->desc.media_type);
	if (p->desc.platform) {
		reg_platform_release(p->desc.platform);
		free(p->desc.platform);
	}
	free(p->desc.reference_type);
	free(p->desc.reference_digest);
	memset(p, 0, sizeof(*p));
}

static void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct child *c = &p->v[i];

		free(c->name);
		free(c->target);
		free(c->source);
		free(c->error);
		free(c->warning);
		piece_release(&c->image);
		for (size_t k = 0; k < c->n_attest; k++)
			piece_release(&c->attest[k]);
		free(c->attest);
	}
	free(p->v);
	free(p->path);
	free(p->bytes);
	buf_release(&p->problems, 0);
	memset(p, 0, sizeof(*p));
}

/*
 * @s as .status and .last-commit show what the user wrote (link names and
 * targets, annotation keys, .mediatype, draft names), so that it cannot
 * start a line of its own or drive a terminal: printable ASCII as it is, a
 * backslash as "\\", newline, CR and tab as "\n", "\r", "\t", every other
 * byte (control characters, DEL, anything not ASCII) as "\xNN", as git
 * quotes paths.  New string, or NULL without memory.
 */
static char *status_escape(const char *s)
{
	struct buf b = BUF_INIT(DRAFT_STATUS_MAX);
	char esc[5];
	size_t len;
	int ret = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c && ret == 0; c++) {
		if (*c >= 0x20 && *c < 0x7f && *c != '\\')
			ret = buf_append(&b, c, 1);
		else if (*c == '\\' || *c == '\n' || *c == '\r' || *c == '\t')
			ret = buf_append(&b, *c == '\\' ? "\\\\" : *c == '\n' ? "\\n"
					     : *c == '\r' ? "\\r" : "\\t", 2);
		else
			ret = buf_append(&b, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *c));
	}
	if (ret < 0) {
		buf_release(&b, 0);
		return NULL;
	}
	return buf_detach(&b, &len);
}

static void draft_problem(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void draft_problem(struct plan *p, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL, *e;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	p->errors++;
	e = s ? status_escape(s) : NULL; /* it names what the user wrote */
	if (e) {
		buf_append(&p->problems, "  error: ", 9);
		buf_append(&p->problems, e, strlen(e));
		buf_append(&p->problems, "\n", 1);
	}
	free(e);
	free(s);
}

static void child_error(struct plan *p, struct child *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void child_error(struct plan *p, struct child *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error)
		return; /* the first reason is the one to fix */
	va_start(ap, fmt);
	if (vasprintf(&c->error, fmt, ap) < 0)
		c->error = NULL;
	va_end(ap);
	p->errors++;
}

/* Fill @pc with manifest @v (its bytes taken over) of @repo of @reg. */
static int piece_from_view(struct piece *pc, struct reg_registry *reg, const char *repo,
			   struct resolve_view *v)
{
	int ret;

	pc->reg = reg;
	pc->bytes = v->bytes;
	pc->len = v->len;
	pc->m = v->m;
	v->bytes = NULL;
	v->m = NULL;
	pc->repo = strdup(repo);
	memcpy(pc->desc.digest, v->digest, DIGEST_STR_LEN + 1);
	pc->desc.size = (int64_t)pc->len;
	pc->desc.media_type =
		strdup(pc->m->media_type ? pc->m->media_type : reg_mtype_string(pc->m->type));
	ret = pc->repo && pc->desc.media_type ? 0 : -ENOMEM;
	resolve_view_release(v);
	return ret;
}

/* Fill @pc from manifest @bytes (taken over), read as @content_type says.
 * -EINVAL for bytes that are no manifest. */
static int piece_take(struct piece *pc, struct reg_registry *reg, const char *repo, char *bytes,
		      size_t len, const char *content_type)
{
	struct resolve_view v;
	char digest[DIGEST_STR_LEN + 1];
	int ret;

	digest_of(bytes, len, digest);
	ret = resolve_view_take(&v, digest, bytes, len, content_type);
	return ret < 0 ? ret : piece_from_view(pc, reg, repo, &v);
}

/* --- resolving one link -------------------------------------------------- */

/* Add to @c the attestation manifests of @idx that refer to @image. */
static int carry_attestations(struct fs *fs, struct child *c, const struct piece *idx,
			      const char *image)
{
	struct piece *nv;
	char *b;
	size_t len;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < idx->m->n_entries; i++) {
		const struct reg_descriptor *d = &idx->m->entries[i];
		struct piece *a;

		if (!reg_descriptor_is_attestation(d) || !d->reference_digest ||
		    strcmp(d->reference_digest, image) != 0)
			continue;
		nv = realloc(c->attest, (c->n_attest + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->attest = nv;
		a = &c->attest[c->n_attest++];
		memset(a, 0, sizeof(*a));
		b = NULL;
		ret = resolve_manifest_by_digest(fs, idx->reg, idx->repo, d->digest, &b, &len);
		if (ret == 0)
			ret = piece_take(a, idx->reg, idx->repo, b, len, d->media_type);
		if (ret == 0) {
			a->desc.reference_type = d->reference_type ? strdup(d->reference_type) : NULL;
			a->desc.reference_digest = strdup(d->reference_digest);
			if (!a->desc.reference_digest || (d->reference_type && !a->desc.reference_type))
				ret = -ENOMEM;
		}
	}
	return ret;
}

/*
 * Refuse @c, a link to index @m (@what: "an index", or the index one
 * level up it is the one entry of): say how many entries it has, whether
 * some are indexes themselves, and which platform directories to link to
 * instead (@sub/NAME when @sub, the entry's name, is not NULL).
 */
static void refuse_index(struct plan *p, struct child *c, const char *what,
			 const struct reg_manifest *m, const char *sub)
{
	struct buf names = BUF_INIT(4096);
	size_t n = 0, nested = 0, shown = 0, len;
	char *list;

	for (size_t i = 0; i < m->n_entries; i++) {
		const char *name = m->entry_names ? m->entry_names[i] : NULL;

		if (reg_descriptor_is_attestation(&m->entries[i]))
			continue;
		n++;
		if (reg_mtype_is_index(reg_mtype_from_string(m->entries[i].media_type)))
			nested++;
		if (!name || shown == INDEX_NAMES_SHOWN)
			continue;
		if ((shown++ && buf_append(&names, ", ", 2) < 0) ||
		    (sub && (buf_append(&names, sub, strlen(sub)) < 0 ||
			     buf_append(&names, "/", 1) < 0)) ||
		    buf_append(&names, name, strlen(name)) < 0)
			break;
	}
	if (shown < n)
		buf_append(&names, ", ...", 5);
	list = buf_detach(&names, &len);
	if (n == 0)
		child_error(p, c, "not an image: %s with no image in it", what);
	else if (nested)
		child_error(p, c, "not an image: %s of %zu entries, %zu of them an index; link to "
			    "one of its platform directories (%s)", what, n, nested,
			    list ? list : "");
	else
		child_error(p, c, "not an image: %s of %zu image%s; link to one of its platform "
			    "directories (%s)", what, n, n == 1 ? "" : "s", list ? list : "");
	free(list);
	buf_release(&names, 0);
}

/* Take the one image of index @idx (in @repo of @reg) with its attestations. */
static int pick_from_index(struct fs *fs, struct plan *p, struct child *c, struct piece *idx)
{
	size_t image, *att = NULL, n_att = 0, n_images = 0;
	const char *name;
	char *b = NULL, *what = NULL;
	size_t len;
	int ret;

	ret = reg_index_pick_image(idx->m, &image, &att, &n_att, &n_images);
	if (ret == -EINVAL) {
		refuse_index(p, c, "an index", idx->m, NULL);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = resolve_manifest_by_digest(fs, idx->reg, idx->repo, idx->m->entries[image].digest, &b,
				      &len);
	if (ret == 0)
		ret = piece_take(&c->image, idx->reg, idx->repo, b, len,
				 idx->m->entries[image].media_type);
	if (ret == 0 && !reg_mtype_is_image(c->image.m->type)) {
		/* its one entry is no image either: say what it is, and where the
		 * images are (an index), rather than fail on its config later */
		name = idx->m->entry_names[image] ? idx->m->entry_names[image] : "?";
		if (!reg_mtype_is_index(c->image.m->type))
			child_error(p, c, "not an image: an index whose one entry, %s, is a "
				    "schema 1 manifest", name);
		else if (asprintf(&what, "an index whose one entry, %s, is an index", name) >= 0)
			refuse_index(p, c, what, c->image.m, name);
		else
			ret = -ENOMEM;
		free(what);
		free(att);
		return ret;
	}
	if (ret == 0)
		ret = carry_attestations(fs, c, idx, c->image.desc.digest);
	free(att);
	return ret;
}

/* Why link @c, resolved to @t (not a manifest), is no image: said to @c. */
static void refuse_target(struct plan *p, struct child *c, const struct resolved *t,
			  const char *rel)
{
	switch (t->kind) {
	case RESOLVED_ROOT:
		child_error(p, c, "not an image: the target is the mount's root");
		break;
	case RESOLVED_REGISTRY:
		child_error(p, c, "not an image: '%s' is a registry", rel);
		break;
	case RESOLVED_REPO:
		child_error(p, c, "not an image: '%s' is a repository or namespace; link to a tag",
			    rel);
		break;
	case RESOLVED_DRAFT:
		child_error(p, c, "not an image: '%s' is a draft, not pushed yet", rel);
		break;
	case RESOLVED_NOT_MANIFEST:
		child_error(p, c, "not an image: '%s' is %s", rel, t->why);
		break;
	case RESOLVED_UNREADABLE:
		child_error(p, c, "not an image: '%s' is a manifest regfs cannot read", rel);
		break;
	case RESOLVED_NONE:
		if (t->why)
			child_error(p, c, "not an image: '%s' is %s", rel, t->why);
		else
			child_error(p, c, "dangling link: no image at '%s'", rel);
		break;
	case RESOLVED_MANIFEST:
		if (!reg_mtype_is_index(t->view.m->type) && !reg_mtype_is_image(t->view.m->type))
			child_error(p, c, "not an image: '%s' is a schema 1 manifest", rel);
		break;
	}
}

/*
 * Resolve link @c to mount-relative path @rel, as `ls` shows it
 * (resolve_path), the tag fresh from the registry: an image, the one
 * image of an index, or an entry of a list (which brings that list's
 * attestations of it along).  What is wrong is said to @c; -errno only
 * for what stops the whole plan.
 */
static int resolve_child(struct fs *fs, struct plan *p, struct child *c, const char *rel)
{
	struct piece cur = {0}, parent = {0};
	struct resolved t;
	int ret = resolve_path(fs, rel, true, &t);

	if (ret == -ENOMEM || fs_not_now(ret))
		return ret;
	if (ret < 0) {
		child_error(p, c, "cannot read '%s' from the registry: %s", rel, strerror(-ret));
		p->fetch_err = p->fetch_err ? p->fetch_err : ret;
		return 0;
	}
	refuse_target(p, c, &t, rel);
	if (c->error || t.kind != RESOLVED_MANIFEST)
		goto out;
	/* by tag: "host/repo:tag" (what the tag holds now); by digest: "host/repo" */
	if (asprintf(&c->source, "%s/%s%s%s", reg_registry_host(t.reg), t.repo,
		     t.by_tag ? ":" : "", t.by_tag ? t.ref : "") < 0) {
		c->source = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = piece_from_view(&cur, t.reg, t.repo, &t.view);
	if (ret == 0 && t.parent.m)
		ret = piece_from_view(&parent, t.reg, t.repo, &t.parent);
	if (ret < 0)
		goto out;
	if (reg_mtype_is_image(cur.m->type)) {
		/* an entry of a list brings the list's attestations of it along */
		if (parent.m)
			ret = carry_attestations(fs, c, &parent, cur.desc.digest);
		c->image = cur;
		memset(&cur, 0, sizeof(cur));
	} else {
		ret = pick_from_index(fs, p, c, &cur);
	}
out:
	piece_release(&cur);
	piece_release(&parent);
	resolved_release(&t);
	return ret;
}

/* The platform of @c's image: its config, overridden by a link name in
 * platform form; then the checks on it. */
static int child_platform(struct fs *fs, struct plan *p, struct child *c)
{
	struct reg_platform *pl = calloc(1, sizeof(*pl));
	struct reg_platform named = {0};
	const char *arch, *variant;
	char *cfg = NULL, *last;
	bool named_platform;
	size_t len;
	int ret;

	if (!pl)
		return -ENOMEM;
	c->image.desc.platform = pl;
	ret = tree_config_read(fs, c->image.reg, c->image.repo, c->image.m, &cfg, &len);
	if (fs_not_now(ret))
		return ret;
	if (ret < 0) {
		child_error(p, c, "cannot read the image config: %s", strerror(-ret));
		p->fetch_err = p->fetch_err ? p->fetch_err : ret;
		return 0;
	}
	if (reg_config_platform(cfg, len, pl) < 0) {
		free(cfg);
		child_error(p, c, "not an image: its config is not valid JSON");
		return 0;
	}
	free(cfg);
	named_platform = reg_platform_from_name(c->name, &named) == 0;
	if (named_platform) {
		/* `docker manifest annotate`, as a file name */
		free(pl->os);
		free(pl->architecture);
		free(pl->variant);
		pl->os = named.os;
		pl->architecture = named.architecture;
		pl->variant = named.variant;
		named.os = named.architecture = named.variant = NULL;
		reg_platform_release(&named);
	}
	if (!pl->os || !*pl->os || !pl->architecture || !*pl->architecture) {
		child_error(p, c, "missing os/arch: the image config has no %s; name the link "
			    "<os>-<arch>[-<variant>] to set it",
			    !pl->os || !*pl->os ? "os" : "architecture");
		return 0;
	}
	/* the seed's convention: py-app-arm64v8 holds linux/arm64/v8 */
	last = strrchr(c->image.repo, '/');
	last = last ? last + 1 : c->image.repo;
	if (reg_name_suffix_platform(last, &arch, &variant) &&
	    (strcmp(arch, pl->architecture) != 0 ||
	     (variant && (!pl->variant || strcmp(variant, pl->variant) != 0)))) {
		char *have = reg_platform_string(pl);

		if (asprintf(&c->warning, "'%s' is named for %s%s%s but this entry is %s (from %s)",
			     last, arch, variant ? "/" : "", variant ? variant : "", have ? have : "?",
			     named_platform ? "the link's name" : "its config") < 0)
			c->warning = NULL;
		free(have);
	}
	return 0;
}

/* Read user file @name of the draft (at most DRAFT_USER_FILE_MAX bytes,
 * the cap its writes have): 0 with *bytes, -ENOENT when absent; a bigger
 * one (put there by other means) is a problem of the draft, said in
 * .status, and -EFBIG. */
static int read_user_file(struct fs *fs, struct plan *p, const char *name, char **bytes,
			  size_t *len)
{
	int ret = cache_draft_read_file(fs->drafts, p->path, name, DRAFT_USER_FILE_MAX, bytes, len);

	if (ret == -EFBIG)
		draft_problem(p, "%s: over %u bytes", name, DRAFT_USER_FILE_MAX);
	return ret;
}

/* The list type .mediatype asks for (REG_LIST_AUTO without one). */
static int read_mediatype(struct fs *fs, struct plan *p, enum reg_list_kind *kind)
{
	char *bytes = NULL;
	size_t len;
	int ret = read_user_file(fs, p, CACHE_DRAFT_MEDIATYPE, &bytes, &len);

	*kind = REG_LIST_AUTO;
	if (ret == 0 && reg_list_kind_parse(bytes, kind) < 0)
		draft_problem(p, ".mediatype: '%.*s' is neither 'docker' nor 'oci'",
			      (int)strcspn(bytes, "\r\n"), bytes);
	free(bytes);
	return ret == -ENOENT || ret == -EFBIG ? 0 : ret;
}

/* Annotation @key of the draft, added to @ann unless it is a problem. */
static int read_annotation(struct fs *fs, struct plan *p, const char *key,
			   struct reg_annotation *ann, size_t *n_ann)
{
	char *rel = NULL, *val = NULL;
	size_t len;
	int ret;

	if (asprintf(&rel, "%s/%s", CACHE_DRAFT_ANNOTATIONS, key) < 0)
		return -ENOMEM;
	ret = read_user_file(fs, p, rel, &val, &len);
	free(rel);
	if (ret == -EFBIG)
		return 0;
	if (ret < 0)
		return ret;
	/* `echo value > key` leaves a newline the value does not have */
	if (len && val[len - 1] == '\n')
		val[--len] = '\0';
	if (strlen(val) != len) {
		draft_problem(p, "annotation '%s': holds a NUL byte", key);
		free(val);
		return 0;
	}
	ann[*n_ann].key = strdup(key);
	ann[*n_ann].value = val;
	if (!ann[*n_ann].key) {
		free(val);
		return -ENOMEM;
	}
	(*n_ann)++;
	return 0;
}

/* Read .mediatype and .annotations of the draft. */
static int read_options(struct fs *fs, struct plan *p, enum reg_list_kind *kind,
			struct reg_annotation **ann, size_t *n_ann)
{
	struct cache_draft_listing dl = {0};
	char *dir = NULL;
	int ret;

	*ann = NULL;
	*n_ann = 0;
	ret = read_mediatype(fs, p, kind);
	if (ret < 0)
		return ret;
	if (asprintf(&dir, "%s/%s", p->path, CACHE_DRAFT_ANNOTATIONS) < 0)
		return -ENOMEM;
	ret = cache_draft_list(fs->drafts, dir, &dl);
	free(dir);
	if (ret == -ENOENT || ret == -ENOTDIR)
		return 0;
	if (ret < 0)
		return ret;
	*ann = calloc(dl.n ? dl.n : 1, sizeof(**ann));
	if (!*ann)
		ret = -ENOMEM;
	for (size_t i = 0; ret == 0 && i < dl.n; i++)
		ret = read_annotation(fs, p, dl.v[i].name, *ann, n_ann);
	cache_draft_listing_release(&dl);
	return ret;
}

static void annotations_free(struct reg_annotation *ann, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)ann[i].key);
		free((char *)ann[i].value);
	}
	free(ann);
}

/*
 * Compare the built list with where the tag is: read .base (where it
 * pointed when the draft began; none for a new tag), ask the registry
 * where it points now (fresh, one HEAD), and push the base list's own
 * bytes when the draft holds just what it held.  Sets p->digest.
 */
static int plan_against_base(struct fs *fs, struct plan *p, const struct reg_descriptor *descs,
			     size_t n_desc, const struct reg_annotation *ann, size_t n_ann)
{
	char *text = NULL, *bytes = NULL;
	struct stat st;
	size_t len;
	int ret;

	ret = cache_draft_read_file(fs->drafts, p->path, CACHE_DRAFT_BASE, DRAFT_BASE_MAX, &text, &len);
	if (ret == 0) {
		text[strcspn(text, "\r\n")] = '\0';
		if (digest_is_valid(text))
			memcpy(p->base, text, DIGEST_STR_LEN + 1);
		else
			draft_problem(p, ".base: '%.80s' is not a digest; rm -r the draft and start "
				      "again", text);
		free(text);
	} else if (ret != -ENOENT) {
		return ret;
	}
	if (p->base[0] &&
	    resolve_manifest_by_digest(fs, p->reg, p->repo, p->base, &bytes, &len) == 0 &&
	    reg_list_same_content(bytes, len, p->type, descs, n_desc, ann, n_ann)) {
		/* nothing changed: the same bytes, whichever tool wrote them */
		free(p->bytes);
		p->bytes = bytes;
		p->len = len;
		bytes = NULL;
		p->unchanged = true;
	}
	free(bytes);
	digest_of(p->bytes, p->len, p->digest);

	ret = fs->remote->manifest_digest(p->reg, p->repo, p->tag, p->current);
	if (ret == -ENOENT) {
		p->current[0] = '\0';
		ret = 0;
	}
	if (fs_not_now(ret))
		return ret;
	if (ret < 0) {
		/* the registry could not say: a commit would fail there too */
		p->fetch_err = p->fetch_err ? p->fetch_err : ret;
		draft_problem(p, "cannot ask the registry where %s:%s points: %s", p->repo, p->tag,
			      strerror(-ret));
		return 0;
	}
	p->moved = strcmp(p->current, p->base) != 0 && strcmp(p->current, p->digest) != 0;
	p->forced = cache_draft_stat(fs->drafts, p->path, CACHE_DRAFT_FORCE, &st) == 0;
	return 0;
}

/* The draft's own name: a tag of a valid repository. */
static void plan_check_name(struct plan *p)
{
	if (!p->repo)
		draft_problem(p, "no repository: a draft right below the registry names a "
			      "repository, not a tag; make the tag inside it");
	else if (!reg_name_is_repo(p->repo))
		draft_problem(p, "'%s' is not a valid repository name", p->repo);
	if (!reg_name_is_tag(p->tag))
		draft_problem(p, "'%s' is not a valid tag name", p->tag);
}

/* Link @name of the draft as a new child of @p: where it points, what
 * that is, and its platform.  0 or -errno. */
static int plan_link(struct fs *fs, struct plan *p, const char *name)
{
	struct child *c = &p->v[p->n++];
	char *rel = NULL;
	int ret;

	c->name = strdup(name);
	if (!c->name)
		return -ENOMEM;
	ret = cache_draft_readlink(fs->drafts, p->path, c->name, &c->target);
	if (ret < 0)
		return ret;
	ret = mountpath_resolve(fs->cfg.mountpoint, p->path, c->target, &rel);
	if (ret == -EXDEV || ret == -EINVAL) {
		child_error(p, c, "target outside the mount: '%s'", c->target);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = resolve_child(fs, p, c, rel);
	free(rel);
	if (ret == 0 && !c->error)
		ret = child_platform(fs, p, c);
	return ret;
}

/* One entry per platform: the runtime would pick one at random. */
static void plan_check_platforms(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		char *pi;

		if (p->v[i].error)
			continue;
		pi = reg_platform_string(p->v[i].image.desc.platform);
		for (size_t k = 0; pi && k < i; k++) {
			char *pk;

			if (p->v[k].error)
				continue;
			pk = reg_platform_string(p->v[k].image.desc.platform);
			if (pk && strcmp(pi, pk) == 0)
				child_error(p, &p->v[i], "duplicate platform %s: '%s' has it too",
					    pi, p->v[k].name);
			free(pk);
		}
		free(pi);
	}
}

/* The list's bytes from a plan without errors: its entries (each image
 * with its attestations), .mediatype and annotations; then how they
 * compare with where the tag is.  0 or -errno. */
static int plan_build(struct fs *fs, struct plan *p)
{
	struct reg_annotation *ann = NULL;
	struct reg_descriptor *descs = NULL;
	enum reg_list_kind kind;
	size_t n_ann = 0, n_desc = 0;
	char *why = NULL;
	int ret;

	ret = read_options(fs, p, &kind, &ann, &n_ann);
	if (ret < 0 || p->errors)
		goto out;
	for (size_t i = 0; i < p->n; i++)
		n_desc += 1 + p->v[i].n_attest;
	descs = calloc(n_desc ? n_desc : 1, sizeof(*descs));
	if (!descs) {
		ret = -ENOMEM;
		goto out;
	}
	n_desc = 0;
	for (size_t i = 0; i < p->n; i++) {
		descs[n_desc++] = p->v[i].image.desc;
		for (size_t k = 0; k < p->v[i].n_attest; k++)
			descs[n_desc++] = p->v[i].attest[k].desc;
	}
	ret = reg_list_build(descs, n_desc, kind, ann, n_ann, &p->bytes, &p->len, &p->type, &why);
	if (ret == -EINVAL) {
		draft_problem(p, "%s", why ? why : "the list cannot be built");
		ret = 0;
	}
	if (ret == 0 && p->bytes)
		ret = plan_against_base(fs, p, descs, n_desc, ann, n_ann);
out:
	free(why);
	free(descs); /* shallow copies */
	annotations_free(ann, n_ann);
	return ret;
}

/* Build the plan for draft node @d.  0 (the plan says what is wrong, if
 * anything) or -errno when the draft could not be read at all. */
static int plan_make(struct fs *fs, struct node *d, struct plan *p)
{
	struct cache_draft_listing dl = {0};
	int ret;

	memset(p, 0, sizeof(*p));
	buf_init(&p->problems, DRAFT_STATUS_MAX);
	p->draft = d;
	p->reg = d->reg;
	p->repo = d->repo;
	p->tag = d->ref;
	p->path = tree_path(d);
	if (!p->path)
		return -ENOMEM;
	ret = cache_draft_links(fs->drafts, p->path, &dl);
	if (ret < 0)
		return ret;
	plan_check_name(p);
	p->v = calloc(dl.n ? dl.n : 1, sizeof(*p->v));
	if (!p->v)
		ret = -ENOMEM;
	for (size_t i = 0; ret == 0 && i < dl.n; i++)
		ret = plan_link(fs, p, dl.v[i].name);
	cache_draft_listing_release(&dl);
	if (ret < 0)
		return ret;
	if (p->n == 0)
		draft_problem(p, "no entries: add one with ln -s TARGET %s/NAME", p->path);
	plan_check_platforms(p);
	return plan_build(fs, p);
}

/* What .status and .last-commit say of a tag that moved (p->moved): new
 * string, or NULL without memory. */
static char *moved_text(const struct plan *p)
{
	char *s = NULL;

	if (asprintf(&s, "the tag moved since this draft began: it was %s, it is %s now; %s",
		     p->base[0] ? p->base : "not there", p->current[0] ? p->current : "gone",
		     p->forced ? ".force is set, so a commit replaces it"
			       : "rm -r the draft to start again from what is there, or touch "
				 ".force to replace it") < 0)
		return NULL;
	return s;
}

/* --- .status, .preview.json, .digest ------------------------------------- */

static char *status_text(struct fs *fs, struct plan *p, int plan_ret, bool with_last)
{
	struct buf b = BUF_INIT(DRAFT_STATUS_MAX);
	char *line = NULL, *last = NULL;
	size_t len;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (asprintf(&line, __VA_ARGS__) >= 0) {                                           \
			buf_append(&b, line, strlen(line));                                        \
			free(line);                                                                \
		}                                                                                  \
	} while (0)

	/* what the user named (the draft, links, targets) is escaped: a name
	 * holding a newline must not pass for a line of its own */
	{
		char *repo = p->repo ? status_escape(p->repo) : NULL;
		char *tag = p->tag ? status_escape(p->tag) : NULL;

		ADD("draft %s/%s:%s\n", p->reg ? reg_registry_host(p->reg) : "?",
		    repo ? repo : "(none)", tag ? tag : "?");
		free(repo);
		free(tag);
	}
	for (size_t i = 0; i < p->n; i++) {
		struct child *c = &p->v[i];
		char *plat = c->error ? NULL : reg_platform_string(c->image.desc.platform);
		char *name = status_escape(c->name), *target = NULL, *error = NULL, *warning = NULL;

		target = c->target ? status_escape(c->target) : NULL;
		error = c->error ? status_escape(c->error) : NULL;
		warning = c->warning ? status_escape(c->warning) : NULL;
		if (c->error)
			ADD("  %s -> %s: error: %s\n", name ? name : "?", target ? target : "?",
			    error ? error : "?");
		else
			ADD("  %s -> %s: %s %s@%s%s\n", name ? name : "?", target ? target : "?",
			    plat ? plat : "?", c->source ? c->source : "?", c->image.desc.digest,
			    c->n_attest ? " (with attestations)" : "");
		if (c->warning)
			ADD("  %s: warning: %s\n", name ? name : "?", warning ? warning : "?");
		free(plat);
		free(name);
		free(target);
		free(error);
		free(warning);
	}
	if (p->problems.len)
		buf_append(&b, p->problems.data, p->problems.len);
	if (p->moved) {
		char *moved = moved_text(p);

		ADD("  %s: %s\n", p->forced ? "warning" : "error", moved ? moved : "the tag moved");
		free(moved);
	}
	if (plan_ret < 0)
		ADD("not ready: the draft could not be read: %s\n", strerror(-plan_ret));
	else if (p->errors)
		ADD("not ready: %d error%s\n", p->errors, p->errors == 1 ? "" : "s");
	else if (p->moved && !p->forced)
		ADD("not ready: the tag moved\n");
	else
		ADD("ready: %zu entr%s, %s %s%s\n", p->n, p->n == 1 ? "y" : "ies",
		    reg_mtype_string(p->type), p->digest,
		    p->unchanged ? " (unchanged: the list as it is)" : "");
	if (with_last && p->path && cache_draft_read_file(fs->drafts, p->path, CACHE_DRAFT_LAST_COMMIT,
					     DRAFT_LAST_COMMIT_MAX, &last, &len) == 0) {
		buf_append(&b, "last commit: ", 13);
		buf_append(&b, last, len);
		if (len && last[len - 1] != '\n')
			buf_append(&b, "\n", 1);
		free(last);
	}
#undef ADD
	return buf_detach(&b, &len);
}

int commit_plan_text(struct fs *fs, struct node *draft, char **preview, size_t *preview_len,
		     char **digest, char **status)
{
	struct plan p;
	int ret;

	if (preview)
		*preview = NULL;
	if (digest)
		*digest = NULL;
	if (status)
		*status = NULL;
	ret = plan_make(fs, draft, &p);
	if (fs_not_now(ret)) {
		/* a plan to make again where it may wait: no text of it */
		plan_release(&p);
		return ret;
	}
	if (status)
		*status = status_text(fs, &p, ret, true);
	if (ret == 0 && p.errors)
		ret = p.fetch_err ? p.fetch_err : -EINVAL;
	if (ret == 0 && preview) {
		*preview = p.bytes;
		*preview_len = p.len;
		p.bytes = NULL;
	}
	if (ret == 0 && digest && !(*digest = strdup(p.digest)))
		ret = -ENOMEM;
	plan_release(&p);
	return ret;
}

/* --- pushing ------------------------------------------------------------- */

struct blob_source {
	struct fs *fs;
	struct reg_registry *reg;
	const char *repo;
	const char *digest;
	int64_t size;
};

/* The bytes of a blob to upload: verified into the store first. */
static int open_blob_source(void *arg)
{
	struct blob_source *s = arg;
	int ret = -ENOENT;

	for (int tries = 0; tries < 3 && ret == -ENOENT; tries++) {
		ret = tree_blob_ensure(s->fs, s->reg, s->repo, s->digest, s->size);
		if (ret == 0)
			ret = cache_store_open_blob(s->fs->store, s->digest);
	}
	return ret;
}

/* Make manifest @pc present in the target, with all it refers to. */
static int push_piece(struct fs *fs, struct plan *p, struct piece *pc, struct buf *why)
{
	const char *from = NULL, *how;
	const char *host = reg_registry_host(p->reg);
	char *msg = NULL;
	int ret;

	ret = reg_manifest_exists(p->reg, p->repo, pc->desc.digest);
	if (ret == 0)
		return 0; /* there already, with everything it needs */
	if (ret != -ENOENT)
		goto fail;
	if (pc->reg == p->reg)
		from = pc->repo; /* the same registry: ask it to mount */
	for (size_t i = 0; i <= pc->m->n_layers; i++) {
		const struct reg_descriptor *d = i == 0 ? &pc->m->config : &pc->m->layers[i - 1];
		struct blob_source src = {fs, pc->reg, pc->repo, d->digest, d->size};

		/* layers that live elsewhere by design: the registry
		 * neither holds them nor asks for them */
		if (i > 0 && reg_descriptor_is_foreign(d))
			continue;
		ret = reg_blob_push(p->reg, p->repo, d->digest, d->size,
				    from && strcmp(from, p->repo) ? from : NULL, open_blob_source,
				    &src, &how);
		if (ret < 0) {
			if (asprintf(&msg, "blob %s into %s/%s: %s", d->digest, host, p->repo,
				     strerror(-ret)) < 0)
				msg = NULL;
			goto fail;
		}
		log_debug("commit %s/%s: blob %s %s", host, p->repo, d->digest, how);
	}
	ret = reg_manifest_put(p->reg, p->repo, pc->desc.digest, pc->desc.media_type, pc->bytes,
			       pc->len);
	if (ret == 0)
		return 0;
fail:
	if (!msg && asprintf(&msg, "manifest %s into %s/%s: %s", pc->desc.digest, host, p->repo,
			     strerror(-ret)) < 0)
		msg = NULL;
	if (msg)
		buf_append(why, msg, strlen(msg));
	free(msg);
	return ret;
}

static void record_failure(struct fs *fs, const char *path, const char *why, int err)
{
	char stamp[32], *text = NULL;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (asprintf(&text, "failed %s (%s): %s\n", stamp, strerror(-err), why) < 0)
		return;
	cache_draft_write_file(fs->drafts, path, CACHE_DRAFT_LAST_COMMIT, text, strlen(text));
	free(text);
}

/* After pushing @digest from draft @path, which changed meanwhile and was
 * kept: the draft now amends what was pushed (.base), and .last-commit
 * says what happened. */
static void record_kept(struct fs *fs, const char *path, const char *digest)
{
	char stamp[32], *text = NULL, *base = NULL;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (asprintf(&base, "%s\n", digest) >= 0)
		cache_draft_write_file(fs->drafts, path, CACHE_DRAFT_BASE, base, strlen(base));
	if (asprintf(&text, "pushed %s as %s; the draft changed during the commit and is kept: "
		     "touch .commit to push the change\n", stamp, digest) >= 0)
		cache_draft_write_file(fs->drafts, path, CACHE_DRAFT_LAST_COMMIT, text,
				       strlen(text));
	free(base);
	free(text);
}

#define PLAN_TRIES 3 /* plans made again when the draft changed while read */

/* Make the plan (@p) for draft @d at @path from one state of the draft:
 * its fingerprint (@fp) is the same before and after.  0, -EAGAIN when it
 * kept changing (@p holds the last plan), or plan_make()'s -errno; the
 * caller releases @p in every case. */
static int plan_snapshot(struct fs *fs, struct node *d, const char *path, struct plan *p,
			 char fp[DIGEST_STR_LEN + 1])
{
	char after[DIGEST_STR_LEN + 1];
	int ret = 0;

	for (int tries = 0; tries < PLAN_TRIES; tries++) {
		if (tries)
			plan_release(p);
		ret = cache_draft_fingerprint(fs->drafts, path, fp);
		if (ret < 0) {
			memset(p, 0, sizeof(*p));
			return ret;
		}
		ret = plan_make(fs, d, p);
		if (ret < 0)
			return ret;
		ret = cache_draft_fingerprint(fs->drafts, path, after);
		if (ret < 0 || strcmp(fp, after) == 0)
			return ret;
		log_debug("commit %s: the draft changed while it was read; reading it again", path);
	}
	return -EAGAIN;
}

static int push_plan(struct fs *fs, struct plan *p, struct buf *why)
{
	const char *host = reg_registry_host(p->reg);
	int ret;

	for (size_t i = 0; i < p->n; i++) {
		ret = push_piece(fs, p, &p->v[i].image, why);
		for (size_t k = 0; ret == 0 && k < p->v[i].n_attest; k++)
			ret = push_piece(fs, p, &p->v[i].attest[k], why);
		if (ret < 0)
			return ret;
	}
	ret = reg_manifest_put(p->reg, p->repo, p->tag, reg_mtype_string(p->type), p->bytes,
			       p->len);
	if (ret < 0) {
		char *msg = NULL;

		if (asprintf(&msg, "list %s/%s:%s: %s", host, p->repo, p->tag, strerror(-ret)) >= 0)
			buf_append(why, msg, strlen(msg));
		free(msg);
	}
	return ret;
}

#define COMMITTED_KEEP 60.0 /* seconds a commit answers a late `touch .commit` */

/* The memory cache remembers for a while that a path was just committed
 * (fs_key_committed): a second `touch .commit` the kernel queued behind
 * the first (creates in one directory are serialised) then finds the tag
 * live, and must succeed as the commit it waited for did. */
static void commit_remember(struct fs *fs, const char *path, const char *digest)
{
	char *key = fs_key_committed(path);

	if (key)
		cache_mem_put(fs->mem, key, digest, strlen(digest), COMMITTED_KEEP);
	free(key);
}

bool commit_was_just_done(struct fs *fs, struct node *tag)
{
	char *path = tree_path(tag), *key = path ? fs_key_committed(path) : NULL, *val = NULL;
	size_t len;
	bool ret = key && cache_mem_get(fs->mem, key, &val, &len) == 0;

	free(val);
	free(key);
	free(path);
	return ret;
}

/* Wait until no commit of @path runs, then claim it (*out).  0, -ENOMEM,
 * or -EINTR when the wait is called off (common/cancel.h): the other
 * commit may push for a while. */
static int commit_lock_take(struct fs *fs, const char *path, struct commit_lock **out)
{
	struct commit_lock *l = calloc(1, sizeof(*l));
	int ret = 0;

	*out = NULL;
	if (!l || !(l->path = strdup(path))) {
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_lock(&fs->commit_mutex);
	for (;;) {
		struct commit_lock *o = fs->commits;

		while (o && strcmp(o->path, path) != 0)
			o = o->next;
		if (!o)
			break;
		if (cancel_requested()) {
			ret = -EINTR;
			break;
		}
		cancel_cond_wait(&fs->commit_done, &fs->commit_mutex, CLOCK_MONOTONIC);
	}
	if (ret == 0) {
		l->next = fs->commits;
		fs->commits = l;
	}
	pthread_mutex_unlock(&fs->commit_mutex);
	if (ret < 0) {
		free(l->path);
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

static void commit_lock_drop(struct fs *fs, struct commit_lock *l)
{
	pthread_mutex_lock(&fs->commit_mutex);
	for (struct commit_lock **pp = &fs->commits; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	pthread_cond_broadcast(&fs->commit_done);
	pthread_mutex_unlock(&fs->commit_mutex);
	free(l->path);
	free(l);
}

int commit_run(struct fs *fs, struct node *draft, const struct fs_caller *who)
{
	struct buf why = BUF_INIT(DRAFT_LAST_COMMIT_MAX);
	struct commit_lock *lock;
	struct stat st;
	struct plan p;
	char *path = tree_path(draft), *status = NULL, fp[DIGEST_STR_LEN + 1];
	int ret;

	/* a push waits on the network from its first step: never on a
	 * thread that may not wait */
	if (!cancel_may_wait()) {
		free(path);
		return -CANCEL_WOULD_WAIT;
	}
	if (!path)
		return -ENOMEM;
	if (fs->cfg.offline) {
		log_warn("commit '%s' by uid %u (pid %d): not pushed: mounted with -o offline", path,
			 (unsigned)who->uid, (int)who->pid);
		free(path);
		return -ENETDOWN;
	}
	ret = commit_lock_take(fs, path, &lock);
	if (ret < 0) {
		free(path);
		return ret;
	}
	if (cache_draft_stat(fs->drafts, path, NULL, &st) < 0) {
		/* the commit we waited for pushed it */
		ret = -EALREADY;
		goto out_unlock;
	}
	ret = plan_snapshot(fs, draft, path, &p, fp);
	if (ret == -EAGAIN) {
		buf_append(&why, "the draft kept changing while the commit read it", 48);
	} else if (ret == 0 && p.errors) {
		ret = p.fetch_err ? (p.fetch_err == -EACCES ? -EACCES : -EIO) : -EINVAL;
		if (asprintf(&status, "the draft is not ready (%d error%s)\n", p.errors,
			     p.errors == 1 ? "" : "s") >= 0)
			buf_append(&why, status, strlen(status));
		for (size_t i = 0; i < p.n; i++) {
			char *name = p.v[i].error ? status_escape(p.v[i].name) : NULL;
			char *error = p.v[i].error ? status_escape(p.v[i].error) : NULL;

			free(status);
			status = NULL;
			if (name && error && asprintf(&status, "  %s: %s\n", name, error) >= 0)
				buf_append(&why, status, strlen(status));
			free(name);
			free(error);
		}
		if (p.problems.len)
			buf_append(&why, p.problems.data, p.problems.len);
	} else if (ret == 0 && p.moved && !p.forced) {
		/* someone else pushed the tag since: do not overwrite it */
		ret = -EBUSY;
		status = moved_text(&p);
		if (status)
			buf_append(&why, status, strlen(status));
	} else if (ret == 0) {
		log_info("commit %s by uid %u (pid %d): pushing %s (%zu entries) to %s/%s:%s%s", path,
			 (unsigned)who->uid, (int)who->pid, p.digest, p.n, reg_registry_host(p.reg),
			 p.repo, p.tag,
			 p.moved ? ", replacing what someone else pushed (.force)" : "");
		ret = push_plan(fs, &p, &why);
		if (ret == 0) {
			resolve_forget_pushed(fs, p.reg, p.repo, p.tag);
			cache_store_put(fs->store, p.digest, p.bytes, p.len);
			ret = cache_draft_remove_unchanged(fs->drafts, path, fp);
			log_info("commit %s by uid %u (pid %d): pushed %s/%s:%s as %s%s", path,
				 (unsigned)who->uid, (int)who->pid, reg_registry_host(p.reg), p.repo,
				 p.tag, p.digest, ret == 1 ? "; the draft changed meanwhile and is "
				 "kept" : "");
			if (ret == 1) {
				/* not remembered as done: the next touch pushes the change */
				record_kept(fs, path, p.digest);
				ret = 0;
			} else {
				commit_remember(fs, path, p.digest);
			}
		} else if (ret != -EACCES) {
			ret = -EIO; /* what failed is in .last-commit and the log */
		}
	} else {
		buf_append(&why, "the draft could not be read", 27);
	}
	if (ret < 0) {
		record_failure(fs, path, why.data ? why.data : "?", ret);
		log_err("commit %s by uid %u (pid %d): failed: %s", path, (unsigned)who->uid,
			(int)who->pid, why.data ? why.data : strerror(-ret));
	}
	plan_release(&p);
out_unlock:
	commit_lock_drop(fs, lock);
	buf_release(&why, 0);
	free(status);
	free(path);
	return ret;
}

void commit_init(struct fs *fs)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&fs->commit_mutex, NULL);
	/* waits are timed slices on the monotonic clock (commit_lock_take) */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->commit_done, &ca);
	pthread_condattr_destroy(&ca);
	fs->commits = NULL;
}

void commit_release(struct fs *fs)
{
	pthread_mutex_destroy(&fs->commit_mutex);
	pthread_cond_destroy(&fs->commit_done);
}
