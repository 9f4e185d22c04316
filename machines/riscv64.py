"""riscv64: QEMU virt, OpenSBI + a DT that QEMU builds and we edit."""
from harness import dtb
from .common import GiB, cmdline, mem_arg, qemu_path

QEMU = qemu_path("qemu-system-riscv64")
CONSOLE = "ttyS0"
RAM_TOP_RESERVED = 0
RAM_BASE = 2 * GiB
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"


def features():
    # Debian's QEMU has no pc-dimm and no virtio-mem on riscv virt.
    return {"dt-pmem", "probe-hidden-ram"}


def argv(kernel, initrd, cfg, workdir, name):
    if cfg["acpi"]:
        raise ValueError("riscv64 virt: no ACPI boot in this harness")
    a = [QEMU, "-M", "virt", "-smp", str(cfg["smp"]), *mem_arg(cfg),
         "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
         "-bios", FIRMWARE, "-kernel", kernel, "-initrd", initrd,
         "-append", cmdline(CONSOLE, cfg, "earlycon=sbi"), *cfg["extra"]]
    # The DT given with -dtb is used as is: RAM is cut there.
    return a + dtb.for_guest(a, cfg, RAM_BASE, workdir, name, shrink_ram=True)
