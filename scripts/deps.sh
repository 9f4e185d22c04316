#!/bin/bash
# deps.sh [--sources-only]: install everything a full run needs, on
# Debian 12 (as root or with sudo), so that no later step installs:
#  - bookworm-backports (QEMU 10 for virtio-mem on arm64 virt, meson for
#    our QEMU build) from the host's own archive, added only when no
#    enabled entry has it (scripts/apt.py, the one place for apt);
#  - toolchains, QEMU, firmware, mmdebstrap, bookworm's linux-source-6.12
#    and the build dependencies of our QEMU;
#  - from trixie, through apt.py's private configuration (downloaded into
#    the cache, not installed): the qemu source package, the riscv64
#    UEFI firmware and the kernel source of every track from a newer suite
#    (series/tracks: linux-source-7.3 from trixie-backports).
# Does nothing, and asks no network, when all of it is there.
# --sources-only: only make sure the host's apt sources have what we need.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BACKPORTS="qemu-system-arm qemu-system-misc qemu-system-x86 opensbi meson"
PKGS="linux-source-6.12 build-essential bc bison flex libssl-dev libelf-dev
	gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu libc6-dev-arm64-cross
	libc6-dev-riscv64-cross qemu-efi-aarch64 device-tree-compiler ccache
	cpio xz-utils zstd git python3 perl mmdebstrap debian-archive-keyring
	kmod rsync procps
	dpkg-dev ninja-build python3-venv pkgconf libglib2.0-dev libfdt-dev
	libpixman-1-dev zlib1g-dev patch"
# What apt.py fetches from newer suites into the cache (package suite...).
FETCH="qemu-efi-riscv64 trixie"
for t in $(track_names); do
	[ "$(track_field "$t" 3)" = - ] || FETCH+=" $(track_field "$t" 2) $(track_field "$t" 3)"
done
SOURCES="qemu trixie bookworm-backports"
APT="python3 $TOP/scripts/apt.py"

case ${1:-} in
'') ;;
--sources-only)
	command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"
	r=$($APT host-sources) || exit 1
	[ "$r" = unchanged ] || step "deps: added bookworm-backports to the apt sources"
	exit 0 ;;
*) die "usage: deps.sh [--sources-only]" ;;
esac

missing() {
	local p
	for p in $BACKPORTS $PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}
qemu_major() {
	qemu-system-aarch64 --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p'
}
host_ok() {
	[ -z "$(missing)" ] && [ "$(qemu_major)" -ge 10 ] 2>/dev/null && meson_ok
}
fetched_ok() {
	command -v python3 >/dev/null || return 1
	# shellcheck disable=SC2086
	set -- $FETCH
	while [ $# -ge 2 ]; do
		[ -n "$($APT cached "$1")" ] || return 1
		shift 2
	done
	# shellcheck disable=SC2086
	set -- $SOURCES
	[ -n "$($APT cached "$1")" ]
}

if host_ok && fetched_ok; then
	step "deps: all installed (QEMU $(qemu_major), linux-source-6.12 $(dpkg-query -W -f='${Version}' linux-source-6.12))"
	exit 0
fi

if ! host_ok; then
	# python3 runs apt.py; a bare Debian 12 may lack it
	if ! command -v python3 >/dev/null; then
		step "deps: installing python3 (apt.py needs it)"
		apt-get update || die "apt-get update failed (see above); re-run: make deps"
		apt-get install -y python3 || die "installing python3 failed (see above); re-run: make deps"
	fi
	r=$($APT host-sources) || exit 1
	[ "$r" = unchanged ] ||
		step "deps: added bookworm-backports ($($APT archive)) to the apt sources"
	step "deps: apt-get update"
	$APT update
	# bookworm's packages first: -t bookworm-backports prefers backports
	# for every package it installs, so libelf1 would come from there and
	# bookworm's libelf-dev (= its own libelf1) could not be installed.
	step "deps: installing toolchains, linux-source-6.12, firmware and build tools"
	# shellcheck disable=SC2086
	$APT install $PKGS
	step "deps: installing QEMU, OpenSBI and meson from bookworm-backports"
	# shellcheck disable=SC2086
	$APT install -t bookworm-backports $BACKPORTS
	[ -z "$(missing)" ] || die "still missing after apt-get install: $(missing | tr '\n' ' ')"
	[ "$(qemu_major)" -ge 10 ] 2>/dev/null ||
		die "QEMU $(qemu_major) is installed; 10 or later is needed (bookworm-backports)"
	meson_ok || die "meson >= 1.5 is needed (bookworm-backports)"
fi

step "deps: newer suites through a private apt configuration ($B/apt)"
# shellcheck disable=SC2086
set -- $FETCH
while [ $# -ge 2 ]; do
	d=$($APT fetch "$1" "$2") || exit 1
	step "deps: $1 from $2: $d"
	shift 2
done
# shellcheck disable=SC2086
set -- $SOURCES
dsc=$($APT source "$@") || exit 1
step "deps: source package $1: $dsc"
step "deps: done (QEMU $(qemu_major), linux-source-6.12 $(dpkg-query -W -f='${Version}' linux-source-6.12))"
