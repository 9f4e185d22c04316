# Common settings for the harness scripts; sourced, not run.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${MEMHP_BUILD:-$HOME/.cache/memhp}
# The kernel base: one track per line of series/tracks (the first is the
# default). A track has its series in series/BASE and its work tree and
# builds in T; the 6.12 track keeps the cache paths it always had.
# track_names: the tracks of series/tracks, default first
track_names() { awk '!/^#/ && NF { print $1 }' "$TOP/series/tracks"; }
# track_field TRACK N: field N of TRACK's line (2 package, 3 suite, 4 cache)
track_field() { awk -v b="$1" -v n="$2" '!/^#/ && $1 == b { print $n }' "$TOP/series/tracks"; }
BASE=${BASE:-$(track_names | head -n1)}
read -r SRCPKG SRCSUITE T < <(awk -v b="$BASE" '!/^#/ && $1 == b { print $2, $3, $4 }' \
	"$TOP/series/tracks") || {
	printf 'error: BASE=%s: no such track (series/tracks has: %s)\n' "$BASE" \
		"$(track_names | tr '\n' ' ')" >&2
	exit 2
}
[ "$SRCSUITE" != - ] || SRCSUITE=
T=$B/$T
T=${T%/.}
export BASE
SERIES=$TOP/series/$BASE
LINUX=${MEMHP_LINUX:-$T/linux}
# The source tarball: installed (suite "-") or unpacked from the .deb in
# the private apt cache; source_tarball finds it and its version.
TARBALL=${MEMHP_TARBALL:-}
ARCHES="arm64 riscv64 x86_64"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
_t0=${_MEMHP_T0:-$(date +%s)}
export _MEMHP_T0=$_t0

# step MSG: one progress line with the elapsed time since the first script started
step() { printf '[%4ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The series' author, set in the work tree so that commits, the applied
# series and the cover letter carry the same identity on every machine.
MEMHP_NAME="Memhp Developers"
MEMHP_EMAIL="memhp-devel@example.org"
git_fixed() {
	GIT_AUTHOR_NAME=$MEMHP_NAME GIT_AUTHOR_EMAIL=$MEMHP_EMAIL \
	GIT_COMMITTER_NAME=$MEMHP_NAME GIT_COMMITTER_EMAIL=$MEMHP_EMAIL \
	git "$@"
}

# cross_prefix ARCH: the toolchain prefix for ARCH (empty when native)
cross_prefix() {
	case $1 in
	arm64) echo aarch64-linux-gnu- ;;
	riscv64) echo riscv64-linux-gnu- ;;
	x86_64) [ "$(uname -m)" = x86_64 ] || echo x86_64-linux-gnu- ;;
	*) die "unknown arch '$1' (want one of: $ARCHES)" ;;
	esac
}

# karch ARCH: the kernel's name for ARCH
karch() {
	case $1 in
	arm64) echo arm64 ;; riscv64) echo riscv ;; x86_64) echo x86 ;;
	*) die "unknown arch '$1' (want one of: $ARCHES)" ;;
	esac
}

# source_tarball: TARBALL set to the track's source tarball, SRCVER to its
# Debian version (fetched first for a track from a newer suite)
source_tarball() {
	local dir
	if [ -z "$SRCSUITE" ]; then
		SRCVER=$(dpkg-query -W -f='${Version}' "$SRCPKG" 2>/dev/null) ||
			die "$SRCPKG is not installed: make deps"
		: "${TARBALL:=/usr/src/$SRCPKG.tar.xz}"
	else
		# the cached version if there is one: a newer one in the archive
		# is only announced (deps.sh), the series was made on this one
		dir=$(python3 "$TOP/scripts/apt.py" fetch "$SRCPKG" "$SRCSUITE") ||
			die "cannot download $SRCPKG from $SRCSUITE (above); re-run: make deps BASE=$BASE"
		SRCVER=$(basename "$dir")
		: "${TARBALL:=$dir/usr/src/$SRCPKG.tar.xz}"
	fi
	[ -r "$TARBALL" ] || die "$TARBALL is missing: make deps BASE=$BASE"
}

# series_hash: one hash over the series folder (what is applied)
series_hash() {
	(cd "$SERIES" && cat series; cat 0000-cover-letter.patch 2>/dev/null; while read -r p; do
		[ -n "$p" ] && cat "$p"; done < series) | sha256sum | cut -c1-16
}

# check_result NAME pass|fail|skip DETAIL: one result for the test summary
# (JSON lines in $MEMHP_CHECKS when set), and a progress line.
check_result() {
	step "check: $1: $2${3:+ ($3)}"
	[ -n "${MEMHP_CHECKS:-}" ] || return 0
	python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1],
		"status": sys.argv[2], "detail": sys.argv[3]}))' "$1" "$2" "${3:-}" \
		>> "$MEMHP_CHECKS"
}

# meson_ok: meson is new enough for our QEMU build (bookworm-backports)
meson_ok() {
	local v
	v=$(meson --version 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 1.5.0
}

# config_fragments: configs/*.config of this track: the shared ones and
# its own track-BASE.config, if it has one (variant-*.config are only for
# the kernels built with them: scripts/variant.sh)
config_fragments() {
	local f
	for f in "$TOP"/configs/*.config; do
		case ${f##*/} in
		track-*) [ "${f##*/}" = "track-$BASE.config" ] || continue ;;
		variant-*) continue ;;
		esac
		echo "$f"
	done
}
# configs_hash: what the kernel configuration depends on in this repo
configs_hash() { config_fragments | xargs cat | sha256sum | cut -c1-16; }

# copy_out FROM TO: the files of a build that the harness and rootfs.sh use
copy_out() {
	local f
	mkdir -p "$2" && rm -f "$2/.memhp-rev" "$2/vmlinux" || return 1
	for f in boot-image System.map .config modules.builtin modules.builtin.modinfo; do
		cp "$1/$f" "$2/$f" || return 1
	done
}

# worktree DIR REV: a detached work tree of $LINUX at REV (created or moved;
# only files that differ are touched, so out-of-tree builds stay incremental)
worktree() {
	if [ ! -e "$1/.git" ]; then
		git -C "$LINUX" worktree prune
		git -C "$LINUX" worktree add -q --detach "$1" "$2"
	else
		git -C "$1" checkout -q -f --detach "$2"
	fi
}
