#!/bin/bash
# checkpatch.sh: scripts/checkpatch.pl --strict on every patch of series/$BASE.
# Its "does MAINTAINERS need updating?" warning fires for every added file;
# instead of it, check that MAINTAINERS really covers each added file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cp=$LINUX/scripts/checkpatch.pl
# The base tree has no upstream history, so checkpatch cannot look up the
# commit ids of Fixes: tags (UNKNOWN_COMMIT_ID): each tag is checked
# against scripts/upstream-commits.txt instead.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
known=$TOP/scripts/upstream-commits.txt
[ -x "$cp" ] || die "no $cp: run 'make tree BASE=$BASE' first"
rc=0
while read -r p; do
	case $p in ''|'#'*) continue ;; esac
	uncovered=
	for f in $(sed -n 's/^ create mode [0-7]* //p' "$SERIES/$p"); do
		(cd "$LINUX" && perl scripts/get_maintainer.pl --no-git \
			--no-git-fallback --no-rolestats -f "$f" 2>/dev/null) |
			grep -qv 'linux-kernel@vger.kernel.org' || uncovered+=" $f"
	done
	if [ -n "$uncovered" ]; then
		check_result "$BASE maintainers $p" fail "no MAINTAINERS entry for:$uncovered"
		rc=1
	fi
	bad_fixes=$(sed -n 's/^Fixes: \([0-9a-f]\{12\}\) ("\(.*\)")$/\1 \2/p' "$SERIES/$p" |
		while read -r line; do
			grep -qxF "$line" "$known" || echo "$line"
		done)
	if [ "$(grep -c '^Fixes:' "$SERIES/$p")" != "$(sed -n 's/^Fixes: [0-9a-f]\{12\} (".*")$/x/p' "$SERIES/$p" | wc -l)" ] ||
	   [ -n "$bad_fixes" ]; then
		check_result "$BASE fixes-tags $p" fail "malformed or unverified Fixes: ${bad_fixes:-tag}"
		rc=1
	fi
	if out=$(cd "$scratch" && "$cp" --strict --no-tree --terse --show-types \
		--ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID "$SERIES/$p" 2>&1); then
		check_result "$BASE checkpatch $p" pass ""
	else
		printf '%s\n' "$out" >&2
		check_result "$BASE checkpatch $p" fail "$(printf '%s' "$out" | grep -E 'ERROR|WARNING|CHECK' | head -n 3 | tr '\n' ' ')"
		rc=1
	fi
done < "$SERIES/series"
exit $rc
