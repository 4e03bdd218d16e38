/* Fuzz reg_list_build with the entries of any index the parser accepts:
 * whatever it builds parses back to the same entries, and building twice
 * gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/listbuild.h"
#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_manifest *m = NULL, *back = NULL;
	char *bytes = NULL, *again = NULL, *why = NULL;
	size_t len = 0, len2 = 0;
	enum reg_mtype type;
	enum reg_list_kind kind = size ? (enum reg_list_kind)(data[0] % 3) : REG_LIST_AUTO;

	if (reg_manifest_parse((const char *)data, size, NULL, &m) < 0 ||
	    !reg_mtype_is_index(m->type))
		goto out;
	if (reg_list_build(m->entries, m->n_entries, kind, NULL, 0, &bytes, &len, &type, &why) < 0)
		goto out;
	if (reg_manifest_parse(bytes, len, NULL, &back) < 0 || back->type != type ||
	    back->n_entries != m->n_entries)
		abort();
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(back->entries[i].digest, m->entries[i].digest) != 0 ||
		    back->entries[i].size != m->entries[i].size)
			abort();
	free(why);
	why = NULL;
	if (reg_list_build(m->entries, m->n_entries, kind, NULL, 0, &again, &len2, &type, &why) < 0 ||
	    len2 != len || memcmp(again, bytes, len) != 0)
		abort();
out:
	reg_manifest_free(m);
	reg_manifest_free(back);
	free(bytes);
	free(again);
	free(why);
	return 0;
}
