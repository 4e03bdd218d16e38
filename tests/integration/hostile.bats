#!/usr/bin/env bats
# A hostile registry (tests/lib/hostile_registry.py, a fake: real registries refuse to store
# such things): oversized, lying, non-JSON and schema 1 manifests, blobs whose size differs
# from their descriptor, and a request that is never answered.  regfs must refuse each with a
# clear error, cache nothing bad, never hang, and keep serving what is sound.

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	mkdir -p "$TESTDIR/hostile"
	local port
	port=$(daemon_start "$TESTDIR/hostile" hostile 10 python3 "$REGFS_LIB_DIR/hostile_registry.py" \
		--log "$TESTDIR/hostile/requests.log")
	export REGISTRY="127.0.0.1:$port"
	_wait_until 10 curl -fsS "http://$REGISTRY/v2/"
	# timeout=2: connect 2 s, stall limit 6 s, so the never-answered request fails quickly
	regfs_mount "$TESTDIR/mnt" timeout=2
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	_stop_pidfile "$TESTDIR/hostile/hostile.pid" 5 || true
}

setup() {
	regfs_skip_if_needed
	R="$TESTDIR/mnt/$REGISTRY"
}

teardown() { suite_teardown_test; }

log_has() {
	grep -qF -- "$1" "$TESTDIR/regfs.log" || {
		echo "regfs.log lacks '$1':" >&2
		tail -n 20 "$TESTDIR/regfs.log" >&2
		return 1
	}
}

no_blob_cached() {
	local n
	n=$(find "$TESTDIR/cache/blobs/sha256" -type f -name "${1#sha256:}" 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || { echo "cache holds $1" >&2; return 1; }
}

layer_digest() {
	curl -fsS "http://$REGISTRY/v2/$1/manifests/latest" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])'
}

@test "the control image is served and verifies" {
	local digest
	digest=$(layer_digest hostile/ok)
	run fs ls "$R/hostile/ok/latest/layers"
	[ "$status" -eq 0 ]
	[ "$(sha256_of "$R/hostile/ok/latest/layers/00-$digest")" = "$digest" ]
}

@test "a manifest over 4 MiB is refused with EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/big/latest"
	# by its tag, or by the digest a HEAD of the tag gave
	log_has "manifest 'hostile/big"
	log_has "larger than"
}

@test "a manifest whose Docker-Content-Digest lies is refused with EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/liar/latest"
	log_has "manifest 'hostile/liar:latest'"
}

@test "bytes that are not a manifest give EIO" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/garbage/latest"
}

@test "a schema 1 manifest is shown as unsupported, not crashed on" {
	local dir="$R/hostile/v1/latest"
	run fs ls "$dir"
	[ "$status" -eq 0 ]
	assert_lines "$(printf 'digest\nmanifest.json')" "$output" "ls $dir"
	[ "$(sha256_of "$dir/manifest.json")" = "$(fs cat "$dir/digest")" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = \
		"application/vnd.docker.distribution.manifest.v1+prettyjws" ]
}

@test "a blob shorter or longer than its descriptor is EIO and not cached" {
	local repo digest
	for repo in hostile/shortblob hostile/longblob; do
		digest=$(layer_digest "$repo")
		assert_fails_with "Input/output error" fs cat "$R/$repo/latest/layers/00-$digest"
		no_blob_cached "$digest"
	done
}

@test "a request that is never answered fails in bounded time, and the mount goes on" {
	local start=$SECONDS
	FS_TIMEOUT=90 assert_fails_with "Input/output error" fs ls "$R/hostile/slow/latest"
	((SECONDS - start < 60)) || { echo "took $((SECONDS - start)) s" >&2; return 1; }
	run fs ls "$R/hostile/ok/latest"
	[ "$status" -eq 0 ]
	[[ $output == *manifest.json* ]]
}

# --- faults of the exchange itself -------------------------------------------------------------

# gets REPO — the fake's log lines for GETs of REPO's manifests, "STATUS T" each
gets() {
	sed -nE "s#^GET /v2/$1/manifests/[^ ]* ([0-9]+) t=([0-9.]+).*#\1 \2#p" "$TESTDIR/hostile/requests.log"
}

# gap REPO — seconds between the first and the second GET of REPO's manifest
gap() {
	gets "$1" | awk 'NR == 1 { t = $2 } NR == 2 { printf "%.3f\n", $2 - t }'
}

# ok_manifest REPO — REPO:latest reads whole: its bytes have the digest the fake names (asked
# with HEAD, which no fault touches)
ok_manifest() {
	local want
	want=$(curl -fsSI "http://$REGISTRY/v2/$1/manifests/latest" |
		sed -nE 's/^Docker-Content-Digest: *([^[:space:]]+).*/\1/ip')
	[ -n "$want" ] && [ "$(sha256_of "$R/$1/latest/manifest.json")" = "$want" ]
}

@test "a 503's Retry-After is waited out: seconds, an HTTP-date; a date past is no wait" {
	local g
	ok_manifest hostile/retry-seconds
	ok_manifest hostile/retry-date
	ok_manifest hostile/retry-past
	g=$(gap hostile/retry-seconds)
	awk -v g="$g" 'BEGIN { exit !(g >= 0.9 && g < 3) }' || { echo "Retry-After: 1 waited $g s" >&2; return 1; }
	# the date was 2 s ahead when sent, at a second's precision: more than a second
	g=$(gap hostile/retry-date)
	awk -v g="$g" 'BEGIN { exit !(g >= 0.9 && g < 3.5) }' || { echo "an HTTP-date 2 s ahead waited $g s" >&2; return 1; }
	g=$(gap hostile/retry-past)
	awk -v g="$g" 'BEGIN { exit !(g < 0.5) }' || { echo "a date past waited $g s" >&2; return 1; }
	[ "$(gets hostile/retry-past | awk '{ print $1 }' | tr '\n' ' ')" = "503 200 " ]
}

@test "a 503 with Retry-After: 99999 is waited 5 s at most, twice, then EAGAIN within the bound" {
	local start=$SECONDS gaps
	FS_TIMEOUT=40 assert_fails_with "Resource temporarily unavailable" \
		fs cat "$R/hostile/retry-huge/latest/manifest.json"
	((SECONDS - start < 16)) || { echo "took $((SECONDS - start)) s" >&2; return 1; }
	[ "$(gets hostile/retry-huge | awk '$1 == 503' | wc -l)" -eq 3 ]
	gaps=$(gets hostile/retry-huge | awk 'NR > 1 { printf "%.1f ", $2 - t } { t = $2 }')
	awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); for (i = 1; i <= n; i++) if (a[i] < 4.5 || a[i] > 6.5) exit 1 }' ||
		{ echo "waits between tries: $gaps" >&2; return 1; }
	log_has "HTTP 503 UNAVAILABLE from '$REGISTRY'"
}

@test "a 429 is EAGAIN at once and asked once, whatever its Retry-After: a date, a date past, 99999" {
	local repo start value
	for repo in limit-date limit-past limit-huge; do
		start=$SECONDS
		assert_fails_with "Resource temporarily unavailable" fs cat "$R/hostile/$repo/latest/manifest.json"
		((SECONDS - start < 3)) || { echo "$repo: took $((SECONDS - start)) s" >&2; return 1; }
		[ "$(gets "hostile/$repo" | wc -l)" -eq 1 ]
		log_has "HTTP 429 TOOMANYREQUESTS from '$REGISTRY' (rate limited; Retry-After: "
		value=$(xattr "$R" user.regfs.ratelimit)
		[[ $value == *retry-after=* ]] || { echo "$repo: ratelimit xattr: $value" >&2; return 1; }
	done
	log_has "(rate limited; Retry-After: 99999)"
}

@test "a 500 fails that read (EIO, not retried), and the next read succeeds: nothing negative kept" {
	assert_fails_with "Input/output error" fs cat "$R/hostile/burst500/latest/manifest.json"
	log_has "HTTP 500 UNKNOWN from '$REGISTRY'"
	ok_manifest hostile/burst500
	[ "$(gets hostile/burst500 | awk '{ print $1 }' | tr '\n' ' ')" = "500 200 " ]
}

@test "two 503s in a row are retried with backoff, and the read succeeds" {
	ok_manifest hostile/burst503
	[ "$(gets hostile/burst503 | awk '{ print $1 }' | tr '\n' ' ')" = "503 503 200 " ]
}

@test "a body that stalls after its headers is abandoned in bounded time (EIO); the host stays up" {
	local start=$SECONDS
	FS_TIMEOUT=60 assert_fails_with "Input/output error" fs cat "$R/hostile/stall/latest/manifest.json"
	((SECONDS - start < 40)) || { echo "took $((SECONDS - start)) s" >&2; return 1; }
	start=$SECONDS
	ok_manifest hostile/burst503 # cached by now: ask something new of the host
	ok_manifest hostile/headers-many || true
	run fs ls "$R/hostile/ok/latest/layers"
	[ "$status" -eq 0 ]
	! grep -q "registry '$REGISTRY': unreachable\|marked unreachable" "$TESTDIR/regfs.log" || false
}

@test "a body longer than its Content-Length: only Content-Length bytes are taken (EIO), the mount goes on" {
	assert_fails_with "Input/output error" fs cat "$R/hostile/overlong/latest/manifest.json"
	log_has "manifest 'hostile/overlong@"
	log_has "content has digest"
	# what came past Content-Length is still on the connection, which curl keeps: the next
	# request on it reads that junk (no status line), and is tried again on a fresh one
	ok_manifest hostile/plain
}

@test "400 KB of response headers, as many or as one: EIO in bounded time, the host not marked down" {
	local repo start
	for repo in headers-many headers-huge; do
		start=$SECONDS
		FS_TIMEOUT=40 assert_fails_with "Input/output error" fs cat "$R/hostile/$repo/latest/manifest.json"
		((SECONDS - start < 20)) || { echo "$repo: took $((SECONDS - start)) s" >&2; return 1; }
	done
	log_has "manifest 'hostile/headers-many@"
	log_has "Too large response headers"
	ok_manifest hostile/ok
	! grep -q "marked unreachable" "$TESTDIR/regfs.log" || false
}

@test "a tags list whose Link leads to another host: listed, and the link never followed" {
	run lsdir "$R/hostile/link-away"
	[ "$status" -eq 0 ]
	assert_lines latest "$output" "ls hostile/link-away"
	log_has "tags of 'hostile/link-away' on '$REGISTRY': ignoring a next page link that leaves the registry"
	! grep -q "tags/list?last=" "$TESTDIR/hostile/requests.log" || false
}

# tags_gets REPO — how many tags/list requests of REPO the fake answered
tags_gets() {
	grep -c "^GET /v2/$1/tags/list" "$TESTDIR/hostile/requests.log" || true
}

@test "a Link loop (page A to B and back to A) ends the listing: both pages listed, each asked once" {
	run lsdir "$R/hostile/link-loop"
	[ "$status" -eq 0 ]
	assert_lines "$(printf 'a\nb')" "$output" "ls hostile/link-loop"
	[ "$(tags_gets hostile/link-loop)" -eq 2 ]
	log_has "tags of 'hostile/link-loop' on '$REGISTRY': a next page link leads back to a page already read"
}

@test "a listing that never ends is cut off at 10,000 pages: what came is listed, no hang" {
	# one tag a page, each page linking to a next one of its own, forever
	FS_TIMEOUT=300 run lsdir "$R/hostile/link-endless"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 10000 ] || { echo "${#lines[@]} tags listed" >&2; return 1; }
	[ "${lines[0]}" = t00001 ] && [ "${lines[9999]}" = t10000 ]
	[ "$(tags_gets hostile/link-endless)" -eq 10000 ]
	log_has "tags of 'hostile/link-endless' on '$REGISTRY': more than 10000 pages, the listing is cut off there"
}

@test "a malformed Link ends the listing with a warning; the page it came with is listed" {
	run lsdir "$R/hostile/link-malformed"
	[ "$status" -eq 0 ]
	assert_lines latest "$output" "ls hostile/link-malformed"
	[ "$(tags_gets hostile/link-malformed)" -eq 1 ]
	log_has "tags of 'hostile/link-malformed' on '$REGISTRY': malformed Link header, the listing ends here"
}

@test "a tags list of 100,000 nested brackets is EIO (malformed listing), no crash" {
	assert_fails_with "Input/output error" fs ls "$R/hostile/deep-tags"
	log_has "tags of 'hostile/deep-tags' on '$REGISTRY': malformed listing"
	# the daemon is still there
	ok_manifest hostile/ok
}

@test "a tags list with its key twice: the last one counts (jansson's rule), each name checked" {
	run lsdir "$R/hostile/dup-tags"
	[ "$status" -eq 0 ]
	assert_lines latest "$output" "ls hostile/dup-tags"
}

@test "a chunked manifest over 4 MiB is refused with EIO, not buffered whole" {
	assert_fails_with "Input/output error" fs cat "$R/hostile/chunked-big/latest/manifest.json"
	log_has "manifest 'hostile/chunked-big"
	log_has "larger than 4194304 bytes, refused"
}

# hwm_kib — the daemon's peak RSS, in KiB
hwm_kib() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$(<"$(regfs_pidfile "$TESTDIR/mnt")")/status"
}

@test "10 MB error bodies (500 HTML, 404 JSON): the errno of the status, the code when it parses, memory kept" {
	local before after
	before=$(hwm_kib)
	assert_fails_with "Input/output error" fs cat "$R/hostile/huge-500/latest/manifest.json"
	log_has "HTTP 500 from '$REGISTRY'"
	assert_fails_with "No such file or directory" fs cat "$R/hostile/huge-404/latest/manifest.json"
	# a 500 whose body is too deep for the parser: no code, no crash
	assert_fails_with "Input/output error" fs cat "$R/hostile/deep-500/latest/manifest.json"
	[ "$(grep -c "HTTP 500 from '$REGISTRY'" "$TESTDIR/regfs.log")" -ge 2 ]
	after=$(hwm_kib)
	echo "# VmHWM $before -> $after KiB" >&3
	# a body kept whole would add 10 MB; only HTTP_ERROR_BODY_MAX (64 KiB) of each is kept
	if ! regfs_instrumented; then
		((after - before < 4096)) || { echo "VmHWM $before -> $after KiB" >&2; return 1; }
	fi
	ok_manifest hostile/ok
}

# layer_of REPO — the layer file of REPO:latest under the mount, and its digest: "PATH DIGEST"
layer_of() {
	local d
	d=$(layer_digest "$1")
	echo "$R/$1/latest/layers/00-$d $d"
}

# blob_gets REPO — the fake's log lines for GETs of REPO's blobs, "STATUS RANGE" each
blob_gets() {
	sed -nE "s#^GET /v2/$1/blobs/[^ ]* ([0-9]+) t=[0-9.]+( range=(.*))?#\1 \3#p" "$TESTDIR/hostile/requests.log"
}

@test "a layer cut by a reset mid-body resumes with a Range request, and its bytes verify" {
	local path digest
	read -r path digest < <(layer_of hostile/resume)
	[ "$(sha256_of "$path")" = "$digest" ]
	blob_gets hostile/resume | head -n 2 | tr '\n' ' ' | grep -qE '^200  206 bytes=[1-9][0-9]*- $' ||
		{ echo "requests:" >&2; blob_gets hostile/resume >&2; return 1; }
}

@test "a resume answered 200 with the whole blob: the bytes had already are dropped, and it verifies" {
	local path digest
	read -r path digest < <(layer_of hostile/resume-full)
	[ "$(sha256_of "$path")" = "$digest" ]
	blob_gets hostile/resume-full | head -n 2 | tr '\n' ' ' | grep -qE '^200  200 bytes=[1-9][0-9]*- $' ||
		{ echo "requests:" >&2; blob_gets hostile/resume-full >&2; return 1; }
}

@test "a resume whose Content-Range starts elsewhere, is malformed or comes twice is not spliced (EIO)" {
	local repo path digest
	for repo in resume-wrong resume-junk resume-dup; do
		read -r path digest < <(layer_of "hostile/$repo")
		assert_fails_with "Input/output error" fs cat "$path"
		no_blob_cached "$digest"
		log_has "blob 'hostile/$repo@$digest' on '$REGISTRY': bad resumed range"
		# the next read starts over and gets it whole
		[ "$(sha256_of "$path")" = "$digest" ]
	done
}
