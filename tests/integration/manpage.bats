#!/usr/bin/env bats
# The man page, doc/regfs.1: groff renders it without a warning, man(1) renders it, and it does
# not drift from the code or the README.  Every -o option that `regfs --help` lists, and every
# option and errno of the README's tables, is named in it; its version is the binary's.
# regfs-requires: no-mount
# regfs-tools: groff man

PAGE=$REGFS_SRC/doc/regfs.1

# render — the page as man(1) shows it, as plain text (man strips bold and underline when its
# output is not a terminal; any overstrike left is taken out too).
render() {
	MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$PAGE" 2>"$BATS_TEST_TMPDIR/man.err" |
		sed 's/.\x08//g'
}

# section NAME — the rendered text of one section, from its heading to the next.
section() {
	awk -v s="$1" '/^[A-Z][A-Z ]*$/ { on = ($0 == s); next } on' "$BATS_TEST_TMPDIR/page.txt"
}

# named WORD — WORD occurs in the rendered page as a whole name (not inside a longer one).
named() {
	grep -qE "(^|[^A-Za-z0-9_])$1([^A-Za-z0-9_]|\$)" "$BATS_TEST_TMPDIR/page.txt"
}

setup() {
	[[ -f $PAGE ]] || { echo "no man page at $PAGE" >&2; return 1; }
	render >"$BATS_TEST_TMPDIR/page.txt"
}

@test "groff renders regfs(1) without a warning (-ww and -wall, PostScript and terminal)" {
	run groff -man -ww -z "$PAGE"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "$output"; return 1; }
	run groff -man -wall -Tutf8 -z "$PAGE"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "$output"; return 1; }
}

@test "mandoc -T lint finds nothing to warn about" {
	command -v mandoc >/dev/null || skip "mandoc is not installed (optional)"
	run mandoc -T lint -W warning "$PAGE"
	[ -z "$output" ] || { echo "$output"; return 1; }
}

@test "man -l renders it, silently, with the sections a reader looks for" {
	[ ! -s "$BATS_TEST_TMPDIR/man.err" ] || { cat "$BATS_TEST_TMPDIR/man.err"; return 1; }
	[ "$(wc -l <"$BATS_TEST_TMPDIR/page.txt")" -gt 200 ]
	local s
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'THE TREE' DRAFTS ERRORS LOGGING FILES \
		ENVIRONMENT EXAMPLES 'SEE ALSO'; do
		grep -qx "$s" "$BATS_TEST_TMPDIR/page.txt" || { echo "no section '$s'" >&2; return 1; }
	done
	section NAME | grep -q 'regfs - mount container registries as a directory tree'
	section SYNOPSIS | grep -q 'regfs \[options\] \[SOURCE\] MOUNTPOINT'
	section SYNOPSIS | grep -q 'mount -t fuse.regfs SOURCE MOUNTPOINT'
}

@test "the page names every -o option that regfs --help lists, and -f, -d, -s" {
	local opts o missing=()
	run "$REGFS_BIN" --help
	[ "$status" -eq 0 ]
	# "    -o registry=HOST[,HOST] ...", "-d   -o debug ...": the name after each -o
	opts=$(grep -oE -- '-o [a-z_]+' <<<"$output" | awk '{ print $2 }' | sort -u)
	# regfs' own and libfuse's: a parse that finds a handful has gone wrong
	[ "$(wc -l <<<"$opts")" -ge 15 ] || { echo "parsed only: $opts" >&2; return 1; }
	for o in $opts; do
		named "$o" || missing+=("$o")
	done
	for o in -f -d -s; do
		grep -qE -- "(^|[ ,])$o([ ,]|\$)" "$BATS_TEST_TMPDIR/page.txt" || missing+=("$o")
	done
	((${#missing[@]} == 0)) || { echo "not in the man page: ${missing[*]}" >&2; return 1; }
	# and each -o option has an entry of its own in OPTIONS, not only a mention elsewhere
	section OPTIONS >"$BATS_TEST_TMPDIR/options.txt"
	for o in $opts; do
		grep -qE -- "-o $o([=, ]|\$)" "$BATS_TEST_TMPDIR/options.txt" || missing+=("$o")
	done
	((${#missing[@]} == 0)) || { echo "no entry in OPTIONS: ${missing[*]}" >&2; return 1; }
}

@test "the page names the options the daemon takes besides --help's: SOURCE, uid, gid, umask and mount(8)'s" {
	local o missing=()
	for o in uid gid umask defaults _netdev nofail noauto auto user users nouser \
		'x-systemd\.\*' 'comment=' rw allow_other user_allow_other NOTIFY_SOCKET; do
		named "$o" || missing+=("$o")
	done
	((${#missing[@]} == 0)) || { echo "not in the man page: ${missing[*]}" >&2; return 1; }
	section OPTIONS | grep -q -- '-o uid=USER|UID'
	section OPTIONS | grep -q -- '-o gid=GROUP|GID'
	section OPTIONS | grep -q -- '-o umask=OCTAL'
}

@test "every option and every errno of the README's tables is in the page" {
	local readme=$REGFS_SRC/README.md o e missing=()
	# "| `registry=HOST` | ..." rows of the Options table
	section OPTIONS >"$BATS_TEST_TMPDIR/options.txt"
	for o in $(sed -n 's/^| `\([a-z_]*\)[=`].*/\1/p' "$readme" | sort -u); do
		grep -qE -- "-o $o([=, ]|\$)" "$BATS_TEST_TMPDIR/options.txt" || missing+=("$o")
	done
	((${#missing[@]} == 0)) || { echo "README options not in OPTIONS: ${missing[*]}" >&2; return 1; }
	# "| 404, ... | `ENOENT` | ..." rows of the Errors table
	for e in $(awk -F'|' 'NF > 3 && $(NF - 2) ~ /^ `E[A-Z]+` $/ { gsub(/[ `]/, "", $(NF - 2)); print $(NF - 2) }' \
		"$readme" | sort -u); do
		section ERRORS | grep -qE "^ +$e " || missing+=("$e")
	done
	((${#missing[@]} == 0)) || { echo "README errnos not in ERRORS: ${missing[*]}" >&2; return 1; }
}

@test "the page's version is the binary's" {
	local th version
	th=$(grep -m1 '^\.TH ' "$PAGE")
	version=$("$REGFS_BIN" --version | sed -n 's/^regfs version //p')
	[ -n "$version" ]
	[[ $th == *"\"regfs $version\""* ]] || { echo "$th; binary: $version" >&2; return 1; }
}
