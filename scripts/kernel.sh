#!/bin/bash
# kernel.sh ARCH SRC_DIR OUT_DIR: configure (allnoconfig + configs/*.config)
# and build the boot image of the kernel in SRC_DIR out of tree in OUT_DIR.
# Prints the image path as the last line on stdout and copies the image to
# OUT_DIR/boot-image. The build log is OUT_DIR/build.log.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat >&2 <<-EOF
	usage: ${0##*/} ARCH SRC_DIR OUT_DIR
	  ARCH     one of: $ARCHES
	  SRC_DIR  Linux source tree (not modified; built out of tree)
	  OUT_DIR  build directory (created if missing)
	EOF
	exit 2
}

[ $# -eq 3 ] || usage
arch=$1 src=$2 out=$3
case " $ARCHES " in *" $arch "*) ;; *) echo "error: unknown ARCH '$arch'" >&2; usage ;; esac
[ -f "$src/Makefile" ] && [ -f "$src/scripts/kconfig/merge_config.sh" ] ||
	{ echo "error: '$src' is not a Linux source tree" >&2; usage; }
command -v ccache >/dev/null || die "ccache is required"

src=$(cd "$src" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ "$out" != "$src" ] || die "OUT_DIR must differ from SRC_DIR"

ka=$(karch "$arch")
prefix=$(cross_prefix "$arch")
command -v "${prefix}gcc" >/dev/null || die "compiler ${prefix}gcc not found"
case $arch in
arm64|riscv64) target=Image; image=arch/$ka/boot/Image ;;
x86_64) target=bzImage; image=arch/x86/boot/bzImage ;;
esac
frags=("$TOP/configs/common.config" "$TOP/configs/$arch.config" "$TOP/configs/debug.config")
# the track's own fragment (options that differ on its kernel base)
track_frag=$TOP/configs/track-$BASE.config
[ ! -f "$track_frag" ] || frags+=("$track_frag")
frags+=("$TOP/configs/series.config")
# A variant (MEMHP_VARIANT=NAME: configs/variant-NAME.config) comes last
# and wins: the bench kernels, the config matrix.
[ -z "${MEMHP_VARIANT:-}" ] || frags+=("$TOP/configs/variant-$MEMHP_VARIANT.config")
for f in "${frags[@]}"; do [ -f "$f" ] || die "missing config fragment $f"; done

log=$out/build.log
# One build at a time per OUT_DIR
exec 9>"$out/.kernel.lock"
flock 9

# The same make variables for every step, so kconfig never sees CC change.
export KBUILD_BUILD_USER=memhp KBUILD_BUILD_HOST=memhp
mk=(make -C "$src" O="$out" ARCH="$ka" CROSS_COMPILE="$prefix"
	CC="ccache ${prefix}gcc" HOSTCC="ccache gcc" -j"$(nproc)")

fail() {
	echo "---- last lines of $log ----" >&2
	tail -n 40 "$log" >&2 || true
	die "$*"
}

# Everything that decides the result of allnoconfig + merge: the fragments,
# every Kconfig file of the tree, the toolchain and this recipe's version.
config_hash() {
	{
		echo "recipe 2 $arch $ka $prefix"
		cat "${frags[@]}"
		(cd "$src" && find . -name 'Kconfig*' -type f -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum)
		"${prefix}gcc" --version | head -n1
		"${prefix}ld" --version | head -n1
		sed -n '1,5p' "$src/Makefile"
	} | sha256sum | cut -d' ' -f1
}

# verify_config: every option requested by the fragments (later fragments
# win) must be in .config with exactly the requested value.
verify_config() {
	local -A want=()
	local -a order=()
	local line sym val f bad=()
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
				sym=${BASH_REMATCH[1]} val=n
			else
				continue
			fi
			[ -n "${want[$sym]+x}" ] || order+=("$sym")
			want[$sym]=$val
		done <"$f"
	done
	local -A have=()
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			have[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		fi
	done <"$out/.config"
	# series.config names options that the series adds: where the tree
	# has no such symbol (the unpatched base, or an arch the option is
	# not for), it is not required.
	local -A optional=()
	while IFS= read -r line; do
		if [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)= ]] &&
		   ! grep -rqsx --include='Kconfig*' --exclude-dir=arch \
			"config ${BASH_REMATCH[1]}" "$src" &&
		   ! grep -rqsx --include='Kconfig*' "config ${BASH_REMATCH[1]}" "$src/arch/$ka"; then
			optional[CONFIG_${BASH_REMATCH[1]}]=1
		fi
	done <"$TOP/configs/series.config"
	# "# gone: CONFIG_X" in the track's fragment: the base has no X any
	# more (its shared fragments still ask for it for the other tracks)
	if [ -f "$track_frag" ]; then
		while IFS= read -r line; do
			[[ $line =~ ^#\ gone:\ CONFIG_([A-Za-z0-9_]+) ]] || continue
			if grep -rqsx --include='Kconfig*' "config ${BASH_REMATCH[1]}" "$src"; then
				bad+=("CONFIG_${BASH_REMATCH[1]}: $track_frag says it is gone, but the tree defines it")
			fi
			optional[CONFIG_${BASH_REMATCH[1]}]=1
		done <"$track_frag"
	fi
	for sym in "${order[@]}"; do
		[ -z "${optional[$sym]+x}" ] || continue
		val=${want[$sym]}
		if [ "$val" = n ]; then
			[ -z "${have[$sym]+x}" ] || [ "${have[$sym]}" = n ] ||
				bad+=("$sym: wanted n, got ${have[$sym]}")
		elif [ -z "${have[$sym]+x}" ]; then
			bad+=("$sym: wanted $val, not set")
		elif [ "${have[$sym]}" != "$val" ]; then
			bad+=("$sym: wanted $val, got ${have[$sym]}")
		fi
	done
	if [ ${#bad[@]} -gt 0 ]; then
		echo "error: options requested by configs/*.config but not in $out/.config:" >&2
		printf '  %s\n' "${bad[@]}" >&2
		return 1
	fi
}

stamp=$out/.memhp-config-stamp
hash=$(config_hash)
if [ -f "$out/.config" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
	step "$arch: configuration unchanged"
	: >>"$log"
else
	step "$arch: configuring (allnoconfig + common, $arch, debug fragments${MEMHP_VARIANT:+, variant $MEMHP_VARIANT})"
	rm -f "$stamp"
	: >"$log"
	# The fragments are pinned while allnoconfig runs, so what they turn
	# on brings its visible sub-options in as "n", not as their defaults
	# (ACPI's button, fan and thermal drivers, initramfs decompressors).
	cat "${frags[@]}" >"$out/.memhp-allconfig"
	"${mk[@]}" KCONFIG_ALLCONFIG="$out/.memhp-allconfig" allnoconfig \
		>>"$log" 2>&1 || fail "$arch: configuration failed"
	verify_config || die "$arch: configuration does not match the fragments"
	echo "$hash" >"$stamp"
fi
verify_config || die "$arch: $out/.config does not match the fragments (edited by hand?)"

step "$arch: building $target with ccache (-j$(nproc)), log in $log"
t0=$(date +%s)
echo "==== $(date -u '+%F %T') make $target" >>"$log"
"${mk[@]}" "$target" >>"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM
# Progress: a line every 30 s with the number of objects compiled so far.
n0=$(grep -c '^  CC ' "$log" || true)
while kill -0 "$pid" 2>/dev/null; do
	for _ in $(seq 30); do
		sleep 1
		kill -0 "$pid" 2>/dev/null || break
	done
	kill -0 "$pid" 2>/dev/null || break
	step "$arch: ... $(( $(grep -c '^  CC ' "$log" || true) - n0 )) objects compiled"
done
wait "$pid" || fail "$arch: build of $target failed"
trap - INT TERM
step "$arch: built $image in $(( $(date +%s) - t0 ))s"

[ -f "$out/$image" ] || fail "$arch: $out/$image missing after the build"
cp -f "$out/$image" "$out/boot-image"
echo "$out/$image"
