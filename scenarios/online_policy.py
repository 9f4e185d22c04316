"""Online policies: memhp_default_state, auto_online_blocks, auto-movable ratio, sysfs, chmem, lsmem."""
from ._guest import (MEM, block_size, block_states, kmem_blocks, lsmem_vs_sysfs,
                     memfill, pmem_regions, to_devdax, xfail_riscv_vmemmap)

NAME = "online-policy"
ORDER = 36
CONFIG = ("pmem", "DEV_DAX_PMEM", "DEV_DAX_KMEM")
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage when the raw namespace goes for devdax"),
}
TIMEOUT = 600
M = 1 << 20
# Memory is hot-added with dax kmem (every arch, either kernel): pmem
# regions above 768 MiB of RAM, 2 MiB apart (x86 merges adjacent memmap=
# ranges), sizes in 16 MiB steps (x86 namespace alignment), all below 2 GiB
# (q35 moves RAM above that past 4 GiB). The dax info block takes the start
# of a region, kmem adds the whole blocks after it: two from the first
# region, which is added and removed again and again (movable), one from
# each of the others, which end in a kernel zone, from which removal may
# not be possible.
RAM = 768 * M
REGIONS = [(768 * M, 384 * M), (1154 * M, 256 * M), (1412 * M, 256 * M),
           (1670 * M, 256 * M)]
PARAMS = "/sys/module/memory_hotplug/parameters"


def kernel_zone(valid_zones):
    """The kernel zone an offline block could go to (Normal, DMA32, ...)."""
    return next((z for z in valid_zones.split() if z != "Movable"), None)


def run(t):
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    vm = t.boot(mem=(REGIONS[-1][0] + REGIONS[-1][1]) // M + 256, ram_limit=RAM, pmem=REGIONS,
                append="memhp_default_state=offline")
    regions = pmem_regions(vm)
    want = [t.machine.RAM_BASE + off for off, _ in REGIONS]
    if not t.check("regions_found", [a for a, _ in regions] == want,
                   f"regions {[hex(a) for a, _ in regions]}"):
        return
    daxes = [to_devdax(t, vm, r) for _, r in regions]
    if not all(daxes):
        return
    blocks = [kmem_blocks(vm, d) for d in daxes]
    if not t.check("blocks_per_region", [len(b) for b in blocks] == [2, 1, 1, 1],
                   f"{blocks}"):
        return

    def sh_ok(name, cmd):
        rc, out = vm.run(cmd, timeout=300)
        return t.check(name, rc == 0, f"{cmd}: rc {rc}: {out.strip()[-300:]}")

    def states(i):
        return block_states(vm, blocks[i])

    def add(i, tag):
        """kmem takes the region; the kernel's policy onlines (or not).
        (daxctl refuses --no-online under an auto-online policy without -f)"""
        return sh_ok(f"{tag}_system_ram", f"daxctl reconfigure-device -m system-ram "
                     f"--no-online --force {daxes[i]}")

    def remove(i, tag):
        ok = True
        if any(s == "online" for s, _ in states(i).values()):
            ok = sh_ok(f"{tag}_offline_memory", f"daxctl offline-memory {daxes[i]}")
        ok = ok and sh_ok(f"{tag}_devdax",
                          f"daxctl reconfigure-device -m devdax {daxes[i]}")
        st = states(i)
        t.check(f"{tag}_blocks_removed", all(s is None for s, _ in st.values()),
                f"{st}")
        return ok

    def policy(auto, pol="contig-zones", ratio=301):
        vm.sh(f"echo {auto} > {MEM}/auto_online_blocks; "
              f"echo {pol} > {PARAMS}/online_policy; "
              f"echo {ratio} > {PARAMS}/auto_movable_ratio")

    b0, b1 = blocks[0]
    # A: memhp_default_state=offline: blocks come offline; manual onlining
    # with sysfs and chmem; lsmem agrees with sysfs all along.
    auto = vm.sh(f"cat {MEM}/auto_online_blocks").strip()
    t.check("boot_param_offline", auto == "offline", f"auto_online_blocks: {auto}")
    if not add(0, "a"):
        return
    st = states(0)
    t.check("a_added_offline", all(s == "offline" for s, _ in st.values()), f"{st}")
    kzone = kernel_zone(st[b0][1] or "")
    t.note(f"valid_zones of an offline kmem block: {st[b0][1]}")
    lsmem_vs_sysfs(t, vm, "a_lsmem_offline")
    sh_ok("a_sysfs_online_movable", f"echo online_movable > {MEM}/memory{b0}/state")
    memory0 = vm.run(f"test -e {MEM}/memory0/valid_zones")[0] == 0
    if memory0:
        rc, out = vm.run(f"chmem --enable --zone Movable --blocks {b1}")
    else:
        # util-linux (2.41) looks for memory0/valid_zones only; without
        # it (RAM does not start at 0 here) chmem ignores --zone.
        t.note("no memory0: chmem would ignore --zone, sysfs onlines block "
               f"{b1} movable")
        rc, out = vm.run(f"echo online_movable > {MEM}/memory{b1}/state")
    t.check("a_enable_movable", rc == 0, out.strip()[-300:])
    st = states(0)
    t.check("a_both_movable", all(v == ("online", "Movable") for v in st.values()),
            f"{st}")
    lsmem_vs_sysfs(t, vm, "a_lsmem_online")
    bs = block_size(vm)
    memfill(t, vm, "a_memfill", 320, (b0 * bs, 2 * bs), need_mib=32, seed=5)
    sh_ok("a_chmem_disable", f"chmem --disable --blocks {b0}-{b1}")
    st = states(0)
    t.check("a_chmem_offline", all(s == "offline" for s, _ in st.values()), f"{st}")
    if not remove(0, "a"):
        return

    # B: auto_online_blocks=online_movable: the kernel onlines movable.
    policy("online_movable")
    if not add(0, "b"):
        return
    st = states(0)
    t.check("b_auto_movable", all(v == ("online", "Movable") for v in st.values()),
            f"{st}")
    lsmem_vs_sysfs(t, vm, "b_lsmem")
    if not remove(0, "b"):
        return

    # C: online + auto-movable, ratio 301% of 768 MiB: all of the group movable
    policy("online", "auto-movable", 301)
    if not add(0, "c"):
        return
    st = states(0)
    t.check("c_ratio301_movable", all(v == ("online", "Movable")
                                      for v in st.values()), f"{st}")
    if not remove(0, "c"):
        return

    # D: auto-movable, ratio 10% (77 MiB): a 128 MiB group goes to a kernel zone
    policy("online", "auto-movable", 10)
    if add(1, "d"):
        st = states(1)
        zones = {z for _, z in st.values()}
        t.check("d_ratio10_kernel", all(s == "online" for s, _ in st.values()) and
                len(zones) == 1 and "Movable" not in zones, f"{st}")
        lsmem_vs_sysfs(t, vm, "d_lsmem")
        offline_attempt(t, vm, "d", blocks[1])

    # E: auto_online_blocks=online_kernel
    policy("online_kernel")
    if add(2, "e"):
        st = states(2)
        t.check("e_online_kernel", all(v == ("online", kzone) for v in st.values()),
                f"{st}, want {kzone}")
        offline_attempt(t, vm, "e", blocks[2])

    # F: offline policy, plain chmem --enable: Movable where possible (the
    # util-linux default), or where chmem cannot see zones (no memory0) the
    # kernel's default for "online", the first zone valid_zones lists
    policy("offline")
    if add(3, "f"):
        st = states(3)
        valid = (st[blocks[3][0]][1] or "").split()
        default = ["Movable"] if memory0 and "Movable" in valid else valid[:1]
        sh_ok("f_chmem_enable", f"chmem --enable --blocks {blocks[3][0]}")
        st = states(3)
        t.check("f_default_zone", [z for _, z in st.values()] == default and
                all(s == "online" for s, _ in st.values()), f"{st}, want {default}")
        offline_attempt(t, vm, "f", blocks[3])
    t.note("lsmem at the end:\n" + vm.sh("lsmem -o RANGE,SIZE,STATE,ZONES"))


def offline_attempt(t, vm, tag, blocks):
    """chmem --disable of kernel-zone blocks may fail (unmovable pages); if
    it fails, what failed must still be online, and the rest offline."""
    rc, out = vm.run(f"chmem --disable --blocks {blocks[0]}-{blocks[-1]}",
                     timeout=300)
    st = block_states(vm, blocks)
    online = [b for b, (s, _) in st.items() if s == "online"]
    t.note(f"{tag}: chmem --disable of kernel-zone blocks: rc {rc}, still online "
           f"{online}: {out.strip()[-200:]}")
    ok = (rc == 0 and not online) or (rc != 0 and online)
    t.check(f"{tag}_offline_kernel_zone_consistent", ok and all(
        s in ("online", "offline") for s, _ in st.values()), f"rc {rc}, {st}")
    lsmem_vs_sysfs(t, vm, f"{tag}_lsmem_after_disable")
