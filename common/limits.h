/*
 * Every size cap and count limit of regfs, in one place (as curl keeps its
 * dynbuf limits in one header): what a peer, a file or a user can make the
 * daemon read or hold.  Each says what it bounds; code that enforces one
 * names it from here, so a write and the read of the same thing, or two
 * parsers of the same document, can never disagree.
 *
 * The lengths the name grammars allow (hosts, repositories, tags, media
 * types, entry names) are rules of the formats, not caps, and stand with
 * their grammar in registry/names.h and registry/manifest.c.
 */
#ifndef REGFS_COMMON_LIMITS_H
#define REGFS_COMMON_LIMITS_H

/* --- what registries send (registry/) ------------------------------------ */

/* A manifest or an image config. */
#define REG_MANIFEST_MAX (4u << 20)
/* A token server's answer (a JSON object holding a token or two and their
 * lifetime): real ones are a few KiB; a bigger one is refused (EIO). */
#define REG_TOKEN_ANSWER_MAX (1u << 20)
/* Token scopes kept per registry (one per repository read, and one per
 * push's set of repositories): past this many the least recently used one
 * that no thread is fetching, waiting on or using is dropped (its token
 * wiped), and asked for again when next needed.  When every one is in use
 * the list goes over the cap until one is free, rather than making a
 * reader wait. */
#define REG_TOKEN_SCOPES_MAX 256
/* Descriptors in one manifest or list (layers, entries, os.features). */
#define REG_ITEMS_MAX 100000
/* URLs of one foreign layer's descriptor, and the length of each. */
#define REG_URLS_MAX 16
#define REG_URL_MAX 2048
/* One page of _catalog or tags/list, and the pages followed before a
 * listing is cut off. */
#define REG_LISTING_PAGE_MAX (16u << 20)
#define REG_LISTING_PAGES_MAX 10000
/* Tags asked for per page (n=): a page is one round trip, and 10,000 tags
 * of at most 128 bytes stay far below REG_LISTING_PAGE_MAX.  A registry
 * that refuses so many (ECR's limit is 1,000) is asked for
 * REG_TAGS_PAGE_N_SMALL; one that answers fewer links the next page. */
#define REG_TAGS_PAGE_N 10000
#define REG_TAGS_PAGE_N_SMALL 1000
/* A blob from a mirror is held back up to this size until it verifies
 * (configs always are). */
#define REG_MIRROR_HOLD_MAX (4u << 20)
/* Mirrors tried for one registry's reads (more are refused). */
#define REG_MIRRORS_MAX 8
/* Levels of indexes within indexes inspect.json goes down. */
#define REG_INSPECT_DEPTH_MAX 8

/* An error body, read only for its error code. */
#define HTTP_ERROR_BODY_MAX (64u << 10)
/* One response header line. */
#define HTTP_HEADER_MAX 8192
/* A Link header (the next page of a listing): far above any real one, it
 * bounds the work per call. */
#define HTTP_LINK_HEADER_MAX 16384
/* A WWW-Authenticate header, its challenges and each one's parameters. */
#define WWWAUTH_HEADER_MAX 8192
#define WWWAUTH_CHALLENGES_MAX 16
#define WWWAUTH_PARAMS_MAX 32

/* --- how long a registry may keep us waiting (registry/) ----------------- */

/* Seconds one request, its retries and its mirrors together, waits for the
 * start of an answer before it fails (-EIO); with -o timeout= above it,
 * that many seconds instead.  A body being received is not bounded by it
 * (a big layer on a slow link takes what it takes): only by the speed
 * floor below, and by the reader giving up (common/cancel.h). */
#define REG_REQUEST_TIMEOUT 15
/* Seconds one try waits to connect and for the start of its answer once
 * the request is sent, when -o timeout= is not given. */
#define REG_ANSWER_TIMEOUT 10
/* A transfer slower than REG_LOW_SPEED_MIN bytes a second (curl's average
 * over its last few seconds) for REG_STALL_TIMEOUT seconds (3 x -o
 * timeout= when given) is abandoned: a server trickling a few bytes a
 * second is as good as gone. */
#define REG_LOW_SPEED_MIN 1024
#define REG_STALL_TIMEOUT 30
/* Seconds, out of REG_REQUEST_TIMEOUT, kept for asking GET /v2/ when a
 * request got no answer: a host that answers that is up, and only the
 * thing asked for hangs (the host is not marked unreachable then). */
#define REG_CONFIRM_WAIT 2
/* A host found unreachable is probed in the background (GET /v2/), first
 * after REG_PROBE_FIRST seconds, each wait doubling up to REG_PROBE_MAX. */
#define REG_PROBE_FIRST 1
#define REG_PROBE_MAX 30
/* After a shortage of file descriptors (EMFILE, ENFILE: common/fdshort.h)
 * nothing idle keeps descriptors for this many seconds: pooled curl
 * handles are freed when put back, the connection cache shrinks. */
#define FD_SHORT_WINDOW 10
/* The soft descriptor limit the daemon raises itself to, at most (within
 * its hard limit). */
#define FD_SOFT_WANTED 65536
/* A failure that took less than this (seconds) is cheap to meet again: a
 * host that refuses at once is still asked by each request (quietly)
 * while it is marked unreachable; one that made us wait is not. */
#define REG_QUICK_FAILURE 1.0
/* Each RateLimit-* header value kept for the user (longer ones are cut),
 * and the text that shows them (user.regfs.ratelimit). */
#define REG_RATELIMIT_VALUE_MAX 128
#define REG_RATELIMIT_TEXT_MAX 1024

/* --- what local files hold (registry/) ----------------------------------- */

/* One file of a certs.d directory, or -o cafile=. */
#define TLS_CERT_FILE_MAX (1u << 20)
/* All the CAs of one registry, the system bundle included. */
#define TLS_CA_MAX (16u << 20)
/* A credentials file (a bigger one is refused). */
#define REG_CREDS_FILE_MAX (1u << 20)
/* What a credential helper prints (more is refused). */
#define REG_CREDS_HELPER_MAX (64u << 10)
/* Credential helper answers kept at most. */
#define CREDS_ANSWERS_MAX 64

/* --- drafts (fs/draft.c, fs/commit.c, cache/draft.c) --------------------- */

/* A file the user writes in a draft: .mediatype, .force, each annotation.
 * Writes past it are EFBIG; a bigger file put in the state directory by
 * other means is reported in .status, never read. */
#define DRAFT_USER_FILE_MAX (64u << 10)
/* .base, written by regfs: a digest and a newline. */
#define DRAFT_BASE_MAX 256u
/* .last-commit, written by regfs: why the last commit failed. */
#define DRAFT_LAST_COMMIT_MAX (64u << 10)
/* .status as generated (one line per link: bounded by the links). */
#define DRAFT_STATUS_MAX (1u << 20)
/* .order, written by regfs: the link names in the order added. */
#define DRAFT_ORDER_MAX (1u << 20)

/* --- rootfs/ and layerfs/ (fs/imagefs.c) -------------------------------------- */

/* Layer indexes and merged trees kept in memory, all together; the least
 * recently used goes first, and comes back from the index stored beside
 * its blob.  An index costs about 130 bytes a file: a Debian layer of
 * 10,000 files about 1.5 MiB. */
#define IMAGEFS_MEM_MAX (512u << 20)
/* A stored index bigger than this is not read (it is built again): more
 * than LAYER_ENTRIES_MAX entries' worth. */
#define IMAGEFS_INDEX_FILE_MAX (512u << 20)
/* A layer that could not be indexed (not a tar, a bomb) is not tried
 * again for this long: each `ls` would otherwise read the blob again. */
#define IMAGEFS_FAILURE_TTL 30.0

/* --- attestations/ (fs/attest.c) ------------------------------------------------ */

/* An in-toto statement read to show its predicate (an SBOM of a large
 * image is a few MiB; this is far past any). */
#define ATTEST_STATEMENT_MAX (64u << 20)
/* Statements of one attestation manifest shown (BuildKit attaches two or
 * three: an SBOM, provenance). */
#define ATTEST_ITEMS_MAX 256

/* --- referrers/ (fs/referrers.c) ------------------------------------------------ */

/* Referrers of one manifest shown (a fallback index may list thousands:
 * each is read to check its subject); and as many read from the referrers
 * API's pages (registry/pull.c). */
#define REFERRERS_MAX 1000
#define REG_REFERRERS_MAX REFERRERS_MAX

/* --- memory and disk (fs/main.c, fs/fs.c) ------------------------------------ */

/* The in-memory cache of tags and manifests' bytes. */
#define MEM_CACHE_MAX (64u << 20)
/* Listings (catalogs, tags) kept decoded for the TTL, all of them together:
 * the least recently used goes first; one bigger than this is not kept
 * (fs/fs.c, fs/resolve.c).  A name costs its length plus about 24 bytes,
 * so this holds some 5 million tags. */
#define LISTINGS_MEM_MAX (256u << 20)
/* Manifests kept parsed (by digest, so for good), all of them together:
 * a 20,000-entry index is parsed once, not on every lookup in it. */
#define PARSED_MEM_MAX (64u << 20)
/* Stale-if-error (fs/resolve.c): while a registry fails (unreachable, 5xx,
 * 429), a tag -> digest or a listing already seen is served as it was for
 * at most this long past its TTL; after that the failure shows.  What is
 * kept that long is bounded by the caps above (LRU), not by time. */
#define STALE_IF_ERROR_MAX (24 * 3600)
/* The marks of what is served stale now (user.regfs.stale, one log line
 * per entry going stale), all of them together. */
#define STALE_MARKS_MEM_MAX (1u << 20)
/* Host names looked up at the root that no registry answered, remembered
 * for the TTL so that asking again costs nothing (fs/resolve.c); the least
 * recently used go first.  About 50 bytes each with their errno. */
#define ROOT_MISSES_MEM_MAX (64u << 10)
/* Hosts not given with -o registry= that a mount takes in once they answer
 * (their state is kept for the mount's life); past this many a new one is
 * ENOENT, logged once. */
#define ROOT_HOSTS_MAX 256
/* The blob cache on disk when -o cache_max= is not given. */
#define DEFAULT_CACHE_MAX (10ull << 30)

/* --- the tree (fs/) -------------------------------------------------------- */

/* .downloads as generated (one line per download in flight). */
#define DOWNLOADS_TEXT_MAX (1u << 20)
/* Downloads of this many bytes or more log their start and end (smaller
 * ones only with -o verbose): a threshold, not a cap. */
#define DOWNLOAD_LOG_MIN (16ull << 20)

/* Reading ahead an index's children (fs/prefetch.c): threads at most, jobs
 * queued (more are dropped), entries of one index, and indexes remembered
 * as read ahead already. */
#define PREFETCH_THREADS 8
#define PREFETCH_QUEUE_MAX 64
#define PREFETCH_ENTRIES_MAX 32
#define PREFETCH_SEEN_MAX 64

/* Platform directories a refused link to an index names. */
#define INDEX_NAMES_SHOWN 8

/* --- the FUSE adapter (fs/ops.c) ------------------------------------------- */

/* Threads that run the requests which wait (on the network, or on another
 * request's download): each waiting request holds one, never a FUSE
 * worker, and past this many they queue.  Requests answered from the
 * caches never wait for them. */
#define WAITERS_MAX 256
/* The stack of each (curl and OpenSSL run on it). */
#define WAITER_STACK_BYTES (1u << 20)

#endif
