"""virtio-mem: grow to 2 GiB and shrink to 0 in 128 MiB steps; MemTotal follows each step."""
import time

from ._guest import (MEM, block_size, blocks_in, block_states, meminfo_kb, memfill, wait_for,
                     xfail_riscv_vmemmap, WHOLE_SECTIONS_FIXED_IN_7_3)

NAME = "virtio-mem"
ORDER = 25
CONFIG = ("VIRTIO_PCI", "VIRTIO_MEM")
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in isolate_single_pageblock on a shrink step after a block went",
        log=r"epc : (free_vmemmap_storage|isolate_single_pageblock)[\w.]*\+"),
    # whole sections only: fine on 7.3 (64-byte struct page)
    **WHOLE_SECTIONS_FIXED_IN_7_3,
}
TIMEOUT = 900
M = 1 << 20
STEP, TOP = 128 * M, 2048 * M
BOOT = 1024            # MiB of boot RAM
DEV = "vmem0"
PATH = f"/machine/peripheral/{DEV}"
HOLD_MIB = 384         # data held in the device's memory while it shrinks


def device(vm):
    return next(d["data"] for d in vm.qmp.execute("query-memory-devices")
                if d["type"] == "virtio-mem" and d["data"].get("id") == DEV)


def run(t):
    t.need("virtio-mem")
    vm = t.boot(mem=BOOT, slots=1, maxmem=BOOT + TOP // M + 1024,
                append="memhp_default_state=online_movable",
                extra=["-object", f"memory-backend-ram,id=vmem0mem,size={TOP // M}M",
                       "-device", f"virtio-mem-pci,id={DEV},memdev=vmem0mem,"
                       "requested-size=0"])
    rc, out = vm.run("ls /sys/bus/virtio/drivers/virtio_mem/ | grep virtio")
    if not t.check("driver_bound", rc == 0, "virtio_mem driver has no device"):
        return
    dev = device(vm)
    addr, bs = dev["memaddr"], block_size(vm)
    t.note(f"device region {addr:#x}+{dev['max-size'] >> 20} MiB, "
           f"device block {dev['block-size'] >> 10} KiB, memory block {bs >> 20} MiB")
    base = meminfo_kb(vm)
    times, bad = [], []

    def step_to(size, tag):
        vm.qmp.execute("qom-set", path=PATH, property="requested-size", value=size)
        t0 = time.monotonic()
        try:
            wait_for(vm, f"virtio-mem size {size >> 20} MiB",
                     lambda: device(vm)["size"] == size, timeout=180, interval=0.2)
            want = base + size // 1024
            got = wait_for(vm, "MemTotal", lambda: (meminfo_kb(vm) == want) and want,
                           timeout=30, interval=0.2)
        except TimeoutError as e:
            bad.append(f"{tag} {size >> 20} MiB: {e}; device size "
                       f"{device(vm)['size'] >> 20} MiB, MemTotal "
                       f"{meminfo_kb(vm)} kB, want {base + size // 1024}")
            return False
        times.append(time.monotonic() - t0)
        return bool(got)

    sizes = list(range(STEP, TOP + 1, STEP))
    ok = all(step_to(s, "grow") for s in sizes)
    t.check("grow_steps_memtotal_follows", ok, "; ".join(bad[-2:]))
    if not ok:
        return
    t.note(f"grow: {len(sizes)} steps of {STEP >> 20} MiB, "
           f"{sum(times):.1f}s (max {max(times):.1f}s a step)")
    blocks = blocks_in(vm, addr, TOP)
    st = block_states(vm, blocks)
    t.check("blocks_online_movable", all(s == ("online", "Movable")
                                         for s in st.values()), f"{st}")
    memfill(t, vm, "memfill", 768, (addr, TOP), need_mib=256)

    # Shrink to nothing while memfill holds data in the device's memory:
    # unplugging it migrates the data.
    vm.sh(f"memfill --mib {HOLD_MIB} --range {addr:#x}-{addr + TOP:#x} "
          "--need-mib 32 --hold > /tmp/mf.log 2>&1 & echo $! > /tmp/mf.pid")
    wait_for(vm, "memfill to hold", lambda: "holding" in vm.sh("cat /tmp/mf.log"),
             timeout=300)
    times.clear()
    bad.clear()
    ok = all(step_to(s, "shrink") for s in reversed([0] + sizes[:-1]))
    t.check("shrink_steps_memtotal_follows", ok, "; ".join(bad[-2:]))
    vm.sh("kill -USR1 $(cat /tmp/mf.pid)")
    wait_for(vm, "memfill to verify", lambda: "# Totals" in vm.sh("cat /tmp/mf.log"),
             timeout=300)
    t.ktap("memfill_held", (0, vm.sh("cat /tmp/mf.log")))
    if times:
        t.note(f"shrink: {len(times)} steps, {sum(times):.1f}s "
               f"(max {max(times):.1f}s a step)")
    if not ok:
        return
    left = [b for b, (s, _) in block_states(vm, blocks).items() if s is not None]
    t.check("blocks_removed", not left, f"blocks still present: {left[:8]}")
    t.check("memtotal_back", meminfo_kb(vm) == base,
            f"MemTotal {base} -> {meminfo_kb(vm)} kB")
    # once more up and down in one go
    ok = step_to(TOP // 2, "regrow") and step_to(0, "reshrink")
    t.check("one_big_step_each_way", ok, "; ".join(bad[-2:]))
    t.note("virtio-mem in the kernel log:\n" + vm.sh(
        f"dmesg | grep -i virtio_mem | tail -n 6; ls {MEM} | grep -c memory"))
