/*
 * Content digests.  regfs addresses content by "sha256:<64 lower-case hex>"
 * only; other algorithms are rejected as invalid names rather than trusted
 * unverified.
 */
#ifndef REGFS_COMMON_DIGEST_H
#define REGFS_COMMON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_PREFIX "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN) /* without the NUL */

/* True for exactly "sha256:" followed by 64 lower-case hex digits. */
bool digest_is_valid(const char *s);
/* True for exactly 64 lower-case hex digits: a digest's hex alone, as the
 * cache names its files. */
bool digest_hex_is_valid(const char *hex);

/* sha256 of @len bytes as "sha256:<hex>" into @out. */
void digest_of(const void *p, size_t len, char out[DIGEST_STR_LEN + 1]);

/* Incremental hashing for streamed blobs. */
struct digest_ctx {
	void *md; /* EVP_MD_CTX, owned */
};
int digest_ctx_init(struct digest_ctx *c);   /* 0 or -ENOMEM */
void digest_ctx_update(struct digest_ctx *c, const void *p, size_t len);
/* Writes "sha256:<hex>" and releases the context. */
void digest_ctx_final(struct digest_ctx *c, char out[DIGEST_STR_LEN + 1]);
void digest_ctx_release(struct digest_ctx *c); /* safe after final */

#endif
