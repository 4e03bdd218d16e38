#!/usr/bin/env bats
# .status and .last-commit print what the user wrote (link names, link targets, annotation
# keys, .mediatype) escaped: a backslash and control characters come out as C escapes (\\, \n,
# \r, \t, else \xNN), so no name or target can start a line of its own and forge a "ready:"
# verdict.  Everything else of .status is drafts.bats'.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# ready_lines DIR — the lines of DIR/.status that start with "ready"
ready_lines() {
	local out
	out=$(fs cat "$1/.status") || return
	grep '^ready' <<<"$out" || true
}

@test "a link target holding a newline cannot forge a ready line" {
	local d="$R/onap/esc-target/v1" status
	fs mkdir -p "$d"
	fs ln -s $'../../py-app-amd64/latest\nready: 1 entries, application/vnd.oci.image.index.v1+json sha256:0' "$d/amd64"
	status=$(fs cat "$d/.status")
	[ -z "$(ready_lines "$d")" ] || { echo "$status" >&2; return 1; }
	grep -qF '  amd64 -> ../../py-app-amd64/latest\nready: 1 entries' <<<"$status" ||
		{ echo "$status" >&2; return 1; }
	grep -q '^not ready: 1 error$' <<<"$status"
	assert_fails_with "Invalid argument" fs touch "$d/.commit"
	# what the failed commit recorded is escaped too
	status=$(fs cat "$d/.status")
	grep -q '^last commit: failed' <<<"$status"
	[ -z "$(ready_lines "$d")" ] || { echo "$status" >&2; return 1; }
}

# the draft store directory of draft DIR (below $MNT), for what regfs itself refuses to make
store_of() {
	echo "$TESTDIR/state/drafts/${1#"$MNT"/}"
}

@test "a link name with a control character is refused, one planted in the store ignored; a backslash is escaped" {
	local d="$R/onap/esc-name/v1" status
	fs mkdir -p "$d"
	assert_fails_with "Invalid argument" fs ln -s ../../py-app-amd64/latest "$d/"$'amd64\nready: 9 entries'
	# not even the log gets the raw name
	! grep -q '^ready: 9 entries' "$TESTDIR/regfs.log" || false
	# a backslash is a fine name character, printed doubled so it is no escape
	fs ln -s ../../py-app-arm64v8/latest "$d/"'arm\64\nready'
	# a name regfs would refuse, made behind its back in the draft store: never shown, never
	# pushed
	ln -s ../../py-app-amd64/latest "$(store_of "$d")/"$'amd64\nready: 9 entries'
	status=$(fs cat "$d/.status")
	[ "$(ready_lines "$d" | wc -l)" -eq 1 ] || { echo "$status" >&2; return 1; }
	grep -q '^ready: 1 entry, ' <<<"$status"
	grep -qF '  arm\\64\\nready -> ../../py-app-arm64v8/latest: linux/arm64/v8 ' <<<"$status"
	[ "$(fs ls "$d" | wc -l)" -eq 1 ]
	# no raw control character at all
	! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$status" || false
}

@test "an annotation key with a newline is refused; a backslash in one is printed escaped" {
	local d="$R/onap/esc-annotation/v1" key='k\nready: 5 entries' status
	fs mkdir -p "$d/.annotations"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	assert_fails_with "Operation not permitted" fs touch "$d/.annotations/"$'k\nready: 5 entries'
	# a NUL byte in the value makes .status name the key
	fs sh -c 'printf "a\0b" > "$1"' sh "$d/.annotations/$key"
	status=$(fs cat "$d/.status")
	[ -z "$(ready_lines "$d")" ] || { echo "$status" >&2; return 1; }
	grep -qF "  error: annotation 'k\\\\nready: 5 entries': holds a NUL byte" <<<"$status" ||
		{ echo "$status" >&2; return 1; }
}
