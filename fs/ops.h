/* The FUSE operations table (ops.c); userdata is a struct fs. */
#ifndef REGFS_FS_OPS_H
#define REGFS_FS_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops regfs_ops;

/* Start the waiter threads' pool (threads come as requests wait), in the
 * process that serves: after fuse_daemonize.  Until then every request
 * waits on the FUSE thread it came on.  0 or -ENOMEM. */
int ops_waiters_start(void);

/* Shutdown: call off every wait (cancel_all), let the waiters answer what
 * they hold, and wait for them to end.  Bounded by CANCEL_POLL_MS plus
 * whatever a body does after its wait ends. */
void ops_waiters_stop(void);

/* Shutdown, once the session has ended and the waiters are gone: free the
 * file and directory handles whose RELEASE never came (an aborted
 * connection, a lazy unmount racing its last close). */
void ops_handles_drop(void);

/* The session requests come on (NULL at its end): where ops.c sends the
 * kernel its invalidations.  Set before the session serves. */
void ops_session_set(struct fuse_session *se);

#endif
