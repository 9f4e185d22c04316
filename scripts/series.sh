#!/bin/bash
# Regenerate series/$BASE from the kernel work tree (branch "series" on tag
# "base"): git format-patch output, a cover letter made from the branch
# description, and the "series" file in apply order.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
g() { git_fixed -C "$LINUX" "$@"; }

g rev-parse -q --verify refs/tags/base >/dev/null || die "no work tree at $LINUX: run 'make tree BASE=$BASE' first"
[ "$(g symbolic-ref -q --short HEAD)" = series ] || die "$LINUX is not on branch 'series'"
[ -z "$(g status --porcelain --untracked-files=no)" ] ||
	die "$LINUX has uncommitted changes: commit them first"
g config --get branch.series.description >/dev/null ||
	die "no cover letter text: set it with 'git -C $LINUX branch --edit-description series'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A stable track's patches are posted as "[PATCH 6.12 n/m]"
prefix=PATCH
[ "$BASE" = "$(track_names | head -n1)" ] || prefix="PATCH $BASE"
g format-patch -q -o "$tmp" --cover-letter --cover-from-description=subject \
	--subject-prefix="$prefix" --zero-commit --base=base --no-signature \
	--no-thread base..series >/dev/null
# The cover letter's Date is the time of export; pin it to the tip's
# author date so that an export without edits changes nothing.
date=$(g log -1 --format=%aD series)
sed -i "s/^Date: .*/Date: $date/" "$tmp/0000-cover-letter.patch"
# The cover letter's To: and Cc: from the tree's own get_maintainer.pl:
# the people to To:, the lists to Cc:.
if [ -x "$LINUX/scripts/get_maintainer.pl" ]; then
	(cd "$LINUX" && perl scripts/get_maintainer.pl --no-rolestats --nofixes \
		--no-git --no-git-fallback --no-tree \
		$(ls "$tmp"/*.patch | grep -v '/0000-cover-letter.patch$')) \
		> "$tmp/maintainers" 2>/dev/null ||
		die "scripts/get_maintainer.pl failed on the series"
	to=$(grep '<' "$tmp/maintainers" | paste -sd, | sed 's/,/,\n    /g')
	cc=$(grep -v '<' "$tmp/maintainers" | paste -sd, | sed 's/,/,\n    /g')
	awk -v to="$to" -v cc="$cc" '!done && /^$/ {
		if (to != "") print "To: " to
		if (cc != "") print "Cc: " cc
		done = 1 } { print }' "$tmp/0000-cover-letter.patch" > "$tmp/cover" &&
		mv "$tmp/cover" "$tmp/0000-cover-letter.patch"
fi

rm -f "$SERIES"/*.patch
(cd "$tmp" && ls -- *.patch | grep -v '^0000-cover-letter.patch$' || true) > "$SERIES/series"
cp "$tmp"/*.patch "$SERIES/"
g config memhp.applied "$(series_hash)"
g config memhp.tip "$(g rev-parse HEAD)"
step "series: $(wc -l < "$SERIES/series") patches written to series/$BASE"
git -C "$TOP" status --short -- "$SERIES"
