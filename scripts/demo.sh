#!/bin/bash
# demo.sh: the main job in one go. Builds the patched arm64 kernel and its
# guest, boots it under QEMU (UEFI + ACPI), hot-adds a 1 GiB pc-dimm,
# onlines it movable, fills and verifies it, hot-removes it, and prints
# lsmem before and after with the timings.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${MEMHP_DEMO_ARCH:-arm64}
[ -n "${MEMHP_SKIP_DEPS:-}" ] || "$TOP/scripts/deps.sh"
"$TOP/scripts/tree.sh"
KERNELS=patched BISECT=0 "$TOP/scripts/kernels.sh" "$arch"
worktree "$B/src/linux" "$(git -C "$LINUX" rev-parse series)"
"$TOP/scripts/rootfs.sh" "$arch" "$B/src/linux" "$B/initrd/$arch.cpio"
if [ "$arch" = riscv64 ]; then
	# pc-dimm on riscv virt needs our QEMU (qemu/)
	MEMHP_QEMU_SYSTEM_RISCV64=$("$TOP/scripts/qemu.sh" | tail -n1)
	export MEMHP_QEMU_SYSTEM_RISCV64
fi
step "demo: booting the patched $arch kernel and hot(un)plugging a DIMM"
cd "$TOP" && exec python3 -m harness.run --verbose --no-latest --arch "$arch" \
	--kernel patched --scenario pcdimm-basic --out "$B/demo"
