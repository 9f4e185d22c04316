"""make bench: how fast memory comes and goes, against its floors.

usage: python3 -m harness.bench [--arch A,..] [--kernel base,patched]
                                [--sizes GIB,..] [--out DIR] [--no-plots]
                                [--variant NAME|none] [--profile-gib N]

One guest per (arch, kernel): 512 MiB of boot RAM, UEFI + ACPI,
memory_hotplug.memmap_on_memory=1, blocks left offline on arrival. For
each size a pc-dimm (host RAM backend with reserve=off) is added, its
blocks onlined movable, filled with data, offlined and ejected. Every
time is taken inside the guest (guest/memhp_bench.c: CLOCK_MONOTONIC
around the sysfs writes, and the kernel's own uevents for the add):

  add      the DIMM's ACPI slot reporting it present (_STA) .. the
           uevent of its last block (ACPI notify, arch_add_memory: vmemmap
           and linear map, block devices)
  online   writing online_movable to every block (memmap init, buddy)
  offline  writing offline to every block, with FILL MiB of data in them
           (migration)
  remove   writing the slot's eject .. its _STA saying empty (the
           blocks removed, _EJ0 done)

The kernels are the bench variant (configs/variant-bench.config: no
lockdep or DEBUG_VM, with the function profiler), built by
scripts/variant.sh. After the timed sizes one more DIMM goes through the
same steps under the function profiler: the top functions of each step.

Floors, measured in the same guest: the memmap bytes of the DIMM
(nr_memmap_pages grew by that much) at the guest's memset bandwidth, and
the data migrated at its memcpy bandwidth. Under TCG only ratios within
one run mean anything.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time

from scenarios._guest import block_size, page_size, wait_for

from . import run as hrun

MiB = 1 << 20
GiB = 1 << 30
BOOT_MIB = 512
FILL_MIB = 128
APPEND = "memory_hotplug.memmap_on_memory=1 memhp_default_state=offline"
# virtio-mem adds no more than 1 GiB of memory that stays offline (its
# offline_threshold): its blocks are onlined as they come
VMEM_APPEND = "memory_hotplug.memmap_on_memory=1 memhp_default_state=online_movable"
STEP_TIMEOUT = 1200
METRICS = ("add", "online", "add_online", "offline", "remove")
TRACING = "/sys/kernel/debug/tracing"
PROFILE_GIB = 4
ORDER_GIB = 4
PROFILE_TOP = 12
IDLE = frozenset(("do_idle", "cpu_idle_poll", "default_idle_call", "arch_cpu_idle",
                  "cpu_do_idle", "default_idle", "cpuidle_idle_call", "cpu_startup_entry",
                  "native_safe_halt", "pv_native_safe_halt", "acpi_idle_do_entry",
                  "acpi_safe_halt", "default_enter_idle", "arch_cpu_idle_enter"))


def kv(out):
    """{key: value} of memhp_bench's key=value lines (numbers as float)."""
    res = {}
    for line in out.splitlines():
        k, eq, v = line.strip().partition("=")
        if eq and k.isidentifier():
            try:
                res[k] = float(v)
            except ValueError:
                res[k] = v
    return res


def exponent(points):
    """Least-squares slope of log(seconds) against log(size) over
    [(size, seconds), ...] with both positive; None with fewer than two
    sizes. 1 is linear; 2 is quadratic."""
    pts = [(math.log(s), math.log(t)) for s, t in points if s > 0 and t and t > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def vmstat(vm, key):
    out = vm.sh(f"grep '^{key} ' /proc/vmstat || echo '{key} 0'")
    return int(out.split()[-1])


def floors(vm):
    """The guest's memset and memcpy bandwidth, MiB/s."""
    got = kv(vm.sh("memhp_bench bw 64", timeout=300))
    return {"write_mib_s": got["write_mib_s"], "copy_mib_s": got["copy_mib_s"]}


class Steps:
    """Runs the steps of one size, each under the function profiler when
    asked: res["profile"][step] then lists where its time went (and the
    times are the profiler's, not the kernel's)."""

    def __init__(self, vm, res, profile):
        self.vm, self.res = vm, res
        self.prof = res.setdefault("profile", {}) if profile else None
        # the host's polls run commands in the guest: fewer while profiling
        self.poll = 3 if profile else 0.5

    def start(self, step):
        if self.prof is not None:
            profile_start(self.vm)

    def stop(self, step):
        if self.prof is not None:
            self.prof[step] = profile_stop(self.vm)

    def fail(self, step, why):
        self.res["error"] = f"{step}: {why.strip()[-300:]}"
        return False


def watch(vm, tag, cmd):
    """Starts `memhp_bench CMD` (plug, uevents) in the background; None
    once it watches, else what it said."""
    vm.sh(f"rm -f /tmp/ev.{tag}; memhp_bench {cmd} > /tmp/ev.{tag} 2>&1 &")
    if guest_wait(vm, f"grep -q -e ready -e memhp_bench: /tmp/ev.{tag}", 60) and \
            "ready" in vm.sh(f"cat /tmp/ev.{tag}"):
        return None
    return vm.sh(f"cat /tmp/ev.{tag}") or "memhp_bench did not start"


def watched(vm, tag, nblk, timeout, poll=0.5):
    """What the watcher of TAG saw once it ends: ({key: value}, None), or
    (None, why) when it did not see all NBLK blocks."""
    if not guest_wait(vm, f"grep -q complete= /tmp/ev.{tag}", timeout + 60, poll):
        return None, "memhp_bench did not end: " + vm.sh(f"cat /tmp/ev.{tag}; dmesg | tail -n 5")
    ev = kv(vm.sh(f"cat /tmp/ev.{tag}"))
    if ev.get("complete") != 1:
        return None, (f"{ev.get('uevents', 0):.0f} uevents for {nblk} blocks: " +
                      vm.sh("dmesg | tail -n 5"))
    return ev, None


def watched_step(st, step, tag, cmd, nblk, act, timeout, what=None):
    """One step timed by the guest: starts `memhp_bench CMD` watching,
    does ACT (the host's request) under STEP's profile, and returns what
    the watcher saw; None, with the error under WHAT (default STEP), if
    it did not see all NBLK blocks' uevents."""
    why = watch(st.vm, tag, cmd)
    if not why:
        st.start(step)
        act()
        ev, why = watched(st.vm, tag, nblk, timeout, st.poll)
        st.stop(step)
    if why:
        st.fail(what or step, why)
        return None
    return ev


def online_fill_offline(st, addr, size, tag, fill_mib, timeout, online=True, down=False):
    """The steps every mechanism shares: online its blocks movable (unless
    they came online), put FILL_MIB of data in them, offline them
    (migrating the data), and see the data intact. True if all went."""
    vm, res = st.vm, st.res
    bs, page = block_size(vm), page_size(vm)
    first, nblk = addr // bs, size // bs
    if online:
        st.start("online")
        rc, out = vm.run(f"memhp_bench state online_movable {first} {nblk}",
                         timeout=timeout)
        st.stop("online")
        if rc:
            return st.fail("online", out)
        res["online"] = kv(out)["seconds"]
        res["add_online"] = res["add"] + res["online"]
    rng = f"{addr:#x}-{addr + size:#x}"
    vm.sh(f"memfill --mib {fill_mib} --range {rng} --hold > /tmp/mf.{tag} 2>&1 & "
          f"echo $! > /tmp/mf.{tag}.pid")
    guest_wait(vm, f"grep -q holding /tmp/mf.{tag}", 300)
    # memfill: "# N of M pages (P of M present) in range A-B: X MiB"
    hit = re.search(r"(\d+) of \d+ pages .* in range", vm.sh(f"cat /tmp/mf.{tag}"))
    res["migrated_bytes"] = int(hit.group(1)) * page if hit else 0
    st.start("offline")
    rc, out = vm.run(f"memhp_bench state offline {first} {nblk}{' down' if down else ''}",
                     timeout=timeout)
    st.stop("offline")
    vm.sh(f"kill -USR1 $(cat /tmp/mf.{tag}.pid)")
    guest_wait(vm, f"grep -q '# Totals' /tmp/mf.{tag}", 300)
    # the data held across the offline (migration) is still right
    res["data_intact"] = bool(re.search(r"^ok \d+ verify_after_hold", vm.sh(
        f"cat /tmp/mf.{tag}"), re.M))
    if rc:
        return st.fail("offline", out)
    res["offline"] = kv(out)["seconds"]
    return True


def memmap_grew(vm, res, memmap0, size):
    page = page_size(vm)
    res["memmap_bytes"] = (vmstat(vm, "nr_memmap_pages") - memmap0) * page
    res["struct_page_bytes"] = res["memmap_bytes"] / (size / page)


def measure_dimm(vm, size, tag, fill_mib=FILL_MIB, timeout=STEP_TIMEOUT, profile=False,
                 down=False):
    """Adds, onlines, fills, offlines and ejects one pc-dimm of SIZE bytes.
    Returns {figure: value}; "error" says where it stopped, if it did;
    "profile" (with PROFILE) where each step's time went. DOWN offlines
    from the last block to the first (the kernel's eject goes up)."""
    res = {"size_gib": size / GiB}
    st = Steps(vm, res, profile)
    nblk = size // block_size(vm)
    memmap0 = vmstat(vm, "nr_memmap_pages")
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram", "id": f"bm{tag}",
                                    "size": size, "reserve": False})
    ev = watched_step(st, "add", tag, f"plug {nblk} {timeout}", nblk, lambda: vm.qmp.execute(
        "device_add", driver="pc-dimm", id=f"bd{tag}", memdev=f"bm{tag}"), timeout)
    if ev is None:
        return res
    res["add"] = ev["last"] - ev["first"]
    memmap_grew(vm, res, memmap0, size)
    dimm = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
                if d["data"].get("id") == f"bd{tag}")
    if not online_fill_offline(st, dimm["addr"], size, tag, fill_mib, timeout, down=down):
        return res
    st.start("remove")
    rc, out = vm.run(f"memhp_bench eject {ev['slot']} {timeout}", timeout=timeout + 60)
    st.stop("remove")
    ev = kv(out)
    if rc or ev.get("complete") != 1:
        st.fail("remove", out)
        return res
    res["remove"] = ev["seconds"]
    try:
        vm.qmp.wait_event("DEVICE_DELETED", timeout=120,
                          match=lambda e: e["data"].get("device") == f"bd{tag}")
        vm.qmp.execute("object-del", id=f"bm{tag}")
    except TimeoutError:
        st.fail("remove", "blocks gone but QEMU sent no DEVICE_DELETED")
    return res


VMEM = "vmem0"


def vmem_device(vm):
    return next(d["data"] for d in vm.qmp.execute("query-memory-devices")
                if d["type"] == "virtio-mem" and d["data"].get("id") == VMEM)


def measure_vmem(vm, size, tag, fill_mib=FILL_MIB, timeout=STEP_TIMEOUT, profile=False):
    """Grows the virtio-mem device by SIZE bytes, fills and offlines its
    blocks, and shrinks it back to nothing. Its blocks come online as
    they are added, so add_online is one figure: from the device's
    config interrupt (the request) to the last block's uevents (added,
    online). The blocks are offline when it shrinks, so remove is
    removal only, as for a DIMM."""
    res = {"size_gib": size / GiB}
    st = Steps(vm, res, profile)
    nblk = size // block_size(vm)
    memmap0 = vmstat(vm, "nr_memmap_pages")
    path = f"/machine/peripheral/{VMEM}"
    # its config-change interrupt says when a request arrived
    dev = vm.sh("ls /sys/bus/virtio/drivers/virtio_mem | grep -m1 '^virtio'").strip()

    def request(value):
        return lambda: vm.qmp.execute("qom-set", path=path, property="requested-size",
                                      value=value)
    # two uevents a block: added, online
    ev = watched_step(st, "add_online", tag, f"uevents {2 * nblk} {timeout} {dev}", 2 * nblk,
                      request(size), timeout, what="add")
    if ev is None:
        return res
    res["add_online"] = ev["last"] - ev["first"]
    memmap_grew(vm, res, memmap0, size)
    if not online_fill_offline(st, vmem_device(vm)["memaddr"], size, tag, fill_mib, timeout,
                               online=False):
        return res
    ev = watched_step(st, "remove", tag, f"uevents {nblk} {timeout} {dev}", nblk, request(0),
                      timeout)
    if ev is None:
        return res
    res["remove"] = ev["last"] - ev["first"]
    try:
        wait_for(vm, "virtio-mem size 0", lambda: vmem_device(vm)["size"] == 0, 120, 0.5)
    except TimeoutError:
        st.fail("remove", f"blocks gone but the device still has "
                f"{vmem_device(vm)['size'] >> 20} MiB plugged")
    return res


def has_profiler(vm):
    """The guest kernel has the function profiler (the bench variant)."""
    return vm.run(f"test -w {TRACING}/function_profile_enabled", timeout=60)[0] == 0


def profile_start(vm):
    """Function profiler on, counting each function's own CPU time (not
    its callees', not time asleep). Turning it on resets the counts."""
    vm.sh(f"cd {TRACING} && for o in graph-time sleep-time; do "
          "[ ! -w options/$o ] || echo 0 > options/$o; done; "
          "echo 1 > function_profile_enabled", timeout=600)


def profile_stop(vm, top=PROFILE_TOP):
    """Function profiler off; the TOP functions by own time, all CPUs
    summed: [{"function", "hits", "us", "share"}], share of the total."""
    out = vm.sh(f"cd {TRACING} && echo 0 > function_profile_enabled && "
                "cat trace_stat/function*", timeout=600)
    return top_functions(out, top)


def top_functions(text, top=PROFILE_TOP):
    """Parses trace_stat/function* (one table per CPU) and merges them,
    leaving out the idle loop (a CPU waiting is not time spent)."""
    acc = {}
    for m in re.finditer(r"^\s*(\S+)\s+(\d+)\s+([\d.]+) us", text, re.M):
        if m.group(1) in IDLE:
            continue
        hits, us = acc.get(m.group(1), (0, 0.0))
        acc[m.group(1)] = (hits + int(m.group(2)), us + float(m.group(3)))
    total = sum(us for _, us in acc.values())
    ranked = sorted(acc.items(), key=lambda kv: -kv[1][1])[:top]
    return [{"function": f, "hits": h, "us": round(us, 1),
             "share": round(us / total, 4) if total else 0.0} for f, (h, us) in ranked]


def guest_wait(vm, cmd, timeout, poll=0.5):
    """True once the guest command succeeds, polling; False at the timeout."""
    try:
        return wait_for(vm, cmd, lambda: vm.run(cmd, timeout=60)[0] == 0, timeout, poll)
    except TimeoutError:
        return False


def with_ratios(res, fl):
    """Adds the floors and the ratios to them to one size's figures."""
    if "memmap_bytes" in res:
        res["memmap_floor"] = res["memmap_bytes"] / MiB / fl["write_mib_s"]
        for m in ("add", "online", "add_online"):
            if m in res and res["memmap_floor"] > 0:
                res[f"{m}_over_floor"] = res[m] / res["memmap_floor"]
    if res.get("migrated_bytes") and "offline" in res:
        res["copy_floor"] = res["migrated_bytes"] / MiB / fl["copy_mib_s"]
        res["offline_over_floor"] = res["offline"] / res["copy_floor"]
    for m in METRICS:
        if m in res:
            res[f"{m}_gib_s"] = res["size_gib"] / res[m] if res[m] > 0 else None
    return res


def variant_image(arch, kernel, variant):
    """The boot image of ARCH-KERNEL built with configs/variant-VARIANT
    (scripts/variant.sh); the suite's own kernel for variant "none"."""
    name = f"{arch}-{kernel}" + ("" if variant == "none" else f"-{variant}")
    return os.path.join(hrun.BUILD, "out", name, "boot-image")


# What each mechanism needs of the machine, how its guest boots, how one
# size is measured, and the largest size it can take: virtio-mem does not
# put the memmap on the memory, so its memmap (16 MiB per GiB) has to fit
# into the boot RAM beside the guest's own use.
MECHS = {
    "dimm": {"name": "pc-dimm (ACPI)", "feature": "acpi-dimm", "max_gib": 256},
    "vmem": {"name": "virtio-mem", "feature": "virtio-mem", "max_gib": 8},
}


def boot_for(t, mech, sizes):
    top = max(sizes) * 1024
    if mech == "dimm":
        return t.boot(acpi=True, mem=BOOT_MIB, slots=1, maxmem=BOOT_MIB + top,
                      append=APPEND)
    return t.boot(mem=BOOT_MIB, slots=1, maxmem=BOOT_MIB + top + 1024, append=VMEM_APPEND,
                  extra=["-object", f"memory-backend-ram,id={VMEM}mem,size={top}M,reserve=off",
                         "-device", f"virtio-mem-pci,id={VMEM},memdev={VMEM}mem,"
                         "requested-size=0"])


def bench_one(arch, kernel, sizes, outdir, log, variant="none", profile_gib=0, mech="dimm",
              order_gib=0):
    """Boots one guest and measures every size through MECH, then, with
    PROFILE_GIB, profiles one more of that size; returns the record."""
    t = hrun.Context(arch, kernel, "bench", outdir)
    t.image = variant_image(arch, kernel, variant)
    m = MECHS[mech]
    rec = {"arch": arch, "kernel": kernel, "variant": variant, "mech": mech, "sizes": []}
    measure = measure_dimm if mech == "dimm" else measure_vmem
    try:
        if m["feature"] not in t.features:
            rec["error"] = f"{arch} machine has no {m['name']}"
            return rec
        if not os.path.exists(t.image):
            rec["error"] = (f"no kernel {t.image}: build it with "
                            f"scripts/variant.sh {variant} {arch}")
            return rec
        over = [g for g in sizes if g > m["max_gib"]]
        sizes = [g for g in sizes if g <= m["max_gib"]]
        if over:
            rec["not_measured"] = (f"{','.join(map(str, over))} GiB: {m['name']}'s memmap "
                                   f"must fit in the {BOOT_MIB} MiB of boot RAM "
                                   f"(up to {m['max_gib']} GiB here)")
        if not sizes:
            return rec
        order_gib = order_gib if order_gib in sizes else 0
        vm = boot_for(t, mech, sizes + ([profile_gib] if profile_gib else []))
        rec["uname"] = vm.sh("uname -r").strip()
        rec["boot_seconds"] = round(vm.boot_seconds, 1)
        rec["floors"] = fl = floors(vm)
        # the boot RAM's memmap: what struct page's size costs a guest
        rec["memmap_boot_bytes"] = vmstat(vm, "nr_memmap_boot_pages") * page_size(vm)
        for i, gib in enumerate(sizes):
            log(f"{arch} {kernel}: {gib} GiB {m['name']}")
            res = with_ratios(measure(vm, gib * GiB, str(i)), fl)
            rec["sizes"].append(res)
            log(f"{arch} {kernel}: {gib} GiB {m['name']}: " + ", ".join(
                f"{k} {res[k]:.2f}s" for k in METRICS if k in res) +
                (f"; {res['error']}" if "error" in res else ""))
            if "error" in res:
                break
        # Offlining upwards migrates data into the blocks that go next:
        # the same size once more, offlined downwards, says how much that costs.
        if order_gib and mech == "dimm" and not any("error" in r for r in rec["sizes"]):
            log(f"{arch} {kernel}: {order_gib} GiB {m['name']}, offlined downwards")
            res = measure_dimm(vm, order_gib * GiB, "d", down=True)
            up = next((r.get("offline") for r in rec["sizes"] if r["size_gib"] == order_gib), None)
            rec["offline_order"] = {"size_gib": order_gib, "up": up,
                                    "down": res.get("offline"), "error": res.get("error")}
        if profile_gib and not any("error" in r for r in rec["sizes"]):
            if has_profiler(vm):
                log(f"{arch} {kernel}: {profile_gib} GiB {m['name']} under the function profiler")
                res = measure(vm, profile_gib * GiB, "p", profile=True)
                rec["profile"] = {"size_gib": profile_gib, "steps": res["profile"]}
                if "error" in res:
                    rec["profile"]["error"] = res["error"]
            else:
                rec["profile"] = {"error": "kernel has no function profiler"}
    except Exception as e:      # the record says what stopped it
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        # over the sizes measured, also when a later one stopped the guest
        for k in METRICS:
            e = exponent([(r["size_gib"], r.get(k)) for r in rec["sizes"]])
            if e is not None:
                rec.setdefault("exponents", {})[k] = round(e, 2)
        t.cleanup()
        bad = [r for r in t.results if r["status"] == "fail"]
        if bad:
            rec.setdefault("error", "; ".join(f"{r['name']}: {r['detail']}"
                                              for r in bad)[:500])
    return rec


def to_x86(records):
    """Adds, per size and metric, the time as a multiple of x86_64's with
    the same kernel in the same run."""
    ref = {(r["kernel"], r.get("mech", "dimm"), s["size_gib"]): s for r in records
           if r["arch"] == "x86_64" for s in r["sizes"]}
    for r in records:
        for s in r["sizes"]:
            x = ref.get((r["kernel"], r.get("mech", "dimm"), s["size_gib"]), {})
            for m in METRICS:
                if s.get(m) and x.get(m):
                    s[f"{m}_over_x86"] = s[m] / x[m]


def fmt(v, digits=2):
    return "" if v is None else f"{v:.{digits}f}"


def mech_name(r):
    return MECHS[r.get("mech", "dimm")]["name"]


def markdown(doc):
    lines = ["# Memory hot(un)plug benchmark", "",
             f"Commit {doc['commit']}, {doc['date']}, host {doc['host']}, "
             f"{doc['qemu']}. TCG: the figures are only comparable as ratios "
             "within this run (to the floors measured in the same guest, and "
             "to x86_64 here).", "",
             f"Guest: {BOOT_MIB} MiB boot RAM, `{APPEND}`; pc-dimm guests boot with "
             "UEFI + ACPI, one DIMM per size; virtio-mem guests have one device, "
             "grown by each size and shrunk back, with `memhp_default_state=online_movable` "
             "(virtio-mem adds at most 1 GiB that stays offline), so their add+online is "
             "one figure, from the device's config interrupt. Blocks are onlined movable, "
             f"{FILL_MIB} MiB of data in them when they go offline. Times are taken "
             "in the guest (guest/memhp_bench.c). "
             + ("Kernels: the suite's (lockdep, DEBUG_VM)." if doc.get("variant", "none") == "none"
                else f"Kernels: variant `{doc['variant']}` (configs/variant-{doc['variant']}.config "
                "on top of the suite's fragments)."), "",
             "| arch | kernel | mechanism | GiB | add s | online s | add+online GiB/s | "
             "add+online / floor | × x86_64 | offline s | offline / copy floor | "
             "remove s/GiB | struct page B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["records"]:
        who = f"{r['arch']} | {r['kernel']} | {mech_name(r)}"
        for s in r["sizes"]:
            lines.append(f"| {who} | " + " | ".join([
                f"{s['size_gib']:g}", fmt(s.get("add")),
                fmt(s.get("online")), fmt(s.get("add_online_gib_s")),
                fmt(s.get("add_online_over_floor"), 1),
                fmt(s.get("add_online_over_x86")), fmt(s.get("offline")),
                fmt(s.get("offline_over_floor"), 1),
                fmt(s["remove"] / s["size_gib"] if s.get("remove") else None),
                fmt(s.get("struct_page_bytes"), 0)]) + " |")
            if "error" in s:
                lines.append(f"| {who} | {s['size_gib']:g} | "
                             f"stopped: {s['error'].replace('|', '/')} |" + " |" * 8)
    notes = [f"- {r['arch']} {r['kernel']} {mech_name(r)}: {r[k]}" for r in doc["records"]
             for k in ("error", "not_measured") if r.get(k)]
    if notes:
        lines += [""] + notes
    lines += ["", "## How time grows with size", "",
              "Exponent of a least-squares fit of log(time) on log(size): 1 is "
              "linear; clearly above 1 is a finding.", "",
              "| arch | kernel | mechanism | " + " | ".join(METRICS) + " |",
              "|---|---|---|" + "---|" * len(METRICS)]
    for r in doc["records"]:
        ex = r.get("exponents", {})
        lines.append(f"| {r['arch']} | {r['kernel']} | {mech_name(r)} | " +
                     " | ".join(fmt(ex.get(m)) for m in METRICS) + " |")
    lines += ["", "## Floors (guest bandwidth) and boot memmap", "",
              "| arch | kernel | mechanism | memset MiB/s | memcpy MiB/s | boot s | "
              f"memmap of the {BOOT_MIB} MiB boot RAM, KiB | guest kernel |",
              "|---|---|---|---|---|---|---|---|"]
    for r in doc["records"]:
        fl = r.get("floors", {})
        boot = r.get("memmap_boot_bytes")
        lines.append(f"| {r['arch']} | {r['kernel']} | {mech_name(r)} | "
                     f"{fmt(fl.get('write_mib_s'), 0)} | "
                     f"{fmt(fl.get('copy_mib_s'), 0)} | {fmt(r.get('boot_seconds'), 1)} | "
                     f"{fmt(boot / 1024 if boot is not None else None, 0)} | "
                     f"{r.get('uname', '')} |")
    ordered = [r for r in doc["records"] if r.get("offline_order")]
    if ordered:
        lines += ["", "## Offline order", "",
                  "The same DIMM size offlined block by block upwards (as the kernel's "
                  "eject does, and the table above) and downwards, with the same data "
                  "in it: upwards, data migrates into blocks that go offline next.", "",
                  "| arch | kernel | GiB | upwards s | downwards s | up / down |",
                  "|---|---|---|---|---|---|"]
        for r in ordered:
            o = r["offline_order"]
            ratio = o["up"] / o["down"] if o.get("up") and o.get("down") else None
            lines.append(f"| {r['arch']} | {r['kernel']} | {o['size_gib']:g} | {fmt(o['up'])} | "
                         f"{fmt(o['down'])} | {fmt(ratio, 1)} |" +
                         (f" stopped: {o['error']}" if o.get("error") else ""))
    profiled = [r for r in doc["records"] if r.get("profile", {}).get("steps")]
    if profiled:
        lines += ["", "## Where the time goes", "",
                  "One more device per guest under the kernel's function profiler "
                  "(own CPU time per function, callees and sleep excluded, all "
                  "CPUs summed; the profiler slows every call, so only the order "
                  "and the shares mean anything).", ""]
        for r in profiled:
            p = r["profile"]
            for step, top in p["steps"].items():
                lines.append(f"**{r['arch']} {r['kernel']} {mech_name(r)}, {step} of "
                             f"{p['size_gib']:g} GiB**: " +
                             ", ".join(f"`{e['function']}` {100 * e['share']:.0f}%"
                                       for e in top[:8]))
                lines.append("")
            if p.get("error"):
                lines += [f"{r['arch']} {r['kernel']} profile stopped: {p['error']}", ""]
    if doc.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in doc["plots"]]
    return "\n".join(lines) + "\n"


def plots(doc, outdir):
    """Log-log time against size, one SVG per mechanism and metric
    (gnuplot), a line per arch and kernel."""
    gp = shutil.which("gnuplot")
    if not gp:
        return []
    made = []
    for mech in MECHS:
        recs = [r for r in doc["records"] if r.get("mech", "dimm") == mech]
        for m in ("add_online", "offline", "remove"):
            series = [(f"{r['arch']} {r['kernel']}",
                       [(s["size_gib"], s[m]) for s in r["sizes"] if s.get(m)]) for r in recs]
            series = [(name, pts) for name, pts in series if pts]
            if not series:
                continue
            name = f"bench-{mech}-{m.replace('_', '-')}.svg"
            blocks = [("".join(f"{x} {y}\n" for x, y in pts)) + "e\n" for _, pts in series]
            script = (f"set terminal svg size 800,500\n"
                      f"set output '{os.path.join(outdir, name)}'\n"
                      "set logscale xy\nset xlabel 'GiB'\nset ylabel 'seconds (in the guest)'\n"
                      f"set title '{MECHS[mech]['name']}: {m.replace('_', '+')} time "
                      "against size (TCG)'\nset key left\n"
                      "plot " + ", ".join(f"'-' with linespoints title '{n}'" for n, _ in series)
                      + "\n" + "".join(blocks))
            if subprocess.run([gp], input=script, text=True,
                              capture_output=True).returncode == 0:
                made.append(name)
    return made


def describe_host():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.machine()} {os.cpu_count()} CPUs {model}".strip()


def qemu_version():
    from machines import arm64
    try:
        out = subprocess.run([arm64.QEMU, "--version"], capture_output=True,
                             text=True, timeout=30).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "QEMU (version unknown)"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m harness.bench",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="arm64,riscv64,x86_64")
    ap.add_argument("--kernel", default="base,patched")
    ap.add_argument("--sizes", default="1,4,16,64", help="GiB, comma-separated")
    ap.add_argument("--out", default=os.path.join(hrun.TOP, "results"))
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--mech", default="dimm,vmem",
                    help="mechanisms: dimm (pc-dimm, ACPI), vmem (virtio-mem)")
    ap.add_argument("--variant", default="bench",
                    help="kernels built with configs/variant-VARIANT.config "
                         "(scripts/variant.sh); 'none': the suite's debug kernels")
    ap.add_argument("--profile-gib", type=int, default=PROFILE_GIB,
                    help="size of the extra DIMM measured under the function "
                         "profiler (0: none)")
    args = ap.parse_args(argv)
    arches = args.arch.split(",")
    kernels = args.kernel.split(",")
    bad = [a for a in arches if a not in hrun.ARCHES]
    if bad:
        ap.error(f"unknown arch {','.join(bad)}; choose from {', '.join(hrun.ARCHES)}")
    bad = [k for k in kernels if k not in hrun.DEFAULT_KERNELS]
    if bad:
        ap.error(f"unknown kernel {','.join(bad)}; choose from base, patched")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(not 1 <= s <= 256 for s in sizes) or sizes != sorted(set(sizes)):
        ap.error(f"--sizes must be increasing whole GiB from 1 to 256, not {args.sizes!r}")
    if args.variant != "none" and not (re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.variant) and
                                       os.path.exists(os.path.join(
                                           hrun.TOP, "configs", f"variant-{args.variant}.config"))):
        ap.error(f"--variant {args.variant!r}: no configs/variant-{args.variant}.config")
    mechs = args.mech.split(",")
    bad = [m for m in mechs if m not in MECHS]
    if bad:
        ap.error(f"unknown mechanism {','.join(bad)}; choose from {', '.join(MECHS)}")
    if not 0 <= args.profile_gib <= 64:
        ap.error(f"--profile-gib must be 0 to 64, not {args.profile_gib}")
    rundir = os.path.join(hrun.TOP, "results", "runs",
                          "bench-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(rundir, exist_ok=True)
    doc = {"commit": hrun.code_revision(), "date": datetime.date.today().isoformat(),
           "host": describe_host(), "qemu": qemu_version(), "base": hrun.BASE,
           "boot_mib": BOOT_MIB, "fill_mib": FILL_MIB, "append": APPEND,
           "variant": args.variant,
           "records": []}
    for arch in arches:
        for kernel in kernels:
            for mech in mechs:
                outdir = os.path.join(rundir, f"{arch}-{kernel}-{mech}")
                os.makedirs(outdir, exist_ok=True)
                doc["records"].append(bench_one(arch, kernel, sizes, outdir, hrun.say,
                                                args.variant, args.profile_gib, mech,
                                                ORDER_GIB))
    to_x86(doc["records"])
    os.makedirs(args.out, exist_ok=True)
    doc["plots"] = [] if args.no_plots else plots(doc, args.out)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(markdown(doc))
    print(markdown(doc))
    failed = [r for r in doc["records"] if r.get("error") or
              any("error" in s for s in r["sizes"])]
    print(f"bench: {len(doc['records']) - len(failed)} of {len(doc['records'])} "
          f"guests measured every size; results in {os.path.relpath(args.out, hrun.TOP)}"
          "/bench.{md,json}")
    # base kernels may fail where the series fixes them: that is a finding
    # (in the tables); a patched kernel that fails is the bench failing
    return 1 if any(r["kernel"] == "patched" for r in failed) else 0


if __name__ == "__main__":
    sys.exit(main())
