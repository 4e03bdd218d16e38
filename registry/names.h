/*
 * Validation of the names a registry hands us.  Anything that fails here is
 * skipped, never turned into a path: these checks are what keep a hostile
 * registry from creating "..", "/" or control characters in the tree.
 * Grammar follows the distribution reference grammar.
 */
#ifndef REGFS_REGISTRY_NAMES_H
#define REGFS_REGISTRY_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define REG_REPO_MAX 255
#define REG_TAG_MAX 128

/* A registry host as a user writes it: "localhost", "localhost:5000",
 * "registry.example.com", "127.0.0.1:5000", "[::1]:5000".  Must contain a
 * '.' or ':' or be exactly "localhost"; never starts with '.'; port 1-65535. */
bool reg_name_is_host(const char *s);

/* One path component of a repository name: [a-z0-9]+ joined by separators
 * '.', '_', '__' or one or more '-'. */
bool reg_name_is_component(const char *s);
/* Same, for the first @len bytes of @s. */
bool reg_name_is_component_n(const char *s, size_t len);

/* A full repository name: components joined by '/', at most 255 bytes. */
bool reg_name_is_repo(const char *s);

/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool reg_name_is_tag(const char *s);

/* True for loopback hosts (localhost, 127.0.0.0/8, ::1), with or without
 * a port: these may be spoken to over plain HTTP by default. */
bool reg_host_is_loopback(const char *host);

#endif
