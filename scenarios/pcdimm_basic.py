"""pc-dimm (ACPI): hot-add 1 GiB, online movable, fill+verify, device_del."""
import time

from ._guest import blocks_in, block_attr, meminfo_kb, memfill, wait_for

NAME = "pcdimm-basic"
ORDER = 20
# riscv64: with our QEMU (qemu/), which gives riscv virt the ACPI GED and
# memory hotplug; with Debian's QEMU the machine lacks "acpi-dimm" (skip).
ARCHES = ["arm64", "riscv64", "x86_64"]
ARCH_SKIP = {}
XFAIL = {}
SIZE = 1 << 30


def run(t):
    t.need("acpi-dimm")
    vm = t.boot(acpi=True, mem=1024, slots=4, maxmem=8192,
                append="memhp_default_state=online_movable")
    before = meminfo_kb(vm)
    t.note("lsmem before:\n" + vm.sh("lsmem"))
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram",
                                    "id": "m1", "size": SIZE})
    t0 = time.monotonic()
    vm.qmp.execute("device_add", driver="pc-dimm", id="d1", memdev="m1")
    grown = wait_for(vm, "MemTotal to grow", lambda: meminfo_kb(vm) > before and
                     meminfo_kb(vm), timeout=120, interval=0.5)
    t_add = time.monotonic() - t0
    dev = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
               if d["data"].get("id") == "d1")
    addr, size = dev["addr"], dev["size"]
    t.check("memtotal_grew_by_dimm", abs((grown - before) * 1024 - SIZE) < SIZE // 16,
            f"MemTotal {before} -> {grown} kB")
    blocks = blocks_in(vm, addr, size)
    zones = {b: block_attr(vm, b, "valid_zones") for b in blocks}
    states = {b: block_attr(vm, b, "state") for b in blocks}
    t.check("blocks_online", all(s == "online" for s in states.values()),
            f"states: {states}")
    t.check("blocks_movable", all(z == "Movable" for z in zones.values()),
            f"zones: {zones}")
    t.note("lsmem after hot-add:\n" + vm.sh("lsmem"))
    memfill(t, vm, "memfill", 512, (addr, size), need_mib=128)

    t0 = time.monotonic()
    vm.qmp.execute("device_del", id="d1")
    vm.qmp.wait_event("DEVICE_DELETED", timeout=180,
                      match=lambda e: e["data"].get("device") == "d1")
    t_del = time.monotonic() - t0
    after = meminfo_kb(vm)
    t.check("memtotal_restored", after == before, f"{before} -> {after} kB")
    gone = [b for b in blocks if block_attr(vm, b, "state") is not None]
    t.check("blocks_removed", not gone, f"still present: {gone[:8]}")
    vm.qmp.execute("object-del", id="m1")
    t.note("lsmem after hot-remove:\n" + vm.sh("lsmem"))
    t.note(f"hot-add of {SIZE >> 20} MiB visible after {t_add:.1f}s, "
           f"removed in {t_del:.1f}s")
