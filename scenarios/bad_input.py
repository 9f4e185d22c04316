"""Bad writes to probe, the test module's files and block state/online files: a clear errno each, nothing changed."""
from ._guest import MEM

NAME = "bad-input"
ORDER = 52
M = 1 << 20
RAM, VISIBLE = 1536 * M, 1024 * M
TIMEOUT = 300


def run(t):
    t.need("probe-hidden-ram")
    vm = t.boot(mem=RAM // M, ram_limit=VISIBLE)
    bs = int(vm.sh(f"cat {MEM}/block_size_bytes"), 16)
    # the first block of RAM hidden with mem=: there, but not added
    free = t.machine.RAM_BASE + VISIBLE
    free += -free % bs
    rc, out = vm.run(f"badinput {free:#x}", timeout=240)
    t.ktap("badinput", (rc, out))
    if rc == 4:
        return
    # the program can fail a row: told to, it does (and only that row)
    rc, out = vm.run("BADINPUT_DEBUG_WRONG=state_garbage badinput", timeout=240)
    bad = [ln for ln in out.splitlines() if ln.startswith("not ok")]
    t.check("tester_fails_a_row", rc == 1 and len(bad) == 1 and
            bad[0].split()[3:4] == ["state_garbage"], f"rc {rc}: {bad[:3]}")
