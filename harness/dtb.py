"""Device trees for DT-booted guests: QEMU's own, with edits."""
import re
import subprocess


def dump(argv, out_dtb):
    """Asks QEMU (same argv as the real run) for the DTB it would build."""
    argv = list(argv)
    i = argv.index("-M")
    argv[i + 1] += f",dumpdtb={out_dtb}"
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def to_dts(dtb):
    return subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", dtb],
                          check=True, capture_output=True, text=True).stdout


def compile_dts(dts, out_dtb):
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out_dtb, "-"],
                   input=dts, check=True, text=True)


def cells(value):
    """A 64-bit value as two 32-bit cells."""
    return f"0x{value >> 32:x} 0x{value & 0xffffffff:x}"


def add_root_nodes(dts, nodes):
    """Adds node text just before the root node's closing brace."""
    end = dts.rstrip().rfind("};")
    return dts[:end] + nodes + dts[end:]


def pmem_nodes(regions):
    """pmem-region nodes (drivers/nvdimm/of_pmem.c) for (base, size) pairs."""
    return "".join(
        f"\n\tpmem@{base:x} {{\n\t\tcompatible = \"pmem-region\";\n"
        f"\t\treg = <{cells(base)} {cells(size)}>;\n"
        # a node for the region (dax kmem refuses regions without one)
        f"\t\tnuma-node-id = <0>;\n\t}};\n"
        for base, size in regions)


def set_memory(dts, base, size, extra_props=""):
    """Rewrites the reg of the memory node at base (shrinking RAM)."""
    rx = re.compile(rf"(memory@{base:x} \{{.*?reg = <)[^>]*(>;)", re.S)
    if not rx.search(dts):
        raise ValueError(f"no memory@{base:x} node in the DTB")
    dts = rx.sub(lambda m: m.group(1) + f"{cells(base)} {cells(size)}" +
                 m.group(2) + extra_props, dts, count=1)
    return dts


def memory_node(base, size, numa_node=None, hotpluggable=False, name="memory"):
    """Text of a memory node (for add_root_nodes). arm64 QEMU replaces
    memory@ nodes with its own: another name keeps a node there."""
    props = ""
    if hotpluggable:
        props += "\t\thotpluggable;\n"
    if numa_node is not None:
        props += f"\t\tnuma-node-id = <{numa_node}>;\n"
    return (f"\n\t{name}@{base:x} {{\n\t\tdevice_type = \"memory\";\n"
            f"\t\treg = <{cells(base)} {cells(size)}>;\n{props}\t}};\n")


def for_guest(argv, cfg, ram_base, workdir, name, shrink_ram=False):
    """QEMU's DTB for argv with the machine config's edits: pmem regions,
    scenario edits and (shrink_ram) RAM cut to cfg["ram_limit"]. Returns
    the extra QEMU arguments that pass it (none when nothing is edited)."""
    shrink = shrink_ram and cfg["ram_limit"] is not None
    if not (cfg["pmem"] or cfg["dtb_edit"] or shrink):
        return []
    raw = f"{workdir}/{name}.qemu.dtb"
    dump(argv, raw)
    dts = to_dts(raw)
    if shrink:
        dts = set_memory(dts, ram_base, cfg["ram_limit"])
    dts = add_root_nodes(dts, pmem_nodes(
        [(ram_base + off, size) for off, size in cfg["pmem"]]))
    if cfg["dtb_edit"]:
        dts = cfg["dtb_edit"](dts, ram_base)
    out = f"{workdir}/{name}.dtb"
    compile_dts(dts, out)
    return ["-dtb", out]
