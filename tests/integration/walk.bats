#!/usr/bin/env bats
# A whole-tree walk (reliability row G12, and G11): what `find`, `du` and an updatedb-style
# crawl cost.  Sizes come from descriptors, so a walk of every file reads no layer; it reads
# each manifest (and each image's config, whose bytes `platform` and config.json show) once.

load ../lib/suite

setup_file() { suite_setup ttl=600; }
teardown_file() { suite_teardown; }
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

@test "find -type f over a namespace (every tag, platform and layer) reads no layer, each manifest once; sizes are the descriptors'" {
	local mark reqs n layer dup sizes want name digest
	mark=$(registry_log_mark)
	n=$(fs find "$R/onap" -type f -printf '%s %p\n' | tee "$TESTDIR/walk.txt" | wc -l)
	((n > 50)) || { echo "the walk saw only $n files" >&2; return 1; }
	reqs=$(regfs_requests_after "$mark")
	assert_no_writes "$reqs"
	# no layer of any image was fetched
	while read -r layer; do
		if grep -q "/blobs/$layer " <<<"$reqs"; then
			echo "the walk fetched layer $layer" >&2
			return 1
		fi
	done < <(sum '[.refs[] | .layers[]?.digest] | unique[]')
	# a manifest by digest, or a blob, at most once
	dup=$(grep -E '^GET [^ ]*/(manifests/sha256:|blobs/)' <<<"$reqs" | awk '{ print $2 }' | sort | uniq -d)
	[[ -z $dup ]] || { echo "asked more than once during the walk: $dup" >&2; return 1; }
	# each layer file shows its descriptor's size
	while read -r name digest want; do
		sizes=$(grep -F "/py-app-amd64/latest/layers/$name" "$TESTDIR/walk.txt" | cut -d' ' -f1)
		[ "$sizes" = "$want" ] || { echo "layers/$name: size '$sizes', descriptor says $want" >&2; return 1; }
	done < <(sum '.refs["onap/py-app-amd64:latest"].layers[] | "\(.name) \(.digest) \(.size)"')
	echo "walk: $n files, $(wc -l <<<"$reqs") requests" >&3
}

@test "du of a tag sums its layers' descriptor sizes, with no layer read" {
	local mark want got layers
	mark=$(registry_log_mark)
	want=$(sum '[.refs["onap/py-app-arm64v8:latest"].layers[].size] | add')
	got=$(fs du -s -b --apparent-size "$R/onap/py-app-arm64v8/latest/layers" | cut -f1)
	# du counts the directory itself too (its apparent size is small and fixed)
	((got >= want && got - want < 65536)) || { echo "du says $got, layers sum to $want" >&2; return 1; }
	layers=$(sum '[.refs["onap/py-app-arm64v8:latest"].layers[].digest] | join("|")')
	if regfs_requests_after "$mark" | grep -E "/blobs/($layers) "; then
		echo "du read a layer" >&2
		return 1
	fi
}
