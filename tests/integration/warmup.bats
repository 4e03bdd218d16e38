#!/usr/bin/env bats
# The warm-up at mount: each registry given with -o registry= is asked its /v2/ in the
# background as soon as the mount is up, so the first `ls` or `cat` does not also pay for
# finding https or plain HTTP.  Nothing else is asked (no token, no catalog), and nothing at
# all with -o prefetch=0 (no read ahead) or -o offline.

load ../lib/suite

setup_file() { suite_start_registry; }
teardown_file() { suite_teardown; }
teardown() {
	suite_teardown_test
	[[ -z ${MNT:-} ]] || regfs_unmount "$MNT" || true
}
setup() { regfs_skip_if_needed; }

# since_mark — the registry's requests ("METHOD PATH") after the line count in $TESTDIR/mark
since_mark() {
	tail -n +"$(($(<"$TESTDIR/mark") + 1))" "$REGISTRY_DIR/registry.log" |
		sed -nE 's#^.*"(GET|HEAD|PUT|POST|PATCH|DELETE) ([^ "]*) HTTP/[0-9.]+".*#\1 \2#p'
}
mark() { wc -l <"$REGISTRY_DIR/registry.log" >"$TESTDIR/mark"; }
v2_asked() { since_mark | grep -qx 'GET /v2/'; }

@test "warm-up: /v2/ is asked before anyone reads, and nothing else; the first ls goes straight to the catalog" {
	mark
	suite_mount ttl=60
	# nobody has touched the mount: the warm-up alone asks /v2/
	_wait_until 20 v2_asked || { echo "no GET /v2/ within 20 s of the mount" >&2; return 1; }
	sleep 0.5
	[ "$(since_mark)" = "GET /v2/" ] ||
		{ echo "the warm-up asked more than /v2/:" >&2; since_mark >&2; return 1; }
	grep -q "plain HTTP" "$TESTDIR/regfs.log"
	mark
	fs ls "$R" | grep -qx onap
	sleep 0.3 # the registry logs after it answers
	[ "$(since_mark | head -n 1 | cut -d'?' -f1)" = "GET /v2/_catalog" ] ||
		{ echo "the first ls asked:" >&2; since_mark >&2; return 1; }
}

@test "warm-up: none with -o prefetch=0" {
	mark
	suite_mount ttl=60 prefetch=0
	# an absence: give a warm-up the time it takes above, then look
	sleep 3
	[ -z "$(since_mark)" ] || { echo "a mount with prefetch=0 asked:" >&2; since_mark >&2; return 1; }
	# the first ls still works, finding the scheme itself
	fs ls "$R" | grep -qx onap
	since_mark | grep -qx 'GET /v2/'
}
