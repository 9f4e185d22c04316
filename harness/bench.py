"""make bench: how fast memory comes and goes, against its floors.

usage: python3 -m harness.bench [--arch A,..] [--kernel base,patched]
                                [--sizes GIB,..] [--out DIR] [--no-plots]

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
STEP_TIMEOUT = 1200
METRICS = ("add", "online", "add_online", "offline", "remove")


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


def measure_dimm(vm, size, tag, fill_mib=FILL_MIB, timeout=STEP_TIMEOUT):
    """Adds, onlines, fills, offlines and ejects one pc-dimm of SIZE bytes.
    Returns {figure: value}; "error" says where it stopped, if it did."""
    res = {"size_gib": size / GiB}
    bs = block_size(vm)
    page = page_size(vm)
    nblk = size // bs
    memmap0 = vmstat(vm, "nr_memmap_pages")
    vm.sh(f"rm -f /tmp/ev.{tag}; memhp_bench plug {nblk} {timeout} "
          f"> /tmp/ev.{tag} 2>&1 &")
    if not guest_wait(vm, f"grep -q -e ready -e memhp_bench: /tmp/ev.{tag}", 60) or \
            "ready" not in vm.sh(f"cat /tmp/ev.{tag}"):
        res["error"] = "add: " + vm.sh(f"cat /tmp/ev.{tag}")[-300:]
        return res
    vm.qmp.execute("object-add", **{"qom-type": "memory-backend-ram", "id": f"bm{tag}",
                                    "size": size, "reserve": False})
    vm.qmp.execute("device_add", driver="pc-dimm", id=f"bd{tag}", memdev=f"bm{tag}")
    if not guest_wait(vm, f"grep -q complete= /tmp/ev.{tag}", timeout + 60):
        res["error"] = "add: memhp_bench plug did not end: " + \
            vm.sh(f"cat /tmp/ev.{tag}; dmesg | tail -n 5")[-300:]
        return res
    ev = kv(vm.sh(f"cat /tmp/ev.{tag}"))
    if ev.get("complete") != 1:
        res["error"] = (f"add: {ev.get('uevents', 0):.0f} uevents for {nblk} blocks: " +
                        vm.sh("dmesg | tail -n 5")[-300:])
        return res
    res["add"] = ev["last"] - ev["first"]
    slot = ev["slot"]
    res["memmap_bytes"] = (vmstat(vm, "nr_memmap_pages") - memmap0) * page
    res["struct_page_bytes"] = res["memmap_bytes"] / (size / page)
    dimm = next(d["data"] for d in vm.qmp.execute("query-memory-devices")
                if d["data"].get("id") == f"bd{tag}")
    first = dimm["addr"] // bs
    rc, out = vm.run(f"memhp_bench state online_movable {first} {nblk}", timeout=timeout)
    if rc:
        res["error"] = f"online: {out.strip()[-300:]}"
        return res
    res["online"] = kv(out)["seconds"]
    res["add_online"] = res["add"] + res["online"]
    rng = f"{dimm['addr']:#x}-{dimm['addr'] + size:#x}"
    vm.sh(f"memfill --mib {fill_mib} --range {rng} --hold > /tmp/mf.{tag} 2>&1 & "
          f"echo $! > /tmp/mf.{tag}.pid")
    guest_wait(vm, f"grep -q holding /tmp/mf.{tag}", 300)
    # memfill: "# N of M pages (P of M present) in range A-B: X MiB"
    hit = re.search(r"(\d+) of \d+ pages .* in range", vm.sh(f"cat /tmp/mf.{tag}"))
    res["migrated_bytes"] = int(hit.group(1)) * page if hit else 0
    rc, out = vm.run(f"memhp_bench state offline {first} {nblk}", timeout=timeout)
    vm.sh(f"kill -USR1 $(cat /tmp/mf.{tag}.pid)")
    guest_wait(vm, f"grep -q '# Totals' /tmp/mf.{tag}", 300)
    # the data held across the offline (migration) is still right
    res["data_intact"] = bool(re.search(r"^ok \d+ verify_after_hold", vm.sh(
        f"cat /tmp/mf.{tag}"), re.M))
    if rc:
        res["error"] = f"offline: {out.strip()[-300:]}"
        return res
    res["offline"] = kv(out)["seconds"]
    rc, out = vm.run(f"memhp_bench eject {slot} {timeout}", timeout=timeout + 60)
    ev = kv(out)
    if rc or ev.get("complete") != 1:
        res["error"] = f"remove: {out.strip()[-300:]}"
        return res
    res["remove"] = ev["seconds"]
    try:
        vm.qmp.wait_event("DEVICE_DELETED", timeout=120,
                          match=lambda e: e["data"].get("device") == f"bd{tag}")
        vm.qmp.execute("object-del", id=f"bm{tag}")
    except TimeoutError:
        res["error"] = "remove: blocks gone but QEMU sent no DEVICE_DELETED"
    return res


def guest_wait(vm, cmd, timeout):
    """True once the guest command succeeds, polling; False at the timeout."""
    try:
        return wait_for(vm, cmd, lambda: vm.run(cmd, timeout=60)[0] == 0, timeout, 0.5)
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


def bench_one(arch, kernel, sizes, outdir, log):
    """Boots one guest and measures every size; returns the record."""
    t = hrun.Context(arch, kernel, "bench", outdir)
    rec = {"arch": arch, "kernel": kernel, "sizes": []}
    try:
        if "acpi-dimm" not in t.features:
            rec["error"] = f"{arch} machine has no ACPI pc-dimm"
            return rec
        vm = t.boot(acpi=True, mem=BOOT_MIB, slots=1,
                    maxmem=BOOT_MIB + max(sizes) * 1024, append=APPEND)
        rec["uname"] = vm.sh("uname -r").strip()
        rec["boot_seconds"] = round(vm.boot_seconds, 1)
        rec["floors"] = fl = floors(vm)
        for i, gib in enumerate(sizes):
            log(f"{arch} {kernel}: {gib} GiB pc-dimm")
            res = with_ratios(measure_dimm(vm, gib * GiB, str(i)), fl)
            rec["sizes"].append(res)
            log(f"{arch} {kernel}: {gib} GiB: " + ", ".join(
                f"{m} {res[m]:.2f}s" for m in METRICS if m in res) +
                (f"; {res['error']}" if "error" in res else ""))
            if "error" in res:
                break
        for m in METRICS:
            e = exponent([(r["size_gib"], r.get(m)) for r in rec["sizes"]])
            if e is not None:
                rec.setdefault("exponents", {})[m] = round(e, 2)
    except Exception as e:      # the record says what stopped it
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        t.cleanup()
        bad = [r for r in t.results if r["status"] == "fail"]
        if bad:
            rec.setdefault("error", "; ".join(f"{r['name']}: {r['detail']}"
                                              for r in bad)[:500])
    return rec


def to_x86(records):
    """Adds, per size and metric, the time as a multiple of x86_64's with
    the same kernel in the same run."""
    ref = {(r["kernel"], s["size_gib"]): s for r in records if r["arch"] == "x86_64"
           for s in r["sizes"]}
    for r in records:
        for s in r["sizes"]:
            x = ref.get((r["kernel"], s["size_gib"]), {})
            for m in METRICS:
                if s.get(m) and x.get(m):
                    s[f"{m}_over_x86"] = s[m] / x[m]


def fmt(v, digits=2):
    return "" if v is None else f"{v:.{digits}f}"


def markdown(doc):
    lines = ["# Memory hot(un)plug benchmark", "",
             f"Commit {doc['commit']}, {doc['date']}, host {doc['host']}, "
             f"{doc['qemu']}. TCG: the figures are only comparable as ratios "
             "within this run (to the floors measured in the same guest, and "
             "to x86_64 here).", "",
             f"Guest: {BOOT_MIB} MiB boot RAM, UEFI + ACPI, `{APPEND}`; one pc-dimm "
             f"per size, onlined movable, {FILL_MIB} MiB of data in it when it "
             "goes offline. Times are taken in the guest (guest/memhp_bench.c).", "",
             "| arch | kernel | GiB | add s | online s | add+online GiB/s | "
             "add+online / floor | × x86_64 | offline s | offline / copy floor | "
             "remove s/GiB | struct page B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["records"]:
        for s in r["sizes"]:
            lines.append("| " + " | ".join([
                r["arch"], r["kernel"], f"{s['size_gib']:g}", fmt(s.get("add")),
                fmt(s.get("online")), fmt(s.get("add_online_gib_s")),
                fmt(s.get("add_online_over_floor"), 1),
                fmt(s.get("add_online_over_x86")), fmt(s.get("offline")),
                fmt(s.get("offline_over_floor"), 1),
                fmt(s["remove"] / s["size_gib"] if s.get("remove") else None),
                fmt(s.get("struct_page_bytes"), 0)]) + " |")
            if "error" in s:
                lines.append(f"| {r['arch']} | {r['kernel']} | {s['size_gib']:g} | "
                             f"stopped: {s['error'].replace('|', '/')} |" + " |" * 9)
        if r.get("error"):
            lines.append(f"\n{r['arch']} {r['kernel']}: {r['error']}\n")
    lines += ["", "## How time grows with size", "",
              "Exponent of a least-squares fit of log(time) on log(size): 1 is "
              "linear; clearly above 1 is a finding.", "",
              "| arch | kernel | " + " | ".join(METRICS) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for r in doc["records"]:
        ex = r.get("exponents", {})
        lines.append(f"| {r['arch']} | {r['kernel']} | " +
                     " | ".join(fmt(ex.get(m)) for m in METRICS) + " |")
    lines += ["", "## Floors (guest bandwidth)", "", "| arch | kernel | memset MiB/s | "
              "memcpy MiB/s | boot s | guest kernel |", "|---|---|---|---|---|---|"]
    for r in doc["records"]:
        fl = r.get("floors", {})
        lines.append(f"| {r['arch']} | {r['kernel']} | {fmt(fl.get('write_mib_s'), 0)} | "
                     f"{fmt(fl.get('copy_mib_s'), 0)} | {fmt(r.get('boot_seconds'), 1)} | "
                     f"{r.get('uname', '')} |")
    if doc.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in doc["plots"]]
    return "\n".join(lines) + "\n"


def plots(doc, outdir):
    """Log-log time against size, one SVG per metric (gnuplot)."""
    gp = shutil.which("gnuplot")
    if not gp:
        return []
    made = []
    for m in ("add_online", "offline", "remove"):
        series = [(f"{r['arch']} {r['kernel']}", [(s["size_gib"], s[m]) for s in r["sizes"]
                                                  if s.get(m)]) for r in doc["records"]]
        series = [(name, pts) for name, pts in series if pts]
        if not series:
            continue
        name = f"bench-{m.replace('_', '-')}.svg"
        blocks = [("".join(f"{x} {y}\n" for x, y in pts)) + "e\n" for _, pts in series]
        script = (f"set terminal svg size 800,500\nset output '{os.path.join(outdir, name)}'\n"
                  "set logscale xy\nset xlabel 'GiB'\nset ylabel 'seconds (in the guest)'\n"
                  f"set title '{m.replace('_', '+')} time against size (TCG)'\nset key left\n"
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
    rundir = os.path.join(hrun.TOP, "results", "runs",
                          "bench-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(rundir, exist_ok=True)
    doc = {"commit": hrun.code_revision(), "date": datetime.date.today().isoformat(),
           "host": describe_host(), "qemu": qemu_version(), "base": hrun.BASE,
           "boot_mib": BOOT_MIB, "fill_mib": FILL_MIB, "append": APPEND,
           "records": []}
    for arch in arches:
        for kernel in kernels:
            outdir = os.path.join(rundir, f"{arch}-{kernel}")
            os.makedirs(outdir, exist_ok=True)
            doc["records"].append(bench_one(arch, kernel, sizes, outdir, hrun.say))
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
