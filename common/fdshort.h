/*
 * Running out of file descriptors.  EMFILE and ENFILE are this process's
 * (or this machine's) state, not anything a registry or the cache did: a
 * connect that fails for want of a socket must not mark the registry
 * unreachable, and what sits idle holding descriptors (pooled curl
 * handles, cached connections) should let them go while the shortage
 * lasts, so that the daemon recovers when the load is gone rather than
 * staying at its limit.
 *
 * Whoever sees the error notes it (the FUSE reply funnel, the socket
 * opener); whoever keeps descriptors idle asks whether a shortage was seen
 * lately.  Lock-free: one timestamp.
 */
#ifndef REGFS_COMMON_FDSHORT_H
#define REGFS_COMMON_FDSHORT_H

#include <stdbool.h>

/* Is @err (positive or negative errno) a shortage of descriptors? */
bool fd_short_errno(int err);

/* Note @err when it is a shortage of descriptors (anything else is
 * ignored, so callers pass every error through). */
void fd_short_note(int err);

/* Was a shortage noted in the last FD_SHORT_WINDOW seconds? */
bool fd_short_recent(void);

/* Raise this process's soft descriptor limit to its hard limit (capped at
 * FD_SOFT_WANTED): the default soft limit of 1024 is a shell's, not a
 * server's, and every open layer holds one.  Returns the soft limit now. */
unsigned long fd_limit_raise(void);

#endif
