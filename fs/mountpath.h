/*
 * Lexical paths inside the mount.  A symlink in a draft names its target
 * relative to the link or absolutely through the mountpoint; regfs turns
 * that into a path relative to the mount root without ever looking at the
 * filesystem (the daemon must never call into its own mountpoint).
 */
#ifndef REGFS_FS_MOUNTPATH_H
#define REGFS_FS_MOUNTPATH_H

#include <stddef.h>

/*
 * The target of a link as a path relative to the mount root.
 * @mountpoint: absolute, normalised mountpoint ("/mnt/regfs").
 * @link_dir: the directory holding the link, relative to the mount root
 *            ("localhost:5000/onap/py-app/latest"; "" or NULL for the
 *            root); a ".." in it is -EINVAL.
 * @target: the link's content as the user wrote it.
 * "." and empty components are dropped, ".." removes the previous one;
 * a trailing '/' is ignored.  An absolute @target must be @mountpoint or
 * below it once normalised ("/.." is "/", as the kernel walks it), compared
 * component by component ("/mnt/regfs2" is not below "/mnt/regfs").
 * *out is new (caller frees): "" for the root itself, else components
 * joined by '/' without leading or trailing '/'.
 * Returns 0, -EXDEV when the target is outside the mount (absolute
 * elsewhere, or ".." above the root; when @mountpoint is "/", ".." there
 * stays at the root), -EINVAL for an empty target, a target of PATH_MAX
 * bytes or more (symlink(2)'s limit: at most 4095) or a @mountpoint that is
 * not absolute, -ENOMEM.
 */
int mountpath_resolve(const char *mountpoint, const char *link_dir, const char *target,
		      char **out);

/* Split a mount-relative path into its components: *v is a new array of
 * new strings, NULL-terminated as well (free with mountpath_free_parts),
 * *n how many.  Empty components (leading, trailing or repeated '/') are
 * dropped; "." and ".." are kept as they are (pass a resolved path).
 * "" gives n 0.  0 or -ENOMEM. */
int mountpath_split(const char *path, char ***v, size_t *n);
void mountpath_free_parts(char **v, size_t n);

/* "@a/@b" (new string, NULL on -ENOMEM). */
char *mountpath_join(const char *a, const char *b);

#endif
