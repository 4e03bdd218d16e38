/*
 * Unit tests for the client's errno table and for the credentials store
 * (registry/creds.c): entries and keys (longest match, URL forms, the Hub's
 * aliases), precedence across the five sources, files re-read when they
 * change (and only then), docker credential helpers (found, not found,
 * hanging, flooding, identity tokens, cached, run once for many threads),
 * hostile files, and no secret in the log.
 *
 * Everything lives in a fresh directory under $TMPDIR: HOME,
 * XDG_RUNTIME_DIR, DOCKER_CONFIG and REGISTRY_AUTH_FILE point into it and
 * the helper scripts are put first on PATH.  Every secret of the tables
 * contains "xyzzy" (or is one of the base64 strings in log_secrets), so the
 * log scan at the end can find any of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "registry/client.h"
#include "registry/creds.h"

#include "check.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	long status;
	const char *code;
	int err;
} errno_cases[] = {
	{404, NULL, -ENOENT},         {404, "MANIFEST_UNKNOWN", -ENOENT},
	{400, "NAME_UNKNOWN", -ENOENT}, {401, NULL, -EACCES},
	{403, NULL, -EACCES},         {403, "DENIED", -EACCES},
	{429, NULL, -EAGAIN},         {503, NULL, -EAGAIN},
	{429, "TOOMANYREQUESTS", -EAGAIN}, {500, NULL, -EIO},
	{502, NULL, -EIO},            {400, NULL, -EIO},
	{200, NULL, -EIO},            {500, "NOT_A_CODE", -EIO},
	{0, NULL, -EIO},              {405, "UNSUPPORTED", -ENOTSUP},
};

static void test_errno_table(void)
{
	for (size_t i = 0; i < N_ELEMS(errno_cases); i++) {
		int got = reg_status_errno(errno_cases[i].status, errno_cases[i].code);

		CHECK(got == errno_cases[i].err, "status %ld code %s: got %d want %d",
		      errno_cases[i].status, errno_cases[i].code ? errno_cases[i].code : "-", got,
		      errno_cases[i].err);
	}
}

/* ---- the test directory --------------------------------------------------------------- */

static char *base;     /* the test's directory */
static char *p_opt;    /* the mount option's file */
static char *p_raf;    /* $REGISTRY_AUTH_FILE */
static char *p_xdg;    /* $XDG_RUNTIME_DIR/containers/auth.json */
static char *p_conf;   /* ~/.config/containers/auth.json */
static char *p_dhome;  /* ~/.docker/config.json */
static char *p_denv;   /* $DOCKER_CONFIG/config.json */
static char *p_denv_dir;
static char *p_hlog;   /* each helper run appends the server it read */
static char *p_log;    /* regfs' log */

static char *path_of(const char *sub)
{
	char *p;

	if (asprintf(&p, "%s/%s", base, sub) < 0)
		abort();
	return p;
}

static void mkdirs(const char *sub)
{
	char *p = path_of(sub);

	for (char *s = p + strlen(base) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	mkdir(p, 0700);
	free(p);
}

/* Write @len bytes (0: strlen) to @path in place (same inode when it exists). */
static void put_inplace(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (!len)
		len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0)
		abort();
}

/* Write @path as `docker login` does: a new file renamed over the old one. */
static void put(const char *path, const char *text, size_t len)
{
	char *tmp;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		abort();
	put_inplace(tmp, text, len);
	if (rename(tmp, path) < 0)
		abort();
	free(tmp);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t n = 0;

	if (!f)
		return strdup("");
	if (getdelim(&s, &n, '\0', f) < 0) {
		free(s);
		s = strdup("");
	}
	fclose(f);
	return s;
}

static void clear_sources(void)
{
	const char *all[] = {p_opt, p_raf, p_xdg, p_conf, p_dhome, p_denv, p_hlog};

	for (size_t i = 0; i < N_ELEMS(all); i++)
		unlink(all[i]);
	unsetenv("DOCKER_CONFIG");
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const char *nn(const char *s)
{
	return s ? s : "(null)";
}

/* reg_creds_get through a new store over @opt; checks against the wants. */
static void check_get(const char *what, size_t i, const char *opt, const char *host,
		      const char *repo, int want_ret, const char *user, const char *pass,
		      const char *idt)
{
	struct reg_creds_store *s = NULL;
	struct reg_creds cr;
	int ret;

	CHECK(reg_creds_store_new(opt, &s) == 0, "%s %zu: store", what, i);
	if (!s)
		return;
	ret = reg_creds_get(s, host, repo, &cr);
	CHECK(ret == want_ret, "%s %zu: ret %d want %d", what, i, ret, want_ret);
	CHECK(same(cr.username, user), "%s %zu: user '%s' want '%s'", what, i, nn(cr.username),
	      nn(user));
	CHECK(same(cr.password, pass), "%s %zu: password mismatch (%s)", what, i,
	      cr.password ? "set" : "NULL");
	CHECK(same(cr.identitytoken, idt), "%s %zu: identity token mismatch (%s)", what, i,
	      cr.identitytoken ? "set" : "NULL");
	reg_creds_release(&cr);
	CHECK(!cr.username && !cr.password && !cr.identitytoken, "%s %zu: not released", what, i);
	reg_creds_store_free(s);
}

/* ---- entries and keys, from the mount option's file ---------------------------------- */

struct entry_case {
	const char *config;
	size_t len; /* 0: strlen; else the bytes hold NULs */
	const char *host, *repo;
	int ret;
	const char *user, *pass, *idt;
};

#define Q(...) #__VA_ARGS__
#define NSKEYS                                                                                     \
	"{\"auths\":{\"quay.io/org/app\":{\"username\":\"u3\",\"password\":\"p3-xyzzy\"},"         \
	"\"quay.io\":{\"username\":\"u1\",\"password\":\"p1-xyzzy\"},"                             \
	"\"quay.io/org\":{\"username\":\"u2\",\"password\":\"p2-xyzzy\"}}}"
#define NUL_AUTH "{\"auths\":{\"h.example\":{\"auth\":\"dTpw\0LXh5enp5\"}}}"

static const struct entry_case entry_cases[] = {
	/* "auth" is base64 of user:password ("alice:s3cret-xyzzy:with:colons") */
	{Q({"auths":{"localhost:5000":{"auth":"YWxpY2U6czNjcmV0LXh5enp5OndpdGg6Y29sb25z"}}}), 0,
	 "localhost:5000", "a/b", 0, "alice", "s3cret-xyzzy:with:colons", NULL},
	/* username/password fields */
	{Q({"auths":{"reg.example.com":{"username":"bob","password":"pw-xyzzy"}}}), 0,
	 "reg.example.com", NULL, 0, "bob", "pw-xyzzy", NULL},
	/* URL keys count for their host; trailing slashes; case of the host */
	{Q({"auths":{"https://reg.example.com/v1/":{"auth":"dTpwLXh5enp5"}}}), 0, "reg.example.com",
	 "x/y", 0, "u", "p-xyzzy", NULL},
	{Q({"auths":{"http://reg.example.com":{"auth":"dTpwLXh5enp5"}}}), 0, "reg.example.com",
	 NULL, 0, "u", "p-xyzzy", NULL},
	{Q({"auths":{"https://quay.io/org":{"auth":"dTpwLXh5enp5"}}}), 0, "quay.io", "other/x", 0,
	 "u", "p-xyzzy", NULL},
	{Q({"auths":{"reg.example.com/":{"auth":"dTpwLXh5enp5"}}}), 0, "reg.example.com", "a", 0,
	 "u", "p-xyzzy", NULL},
	{Q({"auths":{"REG.Example.COM":{"auth":"dTpwLXh5enp5"}}}), 0, "reg.example.com", "a", 0,
	 "u", "p-xyzzy", NULL},
	/* the Hub under each of its names */
	{Q({"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0,
	 "docker.io", "library/alpine", 0, "hub", "hub-xyzzy", NULL},
	{Q({"auths":{"docker.io":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io",
	 "library/alpine", 0, "hub", "hub-xyzzy", NULL},
	{Q({"auths":{"index.docker.io":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io", NULL, 0,
	 "hub", "hub-xyzzy", NULL},
	{Q({"auths":{"registry-1.docker.io":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io",
	 "a/b", 0, "hub", "hub-xyzzy", NULL},
	{Q({"auths":{"docker.io/library":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io",
	 "library/alpine", 0, "hub", "hub-xyzzy", NULL},
	{Q({"auths":{"docker.io/library":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io",
	 "someone/app", -ENOENT, NULL, NULL, NULL},
	{Q({"auths":{"docker.io.evil.example":{"auth":"aHViOmh1Yi14eXp6eQ=="}}}), 0, "docker.io",
	 NULL, -ENOENT, NULL, NULL, NULL},
	/* identity tokens: alone, and beside docker's "user:" */
	{Q({"auths":{"r.example":{"identitytoken":"tok-xyzzy"}}}), 0, "r.example", NULL, 0, NULL,
	 NULL, "tok-xyzzy"},
	{Q({"auths":{"r.example":{"auth":"dG9rOg==","identitytoken":"tok-xyzzy"}}}), 0,
	 "r.example", "a", 0, "tok", NULL, "tok-xyzzy"},
	/* a different port is a different registry; a prefix is not a match */
	{Q({"auths":{"localhost:5001":{"auth":"dTpwLXh5enp5"}}}), 0, "localhost:5000", NULL,
	 -ENOENT, NULL, NULL, NULL},
	{Q({"auths":{"localhost":{"auth":"dTpwLXh5enp5"}}}), 0, "localhost:5000", NULL, -ENOENT,
	 NULL, NULL, NULL},
	{Q({"auths":{"reg.example.com.evil":{"auth":"dTpwLXh5enp5"}}}), 0, "reg.example.com",
	 NULL, -ENOENT, NULL, NULL, NULL},
	/* the longest key that is a path prefix wins, whatever the order in the file */
	{NSKEYS, 0, "quay.io", "org/app", 0, "u3", "p3-xyzzy", NULL},
	{NSKEYS, 0, "quay.io", "org/app/sub", 0, "u3", "p3-xyzzy", NULL},
	{NSKEYS, 0, "quay.io", "org/app2", 0, "u2", "p2-xyzzy", NULL},
	{NSKEYS, 0, "quay.io", "org/other", 0, "u2", "p2-xyzzy", NULL},
	{NSKEYS, 0, "quay.io", "orgx/app", 0, "u1", "p1-xyzzy", NULL},
	{NSKEYS, 0, "quay.io", NULL, 0, "u1", "p1-xyzzy", NULL},
	{Q({"auths":{"quay.io/org":{"auth":"dTpwLXh5enp5"}}}), 0, "quay.io", NULL, -ENOENT, NULL,
	 NULL, NULL},
	{Q({"auths":{"quay.io/org":{"auth":"dTpwLXh5enp5"}}}), 0, "quay.io", "org", 0, "u",
	 "p-xyzzy", NULL},
	/* an empty entry (a helper keeps the secret) gives way to a shorter key */
	{Q({"auths":{"quay.io/org":{},"quay.io":{"auth":"dTpwLXh5enp5"}}}), 0, "quay.io",
	 "org/app", 0, "u", "p-xyzzy", NULL},
	/* hostile or broken entries: no credentials, the others still count */
	{Q({"auths":{"h.example":{"auth":"not base64!"}}}), 0, "h.example", NULL, -ENOENT, NULL,
	 NULL, NULL},
	{Q({"auths":{"h.example":{"auth":"bm9jb2xvbi14eXp6eQ=="}}}), 0, "h.example", NULL,
	 -ENOENT, NULL, NULL, NULL}, /* "nocolon-xyzzy" */
	{Q({"auths":{"h.example":{"auth":"dQBwOnh5enp5"}}}), 0, "h.example", NULL, -ENOENT, NULL,
	 NULL, NULL}, /* "u\0p:xyzzy": a NUL inside */
	{Q({"auths":{"h.example":{"auth":"Om5vdXNlci14eXp6eQ=="}}}), 0, "h.example", NULL,
	 -ENOENT, NULL, NULL, NULL}, /* ":nouser-xyzzy" */
	{Q({"auths":{"h.example":{"auth":42}}}), 0, "h.example", NULL, -ENOENT, NULL, NULL, NULL},
	{Q({"auths":{"h.example":{"username":"u"}}}), 0, "h.example", NULL, -ENOENT, NULL, NULL,
	 NULL},
	{Q({"auths":{"h.example":"dTpwLXh5enp5"}}), 0, "h.example", NULL, -ENOENT, NULL, NULL,
	 NULL},
	{Q({"auths":{"h.example":{"auth":"!!!!"},"g.example":{"auth":"dTpwLXh5enp5"}}}), 0,
	 "g.example", NULL, 0, "u", "p-xyzzy", NULL},
	{Q({"auths":{"h.example\n":{"auth":"dTpwLXh5enp5"}}}), 0, "h.example", NULL, -ENOENT,
	 NULL, NULL, NULL},
	{"{\"auths\":{\"h.example\":{\"username\":\"u\",\"password\":\"a\\u0000b-xyzzy\"}}}",
	 0, "h.example",
	 NULL, -ENOENT, NULL, NULL, NULL}, /* jansson refuses \u0000: the file is bad */
	{NUL_AUTH, sizeof(NUL_AUTH) - 1, "h.example", NULL, -ENOENT, NULL, NULL, NULL},
	{Q({"auths":[1,2]}), 0, "h.example", NULL, -ENOENT, NULL, NULL, NULL},
	{Q([{"auths":{"h.example":{"auth":"dTpwLXh5enp5"}}}]), 0, "h.example", NULL, -ENOENT, NULL,
	 NULL, NULL},
	{"not json at all xyzzy", 0, "h.example", NULL, -ENOENT, NULL, NULL, NULL},
	{"{\"auths\":{\"h.example\":{\"auth\":\"dTpwLXh5enp5\"}}} trailing", 0, "h.example", NULL,
	 -ENOENT, NULL, NULL, NULL},
	{"", 0, "h.example", NULL, -ENOENT, NULL, NULL, NULL},
};

static void test_entries(void)
{
	for (size_t i = 0; i < N_ELEMS(entry_cases); i++) {
		const struct entry_case *c = &entry_cases[i];

		clear_sources();
		put(p_opt, c->config, c->len);
		check_get("entry", i, p_opt, c->host, c->repo, c->ret, c->user, c->pass, c->idt);
	}
	/* a missing file (the option's or any other) is "no credentials" */
	clear_sources();
	check_get("missing", 0, "/nonexistent/regfs/config.json", "x.example", NULL, -ENOENT, NULL,
		  NULL, NULL);
	check_get("missing", 1, NULL, "x.example", NULL, -ENOENT, NULL, NULL, NULL);
}

/* ---- precedence across sources ------------------------------------------------------- */

enum { S_OPT, S_RAF, S_XDG, S_CONF, S_DOCK, N_SRC };
static const char *const src_names[N_SRC] = {"opt", "raf", "xdg", "conf", "dock"};

struct src_case {
	const char *keys[N_SRC]; /* NULL: no file; else the key of the one entry (user: its name) */
	bool docker_env;         /* DOCKER_CONFIG is set (else ~/.docker/config.json counts) */
	const char *repo;        /* of host reg.example */
	const char *want;        /* the winning source's name, or NULL */
};

#define R "reg.example"
static const struct src_case src_cases[] = {
	{{R, R, R, R, R}, false, "a/b", "opt"},
	{{NULL, R, R, R, R}, false, "a/b", "raf"},
	{{NULL, NULL, R, R, R}, false, "a/b", "xdg"},
	{{NULL, NULL, NULL, R, R}, false, "a/b", "conf"},
	{{NULL, NULL, NULL, NULL, R}, false, "a/b", "dock"},
	{{NULL, NULL, NULL, NULL, R}, true, "a/b", "dock"},
	{{NULL, NULL, NULL, R, R}, true, "a/b", "conf"},
	{{NULL, NULL, NULL, NULL, NULL}, false, "a/b", NULL},
	/* a source without this host gives way */
	{{"other.example", R, NULL, NULL, NULL}, false, "a/b", "raf"},
	{{"other.example", "other.example", "other.example", "other.example", R}, true, "a/b",
	 "dock"},
	/* the first source with credentials wins, even over a longer key further on */
	{{R, R "/ns/app", NULL, NULL, NULL}, false, "ns/app", "opt"},
	{{NULL, NULL, R, NULL, R "/ns"}, false, "ns/app", "xdg"},
	/* a namespaced key counts only for its namespace */
	{{R "/ns", NULL, NULL, NULL, R}, false, "ns/app", "opt"},
	{{R "/ns", NULL, NULL, NULL, R}, false, "other/app", "dock"},
	{{R "/ns", NULL, NULL, NULL, R}, false, NULL, "dock"},
	{{"https://" R "/v1/", NULL, NULL, NULL, NULL}, false, "a/b", "opt"},
};
#undef R

static void test_sources(void)
{
	for (size_t i = 0; i < N_ELEMS(src_cases); i++) {
		const struct src_case *c = &src_cases[i];
		const char *paths[N_SRC] = {p_opt, p_raf, p_xdg, p_conf,
					    c->docker_env ? p_denv : p_dhome};
		const char *decoy = c->docker_env ? p_dhome : p_denv;
		char *text, pw[32];

		clear_sources();
		if (c->docker_env)
			setenv("DOCKER_CONFIG", p_denv_dir, 1);
		for (int k = 0; k < N_SRC; k++) {
			if (!c->keys[k])
				continue;
			if (asprintf(&text,
				     "{\"auths\":{\"%s\":{\"username\":\"%s\",\"password\":\"%s-xyzzy\"}}}",
				     c->keys[k], src_names[k], src_names[k]) < 0)
				abort();
			put(paths[k], text, 0);
			free(text);
		}
		/* the docker file that does not count this time has everything */
		put(decoy, Q({"auths":{"reg.example":{"username":"decoy","password":"d-xyzzy"}}}),
		    0);
		snprintf(pw, sizeof(pw), "%s-xyzzy", c->want ? c->want : "");
		check_get("source", i, c->keys[S_OPT] ? p_opt : NULL, "reg.example", c->repo,
			  c->want ? 0 : -ENOENT, c->want, c->want ? pw : NULL, NULL);
	}
	/* the option's file named again in $REGISTRY_AUTH_FILE is one source */
	clear_sources();
	setenv("REGISTRY_AUTH_FILE", p_opt, 1);
	put(p_opt, Q({"auths":{"reg.example":{"username":"opt","password":"opt-xyzzy"}}}), 0);
	check_get("same file", 0, p_opt, "reg.example", NULL, 0, "opt", "opt-xyzzy", NULL);
	setenv("REGISTRY_AUTH_FILE", p_raf, 1);
}

/* ---- files that change --------------------------------------------------------------- */

/* How many read(2)-like calls this process made (/proc/self/io syscr), or -1. */
static long read_calls(void)
{
	char buf[512];
	long n = -1;
	int fd = open("/proc/self/io", O_RDONLY);
	ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char *p;

	if (fd >= 0)
		close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	p = strstr(buf, "syscr:");
	if (p)
		n = strtol(p + 6, NULL, 10);
	return n;
}

static int get_user(struct reg_creds_store *s, const char *host, char *user, size_t n)
{
	struct reg_creds cr;
	int ret = reg_creds_get(s, host, "a/b", &cr);

	snprintf(user, n, "%s", ret == 0 && cr.username ? cr.username : "");
	reg_creds_release(&cr);
	return ret;
}

static size_t count_in_log(const char *needle)
{
	char *log = slurp(p_log), *p = log;
	size_t n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p++;
	}
	free(log);
	return n;
}

static void test_changes(void)
{
	struct reg_creds_store *s = NULL;
	struct timespec times[2];
	char user[64], *change = path_of("change.json"), *needle;
	long before, after;
	int ret;

	clear_sources();
	put(change, Q({"auths":{"h.example":{"username":"one","password":"one-xyzzy"}}}), 0);
	if (reg_creds_store_new(change, &s) < 0)
		abort();
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "one") == 0, "first version: %d '%s'", ret, user);

	/* unchanged: stat, not read, per request */
	before = read_calls();
	for (int i = 0; i < 200; i++)
		get_user(s, "h.example", user, sizeof(user));
	after = read_calls();
	CHECK(before >= 0 && after - before < 20, "200 lookups made %ld reads", after - before);

	/* rewritten in place, another size */
	put_inplace(change, Q({"auths":{"h.example":{"username":"second","password":"2-xyzzy"}}}),
		    0);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "second") == 0, "in place, new size: %d '%s'", ret, user);

	/* in place, the same size, an mtime of its own */
	put_inplace(change, Q({"auths":{"h.example":{"username":"SECOND","password":"2-xyzzy"}}}),
		    0);
	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec += 5;
	times[1] = times[0];
	utimensat(AT_FDCWD, change, times, 0);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "SECOND") == 0, "in place, same size: %d '%s'", ret, user);

	/* `docker login`: a new file renamed over it */
	put(change, Q({"auths":{"h.example":{"username":"third!","password":"2-xyzzy"}}}), 0);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "third!") == 0, "renamed over: %d '%s'", ret, user);

	/* gone, then back */
	unlink(change);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == -ENOENT, "removed: %d '%s'", ret, user);
	put(change, Q({"auths":{"h.example":{"username":"back","password":"b-xyzzy"}}}), 0);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "back") == 0, "back: %d '%s'", ret, user);

	/* broken: said once however often it is asked, then fixed */
	if (asprintf(&needle, "credentials file '%s': not JSON", change) < 0)
		abort();
	put(change, "{\"auths\": {\"h.example\": xyzzy", 0);
	for (int i = 0; i < 20; i++) {
		ret = get_user(s, "h.example", user, sizeof(user));
		CHECK(ret == -ENOENT, "broken %d: %d", i, ret);
	}
	CHECK(count_in_log(needle) == 1, "'%s' logged %zu times", needle, count_in_log(needle));
	put(change, Q({"auths":{"h.example":{"username":"fixed","password":"f-xyzzy"}}}), 0);
	ret = get_user(s, "h.example", user, sizeof(user));
	CHECK(ret == 0 && strcmp(user, "fixed") == 0, "fixed: %d '%s'", ret, user);

	reg_creds_store_free(s);
	unlink(change);
	free(change);
	free(needle);
}

/* ---- hostile files ------------------------------------------------------------------- */

static void test_hostile(void)
{
	char *big, *p;
	size_t n;
	const char *good = Q({"auths":{"h.example":{"auth":"dTpwLXh5enp5"}}});

	/* too big (valid JSON padded past the cap): refused, not parsed */
	clear_sources();
	n = REG_CREDS_FILE_MAX + 100;
	big = malloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, good, strlen(good));
	big[n] = '\0';
	put(p_opt, big, n);
	check_get("hostile big", 0, p_opt, "h.example", NULL, -ENOENT, NULL, NULL, NULL);
	CHECK(count_in_log("too big") >= 1, "the big file was not called too big");
	/* just under the cap: fine */
	put(p_opt, big, REG_CREDS_FILE_MAX);
	check_get("hostile big", 1, p_opt, "h.example", NULL, 0, "u", "p-xyzzy", NULL);
	free(big);

	/* nested 100000 deep */
	n = 100000;
	big = malloc(2 * n + 1);
	memset(big, '[', n);
	memset(big + n, ']', n);
	big[2 * n] = '\0';
	put(p_opt, big, 0);
	check_get("hostile deep", 0, p_opt, "h.example", NULL, -ENOENT, NULL, NULL, NULL);
	free(big);

	/* 20000 entries: the one asked for is found */
	n = 20000;
	big = malloc(n * 64 + 64);
	p = big + sprintf(big, "{\"auths\":{");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "\"h%zu.example\":{\"auth\":\"dTpwLXh5enp5\"},", i);
	sprintf(p, "\"x.example\":{}}}");
	put(p_opt, big, 0);
	check_get("hostile many", 0, p_opt, "h19999.example", "a", 0, "u", "p-xyzzy", NULL);
	free(big);

	/* a FIFO (nothing will ever write it), a directory, a dangling link: no hang */
	unlink(p_opt);
	CHECK(mkfifo(p_opt, 0600) == 0, "mkfifo");
	check_get("hostile fifo", 0, p_opt, "h.example", NULL, -ENOENT, NULL, NULL, NULL);
	unlink(p_opt);
	mkdir(p_opt, 0700);
	check_get("hostile dir", 0, p_opt, "h.example", NULL, -ENOENT, NULL, NULL, NULL);
	rmdir(p_opt);
	CHECK(symlink("/nonexistent/regfs", p_opt) == 0, "symlink");
	check_get("hostile link", 0, p_opt, "h.example", NULL, -ENOENT, NULL, NULL, NULL);
	unlink(p_opt);
	/* a link to a good file is fine */
	put(p_raf, good, 0);
	CHECK(symlink(p_raf, p_opt) == 0, "symlink");
	check_get("link", 0, p_opt, "h.example", NULL, 0, "u", "p-xyzzy", NULL);
	unlink(p_opt);

	/* wrong types for the helper fields */
	put(p_opt, Q({"auths":{"h.example":{"auth":"dTpwLXh5enp5"}},"credHelpers":["x"],
		      "credsStore":42}),
	    0);
	check_get("hostile types", 0, p_opt, "h.example", NULL, 0, "u", "p-xyzzy", NULL);
}

/* ---- credential helpers -------------------------------------------------------------- */

struct script {
	const char *name; /* docker-credential-NAME */
	const char *body; /* after "#!/bin/sh\n"; $HLOG is the run log */
};

static const struct script scripts[] = {
	{"regfsok", "s=$(cat); echo \"ok $s\" >>\"$HLOG\"\n"
		    "printf '{\"ServerURL\":\"%s\",\"Username\":\"helperuser\","
		    "\"Secret\":\"helper-xyzzy\"}\\n' \"$s\"\n"},
	{"regfsnone", "s=$(cat); echo \"none $s\" >>\"$HLOG\"\n"
		      "echo 'credentials not found in native keychain'\n"
		      "echo 'stderr-xyzzy' >&2\nexit 1\n"},
	{"regfstoken", "s=$(cat); echo \"token $s\" >>\"$HLOG\"\n"
		       "echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\","
		       "\"Secret\":\"helper-idtok-xyzzy\"}'\n"},
	{"regfshuge", "s=$(cat); echo \"huge $s\" >>\"$HLOG\"\n"
		      "head -c 200000 /dev/zero | tr '\\0' x\n"},
	{"regfsbad", "s=$(cat); echo \"bad $s\" >>\"$HLOG\"\necho 'not json xyzzy'\n"},
	{"regfsempty", "s=$(cat); echo \"empty $s\" >>\"$HLOG\"\n"},
	{"regfsnosecret", "s=$(cat); echo \"nosecret $s\" >>\"$HLOG\"\n"
			  "echo '{\"Username\":\"x\",\"Secret\":\"\"}'\n"},
	{"regfsslow", "s=$(cat); echo \"slow $s\" >>\"$HLOG\"\nsleep 0.5\n"
		      "echo '{\"Username\":\"slowuser\",\"Secret\":\"slow-xyzzy\"}'\n"},
	{"regfshang", "echo \"hang $$\" >>\"$HLOG\"\nsleep 60 &\necho $! >\"$HLOG.sleep\"\nwait\n"},
	{"regfsnoread", "echo \"noread\" >>\"$HLOG\"\n"
			"echo '{\"Username\":\"nr\",\"Secret\":\"nr-xyzzy\"}'\n"},
};

static void write_scripts(void)
{
	mkdirs("bin");
	for (size_t i = 0; i < N_ELEMS(scripts); i++) {
		char *path, *text;

		if (asprintf(&path, "%s/bin/docker-credential-%s", base, scripts[i].name) < 0 ||
		    asprintf(&text, "#!/bin/sh\n%s", scripts[i].body) < 0)
			abort();
		put_inplace(path, text, 0);
		chmod(path, 0700);
		free(path);
		free(text);
	}
	/* something named like a helper, but not a valid name, that must never run */
	{
		char *path = path_of("bin/docker-credential-a b");

		put_inplace(path, "#!/bin/sh\necho 'invalid ran' >>\"$HLOG\"\n", 0);
		chmod(path, 0700);
		free(path);
	}
}

struct helper_case {
	const char *config;
	const char *host;
	int ret;
	const char *user, *pass, *idt;
	const char *runs; /* the helper log after the lookup ("" when nothing ran) */
};

#define AUTHS_L5 "\"auths\":{\"localhost:5000\":{\"auth\":\"dTpwLXh5enp5\"}}"

static const struct helper_case helper_cases[] = {
	/* credHelpers for the host; credsStore for every host: the server as docker sends it */
	{"{\"credHelpers\":{\"localhost:5000\":\"regfsok\"}}", "localhost:5000", 0, "helperuser",
	 "helper-xyzzy", NULL, "ok localhost:5000\n"},
	{"{\"credsStore\":\"regfsok\"}", "localhost:5000", 0, "helperuser", "helper-xyzzy", NULL,
	 "ok localhost:5000\n"},
	{"{\"credHelpers\":{\"docker.io\":\"regfsok\"}}", "docker.io", 0, "helperuser",
	 "helper-xyzzy", NULL, "ok https://index.docker.io/v1/\n"},
	{"{\"credHelpers\":{\"https://index.docker.io/v1/\":\"regfsok\"}}", "docker.io", 0,
	 "helperuser", "helper-xyzzy", NULL, "ok https://index.docker.io/v1/\n"},
	{"{\"credsStore\":\"regfsok\"}", "docker.io", 0, "helperuser", "helper-xyzzy", NULL,
	 "ok https://index.docker.io/v1/\n"},
	/* precedence in one file: credHelpers[host] > credsStore > auths */
	{"{\"credHelpers\":{\"localhost:5000\":\"regfsok\"},\"credsStore\":\"regfsnone\"," AUTHS_L5
	 "}",
	 "localhost:5000", 0, "helperuser", "helper-xyzzy", NULL, "ok localhost:5000\n"},
	{"{\"credHelpers\":{\"other:1\":\"regfsok\"},\"credsStore\":\"regfstoken\"," AUTHS_L5 "}",
	 "localhost:5000", 0, NULL, NULL, "helper-idtok-xyzzy", "token localhost:5000\n"},
	{"{\"credsStore\":\"regfsok\"," AUTHS_L5 "}", "localhost:5000", 0, "helperuser",
	 "helper-xyzzy", NULL, "ok localhost:5000\n"},
	/* a helper with nothing gives way to auths (not found, flooding, garbage, empty) */
	{"{\"credHelpers\":{\"localhost:5000\":\"regfsnone\"}," AUTHS_L5 "}", "localhost:5000", 0,
	 "u", "p-xyzzy", NULL, "none localhost:5000\n"},
	{"{\"credsStore\":\"regfshuge\"," AUTHS_L5 "}", "localhost:5000", 0, "u", "p-xyzzy", NULL,
	 "huge localhost:5000\n"},
	{"{\"credsStore\":\"regfsbad\"," AUTHS_L5 "}", "localhost:5000", 0, "u", "p-xyzzy", NULL,
	 "bad localhost:5000\n"},
	{"{\"credsStore\":\"regfsempty\"}", "localhost:5000", -ENOENT, NULL, NULL, NULL,
	 "empty localhost:5000\n"},
	{"{\"credsStore\":\"regfsnosecret\"}", "localhost:5000", -ENOENT, NULL, NULL, NULL,
	 "nosecret localhost:5000\n"},
	{"{\"credsStore\":\"regfsmissing\"," AUTHS_L5 "}", "localhost:5000", 0, "u", "p-xyzzy",
	 NULL, ""},
	/* it need not read its stdin */
	{"{\"credsStore\":\"regfsnoread\"}", "localhost:5000", 0, "nr", "nr-xyzzy", NULL,
	 "noread\n"},
	/* names docker would not run are not run */
	{"{\"credsStore\":\"../bin/docker-credential-regfsok\"," AUTHS_L5 "}", "localhost:5000", 0,
	 "u", "p-xyzzy", NULL, ""},
	{"{\"credHelpers\":{\"localhost:5000\":\"a b\"}," AUTHS_L5 "}", "localhost:5000", 0, "u",
	 "p-xyzzy", NULL, ""},
	{"{\"credHelpers\":{\"localhost:5000\":\"x;touch /tmp/regfs-pwned\"}}", "localhost:5000",
	 -ENOENT, NULL, NULL, NULL, ""},
	{"{\"credsStore\":\"\"," AUTHS_L5 "}", "localhost:5000", 0, "u", "p-xyzzy", NULL, ""},
	{"{\"credsStore\":\"..\"}", "localhost:5000", -ENOENT, NULL, NULL, NULL, ""},
};

static void test_helpers(void)
{
	for (size_t i = 0; i < N_ELEMS(helper_cases); i++) {
		const struct helper_case *c = &helper_cases[i];
		char *runs;

		clear_sources();
		put(p_opt, c->config, 0);
		check_get("helper", i, p_opt, c->host, "a/b", c->ret, c->user, c->pass, c->idt);
		runs = slurp(p_hlog);
		CHECK(strcmp(runs, c->runs) == 0, "helper %zu: ran '%s' want '%s'", i, runs,
		      c->runs);
		free(runs);
	}

	/* a helper with nothing in one source gives way to the next source */
	clear_sources();
	put(p_opt, "{\"credsStore\":\"regfsnone\"}", 0);
	put(p_dhome, "{\"credHelpers\":{\"localhost:5000\":\"regfstoken\"}}", 0);
	check_get("helper sources", 0, p_opt, "localhost:5000", NULL, 0, NULL, NULL,
		  "helper-idtok-xyzzy");
	{
		char *runs = slurp(p_hlog);

		CHECK(strcmp(runs, "none localhost:5000\ntoken localhost:5000\n") == 0,
		      "helper sources: ran '%s'", runs);
		free(runs);
	}
}

/* Answers are kept: one run for many lookups, again after a file changed. */
static void test_helper_cache(void)
{
	struct reg_creds_store *s = NULL;
	char user[64], *runs;

	clear_sources();
	put(p_opt, "{\"credsStore\":\"regfsok\"}", 0);
	if (reg_creds_store_new(p_opt, &s) < 0)
		abort();
	for (int i = 0; i < 10; i++)
		get_user(s, "localhost:5000", user, sizeof(user));
	get_user(s, "other:1", user, sizeof(user));
	CHECK(strcmp(user, "helperuser") == 0, "cache: user '%s'", user);
	runs = slurp(p_hlog);
	CHECK(strcmp(runs, "ok localhost:5000\nok other:1\n") == 0, "cache: ran '%s'", runs);
	free(runs);
	/* not found is kept too */
	put(p_opt, "{\"credsStore\":\"regfsnone\"}", 0);
	for (int i = 0; i < 5; i++)
		CHECK(get_user(s, "localhost:5000", user, sizeof(user)) == -ENOENT, "cache: none");
	runs = slurp(p_hlog);
	CHECK(strcmp(runs, "ok localhost:5000\nok other:1\nnone localhost:5000\n") == 0,
	      "cache: ran '%s'", runs);
	free(runs);
	reg_creds_store_free(s);
}

struct racer {
	struct reg_creds_store *s;
	int ret;
	char user[64];
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->ret = get_user(r->s, "localhost:5000", r->user, sizeof(r->user));
	return NULL;
}

/* Eight threads at once: one run, everyone gets its answer. */
static void test_helper_threads(void)
{
	struct racer r[8];
	pthread_t t[8];
	struct reg_creds_store *s = NULL;
	char *runs;

	clear_sources();
	put(p_opt, "{\"credsStore\":\"regfsslow\"}", 0);
	if (reg_creds_store_new(p_opt, &s) < 0)
		abort();
	for (int i = 0; i < 8; i++) {
		r[i].s = s;
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].ret == 0 && strcmp(r[i].user, "slowuser") == 0, "thread %d: %d '%s'", i,
		      r[i].ret, r[i].user);
	}
	runs = slurp(p_hlog);
	CHECK(strcmp(runs, "slow localhost:5000\n") == 0, "threads: ran '%s'", runs);
	free(runs);
	reg_creds_store_free(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A process that is gone or a zombie. */
static bool pid_dead(long pid)
{
	char path[64], *stat, *p;
	bool dead;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (access(path, F_OK) < 0)
		return true;
	stat = slurp(path);
	p = strrchr(stat, ')');
	dead = !*stat || (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
	free(stat);
	return dead;
}

/* A helper that hangs is killed (with what it started) after the timeout;
 * the file's auths answer, and the next lookup does not wait again. */
static void test_helper_hang(void)
{
	struct reg_creds_store *s = NULL;
	char user[64], *sleep_path = NULL, *pidtext;
	double t0, took;
	long pid;
	int ret;

	clear_sources();
	put(p_opt, "{\"credsStore\":\"regfshang\"," AUTHS_L5 "}", 0);
	if (reg_creds_store_new(p_opt, &s) < 0 || asprintf(&sleep_path, "%s.sleep", p_hlog) < 0)
		abort();
	t0 = now_s();
	ret = get_user(s, "localhost:5000", user, sizeof(user));
	took = now_s() - t0;
	CHECK(ret == 0 && strcmp(user, "u") == 0, "hang: %d '%s'", ret, user);
	CHECK(took >= REG_CREDS_HELPER_TIMEOUT_MS / 1000.0 - 0.5 &&
		      took <= REG_CREDS_HELPER_TIMEOUT_MS / 1000.0 + 2.5,
	      "hang: took %.1f s", took);
	pidtext = slurp(sleep_path);
	pid = strtol(pidtext, NULL, 10);
	free(pidtext);
	CHECK(pid > 0, "hang: the helper did not start its sleep");
	for (int i = 0; i < 50 && pid > 0 && !pid_dead(pid); i++)
		usleep(20000);
	CHECK(pid > 0 && pid_dead(pid), "hang: the helper's sleep %ld lives on", pid);
	CHECK(count_in_log("'docker-credential-regfshang' for 'localhost:5000': no answer") == 1,
	      "hang: the timeout was not logged once");

	t0 = now_s();
	ret = get_user(s, "localhost:5000", user, sizeof(user));
	took = now_s() - t0;
	CHECK(ret == 0 && took < 1, "hang again: %d in %.1f s", ret, took);
	reg_creds_store_free(s);
	unlink(sleep_path);
	free(sleep_path);
}

/* ---- the log ------------------------------------------------------------------------- */

static const char *const log_secrets[] = {
	"xyzzy", "XYZZY", "YWxpY2U6czNjcmV0LXh5enp5OndpdGg6Y29sb25z", "dTpwLXh5enp5",
	"aHViOmh1Yi14eXp6eQ", "dQBwOnh5enp5", "Om5vdXNlci14eXp6eQ", "bm9jb2xvbi14eXp6eQ",
	"dTpw", "helperuser" /* not secret, but only the helper's answer has it */,
};

static void test_log(void)
{
	char *log = slurp(p_log);

	/* the log does say what went wrong */
	CHECK(strstr(log, "'auth' is not base64 of user:password"), "no word on bad auth");
	CHECK(strstr(log, "credential helper 'docker-credential-regfsmissing' is not on PATH"),
	      "no word on a missing helper");
	CHECK(strstr(log, "'docker-credential-regfsnone' for 'localhost:5000': exit status 1"),
	      "no word on a helper's exit status");
	CHECK(strstr(log, "answer over 65536 bytes"), "no word on a flood");
	for (size_t i = 0; i < N_ELEMS(log_secrets); i++)
		CHECK(!strstr(log, log_secrets[i]), "the log holds '%s'", log_secrets[i]);
	CHECK(access("/tmp/regfs-pwned", F_OK) < 0, "a helper name ran a shell");
	free(log);
}

/* ---- setup --------------------------------------------------------------------------- */

int main(void)
{
	static const struct check_test tests[] = {
		{"errno_table", test_errno_table},
		{"entries", test_entries},
		{"sources", test_sources},
		{"changes", test_changes},
		{"hostile", test_hostile},
		{"helpers", test_helpers},
		{"helper_cache", test_helper_cache},
		{"helper_threads", test_helper_threads},
		{"helper_hang", test_helper_hang},
		{"log", test_log},
	};
	const char *tmp = getenv("TMPDIR"), *path = getenv("PATH");
	char *newpath, *bin;
	FILE *logf;
	int ret;

	if (asprintf(&base, "%s/regfs-test-creds.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 ||
	    !mkdtemp(base))
		return 2;
	mkdirs("home/.config/containers");
	mkdirs("home/.docker");
	mkdirs("run/containers");
	mkdirs("dockercfg");
	p_opt = path_of("option.json");
	p_raf = path_of("registry-auth.json");
	p_xdg = path_of("run/containers/auth.json");
	p_conf = path_of("home/.config/containers/auth.json");
	p_dhome = path_of("home/.docker/config.json");
	p_denv = path_of("dockercfg/config.json");
	p_denv_dir = path_of("dockercfg");
	p_hlog = path_of("helper.log");
	p_log = path_of("regfs.log");
	bin = path_of("bin");
	write_scripts();

	/* nothing of the machine's own: every source points into base */
	{
		char *home = path_of("home"), *run = path_of("run");

		setenv("HOME", home, 1);
		setenv("XDG_RUNTIME_DIR", run, 1);
		setenv("REGISTRY_AUTH_FILE", p_raf, 1);
		setenv("HLOG", p_hlog, 1);
		unsetenv("DOCKER_CONFIG");
		free(home);
		free(run);
	}
	if (asprintf(&newpath, "%s:%s", bin, path ? path : "/usr/bin:/bin") < 0)
		return 2;
	setenv("PATH", newpath, 1);
	logf = fopen(p_log, "w");
	if (!logf)
		return 2;
	log_setup(logf, LOG_LVL_DEBUG);

	ret = check_run(tests, N_ELEMS(tests));

	log_setup(NULL, LOG_LVL_INFO);
	fclose(logf);
	if (ret == 0 && !getenv("REGFS_TEST_KEEP"))
		nftw(base, check_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "left for a look: %s (the log: %s)\n", base, p_log);
	free(newpath);
	free(bin);
	return ret;
}
