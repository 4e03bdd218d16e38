#!/usr/bin/env bash
# tests/lib/run-bats.sh FILE.bats — run one integration test file for ctest.
#
# bats 1.8 cannot skip a whole file and exits 0 when every test skipped, so ctest would report
# "Passed" on a machine without FUSE.  This wrapper checks the machine's prerequisites first
# and exits 77 (ctest SKIP_RETURN_CODE) with the reason; otherwise it runs `bats --tap FILE`.
# A missing regfs binary is a failure, not a skip.
set -euo pipefail

file=${1:?usage: run-bats.sh FILE.bats}
lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=registry.bash
source "$lib/registry.bash"

if ! command -v bats >/dev/null 2>&1; then
	echo "skipped: 'bats' is not installed"
	exit 77
fi
# a file that mounts nothing and needs no registry (the man page, the package) says so with a
# "# regfs-requires: no-mount" line, and lists the commands it needs on a "# regfs-tools:" line
if ! grep -qx '# regfs-requires: no-mount' "$file" && ! reason=$(regfs_prereqs); then
	echo "skipped: $reason"
	exit 77
fi
read -ra tools <<<"$(sed -n 's/^# regfs-tools: //p' "$file")"
for tool in "${tools[@]}"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "skipped: '$tool' is not installed"
		exit 77
	fi
done
# a file that adds users or groups of its own says so with a "# regfs-requires: root" line
if grep -qx '# regfs-requires: root' "$file" && ((EUID != 0)); then
	echo "skipped: $(basename "$file") needs root (it adds a test user)"
	exit 77
fi
if [[ ! -x $REGFS_BIN ]]; then
	echo "regfs binary '$REGFS_BIN' is missing (set REGFS_BIN)" >&2
	exit 1
fi
exec bats --tap "$file"
