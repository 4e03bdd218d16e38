#!/usr/bin/env bats
# Tokens, push scopes, identity tokens and redirects, against real registries:
# docker-registry in token mode with tests/lib/token_server.py (which answers slowly here,
# --delay, so that concurrent readers overlap a token fetch), and a Basic-auth
# docker-registry behind tests/lib/redirect_proxy.py, a fake that sends blob downloads to a
# second loopback listener the way registries send them to S3 or a CDN (a real registry on
# loopback will not redirect).  Mounts: pusher (pull and push), puller (pull only), idt (an
# identity token in the docker config, no password), short (tokens of 2 s), redirect (Basic,
# through the proxy).

load ../lib/suite
load ../lib/auth

SERVICE=regfs-test-registry
ISSUER=regfs-test-token-server

setup_file() {
	# fixtures go in through an ordinary registry; the auth registries serve its storage
	auth_suite_start
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	# a repository whose every request the proxy redirects to itself
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
		"docker://$PLAIN/onap/py-app-amd64:latest" "docker://$PLAIN/loop/x:latest"
	# a repository whose blobs the proxy sends to a host that asks for credentials
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
		"docker://$PLAIN/onap/py-app-amd64:latest" "docker://$PLAIN/evil/x:latest"

	local pw_push pw_pull pw_basic refresh
	pw_push=$(auth_secret) pw_pull=$(auth_secret) pw_basic=$(auth_secret) refresh=$(auth_secret)
	printf '%s\n' "$pw_push" "$pw_pull" "$pw_basic" "$refresh" \
		"$(basic_header pusher "$pw_push")" "$(basic_header puller "$pw_pull")" \
		"$(basic_header user "$pw_basic")" >"$TESTDIR/passwords"

	jq -n --arg a "$pw_push" --arg b "$pw_pull" --arg r "$refresh" '{
		pusher: {password: $a, pull: ["*"], push: ["*"], catalog: true},
		puller: {password: $b, pull: ["*"], catalog: true},
		idt: {password: "not-used-by-regfs", refresh_token: $r, pull: ["*"], catalog: true},
		short: {password: $a, pull: ["*"], catalog: true, expires_in: 2},
		notoken: {password: $a, pull: ["*"], answer: "no-token"},
		skewpast: {password: $a, pull: ["*"], issued_at_offset: -3600},
		skewfuture: {password: $a, pull: ["*"], issued_at_offset: 3600},
		moved: {password: $a, pull: ["*"]},
		revoked: {password: $a, pull: ["*"], catalog: true}
	}' >"$TESTDIR/users.json"
	# a token server on another host, which "moved"'s token requests are redirected to
	cp "$TESTDIR/users.json" "$TESTDIR/users-away.json"
	TOKEN_SERVER_ADDR=127.0.0.2 token_server_start "$TESTDIR/ts-away" "$TESTDIR/users-away.json" \
		--service "$SERVICE" --issuer "$ISSUER"
	jq --arg u "http://$TOKEN_SERVER" '.moved.redirect_to = $u' "$TESTDIR/users.json" \
		>"$TESTDIR/users.json.new"
	mv "$TESTDIR/users.json.new" "$TESTDIR/users.json"
	token_server_start "$TESTDIR/ts" "$TESTDIR/users.json" --service "$SERVICE" \
		--issuer "$ISSUER" --delay 0.4
	auth_registry_start "$TESTDIR/token" "$TESTDIR/plain/storage" token "$TESTDIR/ts/root.pem" \
		"http://$TOKEN_SERVER/token" "$SERVICE" "$ISSUER"
	TOKEN=$(auth_registry_host "$TESTDIR/token")
	export TOKEN

	htpasswd_file "$TESTDIR/htpasswd" user "$pw_basic"
	auth_registry_start "$TESTDIR/basic" "$TESTDIR/plain/storage" basic "$TESTDIR/htpasswd"
	mkdir -p "$TESTDIR/redirect"
	local port
	port=$(daemon_start "$TESTDIR/redirect" proxy 10 python3 "$REGFS_LIB_DIR/redirect_proxy.py" \
		--upstream "$(auth_registry_host "$TESTDIR/basic")" \
		--upstream-auth "Basic $(basic_header user "$pw_basic")" \
		--storage-port-file "$TESTDIR/redirect/storage.port" \
		--storage-log "$TESTDIR/redirect/storage.log" --files-dir "$TESTDIR/files")
	export REDIRECT="127.0.0.1:$port"
	# the token registry behind a fake that revokes tokens on demand (distribution cannot)
	# (daemon_start, not proxy_start: this registry's /v2/ is a 401)
	mkdir -p "$TESTDIR/proxy-revoke"
	port=$(daemon_start "$TESTDIR/proxy-revoke" proxy 10 python3 "$REGFS_LIB_DIR/paging_proxy.py" \
		--upstream "$TOKEN" --log "$TESTDIR/proxy-revoke/proxy.log" --page-size 0 \
		--revoke-tokens-when "$TESTDIR/revoke-now" --refuse-tokens-while "$TESTDIR/refuse-tokens")
	export REVOKE="127.0.0.1:$port"
	push_foreign_image "http://127.0.0.1:$(<"$TESTDIR/redirect/storage.port")/file/base.tar.gz"

	docker_config "$TESTDIR/pusher.json" "$TOKEN" pusher "$pw_push"
	docker_config "$TESTDIR/puller.json" "$TOKEN" puller "$pw_pull"
	docker_config "$TESTDIR/short.json" "$TOKEN" short "$pw_push"
	local u
	for u in notoken skewpast skewfuture moved; do
		docker_config "$TESTDIR/$u.json" "$TOKEN" "$u" "$pw_push"
	done
	docker_config "$TESTDIR/revoked.json" "$REVOKE" revoked "$pw_push"
	jq -n --arg h "$TOKEN" --arg r "$refresh" '{auths: {($h): {identitytoken: $r}}}' \
		>"$TESTDIR/idt.json"
	docker_config "$TESTDIR/redirect.json" "$REDIRECT" user "$pw_basic"

	tok_mount pusher "$TOKEN"
	tok_mount puller "$TOKEN"
	tok_mount idt "$TOKEN"
	tok_mount short "$TOKEN" ttl=60
	tok_mount redirect "$REDIRECT"
	tok_mount notoken "$TOKEN"
	tok_mount skewpast "$TOKEN"
	tok_mount skewfuture "$TOKEN"
	tok_mount moved "$TOKEN"
	# ttl 60 s: the tag and its names stay known, so only blob reads need the token
	tok_mount revoked "$REVOKE" ttl=60
}

teardown_file() {
	local m
	[[ -n ${TESTDIR:-} ]] || return 0
	for m in pusher puller idt short redirect notoken skewpast skewfuture moved revoked; do
		regfs_unmount "$TESTDIR/mnt-$m" || true
	done
	_stop_pidfile "$TESTDIR/redirect/proxy.pid" 5 || true
	proxy_stop "$TESTDIR/proxy-revoke" || true
	registry_stop "$TESTDIR/basic" || true
	registry_stop "$TESTDIR/token" || true
	token_server_stop "$TESTDIR/ts-away" || true
	token_server_stop "$TESTDIR/ts" || true
	registry_stop "$TESTDIR/plain" || true
}

setup() { regfs_skip_if_needed; }

teardown() {
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR/ts/token.log" "$TESTDIR/redirect/storage.log"
}

# push_foreign_image URL — test/foreign:latest on $PLAIN: a Windows-style image whose one layer
# is foreign (not in the registry; its descriptor names URL), the file in $TESTDIR/files
push_foreign_image() {
	local url=$1 f="$TESTDIR/files" cfg ld ls cd cs loc
	mkdir -p "$f/src"
	printf 'a base layer that lives outside the registry\n' >"$f/src/base.txt"
	tar -C "$f/src" -czf "$f/base.tar.gz" base.txt
	ld=sha256:$(sha256sum <"$f/base.tar.gz" | cut -d' ' -f1) ls=$(stat -c %s "$f/base.tar.gz")
	cfg='{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1","rootfs":{"type":"layers","diff_ids":[]}}'
	printf '%s' "$cfg" >"$f/config.json"
	cd=sha256:$(sha256sum <"$f/config.json" | cut -d' ' -f1) cs=$(stat -c %s "$f/config.json")
	loc=$(curl -fsS -D - -o /dev/null -X POST "http://$PLAIN/v2/test/foreign/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	curl -fsS -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$f/config.json" \
		"$loc&digest=$cd" -o /dev/null
	jq -n --arg cd "$cd" --argjson cs "$cs" --arg ld "$ld" --argjson ls "$ls" --arg url "$url" '{
		schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json",
		config: {mediaType: "application/vnd.docker.container.image.v1+json", size: $cs, digest: $cd},
		layers: [{mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
			  size: $ls, digest: $ld, urls: [$url]}]}' >"$f/manifest.json"
	curl -fsS -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
		--data-binary "@$f/manifest.json" "http://$PLAIN/v2/test/foreign/manifests/latest" -o /dev/null
	echo "$ld" >"$f/layer.digest"
}

# tok_mount NAME HOST [OPTION...] — regfs at $TESTDIR/mnt-NAME for HOST with credentials from
# $TESTDIR/NAME.json, its own log, cache and drafts
tok_mount() {
	REGISTRY=$2 regfs_mount "$TESTDIR/mnt-$1" "auth_file=$TESTDIR/$1.json" \
		"logfile=$TESTDIR/regfs-$1.log" "cache_dir=$TESTDIR/cache-$1" \
		"state_dir=$TESTDIR/state-$1" verbose "${@:3}"
}

at() {
	echo "$TESTDIR/mnt-$1/$2"
}

# --- tokens ------------------------------------------------------------------------------

# The token server's answers below are ones no real token server gives (token_server.py's
# "answer" and "issued_at_offset", a fake for them).

@test "a token answer with neither token nor access_token, not JSON or nested 100,000 deep: EIO, logged, not asked again and again" {
	local img=onap/py-app-amd64 cond n mode
	# the catalog is also asked for ahead, in the background: count the repositories' scopes
	cond='.user == "notoken" and (.scopes | all(startswith("repository:")))'
	for mode in deep no-token not-json; do
		jq --arg m "$mode" '.notoken.answer = $m' "$TESTDIR/users.json" >"$TESTDIR/users.json.new"
		mv "$TESTDIR/users.json.new" "$TESTDIR/users.json"
		# past the mount's ttl (2 s): what the last failure taught regfs has expired
		sleep 2.5
		n=$(token_requests "$TESTDIR/ts" "$cond")
		# a path of its own per mode: nothing regfs learnt of the last one answers
		FS_TIMEOUT=30 assert_fails_with "Input/output error" \
			fs cat "$(at notoken "$TOKEN")/$mode/$img/latest/manifest.json"
		n=$(($(token_requests "$TESTDIR/ts" "$cond") - n))
		# the lookups on the way ask once each, no loop
		((n >= 1 && n <= 3)) || { echo "$mode: $n token requests" >&2; return 1; }
	done
	jq '.notoken.answer = "no-token"' "$TESTDIR/users.json" >"$TESTDIR/users.json.new"
	mv "$TESTDIR/users.json.new" "$TESTDIR/users.json"
	# the first lookup on the way (is MODE/ a repository?) is the one that fails
	for mode in deep no-token not-json; do
		grep -q "token for 'repository:$mode:pull' on '$TOKEN': the token server sent no token" \
			"$TESTDIR/regfs-notoken.log"
	done
}

@test "an issued_at an hour off, either way, is ignored: the token is used for its expires_in" {
	local img=onap/py-app-amd64 u R4 scope="repository:onap/py-app-amd64:pull"
	for u in skewpast skewfuture; do
		R4=$(at "$u" "$TOKEN")
		# several requests to the registry: the manifest, the config, a layer
		fs ls "$R4/$img/latest/layers" >/dev/null
		fs cat "$R4/$img/latest/config.json" >/dev/null
		fs cat "$(ls -d "$R4/$img/latest/layers/"* | head -n 1)" >/dev/null
		# one token: taken as issued an hour ago it would be expired at once and asked for
		# on every request
		[ "$(token_requests "$TESTDIR/ts" ".user == \"$u\" and .scopes == [\"$scope\"]")" -eq 1 ] ||
			{ echo "$u: $(token_requests "$TESTDIR/ts" ".user == \"$u\"") token requests" >&2; return 1; }
	done
}

@test "a token request redirected to another host: the credentials are not sent there" {
	local img=onap/py-app-amd64
	# the token server on 127.0.0.2 signs with a CA the registry does not trust: whatever it
	# answers, the registry refuses it
	run fs cat "$(at moved "$TOKEN")/$img/latest/manifest.json"
	[ "$status" -ne 0 ]
	# the realm got the credentials and redirected
	(($(token_requests "$TESTDIR/ts" '.user == "moved" and .creds == "ok" and .status == 307') >= 1))
	# the other host was asked, and never with an Authorization header
	(($(token_requests "$TESTDIR/ts-away") >= 1))
	[ "$(token_requests "$TESTDIR/ts-away" '.authorization or .creds != "none"')" -eq 0 ]
}

@test "concurrent readers of one repository cause one token request" {
	local R4 img=onap/py-app-amd64 f n before pids=()
	local scope="repository:$img:pull" cond
	R4=$(at short "$TOKEN")
	cond=".user == \"short\" and .status == 200 and .scopes == [\"$scope\"]"
	# look everything up (one token), then let the token (2 s) expire; the tag (ttl 60 s)
	# and the names stay known, so the reads below reach regfs at the same time
	fs ls "$R4/$img/latest/layers" >/dev/null
	fs stat "$R4/$img/latest/config.json" >/dev/null
	[ "$(token_requests "$TESTDIR/ts" "$cond")" -eq 1 ]
	sleep 2.5
	# four opens at once, each needing a blob, all without a valid token: the (slow) token
	# server is asked once, the others wait for that answer
	before=$(token_requests "$TESTDIR/ts" "$cond")
	for f in "$R4/$img/latest/config.json" "$R4/$img/latest/layers/"*; do
		fs cat "$f" >"$BATS_TEST_TMPDIR/$(basename "$f")" &
		pids+=($!)
	done
	for f in "${pids[@]}"; do
		wait "$f"
	done
	[ "$(sha256sum <"$BATS_TEST_TMPDIR/config.json" | cut -d' ' -f1)" = \
		"$(sum '.refs["onap/py-app-amd64:latest"].config.digest | ltrimstr("sha256:")')" ]
	n=$(($(token_requests "$TESTDIR/ts" "$cond") - before))
	[ "$n" -eq 1 ] || { echo "$n token requests for $scope from 4 concurrent readers" >&2; return 1; }
}

# requests the revoking proxy logged for PATH (a regular expression) with STATUS, since line N
revoke_requests() {
	local path=$1 status=$2 since=$3
	tail -n "+$((since + 1))" "$TESTDIR/proxy-revoke/proxy.log" |
		grep -cE "^(GET|HEAD) $path $status\$" || true
}

@test "a token revoked mid-session (401 invalid_token): one new token, the read goes on; refused too, EACCES after a bounded few requests, nothing cached" {
	local R5 img=onap/py-app-amd64 scope="repository:onap/py-app-amd64:pull" cond
	local cfg l0 l1 l0_name l1_name mark n t
	R5=$(at revoked "$REVOKE")
	cond=".user == \"revoked\" and .scopes == [\"$scope\"]"
	cfg=$(sum '.refs["onap/py-app-amd64:latest"].config.digest')
	l0=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].digest')
	l1=$(sum '.refs["onap/py-app-amd64:latest"].layers[1].digest')
	l0_name=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	l1_name=$(sum '.refs["onap/py-app-amd64:latest"].layers[1].name')
	# a token that works: the tag's manifest and names are known (ttl 60 s, and nothing
	# below asks for them again)
	fs ls "$R5/$img/latest/layers" >/dev/null
	[ "$(token_requests "$TESTDIR/ts" "$cond")" -eq 1 ]

	# the registry revokes it (it has 300 s left): the next read is refused once, one new
	# token is fetched, and the read goes on with it
	touch "$TESTDIR/revoke-now"
	mark=$(wc -l <"$TESTDIR/proxy-revoke/proxy.log")
	[ "$(sha256_of "$R5/$img/latest/config.json")" = "$cfg" ]
	[ "$(token_requests "$TESTDIR/ts" "$cond")" -eq 2 ]
	[ "$(revoke_requests "/v2/$img/blobs/$cfg" REVOKED "$mark")" -eq 1 ]
	[ "$(revoke_requests "/v2/$img/blobs/$cfg" 200 "$mark")" -eq 1 ]
	# the new token is kept: the next blob needs no token request and no refusal
	[ "$(sha256_of "$R5/$img/latest/layers/$l0_name")" = "$l0" ]
	[ "$(token_requests "$TESTDIR/ts" "$cond")" -eq 2 ]
	[ "$(revoke_requests "/v2/$img/blobs/$l0" REVOKED "$mark")" -eq 0 ]

	# every token refused from now on (the new ones too): EACCES, after the request, one
	# token request and one retry; nothing under the blob's name, no temp file
	touch "$TESTDIR/refuse-tokens" "$TESTDIR/revoke-now"
	mark=$(wc -l <"$TESTDIR/proxy-revoke/proxy.log")
	assert_fails_with "Permission denied" fs cat "$R5/$img/latest/layers/$l1_name"
	n=$(($(token_requests "$TESTDIR/ts" "$cond") - 2))
	[ "$n" -eq 1 ] || { echo "$n token requests for one refused read" >&2; return 1; }
	n=$(revoke_requests "/v2/$img/blobs/$l1" '[A-Z0-9-]+' "$mark")
	[ "$(revoke_requests "/v2/$img/blobs/$l1" REVOKED "$mark")" -eq "$n" ]
	[ "$n" -eq 2 ] || { echo "$n requests of the blob for one refused read" >&2; return 1; }
	[ -z "$(find "$TESTDIR/cache-revoked" -name "*${l1#sha256:}*")" ]
	[ -z "$(find "$TESTDIR/cache-revoked/tmp" -type f)" ]
	grep -q "HTTP 401 UNAUTHORIZED from '$REVOKE'" "$TESTDIR/regfs-revoked.log"

	# tokens work again: the refusal was not kept, the layer reads at once, verified, with a
	# token fetched for it
	rm -f "$TESTDIR/refuse-tokens"
	t=$(token_requests "$TESTDIR/ts" "$cond")
	[ "$(sha256_of "$R5/$img/latest/layers/$l1_name")" = "$l1" ]
	(($(token_requests "$TESTDIR/ts" "$cond") > t))
}

@test "a push the token server does not grant is EACCES; nothing is pushed, the draft stays" {
	local R0 d
	R0=$(at puller "$TOKEN")
	d="$R0/onap/denied/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	grep -q '^ready: 2 entries' <(fs cat "$d/.status")
	assert_fails_with "Permission denied" fs touch "$d/.commit"
	# the draft is as it was, and says why
	[ "$(fs readlink "$d/amd64")" = ../../py-app-amd64/latest ]
	grep -q '^last commit: failed .*Permission denied' <(fs cat "$d/.status")
	# no tag, and no manifest in the repository
	run curl -fsS "http://$PLAIN/v2/onap/denied/tags/list"
	[ "$status" -ne 0 ]
	[ "$(token_requests "$TESTDIR/ts" '.user == "puller" and (.scopes | any(test("push")))')" -ge 1 ]
	[ "$(token_requests "$TESTDIR/ts" '.user == "puller" and (.granted | any(test("push")))')" -eq 0 ]
}

@test "a granted push: children mounted from their repositories with one two-scope token" {
	local R1 d digest
	R1=$(at pusher "$TOKEN")
	d="$R1/onap/pushed/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	digest=$(fs cat "$d/.digest")
	fs touch "$d/.commit"
	[ "$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$PLAIN/v2/onap/pushed/manifests/v1" | sha256sum | cut -d' ' -f1)" = "${digest#sha256:}" ]
	run lsdir "$d"
	assert_lines "$(printf '%s\n' digest inspect.json linux-amd64 linux-s390x manifest.json)" "$output"
	# the mount of a blob from onap/py-app-amd64 needs pull there and push here: one token
	[ "$(token_requests "$TESTDIR/ts" '.user == "pusher" and .status == 200 and
		(.scopes | sort) == ["repository:onap/pushed:pull,push", "repository:onap/py-app-amd64:pull"]')" -eq 1 ]
	grep -q 'POST /v2/onap/pushed/blobs/uploads/?mount=sha256:[0-9a-f]*&from=onap%2Fpy-app-amd64' \
		"$TESTDIR/token/registry.log" ||
		grep -q 'POST /v2/onap/pushed/blobs/uploads/?mount=sha256:[0-9a-f]*&from=onap/py-app-amd64' \
			"$TESTDIR/token/registry.log"
}

@test "an identity token is traded for access tokens (OAuth2 refresh), no password needed" {
	local R2
	R2=$(at idt "$TOKEN")
	cmp <(sum '.refs["onap/py-app-mips:latest"].digest') <(fs cat "$R2/onap/py-app-mips/latest/digest")
	[ "$(sha256_of "$R2/onap/py-app-mips/latest/config.json")" = \
		"$(sum '.refs["onap/py-app-mips:latest"].config.digest')" ]
	[ "$(token_requests "$TESTDIR/ts" '.user == "idt" and .method == "POST" and .creds == "refresh" and .status == 200')" -ge 1 ]
	# never a GET with credentials for it (regfs has no password) and never a refused one
	[ "$(token_requests "$TESTDIR/ts" '.user == "idt" and .method == "GET"')" -eq 0 ]
	[ "$(token_requests "$TESTDIR/ts" '.creds == "bad"')" -eq 0 ]
}

# --- redirects ---------------------------------------------------------------------------

@test "blob redirects are followed, and the other host never gets the Authorization" {
	local R3 name digest n
	R3=$(at redirect "$REDIRECT")
	while read -r name digest; do
		[ "$(sha256_of "$R3/onap/py-app-ppc64le/latest/layers/$name")" = "$digest" ]
	done < <(sum '.refs["onap/py-app-ppc64le:latest"].layers[] | "\(.name) \(.digest)"')
	[ "$(sha256_of "$R3/onap/py-app-ppc64le/latest/config.json")" = \
		"$(sum '.refs["onap/py-app-ppc64le:latest"].config.digest')" ]
	n=$(jq -s 'length' "$TESTDIR/redirect/storage.log")
	((n >= 2)) || { echo "only $n downloads went through the redirect" >&2; return 1; }
	[ "$(jq -s '[.[] | select(.authorization)] | length' "$TESTDIR/redirect/storage.log")" -eq 0 ]
}

@test "a foreign layer is read from its URL with no credentials, and verified" {
	local R3 name
	R3=$(at redirect "$REDIRECT")
	name=$(fs ls "$R3/test/foreign/latest/layers")
	[ "$(sha256_of "$R3/test/foreign/latest/layers/$name")" = "$(<"$TESTDIR/files/layer.digest")" ]
	# it came from the URL (the registry has no such blob), without an Authorization
	[ "$(jq -s '[.[] | select(.path == "/file/base.tar.gz")] | length' "$TESTDIR/redirect/storage.log")" -eq 1 ]
	[ "$(jq -s '[.[] | select(.authorization)] | length' "$TESTDIR/redirect/storage.log")" -eq 0 ]
	run curl -fsS -o /dev/null "http://$PLAIN/v2/test/foreign/blobs/$(<"$TESTDIR/files/layer.digest")"
	[ "$status" -ne 0 ]
}

@test "a foreign layer whose URL serves other bytes is EIO and not cached" {
	local R3 name
	R3=$(at redirect "$REDIRECT")
	name=$(fs ls "$R3/test/foreign/latest/layers")
	# a fresh mount with its own cache; the file behind the URL changed since the push
	cp "$TESTDIR/files/base.tar.gz" "$TESTDIR/files/base.tar.gz.orig"
	printf 'not the layer\n' >"$TESTDIR/files/base.tar.gz"
	REGISTRY=$REDIRECT regfs_mount "$TESTDIR/mnt-foreign2" "auth_file=$TESTDIR/redirect.json" \
		"logfile=$TESTDIR/regfs-foreign2.log" "cache_dir=$TESTDIR/cache-foreign2"
	assert_fails_with "Input/output error" fs cat "$TESTDIR/mnt-foreign2/$REDIRECT/test/foreign/latest/layers/$name"
	[ -z "$(find "$TESTDIR/cache-foreign2" -name "*$(cut -d: -f2 <"$TESTDIR/files/layer.digest")*")" ]
	mv "$TESTDIR/files/base.tar.gz.orig" "$TESTDIR/files/base.tar.gz"
	regfs_unmount "$TESTDIR/mnt-foreign2"
}

@test "a host a blob is redirected to that asks for credentials gets none, nor picks a realm for them" {
	local R3 name log=$TESTDIR/redirect/storage.log
	R3=$(at redirect "$REDIRECT")
	name=$(fs ls "$R3/evil/x/latest/layers" | head -n 1)
	assert_fails_with "Permission denied" fs cat "$R3/evil/x/latest/layers/$name"
	# the storage host was asked for the blob; its token realm never was
	[ "$(jq -s '[.[] | select(.path | startswith("/challenge/"))] | length' "$log")" -ge 1 ]
	[ "$(jq -s '[.[] | select(.path == "/token")] | length' "$log")" -eq 0 ]
	[ "$(jq -s '[.[] | select(.authorization)] | length' "$log")" -eq 0 ]
	grep -q "a redirect led to a host that asks for credentials; none are sent to it" \
		"$TESTDIR/regfs-redirect.log"
	# the registry's own credentials still work for what it serves itself
	[ "$(jq -r .schemaVersion "$R3/evil/x/latest/manifest.json")" = 2 ]
}

@test "a redirect loop is cut off: EIO, soon" {
	local R3 t0
	R3=$(at redirect "$REDIRECT")
	t0=$SECONDS
	assert_fails_with "Input/output error" fs cat "$R3/loop/x/latest/manifest.json"
	((SECONDS - t0 < 20))
}

# --- secrets -----------------------------------------------------------------------------

@test "no password, identity token or access token in logs, stderr, .status or xattrs" {
	local f dump="$BATS_TEST_TMPDIR/dump"
	cat "$TESTDIR/passwords" "$TESTDIR/ts/token.issued" >"$BATS_TEST_TMPDIR/secrets"
	: >"$dump"
	# what a user can read: every draft's .status and the attributes of what was read
	for f in "$(at puller "$TOKEN")"/onap/denied/v1/.status; do
		fs cat "$f" >>"$dump" 2>&1 || true
	done
	getfattr -R -d -m - "$(at pusher "$TOKEN")/onap/py-app" >>"$dump" 2>/dev/null || true
	getfattr -d -m - "$(at redirect "$REDIRECT")/onap/py-app-ppc64le/latest" >>"$dump" 2>/dev/null || true
	secrets_find "$BATS_TEST_TMPDIR/hits" "$BATS_TEST_TMPDIR/secrets" \
		"$TESTDIR"/regfs-*.log "$TESTDIR/regfs.stderr" "$dump" \
		"$TESTDIR"/state-*/drafts/*/*/*/*/.last-commit ||
		{ cat "$BATS_TEST_TMPDIR/hits" >&2; return 1; }
	# the scan saw something: the status was read, the logs tell of pushes and refusals
	[ -s "$dump" ]
	grep -q 'pushed' "$TESTDIR/regfs-pusher.log"
	grep -q 'failed' "$TESTDIR/regfs-puller.log"
}
