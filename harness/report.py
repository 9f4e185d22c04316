"""A run's results in the formats CI systems read: KTAP (kunit.py parse,
KernelCI, LKFT) and JUnit XML (GitLab, Jenkins and the like).

KTAP: one top-level test for the suite's checks (builds, checkpatch, ...)
and one per unit, named arch.kernel.scenario, with its checks as subtests.
An expected failure is `ok N name # XFAIL reason` as kselftest.h prints
it; a skipped unit is `ok N name # SKIP reason`; failing checks of a unit
that was expected to fail are XFAIL too.
JUnit: one testsuite per (arch, kernel) and one for the checks; XFAIL is a
<skipped type="xfail">, XPASS a <failure type="xpass">.
"""
import re
import xml.etree.ElementTree as ET


def _name(text):
    # KTAP names end at '#' (a directive) and at the line's end
    return re.sub(r"\s+", " ", str(text)).replace("#", "%23").strip() or "unnamed"


def _why(text):
    return re.sub(r"\s+", " ", str(text)).strip()


def _line(indent, n, status, name, reason=""):
    pad = " " * indent
    out = []
    if status in ("fail", "xpass") and reason:
        out.append(f"{pad}# {_why(reason)}")
    ok = "not ok" if status in ("fail", "xpass") else "ok"
    directive = {"skip": " # SKIP", "xfail": " # XFAIL"}.get(status, "")
    tail = f" {_why(reason)}" if directive and reason else ""
    out.append(f"{pad}{ok} {n} {_name(name)}{directive}{tail}")
    return out


def _subtests(indent, name, subs, plan_reason=""):
    pad = " " * indent
    out = [f"{pad}KTAP version 1", f"{pad}# Subtest: {_name(name)}",
           f"{pad}1..{len(subs)}" + (f" # SKIP {_why(plan_reason)}"
                                     if not subs and plan_reason else "")]
    for i, (status, sname, reason) in enumerate(subs, 1):
        out += _line(indent, i, status, sname, reason)
    return out


def ktap(units, checks):
    """The whole run as KTAP v1 text."""
    top = []
    if checks:
        subs = [(c["status"], c["name"], c.get("detail", "")) for c in checks]
        bad = any(s in ("fail", "xpass") for s, _, _ in subs)
        top.append(("fail" if bad else "pass", "checks", "", subs))
    for u in units:
        name = f"{u['arch']}.{u['kernel']}.{u['scenario']}"
        subs = []
        for r in u.get("subtests", []):
            st = r["status"]
            if u["status"] == "xfail" and st == "fail":
                st = "xfail"
            subs.append((st, r["name"], r.get("detail", "")))
        top.append((u["status"], name, u.get("reason", ""), subs))
    lines = ["KTAP version 1", f"1..{len(top)}"]
    for n, (status, name, reason, subs) in enumerate(top, 1):
        if subs:
            lines += _subtests(4, name, subs)
        lines += _line(0, n, status, name, reason)
    return "\n".join(lines) + "\n"


def junit(units, checks, name="memhp"):
    """The whole run as JUnit XML (bytes)."""
    root = ET.Element("testsuites", name=name)
    suites = {}

    def case(suite, classname, cname, status, reason, seconds=0.0):
        s = suites.get(suite)
        if s is None:
            s = suites[suite] = ET.SubElement(root, "testsuite", name=suite)
        tc = ET.SubElement(s, "testcase", classname=classname, name=cname,
                           time=f"{seconds:.1f}")
        if status == "fail":
            ET.SubElement(tc, "failure", message=_why(reason)[:500],
                          type="fail").text = reason
        elif status == "xpass":
            ET.SubElement(tc, "failure", message=_why(reason)[:500],
                          type="xpass").text = reason
        elif status == "skip":
            ET.SubElement(tc, "skipped", message=_why(reason)[:500])
        elif status == "xfail":
            ET.SubElement(tc, "skipped", message=_why(reason)[:500], type="xfail")
        elif reason:
            ET.SubElement(tc, "system-out").text = reason

    for c in checks:
        case("checks", "checks", c["name"], c["status"], c.get("detail", ""))
    for u in units:
        suite = f"{u['arch']}.{u['kernel']}"
        case(suite, suite, u["scenario"], u["status"], u.get("reason", ""),
             u.get("seconds", 0.0))
    for s in root:
        cases = list(s)
        s.set("tests", str(len(cases)))
        s.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        s.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
        s.set("errors", "0")
        s.set("time", f"{sum(float(c.get('time')) for c in cases):.1f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
