"""Memory added below other hot-added memory must not lower max_pfn."""
NAME = "max-pfn"
ORDER = 40
ARCHES = ["arm64", "riscv64", "x86_64"]
ARCH_SKIP = {}
XFAIL = {
    ("riscv64", "base"): "6.12 riscv arch_add_memory() sets max_pfn to the "
    "end of the range just added, even below the current max_pfn",
}
M = 1 << 20
# Two pmem regions of a whole section each, so that rebinding one does not
# go through sub-section hotplug (that has its own scenario).
LOW, HIGH = 768 * M, 896 * M
SIZE = 128 * M
ND = "/sys/bus/nd"


def kpageflags_bytes(vm, pfn):
    """Bytes /proc/kpageflags returns for pfn (8, or 0 past max_pfn)."""
    out = vm.sh(f"dd if=/proc/kpageflags bs=8 skip={pfn} count=1 "
                f"2>/dev/null | wc -c")
    return int(out.split()[-1])


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    vm = t.boot(mem=1280, ram_limit=LOW, pmem=[(LOW, SIZE), (HIGH, SIZE)])
    out = vm.sh(f"for r in {ND}/devices/region*; do "
                f"echo $(cat $r/resource) $(basename $r); done")
    regions = sorted((int(a, 16), r) for a, r in
                     (line.split() for line in out.splitlines() if line.strip()))
    base = t.machine.RAM_BASE
    if not t.check("two_regions", [a for a, _ in regions] == [base + LOW, base + HIGH],
                   f"regions: {regions}"):
        return
    page = int(vm.sh("grep -m1 KernelPageSize /proc/self/smaps").split()[1]) * 1024
    top_pfn = (base + HIGH + SIZE) // page - 1
    t.check("kpageflags_covers_high_at_boot", kpageflags_bytes(vm, top_pfn) == 8,
            f"pfn {top_pfn:#x} not readable after boot")
    low_ns = regions[0][1].replace("region", "namespace") + ".0"
    drv = f"{ND}/drivers/nd_pmem"
    vm.sh(f"echo {low_ns} > {drv}/unbind")
    vm.sh(f"echo {low_ns} > {drv}/bind")
    t.check("low_rebound", vm.run(f"test -e {drv}/{low_ns}")[0] == 0)
    n = kpageflags_bytes(vm, top_pfn)
    t.check("kpageflags_covers_high_after_low_add", n == 8,
            f"read of pfn {top_pfn:#x} returned {n} bytes: max_pfn went back")
