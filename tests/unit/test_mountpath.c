/*
 * Unit tests for common/mountpath.c: symlink targets in drafts turned into
 * mount-relative paths by string work alone.  Hostile targets (".." above
 * the root, absolute paths outside the mount or next to it, prefix tricks
 * like "/mnt/regfs2", runs of slashes and dots, over-long targets) must
 * come out as -EXDEV or -EINVAL, never as a path that escapes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mountpath.h"

#include "check.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define MNT "/mnt/regfs"
#define LDIR "localhost:5000/onap/py-app/latest"

struct resolve_case {
	const char *mountpoint;
	const char *link_dir;
	const char *target;
	int ret;
	const char *want; /* on success */
};

static const struct resolve_case cases[] = {
    /* Relative, the way `ln -s ../../py-app-amd64/latest linux-amd64` writes it. */
    {MNT, LDIR, "../../py-app-amd64/latest", 0, "localhost:5000/onap/py-app-amd64/latest"},
    {MNT, LDIR, "../../py-app-amd64/latest/", 0, "localhost:5000/onap/py-app-amd64/latest"},
    {MNT, LDIR, "../../py-app-amd64/latest//", 0, "localhost:5000/onap/py-app-amd64/latest"},
    {MNT, LDIR, "../../py-app-amd64//./latest/.", 0, "localhost:5000/onap/py-app-amd64/latest"},
    {MNT, LDIR, "../../../../localhost:5000/onap/py-app-mips/latest", 0,
     "localhost:5000/onap/py-app-mips/latest"},
    {MNT, LDIR, "../v1/linux-arm64-v8", 0, "localhost:5000/onap/py-app/v1/linux-arm64-v8"},
    {MNT, LDIR, "../@sha256:0123", 0, "localhost:5000/onap/py-app/@sha256:0123"},
    {MNT, LDIR, "x/./y", 0, LDIR "/x/y"},
    {MNT, LDIR, "x/../y", 0, LDIR "/y"},
    {MNT, LDIR, ".", 0, LDIR},
    {MNT, LDIR, "./", 0, LDIR},
    {MNT, LDIR, "..", 0, "localhost:5000/onap/py-app"},
    {MNT, LDIR, "../../../..", 0, ""},
    {MNT, LDIR, "../../../../", 0, ""},
    {MNT, LDIR, "../../../../.", 0, ""},
    {MNT, LDIR, "...", 0, LDIR "/..."},
    {MNT, LDIR, "a/.../b", 0, LDIR "/a/.../b"},
    {MNT, LDIR, "..a/.b/b..", 0, LDIR "/..a/.b/b.."},
    {MNT, LDIR, "with space", 0, LDIR "/with space"},
    /* ".." above the mount root leaves the mount, even to come back. */
    {MNT, LDIR, "../../../../..", -EXDEV, NULL},
    {MNT, LDIR, "../../../../../", -EXDEV, NULL},
    {MNT, LDIR, "../../../../../regfs/localhost:5000", -EXDEV, NULL},
    {MNT, LDIR, "x/../../../../../..", -EXDEV, NULL},
    {MNT, LDIR, "../../../../../../../../../../etc/passwd", -EXDEV, NULL},
    /* Absolute, through the mountpoint. */
    {MNT, LDIR, MNT "/localhost:5000/onap/py-app-mips/latest", 0,
     "localhost:5000/onap/py-app-mips/latest"},
    {MNT, LDIR, MNT, 0, ""},
    {MNT, LDIR, MNT "/", 0, ""},
    {MNT, LDIR, MNT "/.", 0, ""},
    {MNT, LDIR, MNT "/a/", 0, "a"},
    {MNT, LDIR, "//mnt///regfs//a//b//", 0, "a/b"},
    {MNT, LDIR, "/mnt/./regfs/a", 0, "a"},
    {MNT, LDIR, MNT "/../regfs/a", 0, "a"},
    {MNT, LDIR, MNT "/a/../../../mnt/regfs/b", 0, "b"},
    {MNT, LDIR, "/../mnt/regfs/a", 0, "a"}, /* "/.." is "/" */
    {MNT, LDIR, "/../../../mnt/regfs", 0, ""},
    {MNT, "", MNT "/x", 0, "x"},
    /* Absolute, outside the mount. */
    {MNT, LDIR, "/mnt/regfs2/x", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/regfs2", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/regf", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/regf/s", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/regfs.x/a", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/Regfs/a", -EXDEV, NULL},
    {MNT, LDIR, "/mnt", -EXDEV, NULL},
    {MNT, LDIR, "/mnt/", -EXDEV, NULL},
    {MNT, LDIR, "/", -EXDEV, NULL},
    {MNT, LDIR, "//", -EXDEV, NULL},
    {MNT, LDIR, "/etc/passwd", -EXDEV, NULL},
    {MNT, LDIR, MNT "/..", -EXDEV, NULL},
    {MNT, LDIR, MNT "/../regfs2/x", -EXDEV, NULL},
    {MNT, LDIR, MNT "/a/../..", -EXDEV, NULL},
    {MNT, LDIR, "/regfs/mnt", -EXDEV, NULL},
    {MNT, LDIR, "/x/mnt/regfs", -EXDEV, NULL},
    /* The link directory. */
    {MNT, "", "a/b", 0, "a/b"},
    {MNT, "", "a/b/", 0, "a/b"},
    {MNT, "", ".", 0, ""},
    {MNT, "", "./", 0, ""},
    {MNT, "", "a/..", 0, ""},
    {MNT, "", "..", -EXDEV, NULL},
    {MNT, "", "../x", -EXDEV, NULL},
    {MNT, "", "a/../..", -EXDEV, NULL},
    {MNT, NULL, "a", 0, "a"},
    {MNT, "a//b/", "c", 0, "a/b/c"},
    {MNT, "/a/b", "c", 0, "a/b/c"},
    {MNT, "a/./b", "../c", 0, "a/c"},
    {MNT, "a/../b", "c", -EINVAL, NULL},
    {MNT, "..", "c", -EINVAL, NULL},
    /* The mountpoint. */
    {MNT "/", LDIR, MNT "/x", 0, "x"},
    {MNT "//", LDIR, "/mnt/regfs2/x", -EXDEV, NULL},
    {"/", "", "/a/b", 0, "a/b"},
    {"/", "", "/", 0, ""},
    {"/", "", "..", 0, ""}, /* the parent of "/" is "/" */
    {"/", "a", "../../b", 0, "b"},
    {"/", "", "/../a", 0, "a"},
    {"mnt/regfs", LDIR, "x", -EINVAL, NULL},
    {"", LDIR, "x", -EINVAL, NULL},
    {NULL, LDIR, "x", -EINVAL, NULL},
    /* Empty targets. */
    {MNT, LDIR, "", -EINVAL, NULL},
    {MNT, LDIR, NULL, -EINVAL, NULL},
    {MNT, "", "", -EINVAL, NULL},
};

static void test_resolve_table(void)
{
	for (size_t i = 0; i < COUNT(cases); i++) {
		const struct resolve_case *c = &cases[i];
		char *out = (char *)1;
		int ret = mountpath_resolve(c->mountpoint, c->link_dir, c->target, &out);

		CHECK(ret == c->ret, "case %zu \"%s\" in \"%s\" under \"%s\": ret %d, want %d", i,
		      c->target ? c->target : "(null)", c->link_dir ? c->link_dir : "(null)",
		      c->mountpoint ? c->mountpoint : "(null)", ret, c->ret);
		if (ret < 0) {
			CHECK(out == NULL, "case %zu: out set on error", i);
			continue;
		}
		if (ret != c->ret) {
			free(out);
			continue;
		}
		CHECK(out && strcmp(out, c->want) == 0, "case %zu \"%s\": \"%s\", want \"%s\"", i,
		      c->target, out ? out : "(null)", c->want);
		/* Never a path that could escape: no leading or trailing '/',
		 * no empty, "." or ".." component. */
		if (out && *out) {
			size_t n = strlen(out);

			CHECK(out[0] != '/' && out[n - 1] != '/' && !strstr(out, "//") &&
				  strcmp(out, "..") != 0 && strncmp(out, "../", 3) != 0 &&
				  !strstr(out, "/../") &&
				  !(n >= 3 && strcmp(out + n - 3, "/..") == 0) &&
				  strcmp(out, ".") != 0 && strncmp(out, "./", 2) != 0 &&
				  !strstr(out, "/./"),
			      "case %zu: unclean \"%s\"", i, out);
		}
		free(out);
	}
}

/* The target limit is symlink(2)'s: PATH_MAX - 1 bytes. */
static void test_resolve_long(void)
{
	char *t = malloc(PATH_MAX + 2), *out = NULL;
	int ret;

	if (!t)
		return;
	/* "a/a/a/...": PATH_MAX - 1 bytes. */
	for (size_t i = 0; i < PATH_MAX - 1; i++)
		t[i] = i % 2 ? '/' : 'a';
	t[PATH_MAX - 1] = '\0';
	ret = mountpath_resolve(MNT, LDIR, t, &out);
	CHECK(ret == 0 && out && strncmp(out, LDIR "/a/a/", strlen(LDIR) + 5) == 0,
	      "PATH_MAX - 1: ret %d", ret);
	free(out);
	out = NULL;

	t[PATH_MAX - 1] = 'a';
	t[PATH_MAX] = '\0';
	ret = mountpath_resolve(MNT, LDIR, t, &out);
	CHECK(ret == -EINVAL && out == NULL, "PATH_MAX: ret %d", ret);

	/* 2000 ".." from a deep link dir: every one pops, the last leaves. */
	{
		char dir[4096] = "", target[8192] = "";

		for (int i = 0; i < 1000; i++)
			strcat(dir, i ? "/d" : "d");
		for (int i = 0; i < 1000; i++)
			strcat(target, "../");
		ret = mountpath_resolve(MNT, dir, target, &out);
		CHECK(ret == 0 && out && *out == '\0', "1000 up: ret %d \"%s\"", ret,
		      out ? out : "");
		free(out);
		out = NULL;
		strcat(target, "..");
		ret = mountpath_resolve(MNT, dir, target, &out);
		CHECK(ret == -EXDEV && out == NULL, "1001 up: ret %d", ret);
	}

	/* Only slashes: the mount root through the mountpoint "/". */
	memset(t, '/', PATH_MAX - 1);
	t[PATH_MAX - 1] = '\0';
	ret = mountpath_resolve("/", "", t, &out);
	CHECK(ret == 0 && out && *out == '\0', "slashes: ret %d", ret);
	free(out);
	out = NULL;
	ret = mountpath_resolve(MNT, "", t, &out);
	CHECK(ret == -EXDEV && out == NULL, "slashes outside: ret %d", ret);
	free(t);
}

static void test_split(void)
{
	static const struct {
		const char *path;
		size_t n;
		const char *want[4];
	} c[] = {
	    {"", 0, {NULL}},
	    {NULL, 0, {NULL}},
	    {"/", 0, {NULL}},
	    {"///", 0, {NULL}},
	    {"a", 1, {"a"}},
	    {"a/b/c", 3, {"a", "b", "c"}},
	    {"/a//b/", 2, {"a", "b"}},
	    {"localhost:5000/onap/py-app", 3, {"localhost:5000", "onap", "py-app"}},
	    {"a/./..", 3, {"a", ".", ".."}},
	    {"@sha256:00/x y", 2, {"@sha256:00", "x y"}},
	};

	for (size_t i = 0; i < COUNT(c); i++) {
		char **v = (char **)1;
		size_t n = 99;
		int ret = mountpath_split(c[i].path, &v, &n);

		CHECK(ret == 0 && v, "split %zu: ret %d", i, ret);
		if (ret < 0 || !v)
			continue;
		CHECK(n == c[i].n, "split \"%s\": %zu parts, want %zu", c[i].path ? c[i].path : "",
		      n, c[i].n);
		for (size_t k = 0; k < n && k < c[i].n; k++)
			CHECK(strcmp(v[k], c[i].want[k]) == 0, "split %zu part %zu \"%s\"", i, k,
			      v[k]);
		CHECK(v[n] == NULL, "split %zu: not NULL-terminated", i);
		mountpath_free_parts(v, n);
	}
	mountpath_free_parts(NULL, 0);
}

/* Resolve then split: the parts are clean names. */
static void test_resolve_split(void)
{
	char *out = NULL, **v = NULL;
	size_t n = 0;

	CHECK(mountpath_resolve(MNT, LDIR, "../../py-app-arm64v8/./latest//", &out) == 0,
	      "resolve");
	CHECK(out && mountpath_split(out, &v, &n) == 0 && n == 4, "split %zu", n);
	if (v && n == 4)
		CHECK(strcmp(v[0], "localhost:5000") == 0 && strcmp(v[2], "py-app-arm64v8") == 0 &&
			  strcmp(v[3], "latest") == 0,
		      "parts");
	mountpath_free_parts(v, n);
	free(out);
}

int main(void)
{
	static const struct check_test tests[] = {
	    {"resolve_table", test_resolve_table},
	    {"resolve_long", test_resolve_long},
	    {"split", test_split},
	    {"resolve_split", test_resolve_split},
	};

	return check_run(tests, COUNT(tests));
}
