#!/usr/bin/env bats
# SIGTERM in the middle of a commit (reliability row H13): the daemon still exits promptly, the
# registry is left with no tag or a whole one (the list is pushed last, by tag), the user's draft
# survives on disk, and a new mount on the same state directory finishes the push.
#
# A push that takes long is what loopback cannot be: tests/lib/paging_proxy.py sits in front of
# the real registry and, while a file exists, keeps every write after the first few unanswered
# (--hold-writes-while, a fault-injection fake).  So the daemon is stopped while it waits for the
# registry to take a blob mount, with a child already pushed by digest.  The registry itself is
# asked straight (curl, skopeo) what it holds.  Deadlines are generous bounds, not timings.

load ../lib/suite

setup_file() {
	suite_start_registry
}
teardown_file() {
	[[ -z ${TESTDIR:-} ]] || regfs_unmount "$TESTDIR/mnt-stop" || true
	[[ -z ${TESTDIR:-} ]] || regfs_unmount "$TESTDIR/mnt-tagput" || true
	suite_teardown
}
setup() { regfs_skip_if_needed; }
teardown() {
	[[ -z ${TOUCHER:-} ]] || kill -KILL "$TOUCHER" 2>/dev/null || true
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR"/proxy-*/proxy.log
}

ONAP_ARCHES=(amd64 arm64v8 mips ppc64le s390x)

# gone_within SECONDS PID — wait, at most SECONDS, for process PID to end; fail saying so if not
gone_within() {
	_wait_until "$1" _pid_gone "$2" && return 0
	echo "pid $2 still there after $1 s (state $(cut -d' ' -f3 /proc/"$2"/stat 2>/dev/null))" >&2
	return 1
}

# term_mid_push PID — SIGTERM the daemon PID while $TOUCHER's `touch .commit` waits on a held
# write: the daemon must exit 0 within 20 s (only calling the wait off lets it go), and the
# touch must then fail, not hang (timeout's 124 would say it hung).
term_mid_push() {
	local pid=$1 rc=0
	kill -TERM "$pid"
	if ! gone_within 20 "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { echo "regfs exited with status $rc" >&2; return 1; }
	gone_within 10 "$TOUCHER"
	rc=0
	wait "$TOUCHER" || rc=$?
	TOUCHER=
	((rc != 0 && rc != 124)) || { echo "touch .commit: status $rc: $(<"$BATS_TEST_TMPDIR/touch.out")" >&2; return 1; }
}

@test "SIGTERM mid-push: the daemon exits, no tag is made, the draft survives and a new mount pushes it" {
	local pdir="$TESTDIR/proxy-stop" mnt="$TESTDIR/mnt-stop" d pid digest before after out rc=0 a mark first
	local -a opts
	# the first child's writes pass (a blob mount each for its config and layers, then its
	# manifest by digest); the next, the second child's first blob mount, is held
	proxy_start "$pdir" --hold-writes-while "$pdir/hold" \
		--hold-writes-after "$(sum '.refs["onap/py-app-amd64:latest"] | .layers | length + 2')"
	# timeout=60: a held write would be given up on its own only after a minute, so a daemon
	# gone within the deadline below called it off
	opts=("registry=$PROXY" "state_dir=$TESTDIR/state-stop" "cache_dir=$TESTDIR/cache-stop"
		"logfile=$TESTDIR/regfs-stop.log" timeout=60)
	regfs_mount "$mnt" "${opts[@]}"
	pid=$(<"$(regfs_pidfile "$mnt")")
	d="$mnt/$PROXY/onap/stopped/v1"
	fs mkdir -p "$d"
	for a in "${ONAP_ARCHES[@]}"; do
		fs ln -s "../../py-app-$a/latest" "$d/$a"
	done
	digest=$(fs cat "$d/.digest")
	before=$(draft_snapshot "$d")

	touch "$pdir/hold"
	fs touch "$d/.commit" >"$BATS_TEST_TMPDIR/touch.out" 2>&1 &
	TOUCHER=$!
	_wait_until 30 grep -q ' HELD$' "$pdir/proxy.log" ||
		{ echo "no write was held; the proxy saw:" >&2; cat "$pdir/proxy.log" >&2; return 1; }
	# mid-push indeed: a child is in the repository by digest, the tag is not
	grep -qE '^PUT /v2/onap/stopped/manifests/sha256:[0-9a-f]{64} 201$' "$pdir/proxy.log"
	[ "$(manifest_status onap/stopped v1)" = 404 ]

	# the held write would wait for ever: only calling it off lets the daemon go
	term_mid_push "$pid"
	! _is_mounted "$(realpath "$mnt")" || { echo "still mounted after the daemon ended" >&2; return 1; }

	# no tag, and the registry's own tools agree
	[ "$(manifest_status onap/stopped v1)" = 404 ]
	! skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/onap/stopped:v1" >/dev/null 2>&1 ||
		{ echo "skopeo finds a tag" >&2; return 1; }

	# the draft is there for a new mount on the same state directory, as the user left it
	regfs_mount "$mnt" "${opts[@]}"
	after=$(draft_snapshot "$d")
	assert_lines "$before" "$after" "the draft after SIGTERM mid-push"
	out=$(fs cat "$d/.status")
	# what .status says: every link resolved, ready, and the interrupted commit as a failure
	# (EIO, as every commit failure but a refusal) naming the step it was at and why
	[[ $out == *"$digest"$'\n'"last commit: failed "* ]] || { echo "$out" >&2; return 1; }
	[[ $out == *$'\nready: 5 entries, '* ]] || { echo "$out" >&2; return 1; }
	[[ $(tail -n 1 <<<"$out") == "last commit: failed "*" (Input/output error): blob sha256:"*" into $PROXY/onap/stopped: Interrupted system call" ]] ||
		{ echo ".status does not end with the interrupted commit:" >&2; echo "$out" >&2; return 1; }

	# the dead daemon's held write never reaches the registry; the new mount's commit pushes
	rm "$pdir/hold"
	_wait_until 10 grep -q ' ABANDONED$' "$pdir/proxy.log"
	mark=$(wc -l <"$pdir/proxy.log")
	fs touch "$d/.commit"
	# and does not push again the child that went in before the signal
	first=$(sum '.refs["onap/py-app-amd64:latest"].digest')
	! tail -n +"$((mark + 1))" "$pdir/proxy.log" |
		grep -E "^(PUT /v2/onap/stopped/manifests/$first|POST .*from=onap%2Fpy-app-amd64)" ||
		{ echo "the child pushed before the signal was pushed again" >&2; return 1; }
	out=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/onap/stopped:v1")
	[ "sha256:$(printf '%s' "$out" | sha256sum | cut -d' ' -f1)" = "$digest" ]
	[ "$(jq -r '.manifests | length' <<<"$out")" -eq 5 ]
	for a in $(jq -r '.manifests[].digest' <<<"$out"); do
		skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/onap/stopped@$a" >/dev/null
	done
	regfs_unmount "$mnt"
	proxy_stop "$pdir"
}

@test "SIGTERM while the list's tag PUT is in flight, which the registry then finishes: the tag is whole, and the next commit settles the draft" {
	local pdir="$TESTDIR/proxy-tagput" mnt="$TESTDIR/mnt-tagput" d pid digest out rc=0 a mark
	local -a opts
	# every write but the tag PUT goes through; that one is held, and forwarded when released
	# although its client is gone
	proxy_start "$pdir" --hold-writes-while "$pdir/hold" --hold-tag-puts-only
	opts=("registry=$PROXY" "state_dir=$TESTDIR/state-tagput" "cache_dir=$TESTDIR/cache-tagput"
		"logfile=$TESTDIR/regfs-tagput.log" timeout=60)
	regfs_mount "$mnt" "${opts[@]}"
	pid=$(<"$(regfs_pidfile "$mnt")")
	d="$mnt/$PROXY/onap/tagput/v1"
	fs mkdir -p "$d"
	for a in amd64 s390x; do
		fs ln -s "../../py-app-$a/latest" "$d/$a"
	done
	digest=$(fs cat "$d/.digest")

	touch "$pdir/hold"
	fs touch "$d/.commit" >"$BATS_TEST_TMPDIR/touch.out" 2>&1 &
	TOUCHER=$!
	_wait_until 30 grep -q '^PUT /v2/onap/tagput/manifests/v1 HELD$' "$pdir/proxy.log" ||
		{ echo "the tag PUT was not held; the proxy saw:" >&2; cat "$pdir/proxy.log" >&2; return 1; }
	term_mid_push "$pid"

	# the registry finishes the PUT it had taken in: the tag is the whole list, children and all
	[ "$(manifest_status onap/tagput v1)" = 404 ]
	rm "$pdir/hold"
	_wait_until 10 grep -q '^PUT /v2/onap/tagput/manifests/v1 201$' "$pdir/proxy.log"
	out=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/onap/tagput:v1")
	[ "sha256:$(printf '%s' "$out" | sha256sum | cut -d' ' -f1)" = "$digest" ]
	for a in $(jq -r '.manifests[].digest' <<<"$out"); do
		skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/onap/tagput@$a" >/dev/null
	done

	# a new mount: the draft is there, ready; the tag holds what it would push, which is not
	# "the tag moved"; its commit pushes nothing but the tag again and leaves the live list
	regfs_mount "$mnt" "${opts[@]}"
	out=$(fs cat "$d/.status")
	[[ $out == *$'\nready: 2 entries, '*"$digest"$'\n'"last commit: failed "*" (Input/output error): list $PROXY/onap/tagput:v1: Interrupted system call" ]] ||
		{ echo "unexpected .status:" >&2; echo "$out" >&2; return 1; }
	[[ $out != *moved* ]] || { echo "$out" >&2; return 1; }
	mark=$(wc -l <"$pdir/proxy.log")
	fs touch "$d/.commit"
	out=$(tail -n +"$((mark + 1))" "$pdir/proxy.log")
	! grep -E '^(POST|PATCH) |^PUT /v2/[^ ]*/(blobs/|manifests/sha256:)' <<<"$out" ||
		{ echo "sent again:" >&2; echo "$out" >&2; return 1; }
	# the directory is the live list now: its digest file (a draft has .digest) names it
	[ "$(fs cat "$d/digest")" = "$digest" ]
	regfs_unmount "$mnt"
	proxy_stop "$pdir"
}
