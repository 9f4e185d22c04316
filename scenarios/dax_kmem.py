"""dax kmem with daxctl: pmem to System RAM, use, offline-memory, back to devdax, twice."""
import time

from ._guest import (block_size, block_states, dax_span, json_in, kmem_blocks, lsmem_vs_sysfs,
                     meminfo_kb, memfill, pmem_regions, to_devdax, xfail_riscv_vmemmap, WHOLE_SECTIONS_FIXED_IN_7_3)

NAME = "dax-kmem"
ORDER = 35
CONFIG = ("pmem", "DEV_DAX_PMEM", "DEV_DAX_KMEM")
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage when the raw namespace goes for devdax"),
    # whole sections only: fine on 7.3 (64-byte struct page)
    **WHOLE_SECTIONS_FIXED_IN_7_3,
}
TIMEOUT = 600
M = 1 << 20
# One 512 MiB pmem region above 768 MiB of RAM (DT pmem-region with the RAM
# node cut or mem= on arm64/riscv64, memmap=512M!768M on x86_64). The dax
# info block takes the start, kmem adds the whole blocks after it.
RAM, REGION, SIZE = 768 * M, 768 * M, 512 * M


CTL = "/sys/kernel/debug/memory_hotplug_test"


def test_module_keeps_off(t, vm, blocks, bs):
    """The series' test module removes only what it added or boot memory:
    memory that dax kmem owns is refused with EPERM and stays as it was."""
    rng = f"{blocks[0] * bs:#x} {len(blocks) * bs:#x}"
    rc, out = vm.run(f"echo '{rng}' > {CTL}/remove")
    st = block_states(vm, blocks)
    t.check("test_module_refuses_kmem_memory",
            rc != 0 and "not permitted" in out and
            all(s == ("online", "Movable") for s in st.values()),
            f"remove {rng}: rc {rc}: {out.strip()[-200:]}; blocks {st}")


def daxctl(t, vm, name, args):
    """Runs daxctl; records rc == 0; returns (ok, device JSON or None)."""
    t0 = time.monotonic()
    rc, out = vm.run(f"daxctl {args}", timeout=300)
    dt = time.monotonic() - t0
    ok = t.check(name, rc == 0, f"daxctl {args}: rc {rc}: {out.strip()[-300:]}")
    t.note(f"daxctl {args}: {dt:.1f}s")
    doc = json_in(out)
    if isinstance(doc, list):
        doc = doc[0] if doc else None
    return ok, doc


def dev_json(vm, dax):
    doc = json_in(vm.sh(f"daxctl list -d {dax}"))
    return doc[0] if isinstance(doc, list) and doc else doc or {}


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    # guest RAM goes on above the region (the end of RAM is firmware's on q35)
    vm = t.boot(mem=(RAM + SIZE) // M + 256, ram_limit=RAM, pmem=[(REGION, SIZE)])
    regions = pmem_regions(vm)
    want = t.machine.RAM_BASE + REGION
    if not t.check("region_found", [a for a, _ in regions] == [want],
                   f"regions {[hex(a) for a, _ in regions]}, want {want:#x}"):
        return
    dax = to_devdax(t, vm, regions[0][1])
    if not dax:
        return
    blocks = kmem_blocks(vm, dax)
    span = dax_span(vm, dax)
    bs = block_size(vm)
    t.note(f"{dax}: {span[0]:#x}+{span[1] >> 20} MiB, whole blocks {blocks}")
    if not t.check("blocks_in_range", len(blocks) >= 2, f"blocks {blocks}"):
        return
    base_kb = meminfo_kb(vm)

    for rnd in (1, 2):
        tag = f"r{rnd}_"
        if rnd == 1:
            # daxctl onlines the blocks itself (movable by default)
            ok, dev = daxctl(t, vm, tag + "to_system_ram",
                             f"reconfigure-device --mode=system-ram {dax}")
        else:
            # this time the blocks stay offline, daxctl onlines them after
            ok, dev = daxctl(t, vm, tag + "to_system_ram_no_online",
                             f"reconfigure-device --mode=system-ram --no-online {dax}")
            st = block_states(vm, blocks)
            t.check(tag + "offline_after_no_online",
                    all(s == "offline" for s, _ in st.values()), f"{st}")
            ok2, _ = daxctl(t, vm, tag + "online_memory", f"online-memory {dax}")
            ok = ok and ok2
            dev = dev_json(vm, dax)
        if not ok:
            return
        t.check(tag + "mode_system_ram", dev and dev.get("mode") == "system-ram",
                f"{dev}")
        n = (dev or {}).get("total_memblocks")
        t.check(tag + "all_memblocks_online",
                n == len(blocks) and dev.get("online_memblocks") == n
                and dev.get("movable") is True, f"{dev}, want {len(blocks)} blocks")
        st = block_states(vm, blocks)
        t.check(tag + "blocks_online_movable",
                all(s == ("online", "Movable") for s in st.values()), f"{st}")
        grown = meminfo_kb(vm)
        t.check(tag + "memtotal_grew", (grown - base_kb) * 1024 == len(blocks) * bs,
                f"MemTotal {base_kb} -> {grown} kB, {len(blocks)} blocks of "
                f"{bs >> 20} MiB")
        lsmem_vs_sysfs(t, vm, tag + "lsmem_matches_sysfs")
        memfill(t, vm, tag + "memfill", 320,
                (blocks[0] * bs, len(blocks) * bs), need_mib=64, seed=rnd)
        if rnd == 1 and vm.run(f"test -d {CTL}")[0] == 0:
            test_module_keeps_off(t, vm, blocks, bs)

        ok, _ = daxctl(t, vm, tag + "offline_memory", f"offline-memory {dax}")
        st = block_states(vm, blocks)
        t.check(tag + "blocks_offline", all(s == "offline" for s, _ in st.values()),
                f"{st}")
        after = meminfo_kb(vm)
        t.check(tag + "memtotal_back", after == base_kb,
                f"MemTotal {base_kb} -> {after} kB")
        if not ok:
            return
        ok, dev = daxctl(t, vm, tag + "to_devdax",
                         f"reconfigure-device --mode=devdax {dax}")
        if not ok:
            return
        dev = dev_json(vm, dax)
        t.check(tag + "mode_devdax", dev.get("mode") == "devdax", f"{dev}")
        st = block_states(vm, blocks)
        t.check(tag + "blocks_removed", all(s is None for s, _ in st.values()),
                f"{st}")
        rc, out = vm.run(f"test -c /dev/{dax}")
        t.check(tag + "chardev_back", rc == 0, f"no /dev/{dax}")
    t.note("iomem at the end:\n" + vm.sh(
        "grep -i -e 'system ram' -e pmem -e dax -e persistent /proc/iomem; true"))
