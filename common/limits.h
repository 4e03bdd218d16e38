/*
 * Every size cap and count limit of regfs, in one place (as curl keeps its
 * dynbuf limits in one header): what a peer, a file or a user can make the
 * daemon read or hold.  Each says what it bounds; code that enforces one
 * names it from here, so a write and the read of the same thing can never
 * disagree.
 */
#ifndef REGFS_COMMON_LIMITS_H
#define REGFS_COMMON_LIMITS_H

/* --- drafts (fs/draft.c, fs/commit.c, cache/draft.c) --------------------- */

/* A file the user writes in a draft: .mediatype, .force, each annotation.
 * Writes past it are EFBIG; a bigger file put in the state directory by
 * other means is reported in .status, never read. */
#define DRAFT_USER_FILE_MAX (64u << 10)
/* .base, written by regfs: a digest and a newline. */
#define DRAFT_BASE_MAX 256u
/* .last-commit, written by regfs: why the last commit failed. */
#define DRAFT_LAST_COMMIT_MAX (64u << 10)
/* .status as generated (one line per link: bounded by the links). */
#define DRAFT_STATUS_MAX (1u << 20)
/* .order, written by regfs: the link names in the order added. */
#define DRAFT_ORDER_MAX (1u << 20)

/* --- the tree (fs/tree.c) ------------------------------------------------- */

/* Levels of indexes within indexes inspect.json goes down. */
#define INSPECT_DEPTH_MAX 8
/* Platform directories a refused link to an index names. */
#define INDEX_NAMES_SHOWN 8

#endif
