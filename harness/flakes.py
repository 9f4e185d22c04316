"""Flake counts: the same checks over several runs of the suite.

    python3 -m harness.flakes RUN_DIR_OR_RESULTS_JSON...

For every unit (arch, kernel, scenario) and every check inside it, how
many runs saw it pass, fail or skip, and the unit's verdict per run. A
check that both passed and failed is a flake; so is a unit whose verdict
changed. Prints a table and "N runs, N units, N flaky checks, N flaky
units"; exits 1 if anything was flaky, 2 if fewer than two runs are
given.
"""
import collections
import json
import os
import sys


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path) as f:
        return json.load(f)


def count(runs):
    """({(unit, check): Counter(status)}, {unit: Counter(verdict)}) over
    runs (each a results.json dict); unit is "arch kernel scenario"."""
    checks = collections.defaultdict(collections.Counter)
    verdicts = collections.defaultdict(collections.Counter)
    for run in runs:
        for u in run.get("units", []):
            unit = f"{u['arch']} {u['kernel']} {u['scenario']}"
            verdicts[unit][u["status"]] += 1
            for s in u.get("subtests", []):
                checks[(unit, s["name"])][s["status"]] += 1
        for c in run.get("checks", []):
            checks[("suite", c["name"])][c["status"]] += 1
    return checks, verdicts


def flaky(counter):
    """Both a pass (or an expected failure) and a failure were seen."""
    good = counter["pass"] + counter["xfail"]
    bad = counter["fail"] + counter["xpass"]
    return good > 0 and bad > 0


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs = [load(p) for p in argv]
    checks, verdicts = count(runs)
    bad_checks = {k: c for k, c in checks.items() if flaky(c)}
    bad_units = {k: c for k, c in verdicts.items() if flaky(c)}
    if bad_checks or bad_units:
        print("| unit | check | outcomes over the runs |")
        print("|---|---|---|")
        for (unit, name), c in sorted(bad_checks.items()):
            print(f"| {unit} | {name} | {dict(c)} |")
        for unit, c in sorted(bad_units.items()):
            print(f"| {unit} | (verdict) | {dict(c)} |")
    print(f"{len(runs)} runs, {len(verdicts)} units, {len(bad_checks)} flaky "
          f"checks, {len(bad_units)} flaky units")
    return 1 if bad_checks or bad_units else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
