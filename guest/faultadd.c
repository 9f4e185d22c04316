// SPDX-License-Identifier: GPL-2.0
/*
 * faultadd: fail each allocation of a memory hot-add in turn.
 *
 *   faultadd START SIZE [NID]
 *
 * Adds [START, START + SIZE) through the test module, with the N-th
 * fault-injection point of this task failing (/proc/thread-self/fail-nth,
 * failslab and fail_page_alloc armed for sleeping allocations of any
 * order), for N = 1, 2, ... until an add passes fewer than N points. One
 * KTAP test per N: the add either fails with ENOMEM (EEXIST where the
 * resource request fails) and leaves nothing
 * behind (no memory block of the range, no page of it in the linear map,
 * MemTotal as before), or succeeds although an allocation failed (a
 * fallback took over) and is then removed. The last test: the add with
 * nothing failing works, and the range is removed again.
 *
 * Exits 4 when the kernel has no fault injection or no test module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_util.h"

#define MEM	"/sys/devices/system/memory"
#define MHT	"/sys/kernel/debug/memory_hotplug_test"
/* More points than any hot-add passes here; a sweep that gets there failed */
#define MAX_N	4000

static uint64_t start, size, block;
static char nid[16];

static uint64_t get_hex(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		ksft_exit_fail_msg("read %s: %s\n", path, strerror(errno));
	close(fd);
	return strtoull(buf, NULL, 16);
}

/* Blocks of the range that have a memory block device */
static int blocks_present(void)
{
	char path[96];
	uint64_t a;
	int n = 0;

	for (a = start; a < start + size; a += block) {
		snprintf(path, sizeof(path), MEM "/memory%llu",
			 (unsigned long long)(a / block));
		n += !access(path, F_OK);
	}
	return n;
}

/* Blocks of the range that the linear map maps (whole) */
static int blocks_mapped(void)
{
	char cmd[64];
	uint64_t a;
	int n = 0;

	for (a = start; a < start + size; a += block) {
		snprintf(cmd, sizeof(cmd), "%#llx %#llx\n",
			 (unsigned long long)a, (unsigned long long)block);
		n += !write_file(MHT "/mapped", cmd);
	}
	return n;
}

static int remove_range(void)
{
	char cmd[80];

	snprintf(cmd, sizeof(cmd), "%#llx %#llx\n", (unsigned long long)start,
		 (unsigned long long)size);
	return write_file(MHT "/remove", cmd);
}

/*
 * One add with the n-th fault point failing (n = 0: none). Returns the
 * add's errno; *hit says whether the n-th point was reached.
 */
static int add_failing(int fnth, int n, bool *hit)
{
	char cmd[80];

	snprintf(cmd, sizeof(cmd), "%#llx %#llx%s%s\n", (unsigned long long)start,
		 (unsigned long long)size, *nid ? " " : "", nid);
	return write_failing(fnth, MHT "/add", cmd, n, hit);
}

int main(int argc, char **argv)
{
	int fnth, n, ret, present, mapped;
	long total;
	bool hit;

	if (argc < 3)
		ksft_exit_fail_msg("usage: faultadd START SIZE [NID]\n");
	start = strtoull(argv[1], NULL, 0);
	size = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		snprintf(nid, sizeof(nid), "%s", argv[3]);

	ksft_print_header();
	if (access(MHT "/add", F_OK))
		ksft_exit_skip("no %s\n", MHT);
	fnth = fault_arm();
	block = get_hex(MEM "/block_size_bytes");
	if (!size || start % block || size % block)
		ksft_exit_fail_msg("range %#llx+%#llx is not block aligned\n",
				   (unsigned long long)start, (unsigned long long)size);
	if (blocks_present())
		ksft_exit_fail_msg("the range is already (partly) added\n");
	total = memtotal();

	for (n = 1; n <= MAX_N; n++) {
		ret = add_failing(fnth, n, &hit);
		if (!hit)
			break;
		present = blocks_present();
		if (!ret) {
			/* An allocation failed and the add still worked */
			ret = remove_range();
			ksft_print_msg("point %d: absorbed, %d blocks; removed: %s\n",
				       n, present, strerror(ret));
			ksft_test_result(!ret && !blocks_present(), "point_%d\n", n);
			continue;
		}
		mapped = blocks_mapped();
		ksft_print_msg("point %d: %s, %d blocks left, %d mapped, MemTotal %+ld kB\n",
			       n, strerror(ret), present, mapped, memtotal() - total);
		/*
		 * register_memory_resource() says EEXIST whenever
		 * request_mem_region() fails, its allocation failing too.
		 */
		ksft_test_result((ret == ENOMEM || ret == EEXIST) && !present &&
				 !mapped && memtotal() == total, "point_%d\n", n);
	}
	if (n > MAX_N)
		ksft_exit_fail_msg("more than %d fault points in one add\n", MAX_N);
	/* The n-th point was not reached: the add passed n - 1 and is done */
	present = blocks_present();
	ksft_print_msg("add passed %d fault points: %s, %d of %llu blocks\n",
		       n - 1, strerror(ret), present,
		       (unsigned long long)(size / block));
	ksft_test_result(!ret && present == (int)(size / block), "add_unfailed\n");
	ret = remove_range();
	ksft_print_msg("remove: %s, MemTotal %+ld kB\n", strerror(ret),
		       memtotal() - total);
	ksft_test_result(!ret && !blocks_present() && memtotal() == total,
			 "remove_unfailed\n");
	/* The plan last: the number of points is what the sweep found */
	ksft_set_plan(n + 1);
	ksft_finished();
}
