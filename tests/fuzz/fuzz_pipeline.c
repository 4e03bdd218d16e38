/*
 * Fuzz the whole fetch pipeline (registry client, HTTP, auth, retries,
 * resumption, the blob store) against a local server that answers with
 * the fuzzer's bytes, as containerd's FuzzFetcher does.  Property: nothing
 * that does not hash to its digest is ever handed out as content or left
 * in the cache, whatever the server says; and every input ends quickly.
 *
 * An input is an op byte, a flags byte, then segments separated by
 * SEG_SEP.  The last segment is the content: its sha256 is the digest D
 * the op asks for, so the fuzzer can make bodies that match and bodies
 * that do not.  Every other segment is one raw HTTP response, sent as it
 * is to one request, in order; then the server closes the connection (so
 * curl always sees the end).  In a response, @PORT@ becomes the server's
 * port, @DIGEST@ D, @LEN@ the content's length and @CONTENT@ the content
 * itself.  When the responses run out, connections are closed unanswered.
 * A TLS ClientHello (the client asks https before plain http) is closed
 * at once without using up a response.
 *
 * Ops (op byte % 5), each with a new client and a new cache store in a
 * scratch directory, so that inputs do not depend on each other:
 *   0  manifest by digest D: on success the bytes hash to D;
 *   1  manifest by tag: on success the digest given is the bytes' sha256,
 *      and the store takes them under it;
 *   2  blob D into the store (cache_store_ensure streaming reg_blob_stream
 *      into the writer, as fs/tree.c does), its size expected or not: on
 *      success the stored blob reads back as D (and of that size);
 *   3  tags list, or the catalog: every name handed out is valid;
 *   4  a manifest's digest by tag (HEAD): on success a valid digest.
 * After each op every file under blobs/sha256/ must hash to its name and
 * tmp/ must be empty.
 *
 * Flags: bit 0 gives the client one retry (else none); bit 1 gives op 2
 * the content's size as the expected size; bit 2 makes op 3 the catalog.
 * A retry of a 503 sleeps out its Retry-After (up to 5 s, route.c), so an
 * input with a retry and any Retry-After header gets no retry: inputs
 * must stay fast.  REGFS_FUZZ_DEBUG=1 in the environment logs everything
 * to stderr, with what each op returned.
 *
 *   build-fuzz/tests/fuzz/fuzz_pipeline -dict=tests/fuzz/pipeline.dict \
 *       -timeout=5 -max_len=8192 CORPUS tests/fuzz/corpus/pipeline
 *
 * Its seeds come from make_pipeline_seeds.py.  Inputs are slow for a
 * fuzzer (tens a second): each makes a client and a store, a retry waits
 * its 0.2 s backoff, and a host found unreachable costs the prober's
 * 100 ms stop at reg_client_free.
 *
 * No credentials of the machine are read: HOME, DOCKER_CONFIG,
 * REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR point into an empty scratch
 * directory, and no proxy from the environment is used.  Nothing leaves
 * the machine either, wherever a response points (a Location, a token
 * realm): getaddrinfo and connect are wrapped below so that only numeric
 * addresses resolve and only loopback ones are connected to.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cache/store.h"
#include "common/digest.h"
#include "common/log.h"
#include "registry/client.h"
#include "registry/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEG_SEP "\n@@@@\n"
#define SEGS_MAX 16                /* responses per input, the content aside */
#define HEAD_MAX (16u << 10)       /* a request head the server reads */
#define RESPONSE_MAX (1u << 20)    /* a response after substitution */
#define REPO "fuzz/repo"
#define TAG "latest"

/* What the server answers with; set by the harness per input, read by the
 * server thread, under srv.lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t idle_cond;
	bool busy;                   /* handling a connection */
	int port;
	const uint8_t *seg[SEGS_MAX]; /* borrowed from the input; valid while n > 0 */
	size_t seg_len[SEGS_MAX];
	size_t n, next;
	const uint8_t *content;      /* borrowed, as seg */
	size_t content_len;
	char digest[DIGEST_STR_LEN + 1];
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle_cond = PTHREAD_COND_INITIALIZER};

static char scratch[64];  /* this process's scratch directory */
static char cafile[sizeof(scratch) + 16]; /* a CA bundle of one certificate, ours */
static bool debug;

/* --- loopback only -------------------------------------------------------- */

/*
 * curl resolves and connects through these (the executable's definitions
 * come before libc's).  A name is never looked up: no DNS query for a host
 * the fuzzer made up; an address that is not loopback is unreachable.
 */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	struct addrinfo h = {.ai_family = AF_UNSPEC};

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (!real)
		return EAI_FAIL;
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	bool loopback = false;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "connect");
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		loopback = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 == 127;
	else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		loopback = IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	else if (sa && sa->sa_family == AF_UNIX)
		loopback = true;
	if (!loopback || !real) {
		errno = ENETUNREACH;
		return -1;
	}
	return real(fd, sa, len);
}

/* --- the server ------------------------------------------------------------ */

/* Append @len bytes at @p to @out (*@n used, RESPONSE_MAX at most: the rest
 * is dropped). */
static void put(char *out, size_t *n, const void *p, size_t len)
{
	if (len > RESPONSE_MAX - *n)
		len = RESPONSE_MAX - *n;
	memcpy(out + *n, p, len);
	*n += len;
}

/* Response @i with its placeholders filled in, into @out (RESPONSE_MAX
 * bytes); its length.  Called with srv.lock held. */
static size_t response_build(size_t i, char *out)
{
	const uint8_t *p = srv.seg[i], *end = p + srv.seg_len[i];
	char num[32];
	size_t n = 0;

	while (p < end) {
		const uint8_t *at = memchr(p, '@', (size_t)(end - p));
		size_t left;

		if (!at) {
			put(out, &n, p, (size_t)(end - p));
			break;
		}
		put(out, &n, p, (size_t)(at - p));
		left = (size_t)(end - at);
		if (left >= 6 && memcmp(at, "@PORT@", 6) == 0) {
			snprintf(num, sizeof(num), "%d", srv.port);
			put(out, &n, num, strlen(num));
			p = at + 6;
		} else if (left >= 8 && memcmp(at, "@DIGEST@", 8) == 0) {
			put(out, &n, srv.digest, strlen(srv.digest));
			p = at + 8;
		} else if (left >= 5 && memcmp(at, "@LEN@", 5) == 0) {
			snprintf(num, sizeof(num), "%zu", srv.content_len);
			put(out, &n, num, strlen(num));
			p = at + 5;
		} else if (left >= 9 && memcmp(at, "@CONTENT@", 9) == 0) {
			put(out, &n, srv.content, srv.content_len);
			p = at + 9;
		} else {
			put(out, &n, at, 1);
			p = at + 1;
		}
	}
	return n;
}

/* Serve one connection @fd: read a request head, send the next response,
 * close.  Nothing is sent to a TLS ClientHello, nor to a connection that
 * sends no whole head within the timeout. */
static void serve(int fd, char *head, char *out)
{
	struct timeval tv = {.tv_sec = 1};
	size_t got = 0, n = 0;
	unsigned char first;
	bool have = false;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (recv(fd, &first, 1, MSG_PEEK) != 1 || first == 0x16)
		return;
	while (got < HEAD_MAX - 1) {
		ssize_t r = recv(fd, head + got, HEAD_MAX - 1 - got, 0);

		if (r <= 0)
			return;
		got += (size_t)r;
		head[got] = '\0';
		if (strstr(head, "\r\n\r\n"))
			break;
	}
	if (!strstr(head, "\r\n\r\n"))
		return;
	if (debug)
		fprintf(stderr, "fuzz_pipeline: request %.*s\n", (int)strcspn(head, "\r\n"), head);
	pthread_mutex_lock(&srv.lock);
	if (srv.next < srv.n) {
		n = response_build(srv.next++, out);
		have = true;
	}
	pthread_mutex_unlock(&srv.lock);
	for (size_t off = 0; have && off < n;) {
		ssize_t w = send(fd, out + off, n - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* say the response is all there is, and drop what the client may
	 * still send (a body) rather than wait for it */
	shutdown(fd, SHUT_WR);
	while (recv(fd, head, HEAD_MAX, MSG_DONTWAIT) > 0)
		;
}

static void *server_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	char *head = malloc(HEAD_MAX), *out = malloc(RESPONSE_MAX);

	if (!head || !out)
		abort();
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		pthread_mutex_lock(&srv.lock);
		srv.busy = true;
		pthread_mutex_unlock(&srv.lock);
		serve(fd, head, out);
		close(fd);
		pthread_mutex_lock(&srv.lock);
		srv.busy = false;
		pthread_cond_broadcast(&srv.idle_cond);
		pthread_mutex_unlock(&srv.lock);
	}
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	/* blobs are 0400 in 0700 directories: removable by their owner */
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void scratch_remove(void)
{
	if (scratch[0])
		rm_tree(scratch);
}

/*
 * Write a self-signed certificate to @path, to be the clients' cafile.
 * Only for speed: with a cafile, curl takes the system's CAs from their
 * directory, looked up when a peer needs them, instead of parsing the
 * whole bundle for each new client's https try; that parse was most of
 * the time an input took.  Nothing here ever verifies a peer.
 */
static void cafile_write(const char *path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	if (!key || !x)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz_pipeline",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256()))
		abort();
	f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
		abort();
	X509_free(x);
	EVP_PKEY_free(key);
}

/* Once per process: the scratch directory, an environment without
 * credentials or proxies, quiet logs, the server thread. */
static void setup(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	pthread_t t;
	char home[sizeof(scratch) + 16];
	static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
					      "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
	int lfd;

	debug = getenv("REGFS_FUZZ_DEBUG") != NULL;
	log_setup(debug ? stderr : fopen("/dev/null", "w"), debug ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	snprintf(scratch, sizeof(scratch), "/tmp/fuzz_pipeline.XXXXXX");
	if (!mkdtemp(scratch))
		abort();
	atexit(scratch_remove);
	snprintf(home, sizeof(home), "%s/home", scratch);
	if (mkdir(home, 0700) < 0)
		abort();
	setenv("HOME", home, 1);
	setenv("XDG_RUNTIME_DIR", home, 1);
	setenv("DOCKER_CONFIG", home, 1);
	setenv("REGISTRY_AUTH_FILE", "/dev/null/none", 1);
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	setenv("NO_PROXY", "*", 1);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", scratch);
	cafile_write(cafile);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		abort();
	srv.port = ntohs(sa.sin_port);
	if (pthread_create(&t, NULL, server_main, (void *)(intptr_t)lfd) != 0)
		abort();
	pthread_detach(t);
}

/* --- the checks ------------------------------------------------------------ */

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_pipeline: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* The sha256 of what @fd reads from its offset to its end; its length in
 * *@len. */
static void digest_of_fd(int fd, char out[DIGEST_STR_LEN + 1], size_t *len)
{
	struct digest_ctx c;
	char b[65536];
	ssize_t r;

	if (digest_ctx_init(&c) < 0)
		abort();
	*len = 0;
	while ((r = read(fd, b, sizeof(b))) > 0) {
		digest_ctx_update(&c, b, (size_t)r);
		*len += (size_t)r;
	}
	if (r < 0)
		fail("read", strerror(errno));
	digest_ctx_final(&c, out);
	digest_ctx_release(&c);
}

/* Every blob under @dir hashes to its name; no temp file is left. */
static void store_check(const char *dir)
{
	char path[256], got[DIGEST_STR_LEN + 1];
	struct dirent *de;
	DIR *d;
	size_t len;

	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	d = opendir(path);
	if (!d)
		fail("no blobs directory", path);
	while ((de = readdir(d))) {
		int fd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!digest_hex_is_valid(de->d_name))
			fail("a file in blobs/sha256 that is not named by a digest", de->d_name);
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			fail("cannot open a stored blob", de->d_name);
		digest_of_fd(fd, got, &len);
		close(fd);
		if (strcmp(got + strlen(DIGEST_PREFIX), de->d_name) != 0)
			fail("a stored blob does not hash to its name", de->d_name);
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	d = opendir(path);
	if (!d)
		fail("no tmp directory", path);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fail("a temp file left over", de->d_name);
	closedir(d);
}

/* --- the ops --------------------------------------------------------------- */

struct fill_arg {
	struct reg_registry *r;   /* borrowed */
	struct cache_writer *w;   /* borrowed, during the fill */
};

static int fill_sink(void *arg, const void *p, size_t len)
{
	struct fill_arg *f = arg;

	return cache_writer_write(f->w, p, len);
}

static int fill(struct cache_writer *w, void *arg)
{
	struct fill_arg *f = arg;

	f->w = w;
	return reg_blob_stream(f->r, REPO, srv.digest, fill_sink, f);
}

static int op_manifest(struct reg_registry *r, struct cache_store *store, bool by_digest)
{
	struct reg_fetched m;
	char got[DIGEST_STR_LEN + 1];
	int ret = reg_manifest_get(r, REPO, by_digest ? srv.digest : TAG, &m);

	if (ret < 0) {
		if (m.bytes || m.media_type)
			fail("a failed manifest fetch handed out bytes", NULL);
		return ret;
	}
	if (!m.bytes || m.bytes[m.len] != '\0')
		fail("a manifest without its bytes", NULL);
	digest_of(m.bytes, m.len, got);
	if (strcmp(got, m.digest) != 0)
		fail("a manifest whose digest is not its bytes'", m.digest);
	if (by_digest && strcmp(m.digest, srv.digest) != 0)
		fail("asked for one digest, got another", m.digest);
	if (cache_store_put(store, m.digest, m.bytes, m.len) == -EIO)
		fail("the store refused a manifest the client verified", m.digest);
	reg_fetched_release(&m);
	return ret;
}

static int op_blob(struct reg_registry *r, struct cache_store *store, bool sized)
{
	struct fill_arg f = {.r = r};
	int64_t expect = sized ? (int64_t)srv.content_len : -1;
	char got[DIGEST_STR_LEN + 1];
	size_t len;
	int ret = cache_store_ensure(store, srv.digest, expect, fill, &f), fd;

	if (ret < 0)
		return ret;
	/* one thread, no cap: nothing can have evicted it */
	fd = cache_store_open_blob(store, srv.digest);
	if (fd < 0)
		fail("a blob stored is not there", strerror(-fd));
	digest_of_fd(fd, got, &len);
	close(fd);
	if (strcmp(got, srv.digest) != 0)
		fail("a stored blob reads back as other bytes", got);
	if (sized && len != srv.content_len)
		fail("a stored blob has another size than expected", NULL);
	return 0;
}

static int op_listing(struct reg_registry *r, bool catalog)
{
	struct reg_strlist l;
	int ret = catalog ? reg_catalog(r, &l) : reg_tags(r, REPO, &l);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < l.n; i++)
		if (!(catalog ? reg_name_is_repo(l.v[i]) : reg_name_is_tag(l.v[i])))
			fail("an invalid name handed out", l.v[i]);
	reg_strlist_release(&l);
	return 0;
}

static int op_head(struct reg_registry *r)
{
	char d[DIGEST_STR_LEN + 1] = "";
	int ret = reg_manifest_digest(r, REPO, TAG, d);

	if (ret == 0 && !digest_is_valid(d))
		fail("HEAD gave an invalid digest", d);
	return ret;
}

/* Split @data (@size bytes) into responses and the content, into srv. */
static void input_split(const uint8_t *data, size_t size)
{
	const size_t sl = strlen(SEG_SEP);
	const uint8_t *p = data, *end = data + size;

	srv.n = srv.next = 0;
	for (;;) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), SEG_SEP, sl);

		if (!sep || srv.n == SEGS_MAX)
			break;
		srv.seg[srv.n] = p;
		srv.seg_len[srv.n++] = (size_t)(sep - p);
		p = sep + sl;
	}
	srv.content = p;
	srv.content_len = (size_t)(end - p);
	digest_of(srv.content, srv.content_len, srv.digest);
}

/* Whether any response names Retry-After (any case). */
static bool asks_retry_after(void)
{
	static const char h[] = "retry-after";

	for (size_t i = 0; i < srv.n; i++)
		for (size_t j = 0; j + sizeof(h) - 1 <= srv.seg_len[i]; j++)
			if (strncasecmp((const char *)srv.seg[i] + j, h, sizeof(h) - 1) == 0)
				return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	char host[32], dir[sizeof(scratch) + 16];
	const char *insecure[] = {host, NULL};
	struct reg_client_opts o = {.cafile = cafile, .insecure = insecure, .connect_timeout = 1,
				    .stall_timeout = 1};
	struct reg_client *c = NULL;
	struct reg_registry *r;
	struct cache_store *store = NULL;
	uint8_t op, flags;
	int ret = 0;

	if (!once) {
		setup();
		once = true;
	}
	if (size < 2)
		return 0;
	op = data[0] % 5;
	flags = data[1];
	pthread_mutex_lock(&srv.lock);
	input_split(data + 2, size - 2);
	pthread_mutex_unlock(&srv.lock);
	o.retries = (flags & 1) && !asks_retry_after() ? 1 : 0;

	snprintf(host, sizeof(host), "127.0.0.1:%d", srv.port);
	snprintf(dir, sizeof(dir), "%s/in.XXXXXX", scratch);
	if (!mkdtemp(dir))
		abort();
	if (cache_store_open(dir, 0, &store) < 0 || reg_client_new(&o, &c) < 0 ||
	    reg_client_registry(c, host, &r) < 0)
		abort();

	switch (op) {
	case 0:
	case 1:
		ret = op_manifest(r, store, op == 0);
		break;
	case 2:
		ret = op_blob(r, store, flags & 2);
		break;
	case 3:
		ret = op_listing(r, flags & 4);
		break;
	case 4:
		ret = op_head(r);
		break;
	}
	store_check(dir);
	if (debug)
		fprintf(stderr, "fuzz_pipeline: op %u: %s\n", op, ret ? strerror(-ret) : "ok");

	reg_client_free(c);
	cache_store_free(store);
	/* the input's responses are not to be used once it is done */
	pthread_mutex_lock(&srv.lock);
	srv.n = srv.next = 0;
	while (srv.busy)
		pthread_cond_wait(&srv.idle_cond, &srv.lock);
	pthread_mutex_unlock(&srv.lock);
	rm_tree(dir);
	return 0;
}
