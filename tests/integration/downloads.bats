#!/usr/bin/env bats
# MOUNT/.downloads: the blob downloads in flight, one line each, while they run.  A slow link
# is what loopback cannot be, so the 3 MiB layer of test/big comes through
# tests/lib/paging_proxy.py at about 1 MB/s (--blob-rate, that one blob only); everything else
# is the real registry.  A second mount, without -o verbose and with its own cache, shows that
# only downloads of 16 MiB or more are logged at the default level.

load ../lib/suite

# push_huge REPO:TAG BYTES — an image of one uncompressed layer of BYTES random bytes, pushed
# with skopeo from a directory written here; prints the layer's digest.
push_huge() {
	local dir="$TESTDIR/huge-image"
	python3 - "$dir" "$2" <<'EOF' >"$TESTDIR/huge.digest"
import hashlib, io, json, os, sys, tarfile
d, size = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
data = os.urandom(size)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    ti = tarfile.TarInfo("huge.bin")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
layer = buf.getvalue()
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, h), "wb").write(b)
    return "sha256:" + h
ld = put(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd = put(cfg)
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(cfg),
                  "digest": cd},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(layer),
                   "digest": ld}]}
open(os.path.join(d, "manifest.json"), "w").write(json.dumps(man))
open(os.path.join(d, "version"), "w").write("Directory Transport Version: 1.1\n")
print(ld, len(layer))
EOF
	skopeo copy -q --preserve-digests --dest-tls-verify=false "dir:$dir" "docker://$REGISTRY/$1"
	rm -rf "$dir"
}

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	push_huge test/huge:latest $((20 << 20))
	read -r HUGE HUGE_SIZE <"$TESTDIR/huge.digest"
	BIG=$(sum '.refs["test/big:latest"].layers[0].digest')
	BIG_NAME=$(sum '.refs["test/big:latest"].layers[0].name')
	BIG_SIZE=$(sum '.refs["test/big:latest"].layers[0].size')
	export HUGE HUGE_SIZE BIG BIG_NAME BIG_SIZE
	proxy_start "$TESTDIR/proxy-slow" --blob-rate 1000000 --slow-blob "$BIG"
	export SLOW=$PROXY
	suite_mount "registry=$SLOW" verbose
}
teardown_file() {
	[[ -z ${TESTDIR:-} ]] || regfs_unmount "$TESTDIR/mnt2" || true
	suite_teardown
}
setup() { regfs_skip_if_needed; }
teardown() { suite_teardown_test; }

# downloads_line DIGEST — the .downloads line of DIGEST, if any.
downloads_line() {
	fs cat "$MNT/.downloads" | grep "^$1 " || true
}

@test ".downloads is at the root and empty when nothing downloads" {
	[ -f "$MNT/.downloads" ]
	run fs cat "$MNT/.downloads"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "a slow download shows in .downloads with its progress, then leaves it" {
	local layer="$MNT/$SLOW/test/big/latest/layers/$BIG_NAME" line done1 done2 total where i
	fs cat "$layer" >"$TESTDIR/big.out" &
	local reader=$!
	for ((i = 0; i < 100; i++)); do
		line=$(downloads_line "$BIG")
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $line ]] || { echo "no line for $BIG in .downloads" >&2; return 1; }
	# DIGEST WHERE DONE/TOTAL PERCENT RATE/s ELAPSEDs
	read -r _ where progress _ <<<"$line"
	[ "$where" = "$SLOW/test/big" ]
	done1=${progress%/*}
	total=${progress#*/}
	[ "$total" -eq "$BIG_SIZE" ]
	((done1 < total)) || { echo "done $done1 of $total at the first look: not slow?" >&2; return 1; }
	sleep 1
	line=$(downloads_line "$BIG")
	[[ -n $line ]] || { echo "the download left .downloads within 1 s" >&2; return 1; }
	read -r _ _ progress _ <<<"$line"
	done2=${progress%/*}
	((done2 > done1)) || { echo "no progress: $done1 then $done2" >&2; return 1; }
	[[ $line =~ [0-9.]+%\ [0-9.]+\ (B|KiB|MiB)/s\ [0-9.]+s$ ]] || {
		echo "line not as documented: $line" >&2
		return 1
	}
	wait "$reader"
	[ "sha256:$(sha256sum <"$TESTDIR/big.out" | cut -d' ' -f1)" = "$BIG" ]
	[ -z "$(downloads_line "$BIG")" ]
	# -o verbose: the small download's start and end are in the log, with the rate
	grep -q "download $BIG from $SLOW/test/big: 3.0 MiB, started" "$TESTDIR/regfs.log"
	grep -qE "download $BIG from $SLOW/test/big: done, 3.0 MiB in [0-9.]+ s \([0-9.]+ (KiB|MiB)/s\)" \
		"$TESTDIR/regfs.log"
}

@test "without -o verbose only a download of 16 MiB or more is logged, start and end" {
	local MNT2="$TESTDIR/mnt2"
	regfs_mount "$MNT2" "cache_dir=$TESTDIR/cache2" "state_dir=$TESTDIR/state2" \
		"logfile=$TESTDIR/regfs2.log"
	local huge_name
	huge_name=$(fs ls "$MNT2/$REGISTRY/test/huge/latest/layers")
	fs cat "$MNT2/$REGISTRY/test/huge/latest/layers/$huge_name" | sha256sum >"$TESTDIR/huge.sum"
	[ "sha256:$(cut -d' ' -f1 "$TESTDIR/huge.sum")" = "$HUGE" ]
	fs cat "$MNT2/$REGISTRY/test/big/latest/layers/$BIG_NAME" >/dev/null
	grep -q "download $HUGE from $REGISTRY/test/huge: 20.0 MiB, started" "$TESTDIR/regfs2.log"
	grep -qE "download $HUGE from $REGISTRY/test/huge: done, 20.0 MiB in [0-9.]+ s" \
		"$TESTDIR/regfs2.log"
	run grep -c "download $BIG" "$TESTDIR/regfs2.log"
	[ "$output" -eq 0 ]
	[ "$HUGE_SIZE" -gt $((20 << 20)) ]
}
