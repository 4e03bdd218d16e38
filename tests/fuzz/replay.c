/*
 * Replay a fuzz corpus through a harness without libFuzzer: every file
 * named, and every file in every directory named, is one input to
 * LLVMFuzzerTestOneInput.  A harness that finds a bug aborts, so the
 * normal build (and the ASan+UBSan one: -DREGFS_SANITIZE=ON) runs every
 * corpus as a ctest (fuzz_replay.*), and what a fuzzer found once stays
 * found.  Exits 0 when every input ran, 1 when one could not be read or
 * there were none.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_INPUT_MAX (64u << 20) /* no seed is anywhere near this */

/* Run the file @path through the harness.  0, or -1 (said on stderr). */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;
	int ret = -1;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    (unsigned long)size > REPLAY_INPUT_MAX || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	data = malloc(size ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
		goto out;
	LLVMFuzzerTestOneInput(data, (size_t)size);
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "replay: '%s': %s\n", path, errno ? strerror(errno) : "unreadable");
	free(data);
	if (f)
		fclose(f);
	return ret;
}

int main(int argc, char **argv)
{
	int failed = 0, n = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			failed |= replay_file(argv[i]) < 0;
			n++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
			failed = 1;
			continue;
		}
		while ((de = readdir(d))) {
			char *path = NULL;

			if (de->d_name[0] == '.')
				continue;
			if (asprintf(&path, "%s/%s", argv[i], de->d_name) < 0)
				return 1;
			failed |= replay_file(path) < 0;
			n++;
			free(path);
		}
		closedir(d);
	}
	printf("replayed %d input(s)%s\n", n, failed ? ", some unreadable" : "");
	return failed || n == 0;
}
