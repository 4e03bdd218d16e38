#!/usr/bin/env bats
# Where credentials may go: a plain-HTTP registry (docker-registry in token mode on 127.0.0.1)
# whose WWW-Authenticate realm names a token server on another host over http://
# (tests/lib/token_server.py on 127.0.0.2).  regfs has credentials for the registry; they must
# not reach that token server in cleartext.  regfs says so in its log, asks for an anonymous
# token instead, and the registry's refusal of that token is EACCES.  (A token server on the
# registry's own host, another port, does get them: auth.bats and tokens.bats.)

load ../lib/suite
load ../lib/auth

SERVICE=regfs-test-registry
ISSUER=regfs-test-token-server

setup_file() {
	auth_suite_start
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	local pw
	pw=$(auth_secret)
	printf '%s\n' "$pw" "$(basic_header user "$pw")" >"$TESTDIR/passwords"
	jq -n --arg pw "$pw" '{user: {password: $pw, pull: ["*"], catalog: true}}' >"$TESTDIR/users.json"
	TOKEN_SERVER_ADDR=127.0.0.2 token_server_start "$TESTDIR/ts" "$TESTDIR/users.json" \
		--service "$SERVICE" --issuer "$ISSUER"
	auth_registry_start "$TESTDIR/token" "$TESTDIR/plain/storage" token "$TESTDIR/ts/root.pem" \
		"http://$TOKEN_SERVER/token" "$SERVICE" "$ISSUER"
	TOKEN=$(auth_registry_host "$TESTDIR/token")
	export TOKEN TOKEN_SERVER
	docker_config "$TESTDIR/user.json" "$TOKEN" user "$pw"
	REGISTRY=$TOKEN regfs_mount "$TESTDIR/mnt" "auth_file=$TESTDIR/user.json" \
		"logfile=$TESTDIR/regfs.log" verbose
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	registry_stop "$TESTDIR/token" || true
	token_server_stop "$TESTDIR/ts" || true
	registry_stop "$TESTDIR/plain" || true
}

setup() { regfs_skip_if_needed; }

teardown() {
	logs_on_failure "$TESTDIR/regfs.log" "$TESTDIR/regfs.stderr" "$TESTDIR/ts/token.log"
}

@test "a realm on another host over http gets no credentials; the read is EACCES" {
	local R="$TESTDIR/mnt/$TOKEN"
	assert_fails_with "Permission denied" fs cat "$R/onap/py-app-amd64/latest/digest"
	# the catalog too: credentials withheld are credentials the registry lacks, not an
	# empty registry
	assert_fails_with "Permission denied" fs ls "$R"
	# the token server was asked, never with an Authorization header
	(($(token_requests "$TESTDIR/ts") >= 1))
	[ "$(token_requests "$TESTDIR/ts" '.authorization or .creds != "none"')" -eq 0 ]
	# regfs said why, naming the realm's host
	grep -q "not sending credentials to token realm '$TOKEN_SERVER'" "$TESTDIR/regfs.log"
	# and the password went nowhere else either
	secrets_find "$BATS_TEST_TMPDIR/hits" "$TESTDIR/passwords" "$TESTDIR/regfs.log" \
		"$TESTDIR/regfs.stderr" "$TESTDIR/ts/token.log" ||
		{ cat "$BATS_TEST_TMPDIR/hits" >&2; return 1; }
}
