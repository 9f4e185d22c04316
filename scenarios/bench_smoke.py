"""make bench, small: 1 GiB through a pc-dimm and virtio-mem, measured in the guest, so the benchmark cannot rot."""
from harness import bench

NAME = "bench-smoke"
ORDER = 95
KERNELS = ("patched",)
CONFIG = ("acpi", "ACPI_HOTPLUG_MEMORY", "MHP_MEMMAP_ON_MEMORY")
TIMEOUT = 600
# less data than make bench: these are the debug kernels, where migration is slow
FILL_MIB = 32


def figures(res):
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in res.items())


def run(t):
    t.need("acpi-dimm")
    vm = t.boot(acpi=True, mem=bench.BOOT_MIB, slots=1, maxmem=bench.BOOT_MIB + 1024,
                append=bench.APPEND)
    fl = bench.floors(vm)
    t.check("floors", fl["write_mib_s"] > 0 and fl["copy_mib_s"] > 0, f"{fl}")
    res = bench.with_ratios(bench.measure_dimm(vm, bench.GiB, "s", fill_mib=FILL_MIB), fl)
    t.note(figures(res))
    t.check("every_step_measured", "error" not in res and
            all(res.get(m, 0) > 0 for m in bench.METRICS), res.get("error", f"{res}"))
    # 40..128 bytes of memmap a 4 KiB page (struct page is 56 or 64 here)
    sp = res.get("struct_page_bytes", 0)
    t.check("memmap_counted", 40 <= sp <= 128 * 4, f"{sp} bytes of memmap a page")
    # Onlining writes the memmap: it cannot take much less than writing it.
    t.check("online_not_below_floor", res.get("add_online_over_floor", 0) >= 0.5,
            f"add+online {res.get('add_online')}s, floor {res.get('memmap_floor')}s")
    t.check("data_migrated", res.get("migrated_bytes", 0) > 0 and res.get("data_intact"),
            f"{res.get('migrated_bytes', 0)} bytes in the DIMM at offline, "
            f"intact: {res.get('data_intact')}")
    vm.stop()
    if "virtio-mem" not in t.features:
        t.note(f"{t.arch} machine has no virtio-mem: its part not run")
        return
    vm = bench.boot_for(t, "vmem", [1])
    res = bench.with_ratios(bench.measure_vmem(vm, bench.GiB, "v", fill_mib=FILL_MIB), fl)
    t.note("virtio-mem: " + figures(res))
    t.check("vmem_every_step_measured", "error" not in res and
            all(res.get(m, 0) > 0 for m in ("add_online", "offline", "remove")),
            res.get("error", f"{res}"))
    t.check("vmem_data_migrated", res.get("migrated_bytes", 0) > 0 and res.get("data_intact"),
            f"{res.get('migrated_bytes', 0)} bytes in the device at offline, "
            f"intact: {res.get('data_intact')}")
