#!/bin/bash
# qemu.sh [--force] [--worktree DIR] [--export DIR]: our QEMU for riscv64.
#
# Builds qemu-system-riscv64 from Debian's own qemu source package (QEMU
# 10.0 from trixie, else bookworm-backports, through scripts/apt.py) with
# Debian's patches and then ours (qemu/series) applied, configured for the
# riscv64-softmmu target and the devices of qemu/riscv64-devices.mak only,
# and installs it into
#   ${MEMHP_BUILD:-~/.cache/memhp}/qemu/<Debian version>-<hash>/
# where the hash covers qemu/series, the patches it names and the recipe
# (configure options, device list). A warm run (that build exists) only
# prints the path.
# Uses Debian trixie's qemu-efi-riscv64 (UEFI for the ACPI boot), unpacked
# into apt.py's cache; its path is in the build's .firmware.
# The last line on stdout is the path of qemu-system-riscv64.
#
#   --force          rebuild even when the cached build exists
#   --worktree DIR   instead of building: make DIR a git work tree of the
#                    source (pristine Debian source, then Debian's patches,
#                    then qemu/series as commits) to work on the patches
#   --export DIR     write DIR's commits on top of the tag "debian" back to
#                    qemu/ as git format-patch files and qemu/series
set -euo pipefail
. "$(dirname "$0")/lib.sh"

QDIR=$TOP/qemu
SUITES=${MEMHP_QEMU_SUITES:-trixie bookworm-backports}
# Bump RECIPE when the build steps change in a way that changes the result.
RECIPE=3
CONFIGURE_OPTS=(--target-list=riscv64-softmmu --disable-download
	--disable-docs --disable-user --disable-tools --disable-guest-agent
	--disable-install-blobs --disable-werror --disable-debug-info
	--disable-gtk --disable-sdl --disable-opengl --disable-vnc
	--disable-spice --disable-curses --disable-xkbcommon --disable-slirp
	--disable-libusb --disable-usb-redir --disable-capstone
	--disable-pipewire --disable-pa --disable-alsa --disable-oss
	--disable-jack --disable-sndio --disable-plugins --disable-rust
	--enable-fdt=system --without-default-devices --with-devices-riscv64=memhp)
# What --with-devices-riscv64=memhp names: copied into the source tree
DEVICES=$QDIR/riscv64-devices.mak
FIRMWARE_PKG=qemu-efi-riscv64
FIRMWARE_SUITE=trixie

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

force= worktree= export_dir=
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--worktree) [ $# -ge 2 ] && [ -n "$2" ] || die "--worktree needs a directory"
		worktree=$2; shift ;;
	--export) [ $# -ge 2 ] && [ -n "$2" ] || die "--export needs a directory"
		export_dir=$2; shift ;;
	-h|--help) usage ;;
	*) echo "error: unknown option '$1'" >&2; usage ;;
	esac
	shift
done
[ -f "$QDIR/series" ] || die "$QDIR/series is missing"

# The patches named by qemu/series, in order (checked to exist).
patches() {
	local p
	while read -r p; do
		case $p in ''|'#'*) continue ;; esac
		[ -f "$QDIR/$p" ] || die "qemu/series names $p, which does not exist"
		echo "$p"
	done <"$QDIR/series"
}

if [ -n "$export_dir" ]; then
	[ -d "$export_dir/.git" ] || die "$export_dir is not a git work tree (make one with --worktree)"
	git -C "$export_dir" rev-parse -q --verify debian >/dev/null ||
		die "$export_dir has no tag 'debian' (the Debian-patched base)"
	patches | while read -r p; do rm -f "$QDIR/$p"; done
	git -C "$export_dir" format-patch -q --no-signature --zero-commit \
		--no-numbered -o "$QDIR" debian..HEAD
	(cd "$QDIR" && ls [0-9][0-9][0-9][0-9]-*.patch) >"$QDIR/series"
	step "qemu: exported $(wc -l <"$QDIR/series") patches to qemu/"
	exit 0
fi

# One hash over what decides the build: our patches and the recipe.
key_hash() {
	{
		echo "recipe $RECIPE ${CONFIGURE_OPTS[*]}"
		cat "$DEVICES"
		cat "$QDIR/series"
		patches | while read -r p; do cat "$QDIR/$p"; done
	} | sha256sum | cut -c1-16
}

hash=$(key_hash)
cache=$B/qemu
mkdir -p "$cache"

APT="python3 $TOP/scripts/apt.py"
# The source package and the firmware come from apt.py's cache (make deps
# fetches them; apt.py downloads what is missing), nothing is installed.
firmware_dir=$($APT fetch "$FIRMWARE_PKG" "$FIRMWARE_SUITE") || exit 1
firmware=$firmware_dir/usr/share/qemu-efi-riscv64/RISCV_VIRT_CODE.fd
[ -f "$firmware" ] || die "$FIRMWARE_PKG has no RISCV_VIRT_CODE.fd (in $firmware_dir)"
# shellcheck disable=SC2086
dsc=$($APT source qemu $SUITES) || exit 1
version=$(sed -n 's/^Version: //p' "$dsc" | head -n1)
suite_used=$(basename "$(dirname "$dsc")")
[ -n "$version" ] || die "$dsc has no Version"

# Warm path: a complete build of this hash for this source version.
d=$cache/${version#*:}-$hash
if [ -z "$force" ] && [ -z "$worktree" ] && [ -f "$d/.complete" ] &&
   [ -x "$d/bin/qemu-system-riscv64" ] && [ "$(cat "$d/.firmware" 2>/dev/null)" = "$firmware" ]; then
	echo "$d/bin/qemu-system-riscv64"
	exit 0
fi

exec 9>"$cache/.lock"
flock 9

for t in ninja dpkg-source patch; do
	command -v "$t" >/dev/null || die "$t is missing: run make deps"
done
meson_ok || die "meson >= 1.5 is needed (bookworm-backports): run make deps"
# QEMU's default -bios for riscv virt (the source package ships no blobs)
sbi=$(dpkg -L opensbi 2>/dev/null | grep '/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin$' | head -n1)
[ -f "$sbi" ] || die "opensbi (generic/fw_dynamic.bin) is missing: run make deps"

# --- source: Debian's patches applied by dpkg-source ---------------------
work=$B/qemu-src
rm -rf "$work"
mkdir -p "$work"
step "qemu: unpacking qemu $version ($suite_used) from $dsc"
if [ -z "$worktree" ]; then
	dpkg-source -q -x "$dsc" "$work/qemu-${version#*:}" >"$work/dpkg-source.log" 2>&1 ||
		{ cat "$work/dpkg-source.log" >&2; die "dpkg-source -x $dsc failed"; }
fi
src=$work/qemu-${version#*:}
upver=${version#*:}

if [ -n "$worktree" ]; then
	# A git work tree: pristine source, Debian's patches, ours as commits.
	[ ! -e "$worktree" ] || die "$worktree exists; remove it first"
	mkdir -p "$(dirname "$worktree")"
	dpkg-source -q --skip-patches -x "$dsc" "$worktree" >/dev/null
	g() { git_fixed -C "$worktree" "$@"; }
	g init -q -b memhp
	g config user.name "$MEMHP_NAME"
	g config user.email "$MEMHP_EMAIL"
	echo /.pc/ >>"$worktree/.git/info/exclude"
	g add -A -f . && g commit -q -m "qemu $version: pristine Debian source ($suite_used)"
	(cd "$worktree" && QUILT_PATCHES=debian/patches QUILT_PC=.pc \
		dpkg-source --before-build . >/dev/null)
	g add -A . && g commit -q -m "qemu $version: debian/patches applied"
	g tag debian
	patches | while read -r p; do
		g am -q "$QDIR/$p" || die "qemu/$p does not apply (left mid-'git am' in $worktree)"
	done
	step "qemu: work tree $worktree ($(g rev-list --count debian..HEAD) patches on tag debian)"
	exit 0
fi

dest=$cache/$upver-$hash
step "qemu: applying $(patches | wc -l) patches from qemu/series"
patches | while read -r p; do
	patch -d "$src" -p1 -s -N --no-backup-if-mismatch <"$QDIR/$p" ||
		die "qemu/$p does not apply to qemu $version"
done

# --- configure, build, install ----------------------------------------
# Only the board and the devices we use: a sixth fewer objects to build.
cp "$DEVICES" "$src/configs/devices/riscv64-softmmu/memhp.mak"
build=$B/qemu-build
rm -rf "$build" "$dest"
mkdir -p "$build"
log=$build/build.log
# QEMU's configure makes a venv from this interpreter; Debian's meson lives
# in /usr/bin/python3's site-packages.
py=/usr/bin/python3
step "qemu: configuring (riscv64-softmmu), log in $log"
(cd "$build" && "$src/configure" --prefix="$dest" --python="$py" \
	--cc="ccache gcc" --cxx="ccache g++" "${CONFIGURE_OPTS[@]}") >"$log" 2>&1 ||
	{ tail -n 30 "$log" >&2; die "qemu: configure failed"; }
jobs=${MEMHP_QEMU_JOBS:-$(nproc)}
step "qemu: building qemu-system-riscv64 with ninja -j$jobs (a cold build takes a while)"
t0=$(date +%s)
# Only the emulator: the default target would also build QEMU's unit tests.
(cd "$build" && nice ninja -j"$jobs" qemu-system-riscv64) >>"$log" 2>&1 ||
	{ tail -n 30 "$log" >&2; die "qemu: build failed"; }
step "qemu: built in $(( $(date +%s) - t0 ))s"
# It needs no data files of its own here (no blobs, no display); QEMU looks
# for firmware in ../share/qemu next to the binary.
mkdir -p "$dest/bin" "$dest/share/qemu"
install -m 755 "$build/qemu-system-riscv64" "$dest/bin/"
"$dest/bin/qemu-system-riscv64" --version >/dev/null ||
	die "qemu: the installed binary does not run"
{
	echo "debian-version $version"
	echo "suite $suite_used"
	echo "hash $hash"
	cat "$QDIR/series"
} >"$dest/.memhp-qemu"
echo "$firmware" >"$dest/.firmware"
# The source package ships no firmware blobs (+ds): QEMU's default -bios
# for riscv virt is Debian's OpenSBI.
ln -sf "$sbi" "$dest/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin"
touch "$dest/.complete"
rm -rf "$build" "$work"
# Older builds (other patches or source versions) are not used any more.
for d in "$cache"/*; do
	[ "$d" = "$dest" ] || [ ! -d "$d" ] || rm -rf "$d"
done
step "qemu: installed in $dest"
echo "$dest/bin/qemu-system-riscv64"
