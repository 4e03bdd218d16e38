/* Dropping secrets; secret.h has the contract. */
#include "common/secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void secret_free_n(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void secret_free(char *s)
{
	secret_free_n(s, s ? strlen(s) : 0);
}
