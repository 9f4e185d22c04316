"""riscv64: QEMU virt. OpenSBI + a DT that QEMU builds and we edit; with our
QEMU (qemu/, scripts/qemu.sh) also UEFI + ACPI for pc-dimm hotplug."""
import glob
import os
import shutil

from harness import dtb
from .common import GiB, cmdline, mem_arg, qemu_devices

CONSOLE = "ttyS0"
# Kernel options every guest needs here, and what a scenario's "pmem" and
# "acpi" mean on this machine (the preflight of a user's own kernel).
CONFIG = ("SERIAL_8250_CONSOLE", "SERIAL_OF_PLATFORM", "OF")
CONFIG_SETS = {"pmem": ("LIBNVDIMM", "BLK_DEV_PMEM", "OF_PMEM"),
               "acpi": ("ACPI", "EFI_STUB")}
RAM_TOP_RESERVED = 0
RAM_BASE = 2 * GiB
OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic"
FIRMWARE = f"{OPENSBI}/fw_jump.bin"
# UEFI boot: OpenSBI fw_dynamic hands over to EDK2 in pflash0 (Debian's
# qemu-efi-riscv64), which starts the kernel (EFI stub) from fw_cfg.
UEFI_SBI = f"{OPENSBI}/fw_dynamic.bin"


def _our_qemu():
    """Our QEMU: $MEMHP_QEMU_SYSTEM_RISCV64, else the newest complete
    build in the cache of scripts/qemu.sh, else Debian's."""
    env = os.environ.get("MEMHP_QEMU_SYSTEM_RISCV64")
    if env:
        return env
    build = os.environ.get("MEMHP_BUILD", os.path.expanduser("~/.cache/memhp"))
    done = [d for d in glob.glob(os.path.join(build, "qemu", "*"))
            if os.path.exists(os.path.join(d, ".complete")) and
            os.access(os.path.join(d, "bin", "qemu-system-riscv64"), os.X_OK)]
    if done:
        newest = max(done, key=lambda d: os.path.getmtime(
            os.path.join(d, ".complete")))
        return os.path.join(newest, "bin", "qemu-system-riscv64")
    return "qemu-system-riscv64"


QEMU = _our_qemu()


def _uefi_dir():
    """Debian trixie's qemu-efi-riscv64 as our QEMU's build recorded it
    (scripts/qemu.sh unpacks it into the cache), else an installed one."""
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(QEMU)),
                               ".firmware")) as f:
            return os.path.dirname(f.read().strip())
    except OSError:
        return "/usr/share/qemu-efi-riscv64"


UEFI_DIR = _uefi_dir()
UEFI_CODE = f"{UEFI_DIR}/RISCV_VIRT_CODE.fd"
UEFI_VARS = f"{UEFI_DIR}/RISCV_VIRT_VARS.fd"


def features():
    f = {"dt-pmem", "probe-hidden-ram"}
    devices = qemu_devices(QEMU)
    # Debian's QEMU has neither on riscv virt; ours (qemu/) has both.
    if "virtio-mem-pci" in devices:
        f.add("virtio-mem")
    if "pc-dimm" in devices and os.path.exists(UEFI_CODE):
        f.add("acpi-dimm")
    return f


def _uefi_args(workdir, name):
    """pflash0: EDK2 (read-only), pflash1: this guest's own copy of the
    variable store."""
    for path in (UEFI_CODE, UEFI_VARS, UEFI_SBI):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing (make deps fetches "
                                    "qemu-efi-riscv64, make qemu records it)")
    vars_copy = os.path.join(workdir, f"{name}.efivars.fd")
    shutil.copyfile(UEFI_VARS, vars_copy)
    return ["-bios", UEFI_SBI,
            "-drive", f"if=pflash,unit=0,format=raw,readonly=on,file={UEFI_CODE}",
            "-drive", f"if=pflash,unit=1,format=raw,file={vars_copy}"]


def _machine(cfg):
    m = "virt,acpi=on" if cfg["acpi"] else "virt,acpi=off"
    # PCIe hotplug (a pcie-root-port): the ports and devices need MSIs. With
    # the default PLIC they share INTx lines, and Linux 6.12 deadlocks on
    # device_del (pciehp's irq thread removes the device, whose driver
    # waits in synchronize_irq() for that same irq thread); the APLIC +
    # IMSIC give every function its own MSIs.
    if any("pcie-root-port" in str(a) for a in cfg["extra"]):
        m += ",aia=aplic-imsic"
    return m


def argv(kernel, initrd, cfg, workdir, name):
    common = ["-smp", str(cfg["smp"]), *mem_arg(cfg), "-nodefaults",
              "-display", "none", "-no-reboot", "-serial", "stdio"]
    if cfg["acpi"]:
        if (cfg["pmem"] or cfg["dtb_edit"] or cfg["nodes"] or
                cfg["ram_limit"] is not None):
            raise ValueError("riscv64: DT edits, nodes and ram_limit need a "
                             "DT boot (acpi=False)")
        return [QEMU, "-M", _machine(cfg), *common,
                *_uefi_args(workdir, name), "-kernel", kernel,
                "-initrd", initrd, "-append", cmdline(CONSOLE, cfg),
                *cfg["extra"]]
    a = [QEMU, "-M", _machine(cfg), *common, "-bios", FIRMWARE,
         "-kernel", kernel, "-initrd", initrd,
         "-append", cmdline(CONSOLE, cfg, "earlycon=sbi"), *cfg["extra"]]
    # The DT given with -dtb is used as is: RAM is cut there.
    return a + dtb.for_guest(a, cfg, RAM_BASE, workdir, name, shrink_ram=True)
