/*
 * Unit tests for registry/names.c: hosts, repository names, tags and
 * loopback detection, table-driven, with the hostile names a registry could
 * list ("..", "/", control bytes, non-UTF-8, oversized).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/names.h"

#include "check.h"

struct name_case {
	const char *s;
	bool want;
};

static const struct name_case host_cases[] = {
	{"localhost", true},
	{"LOCALHOST", true},
	{"localhost:5000", true},
	{"a.b", true},
	{"registry.example.com", true},
	{"Registry.Example.COM:443", true},
	{"127.0.0.1:5000", true},
	{"127.0.0.1", true},
	{"[::1]:5000", true},
	{"[::1]", true},
	{"[2001:db8::1]:443", true},
	{"my-registry.local:1", true},
	{"host:65535", true},
	{"x:5000", true},
	{"", false},
	{"ubuntu", false},	   /* no '.' or port: a repository, not a host */
	{"localhost.", false},
	{".hidden", false},
	{".hidden.com", false},
	{"a..b", false},
	{"a.b.", false},
	{"-a.b", false},
	{"a-.b", false},
	{"a_b.com", false},
	{"host:0", false},
	{"host:99999", false},
	{"host:65536", false},
	{"host:", false},
	{"host:-1", false},
	{"host:+80", false},
	{"host:80:80", false},
	{"host:8o", false},
	{":5000", false},
	{"[::1", false},
	{"::1]", false},
	{"[::1]5000", false},
	{"[::1]:", false},
	{"[::1]:0", false},
	{"[]:5000", false},
	{"[not-v6]:5000", false},
	{"[fe80::1%eth0]", false},
	{"a.b/c", false},
	{"a.b/../c", false},
	{"..", false},
	{".", false},
	{"a b.com", false},
	{"a.b\n", false},
	{"a.b\t", false},
	{"\xc3\xa9.com", false},
	{"\xff\xfe.com", false},
	{"user@host.com", false},
	{"host.com?x", false},
};

static const struct name_case component_cases[] = {
	{"a", true},
	{"alpine", true},
	{"a0", true},
	{"0", true},
	{"a.b", true},
	{"a_b", true},
	{"a__b", true},
	{"a-b", true},
	{"a---b", true},
	{"py-app", true},
	{"a.b_c__d-e", true},
	{"", false},
	{"A", false},
	{"Alpine", false},
	{".a", false},
	{"a.", false},
	{"_a", false},
	{"a_", false},
	{"-a", false},
	{"a-", false},
	{"a..b", false},
	{"a___b", false},
	{"a._b", false},
	{"a_.b", false},
	{"a-.b", false},
	{"a.-b", false},
	{".", false},
	{"..", false},
	{"a/b", false},
	{"a b", false},
	{"a\x01", false},
	{"\xc3\xa9", false},
	{"a~b", false},
	{"a:b", false},
};

static const struct name_case repo_cases[] = {
	{"alpine", true},
	{"library/alpine", true},
	{"onap/py-app", true},
	{"a/b/c/d", true},
	{"a.b/c_d/e-f", true},
	{"", false},
	{"/", false},
	{"/a", false},
	{"a/", false},
	{"a//b", false},
	{"../a", false},
	{"a/../b", false},
	{"a/./b", false},
	{"a/..", false},
	{"..", false},
	{"Library/alpine", false},
	{"a/b:latest", false},
	{"a@sha256", false},
	{"a\\b", false},
	{"a/\xff", false},
	{"a b/c", false},
};

static const struct name_case tag_cases[] = {
	{"latest", true},
	{"v1.2.3", true},
	{"1.0-rc1", true},
	{"_x", true},
	{"A_B.c-D", true},
	{"", false},
	{".", false},
	{"..", false},
	{".hidden", false},
	{"-x", false},
	{"a/b", false},
	{"a:b", false},
	{"a b", false},
	{"a\n", false},
	{"a@b", false},
	{"\xc3\xa9", false},
	{"a+b", false},
};

static const struct name_case loopback_cases[] = {
	{"localhost", true},
	{"LocalHost", true},
	{"localhost:5000", true},
	{"127.0.0.1", true},
	{"127.0.0.1:5000", true},
	{"127.1.2.3:80", true},
	{"127.255.255.255", true},
	{"[::1]", true},
	{"[::1]:5000", true},
	{"::1", true},
	{"[0:0:0:0:0:0:0:1]:5000", true},
	{"", false},
	{"localhost:0", false},
	{"localhost:99999", false},
	{"localhost.evil.com", false},
	{"localhost.evil.com:5000", false},
	{"evil-localhost", false},
	{"127.0.0.1.nip.io", false},
	{"127.0.0.1.nip.io:5000", false},
	{"127.1", false},
	{"128.0.0.1", false},
	{"10.0.0.1:5000", false},
	{"0.0.0.0", false},
	{"[::2]:5000", false},
	{"[::ffff:8.8.8.8]", false},
	{"::1:5000", false},
	{"::2", false},
	{"registry.example.com", false},
	{"127.0.0.1:", false},
	{"[::1]:0", false},
	{"127.0.0.256", false},
};

#define RUN(table, fn)                                                                             \
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)                              \
		CHECK(fn(table[i].s) == table[i].want, "%s(\"%s\") != %s", #fn, table[i].s,      \
		      table[i].want ? "true" : "false")

static void test_lengths(void)
{
	char buf[1024];

	/* Repository: exactly 255 is fine, 256 is not. */
	memset(buf, 'a', 255);
	buf[255] = '\0';
	CHECK(reg_name_is_repo(buf), "255-byte repo refused");
	CHECK(reg_name_is_component(buf), "255-byte component refused");
	buf[255] = 'a';
	buf[256] = '\0';
	CHECK(!reg_name_is_repo(buf), "256-byte repo accepted");
	CHECK(!reg_name_is_component(buf), "256-byte component accepted");
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	CHECK(!reg_name_is_component(buf), "1023-byte component accepted");

	/* Tag: 128 fine, 129 not. */
	memset(buf, 'a', 128);
	buf[128] = '\0';
	CHECK(reg_name_is_tag(buf), "128-byte tag refused");
	buf[128] = 'a';
	buf[129] = '\0';
	CHECK(!reg_name_is_tag(buf), "129-byte tag accepted");

	/* Host: a 64-byte label is not a DNS label; a 1000-byte host is refused. */
	memset(buf, 'a', 64);
	strcpy(buf + 64, ".com");
	CHECK(!reg_name_is_host(buf), "64-byte label accepted");
	memset(buf, 'a', 63);
	strcpy(buf + 63, ".com");
	CHECK(reg_name_is_host(buf), "63-byte label refused");
	for (int i = 0; i < 1000; i++)
		buf[i] = (i % 2) ? '.' : 'a';
	buf[1000] = '\0';
	CHECK(!reg_name_is_host(buf), "1000-byte host accepted");
	CHECK(!reg_host_is_loopback(buf), "1000-byte host is loopback");

	/* The _n variant stops at len even without a NUL there. */
	CHECK(reg_name_is_component_n("abc/def", 3), "component_n prefix refused");
	CHECK(!reg_name_is_component_n("abc/def", 4), "component_n with '/' accepted");
	CHECK(!reg_name_is_component_n("abc", 0), "empty component_n accepted");
	CHECK(!reg_name_is_component_n("a\0b", 3), "component_n with NUL accepted");

	CHECK(!reg_name_is_host(NULL), "NULL host");
	CHECK(!reg_name_is_repo(NULL), "NULL repo");
	CHECK(!reg_name_is_tag(NULL), "NULL tag");
	CHECK(!reg_name_is_component(NULL), "NULL component");
	CHECK(!reg_host_is_loopback(NULL), "NULL loopback");
}

int main(void)
{
	RUN(host_cases, reg_name_is_host);
	RUN(component_cases, reg_name_is_component);
	RUN(repo_cases, reg_name_is_repo);
	RUN(tag_cases, reg_name_is_tag);
	RUN(loopback_cases, reg_host_is_loopback);
	test_lengths();
	if (failures) {
		fprintf(stderr, "test_names: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_names: ok\n");
	return 0;
}
