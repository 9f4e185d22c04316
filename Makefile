# Memory hot(un)plug for arm64 and riscv64: the patch series and its harness.
# `make help` lists the targets.

ARCH ?= arm64 riscv64 x86_64
KERNEL ?= base,patched,unfixed,upto
SCENARIO ?= all
JOBS ?= $(or $(MEMHP_JOBS),1)
comma := ,
arches = $(subst riscv ,riscv64 ,$(filter-out riscv64,$(ARCH)) )$(filter riscv64,$(ARCH))
arch_list = $(subst $() $(),$(comma),$(strip $(arches)))

.PHONY: help deps fresh-check check tree series checkpatch kernels kernel rootfs qemu demo test test-full run list clean bench variant

help:
	@echo "make demo        install, build the patched arm64 kernel, boot it, hot-add and"
	@echo "                 hot-remove a 1 GiB DIMM, print lsmem and timings"
	@echo "make test        the suite (CI): series checks, per-patch builds, every"
	@echo "                 scenario on the patched kernels of arm64 riscv64 x86_64,"
	@echo "                 and on base/unfixed/upto where it shows a fix"
	@echo "make test-full   the same with every scenario on every kernel (the"
	@echo "                 results/BASE/latest.* tables)"
	@echo "make deps        install everything a run needs (apt; QEMU 10 from"
	@echo "                 bookworm-backports; trixie firmware and QEMU source cached)"
	@echo "make fresh-check the README's set-up in a new Debian 12 chroot  [GOAL=deps|demo|test]"
	@echo "make tree        kernel work tree: Debian's source + series/BASE as commits"
	@echo "make series      regenerate series/BASE from the work tree (git format-patch)"
	@echo "make checkpatch  scripts/checkpatch.pl --strict on every patch"
	@echo "make kernels     base and patched kernels, patch by patch  [ARCH=...]"
	@echo "make kernel      one kernel: ARCH=riscv KERNEL=base|patched|unfixed|upto"
	@echo "make rootfs      the Debian trixie guest initramfs          [ARCH=...]"
	@echo "make qemu        our qemu-system-riscv64: Debian's QEMU 10 source + qemu/"
	@echo "make check       one scenario on one arch, building only what it needs"
	@echo "                 [ARCH=arm64 SCENARIO=pcdimm-basic KERNEL_IMAGE=your/Image]"
	@echo "make run         scenarios only, on built kernels  [ARCH= KERNEL= SCENARIO= JOBS=]"
	@echo "make list        list the scenarios"
	@echo "make bench       hot-add/online/offline/remove speed against floors, in the"
	@echo "                 guest: results/bench.md  [ARCH= SIZES=1,4,16,64 KERNEL= VARIANT=bench|none]"
	@echo "make variant     kernels with configs/variant-V.config on top  [V=bench ARCH= KERNEL=]"
	@echo "BASE=7.3|6.12 picks the kernel base (series/tracks; default: its first"
	@echo "line) for tree, series, checkpatch, kernels, kernel, rootfs, check, run, test."
	@echo "Work trees: \$${MEMHP_BUILD:-~/.cache/memhp}/linux (6.12), .../7.3/linux;"
	@echo "results: results/BASE/latest.md"

deps:
	scripts/deps.sh
fresh-check:
	scripts/fresh-check.sh $(or $(GOAL),deps)
tree:
	scripts/tree.sh
series:
	scripts/series.sh
checkpatch: tree
	scripts/checkpatch.sh
kernels: tree
	scripts/kernels.sh $(arches)
kernel: tree
	KERNELS="$(subst $(comma), ,$(KERNEL))" BISECT=0 scripts/kernels.sh $(arches)
rootfs: tree
	for a in $(arches); do scripts/rootfs.sh --track $$a || exit 1; done
qemu:
	scripts/qemu.sh
demo:
	scripts/demo.sh
test:
	MEMHP_ARCHES="$(arches)" scripts/test.sh --kernel $(KERNEL) --scenario $(SCENARIO)
test-full:
	MEMHP_SCOPE=all MEMHP_ARCHES="$(arches)" scripts/test.sh --kernel $(KERNEL) \
		--scenario $(SCENARIO)
check:
	scripts/check.sh "$(arch_list)" "$(SCENARIO)"
run:
	python3 -m harness.run --arch $(arch_list) --kernel $(KERNEL) --scenario $(SCENARIO) \
		--jobs $(JOBS)
bench:
	scripts/bench.sh $(arches)
variant: tree
	KERNELS="$(or $(filter base patched unfixed,$(subst $(comma), ,$(KERNEL))),base patched)" \
		scripts/variant.sh $(or $(V),bench) $(arches)
list:
	@python3 -m harness.run --list
clean:
	rm -rf results/runs
