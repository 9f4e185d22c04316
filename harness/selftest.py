"""Unit tests of the harness itself (python3 -m harness.selftest): the
console filter, the KTAP parser (on real output of kselftest.h and
kselftest_harness.h programs and on the kernel's own KTAP test files) and
the verdict of a unit against its expected failure."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import types
import unittest

from harness import ktap, report
from harness.verdict import Xfail, verdict
from harness.vm import KMSG_RE, PROBLEM_RE, shell_console_args

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata")
BUILD = os.environ.get("MEMHP_BUILD", os.path.expanduser("~/.cache/memhp"))
TREE = os.environ.get("MEMHP_LINUX", os.path.join(BUILD, "linux"))


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def statuses(results):
    return [(r["name"], r["status"]) for r in ktap.flatten(results)]


class KernelMessages(unittest.TestCase):
    def test_record_before_output_goes(self):
        # CI: a clocksource warning came before /proc/meminfo's line
        out = ("[   22.640384] clocksource: Long readout interval, skipping "
               "watchdog check: cs_nsec: 1468024825 wd_nsec: 1468027320\n"
               "MemTotal:        1968720 kB\n")
        self.assertEqual(KMSG_RE.sub("", out), "MemTotal:        1968720 kB\n")

    def test_record_inside_a_line_goes(self):
        out = "MemTotal:   [ 1234.000001] virtio_mem virtio0: plugged\n 42 kB\n"
        self.assertEqual(KMSG_RE.sub("", out), "MemTotal:    42 kB\n")

    def test_output_that_only_looks_like_one_stays(self):
        out = "[1] 123\n[ 12.5] not a printk time\n"
        self.assertEqual(KMSG_RE.sub("", out), out)

    def test_problems_still_match_records(self):
        self.assertTrue(PROBLEM_RE.search(
            "[    7.530474] Oops [#1]\n"))

    def test_offline_retry_dumps_are_no_problem(self):
        # an offline that retries dumps the page it could not take: the
        # documented answer for memory in use, not a kernel bug
        for why in ("unmovable page", "migration failure", "isolation failed"):
            self.assertIsNone(PROBLEM_RE.search(
                f"[   22.451722] page dumped because: {why}\n"), why)
        self.assertTrue(PROBLEM_RE.search(
            "[   22.451722] page dumped because: VM_BUG_ON_PAGE(x)\n"))



class ShellConsole(unittest.TestCase):
    """The shell goes on hvc0 only where the QEMU binary has the device (CI
    once ran the riscv suite on a QEMU built without it: every guest failed
    with "'virtio-serial-pci' is not a valid device model name")."""

    def fake_qemu(self, devices):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, "qemu-system-fake")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
            for dev in devices:
                f.write(f"echo 'name \"{dev}\", bus PCI'\n")
        os.chmod(path, 0o755)
        return path

    def test_virtio_console_where_qemu_has_it(self):
        q = self.fake_qemu(["virtio-serial-pci", "virtconsole"])
        args = shell_console_args(q, "/tmp/x.shell")
        self.assertIn("virtio-serial-pci,id=memhp-vser", args)
        self.assertIn("virtconsole,chardev=memhp-shell,bus=memhp-vser.0", args)

    def test_serial_console_where_qemu_lacks_it(self):
        q = self.fake_qemu(["virtio-mem-pci", "pc-dimm"])
        self.assertEqual(shell_console_args(q, "/tmp/x.shell"), [])

    def test_missing_qemu_gets_no_device_options(self):
        self.assertEqual(shell_console_args("/nonexistent/qemu", "/tmp/x"), [])


# Real output of harness/testdata/*.c, built against 6.12's selftest headers.
SAMPLE = [("global.passes", "pass"), ("global.fails", "fail"),
          ("global.skips", "skip"), ("block.small.is_small", "xpass"),
          ("block.large.is_small", "xfail")]
KSFT = [("passes", "pass"), ("fails", "fail"), ("test3", "xfail"),
        ("xpasses", "xpass"), ("test5", "skip"), ("test6", "fail")]


class Ktap(unittest.TestCase):
    def test_kselftest_harness_output(self):
        p = ktap.parse_tree(data("ktap_sample.out"))
        self.assertEqual(p.plan, 5)
        self.assertEqual(statuses(p.results), SAMPLE)
        self.assertEqual(p.results[2]["detail"], "the feature is absent")

    def test_kselftest_h_output(self):
        p = ktap.parse_tree(data("ktap_ksft.out"))
        self.assertEqual(p.plan, 6)
        self.assertEqual(statuses(p.results), KSFT)
        self.assertEqual(p.results[2]["detail"], "xfails")
        self.assertEqual(p.results[5]["detail"], "error errors")

    def test_skip_everything_plan(self):
        p = ktap.parse_tree(data("ktap_ksft_absent.out"))
        self.assertEqual((p.plan, p.results), (0, []))
        self.assertEqual(p.skip_all, "no memory hotplug in this kernel")

    def test_nested_under_run_kselftest(self):
        # run_kselftest.sh prefixes a program's output with "# "
        inner = "".join("# " + ln + "\n" for ln in
                        data("ktap_sample.out").splitlines())
        text = ("TAP version 13\n1..2\n# selftests: memory-hotplug: sample\n"
                + inner + "not ok 1 selftests: memory-hotplug: sample # exit=1\n"
                "# selftests: memory-hotplug: absent\n"
                + "".join("# " + ln + "\n" for ln in
                          data("ktap_ksft_absent.out").splitlines())
                + "ok 2 selftests: memory-hotplug: absent # SKIP\n")
        p = ktap.parse_tree(text)
        self.assertEqual(p.plan, 2)
        top = p.results
        self.assertEqual([(r["name"], r["status"]) for r in top],
                         [("selftests: memory-hotplug: sample", "fail"),
                          ("selftests: memory-hotplug: absent", "skip")])
        self.assertEqual(top[0]["plan"], 5)
        self.assertEqual([(r["name"], r["status"]) for r in top[0]["subtests"]],
                         SAMPLE)
        self.assertEqual(top[1]["subtests"], [])

    def test_real_run_kselftest_output(self):
        # run_kselftest.sh of the series' tree, on a kernel with neither the
        # probe interface nor the test module: every subtest skips, and
        # the programs exit 0, so the runner says "ok"
        p = ktap.parse_tree(data("run_kselftest.out"))
        self.assertEqual(p.plan, 2)
        self.assertEqual([(r["name"], r["status"], r["plan"]) for r in p.results],
                         [("selftests: memory-hotplug: probe_test", "pass", 7),
                          ("selftests: memory-hotplug: hotremove_test", "pass", 5)])
        self.assertTrue(all(s["status"] == "skip" for r in p.results
                            for s in r["subtests"]))

    def test_real_run_kselftest_skip_output(self):
        # the same after 'selftests/memory-hotplug: exit 4 when the
        # interface under test is absent': the runner says SKIP
        p = ktap.parse_tree(data("run_kselftest_skip.out"))
        self.assertEqual([(r["name"], r["status"], r["plan"]) for r in p.results],
                         [("selftests: memory-hotplug: probe_test", "skip", 0),
                          ("selftests: memory-hotplug: hotremove_test", "skip", 0)])

    def test_ktap_v1_indented_subtests(self):
        text = ("KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: s\n"
                "    1..2\n    ok 1 a\n    not ok 2 b # TODO not done\n"
                "ok 1 s\n    KTAP version 1\n    1..1\n"
                "    not ok 1 c\nnot ok 2 t\n")
        p = ktap.parse_tree(text)
        self.assertEqual(statuses(p.results),
                         [("s", "pass"), ("s.a", "pass"), ("s.b", "xfail"),
                          ("t", "fail"), ("t.c", "fail")])

    def test_old_parser_bugs(self):
        # ok + XFAIL is an expected failure, XPASS is not dropped
        _, res = ktap.parse("1..2\nok 1 x # XFAIL known\nok 2 y # XPASS\n")
        self.assertEqual([r["status"] for r in res], ["xfail", "xpass"])

    def test_rebuilt_samples_parse_the_same(self):
        """Rebuild the samples against the work tree's headers: the
        parse must not change (kselftest's format moved, or ours did)."""
        heads = os.path.join(TREE, "tools/testing/selftests")
        cc = shutil.which("cc") or shutil.which("gcc")
        if not (cc and os.path.exists(os.path.join(heads, "kselftest_harness.h"))):
            self.skipTest(f"no kernel tree at {TREE} or no C compiler")
        with tempfile.TemporaryDirectory() as d:
            for src, args, want in (("ktap_sample.c", [], SAMPLE),
                                    ("ktap_ksft.c", [], KSFT)):
                exe = os.path.join(d, src[:-2])
                subprocess.run([cc, "-O1", "-D_GNU_SOURCE", f"-I{heads}", "-o",
                                exe, os.path.join(DATA, src)], check=True,
                               capture_output=True)
                r = subprocess.run([exe] + args, capture_output=True, text=True)
                self.assertEqual(statuses(ktap.parse_tree(r.stdout).results), want)
            r = subprocess.run([os.path.join(d, "ktap_ksft"), "absent"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 4)
            self.assertIsNotNone(ktap.parse_tree(r.stdout).skip_all)

    def test_kernel_ktap_test_files(self):
        """The KTAP files of tools/testing/kunit/test_data, as kunit.py's
        own tests read them."""
        d = os.path.join(TREE, "tools/testing/kunit/test_data")
        if not os.path.isdir(d):
            self.skipTest(f"no kernel tree at {TREE}")

        def parse(name):
            with open(os.path.join(d, name), errors="replace") as f:
                return ktap.parse_tree(f.read())

        def count(p, status):
            return sum(r["status"] == status for r in ktap.flatten(p.results))
        p = parse("test_is_test_passed-all_passed.log")
        self.assertEqual((p.plan, count(p, "fail")), (2, 0))
        self.assertGreater(count(p, "pass"), 2)
        p = parse("test_is_test_passed-failure.log")
        self.assertEqual([r["status"] for r in p.results], ["pass", "fail"])
        self.assertEqual(p.results[1]["subtests"][0]["status"], "fail")
        p = parse("test_skip_tests.log")
        self.assertEqual(count(p, "skip"), 1)
        p = parse("test_skip_all_tests.log")
        self.assertEqual(count(p, "pass"), 0)
        self.assertGreater(count(p, "skip"), 3)
        p = parse("test_is_test_passed-kselftest.log")
        self.assertEqual([len(r["subtests"]) for r in p.results], [2, 2])
        p = parse("test_kernel_panic_interrupt.log")
        self.assertNotEqual(p.plan, len(p.results))   # cut off by the panic
        for name in ("test_multiple_prefixes.log", "test_pound_sign.log",
                     "test_config_printk_time.log"):
            p = parse(name)
            self.assertEqual(len(p.results), 3, name)
            self.assertTrue(all(r["subtests"] for r in p.results), name)
        p = parse("test_is_test_passed-no_tests_run_with_header.log")
        self.assertEqual((p.plan, p.results), (0, []))
        for path in glob.glob(os.path.join(d, "*.log")):
            parse(os.path.basename(path))    # none of them breaks it


UNITS = [
    {"arch": "arm64", "kernel": "base", "scenario": "a", "status": "pass",
     "seconds": 3.0, "subtests": [R0 := {"name": "x.y", "status": "pass",
                                          "detail": ""}]},
    {"arch": "riscv64", "kernel": "base", "scenario": "b", "status": "xfail",
     "reason": "expected: bug #1 (saw: c: d)", "seconds": 4.0,
     "subtests": [R0, {"name": "c", "status": "fail", "detail": "d\ne"}]},
    {"arch": "x86_64", "kernel": "patched", "scenario": "c", "status": "fail",
     "reason": "guest: QEMU exited", "seconds": 1.0,
     "subtests": [{"name": "guest", "status": "fail", "detail": "QEMU exited"}]},
    {"arch": "x86_64", "kernel": "base", "scenario": "d", "status": "skip",
     "reason": "not on x86", "seconds": 0.0},
]
CHECKS = [{"name": "build # 1", "status": "pass", "detail": "built in 3s"}]


class Reports(unittest.TestCase):
    def test_ktap_reads_back(self):
        text = report.ktap(UNITS, CHECKS)
        p = ktap.parse_tree(text)
        self.assertEqual(p.plan, 5)
        self.assertEqual([(r["name"], r["status"]) for r in p.results],
                         [("checks", "pass"), ("arm64.base.a", "pass"),
                          ("riscv64.base.b", "xfail"),
                          ("x86_64.patched.c", "fail"), ("x86_64.base.d", "skip")])
        self.assertEqual([r["status"] for r in p.results[2]["subtests"]],
                         ["pass", "xfail"])
        self.assertEqual(p.results[0]["subtests"][0]["name"], "build %23 1")

    def test_kunit_py_parses_it(self):
        kunit = os.path.join(TREE, "tools/testing/kunit/kunit.py")
        if not os.path.exists(kunit):
            self.skipTest(f"no kernel tree at {TREE}")
        with tempfile.NamedTemporaryFile("w", suffix=".ktap") as f:
            f.write(report.ktap(UNITS, CHECKS))
            f.flush()
            r = subprocess.run(["python3", kunit, "parse", f.name],
                               capture_output=True, text=True)
        out = r.stdout + r.stderr
        self.assertNotIn("[ERROR]", out)
        self.assertRegex(out, r"Ran 6 tests: passed: 4, failed: 1, skipped: 1")

    def test_junit(self):
        import xml.etree.ElementTree as ET
        root = ET.fromstring(report.junit(UNITS, CHECKS))
        suites = {s.get("name"): s for s in root}
        self.assertEqual(sorted(suites), ["arm64.base", "checks", "riscv64.base",
                                          "x86_64.base", "x86_64.patched"])
        self.assertEqual(suites["x86_64.patched"].get("failures"), "1")
        xf = suites["riscv64.base"].find("testcase/skipped")
        self.assertEqual(xf.get("type"), "xfail")


def R(name, status="pass", detail=""):
    return {"name": name, "status": status, "detail": detail}


OOPS_LOG = ("[    4.8] Unable to handle kernel paging request at virtual address "
            "ff1c000000a3a000\n[    4.8] Oops [#1]\n"
            "[    4.8] epc : free_vmemmap_storage+0x5a/0x8c\n")


class DeviceTree(unittest.TestCase):
    """harness/dtb.py edits a DTB with fdtput: what it writes, and that a
    wrong edit (no such node, a node twice) is an error, not a no-op."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "t.dtb")
        dts = ("/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n"
               "memory@80000000 { device_type = \"memory\"; "
               "reg = <0x0 0x80000000 0x0 0xc0000000>; }; };\n")
        subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", self.path,
                        "-"], input=dts, text=True, check=True)

    def tearDown(self):
        self.tmp.cleanup()

    def get(self, node, prop, kind="x"):
        return subprocess.run(["fdtget", "-t", kind, self.path, node, prop],
                              capture_output=True, text=True,
                              check=True).stdout.split()

    def test_edits(self):
        from harness import dtb
        G = 1 << 30
        t = dtb.Tree(self.path)
        t.set_memory(0x80000000, G, numa_node=0)
        t.add_memory(0x80000000 + G, 2 * G, 1, hotpluggable=True)
        t.add_pmem(0x80000000 + 3 * G, 64 << 20)
        self.assertEqual(self.get("/memory@80000000", "reg"),
                         ["0", "80000000", "0", "40000000"])
        self.assertEqual(self.get("/memory@80000000", "numa-node-id"), ["0"])
        self.assertEqual(self.get("/memory@c0000000", "reg"),
                         ["0", "c0000000", "0", "80000000"])
        self.assertEqual(self.get("/memory@c0000000", "numa-node-id"), ["1"])
        self.assertEqual(self.get("/memory@c0000000", "hotpluggable"), [])
        self.assertEqual(self.get("/memory@c0000000", "device_type", "s"),
                         ["memory"])
        self.assertEqual(self.get("/pmem@140000000", "compatible", "s"),
                         ["pmem-region"])
        self.assertEqual(self.get("/pmem@140000000", "reg"),
                         ["1", "40000000", "0", "4000000"])

    def test_numa_nodes(self):
        from harness import dtb
        dtb.numa_nodes(dtb.Tree(self.path), 0x80000000, [1024, 2048],
                       in_place=True)
        self.assertEqual(self.get("/memory@80000000", "reg"),
                         ["0", "80000000", "0", "40000000"])
        self.assertEqual(self.get("/memory@80000000", "numa-node-id"), ["0"])
        self.assertEqual(self.get("/memory@c0000000", "reg"),
                         ["0", "c0000000", "0", "80000000"])
        self.assertEqual(self.get("/memory@c0000000", "numa-node-id"), ["1"])
        # arm64: QEMU rewrites memory@ nodes, ours are named ram@
        dtb.numa_nodes(dtb.Tree(self.path), 0x40000000, [512, 512],
                       in_place=False)
        self.assertEqual(self.get("/ram@60000000", "numa-node-id"), ["1"])
        self.assertEqual(self.get("/ram@40000000", "numa-node-id"), ["0"])

    def test_nodes_option(self):
        from machines import common, x86_64
        with self.assertRaises(ValueError):
            common.config(mem=2048, nodes=[1024, 512])   # does not add up
        with self.assertRaises(ValueError):
            common.config(mem=1024, nodes=[1024, 0])     # an empty node
        a = x86_64.argv("k", "i", common.config(mem=2048, nodes=[1024, 1024]),
                        self.tmp.name, "vm")
        self.assertEqual([a[i + 1] for i, v in enumerate(a) if v == "-numa"],
                         ["node,nodeid=0,cpus=0,memdev=ram0",
                          "node,nodeid=1,cpus=1,memdev=ram1"])
        self.assertIn("memory-backend-ram,id=ram1,size=1024M", a)
        self.assertEqual(a[a.index("-smp") + 1], "2,sockets=2,cores=1,threads=1")
        # one node: all CPUs on it, no cpus= at all
        a = x86_64.argv("k", "i", common.config(mem=1024), self.tmp.name, "vm")
        self.assertEqual([a[i + 1] for i, v in enumerate(a) if v == "-numa"],
                         ["node,nodeid=0,memdev=ram0"])
        # more nodes than CPUs: the last has none
        a = x86_64.argv("k", "i", common.config(mem=3072, nodes=[1024] * 3),
                        self.tmp.name, "vm")
        self.assertEqual([a[i + 1] for i, v in enumerate(a) if v == "-numa"][2],
                         "node,nodeid=2,memdev=ram2")

    def test_wrong_edits_fail(self):
        from harness import dtb
        t = dtb.Tree(self.path)
        with self.assertRaises(ValueError):
            t.set_memory(0x40000000, 1 << 30)          # no memory@40000000
        t.add_pmem(0x100000000, 1 << 26)
        with self.assertRaises(ValueError):
            t.add_pmem(0x100000000, 1 << 26)           # the same node twice


class Flakes(unittest.TestCase):
    def test_counts_a_check_that_passed_and_failed(self):
        from harness import flakes

        def run(status, verdict):
            return {"units": [{"arch": "arm64", "kernel": "patched",
                               "scenario": "s", "status": verdict,
                               "subtests": [{"name": "a", "status": "pass"},
                                            {"name": "b", "status": status}]}],
                    "checks": [{"name": "c", "status": "pass"}]}
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for i, (st, v) in enumerate((("pass", "pass"), ("fail", "fail"),
                                         ("pass", "pass"))):
                paths.append(os.path.join(d, f"{i}.json"))
                with open(paths[-1], "w") as f:
                    json.dump(run(st, v), f)
            checks, verdicts = flakes.count([flakes.load(p) for p in paths])
            self.assertTrue(flakes.flaky(checks[("arm64 patched s", "b")]))
            self.assertFalse(flakes.flaky(checks[("arm64 patched s", "a")]))
            self.assertFalse(flakes.flaky(checks[("suite", "c")]))
            self.assertTrue(flakes.flaky(verdicts["arm64 patched s"]))
            self.assertEqual(flakes.main(paths), 1)
            self.assertEqual(flakes.main([paths[0], paths[2]]), 0)
            self.assertEqual(flakes.main(paths[:1]), 2)


class Bench(unittest.TestCase):
    def test_exponent(self):
        from harness.bench import exponent
        self.assertAlmostEqual(exponent([(1, 2.0), (4, 8.0), (16, 32.0)]), 1.0)
        self.assertAlmostEqual(exponent([(1, 1.0), (2, 4.0), (4, 16.0)]), 2.0)
        self.assertIsNone(exponent([(4, 1.0)]))
        self.assertIsNone(exponent([(1, None), (4, 2.0)]))

    def test_key_values(self):
        from harness.bench import kv
        self.assertEqual(kv("ready\nt0=1.5\nadded=512\n[ 1.0] x=y z\ncomplete=1"),
                         {"t0": 1.5, "added": 512.0, "complete": 1.0})

    def test_ratios(self):
        from harness.bench import MiB, to_x86, with_ratios
        fl = {"write_mib_s": 100.0, "copy_mib_s": 50.0}
        s = with_ratios({"size_gib": 1.0, "add": 0.2, "online": 0.2, "add_online": 0.4,
                         "memmap_bytes": 16 * MiB, "migrated_bytes": 100 * MiB,
                         "offline": 4.0, "remove": 0.5}, fl)
        self.assertAlmostEqual(s["memmap_floor"], 0.16)
        self.assertAlmostEqual(s["add_online_over_floor"], 2.5)
        self.assertAlmostEqual(s["offline_over_floor"], 2.0)
        self.assertAlmostEqual(s["remove_gib_s"], 2.0)
        x = {"size_gib": 1.0, "add_online": 0.2}
        recs = [{"arch": "arm64", "kernel": "patched", "sizes": [s]},
                {"arch": "x86_64", "kernel": "patched", "sizes": [x]}]
        to_x86(recs)
        self.assertAlmostEqual(s["add_online_over_x86"], 2.0)
        self.assertNotIn("add_over_x86", s)


    def test_top_functions(self):
        # trace_stat/function0 and function1 as the kernel prints them:
        # times above 7 digits lose their fraction
        from harness.bench import top_functions
        cpu0 = ("  Function                               Hit    Time            Avg"
                "             s^2\n  --------                               ---    ----"
                "            ---             ---\n"
                "  migrate_folio_extra                  1024    12345678 us     12056.33 us"
                "    0.000 us    \n"
                "  copy_page                            1024    2048.500 us     2.000 us"
                "        0.062 us    \n")
        cpu1 = cpu0.replace("12345678 us", "1000.000 us").replace("copy_page      ",
                                                                   "memmap_init_range")
        top = top_functions(cpu0 + cpu1, 2)
        self.assertEqual([e["function"] for e in top],
                         ["migrate_folio_extra", "copy_page"])
        self.assertEqual(top[0]["hits"], 2048)
        self.assertAlmostEqual(top[0]["us"], 12346678.0)
        total = 12346678.0 + 2048.5 + 2048.5
        self.assertAlmostEqual(top[1]["share"], round(2048.5 / total, 4))
        self.assertEqual(top_functions("no profile here"), [])
        # the idle loop is no function's cost
        idle = "  do_idle                              3    99999999 us    1 us    0 us\n"
        self.assertEqual(top_functions(cpu0 + idle, 1)[0]["function"], "migrate_folio_extra")
        self.assertAlmostEqual(top_functions(cpu0 + idle)[1]["share"],
                               round(2048.5 / (12345678.0 + 2048.5), 4))

    def test_markdown(self):
        from harness.bench import markdown
        doc = {"commit": "abc", "date": "2026-12-03", "host": "h", "qemu": "QEMU 10",
               "variant": "bench", "records": [
                   {"arch": "arm64", "kernel": "patched", "mech": "vmem",
                    "not_measured": "64 GiB: too big", "sizes": [
                        {"size_gib": 1.0, "add": 0.5, "remove": 2.0},
                        {"size_gib": 4.0, "error": "add: 3 uevents for 32 blocks"}],
                    "profile": {"size_gib": 4, "steps": {"online": [
                        {"function": "memmap_init_range", "hits": 1, "us": 5.0,
                         "share": 0.5}]}}}]}
        md = markdown(doc)
        self.assertIn("| arm64 | patched | virtio-mem | 1 | 0.50 |", md)
        self.assertIn("| 2.00 |", md)      # remove s/GiB
        self.assertIn("stopped: add: 3 uevents for 32 blocks", md)
        self.assertIn("- arm64 patched virtio-mem: 64 GiB: too big", md)
        self.assertIn("`memmap_init_range` 50%", md)
        self.assertIn("variant `bench`", md)
        doc["records"][0]["offline_order"] = {"size_gib": 4, "up": 18.0, "down": 6.0}
        self.assertIn("| arm64 | patched | 4 | 18.00 | 6.00 | 3.0 |", markdown(doc))

    def test_variant_image(self):
        from harness.bench import variant_image
        self.assertTrue(variant_image("arm64", "patched", "none").endswith(
            "/out/arm64-patched/boot-image"))
        self.assertTrue(variant_image("riscv64", "base", "bench").endswith(
            "/out/riscv64-base-bench/boot-image"))


class Verdict(unittest.TestCase):
    X_CHECK = Xfail("no probe interface", checks="probe_interface")
    X_LOG = Xfail("vmemmap Oops", log=r"epc : free_vmemmap_storage\+")

    def test_no_expectation(self):
        self.assertEqual(verdict([R("a"), R("b")])[0], "pass")
        self.assertEqual(verdict([R("a"), R("b", "fail", "x")]), ("fail", "b: x"))
        self.assertEqual(verdict([R("a", "xpass")])[0], "fail")

    def test_right_failure(self):
        st, why = verdict([R("probe_interface", "fail", "no probe")], self.X_CHECK)
        self.assertEqual(st, "xfail")
        self.assertIn("no probe interface", why)

    def test_wrong_failure(self):
        st, why = verdict([R("probe_interface"), R("online", "fail", "EBUSY")],
                          self.X_CHECK)
        self.assertEqual(st, "fail")
        self.assertIn("probe_interface passed", why)
        self.assertIn("unexpected: online: EBUSY", why)

    def test_right_and_another_failure(self):
        st, why = verdict([R("probe_interface", "fail"), R("x", "fail", "y")],
                          self.X_CHECK)
        self.assertEqual(st, "fail")
        self.assertIn("unexpected: x: y", why)

    def test_named_check_did_not_run(self):
        # riscv64 base max-pfn before: the guest died before the check
        st, why = verdict([R("guest", "fail", "QEMU exited (0)"),
                           R("vm0.kernel_log_clean", "fail", "Oops [#1]")],
                          Xfail("max_pfn", checks="kpageflags_covers_high_after_low"),
                          log=OOPS_LOG)
        self.assertEqual(st, "fail")
        self.assertIn("did not run", why)

    def test_log_pattern_seen(self):
        res = [R("guest", "fail", "QEMU exited (0)"),
               R("vm0.kernel_log_clean", "fail", "Oops [#1]")]
        self.assertEqual(verdict(res, self.X_LOG, log=OOPS_LOG)[0], "xfail")

    def test_other_oops(self):
        log = OOPS_LOG.replace("free_vmemmap_storage", "kmem_cache_alloc")
        st, why = verdict([R("vm0.kernel_log_clean", "fail", "Oops")],
                          self.X_LOG, log=log)
        self.assertEqual(st, "fail")
        self.assertIn("kernel log has no", why)

    def test_timeout(self):
        res = [R("guest", "fail", "scenario timeout (600s): timeout waiting")]
        st, why = verdict(res, self.X_CHECK)
        self.assertEqual(st, "fail")
        self.assertIn("unexpected: guest: scenario timeout", why)
        # and a log expectation that is not in the log
        self.assertEqual(verdict(res, self.X_LOG, log="")[0], "fail")

    def test_harness_exception(self):
        res = [R("harness", "fail", "KeyError: 'x'"),
               R("vm0.kernel_log_clean", "fail", "Oops")]
        st, why = verdict(res, self.X_LOG, log=OOPS_LOG)
        self.assertEqual(st, "fail")
        self.assertIn("unexpected: harness: KeyError", why)

    def test_xpass(self):
        st, why = verdict([R("probe_interface")], self.X_CHECK)
        self.assertEqual(st, "xpass")
        self.assertIn("update XFAIL", why)

    def test_racy_pass(self):
        st, why = verdict([R("a")], self.X_LOG, racy=True)
        self.assertEqual(st, "pass")
        self.assertIn("race not hit", why)
        # a racy unit that fails otherwise is still a failure
        self.assertEqual(verdict([R("a", "fail")], self.X_LOG, racy=True,
                                 log="")[0], "fail")

    def test_expectation_must_name_something(self):
        with self.assertRaises(ValueError):
            Xfail("a bug")

    def test_upto_kernels_resolve(self):
        from harness import run, track
        saved = run.BASE
        try:
            for base in track.tracks():
                run.BASE = base
                run.series_patches.cache_clear()
                subjects = dict(run.series_patches())
                for mod in run.load_scenarios().values():
                    for arch, subject in getattr(mod, "UPTO", {}).items():
                        if isinstance(arch, tuple):
                            if arch[0] != base:
                                continue
                            arch = arch[1]
                        subject = mod.UPTO.get((base, arch), mod.UPTO.get(arch))
                        k = run.upto_kernel(mod, arch)
                        if subject is None:
                            self.assertIsNone(k, f"{mod.NAME} on {base}")
                            continue
                        self.assertTrue(subjects[int(k[5:])].startswith(subject))
                        self.assertIn((arch, "upto"), mod.XFAIL,
                                      f"{mod.NAME}: an upto kernel shows a bug")
        finally:
            run.BASE = saved
            run.series_patches.cache_clear()

    def test_track_expectations_come_first(self):
        from harness import run
        mod = types.SimpleNamespace(XFAIL={
            ("arm64", "base"): Xfail("all tracks", checks=["a"]),
            ("7.3", "arm64", "base"): None,
            ("6.12", "riscv64", "base"): Xfail("6.12 only", checks=["b"]),
            ("riscv64", "*"): Xfail("any kernel", checks=["c"])},
            RACY={("7.3", "x86_64", "unfixed")})
        saved = run.BASE
        try:
            run.BASE = "7.3"
            self.assertIsNone(run.expected(mod, "arm64", "base"))
            self.assertEqual(run.expected(mod, "riscv64", "base").why, "any kernel")
            self.assertTrue(run.racy(mod, "x86_64", "unfixed"))
            run.BASE = "6.12"
            self.assertEqual(run.expected(mod, "arm64", "base").why, "all tracks")
            self.assertEqual(run.expected(mod, "riscv64", "base").why, "6.12 only")
            self.assertFalse(run.racy(mod, "x86_64", "unfixed"))
        finally:
            run.BASE = saved

    def test_failures_are_named_at_the_end(self):
        from harness.run import failure_lines
        lines = failure_lines([
            {"arch": "arm64", "kernel": "base", "scenario": "a", "status": "pass"},
            {"arch": "riscv64", "kernel": "patched", "scenario": "b",
             "status": "fail", "reason": "x:\n  " + "y" * 400},
            {"arch": "x86_64", "kernel": "base", "scenario": "c", "status": "xpass",
             "reason": ""},
            {"name": "6.12 checkpatch 0003", "status": "fail", "detail": "WARNING: z"},
            {"name": "guest rootfs arm64", "status": "skip", "detail": ""}])
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].startswith("FAIL riscv64 patched b: x: yyy"))
        self.assertTrue(lines[0].endswith("..."))
        self.assertLessEqual(len(lines[0]), len("FAIL riscv64 patched b: ") + 300)
        self.assertEqual(lines[1], "XPASS x86_64 base c")
        self.assertEqual(lines[2], "FAIL check: 6.12 checkpatch 0003: WARNING: z")

    def test_fixes_scope(self):
        from harness import run
        from harness.verdict import Xfail
        mod = types.SimpleNamespace(NAME="s", XFAIL={
            ("riscv64", "base"): Xfail("bug", checks="c"),
            ("arm64", "upto"): Xfail("bug", checks="c"),
            ("x86_64", "base"): None})
        todo = [("s", a, k) for a in ("arm64", "riscv64", "x86_64")
                for k in ("base", "patched", "unfixed")] + [("s", "arm64", "upto-0003")]
        got = run.fixes_scope(todo, {"s": mod})
        self.assertEqual(got, [("s", "arm64", "patched"), ("s", "riscv64", "base"),
                               ("s", "riscv64", "patched"), ("s", "arm64", "upto-0003")])
        # ci: the same and every patched unit; base units that pass only
        # in the whole scope
        got = run.ci_scope(todo, {"s": mod})
        self.assertEqual(got, [("s", "arm64", "patched"), ("s", "riscv64", "base"),
                               ("s", "riscv64", "patched"), ("s", "x86_64", "patched"),
                               ("s", "arm64", "upto-0003")])
        saved = run.BASE
        try:
            run.BASE = "6.12"
            checks = run.units_as_checks([
                {"arch": "arm64", "kernel": "base", "scenario": "s", "status": "xfail",
                 "reason": "expected: x"},
                {"arch": "arm64", "kernel": "patched", "scenario": "s", "status": "pass"},
                {"arch": "riscv64", "kernel": "patched", "scenario": "s", "status": "xpass"}])
        finally:
            run.BASE = saved
        self.assertEqual([(c["name"], c["status"]) for c in checks],
                         [("6.12 arm64 base s", "pass"), ("6.12 arm64 patched s", "pass"),
                          ("6.12 riscv64 patched s", "fail")])
        self.assertEqual(checks[0]["detail"], "XFAIL: expected: x")
        self.assertEqual(checks[1]["detail"], "PASS")

    def test_config_preflight(self):
        from harness.run import load_scenarios, missing_config, read_config
        scen = load_scenarios()
        with tempfile.NamedTemporaryFile("w", suffix=".config") as f:
            for frag in ("common", "arm64", "debug", "series"):
                with open(os.path.join(HERE, "..", "configs", f"{frag}.config")) as g:
                    f.write(g.read())
            f.write("CONFIG_OF_NUMA=y\nCONFIG_TEST_MEMORY_HOTPLUG=m\n")
            f.flush()
            opts = read_config(f.name)
        opts.pop("ARCH_MEMORY_PROBE")     # as base 6.12 has it
        for name, mod in scen.items():
            miss = missing_config(mod, "arm64", opts)
            want = {"probe-hidden": ["ARCH_MEMORY_PROBE"],
                    "probe-node": ["ARCH_MEMORY_PROBE"],
                    "hotremove-partial": ["TEST_MEMORY_HOTPLUG"],
                    # fault injection: the 7.3 track's fragment, not these
                    "fault-hotadd": ["TEST_MEMORY_HOTPLUG", "FAULT_INJECTION",
                                     "FAULT_INJECTION_DEBUG_FS", "FAILSLAB",
                                     "FAIL_PAGE_ALLOC"],
                    "fault-hotremove": ["TEST_MEMORY_HOTPLUG", "FAULT_INJECTION",
                                        "FAULT_INJECTION_DEBUG_FS", "FAILSLAB",
                                        "FAIL_PAGE_ALLOC"]}.get(name, [])
            self.assertEqual(miss, want, name)
        # "pmem" means the machine's own options
        self.assertIn("X86_PMEM_LEGACY", missing_config(scen["pmem-ndctl"],
                                                        "x86_64", opts))

    def test_unit_skips_without_its_options_or_program(self):
        from harness.run import Context, Skip
        with tempfile.TemporaryDirectory() as d:
            t = Context("arm64", "patched", "s", d)
            # no .config beside the image: nothing to check
            t.image = os.path.join(d, "boot-image")
            t.need_config("FAILSLAB")
            with open(os.path.join(d, ".config"), "w") as f:
                f.write("CONFIG_FAILSLAB=y\nCONFIG_FAIL_PAGE_ALLOC=m\n")
            t.need_config("FAILSLAB")
            with self.assertRaisesRegex(Skip, "lacks CONFIG_FAIL_PAGE_ALLOC, CONFIG_X$"):
                t.need_config("FAILSLAB", "FAIL_PAGE_ALLOC", "X")
            absent = "TAP version 13\n1..0 # SKIP no failslab\n"
            t.ktap("p", (4, absent))
            self.assertEqual(t.results[-1]["status"], "skip")
            with self.assertRaisesRegex(Skip, "^q: no failslab"):
                t.ktap("q", (4, absent), required=True)
            with self.assertRaisesRegex(Skip, r"^r: exit 4"):
                t.ktap("r", (4, ""), required=True)
            # a program that ran is no skip, required or not
            t.ktap("s", (1, "TAP version 13\n1..1\nnot ok 1 a\n"), required=True)
            self.assertEqual(t.results[-1], {"name": "s.a", "status": "fail", "detail": ""})

    def test_every_scenario_expectation_is_precise(self):
        from harness.run import load_scenarios
        n = 0
        for mod in load_scenarios().values():
            for key, x in mod.XFAIL.items():
                if x is None:
                    # "fixed in this base" only for one track
                    self.assertEqual(len(key), 3, f"{mod.NAME} {key}")
                    continue
                self.assertIsInstance(x, Xfail, f"{mod.NAME} {key}")
                n += 1
        self.assertGreater(n, 10)


if __name__ == "__main__":
    unittest.main()
