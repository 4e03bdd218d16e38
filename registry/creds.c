/*
 * The credentials store (creds.h): the docker and podman credentials files
 * of the machine, merged, and the docker credential helpers they name.
 *
 * Each source file keeps what was parsed from its current version: a
 * lookup stats the file (cheap) and reads and parses it again only when
 * device, inode, size, mtime or ctime changed, so a `docker login` while
 * mounted counts from the next request without a read per request.  Parsed
 * entries hold copies of the secrets; jansson's own copies are wiped before
 * the tree is freed.  A credential helper runs outside the lock, bounded in
 * time and output, and its answer (or its lack of one) is kept for
 * REG_CREDS_HELPER_TTL seconds so it is not run per request; concurrent
 * lookups for the same helper and server wait for one run.
 */
#include "registry/creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cancel.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"

#define HUB "docker.io"
#define HUB_SERVER "https://index.docker.io/v1/" /* what docker sends helpers for the Hub */
#define HELPER_PREFIX "docker-credential-"
#define HELPER_NAME_MAX 100
#define MAX_FILES 6

/* --- secrets ------------------------------------------------------------ */

void reg_creds_release(struct reg_creds *c)
{
	free(c->username);
	secret_free(c->password);
	secret_free(c->identitytoken);
	memset(c, 0, sizeof(*c));
}

/* Copy @from into @to (zeroed first).  0 or -ENOMEM (nothing left in @to). */
static int creds_copy(const struct reg_creds *from, struct reg_creds *to)
{
	memset(to, 0, sizeof(*to));
	if ((from->username && !(to->username = strdup(from->username))) ||
	    (from->password && !(to->password = strdup(from->password))) ||
	    (from->identitytoken && !(to->identitytoken = strdup(from->identitytoken)))) {
		reg_creds_release(to);
		return -ENOMEM;
	}
	return 0;
}

/* Wipe every string value of a jansson tree (they may be secrets) before
 * json_decref frees it.  Keys are registry names, not secrets.  Depth is
 * bounded by jansson's parser (2048). */
static void json_wipe(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		OPENSSL_cleanse((void *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			json_wipe(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			json_wipe(v);
	}
}

static void json_wipe_free(json_t *j)
{
	json_wipe(j);
	json_decref(j);
}

/* --- names -------------------------------------------------------------- */

static bool is_hub(const char *host, size_t len)
{
	static const char *const aliases[] = {"docker.io", "index.docker.io",
					      "registry-1.docker.io"};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i]) == len && strncasecmp(host, aliases[i], len) == 0)
			return true;
	return false;
}

/* "host/rest" with the host part lower-cased and the Hub's aliases made
 * "docker.io"; @len bytes of @s.  New string or NULL. */
static char *name_canonical(const char *s, size_t len)
{
	size_t hl = 0;
	char *out;

	while (hl < len && s[hl] != '/')
		hl++;
	if (hl == 0)
		return NULL;
	if (is_hub(s, hl)) {
		if (asprintf(&out, "%s%.*s", HUB, (int)(len - hl), s + hl) < 0)
			out = NULL;
		return out;
	}
	out = strndup(s, len);
	for (size_t i = 0; out && i < hl; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

/*
 * An auths (or credHelpers) key as "host[/path]": a URL ("https://h/v1/",
 * "http://h") counts for its host only (docker's legacy keys), a plain key
 * keeps its path (podman's namespaces), trailing slashes go.  New string,
 * or NULL when nothing is left (or -ENOMEM).
 */
static char *key_canonical(const char *key)
{
	const char *k = key;
	size_t len;

	if (strncasecmp(k, "https://", 8) == 0) {
		k += 8;
		len = strcspn(k, "/");
	} else if (strncasecmp(k, "http://", 7) == 0) {
		k += 7;
		len = strcspn(k, "/");
	} else {
		len = strlen(k);
	}
	while (len && k[len - 1] == '/')
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)k[i] <= ' ' || k[i] == 0x7f)
			return NULL; /* never matches a host; and not logged as is */
	return len ? name_canonical(k, len) : NULL;
}

/* A key fit to be quoted in a log line: printable and short. */
static const char *key_for_log(const char *key)
{
	size_t n = strlen(key);

	if (n > 200)
		return "(a long key)";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] >= 0x7f)
			return "(an unprintable key)";
	return key;
}

/* A helper name docker would run: [A-Za-z0-9._-]+, not "." or "..". */
static bool helper_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > HELPER_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

/* --- one credentials file ----------------------------------------------- */

struct creds_entry {
	char *key;              /* key_canonical form */
	struct reg_creds creds; /* owned secrets; never all NULL */
};

struct creds_helper {
	char *host; /* key_canonical form, no path */
	char *name; /* helper_name_ok */
};

/* The identity of one version of a file: stat fields that change on a
 * rewrite; @err is the errno that stat gave (0 when the file is there). */
struct file_id {
	int err;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct creds_file {
	char *path;    /* absolute */
	bool explicit; /* the mount option's: its absence is worth a warning */
	bool seen;     /* @id and the parsed state below belong together */
	struct file_id id;
	struct creds_entry *entries; /* "auths", in file order */
	size_t n_entries;
	struct creds_helper *helpers; /* "credHelpers" */
	size_t n_helpers;
	char *store; /* "credsStore", or NULL */
};

static void file_clear(struct creds_file *f)
{
	for (size_t i = 0; i < f->n_entries; i++) {
		free(f->entries[i].key);
		reg_creds_release(&f->entries[i].creds);
	}
	free(f->entries);
	for (size_t i = 0; i < f->n_helpers; i++) {
		free(f->helpers[i].host);
		free(f->helpers[i].name);
	}
	free(f->helpers);
	free(f->store);
	f->entries = NULL;
	f->helpers = NULL;
	f->store = NULL;
	f->n_entries = f->n_helpers = 0;
}

static bool id_same(const struct file_id *a, const struct file_id *b)
{
	if (a->err || b->err)
		return a->err == b->err;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void id_from_stat(struct file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

/* Decode base64 "user:password" into @out's username and password.  0,
 * -EINVAL (not base64, no colon, a NUL inside) or -ENOMEM. */
static int decode_auth(const char *b64, struct reg_creds *out)
{
	size_t n = strlen(b64), pad = 0, cap = n + 1;
	unsigned char *raw;
	int len, ret = -EINVAL;
	char *colon;

	if (n == 0 || n > 16384 || n % 4)
		return -EINVAL;
	raw = malloc(cap);
	if (!raw)
		return -ENOMEM;
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (len < 0)
		goto out;
	/* EVP_DecodeBlock counts '=' padding as zero bytes */
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	len -= (int)pad;
	if (len < 0)
		goto out;
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len))
		goto out;
	colon = strchr((char *)raw, ':');
	if (!colon || colon == (char *)raw)
		goto out;
	*colon = '\0';
	out->username = strdup((char *)raw);
	out->password = strdup(colon + 1);
	ret = (out->username && out->password) ? 0 : -ENOMEM;
out:
	secret_free_n(raw, cap);
	return ret;
}

/* Credentials of one "auths" entry into @out.  0; -ENOENT when it holds
 * none (docker leaves empty entries when a helper keeps the secret);
 * -EINVAL with *why set when it is broken; -ENOMEM. */
static int entry_parse(json_t *v, struct reg_creds *out, const char **why)
{
	const char *auth, *user, *pass, *idt;
	int ret = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(v)) {
		*why = "not an object";
		return -EINVAL;
	}
	auth = json_string_value(json_object_get(v, "auth"));
	user = json_string_value(json_object_get(v, "username"));
	pass = json_string_value(json_object_get(v, "password"));
	idt = json_string_value(json_object_get(v, "identitytoken"));
	if (auth && *auth) {
		ret = decode_auth(auth, out);
		if (ret == -EINVAL)
			*why = "'auth' is not base64 of user:password";
		if (ret < 0)
			goto out;
	} else if (user && *user && pass) {
		out->username = strdup(user);
		out->password = strdup(pass);
		ret = (out->username && out->password) ? 0 : -ENOMEM;
		if (ret < 0)
			goto out;
	}
	if (idt && *idt) {
		out->identitytoken = strdup(idt);
		if (!out->identitytoken) {
			ret = -ENOMEM;
			goto out;
		}
		/* docker stores "user:" beside an identity token: no password */
		if (out->password && !*out->password) {
			secret_free(out->password);
			out->password = NULL;
		}
		ret = 0;
	}
out:
	if (ret < 0)
		reg_creds_release(out);
	return ret;
}

/* The object @key of @f's parsed document @root when it has members, else
 * NULL (with a warning when it is there and no object).  Borrowed. */
static json_t *file_section(const struct creds_file *f, json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);

	if (v && !json_is_object(v))
		log_warn("credentials file '%s': '%s' is not an object", f->path, key);
	return json_is_object(v) && json_object_size(v) ? v : NULL;
}

/* @f's "auths" (@auths) into f->entries.  0 or -ENOMEM. */
static int file_fill_auths(struct creds_file *f, json_t *auths)
{
	const char *key, *why;
	json_t *v;
	int ret;

	f->entries = calloc(json_object_size(auths), sizeof(*f->entries));
	if (!f->entries)
		return -ENOMEM;
	json_object_foreach(auths, key, v) {
		struct creds_entry *e = &f->entries[f->n_entries];

		why = NULL;
		ret = entry_parse(v, &e->creds, &why);
		if (ret == -ENOMEM)
			return ret;
		if (ret == -EINVAL)
			log_warn("credentials file '%s': entry '%s': %s", f->path, key_for_log(key),
				 why);
		if (ret < 0)
			continue;
		e->key = key_canonical(key);
		if (!e->key) {
			reg_creds_release(&e->creds);
			continue;
		}
		f->n_entries++;
	}
	return 0;
}

/* @f's "credHelpers" (@helpers) into f->helpers.  0 or -ENOMEM. */
static int file_fill_helpers(struct creds_file *f, json_t *helpers)
{
	const char *key;
	json_t *v;

	f->helpers = calloc(json_object_size(helpers), sizeof(*f->helpers));
	if (!f->helpers)
		return -ENOMEM;
	json_object_foreach(helpers, key, v) {
		struct creds_helper *h = &f->helpers[f->n_helpers];
		const char *name = json_string_value(v);

		if (!name || !helper_name_ok(name)) {
			log_warn("credentials file '%s': credHelpers '%s': not a helper name",
				 f->path, key_for_log(key));
			continue;
		}
		h->host = key_canonical(key);
		if (!h->host || strchr(h->host, '/')) {
			free(h->host);
			h->host = NULL;
			continue;
		}
		h->name = strdup(name);
		if (!h->name) {
			free(h->host);
			h->host = NULL;
			return -ENOMEM;
		}
		f->n_helpers++;
	}
	return 0;
}

/* Fill @f from the parsed document @root.  Problems with single entries
 * are logged and the entry skipped.  0 or -ENOMEM. */
static int file_fill(struct creds_file *f, json_t *root)
{
	json_t *auths = file_section(f, root, "auths"), *helpers;
	json_t *v = json_object_get(root, "credsStore");
	const char *store = json_string_value(v);

	if (auths && file_fill_auths(f, auths) < 0)
		return -ENOMEM;
	helpers = file_section(f, root, "credHelpers");
	if (helpers && file_fill_helpers(f, helpers) < 0)
		return -ENOMEM;
	if (v && (!store || (*store && !helper_name_ok(store))))
		log_warn("credentials file '%s': credsStore: not a helper name", f->path);
	else if (store && *store && !(f->store = strdup(store)))
		return -ENOMEM;
	return 0;
}

/* Read the regular file @fd (identity @id) whole.  *text is new (wipe it:
 * it holds secrets).  0, -E2BIG past REG_CREDS_FILE_MAX, -EAGAIN when it
 * changed while read, or -errno. */
static int file_read_fd(int fd, const struct file_id *id, char **text, size_t *len)
{
	size_t cap = (size_t)id->size + 1, n = 0;
	char *b;

	*text = NULL;
	if (id->size > (off_t)REG_CREDS_FILE_MAX)
		return -E2BIG;
	b = malloc(cap);
	if (!b)
		return -ENOMEM;
	while (n < cap) {
		ssize_t r = read(fd, b + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			secret_free_n(b, cap);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n != (size_t)id->size) { /* it grew or shrank under us */
		secret_free_n(b, cap);
		return -EAGAIN;
	}
	b[n] = '\0';
	*text = b;
	*len = n;
	return 0;
}

int reg_creds_file_check(const char *path, char *why, size_t n)
{
	struct file_id id;
	struct stat st;
	json_error_t jerr;
	json_t *root = NULL;
	char *text = NULL;
	size_t len = 0;
	int fd, ret = 0;

	/* O_NONBLOCK: a FIFO must not hang the mount */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(why, n, "%s", strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(why, n, "not a regular file");
		goto out;
	}
	id_from_stat(&id, &st);
	ret = file_read_fd(fd, &id, &text, &len);
	if (ret < 0) {
		snprintf(why, n, "%s", ret == -E2BIG ? "larger than 1 MiB" : strerror(-ret));
		goto out;
	}
	/* jerr.text may quote the file (a secret): only say where */
	root = json_loadb(text, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		ret = -EINVAL;
		if (root)
			snprintf(why, n, "not a JSON object");
		else
			snprintf(why, n, "not JSON (line %d, column %d)", jerr.line, jerr.column);
	}
out:
	if (fd >= 0)
		close(fd);
	json_wipe_free(root);
	secret_free_n(text, len);
	return ret;
}

/*
 * Make @f's parsed state that of the file's current version.  Returns
 * true when it changed since the last look (a new version, or the file
 * came or went).
 * Problems are logged once per version: a file that is missing is
 * "no credentials" (and only the mount option's is worth a warning).
 */
static bool file_refresh_locked(struct creds_file *f)
{
	struct file_id now, opened;
	struct stat st;
	json_error_t jerr;
	json_t *root = NULL;
	char *text = NULL;
	size_t len = 0;
	int fd = -1, err;
	bool changed = f->seen; /* the first look is no change */

	memset(&now, 0, sizeof(now));
	if (stat(f->path, &st) < 0)
		now.err = errno ? errno : EIO;
	else
		id_from_stat(&now, &st);
	if (f->seen && id_same(&now, &f->id))
		return false;

	file_clear(f);
	f->seen = true;
	f->id = now;
	if (now.err) {
		if (now.err != ENOENT && now.err != ENOTDIR)
			log_warn("credentials file '%s': %s", f->path, strerror(now.err));
		else if (f->explicit)
			log_warn("credentials file '%s': %s", f->path, strerror(now.err));
		return changed;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warn("credentials file '%s': not a regular file", f->path);
		return changed;
	}
	/* O_NONBLOCK: a FIFO put there after the stat must not hang us */
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_warn("credentials file '%s': %s", f->path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warn("credentials file '%s': not a regular file", f->path);
		goto out;
	}
	id_from_stat(&opened, &st);
	/* what is parsed belongs to the version opened; if that is not
	 * the one stat saw, the next lookup sees a change and reads again */
	f->id = opened;
	err = file_read_fd(fd, &opened, &text, &len);
	if (err == -EAGAIN) {
		f->seen = false; /* being written: read it again next time */
		goto out;
	}
	if (err < 0) {
		log_warn("credentials file '%s': %s", f->path,
			 err == -E2BIG ? "too big, ignored" : strerror(-err));
		goto out;
	}
	/* jerr.text may quote the file (a secret): only say where */
	root = json_loadb(text, len, 0, &jerr);
	if (!root) {
		log_warn("credentials file '%s': not JSON (line %d, column %d), ignored", f->path,
			 jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		log_warn("credentials file '%s': not a JSON object, ignored", f->path);
		goto out;
	}
	if (file_fill(f, root) < 0) {
		log_err("credentials file '%s': out of memory", f->path);
		file_clear(f);
		f->seen = false;
		goto out;
	}
	log_debug("credentials file '%s': %zu entries, %zu helpers%s", f->path, f->n_entries,
		  f->n_helpers, f->store ? ", a credsStore" : "");
out:
	if (fd >= 0)
		close(fd);
	json_wipe_free(root);
	secret_free_n(text, len);
	return changed;
}

/*
 * What @f says for @target ("host/repo" or "host", canonical) on @host
 * (canonical): *helper is a new copy of the helper to ask first (or NULL);
 * @out a copy of the best "auths" entry.  0, -ENOENT (no entry; *helper
 * may still be set) or -ENOMEM.
 */
static int file_lookup_locked(const struct creds_file *f, const char *host, const char *target,
			      char **helper, struct reg_creds *out)
{
	const struct creds_entry *best = NULL;
	const char *name = f->store;
	size_t best_len = 0;

	*helper = NULL;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < f->n_helpers; i++) {
		if (strcmp(f->helpers[i].host, host) == 0) {
			name = f->helpers[i].name;
			break;
		}
	}
	if (name && !(*helper = strdup(name)))
		return -ENOMEM;
	for (size_t i = 0; i < f->n_entries; i++) {
		const char *k = f->entries[i].key;
		size_t kl = strlen(k);

		if (kl > best_len && strncmp(target, k, kl) == 0 &&
		    (target[kl] == '\0' || target[kl] == '/')) {
			best = &f->entries[i];
			best_len = kl;
		}
	}
	if (!best)
		return -ENOENT;
	if (creds_copy(&best->creds, out) < 0) {
		free(*helper);
		*helper = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* --- credential helpers ------------------------------------------------- */

/* The answer of a helper: {"ServerURL", "Username", "Secret"}; Username
 * "<token>" means Secret is an identity token.  0, -ENOENT (no secret),
 * -EINVAL (not that JSON) or -ENOMEM. */
static int helper_parse(const char *text, size_t len, struct reg_creds *out)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	const char *user = json_string_value(json_object_get(root, "Username"));
	const char *secret = json_string_value(json_object_get(root, "Secret"));
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(root))
		goto out;
	ret = -ENOENT;
	if (!secret || !*secret)
		goto out;
	ret = -ENOMEM;
	if (user && strcmp(user, "<token>") == 0) {
		if (!(out->identitytoken = strdup(secret)))
			goto out;
	} else {
		if (!user || !*user) {
			ret = -ENOENT;
			goto out;
		}
		if (!(out->username = strdup(user)) || !(out->password = strdup(secret)))
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		reg_creds_release(out);
	json_wipe_free(root);
	return ret;
}

static int ms_left(double deadline)
{
	double left = deadline - mono_now();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* Milliseconds to wait next before @deadline: at most CANCEL_POLL_MS, so
 * that a wait called off (common/cancel.h) ends in time. */
static int ms_slice(double deadline)
{
	int left = ms_left(deadline);

	return left > CANCEL_POLL_MS ? CANCEL_POLL_MS : left;
}

/* Start `@prog get` (found on PATH, no shell) with stdin from @in_fd and
 * stdout to @out_fd, stderr to /dev/null (it may hold secrets), in its
 * own process group (killed as one on timeout) and with the signals FUSE
 * set up put back to normal.  0 with *pid, or -errno (logged unless
 * -ENOMEM). */
static int helper_spawn(char *prog, int in_fd, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defs;
	char *argv[] = {prog, (char *)"get", NULL};
	int err;

	*pid = -1;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* FUSE's and curl's descriptors are the helper's business neither */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	sigemptyset(&mask);
	sigemptyset(&defs);
	sigaddset(&defs, SIGPIPE);
	sigaddset(&defs, SIGINT);
	sigaddset(&defs, SIGTERM);
	sigaddset(&defs, SIGHUP);
	sigaddset(&defs, SIGQUIT);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	err = posix_spawnp(pid, prog, &fa, &attr, argv, environ);
	if (err) {
		*pid = -1;
		if (err == ENOENT)
			log_warn("credential helper '%s' is not on PATH", prog);
		else
			log_warn("credential helper '%s': %s", prog, strerror(err));
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -err;
}

/* Read the helper's stdout @fd into @text (room for REG_CREDS_HELPER_MAX
 * + 1 bytes; *len of them used) until the helper closes it, by @deadline.
 * 0, -ETIMEDOUT, -E2BIG (more than REG_CREDS_HELPER_MAX), -EINTR when the
 * thread's wait is called off, or -errno. */
static int helper_read(int fd, double deadline, char *text, size_t *len)
{
	*len = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = ms_slice(deadline), n;
		ssize_t r;

		if (cancel_requested())
			return -EINTR;
		if (left == 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		r = read(fd, text + *len, REG_CREDS_HELPER_MAX + 1 - *len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		*len += (size_t)r;
		if (*len > REG_CREDS_HELPER_MAX)
			return -E2BIG;
	}
}

/* Wait for helper @prog (*pid), asked for @server, to exit, by @deadline.
 * 0 with its *status; -ETIMEDOUT (still running); or -errno (logged).
 * *pid is -1 once there is nothing left to reap. */
static int helper_wait(pid_t *pid, double deadline, int *status, const char *prog,
		       const char *server)
{
	for (;;) {
		pid_t w = waitpid(*pid, status, WNOHANG);

		if (w == *pid) {
			*pid = -1;
			return 0;
		}
		if (w < 0 && errno != EINTR) {
			int ret = -errno;

			*pid = -1;
			log_warn("credential helper '%s' for '%s': %s", prog, server, strerror(-ret));
			return ret;
		}
		if (ms_left(deadline) == 0)
			return -ETIMEDOUT;
		if (cancel_requested())
			return -EINTR;
		usleep(2000);
	}
}

/* What helper @prog said for @server: its exit @status and its answer
 * @text (@len bytes, NUL-terminated) into @out.  As helper_run (logged). */
static int helper_answer(const char *prog, const char *server, int status, const char *text,
			 size_t len, struct reg_creds *out)
{
	int ret;

	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_info("credential helper '%s' for '%s': exit status %d, no credentials from it",
			 prog, server, WEXITSTATUS(status));
		return -ENOENT;
	}
	if (!WIFEXITED(status)) {
		log_warn("credential helper '%s' for '%s': killed by signal %d", prog, server,
			 WTERMSIG(status));
		return -EIO;
	}
	ret = helper_parse(text, len, out);
	if (ret == -EINVAL)
		log_warn("credential helper '%s' for '%s': its answer is not the JSON docker "
			 "expects, ignored",
			 prog, server);
	else if (ret == -ENOENT)
		log_info("credential helper '%s' for '%s': no secret in its answer", prog, server);
	else if (ret == 0)
		log_debug("credential helper '%s' for '%s': credentials", prog, server);
	return ret;
}

/* Kill helper @prog (@pid, and its process group), which failed with
 * @ret, reap it, and say why. */
static void helper_kill(pid_t pid, int ret, const char *prog, const char *server)
{
	int status;

	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == -EINTR)
		log_debug("credential helper '%s' for '%s': no longer wanted, killed", prog, server);
	else if (ret == -ETIMEDOUT)
		log_warn("credential helper '%s' for '%s': no answer within %d s, killed", prog,
			 server, REG_CREDS_HELPER_TIMEOUT_MS / 1000);
	else if (ret == -E2BIG)
		log_warn("credential helper '%s' for '%s': answer over %u bytes, killed", prog,
			 server, REG_CREDS_HELPER_MAX);
	else
		log_warn("credential helper '%s' for '%s': %s, killed", prog, server,
			 strerror(-ret));
}

/*
 * Run `docker-credential-@name get` (found on PATH, no shell) with @server
 * on stdin, as docker does.  Its stdout is read up to REG_CREDS_HELPER_MAX
 * bytes; it gets REG_CREDS_HELPER_TIMEOUT_MS in all, then it and its
 * process group are killed.  Its stderr goes to /dev/null (it may hold
 * secrets).  0 and @out filled (new secrets); -ENOENT when it has none
 * (non-zero exit); another -errno when it failed (logged).
 */
static int helper_run(const char *name, const char *server, struct reg_creds *out)
{
	double deadline = mono_now() + REG_CREDS_HELPER_TIMEOUT_MS / 1000.0;
	char *prog = NULL, *text = NULL;
	int in[2] = {-1, -1}, outp[2] = {-1, -1};
	size_t len = 0;
	pid_t pid = -1;
	int ret, status = 0;

	memset(out, 0, sizeof(*out));
	if (!helper_name_ok(name))
		BUG("unchecked credential helper name");
	text = malloc(REG_CREDS_HELPER_MAX + 1);
	if (!text || asprintf(&prog, HELPER_PREFIX "%s", name) < 0) {
		prog = NULL;
		ret = -ENOMEM;
		goto out;
	}
	/* stdin is a socket so that writing to a helper that exited early
	 * is an error (MSG_NOSIGNAL), not SIGPIPE */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0) {
		ret = -errno;
		log_warn("credential helper '%s': %s", prog, strerror(errno));
		goto out;
	}
	ret = helper_spawn(prog, in[1], outp[1], &pid);
	if (ret < 0)
		goto out;
	close(in[1]);
	close(outp[1]);
	in[1] = outp[1] = -1;
	/* a few bytes: they fit the socket's buffer whether it reads or not */
	if (send(in[0], server, strlen(server), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("credential helper '%s': stdin: %s", prog, strerror(errno));
	close(in[0]);
	in[0] = -1;
	ret = helper_read(outp[0], deadline, text, &len);
	/* stdout closed: wait for the exit, within the same deadline */
	if (ret == 0)
		ret = helper_wait(&pid, deadline, &status, prog, server);
	if (ret == 0) {
		text[len] = '\0';
		ret = helper_answer(prog, server, status, text, len, out);
	}
out:
	if (pid > 0)
		helper_kill(pid, ret, prog, server);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	secret_free_n(text, REG_CREDS_HELPER_MAX + 1);
	free(prog);
	return ret;
}

/* --- the store ---------------------------------------------------------- */

/* What a helper said for a server, kept REG_CREDS_HELPER_TTL seconds. */
struct helper_answer {
	struct helper_answer *next;
	char *name, *server;
	bool running;           /* a thread runs the helper; kept until it is done */
	int ret;                /* 0 (@creds hold its answer) or -ENOENT */
	struct reg_creds creds; /* owned secrets */
	double expires;         /* mono_now() */
};

struct reg_creds_store {
	/*
	 * Protects @files' parsed state and @answers.  A leaf lock: nothing
	 * else is taken under it, and it is never held while a helper runs
	 * (files are read under it: they are small and local).
	 */
	pthread_mutex_t lock;
	pthread_cond_t helper_done; /* an answer stopped running */
	struct creds_file files[MAX_FILES];
	size_t n_files;
	struct helper_answer *answers; /* newest first */
};

static void answer_free(struct helper_answer *a)
{
	free(a->name);
	free(a->server);
	reg_creds_release(&a->creds);
	free(a);
}

/* Drop the answers that are not running: all (@all, after a file changed:
 * `docker login` may have told the helper something new), else the
 * expired ones and those past CREDS_ANSWERS_MAX. */
static void answers_prune_locked(struct reg_creds_store *s, bool all)
{
	struct helper_answer **pp = &s->answers, *a;
	double now = mono_now();
	size_t n = 0;

	while ((a = *pp)) {
		if (!a->running && (all || a->expires <= now || n >= CREDS_ANSWERS_MAX)) {
			*pp = a->next;
			answer_free(a);
			continue;
		}
		n++;
		pp = &a->next;
	}
}

/* Wait (holding s->lock, which the wait lets go of) for a helper run to
 * end, asking every CANCEL_POLL_MS whether this thread's wait is called
 * off.  0 when one ended (or the slice passed), -EINTR. */
static int helper_wait_done_locked(struct reg_creds_store *s)
{
	if (cancel_requested())
		return -EINTR;
	cancel_cond_wait(&s->helper_done, &s->lock, CLOCK_REALTIME);
	return 0;
}

/*
 * What helper @name says for @server: from an answer kept, else run it
 * (without the lock; concurrent callers wait for that one run).  0 and
 * @out filled (new secrets), -ENOENT, or -ENOMEM.
 */
static int helper_get(struct reg_creds_store *s, const char *name, const char *server,
		      struct reg_creds *out)
{
	struct helper_answer *a;
	struct reg_creds got;
	int ret;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (a = s->answers; a; a = a->next)
			if (strcmp(a->name, name) == 0 && strcmp(a->server, server) == 0)
				break;
		if (a && a->running) {
			if (helper_wait_done_locked(s) < 0) {
				pthread_mutex_unlock(&s->lock);
				return -EINTR;
			}
			continue; /* @a may be gone: look again */
		}
		break;
	}
	if (a && a->expires > mono_now()) {
		ret = a->ret == 0 ? creds_copy(&a->creds, out) : a->ret;
		pthread_mutex_unlock(&s->lock);
		return ret;
	}
	if (!a) {
		answers_prune_locked(s, false);
		a = calloc(1, sizeof(*a));
		if (!a || !(a->name = strdup(name)) || !(a->server = strdup(server))) {
			if (a)
				answer_free(a);
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		a->next = s->answers;
		s->answers = a;
	}
	reg_creds_release(&a->creds);
	a->running = true; /* not freed until cleared: safe to use unlocked */
	pthread_mutex_unlock(&s->lock);

	ret = helper_run(name, server, &got);

	pthread_mutex_lock(&s->lock);
	a->running = false;
	a->expires = mono_now() + REG_CREDS_HELPER_TTL;
	if (ret == -ENOMEM || ret == -EINTR)
		a->expires = 0; /* ours, not the helper's: try again next time */
	a->ret = ret == 0 ? 0 : -ENOENT;
	a->creds = got; /* zeroed unless ret is 0 */
	ret = ret == 0 ? creds_copy(&a->creds, out) : ret == -ENOMEM || ret == -EINTR ? ret : -ENOENT;
	pthread_cond_broadcast(&s->helper_done);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* @p as an absolute path (relative to the current directory), new. */
static char *path_absolute(const char *p)
{
	char *cwd, *out = NULL;

	if (p[0] == '/')
		return strdup(p);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&out, "%s/%s", cwd, p) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* Add the source @dir@sub (@dir NULL or empty: none) unless already there.
 * 0 or -ENOMEM. */
static int store_add(struct reg_creds_store *s, const char *dir, const char *sub, bool explicit)
{
	char *joined = NULL, *p;

	if (!dir || !*dir)
		return 0;
	if (asprintf(&joined, "%s%s", dir, sub) < 0)
		return -ENOMEM;
	p = path_absolute(joined);
	free(joined);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_files; i++) {
		if (strcmp(s->files[i].path, p) == 0) {
			free(p);
			return 0;
		}
	}
	if (s->n_files == MAX_FILES)
		BUG("too many credentials sources");
	s->files[s->n_files].path = p;
	s->files[s->n_files].explicit = explicit;
	s->n_files++;
	return 0;
}

int reg_creds_store_new(const char *auth_file, struct reg_creds_store **out)
{
	struct reg_creds_store *s = calloc(1, sizeof(*s));
	const char *home = getenv("HOME"), *docker = getenv("DOCKER_CONFIG");
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char *run_default = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->helper_done, NULL);
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	/* podman's auth.json when XDG_RUNTIME_DIR is unset */
	if ((!runtime || !*runtime) &&
	    asprintf(&run_default, "/run/containers/%u", (unsigned)getuid()) < 0) {
		run_default = NULL;
		goto out;
	}
	if (store_add(s, auth_file, "", true) < 0 ||
	    store_add(s, getenv("REGISTRY_AUTH_FILE"), "", false) < 0 ||
	    store_add(s, run_default ? run_default : runtime,
		      run_default ? "/auth.json" : "/containers/auth.json", false) < 0 ||
	    store_add(s, home, "/.config/containers/auth.json", false) < 0 ||
	    (docker && *docker ? store_add(s, docker, "/config.json", false)
			       : store_add(s, home, "/.docker/config.json", false)) < 0)
		goto out;
	for (size_t i = 0; i < s->n_files; i++)
		log_debug("credentials: source %zu is '%s'", i + 1, s->files[i].path);
	*out = s;
	s = NULL;
	ret = 0;
out:
	free(run_default);
	reg_creds_store_free(s);
	return ret;
}

void reg_creds_store_free(struct reg_creds_store *s)
{
	struct helper_answer *a;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_files; i++) {
		file_clear(&s->files[i]);
		free(s->files[i].path);
	}
	while ((a = s->answers)) {
		s->answers = a->next;
		answer_free(a);
	}
	pthread_cond_destroy(&s->helper_done);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int reg_creds_get(struct reg_creds_store *s, const char *host, const char *repo,
		  struct reg_creds *out)
{
	char *chost = name_canonical(host, strlen(host)), *target = NULL;
	const char *server;
	int ret = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!chost || strchr(chost, '/'))
		goto out;
	if (asprintf(&target, "%s%s%s", chost, repo && *repo ? "/" : "", repo ? repo : "") < 0) {
		target = NULL;
		goto out;
	}
	server = strcmp(chost, HUB) == 0 ? HUB_SERVER : host;
	ret = -ENOENT;
	for (size_t i = 0; i < s->n_files && ret == -ENOENT; i++) {
		struct creds_file *f = &s->files[i];
		struct reg_creds entry;
		char *helper = NULL;
		int got;

		pthread_mutex_lock(&s->lock);
		if (file_refresh_locked(f))
			answers_prune_locked(s, true);
		got = file_lookup_locked(f, chost, target, &helper, &entry);
		pthread_mutex_unlock(&s->lock);
		if (got == -ENOMEM) {
			ret = got;
			break;
		}
		/* credHelpers[host], else credsStore, before "auths" */
		if (helper)
			ret = helper_get(s, helper, server, out);
		if (ret == -ENOENT && got == 0) {
			*out = entry;
			memset(&entry, 0, sizeof(entry));
			ret = 0;
		}
		reg_creds_release(&entry);
		free(helper);
	}
out:
	if (ret < 0)
		reg_creds_release(out);
	free(chost);
	free(target);
	return ret;
}
