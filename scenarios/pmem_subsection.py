"""Two pmem regions in one 128 MiB section: unbind/rebind in both orders."""
from ._guest import memfill, pmem_regions, xfail_riscv_vmemmap

NAME = "pmem-subsection"
ORDER = 30
CONFIG = ("pmem",)
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage on unbind", subsections=True),
}
M = 1 << 20
RAM = 1280 * M          # regions well below the end of RAM on every machine
SECTION = 768 * M       # offset of the 128 MiB section that holds the regions
ND = "/sys/bus/nd"


def layout(arch):
    # x86 merges adjacent e820 pmem ranges into one: leave a gap there.
    if arch == "x86_64":
        return [(SECTION, 48 * M), (SECTION + 64 * M, 64 * M)]
    return [(SECTION, 64 * M), (SECTION + 64 * M, 64 * M)]


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    regs = layout(t.arch)
    vm = t.boot(mem=RAM // M, ram_limit=SECTION, pmem=regs)
    regions = pmem_regions(vm)
    ns = [r.replace("region", "namespace") + ".0" for _, r in regions]
    want = [t.machine.RAM_BASE + off for off, _ in regs]
    t.check("regions_found", [a for a, _ in regions] == want,
            f"regions at {[hex(a) for a, _ in regions]}, want {[hex(a) for a in want]}")
    if len(ns) != 2:
        return
    drv = f"{ND}/drivers/nd_pmem"

    def bound(n):
        return vm.run(f"test -e {drv}/{n}")[0] == 0

    t.check("both_bound", bound(ns[0]) and bound(ns[1]), "not bound at boot")
    if vm.run("test -e /sys/devices/system/memory/probe")[0] == 0:
        # A bound namespace is a busy resource: probing over it must fail.
        bs = int(vm.sh("cat /sys/devices/system/memory/block_size_bytes"), 16)
        addr = regions[0][0] // bs * bs
        rc, out = vm.run(f"echo {addr:#x} > /sys/devices/system/memory/probe")
        t.check("probe_over_pmem_refused", rc != 0 and "exists" in out,
                f"rc {rc}: {out.strip()[-200:]}")
    for order in ([0, 1], [1, 0]):
        tag = "".join(map(str, order))
        for i in order:
            rc, out = vm.run(f"echo {ns[i]} > {drv}/unbind", timeout=60)
            t.check(f"unbind_{tag}_{ns[i]}", rc == 0 and not bound(ns[i]),
                    out.strip()[-200:])
        for i in reversed(order):
            rc, out = vm.run(f"echo {ns[i]} > {drv}/bind", timeout=60)
            t.check(f"bind_{tag}_{ns[i]}", rc == 0 and bound(ns[i]),
                    out.strip()[-200:])
        # The remaining region's memmap must still be intact.
        rc, out = vm.run("(for p in /dev/pmem*; do dd if=/dev/urandom of=/tmp/x "
                         "bs=1M count=4 2>/dev/null; dd if=/tmp/x of=$p bs=1M "
                         "count=4 conv=fsync 2>/dev/null && dd if=$p bs=1M "
                         "count=4 2>/dev/null | cmp - /tmp/x || exit 1; done)")
        t.check(f"pmem_io_after_{tag}", rc == 0, out.strip()[-200:])
    memfill(t, vm, "memfill", 64)
