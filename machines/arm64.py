"""arm64: QEMU virt. DT boot by default; UEFI + ACPI for pc-dimm hotplug."""
from harness import dtb
from .common import GiB, cmdline, mem_arg, qemu_devices, qemu_path

QEMU = qemu_path("qemu-system-aarch64")
CONSOLE = "ttyAMA0"
RAM_TOP_RESERVED = 0
RAM_BASE = 1 * GiB
FIRMWARE = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
# Kernel options every guest needs here, and what a scenario's "pmem" and
# "acpi" mean on this machine (the preflight of a user's own kernel).
CONFIG = ("SERIAL_AMBA_PL011_CONSOLE", "OF")
CONFIG_SETS = {"pmem": ("LIBNVDIMM", "BLK_DEV_PMEM", "OF_PMEM"),
               "acpi": ("ACPI", "EFI_STUB")}


def features():
    f = {"dt-pmem", "acpi-dimm", "probe-hidden-ram"}
    if "virtio-mem-pci" in qemu_devices(QEMU):
        f.add("virtio-mem")
    return f


def argv(kernel, initrd, cfg, workdir, name):
    machine = "virt,acpi=on" if cfg["acpi"] else "virt,acpi=off"
    extra = ""
    if cfg["ram_limit"] is not None:
        # QEMU rewrites the DT memory node to all of RAM: limit the kernel.
        extra = f"mem={cfg['ram_limit'] // (1 << 20)}M"
    a = [QEMU, "-M", machine, "-cpu", "cortex-a57", "-smp", str(cfg["smp"]),
         *mem_arg(cfg), "-nodefaults", "-display", "none", "-no-reboot",
         "-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
         "-append", cmdline(CONSOLE, cfg, extra), *cfg["extra"]]
    if cfg["acpi"]:
        if cfg["pmem"] or cfg["dtb_edit"] or cfg["nodes"]:
            raise ValueError("arm64: DT edits and nodes need a DT boot (acpi=False)")
        return a[:1] + ["-bios", FIRMWARE] + a[1:]
    # QEMU rewrites the DT memory node itself: RAM is cut with mem= above.
    return a + dtb.for_guest(a, cfg, RAM_BASE, workdir, name)
