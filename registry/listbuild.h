/*
 * Building manifest lists: the exact bytes regfs pushes for a draft, and
 * the small rules around them (a platform written in a link's name, the
 * ONAP image-name suffixes, which image of an index a link means).
 * Bytes and structs in, bytes and structs out: no I/O, no HTTP.
 */
#ifndef REGFS_REGISTRY_LISTBUILD_H
#define REGFS_REGISTRY_LISTBUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"
#include "registry/manifest.h"

enum reg_list_kind {
	REG_LIST_AUTO = 0, /* Docker list when every child is a Docker type, else OCI index */
	REG_LIST_DOCKER,   /* application/vnd.docker.distribution.manifest.list.v2+json */
	REG_LIST_OCI,      /* application/vnd.oci.image.index.v1+json */
};

/* ".mediatype" file content -> kind: "docker", "oci", or one of the two
 * full media type strings, case-insensitive (blanks, CRs and newlines
 * around it ignored); empty or NULL -> REG_LIST_AUTO.  Returns 0 or
 * -EINVAL (then *out is REG_LIST_AUTO). */
int reg_list_kind_parse(const char *s, enum reg_list_kind *out);

struct reg_annotation {
	const char *key;   /* borrowed */
	const char *value; /* borrowed */
};

/*
 * The list document for @children, in the order given (@n may be 0).
 * Each child needs media_type, digest and size; the media type must be
 * one of the four image / index types and is written in its canonical
 * spelling.  Images need a platform (os and architecture set); an index
 * child may go without.  Attestations (reg_descriptor_is_attestation)
 * keep their reference annotations, get platform unknown/unknown, and
 * must refer (reference_digest) to an image that is also in @children.
 * Any other child's reference_type / reference_digest are written as its
 * annotations too.  Every string must be UTF-8, and platform fields and
 * annotation keys free of control characters, so that reg_manifest_parse
 * takes the bytes back with the same entries; annotation values are
 * written verbatim (a caller reading them from files strips the newline).
 * AUTO picks a Docker list when every child's media type is a Docker type
 * (docker v2 manifest or list) and there are no annotations (@annotations
 * or a child's), else an OCI index.  A Docker list cannot carry
 * annotations or attestations: asking for one with them is -EINVAL; a
 * forced Docker list may hold OCI-typed children, as
 * `docker manifest create` makes.  A document over REG_MANIFEST_MAX
 * bytes, more than 100000 children, an empty or repeated annotation key
 * are -EINVAL too.
 * Output: indented (3 spaces, like docker) JSON, keys in a
 * fixed order (schemaVersion, mediaType, manifests, annotations; in a
 * descriptor mediaType, digest, size, platform, annotations; in a platform
 * architecture, os, os.version, os.features, variant), no trailing
 * newline; so the same input always gives the same bytes.
 * On success *bytes is new (caller frees), *type_out says which type was
 * built.  On -EINVAL *why is a new human reason (caller frees), else NULL;
 * @why may be NULL.
 * Returns 0, -EINVAL, -ENOMEM.
 */
int reg_list_build(const struct reg_descriptor *children, size_t n, enum reg_list_kind kind,
		   const struct reg_annotation *annotations, size_t n_annotations, char **bytes,
		   size_t *len, enum reg_mtype *type_out, char **why);

/*
 * A link name in platform form: "<os>-<arch>[-<variant>]", os one of the
 * GOOS names (linux, windows, darwin, freebsd, ...), arch and variant
 * [a-z0-9_]+ (any architecture: there is no allow-list), e.g.
 * "linux-mips", "linux-arm64-v8".  On success @out holds new strings for
 * os, architecture and (when given) variant; release with
 * reg_platform_release.  Returns 0, -EINVAL when @name is not in platform
 * form (then the config's platform stands), -ENOMEM.
 */
int reg_platform_from_name(const char *name, struct reg_platform *out);

/*
 * The platform an ONAP-style name suffix promises: "py-app-amd64" ->
 * linux/amd64, "-arm64v8" -> linux/arm64/v8, "-arm32v7" -> linux/arm/v7,
 * "-mips", "-ppc64le", "-s390x", "-i386" -> 386, "-riscv64", ...  Also a
 * whole name that is the suffix ("amd64").  @name may be a repository
 * path ("onap/py-app-amd64"): only its last component counts.  Matching is
 * exact and case-sensitive (repository names are lower case).  Returns
 * true and sets *arch and *variant (static strings, *variant may be NULL)
 * when @name carries a known suffix; else false with both NULL.
 */
bool reg_name_suffix_platform(const char *name, const char **arch, const char **variant);

/*
 * Which image of index @m a link to it means: the one entry that is a
 * runnable image (not an attestation: any other entry counts, whatever
 * its media type or platform), with the attestations that refer to it
 * (vnd.docker.reference.digest), in document order; attestations of
 * other digests are left out.  On success *image is its index in
 * m->entries and *attest a new array (caller frees; NULL when none) of
 * *n_attest entry indexes.  -EINVAL when @m holds no or several runnable
 * images (*n_images says how many), -ENOMEM.
 */
int reg_index_pick_image(const struct reg_manifest *m, size_t *image, size_t **attest,
			 size_t *n_attest, size_t *n_images);

/*
 * The index-level annotations of list @bytes: *keys and *values are new
 * parallel arrays of new strings (*n of them; free with
 * reg_annotations_free), empty when it has none.  -EINVAL when @bytes is
 * not a JSON object, -ENOMEM.
 */
int reg_list_annotations(const char *bytes, size_t len, char ***keys, char ***values, size_t *n);
void reg_annotations_free(char **keys, char **values, size_t n);

/*
 * Would reg_list_build() of @children (any order), @type and @annotations
 * say what list @base already says: the same type, the same children
 * (digest, size, media type and platform each) and the same annotations?
 * An amended list with no net change is then pushed as @base's own bytes,
 * digest unchanged, whatever tool wrote them.
 */
bool reg_list_same_content(const char *base, size_t len, enum reg_mtype type,
			   const struct reg_descriptor *children, size_t n,
			   const struct reg_annotation *annotations, size_t n_annotations);

#endif
