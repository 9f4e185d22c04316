"""The memory-hotplug kselftests as kernel CI runs them: the tree's kselftest install, run by run_kselftest.sh; absent features SKIP."""
NAME = "kselftests"
ORDER = 12
# mem-on-off-test.sh runs in peer-suites; these take no arguments here.
TESTS = ("memory_blocks", "probe_test", "hotremove_test")
# What each program needs; without it the runner must report SKIP (the
# program exits 4), not ok, or CI counts an untested feature as passed.
FEATURE = {"probe_test": "/sys/devices/system/memory/probe",
           "hotremove_test": "/sys/kernel/debug/memory_hotplug_test"}
TIMEOUT = 600


def run(t):
    vm = t.boot()
    if not t.check("installed", vm.run("test -x /kselftest/run_kselftest.sh")[0] == 0,
                   "no /kselftest/run_kselftest.sh in the initramfs"):
        return
    args = " ".join(f"-t memory-hotplug:{p}" for p in TESTS)
    rc, out = vm.run(f"cd /kselftest && ./run_kselftest.sh -o 300 {args} 2>&1 | cat",
                     timeout=500)
    res = t.ktap("kselftest", (rc, out))
    prefix = "kselftest.selftests: memory-hotplug: "
    top = {r["name"][len(prefix):]: r for r in res
           if r["name"].startswith(prefix) and "." not in r["name"][len(prefix):]}
    t.check("all_ran", sorted(top) == sorted(TESTS), f"runner reported {sorted(top)}")
    for prog, path in FEATURE.items():
        present = vm.run(f"test -e {path}")[0] == 0
        r = top.get(prog)
        if not present and r:
            t.check(f"{prog}_skips_without_feature", r["status"] == "skip",
                    f"no {path}, and run_kselftest.sh reported {r['status']}")
        t.note(f"{prog}: {path} {'present' if present else 'absent'}, "
               f"runner: {r['status'] if r else 'not run'}")
