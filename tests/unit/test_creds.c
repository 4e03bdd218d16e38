/*
 * Unit tests for the client's errno table and for reading credentials from
 * docker config files (registry/creds.c), including hostile files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/client.h"
#include "registry/creds.h"

#include "check.h"

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
	for (size_t i = 0; i < sizeof(errno_cases) / sizeof(errno_cases[0]); i++) {
		int got = reg_status_errno(errno_cases[i].status, errno_cases[i].code);

		CHECK(got == errno_cases[i].err, "status %ld code %s: got %d want %d",
		      errno_cases[i].status, errno_cases[i].code ? errno_cases[i].code : "-", got,
		      errno_cases[i].err);
	}
}

static char dir[] = "/tmp/regfs-creds-XXXXXX";

static char *write_config(const char *text)
{
	static int n;
	char *path = NULL;
	FILE *f;

	if (asprintf(&path, "%s/config-%d.json", dir, n++) < 0)
		abort();
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

struct creds_case {
	const char *config;
	const char *host;
	int ret;
	const char *user, *pass, *idt;
};

static const struct creds_case creds_cases[] = {
	/* "auth" is base64 of user:password ("alice:s3cret:with:colons") */
	{"{\"auths\":{\"localhost:5000\":{\"auth\":\"YWxpY2U6czNjcmV0OndpdGg6Y29sb25z\"}}}",
	 "localhost:5000", 0, "alice", "s3cret:with:colons", NULL},
	/* username/password fields */
	{"{\"auths\":{\"reg.example.com\":{\"username\":\"bob\",\"password\":\"pw\"}}}",
	 "reg.example.com", 0, "bob", "pw", NULL},
	/* URL-form keys, and the Hub's legacy key for docker.io */
	{"{\"auths\":{\"https://reg.example.com/v1/\":{\"username\":\"u\",\"password\":\"p\"}}}",
	 "reg.example.com", 0, "u", "p", NULL},
	{"{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTpw\"}}}", "docker.io", 0, "u",
	 "p", NULL},
	/* identity token alone */
	{"{\"auths\":{\"r.example\":{\"identitytoken\":\"tok\"}}}", "r.example", 0, NULL, NULL,
	 "tok"},
	/* a different port is a different registry; a prefix is not a match */
	{"{\"auths\":{\"localhost:5001\":{\"auth\":\"dTpw\"}}}", "localhost:5000", -ENOENT, NULL,
	 NULL, NULL},
	{"{\"auths\":{\"reg.example.com.evil\":{\"auth\":\"dTpw\"}}}", "reg.example.com",
	 -ENOENT, NULL, NULL, NULL},
	/* hostile or broken files */
	{"{\"auths\":{\"h.example\":{\"auth\":\"not base64!\"}}}", "h.example", -EINVAL, NULL,
	 NULL, NULL},
	{"{\"auths\":{\"h.example\":{\"auth\":\"bm9jb2xvbg==\"}}}", "h.example", -EINVAL, NULL,
	 NULL, NULL}, /* "nocolon" */
	{"{\"auths\":{\"h.example\":{\"auth\":\"dQBwOng=\"}}}", "h.example", -EINVAL, NULL, NULL,
	 NULL}, /* "u\0p:x": a NUL inside */
	{"{\"auths\":{\"h.example\":{\"auth\":42}}}", "h.example", -ENOENT, NULL, NULL, NULL},
	{"{\"auths\":[1,2]}", "h.example", -ENOENT, NULL, NULL, NULL},
	{"not json at all", "h.example", -ENOENT, NULL, NULL, NULL},
	{"", "h.example", -ENOENT, NULL, NULL, NULL},
};

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void test_creds(void)
{
	for (size_t i = 0; i < sizeof(creds_cases) / sizeof(creds_cases[0]); i++) {
		const struct creds_case *c = &creds_cases[i];
		char *path = write_config(c->config);
		struct reg_creds cr;
		int ret = reg_creds_lookup(path, c->host, &cr);

		CHECK(ret == c->ret, "case %zu: ret %d want %d", i, ret, c->ret);
		CHECK(same(cr.username, c->user), "case %zu: user '%s'", i,
		      cr.username ? cr.username : "(null)");
		CHECK(same(cr.password, c->pass), "case %zu: password mismatch", i);
		CHECK(same(cr.identitytoken, c->idt), "case %zu: identity token mismatch", i);
		reg_creds_release(&cr);
		CHECK(!cr.username && !cr.password && !cr.identitytoken, "case %zu: not released",
		      i);
		unlink(path);
		free(path);
	}
	/* a missing explicit file is "no credentials", not a crash */
	{
		struct reg_creds cr;

		CHECK(reg_creds_lookup("/nonexistent/regfs/config.json", "x.example", &cr) ==
			      -ENOENT,
		      "missing file");
	}
}

int main(void)
{
	if (!mkdtemp(dir))
		return 2;
	test_errno_table();
	test_creds();
	rmdir(dir);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
