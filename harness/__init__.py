"""Host side of the memory hotplug test harness (stdlib only)."""
