#!/usr/bin/env bats
# Requests that wait never freeze the mount, and every wait has a way out (issue 10):
#   - Ctrl-C (SIGINT) or SIGKILL of a reader stuck on a slow download returns within a second
#     or two, though the download itself goes on for nobody or for others;
#   - twenty readers stuck on one slow download leave `ls MOUNT/`, a cached file and another
#     registry answering;
#   - SIGTERM of regfs with a download in flight exits promptly, and nothing half-downloaded is
#     left under the blob's name.
# A slow link is what loopback cannot be: the 3 MiB layer of test/big comes through
# tests/lib/paging_proxy.py at 2 KB/s (--blob-rate, that one blob only, so it would take
# about 25 minutes); everything else is the real registry, also mounted directly.  Deadlines
# are generous bounds, not timings: before waiters and interrupts, each of these hung until
# the download ended.

load ../lib/suite

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	slow_layer_proxy_start
	suite_mount "registry=$SLOW" verbose
	export LAYER="$MNT/$SLOW/test/big/latest/layers/$BIG_NAME"
}
teardown_file() {
	[[ -z ${TESTDIR:-} ]] || regfs_unmount "$TESTDIR/mnt2" || true
	suite_teardown
}
setup() { regfs_skip_if_needed; }
teardown() {
	local p stuck=
	# readers a failed test left: SIGKILL, then wait (bounded) so none outlives the test
	for p in ${READERS:-}; do
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in ${READERS:-}; do
		_wait_until 5 _pid_gone "$p" || stuck=1
	done
	if [[ -n $stuck ]]; then
		# a reader the kernel holds for an answer that does not come (what this file tests):
		# only the daemon's end frees it.  Kill it, and mount again for the next test.
		echo "readers still waiting after SIGKILL: killing regfs" >&2
		for p in "$MNT" "$TESTDIR/mnt2"; do
			[[ -s $(regfs_pidfile "$p") ]] && kill -KILL "$(<"$(regfs_pidfile "$p")")" 2>/dev/null
		done
		for p in $READERS; do
			_wait_until 10 _pid_gone "$p" || true
		done
		regfs_unmount "$MNT" || true
		regfs_unmount "$TESTDIR/mnt2" || true
		suite_mount "registry=$SLOW" verbose || true
	fi
	suite_teardown_test
}

# start_reader FILE — read FILE to /dev/null in the background, in a python that takes SIGINT
# as an interactive cat would (a background job of a script ignores it); its pid is READER,
# and is appended to READERS (for teardown).  Not in $(...): the pids must reach this shell.
start_reader() {
	python3 -c 'import signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
with open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        pass' "$1" </dev/null >/dev/null 2>&1 3>&- &
	READER=$!
	READERS="${READERS:-} $READER"
}

# wait_download_started DIGEST — until .downloads lists DIGEST (bounded; twenty pythons
# starting on a busy machine take a while).
wait_download_started() {
	FS_TIMEOUT=2 _wait_until 30 fs grep -q "^$1 " "$MNT/.downloads"
}

# gone_within SECONDS PID — succeed once PID has exited, fail at the deadline.
gone_within() {
	local deadline=$((SECONDS + $1))
	while kill -0 "$2" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			echo "pid $2 still there after $1 s: $(cat /proc/"$2"/stat 2>/dev/null | cut -d' ' -f3)" >&2
			return 1
		fi
		sleep 0.1
	done
}

@test "Ctrl-C of a reader waiting on a slow download returns at once" {
	start_reader "$LAYER"
	wait_download_started "$BIG"
	sleep 0.5
	kill -INT "$READER"
	gone_within 5 "$READER"
	# the mount answers after it, and the aborted download is not served as the blob
	fs ls "$MNT/" >/dev/null
	run fs ls "$TESTDIR/cache/blobs/sha256/${BIG#sha256:}"
	[ "$status" -ne 0 ]
}

@test "SIGKILL of a reader waiting on a slow download returns at once" {
	start_reader "$LAYER"
	wait_download_started "$BIG"
	sleep 0.5
	kill -KILL "$READER"
	gone_within 5 "$READER"
	fs ls "$MNT/" >/dev/null
}

@test "twenty readers waiting on a slow download leave the root, cached files and other registries answering" {
	local i cached="$R/test/multi/latest/manifest.json"
	# a cached file, read once before the readers come
	fs cat "$cached" >"$TESTDIR/cached.1"
	for ((i = 0; i < 20; i++)); do
		start_reader "$LAYER"
	done
	wait_download_started "$BIG"
	sleep 1
	# each of these hung behind the readers when a waiting request held a FUSE worker
	FS_TIMEOUT=5 fs ls "$MNT/" >/dev/null
	FS_TIMEOUT=5 fs cat "$cached" >"$TESTDIR/cached.2"
	cmp "$TESTDIR/cached.1" "$TESTDIR/cached.2"
	# an image of another registry, not yet looked at through this mount: it needs the network
	FS_TIMEOUT=5 fs cat "$R/test/uncached/latest/manifest.json" | jq -e .schemaVersion
	# the readers are all still waiting, and all leave on SIGKILL
	for i in $READERS; do
		kill -0 "$i"
	done
	for i in $READERS; do
		kill -KILL "$i"
	done
	for i in $READERS; do
		gone_within 5 "$i"
	done
	READERS=
}

@test "SIGTERM with a download in flight exits promptly and stores nothing half-done" {
	local MNT2="$TESTDIR/mnt2" pid
	regfs_mount "$MNT2" "registry=$SLOW" "cache_dir=$TESTDIR/cache2" "state_dir=$TESTDIR/state2" \
		"logfile=$TESTDIR/regfs2.log"
	pid=$(<"$(regfs_pidfile "$MNT2")")
	start_reader "$MNT2/$SLOW/test/big/latest/layers/$BIG_NAME"
	FS_TIMEOUT=2 _wait_until 10 fs grep -q "^$BIG " "$MNT2/.downloads"
	kill -TERM "$pid"
	gone_within 5 "$pid"
	gone_within 5 "$READER"
	! _is_mounted "$(realpath "$MNT2")" || false
	# nothing under the blob's name, and no temp file left behind
	[ ! -e "$TESTDIR/cache2/blobs/sha256/${BIG#sha256:}" ]
	run find "$TESTDIR/cache2" -type f -newer "$TESTDIR/regfs2.log" -name '*tmp*'
	[ -z "$output" ]
}
