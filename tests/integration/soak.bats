#!/usr/bin/env bats
# A bounded soak (reliability rows E7 and D9): for SOAK_SECONDS (default 180) parallel readers of
# manifests and layers, listings, and draft/commit cycles run against the registry through
# tests/lib/paging_proxy.py --fault-rate, which answers a share of the reads 503 or cuts them off
# with a reset: what a real registry does under load, but not on cue.  What must hold: every
# byte read is the right one, reads get through the faults (regfs retries them), and when the
# load stops, regfs' open files, threads and memory come back to where they were.

load ../lib/suite

SOAK_SECONDS=${SOAK_SECONDS:-180}
FAULT_RATE=0.05

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	proxy_start "$TESTDIR/proxy-faults" --page-size 0 --fault-rate "$FAULT_RATE" --fault-seed 11
	export FAULTY=$PROXY
	suite_mount "registry=$FAULTY" ttl=1
	export M="$MNT/$FAULTY"
}
teardown_file() { suite_teardown; }
teardown() {
	suite_teardown_test
	logs_on_failure "$TESTDIR/soak-failed.log" "$TESTDIR/soak-wrong.log"
}
setup() { regfs_skip_if_needed; }

# what regfs holds now: "FDS THREADS RSS_KB"
# regfs_holds — "FDS OWN OTHER RSS_KB" of the daemon: open files; threads regfs started itself
# (each names itself regfs-<role>: common/thread.h); the others (the main thread, libfuse's
# workers, curl's resolver threads, all with the process's name); resident memory
regfs_holds() {
	local pid own=0 other=0 t
	pid=$(<"$(regfs_pidfile "$MNT")")
	for t in /proc/"$pid"/task/*/comm; do
		if [[ $(<"$t") == regfs-* ]]; then own=$((own + 1)); else other=$((other + 1)); fi
	done 2>/dev/null
	echo "$(find "/proc/$pid/fd" -mindepth 1 | wc -l) $own $other" \
		"$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
}

# count NAME [WHAT] — add one to the counter file NAME of this run; a failure says WHAT failed
# (and how: the error file of the last command) in soak-failed.log
count() {
	echo x >>"$TESTDIR/soak-$1.count"
	if [[ $1 == failed ]]; then
		echo "$(date +%T.%N | cut -c1-12) $2: $(tail -n 1 "$TESTDIR/soak-err.$BASHPID" 2>/dev/null)" >>"$TESTDIR/soak-failed.log"
	fi
}

# the workers: each runs until $TESTDIR/soak.stop exists, counting ok, failed and wrong reads
read_manifests() {
	local refs ref want got
	mapfile -t refs < <(sum '.refs | keys[] | select(startswith("onap/"))')
	while [[ ! -e $TESTDIR/soak.stop ]]; do
		ref=${refs[RANDOM % ${#refs[@]}]}
		want=$(sum '.refs[$r].digest' --arg r "$ref")
		if got=$(fs cat "$M/${ref%:*}/${ref##*:}/manifest.json" 2>"$TESTDIR/soak-err.$BASHPID" | sha256sum | cut -d' ' -f1) &&
			[[ ${PIPESTATUS[0]} -eq 0 ]]; then
			[[ sha256:$got == "$want" ]] && count ok || { count wrong; echo "$ref: $got" >>"$TESTDIR/soak-wrong.log"; }
		else
			count failed "$ref manifest.json"
		fi
	done
}

read_layers() {
	local lines line name digest path got
	mapfile -t lines < <(sum '.refs | to_entries[] | select(.key | startswith("onap/")) |
		select(.value.layers) | "\(.key) \(.value.layers[0].name) \(.value.layers[0].digest)"')
	while [[ ! -e $TESTDIR/soak.stop ]]; do
		line=${lines[RANDOM % ${#lines[@]}]}
		read -r ref name digest <<<"$line"
		path="$M/${ref%:*}/${ref##*:}/layers/$name"
		if got=$(fs cat "$path" 2>"$TESTDIR/soak-err.$BASHPID" | sha256sum | cut -d' ' -f1) && [[ ${PIPESTATUS[0]} -eq 0 ]]; then
			[[ sha256:$got == "$digest" ]] && count ok || { count wrong; echo "$path: $got" >>"$TESTDIR/soak-wrong.log"; }
		else
			count failed "$path"
		fi
	done
}

list_tree() {
	while [[ ! -e $TESTDIR/soak.stop ]]; do
		if fs ls -R "$M/onap" >/dev/null 2>"$TESTDIR/soak-err.$BASHPID"; then
			count ok
		else
			count failed "ls -R onap"
		fi
	done
}

commit_lists() {
	local i=0 d tries
	while [[ ! -e $TESTDIR/soak.stop ]]; do
		d="$M/onap/py-app/soak-$BASHPID-$i" # a tag of its own in each run
		i=$((i + 1))
		fs mkdir "$d" && fs ln -s ../../py-app-amd64/latest "$d/amd64" &&
			fs ln -s ../../py-app-arm64v8/latest "$d/arm64v8" 2>"$TESTDIR/soak-err.$BASHPID" ||
			{ count failed "draft $d"; continue; }
		# a commit's reads meet the faults too; a failed one is touched again, as a user would
		for tries in 1 2 3; do
			fs touch "$d/.commit" 2>"$TESTDIR/soak-err.$BASHPID" && break
		done
		if [[ -s $d/digest ]]; then count committed; else count failed "commit $d"; fi
	done
}

# run_workers SECONDS — all the workers at once, for SECONDS
run_workers() {
	local pids=() p
	rm -f "$TESTDIR/soak.stop"
	read_manifests & pids+=($!)
	read_manifests & pids+=($!)
	read_layers & pids+=($!)
	list_tree & pids+=($!)
	commit_lists & pids+=($!)
	sleep "$1"
	: >"$TESTDIR/soak.stop"
	for p in "${pids[@]}"; do
		wait "$p" || true
	done
}

counted() {
	[[ -e $TESTDIR/soak-$1.count ]] && wc -l <"$TESTDIR/soak-$1.count" || echo 0
}

@test "soak: parallel reads, listings and commits through 5% faults; right bytes, and fds, threads and memory come back" {
	local base after fds0 thr0 oth0 rss0 fds1 thr1 oth1 rss1 ok failed faults
	# warm up: the same load a while, so the FUSE workers and caches the load needs exist
	run_workers 8
	sleep 12 # the waiter threads of the warm-up leave after 10 idle seconds
	rm -f "$TESTDIR"/soak-*.count "$TESTDIR/soak-failed.log"
	base=$(regfs_holds)
	read -r fds0 thr0 oth0 rss0 <<<"$base"

	run_workers "$SOAK_SECONDS"
	sleep 12
	after=$(regfs_holds)
	read -r fds1 thr1 oth1 rss1 <<<"$after"
	ok=$(counted ok) failed=$(counted failed)
	faults=$(grep -cE ' FAULT-(503|RESET)$' "$TESTDIR/proxy-faults/proxy.log" || true)
	echo "soak ${SOAK_SECONDS}s: $ok reads ok, $failed failed, $(counted wrong) wrong," \
		"$(counted committed) commits; $faults faults injected;" \
		"fds/own threads/other threads/RSS kB before $base, after $after" >&3

	# never a wrong byte, whatever failed
	[ "$(counted wrong)" -eq 0 ]
	# the faults happened, and reads got through them: at most 1% failed (a read fails only when
	# every retry of one of its requests met a fault)
	((faults >= 20)) || { echo "only $faults faults injected: the soak proved nothing" >&2; return 1; }
	((ok >= 100)) || { echo "only $ok reads in ${SOAK_SECONDS}s" >&2; return 1; }
	((failed * 100 <= ok)) || { echo "$failed of $((ok + failed)) operations failed" >&2; return 1; }
	(($(counted committed) >= 3)) || { echo "only $(counted committed) commits got through" >&2; return 1; }
	# flat: no fd or thread left behind, memory within a bound of where it stood.  A little slack
	# for what a longer load may add for good: a pooled connection more.  regfs's own threads
	# come back to where they stood (the waiters' pool keeps none idle past 10 s, the read-ahead
	# pool is started whole); libfuse's workers are not ended once started (its max_idle_threads
	# is unlimited by default), so the others may grow to libfuse's max_threads (10) + the main
	# thread, whatever the load, and no further
	((fds1 <= fds0 + 4)) || { echo "open files: $fds0 before, $fds1 after" >&2; return 1; }
	((thr1 <= thr0 + 1)) || { echo "regfs threads: $thr0 before, $thr1 after" >&2; return 1; }
	((oth1 <= 11 || oth1 <= oth0)) || { echo "other threads: $oth0 before, $oth1 after" >&2; return 1; }
	# (not under a sanitizer: its allocator keeps what is freed, by design)
	regfs_instrumented || ((rss1 <= rss0 + 16384)) ||
		{ echo "RSS: $rss0 kB before, $rss1 kB after" >&2; return 1; }
	# and the mount still answers
	fs ls "$MNT" >/dev/null
}
