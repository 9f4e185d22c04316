"""Guest-side helpers shared by scenarios (each runs commands in a VM)."""
import json
import time

MEM = "/sys/devices/system/memory"


def meminfo_kb(vm, field="MemTotal"):
    out = vm.sh(f"grep '^{field}:' /proc/meminfo")
    return int(out.split()[1])


def block_size(vm):
    return int(vm.sh(f"cat {MEM}/block_size_bytes").strip(), 16)


def blocks_in(vm, start, size):
    """Memory block ids covering [start, start + size)."""
    bs = block_size(vm)
    return list(range(start // bs, (start + size) // bs))


def block_attr(vm, block, attr):
    rc, out = vm.run(f"cat {MEM}/memory{block}/{attr}")
    return out.strip() if rc == 0 else None


def wait_for(vm, what, fn, timeout=120, interval=1.0):
    """Polls fn() until it returns a true value; returns it or raises."""
    deadline = time.monotonic() + timeout
    while True:
        val = fn()
        if val:
            return val
        if time.monotonic() > deadline:
            raise TimeoutError(f"timeout ({timeout}s) waiting for {what}")
        time.sleep(interval)


def lsmem_json(vm):
    return json.loads(vm.sh("lsmem -J -b -o RANGE,SIZE,STATE,BLOCK,ZONES"))


def memfill(t, vm, name, mib, rng=None, need_mib=None, seed=1):
    """Writes and verifies a pattern; with rng checks it landed there."""
    cmd = f"memfill --mib {mib} --seed {seed}"
    if rng:
        cmd += f" --range {rng[0]:#x}-{rng[0] + rng[1]:#x}"
        if need_mib:
            cmd += f" --need-mib {need_mib}"
    return t.ktap(name, vm.run(cmd, timeout=600))


def pmem_regions(vm):
    """(physical start, regionN) of every nd region, by address."""
    out = vm.sh("for r in /sys/bus/nd/devices/region*; do "
                "echo $(cat $r/resource) $(basename $r); done")
    return sorted((int(a, 16), r) for a, r in
                  (line.split() for line in out.splitlines() if line.strip()))
