#!/bin/bash
# deps.sh: install what the harness needs on Debian 12 (as root or with
# sudo). QEMU and OpenSBI come from bookworm-backports (QEMU 10: virtio-mem
# on arm64 virt); the kernel source is bookworm's own linux-source-6.12.
# Does nothing when everything is already installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BACKPORTS="qemu-system-arm qemu-system-misc qemu-system-x86 opensbi"
PKGS="linux-source-6.12 build-essential bc bison flex libssl-dev libelf-dev
	gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu libc6-dev-arm64-cross
	libc6-dev-riscv64-cross qemu-efi-aarch64 device-tree-compiler ccache
	cpio xz-utils zstd git python3 perl mmdebstrap debian-archive-keyring
	kmod rsync procps"

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
ETC=${MEMHP_APT_ETC:-/etc/apt}
sources_only=
[ "${1:-}" = --sources-only ] && sources_only=1

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

if [ -z "$sources_only" ] && [ -z "$(missing)" ] && [ "$(qemu_major)" -ge 10 ] 2>/dev/null; then
	step "deps: all installed (QEMU $(qemu_major))"
	exit 0
fi

# bookworm-backports from the same archive as the host's bookworm entries
if ! grep -rqs 'bookworm-backports' $ETC/sources.list $ETC/sources.list.d/; then
	uri=$(grep -rhs -A3 -E '^(URIs:|deb )' $ETC/sources.list $ETC/sources.list.d/ |
		grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n1)
	[ -n "$uri" ] || die "cannot find the host's Debian archive in /etc/apt to add bookworm-backports"
	step "deps: adding bookworm-backports ($uri)"
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$uri" | $sudo tee $ETC/sources.list.d/memhp-backports.sources >/dev/null
fi
[ -z "$sources_only" ] || exit 0
step "deps: apt-get update"
$sudo apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
step "deps: installing QEMU and OpenSBI from bookworm-backports"
# shellcheck disable=SC2086
$sudo apt-get install -y -qq -t bookworm-backports $BACKPORTS >/dev/null
step "deps: installing toolchains, kernel source and tools"
# shellcheck disable=SC2086
$sudo apt-get install -y -qq $PKGS >/dev/null
[ -z "$(missing)" ] || die "still missing: $(missing | tr '\n' ' ')"
step "deps: done (QEMU $(qemu_major), $SRCPKG $(dpkg-query -W -f='${Version}' $SRCPKG))"
