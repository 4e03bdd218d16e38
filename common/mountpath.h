/*
 * Lexical paths inside the mount.  A symlink in a draft names its target
 * relative to the link or absolutely through the mountpoint; regfs turns
 * that into a path relative to the mount root without ever looking at the
 * filesystem (the daemon must never call into its own mountpoint).
 */
#ifndef REGFS_COMMON_MOUNTPATH_H
#define REGFS_COMMON_MOUNTPATH_H

#include <stddef.h>

/*
 * The target of a link as a path relative to the mount root.
 * @mountpoint: absolute, normalised mountpoint ("/mnt/regfs").
 * @link_dir: the directory holding the link, relative to the mount root
 *            ("localhost:5000/onap/py-app/latest"; "" for the root).
 * @target: the link's content as the user wrote it.
 * "." and empty components are dropped, ".." removes the previous one;
 * a trailing '/' is ignored.  An absolute @target must be @mountpoint or
 * below it.  *out is new (caller frees): "" for the root itself, else
 * components joined by '/' without leading or trailing '/'.
 * Returns 0, -EXDEV when the target is outside the mount (absolute
 * elsewhere, or ".." above the root), -EINVAL for an empty target or a
 * NUL-free name longer than PATH_MAX, -ENOMEM.
 */
int mountpath_resolve(const char *mountpoint, const char *link_dir, const char *target,
		      char **out);

/* Split a mount-relative path into its components: *v is a new array of
 * new strings (free with mountpath_free_parts), *n how many.  0 or
 * -ENOMEM. */
int mountpath_split(const char *path, char ***v, size_t *n);
void mountpath_free_parts(char **v, size_t n);

#endif
