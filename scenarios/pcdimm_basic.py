"""pc-dimm (ACPI): hot-add 1 GiB, online movable, fill+verify, device_del;
bad device_add input gets a QMP error."""
import time

from harness.qmp import QMPError
from ._guest import (blocks_in, block_attr, meminfo_kb, memfill, wait_blocks_state,
                     wait_for)

NAME = "pcdimm-basic"
ORDER = 20
CONFIG = ("acpi", "ACPI_HOTPLUG_MEMORY")
# riscv64: with our QEMU (qemu/), which gives riscv virt the ACPI GED and
# memory hotplug; with Debian's QEMU the machine lacks "acpi-dimm" (skip).
SIZE = 1 << 30
SLOTS = 4
MAXMEM_MIB = 8192


def run(t):
    t.need("acpi-dimm")
    vm = t.boot(acpi=True, mem=1024, slots=SLOTS, maxmem=MAXMEM_MIB,
                append="memhp_default_state=online_movable")
    before = meminfo_kb(vm)
    t.note("lsmem before:\n" + vm.sh("lsmem"))
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram",
                                    "id": "m1", "size": SIZE})
    t0 = time.monotonic()
    vm.qmp.execute("device_add", driver="pc-dimm", id="d1", memdev="m1")
    dev = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
               if d["data"].get("id") == "d1")
    addr, size = dev["addr"], dev["size"]
    blocks = blocks_in(vm, addr, size)
    # MemTotal grows block by block: read it once every block is online
    # (a reading at the first change once saw 896 of 1024 MiB).
    wait_blocks_state(vm, blocks, "online")
    t_add = time.monotonic() - t0
    grown = meminfo_kb(vm)
    t.check("memtotal_grew_by_dimm", abs((grown - before) * 1024 - SIZE) < SIZE // 16,
            f"MemTotal {before} -> {grown} kB")
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
    bad_input(t, vm)


def refused(t, vm, name, backend_size, want, **dimm):
    """device_add of a DIMM that QEMU must refuse: a QMP error that says
    why (want: words of it), and QEMU and the guest still running."""
    mem = f"bad-{name}"
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram",
                                    "id": mem, "size": backend_size})
    try:
        vm.qmp.execute("device_add", driver="pc-dimm", id=f"d-{name}",
                       memdev=mem, **dimm)
        t.check(f"refused_{name}", False, "device_add succeeded")
        vm.qmp.execute("device_del", id=f"d-{name}")
        vm.qmp.wait_event("DEVICE_DELETED", timeout=180)
        return
    except QMPError as e:
        t.check(f"refused_{name}", want.lower() in e.desc.lower(),
                f"QMP error does not say '{want}': {e.desc}")
        t.note(f"{name}: {e.desc}")
    finally:
        status = vm.qmp.execute("query-status")
        t.check(f"refused_{name}_qemu_runs", status["running"], status)
        t.check(f"refused_{name}_guest_runs", vm.sh("echo alive").strip() == "alive")
    vm.qmp.execute("object-del", id=mem)


def bad_input(t, vm):
    """A DIMM beyond maxmem, one outside the device memory region, an
    unaligned size, one DIMM more than there are slots."""
    refused(t, vm, "beyond_maxmem", MAXMEM_MIB << 20, "not enough space")
    # (addr=0 would mean "pick one")
    refused(t, vm, "outside_region", 128 << 20, "usable range", addr=1 << 48)
    refused(t, vm, "unaligned_size", 1000001, "must be multiple")
    before = meminfo_kb(vm)
    for i in range(SLOTS):
        vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram",
                                        "id": f"s{i}", "size": 128 << 20})
        vm.qmp.execute("device_add", driver="pc-dimm", id=f"ds{i}",
                       memdev=f"s{i}")
    grown = wait_for(vm, "MemTotal to grow by all slots", lambda:
                     meminfo_kb(vm) >= before + SLOTS * (120 << 10) and
                     meminfo_kb(vm), timeout=120, interval=0.5)
    want = SLOTS * (128 << 10)
    t.check("all_slots_plugged", abs(grown - before - want) < want // 16,
            f"MemTotal {before} -> {grown} kB")
    refused(t, vm, "no_free_slot", 128 << 20, "no free slots")
