#!/usr/bin/env bats
# regfs is read-only for now: every kind of write answers EROFS ("Read-only file system"), and
# the registry receives no write request.  (ln -s is not tested here: a later feature creates
# tags with it.)

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

EROFS="Read-only file system"

@test "creating files gives EROFS" {
	local img="$R/onap/py-app-amd64/latest"
	fs ls "$img" >/dev/null
	assert_fails_with "$EROFS" fs touch "$img/new-file"
	assert_fails_with "$EROFS" fs touch "$R/onap/new-file"
	assert_fails_with "$EROFS" fs sh -c "echo hello > '$img/new-file'"
	assert_fails_with "$EROFS" fs mknod "$R/onap/fifo" p
	[ ! -e "$img/new-file" ]
}

@test "writing existing files gives EROFS" {
	local img="$R/onap/py-app-amd64/latest" layer
	assert_fails_with "$EROFS" fs sh -c "echo x > '$img/manifest.json'"
	assert_fails_with "$EROFS" fs sh -c "echo x >> '$img/digest'"
	assert_fails_with "$EROFS" fs truncate -s 0 "$img/config.json"
	layer=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	assert_fails_with "$EROFS" fs sh -c "echo x > '$img/layers/$layer'"
	assert_fails_with "$EROFS" fs touch "$img/manifest.json"
	assert_fails_with "$EROFS" fs chmod 600 "$img/manifest.json"
	# still the registry's bytes
	[ "$(sha256_of "$img/manifest.json")" = "$(sum '.refs["onap/py-app-amd64:latest"].digest')" ]
}

@test "mkdir gives EROFS everywhere but where a draft can start" {
	# at registry and repository level mkdir makes a draft (drafts.bats); below a tag,
	# a platform or the layers, and at the root, nothing can be made
	assert_fails_with "$EROFS" fs mkdir "$MNT/registry.example:5000"
	assert_fails_with "$EROFS" fs mkdir "$R/onap/py-app-amd64/latest/dir"
	assert_fails_with "$EROFS" fs mkdir "$R/onap/py-app-amd64/latest/layers/dir"
	assert_fails_with "$EROFS" fs mkdir "$R/onap/py-app/v1/linux-amd64/dir"
	assert_fails_with "$EROFS" fs mkdir "$R/onap/py-app/@$(sum '.refs["onap/py-app:v1"].digest')/dir"
	[ -z "$(ls -A "$TESTDIR/state/drafts" 2>/dev/null)" ]
}

@test "rm, rmdir and mv give EROFS" {
	local img="$R/onap/py-app-amd64/latest"
	assert_fails_with "$EROFS" fs rm -f "$img/manifest.json"
	assert_fails_with "$EROFS" fs rm -f "$img/platform"
	assert_fails_with "$EROFS" fs rmdir "$img/layers"
	assert_fails_with "$EROFS" fs rmdir "$R/onap/py-app-amd64/latest"
	assert_fails_with "$EROFS" fs mv "$img/digest" "$img/digest2"
	assert_fails_with "$EROFS" fs mv "$R/onap/py-app-amd64/latest" "$R/onap/py-app-amd64/renamed"
	[ -f "$img/manifest.json" ]
	[ -d "$R/onap/py-app-amd64/latest" ]
}

@test "setting xattrs gives EROFS" {
	assert_fails_with "$EROFS" fs setfattr -n user.regfs.digest -v sha256:00 "$R/onap/py-app-amd64/latest"
	assert_fails_with "$EROFS" fs setfattr -n user.other -v x "$R/onap/py-app-amd64/latest/manifest.json"
}

@test "the registry received no write request" {
	local writes
	writes=$(registry_log_since_fixtures | grep -E '"(PUT|POST|PATCH|DELETE) ' || true)
	[ -z "$writes" ] || { echo "regfs sent writes to the registry:" >&2; echo "$writes" >&2; return 1; }
}
