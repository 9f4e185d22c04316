"""KTAP v1 / TAP 13 as the kernel writes them (KUnit, kselftest.h,
kselftest_harness.h, run_kselftest.sh).

parse_tree(text) gives a Parsed: the plan, the top-level results and
whether the plan skipped everything; every result is a dict with name,
number, status, detail and its subtests (nested KTAP: four spaces of
indentation, or kselftest's "# " prefix under run_kselftest.sh).

Statuses: pass, fail, skip, xfail (an expected failure: kselftest's
`ok N name # XFAIL why`, TAP's failing `# TODO`) and xpass (kselftest's
`# XPASS`: an expected failure that passed).
"""
import re

RESULT_RE = re.compile(
    r"^(not ok|ok)\s+(\d+)\b(?:\s*-)?\s*(.*?)\s*$")
DIRECTIVE_RE = re.compile(r"(?:^|\s)#\s*(SKIP|TODO|XFAIL|XPASS)\b:?\s*(.*)$", re.I)
PLAN_RE = re.compile(r"^1\.\.(\d+)\b\s*(?:#\s*(?:SKIP\b:?)?\s*(.*))?$", re.I)
VERSION_RE = re.compile(r"^(?:K?TAP version \d+)\s*$")
PREFIX_RE = re.compile(r"^(?:    |\t|# ?)")


class Parsed:
    def __init__(self, plan, results, skip_all=None):
        self.plan = plan
        self.results = results
        # the plan said "1..0 # SKIP reason": nothing ran, on purpose
        self.skip_all = skip_all

    def __iter__(self):
        return iter((self.plan, self.results))


def _construct(text):
    return (VERSION_RE.match(text) or PLAN_RE.match(text) or
            RESULT_RE.match(text))


def _classify(line):
    """(depth, text) of a KTAP construct, or None for anything else."""
    depth, rest = 0, line
    while True:
        if _construct(rest):
            return depth, rest
        m = PREFIX_RE.match(rest)
        if not m or depth > 16:
            return None
        rest = rest[m.end():]
        depth += 1


def _result(m):
    ok, num, desc = m.groups()
    detail, directive = "", None
    d = DIRECTIVE_RE.search(desc)
    if d:
        directive, detail = d.group(1).upper(), d.group(2).strip()
        desc = desc[:d.start()].strip()
    elif "#" in desc:
        # kselftest.h: "not ok N # error msg", or a plain comment
        desc, _, detail = desc.partition("#")
        desc, detail = desc.strip(), detail.strip()
    if directive == "SKIP":
        status = "skip"
    elif directive == "XFAIL":
        status = "xfail"
    elif directive == "XPASS":
        status = "xpass"
    elif directive == "TODO":
        status = "xfail" if ok == "not ok" else "pass"
    else:
        status = "pass" if ok == "ok" else "fail"
    return {"name": desc or f"test{num}", "number": int(num),
            "status": status, "detail": detail, "subtests": []}


def _lines(text):
    """The lines from the first version line on (all if there is none),
    less a prefix that the version line has and KTAP does not know (the
    printk time, a log tag), as kunit.py does."""
    lines = text.replace("\r", "").splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"K?TAP version \d+", line)
        if not m:
            continue
        prefix = line[:m.start()]
        if re.fullmatch(r"(?:    |\t|# ?)*", prefix):
            return lines[i:]
        # the same width on every line (printk time, caller id, a tag)
        return [ln[len(prefix):] for ln in lines[i:]]
    return lines


def parse_tree(text):
    blocks = {}      # depth -> results seen since the last parent result
    plans = {}       # depth -> (plan, skip reason)
    for raw in _lines(text):
        c = _classify(raw.rstrip())
        if c is None:
            continue
        depth, body = c
        if VERSION_RE.match(body):
            # a new (sub)test starts at this depth: deeper leftovers go
            for d in [d for d in set(blocks) | set(plans) if d > depth]:
                blocks.pop(d, None)
                plans.pop(d, None)
            continue
        m = PLAN_RE.match(body)
        if m:
            n = int(m.group(1))
            plans[depth] = (n, (m.group(2) or "").strip() if n == 0 else None)
            continue
        r = _result(RESULT_RE.match(body))
        r["subtests"] = blocks.pop(depth + 1, [])
        sub = plans.pop(depth + 1, None)
        if sub is not None:
            r["plan"] = sub[0]
        for d in [d for d in blocks if d > depth + 1]:
            blocks.pop(d)
            plans.pop(d, None)
        blocks.setdefault(depth, []).append(r)
    depth = min(blocks) if blocks else min(plans) if plans else 0
    plan, skip = plans.get(depth, (None, None))
    return Parsed(plan, blocks.get(depth, []),
                  skip if plan == 0 and skip is not None else None)


def parse(text):
    """(plan, results) of the top level; results are dicts (see above)."""
    p = parse_tree(text)
    return p.plan, p.results


def flatten(results, prefix=""):
    """Every result, nested ones named parent.child, depth first."""
    out = []
    for r in results:
        name = f"{prefix}{r['name']}"
        out.append(dict(r, name=name))
        out += flatten(r.get("subtests", []), name + ".")
    return out
