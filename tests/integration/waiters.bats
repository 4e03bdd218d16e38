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
	[[ -z ${TESTDIR:-} ]] || regfs_unmount "$TESTDIR/mnt3" || true
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

# Eight downloads at once, each of another layer, all slow: eight images of one 256 KiB layer
# each (tests/lib/random_image.py), and a proxy of their own that sends every blob at 2 KB/s
# (tests/lib/paging_proxy.py --blob-rate, a fault-injecting fake of a slow link), so that each
# takes two minutes and all eight are in flight together.
@test "SIGTERM with eight downloads in flight: the daemon exits within 5 s, readers fail, nothing half-done stored" {
	local MNT3="$TESTDIR/mnt3" pid P ref name digest size p rc i files=() digests=() readers=() specs=()
	for i in 0 1 2 3 4 5 6 7; do
		specs+=("eight/l$i:v1=262144:$((4000 + i))")
	done
	python3 "$REGFS_LIB_DIR/random_image.py" --registry "$REGISTRY" "${specs[@]}" >"$TESTDIR/eight"
	proxy_start "$TESTDIR/proxy-all" --page-size 0 --blob-rate 2000
	P=$PROXY
	regfs_mount "$MNT3" "registry=$P" "cache_dir=$TESTDIR/cache3" "state_dir=$TESTDIR/state3" \
		"logfile=$TESTDIR/regfs3.log"
	pid=$(<"$(regfs_pidfile "$MNT3")")
	while read -r ref digest size name; do
		files+=("$MNT3/$P/${ref%:*}/${ref##*:}/layers/$name")
		digests+=("$digest")
	done <"$TESTDIR/eight"
	[ "${#files[@]}" -eq 8 ]
	for p in "${files[@]}"; do
		start_reader "$p"
		readers+=("$READER")
	done
	FS_TIMEOUT=2 _wait_until 60 eval '(($(fs cat "$MNT3/.downloads" | wc -l) == 8))' ||
		{ fs cat "$MNT3/.downloads" >&2; echo "not eight downloads in flight" >&2; return 1; }
	kill -TERM "$pid"
	gone_within 5 "$pid"
	! _is_mounted "$(realpath "$MNT3")" || false
	# every reader gets an error, none hangs
	for p in "${readers[@]}"; do
		gone_within 5 "$p"
		rc=0
		wait "$p" || rc=$?
		((rc != 0)) || { echo "reader $p got the whole layer" >&2; return 1; }
	done
	# no layer stored, whole or in part, and no temp file
	for digest in "${digests[@]}"; do
		[ ! -e "$TESTDIR/cache3/blobs/sha256/${digest#sha256:}" ]
	done
	run find "$TESTDIR/cache3/tmp" -type f
	[ -z "$output" ]
	# the downloads called off are expected: no error-level line for them
	run grep -E ' regfs error: ' "$TESTDIR/regfs3.log"
	[ -z "$output" ] || { echo "$output" >&2; return 1; }
	proxy_stop "$TESTDIR/proxy-all"
}
