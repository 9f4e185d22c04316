"""A unit's verdict from its checks, its kernel log and what it expects.

An expected failure (XFAIL in a scenario) names what must fail: check
names (fnmatch patterns) and/or a regular expression that must match the
guest's kernel log (the Oops site, the WARN). Anything else that fails
makes the unit FAIL, and so does an expected failure that is not seen
while something else fails.
"""
import fnmatch
import re

FAILED = ("fail", "xpass")
# What a guest killed by the expected Oops or panic takes down with it:
# the command it was running, and the kernel-log check itself.
AFTERMATH = ("guest", "vm*.kernel_log_clean")


class Xfail:
    """A known bug of a kernel: WHY (shown in the table), the CHECKS that
    must fail and/or the kernel LOG pattern that must be seen."""

    def __init__(self, why, checks=(), log=None):
        if isinstance(checks, str):
            checks = (checks,)
        if not checks and not log:
            raise ValueError(f"an expected failure must name a check or a "
                             f"kernel log pattern: {why!r}")
        self.why = why
        self.checks = tuple(checks)
        self.log = log
        self.log_re = re.compile(log, re.M) if log else None

    def names(self):
        what = [f"check {c} failing" for c in self.checks]
        if self.log:
            what.append(f"the kernel log matching /{self.log}/")
        return " and ".join(what)

    def __str__(self):
        return self.why


def _match(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _say(results):
    return "; ".join(f"{r['name']}: {r.get('detail', '')}".rstrip(": ")
                     for r in results[:3])


def verdict(results, xfail=None, racy=False, log=""):
    """(status, reason) of a unit: pass, fail, xfail or xpass.

    results: the unit's checks ({name, status, detail}); xfail: an Xfail
    or None; racy: a pass only means the race was not hit; log: the
    guest kernel log (all of its guests)."""
    failed = [r for r in results if r["status"] in FAILED]
    if xfail is None:
        return ("fail", _say(failed)) if failed else ("pass", "")
    if not failed:
        if racy:
            return "pass", f"race not hit this run ({xfail.why})"
        return "xpass", (f"expected to fail ({xfail.why}: {xfail.names()}) "
                         "but passed: update XFAIL")
    missing = []
    for pat in xfail.checks:
        hit = [r for r in failed if fnmatch.fnmatchcase(r["name"], pat)]
        if hit:
            continue
        ran = [r for r in results if fnmatch.fnmatchcase(r["name"], pat)]
        missing.append(f"check {pat} {'passed' if ran else 'did not run'}")
    log_seen = bool(xfail.log_re and xfail.log_re.search(log or ""))
    if xfail.log and not log_seen:
        missing.append(f"kernel log has no /{xfail.log}/")
    allowed = xfail.checks + (AFTERMATH if log_seen else ())
    other = [r for r in failed if not _match(r["name"], allowed)]
    if missing or other:
        facts = []
        if missing:
            facts.append(f"expected {xfail.names()}, but "
                         + ", ".join(missing))
        if other:
            facts.append(f"unexpected: {_say(other)}")
        elif missing:
            facts.append(f"failed instead: {_say(failed)}")
        return "fail", "; ".join(facts)
    return "xfail", f"expected: {xfail.why} (saw: {_say(failed)})"
