#!/usr/bin/env bats
# The warm-up at mount: each registry given with -o registry= is asked its /v2/ in the
# background as soon as the mount is up, so the first `ls` or `cat` does not also pay for
# finding https or plain HTTP.  Nothing else is asked (no token, no catalog), and nothing at
# all with -o prefetch=0 (no read ahead) or -o offline.  And what a path walked in full reads
# ahead: the catalog beside the first probe of a top-level name, a tag's manifest beside the
# tags list that answers its lookup.

load ../lib/suite
bats_require_minimum_version 1.5.0

setup_file() { suite_start_registry; }
teardown_file() { suite_teardown; }
teardown() {
	suite_teardown_test
	[[ -z ${MNT:-} ]] || regfs_unmount "$MNT" || true
	proxy_stop "$TESTDIR/proxy-slow" 2>/dev/null || true
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


# count_of REQUEST — how many times "METHOD PATH" (without its query) was asked since the mark
count_of() { since_mark | cut -d'?' -f1 | grep -cxF "$1" || true; }

# span PATH — "START END" in ms since the epoch of the verbose log's GET of PATH through the
# proxy (the line is written at its end and says how long it took)
span() {
	python3 - "$TESTDIR/regfs.log" "$PROXY$1" <<'PY'
import datetime, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"(\S+)Z regfs debug: http GET (\S+): \d+ in (\d+) ms", line)
    if m and m.group(2) == sys.argv[2]:
        end = datetime.datetime.fromisoformat(m.group(1)).replace(
            tzinfo=datetime.timezone.utc).timestamp() * 1000
        print("%d %d" % (end - int(m.group(3)), end))
        break
PY
}

@test "a path walked in full: catalog and tag read ahead beside the lookups, each asked once" {
	# every request takes a second: what goes out together ends together
	proxy_start "$TESTDIR/proxy-slow" --delay-ms 1000
	mark
	suite_mount ttl=60 "registry=$PROXY" verbose
	_wait_until 20 grep -q "http GET $PROXY/v2/: 200" "$TESTDIR/regfs.log"
	mark
	# "onap" is a namespace: its probe (a tags list, 404) and the catalog go out together; the
	# tag's lookup has no tags listing at hand, so its manifest GET goes beside that list
	fs cat "$MNT/$PROXY/onap/py-app/v1/manifest.json" >"$TESTDIR/walked.json"
	sleep 0.3 # the registry logs after it answers
	since_mark >&2
	[ "$(count_of 'GET /v2/_catalog')" = 1 ]
	[ "$(count_of 'GET /v2/onap/py-app/tags/list')" = 1 ]
	# the read ahead and the reader share one GET of the tag (single flight), and the
	# manifest is not asked again by digest
	[ "$(count_of 'GET /v2/onap/py-app/manifests/v1')" = 1 ]
	[ "$(since_mark | grep -c '/manifests/')" = 1 ]
	skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/py-app:v1" |
		cmp - "$TESTDIR/walked.json"
	# beside, not after: each GET started before the one it goes beside had ended
	read -r probe_start probe_end < <(span /v2/onap/tags/list)
	read -r cat_start cat_end < <(span /v2/_catalog)
	read -r tags_start tags_end < <(span /v2/onap/py-app/tags/list)
	read -r tag_start tag_end < <(span /v2/onap/py-app/manifests/v1)
	echo "probe $probe_start-$probe_end catalog $cat_start-$cat_end" \
		"tags $tags_start-$tags_end tag $tag_start-$tag_end" >&2
	((cat_start < probe_end && probe_start < cat_end))
	((tag_start < tags_end && tags_start < tag_end))
	# a tag that is not there: ENOENT, however its read ahead ended
	run -1 fs stat "$MNT/$PROXY/onap/py-app/no-such-tag"
	[[ $output == *"No such file"* ]]
	proxy_stop "$TESTDIR/proxy-slow"
}
