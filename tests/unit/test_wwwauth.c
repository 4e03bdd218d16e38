/*
 * Unit tests for registry/wwwauth.c: the challenges registries and token
 * servers send, RFC 7235 corner cases, and malformed or hostile headers.
 * Each case lists the expected challenges as "scheme" followed by
 * name=value pairs, so a test fails on any extra, missing or wrong value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/wwwauth.h"

#include "check.h"

#define MAXC 4
#define MAXP 6

struct want_challenge {
	const char *scheme;
	const char *params[MAXP][2]; /* {name, value}, ends at name NULL */
};

struct auth_case {
	const char *header;
	int ret;
	struct want_challenge ch[MAXC]; /* ends at scheme NULL */
};

static const struct auth_case cases[] = {
	{"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	 "scope=\"repository:library/alpine:pull\"",
	 0,
	 {{"bearer",
	   {{"realm", "https://auth.docker.io/token"},
	    {"service", "registry.docker.io"},
	    {"scope", "repository:library/alpine:pull"}}}}},
	{"Basic realm=\"x\"", 0, {{"basic", {{"realm", "x"}}}}},
	{"Basic realm=\"Registry Realm\"", 0, {{"basic", {{"realm", "Registry Realm"}}}}},
	/* Two challenges in one header. */
	{"Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"",
	 0,
	 {{"basic", {{"realm", "a"}}}, {"bearer", {{"realm", "b"}, {"service", "c"}}}}},
	{"Bearer realm=\"b\", Basic realm=\"a\"",
	 0,
	 {{"bearer", {{"realm", "b"}}}, {"basic", {{"realm", "a"}}}}},
	/* Case-insensitive scheme and parameter names; values keep case. */
	{"BEARER REALM=\"https://A/T\", Service=\"S\"",
	 0,
	 {{"bearer", {{"realm", "https://A/T"}, {"service", "S"}}}}},
	/* Whitespace variations (BWS around '=', OWS around ','). */
	{"  Bearer   realm = \"r\" ,\tservice=\"s\"  ",
	 0,
	 {{"bearer", {{"realm", "r"}, {"service", "s"}}}}},
	{"Bearer\trealm=\"r\"", 0, {{"bearer", {{"realm", "r"}}}}},
	/* Token values. */
	{"Bearer realm=r,service=s", 0, {{"bearer", {{"realm", "r"}, {"service", "s"}}}}},
	/* Empty list elements. */
	{", Bearer realm=\"r\", , service=\"s\",", 0,
	 {{"bearer", {{"realm", "r"}, {"service", "s"}}}}},
	/* Quoted-string escapes. */
	{"Bearer realm=\"a\\\"b\"", 0, {{"bearer", {{"realm", "a\"b"}}}}},
	{"Bearer realm=\"a\\\\b\"", 0, {{"bearer", {{"realm", "a\\b"}}}}},
	{"Bearer realm=\"\\a\\b\\c\"", 0, {{"bearer", {{"realm", "abc"}}}}},
	{"Bearer realm=\"\"", 0, {{"bearer", {{"realm", ""}}}}},
	/* Commas and '=' inside quoted strings do not split. */
	{"Bearer scope=\"repository:a/b:pull,push\",realm=\"x=y\"",
	 0,
	 {{"bearer", {{"scope", "repository:a/b:pull,push"}, {"realm", "x=y"}}}}},
	/* Insufficient scope. */
	{"Bearer realm=\"r\",service=\"s\",scope=\"repository:a:pull,push\","
	 "error=\"insufficient_scope\"",
	 0,
	 {{"bearer",
	   {{"realm", "r"},
	    {"service", "s"},
	    {"scope", "repository:a:pull,push"},
	    {"error", "insufficient_scope"}}}}},
	/* Schemes without parameters. */
	{"Negotiate", 0, {{"negotiate", {{NULL, NULL}}}}},
	{"Negotiate, Basic realm=\"x\"", 0, {{"negotiate", {{NULL}}}, {"basic", {{"realm", "x"}}}}},
	{"Basic realm=\"x\", Negotiate", 0, {{"basic", {{"realm", "x"}}}, {"negotiate", {{NULL}}}}},
	/* token68, kept as a parameter with an empty name. */
	{"Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg+/==", 0,
	 {{"negotiate", {{"", "YIIBhwYGKwYBBQUCoIIBezCCAXeg+/=="}}}}},
	{"Newauth abc=, Basic realm=\"x\"", 0,
	 {{"newauth", {{"", "abc="}}}, {"basic", {{"realm", "x"}}}}},
	{"Newauth abc", 0, {{"newauth", {{"", "abc"}}}}},
	/* RFC 7235 4.1's own example. */
	{"Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
	 0,
	 {{"newauth", {{"realm", "apps"}, {"type", "1"}, {"title", "Login to \"apps\""}}},
	  {"basic", {{"realm", "simple"}}}}},

	/* Malformed. */
	{"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"   ", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{",,,", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"=", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"\"Bearer\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"unterminated", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"ends in backslash\\", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"ends in escaped quote\\\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	/* By the grammar these are a token68 and a second, bare scheme. */
	{"Bearer realm=", 0, {{"bearer", {{"", "realm="}}}}},
	{"Bearer realm=\"r\", service", 0, {{"bearer", {{"realm", "r"}}}, {"service", {{NULL}}}}},
	{"Bearer realm=,service=s", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"r\" service=\"s\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"r\"service=\"s\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=a b", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer\"realm\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Basic, realm=\"x\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	/* Duplicate parameters: which realm would we trust? */
	{"Bearer realm=\"a\",realm=\"b\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"a\",REALM=\"b\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	/* A later malformed challenge refuses the whole header. */
	{"Basic realm=\"a\", Bearer realm=\"b", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	/* Control bytes, NUL cannot be expressed, non-ASCII. */
	{"Bearer realm=\"a\x01\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"a\nb\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"a\\\x7f\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\"\xc3\xa9\"", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer realm=\xff", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"B\xff" "earer realm=x", -EINVAL, {{NULL, {{NULL, NULL}}}}},
	{"Bearer\nrealm=x", -EINVAL, {{NULL, {{NULL, NULL}}}}},
};

static void check_case(size_t idx, const struct auth_case *c)
{
	struct reg_challenges out = {(struct reg_challenge *)1, 99};
	int ret = reg_wwwauth_parse(c->header, &out);
	size_t n_want = 0;

	CHECK(ret == c->ret, "case %zu \"%s\": ret %d, want %d", idx, c->header, ret, c->ret);
	if (ret < 0) {
		CHECK(out.n == 0 && out.v == NULL, "case %zu: output not empty on error", idx);
		reg_challenges_release(&out);
		return;
	}
	while (n_want < MAXC && c->ch[n_want].scheme)
		n_want++;
	CHECK(out.n == n_want, "case %zu \"%s\": %zu challenges, want %zu", idx, c->header, out.n,
	      n_want);
	for (size_t i = 0; i < n_want && i < out.n; i++) {
		const struct want_challenge *w = &c->ch[i];
		const struct reg_challenge *ch = &out.v[i];
		size_t np = 0;

		CHECK(strcmp(ch->scheme, w->scheme) == 0, "case %zu: scheme \"%s\", want \"%s\"", idx,
		      ch->scheme, w->scheme);
		while (np < MAXP && w->params[np][0])
			np++;
		CHECK(ch->n_params == np, "case %zu ch %zu: %zu params, want %zu", idx, i,
		      ch->n_params, np);
		for (size_t k = 0; k < np && k < ch->n_params; k++) {
			CHECK(strcmp(ch->params[k].name, w->params[k][0]) == 0,
			      "case %zu: param name \"%s\", want \"%s\"", idx, ch->params[k].name,
			      w->params[k][0]);
			CHECK(strcmp(ch->params[k].value, w->params[k][1]) == 0,
			      "case %zu: param %s = \"%s\", want \"%s\"", idx, w->params[k][0],
			      ch->params[k].value, w->params[k][1]);
		}
	}
	reg_challenges_release(&out);
	CHECK(out.n == 0 && out.v == NULL, "case %zu: release left data", idx);
}

static void test_lookup(void)
{
	struct reg_challenges out;
	const struct reg_challenge *ch;
	int ret;

	ret = reg_wwwauth_parse("Basic realm=\"a\", Bearer Realm=\"https://t/\",Service=\"reg\"",
				&out);
	CHECK(ret == 0, "lookup parse: %d", ret);
	ch = reg_challenges_find(&out, "BEARER");
	CHECK(ch && strcmp(ch->scheme, "bearer") == 0, "find bearer");
	CHECK(ch && reg_challenge_param(ch, "realm") &&
		      strcmp(reg_challenge_param(ch, "REALM"), "https://t/") == 0,
	      "bearer realm");
	CHECK(ch && reg_challenge_param(ch, "service") &&
		      strcmp(reg_challenge_param(ch, "service"), "reg") == 0,
	      "bearer service");
	CHECK(ch && reg_challenge_param(ch, "scope") == NULL, "absent scope found");
	CHECK(reg_challenges_find(&out, "digest") == NULL, "absent scheme found");
	CHECK(reg_challenges_find(&out, "basic") == &out.v[0], "basic not first");
	CHECK(reg_challenges_find(NULL, "basic") == NULL, "NULL set");
	CHECK(reg_challenge_param(NULL, "realm") == NULL, "NULL challenge");
	reg_challenges_release(&out);
	reg_challenges_release(&out); /* idempotent */
}

static void test_limits(void)
{
	struct reg_challenges out;
	char *h = malloc(64 * 1024);
	int ret;

	/* 16 challenges are fine, 17 are not. */
	h[0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(h, "Basic realm=\"x\", ");
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == 0 && out.n == 16, "16 challenges: ret %d n %zu", ret, out.n);
	reg_challenges_release(&out);
	strcat(h, "Basic realm=\"x\"");
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == -EINVAL && out.n == 0, "17 challenges: ret %d", ret);
	reg_challenges_release(&out);

	/* 32 params are fine, 33 are not. */
	strcpy(h, "Bearer ");
	for (int i = 0; i < 32; i++)
		sprintf(h + strlen(h), "p%d=v,", i);
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == 0 && out.n == 1 && out.v[0].n_params == 32, "32 params: ret %d", ret);
	reg_challenges_release(&out);
	strcat(h, "p32=v");
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == -EINVAL, "33 params: ret %d", ret);
	reg_challenges_release(&out);

	/* 8 KiB is the limit. */
	strcpy(h, "Bearer realm=\"");
	memset(h + 14, 'a', 8192 - 15);
	strcpy(h + 8192 - 1, "\"");
	CHECK(strlen(h) == 8192, "setup");
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == 0 && out.n == 1 && strlen(out.v[0].params[0].value) == 8192 - 15,
	      "8 KiB header: ret %d", ret);
	reg_challenges_release(&out);
	strcpy(h + 8192 - 1, "a\"");
	ret = reg_wwwauth_parse(h, &out);
	CHECK(ret == -EINVAL, "8 KiB + 1 header: ret %d", ret);
	reg_challenges_release(&out);

	ret = reg_wwwauth_parse(NULL, &out);
	CHECK(ret == -EINVAL && out.n == 0, "NULL header: ret %d", ret);
	reg_challenges_release(&out);
	free(h);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(i, &cases[i]);
	test_lookup();
	test_limits();
	if (failures) {
		fprintf(stderr, "test_wwwauth: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_wwwauth: ok\n");
	return 0;
}
