"""Device trees for DT-booted guests: QEMU's own, edited in place with
fdtput (device-tree-compiler), node by node and property by property."""
import subprocess


def dump(argv, out_dtb):
    """Asks QEMU (same argv as the real run) for the DTB it would build."""
    argv = list(argv)
    i = argv.index("-M")
    argv[i + 1] += f",dumpdtb={out_dtb}"
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def to_dts(dtb, sort=False):
    """The DTB as source text (sorted: nodes and properties in order)."""
    return subprocess.run(["dtc", "-q", *(["-s"] if sort else []), "-I", "dtb",
                           "-O", "dts", dtb],
                          check=True, capture_output=True, text=True).stdout


def cells(value):
    """A 64-bit value as two 32-bit cells (QEMU virt: #address-cells and
    #size-cells are 2 on arm64 and riscv64)."""
    return [f"{value >> 32:x}", f"{value & 0xffffffff:x}"]


class Tree:
    """A DTB file, changed by fdtput; every call checks what it did."""

    def __init__(self, path):
        self.path = path

    def _fdt(self, tool, *args):
        r = subprocess.run([tool, self.path, *args], capture_output=True,
                           text=True)
        if r.returncode:
            raise ValueError(f"{tool} {' '.join(args)}: "
                             f"{(r.stderr or r.stdout).strip()}")
        return r.stdout

    def nodes(self, parent="/"):
        return self._fdt("fdtget", "-l", parent).split()

    def has(self, node):
        parent, _, name = node.rpartition("/")
        return name in self.nodes(parent or "/")

    def mknode(self, node):
        if self.has(node):
            raise ValueError(f"the DTB has {node} already")
        self._fdt("fdtput", "-c", node)

    def put(self, node, prop, *values, kind="x"):
        """kind x: 32-bit cells (hex); s: a string; no values: an empty
        (boolean) property."""
        if not self.has(node):
            raise ValueError(f"no {node} node in the DTB")
        self._fdt("fdtput", *(["-t", kind] if values else []), node, prop,
                  *values)

    def set_reg(self, node, base, size):
        self.put(node, "reg", *cells(base), *cells(size))

    def set_memory(self, base, size, numa_node=None):
        """Rewrites the reg of the memory node at base (shrinking RAM)."""
        node = f"/memory@{base:x}"
        self.set_reg(node, base, size)
        if numa_node is not None:
            self.put(node, "numa-node-id", f"{numa_node:x}")

    def add_memory(self, base, size, numa_node=None, hotpluggable=False,
                   name="memory"):
        """A memory node. arm64 QEMU replaces memory@ nodes with its own:
        another name keeps a node there."""
        node = f"/{name}@{base:x}"
        self.mknode(node)
        self.put(node, "device_type", "memory", kind="s")
        self.set_reg(node, base, size)
        if numa_node is not None:
            self.put(node, "numa-node-id", f"{numa_node:x}")
        if hotpluggable:
            self.put(node, "hotpluggable")

    def add_pmem(self, base, size):
        """A pmem-region node (drivers/nvdimm/of_pmem.c), on node 0 (dax
        kmem refuses regions without a node)."""
        node = f"/pmem@{base:x}"
        self.mknode(node)
        self.put(node, "compatible", "pmem-region", kind="s")
        self.set_reg(node, base, size)
        self.put(node, "numa-node-id", "0")


def numa_nodes(tree, base, sizes_mib, in_place):
    """RAM as one memory node per NUMA node, in address order. in_place:
    QEMU uses the DT as is (riscv64), so its memory node becomes node 0;
    otherwise (arm64) QEMU rewrites memory@ nodes, and nodes of another
    name carry the ids."""
    at = base
    for nid, mib in enumerate(sizes_mib):
        size = mib << 20
        if in_place and nid == 0:
            tree.set_memory(base, size, numa_node=0)
        else:
            tree.add_memory(at, size, nid, name="memory" if in_place else "ram")
        at += size


def for_guest(argv, cfg, ram_base, workdir, name, shrink_ram=False):
    """QEMU's DTB for argv with the machine config's edits: pmem regions,
    the scenario's dtb_edit(tree, ram_base) and (shrink_ram) RAM cut to
    cfg["ram_limit"]. Returns the extra QEMU arguments that pass it (none
    when nothing is edited)."""
    shrink = shrink_ram and cfg["ram_limit"] is not None
    if not (cfg["pmem"] or cfg["dtb_edit"] or shrink or cfg["nodes"]):
        return []
    if shrink and cfg["nodes"]:
        raise ValueError("nodes and ram_limit: hide RAM with mem= instead")
    out = f"{workdir}/{name}.dtb"
    dump(argv, out)
    tree = Tree(out)
    if shrink:
        tree.set_memory(ram_base, cfg["ram_limit"])
    if cfg["nodes"]:
        numa_nodes(tree, ram_base, cfg["nodes"], in_place=shrink_ram)
    for off, size in cfg["pmem"]:
        tree.add_pmem(ram_base + off, size)
    if cfg["dtb_edit"]:
        cfg["dtb_edit"](tree, ram_base)
    return ["-dtb", out]
