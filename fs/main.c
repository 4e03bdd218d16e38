/*
 * regfs: mount container registries as a directory tree.
 *
 * main() parses the options, opens the cache and the registry client, and
 * runs the FUSE session.  It is the only place that knows all three rooms.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cache/draft.h"
#include "cache/mem.h"
#include "cache/store.h"
#include "common/fdshort.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/thread.h"
#include "fs/fs.h"
#include "fs/remote.h"
#include "fs/notify.h"
#include "fs/ops.h"
#include "registry/client.h"
#include "registry/creds.h"
#include "registry/names.h"

#define DEFAULT_TTL 30.0
#define TTL_MAX (86400.0 * 365)
#define TIMEOUT_MAX 3600 /* seconds */

struct options {
	char **positional; /* NULL-terminated: [SOURCE] MOUNTPOINT */
	size_t n_positional;
	char **registries; /* NULL-terminated */
	size_t n_registries;
	char **insecure; /* NULL-terminated */
	size_t n_insecure;
	char **mirrors; /* NULL-terminated "ORIGIN=MIRROR" or "MIRROR" */
	size_t n_mirrors;
	char *cache_dir;
	char *state_dir;
	char *cache_max;
	char *ttl;
	char *cafile;
	char *certs_dir;
	char *logfile;
	char *auth_file;
	char *write_group;
	char *uid;
	char *gid;
	char *umask;
	char *timeout;
	char *prefetch;
	int verbose;
	int dumpable; /* -o dumpable: leave the process dumpable (cores, ptrace) */
	int offline;  /* -o offline: no network at all; what the disk cache holds */
	int hide_referrer_tags; /* -o hide_referrer_tags: sha256-<hex>[.sig|.att|.sbom] not listed */
	bool fsname_given;  /* -o fsname=, a FUSE option */
	bool subtype_given; /* -o subtype=, a FUSE option */
};

enum { KEY_REGISTRY, KEY_INSECURE, KEY_MIRROR };

#define OPT(t, p) {t, offsetof(struct options, p), 1}
static const struct fuse_opt option_spec[] = {
	FUSE_OPT_KEY("registry=", KEY_REGISTRY),
	FUSE_OPT_KEY("insecure=", KEY_INSECURE),
	FUSE_OPT_KEY("mirror=", KEY_MIRROR),
	OPT("cache_dir=%s", cache_dir),
	OPT("state_dir=%s", state_dir),
	OPT("cache_max=%s", cache_max),
	OPT("ttl=%s", ttl),
	OPT("cafile=%s", cafile),
	OPT("certs_dir=%s", certs_dir),
	OPT("logfile=%s", logfile),
	OPT("auth_file=%s", auth_file),
	OPT("write_group=%s", write_group),
	OPT("uid=%s", uid),
	OPT("gid=%s", gid),
	OPT("umask=%s", umask),
	OPT("timeout=%s", timeout),
	OPT("prefetch=%s", prefetch),
	OPT("verbose", verbose),
	OPT("dumpable", dumpable),
	OPT("offline", offline),
	OPT("hide_referrer_tags", hide_referrer_tags),
	/* mount(8)'s and fstab's own, which mount.fuse3 and a plain
	 * `regfs -o` pass on (x-* are in opt_proc); ro and rw, dev, suid,
	 * exec, their no- forms, async, sync, atime and noatime are libfuse's.
	 * The other access-time flags change nothing: regfs keeps no times. */
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("relatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("norelatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("strictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nostrictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("lazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nolazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("diratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nodiratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END,
};

static int push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -1;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -1;
	nv[++*n] = NULL;
	return 0;
}

/* "-o mirror=ORIGIN=MIRROR" or "-o mirror=MIRROR" (for docker.io): both
 * registry host names, at most REG_MIRRORS_MAX per origin. */
static int add_mirror(struct options *o, const char *spec)
{
	const char *eq = strchr(spec, '=');
	const char *mirror = eq ? eq + 1 : spec;
	char *origin = eq ? strndup(spec, (size_t)(eq - spec)) : strdup("docker.io");
	size_t same = 0;
	int ret = -1;

	if (!origin)
		return -1;
	if (!reg_name_is_host(origin) || !reg_name_is_host(mirror)) {
		fprintf(stderr, "regfs: mirror '%s' is not ORIGIN=MIRROR or MIRROR with registry "
			"host names (host[:port], no scheme)\n", spec);
		goto out;
	}
	for (size_t i = 0; i < o->n_mirrors; i++) {
		const char *e = strchr(o->mirrors[i], '=');
		const char *oi = e ? o->mirrors[i] : "docker.io";
		size_t ol = e ? (size_t)(e - o->mirrors[i]) : strlen("docker.io");

		if (ol == strlen(origin) && strncmp(oi, origin, ol) == 0)
			same++;
	}
	if (same >= REG_MIRRORS_MAX) {
		fprintf(stderr, "regfs: more than %d mirrors for '%s'\n", REG_MIRRORS_MAX, origin);
		goto out;
	}
	ret = push(&o->mirrors, &o->n_mirrors, spec);
out:
	free(origin);
	return ret;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;
	const char *val = strchr(arg, '=');

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* "SOURCE MOUNTPOINT", as mount(8) runs a helper, or "MOUNTPOINT" */
		if (o->n_positional == 2) {
			fprintf(stderr, "regfs: '%s': one argument too many (SOURCE and "
				"MOUNTPOINT at most)\n", arg);
			return -1;
		}
		return push(&o->positional, &o->n_positional, arg);
	}
	/* mount(8)'s rule: "x-*" options (x-systemd.automount) are for user
	 * space tools, never the filesystem; checked before the host rule
	 * below, which would take "x-systemd.automount" for a host */
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, "x-", 2) == 0)
		return 0;
	/* kept for FUSE; regfs gives its own when they are not */
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, "fsname=", 7) == 0)
		o->fsname_given = true;
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, "subtype=", 8) == 0)
		o->subtype_given = true;
	/* "-o registry=a:5000,b.example": -o splits at commas, so a bare host
	 * name (never a FUSE option: those have no '.' or ':') is one more */
	if (key == FUSE_OPT_KEY_OPT && !val && (strchr(arg, '.') || strchr(arg, ':')) &&
	    reg_name_is_host(arg))
		return push(&o->registries, &o->n_registries, arg);
	if (key == KEY_REGISTRY || key == KEY_INSECURE) {
		val = val ? val + 1 : "";
		if (!reg_name_is_host(val)) {
			fprintf(stderr, "regfs: '%s' is not a registry host name\n", val);
			return -1;
		}
		if (key == KEY_REGISTRY)
			return push(&o->registries, &o->n_registries, val);
		return push(&o->insecure, &o->n_insecure, val);
	}
	if (key == KEY_MIRROR)
		return add_mirror(o, val ? val + 1 : "");
	return 1; /* keep everything else for FUSE */
}

static void usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n\n"
	       "Mount container registries as a directory tree.  SOURCE is a registry\n"
	       "host or a comma-separated list of them, as -o registry= (both add up), so\n"
	       "mount -t fuse.regfs SOURCE MOUNTPOINT and fstab lines work.\n\n"
	       "regfs options:\n"
	       "    -o registry=HOST[,HOST] show these registries at the root (repeatable)\n"
	       "    -o insecure=HOST       allow plain HTTP to HOST (loopback hosts always may)\n"
	       "    -o cache_dir=DIR       blob cache (default $XDG_CACHE_HOME/regfs)\n"
	       "    -o state_dir=DIR       drafts of lists (default $XDG_STATE_HOME/regfs)\n"
	       "    -o cache_max=SIZE      cache cap, e.g. 500M, 10G (default 10G; 0 = none);\n"
	       "                           df shows it as the size, the cache as used\n"
	       "    -o ttl=SECONDS         how long tags and listings are trusted (default 30)\n"
	       "    -o cafile=FILE         extra CA certificates (PEM) for every registry\n"
	       "    -o certs_dir=DIR       per-registry TLS, DIR/HOST/{*.crt,client.cert,client.key};\n"
	       "                           searched before /etc/{containers,docker}/certs.d\n"
	       "    -o mirror=[ORIGIN=]HOST read ORIGIN (default docker.io) through mirror HOST\n"
	       "                           first (repeatable)\n"
	       "    -o auth_file=FILE      credentials file (docker config.json or podman auth.json)\n"
	       "                           read before all the others (see README)\n"
	       "    -o uid=USER            every node is USER's (a name or a number), and USER\n"
	       "                           writes (makes drafts, commits) instead of the\n"
	       "                           mounting user (default: the mounting user)\n"
	       "    -o gid=GROUP           every node's group (a name or a number; default the\n"
	       "                           mounting user's); its members do not write\n"
	       "    -o write_group=GROUP   every node's group, and its members may write too\n"
	       "                           (with -o allow_other every local user reads with\n"
	       "                           the mounting user's credentials: see README)\n"
	       "    -o umask=MODE          octal bits taken from every mode shown, e.g. 022,\n"
	       "                           077 (default 0); the kernel enforces the modes\n"
	       "    -o timeout=SECONDS     how long one try waits to connect and for an answer\n"
	       "                           to start (default 10); see README for the bounds\n"
	       "    -o prefetch=N          threads reading a list's platform manifests and\n"
	       "                           configs ahead, 0 to 8 (default 8; 0: none)\n"
	       "    -o logfile=FILE        log here; otherwise stderr with -f, syslog (daemon\n"
	       "                           facility) in the background\n"
	       "    -o verbose             debug-level log, one line per HTTP request\n"
	       "    -o offline             no network at all: only what the disk cache holds,\n"
	       "                           by digest (@sha256:...); tags do not resolve\n"
	       "    -o hide_referrer_tags  leave sha256-<hex> and cosign's sha256-<hex>.sig,\n"
	       "                           .att, .sbom out of tag listings (still reachable)\n"
	       "    -o dumpable            allow core dumps and ptrace by the same user (they\n"
	       "                           may hold credentials: regfs is not dumpable otherwise)\n"
	       "    -o ro                  mount read-only: every write is EROFS (rw: the default)\n\n"
	       "Accepted and ignored, for fstab and mount(8): defaults, auto, noauto, nofail,\n"
	       "_netdev, user, users, nouser, comment=..., x-* (x-systemd.automount, ...) and\n"
	       "the access-time flags (regfs keeps no access times).\n\n"
	       "With NOTIFY_SOCKET set (systemd Type=notify; run with -f there) regfs sends\n"
	       "READY=1 once the mount answers, and STOPPING=1 when it is unmounted.\n\n",
	       prog);
	printf("FUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* "500M": decimal digits, then an optional K, M, G or T (powers of 1024)
 * and an optional B.  No sign, no blanks, nothing that overflows. */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -1; /* strtoull would take "-5" as a huge number */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > (ULLONG_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

/* A whole number (of seconds, of threads) from @min to @max written in decimal digits
 * only, into *out.  0 or -1. */
static int parse_whole(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* An existing directory we may read (certs_dir=).  0, or -1 after saying
 * why on stderr. */
static int check_dir(const char *opt, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || (S_ISDIR(st.st_mode) && access(path, R_OK | X_OK) < 0)) {
		fprintf(stderr, "regfs: %s '%s': %s\n", opt, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "regfs: %s '%s': not a directory\n", opt, path);
		return -1;
	}
	return 0;
}

/*
 * Every option's value, checked before anything is created or mounted:
 * numbers in their range, files and directories that must be there.  The
 * numbers go to *ttl, *cache_max, *timeout and *prefetch (their defaults when not
 * given; *timeout 0 = the client's default).  0, or -1 after one message
 * on stderr.
 */
static int check_options(const struct options *o, double *ttl, unsigned long long *cache_max,
			 long *timeout, int *prefetch)
{
	const char *const paths[][2] = {
		{"cache_dir", o->cache_dir}, {"state_dir", o->state_dir},
		{"logfile", o->logfile},     {"cafile", o->cafile},
		{"certs_dir", o->certs_dir}, {"auth_file", o->auth_file},
	};
	char why[256];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (paths[i][1] && !*paths[i][1]) {
			fprintf(stderr, "regfs: %s= needs a path\n", paths[i][0]);
			return -1;
		}
	}
	*ttl = DEFAULT_TTL;
	if (o->ttl) {
		char *end;

		/* digits and at most one '.': no sign, exponent, hex, nan or inf */
		*ttl = strtod(o->ttl, &end);
		if (strspn(o->ttl, "0123456789.") != strlen(o->ttl) || end == o->ttl || *end ||
		    !isfinite(*ttl) || *ttl <= 0 || *ttl > TTL_MAX) {
			fprintf(stderr, "regfs: ttl '%s' is not a number of seconds above 0 and at "
				"most %.0f (a year)\n", o->ttl, TTL_MAX);
			return -1;
		}
	}
	*cache_max = DEFAULT_CACHE_MAX;
	if (o->cache_max && parse_size(o->cache_max, cache_max) < 0) {
		fprintf(stderr, "regfs: cache_max '%s' is not a size: digits with an optional K, "
			"M, G or T (500M, 10G), 0 for no cap\n", o->cache_max);
		return -1;
	}
	*timeout = 0;
	if (o->timeout && parse_whole(o->timeout, 1, TIMEOUT_MAX, timeout) < 0) {
		fprintf(stderr, "regfs: timeout '%s' is not a whole number of seconds from 1 to "
			"%d\n", o->timeout, TIMEOUT_MAX);
		return -1;
	}
	*prefetch = 0;
	if (o->prefetch) {
		long n;

		if (parse_whole(o->prefetch, 0, PREFETCH_THREADS, &n) < 0) {
			fprintf(stderr, "regfs: prefetch '%s' is not a whole number from 0 to %d\n",
				o->prefetch, PREFETCH_THREADS);
			return -1;
		}
		*prefetch = n == 0 ? -1 : (int)n; /* cfg.prefetch: < 0 is none */
	}
	/* read when a registry is first used: a bad one would fail every request */
	if (o->cafile && reg_cafile_check(o->cafile, why, sizeof(why)) < 0) {
		fprintf(stderr, "regfs: cafile '%s': %s\n", o->cafile, why);
		return -1;
	}
	if (o->certs_dir && check_dir("certs_dir", o->certs_dir) < 0)
		return -1;
	if (o->auth_file && reg_creds_file_check(o->auth_file, why, sizeof(why)) < 0) {
		fprintf(stderr, "regfs: auth_file '%s': %s\n", o->auth_file, why);
		return -1;
	}
	return 0;
}

/* $<xdg_var>/regfs, else ~/<home_sub>/regfs, else <fallback>. */
static char *default_dir(const char *xdg_var, const char *home_sub, const char *fallback)
{
	const char *xdg = getenv(xdg_var);
	const char *home = getenv("HOME");
	char *p = NULL;

	if (xdg && *xdg == '/') {
		if (asprintf(&p, "%s/regfs", xdg) < 0)
			p = NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/%s/regfs", home, home_sub) < 0)
			p = NULL;
	} else {
		p = strdup(fallback);
	}
	return p;
}

/* fuse_daemonize() changes to "/": make a user's relative path absolute. */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX], *out = NULL;

	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

/* @s as a user or group id: decimal digits only, below (uid_t)-1 (which
 * means "no id" to chown).  0 or -1. */
static int parse_id(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1; /* strtoul would take " 5", "+5" and "-5" */
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= (unsigned long)(uid_t)-1)
		return -1;
	*out = v;
	return 0;
}

/* The uid of user @s (-o uid=), a name or a number.  0 or -1 (said on
 * stderr). */
static int parse_user(const char *s, uid_t *out)
{
	struct passwd *pw;
	unsigned long v;

	if (parse_id(s, &v) == 0) {
		*out = (uid_t)v;
		return 0;
	}
	pw = *s ? getpwnam(s) : NULL;
	if (!pw) {
		fprintf(stderr, "regfs: uid '%s' is not a user (a name or a number)\n", s);
		return -1;
	}
	*out = pw->pw_uid;
	return 0;
}

/* The gid of group @s, a name or a number, given as option @opt.  0 or -1
 * (said on stderr). */
static int parse_group(const char *opt, const char *s, gid_t *out)
{
	struct group *g;
	unsigned long v;

	if (parse_id(s, &v) == 0) {
		*out = (gid_t)v;
		return 0;
	}
	g = *s ? getgrnam(s) : NULL;
	if (!g) {
		fprintf(stderr, "regfs: %s '%s' is not a group\n", opt, s);
		return -1;
	}
	*out = g->gr_gid;
	return 0;
}

/*
 * Who the nodes belong to and who may write (fs_config): the user of -o
 * uid= (else the daemon's euid) writes; the group shown is -o write_group=
 * (whose members write too) or -o gid= (else the daemon's egid), and two
 * different groups are refused; -o umask= is taken from every mode.  0, or
 * -1 after one line on stderr.
 */
static int set_owner(const struct options *o, struct fs_config *cfg)
{
	gid_t wg;
	unsigned long mask;

	cfg->uid = geteuid();
	cfg->gid = getegid();
	if (o->uid && parse_user(o->uid, &cfg->uid) < 0)
		return -1;
	if (o->gid && parse_group("gid", o->gid, &cfg->gid) < 0)
		return -1;
	if (o->write_group) {
		if (parse_group("write_group", o->write_group, &wg) < 0)
			return -1;
		if (o->gid && wg != cfg->gid) {
			fprintf(stderr, "regfs: gid '%s' and write_group '%s' are different groups "
				"(write_group= is the group shown as well)\n", o->gid, o->write_group);
			return -1;
		}
		cfg->gid = wg;
		cfg->group_writes = true;
	}
	if (o->umask) {
		/* octal digits only: no sign, no blanks, no 0x */
		mask = strspn(o->umask, "01234567") == strlen(o->umask) ? strtoul(o->umask, NULL, 8)
									  : ULONG_MAX;
		if (!*o->umask || mask > 0777) {
			fprintf(stderr, "regfs: umask '%s' is not an octal mode from 0 to 0777\n",
				o->umask);
			return -1;
		}
		cfg->umask = (mode_t)mask;
	}
	return 0;
}

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* Everything main() opens, so that one function lets go of it all. */
struct daemon {
	struct fuse_args args;
	struct fuse_cmdline_opts cmd;
	struct options o;
	struct fs fs;
	struct reg_client *client;
	struct cache_store *store;
	struct cache_mem *mem;
	struct cache_drafts *drafts;
	char *cache_dir, *state_dir; /* absolute */
	char *cafile, *certs_dir;    /* absolute, or NULL */
	FILE *logfp;
	unsigned long long cache_max;
	long timeout;
	pthread_t ready_watch; /* with ready_watching: says READY=1 (serve) */
	bool ready_watching;
};

/* -o fsname=@name: a backslash keeps each comma in the value, where -o
 * would split.  0 or -1. */
static int add_fsname(struct fuse_args *args, const char *name)
{
	char *arg = malloc(strlen("-ofsname=") + 2 * strlen(name) + 1), *p;
	int ret;

	if (!arg)
		return -1;
	p = stpcpy(arg, "-ofsname=");
	for (; *name; name++) {
		if (*name == ',' || *name == '\\')
			*p++ = '\\';
		*p++ = *name;
	}
	*p = '\0';
	ret = fuse_opt_add_arg(args, arg);
	free(arg);
	return ret;
}

/*
 * The arguments that are no options: "MOUNTPOINT", or "SOURCE MOUNTPOINT"
 * as mount(8) and mount.fuse3 run a filesystem.  SOURCE's hosts join those
 * of -o registry= and name the mount (fsname=, what df and findmnt show);
 * the mount point goes back for fuse_parse_cmdline.  0, or -1 after one
 * line on stderr.
 */
static int take_positional(struct daemon *d)
{
	struct options *o = &d->o;
	const char *source = o->n_positional == 2 ? o->positional[0] : NULL;
	char *list = NULL, *rest, *host;
	int ret = -1;

	if (source) {
		list = strdup(source);
		if (!list)
			goto out;
		for (rest = list; (host = strsep(&rest, ","));) {
			if (!reg_name_is_host(host)) {
				fprintf(stderr, "regfs: source '%s' is not a registry host name or a "
					"comma-separated list of them\n", source);
				goto out;
			}
			if (push(&o->registries, &o->n_registries, host) < 0)
				goto out;
		}
		if (!o->fsname_given && add_fsname(&d->args, source) < 0)
			goto out;
	}
	ret = 0;
	if (o->n_positional > 0)
		ret = fuse_opt_add_arg(&d->args, o->positional[o->n_positional - 1]);
out:
	free(list);
	return ret;
}

/* The command line into @d.  0 to go on, 1 when done (--help, --version),
 * -1 on a bad one (said on stderr). */
static int parse_args(struct daemon *d, const char *prog)
{
	/* regfs' options and positional arguments first: libfuse's parser
	 * would take a SOURCE for the mount point.  "fuse.regfs" in the mount
	 * table, as mount -t fuse.regfs names it: libfuse would name it after
	 * argv[0], and not at all once fsname= is given. */
	if (fuse_opt_parse(&d->args, &d->o, option_spec, opt_proc) == -1 ||
	    take_positional(d) < 0 ||
	    (!d->o.subtype_given && fuse_opt_add_arg(&d->args, "-osubtype=regfs") < 0) ||
	    fuse_parse_cmdline(&d->args, &d->cmd) != 0)
		return -1;
	if (d->cmd.show_help) {
		usage(prog);
		return 1;
	}
	if (d->cmd.show_version) {
		printf("regfs version %s\n", REGFS_VERSION);
		fuse_lowlevel_version();
		return 1;
	}
	if (!d->cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] [SOURCE] MOUNTPOINT (see --help)\n", prog);
		return -1;
	}
	/* who may write: said by the modes (the kernel checks them) and
	 * checked again for each write (ops.c) */
	if (check_options(&d->o, &d->fs.cfg.ttl, &d->cache_max, &d->timeout,
			  &d->fs.cfg.prefetch) < 0 ||
	    set_owner(&d->o, &d->fs.cfg) < 0)
		return -1;
	return fuse_opt_add_arg(&d->args, "-odefault_permissions") < 0 ? -1 : 0;
}

static enum log_level log_level_of(const struct daemon *d)
{
	return (d->o.verbose || d->cmd.debug) ? LOG_LVL_DEBUG : LOG_LVL_INFO;
}

/* Until regfs leaves the terminal, its log goes to stderr or -o logfile=
 * (serve() moves it to syslog then). */
static int open_log(struct daemon *d)
{
	if (d->o.logfile) {
		char *abs = absolute(d->o.logfile);

		d->logfp = abs ? fopen(abs, "ae") : NULL;
		if (!d->logfp) {
			fprintf(stderr, "regfs: cannot open log file '%s': %s\n", d->o.logfile,
				strerror(errno));
			free(abs);
			return -1;
		}
		free(abs);
	}
	log_setup(d->logfp, log_level_of(d));
	return 0;
}

/* The blob cache, and apart from it the drafts (the user's work, not a
 * cache). */
static int open_stores(struct daemon *d)
{
	int err;

	/* every layer a reader holds open holds a descriptor of ours */
	log_debug("descriptor limit: %lu", fd_limit_raise());
	d->cache_dir = d->o.cache_dir ? absolute(d->o.cache_dir)
				      : default_dir("XDG_CACHE_HOME", ".cache", "/var/cache/regfs");
	if (!d->cache_dir)
		return -1;
	/* the stores make their directories, with the parents missing */
	err = cache_store_open(d->cache_dir, d->cache_max, &d->store);
	if (err < 0) {
		fprintf(stderr, "regfs: cache '%s': %s\n", d->cache_dir, strerror(-err));
		return -1;
	}
	d->state_dir = d->o.state_dir ? absolute(d->o.state_dir)
				      : default_dir("XDG_STATE_HOME", ".local/state", "/var/lib/regfs");
	if (!d->state_dir)
		return -1;
	err = cache_drafts_open(d->state_dir, &d->drafts);
	if (err < 0) {
		fprintf(stderr, "regfs: drafts in '%s': %s\n", d->state_dir, strerror(-err));
		return -1;
	}
	return 0;
}

/* The memory cache and the registry client. */
static int open_client(struct daemon *d)
{
	struct reg_client_opts copts;
	int err;

	/* read when a registry is first used, after fuse_daemonize went to "/" */
	if (d->o.cafile && !(d->cafile = absolute(d->o.cafile)))
		return -1;
	if (d->o.certs_dir && !(d->certs_dir = absolute(d->o.certs_dir)))
		return -1;
	d->mem = cache_mem_new(MEM_CACHE_MAX);
	memset(&copts, 0, sizeof(copts));
	copts.cafile = d->cafile;
	copts.certs_dir = d->certs_dir;
	copts.mirrors = (const char *const *)d->o.mirrors;
	copts.insecure = (const char *const *)d->o.insecure;
	copts.auth_file = d->o.auth_file;
	copts.connect_timeout = d->timeout;
	copts.stall_timeout = 3 * d->timeout;
	copts.retries = -1;
	err = reg_client_new(&copts, &d->client);
	if (!d->mem || err < 0) {
		fprintf(stderr, "regfs: %s\n", err == -EINVAL ? "invalid mirror" : "out of memory");
		return -1;
	}
	return 0;
}

/* The core on the rooms just opened. */
static int open_fs(struct daemon *d)
{
	struct fs *fs = &d->fs;

	fs->cfg.mountpoint = realpath(d->cmd.mountpoint, NULL);
	if (!fs->cfg.mountpoint) {
		fprintf(stderr, "regfs: mountpoint '%s': %s\n", d->cmd.mountpoint,
			strerror(errno));
		return -1;
	}
	fs->cfg.registries = d->o.registries;
	fs->cfg.offline = d->o.offline;
	fs->cfg.hide_referrer_tags = d->o.hide_referrer_tags;
	fs->remote = d->o.offline ? &fs_remote_offline : &fs_remote_registry;
	fs->client = d->client;
	fs->store = d->store;
	fs->mem = d->mem;
	fs->drafts = d->drafts;
	for (char **p = d->o.registries; p && *p; p++) {
		struct reg_registry *r;

		reg_client_registry(d->client, *p, &r);
	}
	return fs_init(fs) < 0 ? -1 : 0;
}

/* Serve requests until unmounted or signalled.  0 (unmounted, or stopped by
 * SIGTERM, SIGINT or SIGHUP, as a service manager stops a daemon) or 1
 * (main's status). */
static int session_loop(struct daemon *d, struct fuse_session *se)
{
	struct fuse_loop_config *loop = NULL;
	int ret;

	if (d->cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			return 1;
		fuse_loop_cfg_set_clone_fd(loop, d->cmd.clone_fd);
		/* fuse_parse_cmdline leaves UINT_MAX for "not given" */
		if (d->cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, d->cmd.max_idle_threads);
		if (d->cmd.max_threads > 0 && d->cmd.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(loop, d->cmd.max_threads);
		ret = fuse_session_loop_mt(se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	/* 0, -errno, or the signal libfuse's handlers caught */
	if (ret > 0)
		log_info("stopping: %s", strsignal(ret));
	else if (ret < 0)
		log_err("session ended: %s", strerror(-ret));
	return ret < 0 ? 1 : 0;
}

/* A line from libfuse (ending in a newline) into regfs' log, once stderr
 * is gone. */
__attribute__((format(printf, 2, 0)))
static void log_from_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char *line = NULL;
	size_t len;

	if (vasprintf(&line, fmt, ap) < 0)
		return;
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_msg(level <= FUSE_LOG_ERR	    ? LOG_LVL_ERR
		: level == FUSE_LOG_WARNING ? LOG_LVL_WARN
		: level <= FUSE_LOG_INFO    ? LOG_LVL_INFO
					    : LOG_LVL_DEBUG,
		"%s", line);
	free(line);
}

/*
 * Tell the service manager the mount is up once it answers.  The kernel
 * holds every request on a mount until libfuse has answered its INIT, and
 * this stat goes through the session loop like any user's: when it
 * returns, whoever acts on READY=1 is served.  run_session joins it after
 * the unmount, which ends the stat if the mount never answered.
 */
static void *ready_watch(void *arg)
{
	const char *mountpoint = arg;
	struct stat st;

	thread_name_set("regfs-ready");
	if (stat(mountpoint, &st) == 0)
		notify_ready(mountpoint);
	return NULL;
}

/* Start ready_watch, in the daemon (threads do not outlive fuse_daemonize's
 * fork).  It blocks the signals that end the session, as libfuse's workers
 * do: the session loop's thread must get them. */
static void start_ready_watch(struct daemon *d)
{
	sigset_t ending, old;

	sigemptyset(&ending);
	sigaddset(&ending, SIGTERM);
	sigaddset(&ending, SIGINT);
	sigaddset(&ending, SIGHUP);
	sigaddset(&ending, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &ending, &old);
	d->ready_watching = pthread_create(&d->ready_watch, NULL, ready_watch,
					   d->fs.cfg.mountpoint) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Leave the terminal unless -f, then serve the mount until it is unmounted
 * or regfs is signalled.  0 or 1 (main's status). */
static int serve(struct daemon *d, struct fuse_session *se)
{
	int ret;

	if (!d->cmd.foreground) {
		/* stderr is /dev/null from fuse_daemonize on: the log goes to
		 * syslog unless it has a file, and libfuse's lines with it */
		if (!d->logfp)
			log_setup_syslog(log_level_of(d));
		fuse_set_log_func(log_from_fuse);
	}
	if (fuse_daemonize(d->cmd.foreground) != 0) {
		log_err("cannot go to the background");
		return 1;
	}
	/* logged in the daemon, so syslog shows its pid */
	log_info("mounted at '%s' (cache '%s', ttl %.0fs)%s", d->cmd.mountpoint, d->cache_dir,
		 d->fs.cfg.ttl, d->o.offline ? ", offline: no network, only what is cached" : "");
	if (ops_waiters_start() < 0) {
		log_err("cannot set up the waiter threads");
		return 1;
	}
	if (getenv("NOTIFY_SOCKET"))
		start_ready_watch(d);
	ret = session_loop(d, se);
	notify_stopping();
	/* the loop ended (unmount, or a signal): every wait ends now, so the
	 * exit does not wait for downloads nobody can read any more */
	ops_waiters_stop();
	ops_handles_drop();
	return ret;
}

/*
 * libfuse 3.14 means to take parallel directory operations (its defaults
 * want FUSE_CAP_PARALLEL_DIROPS) but never puts FUSE_PARALLEL_DIROPS in its
 * INIT reply, so the kernel sends lookups and listings of one directory one
 * at a time: sixteen `cat`s of tags in one repository queue behind each
 * other's round trips to the registry.  The session's I/O is therefore
 * ours: the INIT request is noted as it is read, and its reply gets the
 * flag when the kernel offered it.  Lookups and listings are safe in
 * parallel here (they already are across directories); the kernel still
 * runs whatever changes a directory alone.
 */
static uint64_t init_unique;     /* atomic: the INIT request's, 0 before it */
static bool init_offers_dirops;  /* atomic: the kernel offered parallel dirops */

static ssize_t session_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	if (n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) && in->opcode == FUSE_INIT &&
	    !__atomic_load_n(&init_unique, __ATOMIC_ACQUIRE)) {
		const struct fuse_init_in *init = (const void *)(in + 1);

		__atomic_store_n(&init_offers_dirops, (init->flags & FUSE_PARALLEL_DIROPS) != 0,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&init_unique, in->unique, __ATOMIC_RELEASE);
	}
	return n;
}

static ssize_t session_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	uint64_t unique = __atomic_load_n(&init_unique, __ATOMIC_ACQUIRE);

	(void)userdata;
	if (unique && count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
		const struct fuse_out_header *out = iov[0].iov_base;
		struct fuse_init_out *init = iov[1].iov_base;

		if (out->unique == unique && out->error == 0 &&
		    __atomic_load_n(&init_offers_dirops, __ATOMIC_RELAXED))
			init->flags |= FUSE_PARALLEL_DIROPS;
	}
	return writev(fd, iov, count);
}

/* Data replies (reads of cached blobs, op_read) leave through a pipe;
 * libfuse offers splice only to a custom I/O that can do it. */
static ssize_t session_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				   unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* Mount @se at @mountpoint with the session I/O above.  0 or -1. */
static int session_mount(struct fuse_session *se, const char *mountpoint)
{
	const struct fuse_custom_io io = {
		.read = session_read,
		.writev = session_writev,
		.splice_send = session_splice_send,
	};

	if (fuse_session_mount(se, mountpoint) != 0)
		return -1;
	if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0)
		log_warn("cannot take over the session's I/O: lookups in one directory "
			 "will be answered one at a time");
	return 0;
}

/* Mount, serve, unmount.  main()'s status. */
static int run_session(struct daemon *d)
{
	struct fuse_session *se;
	int ret = 1;

	se = fuse_session_new(&d->args, &regfs_ops, sizeof(regfs_ops), &d->fs);
	if (!se)
		return 1;
	ops_session_set(se);
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (session_mount(se, d->cmd.mountpoint) == 0) {
		ret = serve(d, se);
		fuse_session_unmount(se);
		if (d->ready_watching)
			pthread_join(d->ready_watch, NULL);
	}
	fuse_remove_signal_handlers(se);
out:
	ops_session_set(NULL);
	fuse_session_destroy(se);
	return ret;
}

static void daemon_release(struct daemon *d)
{
	fs_release(&d->fs);
	free(d->fs.cfg.mountpoint);
	cache_drafts_close(d->drafts);
	reg_client_free(d->client);
	cache_mem_free(d->mem);
	cache_store_free(d->store);
	free(d->state_dir);
	free(d->cache_dir);
	free(d->cafile);
	free(d->certs_dir);
	free(d->cmd.mountpoint);
	free_strv(d->o.positional);
	free_strv(d->o.registries);
	free_strv(d->o.insecure);
	free_strv(d->o.mirrors);
	free(d->o.cache_dir);
	free(d->o.state_dir);
	free(d->o.cache_max);
	free(d->o.ttl);
	free(d->o.cafile);
	free(d->o.certs_dir);
	free(d->o.logfile);
	free(d->o.auth_file);
	free(d->o.write_group);
	free(d->o.uid);
	free(d->o.gid);
	free(d->o.umask);
	free(d->o.timeout);
	free(d->o.prefetch);
	fuse_opt_free_args(&d->args);
	if (d->logfp)
		fclose(d->logfp);
}

/*
 * A core dump or a debugger attached by the same user would read whatever
 * is in memory: passwords, tokens, the Authorization headers curl keeps in
 * its request buffers.  So regfs is not dumpable (no core, no ptrace by
 * anyone but root, /proc/PID/ files root's) unless -o dumpable asks, for
 * debugging.  Set before any credential is read; it is kept across the
 * fork of fuse_daemonize.
 */
static int set_dumpable(const struct daemon *d)
{
	if (prctl(PR_SET_DUMPABLE, d->o.dumpable ? 1 : 0, 0, 0, 0) != 0) {
		fprintf(stderr, "regfs: cannot mark the process %sdumpable: %s\n",
			d->o.dumpable ? "" : "not ", strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct daemon d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	d.cache_max = DEFAULT_CACHE_MAX;
	ret = parse_args(&d, argv[0]);
	if (ret != 0)
		ret = ret > 0 ? 0 : 1; /* --help and --version are done */
	else if (set_dumpable(&d) < 0 || open_log(&d) < 0 || open_stores(&d) < 0 ||
		 open_client(&d) < 0 ||
		 open_fs(&d) < 0)
		ret = 1;
	else
		ret = run_session(&d);
	daemon_release(&d);
	return ret;
}
