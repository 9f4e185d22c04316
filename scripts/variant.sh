#!/bin/bash
# variant.sh VARIANT [ARCH...]: build the base and patched kernels of the
# track with configs/variant-VARIANT.config applied last (the bench
# kernels; the config matrix) into $T/out/ARCH-KERNEL-VARIANT, where
# harness.bench --variant and harness.run --variant boot them. Each
# variant has its own build directories ($T/kbuild-VARIANT/ARCH), so the
# suite's incremental builds stay as they are. KERNELS="base patched"
# picks the kinds ("unfixed" too, once make kernels made it); a result is
# kept per commit and configuration.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
	echo "usage: ${0##*/} VARIANT [ARCH...]  (variants: $(cd "$TOP/configs" &&
		ls variant-*.config 2>/dev/null | sed 's/^variant-//; s/\.config$//' | tr '\n' ' '))" >&2
	exit 2
}
[ $# -ge 1 ] || usage
variant=$1
shift
[[ $variant =~ ^[a-z0-9][a-z0-9-]*$ ]] && [ -f "$TOP/configs/variant-$variant.config" ] ||
	{ echo "error: no variant '$variant' (no configs/variant-$variant.config)" >&2; usage; }
arches=${*:-$ARCHES}
for a in $arches; do karch "$a" >/dev/null; done
kinds=${KERNELS:-base patched}
for k in $kinds; do
	case $k in base|patched|unfixed) ;; *) die "KERNELS: '$k' is not base, patched or unfixed" ;; esac
done
git -C "$LINUX" rev-parse -q --verify refs/tags/base >/dev/null ||
	die "no kernel work tree: run 'make tree' first"
cfg=$( (configs_hash; cat "$TOP/configs/variant-$variant.config") | sha256sum | cut -c1-16)
exec 8>"$T/.kernels.lock"
flock 8

rc=0
for arch in $arches; do
	for kind in $kinds; do
		case $kind in base) rev=$(git -C "$LINUX" rev-parse base) ;;
		patched) rev=$(git -C "$LINUX" rev-parse series) ;;
		unfixed) rev=$(git -C "$LINUX" rev-parse -q --verify refs/memhp/unfixed) ||
			die "no unfixed kernel commit: run 'make kernels' first" ;;
		esac
		out=$T/out/$arch-$kind-$variant
		name="$BASE build $arch $kind variant $variant"
		if [ -f "$out/boot-image" ] && [ "$(cat "$out/.memhp-rev" 2>/dev/null)" = "$rev $cfg" ]; then
			check_result "$name" pass cached
			continue
		fi
		step "variant $variant: $arch $kind"
		worktree "$T/src/linux" "$rev"
		work=$T/kbuild-$variant/$arch
		mkdir -p "$out"
		rm -f "$out/.memhp-rev"
		if MEMHP_VARIANT=$variant "$TOP/scripts/kernel.sh" "$arch" "$T/src/linux" "$work" \
			> >(tee "$out/build.log" | grep --line-buffered '^\[' >&2) 2>&1 &&
		   copy_out "$work" "$out"; then
			echo "$rev $cfg" >"$out/.memhp-rev"
			check_result "$name" pass "$(grep -o 'built .* in [0-9]*s' "$out/build.log" | tail -n1)"
		else
			tail -n 25 "$out/build.log" >&2
			check_result "$name" fail "see $out/build.log"
			rc=1
		fi
	done
done
exit $rc
