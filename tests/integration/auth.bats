#!/usr/bin/env bats
# Credentials against real registries: docker-registry with htpasswd (Basic) and in token mode
# (Bearer, tokens from tests/lib/token_server.py), each serving the seed fixtures, with one
# regfs mount per set of credentials (good, none, wrong, a short-lived token user, a user
# allowed one repository only, a user allowed to pull but not to see the catalog).  Checks what shell tools see (works, or "Permission denied")
# and what the servers received (challenges, token requests per scope, renewals), then that
# no password or token turns up in regfs' logs, stderr or extended attributes.

load ../lib/suite
load ../lib/auth

SERVICE=regfs-test-registry
ISSUER=regfs-test-token-server
ARCHES=(amd64 arm64v8 mips ppc64le s390x)

setup_file() {
	# fixtures go in through an ordinary registry; the auth registries serve its storage
	auth_suite_start
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0

	# every secret of the run, one a line, for the leak scan (tokens are added at the end)
	local good short limited wrong nocat
	good=$(auth_secret) short=$(auth_secret) limited=$(auth_secret) wrong=$(auth_secret)
	nocat=$(auth_secret)
	printf '%s\n' "$good" "$short" "$limited" "$wrong" "$nocat" \
		"$(basic_header user "$good")" "$(basic_header short "$short")" \
		"$(basic_header limited "$limited")" "$(basic_header user "$wrong")" \
		"$(basic_header nocat "$nocat")" >"$TESTDIR/passwords"

	htpasswd_file "$TESTDIR/htpasswd" user "$good"
	auth_registry_start "$TESTDIR/basic" "$TESTDIR/plain/storage" basic "$TESTDIR/htpasswd"
	BASIC=$(auth_registry_host "$TESTDIR/basic")
	export BASIC

	jq -n --arg good "$good" --arg short "$short" --arg limited "$limited" --arg nocat "$nocat" '{
		user: {password: $good, pull: ["*"], catalog: true, expires_in: 300},
		short: {password: $short, pull: ["*"], catalog: true, expires_in: 6},
		limited: {password: $limited, pull: ["onap/py-app-amd64"], catalog: true},
		nocat: {password: $nocat, pull: ["*"]}
	}' >"$TESTDIR/users.json"
	token_server_start "$TESTDIR/ts" "$TESTDIR/users.json" --service "$SERVICE" --issuer "$ISSUER"
	auth_registry_start "$TESTDIR/token" "$TESTDIR/plain/storage" token "$TESTDIR/ts/root.pem" \
		"http://$TOKEN_SERVER/token" "$SERVICE" "$ISSUER"
	TOKEN=$(auth_registry_host "$TESTDIR/token")
	export TOKEN

	docker_config "$TESTDIR/good.json" "$BASIC" user "$good" "$TOKEN" user "$good"
	docker_config "$TESTDIR/none.json"
	docker_config "$TESTDIR/wrong.json" "$BASIC" user "$wrong" "https://$TOKEN/v1/" user "$wrong"
	docker_config "$TESTDIR/short.json" "$TOKEN" short "$short"
	docker_config "$TESTDIR/limited.json" "$TOKEN" limited "$limited"
	docker_config "$TESTDIR/nocat.json" "$TOKEN" nocat "$nocat"

	local m
	for m in good none wrong; do
		auth_mount "$m" "$BASIC" "$TOKEN"
	done
	auth_mount short "$TOKEN"
	auth_mount limited "$TOKEN"
	auth_mount nocat "$TOKEN"
}

teardown_file() {
	local m
	[[ -n ${TESTDIR:-} ]] || return 0
	for m in good none wrong short limited nocat; do
		regfs_unmount "$TESTDIR/mnt-$m" || true
	done
	registry_stop "$TESTDIR/basic" || true
	registry_stop "$TESTDIR/token" || true
	token_server_stop "$TESTDIR/ts" || true
	registry_stop "$TESTDIR/plain" || true
}

setup() { regfs_skip_if_needed; }

# on failure: the end of every mount's log, regfs' stderr and the token server's log
teardown() {
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR/regfs.stderr" "$TESTDIR/ts/token.log"
}

# auth_mount NAME HOST... — mount regfs at $TESTDIR/mnt-NAME for the HOSTs with credentials
# from $TESTDIR/NAME.json; its own log (verbose, for the leak scan) and its own cache, so one
# mount never serves what another downloaded.
auth_mount() {
	local name=$1 h
	shift
	local -a opts=("auth_file=$TESTDIR/$name.json" "logfile=$TESTDIR/regfs-$name.log"
		"cache_dir=$TESTDIR/cache-$name" verbose)
	for h in "${@:2}"; do
		opts+=("registry=$h")
	done
	REGISTRY=$1 regfs_mount "$TESTDIR/mnt-$name" "${opts[@]}"
}

# at NAME HOST — the registry directory of HOST in mount NAME
at() {
	echo "$TESTDIR/mnt-$1/$2"
}

# log_mark DIR — remember where DIR/registry.log stands; log_since DIR prints what came after
log_mark() {
	wc -l <"$1/registry.log" >"$1/registry.log.mark"
}
log_since() {
	tail -n +"$(($(<"$1/registry.log.mark") + 1))" "$1/registry.log"
}

# status_count STATUS — access log lines (on stdin) for API requests answered with STATUS
status_count() {
	grep -c "\"[A-Z]* /v2/[^\"]*\" $1 " || true
}

# browse_image ROOT ARCH — read everything of onap/py-app-ARCH:latest under ROOT and compare
# it with the summary and with the plain registry's bytes
browse_image() {
	local ref="onap/py-app-$2:latest" dir="$1/onap/py-app-$2/latest" name digest
	[ "$(sha256_of "$dir/manifest.json")" = "$(sum '.refs[$r].digest' --arg r "$ref")" ] ||
		{ echo "$ref: manifest.json does not hash to its digest" >&2; return 1; }
	cmp <(sum '.refs[$r].digest' --arg r "$ref") <(fs cat "$dir/digest")
	fetch_blob "onap/py-app-$2" "$(sum '.refs[$r].config.digest' --arg r "$ref")" "$BATS_TEST_TMPDIR/config"
	fs cmp "$BATS_TEST_TMPDIR/config" "$dir/config.json"
	cmp <(sum '.refs[$r].platform_string' --arg r "$ref") <(fs cat "$dir/platform")
	fs cat "$dir/inspect.json" | jq -e . >/dev/null
	while read -r name digest; do
		[ "$(sha256_of "$dir/layers/$name")" = "$digest" ] ||
			{ echo "$ref: layer $name does not hash to $digest" >&2; return 1; }
	done < <(sum '.refs[$r].layers[] | "\(.name) \(.digest)"' --arg r "$ref")
	[ "$(xattr "$dir" user.regfs.digest)" = "$(sum '.refs[$r].digest' --arg r "$ref")" ]
}

# denied ROOT — onap/py-app-arm64v8 under ROOT: the manifest and config by digest are
# "Permission denied", and no tag shows through
denied() {
	local repo="$1/onap/py-app-arm64v8" d
	d=$(sum '.refs["onap/py-app-arm64v8:latest"].digest')
	assert_fails_with "Permission denied" fs stat "$repo/@$d"
	assert_fails_with "Permission denied" fs cat "$repo/@$d/manifest.json"
	assert_fails_with "Permission denied" fs cat "$repo/@$d/config.json"
	run fs ls "$repo"
	[[ $output != *latest* ]] || { echo "ls $repo shows tags: $output" >&2; return 1; }
}

# denied_by_tag ROOT — the same through the tag: ls, stat and cat are "Permission denied"
denied_by_tag() {
	local repo="$1/onap/py-app-arm64v8"
	assert_fails_with "Permission denied" fs ls "$repo"
	assert_fails_with "Permission denied" fs stat "$repo/latest"
	assert_fails_with "Permission denied" fs cat "$repo/latest/manifest.json"
}

# --- Basic -------------------------------------------------------------------------------

@test "basic: with credentials from auth_file, ls cat sha256sum and xattrs work" {
	local R1 arch
	R1=$(at good "$BASIC")
	log_mark "$TESTDIR/basic"
	run lsdir "$R1"
	[ "$status" -eq 0 ]
	assert_lines onap "$output" "ls $R1 (catalog)"
	run lsdir "$R1/onap"
	[ "$status" -eq 0 ]
	assert_lines "$(expected_children onap)" "$output" "ls $R1/onap"
	for arch in "${ARCHES[@]}"; do
		browse_image "$R1" "$arch"
	done
	run lsdir "$R1/onap/py-app/v1"
	[ "$status" -eq 0 ]
	[[ $output == *linux-s390x* ]]

	# the registry's side: after the first challenge every request carried credentials
	local n200 n401
	n200=$(log_since "$TESTDIR/basic" | status_count 200)
	n401=$(log_since "$TESTDIR/basic" | status_count 401)
	((n200 >= 20)) || { echo "only $n200 requests succeeded at the registry" >&2; return 1; }
	((n401 <= 2)) || { echo "$n401 requests were challenged (credentials not sent up front?)" >&2; return 1; }
}

@test "basic: no credentials is EACCES (not ENOENT, not EIO), and the registry refused it" {
	local R0
	R0=$(at none "$BASIC")
	log_mark "$TESTDIR/basic"
	denied "$R0"
	assert_fails_with "Permission denied" fs sha256sum \
		"$R0/onap/py-app-amd64/@$(sum '.refs["onap/py-app-amd64:latest"].digest')/config.json"
	# the catalog too: a registry that wants credentials is no registry without a catalog
	assert_fails_with "Permission denied" fs ls "$R0"
	# it came from auth: 401s and nothing served, and regfs said why
	[ "$(log_since "$TESTDIR/basic" | status_count 200)" -eq 0 ]
	(($(log_since "$TESTDIR/basic" | status_count 401) >= 4))
	if log_since "$TESTDIR/basic" | grep -q 'authentication failure'; then
		echo "the registry saw credentials from a mount that has none" >&2
		return 1
	fi
	grep -q "HTTP 401 UNAUTHORIZED from '$BASIC'" "$TESTDIR/regfs-none.log"
	# the same paths are there for a mount with credentials
	[ -d "$(at good "$BASIC")/onap/py-app-arm64v8/latest" ]
}

@test "basic: wrong password is EACCES, and the registry saw the credentials fail" {
	local Rw
	Rw=$(at wrong "$BASIC")
	log_mark "$TESTDIR/basic"
	denied "$Rw"
	[ "$(log_since "$TESTDIR/basic" | status_count 200)" -eq 0 ]
	# distribution says "authentication failure" for credentials that do not match, which
	# tells a wrong password from none at all
	log_since "$TESTDIR/basic" | grep -q 'authentication failure'
	grep -q "HTTP 401 UNAUTHORIZED from '$BASIC'" "$TESTDIR/regfs-wrong.log"
}

# --- Bearer ------------------------------------------------------------------------------

@test "bearer: browse through tokens; catalog listed when granted" {
	local R1 arch
	R1=$(at good "$TOKEN")
	run lsdir "$R1"
	[ "$status" -eq 0 ]
	assert_lines onap "$output" "ls $R1 (catalog)"
	run lsdir "$R1/onap"
	[ "$status" -eq 0 ]
	assert_lines "$(expected_children onap)" "$output" "ls $R1/onap"
	for arch in "${ARCHES[@]}"; do
		browse_image "$R1" "$arch"
	done
	run lsdir "$R1/onap/py-app/v1"
	[ "$status" -eq 0 ]
	[[ $output == *linux-arm64-v8* ]]
	[ "$(token_requests "$TESTDIR/ts" '.user == "user" and .granted == ["registry:catalog:*"]')" -ge 1 ]
}

@test "bearer: one token request per scope, not one per read" {
	local ts="$TESTDIR/ts" scopes want n before after reads arch
	# what the previous test needed: the catalog and one pull scope per repository read
	# (not "onap": the catalog at hand says it is no repository, so it has no tags to ask)
	want=$({
		echo 'registry:catalog:*'
		echo 'repository:onap/py-app:pull'
		for arch in "${ARCHES[@]}"; do
			echo "repository:onap/py-app-$arch:pull"
		done
	} | LC_ALL=C sort)
	scopes=$(jq -r 'select(.user == "user" and .status == 200) | .scopes[]' "$ts/token.log" | LC_ALL=C sort -u)
	assert_lines "$want" "$scopes" "scopes asked for"
	# each scope once (twice if two threads raced for it), every request with credentials
	n=$(jq -r 'select(.user == "user") | .scopes[]' "$ts/token.log" | LC_ALL=C sort | uniq -c |
		awk '$1 > 2 { print }')
	[ -z "$n" ] || { echo "scopes fetched more than twice: $n" >&2; return 1; }
	[ "$(token_requests "$ts" '.user == "user" and .creds != "ok"')" -eq 0 ]

	# reading it all again (tags and listings expired: ttl=2) goes to the registry with the
	# tokens regfs holds, and asks the token server for nothing
	sleep 2.2
	before=$(token_requests "$ts")
	log_mark "$TESTDIR/token"
	for arch in "${ARCHES[@]}"; do
		browse_image "$(at good "$TOKEN")" "$arch"
	done
	lsdir "$(at good "$TOKEN")/onap" >/dev/null
	after=$(token_requests "$ts")
	reads=$(log_since "$TESTDIR/token" | status_count 200)
	((reads >= 5)) || { echo "only $reads requests reached the registry" >&2; return 1; }
	[ "$after" -eq "$before" ] || { echo "$((after - before)) new token requests for $reads reads" >&2; return 1; }
	[ "$(log_since "$TESTDIR/token" | status_count 401)" -eq 0 ]
}

@test "bearer: an expired token is renewed and reads go on working" {
	local ts="$TESTDIR/ts" R1 scope='repository:onap/py-app-amd64:pull' first second
	local cond=".user == \"short\" and .status == 200 and .scopes == [\"$scope\"]"
	R1=$(at short "$TOKEN")
	# short's tokens live 6 s; regfs renews them half way (TOKEN_EARLY is longer than that)
	cmp <(sum '.refs["onap/py-app-amd64:latest"].digest') <(fs cat "$R1/onap/py-app-amd64/latest/digest")
	first=$(token_requests "$ts" "$cond")
	[ "$first" -eq 1 ] || { echo "$first token requests for one read" >&2; return 1; }
	[ "$(jq -r 'select(.user == "short") | .expires_in' "$ts/token.log" | sort -u)" = 6 ]

	sleep 7
	log_mark "$TESTDIR/token"
	run lsdir "$R1/onap/py-app-amd64"
	[ "$status" -eq 0 ]
	assert_lines latest "$output"
	browse_image "$R1" amd64
	second=$(token_requests "$ts" "$cond")
	((second >= 2 && second <= 3)) || { echo "$second token requests in all, want a second one" >&2; return 1; }
	(($(log_since "$TESTDIR/token" | status_count 200) >= 3))
}

@test "bearer: a user denied pull gets EACCES; granted repositories still work" {
	local Rl ts="$TESTDIR/ts"
	Rl=$(at limited "$TOKEN")
	log_mark "$TESTDIR/token"
	browse_image "$Rl" amd64
	denied "$Rl"
	# the catalog is granted: every repository is listed, readable or not
	run lsdir "$Rl/onap"
	[ "$status" -eq 0 ]
	assert_lines "$(expected_children onap)" "$output" "ls $Rl/onap"
	# it came from auth: the token server authenticated the user and granted nothing for it,
	# and the registry refused that token
	[ "$(token_requests "$ts" '.user == "limited" and .creds == "ok" and .scopes == ["repository:onap/py-app-arm64v8:pull"] and .granted == []')" -ge 1 ]
	(($(log_since "$TESTDIR/token" | grep '/v2/onap/py-app-arm64v8/' | status_count 401) >= 1))
	[ "$(log_since "$TESTDIR/token" | grep '/v2/onap/py-app-arm64v8/' | status_count 200)" -eq 0 ]
	grep -q "HTTP 401 UNAUTHORIZED from '$TOKEN'" "$TESTDIR/regfs-limited.log"
}

@test "bearer: no credentials or a wrong password is EACCES" {
	local ts="$TESTDIR/ts"
	denied "$(at none "$TOKEN")"
	denied "$(at wrong "$TOKEN")"
	# anonymous requests got empty tokens; the wrong password got no token at all
	[ "$(token_requests "$ts" '.creds == "none" and .status == 200 and .granted == []')" -ge 1 ]
	[ "$(token_requests "$ts" '.creds == "none" and .granted != []')" -eq 0 ]
	[ "$(token_requests "$ts" '.creds == "bad" and .user == "user" and .status == 401')" -ge 1 ]
	# (the first token it asks for is the catalog's: refused, so is everything below it)
	grep -q "token for '[^']*' on '$TOKEN': HTTP 401" "$TESTDIR/regfs-wrong.log"
}

@test "catalog: EACCES without the credentials it wants; kept from us, it lists nothing" {
	local Rn
	# credentials the registry wants and regfs lacks: no catalog would read as an empty registry
	assert_fails_with "Permission denied" fs ls "$(at wrong "$BASIC")"
	assert_fails_with "Permission denied" fs ls "$(at wrong "$TOKEN")"
	# with them it lists
	run lsdir "$(at good "$BASIC")"
	[ "$status" -eq 0 ]
	assert_lines onap "$output" "ls (catalog)"
	# a token got with all we have that does not cover the catalog (Docker Hub's way, here a
	# user allowed to pull but not to list): no catalog, and repositories are read by name
	Rn=$(at nocat "$TOKEN")
	run lsdir "$Rn"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run lsdir "$Rn/onap/py-app-amd64"
	[ "$status" -eq 0 ]
	assert_lines latest "$output"
	browse_image "$Rn" amd64
	[ "$(token_requests "$TESTDIR/ts" '.user == "nocat" and .status == 200 and .scopes == ["registry:catalog:*"] and .granted == []')" -ge 1 ]
	# anonymous (the token server grants nothing): the same, no catalog
	run lsdir "$(at none "$TOKEN")"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "tag paths of a denied repository are EACCES too (catalog granted, refused, absent)" {
	denied_by_tag "$(at limited "$TOKEN")"
	denied_by_tag "$(at none "$BASIC")"
	denied_by_tag "$(at wrong "$BASIC")"
	denied_by_tag "$(at none "$TOKEN")"
	denied_by_tag "$(at wrong "$TOKEN")"
}

# --- secrets -----------------------------------------------------------------------------

@test "verbose: one line per HTTP request (method, host, path, status, ms, bytes), no query, no secret" {
	local log="$TESTDIR/regfs-good.log" src="$BATS_TEST_TMPDIR/m.json" mt digest h indent=6
	for h in "$BASIC" "$TOKEN"; do
		# a manifest no mount has read, one per host (the cache is shared by digest): the
		# amd64 one re-indented, pushed to the storage both registries serve
		indent=$((indent + 1))
		REGISTRY=$PLAIN fetch_manifest onap/py-app-amd64 latest "$src"
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); open(sys.argv[1], "w").write(json.dumps(d, indent=int(sys.argv[2])))' "$src" "$indent"
		mt=$(jq -r .mediaType "$src")
		curl -fsS -X PUT -H "Content-Type: $mt" --data-binary "@$src" \
			"http://$PLAIN/v2/onap/py-app-amd64/manifests/verbose$indent" >/dev/null
		digest="sha256:$(sha256sum "$src" | cut -d' ' -f1)"
		[ "$(sha256_of "$(at good "$h")/onap/py-app-amd64/verbose$indent/manifest.json")" = "$digest" ]
		# the GET that fetched it: method, host, path, status, time and the manifest's size
		grep -E "debug: http GET $h/v2/onap/py-app-amd64/manifests/(verbose$indent|$digest): 200 in [0-9]+ ms, $(stat -c %s "$src") bytes$" "$log" || {
			echo "no request line for the manifest on $h:" >&2
			grep -F "http " "$log" | tail -n 20 >&2
			return 1
		}
	done
	# the registry's challenge and the token server were logged too, without the query
	# (scope=..., service=...) a token request carries
	grep -qE "debug: http GET $TOKEN/v2/: 401 in [0-9]+ ms" "$log"
	grep -qE "debug: http GET $TOKEN_SERVER/token: 200 in [0-9]+ ms, [0-9]+ bytes$" "$log"
	lines=$(grep -E 'debug: http [A-Z]+ ' "$log")
	((${#lines} > 0))
	! grep -E 'debug: http [A-Z]+ [^ ]*[?#@]' <<<"$lines" || { echo "a query, fragment or userinfo was logged" >&2; return 1; }
	# no header is logged (the secrets themselves: the scan below)
	! grep -qiE 'authorization|access_token|refresh_token' "$log" || {
		echo "the log talks of credentials:" >&2
		grep -iE 'authorization|access_token|refresh_token' "$log" >&2
		return 1
	}
}

@test "no password or token in regfs' logs, stderr or xattrs" {
	local secrets="$TESTDIR/secrets" scan="$BATS_TEST_TMPDIR/scan" m h node n_tokens
	local -a files=("$TESTDIR/regfs.stderr")
	# the passwords, their Basic encodings, every token issued and each token's signature
	cp "$TESTDIR/passwords" "$secrets"
	n_tokens=$(grep -c . "$TESTDIR/ts/token.issued")
	[ "$n_tokens" -eq "$(token_requests "$TESTDIR/ts" '.status == 200')" ]
	((n_tokens >= 8))
	cat "$TESTDIR/ts/token.issued" >>"$secrets"
	awk -F. 'NF == 3 { print $3 }' "$TESTDIR/ts/token.issued" >>"$secrets"

	# xattrs of a few nodes of every mount and registry
	for m in good none wrong short limited nocat; do
		for h in "$BASIC" "$TOKEN"; do
			[ -d "$TESTDIR/mnt-$m/$h" ] || continue
			for node in "" onap onap/py-app-amd64 onap/py-app-amd64/latest \
				onap/py-app-amd64/latest/manifest.json onap/py-app/v1/linux-arm64-v8 \
				"onap/py-app-amd64/latest/layers/$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')"; do
				fs getfattr -d -m - --absolute-names "$TESTDIR/mnt-$m/$h/$node" \
					>>"$BATS_TEST_TMPDIR/xattrs" 2>&1 || true
			done
		done
	done
	grep -q 'user.regfs.digest=' "$BATS_TEST_TMPDIR/xattrs"
	files+=("$BATS_TEST_TMPDIR/xattrs" "$TESTDIR"/regfs-*.log)
	[ "${#files[@]}" -eq 8 ]
	grep -q 'token for' "$TESTDIR/regfs-wrong.log" # the logs do talk about tokens

	# the scan can find things: the docker configs and the issued list hold secrets
	if secrets_find "$scan" "$secrets" "$TESTDIR/good.json" "$TESTDIR/ts/token.issued"; then
		echo "the scan finds nothing even where secrets are" >&2
		return 1
	fi
	grep -q 'good.json' "$scan"
	grep -q 'token.issued' "$scan"

	secrets_find "$scan" "$secrets" "${files[@]}" || {
		echo "secrets leaked:" >&2
		cat "$scan" >&2
		return 1
	}
	# the token server's own request log holds none either
	secrets_find "$scan" "$secrets" "$TESTDIR/ts/token.log" || { cat "$scan" >&2; return 1; }
}
