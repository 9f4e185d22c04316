#!/bin/bash
# Prepare the kernel work tree: Debian's linux-source-6.12 as a base
# commit (tag "base"), and the series applied on top as branch "series".
# Re-running it is cheap: the base is reused while the Debian version is
# the same, and the series is re-applied only when series/ has changed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -r "$TARBALL" ] || die "$TARBALL is missing: apt-get install $SRCPKG (or: make deps)"
debver=$(dpkg-query -W -f='${Version}' "$SRCPKG" 2>/dev/null) || die "$SRCPKG is not installed"
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
		-m "Unpacked from $TARBALL as installed by the Debian package $SRCPKG, version $debver."
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
		die "the work tree $LINUX has commits that are not in series/ (HEAD $head, last applied $tip); run 'make series' to export them, or FORCE=1 to discard them"
	fi
	[ -z "$(g status --porcelain --untracked-files=no)" ] ||
		die "the work tree $LINUX has uncommitted changes; commit and 'make series', or FORCE=1 to discard them"
fi

step "tree: applying series/ on base"
g am --abort >/dev/null 2>&1 || true
g checkout -q -f -B series base
n=0
while read -r p; do
	case $p in ''|'#'*) continue ;; esac
	[ -f "$TOP/series/$p" ] || die "series/series names $p, which does not exist"
	g am -q --committer-date-is-author-date "$TOP/series/$p" ||
		die "series/$p does not apply (the tree is left mid-'git am' in $LINUX)"
	n=$((n + 1))
done < "$TOP/series/series"

# The cover letter's subject and blurb become the branch description, from
# which 'make series' regenerates it.
# A long Subject is folded onto indented lines: unfold it.
[ -f "$TOP/series/0000-cover-letter.patch" ] && awk '
	/^Subject: / { sub(/^Subject: \[PATCH[^]]*\] /, ""); subj = $0; insubj = 1; next }
	insubj && /^[ \t]/ { sub(/^[ \t]+/, ""); subj = subj " " $0; next }
	insubj { print subj; print ""; insubj = 0 }
	/^$/ && !body { body = 1; next }
	body && /^[^ ].* \([0-9]+\):$/ { exit }
	body { print }
' "$TOP/series/0000-cover-letter.patch" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$LINUX/.git/memhp-cover"
[ -s "$LINUX/.git/memhp-cover" ] &&
	g config branch.series.description "$(cat "$LINUX/.git/memhp-cover")"
g config memhp.applied "$want"
g config memhp.tip "$(g rev-parse HEAD)"
step "tree: $n patches applied, HEAD $(g rev-parse --short HEAD) in $LINUX"
