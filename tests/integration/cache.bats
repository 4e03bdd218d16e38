#!/usr/bin/env bats
# The blob cache seen from outside: concurrent readers share one download, a second mount on
# the same cache directory downloads nothing, the size cap evicts without breaking reads, and a
# layer bigger than the cap is refused without a download.
# What the registry received is read from its request log.

load ../lib/suite

setup_file() { suite_setup ttl=30; }
teardown_file() {
	[[ -n ${TESTDIR:-} ]] && regfs_unmount "$TESTDIR/mnt2" 2>/dev/null
	[[ -n ${TESTDIR:-} ]] && regfs_unmount "$TESTDIR/mnt-cap" 2>/dev/null
	suite_teardown
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# blob_gets DIGEST — how many GETs of that blob the registry logged after the fixtures
blob_gets() {
	registry_log_since_fixtures | grep -c "GET /v2/[^ ]*/blobs/$1" || true
}

@test "16 parallel readers of a cold layer cause one download, and all read the right bytes" {
	local digest name i
	digest=$(sum '.refs["test/big:latest"].layers[0].digest')
	name=$(sum '.refs["test/big:latest"].layers[0].name')
	[ "$(blob_gets "$digest")" -eq 0 ]
	for i in $(seq 1 16); do
		(fs sha256sum "$R/test/big/latest/layers/$name" | cut -d' ' -f1 >"$BATS_TEST_TMPDIR/sum.$i") &
	done
	wait
	for i in $(seq 1 16); do
		[ "sha256:$(<"$BATS_TEST_TMPDIR/sum.$i")" = "$digest" ] || {
			echo "reader $i got $(<"$BATS_TEST_TMPDIR/sum.$i")" >&2
			return 1
		}
	done
	[ "$(blob_gets "$digest")" -eq 1 ]
}

@test "a second mount on the same cache directory downloads no blob again" {
	local digest name
	digest=$(sum '.refs["onap/py-app-s390x:latest"].layers[1].digest')
	name=$(sum '.refs["onap/py-app-s390x:latest"].layers[1].name')
	fs cat "$R/onap/py-app-s390x/latest/layers/$name" >/dev/null
	[ "$(blob_gets "$digest")" -eq 1 ]
	regfs_mount "$TESTDIR/mnt2" "logfile=$TESTDIR/regfs2.log"
	[ "$(sha256_of "$TESTDIR/mnt2/$REGISTRY/onap/py-app-s390x/latest/layers/$name")" = "$digest" ]
	[ "$(blob_gets "$digest")" -eq 1 ]
}

@test "cache_max: old blobs are evicted, the cache stays under the cap, evicted blobs are fetched again" {
	local cap=$((4 * 1024 * 1024)) l1 l2 l3 used before
	# three layers of 1.5 MiB: the third takes the cache past 4 MiB
	python3 "$REGFS_LIB_DIR/random_image.py" --registry "$REGISTRY" \
		test/cap1:latest=1572864 test/cap2:latest=1572864 test/cap3:latest=1572864 \
		>"$TESTDIR/cap-images"
	mapfile -t l1 < <(awk '$1 == "test/cap1:latest" { print $2; print $4 }' "$TESTDIR/cap-images")
	mapfile -t l2 < <(awk '$1 == "test/cap2:latest" { print $2; print $4 }' "$TESTDIR/cap-images")
	mapfile -t l3 < <(awk '$1 == "test/cap3:latest" { print $2; print $4 }' "$TESTDIR/cap-images")
	regfs_mount "$TESTDIR/mnt-cap" "cache_dir=$TESTDIR/cache-cap" "cache_max=4M" \
		"logfile=$TESTDIR/regfs-cap.log"
	local M="$TESTDIR/mnt-cap/$REGISTRY" C="$TESTDIR/cache-cap/blobs/sha256"

	[ "$(sha256_of "$M/test/cap1/latest/layers/${l1[1]}")" = "${l1[0]}" ]
	[ "$(sha256_of "$M/test/cap2/latest/layers/${l2[1]}")" = "${l2[0]}" ]
	[ -f "$C/${l1[0]#sha256:}" ] && [ -f "$C/${l2[0]#sha256:}" ]
	[ "$(sha256_of "$M/test/cap3/latest/layers/${l3[1]}")" = "${l3[0]}" ]
	# the least recently used layer went, the two others stay, and the cache is under its cap
	[ ! -e "$C/${l1[0]#sha256:}" ]
	[ -f "$C/${l2[0]#sha256:}" ] && [ -f "$C/${l3[0]#sha256:}" ]
	used=$(find "$C" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	((used <= cap)) || { echo "cache holds $used bytes" >&2; return 1; }

	# the evicted layer is fetched again, verified, and served
	before=$(blob_gets "${l1[0]}")
	regfs_unmount "$TESTDIR/mnt-cap"
	regfs_mount "$TESTDIR/mnt-cap" "cache_dir=$TESTDIR/cache-cap" "cache_max=4M" \
		"logfile=$TESTDIR/regfs-cap.log"
	[ "$(sha256_of "$M/test/cap1/latest/layers/${l1[1]}")" = "${l1[0]}" ]
	[ "$(blob_gets "${l1[0]}")" -gt "$before" ]
	regfs_unmount "$TESTDIR/mnt-cap"
}

@test "cache_max: a layer bigger than the cap is refused before it is downloaded: ENOSPC, one log line, nothing evicted" {
	local small small_name big big_name big_size before
	regfs_mount "$TESTDIR/mnt-cap" "cache_dir=$TESTDIR/cache-small" "cache_max=1M" \
		"logfile=$TESTDIR/regfs-small.log"
	local M="$TESTDIR/mnt-cap/$REGISTRY" C="$TESTDIR/cache-small/blobs/sha256"
	small=$(sum '.refs["onap/py-app-mips:latest"].layers[0].digest')
	small_name=$(sum '.refs["onap/py-app-mips:latest"].layers[0].name')
	big=$(sum '.refs["test/big:latest"].layers[0].digest')
	big_name=$(sum '.refs["test/big:latest"].layers[0].name')
	big_size=$(sum '.refs["test/big:latest"].layers[0].size')
	((big_size > 1024 * 1024))

	[ "$(sha256_of "$M/onap/py-app-mips/latest/layers/$small_name")" = "$small" ]
	before=$(blob_gets "$big")
	# its size is the descriptor's, as always; reading it is "No space left on device"
	[ "$(fs stat -c %s "$M/test/big/latest/layers/$big_name")" -eq "$big_size" ]
	assert_fails_with "No space left on device" fs cat "$M/test/big/latest/layers/$big_name"
	# not asked of the registry at all, nothing stored or left behind, nothing evicted
	[ "$(blob_gets "$big")" -eq "$before" ]
	[ ! -e "$C/${big#sha256:}" ]
	[ "$(find "$TESTDIR/cache-small/tmp" -mindepth 1 | wc -l)" -eq 0 ]
	[ -f "$C/${small#sha256:}" ]
	# one line that says which blob, how big, and what to raise
	grep -q "blob '$big' is 3.0 MiB, more than the cache may hold (cache_max 1.0 MiB): not downloaded; raise -o cache_max to read it" \
		"$TESTDIR/regfs-small.log"
	# the mount goes on: a small layer still reads
	[ "$(sha256_of "$M/onap/py-app-ppc64le/latest/layers/$(sum '.refs["onap/py-app-ppc64le:latest"].layers[0].name')")" = \
		"$(sum '.refs["onap/py-app-ppc64le:latest"].layers[0].digest')" ]
	regfs_unmount "$TESTDIR/mnt-cap"
}
