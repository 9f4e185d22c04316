"""What the three machine definitions share."""
import os
import subprocess
from functools import lru_cache

MiB = 1 << 20
GiB = 1 << 30

DEFAULTS = {
    "mem": 1024,        # boot RAM, MiB
    "slots": 0,         # DIMM slots (0: no hotplug region)
    "maxmem": 0,        # MiB, with slots
    "smp": 2,
    "acpi": False,      # arm64: UEFI + ACPI instead of a DT boot
    "append": "",       # extra kernel command line
    "pmem": [],         # [(offset from RAM base, size)] in bytes, DT pmem-region
    "ram_limit": None,  # bytes of RAM the kernel may use (rest: pmem/probe)
    "dtb_edit": None,   # fn(harness.dtb.Tree, ram_base): scenario layouts
    "nodes": None,      # [MiB of RAM of each NUMA node], in address order
    "extra": [],        # extra QEMU arguments
}


def config(**overrides):
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown machine options: {sorted(unknown)}")
    cfg = dict(DEFAULTS)
    cfg.update(overrides)
    if cfg["nodes"] is not None and (sum(cfg["nodes"]) != cfg["mem"] or
                                     min(cfg["nodes"]) <= 0):
        raise ValueError(f"nodes {cfg['nodes']} must be sizes that add up to "
                         f"mem ({cfg['mem']} MiB)")
    return cfg


def mem_arg(cfg):
    arg = f"{cfg['mem']}M"
    if cfg["slots"]:
        arg += f",slots={cfg['slots']},maxmem={cfg['maxmem']}M"
    return ["-m", arg]


def cmdline(console, cfg, extra=""):
    # oops=panic: a guest that Oopses stops (panic=-1, -no-reboot) instead
    # of leaving the harness to wait for a shell that never answers.
    parts = [f"console={console}", "loglevel=5", "oops=panic", "panic=-1", extra,
             cfg["append"]]
    return " ".join(p for p in parts if p)


@lru_cache(maxsize=None)
def qemu_devices(qemu):
    """Device types this QEMU binary knows (for feature checks)."""
    try:
        out = subprocess.run([qemu, "-device", "help"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(w.strip('",') for line in out.splitlines()
                     for w in line.split()[1:2])


def qemu_path(name):
    """Our own build of a QEMU (MEMHP_QEMU_<ARCH>) or Debian's."""
    return os.environ.get(f"MEMHP_{name.upper().replace('-', '_')}", name)
