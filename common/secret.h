/*
 * Dropping secrets: passwords, tokens, private keys and the files and
 * answers that hold them are overwritten before their memory goes back to
 * the allocator, so a later allocation, a core dump or a swapped page does
 * not hand them on.  OPENSSL_cleanse, because a plain memset before free()
 * may be optimised away.
 */
#ifndef REGFS_COMMON_SECRET_H
#define REGFS_COMMON_SECRET_H

#include <stddef.h>

/* Wipe the NUL-terminated string @s and free it (takes ownership).  NULL
 * is a no-op. */
void secret_free(char *s);

/* Wipe the @len bytes at @p and free it (takes ownership).  For a buffer
 * that may hold more than a string's length says, pass all it has room
 * for.  NULL is a no-op. */
void secret_free_n(void *p, size_t len);

#endif
