#!/usr/bin/env bash
# scripts/demo.sh [start|stop|status] — a local registry with the ONAP guide's images, mounted.
#
# start (default): install dependencies, build regfs, start docker-registry on 127.0.0.1
# (port 5000 when free) with persistent storage in .demo/registry/, push the "seed" fixtures
# (onap/py-app-<arch>:latest, the onap/py-app:v1 manifest list, the onap/py-app-oci:latest OCI
# index), mount regfs (drafts kept in .demo/state) at .demo/mnt in the background and print what to try.  Re-running it
# is harmless: what already runs is kept.
# stop: unmount .demo/mnt and stop the registry (the pushed images stay in .demo/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
DEMO="$ROOT/.demo"
REGDIR="$DEMO/registry"
MNT="$DEMO/mnt"
export REGFS_SRC="$ROOT" REGFS_BIN="$ROOT/build/regfs"
# shellcheck source=../tests/lib/registry.bash
source "$ROOT/tests/lib/registry.bash"

say() { printf '%s\n' "$*"; }

registry_running() {
	[[ -s $REGDIR/registry.port ]] && _pid_alive "$REGDIR/registry.pid" &&
		curl -fsS "http://127.0.0.1:$(<"$REGDIR/registry.port")/v2/" >/dev/null 2>&1
}

# unmount .demo/mnt, also when regfs died and left "Transport endpoint is not connected"
demo_unmount() {
	if mountpoint -q "$MNT" 2>/dev/null || ! stat "$MNT" >/dev/null 2>&1; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
		say "unmounted $MNT"
	fi
	rm -f "$DEMO/mount.registry"
}

stop() {
	[[ -d $DEMO ]] || { say "nothing to stop"; return 0; }
	demo_unmount
	if _pid_alive "$REGDIR/registry.pid"; then
		registry_stop "$REGDIR"
		say "stopped the registry"
	fi
}

status() {
	if registry_running; then
		say "registry: 127.0.0.1:$(<"$REGDIR/registry.port") (pid $(<"$REGDIR/registry.pid"))"
	else
		say "registry: not running"
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then
		say "mount:    $MNT -> $(cat "$DEMO/mount.registry" 2>/dev/null || echo '?')"
	else
		say "mount:    not mounted"
	fi
}

start() {
	scripts/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

	mkdir -p "$DEMO" "$MNT"
	if registry_running; then
		REGISTRY="127.0.0.1:$(<"$REGDIR/registry.port")"
		say "registry already running on $REGISTRY"
	else
		# a dead registry's pid file must not stop registry_start
		rm -f "$REGDIR/registry.pid"
		port=5000
		port_is_free "$port" || port=$(free_port)
		registry_start "$REGDIR" "$port"
		say "started docker-registry on $REGISTRY (storage $REGDIR/storage, log $REGDIR/registry.log)"
	fi
	python3 tests/lib/fixtures.py --registry "$REGISTRY" --set seed --summary "$DEMO/summary.json"

	if mountpoint -q "$MNT" 2>/dev/null && [[ $(cat "$DEMO/mount.registry" 2>/dev/null) == "$REGISTRY" ]]; then
		say "regfs already mounted at $MNT"
	else
		demo_unmount
		local reason
		if ! reason=$(regfs_prereqs); then
			say "cannot mount: $reason (the registry keeps running: scripts/demo.sh stop)" >&2
			exit 1
		fi
		mkdir -p "$DEMO/cache"
		# no -f: regfs daemonizes; `scripts/demo.sh stop` unmounts it
		"$REGFS_BIN" -o "registry=$REGISTRY,cache_dir=$DEMO/cache,state_dir=$DEMO/state,logfile=$DEMO/regfs.log" "$MNT" </dev/null
		if ! _wait_until 10 mountpoint -q "$MNT"; then
			say "regfs did not mount $MNT; its log:" >&2
			tail -n 30 "$DEMO/regfs.log" >&2 2>/dev/null || true
			exit 1
		fi
		echo "$REGISTRY" >"$DEMO/mount.registry"
		say "mounted regfs at $MNT (log $DEMO/regfs.log)"
	fi

	local M=".demo/mnt/$REGISTRY"
	cat <<EOF

regfs demo: the ONAP guide's onap/py-app images, one per architecture, and two lists.
Try:
  ls .demo/mnt
  ls $M/onap
  ls $M/onap/py-app-arm64v8/latest
  cat $M/onap/py-app-arm64v8/latest/manifest.json | jq .
  sha256sum $M/onap/py-app-arm64v8/latest/manifest.json; cat $M/onap/py-app-arm64v8/latest/digest
  cat $M/onap/py-app-arm64v8/latest/platform
  jq .config $M/onap/py-app-arm64v8/latest/config.json
  ls -l $M/onap/py-app-arm64v8/latest/layers
  tar -tzf $M/onap/py-app-arm64v8/latest/layers/01-*
  ls $M/onap/py-app/v1                      # the manifest list: one directory per platform
  cat $M/onap/py-app/v1/linux-s390x/platform
  jq . $M/onap/py-app/v1/inspect.json       # like docker manifest inspect --verbose
  getfattr -d $M/onap/py-app/v1/linux-arm64-v8
  ls $M/onap/py-app-oci/latest              # the same images as an OCI index
  grep -H arch= $M/onap/py-app/v1/*/rootfs/etc/regfs-fixture   # the files inside each image
  cat $M/onap/py-app/v1/linux-amd64/rootfs/app/main.py
  ls $M/onap/py-app/v1/linux-amd64/layerfs/*                    # what each layer adds
  ls $M/onap/py-app/v1/referrers/           # signatures and SBOMs attached (none here)
Build and push the guide's multi-arch tag onap/py-app:latest from symlinks:
  mkdir $M/onap/py-app/latest               # EEXIST once pushed: then ln -s into it amends it
  ln -s ../../py-app-amd64/latest   $M/onap/py-app/latest/amd64
  ln -s ../../py-app-arm64v8/latest $M/onap/py-app/latest/arm64v8
  ln -s ../../py-app-mips/latest    $M/onap/py-app/latest/mips
  cat $M/onap/py-app/latest/.status         # what each link resolved to, or what is wrong
  cat $M/onap/py-app/latest/.preview.json   # the exact bytes a commit pushes
  touch $M/onap/py-app/latest/.commit       # push; then ls shows the live list
Stop:
  scripts/demo.sh stop
EOF
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: scripts/demo.sh [start|stop|status]" >&2
	exit 2
	;;
esac
