"""Parses the top level of KTAP / TAP output into (name, status, detail)."""
import re

RESULT_RE = re.compile(
    r"^(not ok|ok) (\d+)(?: -)? ?([^#]*?)\s*(?:#\s*(SKIP|XFAIL|TODO)\b:?\s*(.*))?$")


def parse(text):
    """Returns (plan, results); results are dicts name/status/detail."""
    plan = None
    results = []
    for raw in text.splitlines():
        line = raw.rstrip()
        m = re.match(r"^1\.\.(\d+)", line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = RESULT_RE.match(line)
        if not m:
            continue
        ok, num, name, directive, why = m.groups()
        name = name.strip() or f"test{num}"
        if directive == "SKIP":
            status = "skip"
        elif directive == "XFAIL":
            status = "xfail" if ok == "not ok" else "xpass"
        else:
            status = "pass" if ok == "ok" else "fail"
        results.append({"name": name, "status": status, "detail": why or ""})
    return plan, results
