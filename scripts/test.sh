#!/bin/bash
# test.sh [runner options]: the whole suite. Installs what is missing,
# prepares the tree, checks the series (applies, checkpatch --strict,
# every patch builds on its own), builds base and patched kernels, the
# guests and our QEMU for riscv64 (scripts/qemu.sh), then runs every
# scenario on arm64, riscv64 and x86_64 against both kernels. Ends with
# "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

arches=${MEMHP_ARCHES:-$ARCHES}
mkdir -p "$B"
export MEMHP_CHECKS=$B/checks.jsonl
: > "$MEMHP_CHECKS"

[ -n "${MEMHP_SKIP_DEPS:-}" ] || "$TOP/scripts/deps.sh" || die "installing dependencies failed"
step "test: preparing the kernel tree"
if "$TOP/scripts/tree.sh"; then
	check_result "series applies to $SRCPKG" pass ""
else
	check_result "series applies to $SRCPKG" fail "see above"
	die "the series does not apply; nothing else can run"
fi
"$TOP/scripts/checkpatch.sh"
"$TOP/scripts/kernels.sh" $arches
worktree "$B/src/linux" "$(git -C "$LINUX" rev-parse series)"
for a in $arches; do
	if "$TOP/scripts/rootfs.sh" "$a" "$B/src/linux" "$B/initrd/$a.cpio"; then
		check_result "guest rootfs $a" pass ""
	else
		check_result "guest rootfs $a" fail "see above"
	fi
done
case " $arches " in
*" riscv64 "*)
	# riscv64 scenarios use our QEMU (qemu/: pc-dimm and virtio-mem on virt)
	t0=$(date +%s)
	if qemu=$("$TOP/scripts/qemu.sh" | tail -n1) && [ -x "$qemu" ]; then
		export MEMHP_QEMU_SYSTEM_RISCV64=$qemu
		check_result "our QEMU for riscv64 (qemu/series)" pass \
			"$(basename "$(dirname "$(dirname "$qemu")")"), $(( $(date +%s) - t0 ))s"
	else
		check_result "our QEMU for riscv64 (qemu/series)" fail "see above"
	fi
	;;
esac
# Two guests at a time on CI's two cores: most of a unit is TCG work,
# but boots and waits overlap (MEMHP_JOBS=1 for one at a time).
step "test: running scenarios (${MEMHP_JOBS:=2} at a time)"
export MEMHP_JOBS
cd "$TOP" && exec python3 -m harness.run --arch "$(echo $arches | tr ' ' ,)" \
	--checks "$MEMHP_CHECKS" "$@"
