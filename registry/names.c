/*
 * Validation of registry hosts, repository names and tags.
 *
 * Everything a registry lists (catalog entries, tags) passes through these
 * checks before it becomes a directory name, so they are deliberately
 * strict: the distribution reference grammar with no extensions, ASCII
 * only, explicit length limits.  They are pure functions over C strings and
 * never allocate.
 */
#include "registry/names.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* Longest host we accept: a DNS name is at most 253 bytes, plus ":65535". */
#define HOST_MAX 260

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A decimal port 1-65535 in exactly @len bytes; no sign, no leading zeros
 * beyond what the number needs would be pedantic, so "05000" is accepted. */
static bool port_is_valid(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* domain-component: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. */
static bool domain_component_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* Whether each part of the @len bytes at @s between the separators @sep
 * passes @valid (an empty part is handed to it too); *parts (or NULL)
 * counts them as far as they are valid. */
static bool parts_are_valid(const char *s, size_t len, char sep,
			    bool (*valid)(const char *, size_t), size_t *parts)
{
	size_t start = 0, n = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != sep)
			continue;
		if (!valid(s + start, i - start))
			return false;
		n++;
		if (parts)
			*parts = n;
		start = i + 1;
	}
	return true;
}

/* domain-name: domain-component ('.' domain-component)*.  Sets *dotted when
 * there is more than one component. */
static bool domain_name_is_valid(const char *s, size_t len, bool *dotted)
{
	size_t parts = 0;
	bool ok;

	*dotted = false;
	if (len == 0 || len > 253)
		return false;
	ok = parts_are_valid(s, len, '.', domain_component_is_valid, &parts);
	*dotted = parts > 1;
	return ok;
}

/* Split "[v6]:port", "[v6]", "name:port", "name" into the host part and the
 * optional port.  For bracketed hosts the host part excludes the brackets
 * and *bracketed is set.  Returns false when the shape is wrong (stray
 * brackets, empty or invalid port). */
static bool host_split(const char *s, const char **host, size_t *host_len, bool *bracketed,
		       bool *has_port)
{
	size_t len = strnlen(s, HOST_MAX + 1);
	const char *colon;

	if (len == 0 || len > HOST_MAX)
		return false;
	*bracketed = false;
	*has_port = false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return false;
		*host = s + 1;
		*host_len = (size_t)(close - s) - 1;
		*bracketed = true;
		if (close[1] == '\0')
			return true;
		if (close[1] != ':')
			return false;
		*has_port = true;
		return port_is_valid(close + 2, strlen(close + 2));
	}
	if (memchr(s, '[', len) || memchr(s, ']', len))
		return false;
	colon = memchr(s, ':', len);
	*host = s;
	if (!colon) {
		*host_len = len;
		return true;
	}
	*host_len = (size_t)(colon - s);
	*has_port = true;
	return port_is_valid(colon + 1, len - *host_len - 1);
}

/* An address of family @af (AF_INET: dotted quad only; AF_INET6) in
 * exactly the @len bytes at @s, into @a. */
static bool inet_parse(int af, const char *s, size_t len, void *a)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(af, tmp, a) == 1;
}

bool reg_name_is_host(const char *s)
{
	const char *host;
	size_t host_len;
	bool bracketed, has_port, dotted;

	if (!s || !host_split(s, &host, &host_len, &bracketed, &has_port))
		return false;
	if (bracketed) {
		struct in6_addr a6;

		return inet_parse(AF_INET6, host, host_len, &a6);
	}
	if (!domain_name_is_valid(host, host_len, &dotted))
		return false;
	/* Without a '.' or a port a single word is a repository component
	 * ("ubuntu"), not a host; "localhost" is the one exception, as in
	 * distribution's reference normalisation. */
	if (dotted || has_port)
		return true;
	return host_len == 9 && strncasecmp(host, "localhost", 9) == 0;
}

bool reg_host_is_loopback(const char *host)
{
	const char *h;
	size_t h_len;
	bool bracketed, has_port;
	struct in6_addr a6;
	struct in_addr a4;

	if (!host)
		return false;
	/* Bare "::1" is how some tools print the address; it cannot carry a
	 * port, so it is matched whole before splitting on ':'. */
	if (strchr(host, ':') && host[0] != '[' && inet_parse(AF_INET6, host, strlen(host), &a6))
		return IN6_IS_ADDR_LOOPBACK(&a6);
	if (!reg_name_is_host(host))
		return false;
	if (!host_split(host, &h, &h_len, &bracketed, &has_port))
		return false;
	if (bracketed)
		return inet_parse(AF_INET6, h, h_len, &a6) && IN6_IS_ADDR_LOOPBACK(&a6);
	if (h_len == 9 && strncasecmp(h, "localhost", 9) == 0)
		return true;
	/* inet_pton only takes the dotted-quad form, so "127.1" and
	 * "127.0.0.1.example.com" are not mistaken for loopback. */
	if (inet_parse(AF_INET, h, h_len, &a4))
		return (ntohl(a4.s_addr) >> 24) == 127;
	return false;
}

bool reg_name_is_component_n(const char *s, size_t len)
{
	size_t i = 0;

	if (!s || len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		size_t run;

		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		/* A separator run, between two alphanumerics (guaranteed by
		 * the first/last checks above). */
		run = i;
		while (run < len && !is_lower_alnum(s[run]))
			run++;
		run -= i;
		if (s[i] == '-') {
			for (size_t k = 0; k < run; k++)
				if (s[i + k] != '-')
					return false;
		} else if (s[i] == '_') {
			if (run > 2 || (run == 2 && s[i + 1] != '_'))
				return false;
		} else if (s[i] == '.') {
			if (run != 1)
				return false;
		} else {
			return false;
		}
		i += run;
	}
	return true;
}

/* The length of @s when it is 1 to @max bytes long, else 0 (NULL, empty,
 * longer).  Reads at most @max + 1 bytes. */
static size_t len_within(const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max + 1) : 0;

	return len <= max ? len : 0;
}

bool reg_name_is_component(const char *s)
{
	size_t len = len_within(s, REG_REPO_MAX);

	return len && reg_name_is_component_n(s, len);
}

bool reg_name_is_repo(const char *s)
{
	size_t len = len_within(s, REG_REPO_MAX);

	return len && parts_are_valid(s, len, '/', reg_name_is_component_n, NULL);
}

bool reg_name_is_tag(const char *s)
{
	size_t len = len_within(s, REG_TAG_MAX);

	if (!len || (!is_alnum(s[0]) && s[0] != '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}
