#!/usr/bin/env bats
# Tokens within bounds: how many a registry keeps, how big an answer regfs reads from a token
# server, and how long it waits for one.  docker-registry in token mode with
# tests/lib/token_server.py (no --delay: hundreds of tokens are fetched here), and a second
# one, on the same storage, whose realm is tests/lib/hung_server.py (accepts, never answers).
# Mounts: many (browses more repositories than regfs keeps token scopes for), big (its user's
# token answers can be padded past the cap), stall (the hung realm's registry beside the good
# one, with -o timeout=3).

load ../lib/suite
load ../lib/auth

SERVICE=regfs-test-registry
ISSUER=regfs-test-token-server
# the test browses 20 repositories more than regfs keeps token scopes for
SCOPES_MAX=$(sed -n 's/^#define REG_TOKEN_SCOPES_MAX \([0-9]*\)$/\1/p' "$REGFS_SRC/common/limits.h")
MANY=$((SCOPES_MAX + 20))
TIMEOUT=3

setup_file() {
	auth_suite_start
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	push_many "$MANY" >"$TESTDIR/many.digest"

	local pw
	pw=$(auth_secret)
	jq -n --arg pw "$pw" '{
		reader: {password: $pw, pull: ["*"], catalog: true},
		big: {password: $pw, pull: ["*"], catalog: true},
		staller: {password: $pw, pull: ["*"], catalog: true}
	}' >"$TESTDIR/users.json"
	token_server_start "$TESTDIR/ts" "$TESTDIR/users.json" --service "$SERVICE" --issuer "$ISSUER"
	auth_registry_start "$TESTDIR/token" "$TESTDIR/plain/storage" token "$TESTDIR/ts/root.pem" \
		"http://$TOKEN_SERVER/token" "$SERVICE" "$ISSUER"
	TOKEN=$(auth_registry_host "$TESTDIR/token")

	mkdir -p "$TESTDIR/hung"
	HUNG=127.0.0.1:$(daemon_start "$TESTDIR/hung" hung 10 python3 "$REGFS_LIB_DIR/hung_server.py" \
		--log "$TESTDIR/hung/hung.log")
	auth_registry_start "$TESTDIR/stalled" "$TESTDIR/plain/storage" token "$TESTDIR/ts/root.pem" \
		"http://$HUNG/token" "$SERVICE" "$ISSUER"
	STALLED=$(auth_registry_host "$TESTDIR/stalled")
	export TOKEN HUNG STALLED

	docker_config "$TESTDIR/many.json" "$TOKEN" reader "$pw"
	docker_config "$TESTDIR/big.json" "$TOKEN" big "$pw"
	docker_config "$TESTDIR/stall.json" "$TOKEN" staller "$pw" "$STALLED" staller "$pw"
	tb_mount many "$TOKEN"
	tb_mount big "$TOKEN,registry=$PLAIN"
	tb_mount stall "$TOKEN,registry=$STALLED" "timeout=$TIMEOUT"
}

teardown_file() {
	local m
	[[ -n ${TESTDIR:-} ]] || return 0
	for m in many big stall; do
		regfs_unmount "$TESTDIR/mnt-$m" || true
	done
	registry_stop "$TESTDIR/stalled" || true
	_stop_pidfile "$TESTDIR/hung/hung.pid" 5 || true
	registry_stop "$TESTDIR/token" || true
	token_server_stop "$TESTDIR/ts" || true
	registry_stop "$TESTDIR/plain" || true
}

setup() { regfs_skip_if_needed; }

teardown() {
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR/ts/token.log" "$TESTDIR/hung/hung.log"
}

# push_many N — N tiny images tb/r000 … on $PLAIN, all the same bytes; prints their digest.
# tb/r000 is pushed through the API; the others are copies of its directory in the registry's
# storage (links to the same blobs and manifest, as distribution lays them out): hundreds of
# pushes would take a minute on a loaded machine, copies take a moment, and the registry reads
# its storage afresh at each request (no cache configured)
push_many() {
	python3 - "$PLAIN" "$REGFS_LIB_DIR" "$1" \
		"$TESTDIR/plain/storage/docker/registry/v2/repositories/tb" <<'PYEOF'
import os, shutil, sys
sys.path.insert(0, sys.argv[2])
import fixtures
p = fixtures.Pusher(fixtures.Registry(sys.argv[1]))
print(fixtures.small(p, "tb/r000", "latest", fixtures.AMD64, "tb")["digest"])
for i in range(1, int(sys.argv[3])):
    shutil.copytree(os.path.join(sys.argv[4], "r000"), os.path.join(sys.argv[4], "r%03d" % i))
PYEOF
}

# tb_mount NAME HOST[,registry=HOST2] [OPTION...] — regfs at $TESTDIR/mnt-NAME with credentials
# from $TESTDIR/NAME.json, its own log, cache and drafts
tb_mount() {
	REGISTRY=$2 regfs_mount "$TESTDIR/mnt-$1" "auth_file=$TESTDIR/$1.json" \
		"logfile=$TESTDIR/regfs-$1.log" "cache_dir=$TESTDIR/cache-$1" \
		"state_dir=$TESTDIR/state-$1" verbose "${@:3}"
}

# scope_requests USER REPO — the token requests USER made for pull on REPO, granted
scope_requests() {
	token_requests "$TESTDIR/ts" \
		".user == \"$1\" and .status == 200 and .scopes == [\"repository:$2:pull\"]"
}

# read_digest MNT_NAME REPO — check that REPO:latest's digest reads as pushed
read_digest() {
	local got
	got=$(fs cat "$TESTDIR/mnt-$1/$TOKEN/$2/latest/digest") || return
	[[ $got == "$(<"$TESTDIR/many.digest")" ]] || { echo "$2: digest '$got'" >&2; return 1; }
}

# read_digests MNT_NAME FIRST LAST READERS — read the digest of tb/rFIRST … tb/rLAST, READERS at
# a time (reader k reads repositories k, k + READERS, … in order), in one bounded process with
# no fork per read (hundreds of them, on a loaded machine); fails naming any that did not read
# as pushed
read_digests() {
	FS_TIMEOUT=300 fs bash -c '
		dir=$1 first=$2 last=$3 n=$4 want=$5
		reader() {
			local i d p
			for ((i = first + $1; i <= last; i += n)); do
				printf -v p "%s/tb/r%03d/latest/digest" "$dir" "$i"
				d=
				IFS= read -r d <"$p" || true
				[[ $d == "$want" ]] || { printf "tb/r%03d: digest \"%s\"\n" "$i" "$d" >&2; return 1; }
			done
		}
		pids=()
		for ((k = 0; k < n; k++)); do
			reader "$k" &
			pids+=($!)
		done
		# each reader by its pid (not wait -n, which may say 127 for readers already gone)
		fail=0
		for k in "${!pids[@]}"; do
			wait "${pids[k]}" || { rc=$?; echo "reader $k: status $rc" >&2; fail=1; }
		done
		exit "$fail"' _ "$TESTDIR/mnt-$1/$TOKEN" "$2" "$3" "$4" "$(<"$TESTDIR/many.digest")"
}

regfs_alive() {
	_pid_alive "$(regfs_pidfile "$TESTDIR/mnt-$1")" && mountpoint -q "$TESTDIR/mnt-$1"
}

# --- B12: token scopes kept per registry ---------------------------------------------------

@test "more repositories than token scopes kept: the least recently used are fetched again, all reads work" {
	local n
	# every repository once, in order: one token each, none fetched twice meanwhile (the
	# scopes in use are not the ones dropped)
	read_digests many 0 $((MANY - 1)) 1
	n=$(token_requests "$TESTDIR/ts" '.user == "reader" and .status == 200 and
		(.scopes | length == 1 and (.[0] | startswith("repository:tb/")))')
	[ "$n" -eq "$MANY" ] || { echo "$n token requests for $MANY repositories" >&2; return 1; }
	[ "$(scope_requests reader tb/r000)" -eq 1 ]
	# once the tag's TTL (2 s) is over a read asks the registry again: the oldest scope was
	# dropped, so its token is fetched again; the newest is still kept and sent as it is
	sleep 2.5
	read_digest many tb/r000
	read_digest many "$(printf 'tb/r%03d' $((MANY - 1)))"
	n=$(scope_requests reader tb/r000)
	[ "$n" -eq 2 ] || { echo "tb/r000: $n token requests, want 2 (dropped, then fetched again)" >&2; return 1; }
	n=$(scope_requests reader "$(printf 'tb/r%03d' $((MANY - 1)))")
	[ "$n" -eq 1 ] || { echo "newest scope: $n token requests, want 1 (kept)" >&2; return 1; }
	# all of them again, eight readers at once: scopes dropped and fetched while others are
	# fetched or waited on; every read still gives the right digest
	read_digests many 0 $((MANY - 1)) 8
	regfs_alive many
}

# --- B10: a token answer over the cap ------------------------------------------------------

# set_pad BYTES — big's token answers padded by BYTES from now on (the users file is re-read
# at every request)
set_pad() {
	jq --argjson n "$1" '.big.pad_answer = $n' "$TESTDIR/users.json" >"$TESTDIR/users.json.new"
	mv "$TESTDIR/users.json.new" "$TESTDIR/users.json"
}

@test "a token answer over 1 MiB is EIO, says why in the log; the mount, its cache and other registries go on" {
	local M="$TESTDIR/mnt-big" layer want pad repo
	layer=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	want=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].digest')
	# read (and cache) a layer while the token server answers as usual
	[ "$(sha256_of "$M/$TOKEN/onap/py-app-amd64/latest/layers/$layer")" = "$want" ]
	# 5 MB (over the 4 MiB manifests get) and 2 MiB (under it): both over the token cap
	for pad in 5000000 2097152; do
		set_pad "$pad"
		repo=tb/r00$((pad == 5000000 ? 1 : 2))
		assert_fails_with "Input/output error" fs cat "$M/$TOKEN/$repo/latest/digest"
		# the token server did send it (a 200, padded), and regfs names the cause
		[ "$(token_requests "$TESTDIR/ts" ".user == \"big\" and .status == 200 and .padded == $pad")" -ge 1 ]
		grep -q "token for 'repository:$repo:pull' on '$TOKEN': token answer larger than 1048576 bytes, refused" \
			"$TESTDIR/regfs-big.log" || { grep "$repo" "$TESTDIR/regfs-big.log" >&2; return 1; }
	done
	# meanwhile: the mount is up, the cached layer reads, and so does another registry
	regfs_alive big
	[ "$(sha256_of "$M/$TOKEN/onap/py-app-amd64/latest/layers/$layer")" = "$want" ]
	[ "$(fs cat "$M/$PLAIN/tb/r000/latest/digest")" = "$(<"$TESTDIR/many.digest")" ]
	# and the same repositories read once the answers are small again
	set_pad 0
	[ "$(fs cat "$M/$TOKEN/tb/r001/latest/digest")" = "$(<"$TESTDIR/many.digest")" ]
}

# --- B9: a token endpoint that never answers ----------------------------------------------

@test "a realm that never answers: a read needing a token is EIO within the bound; cached reads go on meanwhile" {
	local M="$TESTDIR/mnt-stall" layer want start took pid i alive_after=0 deadline rc
	layer=$(sum '.refs["onap/py-app-s390x:latest"].layers[0].name')
	want=$(sum '.refs["onap/py-app-s390x:latest"].layers[0].digest')
	[ "$(sha256_of "$M/$TOKEN/onap/py-app-s390x/latest/layers/$layer")" = "$want" ]

	# a read on the registry whose realm hangs, in the background
	start=$(date +%s%N)
	(
		rc=0
		fs cat "$M/$STALLED/onap/py-app-amd64/latest/digest" >"$BATS_TEST_TMPDIR/stalled.out" 2>&1 ||
			rc=$?
		date +%s%N >"$BATS_TEST_TMPDIR/stalled.end"
		echo "$rc" >"$BATS_TEST_TMPDIR/stalled.rc"
	) &
	pid=$!
	# its token request reached the realm (which will never answer)
	_wait_until 20 test -s "$TESTDIR/hung/hung.log" ||
		{ echo "the realm was never asked" >&2; kill "$pid"; return 1; }
	# while it waits: the cached layer reads, and so does another repository of the good
	# registry that needs a token of its own (a scope nobody read yet)
	for ((i = 0; i < 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$(sha256_of "$M/$TOKEN/onap/py-app-s390x/latest/layers/$layer")" = "$want" ]
		[ "$(fs cat "$M/$TOKEN/$(printf 'tb/r%03d' $((200 + i)))/latest/digest")" = \
			"$(<"$TESTDIR/many.digest")" ]
		! kill -0 "$pid" 2>/dev/null || alive_after=$((alive_after + 1))
	done
	# the stalled read ends, with EIO, within the bound; polled, never waited on blindly (fs
	# gives up after 30 s: status 124)
	deadline=$((SECONDS + 45))
	while [[ ! -s $BATS_TEST_TMPDIR/stalled.rc ]] && ((SECONDS < deadline)); do
		sleep 0.1
	done
	[[ -s $BATS_TEST_TMPDIR/stalled.rc ]] || { echo "no end after 45 s" >&2; kill "$pid"; return 1; }
	wait "$pid" || true
	took=$((($(<"$BATS_TEST_TMPDIR/stalled.end") - start) / 1000000))
	rc=$(<"$BATS_TEST_TMPDIR/stalled.rc")
	echo "stalled read: rc $rc after $took ms: $(<"$BATS_TEST_TMPDIR/stalled.out")" >&2
	[ "$rc" -ne 0 ]
	[ "$rc" -ne 124 ] # not fs' own time limit
	[ "$rc" -ne 137 ]
	grep -q "Input/output error" "$BATS_TEST_TMPDIR/stalled.out"
	# -o timeout=3 bounds the wait for the token server's answer: 3 s, with room for a loaded
	# machine, and below the next bound that would end it (the speed floor, 3 x timeout = 9 s)
	((took < 2 * TIMEOUT * 1000 + 2000)) || { echo "took $took ms, bound ${TIMEOUT} s" >&2; return 1; }
	# the other reads finished while the stalled one still waited
	((alive_after >= 1)) || { echo "no read finished while the token fetch hung" >&2; return 1; }
	# the log says what hung
	grep -q "token for '[^']*' from '$STALLED': no answer within $TIMEOUT s" "$TESTDIR/regfs-stall.log"
	regfs_alive stall
}
