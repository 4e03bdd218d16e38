/*
 * OCI / Docker manifest formats: parsing of manifests, indexes and image
 * configs (bytes in, structs out, no I/O), and the names regfs gives to
 * index entries and layers in the tree.
 */
#ifndef REGFS_REGISTRY_MANIFEST_H
#define REGFS_REGISTRY_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/limits.h"

#define REG_MT_DOCKER_V2_STR "application/vnd.docker.distribution.manifest.v2+json"
#define REG_MT_DOCKER_LIST_STR "application/vnd.docker.distribution.manifest.list.v2+json"
#define REG_MT_OCI_MANIFEST_STR "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_OCI_INDEX_STR "application/vnd.oci.image.index.v1+json"
#define REG_MT_DOCKER_V1_STR "application/vnd.docker.distribution.manifest.v1+json"
#define REG_MT_DOCKER_V1_SIGNED_STR "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header value for manifest requests: all four supported types. */
#define REG_MANIFEST_ACCEPT                                                                        \
	REG_MT_DOCKER_V2_STR ", " REG_MT_DOCKER_LIST_STR ", " REG_MT_OCI_MANIFEST_STR             \
			     ", " REG_MT_OCI_INDEX_STR

enum reg_mtype {
	REG_MT_UNKNOWN = 0,
	REG_MT_DOCKER_V2,   /* image */
	REG_MT_OCI_MANIFEST, /* image */
	REG_MT_DOCKER_LIST, /* index */
	REG_MT_OCI_INDEX,   /* index */
	REG_MT_DOCKER_V1,   /* schema 1: recognised, unsupported */
};

/* Case-insensitive; parameters after ';' and surrounding blanks ignored,
 * so a Content-Type value can be passed as is.  Both schema 1 strings
 * map to REG_MT_DOCKER_V1. */
enum reg_mtype reg_mtype_from_string(const char *s); /* NULL or unknown -> REG_MT_UNKNOWN */
/* Canonical string (the v1 one is the "+prettyjws" type registries send). */
const char *reg_mtype_string(enum reg_mtype t);      /* static string; "" for unknown */
bool reg_mtype_is_image(enum reg_mtype t);
bool reg_mtype_is_index(enum reg_mtype t);
/* A media type as the parser accepts it: 1-REG_MEDIA_TYPE_MAX printable
 * ASCII bytes, no spaces (RFC 6838: 127 + '/' + 127). */
#define REG_MEDIA_TYPE_MAX 255
bool reg_media_type_is_valid(const char *s);

struct reg_platform {
	char *os;           /* owned; NULL when absent */
	char *architecture; /* owned; NULL when absent */
	char *variant;      /* owned; NULL when absent */
	char *os_version;   /* owned; NULL when absent */
	char **os_features; /* owned array of owned strings */
	size_t n_os_features;
};

struct reg_descriptor {
	char *media_type;                /* owned; NULL when absent */
	char digest[DIGEST_STR_LEN + 1]; /* validated */
	int64_t size;                    /* >= 0 */
	struct reg_platform *platform;   /* owned; NULL when absent */
	char *reference_type;            /* owned: annotation vnd.docker.reference.type, or NULL */
	char *reference_digest;          /* owned: annotation vnd.docker.reference.digest, or NULL */
	char *predicate_type;            /* owned: annotation in-toto.io/predicate-type, or NULL */
	char *artifact_type;             /* owned: artifactType (OCI 1.1 referrers), or NULL */
	/* Foreign layers: where else the blob may be fetched (owned strings;
	 * only http:// and https:// URLs are kept, at most REG_URLS_MAX) */
	char **urls;
	size_t n_urls;
};

/* A layer that lives outside the registry by design (Windows base layers:
 * the "foreign" and "nondistributable" media types). */
bool reg_descriptor_is_foreign(const struct reg_descriptor *d);

struct reg_manifest {
	enum reg_mtype type;
	char *media_type; /* owned: what the document or Content-Type said; may be NULL */
	int schema_version;

	/* images */
	struct reg_descriptor config;
	struct reg_descriptor *layers; /* owned array */
	size_t n_layers;

	/* indexes */
	struct reg_descriptor *entries; /* owned array, in document order */
	size_t n_entries;
	/* Directory name of each entry (owned strings), parallel to entries;
	 * NULL for entries kept out of the tree (attestations). */
	char **entry_names;

	/* OCI 1.1 (both kinds): the manifest this one is about (a
	 * signature's, an SBOM's image), when has_subject; and the kind of
	 * artifact it is (artifactType, owned, or NULL) */
	bool has_subject;
	struct reg_descriptor subject;
	char *artifact_type;
};

/*
 * Parse manifest bytes.  The type comes from the document's mediaType,
 * else from @content_type, else from its shape (config+layers -> OCI
 * manifest, manifests -> OCI index); schemaVersion 1 gives REG_MT_DOCKER_V1
 * with no descriptors.  Every digest must be valid and every size
 * non-negative, or the whole document is refused.
 * Also refused: more than REG_MANIFEST_MAX bytes, duplicate keys, invalid
 * UTF-8, strings with NULs or control characters, media types that are not
 * 1-255 printable ASCII bytes without spaces, schemaVersion other than 1 or
 * 2, more than 100000 layers/entries/os.features, annotation values that
 * are not strings, an invalid vnd.docker.reference.digest, an image without
 * a config object, an index without a manifests array.  "layers" may be
 * absent (0 layers).  m->media_type is the document's mediaType, else the
 * Content-Type without parameters, else NULL.
 * On success *out is new (caller frees with reg_manifest_free).
 * Returns 0, -EINVAL for malformed or hostile input, -ENOMEM.
 */
int reg_manifest_parse(const char *bytes, size_t len, const char *content_type,
		       struct reg_manifest **out);
void reg_manifest_free(struct reg_manifest *m); /* NULL is a no-op */

/* Index lookup by directory name; returns the entry index or -1. */
int reg_manifest_find_entry(const struct reg_manifest *m, const char *name);

/*
 * Entry directory names: "<os>-<arch>[-<variant>]", with "-<os.version>"
 * appended when os.version is set (Windows).  Each field is sanitised to
 * [A-Za-z0-9._+] (other bytes become '_', empty or missing becomes
 * "unknown"; an empty variant or os.version is left out), cut to 48 bytes,
 * and a leading '.' becomes '_', so a name is never ".", "..", hidden, or
 * contains '/', and is at most 202 bytes.  Attestations get no name.
 * When a name repeats, the first keeps it and each later one gets
 * "~<position in the array>" appended, so names are unique and stable for
 * a given document.  Done by reg_manifest_parse (m->entry_names).
 */

/* Whether @d is an attestation: platform unknown/unknown (or none)
 * carrying the vnd.docker.reference.type annotation. */
bool reg_descriptor_is_attestation(const struct reg_descriptor *d);

/* Layer file name: "<index>-<digest>", index zero-padded to the width of
 * n_layers-1 (at least 2 digits) so that `ls` keeps the order.
 * Returns a new string, or NULL on -ENOMEM. */
char *reg_layer_name(size_t index, size_t n_layers, const char *digest);
/* The layer of image @m whose reg_layer_name is @name, or -1 (none, not
 * an image, or no memory). */
long reg_layer_find(const struct reg_manifest *m, const char *name);

/* Parse the platform fields (os, architecture, variant, os.version,
 * os.features) of an image config.  Returns 0, -EINVAL, -ENOMEM; on
 * success @out holds new strings (release with reg_platform_release). */
int reg_config_platform(const char *bytes, size_t len, struct reg_platform *out);
void reg_platform_release(struct reg_platform *p);

/* "os/arch[/variant]" with ":os.version" appended where present, e.g.
 * "linux/arm64/v8" or "windows/amd64:10.0.17763.1"; a missing os or arch
 * prints as "unknown", @p NULL as "unknown/unknown".  Not sanitised (the
 * parser already refused control characters): do not use as a path.
 * New string or NULL. */
char *reg_platform_string(const struct reg_platform *p);

#endif
