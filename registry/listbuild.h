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

#include "registry/manifest.h"

enum reg_list_kind {
	REG_LIST_AUTO = 0, /* Docker list when every child is a Docker type, else OCI index */
	REG_LIST_DOCKER,   /* application/vnd.docker.distribution.manifest.list.v2+json */
	REG_LIST_OCI,      /* application/vnd.oci.image.index.v1+json */
};

/* ".mediatype" file content -> kind: "docker", "oci", or one of the two
 * full media type strings (blanks and a trailing newline ignored);
 * empty -> REG_LIST_AUTO.  Returns 0 or -EINVAL. */
int reg_list_kind_parse(const char *s, enum reg_list_kind *out);

struct reg_annotation {
	const char *key;   /* borrowed */
	const char *value; /* borrowed */
};

/*
 * The list document for @children, in the order given.  Each child needs
 * media_type, digest and size; images need a platform (os and
 * architecture set); attestations (reg_descriptor_is_attestation) keep
 * their reference annotations and get platform unknown/unknown.
 * AUTO picks a Docker list when every child's media type is a Docker type
 * and there are no annotations, else an OCI index.  A Docker list cannot
 * carry annotations or attestations: asking for one with them is -EINVAL.
 * Output: compact-free, indented (3 spaces, like docker) JSON, keys in a
 * fixed order (schemaVersion, mediaType, manifests, annotations; in a
 * descriptor mediaType, digest, size, platform, annotations; in a platform
 * architecture, os, os.version, os.features, variant), no trailing
 * newline; so the same input always gives the same bytes.
 * On success *bytes is new (caller frees), *type_out says which type was
 * built.  On -EINVAL *why is a new human reason (caller frees), else NULL.
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
 * whole name that is the suffix ("amd64").  Returns true and sets *arch
 * and *variant (static strings, *variant may be NULL) when @name carries a
 * known suffix.
 */
bool reg_name_suffix_platform(const char *name, const char **arch, const char **variant);

/*
 * Which image of index @m a link to it means: the one entry that is a
 * runnable image (not an attestation), with the attestations that refer
 * to it (vnd.docker.reference.digest).  On success *image is its index in
 * m->entries and *attest a new array (caller frees; NULL when none) of
 * *n_attest entry indexes.  -EINVAL when @m holds no or several runnable
 * images (*n_images says how many), -ENOMEM.
 */
int reg_index_pick_image(const struct reg_manifest *m, size_t *image, size_t **attest,
			 size_t *n_attest, size_t *n_images);

#endif
