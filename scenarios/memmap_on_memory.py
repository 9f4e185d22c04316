"""memmap_on_memory=1: hot-added memory carries its own memmap (vmemmap pages counted), removal gives it back."""
import time

from harness.verdict import Xfail

from ._guest import (block_size, block_states, blocks_in, eject, meminfo_kb, memfill,
                     page_size, region_to_kmem, wait_blocks_state)

NAME = "memmap-on-memory"
ORDER = 38
CONFIG = ("acpi", "ACPI_HOTPLUG_MEMORY", "MHP_MEMMAP_ON_MEMORY", "pmem", "DEV_DAX_PMEM",
          "DEV_DAX_KMEM")
# Unpatched 6.12 riscv64 does not select HAVE_ALIGNED_STRUCT_PAGE and our
# kernels have no MEMCG: struct page is 56 bytes, so a 128 MiB block's
# memmap (1.75 MiB) does not cover whole pageblocks and
# mhp_supports_memmap_on_memory() refuses; the memmap goes to other memory.
_RV = ("riscv64 struct page is 56 bytes (no HAVE_ALIGNED_STRUCT_PAGE, no MEMCG): "
       "a block's memmap (1.75 MiB) is not PMD-sized, memmap_on_memory is not used "
       "(fixed by 'riscv: select HAVE_ALIGNED_STRUCT_PAGE', as mainline has it)")
XFAIL = {("riscv64", "base"): Xfail(_RV, checks=("memmap_not_in_memtotal",
                                                 "memmap_pages_at_block_start")),
         # 7.3 riscv selects HAVE_ALIGNED_STRUCT_PAGE: 64 bytes, whole leaves
         ("7.3", "riscv64", "base"): None,
         ("7.3", "arm64", "base"): Xfail(
             "7.3 refuses to offline a memmap_on_memory block: the leaf-split "
             "check looks at the first page after the block's own memmap, "
             "inside a vmemmap PMD leaf (fixed by 'arm64: mm: check leaf edges "
             "at memory block boundaries before offline')",
             checks="device_del", log=r"splits a leaf entry in vmemmap")}
TIMEOUT = 600
M = 1 << 20
SIZE = 1024 * M
APPEND = "memory_hotplug.memmap_on_memory=1 memhp_default_state=online_movable"
# /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h)
KPF_LRU, KPF_ANON, KPF_BUDDY, KPF_MMAP, KPF_SLAB = 5, 12, 10, 11, 7
IN_USE_OR_FREE = (1 << KPF_LRU) | (1 << KPF_ANON) | (1 << KPF_BUDDY) | \
    (1 << KPF_MMAP) | (1 << KPF_SLAB)


def page_flags(vm, pfn, count):
    """{kpageflags value: number of pages} for count pages from pfn."""
    out = vm.sh(f"dd if=/proc/kpageflags bs=8 skip={pfn} count={count} 2>/dev/null "
                "| od -A n -v -t x8 | tr -s ' ' '\\n' | grep . | sort | uniq -c")
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and all(c in "0123456789abcdef" for c in f[1]):
            res[int(f[1], 16)] = res.get(int(f[1], 16), 0) + int(f[0])
    return res


def add_dimm(t, vm):
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram", "id": "m1",
                                    "size": SIZE})
    vm.qmp.execute("device_add", driver="pc-dimm", id="d1", memdev="m1")
    dev = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
               if d["data"].get("id") == "d1")
    return blocks_in(vm, dev["addr"], dev["size"])


def remove_dimm(t, vm):
    outcome, info = eject(vm, "d1")
    if not t.check("device_del", outcome == "deleted", f"{outcome} {info or ''}: " +
                   vm.sh("dmesg | grep -i -e offline -e eject | tail -n 3; true")):
        return False
    vm.qmp.execute("object-del", id="m1")
    return True


def add_kmem(t, vm):
    got = region_to_kmem(t, vm, "kmem_system_ram", "--no-online --force ")
    if not got:
        return None
    t.dax, blocks = got
    return blocks


def remove_kmem(t, vm):
    rc, out = vm.run(f"daxctl offline-memory {t.dax} && "
                     f"daxctl reconfigure-device -m devdax {t.dax}", timeout=300)
    return t.check("kmem_removed", rc == 0, out.strip()[-300:])


def run(t):
    # pc-dimm where the machine has it; else (riscv64 with Debian's QEMU)
    # dax kmem, which also asks for the memmap on the added memory (the
    # sysfs probe interface does not).
    dimm = "acpi-dimm" in t.features
    if dimm:
        vm = t.boot(acpi=True, mem=1024, slots=2, maxmem=1024 + SIZE // M,
                    append=APPEND)
    else:
        t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
        vm = t.boot(mem=768 + SIZE // M + 128 + 256, ram_limit=768 * M,
                    pmem=[(768 * M, SIZE + 128 * M)], append=APPEND)
    param = vm.sh("cat /sys/module/memory_hotplug/parameters/memmap_on_memory").strip()
    t.check("param_on", param == "Y", f"memmap_on_memory: {param}")
    bs = block_size(vm)
    before = meminfo_kb(vm)
    t0 = time.monotonic()
    blocks = add_dimm(t, vm) if dimm else add_kmem(t, vm)
    if not blocks:
        return
    wait_blocks_state(vm, blocks, "online")
    t_add = time.monotonic() - t0
    st = block_states(vm, blocks)
    if not t.check("blocks_online_movable", all(v == ("online", "Movable")
                                                for v in st.values()), f"{st}"):
        return
    grown = meminfo_kb(vm)
    size = len(blocks) * bs
    missing = size - (grown - before) * 1024
    page = page_size(vm)
    per_block = missing // len(blocks) // page
    t.note(f"{'pc-dimm' if dimm else 'dax kmem'}: {len(blocks)} blocks online in "
           f"{t_add:.1f}s; MemTotal +{(grown - before) >> 10} MiB of {size >> 20} MiB: "
           f"{missing >> 10} KiB not managed, {per_block} pages a block")
    # The memmap of each block sits in its first pages: not in MemTotal,
    # 64 bytes (or so) per page of the block.
    t.check("memmap_not_in_memtotal",
            missing > 0 and missing % (len(blocks) * page) == 0 and
            bs // page * 40 <= per_block * page <= bs // page * 128,
            f"MemTotal grew by {(grown - before)} kB for {size >> 10} kB of blocks "
            f"({per_block} pages a block)")
    bad = []
    for b in blocks:
        first = page_flags(vm, b * bs // page, per_block) if per_block else {}
        rest = page_flags(vm, b * bs // page + per_block, 2048)
        if len(first) != 1 or any(f & IN_USE_OR_FREE for f in first):
            bad.append(f"block {b}: first {per_block} pages have flags "
                       f"{ {hex(k): v for k, v in first.items()} }")
        if not any(f & IN_USE_OR_FREE for f in rest):
            bad.append(f"block {b}: no free or used page after the memmap")
    t.check("memmap_pages_at_block_start", not bad, "; ".join(bad[:3]))
    first = page_flags(vm, blocks[0] * bs // page, max(per_block, 1))
    t.note(f"kpageflags of the first {per_block} pages of block {blocks[0]}: "
           f"{ {hex(k): v for k, v in first.items()} }")
    memfill(t, vm, "memfill", 512, (blocks[0] * bs, size), need_mib=128)

    t0 = time.monotonic()
    ok = remove_dimm(t, vm) if dimm else remove_kmem(t, vm)
    t_del = time.monotonic() - t0
    if not ok:
        return
    st = block_states(vm, blocks)
    t.check("blocks_removed", all(s is None for s, _ in st.values()), f"{st}")
    after = meminfo_kb(vm)
    t.check("memtotal_restored", after == before, f"MemTotal {before} -> {after} kB")
    t.note(f"removed in {t_del:.1f}s")
    t.note("iomem/zoneinfo at the end:\n" + vm.sh(
        "grep -i 'system ram' /proc/iomem; grep -A4 'zone  *Movable' /proc/zoneinfo "
        "| head -n 5; true"))
