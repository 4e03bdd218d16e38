#!/usr/bin/env bats
# Paging and hostile names.  The catalog (138 repositories, 120 of them under test/many) pages
# natively in distribution (100 per page without n).  distribution 2.8 returns tags/list
# whole, so tag paging goes through tests/lib/paging_proxy.py (7 tags per page); a second
# proxy adds invalid tags and repository names that regfs must skip.  All three are
# configured registries of one mount.

load ../lib/suite

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	# at most n=1000 here: regfs asks for 10,000 tags a page, is refused, and asks again for 1,000
	proxy_start "$TESTDIR/proxy-paging" --max-n 1000
	export PAGING=$PROXY
	proxy_start "$TESTDIR/proxy-bad" --inject-bad-names
	export BAD=$PROXY
	suite_mount "registry=$PAGING" "registry=$BAD"
}
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

@test "root lists all configured registries" {
	run lsdir "$MNT"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' .downloads "$REGISTRY" "$PAGING" "$BAD" | LC_ALL=C sort)" "$output"
}

@test "all 120 repositories of test/many are listed (catalog pages)" {
	run lsdir "$R/test/many"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 120 ]
	assert_lines "$(sum '.repositories[] | select(startswith("test/many/")) | ltrimstr("test/many/")')" "$output"
	# what the registry received: a request that got a partial page (no n: 100 entries; or
	# n below the number of repositories) must have been followed by one with last=
	local total smallest
	total=$(sum '.repositories | length')
	smallest=$(grep -o '"GET /v2/_catalog[^ ]*' "$REGISTRY_DIR/registry.log" |
		awk -v total="$total" '{ n = 100; if (match($0, /[?&]n=[0-9]+/)) n = substr($0, RSTART + 3, RLENGTH - 3) + 0
			if (n < min || min == "") min = n } END { print (min == "" ? -1 : min) }')
	[ "$smallest" -ge 0 ] || { echo "regfs never asked for the catalog" >&2; return 1; }
	if [ "$smallest" -lt "$total" ]; then
		grep -q '"GET /v2/_catalog?[^ ]*last=' "$REGISTRY_DIR/registry.log" ||
			{ echo "regfs got a partial catalog page (n=$smallest) and did not follow Link" >&2; return 1; }
	fi
	# a repository from the second page is browsable
	cmp <(sum '.refs["test/many/r119:latest"].digest') <(fs cat "$R/test/many/r119/latest/digest")
}

@test "the registry level through the proxy lists the same namespaces" {
	run lsdir "$MNT/$PAGING"
	[ "$status" -eq 0 ]
	assert_lines $'a\nonap\ntest' "$output"
}

@test "all 150 tags are listed through 7-tag pages" {
	run lsdir "$MNT/$PAGING/test/tags"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 150 ]
	assert_lines "$(sum '.tags["test/tags"][]')" "$output" "tags of test/tags"
	# what the proxy received: the whole chain of pages, following Link
	run grep -c '^GET /v2/test/tags/tags/list' "$TESTDIR/proxy-paging/proxy.log"
	[ "$output" -ge 22 ] || { echo "only $output tags/list requests (150 tags need 22 pages)" >&2; return 1; }
	grep -q '^GET /v2/test/tags/tags/list?.*last=' "$TESTDIR/proxy-paging/proxy.log"
	# big pages first; refused, small ones (and never big ones again within the listing)
	grep -q '^GET /v2/test/tags/tags/list?n=10000 400$' "$TESTDIR/proxy-paging/proxy.log"
	grep -q '^GET /v2/test/tags/tags/list?n=1000 200$' "$TESTDIR/proxy-paging/proxy.log"
	# the other proxy takes any n: one page of 10,000 asked, no refusal
	! grep -q ' 400$' "$TESTDIR/proxy-bad/proxy.log" || false
}

@test "a tag from the last page is browsable, including the 128-character one" {
	local long
	long=$(printf 'a%.0s' {1..128})
	cmp <(sum '.refs["test/tags:t143"].digest') <(fs cat "$MNT/$PAGING/test/tags/t143/digest")
	cmp <(sum '.refs["test/tags:latest"].digest') <(fs cat "$MNT/$PAGING/test/tags/$long/digest")
	cmp <(sum '.refs["test/tags:latest"].digest') <(fs cat "$MNT/$PAGING/test/tags/_underscore/digest")
}

@test "invalid repository names from the catalog are skipped" {
	run lsdir "$MNT/$BAD"
	[ "$status" -eq 0 ]
	assert_lines $'a\nonap\ntest' "$output" "registry level behind --inject-bad-names"
	run lsdir "$MNT/$BAD/a"
	assert_lines "b" "$output"
	run lsdir "$MNT/$BAD/test"
	[ "$status" -eq 0 ]
	assert_lines "$(expected_children test)" "$output"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/UPPER"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/ok"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/.hidden"
	# the proxy did serve them
	grep -q '^GET /v2/_catalog' "$TESTDIR/proxy-bad/proxy.log"
}

@test "invalid tags are skipped" {
	run lsdir "$MNT/$BAD/test/tags"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 150 ]
	assert_lines "$(sum '.tags["test/tags"][]')" "$output" "tags behind --inject-bad-names"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/test/tags/.hidden"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/test/tags/-dash-first"
	assert_fails_with "No such file or directory" fs stat "$MNT/$BAD/test/tags/$(printf 'x%.0s' {1..200})"
	# nothing escaped the mount
	[ ! -e "$MNT/evil" ]
	[ ! -e "$MNT/$BAD/evil" ]
	[ ! -e "$TESTDIR/evil" ]
}

@test "tags of a repository without paging proxy are all listed" {
	run lsdir "$R/test/tags"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 150 ]
}
