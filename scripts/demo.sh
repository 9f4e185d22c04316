#!/bin/bash
# demo.sh: the main job in one go. Builds the patched arm64 kernel and its
# guest, boots it under QEMU (UEFI + ACPI), hot-adds a 1 GiB pc-dimm,
# onlines it movable, fills and verifies it, hot-removes it, and prints
# lsmem before and after with the timings.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${MEMHP_DEMO_ARCH:-arm64}
step "demo: the patched $arch kernel, then a DIMM hot-added and removed"
MEMHP_CHECK_OUT=$B/demo exec "$TOP/scripts/check.sh" "$arch" pcdimm-basic patched
