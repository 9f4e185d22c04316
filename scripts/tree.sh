#!/bin/bash
# Prepare the kernel work tree of the track BASE (7.3 or 6.12): Debian's
# linux-source-$BASE as a base commit (tag "base"), and series/$BASE
# applied on top as branch "series".
# Re-running it is cheap: the base is reused while the Debian version is
# the same, and the series is re-applied only when series/$BASE has changed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

source_tarball
debver=$SRCVER
# The track stays on the version its series was made on; say when the
# archive has a newer one (asked at most once a day).
if [ -n "$SRCSUITE" ]; then
	if now=$(python3 "$TOP/scripts/apt.py" candidate "$SRCPKG" "$SRCSUITE" 2>/dev/null); then
		[ "$now" = "$debver" ] ||
			step "tree: NOTE: $SRCSUITE has $SRCPKG $now now; the $BASE track is on $debver. To move on: python3 scripts/apt.py fetch --refresh $SRCPKG $SRCSUITE; make tree BASE=$BASE (then rebase series/$BASE)"
	else
		step "tree: could not ask $SRCSUITE whether $SRCPKG is newer than $debver (offline?)"
	fi
fi
g() { git_fixed -C "$LINUX" "$@"; }

if [ "$(g config --get memhp.debver 2>/dev/null)" != "$debver" ]; then
	step "tree: unpacking $TARBALL ($SRCPKG $debver) into $LINUX"
	rm -rf "$LINUX"
	mkdir -p "$LINUX"
	tar -xJf "$TARBALL" -C "$LINUX" --strip-components=1
	kver=$(make -s -C "$LINUX" kernelversion)
	step "tree: committing the base (Linux $kver)"
	g init -q -b series
	g config core.abbrev 12
	g config user.name "$MEMHP_NAME"
	g config user.email "$MEMHP_EMAIL"
	g add -A -f .
	date=$(stat -c %Y "$TARBALL")
	GIT_AUTHOR_DATE="@$date +0000" GIT_COMMITTER_DATE="@$date +0000" \
		g commit -q -m "Linux $kver (Debian $SRCPKG $debver)" \
		-m "Unpacked from $TARBALL as installed by the Debian package $SRCPKG, version $debver${SRCSUITE:+ ($SRCSUITE, unpacked with dpkg-deb -x, not installed)}."
	g tag -f base >/dev/null
	g config memhp.debver "$debver"
	g config --unset memhp.applied || true
fi

want=$(series_hash)
head=$(g rev-parse HEAD)
if [ "$(g config --get memhp.applied || true)" = "$want" ] &&
   [ "$(g config --get memhp.tip || true)" = "$head" ]; then
	step "tree: series already applied ($(g rev-list --count base..HEAD) patches on base)"
	exit 0
fi

# Do not throw away work done in the tree that was never exported.
if [ -z "${FORCE:-}" ]; then
	tip=$(g config --get memhp.tip || true)
	if [ -n "$tip" ] && [ "$tip" != "$head" ]; then
		die "the work tree $LINUX has commits that are not in series/$BASE/ (HEAD $head, last applied $tip); run 'make series BASE=$BASE' to export them, or FORCE=1 to discard them"
	fi
	[ -z "$(g status --porcelain --untracked-files=no)" ] ||
		die "the work tree $LINUX has uncommitted changes; commit and 'make series', or FORCE=1 to discard them"
fi

step "tree: applying series/$BASE on base"
g am --abort >/dev/null 2>&1 || true
g checkout -q -f -B series base
n=0
while read -r p; do
	case $p in ''|'#'*) continue ;; esac
	[ -f "$SERIES/$p" ] || die "series/$BASE/series names $p, which does not exist"
	g am -q --committer-date-is-author-date "$SERIES/$p" ||
		die "series/$BASE/$p does not apply (the tree is left mid-'git am' in $LINUX)"
	n=$((n + 1))
done < "$SERIES/series"

# The cover letter's subject and blurb become the branch description, from
# which 'make series' regenerates it.
# A long Subject is folded onto indented lines: unfold it.
[ -f "$SERIES/0000-cover-letter.patch" ] && awk '
	/^Subject: / { sub(/^Subject: \[PATCH[^]]*\] /, ""); subj = $0; insubj = 1; next }
	insubj && /^[ \t]/ { sub(/^[ \t]+/, ""); subj = subj " " $0; next }
	insubj { print subj; print ""; insubj = 0 }
	/^$/ && !body { body = 1; next }
	body && /^[^ ].* \([0-9]+\):$/ { exit }
	body { print }
' "$SERIES/0000-cover-letter.patch" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$LINUX/.git/memhp-cover"
[ -s "$LINUX/.git/memhp-cover" ] &&
	g config branch.series.description "$(cat "$LINUX/.git/memhp-cover")"
g config memhp.applied "$want"
g config memhp.tip "$(g rev-parse HEAD)"
step "tree: $n patches applied, HEAD $(g rev-parse --short HEAD) in $LINUX"
