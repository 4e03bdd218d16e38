/*
 * WWW-Authenticate parsing (RFC 7235 section 4.1 and 2.1):
 *
 *   WWW-Authenticate = 1#challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *   token68    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *
 * The grammar is ambiguous at a comma: what follows may be another
 * auth-param of the same challenge or the scheme of the next one.  As in
 * RFC 7235's own reading, "token BWS =" starts a parameter and anything
 * else starts a challenge.
 *
 * The whole header is refused on any syntax error rather than using the
 * part that parsed: the realm we would fetch a token from is chosen from
 * this, so a half-understood header is worse than none.
 */
#include "registry/wwwauth.h"

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

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_tchar(char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token68_char(char c)
{
	return is_alnum(c) || (c && strchr("-._~+/", c) != NULL);
}

static const char *skip_ows(const char *p)
{
	while (is_ows(*p))
		p++;
	return p;
}

/* Length of the token at @p (0 when there is none). */
static size_t token_len(const char *p)
{
	size_t n = 0;

	while (is_tchar(p[n]))
		n++;
	return n;
}

static char *lower_dup(const char *s, size_t len)
{
	char *r = malloc(len + 1);

	if (!r)
		return NULL;
	for (size_t i = 0; i < len; i++)
		r[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	r[len] = '\0';
	return r;
}

/* Values end up in URLs and logs, so only printable ASCII and tab are let
 * through; RFC 7230 would also allow obs-text (bytes >= 0x80). */
static bool is_qdtext(char c)
{
	unsigned char u = (unsigned char)c;

	return u == '\t' || (u >= 0x20 && u < 0x7f);
}

/* Parse a quoted-string at *pp (which points at the opening quote) into a
 * new unescaped string. */
static int quoted_parse(const char **pp, char **out)
{
	const char *p = *pp + 1;
	size_t n = 0;
	char *v;

	*out = NULL;
	/* First pass: validate and measure. */
	for (const char *q = p; *q != '"'; q++) {
		if (*q == '\\')
			q++;
		if (!is_qdtext(*q))
			return -EINVAL;
		n++;
	}
	v = malloc(n + 1);
	if (!v)
		return -ENOMEM;
	n = 0;
	while (*p != '"') {
		if (*p == '\\')
			p++;
		v[n++] = *p++;
	}
	v[n] = '\0';
	*pp = p + 1;
	*out = v;
	return 0;
}

/* Does "token BWS =" start at @p, i.e. is this an auth-param rather than
 * the next challenge's scheme? */
static bool at_param(const char *p)
{
	size_t n = token_len(p);

	return n > 0 && *skip_ows(p + n) == '=';
}

/* If a token68 followed by the end of this list element starts at @p,
 * return its length, else 0. */
static size_t token68_len(const char *p)
{
	size_t n = 0;
	const char *end;

	while (is_token68_char(p[n]))
		n++;
	if (n == 0)
		return 0;
	while (p[n] == '=')
		n++;
	end = skip_ows(p + n);
	return (*end == ',' || *end == '\0') ? n : 0;
}

/* Add parameter @name = @value to @ch, taking over both (freed on
 * failure; NULL for either is -ENOMEM).  0, -EINVAL (too many, or named
 * twice), -ENOMEM. */
static int param_add(struct reg_challenge *ch, char *name, char *value)
{
	int ret = -EINVAL;

	if (!name || !value) {
		ret = -ENOMEM;
		goto out;
	}
	if (ch->n_params == WWWAUTH_PARAMS_MAX)
		goto out;
	/* RFC 7235 2.1: each parameter name occurs once per challenge.  Two
	 * realms would leave us guessing which one the server meant. */
	for (size_t i = 0; i < ch->n_params; i++)
		if (strcmp(ch->params[i].name, name) == 0)
			goto out;
	if (!ch->params) {
		ch->params = calloc(WWWAUTH_PARAMS_MAX, sizeof(*ch->params));
		if (!ch->params) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ch->params[ch->n_params].name = name;
	ch->params[ch->n_params].value = value;
	ch->n_params++;
	return 0;
out:
	free(name);
	free(value);
	return ret;
}

/* Parse the #auth-param list of @ch starting at *pp; stops at the end of
 * the header or at the comma before the next challenge. */
static int params_parse(const char **pp, struct reg_challenge *ch)
{
	const char *p = *pp;

	for (;;) {
		size_t n = token_len(p);
		const char *name = p, *q;
		char *value = NULL;
		int ret;

		if (n == 0)
			return -EINVAL;
		p = skip_ows(p + n);
		if (*p != '=')
			return -EINVAL;
		p = skip_ows(p + 1);
		if (*p == '"') {
			ret = quoted_parse(&p, &value);
			if (ret < 0)
				return ret;
		} else {
			size_t vn = token_len(p);

			if (vn == 0)
				return -EINVAL;
			value = strndup(p, vn);
			p += vn;
		}
		ret = param_add(ch, lower_dup(name, n), value);
		if (ret < 0)
			return ret;

		p = skip_ows(p);
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		q = p;
		while (is_ows(*q) || *q == ',')
			q++;
		if (*q == '\0' || !at_param(q)) {
			p = q;
			break;
		}
		p = q;
	}
	*pp = p;
	return 0;
}

int reg_wwwauth_parse(const char *header, struct reg_challenges *out)
{
	const char *p = header;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!header || strnlen(header, WWWAUTH_HEADER_MAX + 1) > WWWAUTH_HEADER_MAX)
		goto out;
	out->v = calloc(WWWAUTH_CHALLENGES_MAX, sizeof(*out->v));
	if (!out->v) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct reg_challenge *ch;
		size_t n;

		while (is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = token_len(p);
		if (n == 0 || out->n == WWWAUTH_CHALLENGES_MAX)
			goto out;
		ch = &out->v[out->n++];
		ch->scheme = lower_dup(p, n);
		if (!ch->scheme) {
			ret = -ENOMEM;
			goto out;
		}
		p += n;
		if (*p == '\0' || *p == ',')
			continue; /* a scheme without parameters */
		if (!is_ows(*p))
			goto out;
		p = skip_ows(p);
		if (*p == '\0' || *p == ',')
			continue;
		n = token68_len(p);
		if (n > 0) {
			/* token68 credentials-style challenge: kept as one
			 * parameter with an empty name. */
			ret = param_add(ch, strdup(""), strndup(p, n));
			if (ret < 0)
				goto out;
			ret = -EINVAL;
			p += n;
			continue;
		}
		ret = params_parse(&p, ch);
		if (ret < 0)
			goto out;
		ret = -EINVAL;
	}
	if (out->n > 0)
		ret = 0;
out:
	if (ret < 0)
		reg_challenges_release(out);
	return ret;
}

void reg_challenges_release(struct reg_challenges *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct reg_challenge *ch = &c->v[i];

		for (size_t k = 0; k < ch->n_params; k++) {
			free(ch->params[k].name);
			free(ch->params[k].value);
		}
		free(ch->params);
		free(ch->scheme);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

const struct reg_challenge *reg_challenges_find(const struct reg_challenges *c,
						const char *scheme)
{
	if (!c || !scheme)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->v[i].scheme, scheme) == 0)
			return &c->v[i];
	return NULL;
}

const char *reg_challenge_param(const struct reg_challenge *ch, const char *name)
{
	if (!ch || !name)
		return NULL;
	for (size_t i = 0; i < ch->n_params; i++)
		if (strcasecmp(ch->params[i].name, name) == 0)
			return ch->params[i].value;
	return NULL;
}
