#!/bin/bash
# check.sh ARCH SCENARIO[,SCENARIO...] [KERNEL,...]: one scenario on one
# arch (on the given kernels of it only, if named; make demo uses this),
# building
# only what it needs that is not built yet (the kernels it runs on, the
# guest initramfs, our QEMU for riscv64), then running it. From a warm
# cache this takes minutes. With KERNEL_IMAGE=path (and KERNEL_CONFIG, else
# the .config beside or above the image) it runs on that kernel instead,
# after checking its config for the options the scenario needs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# = 2 ] || [ $# = 3 ] ||
	die "usage: check.sh ARCH SCENARIO[,SCENARIO...] [KERNEL,...]  (make check ARCH=arm64 SCENARIO=pcdimm-basic)"
arch=$1 scen=$2
case $arch in *" "*|*,*) die "make check takes one arch (ARCH=arm64|riscv64|x86_64), not '$arch'" ;; esac
karch "$arch" >/dev/null
run=(python3 -m harness.run --arch "$arch" --scenario "$scen" --no-latest)
[ -z "${MEMHP_CHECK_OUT:-}" ] || run+=(--out "$MEMHP_CHECK_OUT")
if [ -n "${KERNEL_IMAGE:-}" ]; then
	[ -f "$KERNEL_IMAGE" ] || die "KERNEL_IMAGE=$KERNEL_IMAGE: no such file"
	run+=(--kernel-image "$KERNEL_IMAGE")
fi
# Unknown scenario names are refused here, before anything is built.
kinds=$(cd "$TOP" && "${run[@]}" ${3:+--kernel "$3"} --print-kernels) || exit 2
[ -n "${MEMHP_SKIP_DEPS:-}" ] || "$TOP/scripts/deps.sh"
"$TOP/scripts/tree.sh"
if [ -z "${KERNEL_IMAGE:-}" ]; then
	step "check: $arch kernels: $kinds"
	# shellcheck disable=SC2086
	KERNELS="$kinds" BISECT=0 "$TOP/scripts/kernels.sh" "$arch"
fi
"$TOP/scripts/rootfs.sh" --track "$arch"
if [ "$arch" = riscv64 ]; then
	MEMHP_QEMU_SYSTEM_RISCV64=$("$TOP/scripts/qemu.sh" | tail -n1)
	export MEMHP_QEMU_SYSTEM_RISCV64
fi
[ -n "${KERNEL_IMAGE:-}" ] || run+=(--kernel "$(echo "$kinds" | tr ' ' ,)")
cd "$TOP" && exec "${run[@]}" --verbose
