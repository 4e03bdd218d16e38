#!/usr/bin/env bats
# Names looked up at the root that regfs was not given.  Any valid host name can be entered,
# but one that no registry answers must leave nothing behind: no registry entry, no background
# probe, no log line each (anyone can name thousands under allow_other).  A name that answers
# is taken in and browsable.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# rss_kb PID, threads PID — the daemon's resident memory and its thread count
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
threads() { ls "/proc/$1/task" | wc -l; }

# stat_fails NAME... — stat each $MNT/NAME; print "FOUND NAME" for one that exists, "HUNG NAME"
# for one that did not answer in 20 s (none must)
stat_fails() {
	local n rc
	for n in "$@"; do
		rc=0
		timeout -k 2 20 stat -- "$MNT/$n" >/dev/null 2>&1 || rc=$?
		((rc == 0)) && echo "FOUND $n"
		((rc == 124 || rc == 137)) && echo "HUNG $n"
	done
	return 0
}
export -f stat_fails

@test "3,000 host names nobody answers: each fails fast, and memory, threads and the log stay bounded" {
	local pid rss0 rss1 thr0 thr1 log0 log1 start out
	pid=$(<"$(regfs_pidfile "$MNT")")
	fs ls "$R" >/dev/null # the configured registry is in use
	# libfuse keeps the worker threads a parallel load made (up to 10): make them first, with
	# lookups that need no network (not host names), so that what is counted below is the rest
	seq 1 400 | xargs -P 8 -n 50 bash -c 'for i; do stat "$0/no-such-name-$i" &>/dev/null; done; true' "$MNT"
	rss0=$(rss_kb "$pid")
	thr0=$(threads "$pid")
	log0=$(wc -l <"$TESTDIR/regfs.log")
	start=$SECONDS
	# loopback addresses on port 1, where nothing listens: refused at once, no traffic leaves
	out=$(for i in $(seq 0 2999); do echo "127.$((i / 250 + 1)).$((i % 250)).$((i % 7 + 1)):1"; done |
		xargs -P 4 -n 50 bash -c 'stat_fails "$@"' _)
	echo "3000 lookups in $((SECONDS - start)) s" >&2
	[ -z "$out" ] || { echo "$out" | head >&2; return 1; }
	sleep 1
	rss1=$(rss_kb "$pid")
	thr1=$(threads "$pid")
	log1=$(wc -l <"$TESTDIR/regfs.log")
	echo "rss ${rss0} -> ${rss1} kB, threads $thr0 -> $thr1, log lines +$((log1 - log0))" >&2
	# each name kept would cost over a kilobyte (3,000: 3.5 MB) and a line of its own (not
	# measurable under a sanitizer, whose allocator keeps what is freed)
	regfs_instrumented || ((rss1 - rss0 < 2048))
	# (10 a minute, then one line saying how many more were not, when the next one is logged)
	((log1 - log0 <= 40))
	# no prober for them: once the waiter threads are gone (ten idle seconds), no thread is
	# left over
	local deadline=$((SECONDS + 20))
	while ((thr1 > thr0 && SECONDS < deadline)); do
		sleep 1
		thr1=$(threads "$pid")
	done
	echo "threads after the waiters left: $thr1" >&2
	((thr1 <= thr0))
	# the root still lists the configured registry alone, and it still works
	assert_lines "$(printf '%s\n' .downloads "$REGISTRY" | LC_ALL=C sort)" "$(lsdir "$MNT")"
	[ "$(fs cat "$R/onap/py-app-amd64/latest/digest")" = "$(sum '.refs["onap/py-app-amd64:latest"].digest')" ]
}

@test "a name that missed is answered again from memory: no second log line, still an error" {
	local name=127.9.9.9:1 before after
	assert_fails_with "Input/output error" fs stat "$MNT/$name"
	before=$(grep -c "'$name'" "$TESTDIR/regfs.log" || true)
	assert_fails_with "Input/output error" fs stat "$MNT/$name"
	assert_fails_with "Input/output error" fs ls "$MNT/$name/x"
	after=$(grep -c "'$name'" "$TESTDIR/regfs.log" || true)
	[ "$before" -eq "$after" ]
}

@test "a host not given with -o registry= that answers is taken in and browsable" {
	local port=${REGISTRY##*:}
	run fs ls "$MNT/localhost:$port/onap"
	[ "$status" -eq 0 ]
	[[ $output == *py-app-amd64* ]]
	[ "$(fs cat "$MNT/localhost:$port/onap/py-app-amd64/latest/digest")" = \
		"$(sum '.refs["onap/py-app-amd64:latest"].digest')" ]
}
