#!/usr/bin/env bats
# Registries that keep regfs waiting, or refuse it for a while.
#
# A registry that accepts connections and never answers (tests/lib/hung_server.py, a fake: a real
# registry cannot be made to hang): the first operation ends within the bound (15 s by default;
# asserted with room), the next fail at once while it is known unreachable, with one log line
# for all of them, and when something answers on its port again the mount recovers by itself
# (the background prober).  A rate-limited registry (tests/lib/paging_proxy.py
# --rate-limit-while, in front of the real one): a 429 is EAGAIN at once, not slept out, and the
# registry's rate limit headers show in the xattr user.regfs.ratelimit of its directory.

load ../lib/suite

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	mkdir -p "$TESTDIR/hung"
	HUNG_PORT=$(daemon_start "$TESTDIR/hung" hung 10 python3 "$REGFS_LIB_DIR/hung_server.py" \
		--log "$TESTDIR/hung/hung.log")
	export HUNG="127.0.0.1:$HUNG_PORT" HUNG_PORT
	proxy_start "$TESTDIR/proxy-ratelimit" --rate-limit-while "$TESTDIR/limited"
	export LIMITED=$PROXY
	suite_mount "registry=$HUNG" "registry=$LIMITED"
}

teardown_file() {
	suite_teardown
	[[ -n ${TESTDIR:-} && -e $TESTDIR/hung/hung.pid ]] && _stop_pidfile "$TESTDIR/hung/hung.pid" 5
	return 0
}

setup() { regfs_skip_if_needed; }
teardown() {
	logs_on_failure "$TESTDIR/regfs.log" "$TESTDIR/regfs-closed.log"
	[[ ! -d $TESTDIR/mnt-closed ]] || regfs_unmount "$TESTDIR/mnt-closed" || true
	suite_teardown_test
}

# fails_within SECONDS ERROR COMMAND... — COMMAND fails with ERROR in its output, in less than
# SECONDS; says how long it took.
fails_within() {
	local limit=$1 want=$2 start took
	shift 2
	start=$(date +%s%N)
	FS_TIMEOUT=60 run fs "$@"
	took=$((($(date +%s%N) - start) / 1000000))
	echo "$* -> status $status after ${took} ms: $output" >&2
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ "$status" -ne 137 ]
	[[ $output == *"$want"* ]] || { echo "expected '$want'" >&2; return 1; }
	((took < limit * 1000)) || { echo "took ${took} ms, not < ${limit} s" >&2; return 1; }
}

@test "a hung registry: the first operation ends within the bound, the next fail at once, one log line" {
	fails_within 25 "Input/output error" ls "$MNT/$HUNG/some/repo"
	fails_within 3 "Input/output error" ls "$MNT/$HUNG/some/repo"
	fails_within 3 "Input/output error" cat "$MNT/$HUNG/other/repo/latest/manifest.json"
	fails_within 3 "Input/output error" ls "$MNT/$HUNG/third"
	# the mount and the other registries go on meanwhile
	fs ls "$R/onap" >/dev/null
	# one line says it went down, not one per operation
	[ "$(grep -c "'$HUNG'.*unreachable" "$TESTDIR/regfs.log")" -eq 1 ] ||
		{ grep "$HUNG" "$TESTDIR/regfs.log" >&2; return 1; }
	# it was asked by one operation (and the prober), not by each
	(($(wc -l <"$TESTDIR/hung/hung.log") <= 6)) || { cat "$TESTDIR/hung/hung.log" >&2; return 1; }
}

@test "a configured registry whose port is closed: the mount is at once, ls of the root works, access is EIO" {
	local port closed start
	# a port nothing listens on: bound, then closed again
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	closed="127.0.0.1:$port"
	start=$SECONDS
	REGISTRY=$closed regfs_mount "$TESTDIR/mnt-closed" "logfile=$TESTDIR/regfs-closed.log" \
		"cache_dir=$TESTDIR/cache-closed" "state_dir=$TESTDIR/state-closed"
	# regfs_mount waits 10 s at most; the mount contacts no registry
	((SECONDS - start < 5)) || { echo "mounting took $((SECONDS - start)) s" >&2; return 1; }
	run lsdir "$TESTDIR/mnt-closed"
	[ "$status" -eq 0 ]
	[[ $output == *"$closed"* ]] || { echo "ls of the root: $output" >&2; return 1; }
	fails_within 25 "Input/output error" ls "$TESTDIR/mnt-closed/$closed/some/repo"
	fails_within 3 "Input/output error" ls "$TESTDIR/mnt-closed/$closed/some/repo"
	# the root still answers
	run lsdir "$TESTDIR/mnt-closed"
	[ "$status" -eq 0 ]
}

@test "once the hung registry answers again, the mount recovers by itself" {
	local deadline ok=
	# the same port now answers as a registry: a proxy to the real one
	_stop_pidfile "$TESTDIR/hung/hung.pid" 5
	proxy_start "$TESTDIR/proxy-back" --port "$HUNG_PORT"
	[ "$PROXY" = "$HUNG" ]
	deadline=$((SECONDS + 45))
	while ((SECONDS < deadline)); do
		if fs ls "$MNT/$HUNG/onap" >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.5
	done
	[ -n "$ok" ] || { echo "no recovery within 45 s" >&2; return 1; }
	run lsdir "$MNT/$HUNG/onap"
	assert_lines "$(expected_children onap)" "$output" "ls onap through the recovered registry"
	grep -q "registry '$HUNG': reachable again" "$TESTDIR/regfs.log"
	[ "$(grep -c "'$HUNG'.*unreachable" "$TESTDIR/regfs.log")" -eq 1 ]
}

@test "a 429 is EAGAIN at once, asked once, and user.regfs.ratelimit shows the registry's limits" {
	local dir="$MNT/$LIMITED/onap/py-app-amd64/latest" value names
	# before any answer with limits there is no such attribute
	run fs getfattr --absolute-names -n user.regfs.ratelimit "$MNT/$LIMITED"
	[ "$status" -ne 0 ]
	fs ls "$MNT/$LIMITED/onap" >/dev/null

	touch "$TESTDIR/limited"
	fails_within 3 "Resource temporarily unavailable" cat "$dir/manifest.json"
	# the registry was asked once: no retry, no Retry-After slept out
	[ "$(grep -c "^GET /v2/onap/py-app-amd64/manifests/latest 429" \
		"$TESTDIR/proxy-ratelimit/proxy.log")" -eq 1 ] ||
		{ cat "$TESTDIR/proxy-ratelimit/proxy.log" >&2; return 1; }
	grep -q "HTTP 429 TOOMANYREQUESTS from '$LIMITED' (rate limited; Retry-After: 3600)" \
		"$TESTDIR/regfs.log"
	value=$(fs getfattr --absolute-names --only-values -n user.regfs.ratelimit "$MNT/$LIMITED")
	echo "user.regfs.ratelimit: $value" >&2
	[[ $value == "limit=100;w=21600 remaining=0;w=21600 source=127.0.0.1 retry-after=3600 seen="* ]]
	names=$(fs getfattr --absolute-names -d -m - "$MNT/$LIMITED")
	[[ $names == *user.regfs.ratelimit* ]]

	# the limit lifted: reads work, and the attribute follows the last answer
	rm "$TESTDIR/limited"
	fs cat "$dir/manifest.json" >/dev/null
	value=$(fs getfattr --absolute-names --only-values -n user.regfs.ratelimit "$MNT/$LIMITED")
	echo "user.regfs.ratelimit: $value" >&2
	[[ $value == "limit=100;w=21600 remaining="*";w=21600 source=127.0.0.1 seen="* ]]
	[[ $value != *"remaining=0;"* && $value != *retry-after* ]]
}
