/*
 * The TLS material of a registry, read from disk the way docker and podman
 * read it: the first of <certs_dir>/<host>/ (-o certs_dir=),
 * /etc/containers/certs.d/<host>/ and /etc/docker/certs.d/<host>/ that
 * exists; in it every *.crt is a CA, and X.cert with X.key a client
 * certificate (client.cert first).  Plus -o cafile= for every registry.
 * client.c calls http_tls_load once per registry, when it is first used;
 * http.c hands the result to curl.  No network here.
 *
 * The CAs go to curl as one PEM blob, which replaces curl's CA bundle file
 * but not its CA directory; where curl has no directory, the system bundle
 * is added to the blob, so the system store is always trusted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/http.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/*
 * The whole of file @path (at most @max bytes) into *out, a new
 * NUL-terminated buffer of *len bytes, allocated once so that a @secret
 * leaves no copies (it is wiped on failure).  0 or -errno.
 */
static int read_small_file(const char *path, size_t max, bool secret, char **out, size_t *len)
{
	struct stat st;
	char *p = NULL;
	size_t got = 0;
	int fd, ret = 0;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO named as a certificate must not hang us */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
		ret = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break; /* it shrank: what is there */
		got += (size_t)n;
	}
	p[got] = '\0';
	*out = p; /* success: the caller owns it */
	*len = got;
	p = NULL;
out:
	if (secret)
		secret_free_n(p, p ? (size_t)st.st_size + 1 : 0);
	else
		free(p);
	close(fd);
	return ret;
}

/* Append the PEM file @path to @ca (a newline after each file, so the
 * certificates of two files never run together).  0 or -errno (logged,
 * naming @what). */
static int ca_append_file(struct buf *ca, const char *path, const char *what)
{
	char *pem;
	size_t len;
	int ret = read_small_file(path, TLS_CERT_FILE_MAX, false, &pem, &len);

	if (ret == 0) {
		ret = buf_append(ca, pem, len);
		if (ret == 0)
			ret = buf_append(ca, "\n", 1);
		if (ret == -E2BIG)
			ret = -EFBIG;
		free(pem);
	}
	if (ret < 0)
		log_err("%s '%s': %s", what, path, strerror(-ret));
	return ret;
}

/* The certs.d directory for @host (new string), or NULL when there is none
 * (or no memory). */
static char *certs_dir_for(const struct reg_client *c, const char *host)
{
	const char *bases[] = {c->certs_dir, "/etc/containers/certs.d", "/etc/docker/certs.d"};

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct stat st;
		char *dir = NULL;

		if (!bases[i] || asprintf(&dir, "%s/%s", bases[i], host) < 0)
			continue;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return dir;
		if (errno != ENOENT && errno != ENOTDIR)
			log_warn("certs.d '%s': %s, ignored", dir, strerror(errno));
		free(dir);
	}
	return NULL;
}

/* Whether the listing @names (@n entries) holds @name. */
static bool listed(struct dirent **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i]->d_name, name) == 0)
			return true;
	return false;
}

/* The CA certificate @name of @dir appended to @ca.  0 or -errno (logged). */
static int tls_add_ca(const char *dir, const char *name, struct buf *ca)
{
	char *path = NULL;
	int ret;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	ret = ca_append_file(ca, path, "CA certificate");
	free(path);
	return ret;
}

/* Entry @name of @dir (an X.cert or an X.key; @names, @n: the listing):
 * a warning when the other half of its pair is missing; a whole pair,
 * counted in *pairs, becomes *chosen (its X, new) when it is the first or
 * client.cert.  0 or -ENOMEM. */
static int tls_note_pair(const char *dir, struct dirent **names, int n, const char *name,
			 char **chosen, size_t *pairs)
{
	bool is_key = ends_with(name, ".key");
	size_t base = strlen(name) - (is_key ? 4 : 5);
	char *other = NULL;
	int ret = 0;

	if (asprintf(&other, "%.*s%s", (int)base, name, is_key ? ".cert" : ".key") < 0)
		return -ENOMEM;
	if (!listed(names, n, other)) {
		log_warn("certs.d '%s': '%s' has no '%s', ignored%s", dir, name, other,
			 is_key ? "" : " (a CA certificate's name ends in .crt)");
	} else if (!is_key) {
		(*pairs)++;
		if (!*chosen || strcmp(name, "client.cert") == 0) {
			free(*chosen);
			*chosen = strndup(name, base);
			if (!*chosen)
				ret = -ENOMEM;
		}
	}
	free(other);
	return ret;
}

/* The client certificate @chosen.cert of @dir and its key @chosen.key
 * into @t.  0 or -errno (logged). */
static int tls_read_client_pair(const char *dir, const char *chosen, struct http_tls *t)
{
	char *cert_path = NULL, *key_path = NULL;
	int ret;

	if (asprintf(&cert_path, "%s/%s.cert", dir, chosen) < 0)
		cert_path = NULL;
	if (asprintf(&key_path, "%s/%s.key", dir, chosen) < 0)
		key_path = NULL;
	if (!cert_path || !key_path) {
		ret = -ENOMEM;
	} else {
		ret = read_small_file(cert_path, TLS_CERT_FILE_MAX, false, &t->cert, &t->cert_len);
		if (ret < 0)
			log_err("client certificate '%s': %s", cert_path, strerror(-ret));
		else if ((ret = read_small_file(key_path, TLS_CERT_FILE_MAX, true, &t->key,
						&t->key_len)) < 0)
			log_err("client key '%s': %s", key_path, strerror(-ret));
	}
	if (ret == 0 && asprintf(&t->cert_name, "%s.cert", chosen) < 0) {
		t->cert_name = NULL;
		ret = -ENOMEM;
	}
	free(cert_path);
	free(key_path);
	return ret;
}

/* The CAs (into @ca) and client certificate (into @t) of @dir, the file
 * names following docker's rule.  0 or -errno (logged). */
static int tls_read_certs_dir(const char *dir, struct buf *ca, struct http_tls *t)
{
	struct dirent **names = NULL;
	char *chosen = NULL;
	size_t pairs = 0;
	int n, ret = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		ret = -errno;
		log_err("certs.d '%s': %s", dir, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < n && ret == 0; i++) {
		const char *name = names[i]->d_name;

		if (name[0] == '.')
			continue;
		if (ends_with(name, ".crt"))
			ret = tls_add_ca(dir, name, ca);
		else if (ends_with(name, ".cert") || ends_with(name, ".key"))
			ret = tls_note_pair(dir, names, n, name, &chosen, &pairs);
	}
	if (ret == 0 && chosen) {
		if (pairs > 1)
			log_warn("certs.d '%s': %zu client certificates, using '%s.cert'", dir, pairs,
				 chosen);
		ret = tls_read_client_pair(dir, chosen, t);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(chosen);
	return ret;
}

int http_tls_load(const struct reg_client *c, const char *host, struct http_tls *t)
{
	struct buf ca = BUF_INIT(TLS_CA_MAX);
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (c->cafile)
		ret = ca_append_file(&ca, c->cafile, "cafile");
	t->dir = certs_dir_for(c, host);
	if (ret == 0 && t->dir)
		ret = tls_read_certs_dir(t->dir, &ca, t);
	if (ret == 0 && ca.len && !c->sys_capath && c->sys_cainfo &&
	    access(c->sys_cainfo, R_OK) == 0)
		ret = ca_append_file(&ca, c->sys_cainfo, "system CA bundle");
	if (ret == 0 && ca.len) {
		t->ca = buf_detach(&ca, &t->ca_len);
		if (!t->ca)
			ret = -ENOMEM;
	}
	if (ret == 0 && t->dir)
		log_debug("registry '%s': TLS from '%s'%s%s", host, t->dir,
			  t->cert ? ", client certificate " : "", t->cert ? t->cert_name : "");
	buf_release(&ca, 0);
	if (ret < 0)
		http_tls_release(t);
	return ret < 0 ? -EIO : 0;
}

int reg_cafile_check(const char *path, char *why, size_t n)
{
	STACK_OF(X509_INFO) *infos = NULL;
	size_t len, certs = 0;
	char *pem = NULL;
	BIO *bio = NULL;
	int ret = read_small_file(path, TLS_CERT_FILE_MAX, false, &pem, &len);

	if (ret < 0) {
		snprintf(why, n, "%s", ret == -EFBIG ? "larger than 1 MiB"
				       : ret == -EINVAL ? "not a regular file" : strerror(-ret));
		goto out;
	}
	/* parsed as curl parses the CAs it is given: one bad block spoils all */
	bio = BIO_new_mem_buf(pem, (int)len);
	infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
		if (sk_X509_INFO_value(infos, i)->x509)
			certs++;
	ERR_clear_error();
	if (!bio) {
		snprintf(why, n, "%s", strerror(ENOMEM));
		ret = -ENOMEM;
	} else if (!certs) {
		snprintf(why, n, "%s", infos ? "holds no PEM certificate"
					   : "a PEM block in it does not parse");
		ret = -EINVAL;
	}
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(pem);
	return ret;
}

void http_tls_find_system_cas(struct reg_client *c)
{
	const char *capath = NULL, *cainfo = NULL;
	struct stat st;
	CURL *easy = curl_easy_init();

#if LIBCURL_VERSION_NUM >= 0x075400 /* 7.84: CURLINFO_CAPATH, CURLINFO_CAINFO */
	char *p = NULL;

	if (easy && curl_easy_getinfo(easy, CURLINFO_CAPATH, &p) == CURLE_OK)
		capath = p;
	p = NULL;
	if (easy && curl_easy_getinfo(easy, CURLINFO_CAINFO, &p) == CURLE_OK)
		cainfo = p;
#else
	capath = "/etc/ssl/certs";
#endif
	if (capath && stat(capath, &st) == 0 && S_ISDIR(st.st_mode))
		c->sys_capath = strdup(capath);
	if (cainfo)
		c->sys_cainfo = strdup(cainfo);
	curl_easy_cleanup(easy);
}
