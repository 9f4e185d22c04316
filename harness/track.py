"""The kernel base a run is on: a line of series/tracks, picked with BASE=
as scripts/lib.sh picks it (the first line is the default)."""
import functools
import os

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MEMHP_BUILD", os.path.expanduser("~/.cache/memhp"))


@functools.lru_cache(maxsize=None)
def tracks():
    """{base: (source package, suite or None, cache dir)} in file order
    (read once)."""
    out = {}
    with open(os.path.join(TOP, "series", "tracks")) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            base, pkg, suite, cache = fields[:4]
            out[base] = (pkg, None if suite == "-" else suite,
                         os.path.normpath(os.path.join(BUILD, cache)))
    return out


def current():
    """BASE from the environment, else the default track."""
    all_ = tracks()
    base = os.environ.get("BASE") or next(iter(all_))
    if base not in all_:
        raise ValueError(f"BASE={base}: no such track (series/tracks has: "
                         f"{', '.join(all_)})")
    return base


def build_dir(base):
    """Where the track's work tree, kernels and guests are cached."""
    return tracks()[base][2]


def series_dir(base):
    return os.path.join(TOP, "series", base)
