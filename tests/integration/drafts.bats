#!/usr/bin/env bats
# Drafts: manifest lists put together with mkdir and ln -s, before anything is pushed.  What
# .preview.json, .digest and .status say for every kind of link target (a tag, a platform
# directory of a list, an @sha256: directory, relative or absolute through the mount), where
# the platform comes from (the config, a link named <os>-<arch>[-<variant>]), the list type
# (.mediatype, .annotations/), each reason a draft is refused (touch .commit is EINVAL, the
# registry receives no write and the draft stays as it was), rm/rmdir/mv inside drafts, EROFS
# everywhere else, and a draft outliving a remount.  Pushing is in commit.bats.
#
# Each test works on its own tag (a draft) so that tests do not see each other's links.
# Tests whose comment starts "Regression:" pin a bug found while this file was written.

load ../lib/suite

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
ONAP_ARCHES=(amd64 arm64v8 mips ppc64le s390x)

# digest_of REF — the summary's digest of REPO:TAG
digest_of() {
	sum '.refs[$r].digest' --arg r "$1"
}

# onap_links DIR — the guide's five links in draft DIR (a tag directory of onap/py-app)
onap_links() {
	local a
	for a in "${ONAP_ARCHES[@]}"; do
		fs ln -s "../../py-app-$a/latest" "$1/$a" || return
	done
}

# lacks TEXT REGEX — no line of TEXT matches REGEX (a plain `! grep` would not fail a bats test)
lacks() {
	if grep -qE -- "$2" <<<"$1"; then
		echo "unexpected line matching '$2' in:" >&2
		echo "$1" >&2
		return 1
	fi
}

# status_has DIR TEXT... — DIR/.status holds each TEXT (a substring)
status_has() {
	local dir=$1 out t
	shift
	out=$(fs cat "$dir/.status") || return
	for t in "$@"; do
		[[ $out == *"$t"* ]] || {
			echo "$dir/.status lacks '$t':"
			echo "$out"
			return 1
		} >&2
	done
}

# assert_refused DIR N TEXT... — draft DIR ($R/REPO/TAG) has N errors, .status names each TEXT,
# .preview.json and .digest are EINVAL, and touch .commit is EINVAL: the registry receives no
# write, the tag does not appear, the draft is exactly as it was, and .status records the
# failed commit.
assert_refused() {
	local dir=$1 n=$2 before after mark rel out
	shift 2
	rel=${dir#"$R/"}
	status_has "$dir" "$@" || return
	status_has "$dir" "not ready: $n error" || return
	assert_fails_with "Invalid argument" fs cat "$dir/.preview.json" || return
	assert_fails_with "Invalid argument" fs cat "$dir/.digest" || return
	before=$(draft_snapshot "$dir") || return
	mark=$(registry_log_mark)
	assert_fails_with "Invalid argument" fs touch "$dir/.commit" || return
	assert_no_writes "$(regfs_requests_after "$mark")" || return
	[ "$(manifest_status "${rel%/*}" "${rel##*/}")" = 404 ] ||
		{ echo "the registry has ${rel%/*}:${rel##*/} after a refused commit" >&2; return 1; }
	after=$(draft_snapshot "$dir") || return
	assert_lines "$before" "$after" "the draft after a refused commit" || return
	out=$(fs cat "$dir/.status") || return
	[[ $out == *$'\nlast commit: failed '*' (Invalid argument): '* ]] ||
		{ echo ".status does not record the failed commit:" >&2; echo "$out" >&2; return 1; }
	# still refused the same way: the failure did not change what the draft says
	status_has "$dir" "$@" "not ready: $n error"
}

# --- making drafts -----------------------------------------------------------------------------

@test "mkdir of a new tag makes a draft of three generated files; the registry gets no write" {
	local d="$R/onap/py-app/new-draft" mark
	mark=$(registry_log_mark)
	fs mkdir "$d"
	run lsdir "$d"
	[ "$status" -eq 0 ]
	assert_lines $'.digest\n.preview.json\n.status' "$output" "a new draft"
	[ "$(fs stat -c %F "$d")" = directory ]
	run lsdir "$R/onap/py-app"
	[ "$status" -eq 0 ]
	grep -qx new-draft <<<"$output" || { echo "the draft is not listed in its repository: $output" >&2; return 1; }
	run fs head -n 1 "$d/.status"
	[ "$output" = "draft $REGISTRY/onap/py-app:new-draft" ]
	status_has "$d" "no entries"
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(manifest_status onap/py-app new-draft)" = 404 ]
}

@test "mkdir -p makes drafts of a new namespace, repository and tag" {
	local d="$R/draftns/app/v1"
	fs mkdir -p "$d"
	run lsdir "$R"
	grep -qx draftns <<<"$output"
	run lsdir "$R/draftns"
	grep -qx app <<<"$output"
	run lsdir "$R/draftns/app"
	grep -qx v1 <<<"$output"
	run fs head -n 1 "$d/.status"
	[ "$output" = "draft $REGISTRY/draftns/app:v1" ]
	fs ln -s ../../../onap/py-app-amd64/latest "$d/amd64"
	status_has "$d" "ready: 1 entry, $DOCKER_LIST "
	[ "$(manifest_status draftns/app v1)" = 404 ]
}

@test "mkdir of an existing tag or repository is EEXIST" {
	assert_fails_with "File exists" fs mkdir "$R/onap/py-app/v1"
	assert_fails_with "File exists" fs mkdir "$R/onap/py-app-amd64/latest"
	assert_fails_with "File exists" fs mkdir "$R/onap/py-app-oci"
	assert_fails_with "File exists" fs mkdir "$R/onap"
	# still what the registry has
	run lsdir "$R/onap/py-app-amd64/latest"
	[[ $output == *manifest.json* ]]
	[[ $output != *.status* ]]
}

# --- what links resolve to ---------------------------------------------------------------------

@test "links to a tag, a list's platform directory and an @sha256 directory, relative or absolute" {
	local d="$R/onap/py-app/resolve" amd ppc s390 arm mips
	amd=$(digest_of onap/py-app-amd64:latest)
	ppc=$(sum '.refs["onap/py-app:v1"].manifests[] | select(.name == "linux-ppc64le") | .digest')
	s390=$(digest_of onap/py-app-s390x:latest)
	arm=$(digest_of onap/py-app-arm64v8:latest)
	mips=$(digest_of onap/py-app-mips:latest)
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app/v1/linux-ppc64le "$d/ppc64le"
	fs ln -s "../../py-app-s390x/@$s390" "$d/s390x"
	fs ln -s "$R/onap/py-app-arm64v8/latest" "$d/arm64v8"
	# absolute, with a detour that only a lexical walk takes back out
	fs ln -s "$R/onap/py-app-oci/latest/../../py-app-mips/./latest/" "$d/mips"

	# the links read back as written
	[ "$(fs readlink "$d/amd64")" = ../../py-app-amd64/latest ]
	[ "$(fs readlink "$d/s390x")" = "../../py-app-s390x/@$s390" ]
	[ "$(fs readlink "$d/mips")" = "$R/onap/py-app-oci/latest/../../py-app-mips/./latest/" ]

	run status_line "$d" amd64
	[ "$output" = "  amd64 -> ../../py-app-amd64/latest: linux/amd64 $REGISTRY/onap/py-app-amd64:latest@$amd" ]
	run status_line "$d" ppc64le
	[ "$output" = "  ppc64le -> ../../py-app/v1/linux-ppc64le: linux/ppc64le $REGISTRY/onap/py-app:v1@$ppc" ]
	run status_line "$d" s390x
	[ "$output" = "  s390x -> ../../py-app-s390x/@$s390: linux/s390x $REGISTRY/onap/py-app-s390x@$s390" ]
	run status_line "$d" arm64v8
	[ "$output" = "  arm64v8 -> $R/onap/py-app-arm64v8/latest: linux/arm64/v8 $REGISTRY/onap/py-app-arm64v8:latest@$arm" ]
	run status_line "$d" mips
	[[ $output == *": linux/mips $REGISTRY/onap/py-app-mips:latest@$mips" ]]
	run fs tail -n 1 "$d/.status"
	[ "$output" = "ready: 5 entries, $DOCKER_LIST $(sha256_of "$d/.preview.json")" ]
}

@test ".preview.json is the exact list the links make; .digest is its sha256" {
	local d="$R/onap/py-app/preview" mark want
	want="$BATS_TEST_TMPDIR/want.json"
	fs mkdir "$d"
	mark=$(registry_log_mark)
	onap_links "$d"
	expected_list docker onap/py-app-amd64:latest onap/py-app-arm64v8:latest onap/py-app-mips:latest \
		onap/py-app-ppc64le:latest onap/py-app-s390x:latest >"$want"
	fs cmp "$want" "$d/.preview.json"
	cmp <(sha256_of "$want") <(fs cat "$d/.digest")
	status_has "$d" "ready: 5 entries, $DOCKER_LIST $(sha256_of "$want")"
	# the same bytes on every read
	fs cmp "$want" "$d/.preview.json"
	# previews read the registry and never write to it
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(manifest_status onap/py-app preview)" = 404 ]
}

@test "every platform field of the config goes into the list: os.version and os.features" {
	local d="$R/onap/py-app/osfeatures" want="$BATS_TEST_TMPDIR/want.json"
	fs mkdir "$d"
	fs ln -s ../../../test/osfeatures/latest "$d/windows"
	fs ln -s ../../py-app-amd64/latest "$d/linux"
	# in the order the links were made
	expected_list docker test/osfeatures:latest onap/py-app-amd64:latest >"$want"
	fs cmp "$want" "$d/.preview.json"
	run fs jq -c '.manifests[] | select(.platform.os == "windows") | .platform' "$d/.preview.json"
	[ "$output" = '{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1","os.features":["win32k"]}' ]
}

@test "a link named <os>-<arch>[-<variant>] sets the platform (any arch); other names do not" {
	local d="$R/onap/py-app/named" want="$BATS_TEST_TMPDIR/want.json"
	fs mkdir "$d"
	# an amd64 image announced as arm64/v8, an image whose config has no architecture as mips
	fs ln -s ../../../test/suffix-arm64v8/latest "$d/linux-arm64-v8"
	fs ln -s ../../../test/noplatform/noarch "$d/linux-mips"
	# "foo" is no GOOS: the config's linux/amd64 stands
	fs ln -s ../../py-app-amd64/latest "$d/foo-arm64"
	expected_list docker "test/suffix-arm64v8:latest|linux/arm64/v8" \
		"test/noplatform:noarch|linux/mips" onap/py-app-amd64:latest >"$want"
	fs cmp "$want" "$d/.preview.json"
	run status_line "$d" linux-mips
	[[ $output == *": linux/mips $REGISTRY/test/noplatform:noarch@"* ]]
	status_has "$d" "ready: 3 entries"
}

@test "an index of one image and its attestation stands for the image; the attestation goes along" {
	local d="$R/onap/py-app/attested" img att
	img=$(sum '.refs["test/attest-one:latest"].manifests[0].digest')
	att=$(sum '.refs["test/attest-one:latest"].manifests[1].digest')
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../../test/attest-one/latest "$d/arm64"
	run status_line "$d" arm64
	[[ $output == "  arm64 -> ../../../test/attest-one/latest: linux/arm64/v8 $REGISTRY/test/attest-one:latest@$img"* ]]
	status_has "$d" "ready: 2 entries, $OCI_INDEX "
	# attestations are OCI manifests, so the list is an OCI index
	run fs jq -r '.mediaType' "$d/.preview.json"
	[ "$output" = "$OCI_INDEX" ]
	run fs jq -c '[.manifests[] | [.digest, .platform.os + "/" + .platform.architecture,
		(.annotations // {})["vnd.docker.reference.type"], (.annotations // {})["vnd.docker.reference.digest"]]]' \
		"$d/.preview.json"
	[ "$output" = "$(jq -nc --arg amd "$(digest_of onap/py-app-amd64:latest)" --arg img "$img" --arg att "$att" \
		'[[$amd, "linux/amd64", null, null], [$img, "linux/arm64", null, null],
		  [$att, "unknown/unknown", "attestation-manifest", $img]]')" ]
}

@test "the list type: Docker children make a Docker list, an OCI child an OCI index, .mediatype forces" {
	local d="$R/onap/py-app/listtype"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	[ "$(fs jq -r .mediaType "$d/.preview.json")" = "$DOCKER_LIST" ]
	fs ln -s ../../py-app-oci/latest/linux-arm64-v8 "$d/arm64"
	[ "$(fs jq -r .mediaType "$d/.preview.json")" = "$OCI_INDEX" ]
	status_has "$d" "ready: 2 entries, $OCI_INDEX "

	fs sh -c "echo docker > '$d/.mediatype'"
	[ "$(fs cat "$d/.mediatype")" = docker ]
	run lsdir "$d"
	grep -qx .mediatype <<<"$output"
	[ "$(fs jq -r .mediaType "$d/.preview.json")" = "$DOCKER_LIST" ]
	# the children keep their own media types
	[ "$(fs jq -r '.manifests[1].mediaType' "$d/.preview.json")" = application/vnd.oci.image.manifest.v1+json ]

	fs rm "$d/arm64"
	fs sh -c "echo oci > '$d/.mediatype'"
	[ "$(fs jq -r .mediaType "$d/.preview.json")" = "$OCI_INDEX" ]
	fs rm "$d/.mediatype"
	[ "$(fs jq -r .mediaType "$d/.preview.json")" = "$DOCKER_LIST" ]
}

@test ".annotations/KEY files become index annotations, which make an OCI index" {
	local d="$R/onap/py-app/annotated"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs mkdir "$d/.annotations"
	fs sh -c "echo 'ONAP py-app, five CPUs' > '$d/.annotations/org.opencontainers.image.description'"
	fs sh -c "printf 'https://example.org/onap' > '$d/.annotations/org.opencontainers.image.url'"
	run lsdir "$d/.annotations"
	assert_lines $'org.opencontainers.image.description\norg.opencontainers.image.url' "$output"
	[ "$(fs cat "$d/.annotations/org.opencontainers.image.description")" = "ONAP py-app, five CPUs" ]
	run fs jq -c '{mediaType, annotations}' "$d/.preview.json"
	[ "$output" = "{\"mediaType\":\"$OCI_INDEX\",\"annotations\":{\"org.opencontainers.image.description\":\"ONAP py-app, five CPUs\",\"org.opencontainers.image.url\":\"https://example.org/onap\"}}" ]
	fs rm "$d/.annotations/org.opencontainers.image.url"
	[ "$(fs jq -c '.annotations | keys' "$d/.preview.json")" = '["org.opencontainers.image.description"]' ]
}

@test "a source whose ONAP-style name disagrees with its config gets a warning, not an error" {
	local d="$R/onap/py-app/suffix"
	fs mkdir "$d"
	fs ln -s ../../../test/suffix-arm64v8/latest "$d/arm64v8"
	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	run fs cat "$d/.status"
	[ "$status" -eq 0 ]
	grep -q "^  arm64v8: warning: .*is named for" <<<"$output" ||
		{ echo "no warning for test/suffix-arm64v8:" >&2; echo "$output" >&2; return 1; }
	# the names that match their configs are not warned about
	lacks "$output" "^  s390x: warning"
	status_has "$d" "  arm64v8 -> ../../../test/suffix-arm64v8/latest: linux/amd64 " "ready: 2 entries"
	fs cat "$d/.preview.json" | jq -e . >/dev/null
}

# --- refused drafts ----------------------------------------------------------------------------

@test "refused: a dangling link (no such repository or tag)" {
	local d="$R/onap/py-app/err-dangling"
	fs mkdir "$d"
	fs ln -s ../../py-app-nope/latest "$d/amd64"
	fs ln -s ../../py-app-amd64/no-such-tag "$d/arm64"
	assert_refused "$d" 2 "  amd64 -> ../../py-app-nope/latest: error: dangling link" \
		"  arm64 -> ../../py-app-amd64/no-such-tag: error: dangling link"
}

# Regression: a link to an @sha256: directory the registry does not have was taken for a
# registry failure (.preview.json ENOENT, touch .commit EIO).  It is a dangling link: EINVAL.
@test "refused: a dangling link to an unknown digest" {
	local d="$R/onap/py-app/err-dangling-digest" zero
	zero="sha256:$(printf '0%.0s' {1..64})"
	fs mkdir "$d"
	fs ln -s "../../py-app-s390x/@$zero" "$d/s390x"
	assert_refused "$d" 1 "  s390x -> ../../py-app-s390x/@$zero: error: dangling link"
}

@test "refused: a target outside the mount" {
	local d="$R/onap/py-app/err-outside"
	fs mkdir "$d"
	fs ln -s /etc "$d/etc"
	fs ln -s ../../../../../.. "$d/up"
	fs ln -s "$MNT/../mnt2/$REGISTRY/onap/py-app-amd64/latest" "$d/beside"
	assert_refused "$d" 3 "  etc -> /etc: error: target outside the mount" \
		"  up -> ../../../../../..: error: target outside the mount" \
		"  beside -> $MNT/../mnt2/$REGISTRY/onap/py-app-amd64/latest: error: target outside the mount"
}

@test "refused: a link to a repository or a namespace is not an image" {
	local d="$R/onap/py-app/err-repo"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64 "$d/repo"
	fs ln -s ../../../a "$d/namespace"
	fs ln -s ../../../a/b/c "$d/nested"
	assert_refused "$d" 3 "  repo -> ../../py-app-amd64: error: not an image" \
		"  namespace -> ../../../a: error: not an image" "  nested -> ../../../a/b/c: error: not an image"
}

# Regression: a live repository or namespace that holds drafts below it (onap/py-app holds
# this test's own draft) was reported as "a draft, not pushed yet".
@test "refused: a repository or namespace holding drafts is not called a draft" {
	local d="$R/onap/py-app/err-repo-drafts" out
	fs mkdir "$d"
	fs ln -s ../../py-app "$d/repo"
	fs ln -s ../../../onap "$d/namespace"
	assert_refused "$d" 2 "  repo -> ../../py-app: error: not an image" \
		"  namespace -> ../../../onap: error: not an image"
	out=$(fs cat "$d/.status")
	[[ $out != *"is a draft"* ]] || {
		echo "live onap/py-app and onap are called drafts:" >&2
		echo "$out" >&2
		return 1
	}
}

@test "refused: a link to the registry, the mount root or a file is not an image" {
	local d="$R/onap/py-app/err-file" layer
	layer=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	fs mkdir "$d"
	fs ln -s ../../.. "$d/registry"
	fs ln -s "$MNT" "$d/root"
	fs ln -s ../../py-app-amd64/latest/manifest.json "$d/manifest"
	fs ln -s "../../py-app-amd64/latest/layers/$layer" "$d/layer"
	assert_refused "$d" 4 "  registry -> ../../..: error: not an image" "  root -> $MNT: error: not an image" \
		"  manifest -> ../../py-app-amd64/latest/manifest.json: error: not an image" \
		"  layer -> ../../py-app-amd64/latest/layers/$layer: error: not an image"
}

@test "refused: an index of several images is not an image (link to one of its platforms)" {
	local d="$R/onap/py-app/err-index"
	fs mkdir "$d"
	fs ln -s ../v1 "$d/list"
	fs ln -s ../../../test/attest/latest "$d/attest"
	assert_refused "$d" 2 "  list -> ../v1: error: not an image: an index of 5 images" \
		"  attest -> ../../../test/attest/latest: error: not an image: an index of 2 images"
}

@test "refused: two links of the same platform" {
	local d="$R/onap/py-app/err-dup"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/a"
	fs ln -s ../../../test/suffix-arm64v8/latest "$d/b"
	fs ln -s ../../py-app-mips/latest "$d/c"
	assert_refused "$d" 1 "  b -> ../../../test/suffix-arm64v8/latest: error: duplicate platform"
	# the first one and the others stay fine
	run status_line "$d" a
	[[ $output == "  a -> ../../py-app-amd64/latest: linux/amd64 "* ]]
}

@test "refused: an image whose config has no os or no architecture" {
	local d="$R/onap/py-app/err-noplatform"
	fs mkdir "$d"
	fs ln -s ../../../test/noplatform/noarch "$d/noarch"
	fs ln -s ../../../test/noplatform/noos "$d/noos"
	assert_refused "$d" 2 "  noarch -> ../../../test/noplatform/noarch: error: missing os/arch" \
		"  noos -> ../../../test/noplatform/noos: error: missing os/arch"
}

@test "refused: a draft without links" {
	local d="$R/onap/py-app/err-empty"
	fs mkdir "$d"
	assert_refused "$d" 1 "no entries"
}

@test "refused: annotations in a list forced to Docker" {
	local d="$R/onap/py-app/err-docker-annotations"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs mkdir "$d/.annotations"
	fs sh -c "echo hello > '$d/.annotations/org.opencontainers.image.description'"
	fs sh -c "echo docker > '$d/.mediatype'"
	assert_refused "$d" 1 "annotations"
	run fs cat "$d/.status"
	grep -q "^  error: .*annotations" <<<"$output"
}

# Regression: the .mediatype value was quoted with its newline, which cut the reason over
# two lines of .status.
@test "refused: a .mediatype that is neither docker nor oci, said on one line" {
	local d="$R/onap/py-app/err-mediatype"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs sh -c "echo bogus > '$d/.mediatype'"
	assert_refused "$d" 1 ".mediatype"
	run fs cat "$d/.status"
	grep -q "^  error: \.mediatype: 'bogus' is neither" <<<"$output" || {
		echo "the .mediatype error is not one line:" >&2
		echo "$output" >&2
		return 1
	}
}

# --- changing and removing drafts --------------------------------------------------------------

@test "rm of a link takes it out of the draft and of .preview.json" {
	local d="$R/onap/py-app/rm-link"
	fs mkdir "$d"
	onap_links "$d"
	status_has "$d" "ready: 5 entries"
	fs rm "$d/mips"
	run lsdir "$d"
	assert_lines $'.digest\n.preview.json\n.status\namd64\narm64v8\nppc64le\ns390x' "$output"
	expected_list docker onap/py-app-amd64:latest onap/py-app-arm64v8:latest onap/py-app-ppc64le:latest \
		onap/py-app-s390x:latest >"$BATS_TEST_TMPDIR/want.json"
	fs cmp "$BATS_TEST_TMPDIR/want.json" "$d/.preview.json"
	assert_fails_with "No such file or directory" fs rm "$d/mips"
	# the generated files are not the user's to remove
	fs rm -f "$d/.status" 2>/dev/null || true
	fs cat "$d/.status" >/dev/null
}

@test "rmdir removes an empty draft; a draft with links is ENOTEMPTY" {
	local d="$R/onap/py-app/rmdir-me"
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	assert_fails_with "Directory not empty" fs rmdir "$d"
	[ "$(fs readlink "$d/amd64")" = ../../py-app-amd64/latest ]
	fs rm "$d/amd64"
	fs rmdir "$d"
	assert_fails_with "No such file or directory" fs stat "$d"
	run lsdir "$R/onap/py-app"
	lacks "$output" "^rmdir-me\$"
	# the name is free again
	fs mkdir "$d"
	fs rmdir "$d"
}

@test "rm -r removes a whole draft: links, .mediatype and .annotations" {
	local d="$R/onap/py-app/rm-r"
	fs mkdir "$d"
	onap_links "$d"
	fs sh -c "echo oci > '$d/.mediatype'"
	fs mkdir "$d/.annotations"
	fs sh -c "echo x > '$d/.annotations/org.opencontainers.image.title'"
	fs rm -r "$d"
	assert_fails_with "No such file or directory" fs stat "$d"
	run lsdir "$R/onap/py-app"
	lacks "$output" "^rm-r\$"
}

# Regression: the rename worked (EXDEV, then mv copies the link) but mv printed "failed to
# preserve ownership": chown of a draft link to its own owner is a no-op, not EPERM.
@test "mv renames a link inside a draft, silently" {
	local d="$R/onap/py-app/mv-link" err
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/x"
	err=$(fs mv "$d/x" "$d/linux-amd64" 2>&1)
	run lsdir "$d"
	assert_lines $'.digest\n.preview.json\n.status\nlinux-amd64' "$output"
	[ "$(fs readlink "$d/linux-amd64")" = ../../py-app-amd64/latest ]
	[ -z "$err" ] || { echo "mv complained: $err" >&2; return 1; }
}

@test "writes outside drafts are EROFS, and reach no registry" {
	local mark erofs="Read-only file system"
	mark=$(registry_log_mark)
	assert_fails_with "$erofs" fs touch "$R/onap/py-app-amd64/latest/manifest.json"
	assert_fails_with "$erofs" fs sh -c "echo x > '$R/onap/py-app-amd64/latest/digest'"
	assert_fails_with "$erofs" fs mkdir "$R/onap/py-app/v1/linux-amd64/dir"
	assert_fails_with "$erofs" fs mkdir "$R/onap/py-app-amd64/latest/layers/dir"
	assert_fails_with "$erofs" fs ln -s ../py-app-amd64/latest "$R/onap/py-app-amd64/link"
	assert_fails_with "$erofs" fs ln -s py-app-amd64/latest "$R/onap/link"
	assert_fails_with "$erofs" fs ln -s ../../py-app-amd64/latest "$R/onap/py-app/v1/linux-amd64/link"
	assert_fails_with "$erofs" fs rm -f "$R/onap/py-app-amd64/latest/platform"
	assert_fails_with "$erofs" fs touch "$R/onap/py-app-amd64/newfile"
	assert_fails_with "$erofs" fs mkdir "$MNT/other-registry.example:5000"
	assert_no_writes "$(regfs_requests_after "$mark")"
	# nothing changed
	[ "$(sha256_of "$R/onap/py-app-amd64/latest/manifest.json")" = "$(digest_of onap/py-app-amd64:latest)" ]
	run lsdir "$R/onap/py-app/v1"
	assert_lines $'digest\ninspect.json\nlinux-amd64\nlinux-arm64-v8\nlinux-mips\nlinux-ppc64le\nlinux-s390x\nmanifest.json' \
		"$output"
	# while a new tag beside them takes the same kinds of write
	fs mkdir "$R/onap/py-app-amd64/beside"
	fs ln -s ../latest "$R/onap/py-app-amd64/beside/link"
	[ "$(fs readlink "$R/onap/py-app-amd64/beside/link")" = ../latest ]
	fs rm -r "$R/onap/py-app-amd64/beside"
}

# last: it unmounts and mounts again
@test "a draft survives unmount and remount: links, .mediatype, annotations and .status" {
	local d="$R/onap/py-app/persist" snap status
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-nope/latest "$d/nope"
	fs sh -c "echo oci > '$d/.mediatype'"
	fs mkdir "$d/.annotations"
	fs sh -c "echo kept > '$d/.annotations/org.opencontainers.image.title'"
	assert_fails_with "Invalid argument" fs touch "$d/.commit"
	snap=$(draft_snapshot "$d")
	status=$(fs cat "$d/.status")
	[[ $status == *"last commit: failed"* ]]

	regfs_unmount "$MNT"
	if _is_mounted "$(realpath -m "$MNT")"; then echo "still mounted" >&2; return 1; fi
	suite_mount

	assert_lines "$snap" "$(draft_snapshot "$d")" "the draft after a remount"
	assert_lines "$status" "$(fs cat "$d/.status")" ".status after a remount"
	# and it still works as a draft
	fs rm "$d/nope"
	status_has "$d" "ready: 1 entry, $OCI_INDEX "
}
