#!/usr/bin/env python3
"""The apt set-up of `make deps` against fixture apt directories.

Runs `scripts/deps.sh --sources-only` with MEMHP_APT_ETC pointing at a
copy of each fixture (never at the host's /etc/apt) and checks what it
leaves there: exactly one enabled bookworm-backports entry, from the
host's own archive, and nothing changed by a second run. Ends with
"N passed, N failed" like the other checks.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPS = os.path.join(TOP, "scripts", "deps.sh")
KEY = "/usr/share/keyrings/debian-archive-keyring.gpg"

# Debian 12 cloud and container images: deb822 only, no sources.list.
DEB822 = {"sources.list.d/debian.sources": f"""\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: {KEY}

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: {KEY}
"""}

# An older install: one-line format only, an https mirror.
CLASSIC = {"sources.list": """\
# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main
deb https://ftp.de.debian.org/debian/ bookworm main contrib
deb-src https://ftp.de.debian.org/debian/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb https://ftp.de.debian.org/debian/ bookworm-updates main
"""}

# Both formats, a third-party repository first, a disabled list.
BOTH = {
    "sources.list": "deb [arch=amd64] http://mirror.example.net/debian bookworm main\n",
    "sources.list.d/vendor.list": "deb https://apt.example.com/stable stable main\n",
    "sources.list.d/old.list.disabled": (
        "deb http://deb.debian.org/debian bookworm-backports main\n"),
    **DEB822,
}

# bookworm-backports already there (deb822), as on our own machines.
CONFIGURED = {
    **DEB822,
    "sources.list.d/backports.sources": f"""\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: {KEY}
""",
}

# ... or in the one-line format.
CONFIGURED_CLASSIC = {
    "sources.list": CLASSIC["sources.list"] +
    "deb https://ftp.de.debian.org/debian/ bookworm-backports main\n",
}

# bookworm-backports present but switched off: it has to be added.
DISABLED = {
    **DEB822,
    "sources.list.d/backports.sources": f"""\
Enabled: no
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: {KEY}
""",
}

# What earlier deps.sh and qemu.sh left: backports twice over, trixie
# pinned on the host. One entry of ours must remain, and no pin.
LEGACY = {
    **DEB822,
    "sources.list.d/memhp-backports.sources": CONFIGURED[
        "sources.list.d/backports.sources"],
    "sources.list.d/memhp-qemu.sources": f"""\
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: {KEY}

Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: {KEY}
""",
    "preferences.d/memhp-trixie": "Package: *\nPin: release n=trixie\nPin-Priority: 1\n",
}

# deb822 as people write it: folded fields, comments, odd case, https.
FOLDED = {"sources.list.d/mirror.sources": f"""\
# local mirror
types: deb deb-src
uris:
 https://mirror.example.org/debian/
suites: bookworm
  bookworm-updates
components: main
signed-by: {KEY}
"""}


def files(etc):
    """The files apt reads as sources, as {relative path: text}."""
    out = {}
    for rel in ["sources.list"] + [
            "sources.list.d/" + n
            for n in sorted(os.listdir(os.path.join(etc, "sources.list.d")))]:
        p = os.path.join(etc, rel)
        if os.path.isfile(p) and (rel == "sources.list" or
                                  rel.endswith((".list", ".sources"))):
            with open(p) as f:
                out[rel] = f.read()
    return out


def backports_uris(etc):
    """URIs of the enabled `deb` entries for bookworm-backports, one per
    entry, read the way apt reads them (written independently of the
    code under test)."""
    uris = []
    for rel, text in files(etc).items():
        if rel.endswith(".list"):
            for line in text.splitlines():
                w = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(w) >= 3 and w[0] == "deb" and w[2] == "bookworm-backports":
                    uris.append(w[1].rstrip("/"))
            continue
        for para in re.split(r"\n\s*\n", text):
            f = {}
            for line in para.splitlines():
                m = re.match(r"([A-Za-z-]+):\s*(.*)", line)
                if m:
                    f[m.group(1).lower()] = m.group(2).split()
            if (f.get("enabled", ["yes"])[0].lower() != "no" and
                    "deb" in f.get("types", []) and
                    "bookworm-backports" in f.get("suites", [])):
                uris += [u.rstrip("/") for u in f.get("uris", [])]
    return uris


class SourcesOnly(unittest.TestCase):
    def run_deps(self, fixture):
        etc = tempfile.mkdtemp(prefix="memhp-apt-")
        self.addCleanup(subprocess.run, ["rm", "-rf", etc])
        os.makedirs(os.path.join(etc, "sources.list.d"))
        os.makedirs(os.path.join(etc, "preferences.d"))
        for rel, text in fixture.items():
            with open(os.path.join(etc, rel), "w") as f:
                f.write(text)
        env = dict(os.environ, MEMHP_APT_ETC=etc, MEMHP_BUILD=etc + "/build")
        env.pop("MEMHP_DEBIAN_MIRROR", None)
        r = subprocess.run(["bash", DEPS, "--sources-only"], env=env,
                           capture_output=True, text=True)
        return etc, env, r

    def check(self, fixture, want_uri, added):
        etc, env, r = self.run_deps(fixture)
        self.assertEqual(r.returncode, 0,
                         f"deps.sh --sources-only exited {r.returncode}, "
                         f"stderr: {r.stderr.strip()!r}")
        self.assertEqual(backports_uris(etc), [want_uri])
        before = files(etc)
        new = set(before) - set(fixture)
        self.assertEqual(bool(new), added, f"files added: {sorted(new)}")
        r = subprocess.run(["bash", DEPS, "--sources-only"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(files(etc), before, "a second run changed the sources")
        self.assertEqual(os.listdir(os.path.join(etc, "preferences.d")), [],
                         "the host's apt got a pin")

    def test_deb822_only(self):
        self.check(DEB822, "http://deb.debian.org/debian", True)

    def test_classic_only_https(self):
        self.check(CLASSIC, "https://ftp.de.debian.org/debian", True)

    def test_both_formats(self):
        # the first Debian bookworm entry apt reads: sources.list
        self.check(BOTH, "http://mirror.example.net/debian", True)

    def test_already_configured(self):
        self.check(CONFIGURED, "http://deb.debian.org/debian", False)

    def test_already_configured_classic(self):
        self.check(CONFIGURED_CLASSIC, "https://ftp.de.debian.org/debian", False)

    def test_disabled_entry_is_not_configured(self):
        self.check(DISABLED, "http://deb.debian.org/debian", True)

    def test_legacy_files_replaced(self):
        self.check(LEGACY, "http://deb.debian.org/debian", True)

    def test_folded_deb822_https(self):
        self.check(FOLDED, "https://mirror.example.org/debian", True)

    def test_no_debian_archive_says_so(self):
        etc, env, r = self.run_deps({
            "sources.list.d/vendor.list": "deb https://apt.example.com/x stable main\n"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MEMHP_DEBIAN_MIRROR", r.stderr)


if __name__ == "__main__":
    res = unittest.main(exit=False, verbosity=2).result
    bad = len(res.failures) + len(res.errors)
    print(f"{res.testsRun - bad} passed, {bad} failed")
    sys.exit(1 if bad else 0)
