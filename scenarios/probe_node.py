"""sysfs probe on a two-node guest: hidden RAM of node 1 is probed onto node 1."""
from ._guest import PROBE_NOT_ON_612, MEM, block_size
from harness.verdict import Xfail

NAME = "probe-node"
ORDER = 51
CONFIG = ("ARCH_MEMORY_PROBE", "NUMA")
WHY_NID = ("probe_store() adds to memory_add_physaddr_to_nid(), which knows "
           "only the memory the kernel got at boot: RAM hidden with mem= "
           "falls back to the first node, whatever the firmware says (fixed by "
           "'drivers/base/memory: probe memory onto the node the firmware "
           "gives it')")
ARCH_SKIP = PROBE_NOT_ON_612
XFAIL = {
    ("arm64", "base"): Xfail("the unpatched kernel has no memory/probe interface on arm64",
                             checks="probe_interface"),
    ("riscv64", "base"): Xfail("the unpatched kernel has no memory/probe interface on riscv",
                               checks="probe_interface"),
    # node 0 grows instead of node 1
    ("x86_64", "base"): Xfail(WHY_NID, checks=("probed_block_node", "node1_grew")),
    # The fix has no stable tag: 6.12 keeps the bug
    ("6.12", "x86_64", "patched"): Xfail(WHY_NID + "; not backported to 6.12",
                                         checks=("probed_block_node", "node1_grew")),
}
NODE = 1024  # MiB of each of the two nodes; node 1 is hidden with mem=


def block_node(vm, block):
    out = vm.sh(f"ls -d {MEM}/memory{block}/node* 2>/dev/null; true").split()
    return [p.rsplit("/node", 1)[1] for p in out]


def run(t):
    t.need("probe-hidden-ram")
    vm = t.boot(mem=2 * NODE, nodes=[NODE, NODE], append=f"mem={NODE}M")
    if not t.check("two_nodes", vm.run("test -d /sys/devices/system/node/node1")[0] == 0,
                   "no node1: the firmware did not describe two nodes, or the "
                   "kernel did not bring node 1 online"):
        return
    t.note("node 1: " + vm.sh("cat /sys/devices/system/node/node1/meminfo "
                              "| head -n 2; true").strip())
    if not t.check("probe_interface", vm.run(f"test -e {MEM}/probe")[0] == 0,
                   "no /sys/devices/system/memory/probe"):
        return
    bs = block_size(vm)
    addr = t.machine.RAM_BASE + (NODE << 20)
    block = addr // bs
    rc, out = vm.run(f"echo {addr:#x} > {MEM}/probe")
    if not t.check("probe_node1_block", rc == 0, out.strip()[-300:]):
        return
    nodes = block_node(vm, block)
    t.check("probed_block_node", nodes == ["1"],
            f"memory{block} at {addr:#x} is on node(s) {nodes}, the firmware "
            "says node 1")
    rc, out = vm.run(f"echo online_movable > {MEM}/memory{block}/state && "
                     f"grep -q '^Node 1 MemTotal: *[1-9]' "
                     f"/sys/devices/system/node/node1/meminfo", timeout=120)
    t.check("node1_grew", rc == 0, out.strip()[-300:] or
            vm.sh("cat /sys/devices/system/node/node1/meminfo | head -n 2; true"))
