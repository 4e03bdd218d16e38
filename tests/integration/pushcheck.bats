#!/usr/bin/env bats
# What a push believes (reliability row H10): a registry that answers a manifest PUT with a
# Docker-Content-Digest of other bytes than regfs sent has stored something else, or says so:
# the commit is an error, never reported as done.  tests/lib/paging_proxy.py --wrong-put-digest
# rewrites that header, which a real registry will not do on cue.

load ../lib/suite

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	proxy_start "$TESTDIR/proxy-liar" --wrong-put-digest
	export LIAR=$PROXY
	suite_mount "registry=$LIAR"
}
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

@test "a manifest PUT answered with another Docker-Content-Digest fails the commit (EIO), logged with both digests" {
	local d out digest
	d="$MNT/$LIAR/onap/liar/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	digest=$(fs cat "$d/.digest")
	assert_fails_with "Input/output error" fs touch "$d/.commit"
	out=$(fs cat "$d/.status")
	[[ $out == *$'\nlast commit: failed '* ]] || { echo "$out" >&2; return 1; }
	grep -q "the registry stored sha256:[0-9a-f]\{64\}, regfs sent sha256:" "$TESTDIR/regfs.log"
	# the draft is still a draft: its links and preview are there to commit again
	[ "$(fs cat "$d/.digest")" = "$digest" ]
	[ -L "$d/amd64" ]
}
