/*
 * RFC 8288 Link header parsing.  Registries paginate _catalog and
 * tags/list with `Link: </v2/_catalog?last=b&n=100>; rel="next"`; we only
 * need the "next" target, but the whole header is parsed so that a
 * malformed one is refused rather than half-understood.
 *
 *   Link       = #link-value
 *   link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
 *   link-param = token BWS [ "=" BWS ( token / quoted-string ) ]
 */
#include "registry/link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/limits.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A URI reference is printable ASCII without spaces or angle brackets. */
static bool is_uri_char(char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>';
}

static const char *skip_ows(const char *p)
{
	while (is_ows(*p))
		p++;
	return p;
}

/* Does the space-separated relation list [s, s+len) contain "next"? */
static bool rel_has_next(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && is_ows(s[i]))
			i++;
		start = i;
		while (i < len && !is_ows(s[i]))
			i++;
		if (i - start == 4 && strncasecmp(s + start, "next", 4) == 0)
			return true;
	}
	return false;
}

/*
 * Parse a token or quoted-string at *pp.  On success *pp moves past it and
 * [*v, *v + *vlen) is the value as written (quotes removed; escapes are
 * left in place, harmless for a relation-type list, which has no use for
 * them).  Control characters and non-ASCII bytes are refused.
 */
static int value_parse(const char **pp, const char **v, size_t *vlen)
{
	const char *p = *pp;

	if (*p == '"') {
		p++;
		*v = p;
		while (*p != '"') {
			if (*p == '\\') {
				p++;
				if (*p == '\0')
					return -EINVAL;
			}
			if (*p == '\0' || (((unsigned char)*p < 0x20 || *p == 0x7f) && *p != '\t') ||
			    (unsigned char)*p >= 0x80)
				return -EINVAL;
			p++;
		}
		*vlen = (size_t)(p - *v);
		*pp = p + 1;
		return 0;
	}
	*v = p;
	while (is_tchar(*p))
		p++;
	if (p == *v)
		return -EINVAL;
	*vlen = (size_t)(p - *v);
	*pp = p;
	return 0;
}

int reg_link_next(const char *header, char **next)
{
	const char *p = header;
	const char *found = NULL;
	size_t found_len = 0;
	int ret = -EINVAL;

	*next = NULL;
	if (!header || strnlen(header, HTTP_LINK_HEADER_MAX + 1) > HTTP_LINK_HEADER_MAX)
		goto out;
	for (;;) {
		const char *uri;
		size_t uri_len;
		bool seen_rel = false;

		/* Empty list elements (", ,") are allowed by the # rule. */
		while (is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p != '<')
			goto out;
		uri = ++p;
		while (is_uri_char(*p))
			p++;
		if (*p != '>')
			goto out;
		uri_len = (size_t)(p - uri);
		p++;
		for (;;) {
			const char *name, *v = NULL;
			size_t name_len, vlen = 0;

			p = skip_ows(p);
			if (*p != ';')
				break;
			p = skip_ows(p + 1);
			name = p;
			while (is_tchar(*p))
				p++;
			name_len = (size_t)(p - name);
			if (name_len == 0)
				goto out;
			p = skip_ows(p);
			if (*p == '=') {
				p = skip_ows(p + 1);
				if (value_parse(&p, &v, &vlen) < 0)
					goto out;
			}
			/* RFC 8288 3.3: only the first rel parameter counts. */
			if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && !seen_rel) {
				seen_rel = true;
				if (v && !found && uri_len > 0 && rel_has_next(v, vlen)) {
					found = uri;
					found_len = uri_len;
				}
			}
		}
		if (*p != ',' && *p != '\0')
			goto out;
	}
	if (found) {
		*next = strndup(found, found_len);
		if (!*next) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = 0;
out:
	return ret;
}
