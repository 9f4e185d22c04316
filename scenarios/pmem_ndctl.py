"""Four pmem regions in one 128 MiB section: ndctl create/disable/enable/destroy and sysfs, in mixed orders."""
import time

from ._guest import pmem_regions, xfail_riscv_vmemmap

NAME = "pmem-ndctl"
ORDER = 31
CONFIG = ("pmem", "ND_PFN", "DEV_DAX_PMEM")
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage when a namespace's memmap goes", subsections=True),
}
TIMEOUT = 600
M = 1 << 20
RAM = 1280 * M
SECTION = 768 * M       # offset of the 128 MiB section that holds the regions
# Regions at 2 MiB-aligned offsets, 2 MiB apart (x86 merges adjacent
# memmap= ranges into one region), sizes in 16 MiB steps (namespaces are
# aligned to 16 MiB on x86).
LAYOUT = [(SECTION + off * M, size * M) for off, size in
          ((0, 16), (18, 32), (52, 16), (70, 48))]
ND = "/sys/bus/nd"


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    vm = t.boot(mem=RAM // M, ram_limit=SECTION, pmem=LAYOUT)
    regions = pmem_regions(vm)
    want = [t.machine.RAM_BASE + off for off, _ in LAYOUT]
    if not t.check("regions_found", [a for a, _ in regions] == want,
                   f"regions at {[hex(a) for a, _ in regions]}, want "
                   f"{[hex(a) for a in want]}"):
        return
    ns = [r.replace("region", "namespace") + ".0" for _, r in regions]
    mode = {}           # namespace index -> mode it is in while enabled

    def nd(name, cmd):
        rc, out = vm.run(f"ndctl {cmd}", timeout=120)
        return t.check(name, rc == 0, f"ndctl {cmd}: rc {rc}: {out.strip()[-300:]}")

    # 4 MiB of test data, made once: urandom is slow under TCG
    vm.sh("dd if=/dev/urandom of=/tmp/x bs=1M count=4 2>/dev/null")

    def io_check(tag):
        """Write and read back 4 MiB on every namespace with a block device:
        their memmaps (in the same section) must be intact. A namespace's
        pmemN is found through sysfs (its own device when raw, its pfn
        device's "namespace" when fsdax), in the same guest command."""
        want = [ns[i] for i in sorted(mode) if mode[i] != "devdax"]
        if not want:
            t.check(f"io_{tag}", True, "")
            return
        out = vm.run(
            "for b in /sys/block/pmem*; do [ -e $b ] || continue; "
            "d=$(readlink -f $b/device); "
            "echo $(cat $d/namespace 2>/dev/null || basename $d) ${b##*/}; "
            "done > /tmp/nsdev; "
            f"for n in {' '.join(want)}; do "
            "dev=; while read -r a b; do [ $a = $n ] && dev=$b; done < /tmp/nsdev; "
            "if [ -z \"$dev\" ]; then echo BAD $n: no block device; continue; fi; "
            "dd if=/tmp/x of=/dev/$dev bs=1M count=4 conv=fsync 2>/dev/null && "
            "dd if=/dev/$dev bs=1M count=4 2>/dev/null | cmp - /tmp/x || "
            "echo BAD $n $dev; done", timeout=120)[1]
        bad = [line for line in out.splitlines() if "BAD" in line]
        t.check(f"io_{tag}", not bad, "; ".join(bad))

    phases, t0 = [], [time.monotonic()]

    def phase(name):
        now = time.monotonic()
        phases.append(f"{name} {now - t0[0]:.0f}s")
        t0[0] = now

    # 1. all four to fsdax with the memmap in RAM, in address order
    for i in range(4):
        if nd(f"fsdax_{i}", f"create-namespace -f -e {ns[i]} -m fsdax --map=mem"):
            mode[i] = "fsdax"
    io_check("fsdax_all")
    phase("fsdax")
    # 2. disable in a mixed order; the others keep working
    for i in (2, 0, 3):
        if nd(f"disable_{i}", f"disable-namespace {ns[i]}"):
            mode.pop(i, None)
        io_check(f"after_disable_{i}")
    # 3. enable again in another order
    for i in (3, 0, 2):
        if nd(f"enable_{i}", f"enable-namespace {ns[i]}"):
            mode[i] = "fsdax"
    io_check("after_enable")
    phase("disable/enable")
    # 4. destroy (the info blocks go, the label-less namespaces stay as raw
    # space) in another order, then devdax, then raw
    for i in (1, 3, 0, 2):
        if nd(f"destroy_{i}", f"destroy-namespace -f {ns[i]}"):
            mode.pop(i, None)
        io_check(f"after_destroy_{i}")
    phase("destroy")
    for i in (0, 2, 1, 3):
        if nd(f"devdax_{i}", f"create-namespace -f -e {ns[i]} -m devdax --map=mem"):
            mode[i] = "devdax"
        rc, _ = vm.run(f"test -c /dev/{regions[i][1].replace('region', 'dax')}.0")
        t.check(f"devdax_chardev_{i}", rc == 0, "no dax character device")
    for i in (3, 1, 2, 0):
        if nd(f"raw_{i}", f"create-namespace -f -e {ns[i]} -m raw"):
            mode[i] = "raw"
    io_check("after_raw")
    phase("devdax/raw")
    # 5. raw sysfs on top: unbind/bind the nd_pmem driver in a mixed order
    # (an unbind frees the namespace's memmap: check the others after it)
    drv = f"{ND}/drivers/nd_pmem"
    for op, i in (("unbind", 1), ("unbind", 3), ("bind", 1), ("unbind", 0),
                  ("bind", 3), ("bind", 0)):
        rc, out = vm.run(f"echo {ns[i]} > {drv}/{op}", timeout=60)
        bound = vm.run(f"test -e {drv}/{ns[i]}")[0] == 0
        t.check(f"sysfs_{op}_{i}", rc == 0 and bound == (op == "bind"),
                out.strip()[-200:])
        if op == "bind":
            mode[i] = "raw"
        else:
            mode.pop(i, None)
            io_check(f"after_sysfs_{op}_{i}")
    io_check("at_end")
    phase("sysfs")
    t.note("time per phase: " + ", ".join(phases))
    t.note("namespaces at the end:\n" + vm.sh(
        "ndctl list -N | grep -e '\"dev\"' -e mode -e blockdev; true"))
