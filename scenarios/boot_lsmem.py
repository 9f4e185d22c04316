"""Boot; the memory block sysfs ABI and lsmem agree with each other."""
from ._guest import MEM, block_size, lsmem_json

NAME = "boot-lsmem"
ORDER = 10


def run(t):
    vm = t.boot()
    res = t.ktap("memory_blocks",
                 vm.run("/selftests/memory-hotplug/memory_blocks"))
    if t.patched and not res:
        return
    bs = block_size(vm)
    online = int(vm.sh(f"cat {MEM}/memory*/state | grep -c '^online$' || true"))
    data = lsmem_json(vm)
    listed = sum(int(r["size"]) for r in data["memory"]
                 if r["state"] == "online")
    t.check("lsmem_online_matches_sysfs", listed == online * bs,
            f"lsmem: {listed:#x} online, sysfs: {online} x {bs:#x}")
    t.note(f"{online} online blocks of {bs >> 20} MiB; lsmem lists "
           f"{len(data['memory'])} ranges")
