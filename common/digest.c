#include "common/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

bool digest_hex_is_valid(const char *hex)
{
	if (!hex)
		return false;
	for (int i = 0; i < DIGEST_HEX_LEN; i++) {
		char c = hex[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return hex[DIGEST_HEX_LEN] == '\0';
}

bool digest_is_valid(const char *s)
{
	return s && strncmp(s, DIGEST_PREFIX, 7) == 0 && digest_hex_is_valid(s + 7);
}

static void hex_out(const unsigned char *md, char out[DIGEST_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, DIGEST_PREFIX, 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[DIGEST_STR_LEN] = '\0';
}

void digest_of(const void *p, size_t len, char out[DIGEST_STR_LEN + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	hex_out(md, out);
}

int digest_ctx_init(struct digest_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	c->md = NULL;
	if (!md)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	c->md = md;
	return 0;
}

void digest_ctx_update(struct digest_ctx *c, const void *p, size_t len)
{
	EVP_DigestUpdate(c->md, p, len);
}

void digest_ctx_final(struct digest_ctx *c, char out[DIGEST_STR_LEN + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_DigestFinal_ex(c->md, md, &mdlen);
	hex_out(md, out);
	digest_ctx_release(c);
}

void digest_ctx_release(struct digest_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}
