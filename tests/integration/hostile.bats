#!/usr/bin/env bats
# A hostile registry (tests/lib/hostile_registry.py, a fake: real registries refuse to store
# such things): oversized, lying, non-JSON and schema 1 manifests, blobs whose size differs
# from their descriptor, and a request that is never answered.  regfs must refuse each with a
# clear error, cache nothing bad, never hang, and keep serving what is sound.

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	mkdir -p "$TESTDIR/hostile"
	local port
	port=$(daemon_start "$TESTDIR/hostile" hostile 10 python3 "$REGFS_LIB_DIR/hostile_registry.py" \
		--log "$TESTDIR/hostile/requests.log")
	export REGISTRY="127.0.0.1:$port"
	_wait_until 10 curl -fsS "http://$REGISTRY/v2/"
	# timeout=2: connect 2 s, stall limit 6 s, so the never-answered request fails quickly
	regfs_mount "$TESTDIR/mnt" timeout=2
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	_stop_pidfile "$TESTDIR/hostile/hostile.pid" 5 || true
}

setup() {
	regfs_skip_if_needed
	R="$TESTDIR/mnt/$REGISTRY"
}

teardown() { suite_teardown_test; }

log_has() {
	grep -qF -- "$1" "$TESTDIR/regfs.log" || {
		echo "regfs.log lacks '$1':" >&2
		tail -n 20 "$TESTDIR/regfs.log" >&2
		return 1
	}
}

no_blob_cached() {
	local n
	n=$(find "$TESTDIR/cache/blobs/sha256" -type f -name "${1#sha256:}" 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || { echo "cache holds $1" >&2; return 1; }
}

layer_digest() {
	curl -fsS "http://$REGISTRY/v2/$1/manifests/latest" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])'
}

@test "the control image is served and verifies" {
	local digest
	digest=$(layer_digest hostile/ok)
	run fs ls "$R/hostile/ok/latest/layers"
	[ "$status" -eq 0 ]
	[ "$(sha256_of "$R/hostile/ok/latest/layers/00-$digest")" = "$digest" ]
}

@test "a manifest over 4 MiB is refused with EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/big/latest"
	log_has "manifest 'hostile/big:latest'"
	log_has "larger than"
}

@test "a manifest whose Docker-Content-Digest lies is refused with EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/liar/latest"
	log_has "manifest 'hostile/liar:latest'"
}

@test "bytes that are not a manifest give EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/garbage/latest"
}

@test "a schema 1 manifest is shown as unsupported, not crashed on" {
	local dir="$R/hostile/v1/latest"
	run fs ls "$dir"
	[ "$status" -eq 0 ]
	assert_lines "$(printf 'digest\nmanifest.json')" "$output" "ls $dir"
	[ "$(sha256_of "$dir/manifest.json")" = "$(fs cat "$dir/digest")" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = \
		"application/vnd.docker.distribution.manifest.v1+prettyjws" ]
}

@test "a blob shorter or longer than its descriptor is EIO and not cached" {
	local repo digest
	for repo in hostile/shortblob hostile/longblob; do
		digest=$(layer_digest "$repo")
		assert_fails_with "Input/output error" fs cat "$R/$repo/latest/layers/00-$digest"
		no_blob_cached "$digest"
	done
}

@test "a request that is never answered fails in bounded time, and the mount goes on" {
	local start=$SECONDS
	FS_TIMEOUT=90 assert_fails_with "Input/output error" fs ls "$R/hostile/slow/latest"
	((SECONDS - start < 60)) || { echo "took $((SECONDS - start)) s" >&2; return 1; }
	run fs ls "$R/hostile/ok/latest"
	[ "$status" -eq 0 ]
	[[ $output == *manifest.json* ]]
}
