#!/usr/bin/env bats
# Committing drafts: touch .commit pushes the list the draft previewed, and the directory then
# shows the live list.  Checked on both sides: what the user sees, and what the registry
# received (its access log: cross-repository mounts, uploads, child manifests by digest before
# the list by tag) and now serves (curl, skopeo, docker manifest inspect).  Also amending a live
# list (ln -s, rmdir), and failed commits: a registry that is down (EIO) or denies the push
# (EACCES) leaves the draft as it was, and the next commit completes it.  Refused drafts
# (EINVAL) are in drafts.bats.
#
# Two registries: $REGISTRY (A, the core fixtures) and $REGISTRY2 (B, empty), both in one
# mount (-o registry=A,registry=B), so that lists can be built on B from A's images.
# Each test pushes to its own tag.

load ../lib/suite
load ../lib/auth

setup_file() {
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	local a=$REGISTRY a_dir=$REGISTRY_DIR
	registry_start "$TESTDIR/reg2"
	export REGISTRY2=$REGISTRY REGISTRY2_DIR=$REGISTRY_DIR
	export REGISTRY=$a REGISTRY_DIR=$a_dir
	suite_mount "registry=$REGISTRY2"
	export R2="$MNT/$REGISTRY2"
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt-denied" 2>/dev/null || true
	regfs_unmount "$TESTDIR/mnt-edit" 2>/dev/null || true
	regfs_unmount "$TESTDIR/mnt-annot" 2>/dev/null || true
	registry_stop "$TESTDIR/denied/reg" || true
	token_server_stop "$TESTDIR/denied/ts" || true
	suite_teardown
	registry_stop "$TESTDIR/reg2" || true
}

teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
ONAP_ARCHES=(amd64 arm64v8 mips ppc64le s390x)
LIST_FILES=$'digest\ninspect.json\nmanifest.json'

digest_of() {
	sum '.refs[$r].digest' --arg r "$1"
}

# onap_links DIR [ARCH...] — links named ARCH (default: the guide's five) in the draft DIR, a tag
# directory of onap/py-app, to onap/py-app-ARCH:latest
onap_links() {
	local dir=$1 a
	shift
	(($#)) || set -- "${ONAP_ARCHES[@]}"
	for a in "$@"; do
		fs ln -s "../../py-app-$a/latest" "$dir/$a" || return
	done
}

# blobs_of SUMMARY-KEY... — the config and layer digests of these images, one a line
blobs_of() {
	local k
	for k in "$@"; do
		jq -r --arg k "$k" '(.refs[$k] // .manifests[$k]) | .config.digest, .layers[].digest' "$SUMMARY"
	done
}

# line_of REQUESTS REGEX — the number of the first line of REQUESTS matching REGEX (fails if none)
line_of() {
	local n
	n=$(grep -nE -- "$2" <<<"$1" | head -n 1 | cut -d: -f1)
	[[ -n $n ]] || { echo "no request matches '$2' in:" >&2; echo "$1" >&2; return 1; }
	echo "$n"
}

# blob_mounted REQUESTS REPO DIGEST FROM — the number of the first request that made blob DIGEST
# present in REPO: a cross-repository mount from FROM (201), or a HEAD that found it there
blob_mounted() {
	local hex=${3#sha256:} from=${4//\//(/|%2F)}
	line_of "$1" "^(POST /v2/$2/blobs/uploads/\\?mount=sha256(:|%3A)$hex&from=$from 201|HEAD /v2/$2/blobs/sha256:$hex 200)\$"
}

# count_of REQUESTS REGEX — how many lines of REQUESTS match REGEX
count_of() {
	grep -cE -- "$2" <<<"$1" || true
}

# live_entries DIR — the entry directories of a live list's tag directory
live_entries() {
	lsdir "$1" | grep -vxF -e digest -e inspect.json -e manifest.json
}

@test "the guide's flow: five links, touch .commit pushes onap/py-app:latest as previewed" {
	local d="$R/onap/py-app/latest" preview="$BATS_TEST_TMPDIR/preview.json" digest mark reqs
	[ "$(manifest_status onap/py-app latest)" = 404 ]
	fs mkdir "$d"
	onap_links "$d"
	fs cat "$d/.preview.json" >"$preview"
	digest=$(fs cat "$d/.digest")
	[ "$digest" = "$(sha256_of "$preview")" ]
	[ "$(jq -r .mediaType "$preview")" = "$DOCKER_LIST" ]

	mark=$(registry_log_mark)
	fs touch "$d/.commit"

	# the user's side: the directory is the live list, byte for byte what was previewed
	run lsdir "$d"
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-arm64-v8 linux-mips linux-ppc64le \
		linux-s390x | LC_ALL=C sort)" "$output" "the committed tag"
	fs cmp "$preview" "$d/manifest.json"
	[ "$(fs cat "$d/digest")" = "$digest" ]
	[ "$(fs cat "$d/linux-arm64-v8/digest")" = "$(digest_of onap/py-app-arm64v8:latest)" ]

	# the registry's side: one PUT of the list by tag, last; it serves the same bytes
	reqs=$(regfs_requests_after "$mark")
	[ "$(count_of "$reqs" '^PUT /v2/onap/py-app/manifests/latest ')" -eq 1 ]
	[ "$(grep -E '^(PUT|POST|PATCH) ' <<<"$reqs" | tail -n 1)" = "PUT /v2/onap/py-app/manifests/latest 201" ]
	fetch_manifest onap/py-app latest "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$preview" "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/py-app:latest" | sha256sum | cut -d' ' -f1)" = \
		"${digest#sha256:}" ]
}

@test "skopeo picks the arm64 image's config out of a pushed list" {
	local d="$R/onap/py-app/skopeo"
	fs mkdir "$d"
	onap_links "$d"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	fs touch "$d/.commit"
	skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/py-app:skopeo" >"$BATS_TEST_TMPDIR/raw.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/raw.json"
	skopeo --override-arch arm64 --override-variant v8 inspect --tls-verify=false --config --raw \
		"docker://$REGISTRY/onap/py-app:skopeo" >"$BATS_TEST_TMPDIR/config.json"
	fs cmp "$BATS_TEST_TMPDIR/config.json" "$R/onap/py-app-arm64v8/latest/config.json"
	skopeo --override-arch s390x inspect --tls-verify=false --config --raw \
		"docker://$REGISTRY/onap/py-app:skopeo" >"$BATS_TEST_TMPDIR/config.json"
	fs cmp "$BATS_TEST_TMPDIR/config.json" "$R/onap/py-app-s390x/latest/config.json"
}

@test "docker manifest inspect lists the platforms of a pushed list" {
	command -v docker >/dev/null 2>&1 || skip "the docker CLI is not installed"
	local d="$R/onap/py-app/docker-cli" want got
	export DOCKER_CONFIG="$BATS_TEST_TMPDIR/docker"
	mkdir -p "$DOCKER_CONFIG"
	fs mkdir "$d"
	onap_links "$d"
	want=$(fs jq -c '[.manifests[] | {digest, platform}]' "$d/.preview.json")
	fs touch "$d/.commit"
	got=$(timeout 60 docker manifest inspect --insecure "$REGISTRY/onap/py-app:docker-cli" |
		jq -c '[.manifests[] | {digest, platform}]')
	assert_lines "$want" "$got" "docker manifest inspect"
	[[ $got == *'"architecture":"arm64","os":"linux","variant":"v8"'* ]]
}

@test "children from another repository are mounted across repositories, pushed by digest, then the list" {
	local d="$R/xrepo/app/v1" mark reqs b n list amd arm
	amd=$(digest_of onap/py-app-amd64:latest)
	arm=$(sum '.refs["onap/py-app-oci:latest"].manifests[] | select(.name == "linux-arm64-v8") | .digest')
	fs mkdir -p "$d"
	fs ln -s ../../../onap/py-app-amd64/latest "$d/amd64"
	fs ln -s ../../../onap/py-app-oci/latest/linux-arm64-v8 "$d/arm64"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	# one OCI child: an OCI index
	[ "$(jq -r .mediaType "$BATS_TEST_TMPDIR/preview.json")" = "$OCI_INDEX" ]

	mark=$(registry_log_mark)
	fs touch "$d/.commit"
	reqs=$(regfs_requests_after "$mark")

	list=$(line_of "$reqs" '^PUT /v2/xrepo/app/manifests/v1 201$')
	# each blob is mounted from the child's repository before the child's manifest, unless it
	# is there already (the app layer is the same in both children)
	for b in $(blobs_of onap/py-app-amd64:latest); do
		n=$(blob_mounted "$reqs" xrepo/app "$b" onap/py-app-amd64)
		((n < $(line_of "$reqs" "^PUT /v2/xrepo/app/manifests/$amd 201\$")))
	done
	for b in $(blobs_of "onap/py-app-oci@$arm"); do
		n=$(blob_mounted "$reqs" xrepo/app "$b" onap/py-app-oci)
		((n < $(line_of "$reqs" "^PUT /v2/xrepo/app/manifests/$arm 201\$")))
	done
	# and each blob once
	[ "$(count_of "$reqs" '^POST /v2/xrepo/app/blobs/uploads/\?mount=')" -eq \
		"$(blobs_of onap/py-app-amd64:latest "onap/py-app-oci@$arm" | sort -u | wc -l)" ]
	# the children before the list, nothing uploaded (all mounted), the list once
	(($(line_of "$reqs" "^PUT /v2/xrepo/app/manifests/$amd ") < list))
	(($(line_of "$reqs" "^PUT /v2/xrepo/app/manifests/$arm ") < list))
	[ "$(count_of "$reqs" '^(PUT|PATCH) /v2/xrepo/app/blobs/uploads/')" -eq 0 ]
	[ "$(count_of "$reqs" '^PUT /v2/xrepo/app/manifests/v1 ')" -eq 1 ]
	assert_no_writes "$(grep -v ' /v2/xrepo/app/' <<<"$reqs" || true)"

	# the registry serves all of it from the new repository
	for b in $(blobs_of onap/py-app-amd64:latest "onap/py-app-oci@$arm"); do
		[ "$(curl -sS -o /dev/null -w '%{http_code}' -I "http://$REGISTRY/v2/xrepo/app/blobs/$b")" = 200 ]
	done
	[ "$(manifest_status xrepo/app "$amd")" = 200 ]
	[ "$(manifest_status xrepo/app "$arm")" = 200 ]
	fetch_manifest xrepo/app v1 "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-arm64-v8' "$output"
	# the new namespace and repository are live ones now
	run lsdir "$R/xrepo/app"
	assert_lines v1 "$output"
}

@test "children from another registry are uploaded from regfs' verified cache" {
	local d="$R2/xreg/app/v1" mark_a mark_b reqs b hex
	fs mkdir -p "$d"
	fs ln -s "$R/onap/py-app-amd64/latest" "$d/amd64"
	fs ln -s "../../../../$REGISTRY/onap/py-app-arm64v8/latest" "$d/arm64"
	run status_line "$d" arm64
	[[ $output == *": linux/arm64/v8 $REGISTRY/onap/py-app-arm64v8:latest@$(digest_of onap/py-app-arm64v8:latest)" ]]
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"

	mark_a=$(registry_log_mark)
	mark_b=$(registry_log_mark "$REGISTRY2_DIR")
	fs touch "$d/.commit"

	reqs=$(regfs_requests_after "$mark_b" "$REGISTRY2_DIR")
	# B cannot mount from A: every blob is uploaded, with its digest, and accepted
	[ "$(count_of "$reqs" 'mount=')" -eq 0 ]
	for b in $(blobs_of onap/py-app-amd64:latest onap/py-app-arm64v8:latest); do
		hex=${b#sha256:}
		line_of "$reqs" "^PUT /v2/xreg/app/blobs/uploads/[^ ]*digest=sha256(:|%3A)${hex}[^ ]* 201\$" >/dev/null
		# it went through the verified cache
		[ -f "$TESTDIR/cache/blobs/sha256/$hex" ] || { echo "blob $b is not in the cache" >&2; return 1; }
		# B holds the right bytes
		[ "$(curl -fsS "http://$REGISTRY2/v2/xreg/app/blobs/$b" | sha256sum | cut -d' ' -f1)" = "$hex" ]
	done
	(($(line_of "$reqs" "^PUT /v2/xreg/app/manifests/$(digest_of onap/py-app-arm64v8:latest) 201\$") < \
		$(line_of "$reqs" '^PUT /v2/xreg/app/manifests/v1 201$')))
	# A was only read
	assert_no_writes "$(regfs_requests_after "$mark_a")"

	REGISTRY=$REGISTRY2 fetch_manifest xreg/app v1 "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	skopeo --override-arch arm64 --override-variant v8 inspect --tls-verify=false --config --raw \
		"docker://$REGISTRY2/xreg/app:v1" >"$BATS_TEST_TMPDIR/config.json"
	fs cmp "$BATS_TEST_TMPDIR/config.json" "$R/onap/py-app-arm64v8/latest/config.json"
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-arm64-v8' "$output"
}

@test ".mediatype forces the pushed type: an OCI index of Docker images, a Docker list of OCI images" {
	local d="$R/onap/py-app/forced-oci" d2="$R/onap/py-app-oci/forced-docker" ct
	fs mkdir "$d"
	onap_links "$d" amd64 s390x
	fs sh -c "echo oci > '$d/.mediatype'"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/oci.json"
	fs touch "$d/.commit"
	fetch_manifest onap/py-app forced-oci "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/oci.json" "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(jq -r .mediaType "$BATS_TEST_TMPDIR/pushed.json")" = "$OCI_INDEX" ]
	ct=$(curl -fsS -o /dev/null -D - -H "Accept: $OCI_INDEX" "http://$REGISTRY/v2/onap/py-app/manifests/forced-oci" |
		tr -d '\r' | sed -n 's/^[Cc]ontent-[Tt]ype: //p')
	[ "$ct" = "$OCI_INDEX" ]

	fs mkdir "$d2"
	fs ln -s ../latest/linux-amd64 "$d2/amd64"
	fs ln -s ../latest/linux-arm64-v8 "$d2/arm64"
	fs sh -c "echo docker > '$d2/.mediatype'"
	fs cat "$d2/.preview.json" >"$BATS_TEST_TMPDIR/docker.json"
	fs touch "$d2/.commit"
	fetch_manifest onap/py-app-oci forced-docker "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/docker.json" "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(jq -r .mediaType "$BATS_TEST_TMPDIR/pushed.json")" = "$DOCKER_LIST" ]
	[ "$(jq -r '[.manifests[].mediaType] | unique | .[]' "$BATS_TEST_TMPDIR/pushed.json")" = \
		application/vnd.oci.image.manifest.v1+json ]
}

@test "annotations are pushed in an OCI index" {
	local d="$R/onap/py-app/annotated" want
	fs mkdir "$d"
	onap_links "$d" amd64 ppc64le
	fs mkdir "$d/.annotations"
	fs sh -c "echo 'ONAP py-app, built per CPU' > '$d/.annotations/org.opencontainers.image.description'"
	fs touch "$d/.commit"
	want="{\"mediaType\":\"$OCI_INDEX\",\"annotations\":{\"org.opencontainers.image.description\":\"ONAP py-app, built per CPU\"}}"
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/py-app:annotated" |
		jq -c '{mediaType, annotations}')" = "$want" ]
	[ "$(fs jq -c '{mediaType, annotations}' "$d/manifest.json")" = "$want" ]
}

@test "an index of one image and its attestation: both pushed by digest, the list carries both" {
	local d="$R/attested/app/v1" mark reqs img att list
	img=$(sum '.refs["test/attest-one:latest"].manifests[0].digest')
	att=$(sum '.refs["test/attest-one:latest"].manifests[1].digest')
	fs mkdir -p "$d"
	fs ln -s ../../../test/attest-one/latest "$d/arm64"
	fs ln -s ../../../onap/py-app-amd64/latest "$d/amd64"
	mark=$(registry_log_mark)
	fs touch "$d/.commit"
	reqs=$(regfs_requests_after "$mark")
	list=$(line_of "$reqs" '^PUT /v2/attested/app/manifests/v1 201$')
	(($(line_of "$reqs" "^PUT /v2/attested/app/manifests/$img 201\$") < list))
	(($(line_of "$reqs" "^PUT /v2/attested/app/manifests/$att 201\$") < list))
	[ "$(manifest_status attested/app "$att")" = 200 ]
	# the attestation's own blobs came along
	for b in $(blobs_of "test/attest-one@$att"); do
		[ "$(curl -sS -o /dev/null -w '%{http_code}' -I "http://$REGISTRY/v2/attested/app/blobs/$b")" = 200 ]
	done
	fetch_manifest attested/app v1 "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(jq -r .mediaType "$BATS_TEST_TMPDIR/pushed.json")" = "$OCI_INDEX" ]
	[ "$(jq -r --arg a "$att" '.manifests[] | select(.digest == $a) | .annotations["vnd.docker.reference.digest"]' \
		"$BATS_TEST_TMPDIR/pushed.json")" = "$img" ]
	# shown like any list: the attestation has no directory
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-arm64-v8' "$output"
}

@test "amend: ln -s into a live list makes a draft of its entries plus the new one; commit pushes it" {
	local d="$R/onap/py-app/amend-add" old amd mips s390
	amd=$(digest_of onap/py-app-amd64:latest)
	mips=$(digest_of onap/py-app-mips:latest)
	s390=$(digest_of onap/py-app-s390x:latest)
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest
	old=$(fs cat "$d/digest")

	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-mips\ns390x' "$output" "the amended tag"
	[ "$(fs cat "$d/.mediatype")" = docker ]
	# the seeded links point into the live list's digest directory: they read as its entries
	[[ $(fs readlink "$d/linux-amd64") == ../@sha256:* ]]
	[ "$(fs cat "$d/linux-amd64/digest")" = "$amd" ]
	[ "$(fs cat "$d/linux-mips/digest")" = "$mips" ]
	[[ $(fs tail -n 1 "$d/.status") == "ready: 3 entries, $DOCKER_LIST "* ]]
	# nothing pushed yet: the registry still has the old list
	fetch_manifest onap/py-app amend-add "$BATS_TEST_TMPDIR/before.json"
	[ "$(sha256_of "$BATS_TEST_TMPDIR/before.json")" = "$old" ]

	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	fs touch "$d/.commit"
	fetch_manifest onap/py-app amend-add "$BATS_TEST_TMPDIR/after.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/after.json"
	[ "$(jq -r '[.manifests[].digest] | join(" ")' "$BATS_TEST_TMPDIR/after.json")" = "$amd $mips $s390" ]
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-mips\nlinux-s390x' "$output"
}

@test "amend: rmdir of a live list's platform directory drops that entry; commit pushes it" {
	local d="$R/onap/py-app/amend-drop" old mark
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest \
		ppc64le=../../py-app-ppc64le/latest
	old=$(fs cat "$d/digest")
	mark=$(registry_log_mark)
	fs rmdir "$d/linux-mips"
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-ppc64le' "$output" "the amended tag"
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(manifest_status onap/py-app amend-drop)" = 200 ]
	fs touch "$d/.commit"
	fetch_manifest onap/py-app amend-drop "$BATS_TEST_TMPDIR/after.json"
	[ "$(sha256_of "$BATS_TEST_TMPDIR/after.json")" != "$old" ]
	[ "$(jq -r '[.manifests[].platform.architecture] | join(" ")' "$BATS_TEST_TMPDIR/after.json")" = "amd64 ppc64le" ]
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-ppc64le' "$output"
}

@test "amend: rm -r of the draft goes back to the live list, untouched" {
	local d="$R/onap/py-app/amend-undo" old mark
	commit_list "$d" amd64=../../py-app-amd64/latest s390x=../../py-app-s390x/latest
	old=$(fs cat "$d/digest")
	mark=$(registry_log_mark)
	fs ln -s ../../py-app-mips/latest "$d/mips"
	fs rm -r "$d"
	run lsdir "$d"
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-s390x | LC_ALL=C sort)" "$output"
	[ "$(fs cat "$d/digest")" = "$old" ]
	assert_no_writes "$(regfs_requests_after "$mark")"
}

@test "the registry down: touch .commit is EIO, the draft stays as it was; it completes once back" {
	local d="$R/onap/py-app/retry" before preview="$BATS_TEST_TMPDIR/preview.json" out
	fs mkdir "$d"
	onap_links "$d" amd64 arm64v8 ppc64le
	fs cat "$d/.preview.json" >"$preview"
	before=$(draft_snapshot "$d")

	registry_stop "$REGISTRY_DIR"
	assert_fails_with "Input/output error" fs touch "$d/.commit"
	assert_lines "$before" "$(draft_snapshot "$d")" "the draft after a failed commit"
	out=$(fs cat "$d/.status")
	[[ $out == *$'\nlast commit: failed '*' (Input/output error): '* ]] ||
		{ echo ".status does not record the failed commit:" >&2; echo "$out" >&2; return 1; }
	[ "$(fs readlink "$d/arm64v8")" = ../../py-app-arm64v8/latest ]

	registry_restart "$REGISTRY_DIR"
	[ "$(manifest_status onap/py-app retry)" = 404 ]
	fs touch "$d/.commit"
	fetch_manifest onap/py-app retry "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$preview" "$BATS_TEST_TMPDIR/pushed.json"
	run live_entries "$d"
	assert_lines $'linux-amd64\nlinux-arm64-v8\nlinux-ppc64le' "$output"
}

# The registry takes the children and then fails on the list (a fake answers the tag PUT with
# 500: a real registry on loopback cannot be made to fail exactly there).  The second commit
# finds the children in place and only pushes the list: no blob and no child is sent again.
@test "a commit that failed half-way completes on the next touch without sending anything twice" {
	local pdir="$TESTDIR/halfway" mnt="$TESTDIR/mnt-halfway" d digest out child mark
	proxy_start "$pdir" --refuse-tag-puts-while "$pdir/refuse"
	touch "$pdir/refuse"
	regfs_mount "$mnt" "registry=$PROXY" "logfile=$TESTDIR/regfs-halfway.log"
	d="$mnt/$PROXY/onap/halfway/v1"
	fs mkdir -p "$d"
	for a in amd64 s390x; do
		fs ln -s "../../py-app-$a/latest" "$d/$a"
	done
	digest=$(fs cat "$d/.digest")

	assert_fails_with "Input/output error" fs touch "$d/.commit"
	out=$(fs cat "$d/.status")
	[[ $out == *$'\nlast commit: failed '* ]] || { echo "$out" >&2; return 1; }
	# half-way indeed: both children are in the repository by digest, the tag is not
	for child in $(jq -r '.manifests[].digest' <(fs cat "$d/.preview.json")); do
		[ "$(manifest_status onap/halfway "$child")" = 200 ]
	done
	[ "$(manifest_status onap/halfway v1)" = 404 ]

	rm "$pdir/refuse"
	mark=$(wc -l <"$pdir/proxy.log")
	fs touch "$d/.commit"
	[ "$(manifest_status onap/halfway v1)" = 200 ]
	fetch_manifest onap/halfway v1 "$BATS_TEST_TMPDIR/pushed.json"
	[ "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/pushed.json" | cut -d' ' -f1)" = "$digest" ]
	# the second commit: asked, found everything, pushed the list once, sent nothing else
	out=$(tail -n +"$((mark + 1))" "$pdir/proxy.log")
	! grep -E '^(POST|PATCH) |^PUT /v2/[^ ]*/blobs/' <<<"$out" ||
		{ echo "blobs sent again:" >&2; echo "$out" >&2; return 1; }
	[ "$(grep -c '^PUT /v2/onap/halfway/manifests/' <<<"$out")" -eq 1 ]
	grep -q '^PUT /v2/onap/halfway/manifests/v1 201' <<<"$out"
	regfs_unmount "$mnt"
	proxy_stop "$pdir"
}

@test "a denied push: touch .commit is EACCES, the draft stays, nothing is tagged" {
	local reason pw host d mark before out
	reason=$(auth_prereqs) || skip "$reason"
	# a registry in token mode over A's storage, and a user who may pull but not push
	mkdir -p "$TESTDIR/denied"
	pw=$(auth_secret)
	jq -n --arg pw "$pw" '{reader: {password: $pw, pull: ["*"], catalog: true}}' >"$TESTDIR/denied/users.json"
	token_server_start "$TESTDIR/denied/ts" "$TESTDIR/denied/users.json" --service regfs-test --issuer regfs-test
	auth_registry_start "$TESTDIR/denied/reg" "$REGISTRY_DIR/storage" token "$TESTDIR/denied/ts/root.pem" \
		"http://$TOKEN_SERVER/token" regfs-test regfs-test
	host=$(auth_registry_host "$TESTDIR/denied/reg")
	docker_config "$TESTDIR/denied/auth.json" "$host" reader "$pw"
	REGISTRY=$host regfs_mount "$TESTDIR/mnt-denied" "auth_file=$TESTDIR/denied/auth.json" \
		"state_dir=$TESTDIR/denied/state" "cache_dir=$TESTDIR/denied/cache" "logfile=$TESTDIR/regfs-denied.log"

	d="$TESTDIR/mnt-denied/$host/denied/app/v1"
	fs mkdir -p "$d"
	fs ln -s ../../../onap/py-app-amd64/latest "$d/amd64"
	fs ln -s ../../../onap/py-app-mips/latest "$d/mips"
	[[ $(fs tail -n 1 "$d/.status") == "ready: 2 entries, "* ]]
	before=$(draft_snapshot "$d")
	mark=$(registry_log_mark "$TESTDIR/denied/reg")
	assert_fails_with "Permission denied" fs touch "$d/.commit"
	assert_lines "$before" "$(draft_snapshot "$d")" "the draft after a denied commit"
	out=$(fs cat "$d/.status")
	[[ $out == *$'\nlast commit: failed '*' (Permission denied): '* ]] ||
		{ echo ".status does not record the denied commit:" >&2; echo "$out" >&2; return 1; }
	# the registry refused every write regfs tried, and has no such tag
	grep -E '"(PUT|POST|PATCH) ' <(tail -n +"$((mark + 1))" "$TESTDIR/denied/reg/registry.log") >"$BATS_TEST_TMPDIR/writes"
	[ -s "$BATS_TEST_TMPDIR/writes" ]
	if grep -E '" 20[0-9] ' "$BATS_TEST_TMPDIR/writes"; then
		echo "the registry accepted a write" >&2
		return 1
	fi
	[ "$(manifest_status denied/app v1)" = 404 ]
	regfs_unmount "$TESTDIR/mnt-denied"
}

# Regression: the kernel runs the two creates of .commit one after the other (the directory
# is locked for O_CREAT); the second found the live list, not a draft, and answered EROFS.
@test "two touch .commit at once: both succeed and the list is pushed once" {
	local d="$R/onap/py-app/twice" mark reqs rc1=0 rc2=0 p1 p2
	fs mkdir "$d"
	onap_links "$d" amd64 mips s390x
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	mark=$(registry_log_mark)
	fs touch "$d/.commit" 2>"$BATS_TEST_TMPDIR/err1" &
	p1=$!
	fs touch "$d/.commit" 2>"$BATS_TEST_TMPDIR/err2" &
	p2=$!
	wait "$p1" || rc1=$?
	wait "$p2" || rc2=$?
	reqs=$(regfs_requests_after "$mark")
	[ "$(count_of "$reqs" '^PUT /v2/onap/py-app/manifests/twice ')" -eq 1 ]
	fetch_manifest onap/py-app twice "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	((rc1 == 0 && rc2 == 0)) || {
		echo "touch .commit: $rc1 $(cat "$BATS_TEST_TMPDIR/err1"), $rc2 $(cat "$BATS_TEST_TMPDIR/err2")" >&2
		return 1
	}
}

# slow_commit_mount NAME — a mount of its own through a proxy that delays every request by
# 300 ms (tests/lib/paging_proxy.py --delay-ms: a far registry, which loopback cannot be), so
# that a commit takes seconds.  Exports SLOWP (the proxy's HOST:PORT) and SLOWM (the mount).
slow_commit_mount() {
	proxy_start "$TESTDIR/proxy-$1" --page-size 0 --delay-ms 300 || return
	SLOWP=$PROXY SLOWM="$TESTDIR/mnt-$1"
	regfs_mount "$SLOWM" "registry=$SLOWP" "logfile=$TESTDIR/regfs-$1.log" \
		"state_dir=$TESTDIR/state-$1" "cache_dir=$TESTDIR/cache-$1"
}

# commit_in_flight PROXY-DIR MARK — wait (at most 30 s) until the proxy has logged a write
# after line MARK: the commit is pushing
commit_in_flight() {
	local deadline=$((SECONDS + 30))
	# (grep -c, not -q: an early exit would fail the pipeline with tail's SIGPIPE)
	until (($(tail -n "+$(($2 + 1))" "$1/proxy.log" | grep -cE '^(POST|PUT) ') > 0)); do
		((SECONDS < deadline)) || { echo "no write reached the proxy within 30 s" >&2; return 1; }
		sleep 0.1
	done
}

# Links: the kernel holds the draft directory's lock while .commit is created, so an ln -s or
# rm there waits for the commit; the push is the links as they were when it began, and the
# waiting ln -s then amends the list just pushed (nothing lost); the rm finds no link of that
# name in it and says so (ENOENT), rather than vanishing silently.
@test "links edited during a commit: the push is the links as it began; ln -s waits, then amends the pushed list; rm says ENOENT" {
	local d digest mark tp lp rp trc=0 lrc=0 rrc=0 out
	slow_commit_mount edit
	d="$SLOWM/$SLOWP/onap/edited/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-mips/latest "$d/mips"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	digest=$(fs cat "$d/.digest")
	mark=$(wc -l <"$TESTDIR/proxy-edit/proxy.log")
	fs touch "$d/.commit" 2>"$BATS_TEST_TMPDIR/touch.err" &
	tp=$!
	commit_in_flight "$TESTDIR/proxy-edit" "$mark"
	fs ln -s ../../py-app-s390x/latest "$d/s390x" 2>"$BATS_TEST_TMPDIR/ln.err" &
	lp=$!
	fs rm "$d/mips" 2>"$BATS_TEST_TMPDIR/rm.err" &
	rp=$!
	sleep 0.5
	# mid-commit, both wait for it
	if kill -0 "$tp" 2>/dev/null; then
		kill -0 "$lp" && kill -0 "$rp" ||
			{ echo "an edit finished while the commit was still running" >&2; return 1; }
	else
		echo "the commit ended within 0.5 s of the first write: too fast to test" >&2
		return 1
	fi
	wait "$tp" || trc=$?
	wait "$lp" || lrc=$?
	wait "$rp" || rrc=$?
	((trc == 0)) || { echo "touch .commit: $trc $(cat "$BATS_TEST_TMPDIR/touch.err")" >&2; return 1; }
	# the registry has exactly the list previewed before the edits
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/edited:v1" | sha256sum | cut -d' ' -f1)" = \
		"${digest#sha256:}" ]
	fetch_manifest onap/edited v1 "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	# the ln -s took, on top of what was pushed; the rm did not, and said so
	((lrc == 0)) || { echo "ln -s: $lrc $(cat "$BATS_TEST_TMPDIR/ln.err")" >&2; return 1; }
	((rrc != 0)) && grep -q 'No such file or directory' "$BATS_TEST_TMPDIR/rm.err" ||
		{ echo "rm: $rrc $(cat "$BATS_TEST_TMPDIR/rm.err")" >&2; return 1; }
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-mips\ns390x' "$output" "the amended tag"
	[[ $(fs tail -n 1 "$d/.status") == "ready: 3 entries, "* ]]
	fs touch "$d/.commit"
	out=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/edited:v1" |
		jq -r '[.manifests[].platform.architecture] | join(" ")')
	[ "$out" = "amd64 mips s390x" ]
	regfs_unmount "$SLOWM"
	proxy_stop "$TESTDIR/proxy-edit"
}

# An annotation lives in a directory of its own, which a commit does not lock: written while
# the commit pushes, it must not go with the draft the commit removes.
@test "an annotation written during a commit is not lost: the draft is kept and says so; the next commit pushes it" {
	local d digest mark tp wp trc=0 key=org.opencontainers.image.description out
	slow_commit_mount annot
	d="$SLOWM/$SLOWP/onap/annot/v1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-mips/latest "$d/mips"
	fs sh -c "echo oci > '$d/.mediatype'"
	fs mkdir "$d/.annotations"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	digest=$(fs cat "$d/.digest")
	# the writer is in .annotations already, as an editor would be: its create needs no
	# lookup of the path (a lookup of .annotations during a commit is ENOENT: see
	# docs/reliability.md H8)
	fs sh -c "cd '$d/.annotations' && touch '$BATS_TEST_TMPDIR/in' &&
		while [ ! -e '$BATS_TEST_TMPDIR/go' ]; do sleep 0.05; done &&
		echo 'written mid-commit' > '$key' && touch '$BATS_TEST_TMPDIR/written'" \
		2>"$BATS_TEST_TMPDIR/write.err" &
	wp=$!
	# the commit starts only once the writer is in: a shell slow to start under load would
	# otherwise walk the path during the commit
	_wait_until 30 test -e "$BATS_TEST_TMPDIR/in" ||
		{ echo "the writer never got into .annotations: $(cat "$BATS_TEST_TMPDIR/write.err")" >&2; return 1; }
	mark=$(wc -l <"$TESTDIR/proxy-annot/proxy.log")
	fs touch "$d/.commit" 2>"$BATS_TEST_TMPDIR/touch.err" &
	tp=$!
	commit_in_flight "$TESTDIR/proxy-annot" "$mark"
	touch "$BATS_TEST_TMPDIR/go"
	wait "$wp" || { echo "the write failed: $(cat "$BATS_TEST_TMPDIR/write.err")" >&2; return 1; }
	kill -0 "$tp" || { echo "the commit ended before the annotation was written: too fast to test" >&2; return 1; }
	wait "$tp" || trc=$?
	((trc == 0)) || { echo "touch .commit: $trc $(cat "$BATS_TEST_TMPDIR/touch.err")" >&2; return 1; }
	# pushed: the snapshot taken when the commit began, without the annotation
	fetch_manifest onap/annot v1 "$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/annot:v1" | sha256sum | cut -d' ' -f1)" = \
		"${digest#sha256:}" ]
	# kept: the links, the annotation, and a .status that says what happened
	[ "$(fs readlink "$d/amd64")" = ../../py-app-amd64/latest ]
	[ "$(fs cat "$d/.annotations/$key")" = "written mid-commit" ]
	out=$(fs cat "$d/.status")
	grep -q "^last commit: pushed .* as $digest; the draft changed during the commit and is kept" <<<"$out" ||
		{ echo "$out" >&2; return 1; }
	# the draft now amends what was pushed: no "tag moved", and the next commit pushes the change
	! grep -q 'the tag moved' <<<"$out" || { echo "$out" >&2; return 1; }
	grep -q '^ready: 2 entries, ' <<<"$out" || { echo "$out" >&2; return 1; }
	fs touch "$d/.commit"
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/onap/annot:v1" |
		jq -r --arg k "$key" '.annotations[$k]')" = "written mid-commit" ]
	run lsdir "$d"
	assert_lines "$(printf '%s\n' "$LIST_FILES" linux-amd64 linux-mips | LC_ALL=C sort)" "$output" "the committed tag"
	regfs_unmount "$SLOWM"
	proxy_stop "$TESTDIR/proxy-annot"
}
