#!/bin/bash
# kernels.sh [ARCH...]: build the unpatched (base) and patched kernel of
# the track BASE (series/tracks) for each ARCH. The patched kernel is
# built patch by patch, so that every patch of the series is shown to
# build on its own (bisectability); a result is cached per source tree
# (what a commit builds, not its message: a reworded patch builds
# nothing) and config, so a warm run only builds what changed.
# The "unfixed" kernel is the series' tests and test module without its
# fixes, so scenarios can show the tests fail without the fixes: the
# series' leading test-only patches where the tests come first (kept from
# the patch-by-patch builds), or base plus its test-only patches where
# fixes come first (both tracks today: the mainline order). "upto" kernels are the series up to a patch that a scenario names
# (its UPTO: a bug that an earlier one hides on base, on its own), kept the
# same way in ARCH-upto-NNNN. BISECT=0 builds only what is asked;
# KERNELS="base patched unfixed upto" picks the kinds.
# Results go to $MEMHP_CHECKS when set.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arches=${*:-$ARCHES}
for a in $arches; do karch "$a" >/dev/null; done
git -C "$LINUX" rev-parse -q --verify refs/tags/base >/dev/null ||
	die "no kernel work tree: run 'make tree' first"
cfg=$(configs_hash)
base=$(git -C "$LINUX" rev-parse base)
tip=$(git -C "$LINUX" rev-parse series)
mapfile -t commits < <(git -C "$LINUX" rev-list --reverse base..series)
# test_only COMMIT: COMMIT has no Fixes: tag and only touches tests (the
# selftests, the test module and where it is hooked in)
test_only() {
	! git -C "$LINUX" log -1 --format=%B "$1" | grep -q '^Fixes: ' &&
	! git -C "$LINUX" diff --name-only "$1^" "$1" | grep -qv -E \
		'^(tools/testing/selftests/|lib/test_|lib/Kconfig\.debug$|lib/Makefile$|MAINTAINERS$)'
}
# The series' own start, as long as it is only tests: with the tests first
# (the old 6.12 order) that is "unfixed"
unfixed=$base
for c in "${commits[@]}"; do
	test_only "$c" || break
	unfixed=$c
done
# tests_on_base: base plus the series' test-only patches in order, as
# commits with the originals' authors, dates and messages (so the same
# on every machine, and so its cached build), made without a work tree
tests_on_base() {
	local c rev=$base tree idx
	idx=$(mktemp)
	GIT_INDEX_FILE=$idx git -C "$LINUX" read-tree "$base" || return 1
	for c in "${commits[@]}"; do
		test_only "$c" || continue
		git -C "$LINUX" diff --binary "$c^" "$c" |
			GIT_INDEX_FILE=$idx git -C "$LINUX" apply --cached - ||
			{ rm -f "$idx"; die "$(git -C "$LINUX" log -1 --format=%s "$c") does not apply without the fixes before it"; }
		tree=$(GIT_INDEX_FILE=$idx git -C "$LINUX" write-tree)
		rev=$(git -C "$LINUX" log -1 --format=%B "$c" |
			GIT_AUTHOR_NAME=$(git -C "$LINUX" log -1 --format=%an "$c") \
			GIT_AUTHOR_EMAIL=$(git -C "$LINUX" log -1 --format=%ae "$c") \
			GIT_AUTHOR_DATE=$(git -C "$LINUX" log -1 --format=%ad --date=raw "$c") \
			GIT_COMMITTER_NAME=$MEMHP_NAME GIT_COMMITTER_EMAIL=$MEMHP_EMAIL \
			GIT_COMMITTER_DATE=$(git -C "$LINUX" log -1 --format=%ad --date=raw "$c") \
			git -C "$LINUX" commit-tree "$tree" -p "$rev") || return 1
	done
	rm -f "$idx"
	echo "$rev"
}
# With the fixes first (the mainline order) nothing comes before them:
# then "unfixed" is base plus the series' tests, without its fixes.
unfixed_in_series=1
if [ "$unfixed" = "$base" ] && [ ${#commits[@]} -gt 0 ]; then
	unfixed=$(tests_on_base) || die "cannot put the series' tests on base"
	unfixed_in_series=
	git -C "$LINUX" update-ref refs/memhp/unfixed "$unfixed"
fi
kinds=${KERNELS:-base patched unfixed upto}
# "ARCH N" for every upto kernel the scenarios ask for
uptos=
if [[ " $kinds " = *" upto "* ]]; then
	uptos=$(cd "$TOP" && python3 -m harness.run --upto-kernels) ||
		die "cannot list the upto kernels the scenarios need"
fi
stamps=$T/stamps
mkdir -p "$stamps"
# One kernels.sh at a time: every build shares the worktree $T/src/linux.
exec 8>"$T/.kernels.lock"
flock 8

# tree_of REV: the source tree REV builds
tree_of() { git -C "$LINUX" rev-parse "$1^{tree}"; }
# same_tree REV RECORDED: RECORDED (a .memhp-rev) names REV's tree, or
# REV itself (as stamps before the tree keys did)
same_tree() { [ "$2" = "$(tree_of "$1")" ] || [ "$2" = "$1" ]; }
# built ARCH REV: a stamp says REV's tree was built with this config
built() {
	[ -f "$stamps/$1-tree-$(tree_of "$2")-$cfg.ok" ] || [ -f "$stamps/$1-$2-$cfg.ok" ]
}

# build ARCH REV OUT NAME [force]: build REV into OUT unless a stamp says
# it was (a middle commit's stamp is enough unless "force" is given)
build() {
	local arch=$1 rev=$2 out=$3 name=$4 force=${5:-} src key log work
	key="$arch-tree-$(tree_of "$rev")-$cfg"
	if built "$arch" "$rev" && [ -f "$out/boot-image" ] &&
	   same_tree "$rev" "$(cat "$out/.memhp-rev" 2>/dev/null)"; then
		check_result "$name" pass "cached"
		return 0
	fi
	if built "$arch" "$rev" && [ "$rev" != "$tip" ] && [ "$rev" != "$base" ] &&
	   [ -z "$force" ]; then
		check_result "$name" pass "cached"
		return 0
	fi
	# One source path for every build: kbuild passes absolute source
	# paths to the compiler, so this lets ccache share base and patched.
	src=$T/src/linux
	worktree "$src" "$rev"
	# Every build of an arch happens in one build directory, so that a
	# patch only compiles what it changes; what the harness boots is
	# copied out to OUT. (A copy of a whole build directory is no
	# shortcut: objtool has its directory's path built in, and a rebuilt
	# objtool makes every x86 object again.)
	work=$T/kbuild/$arch
	log=$stamps/$key.log
	# Progress lines go through; everything goes to the log.
	if "$TOP/scripts/kernel.sh" "$arch" "$src" "$work" \
		> >(tee "$log" | grep --line-buffered '^\[' >&2) 2>&1 &&
	   copy_out "$work" "$out"; then
		tree_of "$rev" > "$out/.memhp-rev"
		touch "$stamps/$key.ok"
		check_result "$name" pass "$(grep -o 'built .* in [0-9]*s' "$log" | tail -n1)"
	else
		rm -f "$out/.memhp-rev"
		tail -n 25 "$log" >&2
		check_result "$name" fail "see $log"
		return 1
	fi
}

# build_inputs ARCH COMMIT: the files COMMIT changes that ARCH's build reads
build_inputs() {
	local ka
	ka=$(karch "$1")
	git -C "$LINUX" diff --name-only "$2^" "$2" |
		grep -v -e '^tools/' -e '^Documentation/' -e '^MAINTAINERS$' |
		grep -v -e '^arch/' -e "^arch/$ka/" || true
	git -C "$LINUX" diff --name-only "$2^" "$2" | grep "^arch/$ka/" || true
}

# keep ARCH DIR REV: copy what the harness boots from the patched build
# dir, which holds REV right now, to DIR (ARCH-unfixed, ARCH-upto-NNNN)
keep() {
	copy_out "$T/out/$1-patched" "$2" && echo "$(tree_of "$3") $cfg" > "$2/.memhp-rev"
}
# kept DIR REV: DIR holds REV's kernel (its tree), built with this config
kept() {
	local rec
	[ -f "$1/boot-image" ] && rec=$(cat "$1/.memhp-rev" 2>/dev/null) &&
		[ "${rec#* }" = "$cfg" ] && same_tree "$2" "${rec%% *}"
}
unfixed_dir() { printf '%s/out/%s-unfixed' "$T" "$1"; }
# upto_wanted ARCH N: the scenarios want the series up to patch N for ARCH
upto_wanted() { printf '%s\n' "$uptos" | grep -qx "$1 $2"; }
upto_dir() { printf '%s/out/%s-upto-%04d' "$T" "$1" "$2"; }

rc=0
[ "$unfixed" != "$base" ] || kinds=${kinds/unfixed/}
# the unfixed kernel is built on its own unless the patch-by-patch builds
# pass it (it is a commit of the series)
unfixed_alone() {
	[ "${BISECT:-1}" != 1 ] || [[ " $kinds " != *" patched "* ]] || [ -z "$unfixed_in_series" ]
}
for arch in $arches; do
	if [[ " $kinds " = *" base "* ]]; then
		step "kernels: $arch base (unpatched)"
		build "$arch" "$base" "$T/out/$arch-base" "$BASE build $arch base" || rc=1
	fi
	if [[ " $kinds " = *" unfixed "* ]] && ! kept "$(unfixed_dir "$arch")" "$unfixed" &&
	   unfixed_alone; then
		step "kernels: $arch unfixed (the series' tests without its fixes)"
		if build "$arch" "$unfixed" "$T/out/$arch-patched" "$BASE build $arch unfixed" force; then
			keep "$arch" "$(unfixed_dir "$arch")" "$unfixed"
		else
			rc=1
		fi
	fi
	if [[ " $kinds " = *" upto "* ]] &&
	   { [ "${BISECT:-1}" != 1 ] || [[ " $kinds " != *" patched "* ]]; }; then
		n=0
		for c in "${commits[@]}"; do
			n=$((n + 1))
			upto_wanted "$arch" "$n" && ! kept "$(upto_dir "$arch" "$n")" "$c" || continue
			step "kernels: $arch up to patch $n"
			if build "$arch" "$c" "$T/out/$arch-patched" "$BASE build $arch upto-$(printf %04d "$n")" force; then
				keep "$arch" "$(upto_dir "$arch" "$n")" "$c"
			else
				rc=1
			fi
		done
	fi
	[[ " $kinds " = *" patched "* ]] || continue
	n=0
	for c in "${commits[@]}"; do
		n=$((n + 1))
		[ "$c" = "$tip" ] || [ "${BISECT:-1}" = 1 ] || continue
		subj=$(git -C "$LINUX" log -1 --format=%s "$c")
		name="$BASE build $arch $(printf %04d "$n") $subj"
		if [[ " $kinds " = *" upto "* ]] && upto_wanted "$arch" "$n" &&
		   ! kept "$(upto_dir "$arch" "$n")" "$c"; then
			step "kernels: $arch patch $n/${#commits[@]}: $subj (kept as upto-$(printf %04d "$n"))"
			if build "$arch" "$c" "$T/out/$arch-patched" "$name" force; then
				keep "$arch" "$(upto_dir "$arch" "$n")" "$c"
				[ "$c" != "$unfixed" ] || ! [[ " $kinds " = *" unfixed "* ]] || keep "$arch" "$(unfixed_dir "$arch")" "$unfixed"
			else
				rc=1
			fi
			continue
		fi
		if [ "$c" = "$unfixed" ] && [[ " $kinds " = *" unfixed "* ]] &&
		   ! kept "$(unfixed_dir "$arch")" "$unfixed"; then
			step "kernels: $arch patch $n/${#commits[@]}: $subj (kept as unfixed)"
			if build "$arch" "$c" "$T/out/$arch-patched" "$name" force; then
				keep "$arch" "$(unfixed_dir "$arch")" "$unfixed"
			else
				rc=1
			fi
			continue
		fi
		# A patch that only touches selftests, documentation or other
		# architectures leaves this arch's build as the previous commit
		# had it, and that one was built; the next real build covers it.
		if [ "$c" != "$tip" ] && [ -z "$(build_inputs "$arch" "$c")" ]; then
			check_result "$name" pass "no file of the $arch build changed: nothing to build"
			continue
		fi
		step "kernels: $arch patch $n/${#commits[@]}: $subj"
		build "$arch" "$c" "$T/out/$arch-patched" "$name" || rc=1
	done
	if [ ${#commits[@]} -eq 0 ]; then
		build "$arch" "$tip" "$T/out/$arch-patched" "$BASE build $arch patched" || rc=1
	fi
done
exit $rc
