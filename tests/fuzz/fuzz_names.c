/*
 * Fuzz the validators of names a registry or a user hands us: repository
 * components and names, tags, digests, hosts, and link names in platform
 * form.  Property: whatever is accepted is safe as a path component (or,
 * for a repository, a path of such components) and as a URL segment:
 * non-empty, no '/', never "." or ".." or hidden, no byte outside what
 * the grammar allows (so no control character, blank, '%', '?', '#'
 * or '\\'), and within its length limit.  ".." inside a name is no escape
 * (only a whole component of ".." is): tags may hold it, repository
 * components, digests and hosts never do.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "registry/listbuild.h"
#include "registry/manifest.h"
#include "registry/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @s holds only bytes of @allowed, alphanumerics aside. */
static bool only(const char *s, const char *allowed)
{
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(allowed, c)))
			return false;
	}
	return true;
}

/* Safe as one path component and one URL path segment: never "." or
 * "..", never hidden, no '/', only the bytes @allowed besides alphanumerics. */
static void component_check(const char *s, size_t max, const char *allowed)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strchr(s, '/') || s[0] == '.' || !only(s, allowed))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_platform p;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* an embedded NUL ends the name, as it would in a path */

	if (reg_name_is_component(s)) {
		component_check(s, REG_REPO_MAX, "._-");
		if (strstr(s, ".."))
			abort(); /* separators stand between alphanumerics */
		for (const char *q = s; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				abort(); /* lower case only */
	}
	/* the _n form has no length limit of its own (a repository's is the
	 * caller's): they agree within it */
	if (strlen(s) <= REG_REPO_MAX &&
	    reg_name_is_component_n(s, strlen(s)) != reg_name_is_component(s))
		abort();
	if (reg_name_is_repo(s)) {
		/* a path of components: none empty, each one accepted */
		char *copy = strdup(s), *save = NULL;

		if (!copy)
			abort();
		if (s[0] == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//") || strlen(s) > REG_REPO_MAX)
			abort();
		for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
			if (!reg_name_is_component(c))
				abort();
		free(copy);
	}
	if (reg_name_is_tag(s))
		/* "v1..0" is a tag (the distribution grammar allows it) and a
		 * harmless file name: only a whole "." or ".." would not be */
		component_check(s, REG_TAG_MAX, "._-");
	if (digest_is_valid(s)) {
		component_check(s, DIGEST_STR_LEN, ":");
		if (strstr(s, "..") || strlen(s) != DIGEST_STR_LEN || strncmp(s, DIGEST_PREFIX, 7) != 0)
			abort();
	}
	if (reg_name_is_host(s)) {
		/* a directory at the root, and a URL's authority: no path, user,
		 * query or fragment can ride in it */
		component_check(s, 1024, ".-:[]");
		if (strstr(s, ".."))
			abort();
	}
	if (reg_platform_from_name(s, &p) == 0) {
		if (!p.os || !p.architecture)
			abort();
		component_check(p.os, strlen(s), "_");
		component_check(p.architecture, strlen(s), "_");
		if (p.variant)
			component_check(p.variant, strlen(s), "_");
		reg_platform_release(&p);
	} else if (p.os || p.architecture || p.variant) {
		abort(); /* nothing is left behind on failure */
	}
	free(s);
	return 0;
}
