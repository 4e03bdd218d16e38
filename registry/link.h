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
 * or to NULL when there is no next link.
 * Returns 0, -EINVAL for a malformed header, -ENOMEM.
 */
int reg_link_next(const char *header, char **next);

#endif
