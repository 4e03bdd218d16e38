/* The FUSE operations table (ops.c); userdata is a struct fs. */
#ifndef REGFS_FS_OPS_H
#define REGFS_FS_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops regfs_ops;

#endif
