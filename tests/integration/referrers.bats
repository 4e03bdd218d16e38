#!/usr/bin/env bats
# referrers/ (issue 13) on distribution 2.8, which has no referrers API: what OCI 1.1 tools and
# cosign attach to an image there, found through the fallback tag sha256-<hex> and cosign's
# sha256-<hex>.sig tag.  And through the referrers API itself, from a fake that answers it
# (tests/lib/referrers_api_registry.py: no registry packaged here has the API).  Each referrer is a manifest directory by digest named after its
# artifact type (the type also as an xattr), byte for byte what skopeo reads; referrers of a
# referrer nest; a referrer whose subject is another manifest is not shown (and is logged).

load ../lib/suite

setup_file() {
	suite_setup
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	python3 "$REGFS_LIB_DIR/referrers_fixture.py" --registry "$REGISTRY" >"$TESTDIR/ref.json"
}
teardown_file() {
	[[ -z ${TESTDIR:-} ]] || _stop_pidfile "$TESTDIR/api/api.pid" 5 || true
	suite_teardown
}
teardown() {
	suite_teardown_test
	if [[ -n ${TESTDIR:-} ]] && _is_mounted "$TESTDIR/mnt-api"; then
		regfs_unmount "$TESTDIR/mnt-api" || true
	fi
}
setup() { regfs_skip_if_needed; }

# ref KEY — a digest of referrers_fixture.py's summary
ref() {
	jq -r ".$1" "$TESTDIR/ref.json"
}

@test "an image's referrers: the SBOM from the fallback index, the cosign .sig tag; the stray one not" {
	local d="$R/ref/app/v1/referrers" sbom cosign stray want
	sbom=$(ref sbom) cosign=$(ref cosign) stray=$(ref stray)
	run lsdir "$d"
	[ "$status" -eq 0 ]
	want=$(printf '%s\n' "sbom.spdx@$sbom" "cosign-sig@$cosign" | LC_ALL=C sort)
	assert_lines "$want" "$output" "referrers/"
	# each is a manifest directory: its bytes are the registry's, its type an xattr
	cmp <(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/ref/app@$sbom") \
		"$d/sbom.spdx@$sbom/manifest.json"
	[ "$(sha256_of "$d/sbom.spdx@$sbom/manifest.json")" = "$sbom" ]
	[ "$(getfattr --only-values -n user.regfs.artifact_type "$d/sbom.spdx@$sbom")" = application/spdx+json ]
	[ "$(fs jq -r .subject.digest "$d/sbom.spdx@$sbom/manifest.json")" = "$(ref image)" ]
	# the SBOM document itself, through its layer (a verified blob)
	[ "$(sha256_of "$d/sbom.spdx@$sbom/layers/00-$(ref sbom_layer)")" = "$(ref sbom_layer)" ]
	[ "$(fs jq -r '.packages[0].name' "$d/sbom.spdx@$sbom/layers/00-$(ref sbom_layer)")" = zlib ]
	cmp <(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/ref/app@$cosign") \
		"$d/cosign-sig@$cosign/manifest.json"
	# listed for the image, but about another manifest: not shown, and said
	assert_fails_with "No such file or directory" fs ls "$d/vnd.example.stray@$stray"
	grep -q "referrer 'ref/app@$stray' is listed for '$(ref image)' but its subject is '$(ref other)'" \
		"$TESTDIR/regfs.log"
}

@test "referrers of a referrer nest: the signature on the SBOM" {
	local sbom sig
	sbom=$(ref sbom) sig=$(ref sig_on_sbom)
	run lsdir "$R/ref/app/v1/referrers/sbom.spdx@$sbom/referrers"
	[ "$status" -eq 0 ]
	assert_lines "notary-sig@$sig" "$output" "the SBOM's referrers/"
	[ "$(getfattr --only-values -n user.regfs.artifact_type \
		"$R/ref/app/v1/referrers/sbom.spdx@$sbom/referrers/notary-sig@$sig")" = \
		application/vnd.cncf.notary.signature ]
	cmp <(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/ref/app@$sig") \
		"$R/ref/app/v1/referrers/sbom.spdx@$sbom/referrers/notary-sig@$sig/manifest.json"
	# the same through the SBOM's own @sha256: directory
	run lsdir "$R/ref/app/@$sbom/referrers"
	assert_lines "notary-sig@$sig" "$output"
	# annotations: the referrer's own, in its manifest
	[ "$(fs jq -r '.annotations["org.opencontainers.image.created"]' \
		"$R/ref/app/v1/referrers/sbom.spdx@$sbom/manifest.json")" = 2026-11-30T00:00:00Z ]
}

@test "a manifest nothing refers to has an empty referrers/; referrers/ is entered by name, never listed" {
	run lsdir "$R/ref/app/other/referrers"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run lsdir "$R/onap/py-app/v1/referrers"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run lsdir "$R/ref/app/v1"
	[[ $'\n'$output$'\n' != *$'\nreferrers\n'* ]]
	# the plumbing tags are still tags
	run lsdir "$R/ref/app"
	[[ $'\n'$output$'\n' == *$'\nsha256-'"$(ref image | cut -c8-)"$'\n'* ]]
}

@test "-o hide_referrer_tags: the plumbing tags leave the listing, and are still there by name" {
	local img
	img=$(ref image | cut -c8-)
	regfs_unmount "$MNT"
	suite_mount hide_referrer_tags
	run lsdir "$R/ref/app"
	[ "$status" -eq 0 ]
	assert_lines $'other\nv1' "$output" "ref/app with hide_referrer_tags"
	[ "$(sha256_of "$R/ref/app/sha256-$img.sig/manifest.json")" = "$(ref cosign)" ]
	fs ls "$R/ref/app/sha256-$img" >/dev/null
	# and referrers/ still finds them
	run lsdir "$R/ref/app/v1/referrers"
	[ "${#lines[@]}" -eq 2 ]
}

@test "a registry with the referrers API is asked that, every page, once per TTL, with no filter" {
	local port api img sbom sig d log
	mkdir -p "$TESTDIR/api"
	port=$(daemon_start "$TESTDIR/api" api 10 python3 "$REGFS_LIB_DIR/referrers_api_registry.py" \
		--log "$TESTDIR/api/requests.log") || return 1
	api="127.0.0.1:$port"
	img=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-o /dev/null -D - "http://$api/v2/api/app/manifests/v1" |
		tr -d '\r' | sed -n 's/^Docker-Content-Digest: //p')
	[[ $img == sha256:* ]]
	REGISTRY=$api regfs_mount "$TESTDIR/mnt-api" cache_dir="$TESTDIR/cache-api" \
		logfile="$TESTDIR/regfs-api.log" ttl=30
	d="$TESTDIR/mnt-api/$api/api/app/v1/referrers"
	run lsdir "$d"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	sbom=$(printf '%s\n' "${lines[@]}" | sed -n 's/^sbom\.spdx@//p')
	sig=$(printf '%s\n' "${lines[@]}" | sed -n 's/^notary-sig@//p')
	[[ $sbom == sha256:* && $sig == sha256:* ]]
	[ "$(fs jq -r .subject.digest "$d/sbom.spdx@$sbom/manifest.json")" = "$img" ]
	[ "$(getfattr --only-values -n user.regfs.artifact_type "$d/notary-sig@$sig")" = \
		application/vnd.cncf.notary.signature ]
	log="$TESTDIR/api/requests.log"
	# both pages, asked once (no artifactType filter: every referrer is wanted) ...
	[ "$(grep -c "^GET /v2/api/app/referrers/$img\$" "$log")" -eq 1 ]
	[ "$(grep -c "^GET /v2/api/app/referrers/$img?page=2\$" "$log")" -eq 1 ]
	! grep -q artifactType "$log" || false
	# ... and not again within the TTL, however often it is listed
	fs ls "$d" >/dev/null
	fs ls -l "$d/" >/dev/null
	[ "$(grep -c "^GET /v2/api/app/referrers/" "$log")" -eq 2 ]
	# the fallback tag is not looked for where the API answers
	! grep -q "manifests/sha256-" "$log" || false
	regfs_unmount "$TESTDIR/mnt-api"
}

@test "a registry without the API (404) is asked once, then remembered as having none" {
	local mark lmark n
	regfs_unmount "$MNT"
	mark=$(wc -l <"$REGISTRY_DIR/registry.log")
	lmark=$(wc -l <"$TESTDIR/regfs.log")
	suite_mount
	fs ls "$R/ref/app/v1/referrers" >/dev/null
	sleep 3 # past the TTL (2 s): only the answer "no API" is kept
	fs ls "$R/ref/app/v1/referrers" >/dev/null
	fs ls "$R/ref/app/other/referrers" >/dev/null
	fs ls "$R/onap/py-app/v1/referrers" >/dev/null
	n=$(tail -n +$((mark + 1)) "$REGISTRY_DIR/registry.log" | grep -c "GET /v2/[^ ]*/referrers/" || true)
	[ "$n" -eq 1 ]
	[ "$(tail -n +$((lmark + 1)) "$TESTDIR/regfs.log" |
		grep -c "registry '$REGISTRY' has no referrers API")" -eq 1 ]
}
