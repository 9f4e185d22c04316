"""Boot memory that can go away without NUMA information in the DT (a faked node), movable_node."""
from ._guest import no_bootmem_removal, MEM, block_attr, block_size, blocks_in, wait_for
from harness.verdict import Xfail

NAME = "bootmem-fakenode"
ORDER = 58
ARCHES = ["arm64", "riscv64"]
ARCH_SKIP = {"x86_64": "device-tree scenario (x86 marks hotpluggable memory "
                       "in the ACPI SRAT, which QEMU does only for DIMMs)"}
XFAIL = {
    ("arm64", "base"): Xfail("with CONFIG_NUMA=y and no NUMA information in the DT, "
                             "NUMA init fakes one node and clears the hotpluggable "
                             "flag on all memory: no ZONE_MOVABLE (fixed by 'mm: "
                             "arch_numa: keep hotpluggable device tree memory on a "
                             "faked node')", checks="hotpluggable_movable"),
    ("riscv64", "base"): Xfail("with CONFIG_NUMA=y and no NUMA information in the DT, "
                               "NUMA init fakes one node and clears the hotpluggable "
                               "flag on all memory: no ZONE_MOVABLE (fixed by 'mm: "
                               "arch_numa: keep hotpluggable device tree memory on a "
                               "faked node')", checks="hotpluggable_movable"),
}
M = 1 << 20
G = 1 << 30
HOT = G // 2


def no_node_ids(arch):
    """Device tree edit: RAM in two memory nodes, neither with a
    numa-node-id, the second hotpluggable."""
    def edit(tree, base):
        if arch == "riscv64":
            tree.set_memory(base, G)
            tree.add_memory(base + G, HOT, hotpluggable=True)
            return
        # arm64 QEMU writes one memory@ node for all RAM; ours ride on it.
        tree.add_memory(base, G, name="ram")
        tree.add_memory(base + G, HOT, name="ram", hotpluggable=True)
    return edit


def run(t):
    vm = t.boot(mem=(G + HOT) // M, dtb_edit=no_node_ids(t.arch),
                append="movable_node rodata=full" if t.arch == "arm64"
                else "movable_node")
    start = t.machine.RAM_BASE + G
    blocks = blocks_in(vm, start, HOT)
    log = vm.sh("dmesg | grep -i -e numa -e movable -e hotplug | head -n 12; true")
    t.note("boot log on NUMA and zones:\n" + log.strip())
    # The same scenario on a CONFIG_NUMA=n kernel has no node directory
    # and takes the path without any NUMA init.
    numa = vm.run("test -d /sys/devices/system/node/node0")[0] == 0
    if numa:
        t.check("faked_node", "Faking a node" in log and
                vm.run("test -d /sys/devices/system/node/node1")[0] != 0,
                "the kernel did not fake a node: the scenario's DT has NUMA "
                "information")
    else:
        t.note("CONFIG_NUMA=n: no NUMA init")
    if not t.check("hotpluggable_blocks", len(blocks) * block_size(vm) == HOT,
                   f"{len(blocks)} memory blocks in {start:#x}+{HOT:#x}"):
        return
    zones = {b: block_attr(vm, b, "valid_zones") for b in blocks}
    if not t.check("hotpluggable_movable",
                   all(z == "Movable" for z in zones.values()),
                   f"valid_zones of the hotpluggable range: "
                   f"{sorted(set(zones.values()))}"):
        return
    low = blocks_in(vm, t.machine.RAM_BASE, G)
    t.check("rest_not_movable", all(block_attr(vm, b, "valid_zones") != "Movable"
                                    for b in low),
            "memory outside the hotpluggable node is Movable too")
    if no_bootmem_removal(t, "the faked-node fix"):
        return

    # Data in the range, held while the whole range goes offline.
    vm.sh(f"memfill --mib 192 --range {start:#x}-{start + HOT:#x} "
          "--need-mib 32 --hold > /tmp/mf.log 2>&1 & echo $! > /tmp/mf.pid")
    wait_for(vm, "memfill to hold", lambda: "holding" in vm.sh(
        "cat /tmp/mf.log"), timeout=300)
    ids = " ".join(str(b) for b in blocks)
    rc, out = vm.run(f"(for b in {ids}; do echo offline > {MEM}/memory$b/state"
                     f" || exit 1; done)", timeout=600)
    t.check("range_offline", rc == 0, out.strip()[-300:])
    vm.sh("kill -USR1 $(cat /tmp/mf.pid)")
    wait_for(vm, "memfill to verify", lambda: "# Totals" in vm.sh(
        "cat /tmp/mf.log"), timeout=300)
    t.ktap("memfill", (0, vm.sh("cat /tmp/mf.log")))
    if rc:
        return
    rc, out = vm.run(f"(for b in {ids}; do echo online_movable > "
                     f"{MEM}/memory$b/state || exit 1; done)", timeout=600)
    t.check("range_online_again", rc == 0, out.strip()[-300:])
