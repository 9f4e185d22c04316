"""Guest-side helpers shared by scenarios (each runs commands in a VM)."""
import json
import re
import time

from harness.verdict import Xfail

MEM = "/sys/devices/system/memory"


# The stable track carries the mainline fixes, not its features: the
# probe interface on arm64/riscv (an RFC there), arm64 boot memory removal.
PROBE_NOT_ON_612 = {("6.12", a): f"6.12 has no memory/probe on {a}: the interface "
                                 "is an RFC of the mainline series, not backported"
                    for a in ("arm64", "riscv64")}


def no_bootmem_removal(t, fix):
    """True (and says so) where the track has FIX but not arm64's boot
    memory removal: 6.12 on arm64, where only ZONE_MOVABLE can be checked."""
    if t.base == "6.12" and t.arch == "arm64":
        t.note(f"6.12 carries {fix}, not arm64's boot memory removal (a "
               "mainline feature): only ZONE_MOVABLE is checked")
        return True
    return False


def meminfo_kb(vm, field="MemTotal"):
    out = vm.sh(f"grep '^{field}:' /proc/meminfo")
    return int(out.split()[1])


def settled_kb(vm, field, samples=8):
    """A /proc/meminfo counter as the least of a few readings over two
    seconds, read without forking (the shell's own read builtin): page
    tables and slab objects of work that just ended are freed after an
    RCU grace period, and a reader's own page tables would count too. A
    leak stays in every reading."""
    out = vm.sh(f"i=0; while [ $i -lt {samples} ]; do while read -r k v u; do "
                f"[ \"$k\" = {field}: ] && echo $v; done < /proc/meminfo; "
                f"i=$((i + 1)); sleep 0.25; done")
    return min(int(v) for v in out.split())


def pagetables_kb(vm, samples=8):
    """PageTables, settled (settled_kb)."""
    return settled_kb(vm, "PageTables", samples)


def fault_sweep_boot(t, blocks):
    """The guest of the fault sweeps (fault-hotadd, fault-hotremove): the
    memmap on the added memory (as ACPI and dax/kmem ask for it), so the
    per-block altmaps and their error paths run; 1 GiB of RAM visible (the
    initramfs sits high in RAM: riscv64 lost it below a 512 MiB mem=) and
    BLOCKS memory blocks above it for the sweep, auto-online off. On
    x86_64 the range belongs to a node with no CPU and no RAM at boot, so
    an add brings a new node online (arm64 and riscv64 bring every node of
    the DT online at boot: node 0 there). Returns (vm, start, size, nid),
    nid " 1" or "" as the test module's add takes it."""
    append = "memory_hotplug.memmap_on_memory=1"
    if t.arch == "x86_64":
        vm = t.boot(mem=1536, nodes=[1024, 512], smp=1, ram_limit=1 << 30,
                    append=append)
        nid = " 1"
    else:
        vm = t.boot(mem=1536, ram_limit=1 << 30, append=append)
        nid = ""
    bs = block_size(vm)
    start = t.machine.RAM_BASE + (1 << 30)
    start += -start % bs
    vm.sh(f"echo offline > {MEM}/auto_online_blocks")
    return vm, start, blocks * bs, nid


def check_sweep_leak(t, vm, before, after, points, what, again):
    """pagetables_not_leaked of a fault sweep of POINTS failed WHAT: a
    page table left per failure would be 4 kB; a few kB kept for good
    (upper tables, seen on arm64: 16 kB over 178 adds) are not per
    failure, so less than 1 kB per point passes. Settled readings still
    move by some 40 kB (user page tables, RCU): past the bound, AGAIN()
    runs the sweep a second time and only a second growth fails."""
    bound = max(points, 16)
    grew = [after - before]
    if grew[0] >= bound:
        again()
        grew.append(pagetables_kb(vm) - after)
    t.check("pagetables_not_leaked", min(grew) < bound,
            f"PageTables {before} -> {after} kB over {points} failed {what}"
            + (f", then {grew[1]:+} kB over a second sweep" if len(grew) > 1 else ""))


def page_size(vm):
    """The guest kernel's page size, bytes."""
    return int(vm.sh("grep -m1 KernelPageSize /proc/self/smaps").split()[1]) * 1024


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
                  (line.split() for line in out.splitlines()
                   if line.strip()))


def json_in(out):
    """The JSON document in a tool's output (daxctl/ndctl print a JSON list
    or object, and a summary line on stderr)."""
    starts = [i for i in (out.find("["), out.find("{")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    end = max(out.rfind("]"), out.rfind("}"))
    try:
        return json.loads(out[start:end + 1])
    except ValueError:
        return None


def to_devdax(t, vm, region, name=None):
    """Reconfigures the namespace of region to devdax; returns daxX.0."""
    ns = region.replace("region", "namespace") + ".0"
    rc, out = vm.run(f"ndctl create-namespace -f -e {ns} -m devdax --map=mem",
                     timeout=120)
    if not t.check(name or f"devdax_{ns}", rc == 0, out.strip()[-300:]):
        return None
    return region.replace("region", "dax") + ".0"


def dax_span(vm, dax):
    """(physical start, size) of a dax device."""
    d = f"/sys/bus/dax/devices/{dax}"
    start = int(vm.sh(f"cat {d}/resource").strip(), 16)
    size = int(vm.sh(f"cat {d}/size").strip())
    return start, size


def kmem_blocks(vm, dax):
    """Memory block ids that dax kmem adds for a dax device: the whole
    blocks inside its range."""
    start, size = dax_span(vm, dax)
    bs = block_size(vm)
    first = -(-start // bs)
    return list(range(first, (start + size) // bs))


def region_to_kmem(t, vm, check, options=""):
    """Hands the guest's one pmem region to dax kmem as System RAM
    (daxctl reconfigure-device with options), recorded as check. Returns
    (dax, kmem block ids), or None after a failed check."""
    regions = pmem_regions(vm)
    if not t.check("region_found", len(regions) == 1, f"{regions}"):
        return None
    dax = to_devdax(t, vm, regions[0][1])
    if not dax:
        return None
    rc, out = vm.run(f"daxctl reconfigure-device -m system-ram {options}{dax}",
                     timeout=300)
    if not t.check(check, rc == 0, out.strip()[-300:]):
        return None
    return dax, kmem_blocks(vm, dax)


def kmem_from_one_region(t, ram, region, size, check):
    """Boots with RAM and one pmem region at region (bytes) and hands it to
    dax kmem as System RAM, recorded as check. Returns (vm, dax, kmem block
    ids), or None after a failed check."""
    m = 1 << 20
    t.need("dt-pmem" if t.arch != "x86_64" else "e820-pmem")
    vm = t.boot(mem=(ram + size) // m + 256, ram_limit=ram, pmem=[(region, size)])
    got = region_to_kmem(t, vm, check)
    return (vm, *got) if got else None


def block_states(vm, blocks, zones=True):
    """{block: (state, valid_zones)}, (None, None) for absent blocks."""
    zones_cmd = (lambda b: f"$(cat {MEM}/memory{b}/valid_zones 2>/dev/null || echo -)"
                 if zones else "-")
    out = vm.sh(" ; ".join(
        f"echo {b} $(cat {MEM}/memory{b}/state 2>/dev/null || echo -) {zones_cmd(b)}"
        for b in blocks) + " ; true")
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0].isdigit():
            res[int(f[0])] = (None if f[1] == "-" else f[1],
                              None if f[2] == "-" else " ".join(f[2:]))
    return res


def wait_blocks_state(vm, blocks, state, timeout=120):
    """Waits until every block is in state; gives up quietly after timeout
    (the caller checks the states). Reads no valid_zones: while blocks are
    still being added that Oopses kernels without 'drivers/base/memory:
    give hot-added memory blocks their node up front' (hotremove-partial
    tests that on purpose)."""
    try:
        wait_for(vm, f"blocks {state}", lambda: all(
            s == state for s, _ in block_states(vm, blocks, zones=False).values()),
            timeout=timeout, interval=0.5)
    except TimeoutError:
        pass


# Where unpatched riscv Oopses when it frees a vmemmap PMD leaf that memory
# which stays still uses: in the free itself, or later, when the page
# allocator or memunmap_pages() and remove_pfn_range_from_zone() (7.3)
# touch the struct pages of that memory.
RISCV_VMEMMAP_OOPS = (r"epc : (free_vmemmap_storage|memunmap_pages|"
                      r"remove_pfn_range_from_zone)[\w.]*\+")
# 7.3 riscv selects HAVE_ALIGNED_STRUCT_PAGE: struct page is 64 bytes, a
# section's memmap is a whole PMD leaf, and only sub-sections share one.
WHOLE_SECTIONS_FIXED_IN_7_3 = {("7.3", "riscv64", "base"): None}


def rodata_block_mappings(t):
    """The arm64 command line option for a linear map with block mappings:
    rodata=on on 6.12, rodata=noalias on 7.3, where "on" means "full"."""
    return "rodata=on" if t.base == "6.12" else "rodata=noalias"


ARM64_PAGE_OFFSET = 0xffff000000000000  # 48-bit VA (configs/arm64.config)


def arm64_linear_leaves(vm, start, size, ram_base):
    """arm64 ptdump: bytes of the linear map of [start, start + size)
    (physical) per leaf level, {"PUD": .., "PMD": .., "PTE": ..}. Without
    KASLR the linear map starts at PAGE_OFFSET with RAM's first GiB."""
    memstart = ram_base & ~((1 << 30) - 1)
    end = start + size
    out = vm.sh("cat /sys/kernel/debug/kernel_page_tables")
    leaves = {}
    for line in out.splitlines():
        m = re.match(r"0x([0-9a-f]+)-0x([0-9a-f]+)\s+\d+[KMGTPE]\s+(\w+)", line)
        if not m or int(m[1], 16) < ARM64_PAGE_OFFSET:
            continue
        lo = int(m[1], 16) - ARM64_PAGE_OFFSET + memstart
        hi = int(m[2], 16) - ARM64_PAGE_OFFSET + memstart
        if hi > start and lo < end:
            leaves[m[3]] = leaves.get(m[3], 0) + min(hi, end) - max(lo, start)
    return leaves


def xfail_riscv_vmemmap(symptom, subsections=False, log=RISCV_VMEMMAP_OOPS):
    """The expected failure of riscv64 base where memory is hot-removed:
    the kernel log pattern LOG (the Oops site)."""
    cause = ("sub-sections of a section that go separately" if subsections else
             "sub-sections, or whole sections with 6.12's 56-byte struct "
             "page: a 128 MiB block's memmap is 1.75 MiB")
    return Xfail(f"unpatched riscv frees vmemmap PMD leaves shared with memory that "
                 f"stays ({cause}): {symptom} (fixed by 'riscv: mm: do not "
                 "share vmemmap PMD leaves ...')", log=log)


def lsmem_vs_sysfs(t, vm, name):
    """lsmem (one row per block) agrees with sysfs on every block's state
    and, for online blocks, its zone."""
    data = json.loads(vm.sh("lsmem -J -a -b -o RANGE,SIZE,STATE,BLOCK,ZONES"))
    bs = block_size(vm)
    rows = {}
    for r in data["memory"]:
        lo, _, hi = r["range"].partition("-")
        rows[int(lo, 16) // bs] = r
    blocks = sorted(int(b[len("memory"):]) for b in vm.sh(
        f"ls -d {MEM}/memory[0-9]* | xargs -n1 basename").split())
    sysfs = block_states(vm, blocks)
    bad = []
    # util-linux (2.41) shows zones only if memory0/valid_zones exists: on
    # machines whose RAM does not start at 0 (arm64, riscv64 virt) lsmem
    # shows none and chmem ignores --zone. Only states can be compared then.
    zones_shown = any(r.get("zones") for r in rows.values()) or 0 in blocks
    if not zones_shown:
        t.note(f"{name}: lsmem shows no zones (util-linux looks for "
               f"memory0/valid_zones; the first block here is memory{blocks[0]})")
    for b in blocks:
        state, zones = sysfs[b]
        r = rows.get(b)
        if r is None:
            bad.append(f"block {b} missing in lsmem")
        elif r["state"] != state:
            bad.append(f"block {b}: lsmem {r['state']}, sysfs {state}")
        elif state == "online" and zones_shown and \
                (r.get("zones") or "none").lower() != (zones or "").lower():
            # lsmem says "None" where sysfs says "none" (a block that
            # spans two zones)
            bad.append(f"block {b}: lsmem zones {r.get('zones')}, sysfs {zones}")
    extra = sorted(set(rows) - set(blocks))
    if extra:
        bad.append(f"lsmem lists blocks sysfs lacks: {extra[:8]}")
    return t.check(name, not bad, "; ".join(bad[:4]))


# ACPI _OST status codes that end an eject request (0: done; 0x84: pending)
OST_PENDING = (0, 0x84)


def migrated(vm):
    """Pages migrated so far (/proc/vmstat pgmigrate_success), or None."""
    out = vm.sh("grep '^pgmigrate_success ' /proc/vmstat; true")
    parts = out.split()
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None


def eject(vm, dev, timeout=90, patience=0):
    """device_del; returns ("deleted", secs) or ("refused", OST info) or
    ("no answer", None).

    With patience, the wait goes on past timeout in windows of 30 s while
    the guest keeps migrating pages, up to timeout + patience: offlining
    full kernel memory may take long, but when migration has stopped
    moving pages the kernel is only retrying (it does so until a signal
    comes, and an ACPI eject sends none)."""
    t0 = time.monotonic()
    vm.qmp.execute("device_del", id=dev)
    deadline = t0 + timeout
    last = None
    while True:
        if time.monotonic() >= deadline:
            if time.monotonic() >= t0 + timeout + patience:
                break
            now = migrated(vm) if patience else None
            if now is None or now == last:
                break
            last = now
            deadline = time.monotonic() + 30
        try:
            vm.qmp.wait_event("DEVICE_DELETED", timeout=1,
                              match=lambda e: e["data"].get("device") == dev)
            return "deleted", time.monotonic() - t0
        except TimeoutError:
            pass
        for ev in list(vm.qmp.events):
            info = ev.get("data", {}).get("info", {})
            if ev["event"] == "ACPI_DEVICE_OST" and info.get("device") == dev:
                vm.qmp.events.remove(ev)
                if info.get("status") not in OST_PENDING:
                    return "refused", info
    return "no answer", None
