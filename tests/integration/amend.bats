#!/usr/bin/env bats
# Amending a live list and the updates that could get lost doing it: a draft seeded from a list
# keeps the list's order and, with no net change, pushes its very bytes; rm -r of a platform
# directory amends like rmdir; a crash while a draft is seeded leaves no half draft; a tag moved
# by someone else since the draft began blocks the commit (EBUSY) until the user starts again
# or forces it; touch .commit in a live list is EROFS.
#
# Regressions of issue 8 (correctness): each test failed before its fix.

load ../lib/suite

setup_file() {
	suite_setup
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt2" 2>/dev/null || true
	regfs_unmount "$TESTDIR/mnt-crash" 2>/dev/null || true
	suite_teardown
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# archs FILE — the architectures of a list's entries, in order, space-separated
archs() {
	jq -r '[.manifests[].platform.architecture] | join(" ")' "$1"
}

@test "a new list keeps the order its links were made in, not their names' order" {
	local d="$R/onap/py-app/am-order"
	commit_list "$d" s390x=../../py-app-s390x/latest amd64=../../py-app-amd64/latest \
		mips=../../py-app-mips/latest
	fetch_manifest onap/py-app am-order "$BATS_TEST_TMPDIR/l.json"
	[ "$(archs "$BATS_TEST_TMPDIR/l.json")" = "s390x amd64 mips" ]
}

@test "amend: new entries go last; adding and removing one changes nothing: the same bytes" {
	local d="$R/onap/py-app/am-same" old mark
	commit_list "$d" s390x=../../py-app-s390x/latest amd64=../../py-app-amd64/latest \
		mips=../../py-app-mips/latest
	old=$(fs cat "$d/digest")
	fs ln -s ../../py-app-ppc64le/latest "$d/ppc64le"
	[ "$(jq -r '[.manifests[].platform.architecture] | join(" ")' < <(fs cat "$d/.preview.json"))" = \
		"s390x amd64 mips ppc64le" ]
	fs rm "$d/ppc64le"
	[ "$(fs cat "$d/.digest")" = "$old" ]
	[[ $(fs tail -n 1 "$d/.status") == *"$old (unchanged: the list as it is)" ]]
	mark=$(registry_log_mark)
	fs touch "$d/.commit"
	fetch_manifest onap/py-app am-same "$BATS_TEST_TMPDIR/after.json"
	[ "$(sha256_of "$BATS_TEST_TMPDIR/after.json")" = "$old" ]
}

@test "amend with no net change of a list another tool wrote pushes that tool's bytes" {
	# v1 was pushed by the fixtures (python's json, not regfs' builder), with a platform order
	# of its own
	local d="$R/onap/py-app/v1" old
	old=$(sum '.refs["onap/py-app:v1"].digest')
	[ "$(fs cat "$d/digest")" = "$old" ]
	fs ln -s ../../py-app-amd64/latest "$d/extra"
	fs rm "$d/extra"
	[ "$(fs cat "$d/.digest")" = "$old" ]
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	fetch_manifest onap/py-app v1 "$BATS_TEST_TMPDIR/live.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/live.json"
	fs rm -r "$d"
	[ "$(fs cat "$d/digest")" = "$old" ]
}

@test "rm -r of a live list's platform directory amends the list like rmdir, sending nothing" {
	local d="$R/onap/py-app/am-rmr" mark
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest \
		s390x=../../py-app-s390x/latest
	mark=$(registry_log_mark)
	fs rm -r "$d/linux-mips"
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-s390x' "$output"
	assert_no_writes "$(regfs_requests_after "$mark")"
	fs touch "$d/.commit"
	fetch_manifest onap/py-app am-rmr "$BATS_TEST_TMPDIR/after.json"
	[ "$(archs "$BATS_TEST_TMPDIR/after.json")" = "amd64 s390x" ]
	# files of an image tag are still read-only
	assert_fails_with "Read-only file system" fs rm "$R/onap/py-app-amd64/latest/manifest.json"
}

@test "touch .commit in a live list is EROFS, like anywhere outside a draft" {
	assert_fails_with "Read-only file system" fs touch "$R/onap/py-app/v1/.commit"
	assert_fails_with "Read-only file system" fs touch "$R/onap/py-app-amd64/latest/.commit"
}

@test "a crash while an amend seeds the draft leaves no half draft: the list stays whole" {
	local mnt="$TESTDIR/mnt-crash" d out
	commit_list "$R/onap/py-app/am-crash" amd64=../../py-app-amd64/latest \
		mips=../../py-app-mips/latest ppc64le=../../py-app-ppc64le/latest \
		s390x=../../py-app-s390x/latest arm64v8=../../py-app-arm64v8/latest
	# a second mount on the same state directory, killed (SIGKILL) after the 2nd of 5 links
	REGFS_TEST_CRASH=draft-seed:2 regfs_mount "$mnt" "logfile=$TESTDIR/regfs-crash.log"
	d="$mnt/$REGISTRY/onap/py-app/am-crash"
	run fs ln -s ../../py-app-amd64/latest "$d/again"
	[ "$status" -ne 0 ]
	grep -q "REGFS_TEST_CRASH: killed at draft-seed:2" "$TESTDIR/regfs-crash.log"
	regfs_unmount "$mnt" || true
	# what survived is the live list: no draft, nothing "ready: 2 entries"
	d="$R/onap/py-app/am-crash"
	run lsdir "$d"
	assert_lines $'digest\ninspect.json\nlinux-amd64\nlinux-arm64-v8\nlinux-mips\nlinux-ppc64le\nlinux-s390x\nmanifest.json' "$output"
	# and the next amend starts from all five
	fs rmdir "$d/linux-mips"
	out=$(fs tail -n 1 "$d/.status")
	[[ $out == "ready: 4 entries, "* ]] || { echo "$out" >&2; return 1; }
	fs rm -r "$d"
}

@test "a tag moved by someone else since the amend began: .status says so, commit is EBUSY" {
	local d="$R/onap/py-app/am-moved" theirs out mark
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest
	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	# meanwhile another client pushes the tag
	skopeo copy --quiet --all --src-tls-verify=false --dest-tls-verify=false \
		"docker://$REGISTRY/onap/py-app:v1" "docker://$REGISTRY/onap/py-app:am-moved"
	theirs=$(sum '.refs["onap/py-app:v1"].digest')
	out=$(fs cat "$d/.status")
	[[ $out == *"error: the tag moved since this draft began: it was sha256:"*", it is $theirs now;"* ]] ||
		{ echo "$out" >&2; return 1; }
	[[ $out == *$'\nnot ready: the tag moved' ]]
	mark=$(registry_log_mark)
	assert_fails_with "Device or resource busy" fs touch "$d/.commit"
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(curl -fsS -I -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$REGISTRY/v2/onap/py-app/manifests/am-moved" | tr -d '\r' |
		sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')" = "$theirs" ]
	[[ $(fs cat "$d/.status") == *$'\nlast commit: failed '*'(Device or resource busy): the tag moved'* ]]
	# .force: the user says to replace it
	fs touch "$d/.force"
	fs touch "$d/.commit"
	fetch_manifest onap/py-app am-moved "$BATS_TEST_TMPDIR/after.json"
	[ "$(archs "$BATS_TEST_TMPDIR/after.json")" = "amd64 mips s390x" ]
}

@test "two mounts commit the same new tag: the second sees it exists and refuses" {
	local mnt2="$TESTDIR/mnt2" d1 d2 first
	regfs_mount "$mnt2" "state_dir=$TESTDIR/state2" "logfile=$TESTDIR/regfs2.log"
	d1="$R/onap/py-app/am-race"
	d2="$mnt2/$REGISTRY/onap/py-app/am-race"
	fs mkdir "$d1"
	fs mkdir "$d2"
	fs ln -s ../../py-app-amd64/latest "$d1/amd64"
	fs ln -s ../../py-app-s390x/latest "$d2/s390x"
	fs touch "$d1/.commit"
	first=$(fs cat "$d1/digest")
	assert_fails_with "Device or resource busy" fs touch "$d2/.commit"
	[[ $(fs cat "$d2/.status") == *"it was not there, it is $first now"* ]]
	[ "$(fs cat "$d1/digest")" = "$first" ]
	regfs_unmount "$mnt2"
}
