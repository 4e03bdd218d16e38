#!/usr/bin/env bats
# The blob cache seen from outside: concurrent readers share one download, a second mount on
# the same cache directory downloads nothing, and the size cap evicts without breaking reads.
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

@test "cache_max: old blobs are evicted, the cache stays near the cap, evicted blobs are fetched again" {
	local cap=$((1024 * 1024)) small small_name big big_name used
	regfs_mount "$TESTDIR/mnt-cap" "cache_dir=$TESTDIR/cache-cap" "cache_max=1M" \
		"logfile=$TESTDIR/regfs-cap.log"
	local M="$TESTDIR/mnt-cap/$REGISTRY"
	small=$(sum '.refs["onap/py-app-mips:latest"].layers[0].digest')
	small_name=$(sum '.refs["onap/py-app-mips:latest"].layers[0].name')
	big=$(sum '.refs["test/big:latest"].layers[0].digest')
	big_name=$(sum '.refs["test/big:latest"].layers[0].name')

	fs cat "$M/onap/py-app-mips/latest/layers/$small_name" >/dev/null
	[ -f "$TESTDIR/cache-cap/blobs/sha256/${small#sha256:}" ]
	# a 3 MiB blob into a 1 MiB cache: it stays (the one just stored is never evicted), the
	# older ones go
	[ "$(sha256_of "$M/test/big/latest/layers/$big_name")" = "$big" ]
	[ -f "$TESTDIR/cache-cap/blobs/sha256/${big#sha256:}" ]
	[ ! -e "$TESTDIR/cache-cap/blobs/sha256/${small#sha256:}" ]
	used=$(find "$TESTDIR/cache-cap/blobs/sha256" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	((used <= cap + 3 * 1024 * 1024)) || { echo "cache holds $used bytes" >&2; return 1; }

	# the evicted layer is fetched again, verified, and served
	local before
	before=$(blob_gets "$small")
	# the kernel may still hold its pages; drop them so regfs is asked
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	regfs_unmount "$TESTDIR/mnt-cap"
	regfs_mount "$TESTDIR/mnt-cap" "cache_dir=$TESTDIR/cache-cap" "cache_max=1M" \
		"logfile=$TESTDIR/regfs-cap.log"
	[ "$(sha256_of "$M/onap/py-app-mips/latest/layers/$small_name")" = "$small" ]
	[ "$(blob_gets "$small")" -gt "$before" ]
}
