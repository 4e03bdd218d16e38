/*
 * RFC 8288 Link header parsing, for _catalog and tags/list pagination.
 */
#ifndef REGFS_REGISTRY_LINK_H
#define REGFS_REGISTRY_LINK_H

/*
 * Find the target of the first link with rel="next" (rel may list several
 * space-separated relation types; matching is case-insensitive; quoted and
 * unquoted rel values are accepted).  *next is set to a new string (caller
 * frees) holding the URI reference exactly as written between '<' and '>',
 * or to NULL when there is no next link.  The target may be relative
 * ("/v2/_catalog?last=b&n=2") or absolute: the caller resolves it against
 * the request URL and must refuse one that leaves the registry's origin.
 * An empty target ("<>") is never returned (it would fetch the same page
 * forever); only the first rel parameter of a link counts (RFC 8288 3.3).
 * The whole header is parsed: any syntax error, a target with spaces,
 * controls or non-ASCII bytes, or a header over 16 KiB is -EINVAL.
 * Returns 0, -EINVAL for a malformed header, -ENOMEM.
 */
int reg_link_next(const char *header, char **next);

#endif
