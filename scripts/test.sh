#!/bin/bash
# test.sh [runner options]: the whole suite of the track BASE (the
# mainline track by default). Installs what is missing, prepares the
# tree, checks the series (applies, checkpatch --strict, every patch
# builds on its own), builds base and patched kernels, the guests and our
# QEMU for riscv64 (scripts/qemu.sh), then runs the scenarios on arm64,
# riscv64 and x86_64: every unit of the patched kernel and those of the
# other kernels that show a fix (MEMHP_SCOPE=all: every unit). The other (stable) tracks get
# what keeps a backport honest: their series applies and passes
# checkpatch, their kernels build, and the units that show their fixes
# run (see stable_track). Ends with "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

arches=${MEMHP_ARCHES:-$ARCHES}
mkdir -p "$B"
export MEMHP_CHECKS=$B/checks.jsonl
: > "$MEMHP_CHECKS"

# The apt set-up against fixture apt directories: before deps.sh, which
# runs the same code on the host's own.
if python3 "$TOP/scripts/test_apt.py" >"$B/test-apt.log" 2>&1; then
	check_result "apt set-up (fixture apt directories)" pass "$(tail -n1 "$B/test-apt.log")"
else
	cat "$B/test-apt.log" >&2
	check_result "apt set-up (fixture apt directories)" fail "$(tail -n1 "$B/test-apt.log")"
fi
[ -n "${MEMHP_SKIP_DEPS:-}" ] || "$TOP/scripts/deps.sh" ||
	die "make deps failed (its error is above); fix it and re-run: make deps"
# Downloads, unpacking and QEMU's configure hardly use the CPU; unpacking
# and committing the kernel tree uses one core, and kernel builds leave a
# core idle while they link: fetch the guest userlands and build our QEMU
# (at low priority) meanwhile, from the start. Their output is shown after.
bg=$B/background
mkdir -p "$bg" && rm -f "$bg"/*
bgpids=()
# On an early exit (the series does not apply) they stop too.
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}
trap 'for p in "${bgpids[@]}"; do kill_tree "$p"; done' EXIT
(for a in $arches; do nice "$TOP/scripts/rootfs.sh" --base "$a" || exit 1; done) \
	>"$bg/rootfs.log" 2>&1 &
bgpids+=($!)
case " $arches " in
*" riscv64 "*)
	(t0=$(date +%s); nice "$TOP/scripts/qemu.sh" >"$bg/qemu.out" &&
		echo "$(( $(date +%s) - t0 ))" >"$bg/qemu.seconds") >"$bg/qemu.log" 2>&1 &
	bgpids+=($!)
	;;
esac
step "test: preparing the kernel tree"
if "$TOP/scripts/tree.sh"; then
	check_result "$BASE series applies to $SRCPKG" pass ""
else
	check_result "$BASE series applies to $SRCPKG" fail "see above"
	die "the series does not apply; nothing else can run"
fi
"$TOP/scripts/checkpatch.sh"
# The other tracks (stable): their series applies to their base and
# passes checkpatch here; their kernels and the units that show their
# fixes come after the default track's kernels (stable_track below). A
# track whose source cannot be had is a failed check, not the end of the
# run.
others=()
for t in $(track_names); do
	[ "$t" != "$BASE" ] || continue
	step "test: the $t track: its series on its base, checkpatch"
	applies="$t series applies to $(track_field "$t" 2)"
	if BASE=$t "$TOP/scripts/tree.sh"; then
		check_result "$applies" pass ""
		BASE=$t "$TOP/scripts/checkpatch.sh" || true
		others+=("$t")
	else
		check_result "$applies" fail "see above"
	fi
done
if (cd "$TOP" && python3 -m harness.selftest 2>"$B/harness-selftest.log"); then
	check_result "harness self-test" pass ""
else
	cat "$B/harness-selftest.log" >&2
	check_result "harness self-test" fail "see above"
fi
"$TOP/scripts/kernels.sh" $arches
step "test: waiting for the guest userlands and our QEMU"
wait "${bgpids[@]}"
trap - EXIT
cat "$bg/rootfs.log" "$bg/qemu.log" 2>/dev/null | grep -v '^$' >&2 || true
for a in $arches; do
	if "$TOP/scripts/rootfs.sh" --track "$a"; then
		check_result "guest rootfs $a" pass ""
	else
		check_result "guest rootfs $a" fail "see above"
	fi
done
case " $arches " in
*" riscv64 "*)
	# riscv64 scenarios use our QEMU (qemu/: pc-dimm and virtio-mem on virt)
	# Built in the background above; a warm run only finds it.
	qemu=$(tail -n1 "$bg/qemu.out" 2>/dev/null)
	if [ -x "$qemu" ]; then
		export MEMHP_QEMU_SYSTEM_RISCV64=$qemu
		check_result "our QEMU for riscv64 (qemu/series)" pass \
			"$(basename "$(dirname "$(dirname "$qemu")")"), $(cat "$bg/qemu.seconds")s"
	else
		check_result "our QEMU for riscv64 (qemu/series)" fail "see above"
	fi
	;;
esac
# Two guests at a time on CI's two cores: most of a unit is TCG work,
# but boots and waits overlap (MEMHP_JOBS=1 for one at a time).
export MEMHP_JOBS=${MEMHP_JOBS:-2}
# stable_track T: T's base and patched kernels (the tip only: checkpatch
# and the default track cover each patch), its initramfs, and the units
# that show its fixes (harness.run --scope fixes: each unit with an
# XFAIL on T, beside the patched kernel's); they count in the summary
# as checks named "T ARCH KERNEL SCENARIO". Its tables: results/T/fixes.md.
stable_track() {
	local a
	step "test: the $1 track: kernels, initramfs and the units that show its fixes"
	BASE=$1 KERNELS="base patched unfixed upto" BISECT=0 "$TOP/scripts/kernels.sh" $arches || true
	for a in $arches; do
		BASE=$1 "$TOP/scripts/rootfs.sh" --track "$a" ||
			check_result "$1 guest rootfs $a" fail "see above"
	done
	(cd "$TOP" && BASE=$1 python3 -m harness.run --arch "$(echo $arches | tr ' ' ,)" \
		--scope fixes --append-checks "$MEMHP_CHECKS" "${@:2}" >"$B/stable-$1.log" 2>&1) ||
		true
	tail -n 3 "$B/stable-$1.log" >&2
}
for t in "${others[@]}"; do
	stable_track "$t" "$@"
done
# MEMHP_SCOPE: ci (make test: the units that show a fix and every unit
# of the patched kernel) or all (make test-full: every unit)
scope=${MEMHP_SCOPE:-ci}
step "test: running scenarios (scope $scope, ${MEMHP_JOBS} at a time)"
cd "$TOP" && exec python3 -m harness.run --arch "$(echo $arches | tr ' ' ,)" \
	--scope "$scope" --checks "$MEMHP_CHECKS" "$@"
