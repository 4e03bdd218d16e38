#!/usr/bin/env bats
# attestations/ (issue 13, BuildKit's convention): the in-toto statements an index attaches to
# one of its images show in that image's platform directory, each as its predicate alone
# (<type>.json: jq reads the SBOM) and as the statement exactly as stored
# (<type>.statement.json, byte for byte the registry's blob).  Images nobody attests have no
# attestations/, and the attestation manifests stay out of the list's directory.

load ../lib/suite

setup_file() {
	suite_setup
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	python3 "$REGFS_LIB_DIR/attest_image.py" "$TESTDIR/oci" v1 >"$TESTDIR/attest.json"
	skopeo copy --quiet --all --dest-tls-verify=false "oci:$TESTDIR/oci:v1" \
		"docker://$REGISTRY/attested/app:v1"
}
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# blob_of REPO DIGEST — the blob's bytes from the registry
blob_of() {
	curl -fsS "http://$REGISTRY/v2/$1/blobs/$2"
}

@test "buildx-style attestations: the SPDX SBOM as a file jq reads, the statement as stored" {
	local d="$R/test/attest/latest" arch img stmt
	for arch in amd64 arm64-v8; do
		run lsdir "$d/linux-$arch"
		[ "$status" -eq 0 ]
		[[ $'\n'$output$'\n' == *$'\nattestations\n'* ]]
		run lsdir "$d/linux-$arch/attestations"
		assert_lines $'sbom.spdx.json\nsbom.spdx.statement.json' "$output" "linux-$arch/attestations"
		# the predicate alone
		[ "$(fs jq -r .spdxVersion "$d/linux-$arch/attestations/sbom.spdx.json")" = SPDX-2.3 ]
		# the statement: about this very image, byte for byte the blob it is
		img=$(fs cat "$d/linux-$arch/digest")
		[ "sha256:$(fs jq -r '.subject[0].digest.sha256' \
			"$d/linux-$arch/attestations/sbom.spdx.statement.json")" = "$img" ]
		stmt=$(sha256_of "$d/linux-$arch/attestations/sbom.spdx.statement.json")
		cmp <(blob_of test/attest "$stmt") <(fs cat "$d/linux-$arch/attestations/sbom.spdx.statement.json")
	done
	# two images, two different statements
	[ "$(sha256_of "$d/linux-amd64/attestations/sbom.spdx.statement.json")" != \
		"$(sha256_of "$d/linux-arm64-v8/attestations/sbom.spdx.statement.json")" ]
	# the attestation manifests themselves are still not list entries
	run lsdir "$d"
	[[ $output != *unknown* ]]
}

@test "statements named by their predicate type: annotated or not, SBOM, provenance and others" {
	local d="$R/attested/app/v1/linux-amd64/attestations" want n i digest
	run lsdir "$d"
	[ "$status" -eq 0 ]
	want=$(printf '%s\n' example.invalid_attestation_custom_v1.json \
		example.invalid_attestation_custom_v1.statement.json provenance.slsa.json \
		provenance.slsa.statement.json sbom.spdx.json sbom.spdx.statement.json | LC_ALL=C sort)
	assert_lines "$want" "$output" "attestations/"
	# the SBOM's packages, as the issue's one-liner reads them
	assert_lines $'busybox\nmusl' "$(fs jq -r '.packages[].name' "$d/sbom.spdx.json")"
	[ "$(fs jq -r .buildType "$d/provenance.slsa.json")" = regfs-test ]
	[ "$(fs jq -r .answer "$d/example.invalid_attestation_custom_v1.json")" = 42 ]
	# every statement byte for byte the registry's blob, named after its own predicate type
	n=$(jq '.statements | length' "$TESTDIR/attest.json")
	[ "$n" -eq 3 ]
	for ((i = 0; i < n; i++)); do
		digest=$(jq -r ".statements[$i].digest" "$TESTDIR/attest.json")
		local f
		f=$(for f in "$d"/*.statement.json; do
			if [ "$(sha256_of "$f")" = "$digest" ]; then echo "$f"; fi; done)
		[ -n "$f" ] || { echo "statement $digest not shown" >&2; return 1; }
		[ "$(fs jq -r .predicateType "$f")" = "$(jq -r ".statements[$i].predicate_type" "$TESTDIR/attest.json")" ]
	done
}

@test "images nobody attests have no attestations/" {
	local p
	for p in "$R/onap/py-app/v1/linux-amd64" "$R/onap/py-app-amd64/latest" \
		"$R/test/attest/@$(fs cat "$R/test/attest/latest/linux-amd64/digest" | tr -d '\n')"; do
		run lsdir "$p"
		[ "$status" -eq 0 ]
		[[ $'\n'$output$'\n' != *$'\nattestations\n'* ]] || { echo "$p lists attestations" >&2; return 1; }
		assert_fails_with "No such file or directory" fs ls "$p/attestations"
	done
	# and a list's directory has none of its own
	assert_fails_with "No such file or directory" fs ls "$R/test/attest/latest/attestations"
}
