#!/usr/bin/env bats
# A huge layer read through regfs with bounded memory (reliability row E5): blobs stream from the
# network into a temporary file of the cache and are hashed on the way, never held whole.
#
# A 2 GiB layer is what a real registry cannot be given cheaply, so tests/lib/big_blob_registry.py
# (a fake) holds one image whose layer it generates on the fly, the same bytes every time, with
# its digest computed before it starts.  BIGBLOB_MIB sets the size (default 2048).  The bound on
# the daemon's peak RSS (VmHWM) is memory, not time, so it is asserted; under a sanitizer it is
# left out (their allocators keep freed memory).

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
}
teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	_stop_pidfile "$TESTDIR/big.pid" 5 || true
	rm -rf -- "$TESTDIR/cache"
}
setup() { regfs_skip_if_needed; }
teardown() { suite_teardown_test; }

HWM_BOUND_KIB=$((100 * 1024))

@test "a 2 GiB layer reads right through cat and sha256sum, and the daemon's peak RSS stays under 100 MiB" {
	local mib=${BIGBLOB_MIB:-2048} size port digest need free pid hwm layer out
	size=$((mib * 1024 * 1024))
	# the cache holds the whole blob once, plus room to spare
	need=$((mib + 256))
	free=$(df -Pm "$TESTDIR" | awk 'NR == 2 { print $4 }')
	((free > need)) || skip "$free MiB free where the cache goes, $need MiB needed"

	port=$(daemon_start "$TESTDIR" big 120 python3 "$REGFS_LIB_DIR/big_blob_registry.py" \
		--size "$size" --log "$TESTDIR/big.log")
	digest=$(head -n 1 "$TESTDIR/big.stderr")
	[[ $digest == sha256:* ]]
	export REGISTRY="127.0.0.1:$port" MNT="$TESTDIR/mnt"
	regfs_mount "$MNT" "cache_dir=$TESTDIR/cache" cache_max=0
	pid=$(<"$(regfs_pidfile "$MNT")")
	layer="$MNT/$REGISTRY/big/blob/latest/layers/00-$digest"
	[ "$(stat -c %s "$layer")" -eq "$size" ]

	# the first read downloads, verifies and stores it; the second is served from the cache
	FS_TIMEOUT=400 fs cat "$layer" >/dev/null
	out=$(FS_TIMEOUT=400 fs sha256sum "$layer")
	[ "sha256:${out%% *}" = "$digest" ]
	# one download, whole
	[ "$(grep -c "^GET /v2/big/blob/blobs/$digest " "$TESTDIR/big.log")" -eq 1 ]
	[ "$(stat -c %s "$TESTDIR/cache/blobs/sha256/${digest#sha256:}")" -eq "$size" ]

	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
	echo "# $mib MiB layer: regfs VmHWM $hwm KiB" >&3
	if ! regfs_instrumented; then
		((hwm < HWM_BOUND_KIB)) || { echo "VmHWM $hwm KiB, bound $HWM_BOUND_KIB KiB" >&2; return 1; }
	fi
	regfs_unmount "$MNT"
	rm -rf -- "$TESTDIR/cache"
}
