#!/usr/bin/env bats
# A cache disk that fails writes (reliability row F6): a download whose write(2) into the cache's
# temporary file fails is EIO to the reader, leaves nothing under the blob's name and no temp
# file, and the same layer reads right once the disk behaves.
#
# Failing writes are injected by tests/lib/fail_writes.c, an LD_PRELOAD shim (a fault-injection
# fake) built here: write(2) on descriptors below the cache's tmp/ fails with EIO while a trigger
# file exists; the daemon's log and everything else are untouched.  strace -e inject was
# considered first: it cannot be aimed at one directory (strace 6.1 filters no descriptors, and
# -P wants exact paths while temp names are random), and failing every write(2) would fail the
# daemon's log as well.

load ../lib/suite

setup_file() {
	suite_start_registry
	if [[ -z ${REGFS_SKIP_REASON:-} ]] && ! command -v cc >/dev/null; then
		export REGFS_SKIP_REASON="no C compiler (cc) to build the fault shim"
	fi
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	cc -Wall -Wextra -shared -fPIC -o "$TESTDIR/fail_writes.so" "$REGFS_LIB_DIR/fail_writes.c" -ldl
	mkdir -p "$TESTDIR/cache/tmp"
	# the shim's settings: only the daemon is given the shim, the test changes the trigger
	export REGFS_FAULT_PREFIX="$TESTDIR/cache/tmp/" REGFS_FAULT_WHILE="$TESTDIR/fail-writes"
	export REGFS_FAULT_LOG="$TESTDIR/faults.log"
	# an ASan runtime wants to be first among the libraries; the shim only wraps write(2)
	local asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:verify_asan_link_order=0}
	ASAN_OPTIONS=$asan LD_PRELOAD="$TESTDIR/fail_writes.so" suite_mount
}
teardown_file() { suite_teardown; }
setup() { regfs_skip_if_needed; }
teardown() {
	rm -f "$TESTDIR/fail-writes"
	suite_teardown_test
}

@test "a write error in the cache's temp file: EIO to the reader, nothing stored or left in tmp/, and a later read succeeds" {
	local digest name layer mark
	digest=$(sum '.refs["test/big:latest"].layers[0].digest')
	name=$(sum '.refs["test/big:latest"].layers[0].name')
	layer="$R/test/big/latest/layers/$name"
	touch "$REGFS_FAULT_WHILE"
	mark=$(registry_log_mark)
	assert_fails_with "Input/output error" fs cat "$layer"
	# the shim did fail a write into a temp file, and the download had reached the registry
	grep -q "^write $TESTDIR/cache/tmp/" "$REGFS_FAULT_LOG"
	regfs_requests_after "$mark" | grep -q "^GET /v2/test/big/blobs/$digest 200$"
	[ ! -e "$TESTDIR/cache/blobs/sha256/${digest#sha256:}" ]
	[ -z "$(find "$TESTDIR/cache/tmp" -type f)" ] ||
		{ echo "left in tmp/:" >&2; ls -la "$TESTDIR/cache/tmp" >&2; return 1; }
	grep -q "blob 'test/big@$digest' on '$REGISTRY': Input/output error" "$TESTDIR/regfs.log"
	# the disk's failure is not the registry's: it is not marked unreachable
	! grep -q "unreachable" "$TESTDIR/regfs.log" || { cat "$TESTDIR/regfs.log" >&2; return 1; }

	rm "$REGFS_FAULT_WHILE"
	[ "$(sha256_of "$layer")" = "$digest" ]
	[ -f "$TESTDIR/cache/blobs/sha256/${digest#sha256:}" ]
	[ -z "$(find "$TESTDIR/cache/tmp" -type f)" ]
}
