#!/usr/bin/env python3
"""apt.py: every apt operation of the harness, in one place.

The host stays a bookworm system. Its apt gets one suite of ours,
bookworm-backports (QEMU 10, meson), from the host's own Debian archive,
and only when no enabled entry has it yet. Packages and source packages
of newer suites (trixie, trixie-backports) come through a private apt
configuration under $MEMHP_BUILD/apt (own sources, lists and cache):
they are downloaded and unpacked into the cache, never installed.

  apt.py archive                  the host's Debian archive (a URI)
  apt.py host-sources             add bookworm-backports to the host if
                                  missing; prints "changed" or "unchanged"
  apt.py update                   apt-get update (host)
  apt.py install [-t SUITE] PKG.. apt-get install (host)
  apt.py private-update [--max-age HOURS]
                                  refresh the private lists (if older)
  apt.py fetch [--refresh] PKG SUITE
                                  download PKG from SUITE (private) and
                                  unpack it; prints the directory
  apt.py source [--refresh] PKG SUITE..
                                  download the source package of PKG from
                                  the first SUITE that has it (private);
                                  prints the .dsc
  (fetch and source use what is cached, without the network, unless
  --refresh: then the archive's current version)
  apt.py candidate PKG SUITE      the version SUITE has now (private lists,
                                  refreshed when older than a day)
  apt.py cached PKG               prints what fetch/source left in the cache
                                  (nothing if absent), without the network

Environment: MEMHP_APT_ETC (default /etc/apt) is the apt configuration
read and written; MEMHP_DEBIAN_MIRROR overrides the archive; MEMHP_BUILD
(default ~/.cache/memhp) holds the private configuration and the cache.
A failing apt command prints its error lines, its log and what to re-run.
"""
import glob
import os
import re
import subprocess
import sys
import time

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
HOST_FILE = "memhp.sources"
# what earlier versions of deps.sh and qemu.sh wrote
LEGACY = ["sources.list.d/memhp-backports.sources",
          "sources.list.d/memhp-qemu.sources", "preferences.d/memhp-trixie"]
HOST_SUITES = ["bookworm-backports"]
PRIVATE = [("deb", "trixie"), ("deb", "trixie-backports"),
           ("deb-src", "bookworm-backports"), ("deb-src", "trixie")]
RERUN = "make deps"


def etc():
    return os.environ.get("MEMHP_APT_ETC", "/etc/apt")


def build():
    return os.environ.get("MEMHP_BUILD", os.path.expanduser("~/.cache/memhp"))


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def source_files(etc_dir, skip=()):
    """The files apt reads sources from, in apt's order."""
    out = []
    main = os.path.join(etc_dir, "sources.list")
    if os.path.isfile(main):
        out.append(main)
    parts = os.path.join(etc_dir, "sources.list.d")
    if os.path.isdir(parts):
        for n in sorted(os.listdir(parts)):
            p = os.path.join(parts, n)
            if (n.endswith((".list", ".sources")) and os.path.isfile(p) and
                    os.path.relpath(p, etc_dir) not in skip):
                out.append(p)
    return out


def parse(path, text):
    """Entries of one sources file as dicts: types, uris, suites, enabled."""
    if path.endswith(".list"):
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            line = re.sub(r"\[[^]]*\]", " ", line)
            w = line.split()
            if len(w) >= 3 and w[0] in ("deb", "deb-src"):
                yield {"types": [w[0]], "uris": [w[1]], "suites": [w[2]],
                       "enabled": True}
        return
    for para in re.split(r"\n[ \t]*\n", text):
        fields, key = {}, None
        for line in para.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
                continue
            m = re.match(r"([A-Za-z0-9-]+):(.*)", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
        if not fields:
            continue
        yield {"types": fields.get("types", "").split(),
               "uris": fields.get("uris", "").split(),
               "suites": fields.get("suites", "").split(),
               "enabled": fields.get("enabled", "yes").lower() != "no"}


def entries(etc_dir, skip=()):
    for p in source_files(etc_dir, skip):
        with open(p, errors="replace") as f:
            text = f.read()
        for e in parse(p, text):
            if e["enabled"]:
                yield e


def has_suite(etc_dir, suite, kind="deb", skip=()):
    return any(kind in e["types"] and suite in e["suites"]
               for e in entries(etc_dir, skip))


def archive(etc_dir=None):
    """The Debian archive the host's bookworm entries come from."""
    if os.environ.get("MEMHP_DEBIAN_MIRROR"):
        return os.environ["MEMHP_DEBIAN_MIRROR"].rstrip("/")
    etc_dir = etc_dir or etc()
    for e in entries(etc_dir):
        if "deb" in e["types"] and e["uris"] and any(
                re.fullmatch(r"bookworm(-updates|-backports)?", s)
                for s in e["suites"]):
            return e["uris"][0].rstrip("/")
    die(f"no Debian bookworm archive in {etc_dir}/sources.list or "
        f"{etc_dir}/sources.list.d/*.{{list,sources}}: add one, or set "
        "MEMHP_DEBIAN_MIRROR=http://deb.debian.org/debian")


def host_sources(etc_dir=None):
    """Give the host the suites we install from. Idempotent: our one
    file is written from what the other files lack."""
    etc_dir = etc_dir or etc()
    ours = os.path.join(etc_dir, "sources.list.d", HOST_FILE)
    skip = [os.path.relpath(ours, etc_dir)] + LEGACY
    need = [s for s in HOST_SUITES if not has_suite(etc_dir, s, skip=skip)]
    want = None
    if need:
        want = (f"# Added by memhp scripts/deps.sh (apt.py)\nTypes: deb\n"
                f"URIs: {archive(etc_dir)}\nSuites: {' '.join(need)}\n"
                f"Components: main\nSigned-By: {KEYRING}\n")
    changed = False
    for rel in LEGACY:
        p = os.path.join(etc_dir, rel)
        if os.path.exists(p):
            os.unlink(p)
            changed = True
    have = None
    if os.path.exists(ours):
        with open(ours) as f:
            have = f.read()
    if want is None and have is not None:
        os.unlink(ours)
        changed = True
    elif want is not None and want != have:
        with open(ours + ".tmp", "w") as f:
            f.write(want)
        os.replace(ours + ".tmp", ours)
        changed = True
    return changed


def apt_errors(lines):
    """apt's own error and warning lines."""
    return [ln for ln in lines if re.match(r"(E|Err|W):", ln)]


def run(step, argv, log, cwd=None):
    """Run an apt command with its output in LOG; on failure show apt's
    own error lines and say what to re-run."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(argv)}\n")
        f.flush()
        r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env,
                           stdin=subprocess.DEVNULL, cwd=cwd)
    if r.returncode == 0:
        return
    with open(log, errors="replace") as f:
        lines = f.read().split(f"$ {' '.join(argv)}\n")[-1].splitlines()
    errs = apt_errors(lines) or lines[-15:]
    print(f"error: {step} failed (exit {r.returncode}): {' '.join(argv)}",
          file=sys.stderr)
    for ln in errs:
        print(f"  {ln}", file=sys.stderr)
    print(f"  full log: {log}\n  fix the cause, then re-run: {RERUN}",
          file=sys.stderr)
    sys.exit(1)


def sudo():
    return [] if os.geteuid() == 0 else ["sudo"]


def host_log():
    return os.path.join(build(), "apt", "host.log")


# --- the private configuration -------------------------------------------
def pdir():
    return os.path.join(build(), "apt")


def private_opts():
    d = pdir()
    return ["-o", f"Dir::Etc::sourcelist={d}/sources.list",
            "-o", f"Dir::Etc::sourceparts={d}/empty",
            "-o", f"Dir::Etc::preferencesparts={d}/empty",
            "-o", f"Dir::Etc::preferences={d}/empty/none",
            "-o", f"Dir::State::Lists={d}/lists",
            "-o", f"Dir::Cache={d}/cache",
            "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Languages=none",
            "-o", "Debug::NoLocking=1"]


def private_setup():
    d = pdir()
    for sub in ("empty", "lists/partial", "cache/archives/partial", "debs",
                "src"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    uri = archive()
    text = "".join(f"{kind} [signed-by={KEYRING}] {uri} {suite} main\n"
                   for kind, suite in PRIVATE)
    path = os.path.join(d, "sources.list")
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        with open(path, "w") as f:
            f.write(text)
        stamp = os.path.join(d, "lists", ".updated")
        if os.path.exists(stamp):
            os.unlink(stamp)


def private_update(max_age_h=None):
    private_setup()
    stamp = os.path.join(pdir(), "lists", ".updated")
    if (max_age_h is not None and os.path.exists(stamp) and
            time.time() - os.path.getmtime(stamp) < max_age_h * 3600):
        return
    suites = " ".join(f"{k} {s}" for k, s in PRIVATE)
    run(f"apt-get update of the private lists ({suites})",
        ["apt-get"] + private_opts() + ["update"],
        os.path.join(pdir(), "private.log"))
    open(stamp, "w").close()


def private_query(argv, cwd=None):
    r = subprocess.run(["apt-get"] + private_opts() + argv, cwd=cwd,
                       capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def fetch(pkg, suite, refresh=False):
    """Unpack PKG from SUITE into the cache: $B/apt/debs/PKG/VERSION.
    What is cached is used without the network unless REFRESH."""
    hits = glob.glob(os.path.join(pdir(), "debs", pkg, "*", ".complete"))
    for h in hits:
        with open(h) as f:
            if not refresh and f.read().split()[2:3] == [suite]:
                return os.path.dirname(h)
    private_update(max_age_h=0 if refresh else 24)
    deb, version = offered(pkg, suite, retry=True)
    dest = os.path.join(pdir(), "debs", pkg, version.replace(":", "_"))
    if os.path.exists(os.path.join(dest, ".complete")):
        return dest
    debs = os.path.join(pdir(), "debs")
    run(f"download of {pkg}/{suite} ({version})",
        ["apt-get"] + private_opts() + ["download", "-q", f"{pkg}/{suite}"],
        os.path.join(pdir(), "private.log"), cwd=debs)
    subprocess.run(["rm", "-rf", dest], check=True)
    os.makedirs(dest)
    subprocess.run(["dpkg-deb", "-x", os.path.join(debs, deb), dest],
                   check=True)
    for old in glob.glob(os.path.join(debs, f"{pkg}_*.deb")):
        os.unlink(old)
    with open(os.path.join(dest, ".complete"), "w") as f:
        f.write(f"{pkg} {version} {suite}\n")
    for other in glob.glob(os.path.join(pdir(), "debs", pkg, "*")):
        if other != dest:
            subprocess.run(["rm", "-rf", other], check=True)
    return dest


def source(pkg, suites, refresh=False):
    """Download the source package of PKG (first of SUITES that has it)
    into $B/apt/src/PKG/SUITE; returns the .dsc. What is cached is used
    without the network unless REFRESH."""
    for suite in suites if not refresh else []:
        hits = glob.glob(os.path.join(pdir(), "src", pkg, suite,
                                      "*.dsc.complete"))
        if hits:
            return hits[0][:-len(".complete")]
    private_update(max_age_h=0 if refresh else 24)
    tried = []
    for suite in suites:
        rc, out, err = private_query(["source", "--print-uris",
                                      f"{pkg}/{suite}"], cwd="/tmp")
        m = re.search(r"^Selected version '([^']+)'", out + err, re.M)
        if rc != 0 or not m:
            tried.append(f"{suite}: no source")
            continue
        version = m.group(1)
        d = os.path.join(pdir(), "src", pkg, suite)
        dsc = os.path.join(d, f"{pkg}_{version.split(':')[-1]}.dsc")
        if os.path.exists(dsc + ".complete"):
            return dsc
        subprocess.run(["rm", "-rf", d], check=True)
        os.makedirs(d)
        r = subprocess.run(["apt-get"] + private_opts() +
                           ["source", "--download-only", "-q",
                            f"{pkg}/{suite}"], cwd=d, capture_output=True,
                           text=True)
        if r.returncode == 0 and os.path.exists(dsc):
            open(dsc + ".complete", "w").close()
            return dsc
        errs = apt_errors((r.stdout + r.stderr).splitlines())
        subprocess.run(["rm", "-rf", d], check=True)
        tried.append(f"{suite} ({version}): " + ("; ".join(errs) or "failed"))
    die(f"no source package of {pkg} could be fetched: " + " | ".join(tried) +
        f"; re-run: {RERUN}")


def offered(pkg, suite, retry=False):
    """(.deb file name, version) of PKG that SUITE offers in the private
    lists; RETRY: refresh the lists once if they do not have it."""
    rc, out, err = private_query(["download", "--print-uris", f"{pkg}/{suite}"])
    if retry and (rc != 0 or "'" not in out):
        private_update()
        rc, out, err = private_query(["download", "--print-uris",
                                      f"{pkg}/{suite}"])
    m = re.search(r"'(\S+)' (\S+\.deb) ", out)
    if rc != 0 or not m:
        why = ((err or out).strip().splitlines() or ["no candidate"])[-1]
        die(f"{pkg} is not in {suite} of {archive()}: {why}")
    deb = m.group(2)
    return deb, deb.split("_")[1].replace("%3a", ":")


def candidate(pkg, suite):
    """The version of PKG that SUITE offers now (no download)."""
    private_update(max_age_h=24)
    return offered(pkg, suite)[1]


def cached(pkg):
    """What fetch or source left for PKG (no network)."""
    hits = glob.glob(os.path.join(pdir(), "debs", pkg, "*", ".complete"))
    hits += glob.glob(os.path.join(pdir(), "src", pkg, "*", "*.dsc.complete"))
    return [h[:-len("/.complete")] if h.endswith("/.complete")
            else h[:-len(".complete")] for h in sorted(hits)]


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "archive" and not args:
        print(archive())
    elif cmd == "host-sources" and not args:
        print("changed" if host_sources() else "unchanged")
    elif cmd == "update" and not args:
        run("apt-get update", sudo() + ["apt-get", "update"], host_log())
    elif cmd == "install" and args:
        t = []
        if args[0] == "-t":
            if len(args) < 3:
                die("usage: apt.py install [-t SUITE] PKG...")
            t, args = ["-t", args[1]], args[2:]
        what = f"apt-get install{' from ' + t[1] if t else ''}"
        run(what, sudo() + ["apt-get", "install", "-y"] + t + args,
            host_log())
    elif cmd == "private-update":
        age = None
        if args[:1] == ["--max-age"] and len(args) == 2:
            age = float(args[1])
        elif args:
            die("usage: apt.py private-update [--max-age HOURS]")
        private_update(age)
    elif cmd in ("fetch", "source") and args[:1] == ["--refresh"]:
        return main([cmd] + args[1:] + ["--refresh"])
    elif cmd == "fetch" and len(args) in (2, 3) and args[2:] in ([], ["--refresh"]):
        print(fetch(args[0], args[1], refresh=len(args) == 3))
    elif cmd == "source" and len(args) >= 2:
        refresh = args[-1] == "--refresh"
        suites = args[1:-1] if refresh else args[1:]
        if not suites:
            die("usage: apt.py source [--refresh] PKG SUITE...")
        print(source(args[0], suites, refresh=refresh))
    elif cmd == "candidate" and len(args) == 2:
        print(candidate(args[0], args[1]))
    elif cmd == "cached" and len(args) == 1:
        for c in cached(args[0]):
            print(c)
    else:
        print(f"error: unknown or incomplete command: {' '.join(argv)}",
              file=sys.stderr)
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
