/*
 * The JSON `docker manifest inspect --verbose` prints, built from what the
 * registry served: one object per image (reg_inspect_image), an array of
 * them for a list (reg_inspect_entries; an index inside a list:
 * reg_inspect_index).
 * Keys and their order follow docker's ImageManifest: Ref, Descriptor
 * (mediaType, digest, size, platform), Raw (base64 of the manifest bytes),
 * then SchemaV2Manifest (Docker v2) or OCIManifest (OCI) holding the parsed
 * manifest.
 */
#ifndef REGFS_REGISTRY_INSPECT_H
#define REGFS_REGISTRY_INSPECT_H

#include <jansson.h>

#include "common/limits.h"
#include "registry/manifest.h"

/*
 * One image: @ref is the reference to print ("localhost:5000/onap/x:latest"
 * or "host/repo@sha256:..."), @bytes/@len the exact manifest bytes, @m their
 * parse, @platform the platform to put in the Descriptor (from the list
 * entry, or from the image config; NULL to leave it out).
 * Descriptor.mediaType is the canonical string of m->type (as docker's
 * Payload() gives), digest/size are those of @bytes; in the platform,
 * architecture and os always appear ("" when NULL), os.version, os.features
 * and variant only when non-empty (ocispec omitempty).  Docker prints a
 * list as a JSON array of these objects, one per entry in index order, with
 * Ref "<name>[:tag]@<entry digest>" and the platform of the list entry.
 * Returns a new reference, or NULL when @m is not an image, @bytes is not
 * a JSON object (or is over REG_MANIFEST_MAX bytes), @ref is not UTF-8,
 * @ref or @bytes is NULL, or on -ENOMEM.
 */
json_t *reg_inspect_image(const char *ref, const char *bytes, size_t len,
			  const struct reg_manifest *m, const struct reg_platform *platform);

/*
 * One index nested in a list (docker prints none: its inspect refuses
 * them).  The element has an image's shape, Ref, Descriptor (the index's
 * canonical media type, digest, size and @platform, the list entry's) and
 * Raw, then the document under "SchemaV2ManifestList" (a Docker list) or
 * "OCIIndex", then "Manifests": @children, the inspection of its own
 * entries (an array of elements like this function's and
 * reg_inspect_image's), left out when NULL.  Takes over @children (also
 * on failure).  Returns a new reference, or NULL when @m is not an index,
 * @children not an array, @bytes not a JSON object, @ref not UTF-8, or on
 * -ENOMEM.
 */
json_t *reg_inspect_index(const char *ref, const char *bytes, size_t len,
			  const struct reg_manifest *m, const struct reg_platform *platform,
			  json_t *children);

/*
 * Where reg_inspect_entries gets the manifest of an entry: the bytes of
 * manifest @digest (in the repository being inspected), checked against
 * @digest, into *bytes (new, the caller free()s it) and *len.  Returns 0,
 * or -errno with nothing in *bytes to free.
 */
typedef int (*reg_inspect_fetch_fn)(void *arg, const char *digest, char **bytes, size_t *len);

/*
 * The inspect.json of index @m: a new array (*out, a new reference) with
 * one element per entry, in index order, each named "@prefix@<its
 * digest>" (docker names them "<name>:<tag>@<digest>" when the list was
 * asked for by tag, "<name>@<digest>" otherwise) with the entry's
 * platform: an image as reg_inspect_image prints it; an index as
 * reg_inspect_index does, its own entries inspected the same way
 * (same @prefix) down to REG_INSPECT_DEPTH_MAX levels counting @m's as
 * the first, and below that without Manifests.  An entry whose bytes do
 * not parse as a manifest (schema 1, garbage) or that reg_inspect_image /
 * reg_inspect_index refuses is left out.  The bytes of each entry come
 * from @fetch(@arg, digest, ...); no I/O here.  Returns 0, the first
 * error of @fetch (-errno, *out NULL), or -ENOMEM.
 */
int reg_inspect_entries(const char *prefix, const struct reg_manifest *m,
			reg_inspect_fetch_fn fetch, void *arg, json_t **out);

/* Serialise the way regfs serves inspect.json: like Go's
 * json.MarshalIndent(v, "", "\t") (tab indentation, keys in insertion order,
 * '<', '>', '&', U+2028, U+2029 escaped), plus a trailing newline as docker
 * prints.  *len (optional) gets the length.  New string (free()), or NULL. */
char *reg_inspect_dump(const json_t *j, size_t *len);

#endif
