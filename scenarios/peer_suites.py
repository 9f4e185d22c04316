"""Suites we did not write: the kernel's mem-on-off-test.sh and stress-ng --memhotplug."""
import os
import re
import time

from ._guest import MEM, block_states, kmem_from_one_region, meminfo_kb, xfail_riscv_vmemmap, WHOLE_SECTIONS_FIXED_IN_7_3

NAME = "peer-suites"
ORDER = 60
CONFIG = ("pmem", "DEV_DAX_PMEM", "DEV_DAX_KMEM", "MEMORY_NOTIFIER_ERROR_INJECT")
XFAIL = {
    ("riscv64", "base"): xfail_riscv_vmemmap(
        "Oops in free_vmemmap_storage when the raw namespace goes for devdax"),
    # whole sections only: fine on 7.3 (64-byte struct page)
    **WHOLE_SECTIONS_FIXED_IN_7_3,
}
TIMEOUT = 600
M = 1 << 20
# Movable memory for the suites to take offline and online: a pmem region
# given to dax kmem (every arch, either kernel).
RAM, REGION, SIZE = 768 * M, 768 * M, 512 * M
STRESS_SECONDS = 20
INJECT = "/sys/kernel/debug/notifier-error-inject/memory"


def keep(t, name, text):
    """The raw output goes to the run directory; returns its path."""
    path = os.path.join(t.outdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(t):
    got = kmem_from_one_region(t, RAM, REGION, SIZE, "kmem_system_ram")
    if not got:
        return
    vm, _, hot = got
    t.note(f"kmem blocks {hot} online movable; notifier error injection: "
           f"{'yes' if vm.run(f'test -d {INJECT}')[0] == 0 else 'no'}")

    # The kernel's selftest: online all offline blocks, offline 2% of the
    # online ones, online them again; with the notifier error injection
    # (built in: its modprobe fails quietly) the error paths as well.
    before = meminfo_kb(vm)
    t0 = time.monotonic()
    rc, out = vm.run("bash /selftests/memory-hotplug/mem-on-off-test.sh", timeout=400)
    dt = time.monotonic() - t0
    path = keep(t, "mem-on-off-test.log", out)
    t.check("mem_on_off_test", rc == 0,
            f"exit {rc} (4: skipped), see {os.path.basename(path)}: {out.strip()[-300:]}")
    t.note(f"mem-on-off-test.sh: exit {rc} in {dt:.1f}s; output:\n" + out.strip()[-1500:])
    offline = [b for b, (s, _) in block_states(
        vm, range(0, max(hot) + 1)).items() if s == "offline"]
    t.check("mem_on_off_test_restored", not offline and meminfo_kb(vm) == before,
            f"offline blocks after the test: {offline}; MemTotal {before} -> "
            f"{meminfo_kb(vm)} kB")

    # stress-ng: offline/online every block it can, for a bounded time
    t0 = time.monotonic()
    rc, out = vm.run(f"stress-ng --memhotplug 1 --timeout {STRESS_SECONDS}s "
                     "--metrics-brief --yaml /tmp/sng.yaml; echo stress-ng exit $?; "
                     "cat /tmp/sng.yaml", timeout=STRESS_SECONDS + 240)
    dt = time.monotonic() - t0
    path = keep(t, "stress-ng-memhotplug.log", out)
    m = re.search(r"stress-ng exit (\d+)", out)
    code = int(m.group(1)) if m else None
    ops = re.search(r"stressor: memhotplug\s*\n\s*bogo-ops: (\d+)", out)
    t.check("stress_ng_memhotplug", code == 0 and ops and int(ops.group(1)) > 0,
            f"exit {code}, bogo-ops {ops and ops.group(1)}, see "
            f"{os.path.basename(path)}: {out.strip()[-300:]}")
    t.note(f"stress-ng --memhotplug {STRESS_SECONDS}s: exit {code} after {dt:.1f}s, "
           f"bogo-ops {ops and ops.group(1)}; output:\n" +
           "\n".join(line for line in out.splitlines()
                     if "stress-ng" in line or "memhotplug" in line)[-1500:])
    # whatever stress-ng left offline comes back; stress-ng onlines with
    # "online", so some of the kmem blocks may now be in a kernel zone (and
    # stay: no removal here)
    vm.run(f"for b in {MEM}/memory*; do grep -q offline $b/state && "
           "echo online > $b/state; done; true", timeout=300)
    st = block_states(vm, range(0, max(hot) + 1))
    offline = [b for b, (s, _) in st.items() if s == "offline"]
    t.check("all_online_after_stress", not offline and meminfo_kb(vm) == before,
            f"offline: {offline}; MemTotal {before} -> {meminfo_kb(vm)} kB")
    t.note(f"zones of the kmem blocks after stress-ng: "
           f"{[st[b][1] for b in hot]}")
