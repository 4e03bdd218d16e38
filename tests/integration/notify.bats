#!/usr/bin/env bats
# systemd readiness (a unit of Type=notify): with NOTIFY_SOCKET set, regfs sends READY=1 with a
# STATUS= naming the mount point once the mount answers, and STOPPING=1 when it is unmounted.
# The socket is the test's own (tests/lib/unix_dgram.py, which takes the sender's pid from the
# kernel).  The moment READY=1 arrives the listener runs `mountpoint -q`, lists the mount and
# reads its type in /proc/self/mountinfo before it reads anything else, so the test sees
# whether readiness came before the mount could be used.

load ../lib/suite

setup_file() { suite_start_registry; }
teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true # mounted by the test, so MNT is not set here
	_stop_pidfile "$TESTDIR/listener.pid" 2
	suite_teardown
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# listen SOCKET OUT [unix_dgram.py flags...] — the test's socket, listening in the background
listen() {
	local sock=$1 out=$2
	shift 2
	rm -f "$sock" "$sock.ready"
	setsid python3 "$REGFS_LIB_DIR/unix_dgram.py" --socket "$sock" --out "$out" \
		--ready-file "$sock.ready" --seconds 60 "$@" </dev/null >>"$TESTDIR/listener.stderr" 2>&1 3>&- &
	echo $! >"$TESTDIR/listener.pid"
	_wait_until 10 test -e "$sock.ready"
}

@test "READY=1 comes from regfs when the mount already answers, STOPPING=1 when it is unmounted" {
	local sock="$TESTDIR/notify.sock" out="$TESTDIR/notify.jsonl" mnt pid ready
	mnt=$(realpath -m -- "$TESTDIR/mnt")
	listen "$sock" "$out" --check-mount "$mnt" --until-stopping
	export NOTIFY_SOCKET=$sock
	suite_mount
	unset NOTIFY_SOCKET
	pid=$(<"$(regfs_pidfile "$MNT")")
	_wait_until 10 grep -q 'READY=1' "$out" || { cat "$out" >&2; return 1; }

	# the first READY=1: sent by regfs itself, naming the mount point
	ready=$(jq -c 'select(.data | split("\n") | index("READY=1"))' "$out" | head -n 1)
	[ "$(jq -r .pid <<<"$ready")" = "$pid" ]
	jq -e --arg s "STATUS=mounted at '$mnt'" '.data | split("\n") | index($s)' <<<"$ready" >/dev/null
	# what the listener saw at that moment: a mount point of type fuse.regfs that lists
	# .downloads and the registry (an unmounted directory would be empty, a mount not yet
	# answering would hang)
	jq -e '.mount.mountpoint == true' <<<"$ready" >/dev/null || { echo "$ready" >&2; return 1; }
	jq -e '.mount.fstype == "fuse.regfs"' <<<"$ready" >/dev/null || { echo "$ready" >&2; return 1; }
	jq -e --arg r "$REGISTRY" '.mount.entries == [".downloads", $r]' <<<"$ready" >/dev/null ||
		{ echo "$ready" >&2; return 1; }
	# and the only one
	[ "$(jq -s '[.[] | select(.data | split("\n") | index("READY=1"))] | length' "$out")" -eq 1 ]
	# nothing about stopping yet
	! grep -q 'STOPPING=1' "$out" || false

	regfs_unmount "$MNT"
	_wait_until 10 grep -q 'STOPPING=1' "$out" || { cat "$out" >&2; return 1; }
	[ "$(jq -r 'select(.data | split("\n") | index("STOPPING=1")) | .pid' "$out")" = "$pid" ]
}

@test "SIGTERM, as systemctl stop sends it: STOPPING=1, regfs unmounts and exits 0" {
	local sock="$TESTDIR/notify-term.sock" out="$TESTDIR/notify-term.jsonl" mnt pid rc=0
	mnt=$(realpath -m -- "$TESTDIR/mnt")
	listen "$sock" "$out" --until-stopping
	mkdir -p "$mnt" "$TESTDIR/home"
	NOTIFY_SOCKET=$sock HOME="$TESTDIR/home" "$REGFS_BIN" -f \
		-o "registry=$REGISTRY,cache_dir=$TESTDIR/cache,state_dir=$TESTDIR/state" "$mnt" \
		>"$BATS_TEST_TMPDIR/regfs.out" 2>&1 </dev/null 3>&- &
	pid=$!
	echo "$pid" >"$(regfs_pidfile "$mnt")"
	_wait_until 10 grep -q 'READY=1' "$out" || { cat "$out" "$BATS_TEST_TMPDIR/regfs.out" >&2; return 1; }
	kill -TERM "$pid"
	_wait_until 10 _pid_gone "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	! _is_mounted "$mnt" || false
	[ "$(jq -r 'select(.data | split("\n") | index("STOPPING=1")) | .pid' "$out")" = "$pid" ]
}
