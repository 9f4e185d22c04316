"""x86_64, the parity reference: QEMU q35, ACPI, legacy pmem via memmap=."""
from .common import MiB, cmdline, mem_arg, qemu_devices, qemu_path

QEMU = qemu_path("qemu-system-x86_64")
CONSOLE = "ttyS0"
# Kernel options every guest needs here, and what a scenario's "pmem" and
# "acpi" mean on this machine (the preflight of a user's own kernel).
CONFIG = ("SERIAL_8250_CONSOLE", "ACPI")
CONFIG_SETS = {"pmem": ("LIBNVDIMM", "BLK_DEV_PMEM", "X86_PMEM_LEGACY"),
               "acpi": ("ACPI",)}
RAM_BASE = 0
# q35's firmware reserves the last 128 KiB below the end of low RAM.
RAM_TOP_RESERVED = 128 << 10


def features():
    f = {"acpi-dimm", "e820-pmem", "probe-hidden-ram"}
    if "virtio-mem-pci" in qemu_devices(QEMU):
        f.add("virtio-mem")
    return f


def argv(kernel, initrd, cfg, workdir, name):
    if cfg["dtb_edit"]:
        raise ValueError("x86_64 has no device tree")
    extra = []
    # pmem regions: the kernel's legacy memmap=size!offset (X86_PMEM_LEGACY).
    for off, size in cfg["pmem"]:
        extra.append(f"memmap={size // MiB}M!{off // MiB}M")
    if cfg["ram_limit"] is not None:
        extra.append(f"mem={cfg['ram_limit'] // MiB}M")
    # -numa node: an SRAT, so that pmem and hot-added ranges have a node
    # (dax kmem refuses regions without one), as arm64/riscv get from DT.
    numa = []
    nodes = cfg["nodes"] or [cfg["mem"]]
    for nid, mib in enumerate(nodes):
        # Several nodes: CPUs dealt out in turn, as on real NUMA machines.
        # A node with neither CPUs nor boot RAM (all of it above mem=) is
        # not brought online on x86 (6.12), so it would not be there to
        # probe memory onto.
        cpus = ""
        if len(nodes) > 1:
            cpus = "".join(f",cpus={c}" for c in range(nid, cfg["smp"], len(nodes)))
        numa += ["-object", f"memory-backend-ram,id=ram{nid},size={mib}M",
                 "-numa", f"node,nodeid={nid}{cpus},memdev=ram{nid}"]
    # One socket per CPU then, so that no package spans two nodes (the
    # kernel WARNs in topology_sane() about cores of one LLC on two nodes).
    smp = str(cfg["smp"])
    if len(nodes) > 1:
        smp += f",sockets={cfg['smp']},cores=1,threads=1"
    return [QEMU, "-M", "q35", "-smp", smp, *mem_arg(cfg), *numa,
            "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
            "-append", cmdline(CONSOLE, cfg, " ".join(extra)), *cfg["extra"]]
