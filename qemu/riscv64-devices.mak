# Devices of our qemu-system-riscv64 (scripts/qemu.sh configures with
# --without-default-devices and this file): the virt board brings what it
# selects (UART, PCIe host, pflash, fw_cfg, ACPI GED, ...); added here are
# the hotplug devices the scenarios use. QEMU's Kconfig adds what they need.
CONFIG_RISCV_VIRT=y
# pcie-root-port, for virtio-mem-pci behind a hotplug-capable port
CONFIG_PCIE_PORT=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_MEM=y
# pc-dimm
CONFIG_DIMM=y
# virtio-serial-pci + virtconsole: the harness's shell on hvc0
CONFIG_VIRTIO_SERIAL=y
