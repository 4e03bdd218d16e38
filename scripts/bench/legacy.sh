# scripts/bench/legacy.sh — the benchmark's earlier scenarios (1-8, C), sourced by
# scripts/bench.sh --legacy after the B rows.  Uses bench.sh's helpers (series, scenario, $M,
# $U, $G, ...); writes $RESULTS, which scripts/bench/legacy_report.py formats.
# shellcheck shell=bash disable=SC2154


mkdir -p "$W/json"
RESULTS="$W/legacy.tsv"
: >"$RESULTS"
WARM_RUNS=$((RUNS * 2)) # bench.sh --runs: 5 gives the 10 warm and 5 cold runs these had
COLD_RUNS=$RUNS

# stats_loop RUNS WARMUP PREPARE CMD — the fallback timer: prints "mean sd min n" in seconds.
stats_loop() {
	local runs=$1 warmup=$2 prep=$3 cmd=$4 i t0 t1
	local -a ts=()
	for ((i = 0; i < warmup; i++)); do
		[[ -z $prep ]] || bash -c "$prep" >/dev/null 2>&1
		bash -c "$cmd" >/dev/null 2>&1
	done
	for ((i = 0; i < runs; i++)); do
		[[ -z $prep ]] || bash -c "$prep" >/dev/null 2>&1
		t0=$(date +%s%N)
		bash -c "$cmd" >/dev/null 2>&1 || return 1
		t1=$(date +%s%N)
		ts+=($((t1 - t0)))
	done
	printf '%s\n' "${ts[@]}" | awk '{ s += $1; q += $1 * $1; if (NR == 1 || $1 < m) m = $1 }
		END { mean = s / NR; v = q / NR - mean * mean; if (v < 0) v = 0
		      printf "%.6f %.6f %.6f %d\n", mean / 1e9, sqrt(v * NR / (NR > 1 ? NR - 1 : 1)) / 1e9, m / 1e9, NR }'
}

# timeit KEY RUNS WARMUP PREPARE CMD — prints "mean sd min n" (seconds); fails if CMD fails.
timeit() {
	local key=$1 runs=$2 warmup=$3 prep=$4 cmd=$5 json="$W/json/$1.json"
	if [[ -n $HAVE_HYPERFINE ]]; then
		local -a hf=(hyperfine --shell=bash --style=none --runs "$runs" --warmup "$warmup"
			--export-json "$json")
		[[ -z $prep ]] || hf+=(--prepare "$prep")
		timeout 600 "${hf[@]}" "$cmd" >"$W/json/$key.out" 2>&1 || return 1
		jq -r '.results[0] | "\(.mean) \(.stddev // 0) \(.min) \(.times | length)"' "$json"
	else
		timeout 600 bash -c "$(declare -f stats_loop); stats_loop $runs $warmup $(printf %q "$prep") $(printf %q "$cmd")"
	fi
}

# probe KIND CMD — one run outside the timer: prints "rss_kb requests".  For regfs the peak RSS is
# the daemon's VmHWM; for anchors GNU time's max RSS.  Fails (after saving stderr) if CMD fails.
PROBE_ERR=
probe() {
	local kind=$1 cmd=$2 r0 r1 rss="?" errf="$W/fail/probe.err"
	r0=$(reqs)
	if [[ $kind == regfs ]]; then
		timeout 300 bash -c "$cmd" >/dev/null 2>"$errf" || { PROBE_ERR=$(tail -n 3 "$errf"); return 1; }
		rss=$("$CTL" hwm)
	elif [[ -n $GNU_TIME ]]; then
		timeout 300 "$GNU_TIME" -f %M -o "$W/rss" bash -c "$cmd" >/dev/null 2>"$errf" ||
			{ PROBE_ERR=$(tail -n 3 "$errf"); return 1; }
		rss=$(tail -n 1 "$W/rss")
	else
		timeout 300 bash -c "$cmd" >/dev/null 2>"$errf" || { PROBE_ERR=$(tail -n 3 "$errf"); return 1; }
	fi
	sleep 0.05 # the registry logs after it answers
	r1=$(reqs)
	echo "$rss $((r1 - r0))"
}

# record SID STATE TOOL MEAN SD MIN N RSS REQS NOTE CMD
record() {
	local IFS=$'\t'
	echo "$*" >>"$RESULTS"
}

# series SID STATE KIND TOOL CMD [PREP [RUNS]] — time one tool in one state and record it.
#   KIND regfs: cold = "ctl.sh fresh" before each run; warm = one fresh mount, 2 warmup runs.
#   KIND anchor: cold = drop caches (then PREP) before each run; warm = PREP, 2 warmup runs.
series() {
	local sid=$1 state=$2 kind=$3 tool=$4 cmd=$5 prep=${6:-} runs=${7:-} key pr t warmup note=
	local r_before r_after
	key="$sid-$state-$(tr -c 'A-Za-z0-9' _ <<<"$tool")"
	if [[ -z $runs ]]; then
		if [[ $state == cold ]]; then runs=$COLD_RUNS; else runs=$WARM_RUNS; fi
	fi
	log "$sid $state: $tool"
	if [[ $kind == regfs ]]; then
		if [[ $state == cold ]]; then
			prep="$CTL fresh"
			warmup=0
		else
			warmup=2
		fi
		"$CTL" fresh
	else
		if [[ $state == cold ]]; then
			prep="$CTL drop${prep:+; $prep}"
			warmup=0
		else
			warmup=2
		fi
	fi
	# cold: the probe is one more cold run, before the series; warm: after the series
	if [[ $state == cold ]]; then
		[[ -z $prep || $kind == regfs ]] || bash -c "$prep" >/dev/null 2>&1
		if ! pr=$(probe "$kind" "$cmd"); then
			record "$sid" "$state" "$tool" - - - 0 - - "FAILED: ${PROBE_ERR//$'\n'/ | }" "$cmd"
			log "  FAILED: $PROBE_ERR"
			[[ $kind != regfs ]] || "$CTL" umount
			return 0
		fi
	fi
	r_before=$(reqs)
	if ! t=$(timeit "$key" "$runs" "$warmup" "$prep" "$cmd"); then
		record "$sid" "$state" "$tool" - - - 0 - - "FAILED in the timed runs (see $key.out)" "$cmd"
		log "  FAILED in the timed runs: $(tail -n 3 "$W/json/$key.out" 2>/dev/null)"
		[[ $kind != regfs ]] || "$CTL" umount
		return 0
	fi
	r_after=$(reqs)
	if [[ $state == warm ]]; then
		[[ -z $prep ]] || bash -c "$prep" >/dev/null 2>&1
		if ! pr=$(probe "$kind" "$cmd"); then
			pr="? ?"
			note="probe run failed: ${PROBE_ERR//$'\n'/ | }"
		fi
	fi
	if [[ -n ${COUNT_GET:-} ]]; then
		# requests for one path over the whole timed series (warmup included), per run
		local n
		n=$(awk -v a="$r_before" -v b="$r_after" 'NR > a && NR <= b' \
			<(grep '"GET \|"HEAD \|"PUT \|"POST \|"PATCH \|"DELETE ' "$REGLOG") |
			grep -c "\"GET $COUNT_GET " || true)
		note="GETs of the layer: $n in $((runs + warmup)) timed runs ($warmup of them warmup)"
	fi
	[[ $kind != regfs ]] || "$CTL" umount
	# shellcheck disable=SC2086
	record "$sid" "$state" "$tool" $t ${pr% *} ${pr#* } "$note" "$cmd"
}

# scenario SID TITLE — a heading for the rows that follow
scenario() {
	local IFS=$'\t'
	echo "#	$1	$2" >>"$RESULTS"
}


IMAGE_REPO=onap/py-app-amd64
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'
BIG_LAYER=$(jq -r '.refs["bench/big:latest"].layers[0].digest' "$G")
BIG_LAYER_NAME=$(jq -r '.refs["bench/big:latest"].layers[0].name' "$G")
BIG_LAYER_SIZE=$(jq -r '.refs["bench/big:latest"].layers[0].size' "$G")
mapfile -t MA_MANIFESTS < <(jq -r '.refs["bench/multiarch:latest"].manifests[].digest' "$G")
mapfile -t MA_CONFIGS < <(jq -r '.refs["bench/multiarch:latest"].manifests[].manifest.config.digest' "$G")
mapfile -t MA_PLATFORMS < <(jq -r '.refs["bench/multiarch:latest"].manifests[].platform | [.architecture, (.variant // "")] | @tsv' "$G")
# the audit leaves out the repositories of the B rows (thousands of tags: hours of skopeo)
LEGACY_AUDIT_REPOS='.repositories[] | select(test("^(scale/|bench/tags2500$|bench/huge$)") | not)'
mapfile -t L30_LAYERS < <(jq -r '.refs["bench/layers30:latest"].layers[].digest' "$G")

FEW_COLD=$((COLD_RUNS < 3 ? COLD_RUNS : 3))
FEW_WARM=$((WARM_RUNS < 5 ? WARM_RUNS : 5))

for state in cold warm; do
	# 1. one image manifest
	scenario 1 "inspect one image manifest ($IMAGE_REPO:latest)"
	series 1 $state regfs "regfs: cat TAG/manifest.json" "cat $M/$IMAGE_REPO/latest/manifest.json"
	series 1 $state anchor "skopeo inspect --raw" "skopeo inspect --tls-verify=false --raw docker://$REG/$IMAGE_REPO:latest"
	[[ -z $HAVE_DOCKER ]] ||
		series 1 $state anchor "docker manifest inspect" "docker manifest inspect --insecure $REG/$IMAGE_REPO:latest"
	series 1 $state anchor "curl GET manifest" "curl -fsS -H '$ACCEPT' $U/$IMAGE_REPO/manifests/latest"

	# 2. verbose inspect of a 5-platform list
	scenario 2 "verbose inspect of a 5-platform list (bench/multiarch:latest)"
	series 2 $state regfs "regfs: cat TAG/inspect.json" "cat $M/bench/multiarch/latest/inspect.json"
	[[ -z $HAVE_DOCKER ]] ||
		series 2 $state anchor "docker manifest inspect -v" "docker manifest inspect --insecure -v $REG/bench/multiarch:latest"
	urls="$U/bench/multiarch/manifests/latest"
	for d in "${MA_MANIFESTS[@]}"; do urls+=" $U/bench/multiarch/manifests/$d"; done
	series 2 $state anchor "curl 6 manifests (1 process)" "curl -fsS -H '$ACCEPT' $urls"

	# 3. 200 tags
	scenario 3 "list 200 tags (bench/tags)"
	series 3 $state regfs "regfs: ls REPO" "ls $M/bench/tags"
	series 3 $state anchor "skopeo list-tags" "skopeo list-tags --tls-verify=false docker://$REG/bench/tags"
	series 3 $state anchor "curl tags/list" "curl -fsS $U/bench/tags/tags/list"

	# 4. every platform's config of a list
	scenario 4 "read all 5 platforms' configs of a list"
	series 4 $state regfs "regfs: cat TAG/*/config.json" "cat $M/bench/multiarch/latest/*/config.json"
	cmd=
	for p in "${MA_PLATFORMS[@]}"; do
		arch=${p%%$'\t'*} variant=${p#*$'\t'}
		cmd+="skopeo --override-arch $arch${variant:+ --override-variant $variant} inspect --tls-verify=false --config --raw docker://$REG/bench/multiarch:latest && "
	done
	series 4 $state anchor "skopeo --override-arch inspect --config (x5)" "${cmd}true"
	urls="$U/bench/multiarch/manifests/latest"
	for d in "${MA_MANIFESTS[@]}"; do urls+=" $U/bench/multiarch/manifests/$d"; done
	for d in "${MA_CONFIGS[@]}"; do urls+=" $U/bench/multiarch/blobs/$d"; done
	series 4 $state anchor "curl 11 URLs (1 process)" "curl -fsS -H '$ACCEPT' $urls"

	# 5. one 64 MiB layer
	scenario 5 "pull a ${BIG_MIB} MiB layer (bench/big:latest, $BIG_LAYER_SIZE bytes)"
	series 5 $state regfs "regfs: cat layers/00-…" "cat $M/bench/big/latest/layers/$BIG_LAYER_NAME >/dev/null" "" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"
	series 5 $state anchor "skopeo copy docker:// dir:" \
		"skopeo copy -q --src-tls-verify=false docker://$REG/bench/big:latest dir:$W/skopeo-dir" "rm -rf $W/skopeo-dir" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"
	series 5 $state anchor "curl -o FILE (no verify)" "curl -fsS -o $W/curl-layer $U/bench/big/blobs/$BIG_LAYER" "rm -f $W/curl-layer" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"

	# 7. 30 small layers (numbered 7 so that the brief's 1-6 keep their numbers)
	scenario 7 "pull an image's 30 small layers (bench/layers30:latest)"
	series 7 $state regfs "regfs: cat layers/*" "cat $M/bench/layers30/latest/layers/* >/dev/null"
	series 7 $state anchor "skopeo copy docker:// dir:" \
		"skopeo copy -q --src-tls-verify=false docker://$REG/bench/layers30:latest dir:$W/skopeo-dir" "rm -rf $W/skopeo-dir"
	urls=
	for d in "${L30_LAYERS[@]}"; do urls+=" $U/bench/layers30/blobs/$d"; done
	series 7 $state anchor "curl 30 blobs (1 process)" "curl -fsS $urls >/dev/null"

	# 6. audit: the digest of everything in the registry
	scenario 6 "audit: every digest in the registry but the B rows' repositories ($(jq '.refs | length' "$W/fixtures.json") + $(jq '.refs | length' "$G") tags)"
	series 6 $state regfs "regfs: find -name digest | xargs cat" "find $M \\( -path '$M/scale' -o -path '$M/bench/tags2500' -o -path '$M/bench/huge' \\) -prune -o -name digest -print | xargs cat" "" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"
	cmd="for r in \$(curl -fsS '$U/_catalog?n=1000' | jq -r '$LEGACY_AUDIT_REPOS'); do
	for t in \$(skopeo list-tags --tls-verify=false docker://$REG/\$r | jq -r '.Tags[]'); do
		echo \"\$r:\$t \$(skopeo inspect --tls-verify=false --raw docker://$REG/\$r:\$t | sha256sum)\"; done; done"
	series 6 $state anchor "skopeo list-tags + inspect --raw per tag" "$cmd" "" \
		"$([[ $state == cold ]] && echo 1 || echo 2)"
	cmd="for r in \$(curl -fsS '$U/_catalog?n=1000' | jq -r '$LEGACY_AUDIT_REPOS'); do
	curl -fsS -o /dev/null -w '%header{docker-content-digest}\n' -H '$ACCEPT' \$(curl -fsS $U/\$r/tags/list | jq -r --arg u '$U/'\$r '.tags[] | \"\(\$u)/manifests/\(.)\"'); done"
	series 6 $state anchor "curl per repo (digest header)" "$cmd" "" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"

	# 8. publish a 5-platform list from per-arch tags of other repositories (the guide's flow)
	scenario 8 "publish a 5-platform list from the onap/py-app-<arch> tags (new tag each run)"
	cmd="t=p\$(date +%s%N); d=$M/bench/published/\$t; mkdir -p \$d &&
	for a in amd64 arm64v8 mips ppc64le s390x; do ln -s ../../../onap/py-app-\$a/latest \$d/\$a; done &&
	touch \$d/.commit"
	series 8 $state regfs "regfs: mkdir, 5 x ln -s, touch .commit" "$cmd"
	if [[ -n $HAVE_DOCKER ]]; then
		cmd="t=p\$(date +%s%N); docker manifest create --insecure $REG/bench/published:\$t"
		for a in amd64 arm64v8 mips ppc64le s390x; do cmd+=" $REG/onap/py-app-$a:latest"; done
		cmd+=" >/dev/null && docker manifest push --purge --insecure $REG/bench/published:\$t"
		series 8 $state anchor "docker manifest create + push" "$cmd"
	fi

	# C. 16 readers of the same layer
	scenario C "concurrency: 16 parallel readers of the same ${BIG_MIB} MiB layer"
	COUNT_GET="/v2/bench/big/blobs/$BIG_LAYER"
	series C $state regfs "regfs: 16 x cat layers/00-…" \
		"for i in \$(seq 16); do cat $M/bench/big/latest/layers/$BIG_LAYER_NAME >/dev/null & done; wait" "" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"
	series C $state anchor "16 x curl -o /dev/null" \
		"for i in \$(seq 16); do curl -fsS -o /dev/null $U/bench/big/blobs/$BIG_LAYER & done; wait" "" \
		"$([[ $state == cold ]] && echo "$FEW_COLD" || echo "$FEW_WARM")"
	unset COUNT_GET
done

