"""Unit tests of the harness's own parsing (python3 -m harness.selftest)."""
import unittest

from harness.vm import KMSG_RE, PROBLEM_RE


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


if __name__ == "__main__":
    unittest.main()
