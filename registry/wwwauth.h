/*
 * WWW-Authenticate parsing (RFC 7235): one header may carry several
 * challenges, each a scheme followed by comma-separated auth-params whose
 * values are tokens or quoted strings with backslash escapes.
 */
#ifndef REGFS_REGISTRY_WWWAUTH_H
#define REGFS_REGISTRY_WWWAUTH_H

#include <stddef.h>

struct reg_auth_param {
	char *name;  /* owned, lower-cased */
	char *value; /* owned, unescaped */
};

struct reg_challenge {
	char *scheme; /* owned, lower-cased: "basic", "bearer", ... */
	struct reg_auth_param *params; /* owned array */
	size_t n_params;
};

struct reg_challenges {
	struct reg_challenge *v; /* owned array */
	size_t n;
};

/* Parse @header into @out (which the caller releases, also on error;
 * on error it is already empty).
 * Returns 0, -EINVAL for a header with no usable challenge, -ENOMEM.
 * Limits: at most 16 challenges, 32 params each, header at most 8 KiB.
 * Any syntax error, a parameter named twice in one challenge, or a value
 * with control characters or non-ASCII bytes refuses the whole header.
 * A token68 challenge ("Negotiate abc==") is kept as one parameter whose
 * name is "" (empty). */
int reg_wwwauth_parse(const char *header, struct reg_challenges *out);
void reg_challenges_release(struct reg_challenges *c);

/* First challenge with this scheme (case-insensitive), or NULL.  Borrowed. */
const struct reg_challenge *reg_challenges_find(const struct reg_challenges *c,
						const char *scheme);
/* Value of a parameter (case-insensitive name), or NULL.  Borrowed. */
const char *reg_challenge_param(const struct reg_challenge *ch, const char *name);

#endif
