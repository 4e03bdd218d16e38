#!/usr/bin/env bats
# Out of file descriptors (reliability row E6): the daemon's limit is lowered while it runs
# (prlimit), then many readers come at once.  Some of them fail, with an error rather than a
# hang or a wrong byte; the daemon survives and, once the load is gone, serves again with the
# same limit.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() {
	regfs_skip_if_needed
	command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
}

@test "EMFILE under load: readers get errors, never wrong bytes; the daemon lives and recovers" {
	local pid base limit i pids=() ok=0 failed=0 wrong=0 line path digest
	pid=$(<"$(regfs_pidfile "$MNT")")
	fs ls "$R/onap" >/dev/null
	base=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
	limit=$((base + 6))
	prlimit --pid "$pid" --nofile="$limit:$limit"
	# every layer and config of every image, all at once, each checked against its digest
	mapfile -t lines < <(sum '.refs | to_entries[] | select(.key | startswith("onap/")) |
		.key as $k | (.value.layers // [])[] | "\($k) \(.name) \(.digest)"')
	# four readers a layer, each holding its file open a while, so that the opens pile up
	for i in 1 2 3 4; do
		for line in "${lines[@]}"; do
			read -r ref name digest <<<"$line"
			path="$R/${ref%:*}/${ref##*:}/layers/$name"
			timeout -k 5 60 python3 -c 'import hashlib, sys, time
try:
    with open(sys.argv[1], "rb") as f:
        time.sleep(1)
        got = "sha256:" + hashlib.sha256(f.read()).hexdigest()
except OSError:
    sys.exit(1)
sys.exit(0 if got == sys.argv[2] else 2)' "$path" "$digest" </dev/null 3>&- &
			pids+=($!)
		done
	done
	for i in "${pids[@]}"; do
		rc=0
		wait "$i" || rc=$?
		case $rc in
		0) ok=$((ok + 1)) ;;
		2) wrong=$((wrong + 1)) ;;
		*) failed=$((failed + 1)) ;;
		esac
	done
	echo "fd limit $limit ($base in use before): ${#pids[@]} readers, $ok ok, $failed failed, $wrong wrong" >&3
	[ "$wrong" -eq 0 ]
	kill -0 "$pid"
	# the limit bit: without a failure the test proved nothing about running out
	((failed > 0)) || grep -q "Too many open files" "$TESTDIR/regfs.log" ||
		{ echo "no reader failed and regfs never ran out: the limit was not reached" >&2; return 1; }
	# running out of our own descriptors is no fault of the registry's: a connect that
	# could not have a socket marks nothing unreachable (it did, and the prober's
	# backoff then kept reads failing past the end of the load)
	! grep -n "marked unreachable" "$TESTDIR/regfs.log" ||
		{ echo "a shortage of descriptors was taken for the registry being down" >&2; return 1; }
	# nothing idle kept what the load made it take: pooled curl handles (two descriptors
	# each) and cached connections let go once descriptors ran short, so the daemon
	# holds no more than before the load (it held 3 more, all of its spare room under
	# CI's limit, and every later open failed)
	_wait_until 10 bash -c '(($(find "/proc/$1/fd" -mindepth 1 | wc -l) <= $2))' _ "$pid" "$base" ||
		{ echo "the daemon holds $(find "/proc/$pid/fd" -mindepth 1 | wc -l) descriptors after the load, $base before" >&2; return 1; }
	# the load is gone: the same reads work again, with the same limit
	for line in "${lines[@]}"; do
		read -r ref name digest <<<"$line"
		path="$R/${ref%:*}/${ref##*:}/layers/$name"
		_wait_until 40 bash -c '[[ sha256:$(sha256sum <"$1" | cut -d" " -f1) == "$2" ]]' _ "$path" "$digest" ||
			{ echo "$path did not read right after the load" >&2; return 1; }
	done
	[ "$(prlimit --pid "$pid" --nofile --output SOFT --noheadings | tr -d ' ')" -eq "$limit" ]
}
