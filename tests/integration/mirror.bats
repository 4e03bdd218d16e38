#!/usr/bin/env bats
# Mirrors (-o mirror=ORIGIN=MIRROR): reads of a registry go to its mirror first and fall back
# to the registry itself when the mirror fails; the catalog and pushes go to the registry only.
#
#   A  the origin: an ordinary registry with the seed fixtures
#   B  docker-registry in proxy mode, a pull-through cache of A (what a fleet shares)
#   C  a plain registry holding a copy of A's storage with a config and a layer corrupted
#
# Mount "main" reads A through B; mount "bad" reads A through C.  Both sides are checked: what
# the user reads (the digests), and who asked whom for what (the access logs: regfs' requests
# carry its User-Agent, B's requests to A Go's).

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/a"
	local a=$REGISTRY
	echo "$a" >"$TESTDIR/a.host"
	export SUMMARY="$TESTDIR/summary.json"
	python3 "$REGFS_LIB_DIR/fixtures.py" --registry "$a" --set seed --summary "$SUMMARY"
	# one image with a layer too big to be held back while it is checked (MIRROR_HOLD_MAX)
	push_big_image "$a" onap/big >"$TESTDIR/big.layer"

	proxy_registry_start "$TESTDIR/b" "$a"

	# C: A's storage with a config, a small layer and the big layer corrupted
	mkdir -p "$TESTDIR/c"
	cp -a "$TESTDIR/a/storage" "$TESTDIR/c/storage"
	corrupt "$TESTDIR/c" "$(sum '.refs["onap/py-app-mips:latest"].config.digest')"
	corrupt "$TESTDIR/c" "$(sum '.refs["onap/py-app-ppc64le:latest"].layers[1].digest')"
	corrupt "$TESTDIR/c" "$(<"$TESTDIR/big.layer")"
	registry_start "$TESTDIR/c"
	echo "$REGISTRY" >"$TESTDIR/c.host"
	export REGISTRY=$a REGISTRY_DIR="$TESTDIR/a"

	regfs_mount "$TESTDIR/mnt" "mirror=$(host a)=$(host b)" "cache_dir=$TESTDIR/cache-main" \
		"logfile=$TESTDIR/regfs-main.log"
	regfs_mount "$TESTDIR/mnt-bad" "mirror=$(host a)=$(host c)" "cache_dir=$TESTDIR/cache-bad" \
		"logfile=$TESTDIR/regfs-bad.log"
}

teardown_file() {
	local name
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	regfs_unmount "$TESTDIR/mnt-bad" || true
	for name in a b c; do
		registry_stop "$TESTDIR/$name" || true
	done
}

setup() { regfs_skip_if_needed; }

teardown() {
	local f
	[[ -z ${BATS_TEST_COMPLETED:-} && -z ${BATS_TEST_SKIPPED:-} ]] || return 0
	for f in "$TESTDIR"/regfs-*.log; do
		echo "--- $f" >&2
		tail -n 20 "$f" >&2
	done
}

# host NAME — HOST:PORT of registry NAME (a, b or c).
host() {
	cat "$TESTDIR/$1.host"
}

# proxy_registry_start DIR REMOTE — docker-registry in proxy mode (a pull-through cache of the
# plain registry REMOTE) with its storage in DIR/storage.  Writes DIR/../b.host.
proxy_registry_start() {
	local dir=$1 port
	port=$(free_port)
	mkdir -p "$dir/storage"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
proxy:
  remoteurl: http://$2
EOF
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/registry.pid"
	echo "$port" >"$dir/registry.port"
	_wait_until 15 curl -fsS "http://127.0.0.1:$port/v2/" || {
		echo "proxy registry did not start; log:" >&2
		tail -n 20 "$dir/registry.log" >&2
		return 1
	}
	echo "127.0.0.1:$port" >"$(dirname "$dir")/$(basename "$dir").host"
}

# push_big_image HOST REPO — push REPO:latest to the registry HOST, an image with one 6 MiB
# layer of random bytes; print the layer's digest.
push_big_image() {
	python3 - "$1" "$2" <<'PYEOF'
import hashlib, json, os, sys, urllib.request

reg, repo = sys.argv[1], sys.argv[2]

def push_blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request("http://%s/v2/%s/blobs/uploads/" % (reg, repo), method="POST")
    loc = urllib.request.urlopen(req).headers["Location"]
    if loc.startswith("/"):
        loc = "http://%s%s" % (reg, loc)
    req = urllib.request.Request(loc + ("&" if "?" in loc else "?") + "digest=" + digest,
                                 data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req)
    return digest

layer = os.urandom(6 << 20)
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
    "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
ld, cd = push_blob(layer), push_blob(config)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "size": len(config), "digest": cd},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(layer), "digest": ld}]}).encode()
req = urllib.request.Request("http://%s/v2/%s/manifests/latest" % (reg, repo), data=manifest,
                             method="PUT", headers={
                                 "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
urllib.request.urlopen(req)
print(ld)
PYEOF
}

# corrupt REGDIR DIGEST — flip bytes of the blob DIGEST in REGDIR's storage, keeping its size
# (distribution serves it without checking).
corrupt() {
	python3 - "$(registry_blob_path "$1" "$2")" <<'PYEOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(0, len(b), max(1, len(b) // 8)):
    b[i] ^= 0xFF
open(p, "wb").write(bytes(b))
PYEOF
}

# mark NAME — how many lines registry NAME's log has now (for reqs_after).
mark() {
	wc -l <"$TESTDIR/$1/registry.log"
}

# reqs_after NAME MARK [AGENT-REGEX] — the requests registry NAME logged after line MARK, one
# "METHOD PATH STATUS" a line, from the User-Agent AGENT-REGEX (default regfs').  Waits a
# moment first: the registry logs a request after answering it.
reqs_after() {
	sleep 0.3
	tail -n +"$(($2 + 1))" "$TESTDIR/$1/registry.log" |
		sed -nE 's#^.*"(GET|HEAD|PUT|POST|PATCH|DELETE) ([^ "]*) HTTP/[0-9.]+" ([0-9]+) .*"'"${3:-regfs/[^\"]*}"'"$#\1 \2 \3#p'
}

# has LINES REGEX — some line of LINES matches REGEX (extended), or fail showing LINES.
has() {
	grep -qE -- "$2" <<<"$1" || {
		echo "no line matches /$2/ in:" >&2
		printf '%s\n' "$1" >&2
		return 1
	}
}

# lacks LINES REGEX — no line of LINES matches REGEX.
lacks() {
	! grep -qE -- "$2" <<<"$1" || {
		echo "a line matches /$2/ in:" >&2
		printf '%s\n' "$1" >&2
		return 1
	}
}

@test "reads go through the mirror: manifest, config and layer from B, which fetched them from A" {
	local r dir want layer ma mb a b
	r="$TESTDIR/mnt/$(host a)"
	dir="$r/onap/py-app-arm64v8/latest"
	ma=$(mark a) mb=$(mark b)
	want=$(sum '.refs["onap/py-app-arm64v8:latest"].digest')
	[ "$(sha256_of "$dir/manifest.json")" = "$want" ]
	[ "$(fs cat "$dir/platform")" = "linux/arm64/v8" ]
	layer=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[1].name')
	[ "$(sha256_of "$dir/layers/$layer")" = "${layer#*-}" ]

	# regfs asked B for the manifest, the config and the layer (the tag through B's tags
	# list and a GET of the tag, or, when the catalog the mount read at its start has
	# passed its TTL, through a HEAD of the tag at A, then a GET of the digest at B) ...
	b=$(reqs_after b "$mb")
	has "$b" '^GET /v2/onap/py-app-arm64v8/manifests/(latest|sha256:[0-9a-f]{64}) 200$'
	has "$b" "^GET /v2/onap/py-app-arm64v8/blobs/$(sum '.refs["onap/py-app-arm64v8:latest"].config.digest') 200$"
	has "$b" "^GET /v2/onap/py-app-arm64v8/blobs/${layer#*-} 200$"
	# ... and A for none of the image's bytes: only a HEAD of its tag (a probe of a tag goes
	# to the origin), the catalog, which is the origin's own, and
	# whether "onap" is a repository too (its tags list, 404 at B, so asked of the origin:
	# a mirror may lack what the origin has)
	a=$(reqs_after a "$ma")
	lacks "$(grep -v '^HEAD /v2/onap/py-app-arm64v8/manifests/latest 200$' <<<"$a")" \
		'manifests|blobs|py-app-arm64v8/tags'
	lacks "$(grep -v '^GET /v2/onap/tags/list[?].* 404$' <<<"$a")" 'tags'
	# B fetched what it served from A (Go's User-Agent, not regfs')
	has "$(reqs_after a "$ma" 'Go-http-client[^"]*')" "blobs/${layer#*-}"
	! grep -q "mirror '$(host b)'" "$TESTDIR/regfs-main.log" || false
}

@test "the catalog and a commit go to the origin, never to the mirror" {
	local r ma mb a b d
	r="$TESTDIR/mnt/$(host a)"
	sleep 2.2 # past the ttl: the catalog is asked for again
	ma=$(mark a) mb=$(mark b)
	run fs ls "$r/onap"
	[ "$status" -eq 0 ]
	[[ $output == *py-app-s390x* ]]
	d="$r/onap/py-app-mirrored/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	fs touch "$d/.commit"
	# the list is on A (B, a proxy, would refuse a push)
	[ "$(curl -sS -o /dev/null -w '%{http_code}' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$(host a)/v2/onap/py-app-mirrored/manifests/v1")" = 200 ]
	a=$(reqs_after a "$ma")
	has "$a" '^GET /v2/_catalog'
	has "$a" '^PUT /v2/onap/py-app-mirrored/manifests/v1 201$'
	b=$(reqs_after b "$mb")
	lacks "$b" '^(PUT|POST|PATCH|DELETE|HEAD) '
	lacks "$b" '_catalog'
}

@test "a mirror that is down: reads of uncached content fall back to A, one warning" {
	local r dir want layer ma a warnings
	r="$TESTDIR/mnt/$(host a)"
	dir="$r/onap/py-app-s390x/latest"
	registry_stop "$TESTDIR/b"
	ma=$(mark a)
	want=$(sum '.refs["onap/py-app-s390x:latest"].digest')
	[ "$(sha256_of "$dir/manifest.json")" = "$want" ]
	# the base layer: the app layer is the same in every image, and cached by now
	layer=$(sum '.refs["onap/py-app-s390x:latest"].layers[0].name')
	[ "$(sha256_of "$dir/layers/$layer")" = "${layer#*-}" ]
	# A served it to regfs
	a=$(reqs_after a "$ma")
	has "$a" '^GET /v2/onap/py-app-s390x/manifests/latest 200$'
	has "$a" "^GET /v2/onap/py-app-s390x/blobs/${layer#*-} 200$"
	# the warning names the mirror, the origin and why, and is not repeated for every read
	warnings=$(grep -c "warn.*mirror '$(host b)' for '$(host a)': .*falling back to '$(host a)'" \
		"$TESTDIR/regfs-main.log" || true)
	grep "mirror '$(host b)'" "$TESTDIR/regfs-main.log" | grep -qiE 'refused|unreachable|connect'
	[ "$warnings" -ge 1 ] && [ "$warnings" -le 2 ]
	[ "$(sha256_of "$r/onap/py-app-mips/latest/manifest.json")" = \
		"$(sum '.refs["onap/py-app-mips:latest"].digest')" ]
	[ "$(grep -c "warn.*mirror '$(host b)'" "$TESTDIR/regfs-main.log")" -eq "$warnings" ]
}

@test "a mirror that lacks a manifest (404): read from A, with a warning naming the mirror and the 404" {
	local r src="$BATS_TEST_TMPDIR/m.json" mt digest mc ma
	r="$TESTDIR/mnt-bad/$(host a)"
	# a manifest pushed to A after C's copy was made: C answers 404
	REGISTRY=$(host a) fetch_manifest onap/py-app-arm64v8 latest "$src"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); open(sys.argv[1], "w").write(json.dumps(d, indent=5))' "$src"
	mt=$(jq -r .mediaType "$src")
	curl -fsS -X PUT -H "Content-Type: $mt" --data-binary "@$src" \
		"http://$(host a)/v2/onap/py-app-arm64v8/manifests/only-on-a" >/dev/null
	digest="sha256:$(sha256sum "$src" | cut -d' ' -f1)"
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "Accept: $mt" \
		"http://$(host c)/v2/onap/py-app-arm64v8/manifests/$digest")" = 404 ]
	mc=$(mark c) ma=$(mark a)
	[ "$(sha256_of "$r/onap/py-app-arm64v8/only-on-a/manifest.json")" = "$digest" ]
	has "$(reqs_after c "$mc")" "^GET /v2/onap/py-app-arm64v8/manifests/(only-on-a|$digest) 404$"
	has "$(reqs_after a "$ma")" "^GET /v2/onap/py-app-arm64v8/manifests/(only-on-a|$digest) 200$"
	# the fallback is not silent: a warning names the mirror, the origin and the 404
	grep "warn.*mirror '$(host c)' for '$(host a)': manifest 'onap/py-app-arm64v8" \
		"$TESTDIR/regfs-bad.log" | grep -F "HTTP 404 from '$(host c)'" |
		grep -qF "read from '$(host a)' instead" || {
		echo "no warning for the mirror's 404:" >&2
		grep -F "$(host c)" "$TESTDIR/regfs-bad.log" | tail -n 5 >&2
		return 1
	}
	# (a name that is nowhere, 404 from the mirror and from A, is an answer and no warning:
	# the first test reads through B with lookups of such names and finds no line about B)
}

@test "a mirror that serves a corrupted config: refused, read from A at once" {
	local r mc ma config
	r="$TESTDIR/mnt-bad/$(host a)"
	config=$(sum '.refs["onap/py-app-mips:latest"].config.digest')
	mc=$(mark c) ma=$(mark a)
	[ "$(fs cat "$r/onap/py-app-mips/latest/platform")" = "linux/mips" ] || {
		fs cat "$r/onap/py-app-mips/latest/platform" >&2
		return 1
	}
	has "$(reqs_after c "$mc")" "^GET /v2/onap/py-app-mips/blobs/$config 200$"
	has "$(reqs_after a "$ma")" "^GET /v2/onap/py-app-mips/blobs/$config 200$"
	grep "warn.*mirror '$(host c)' for '$(host a)'" "$TESTDIR/regfs-bad.log" |
		grep -F "$config" | grep -q "content has digest .*: refused"
}

@test "a mirror that serves a corrupted small layer: refused, read from A at once" {
	local r name digest mc ma
	r="$TESTDIR/mnt-bad/$(host a)"
	name=$(sum '.refs["onap/py-app-ppc64le:latest"].layers[1].name')
	digest=${name#*-}
	mc=$(mark c) ma=$(mark a)
	[ "$(sha256_of "$r/onap/py-app-ppc64le/latest/layers/$name")" = "$digest" ]
	has "$(reqs_after c "$mc")" "^GET /v2/onap/py-app-ppc64le/blobs/$digest 200$"
	has "$(reqs_after a "$ma")" "^GET /v2/onap/py-app-ppc64le/blobs/$digest 200$"
	grep "warn.*mirror '$(host c)' for '$(host a)'" "$TESTDIR/regfs-bad.log" |
		grep -F "$digest" | grep -q "content has digest .*: refused"
}

@test "a mirror that serves a corrupted big layer: that read fails, nothing is stored, it is not asked again" {
	local r digest name mc ma
	r="$TESTDIR/mnt-bad/$(host a)"
	digest=$(<"$TESTDIR/big.layer")
	name="00-$digest"
	mc=$(mark c) ma=$(mark a)
	# too big to hold back: C's bytes went on to the cache writer, which refused them
	assert_fails_with "Input/output error" fs cat "$r/onap/big/latest/layers/$name"
	[ -z "$(find "$TESTDIR/cache-bad" -name "*${digest#sha256:}*")" ]
	grep "warn.*mirror '$(host c)' for '$(host a)'" "$TESTDIR/regfs-bad.log" |
		grep -F "$digest" | grep -q "does not verify"
	# the next read goes to A and verifies; C was asked once
	[ "$(sha256_of "$r/onap/big/latest/layers/$name")" = "$digest" ]
	[ "$(reqs_after c "$mc" | grep -c "blobs/$digest")" -eq 1 ]
	has "$(reqs_after a "$ma")" "^GET /v2/onap/big/blobs/$digest 200$"
}
