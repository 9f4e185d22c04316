#!/bin/bash
# qemu.sh [--force] [--worktree DIR] [--export DIR]: our QEMU for riscv64.
#
# Builds qemu-system-riscv64 from Debian's own qemu source package (QEMU
# 10.0, fetched with apt-get source: bookworm-backports, else trixie) with
# Debian's patches and then ours (qemu/series) applied, configured for the
# riscv64-softmmu target and the devices of qemu/riscv64-devices.mak only,
# and installs it into
#   ${MEMHP_BUILD:-~/.cache/memhp}/qemu/<Debian version>-<hash>/
# where the hash covers qemu/series, the patches it names and the recipe
# (configure options, device list). A warm run (that build exists) only
# prints the path.
# Also installs Debian trixie's qemu-efi-riscv64 (UEFI for the ACPI boot).
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
SUITES=${MEMHP_QEMU_SUITES:-bookworm-backports trixie}
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
BUILD_DEPS="dpkg-dev ninja-build python3 python3-venv pkgconf flex bison
	libglib2.0-dev libfdt-dev libpixman-1-dev zlib1g-dev ccache git patch
	opensbi"
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

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

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

# Source version of qemu in SUITE per the local apt lists (empty if none).
src_version() {
	(cd /tmp && apt-get source --print-uris "qemu/$1" 2>/dev/null || true) |
		sed -n "s/^Selected version '\([^']*\)'.*/\1/p" | head -n1
}

hash=$(key_hash)
cache=$B/qemu
mkdir -p "$cache"

# Warm path: a complete build of this hash for a qemu source version that
# apt still offers (one quick look-up in the local lists).
if [ -z "$force" ] && [ -z "$worktree" ]; then
	for v in $( (apt-cache showsrc qemu 2>/dev/null || true) | sed -n 's/^Version: //p'); do
		d=$cache/${v#*:}-$hash
		if [ -f "$d/.complete" ] && [ -x "$d/bin/qemu-system-riscv64" ] &&
		   [ -f "$(cat "$d/.firmware" 2>/dev/null)" ]; then
			echo "$d/bin/qemu-system-riscv64"
			exit 0
		fi
	done
fi

exec 9>"$cache/.lock"
flock 9

# --- apt: deb-src lines, build dependencies, the UEFI firmware -----------
host_archive() {
	grep -rhs -A3 -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ |
		grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n1
}
apt_lists() {
	local uri f=/etc/apt/sources.list.d/memhp-qemu.sources
	local pin=/etc/apt/preferences.d/memhp-trixie
	[ -f "$f" ] && [ -f "$pin" ] && return 1
	uri=$(host_archive)
	[ -n "$uri" ] || die "cannot find the host's Debian archive in /etc/apt"
	step "qemu: adding apt sources for the qemu source package and $FIRMWARE_PKG ($uri)"
	# bookworm-backports: binaries (meson >= 1.5; deps.sh may have added
	# them already) and sources; trixie: sources and the firmware, pinned
	# so that nothing else comes from it.
	types="deb deb-src"
	grep -rlsE '^(Suites:.*|deb .*)bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ | grep -qv "$f" && types=deb-src
	printf '%s\n' "Types: $types" "URIs: $uri" "Suites: bookworm-backports" \
		"Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "" \
		"Types: deb deb-src" "URIs: $uri" "Suites: trixie" "Components: main" \
		"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
		$sudo tee "$f" >/dev/null
	printf '%s\n' "Package: *" "Pin: release n=trixie" "Pin-Priority: 1" |
		$sudo tee "$pin" >/dev/null
	return 0
}
installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}
meson_ok() {
	local v
	v=$(meson --version 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 1.5.0
}

updated=
if apt_lists || [ -z "$(src_version trixie)" ]; then
	step "qemu: apt-get update"
	$sudo apt-get update -qq
	updated=1
fi
export DEBIAN_FRONTEND=noninteractive
missing=
for p in $BUILD_DEPS; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ] || ! meson_ok || ! installed "$FIRMWARE_PKG"; then
	[ -n "$updated" ] || { step "qemu: apt-get update"; $sudo apt-get update -qq; }
	step "qemu: installing build dependencies:${missing:- (none missing)}"
	# shellcheck disable=SC2086
	[ -z "$missing" ] || $sudo apt-get install -y -qq $missing >/dev/null
	if ! meson_ok; then
		step "qemu: installing meson from bookworm-backports (QEMU 10 needs >= 1.5)"
		$sudo apt-get install -y -qq -t bookworm-backports meson >/dev/null
	fi
	if ! installed "$FIRMWARE_PKG"; then
		step "qemu: installing $FIRMWARE_PKG from $FIRMWARE_SUITE"
		$sudo apt-get install -y -qq "$FIRMWARE_PKG/$FIRMWARE_SUITE" >/dev/null
	fi
fi
meson_ok || die "meson >= 1.5 is needed (bookworm-backports)"
firmware=$(dpkg -L "$FIRMWARE_PKG" | grep '/RISCV_VIRT_CODE.fd$' | head -n1)
[ -f "$firmware" ] || die "$FIRMWARE_PKG has no RISCV_VIRT_CODE.fd"

# --- source: apt-get source, Debian's patches applied by dpkg-source ---
work=$B/qemu-src
rm -rf "$work"
mkdir -p "$work"
version= suite_used=
for suite in $SUITES; do
	v=$(src_version "$suite")
	[ -n "$v" ] || { step "qemu: no qemu source in $suite"; continue; }
	step "qemu: apt-get source qemu/$suite ($v)"
	if (cd "$work" && apt-get source -qq "qemu/$suite" >"$work/apt-source.log" 2>&1); then
		version=$v suite_used=$suite
		break
	fi
	step "qemu: apt-get source qemu/$suite failed: $(grep -m1 -E '^(E|Err):' "$work/apt-source.log" || tail -n1 "$work/apt-source.log")"
	find "$work" -mindepth 1 -maxdepth 1 ! -name apt-source.log -exec rm -rf {} +
done
[ -n "$version" ] || die "could not fetch the qemu source package from any of: $SUITES"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n1)
[ -d "$src" ] || die "apt-get source left no qemu-* directory in $work"
upver=${version#*:}

if [ -n "$worktree" ]; then
	# A git work tree: pristine source, Debian's patches, ours as commits.
	[ ! -e "$worktree" ] || die "$worktree exists; remove it first"
	mkdir -p "$(dirname "$worktree")"
	dsc=$(ls "$work"/qemu_*.dsc)
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
sbi=$(dpkg -L opensbi | grep '/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin$' | head -n1)
[ -f "$sbi" ] || die "opensbi has no generic/fw_dynamic.bin"
ln -sf "$sbi" "$dest/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin"
touch "$dest/.complete"
rm -rf "$build" "$work"
# Older builds (other patches or source versions) are not used any more.
for d in "$cache"/*; do
	[ "$d" = "$dest" ] || [ ! -d "$d" ] || rm -rf "$d"
done
step "qemu: installed in $dest"
echo "$dest/bin/qemu-system-riscv64"
