"""Boot memory that can go away: a hotpluggable DT memory node with movable_node."""
from ._guest import (no_bootmem_removal, MEM, arm64_linear_leaves, block_attr, blocks_in, meminfo_kb,
                     settled_kb,
                     rodata_block_mappings, wait_for)

NAME = "bootmem-node"
ORDER = 57
CONFIG = ("NUMA", "OF_NUMA")
ARCHES = ["arm64", "riscv64"]
ARCH_SKIP = {"x86_64": "device-tree scenario (x86 marks hotpluggable memory "
                       "in the ACPI SRAT, which QEMU does only for DIMMs)"}
from harness.verdict import Xfail

# The series up to its arm64 boot memory removal, without the per-block
# mapping of hotpluggable boot memory.
UPTO = {"arm64": "arm64: mm: let boot memory go offline", ("6.12", "arm64"): None}
XFAIL = {
    ("arm64", "upto"): Xfail("with block mappings of the linear map (rodata=noalias) "
                             "boot memory is mapped by 1 GiB PUD leaves, and an "
                             "offline that would split one is refused (fixed by "
                             "'arm64: mm: map hotpluggable boot memory one memory "
                             "block at a time')",
                             checks=("node1_leaves_in_blocks", "block_mapped_offline")),
    ("arm64", "base"): Xfail("the unpatched kernel drops the DT hotpluggable flag in NUMA init "
                             "(no ZONE_MOVABLE) and refuses to offline any boot "
                             "memory", checks="node1_movable"),
    ("riscv64", "base"): Xfail("the unpatched kernel drops the DT hotpluggable flag in NUMA "
                               "init, so movable_node gives no ZONE_MOVABLE",
                               checks="node1_movable"),
}
M = 1 << 20
G = 1 << 30
# Node 1 is 1.5 GiB: a 1 GiB leaf plus a GiB of 2 MiB leaves in a page
# table of its own, which its removal must free the way it was allocated.
NODE1 = 3 * G // 2
CTL = "/sys/kernel/debug/memory_hotplug_test"
# Remove/re-add cycles, counted in windows of WINDOW
CYCLES, WINDOW = 30, 10


def two_nodes(arch):
    """Device tree edit: RAM as node 0 and node 1, node 1 hotpluggable."""
    def edit(tree, base):
        if arch == "riscv64":
            # riscv QEMU uses our DT as is: cut its node, add node 1.
            tree.set_memory(base, G, numa_node=0)
            tree.add_memory(base + G, NODE1, 1, hotpluggable=True)
            return
        # arm64 QEMU replaces memory@ nodes by one for all RAM without a
        # node id; nodes of another name stay and carry the ids.
        tree.add_memory(base, G, 0, name="ram")
        tree.add_memory(base + G, NODE1, 1, name="ram", hotpluggable=True)
    return edit


def counters(vm):
    return {"MemTotal": meminfo_kb(vm), "PageTables": settled_kb(vm, "PageTables"),
            "SUnreclaim": settled_kb(vm, "SUnreclaim")}


def run(t):
    # rodata=full (most distributions' default) maps arm64 boot memory at
    # page granularity; with block mappings its offline is refused.
    vm = t.boot(mem=(G + NODE1) // M, dtb_edit=two_nodes(t.arch),
                append="movable_node rodata=full" if t.arch == "arm64"
                else "movable_node")
    start, size = t.machine.RAM_BASE + G, NODE1
    blocks = blocks_in(vm, start, size)
    t.note("boot log on nodes and zones:\n" + vm.sh(
        "dmesg | grep -i -e hotplug -e movable -e numa -e 'node ' "
        "| head -n 16; true"))
    if not t.check("node1_exists", vm.run("test -d /sys/devices/system/node/"
                                          "node1")[0] == 0, "no node1"):
        return
    zones = {b: block_attr(vm, b, "valid_zones") for b in blocks}
    if not t.check("node1_movable", all(z == "Movable" for z in zones.values()),
                   f"valid_zones of node 1 blocks: {sorted(set(zones.values()))}"):
        return
    if no_bootmem_removal(t, "the DT hotpluggable fix"):
        return

    # Data in node 1, held while all of node 1 goes offline (migrates).
    # All CPUs are on node 0: bind the buffer to node 1.
    vm.sh(f"numactl --membind=1 memfill --mib 384 "
          f"--range {start:#x}-{start + size:#x} "
          "--need-mib 64 --hold > /tmp/mf.log 2>&1 & echo $! > /tmp/mf.pid")
    wait_for(vm, "memfill to hold", lambda: "holding" in vm.sh(
        "cat /tmp/mf.log"), timeout=300)
    ids = " ".join(str(b) for b in blocks)
    rc, out = vm.run(f"(for b in {ids}; do echo offline > {MEM}/memory$b/state"
                     f" || exit 1; done)", timeout=600)
    t.check("node1_offline", rc == 0, out.strip()[-300:])
    vm.sh("kill -USR1 $(cat /tmp/mf.pid)")
    wait_for(vm, "memfill to verify", lambda: "# Totals" in vm.sh(
        "cat /tmp/mf.log"), timeout=300)
    t.ktap("memfill", (0, vm.sh("cat /tmp/mf.log")))
    if rc:
        return
    rc, out = vm.run(f"(for b in {ids}; do echo online_movable > "
                     f"{MEM}/memory$b/state || exit 1; done)", timeout=600)
    if not t.check("node1_online_again", rc == 0, out.strip()[-300:]):
        return
    # The same through util-linux and stress-ng, as administrators do.
    span = f"{blocks[0]}-{blocks[-1]}"
    rc, out = vm.run(f"chmem --disable --blocks {span} && "
                     f"chmem --enable --zone Movable --blocks {span}",
                     timeout=600)
    t.check("chmem_disable_enable", rc == 0, out.strip()[-300:])
    rc, out = vm.run("stress-ng --memhotplug 1 --timeout 10s --metrics-brief "
                     "2>&1 | tail -n 4", timeout=300)
    t.note("stress-ng --memhotplug:\n" + out.strip())
    t.check("stress_ng_memhotplug", rc == 0, out.strip()[-300:])
    vm.run(f"(for b in {ids}; do grep -q online {MEM}/memory$b/state || "
           f"echo online_movable > {MEM}/memory$b/state; done)", timeout=300)

    # Remove and re-add node 1 through the test module, repeatedly.
    if not t.check("test_module", vm.run(f"test -d {CTL}")[0] == 0,
                   f"no {CTL}"):
        return
    rng = f"{start:#x} {size:#x}"
    vm.sh(f"echo online_movable > {MEM}/auto_online_blocks")
    t.ktap("hotremove_test", vm.run(
        f"MEMORY_TEST_BOOT_RANGE='{rng}' /selftests/memory-hotplug/"
        "hotremove_test -t boot_memory", timeout=600))
    # hotremove_test left node 1 online: one warm-up cycle, then count.
    rc, out = vm.run(f"echo '{rng}' > {CTL}/remove && "
                     f"echo '{rng} 1' > {CTL}/add", timeout=300)
    t.check("warmup_cycle", rc == 0, out.strip()[-300:])
    cycle = (f"(for i in $(seq {WINDOW}); do "
             f"echo '{rng}' > {CTL}/remove || exit 1; "
             f"echo '{rng} 1' > {CTL}/add || exit 1; done)")
    seen = [counters(vm)]
    for n in range(1, CYCLES // WINDOW + 1):
        rc, out = vm.run(cycle, timeout=900)
        if not t.check(f"remove_readd_{n}x{WINDOW}", rc == 0,
                       out.strip()[-300:]):
            return
        seen.append(counters(vm))
    t.note(f"counters (kB) before and after each {WINDOW} of {CYCLES} "
           f"remove/re-add cycles: {seen}")
    t.check("memtotal_restored", seen[0]["MemTotal"] == seen[-1]["MemTotal"],
            f"{seen[0]['MemTotal']} -> {seen[-1]['MemTotal']} kB")
    # A page leaked a cycle grows a counter by 40 kB in every window; noise
    # (settled readings still move by up to about 50 kB) does not do that
    # three times.
    for f in ("PageTables", "SUnreclaim"):
        grew = [b[f] - a[f] for a, b in zip(seen, seen[1:])]
        t.check(f"{f.lower()}_not_leaked", min(grew) < 32,
                f"{f} grew by {', '.join(map(str, grew))} kB per "
                f"{WINDOW} cycles")
    zones = {b: block_attr(vm, b, "valid_zones") for b in blocks}
    t.check("node1_movable_again", all(z == "Movable" for z in zones.values()),
            f"{sorted(set(zones.values()))}")
    if t.arch == "arm64":
        offline_with_block_mappings(t, blocks, start, size)


def offline_with_block_mappings(t, blocks, start, size):
    """Without rodata=full arm64 maps boot memory with 1 GiB blocks, which
    no offline may split; hotpluggable memory under movable_node is mapped
    one memory block at a time, so node 1 goes offline all the same."""
    mode = rodata_block_mappings(t)
    vm = t.boot(mem=(G + NODE1) // M, dtb_edit=two_nodes(t.arch),
                append="movable_node " + mode)
    leaves = arm64_linear_leaves(vm, start, size, t.machine.RAM_BASE)
    t.note(f"linear map of node 1 with {mode}, MiB per leaf level: "
           f"{ {k: v // M for k, v in sorted(leaves.items())} }")
    t.check("node1_leaves_in_blocks", sum(leaves.values()) == size and
            not leaves.get("PUD"),
            f"node 1 ({size // M} MiB) is mapped by "
            f"{ {k: v // M for k, v in leaves.items()} } MiB of leaves: a PUD "
            "leaf spans 8 memory blocks")
    ids = " ".join(str(b) for b in blocks)
    rc, out = vm.run(f"(for b in {ids}; do echo offline > {MEM}/memory$b/state"
                     f" || exit 1; done)", timeout=600)
    t.check("block_mapped_offline", rc == 0,
            (out.strip() + " " + vm.sh("dmesg | tail -n 3").strip())[-300:])
    rc, out = vm.run(f"(for b in {ids}; do grep -q online {MEM}/memory$b/state "
                     f"|| echo online_movable > {MEM}/memory$b/state || exit 1; "
                     "done)", timeout=600)
    t.check("block_mapped_online_again", rc == 0, out.strip()[-300:])
