"""One module per scenario; the protocol is in scenarios/README.md."""
