#!/usr/bin/env bats
# inspect.json is what `docker manifest inspect --verbose REG/REPO:TAG` prints, compared after
# normalising both with `jq -S .`.  Skipped when the docker CLI is missing (it needs no engine).

load ../lib/suite

setup_file() {
	suite_setup
	DOCKER_CONFIG=$(mktemp -d "$TESTDIR/docker-config.XXXXXX")
	export DOCKER_CONFIG
}
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() {
	regfs_skip_if_needed
	command -v docker >/dev/null 2>&1 || skip "docker CLI is not installed"
}

# check_inspect REPO:TAG
check_inspect() {
	local ref=$1 dir="$R/${1%:*}/${1##*:}"
	docker manifest inspect --insecure --verbose "$REGISTRY/$ref" >"$BATS_TEST_TMPDIR/docker.json"
	jq -S . "$BATS_TEST_TMPDIR/docker.json" >"$BATS_TEST_TMPDIR/want.json"
	fs cat "$dir/inspect.json" >"$BATS_TEST_TMPDIR/got.raw"
	jq -S . "$BATS_TEST_TMPDIR/got.raw" >"$BATS_TEST_TMPDIR/got.json" ||
		{ echo "$ref: inspect.json is not JSON:" >&2; head -c 500 "$BATS_TEST_TMPDIR/got.raw" >&2; return 1; }
	diff -u "$BATS_TEST_TMPDIR/want.json" "$BATS_TEST_TMPDIR/got.json" >&2 ||
		{ echo "$ref: inspect.json differs from docker manifest inspect --verbose (- docker, + regfs)" >&2; return 1; }
	# st_size is the real length, so `cat` and readers that trust st_size agree
	[ "$(fs stat -c %s "$dir/inspect.json")" = "$(stat -c %s "$BATS_TEST_TMPDIR/got.raw")" ]
}

@test "inspect.json of a Docker image equals docker manifest inspect --verbose" {
	check_inspect onap/py-app-amd64:latest
	check_inspect onap/py-app-arm64v8:latest
}

@test "inspect.json of a Docker manifest list equals docker manifest inspect --verbose" {
	check_inspect onap/py-app:v1
}

@test "inspect.json of an OCI image and an OCI index equal docker manifest inspect --verbose" {
	check_inspect test/multi:latest
	check_inspect onap/py-app-oci:latest
}

@test "inspect.json with os.version equals docker manifest inspect --verbose" {
	check_inspect test/windows:image
	check_inspect test/windows:latest
}

@test "inspect.json of an index with attestations equals docker manifest inspect --verbose" {
	check_inspect test/attest:latest
}
