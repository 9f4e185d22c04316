#!/bin/bash
# bench.sh [ARCH...]: make bench. Builds what is missing (base and patched
# kernels of the arches, their initramfs, our QEMU for riscv64), installs
# gnuplot for the plots, then runs harness/bench.py, which writes
# results/bench.{md,json} and results/bench-*.svg. SIZES=1,4,16,64 (GiB)
# and KERNEL=base,patched choose what is measured; VARIANT=bench (the
# default: configs/variant-bench.config) or none (the suite's kernels)
# which kernels.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arches=("${@:-$ARCHES}")
# shellcheck disable=SC2206
arches=(${arches[*]})
bench=(python3 -m harness.bench --arch "$(echo "${arches[*]}" | tr ' ' ,)"
	--kernel "${KERNEL:-base,patched}" --sizes "${SIZES:-1,4,16,64}"
	--variant "${VARIANT:-bench}")
# Bad options are refused before anything is built.
(cd "$TOP" && "${bench[@]}" --help >/dev/null) || exit 2
[ -n "${MEMHP_SKIP_DEPS:-}" ] || "$TOP/scripts/deps.sh"
command -v gnuplot >/dev/null || {
	step "bench: installing gnuplot-nox (for the plots)"
	apt-get install -y -qq gnuplot-nox >/dev/null || step "bench: no gnuplot: no plots"
}
"$TOP/scripts/tree.sh"
kinds="$(echo "${KERNEL:-base,patched}" | tr , ' ')"
if [ "${VARIANT:-bench}" = none ]; then
	KERNELS=$kinds BISECT=0 "$TOP/scripts/kernels.sh" "${arches[@]}"
else
	KERNELS=$kinds "$TOP/scripts/variant.sh" "${VARIANT:-bench}" "${arches[@]}"
fi
for a in "${arches[@]}"; do
	"$TOP/scripts/rootfs.sh" --track "$a"
	if [ "$a" = riscv64 ]; then
		MEMHP_QEMU_SYSTEM_RISCV64=$("$TOP/scripts/qemu.sh" | tail -n1)
		export MEMHP_QEMU_SYSTEM_RISCV64
	fi
done
cd "$TOP" && exec "${bench[@]}"
