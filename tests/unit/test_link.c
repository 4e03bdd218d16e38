/*
 * Unit tests for registry/link.c: RFC 8288 Link headers as registries send
 * them for pagination, and malformed or hostile ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/link.h"

#include "check.h"

struct link_case {
	const char *header;
	int ret;
	const char *next; /* expected target, NULL for none */
};

static const struct link_case cases[] = {
	/* What docker-registry sends. */
	{"</v2/_catalog?last=b&n=2>; rel=\"next\"", 0, "/v2/_catalog?last=b&n=2"},
	{"</v2/onap/x/tags/list?last=v1&n=100>; rel=\"next\"", 0,
	 "/v2/onap/x/tags/list?last=v1&n=100"},
	/* Unquoted rel, no whitespace, extra whitespace, tabs. */
	{"</a>;rel=next", 0, "/a"},
	{"</a> ; rel = next", 0, "/a"},
	{"\t</a>\t;\trel=\"next\"\t", 0, "/a"},
	/* Case-insensitive rel name and value. */
	{"</a>; REL=\"NEXT\"", 0, "/a"},
	{"</a>; Rel=Next", 0, "/a"},
	/* Several relation types. */
	{"</a>; rel=\"next prev\"", 0, "/a"},
	{"</a>; rel=\"prev next\"", 0, "/a"},
	{"</a>; rel=\"prev  \tnext\"", 0, "/a"},
	{"</a>; rel=\"nextpage\"", 0, NULL},
	{"</a>; rel=\"previous\"", 0, NULL},
	{"</a>; rel=\"nex\"", 0, NULL},
	/* Several links: the first "next" wins. */
	{"</p>; rel=\"prev\", </n>; rel=\"next\"", 0, "/n"},
	{"</n1>; rel=\"next\", </n2>; rel=\"next\"", 0, "/n1"},
	{"</p>; rel=prev,</n>; rel=next", 0, "/n"},
	{", , </n>; rel=next ,", 0, "/n"},
	/* Other parameters around rel. */
	{"</n>; title=\"a, b; c\"; rel=\"next\"; type=\"text/html\"", 0, "/n"},
	{"</n>; anchor=\"#x\"; rel=next", 0, "/n"},
	{"</n>; hreflang=en; rel=next", 0, "/n"},
	{"</n>; flag; rel=next", 0, "/n"},
	/* Only the first rel parameter counts (RFC 8288 3.3). */
	{"</n>; rel=prev; rel=next", 0, NULL},
	{"</n>; rel=next; rel=prev", 0, "/n"},
	/* Absolute URLs are returned as written. */
	{"<https://r.example.com/v2/_catalog?last=x&n=1>; rel=\"next\"", 0,
	 "https://r.example.com/v2/_catalog?last=x&n=1"},
	/* No links at all. */
	{"", 0, NULL},
	{"   ", 0, NULL},
	{",,,", 0, NULL},
	{"</a>", 0, NULL},
	{"</a>; rel=\"\"", 0, NULL},
	/* An empty target would fetch the same page forever. */
	{"<>; rel=next", 0, NULL},
	{"<>; rel=next, </b>; rel=next", 0, "/b"},
	/* Garbage. */
	{"garbage", -EINVAL, NULL},
	{"/v2/_catalog; rel=next", -EINVAL, NULL},
	{"</a; rel=next", -EINVAL, NULL},
	{"<", -EINVAL, NULL},
	{">", -EINVAL, NULL},
	{"</a b>; rel=next", -EINVAL, NULL},
	{"</a<b>; rel=next", -EINVAL, NULL},
	{"</a>; rel=\"next", -EINVAL, NULL},
	{"</a>; rel=\"next\\\"", -EINVAL, NULL},
	{"</a>; rel=\"next\\", -EINVAL, NULL},
	{"</a>; rel=", -EINVAL, NULL},
	{"</a>; =next", -EINVAL, NULL},
	{"</a>;", -EINVAL, NULL},
	{"</a>; rel=next junk", -EINVAL, NULL},
	{"</a> junk; rel=next", -EINVAL, NULL},
	{"</a>; rel=next; </b>; rel=next", -EINVAL, NULL},
	{"</a>; rel=next </b>", -EINVAL, NULL},
	{"</n>; rel=next, garbage", -EINVAL, NULL},
	{"</\x01>; rel=next", -EINVAL, NULL},
	{"</\xc3\xa9>; rel=next", -EINVAL, NULL},
	{"</a>; rel=\"n\x01\"", -EINVAL, NULL},
	{"</a>; rel=\"\xff\"", -EINVAL, NULL},
	{"</a>; r\xffl=next", -EINVAL, NULL},
	{"</a>\n; rel=next", -EINVAL, NULL},
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct link_case *c = &cases[i];
		char *next = (char *)"untouched";
		int ret = reg_link_next(c->header, &next);

		CHECK(ret == c->ret, "case %zu \"%s\": ret %d, want %d", i, c->header, ret, c->ret);
		if (ret < 0) {
			CHECK(next == NULL, "case %zu: *next not NULL on error", i);
			continue;
		}
		if (!c->next)
			CHECK(next == NULL, "case %zu \"%s\": got \"%s\", want none", i, c->header,
			      next ? next : "");
		else
			CHECK(next && strcmp(next, c->next) == 0, "case %zu \"%s\": got \"%s\", want \"%s\"",
			      i, c->header, next ? next : "(null)", c->next);
		free(next);
	}
}

static void test_hostile(void)
{
	size_t big = 1 << 20;
	char *h = malloc(big + 64);
	char *next = NULL;
	int ret;

	/* Oversized header: refused without reading it all as a URI. */
	strcpy(h, "</");
	memset(h + 2, 'a', big);
	strcpy(h + 2 + big, ">; rel=next");
	ret = reg_link_next(h, &next);
	CHECK(ret == -EINVAL && next == NULL, "1 MiB header: ret %d", ret);

	/* Many links, still under the limit: last one is next. */
	h[0] = '\0';
	for (int i = 0; i < 500; i++)
		strcat(h, "</p>; rel=prev, ");
	strcat(h, "</n>; rel=next");
	ret = reg_link_next(h, &next);
	CHECK(ret == 0 && next && strcmp(next, "/n") == 0, "500 links: ret %d", ret);
	free(next);

	/* A long but legal target. */
	strcpy(h, "</");
	memset(h + 2, 'a', 8000);
	strcpy(h + 8002, ">; rel=next");
	ret = reg_link_next(h, &next);
	CHECK(ret == 0 && next && strlen(next) == 8001, "8000-byte target: ret %d", ret);
	free(next);

	ret = reg_link_next(NULL, &next);
	CHECK(ret == -EINVAL && next == NULL, "NULL header: ret %d", ret);
	free(h);
}

int main(void)
{
	test_table();
	test_hostile();
	if (failures) {
		fprintf(stderr, "test_link: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_link: ok\n");
	return 0;
}
