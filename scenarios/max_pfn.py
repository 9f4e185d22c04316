"""System RAM added below other hot-added RAM must not lower max_pfn."""
NAME = "max-pfn"
ORDER = 40
CONFIG = ("pmem", "DEV_DAX_PMEM", "DEV_DAX_KMEM", "PROC_PAGE_MONITOR")
from harness.verdict import Xfail

from ._guest import page_size, pmem_regions, xfail_riscv_vmemmap

# Unpatched riscv arch_add_memory() also sets max_pfn to the end of the range just
# added, even below the current max_pfn (kpageflags_covers_high_after_low),
# but base never gets there: turning the raw namespace into devdax Oopses
# first, on the shared vmemmap leaves.
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage when the raw namespace goes for devdax, "
        "before the max_pfn bug can show (see riscv64 upto)"),
    # 7.3: no vmemmap Oops before it (whole sections line up there)
    ("7.3", "riscv64", "base"): Xfail(
        "unpatched riscv arch_add_memory() sets max_pfn to the end of the range "
        "just added, even below the current max_pfn (fixed by 'riscv: mm: do "
        "not lower max_pfn ...')", checks="kpageflags_covers_high_after_low"),
    ("riscv64", "upto"): Xfail(
        "unpatched riscv arch_add_memory() sets max_pfn to the end of the range just "
        "added, even below the current max_pfn (fixed by 'riscv: mm: do not "
        "lower max_pfn ...')", checks="kpageflags_covers_high_after_low"),
}
# ... so the max_pfn bug is shown on the series up to the vmemmap fix.
UPTO = {"riscv64": "riscv: mm: do not share vmemmap PMD leaves"}

M = 1 << 20
# Two pmem regions, each turned into System RAM with dax kmem: the higher
# one first, then the lower one. The dax info block takes the start of a
# namespace, and kmem only adds whole memory blocks: 256 MiB regions give
# one 128 MiB block each.
LOW, HIGH, SIZE = 768 * M, 1024 * M, 256 * M


def kpageflags_bytes(vm, pfn):
    """Bytes /proc/kpageflags returns for pfn (8, or 0 past max_pfn)."""
    out = vm.sh(f"dd if=/proc/kpageflags bs=8 skip={pfn} count=1 "
                f"2>/dev/null | wc -c")
    return int(out.split()[-1])


def to_system_ram(t, vm, region):
    """devdax namespace on region, then kmem; returns the dax device."""
    ns = region.replace("region", "namespace") + ".0"
    rc, out = vm.run(f"ndctl create-namespace -f -e {ns} -m devdax --map=mem",
                     timeout=120)
    if not t.check(f"devdax_{ns}", rc == 0, out.strip()[-300:]):
        return None
    dax = region.replace("region", "dax") + ".0"
    # What daxctl reconfigure-device --mode=system-ram does, through sysfs
    # (daxctl wants the kmem module, which is built into our kernels).
    rc, out = vm.run(f"echo {dax} > /sys/bus/dax/drivers/device_dax/unbind && "
                     f"echo {dax} > /sys/bus/dax/drivers/kmem/new_id", timeout=120)
    t.check(f"kmem_{dax}", rc == 0 and vm.run(
        f"test -e /sys/bus/dax/drivers/kmem/{dax}")[0] == 0, out.strip()[-300:])
    return dax


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    vm = t.boot(mem=1536, ram_limit=LOW, pmem=[(LOW, SIZE), (HIGH, SIZE)])
    regions = pmem_regions(vm)
    base = t.machine.RAM_BASE
    if not t.check("two_regions", [a for a, _ in regions] == [base + LOW, base + HIGH],
                   f"regions: {regions}"):
        return
    page = page_size(vm)
    top_pfn = (base + HIGH + SIZE) // page - 1
    if not to_system_ram(t, vm, regions[1][1]):
        return
    t.check("kpageflags_covers_high", kpageflags_bytes(vm, top_pfn) == 8,
            f"pfn {top_pfn:#x} unreadable after adding the high range")
    if not to_system_ram(t, vm, regions[0][1]):
        return
    n = kpageflags_bytes(vm, top_pfn)
    t.check("kpageflags_covers_high_after_low", n == 8,
            f"read of pfn {top_pfn:#x} returned {n} bytes: max_pfn went back")
    t.note("System RAM after kmem: " + vm.sh(
        "grep -i 'system ram' /proc/iomem | tr '\\n' ' '"))
