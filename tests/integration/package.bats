#!/usr/bin/env bats
# Installing and packaging, from the source as it is: one scratch configure and build of regfs
# alone (Release, -DBUILD_TESTING=OFF), then `cmake --install --prefix` and `cpack -G DEB` into
# scratch directories.  The prefix gets bin/regfs, the man page and the example units; the .deb's
# Depends name the package of every library the binary needs (dpkg-shlibdeps) and fuse3; its
# regfs, unpacked with `dpkg -x` into a scratch root, runs; the example units pass
# `systemd-analyze verify`.  Nothing is written outside this file's scratch directory.
# regfs-requires: no-mount
# regfs-tools: cmake cpack dpkg dpkg-deb dpkg-shlibdeps readelf man

setup_file() {
	export PKG=$BATS_FILE_TMPDIR/pkg
	rm -rf "$PKG"
	mkdir -p "$PKG"
	if ! { cmake -S "$REGFS_SRC" -B "$PKG/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
		cmake --build "$PKG/build" -j 2; } >"$PKG/build.log" 2>&1; then
		tail -n 40 "$PKG/build.log" >&2
		return 1
	fi
	# the version the build says, as the package and the binary must say it
	sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$PKG/build/CMakeCache.txt" >"$PKG/version"
	[[ -s $PKG/version ]]
	if ! (cd "$PKG/build" && cpack -G DEB -B "$PKG/deb") >"$PKG/cpack.log" 2>&1; then
		cat "$PKG/cpack.log" >&2
		return 1
	fi
}

teardown_file() {
	[[ -n ${PKG:-} ]] && rm -rf "$PKG"
}

# deb — the one package cpack made.
deb() {
	local debs=("$PKG"/deb/*.deb)
	((${#debs[@]} == 1)) && [[ -f ${debs[0]} ]] || { echo "packages: ${debs[*]}" >&2; return 1; }
	echo "${debs[0]}"
}

# depends_has DEPENDS PACKAGE — DEPENDS (a Depends field) names PACKAGE, alone or as an alternative.
depends_has() {
	local alt alts
	IFS=',|' read -ra alts <<<"$1"
	for alt in "${alts[@]}"; do
		alt=${alt#"${alt%%[! ]*}"}
		[[ ${alt%% *} == "$2" ]] && return 0
	done
	return 1
}

# unpack — the package's files in a scratch root (once); prints the root.
unpack() {
	local root=$PKG/root
	[[ -d $root ]] || dpkg -x "$(deb)" "$root"
	echo "$root"
}

@test "cmake --install --prefix puts bin/regfs, the man page and the example units under the prefix, and nothing elsewhere" {
	local prefix=$PKG/prefix f
	run cmake --install "$PKG/build" --prefix "$prefix"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ -x "$prefix/bin/regfs" ]
	[ -f "$prefix/share/man/man1/regfs.1" ]
	for f in regfs.service mnt-registry.mount mnt-registry.automount; do
		[ -f "$prefix/share/doc/regfs/examples/$f" ] || { echo "no example $f" >&2; return 1; }
	done
	# every file installed is below the prefix
	while read -r f; do
		[[ $f == "$prefix"/* ]] || { echo "installed outside the prefix: $f" >&2; return 1; }
	done <"$PKG/build/install_manifest.txt"
	run "$prefix/bin/regfs" --version
	[ "$status" -eq 0 ]
	[[ $output == *"regfs version $(cat "$PKG/version")"* ]]
	# man finds the page where it was put, by name
	run env MANPATH="$prefix/share/man" man -w regfs
	[ "$status" -eq 0 ]
	[ "$output" = "$prefix/share/man/man1/regfs.1" ]
}

@test "cpack -G DEB makes one package: regfs, the project's version, a section and a maintainer" {
	local d
	d=$(deb)
	[ "$(dpkg-deb -f "$d" Package)" = regfs ]
	[ "$(dpkg-deb -f "$d" Version)" = "$(cat "$PKG/version")" ]
	[ "$(dpkg-deb -f "$d" Architecture)" = "$(dpkg --print-architecture)" ]
	[[ $(dpkg-deb -f "$d" Section) =~ ^(admin|utils)$ ]]
	[[ $(dpkg-deb -f "$d" Maintainer) == *"<"*"@"*">" ]]
	[ -n "$(dpkg-deb -f "$d" Description)" ]
	[ -z "$(dpkg-deb -f "$d" Homepage)" ]
}

@test "the package depends on libfuse3, libcurl, fuse3, and the package of every library regfs needs" {
	local d depends so pkg missing=()
	d=$(deb)
	depends=$(dpkg-deb -f "$d" Depends)
	echo "Depends: $depends"
	# fusermount3 and mount.fuse3 (fuse3): no library names them, so they are listed by hand
	for pkg in libfuse3-3 libcurl4 fuse3; do
		depends_has "$depends" "$pkg" || missing+=("$pkg")
	done
	# each NEEDED entry of the packaged binary comes from a package that Depends names
	# (dpkg -S finds the installed package that holds it; -dev packages hold only links)
	for so in $(readelf -d "$(unpack)/usr/bin/regfs" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		pkg=$(dpkg -S "*/$so" 2>/dev/null | grep ': /' | cut -d: -f1 | grep -v -- '-dev$' |
			sort -u | head -n1)
		[ -n "$pkg" ] || { echo "no installed package holds $so" >&2; return 1; }
		depends_has "$depends" "$pkg" || missing+=("$so ($pkg)")
	done
	((${#missing[@]} == 0)) || { echo "not in Depends: ${missing[*]}" >&2; return 1; }
}

@test "the package holds /usr/bin/regfs, its man page and the examples, and nothing for /etc or systemd's unit directories" {
	local list
	list=$(dpkg-deb -c "$(deb)" | awk '{ print $NF }')
	grep -qx './usr/bin/regfs' <<<"$list"
	grep -qx './usr/share/man/man1/regfs.1' <<<"$list"
	grep -qx './usr/share/doc/regfs/examples/regfs.service' <<<"$list"
	grep -qx './usr/share/doc/regfs/examples/mnt-registry.mount' <<<"$list"
	grep -qx './usr/share/doc/regfs/examples/mnt-registry.automount' <<<"$list"
	run grep -E '^\./(etc|lib/systemd|usr/lib/systemd)/' <<<"$list"
	[ "$status" -eq 1 ] || { echo "$output"; return 1; }
}

@test "dpkg -x into a scratch root: its regfs runs, prints its version and its options" {
	local root
	root=$(unpack)
	run "$root/usr/bin/regfs" --version
	[ "$status" -eq 0 ]
	[[ $output == *"regfs version $(cat "$PKG/version")"* ]]
	run "$root/usr/bin/regfs" --help
	[ "$status" -eq 0 ]
	[[ $output == *"-o registry="* ]]
	run env LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$root/usr/share/man/man1/regfs.1"
	[ "$status" -eq 0 ]
	[[ $output == *"regfs - mount container registries as a directory tree"* ]]
}

@test "the example units pass systemd-analyze verify, and say what the README says" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	local root ex u
	root=$(unpack)
	ex=$root/usr/share/doc/regfs/examples
	grep -qx 'Type=notify' "$ex/regfs.service"
	grep -qE '^ExecStart=/usr/bin/regfs -f [^ ]+ /mnt/registry( |$)' "$ex/regfs.service"
	grep -qE '^ExecStop=/usr/bin/fusermount3 -u /mnt/registry$' "$ex/regfs.service"
	grep -qx 'Restart=on-failure' "$ex/regfs.service"
	grep -qx 'After=network-online.target' "$ex/regfs.service"
	grep -qx 'Type=fuse.regfs' "$ex/mnt-registry.mount"
	grep -qx 'Where=/mnt/registry' "$ex/mnt-registry.mount"
	grep -qE '^Options=.*_netdev' "$ex/mnt-registry.mount"
	grep -qx 'Where=/mnt/registry' "$ex/mnt-registry.automount"
	# verify checks that ExecStart's program exists and that man: links resolve: point both at
	# the scratch root
	mkdir -p "$PKG/units"
	for u in regfs.service mnt-registry.mount mnt-registry.automount; do
		sed "s#/usr/bin/regfs#$root/usr/bin/regfs#g" "$ex/$u" >"$PKG/units/$u"
	done
	cd "$PKG/units"
	run env MANPATH="$root/usr/share/man" systemd-analyze verify ./regfs.service \
		./mnt-registry.mount ./mnt-registry.automount
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ -z "$output" ] || { echo "$output"; return 1; }
}
