#!/usr/bin/env bash
# scripts/deps.sh — install what regfs needs to build and test (Debian/Ubuntu, apt).
#
# Fast when everything is present: the package list is checked with dpkg-query first and
# apt-get runs only for what is missing.  Non-interactive; works as root, uses sudo otherwise.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config
	libfuse3-dev libcurl4-openssl-dev libjansson-dev libssl-dev libsystemd-dev
	# layer/: tar parsing and the gzip and zstd decompressors that index a layer blob
	libarchive-dev libzstd-dev zlib1g-dev
	# run
	fuse3 ca-certificates
	# integration tests
	docker-registry skopeo bats jq python3 attr curl util-linux coreutils
	# multi-user tests (tests/integration/multiuser.bats: useradd, groupadd; setpriv is util-linux)
	passwd
	# auth tests (tests/lib/auth.bash: htpasswd; tests/lib/token_server.py)
	apache2-utils python3-jwt python3-cryptography
	# man page and package tests (manpage.bats: groff, man; package.bats: cpack -G DEB runs
	# dpkg-shlibdeps from dpkg-dev; readelf is binutils, part of build-essential)
	groff-base man-db dpkg-dev
	# rootfs/ and layerfs/ tests (rootfs.bats, debootstrap.bats): umoci unpacks the reference
	# tree, zstd makes zstd layers (tests/lib/layer_image.py), debootstrap makes a Debian
	# minbase tree per architecture, file names a binary's machine
	umoci zstd debootstrap file
	# benchmarks (scripts/bench.sh)
	time hyperfine
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

if ((EUID == 0)); then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo -n)
else
	echo "deps: missing ${missing[*]}; run as root or install sudo" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${missing[@]}" </dev/null
