/*
 * Fuzz reg_manifest_parse and everything built on its result: entry names
 * (which must always be safe path components and unique), lookups, layer
 * names and inspect.json.  The first byte picks the Content-Type so the
 * type fallbacks are reached too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/inspect.h"
#include "registry/listbuild.h"
#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
	NULL,
	REG_MT_DOCKER_V2_STR,
	REG_MT_DOCKER_LIST_STR,
	REG_MT_OCI_MANIFEST_STR,
	REG_MT_OCI_INDEX_STR "; charset=utf-8",
	REG_MT_DOCKER_V1_SIGNED_STR,
	"application/json",
	"",
};

static void name_check(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '.' || strchr(s, '/'))
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._+-~", c)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_manifest *m = NULL;
	const char *ct;

	if (size < 1)
		return 0;
	ct = content_types[data[0] % (sizeof(content_types) / sizeof(content_types[0]))];
	data++;
	size--;
	if (reg_manifest_parse((const char *)data, size, ct, &m) < 0) {
		if (m)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m->n_entries; i++) {
		char *ps;

		if (!digest_is_valid(m->entries[i].digest) || m->entries[i].size < 0)
			abort();
		if (m->entry_names[i]) {
			name_check(m->entry_names[i]);
			/* Unique: a lookup finds this very entry. */
			if (reg_manifest_find_entry(m, m->entry_names[i]) != (int)i)
				abort();
		}
		ps = reg_platform_string(m->entries[i].platform);
		free(ps);
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		char *ln = reg_layer_name(i, m->n_layers, m->layers[i].digest);

		if (!ln || strlen(ln) < DIGEST_STR_LEN + 3)
			abort();
		free(ln);
	}
	if (reg_mtype_is_index(m->type)) {
		/* a list says what it says: compared with its own entries and
		 * annotations it is the same (an amend with no net change) */
		char **keys = NULL, **values = NULL;
		struct reg_annotation *ann;
		size_t n_ann = 0;

		if (reg_list_annotations((const char *)data, size, &keys, &values, &n_ann) < 0)
			abort();
		ann = calloc(n_ann + 1, sizeof(*ann));
		if (!ann)
			abort();
		for (size_t i = 0; i < n_ann; i++) {
			ann[i].key = keys[i];
			ann[i].value = values[i];
		}
		/* (by its own words: without a Content-Type to go by; and
		 * non-string annotation values are not annotations: then no) */
		if (!ct && !memmem(data, size, "\"annotations\"", 13) &&
		    !reg_list_same_content((const char *)data, size, m->type, m->entries,
					   m->n_entries, ann, n_ann))
			abort();
		free(ann);
		reg_annotations_free(keys, values, n_ann);
	}
	if (reg_mtype_is_image(m->type)) {
		struct reg_platform p = {(char *)"linux", (char *)"amd64", NULL, NULL, NULL, 0};
		json_t *j = reg_inspect_image("localhost:5000/a/b:c", (const char *)data, size, m, &p);
		char *s;

		if (!j)
			abort(); /* the bytes parsed as a manifest, so they are JSON */
		s = reg_inspect_dump(j, NULL);
		if (!s)
			abort();
		free(s);
		json_decref(j);
	}
	reg_manifest_free(m);
	return 0;
}
