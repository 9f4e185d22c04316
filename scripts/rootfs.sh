#!/bin/bash
# rootfs.sh ARCH LINUX_TREE OUT_INITRD: the guest initramfs, two newc cpio
# archives back to back (the kernel unpacks them in turn):
#  - a Debian trixie userland, extracted without emulation and trimmed,
#    cached in $B/rootfs/ per arch and per version of the part of this
#    script that makes it;
#  - an overlay made every time: /init, our guest programs (guest/*.c) and
#    the tree's memory-hotplug selftests, all static.
# rootfs.sh --base ARCH only makes (or finds) the cached Debian part: it
# needs no kernel tree, so it can run while the kernels build. rootfs.sh
# --track ARCH makes the initramfs of the track BASE (its series' tree,
# its kernels, its initrd/ARCH.cpio).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: rootfs.sh ARCH LINUX_TREE OUT_INITRD | rootfs.sh --base ARCH | rootfs.sh --track ARCH"
base_only=
if [ "${1:-}" = --base ]; then
	[ $# = 2 ] || die "$usage"
	base_only=1 arch=$2
elif [ "${1:-}" = --track ]; then
	# the track's (BASE) series tip, into the track's initrd
	[ $# = 2 ] || die "$usage"
	git -C "$LINUX" rev-parse -q --verify series >/dev/null ||
		die "no work tree at $LINUX: make tree BASE=$BASE"
	worktree "$T/src/linux" "$(git -C "$LINUX" rev-parse series)"
	arch=$2 tree=$T/src/linux out=$T/initrd/$2.cpio
	selftests=$tree/tools/testing/selftests
else
	[ $# = 3 ] || die "$usage"
	arch=$1 tree=$(cd "$2" && pwd) out=$3
	selftests=$tree/tools/testing/selftests
	[ -f "$selftests/kselftest.h" ] || die "$tree: no tools/testing/selftests/kselftest.h"
fi
cross=$(cross_prefix "$arch")
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (make deps)"
mkdir -p "$B/rootfs"
work=$(mktemp -d "$B/rootfs/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

# >>> base: this part (up to the end marker) is hashed into the cache key
PKGS="busybox-static util-linux ndctl daxctl stress-ng numactl kmod bash bc coreutils"
# bash and bc: mem-on-off-test.sh runs under bash and calls bc; coreutils:
# run_kselftest.sh wants GNU timeout (--foreground; busybox has none)
TRIM="usr/share/doc usr/share/man usr/share/info usr/share/locale
	usr/share/lintian usr/share/bug usr/share/bash-completion usr/share/gdb
	usr/share/X11 usr/share/perl5 usr/share/debconf usr/share/common-licenses
	usr/share/doc-base usr/share/initramfs-tools usr/share/pam-configs
	usr/share/glvnd usr/share/drirc.d usr/share/vulkan usr/share/libdrm
	usr/include var/cache var/lib/apt var/log"

debarch() {
	case $1 in arm64) echo arm64 ;; riscv64) echo riscv64 ;; x86_64) echo amd64 ;; esac
}

# The Debian archive the host uses (scripts/apt.py: the host's first
# bookworm entry, or MEMHP_DEBIAN_MIRROR).
host_mirror() { python3 "$TOP/scripts/apt.py" archive; }

# Every shared library reachable through DT_NEEDED from the executables
# (and from the libraries kept on purpose) stays, the others go: this drops
# Mesa/LLVM, which stress-ng's GPU stressor only reaches through dlopen().
# Fails when an executable needs a library that is not in the tree.
prune_libs() {
	python3 - "$1" <<'EOF'
import os, subprocess, sys

root = sys.argv[1]
libdirs = [d for d in ("usr/lib/" + t for t in os.listdir(root + "/usr/lib"))
           if os.path.isdir(root + "/" + d) and d.endswith("-linux-gnu")]
libdirs += ["usr/lib", "usr/lib64"]
# dlopen()ed by what we use: kmod's decompressors, PAM for su/runuser
keep_names = ("libzstd.so", "liblzma.so", "libz.so")

def elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"

def needed(path):
    out = subprocess.run(["readelf", "-dW", path], capture_output=True,
                         text=True).stdout
    return [l.split("[")[1].rstrip("]") for l in out.splitlines()
            if "(NEEDED)" in l]

files, todo = set(), []
for dirpath, dirs, names in os.walk(root + "/usr"):
    for n in names:
        p = os.path.join(dirpath, n)
        if os.path.islink(p) or not os.path.isfile(p) or not elf(p):
            continue
        if ".so" not in n or "/security/" in p or n.startswith(keep_names):
            todo.append(p)
kept, missing = set(), []
while todo:
    p = os.path.realpath(todo.pop())
    if p in kept:
        continue
    kept.add(p)
    for lib in needed(p):
        for d in libdirs:
            cand = os.path.join(root, d, lib)
            if os.path.exists(cand):
                # resolve inside the tree: symlinks there are relative
                todo.append(cand)
                break
        else:
            missing.append(f"{p[len(root):]}: {lib}")
if missing:
    sys.exit("missing libraries:\n  " + "\n  ".join(missing))
gone = 0
for d in libdirs:
    for dirpath, dirs, names in os.walk(root + "/" + d):
        if "/security" in dirpath:
            continue
        for n in names:
            p = os.path.join(dirpath, n)
            if ".so" in n and not os.path.islink(p) and os.path.isfile(p) \
               and elf(p) and os.path.realpath(p) not in kept \
               and not n.startswith("ld-linux"):
                os.unlink(p)
                gone += 1
# dangling library symlinks (relative ones; exists() follows them)
for d in libdirs:
    for dirpath, dirs, names in os.walk(root + "/" + d):
        for n in names:
            p = os.path.join(dirpath, n)
            t = os.path.islink(p) and os.readlink(p)
            if t and not t.startswith("/") and not os.path.exists(p):
                os.unlink(p)
print(f"{len(kept)} ELF files kept, {gone} unused libraries removed")
EOF
}

# Names of the applets in a busybox binary, read from its name table (a
# NUL-separated sorted list that starts with "[" and "[["), so that no
# foreign-arch binary has to run.
busybox_applets() {
	python3 - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
i = data.find(b"[\0[[\0")
if i < 0:
    sys.exit("no applet table in " + sys.argv[1])
names = []
for n in data[i:].split(b"\0"):
    if not re.fullmatch(rb"[][a-z0-9_.-]+", n):
        break
    names.append(n.decode())
if len(names) < 50 or "sh" not in names:
    sys.exit("applet table of %s looks wrong" % sys.argv[1])
print("\n".join(names))
EOF
}

build_base() {
	local dir=$1 mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg d a
	mirror=$(host_mirror) || exit 1
	[ -f "$keyring" ] || die "$keyring missing (install debian-archive-keyring)"
	# trixie's Release is signed by the trixie keys and also by the bookworm
	# archive key; apt needs one good signature by a key of $keyring.
	[ -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ] ||
		step "rootfs: host keyring has no trixie key; relying on the bookworm key's signature"
	step "rootfs: $arch: mmdebstrap trixie ($(debarch "$arch")) from $mirror"
	mmdebstrap --quiet --variant=extract --arch="$(debarch "$arch")" \
		--include="${PKGS// /,}" trixie "$dir" \
		"deb [signed-by=$keyring] $mirror trixie main" ||
		die "mmdebstrap failed for $arch"
	# shellcheck disable=SC2086
	(cd "$dir" && rm -rf $TRIM && mkdir -p var/cache var/log var/lib/apt)
	rm -rf "$dir"/usr/lib/*-linux-gnu/gconv "$dir"/usr/lib/*-linux-gnu/dri
	prune_libs "$dir" | while read -r l; do step "rootfs: $arch: $l"; done
	# merged /usr: trixie packages ship under /usr only; base-files (not
	# extracted here) would make the aliases. Merge stray top-level dirs too.
	for d in bin sbin lib lib64; do
		if [ -d "$dir/$d" ] && [ ! -L "$dir/$d" ]; then
			mkdir -p "$dir/usr/$d"
			cp -a "$dir/$d/." "$dir/usr/$d/" && rm -rf "${dir:?}/$d"
		fi
		[ -e "$dir/usr/$d" ] && ln -sfn "usr/$d" "$dir/$d"
	done
	# busybox for every command the packages do not provide, /bin/sh too
	a=0
	while read -r d; do
		[ -e "$dir/usr/bin/$d" ] || [ -e "$dir/usr/sbin/$d" ] || {
			ln -s busybox "$dir/usr/bin/$d"; a=$((a + 1)); }
	done < <(busybox_applets "$dir/usr/bin/busybox")
	[ "$(readlink "$dir/usr/bin/sh")" = busybox ] || die "/bin/sh is not busybox"
	step "rootfs: $arch: $a busybox applet links"
	mkdir -p "$dir"/{proc,sys,dev,tmp,run,root,mnt,etc}
	echo memhp > "$dir/etc/hostname"
	[ -e "$dir/etc/passwd" ] || echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
	[ -e "$dir/etc/group" ] || echo 'root:x:0:' > "$dir/etc/group"
}
# <<< base

key=$(sed -n '/^# >>> base/,/^# <<< base/p' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
base=$B/rootfs/$arch-$key.cpio
if [ -f "$base" ]; then
	step "rootfs: $arch: cached base $(basename "$base")"
else
	build_base "$work/base"
	(cd "$work/base" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) > "$work/base.cpio"
	mv "$work/base.cpio" "$base"
	rm -rf "$work/base"
	# older bases of this arch are of no use any more
	find "$B/rootfs" -maxdepth 1 -name "$arch-*.cpio" ! -path "$base" -delete
	step "rootfs: $arch: base $(du -h "$base" | cut -f1)"
fi
[ -z "$base_only" ] || exit 0

# Kernel UAPI headers of this tree ($(KHDR_INCLUDES) of the selftests), only
# when there is a selftest to build; cached per arch and tree.
hdr=
if compgen -G "$selftests/memory-hotplug/*.c" >/dev/null; then
	hdr=$B/rootfs/hdr/$arch-$(echo "$tree" | sha256sum | cut -c1-8)
	step "rootfs: $arch: kernel headers (headers_install)"
	make -s -C "$tree" O="$hdr" ARCH="$(karch "$arch")" -j"$(nproc)" \
		headers_install >/dev/null || die "headers_install failed"
fi

ov=$work/overlay
mkdir -p "$ov/dev" "$ov/usr/local/bin" "$ov/selftests/memory-hotplug"
mknod -m 600 "$ov/dev/console" c 5 1
install -m 755 "$TOP/guest/init" "$ov/init"
# no host paths in the binaries (the harness's __FILE__ in messages)
cflags=(-static -O2 -Wall -D_GNU_SOURCE= -I"$selftests" -ffile-prefix-map="$tree/=" \
	-ffile-prefix-map="$TOP/=")
[ -z "$hdr" ] || cflags+=(-isystem "$hdr/usr/include")
build_prog() { "${cross}gcc" "${cflags[@]}" -o "$1" "$2" || die "compiling $2 for $arch failed"; }
for c in "$TOP"/guest/*.c; do
	build_prog "$ov/usr/local/bin/$(basename "$c" .c)" "$c"
done
for f in "$selftests"/memory-hotplug/*; do
	case $f in
	*.c) build_prog "$ov/selftests/memory-hotplug/$(basename "$f" .c)" "$f" ;;
	*) cp -p "$f" "$ov/selftests/memory-hotplug/" ;;
	esac
done
# The same selftests as kernel CI installs them: the tree's own kselftest
# install target (static, for this arch) with run_kselftest.sh, in /kselftest.
if [ -f "$selftests/run_kselftest.sh" ]; then
	kst=$work/kselftest-build
	make -s -C "$selftests" TARGETS=memory-hotplug ARCH="$(karch "$arch")" \
		CROSS_COMPILE="$cross" O="$kst" INSTALL_PATH="$ov/kselftest" \
		${hdr:+KHDR_INCLUDES="-isystem $hdr/usr/include"} USERLDFLAGS=-static \
		USERCFLAGS="-ffile-prefix-map=$tree/=" install >"$work/kselftest.log" 2>&1 ||
		{ tail -n 20 "$work/kselftest.log" >&2; die "kselftest install (memory-hotplug) failed for $arch"; }
	[ -x "$ov/kselftest/run_kselftest.sh" ] || die "kselftest install left no run_kselftest.sh"
	step "rootfs: $arch: kselftest install: $(tr '\n' ' ' < "$ov/kselftest/kselftest-list.txt")"
fi
# modules.builtin(.modinfo) of every kernel built for this arch (base,
# patched, ...: they share this rootfs and the release string), each with
# the kernel's `uname -v`. /init installs the one of the running kernel in
# /lib/modules/$(uname -r) and runs depmod, so that tools that look modules
# up through libkmod (daxctl: kmem) find them built in.
kdir=$ov/usr/lib/memhp/kernels
for k in "$T/out/$arch"-*/; do
	kind=$(basename "$k") img=$k/vmlinux
	[ -f "$k/modules.builtin" ] && [ -f "$k/modules.builtin.modinfo" ] &&
		[ -f "$k/boot-image" ] || continue
	[ -f "$img" ] || img=$k/boot-image
	# UTS_VERSION: linux_banner in vmlinux/Image, kernel_version in bzImage
	uts=$(grep -a -o -m1 -E '#[0-9]+ SMP[[:print:]]*' "$img" | head -n1) || true
	[ -n "$uts" ] || { step "rootfs: $arch: no version string in $img"; continue; }
	mkdir -p "$kdir/${kind#"$arch"-}"
	cp "$k/modules.builtin" "$k/modules.builtin.modinfo" "$kdir/${kind#"$arch"-}/"
	echo "$uts" > "$kdir/${kind#"$arch"-}/uts-version"
	step "rootfs: $arch: modules.builtin of $kind ($uts)"
done
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
	> "$work/overlay.cpio"

mkdir -p "$(dirname "$out")"
cat "$base" "$work/overlay.cpio" > "$out.tmp" && mv "$out.tmp" "$out"
step "rootfs: $arch: $out: $(du -h "$out" | cut -f1)" \
	"(base $(du -h "$base" | cut -f1), overlay $(du -h "$work/overlay.cpio" | cut -f1))"
