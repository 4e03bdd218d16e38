#!/usr/bin/env bats
# rootfs/ and the cache: a layer's index is stored beside its blob and read back by the next
# mount instead of indexing the layer again; a stored index that does not hold (a flipped
# byte, cut short, a symlink planted in its place) is dropped with a line in the log, built
# again, and what rootfs/ shows is still right; a layer that is no tar (an attestation's
# in-toto statement) is EIO for its rootfs/ while the rest of the mount works.
# (rootfs.bats compares whole trees with umoci; this file is about the stored index.)

load ../lib/suite

setup_file() { suite_setup verbose; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# index_file DIGEST — where the cache keeps the index of layer DIGEST
index_file() {
	echo "$TESTDIR/cache/indexes/sha256/${1#sha256:}"
}

# indexed DIGEST — how many times regfs' log says it indexed layer DIGEST (built, not loaded)
indexed() {
	grep -c "layer '$1' of '[^']*': indexed," "$TESTDIR/regfs.log" || true
}

# member_of REPO DIGEST PATH — the bytes of PATH in layer DIGEST, straight from the registry
member_of() {
	curl -fsS "http://$REGISTRY/v2/$1/blobs/$2" | tar -xzOf - "$3"
}

@test "a layer's index is stored beside its blob and read back by the next mount, not built again" {
	local img="$R/onap/py-app-amd64/latest" d want
	local -a layers
	mapfile -t layers < <(sum '.refs["onap/py-app-amd64:latest"].layers[].digest')
	[ "${#layers[@]}" -eq 3 ]
	want=$(member_of onap/py-app-amd64 "${layers[1]}" app/main.py)
	[ -n "$want" ]
	[ "$(fs cat "$img/rootfs/app/main.py")" = "$want" ]
	for d in "${layers[@]}"; do
		[ -f "$(index_file "$d")" ] || { echo "no stored index for $d" >&2; return 1; }
		[ "$(stat -c %a "$(index_file "$d")")" = 600 ]
		[ "$(indexed "$d")" -eq 1 ]
	done
	# the directories are 0700 like the rest of the cache
	[ "$(stat -c %a "$TESTDIR/cache/indexes")" = 700 ]

	regfs_unmount "$MNT"
	suite_mount verbose
	[ "$(fs cat "$img/rootfs/app/main.py")" = "$want" ]
	fs find "$img/rootfs" >/dev/null
	for d in "${layers[@]}"; do
		[ "$(indexed "$d")" -eq 1 ] || { echo "$d was indexed again" >&2; return 1; }
		grep -q "layer '$d': index read from the cache" "$TESTDIR/regfs.log"
	done
}

@test "a stored index that does not hold is dropped, built again, and rootfs/ still shows the right files" {
	local img="$R/onap/py-app-arm64v8/latest" flip cut link want size victim
	local -a layers
	mapfile -t layers < <(sum '.refs["onap/py-app-arm64v8:latest"].layers[].digest')
	[ "${#layers[@]}" -eq 3 ]
	flip=${layers[0]} cut=${layers[1]} link=${layers[2]}
	# three different layers, or one case would hide another
	[ "$(printf '%s\n' "$flip" "$cut" "$link" | sort -u | wc -l)" -eq 3 ]
	want=$(member_of onap/py-app-arm64v8 "$cut" app/main.py)
	[ "$(fs cat "$img/rootfs/app/main.py")" = "$want" ]
	fs find "$img/rootfs" | sort >"$BATS_TEST_TMPDIR/before"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/before")" -gt 5 ]
	regfs_unmount "$MNT"

	# a byte flipped in the middle, the last bytes cut off, a symlink to a file of the system
	size=$(stat -c %s "$(index_file "$flip")")
	printf '\xff' | dd of="$(index_file "$flip")" bs=1 seek=$((size / 2)) conv=notrunc status=none
	truncate -s -8 "$(index_file "$cut")"
	victim="$BATS_TEST_TMPDIR/victim"
	echo "not an index" >"$victim"
	rm -f "$(index_file "$link")"
	ln -s "$victim" "$(index_file "$link")"

	suite_mount verbose
	[ "$(fs cat "$img/rootfs/app/main.py")" = "$want" ]
	fs find "$img/rootfs" | sort >"$BATS_TEST_TMPDIR/after"
	assert_lines "$(cat "$BATS_TEST_TMPDIR/before")" "$(cat "$BATS_TEST_TMPDIR/after")" "rootfs/"
	grep -q "stored index of layer '$flip' is not intact" "$TESTDIR/regfs.log"
	grep -q "stored index of layer '$cut' is not intact" "$TESTDIR/regfs.log"
	grep -q "side file '.*${link#sha256:}' dropped: a symbolic link" "$TESTDIR/regfs.log"
	for d in "$flip" "$cut" "$link"; do
		[ "$(indexed "$d")" -eq 2 ] || { echo "$d: indexed $(indexed "$d") times" >&2; return 1; }
		# built again and stored as a file of its own
		[ -f "$(index_file "$d")" ] && [ ! -L "$(index_file "$d")" ]
	done
	# the link was replaced, never written through
	[ "$(cat "$victim")" = "not an index" ]
}

@test "a layer that is no tar makes its rootfs/ EIO, named in the log; other images work" {
	local att stmt
	# test/attest's attestation manifests: images whose one layer is an in-toto statement
	att=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
		"http://$REGISTRY/v2/test/attest/manifests/latest" |
		jq -r '.manifests[] | select(.annotations["vnd.docker.reference.type"] == "attestation-manifest") | .digest' |
		head -n 1)
	[[ $att == sha256:* ]]
	stmt=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REGISTRY/v2/test/attest/manifests/$att" | jq -r '.layers[0].digest')
	[[ $stmt == sha256:* ]]
	assert_fails_with "Input/output error" fs ls "$R/test/attest/@$att/rootfs"
	grep -q "layer '$stmt' of 'test/attest': cannot be indexed" "$TESTDIR/regfs.log"
	# asked again at once: the failure is remembered, not the blob read again
	assert_fails_with "Input/output error" fs ls "$R/test/attest/@$att/rootfs/etc"
	[ "$(grep -c "layer '$stmt' of 'test/attest': cannot be indexed" "$TESTDIR/regfs.log")" -eq 1 ]
	# its layerfs/ directory fails the same way; its layers/ file is still the blob
	assert_fails_with "Input/output error" \
		fs ls "$R/test/attest/@$att/layerfs/00-$stmt"
	[ "$(sha256_of "$R/test/attest/@$att/layers/00-$stmt")" = "$stmt" ]
	# the rest of the mount: the image the statement is about
	[ "$(fs cat "$R/test/attest/latest/linux-amd64/rootfs/etc/regfs-fixture/attest-amd64/layer-00")" = \
		"attest-amd64 layer 0" ]
}

@test "eight readers of a cold image's rootfs/ at once: each layer downloaded once and indexed once" {
	local img="$R/test/multi/latest" d i
	local -a layers
	mapfile -t layers < <(sum '.refs["test/multi:latest"].layers[].digest')
	[ "${#layers[@]}" -eq 12 ]
	for i in 1 2 3 4 5 6 7 8; do
		fs find "$img/rootfs" >"$BATS_TEST_TMPDIR/find.$i" &
	done
	wait
	for i in 2 3 4 5 6 7 8; do
		cmp "$BATS_TEST_TMPDIR/find.1" "$BATS_TEST_TMPDIR/find.$i"
	done
	# the 12 layers' files, each from its own layer
	for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
		grep -qx "$img/rootfs/etc/regfs-fixture/multi/layer-$(printf %02d "$i")" "$BATS_TEST_TMPDIR/find.1"
	done
	for d in "${layers[@]}"; do
		[ "$(registry_log_since_fixtures | grep -c "GET /v2/test/multi/blobs/$d")" -eq 1 ] ||
			{ echo "$d downloaded more than once" >&2; return 1; }
		[ "$(indexed "$d")" -eq 1 ] || { echo "$d indexed $(indexed "$d") times" >&2; return 1; }
	done
}
