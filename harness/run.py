"""Runs scenarios on (arch, kernel) pairs and reports the results.

usage: python3 -m harness.run [--arch A,..] [--kernel base,patched,unfixed]
                              [--scenario S,..] [--jobs N] [--checks FILE]
                              [--list]
"""
import argparse
import concurrent.futures
import functools
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time
import traceback

from machines import common as mcommon
from . import ktap, report, track
from .verdict import Xfail, verdict
from .vm import VM, GuestError

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The kernel base (series/tracks; BASE= or --base) and where its kernels
# and guests are; set again by main() from --base.
try:
    BASE = track.current()
except ValueError as e:
    sys.exit(f"error: {e}")
BUILD = track.build_dir(BASE)
ARCHES = ["arm64", "riscv64", "x86_64"]
# base: Debian's kernel of the track; patched: the whole series; unfixed: the series'
# tests without its fixes, for scenarios that list it in their KERNELS;
# upto: the series up to the patch a scenario's UPTO names for an arch
# (a bug hidden behind an earlier one on base shows there on its own).
KERNELS = ["base", "patched", "unfixed", "upto"]
DEFAULT_KERNELS = ("base", "patched")
T0 = time.monotonic()
VERBOSE = False
# A user's own kernel (--kernel-image): the kernel "custom"
CUSTOM_IMAGE = None
# Options every guest needs, whatever the machine (machines/ add theirs).
BASE_CONFIG = ("MEMORY_HOTPLUG", "MEMORY_HOTREMOVE", "SPARSEMEM_VMEMMAP",
               "BLK_DEV_INITRD", "DEVTMPFS", "PROC_FS", "SYSFS", "TMPFS",
               "DEBUG_FS", "PRINTK_TIME", "BINFMT_ELF", "BINFMT_SCRIPT")
# Units running now (for the heartbeat): id -> (label, start, Context)
ACTIVE = {}
ACTIVE_LOCK = threading.Lock()
HEARTBEAT = float(os.environ.get("MEMHP_HEARTBEAT", "60"))


def say(msg):
    print(f"[{time.monotonic() - T0:5.0f}s] {msg}", flush=True)


class Skip(Exception):
    pass


class Context:
    """What a scenario's run(t) gets: boot guests, record results."""

    def __init__(self, arch, kernel, scenario, outdir):
        self.arch = arch
        self.kernel = kernel
        # the kernel base of the run (series/tracks), for what differs there
        self.base = BASE
        self.patched = kernel == "patched"
        self.scenario = scenario
        self.machine = importlib.import_module(f"machines.{arch}")
        self.features = self.machine.features()
        self.outdir = outdir
        self.results = []
        self.notes = []
        self.vms = []
        self.image = CUSTOM_IMAGE if kernel == "custom" else os.path.join(
            BUILD, "out", f"{arch}-{kernel}", "boot-image")
        self.initrd = os.path.join(BUILD, "initrd", f"{arch}.cpio")

    def need(self, *features):
        """Skips unless the machine offers every feature."""
        missing = [f for f in features if f not in self.features]
        if missing:
            raise Skip(f"{self.arch} machine lacks {', '.join(missing)}")

    def skip(self, reason):
        raise Skip(reason)

    def need_config(self, *options):
        """Skips unless the kernel's .config (beside or above its image)
        has every option built in: a track's suite kernels may lack what
        the other track's have (6.12 has no fault injection)."""
        conf = find_config(self.image)
        if conf is None:
            return
        opts = read_config(conf)
        missing = [o for o in options if opts.get(o) != "y"]
        if missing:
            raise Skip(f"{self.kernel} kernel lacks CONFIG_" + ", CONFIG_".join(missing))

    def boot(self, **cfg):
        name = f"vm{len(self.vms)}"
        argv = self.machine.argv(self.image, self.initrd, mcommon.config(**cfg),
                                 self.outdir, name)
        vm = VM(argv, self.outdir, name)
        self.vms.append(vm)
        vm.start()
        self.note(f"{name} booted in {vm.boot_seconds:.1f}s")
        return vm

    def check(self, name, ok, detail=""):
        self.results.append({"name": name, "status": "pass" if ok else "fail",
                             "detail": "" if ok else str(detail)})
        return ok

    def ktap(self, prefix, rc_out, required=False):
        """Records the KTAP results of a guest program's (rc, output),
        nested subtests as prefix.parent.child; exit 4 (KSFT_SKIP) with
        nothing run is a skip, of the whole unit if the program is
        REQUIRED (the unit's other checks mean nothing without it)."""
        rc, out = rc_out
        parsed = ktap.parse_tree(out)
        res = ktap.flatten(parsed.results, prefix + ".")
        for r in res:
            self.results.append({k: r[k] for k in ("name", "status", "detail")})
        if required and not res and (parsed.skip_all is not None or rc == 4):
            raise Skip(f"{prefix}: {parsed.skip_all or 'exit 4 (KSFT_SKIP)'}")
        if parsed.skip_all is not None or (rc == 4 and not res):
            self.results.append({"name": prefix, "status": "skip",
                                 "detail": parsed.skip_all or "exit 4 (KSFT_SKIP)"})
        elif not res:
            self.check(prefix, False, f"no KTAP results (rc {rc}): "
                       f"{out.strip()[-300:]}")
        elif parsed.plan is not None and parsed.plan != len(parsed.results):
            self.check(f"{prefix}.plan", False,
                       f"planned {parsed.plan} tests, saw {len(parsed.results)}")
        elif rc not in (0, 4) and not any(r["status"] in ("fail", "xpass")
                                          for r in res):
            self.check(f"{prefix}.exit", False, f"exit status {rc}")
        return res

    def note(self, msg):
        self.notes.append(msg)
        if VERBOSE:
            say(f"{self.arch} {self.kernel} {self.scenario}: {msg}")

    def cleanup(self):
        for vm in self.vms:
            problems = vm.problems()
            self.check(f"{vm.name}.kernel_log_clean", not problems,
                       "; ".join(problems[:3]))
            vm.stop()


def kernel_kind(kernel):
    """base, patched, unfixed, upto or custom: what an XFAIL key, RACY and
    the column order go by ("upto-0005" is an upto kernel)."""
    return "upto" if kernel.startswith("upto-") else kernel


@functools.lru_cache(maxsize=None)
def series_patches():
    """((number, subject), ...) of series/BASE/series, in order (read once)."""
    out = []
    with open(os.path.join(track.series_dir(BASE), "series")) as f:
        names = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    for n, name in enumerate(names, 1):
        head = []
        with open(os.path.join(track.series_dir(BASE), name), errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                head.append(line.rstrip("\n"))
        subject = ""
        for i, line in enumerate(head):
            if line.startswith("Subject:"):
                subject = line[len("Subject:"):]
                for cont in head[i + 1:]:
                    if not cont[:1].isspace():
                        break
                    subject += cont
                break
        out.append((n, re.sub(r"^\s*\[[^]]*\]\s*", "", subject).strip()))
    return tuple(out)


def upto_kernel(mod, arch):
    """The kernel name ("upto-NNNN") of MOD's UPTO entry for ARCH, or None."""
    # A key (BASE, arch) holds for that track only; None: no such kernel
    subject = mod.UPTO.get((BASE, arch), mod.UPTO.get(arch))
    if not subject:
        return None
    hits = [n for n, s in series_patches() if s.startswith(subject)]
    if len(hits) != 1:
        raise ValueError(f"scenario {mod.NAME}: UPTO[{arch!r}] names "
                         f"{subject!r}, which {len(hits)} patches of the series "
                         "start with (want exactly one)")
    return f"upto-{hits[0]:04d}"


# What a scenario module does not set (scenarios/README.md)
SCENARIO_DEFAULTS = {"ARCHES": ARCHES, "ARCH_SKIP": {}, "XFAIL": {},
                     "RACY": set(), "UPTO": {}, "KERNELS": DEFAULT_KERNELS,
                     "TIMEOUT": 900, "CONFIG": ()}


def read_config(path):
    """{option: value} of a kernel .config (CONFIG_ prefix dropped)."""
    opts = {}
    with open(path, errors="replace") as f:
        for line in f:
            k, eq, v = line.strip().partition("=")
            if eq and k.startswith("CONFIG_"):
                opts[k[len("CONFIG_"):]] = v
    return opts


def find_config(image):
    """The .config of the build an Image came from: beside it, or in a
    directory above it (arch/*/boot/Image of a build tree)."""
    d = os.path.dirname(os.path.abspath(image))
    for _ in range(5):
        if os.path.isfile(os.path.join(d, ".config")):
            return os.path.join(d, ".config")
        d = os.path.dirname(d)
    return None


def missing_config(mod, arch, opts):
    """The options MOD needs on ARCH that OPTS (read_config) lacks; one
    built as a module counts as missing (the guests load none)."""
    machine = importlib.import_module(f"machines.{arch}")
    want = list(BASE_CONFIG) + list(machine.CONFIG)
    for c in mod.CONFIG:
        want += machine.CONFIG_SETS.get(c, (c,)) if c.islower() else [c]
    return [c for c in dict.fromkeys(want) if opts.get(c) != "y"]


def load_scenarios():
    import scenarios
    found = {}
    for info in pkgutil.iter_modules(scenarios.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"scenarios.{info.name}")
        for attr in ("NAME", "ORDER", "run"):
            if not hasattr(mod, attr):
                raise TypeError(f"scenarios/{info.name}.py has no {attr}")
        for attr, value in SCENARIO_DEFAULTS.items():
            if not hasattr(mod, attr):
                setattr(mod, attr, value)
        for key, x in mod.XFAIL.items():
            # None: no expected failure there (a track where it is fixed)
            if x is not None and not isinstance(x, Xfail):
                raise TypeError(f"scenarios/{info.name}.py: XFAIL{key} must be "
                                "an Xfail naming the checks or the kernel log "
                                "pattern that must fail")
        found[mod.NAME] = mod
    return dict(sorted(found.items(), key=lambda kv: kv[1].ORDER))


def heartbeat(stop):
    """Every HEARTBEAT seconds, a line per unit still running: where it
    is and for how long (long units are not silent until they end)."""
    while not stop.wait(HEARTBEAT):
        with ACTIVE_LOCK:
            now = list(ACTIVE.values())
        for label, start, t in now:
            vm = t.vms[-1] if t.vms else None
            step = vm.current if vm else "starting"
            say(f"{label}: {step}, {time.monotonic() - start:.0f}s")


def run_unit(mod, arch, kernel, rundir, label=None):
    name = mod.NAME
    outdir = os.path.join(rundir, f"{arch}-{kernel}-{name}")
    os.makedirs(outdir, exist_ok=True)
    t = Context(arch, kernel, name, outdir)
    with ACTIVE_LOCK:
        ACTIVE[id(t)] = (label or f"{arch} {kernel} {name}", time.monotonic(), t)
    try:
        return _run_unit(mod, arch, kernel, outdir, t)
    finally:
        with ACTIVE_LOCK:
            ACTIVE.pop(id(t), None)


def expected(mod, arch, kind):
    """The unit's Xfail: a key (BASE, arch, kind) for one track comes
    before (arch, kind) for all, then (arch, "*"); a value None says that
    nothing is expected to fail there."""
    for key in ((BASE, arch, kind), (arch, kind), (BASE, arch, "*"), (arch, "*")):
        if key in mod.XFAIL:
            return mod.XFAIL[key]
    return None


def racy(mod, arch, kind):
    return (BASE, arch, kind) in mod.RACY or (arch, kind) in mod.RACY


def _run_unit(mod, arch, kernel, outdir, t):
    name = mod.NAME
    rundir = os.path.dirname(outdir)
    unit = {"arch": arch, "kernel": kernel, "scenario": name,
            "logs": os.path.relpath(outdir, rundir)}
    t0 = time.monotonic()
    kind = kernel_kind(kernel)
    xfail = expected(mod, arch, kind)
    timeout = mod.TIMEOUT
    timer = threading.Timer(timeout, lambda: [vm.stop() for vm in t.vms])
    try:
        if arch not in mod.ARCHES:
            raise Skip(mod.ARCH_SKIP.get(arch, f"not meaningful on {arch}"))
        # (BASE, arch): what the track does not carry (a feature that is
        # only in the mainline series)
        if (BASE, arch) in mod.ARCH_SKIP:
            raise Skip(mod.ARCH_SKIP[(BASE, arch)])
        for path in (t.image, t.initrd):
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} is missing (make kernels rootfs)")
        timer.start()
        mod.run(t)
    except Skip as e:
        unit["status"], unit["reason"] = "skip", str(e)
    except GuestError as e:
        if time.monotonic() - t0 >= timeout:
            e = GuestError(f"scenario timeout ({timeout}s): {e}")
        t.check("guest", False, e)
    except Exception as e:
        if isinstance(e, (EOFError, OSError)):
            # QMP or the console closed: QEMU may take a moment to exit
            for vm in t.vms:
                try:
                    vm.proc and vm.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        dead = [vm.name for vm in t.vms if vm.proc and not vm.alive()]
        if dead:
            # the guest died under the scenario (QMP or the console gone)
            t.check("guest", False, f"QEMU exited ({', '.join(dead)}) during "
                    f"the scenario: {type(e).__name__}: {e}")
        else:
            t.check("harness", False, f"{type(e).__name__}: {e}")
        with open(os.path.join(outdir, "traceback.txt"), "w") as f:
            traceback.print_exc(file=f)
    finally:
        timer.cancel()
        t.cleanup()
    unit["seconds"] = round(time.monotonic() - t0, 1)
    unit["subtests"] = t.results
    unit["notes"] = t.notes
    if "status" not in unit:
        log = "".join(vm.buf for vm in t.vms)
        unit["status"], unit["reason"] = verdict(
            t.results, xfail, racy(mod, arch, kind), log)
        if xfail:
            unit["expected"] = {"why": xfail.why, "checks": list(xfail.checks),
                                "log": xfail.log}
        if not unit["reason"]:
            del unit["reason"]
    with open(os.path.join(outdir, "result.json"), "w") as f:
        json.dump(unit, f, indent=1)
    return unit


MARK = {"pass": "PASS", "fail": "FAIL", "skip": "skip", "xfail": "XFAIL",
        "xpass": "XPASS"}


def failure_lines(results, width=300):
    """One line per failed unit or check (FAIL or XPASS), for the end of a run."""
    out = []
    for r in results:
        if r["status"] not in ("fail", "xpass"):
            continue
        if "scenario" in r:
            what = f"{r['arch']} {r['kernel']} {r['scenario']}"
            why = r.get("reason") or ""
        else:
            what = f"check: {r['name']}"
            why = r.get("detail") or ""
        why = " ".join(why.split())
        if len(why) > width:
            why = why[:width - 3] + "..."
        out.append(f"{MARK[r['status']]} {what}{': ' + why if why else ''}")
    return out


def _git(*argv, cwd=TOP):
    r = subprocess.run(["git", "-C", cwd, *argv], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def code_revision():
    """HEAD of this repository, and whether its code has uncommitted changes."""
    rev = _git("rev-parse", "--short=12", "HEAD") or "?"
    # results/ is what runs write (the last run's latest.*), not code
    dirty = " (with uncommitted changes)" if _git(
        "status", "--porcelain", "--untracked-files=no", "--", ".",
        ":(exclude)results") else ""
    return rev + dirty


def run_header():
    """Which code and which kernel base a run is of."""
    linux = os.path.join(BUILD, "linux")
    pkg = track.tracks()[BASE][0]
    ver = _git("config", "--get", "memhp.debver", cwd=linux) or "?"
    return (f"Run of {code_revision()} on {time.strftime('%Y-%m-%d')}: kernels "
            f"from {pkg} {ver} and series/{BASE}.")


def write_tables(rundir, units, checks):
    data = {"units": units, "checks": checks}
    with open(os.path.join(rundir, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    def kind(k):
        k = kernel_kind(k)
        return KERNELS.index(k) if k in KERNELS else len(KERNELS)
    cols = sorted({(u["arch"], u["kernel"]) for u in units},
                  key=lambda c: (ARCHES.index(c[0]), kind(c[1]), c[1]))
    lines = [f"# Results: the {BASE} track", "", run_header(), ""]
    if checks:
        lines += ["| check | result | detail |", "|---|---|---|"]
        lines += [f"| {c['name']} | {MARK[c['status']]} | {c.get('detail', '')} |"
                  for c in checks]
        lines.append("")
    if units:
        lines.append("| scenario | " + " | ".join(f"{a} {k}" for a, k in cols) + " |")
        lines.append("|---" * (len(cols) + 1) + "|")
        for name in dict.fromkeys(u["scenario"] for u in units):
            row = []
            for a, k in cols:
                u = next((u for u in units if u["scenario"] == name and
                          u["arch"] == a and u["kernel"] == k), None)
                row.append(MARK[u["status"]] if u else "")
            lines.append(f"| {name} | " + " | ".join(row) + " |")
        uptos = sorted({k for _, k in cols if k.startswith("upto-")})
        if uptos:
            subjects = dict(series_patches())
            lines.append("")
            for k in uptos:
                n = int(k[len("upto-"):])
                lines.append(f"{k}: the series up to patch {n:04d}, "
                             f"'{subjects.get(n, '?')}' (a bug that an earlier "
                             "one hides on base, on its own)")
        lines += ["", "## Not passed, or passed with a remark", ""]
        for u in units:
            if u["status"] != "pass" or u.get("reason"):
                lines.append(f"- {u['arch']} {u['kernel']} {u['scenario']}: "
                             f"{MARK[u['status']]}: {u.get('reason', '')}")
        lines += ["", "## Notes", ""]
        for u in units:
            for n in u.get("notes", []):
                head, _, body = n.partition("\n")
                lines.append(f"- {u['arch']} {u['kernel']} {u['scenario']}: {head}")
                if body.strip():
                    lines += ["", "  ```"] + [f"  {b}" for b in body.rstrip().splitlines()]
                    lines += ["  ```", ""]
    with open(os.path.join(rundir, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(rundir, "results.ktap"), "w") as f:
        f.write(report.ktap(units, checks))
    with open(os.path.join(rundir, "results.junit.xml"), "wb") as f:
        f.write(report.junit(units, checks))


def merged_units(rundirs, todo, out):
    """The units of todo found in the results.json of rundirs (a later run
    wins), in todo's order, their logs still where those runs left them."""
    found = {}
    for d in rundirs:
        with open(os.path.join(d, "results.json")) as f:
            for u in json.load(f)["units"]:
                if u.get("logs"):
                    u["logs"] = os.path.relpath(os.path.join(d, u["logs"]), out)
                found[(u["scenario"], u["arch"], u["kernel"])] = u
    return [found[k] for k in todo if k in found]


def fixes_scope(todo, scen):
    """The units of todo [(scenario, arch, kernel)] that show a fix: those
    of a non-patched kernel with an XFAIL on this track, and the patched
    kernel's unit of the same scenario and arch."""
    def xf(n, a, k):
        return expected(scen[n], a, kernel_kind(k)) is not None
    shown = {(n, a) for n, a, k in todo if kernel_kind(k) != "patched" and xf(n, a, k)}
    return [(n, a, k) for n, a, k in todo if (n, a) in shown and
            (kernel_kind(k) == "patched" or xf(n, a, k))]


def ci_scope(todo, scen):
    """The fixes scope and every other unit of the patched kernel: what
    shows the series' fixes and what it adds (make test); units of the
    other kernels that pass show nothing about the series and run in the
    whole scope (make test-full)."""
    fixes = set(fixes_scope(todo, scen))
    return [u for u in todo if u in fixes or kernel_kind(u[2]) == "patched"]


def units_as_checks(units):
    """Units as check results of the track BASE: PASS and XFAIL pass,
    FAIL and XPASS fail, a skip skips; the reason goes along."""
    status = {"pass": "pass", "xfail": "pass", "fail": "fail", "xpass": "fail",
              "skip": "skip"}
    return [{"name": f"{BASE} {u['arch']} {u['kernel']} {u['scenario']}",
             "status": status[u["status"]],
             "detail": f"{MARK[u['status']]}: {u.get('reason') or ''}".rstrip(": ")}
            for u in units]


def main():
    global VERBOSE, BASE, BUILD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE, choices=list(track.tracks()),
                    help="the kernel base (series/tracks; default: $BASE or "
                         "the first track)")
    ap.add_argument("--arch", default=",".join(ARCHES))
    ap.add_argument("--kernel", default=",".join(KERNELS))
    ap.add_argument("--scenario", default="all")
    ap.add_argument("--jobs", default=os.environ.get("MEMHP_JOBS", "1"),
                    help="units (one scenario on one arch and kernel) run at "
                         "once, each its own QEMU (default: $MEMHP_JOBS or 1)")
    ap.add_argument("--checks", help="JSON list of check results to include")
    ap.add_argument("--append-checks", metavar="FILE",
                    help="also append every unit to FILE as a check "
                         "(JSON lines, named 'BASE ARCH KERNEL SCENARIO'), "
                         "for the summary of a later run")
    ap.add_argument("--out", help="the run's directory (default: "
                    "results/runs/BASE-DATE)")
    ap.add_argument("--kernel-image", default=os.environ.get("KERNEL_IMAGE"),
                    help="run on this kernel image instead (the kernel "
                         "'custom'; $KERNEL_IMAGE); one --arch")
    ap.add_argument("--kernel-config", default=os.environ.get("KERNEL_CONFIG"),
                    help="its .config (default: found beside or above the image)")
    ap.add_argument("--print-kernels", action="store_true",
                    help="print the kernel kinds (base, patched, unfixed, "
                         "upto) the selected units run on, and stop")
    ap.add_argument("--list", action="store_true", help="list scenarios")
    ap.add_argument("--upto-kernels", action="store_true",
                    help="print 'ARCH NUMBER' for every kernel 'upto' the "
                         "scenarios need (scripts/kernels.sh keeps them)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print scenario notes as they happen")
    ap.add_argument("--scope", default="all", choices=("all", "ci", "fixes"),
                    help="fixes: only the units that show a fix, that is "
                         "where a kernel of the track is expected to fail "
                         "(XFAIL) and the patched kernel beside them (a "
                         "stable track's check in make test); ci: those and "
                         "every other unit of the patched kernel (the "
                         "default track in make test); all: every unit "
                         "(make test-full). The tables of a scope other "
                         "than all go to results/BASE/SCOPE.*")
    ap.add_argument("--merge", nargs="+", metavar="RUNDIR",
                    help="run nothing: the units of these earlier runs (a "
                         "later one wins), as one run of the units selected "
                         "(results/BASE/latest.* if they are all there)")
    ap.add_argument("--no-latest", action="store_true",
                    help="do not update results/BASE/latest.* (only a "
                         "run of all arches, kernels and scenarios does)")
    args = ap.parse_args()
    VERBOSE = args.verbose
    BASE, BUILD = args.base, track.build_dir(args.base)
    series_patches.cache_clear()
    if not args.out:
        args.out = os.path.join(TOP, "results", "runs",
                                f"{BASE}-{time.strftime('%Y%m%d-%H%M%S')}")

    scen = load_scenarios()
    if args.list:
        for name, mod in scen.items():
            doc = (mod.__doc__ or "").strip().splitlines()[0]
            print(f"{name:24} {','.join(mod.ARCHES):24} {doc}")
        return 0
    if args.upto_kernels:
        wanted = {(a, upto_kernel(m, a)) for m in scen.values() for a in ARCHES}
        for a, k in sorted(w for w in wanted if w[1]):
            print(a, int(k[len("upto-"):]))
        return 0

    def pick(value, allowed, what):
        items = list(allowed) if value == "all" else value.split(",")
        bad = [i for i in items if i not in allowed]
        if bad or not items:
            ap.error(f"unknown {what} {','.join(bad) or repr(value)}; "
                     f"choose from: {', '.join(allowed)} (or all)")
        return items

    try:
        jobs = int(args.jobs)
    except ValueError:
        jobs = 0
    if not 1 <= jobs <= 16:
        ap.error(f"--jobs must be a number from 1 to 16, not {args.jobs!r}")
    arches = pick(args.arch, ARCHES, "arch")
    names = pick(args.scenario, list(scen), "scenario")
    skips = {}
    if args.kernel_image:
        global CUSTOM_IMAGE
        if len(arches) != 1:
            ap.error("--kernel-image needs exactly one --arch")
        if not os.path.isfile(args.kernel_image):
            ap.error(f"--kernel-image {args.kernel_image}: no such file")
        CUSTOM_IMAGE = os.path.abspath(args.kernel_image)
        kernels = ["custom"]
        conf = args.kernel_config or find_config(CUSTOM_IMAGE)
        if args.kernel_config and not os.path.isfile(conf):
            ap.error(f"--kernel-config {conf}: no such file")
        if conf:
            opts = read_config(conf)
            for name in names:
                miss = missing_config(scen[name], arches[0], opts)
                if miss:
                    skips[name] = "kernel lacks CONFIG_" + ", CONFIG_".join(miss)
            say(f"kernel {CUSTOM_IMAGE}, config {conf}: " +
                (f"{len(skips)} of {len(names)} scenarios lack options:" if skips
                 else "every scenario has the options it needs"))
            for name, why in skips.items():
                say(f"  {name}: {why[len('kernel lacks '):]}")
        else:
            say(f"kernel {CUSTOM_IMAGE}: no .config found beside or above it "
                "(--kernel-config): options not checked")
    else:
        kernels = pick(args.kernel, KERNELS, "kernel")
    checks = []
    if args.checks:
        with open(args.checks) as f:
            checks = [json.loads(line) for line in f if line.strip()]

    todo = []
    for name in names:
        for arch in arches:
            for kernel in kernels:
                if kernel == "custom":
                    todo.append((name, arch, kernel))
                elif kernel == "upto":
                    k = upto_kernel(scen[name], arch)
                    if k:
                        todo.append((name, arch, k))
                elif kernel in scen[name].KERNELS:
                    todo.append((name, arch, kernel))

    if args.scope == "fixes":
        todo = fixes_scope(todo, scen)
    elif args.scope == "ci":
        todo = ci_scope(todo, scen)

    if args.print_kernels:
        kinds = {kernel_kind(k) for _, _, k in todo}
        print(" ".join(k for k in KERNELS + ["custom"] if k in kinds))
        return 0

    def one(i, name, arch, kernel):
        label = f"[{i}/{len(todo)}] {arch} {kernel} {name}"
        if name in skips:
            u = {"arch": arch, "kernel": kernel, "scenario": name,
                 "status": "skip", "reason": skips[name], "seconds": 0.0,
                 "subtests": [], "notes": []}
        else:
            u = run_unit(scen[name], arch, kernel, args.out, label)
        say(f"{arch:7} {kernel:7} {name:22} {MARK[u['status']]:5} "
            f"({u['seconds']:.0f}s){'  ' + u['reason'] if u.get('reason') else ''}")
        return u

    # Guests are independent (own directory, sockets and files): with
    # --jobs > 1 they overlap. Results keep the order of todo.
    os.makedirs(args.out, exist_ok=True)
    if args.merge:
        units = merged_units(args.merge, todo, args.out)
    else:
        stop = threading.Event()
        threading.Thread(target=heartbeat, args=(stop,), daemon=True).start()
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            units = list(pool.map(lambda job: one(job[0] + 1, *job[1]),
                                  enumerate(todo)))
        stop.set()
    write_tables(args.out, units, checks)
    latest = os.path.join(TOP, "results", BASE)
    os.makedirs(latest, exist_ok=True)
    # Only a run of everything stands for the suite's latest results.
    full = (set(arches) == set(ARCHES) and set(kernels) == set(KERNELS)
            and set(names) == set(scen) and len(units) == len(todo))
    stem = "latest" if args.scope == "all" else args.scope
    for ext in ("md", "json", "ktap", "junit.xml") if full and not args.no_latest else ():
        src = os.path.join(args.out, f"results.{ext}")
        with open(src) as f, open(os.path.join(latest, f"{stem}.{ext}"), "w") as g:
            g.write(f.read())
    if args.append_checks:
        with open(args.append_checks, "a") as f:
            for line in units_as_checks(units):
                f.write(json.dumps(line) + "\n")
    every = units + checks
    count = {s: sum(1 for u in every if u["status"] == s) for s in MARK}
    print(f"results: {os.path.relpath(args.out, TOP)}/results.{{md,json,ktap,junit.xml}} "
          f"({count['xfail']} expected failures, {count['xpass']} unexpected passes)")
    # CI shows only a run's last lines: name what failed there too.
    for line in failure_lines(every):
        print(line)
    passed = count["pass"] + count["xfail"]
    failed = count["fail"] + count["xpass"]
    print(f"{passed} passed, {failed} failed, {count['skip']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
