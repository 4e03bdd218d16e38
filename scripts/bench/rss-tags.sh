#!/usr/bin/env bash
# scripts/bench/rss-tags.sh — regfs' memory after visiting many tag directories (issue 10's
# "RSS after visiting 10,000 tag directories ≤ 64 MiB").
#
# Usage: scripts/bench/rss-tags.sh [--tags N] [--repos R] [--no-build]
#
# Starts docker-registry on 127.0.0.1 (a free port), pushes one small image under N tags
# spread over R repositories (default 10000 over 10), mounts regfs on a fresh cache, then
# visits every tag directory (`ls TAG/` and `cat TAG/digest`) and prints regfs' VmRSS and
# VmHWM before and after, and after a second pass (the caches are bounded, so the second pass
# must not grow it much).  A measurement: it never fails on numbers.  Everything it started is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAGS=10000
REPOS=10
BUILD=1
while (($#)); do
	case $1 in
	--tags) TAGS=${2:?}; shift ;;
	--repos) REPOS=${2:?}; shift ;;
	--no-build) BUILD= ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "rss-tags: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done

: "${REGFS_BIN:=$ROOT/build-bench/regfs}"
if [[ -n $BUILD ]]; then
	cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$ROOT/build-bench" -j2 --target regfs >/dev/null
fi
export REGFS_BIN REGFS_SRC="$ROOT"
# shellcheck source=../../tests/lib/registry.bash
source "$ROOT/tests/lib/registry.bash"

W=$(mktemp -d "${TMPDIR:-/tmp}/regfs-rss.XXXXXX")
export TESTDIR="$W"
MNT="$W/mnt"
cleanup() {
	regfs_unmount "$MNT" >/dev/null 2>&1 || true
	registry_stop "$W/registry" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

registry_start "$W/registry" >&2
python3 - "$REGISTRY" "$TAGS" "$REPOS" <<'PY'
import hashlib, http.client, json, sys
reg, tags, repos = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = reg.split(":")
c = http.client.HTTPConnection(host, int(port))
def req(method, path, body=b"", headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    r.read()
    if r.status >= 300:
        raise SystemExit("%s %s: %d" % (method, path, r.status))
    return r
def blob(repo, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    r = req("POST", "/v2/%s/blobs/uploads/" % repo)
    loc = r.getheader("Location")
    sep = "&" if "?" in loc else "?"
    path = loc.split(reg, 1)[-1] if "://" in loc else loc
    req("PUT", "%s%sdigest=%s" % (path, sep, d), data,
        {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    return d
for r in range(repos):
    repo = "rss/r%02d" % r
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"rss-layer-%d" % r
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(cfg), "digest": blob(repo, cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(layer), "digest": blob(repo, layer)}]}).encode()
    for t in range(r, tags, repos):
        req("PUT", "/v2/%s/manifests/t%05d" % (repo, t), man,
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
print("pushed %d tags in %d repositories" % (tags, repos), file=sys.stderr)
PY

regfs_mount "$MNT" "cache_dir=$W/cache" "state_dir=$W/state" "logfile=$W/regfs.log" "ttl=600"
PID=$(<"$(regfs_pidfile "$MNT")")
rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %6.1f MiB  ", $1, $2 / 1024 }' "/proc/$PID/status"; echo; }
visit() {
	local repo t
	for repo in "$MNT/$REGISTRY"/rss/*/; do
		for t in $(ls "$repo"); do
			ls "$repo$t/" >/dev/null
			cat "$repo$t/digest" >/dev/null
		done
	done
}
printf 'after mount:         '; rss
start=$SECONDS
visit
printf 'after %d tag dirs: ' "$TAGS"; rss
echo "  (first pass $((SECONDS - start)) s)"
visit
printf 'after a second pass: '; rss
