/*
 * Lexical paths inside the mount: a draft's symlink target turned into a
 * path relative to the mount root by string work alone.  The daemon serves
 * the mount, so a stat() or realpath() of a path below it would call back
 * into this very process (and deadlock a busy worker pool); nothing here
 * touches the filesystem.
 *
 * Paths are handled as stacks of components pointing into the caller's
 * strings: "." and empty components vanish, ".." pops.  Absolute targets
 * are normalised the way the kernel walks them ("/.." is "/") and then
 * compared with the mountpoint component by component, so "/mnt/regfs2"
 * is not mistaken for a path below "/mnt/regfs".
 */
#include "fs/mountpath.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct comp {
	const char *s; /* borrowed: points into a caller's string */
	size_t len;
};

struct comps {
	struct comp *v; /* owned */
	size_t n, cap;
};

/* Room for every component of @path more (a component takes at least one
 * byte and a separator). */
static int comps_reserve(struct comps *c, const char *path)
{
	size_t need = c->n + strlen(path) / 2 + 1;
	struct comp *v;

	if (need <= c->cap)
		return 0;
	v = realloc(c->v, need * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	c->cap = need;
	return 0;
}

enum dotdot {
	DOTDOT_CLAMP,  /* ".." at the bottom stays there, as "/.." is "/" */
	DOTDOT_EXDEV,  /* ".." at the bottom leaves the mount: -EXDEV */
	DOTDOT_EINVAL, /* no ".." at all (the caller's own paths): -EINVAL */
};

/* Push the components of @path onto @c; the strings stay borrowed. */
static int comps_walk(struct comps *c, const char *path, enum dotdot rule)
{
	int ret = comps_reserve(c, path);

	if (ret < 0)
		return ret;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* empty (a run of '/') or ".": nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (rule == DOTDOT_EINVAL)
				return -EINVAL;
			if (c->n > 0)
				c->n--;
			else if (rule == DOTDOT_EXDEV)
				return -EXDEV;
		} else {
			c->v[c->n].s = p;
			c->v[c->n].len = len;
			c->n++;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* Components @from.. of @c joined by '/'; a new string or NULL. */
static char *comps_join(const struct comps *c, size_t from)
{
	size_t total = 1, o = 0;
	char *s;

	for (size_t i = from; i < c->n; i++)
		total += c->v[i].len + 1;
	s = malloc(total);
	if (!s)
		return NULL;
	for (size_t i = from; i < c->n; i++) {
		if (o > 0)
			s[o++] = '/';
		memcpy(s + o, c->v[i].s, c->v[i].len);
		o += c->v[i].len;
	}
	s[o] = '\0';
	return s;
}

int mountpath_resolve(const char *mountpoint, const char *link_dir, const char *target, char **out)
{
	struct comps mp = {NULL, 0, 0}, t = {NULL, 0, 0};
	size_t from = 0;
	int ret = -EINVAL;

	*out = NULL;
	if (!mountpoint || mountpoint[0] != '/' || !target || !*target)
		goto out;
	/* What symlink(2) takes: PATH_MAX counts the NUL. */
	if (strnlen(target, PATH_MAX) >= PATH_MAX)
		goto out;
	ret = comps_walk(&mp, mountpoint, DOTDOT_CLAMP);
	if (ret < 0)
		goto out;

	if (target[0] == '/') {
		ret = comps_walk(&t, target, DOTDOT_CLAMP);
		if (ret < 0)
			goto out;
		ret = -EXDEV;
		if (t.n < mp.n)
			goto out;
		for (size_t i = 0; i < mp.n; i++)
			if (t.v[i].len != mp.v[i].len ||
			    memcmp(t.v[i].s, mp.v[i].s, t.v[i].len) != 0)
				goto out;
		from = mp.n;
	} else {
		ret = comps_walk(&t, link_dir ? link_dir : "", DOTDOT_EINVAL);
		if (ret < 0)
			goto out;
		/* Above the mount root is outside the mount, unless the mount
		 * is "/" itself, whose parent is itself. */
		ret = comps_walk(&t, target, mp.n == 0 ? DOTDOT_CLAMP : DOTDOT_EXDEV);
		if (ret < 0)
			goto out;
	}

	ret = -ENOMEM;
	*out = comps_join(&t, from);
	if (!*out)
		goto out;
	ret = 0;
out:
	free(mp.v);
	free(t.v);
	return ret;
}

int mountpath_split(const char *path, char ***v, size_t *n)
{
	char **parts = NULL;
	size_t k = 0, cap;
	int ret = -ENOMEM;

	*v = NULL;
	*n = 0;
	if (!path)
		path = "";
	cap = strlen(path) / 2 + 2; /* every component, and the NULL after them */
	parts = calloc(cap, sizeof(*parts));
	if (!parts)
		goto out;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if (len > 0) {
			parts[k] = strndup(p, len);
			if (!parts[k])
				goto out;
			k++;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	*v = parts; /* success: hand over ownership */
	parts = NULL;
	*n = k;
	ret = 0;
out:
	mountpath_free_parts(parts, k);
	return ret;
}

void mountpath_free_parts(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char *mountpath_join(const char *a, const char *b)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}
