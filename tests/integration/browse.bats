#!/usr/bin/env bats
# Browsing: every level of the tree, exact manifest/config/layer bytes, platform files, lists
# and their platform directories, @sha256 lookups, xattrs and nested repositories — checked
# against the fixtures summary and against what skopeo/curl get from the registry directly.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

IMAGE_FILES=$'config.json\ndigest\ninspect.json\nlayers\nmanifest.json\nplatform'
LIST_FILES=$'digest\ninspect.json\nmanifest.json'

# refs checked one by one below (images and indexes of every media type)
REFS=(
	onap/py-app-amd64:latest onap/py-app-arm64v8:latest onap/py-app-mips:latest
	onap/py-app-ppc64le:latest onap/py-app-s390x:latest onap/py-app:v1 onap/py-app-oci:latest
	test/multi:latest test/attest:latest test/dup:latest test/nested:latest
	test/windows:latest test/windows:image test/big:latest a/b:latest a/b:v2 a/b/c:latest
)

# tag_dir REPO:TAG — path of the tag directory
tag_dir() {
	echo "$R/${1%:*}/${1##*:}"
}

@test "root lists the configured registry (and .downloads)" {
	run lsdir "$MNT"
	[ "$status" -eq 0 ]
	assert_lines $'.downloads\n'"$REGISTRY" "$output" "ls $MNT"
}

@test "registry level lists the top-level namespaces" {
	run lsdir "$R"
	[ "$status" -eq 0 ]
	assert_lines "$(expected_children "")" "$output" "ls $R"
	assert_lines $'a\nonap\ntest' "$output"
}

@test "onap namespace lists the guide's repositories" {
	run lsdir "$R/onap"
	[ "$status" -eq 0 ]
	assert_lines $'py-app\npy-app-amd64\npy-app-arm64v8\npy-app-mips\npy-app-oci\npy-app-ppc64le\npy-app-s390x' \
		"$output" "ls $R/onap"
}

@test "every namespace and repository level lists what the registry has" {
	local prefixes p
	prefixes=$(sum '.repositories[]' | awk -F/ '{ p = $1; print p; for (i = 2; i <= NF; i++) { p = p "/" $i; print p } }' | LC_ALL=C sort -u)
	for p in $prefixes; do
		run lsdir "$R/$p"
		[ "$status" -eq 0 ] || { echo "ls $R/$p failed: $output" >&2; return 1; }
		assert_lines "$(expected_children "$p")" "$output" "ls $R/$p"
	done
}

@test "image tag directory lists manifest.json digest inspect.json config.json platform layers" {
	local ref
	for ref in onap/py-app-amd64:latest test/multi:latest test/windows:image; do
		run lsdir "$(tag_dir "$ref")"
		[ "$status" -eq 0 ]
		assert_lines "$IMAGE_FILES" "$output" "$ref"
		[ -d "$(tag_dir "$ref")/layers" ]
		[ -f "$(tag_dir "$ref")/manifest.json" ]
	done
}

@test "list tag directory lists manifest.json digest inspect.json and one directory per platform" {
	local want
	want=$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-arm64-v8 linux-mips linux-ppc64le linux-s390x | LC_ALL=C sort)
	run lsdir "$R/onap/py-app/v1"
	[ "$status" -eq 0 ]
	assert_lines "$want" "$output" "onap/py-app:v1"
	run lsdir "$R/onap/py-app-oci/latest"
	[ "$status" -eq 0 ]
	assert_lines "$want" "$output" "onap/py-app-oci:latest"
	[ -d "$R/onap/py-app/v1/linux-arm64-v8" ]
}

@test "manifest.json: sha256sum == digest file == summary == skopeo, size == summary" {
	local ref dir want got sk size
	for ref in "${REFS[@]}"; do
		dir=$(tag_dir "$ref")
		want=$(sum '.refs[$r].digest' --arg r "$ref")
		got=$(sha256_of "$dir/manifest.json")
		[ "$got" = "$want" ] || { echo "$ref: manifest.json hashes to $got, summary says $want" >&2; return 1; }
		cmp <(printf '%s\n' "$want") <(fs cat "$dir/digest") ||
			{ echo "$ref: digest file is not '$want\\n'" >&2; return 1; }
		sk=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/$ref" | sha256sum)
		[ "sha256:${sk%% *}" = "$want" ] || { echo "$ref: skopeo sees sha256:${sk%% *}" >&2; return 1; }
		size=$(fs stat -c %s "$dir/manifest.json")
		[ "$size" = "$(sum '.refs[$r].size' --arg r "$ref")" ] ||
			{ echo "$ref: manifest.json st_size $size" >&2; return 1; }
	done
}

@test "manifest.json bytes equal the registry's (cmp with curl)" {
	local ref
	for ref in onap/py-app:v1 onap/py-app-oci:latest onap/py-app-s390x:latest test/multi:latest; do
		fetch_manifest "${ref%:*}" "${ref##*:}" "$BATS_TEST_TMPDIR/m.json"
		fs cmp "$BATS_TEST_TMPDIR/m.json" "$(tag_dir "$ref")/manifest.json"
	done
}

@test "config.json is the config blob" {
	local ref dir cfg size
	for ref in onap/py-app-amd64:latest onap/py-app-arm64v8:latest onap/py-app-mips:latest \
		test/multi:latest test/windows:image; do
		dir=$(tag_dir "$ref")
		cfg=$(sum '.refs[$r].config.digest' --arg r "$ref")
		[ "$(sha256_of "$dir/config.json")" = "$cfg" ]
		fetch_blob "${ref%:*}" "$cfg" "$BATS_TEST_TMPDIR/config"
		fs cmp "$BATS_TEST_TMPDIR/config" "$dir/config.json"
		size=$(fs stat -c %s "$dir/config.json")
		[ "$size" = "$(sum '.refs[$r].config.size' --arg r "$ref")" ]
	done
	# the guide's Dockerfile, as the config records it
	run fs jq -c '[.config.Entrypoint, .config.Cmd, .config.WorkingDir, .config.Labels.maintainer, .architecture, .variant]' \
		"$R/onap/py-app-arm64v8/latest/config.json"
	[ "$status" -eq 0 ]
	[ "$output" = '[["python"],["main.py"],"/app","adolfo@orangemonk.net","arm64","v8"]' ]
}

@test "platform file: os/arch[/variant][:os.version] and a newline" {
	local ref
	for ref in onap/py-app-amd64:latest onap/py-app-arm64v8:latest onap/py-app-mips:latest \
		onap/py-app-ppc64le:latest onap/py-app-s390x:latest test/windows:image; do
		cmp <(printf '%s\n' "$(sum '.refs[$r].platform_string' --arg r "$ref")") \
			<(fs cat "$(tag_dir "$ref")/platform") || { echo "$ref: platform file differs" >&2; return 1; }
	done
	cmp <(printf 'linux/arm64/v8\n') <(fs cat "$R/onap/py-app-arm64v8/latest/platform")
	cmp <(printf 'linux/mips\n') <(fs cat "$R/onap/py-app-mips/latest/platform")
	cmp <(printf 'windows/amd64:10.0.17763.1\n') <(fs cat "$R/test/windows/image/platform")
}

@test "layers: names in order, zero padded, st_size == descriptor size" {
	local ref dir name size
	for ref in onap/py-app-amd64:latest test/multi:latest test/big:latest; do
		dir=$(tag_dir "$ref")/layers
		run lsdir "$dir"
		[ "$status" -eq 0 ]
		assert_lines "$(sum '.refs[$r].layers[].name' --arg r "$ref" | LC_ALL=C sort)" "$output" "$ref layers"
		# sorted names are in manifest order
		assert_lines "$(sum '.refs[$r].layers[].name' --arg r "$ref")" "$output" "$ref layer order"
		while read -r name size; do
			[ "$(fs stat -c %s "$dir/$name")" = "$size" ] ||
				{ echo "$ref: $name st_size $(stat -c %s "$dir/$name"), want $size" >&2; return 1; }
			[ -f "$dir/$name" ]
		done < <(sum '.refs[$r].layers[] | "\(.name) \(.size)"' --arg r "$ref")
	done
	# 12 layers: 00 … 11
	run lsdir "$R/test/multi/latest/layers"
	[ "${#lines[@]}" -eq 12 ]
	[[ ${lines[0]} == 00-sha256:* ]]
	[[ ${lines[11]} == 11-sha256:* ]]
}

@test "layer bytes equal the registry's blobs (cmp with curl)" {
	local ref dir name digest
	for ref in onap/py-app-arm64v8:latest test/multi:latest test/big:latest; do
		dir=$(tag_dir "$ref")/layers
		while read -r name digest; do
			fetch_blob "${ref%:*}" "$digest" "$BATS_TEST_TMPDIR/blob"
			fs cmp "$BATS_TEST_TMPDIR/blob" "$dir/$name" || { echo "$ref: $name differs" >&2; return 1; }
		done < <(sum '.refs[$r].layers[] | "\(.name) \(.digest)"' --arg r "$ref")
	done
}

@test "3 MiB layer: sha256 matches and random-access reads return the right bytes" {
	local name digest file
	name=$(sum '.refs["test/big:latest"].layers[0].name')
	digest=$(sum '.refs["test/big:latest"].layers[0].digest')
	file="$R/test/big/latest/layers/$name"
	fetch_blob test/big "$digest" "$BATS_TEST_TMPDIR/big"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/big")" -gt $((3 * 1024 * 1024)) ]
	# reads in the middle and at the end, in odd sizes, before and after the whole file is read
	for spec in "bs=4096 skip=300 count=7" "bs=1000 skip=3000 count=3" "bs=1 skip=3145000 count=5000"; do
		# shellcheck disable=SC2086
		cmp <(dd if="$BATS_TEST_TMPDIR/big" $spec status=none) <(fs dd if="$file" $spec status=none) ||
			{ echo "dd $spec differs" >&2; return 1; }
	done
	[ "$(sha256_of "$file")" = "$digest" ]
	cmp <(dd if="$BATS_TEST_TMPDIR/big" bs=4096 skip=5 count=3 status=none) \
		<(fs dd if="$file" bs=4096 skip=5 count=3 status=none)
}

@test "@sha256:<digest> directories: lookup works, same content, not listed" {
	local digest hex child
	digest=$(sum '.refs["onap/py-app-amd64:latest"].digest')
	run lsdir "$R/onap/py-app-amd64"
	[ "$status" -eq 0 ]
	assert_lines "latest" "$output" "ls onap/py-app-amd64 (no @ entries)"
	run lsdir "$R/onap/py-app-amd64/@$digest"
	[ "$status" -eq 0 ]
	assert_lines "$IMAGE_FILES" "$output" "@$digest"
	fs cmp "$R/onap/py-app-amd64/latest/manifest.json" "$R/onap/py-app-amd64/@$digest/manifest.json"
	fs cmp "$R/onap/py-app-amd64/latest/config.json" "$R/onap/py-app-amd64/@$digest/config.json"
	cmp <(printf '%s\n' "$digest") <(fs cat "$R/onap/py-app-amd64/@$digest/digest")
	[ -d "$R/onap/py-app-amd64/@$digest" ]

	# an untagged manifest, reachable only by digest (a list entry)
	child=$(sum '.refs["onap/py-app:v1"].manifests[] | select(.name == "linux-s390x") | .digest')
	[ "$(sha256_of "$R/onap/py-app/@$child/manifest.json")" = "$child" ]
	cmp <(printf 'linux/s390x\n') <(fs cat "$R/onap/py-app/@$child/platform")
	run lsdir "$R/onap/py-app"
	assert_lines "v1" "$output" "ls onap/py-app (untagged manifests are not listed)"

	# a list by digest
	digest=$(sum '.refs["onap/py-app:v1"].digest')
	[ "$(sha256_of "$R/onap/py-app/@$digest/manifest.json")" = "$digest" ]
	[ -d "$R/onap/py-app/@$digest/linux-arm64-v8" ]

	# unknown and malformed digests
	hex=$(printf '0%.0s' {1..64})
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app-amd64/@sha256:$hex"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app-amd64/@sha256:xyz"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app-amd64/@md5:abc"
}

@test "list platform directories are the entries' images" {
	local ref name digest plat dir
	for ref in onap/py-app:v1 onap/py-app-oci:latest; do
		while read -r name digest plat; do
			dir="$(tag_dir "$ref")/$name"
			run lsdir "$dir"
			[ "$status" -eq 0 ]
			assert_lines "$IMAGE_FILES" "$output" "$ref/$name"
			[ "$(sha256_of "$dir/manifest.json")" = "$digest" ]
			cmp <(printf '%s\n' "$digest") <(fs cat "$dir/digest")
			cmp <(printf '%s\n' "$plat") <(fs cat "$dir/platform")
			run lsdir "$dir/layers"
			assert_lines "$(sum '.refs[$r].manifests[] | select(.name == $n) | .manifest.layers[].name' \
				--arg r "$ref" --arg n "$name")" "$output" "$ref/$name/layers"
		done < <(sum '.refs[$r].manifests[] | "\(.name) \(.digest) \(.manifest.platform_string)"' --arg r "$ref")
	done
	# the per-arch repository and the list entry are the same manifest
	fs cmp "$R/onap/py-app/v1/linux-ppc64le/manifest.json" "$R/onap/py-app-ppc64le/latest/manifest.json"
}

@test "attestation manifests are not shown" {
	run lsdir "$R/test/attest/latest"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-arm64-v8 | LC_ALL=C sort)" "$output" "test/attest:latest"
	assert_fails_with "No such file or directory" fs stat "$R/test/attest/latest/unknown-unknown"
	# still reachable by digest
	local att
	att=$(sum '.refs["test/attest:latest"].manifests[2].digest')
	[ "$(sha256_of "$R/test/attest/@$att/manifest.json")" = "$att" ]
}

@test "duplicate platforms: the first keeps the name, later ones get ~<index>" {
	run lsdir "$R/test/dup/latest"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 'linux-amd64~2' linux-arm64-v8 | LC_ALL=C sort)" \
		"$output" "test/dup:latest"
	cmp <(sum '.refs["test/dup:latest"].manifests[0].digest') <(fs cat "$R/test/dup/latest/linux-amd64/digest")
	cmp <(sum '.refs["test/dup:latest"].manifests[2].digest') <(fs cat "$R/test/dup/latest/linux-amd64~2/digest")
}

@test "nested index is browsable" {
	local inner
	run lsdir "$R/test/nested/latest"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-riscv64 | LC_ALL=C sort)" "$output"
	run lsdir "$R/test/nested/latest/linux-riscv64"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-arm64-v8 | LC_ALL=C sort)" "$output"
	inner=$(sum '.refs["test/nested:latest"].manifests[1].manifest.manifests[1].manifest')
	[ "$(sha256_of "$R/test/nested/latest/linux-riscv64/manifest.json")" = \
		"$(sum '.refs["test/nested:inner"].digest')" ]
	[ "$(sha256_of "$R/test/nested/latest/linux-riscv64/linux-arm64-v8/config.json")" = \
		"$(jq -r .config.digest <<<"$inner")" ]
	cmp <(printf 'linux/arm64/v8\n') <(fs cat "$R/test/nested/latest/linux-riscv64/linux-arm64-v8/platform")
}

@test "windows entry name and platform include os.version" {
	run lsdir "$R/test/windows/latest"
	[ "$status" -eq 0 ]
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 windows-amd64-10.0.17763.1 | LC_ALL=C sort)" "$output"
	cmp <(printf 'windows/amd64:10.0.17763.1\n') <(fs cat "$R/test/windows/latest/windows-amd64-10.0.17763.1/platform")
}

@test "xattrs: user.regfs.digest, media_type and platform" {
	local d dir layer
	# image tag directory
	dir="$R/onap/py-app-arm64v8/latest"
	run fs getfattr -d --absolute-names "$dir"
	[ "$status" -eq 0 ]
	[[ $output == *user.regfs.digest=* ]]
	[[ $output == *user.regfs.media_type=* ]]
	[[ $output == *user.regfs.platform=* ]]
	[ "$(xattr "$dir" user.regfs.digest)" = "$(sum '.refs["onap/py-app-arm64v8:latest"].digest')" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = "application/vnd.docker.distribution.manifest.v2+json" ]
	[ "$(xattr "$dir" user.regfs.platform)" = "linux/arm64/v8" ]

	# list tag directory: digest and media type
	dir="$R/onap/py-app-oci/latest"
	[ "$(xattr "$dir" user.regfs.digest)" = "$(sum '.refs["onap/py-app-oci:latest"].digest')" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = "application/vnd.oci.image.index.v1+json" ]

	# platform directory of a list
	dir="$R/onap/py-app/v1/linux-arm64-v8"
	d=$(sum '.refs["onap/py-app:v1"].manifests[] | select(.name == "linux-arm64-v8") | .digest')
	[ "$(xattr "$dir" user.regfs.digest)" = "$d" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = "application/vnd.docker.distribution.manifest.v2+json" ]
	[ "$(xattr "$dir" user.regfs.platform)" = "linux/arm64/v8" ]

	# @digest directory
	[ "$(xattr "$R/onap/py-app/@$d" user.regfs.digest)" = "$d" ]

	# windows image: os.version in the platform
	[ "$(xattr "$R/test/windows/image" user.regfs.platform)" = "windows/amd64:10.0.17763.1" ]

	# layer files
	layer=$(sum '.refs["test/multi:latest"].layers[3].name')
	dir="$R/test/multi/latest/layers/$layer"
	[ "$(xattr "$dir" user.regfs.digest)" = "$(sum '.refs["test/multi:latest"].layers[3].digest')" ]
	[ "$(xattr "$dir" user.regfs.media_type)" = "application/vnd.oci.image.layer.v1.tar+gzip" ]
	layer=$(sum '.refs["onap/py-app-mips:latest"].layers[0].name')
	[ "$(xattr "$R/onap/py-app-mips/latest/layers/$layer" user.regfs.media_type)" = \
		"application/vnd.docker.image.rootfs.diff.tar.gzip" ]
}

@test "nested repositories a/b and a/b/c are both browsable" {
	run lsdir "$R/a"
	assert_lines "b" "$output" "ls a"
	run lsdir "$R/a/b"
	[ "$status" -eq 0 ]
	assert_lines $'c\nlatest\nv2' "$output" "ls a/b"
	run lsdir "$R/a/b/c"
	assert_lines "latest" "$output" "ls a/b/c"
	cmp <(sum '.refs["a/b:latest"].digest') <(fs cat "$R/a/b/latest/digest")
	cmp <(sum '.refs["a/b:v2"].digest') <(fs cat "$R/a/b/v2/digest")
	cmp <(sum '.refs["a/b/c:latest"].digest') <(fs cat "$R/a/b/c/latest/digest")
	cmp <(printf 'linux/arm64/v8\n') <(fs cat "$R/a/b/v2/platform")
}

@test "unknown repositories and tags are ENOENT" {
	assert_fails_with "No such file or directory" fs stat "$R/onap/no-such-repo"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app-amd64/no-such-tag"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app-amd64/latest/no-such-file"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app/latest"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app/v1/linux-sparc"
}

@test "names starting with '.' are ENOENT without network" {
	# a mount of its own with a long ttl: on a busy machine the suite's 2 s could run out in
	# the loop, and the lookups of "onap" on the way would then be asked again (rightly)
	local before after name mnt="$TESTDIR/mnt-dot" r
	regfs_mount "$mnt" ttl=300 "logfile=$TESTDIR/regfs-dot.log"
	r="$mnt/$REGISTRY"
	fs ls "$r/onap" >/dev/null
	before=$(registry_requests "$REGISTRY_DIR")
	for name in .hidden .Trash .Trash-0 .git .xdg-volume-info; do
		assert_fails_with "No such file or directory" fs stat "$mnt/$name"
		assert_fails_with "No such file or directory" fs stat "$r/$name"
		assert_fails_with "No such file or directory" fs stat "$r/onap/$name"
	done
	after=$(registry_requests "$REGISTRY_DIR")
	regfs_unmount "$mnt"
	[ "$before" = "$after" ] || {
		echo "regfs sent $((after - before)) requests for names starting with '.':" >&2
		tail -n $((after - before)) "$REGISTRY_DIR/registry.log" >&2
		return 1
	}
}
