"""One module per scenario: NAME, ORDER, ARCHES, ARCH_SKIP, XFAIL, run(t)."""
