"""pc-dimm (ACPI) on arm64 with block mappings of the linear map
(rodata=noalias; on 6.12 rodata=on): a 1 GiB DIMM at a 1 GiB aligned
address goes offline and is ejected, and its blocks could be offlined one
by one."""
from ._guest import (blocks_in, block_attr, eject, meminfo_kb, memfill,
                     rodata_block_mappings, wait_blocks_state)
from harness.verdict import Xfail

NAME = "pcdimm-blockmap"
ORDER = 22
CONFIG = ("acpi", "ACPI_HOTPLUG_MEMORY")
# Only arm64 maps hot-added memory with leaves larger than a memory block
# on request: riscv and x86_64 are covered by pcdimm-basic.
ARCHES = ("arm64",)
ARCH_SKIP = {"riscv64": "arm64 only: its block mappings of the linear map",
             "x86_64": "arm64 only: its block mappings of the linear map"}
XFAIL = {
    # Mainline refuses an offline that would split a leaf, and 7.3 maps
    # the DIMM with one 1 GiB PUD block: no block of it can go offline.
    ("7.3", "arm64", "base"): Xfail(
        "7.3 maps a 1 GiB DIMM with one PUD block when rodata=full is off "
        "and refuses every block's offline as splitting it (fixed by "
        "'arm64: mm: map hot-added memory one memory block at a time')",
        checks=("block_offline", "dimm_ejected"),
        log=r"splits a leaf entry in linear map"),
}
SIZE = 1 << 30


def run(t):
    t.need("acpi-dimm")
    # no page-granular linear map, so arch_add_memory() uses the largest
    # leaves that fit (a cortex-a57 has no BBML3)
    vm = t.boot(acpi=True, mem=1024, slots=2, maxmem=4096,
                append="memhp_default_state=online_movable " +
                rodata_block_mappings(t))
    before = meminfo_kb(vm)
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram",
                                    "id": "m1", "size": SIZE})
    vm.qmp.execute("device_add", driver="pc-dimm", id="d1", memdev="m1")
    dev = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
               if d["data"].get("id") == "d1")
    addr, size = dev["addr"], dev["size"]
    t.check("dimm_gib_aligned", addr % SIZE == 0, f"DIMM at {addr:#x}")
    blocks = blocks_in(vm, addr, size)
    wait_blocks_state(vm, blocks, "online")
    memfill(t, vm, "memfill", 256, (addr, size), need_mib=64)
    # One block by hand, as chmem or a balloon would
    rc, out = vm.run(f"echo offline > /sys/devices/system/memory/memory{blocks[1]}/state")
    t.check("block_offline", rc == 0, out.strip()[-200:])
    if rc == 0:
        vm.sh(f"echo online_movable > /sys/devices/system/memory/memory{blocks[1]}/state")
    how, info = eject(vm, "d1")
    t.check("dimm_ejected", how == "deleted", f"{how}: {info}")
    if how == "deleted":
        vm.qmp.execute("object-del", id="m1")
        t.check("memtotal_restored", meminfo_kb(vm) == before,
                f"{before} -> {meminfo_kb(vm)} kB")
    gone = [b for b in blocks if block_attr(vm, b, "state") is None]
    t.note(f"DIMM at {addr:#x}: {how}; {len(gone)} of {len(blocks)} blocks gone")
