#!/usr/bin/env bats
# -o offline: no network at all.  What the disk cache holds is served by digest (a manifest, its
# config and layers below @sha256:<hex>/); a tag cannot be resolved without a registry; a commit
# is refused.  The registry's port is held by a listener that logs every connection: there must
# be none.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	_stop_pidfile "$TESTDIR/listener.pid" 5 || true
	suite_teardown
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

@test "offline: what the cache holds reads by digest, tags do not resolve, and no connection is made" {
	local repo=onap/py-app-amd64 digest dir n i name port
	digest=$(sum ".refs[\"$repo:latest\"].digest")
	# online first: the manifest, the config and every layer go into the disk cache
	fs cat "$R/$repo/latest/manifest.json" >/dev/null
	fs cat "$R/$repo/latest/config.json" >/dev/null
	for name in $(lsdir "$R/$repo/latest/layers"); do
		fs cat "$R/$repo/latest/layers/$name" >/dev/null
	done
	# a draft, made online, to try to commit offline
	fs mkdir "$R/onap/py-app/offline-draft"
	fs ln -s "../../py-app-amd64/latest" "$R/onap/py-app/offline-draft/amd64"
	regfs_unmount "$MNT"

	# the registry goes; its port is held by a listener that logs each connection
	port=${REGISTRY##*:}
	registry_stop "$REGISTRY_DIR"
	_wait_until 10 port_is_free "$port"
	daemon_start "$TESTDIR" listener 10 python3 "$REGFS_LIB_DIR/hung_server.py" --port "$port" \
		--log "$TESTDIR/listener.log" >/dev/null
	: >>"$TESTDIR/listener.log"

	regfs_mount "$MNT" offline
	grep -q 'offline: no network' "$TESTDIR/regfs.log"
	dir="$R/$repo/@$digest"
	[ "$(sha256_of "$dir/manifest.json")" = "$digest" ]
	[ "$(fs cat "$dir/digest")" = "$digest" ]
	fs cat "$dir/platform" | grep -qx 'linux/amd64'
	n=$(sum ".refs[\"$repo:latest\"].layers | length")
	for ((i = 0; i < n; i++)); do
		name=$(sum ".refs[\"$repo:latest\"].layers[$i].name")
		[ "$(sha256_of "$dir/layers/$name")" = "$(sum ".refs[\"$repo:latest\"].layers[$i].digest")" ]
	done
	fs cat "$dir/inspect.json" | jq -e . >/dev/null
	# listings hold only the drafts' levels (nothing to ask), but the mount answers
	run lsdir "$R"
	[ "$status" -eq 0 ] && [ "$output" = onap ]
	# what is not cached is not there to read: the network is down, not "no such file"
	assert_fails_with "Network is down" fs cat "$R/onap/py-app-arm64v8/@$(sum '.refs["onap/py-app-arm64v8:latest"].digest')/digest"
	# a tag cannot be resolved without a registry
	run fs cat "$R/$repo/latest/digest"
	[ "$status" -ne 0 ]
	# a host not given is not asked
	assert_fails_with "Network is down" fs ls "$MNT/127.0.0.1:1"
	# no new draft (every name reads as a repository path: no registry says it is none), and
	# a draft made before is not pushed
	run fs mkdir "$R/onap/py-app/offline-new"
	[ "$status" -ne 0 ]
	fs ls -A "$R/onap/py-app/offline-draft" >/dev/null
	assert_fails_with "Network is down" fs touch "$R/onap/py-app/offline-draft/.commit"

	# not one connection to the registry's port
	sleep 0.5
	[ ! -s "$TESTDIR/listener.log" ] || { echo "connections:"; cat "$TESTDIR/listener.log"; return 1; } >&2
	! grep -q unreachable "$TESTDIR/regfs.log" || false
	regfs_unmount "$MNT"
	_stop_pidfile "$TESTDIR/listener.pid" 5
	registry_start "$REGISTRY_DIR" "$port"
}
