#!/usr/bin/env bats
# How a mount ends when something else ends it (reliability rows G5, G6, G7): the daemon
# SIGKILLed, the mount unmounted from outside (also lazily, with a file open), and the FUSE
# connection aborted through /sys/fs/fuse/connections with readers waiting.  A waiting reader
# needs a download that does not end: the 3 MiB layer of test/big comes through
# tests/lib/paging_proxy.py at 2 KB/s (--blob-rate, that blob only).  Each test mounts its own
# regfs at $TESTDIR/mnt-<name> and leaves nothing mounted or running.

load ../lib/suite

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	slow_layer_proxy_start
}
teardown_file() { suite_teardown; }
setup() { regfs_skip_if_needed; }
teardown() {
	local p
	for p in ${READERS:-}; do
		kill -KILL "$p" 2>/dev/null || true
	done
	# every mount this test made, dead ones too (a dead FUSE mount fails even `test -d`)
	for p in ${MOUNTS:-}; do
		regfs_unmount "$p"
	done
	if mountpoint -q "$TESTDIR/fusectl" 2>/dev/null; then
		umount "$TESTDIR/fusectl" || true
	fi
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR/regfs.stderr"
}

# mount_as NAME [OPTION...] — regfs at $TESTDIR/mnt-NAME with its own log; MNTX and PID set
mount_as() {
	MNTX="$TESTDIR/mnt-$1"
	MOUNTS="${MOUNTS:-} $MNTX"
	regfs_mount "$MNTX" "registry=$SLOW" "logfile=$TESTDIR/regfs-$1.log" "${@:2}"
	PID=$(<"$(regfs_pidfile "$MNTX")")
}

# start_slow_reader — a reader of test/big's layer through the slow proxy on $MNTX, in the
# background (its pid in READER, and in READERS for teardown); returns once the download shows
# in .downloads, i.e. the reader waits on it
start_slow_reader() {
	python3 -c 'import sys
with open(sys.argv[1], "rb") as f:
    f.read()' "$MNTX/$SLOW/test/big/latest/layers/$BIG_NAME" </dev/null >/dev/null 2>&1 3>&- &
	READER=$!
	READERS="${READERS:-} $READER"
	_wait_until 30 fs grep -q "^$BIG " "$MNTX/.downloads"
}

# gone_within SECONDS PID — succeed once PID has exited, fail at the deadline
gone_within() {
	_wait_until "$1" _pid_gone "$2" || { echo "pid $2 still there after $1 s" >&2; return 1; }
}

# no_crash — regfs' stderr holds no sanitizer report and no fatal signal
no_crash() {
	! grep -E '^==[0-9]+==ERROR|runtime error:|Segmentation fault|Aborted|SUMMARY: ' "$TESTDIR/regfs.stderr" || false
}

@test "SIGKILL: the mount point says ENOTCONN, fusermount3 -u clears it, a new daemon there reuses the cache" {
	local layer mark
	mount_as killed
	layer=$(fs ls "$MNTX/$REGISTRY/onap/py-app-amd64/latest/layers" | head -n 1)
	fs cat "$MNTX/$REGISTRY/onap/py-app-amd64/latest/layers/$layer" >"$TESTDIR/layer.1"
	kill -KILL "$PID"
	gone_within 5 "$PID"
	assert_fails_with "Transport endpoint is not connected" stat "$MNTX/"
	fusermount3 -u "$MNTX"
	! _is_mounted "$MNTX" || false
	mark=$(registry_log_mark)
	mount_as killed
	fs cat "$MNTX/$REGISTRY/onap/py-app-amd64/latest/layers/$layer" >"$TESTDIR/layer.2"
	cmp "$TESTDIR/layer.1" "$TESTDIR/layer.2"
	# from the cache the first daemon filled (hashed again by the new one), not downloaded
	! regfs_requests_after "$mark" | grep -q "/blobs/${layer#*-} " || false
}

@test "fusermount3 -u from outside ends the daemon by itself" {
	mount_as unmounted
	fs cat "$MNTX/$REGISTRY/onap/py-app-amd64/latest/manifest.json" >/dev/null
	fusermount3 -u "$MNTX"
	# no signal from the test: regfs sees the session end and exits
	gone_within 10 "$PID"
	no_crash
}

@test "a lazy unmount with a reader waiting on a slow download: the reader's SIGKILL lets the daemon end" {
	local reader
	mount_as lazywait
	start_slow_reader
	reader=$READER
	fusermount3 -uz "$MNTX"
	! _is_mounted "$MNTX" || false
	# the open file keeps the connection: regfs serves on until it is closed
	kill -0 "$PID"
	kill -KILL "$reader"
	gone_within 5 "$reader"
	gone_within 20 "$PID"
	no_crash
}

@test "a lazy unmount with a file open: the file still reads; the daemon ends when it is closed" {
	local f
	mount_as lazy
	f="$MNTX/$REGISTRY/onap/py-app-amd64/latest/manifest.json"
	exec 4<"$f"
	fusermount3 -uz "$MNTX"
	! _is_mounted "$MNTX" || false
	# the open file is still served (the connection lives while it is open)
	jq -e .schemaVersion <&4 >/dev/null
	kill -0 "$PID"
	exec 4<&-
	gone_within 10 "$PID"
	no_crash
}

@test "an abort through the fusectl connections directory: waiting readers fail, the daemon exits without a crash" {
	local conn ctl=/sys/fs/fuse/connections reader
	if ! compgen -G "$ctl/*" >/dev/null; then
		# fusectl is not mounted at its usual place: mount it in the test's own directory
		# (one kernel instance: every mount of it shows the same connections)
		ctl="$TESTDIR/fusectl"
		mkdir -p "$ctl"
		mount -t fusectl fusectl "$ctl" 2>/dev/null || skip "cannot mount fusectl"
	fi
	mount_as aborted
	conn=$(mountpoint -d "$MNTX" | cut -d: -f2)
	start_slow_reader
	reader=$READER
	echo 1 >"$ctl/$conn/abort"
	[[ $ctl == /sys/* ]] || umount "$ctl"
	gone_within 10 "$reader"
	run wait "$reader"
	[ "$status" -ne 0 ]
	gone_within 20 "$PID"
	no_crash
	# the mount point is dead until unmounted; teardown's regfs_unmount clears it
	assert_fails_with "Transport endpoint is not connected" stat "$MNTX/"
}
