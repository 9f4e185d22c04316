"""One module per scenario: NAME, ORDER, ARCHES, ARCH_SKIP, XFAIL, RACY, run(t)."""
