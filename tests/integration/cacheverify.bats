#!/usr/bin/env bats
# The disk cache is not trusted.  Blobs changed on disk while regfs was not mounted (a flipped
# byte, a layer cut short, a config edited to claim another architecture) or replaced by what
# another user could plant (a FIFO, a symlink, a file of another owner) are checked against their
# digest on the next mount, dropped with a line in the log, fetched again and served right; a
# FIFO blocks nothing.  Both sides: what the shell sees, and that the registry was asked again.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# cached DIGEST — the file regfs caches DIGEST in (the default cache_dir of regfs_mount)
cached() {
	echo "$TESTDIR/cache/blobs/sha256/${1#sha256:}"
}

# blob_gets DIGEST — how many GETs of that blob the registry logged after the fixtures
blob_gets() {
	registry_log_since_fixtures | grep -c "GET /v2/[^ ]*/blobs/$1" || true
}

# dropped DIGEST — how many lines of regfs' log say the cached DIGEST was dropped
dropped() {
	grep -c "cached blob '$1' dropped" "$TESTDIR/regfs.log" || true
}

@test "blobs corrupted or planted in the cache between mounts are dropped, fetched again and served right" {
	local flip flip_name cut cut_name cut_size fifo fifo_name link link_name other other_name cfg
	local s390x="$R/onap/py-app-s390x/latest" d f
	flip=$(sum '.refs["test/big:latest"].layers[0].digest')
	flip_name=$(sum '.refs["test/big:latest"].layers[0].name')
	cut=$(sum '.refs["onap/py-app-s390x:latest"].layers[1].digest')
	cut_name=$(sum '.refs["onap/py-app-s390x:latest"].layers[1].name')
	cut_size=$(sum '.refs["onap/py-app-s390x:latest"].layers[1].size')
	cfg=$(sum '.refs["onap/py-app-s390x:latest"].config.digest')
	fifo=$(sum '.refs["onap/py-app-ppc64le:latest"].layers[0].digest')
	fifo_name=$(sum '.refs["onap/py-app-ppc64le:latest"].layers[0].name')
	link=$(sum '.refs["onap/py-app-mips:latest"].layers[0].digest')
	link_name=$(sum '.refs["onap/py-app-mips:latest"].layers[0].name')
	other=$(sum '.refs["test/multi:latest"].layers[0].digest')
	other_name=$(sum '.refs["test/multi:latest"].layers[0].name')
	# five different blobs, or the cases would hide each other
	[ "$(printf '%s\n' "$flip" "$cut" "$cfg" "$fifo" "$link" "$other" | sort -u | wc -l)" -eq 6 ]

	# first mount: everything read once, so it is in the cache
	[ "$(sha256_of "$R/test/big/latest/layers/$flip_name")" = "$flip" ]
	[ "$(sha256_of "$s390x/layers/$cut_name")" = "$cut" ]
	[ "$(fs cat "$s390x/platform")" = "linux/s390x" ]
	[ "$(sha256_of "$R/onap/py-app-ppc64le/latest/layers/$fifo_name")" = "$fifo" ]
	[ "$(sha256_of "$R/onap/py-app-mips/latest/layers/$link_name")" = "$link" ]
	[ "$(sha256_of "$R/test/multi/latest/layers/$other_name")" = "$other" ]
	for d in "$flip" "$cut" "$cfg" "$fifo" "$link" "$other"; do
		[ -f "$(cached "$d")" ] || { echo "'$d' was not cached" >&2; return 1; }
		[ "$(blob_gets "$d")" -eq 1 ]
	done
	regfs_unmount "$MNT"

	# corrupt the cache (as root: the files are 0444 but root writes them anyway)
	python3 - "$(cached "$flip")" <<'PYEOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x01]))
PYEOF
	truncate -s $((cut_size / 2)) "$(cached "$cut")"
	# the same length, so only the hash can tell
	sed -i 's/"s390x"/"amd64"/g' "$(cached "$cfg")"
	grep -q '"amd64"' "$(cached "$cfg")" && ! grep -q '"s390x"' "$(cached "$cfg")"
	rm -f "$(cached "$fifo")"
	mkfifo "$(cached "$fifo")"
	# a link to a scratch copy of the right bytes: still never followed
	cp "$(cached "$link")" "$BATS_TEST_TMPDIR/link-target"
	rm -f "$(cached "$link")"
	ln -s "$BATS_TEST_TMPDIR/link-target" "$(cached "$link")"
	# the right bytes, but in a file of another user (a shared cache)
	chown 65534:65534 "$(cached "$other")"
	[ "sha256:$(sha256sum <"$(cached "$flip")" | cut -d' ' -f1)" != "$flip" ]
	[ "sha256:$(sha256sum <"$(cached "$cfg")" | cut -d' ' -f1)" != "$cfg" ]

	# second mount on the same cache directory: every access bounded by `fs`
	suite_mount
	[ "$(sha256_of "$R/test/big/latest/layers/$flip_name")" = "$flip" ]
	[ "$(sha256_of "$s390x/layers/$cut_name")" = "$cut" ]
	[ "$(fs stat -c %s "$s390x/layers/$cut_name")" -eq "$cut_size" ]
	[ "$(fs cat "$s390x/platform")" = "linux/s390x" ]
	[ "$(sha256_of "$s390x/config.json")" = "$cfg" ]
	[ "$(sha256_of "$R/onap/py-app-ppc64le/latest/layers/$fifo_name")" = "$fifo" ]
	[ "$(sha256_of "$R/onap/py-app-mips/latest/layers/$link_name")" = "$link" ]
	[ "$(sha256_of "$R/test/multi/latest/layers/$other_name")" = "$other" ]

	for d in "$flip" "$cut" "$cfg" "$fifo" "$link" "$other"; do
		# said once in the log, asked of the registry again, and a good file in the cache
		[ "$(dropped "$d")" -ge 1 ] || { echo "no 'dropped' line for '$d'" >&2; return 1; }
		[ "$(blob_gets "$d")" -eq 2 ] || { echo "'$d' fetched $(blob_gets "$d") times" >&2; return 1; }
		f=$(cached "$d")
		[ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %u "$f")" = "$(id -u)" ]
		[ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ]
	done
	# the link's target was neither removed nor written
	[ "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/link-target" | cut -d' ' -f1)" = "$link" ]
	grep -q "cached blob '$fifo' dropped: a FIFO" "$TESTDIR/regfs.log"
	grep -q "cached blob '$cfg' dropped: content hashes to" "$TESTDIR/regfs.log"
	grep -q "cached blob '$cut' dropped: $((cut_size / 2)) bytes, expected $cut_size" "$TESTDIR/regfs.log"
}
