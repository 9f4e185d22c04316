#!/bin/bash
# fresh-check.sh [deps|demo|test]: the README's set-up on a fresh Debian 12.
#
# Builds a minimal Debian 12 chroot with mmdebstrap (minbase, apt sources
# only in deb822 form as Debian 12 cloud and container images ship them,
# nothing of ours installed), copies a clean clone of this repository's
# HEAD into it and runs there, as root, the README's install step
# (`apt-get update && apt-get install -y make git`), then `make deps`, then
# a smoke: `make help`, `make list`, the harness self-test and the apt
# fixture test. With `demo` or `test` it goes on to the README's `make
# demo` or `make test`, cold. Prints the time and the disk space of every
# step. The chroot lives in ${MEMHP_FRESH:-/var/tmp/memhp-fresh} and is
# removed at the end (KEEP=1 keeps it); the log is written to
# $MEMHP_FRESH.log.
# Needs root (mmdebstrap, mount, chroot) and the Debian archive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

goal=${1:-deps}
case $goal in deps|demo|test) ;; *) die "usage: fresh-check.sh [deps|demo|test]" ;; esac
[ "$(id -u)" = 0 ] || die "fresh-check.sh needs root (mmdebstrap, mount, chroot)"
root=${MEMHP_FRESH:-/var/tmp/memhp-fresh}
log=$root.log
mirror=$(python3 "$TOP/scripts/apt.py" archive) || exit 1
if ! command -v mmdebstrap >/dev/null; then
	step "fresh: installing mmdebstrap on the host"
	apt-get install -y mmdebstrap >/dev/null 2>&1 ||
		{ apt-get update && apt-get install -y mmdebstrap; } || die "cannot install mmdebstrap"
fi

mounted=()
cleanup() {
	local i
	for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[i]}" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$root"
}
trap cleanup EXIT
[ ! -e "$root" ] || { umount -R -l "$root" 2>/dev/null || true; rm -rf "$root"; }
exec > >(tee "$log") 2>&1

step "fresh: mmdebstrap bookworm (minbase) into $root from $mirror"
sec="${mirror%/debian}/debian-security"
case $mirror in */debian) ;; *) sec=http://deb.debian.org/debian-security ;; esac
mmdebstrap --quiet --variant=minbase bookworm "$root" "deb $mirror bookworm main" \
	--customize-hook='rm -f "$1/etc/apt/sources.list"' \
	--customize-hook="printf '%s\n' 'Types: deb' 'URIs: $mirror' 'Suites: bookworm bookworm-updates' \
		'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
		'Types: deb' 'URIs: $sec' 'Suites: bookworm-security' 'Components: main' \
		'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
		>\"\$1/etc/apt/sources.list.d/debian.sources\""
[ ! -e "$root/etc/apt/sources.list" ] || die "the chroot still has a sources.list"
step "fresh: apt sources of the chroot (deb822 only):"
ls -l "$root/etc/apt/sources.list.d/"
git clone -q --no-hardlinks "$TOP" "$root/root/memhp"
step "fresh: clean clone of $(git -C "$TOP" rev-parse --short HEAD) in /root/memhp"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
for m in proc sys dev dev/pts dev/shm; do
	mkdir -p "$root/$m"
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	sys) mount --rbind /sys "$root/sys" ;;
	*) mount --bind "/$m" "$root/$m" ;;
	esac
	mounted+=("$root/$m")
done

disk() { du -sxm "$root" --exclude=proc --exclude=sys --exclude=dev 2>/dev/null | cut -f1; }
times=()
# in_root NAME CMD: run CMD in the chroot (login shell, HOME=/root), timed
in_root() {
	local name=$1 t0 rc=0 mb0 mb1
	shift
	mb0=$(disk)
	t0=$(date +%s)
	step "fresh: [$name] $*"
	env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 chroot "$root" /bin/bash -c "cd /root/memhp && $*" || rc=$?
	mb1=$(disk)
	times+=("$(printf '%-44s %6ss %+7s MiB  (exit %s)' "$name" "$(( $(date +%s) - t0 ))" "$(( mb1 - mb0 ))" "$rc")")
	[ "$rc" = 0 ] || { printf '%s\n' "${times[@]}"; die "fresh: step '$name' failed (exit $rc)"; }
}

in_root "README install step" 'apt-get update && apt-get install -y make git'
in_root "make deps" 'make deps'
in_root "make deps again (idempotent)" 'make deps && n=$(grep -rh "^Suites:.*bookworm-backports\|^deb .* bookworm-backports" /etc/apt/sources.list.d/ | wc -l) && echo "bookworm-backports entries: $n" && [ "$n" = 1 ]'
in_root "make help" 'make help >/dev/null'
in_root "make list" 'make list'
in_root "harness self-test" 'python3 -m harness.selftest'
in_root "apt fixture test" 'python3 scripts/test_apt.py 2>&1 | tail -n1'
case $goal in
demo) in_root "make demo (cold)" 'make demo' ;;
test) in_root "make test (cold)" 'make test' ;;
esac
step "fresh: all steps passed; times and disk growth of the chroot:"
printf '%s\n' "${times[@]}"
echo "chroot total: $(disk) MiB"
