#!/usr/bin/env bats
# An index inside an index (fixtures.py: test/nested:latest holds an image and test/nested:inner,
# an index of two images, as its linux-riscv64 entry).  inspect.json says what each entry is,
# nested ones included; and a draft link to an index says it is an index, of how many
# entries, and what to link to instead.  Also test/nested:wrapped, pushed here: an index whose
# one entry is that inner index.

load ../lib/suite

OCI_INDEX=application/vnd.oci.image.index.v1+json

setup_file() {
	suite_setup
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	local inner
	inner=$(sum '.refs["test/nested:inner"] | {mediaType: .media_type, digest, size}')
	jq -cn --argjson d "$inner" --arg mt "$OCI_INDEX" \
		'{schemaVersion: 2, mediaType: $mt, manifests: [$d + {platform: {architecture: "riscv64", os: "linux"}}]}' \
		>"$TESTDIR/wrapped.json"
	curl -fsS -X PUT -H "Content-Type: $OCI_INDEX" --data-binary "@$TESTDIR/wrapped.json" \
		"http://$REGISTRY/v2/test/nested/manifests/wrapped" -o /dev/null
}
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# b64 FILE — the base64 of FILE's bytes, one line
b64() {
	base64 -w0 <"$1"
}

@test "inspect.json of an index holding an index: an element for it, with its own entries" {
	local got="$BATS_TEST_TMPDIR/inspect.json" ref="$REGISTRY/test/nested:latest"
	local outer inner n3 n1 n2
	fs cat "$R/test/nested/latest/inspect.json" >"$got"
	outer=$(sum '.refs["test/nested:latest"].digest')
	inner=$(sum '.refs["test/nested:inner"].digest')
	n3=$(sum '.refs["test/nested:latest"].manifests[0].digest')
	n1=$(sum '.refs["test/nested:inner"].manifests[0].digest')
	n2=$(sum '.refs["test/nested:inner"].manifests[1].digest')
	# one element per entry, the index too (it used to be left out: "[]" for an index of indexes)
	[ "$(jq length "$got")" -eq 2 ]
	[ "$(jq -r '.[0].Ref' "$got")" = "$ref@$n3" ]
	[ "$(jq -r '.[0].Descriptor.platform | "\(.os)/\(.architecture)"' "$got")" = linux/amd64 ]
	jq -e '.[0].OCIManifest.config' "$got" >/dev/null
	# the index: its reference, descriptor (platform from the outer entry), bytes, document ...
	[ "$(jq -r '.[1].Ref' "$got")" = "$ref@$inner" ]
	[ "$(jq -c '.[1].Descriptor' "$got")" = "$(jq -cn --arg mt "$OCI_INDEX" --arg d "$inner" \
		--argjson s "$(sum '.refs["test/nested:inner"].size')" \
		'{mediaType: $mt, digest: $d, size: $s, platform: {architecture: "riscv64", os: "linux"}}')" ]
	fetch_manifest test/nested inner "$BATS_TEST_TMPDIR/inner.raw"
	[ "$(jq -r '.[1].Raw' "$got")" = "$(b64 "$BATS_TEST_TMPDIR/inner.raw")" ]
	[ "$(jq -c '.[1].OCIIndex' "$got")" = "$(jq -c . "$BATS_TEST_TMPDIR/inner.raw")" ]
	# ... and what its own entries are, as an index's inspect.json gives them
	[ "$(jq -r '[.[1].Manifests[].Ref] | join(" ")' "$got")" = "$ref@$n1 $ref@$n2" ]
	[ "$(jq -r '[.[1].Manifests[].Descriptor.platform.architecture] | join(" ")' "$got")" = "amd64 arm64" ]
	jq -e '.[1].Manifests[1].OCIManifest.layers' "$got" >/dev/null
	# the inner index's own inspect.json, through the entry directory, is those two
	fs cat "$R/test/nested/latest/linux-riscv64/inspect.json" >"$BATS_TEST_TMPDIR/entry.json"
	[ "$(jq -c '[.[].Descriptor.digest]' "$BATS_TEST_TMPDIR/entry.json")" = "[\"$n1\",\"$n2\"]" ]
	[ "$outer" != "$inner" ]
}

@test "a draft link to an index says it is an index, of how many entries, and what to link to" {
	local d="$R/test/nested-draft/v1" line
	fs mkdir -p "$d"
	fs ln -s ../../nested/latest "$d/outer"
	fs ln -s ../../nested/latest/linux-riscv64 "$d/entry"
	fs ln -s ../../nested/wrapped "$d/wrapped"
	fs ln -s ../../nested/latest/linux-amd64 "$d/ok"
	line=$(status_line "$d" outer)
	[[ $line == *"error: not an image: an index of 2 entries, 1 of them an index; link to one of its platform directories (linux-amd64, linux-riscv64)" ]] ||
		{ echo "$line" >&2; return 1; }
	line=$(status_line "$d" entry)
	[[ $line == *"error: not an image: an index of 2 images; link to one of its platform directories (linux-amd64, linux-arm64-v8)" ]] ||
		{ echo "$line" >&2; return 1; }
	# its one entry is an index: that is what it says, not "cannot read the image config"
	line=$(status_line "$d" wrapped)
	[[ $line == *"error: not an image: an index whose one entry, linux-riscv64, is an index of 2 images; link to one of its platform directories (linux-riscv64/linux-amd64, linux-riscv64/linux-arm64-v8)" ]] ||
		{ echo "$line" >&2; return 1; }
	[[ $line != *config* ]]
	# the image beside them is fine; the draft has three errors
	[[ $(status_line "$d" ok) == *": linux/amd64 "* ]]
	grep -q '^not ready: 3 errors$' <(fs cat "$d/.status")
}
