/*
 * Layers merged into one tree (layer/merge.h).  The tree is kept as one
 * array sorted as an index's entries are, so a subtree is a contiguous run:
 * each layer in turn first cuts from what lies below it (the whiteouts'
 * targets, the subtrees under its non-directories, every child of an
 * opaque directory), then merges its own entries in, one sorted walk over
 * both arrays.  Nothing is resolved through a symlink.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "layer/merge.h"

struct item {
	const char *path; /* borrowed from the layer's index */
	uint32_t len;
	uint32_t layer, entry;
};

/* What a layer removes from the layers below: @path's subtree, and @path
 * itself when @self. */
struct cut {
	char *path; /* owned */
	size_t len;
	bool self;
};

struct layer_merge {
	struct layer_index *const *layers; /* borrowed */
	size_t n_layers;
	struct layer_merged *e; /* owned */
	const char **paths;	/* owned array; the strings borrowed from the indexes */
	uint32_t *lens;
	size_t n;
};

static int cut_cmp(const void *pa, const void *pb)
{
	const struct cut *a = pa, *b = pb;

	return layer_path_cmp(a->path, a->len, b->path, b->len);
}

static int cut_add(struct cut **cuts, size_t *n, size_t *cap, const char *dir, size_t dlen,
		   const char *name, size_t nlen, bool self)
{
	struct cut *c;

	if (array_reserve(cuts, cap, *n + 1, sizeof(**cuts)) < 0)
		return -ENOMEM;
	c = &(*cuts)[*n];
	c->len = dlen + (dlen && nlen ? 1 : 0) + nlen;
	c->path = malloc(c->len + 1);
	if (!c->path)
		return -ENOMEM;
	memcpy(c->path, dir, dlen);
	if (dlen && nlen)
		c->path[dlen] = '/';
	memcpy(c->path + c->len - nlen, name, nlen);
	c->path[c->len] = '\0';
	c->self = self;
	(*n)++;
	return 0;
}

/* Is @p, or a directory above it, cut? */
static bool is_cut(const struct cut *cuts, size_t n, const char *p, size_t len)
{
	for (size_t k = 0; k <= len; k++) {
		struct cut key;
		const struct cut *c;

		if (k < len && p[k] != '/')
			continue;
		key.path = (char *)p;
		key.len = k;
		c = bsearch(&key, cuts, n, sizeof(*cuts), cut_cmp);
		if (c && (c->self || k < len))
			return true;
	}
	return false;
}

static const char *base_of(const char *p, size_t len, size_t *dlen)
{
	size_t k = len;

	while (k > 0 && p[k - 1] != '/')
		k--;
	*dlen = k ? k - 1 : 0;
	return p + k;
}

/* Lay layer @l of @layers over the *@n items of *@cur (sorted, from the
 * layers below it); *@cur and *@n get the result.  0, -EFBIG or -ENOMEM. */
static int merge_layer(struct item **cur, size_t *n, struct layer_index *const *layers, uint32_t l)
{
	const struct layer_index *ix = layers[l];
	struct cut *cuts = NULL;
	size_t n_cuts = 0, cap_cuts = 0, count = layer_index_count(ix), m = 0, i = 0, j = 0;
	struct item *out = NULL;
	int ret = -ENOMEM;

	for (size_t k = 1; k < count; k++) {
		const struct layer_entry *e = layer_index_entry(ix, k);
		const char *p = layer_entry_path(ix, e), *base;
		size_t dlen;

		base = base_of(p, e->path_len, &dlen);
		if (!strcmp(base, LAYER_WH_OPAQUE))
			ret = cut_add(&cuts, &n_cuts, &cap_cuts, p, dlen, "", 0, false);
		else if (!strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)))
			ret = base[4] ? cut_add(&cuts, &n_cuts, &cap_cuts, p, dlen, base + 4,
						strlen(base + 4), true)
				      : 0;
		else if (e->type != LAYER_DIR)
			ret = cut_add(&cuts, &n_cuts, &cap_cuts, p, e->path_len, "", 0, false);
		else
			ret = 0;
		if (ret < 0)
			goto out;
	}
	qsort(cuts, n_cuts, sizeof(*cuts), cut_cmp);
	/* one cut per path: a whiteout and a subtree cut of the same path are one */
	for (size_t k = 1, w = 0; k <= n_cuts; k++) {
		if (k < n_cuts && cut_cmp(&cuts[w], &cuts[k]) == 0) {
			cuts[w].self |= cuts[k].self;
			free(cuts[k].path);
			continue;
		}
		if (k < n_cuts)
			cuts[++w] = cuts[k];
		else
			n_cuts = w + 1;
	}

	ret = -ENOMEM;
	out = malloc((*n + count) * sizeof(*out));
	if (!out)
		goto out;
	while (i < *n || j < count) {
		const struct layer_entry *e = j < count ? layer_index_entry(ix, j) : NULL;
		const char *p = e ? layer_entry_path(ix, e) : NULL;
		struct item up = { p, e ? e->path_len : 0, l, (uint32_t)j };
		int c;

		if (e && j > 0) {
			size_t dlen;

			if (!strncmp(base_of(p, e->path_len, &dlen), LAYER_WH_PREFIX,
				     strlen(LAYER_WH_PREFIX))) {
				j++; /* markers are not shown */
				continue;
			}
		}
		if (i < *n && is_cut(cuts, n_cuts, (*cur)[i].path, (*cur)[i].len)) {
			i++;
			continue;
		}
		if (i == *n)
			c = 1;
		else if (!e)
			c = -1;
		else
			c = layer_path_cmp((*cur)[i].path, (*cur)[i].len, p, e->path_len);
		if (c < 0) {
			out[m++] = (*cur)[i++];
		} else if (c > 0) {
			out[m++] = up;
			j++;
		} else {
			const struct item *low = &(*cur)[i];
			const struct layer_entry *le =
				layer_index_entry(layers[low->layer], low->entry);

			/* a directory the layer only implies keeps the real one below */
			if (e->type == LAYER_DIR && (e->flags & LAYER_F_IMPLICIT) &&
			    le->type == LAYER_DIR)
				out[m++] = *low;
			else
				out[m++] = up;
			i++;
			j++;
		}
		if (m > LAYER_MERGE_ENTRIES_MAX) {
			ret = -EFBIG;
			goto out;
		}
	}
	free(*cur);
	*cur = out;
	*n = m;
	out = NULL;
	ret = 0;
out:
	for (size_t k = 0; k < n_cuts; k++)
		free(cuts[k].path);
	free(cuts);
	free(out);
	return ret;
}

int layer_merge_new(struct layer_index *const *layers, size_t n, struct layer_merge **out)
{
	struct layer_merge *m = NULL;
	struct item *cur = NULL;
	size_t n_cur = 0;
	uint32_t stack[LAYER_DEPTH_MAX + 2];
	size_t top = 0;
	int ret = -EINVAL;

	*out = NULL;
	if (n == 0 || n > UINT32_MAX)
		goto out;
	for (size_t l = 0; l < n; l++) {
		ret = merge_layer(&cur, &n_cur, layers, (uint32_t)l);
		if (ret < 0)
			goto out;
	}
	if (n_cur == 0 || cur[0].len != 0)
		BUG("merged layers lost their root");
	stack[0] = 0;
	ret = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->layers = layers;
	m->n_layers = n;
	m->e = malloc(n_cur * sizeof(*m->e));
	m->paths = malloc(n_cur * sizeof(*m->paths));
	m->lens = malloc(n_cur * sizeof(*m->lens));
	if (!m->e || !m->paths || !m->lens)
		goto out;
	/* parents and subtree ends, as index_link() does; the root is cur[0] */
	for (size_t i = 0; i < n_cur; i++) {
		const struct item *it = &cur[i];
		struct layer_merged *me;

		if (m->n > 0) {
			size_t dlen;

			base_of(it->path, it->len, &dlen);
			for (;;) {
				uint32_t a = stack[top];

				if (top == 0 || (it->len > m->lens[a] && it->path[m->lens[a]] == '/' &&
						 !memcmp(it->path, m->paths[a], m->lens[a])))
					break;
				m->e[a].end = (uint32_t)m->n;
				top--;
			}
			/* cannot happen after the cuts; skipped rather than trusted */
			if (m->lens[stack[top]] != dlen ||
			    layer_index_entry(layers[m->e[stack[top]].layer],
					      m->e[stack[top]].entry)->type != LAYER_DIR ||
			    top + 1 > LAYER_DEPTH_MAX)
				continue;
		}
		me = &m->e[m->n];
		me->layer = it->layer;
		me->entry = it->entry;
		me->parent = m->n ? stack[top] : 0;
		m->paths[m->n] = it->path;
		m->lens[m->n] = it->len;
		if (m->n > 0)
			top++;
		stack[top] = (uint32_t)m->n;
		m->n++;
	}
	for (;;) {
		m->e[stack[top]].end = (uint32_t)m->n;
		if (top == 0)
			break;
		top--;
	}
	*out = m;
	m = NULL;
	ret = 0;
out:
	free(cur);
	layer_merge_free(m);
	return ret;
}

void layer_merge_free(struct layer_merge *m)
{
	if (!m)
		return;
	free(m->e);
	free(m->paths);
	free(m->lens);
	free(m);
}

size_t layer_merge_memory(const struct layer_merge *m)
{
	return sizeof(*m) + m->n * (sizeof(*m->e) + sizeof(*m->paths) + sizeof(*m->lens));
}

size_t layer_merge_count(const struct layer_merge *m)
{
	return m->n;
}

const struct layer_merged *layer_merge_entry(const struct layer_merge *m, size_t i)
{
	if (i >= m->n)
		BUG("merged entry out of range");
	return &m->e[i];
}

const char *layer_merge_path(const struct layer_merge *m, size_t i)
{
	if (i >= m->n)
		BUG("merged entry out of range");
	return m->paths[i];
}

struct layer_index *layer_merge_index(const struct layer_merge *m, size_t i)
{
	return m->layers[layer_merge_entry(m, i)->layer];
}

const struct layer_entry *layer_merge_layer_entry(const struct layer_merge *m, size_t i)
{
	const struct layer_merged *e = layer_merge_entry(m, i);

	return layer_index_entry(m->layers[e->layer], e->entry);
}

size_t layer_merge_find(const struct layer_merge *m, const char *path)
{
	size_t lo = 0, hi = m->n, plen = strlen(path);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = layer_path_cmp(m->paths[mid], m->lens[mid], path, plen);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return LAYER_NONE;
}

size_t layer_merge_child_first(const struct layer_merge *m, size_t dir)
{
	if (dir >= m->n || layer_merge_layer_entry(m, dir)->type != LAYER_DIR)
		return LAYER_NONE;
	return dir + 1 < m->e[dir].end ? dir + 1 : LAYER_NONE;
}

size_t layer_merge_child_next(const struct layer_merge *m, size_t child)
{
	if (child == 0 || child >= m->n)
		return LAYER_NONE;
	return m->e[child].end < m->e[m->e[child].parent].end ? m->e[child].end : LAYER_NONE;
}
