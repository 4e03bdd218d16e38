#!/usr/bin/env bats
# Faults: a blob whose bytes do not match its digest, and a registry that goes away.
# Mounted with ttl=1 so metadata expires quickly.

load ../lib/suite

setup_file() { suite_setup ttl=1; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# cache_lacks HEX — succeed when no file under the cache dir has HEX in its name (also
# temporary files: nothing of a bad download may stay)
cache_lacks() {
	local found
	found=$(find "$TESTDIR/cache" -name "*$1*" 2>/dev/null)
	[ -z "$found" ] || { echo "cache holds the bad blob: $found" >&2; return 1; }
}

# put_manifest TAG FILE — push FILE's bytes as test/windows:TAG, straight to the registry
put_manifest() {
	local mt
	mt=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["mediaType"])' "$2")
	curl -fsS -X PUT -H "Content-Type: $mt" --data-binary "@$2" \
		"http://$REGISTRY/v2/test/windows/manifests/$1" >/dev/null
}

@test "a corrupted layer blob reads as EIO and is not cached" {
	local digest hex blob name dir
	digest=$(sum '.refs["test/corrupt:latest"].layers[0].digest')
	name=$(sum '.refs["test/corrupt:latest"].layers[0].name')
	hex=${digest#sha256:}
	dir="$R/test/corrupt/latest/layers"
	cache_lacks "$hex"

	# flip bytes in the registry's copy, keeping the size (the registry does not re-check)
	blob=$(registry_blob_path "$REGISTRY_DIR" "$digest")
	[ -f "$blob" ]
	python3 - "$blob" <<'PYEOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(min(len(b), 32)):
    b[len(b) // 2 - 16 + i] ^= 0xFF
open(p, "wb").write(bytes(b))
PYEOF
	run curl -fsS -o /dev/null "http://$REGISTRY/v2/test/corrupt/blobs/$digest"
	[ "$status" -eq 0 ]

	# the listing and st_size come from the manifest: they still work
	[ "$(fs stat -c %s "$dir/$name")" = "$(sum '.refs["test/corrupt:latest"].layers[0].size')" ]
	assert_fails_with "Input/output error" fs cat "$dir/$name"
	cache_lacks "$hex"
	# a second read fails the same way: nothing bad was kept anywhere
	assert_fails_with "Input/output error" fs cat "$dir/$name"
	cache_lacks "$hex"

	# the other, intact layer of the same image reads fine
	name=$(sum '.refs["test/corrupt:latest"].layers[1].name')
	fetch_blob test/corrupt "$(sum '.refs["test/corrupt:latest"].layers[1].digest')" "$BATS_TEST_TMPDIR/ok"
	fs cmp "$BATS_TEST_TMPDIR/ok" "$dir/$name"
}

@test "registry down: errors are not ENOENT, come back in time, and the mount recovers" {
	local start elapsed
	# something cached, then the registry goes away and the ttl passes
	fs ls "$R/onap" >/dev/null
	registry_stop "$REGISTRY_DIR"
	sleep 2.5

	start=$SECONDS
	run timeout -k 5 60 ls "$R/test/uncached/latest"
	elapsed=$((SECONDS - start))
	echo "ls with the registry down: status $status after ${elapsed}s: $output" >&2
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] && [ "$status" -ne 137 ] || { echo "ls hung (timed out)" >&2; return 1; }
	[[ $output != *"No such file or directory"* ]]

	run timeout -k 5 60 cat "$R/test/uncached/latest/digest"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] && [ "$status" -ne 137 ]
	[[ $output != *"No such file or directory"* ]]

	# the mount itself is alive
	mountpoint -q "$MNT"
	fs ls "$MNT" >/dev/null

	registry_restart "$REGISTRY_DIR"
	local deadline=$((SECONDS + 20)) ok=
	while ((SECONDS < deadline)); do
		if fs ls "$R/test/uncached/latest" >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.5
	done
	[ -n "$ok" ] || { echo "mount did not recover after registry_restart" >&2; regfs_log_tail >&2; return 1; }
	cmp <(sum '.refs["test/uncached:latest"].digest') <(fs cat "$R/test/uncached/latest/digest")
	cmp <(sum '.refs["onap/py-app-amd64:latest"].digest') <(fs cat "$R/onap/py-app-amd64/latest/digest")
}

@test "a tag that moves is followed after the TTL, with the new bytes whole" {
	local dir="$R/test/windows/moving" a b
	a="$BATS_TEST_TMPDIR/a.json"
	b="$BATS_TEST_TMPDIR/b.json"
	fetch_manifest test/windows latest "$a"
	fetch_manifest test/windows image "$b"
	[ "$(stat -c %s "$a")" -ne "$(stat -c %s "$b")" ]
	put_manifest moving "$a"
	fs cmp "$a" "$dir/manifest.json"
	[ "$(stat -c %s "$dir/manifest.json")" -eq "$(stat -c %s "$a")" ]
	run fs ls "$dir"
	[[ $output == *windows-amd64* ]]

	put_manifest moving "$b"
	sleep 2.5 # ttl=1 (and the kernel's attribute cache follows the TTL)
	fs cmp "$b" "$dir/manifest.json"
	[ "$(fs cat "$dir/digest")" = "$(sha256_of "$b")" ]
	run fs ls "$dir"
	[[ $output == *layers* ]]
}

# The kernel keeps no listing that may change (fs/ops.c, PASS_RING): a tag pushed from outside
# shows in ls of its repository, and a tag that moves shows its new entries, once the TTL is
# over, on a mount where both were listed before.
@test "a tag pushed from outside shows in ls of its repository after the TTL; a moved tag's listing follows" {
	local a b dir="$R/test/windows/relisted"
	a="$BATS_TEST_TMPDIR/a.json"
	b="$BATS_TEST_TMPDIR/b.json"
	fetch_manifest test/windows latest "$a"
	fetch_manifest test/windows image "$b"
	put_manifest relisted "$a"
	sleep 1.5
	run fs ls "$R/test/windows"
	[[ $output == *relisted* && $output != *pushed-later* ]]
	run fs ls "$dir"
	[[ $output == *windows-amd64* && $output != *layers* ]]
	put_manifest pushed-later "$a"
	put_manifest relisted "$b"
	sleep 2.5 # ttl=1, and the kernel's attributes follow it
	run fs ls "$R/test/windows"
	[[ $output == *pushed-later* ]]
	run fs ls "$dir"
	[[ $output == *layers* && $output != *windows-amd64* ]]
}

@test "a tag that moves inside the kernel's attribute window is still read whole" {
	# The tag's files get their size from the manifest cached when the directory was
	# listed; the tag then moves to a larger manifest; a read after the cached entry expired
	# but while the kernel still holds the old size must return the new bytes in full.
	local dir="$R/test/windows/window" a b
	a="$BATS_TEST_TMPDIR/a.json"
	b="$BATS_TEST_TMPDIR/b.json"
	fetch_manifest test/windows image "$a"
	fetch_manifest test/windows latest "$b"
	[ "$(stat -c %s "$b")" -gt "$(stat -c %s "$a")" ]
	put_manifest window "$a"
	sleep 1.5 # the tag listing (ttl=1) must show the new tag
	fs ls "$dir" >/dev/null          # the manifest is cached now (for ttl=1)
	put_manifest window "$b"
	sleep 0.5
	fs stat "$dir/manifest.json" >/dev/null # the kernel learns the old size (for 1 s)
	sleep 0.7                        # the cached manifest expired, the kernel's size did not
	fs cmp "$b" "$dir/manifest.json"
}

@test "registry down: tags and listings seen are served stale (user.regfs.stale, one log line each); after it, fresh again and nothing negative was kept" {
	local repo="$R/onap/py-app-arm64v8" want lines before after
	want=$(sum '.refs["onap/py-app-arm64v8:latest"].digest')
	# seen: the catalog (ls of the registry), the tags list, the tag
	fs ls "$R" >/dev/null
	fs ls "$repo" >/dev/null
	[ "$(fs cat "$repo/latest/digest")" = "$want" ]
	run getfattr --absolute-names -n user.regfs.stale "$repo"
	[ "$status" -ne 0 ] # fresh: no mark
	before=$(grep -c 'serving its last answer' "$TESTDIR/regfs.log" || true)

	registry_stop "$REGISTRY_DIR"
	sleep 2.5 # ttl=1, and the kernel's entries follow it
	for _ in 1 2; do
		run fs ls "$R"
		[ "$status" -eq 0 ] && [[ $output == *onap* ]]
		run fs ls "$repo"
		[ "$status" -eq 0 ] && [[ $output == *latest* ]]
		[ "$(fs cat "$repo/latest/digest")" = "$want" ]
		sleep 1.2
	done
	# marked on each directory: the registry's (catalog), the repository's (tags), the tag's
	[[ $(xattr "$R" user.regfs.stale) == since=*error=EIO ]]
	[[ $(xattr "$repo" user.regfs.stale) == since=*error=EIO ]]
	[[ $(xattr "$repo/latest" user.regfs.stale) == since=*error=EIO ]]
	fs getfattr --absolute-names -d -m - "$repo" | grep -q '^user.regfs.stale='
	# one log line per entry going stale, however often it was served
	after=$(grep -c 'serving its last answer' "$TESTDIR/regfs.log")
	echo "stale lines: $before before, $after after" >&2
	[ $((after - before)) -eq 3 ]
	[ "$(grep -c "tags of '$REGISTRY/onap/py-app-arm64v8'.*serving its last answer" "$TESTDIR/regfs.log")" -eq 1 ]
	# never seen: the outage shows as EIO, never as "no such file"
	assert_fails_with "Input/output error" fs cat "$R/onap/py-app-ppc64le/latest/digest"

	registry_restart "$REGISTRY_DIR"
	# what failed during the outage works at once: no negative entry came from it
	cmp <(sum '.refs["onap/py-app-ppc64le:latest"].digest') <(fs cat "$R/onap/py-app-ppc64le/latest/digest")
	sleep 1.2 # past the TTL: the next look asks the registry, which answers
	fs ls "$repo" >/dev/null
	fs ls "$R" >/dev/null
	[ "$(fs cat "$repo/latest/digest")" = "$want" ]
	for d in "$R" "$repo" "$repo/latest"; do
		run getfattr --absolute-names -n user.regfs.stale "$d"
		[ "$status" -ne 0 ] || { echo "'$d' still marked stale: $output" >&2; return 1; }
	done
}
