"""sysfs probe: add every hidden RAM block, online movable, use, cycle."""
import time

from ._guest import PROBE_NOT_ON_612, MEM, block_attr, memfill

NAME = "probe-hidden"
ORDER = 50
CONFIG = ("ARCH_MEMORY_PROBE",)
from harness.verdict import Xfail

ARCH_SKIP = PROBE_NOT_ON_612
XFAIL = {
    ("arm64", "base"): Xfail("the unpatched kernel has no memory/probe interface on arm64",
                             checks="probe_interface"),
    ("riscv64", "base"): Xfail("the unpatched kernel has no memory/probe interface on riscv",
                               checks="probe_interface"),
}
M = 1 << 20
RAM, VISIBLE = 2048 * M, 1024 * M


def run(t):
    t.need("probe-hidden-ram")
    vm = t.boot(mem=RAM // M, ram_limit=VISIBLE)
    base = t.machine.RAM_BASE
    bs = int(vm.sh(f"cat {MEM}/block_size_bytes"), 16)
    # Blocks wholly inside hidden RAM (not the firmware's reserved top).
    top = base + RAM - t.machine.RAM_TOP_RESERVED
    hidden = [a for a in range(base + VISIBLE, base + RAM, bs) if a + bs <= top]
    if not t.check("probe_interface", vm.run(f"test -e {MEM}/probe")[0] == 0,
                   "no /sys/devices/system/memory/probe"):
        return
    # The selftest probes the first hidden block and cycles it.
    t.ktap("probe_test", vm.run(
        f"MEMORY_PROBE_ADDR={hidden[0]:#x} /selftests/memory-hotplug/probe_test",
        timeout=300))
    t0 = time.monotonic()
    rc, out = vm.run("; ".join(
        f"echo {a:#x} > {MEM}/probe && echo online_movable > "
        f"{MEM}/memory{a // bs}/state" for a in hidden[1:]) + "; true",
        timeout=600)
    dt = time.monotonic() - t0
    vm.run(f"echo online_movable > {MEM}/memory{hidden[0] // bs}/state")
    states = {a // bs: block_attr(vm, a // bs, "state") for a in hidden}
    t.check("all_hidden_online", all(s == "online" for s in states.values()),
            f"{states} {out.strip()[-300:]}")
    gib = (len(hidden) - 1) * bs / (1 << 30)
    t.note(f"probe+online_movable of {len(hidden) - 1} blocks "
           f"({gib:.2f} GiB): {dt:.2f}s, {dt / gib:.2f}s per GiB "
           f"(host-side, includes console round trips)")
    span = (hidden[0], len(hidden) * bs)
    memfill(t, vm, "memfill", 1200, span, need_mib=256)
    blocks = " ".join(str(a // bs) for a in hidden)
    rc, out = vm.run(f"(for b in {blocks}; do echo offline > {MEM}/memory$b/state "
                     f"|| exit 1; done)", timeout=600)
    t.check("offline_all", rc == 0, out.strip()[-300:])
    rc, out = vm.run(f"(for b in {blocks}; do echo online_movable > "
                     f"{MEM}/memory$b/state || exit 1; done)", timeout=600)
    t.check("online_again", rc == 0, out.strip()[-300:])
    memfill(t, vm, "memfill_again", 1200, span, need_mib=256, seed=7)
