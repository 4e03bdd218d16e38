#!/usr/bin/env bats
# Where the log goes: started in the background (no -f) without -o logfile=, regfs logs to
# syslog, facility daemon, ident "regfs", with the daemon's pid, and prints nothing once it has
# left the terminal; with -f it logs to stderr, and -o logfile= wins either way.
#
# glibc's syslog() writes to /dev/log.  The test owns that socket without touching the real
# one: each case runs in a private mount namespace (in_mount_ns) where /dev is a directory of
# the test's own holding the device nodes regfs needs (bound from the real /dev) and, as
# /dev/log, a socket the test listens on (tests/lib/unix_dgram.py, which takes the sender's
# pid from the kernel).  The mount, and the namespace, go when the case is done.
# regfs-requires: root

load ../lib/suite

setup_file() {
	if ((EUID != 0)); then
		export REGFS_SKIP_REASON="a private mount namespace needs root"
		return 0
	fi
	suite_start_registry
}
teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	_stop_pidfile "$TESTDIR/daemon.pid" 5
	_stop_pidfile "$TESTDIR/listener.pid" 2
	suite_teardown
}
setup() { regfs_skip_if_needed; }
teardown() {
	# a daemon a failed case left behind (its namespace goes with it)
	_stop_pidfile "$TESTDIR/daemon.pid" 5
	_stop_pidfile "$TESTDIR/listener.pid" 2
	logs_on_failure "$BATS_TEST_TMPDIR/case.log" "$BATS_TEST_TMPDIR/launch.out" \
		"$BATS_TEST_TMPDIR/syslog.jsonl"
}

# run_case HOW [OPTION...] — in a private mount namespace whose /dev/log is the test's
# socket, run regfs on $BATS_TEST_TMPDIR/mnt: HOW is "background" (regfs without -f, which
# returns once it is mounted) or "foreground" (regfs -f, in the background of the case).
# Then list the mount and a registry that is down (127.0.0.1:1, an error line), unmount, and
# wait for regfs to exit.  Leaves in $BATS_TEST_TMPDIR: syslog.jsonl (what reached the
# socket), launch.out (what the regfs command printed), launch.rc, listing, daemon.exe (the
# executable of the pid that served the mount), and case.log (the case's own trace).
run_case() {
	local t=$BATS_TEST_TMPDIR
	mkdir -p "$t/dev" "$t/mnt" "$TESTDIR/home"
	setsid python3 "$REGFS_LIB_DIR/unix_dgram.py" --socket "$t/dev/log" --out "$t/syslog.jsonl" \
		--ready-file "$t/listener.ready" --seconds 90 </dev/null >"$t/listener.err" 2>&1 3>&- &
	echo $! >"$TESTDIR/listener.pid"
	_wait_until 10 test -e "$t/listener.ready"
	in_mount_ns 60 mount_case -- "$t" "$@" >"$t/case.log" 2>&1
}

# mount_case DIR HOW [OPTION...] — run_case's part inside the namespace
mount_case() {
	local t=$1 how=$2 opts n pid launcher
	shift 2
	# the nodes regfs and this script use, bound into the test's directory, which then
	# stands in for /dev (with the socket already bound there as log)
	for n in null zero full random urandom fuse; do
		: >"$t/dev/$n"
		mount --bind "/dev/$n" "$t/dev/$n"
	done
	mount --rbind "$t/dev" /dev
	[[ -S /dev/log ]]
	opts="registry=$REGISTRY,registry=127.0.0.1:1,cache_dir=$t/cache,state_dir=$t/state"
	for n in "$@"; do opts+=",$n"; done
	local -a cmd=(env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_CONFIG_HOME
		"HOME=$TESTDIR/home" "$REGFS_BIN")
	[[ $how == foreground ]] && cmd+=(-f)
	"${cmd[@]}" -o "$opts" "$t/mnt" >"$t/launch.out" 2>&1 </dev/null 3>&- &
	launcher=$!
	echo "launcher $launcher"
	if [[ $how == background ]]; then
		wait "$launcher" && echo 0 >"$t/launch.rc" || echo $? >"$t/launch.rc"
	fi
	_wait_until 10 mountpoint -q "$t/mnt"
	pid=$(regfs_pids_of "$t/mnt" | head -n 1)
	echo "$pid" >"$TESTDIR/daemon.pid"
	readlink "/proc/$pid/exe" >"$t/daemon.exe"
	echo "daemon $pid"
	ls "$t/mnt" >"$t/listing"
	ls "$t/mnt/127.0.0.1:1" 2>/dev/null || true # EIO, and an error line in the log
	umount "$t/mnt"
	_wait_until 10 _pid_gone "$pid"
	[[ $how == background ]] || { wait "$launcher" && echo 0 >"$t/launch.rc" || echo $? >"$t/launch.rc"; }
	echo "done"
}

# syslog_lines — the text of every datagram the socket got, one a line
syslog_lines() {
	jq -r .data "$BATS_TEST_TMPDIR/syslog.jsonl" 2>/dev/null || true
}

@test "in the background without logfile=: syslog, facility daemon, ident regfs, the daemon's pid; nothing on the terminal" {
	local t=$BATS_TEST_TMPDIR mnt pid lines
	run_case background
	mnt=$(realpath -- "$t/mnt")
	_wait_until 5 grep -q unreachable "$t/syslog.jsonl" || true # the listener's way to the file
	[ "$(<"$t/launch.rc")" -eq 0 ]
	[ ! -s "$t/launch.out" ] || { echo "the launching regfs printed:" >&2; cat "$t/launch.out" >&2; return 1; }
	[ "$(<"$t/listing")" = "$(printf '%s\n' 127.0.0.1:1 "$REGISTRY" | LC_ALL=C sort)" ]
	lines=$(syslog_lines)
	# <30> is daemon.info (facility 3 * 8 + level 6), <27> daemon.err; then a timestamp, the
	# ident and the pid, as syslog(3) writes them
	grep -qE "^<30>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} regfs\[[0-9]+\]: mounted at '$mnt' \(cache " <<<"$lines" ||
		{ echo "no 'mounted at' line at daemon.info in: $lines" >&2; return 1; }
	grep -qE "^<27>.* regfs\[[0-9]+\]: registry '127\.0\.0\.1:1': unreachable" <<<"$lines" ||
		{ echo "no error line at daemon.err in: $lines" >&2; return 1; }
	# every line from one process: the daemon that served the mount (not the command that
	# started it and returned), as the kernel and syslog(3) both say
	pid=$(grep -oE '^<[0-9]+>.{15} regfs\[[0-9]+\]' <<<"$lines" | grep -oE '[0-9]+\]$' | tr -d ']' | sort -u)
	[ "$(wc -l <<<"$pid")" -eq 1 ]
	[ "$pid" = "$(jq -r .pid "$t/syslog.jsonl" | sort -u)" ]
	[ "$pid" = "$(<"$TESTDIR/daemon.pid")" ]
	[ "$(<"$t/daemon.exe")" = "$(realpath -- "$REGFS_BIN")" ]
	! grep -q "^launcher $pid$" "$t/case.log" || false
}

@test "in the background with logfile=: the file, and nothing to syslog" {
	local t=$BATS_TEST_TMPDIR
	run_case background "logfile=$t/regfs.log"
	[ "$(<"$t/launch.rc")" -eq 0 ]
	[ ! -s "$t/launch.out" ]
	grep -q "regfs info: mounted at '$(realpath -- "$t/mnt")'" "$t/regfs.log"
	grep -q "regfs error: registry '127.0.0.1:1': unreachable" "$t/regfs.log"
	[ ! -s "$t/syslog.jsonl" ] || { echo "syslog got:" >&2; syslog_lines >&2; return 1; }
}

@test "in the foreground (-f) without logfile=: stderr, and nothing to syslog" {
	local t=$BATS_TEST_TMPDIR
	run_case foreground
	[ "$(<"$t/launch.rc")" -eq 0 ]
	grep -q "regfs info: mounted at '$(realpath -- "$t/mnt")'" "$t/launch.out"
	grep -q "regfs error: registry '127.0.0.1:1': unreachable" "$t/launch.out"
	[ ! -s "$t/syslog.jsonl" ] || { echo "syslog got:" >&2; syslog_lines >&2; return 1; }
}
