"""Under load: movable memory with checksummed data in use goes offline (migrates) and online, twice."""
import re
import time

from ._guest import MEM, block_size, block_states, kmem_from_one_region, wait_for

NAME = "offline-under-load"
ORDER = 62
CONFIG = ("pmem", "DEV_DAX_PMEM", "DEV_DAX_KMEM", "MIGRATION")
TIMEOUT = 600
M = 1 << 20
# The movable memory: a pmem region given to dax kmem (every arch, either
# kernel); boot RAM has room for the data once it is offline.
RAM, REGION, SIZE = 1024 * M, 1024 * M, 512 * M
DATA_MIB = 320

STATUS_RE = re.compile(r"# status: rounds (\d+) checked (\d+) rewritten (\d+) "
                       r"mismatches (\d+) in_range (-?\d+)")


def run(t):
    got = kmem_from_one_region(t, RAM, REGION, SIZE, "kmem_online_movable")
    if not got:
        return
    vm, dax, blocks = got
    bs = block_size(vm)
    lo, hi = blocks[0] * bs, (blocks[-1] + 1) * bs

    seen = []

    def status(tag, ml):
        log = f"/tmp/{ml}.log"
        n = int(vm.sh(f"grep -c '# status' {log} || true").strip() or 0)
        vm.sh(f"kill -USR2 $(cat /tmp/{ml}.pid)")
        text = wait_for(vm, "memload status", lambda: (lambda x: x if x.count(
            "# status") > n else None)(vm.sh(f"cat {log}")), timeout=60,
            interval=0.3)
        m = STATUS_RE.findall(text)[-1]
        st = dict(zip(("rounds", "checked", "rewritten", "mismatches", "in_range"),
                      map(int, m)))
        seen.append((tag, st))
        return st

    def cycle(tag, offline_cmd, online_cmd):
        """memload fills the (movable, online) range and keeps going while
        the range goes offline and online again."""
        ml = f"ml_{tag}"
        vm.sh(f"memload --mib {DATA_MIB} --range {lo:#x}-{hi:#x} --need-mib 128 "
              f"--seconds 400 > /tmp/{ml}.log 2>&1 & echo $! > /tmp/{ml}.pid")
        wait_for(vm, "memload to run", lambda: "running" in vm.sh(
            f"cat /tmp/{ml}.log"), timeout=120)
        time.sleep(1)
        s0 = status(f"{tag}_start", ml)
        t0 = time.monotonic()
        rc, out = vm.run(offline_cmd, timeout=300)
        dt = time.monotonic() - t0
        t.check(f"{tag}_offline", rc == 0, out.strip()[-300:])
        st = block_states(vm, blocks)
        t.check(f"{tag}_blocks_offline", all(s == "offline" for s, _ in st.values()),
                f"{st}")
        s1 = status(f"{tag}_offline", ml)
        t.check(f"{tag}_data_left_range", s1["in_range"] == 0,
                f"{s1['in_range']} pages of the data still in the offline range")
        rc, out = vm.run(online_cmd, timeout=300)
        t.check(f"{tag}_online", rc == 0, out.strip()[-300:])
        st = block_states(vm, blocks)
        t.check(f"{tag}_blocks_online_movable",
                all(v == ("online", "Movable") for v in st.values()), f"{st}")
        time.sleep(1)
        s2 = status(f"{tag}_end", ml)
        vm.sh(f"kill -USR1 $(cat /tmp/{ml}.pid)")
        wait_for(vm, "memload to finish", lambda: "# Totals" in vm.sh(
            f"cat /tmp/{ml}.log"), timeout=300)
        t.ktap(f"{tag}_memload", (0, vm.sh(f"cat /tmp/{ml}.log")))
        rounds = [s0["rounds"], s1["rounds"], s2["rounds"]]
        t.check(f"{tag}_load_kept_running", rounds[0] < rounds[1] < rounds[2],
                f"rounds at each status: {rounds}")
        t.note(f"{tag}: {s0['in_range']} pages of the {DATA_MIB} MiB in the range, "
               f"offline while in use took {dt:.1f}s; rounds {rounds}, "
               f"mismatches {s2['mismatches']}")

    cycle("daxctl", f"daxctl offline-memory {dax}", f"daxctl online-memory {dax}")
    ids = " ".join(map(str, reversed(blocks)))
    cycle("sysfs", f"(for b in {ids}; do echo offline > {MEM}/memory$b/state "
          "|| exit 1; done)", f"(for b in {ids}; do echo online_movable > "
          f"{MEM}/memory$b/state || exit 1; done)")
