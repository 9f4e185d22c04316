// SPDX-License-Identifier: GPL-2.0
/*
 * faultremove: fail each allocation of a memory offline-and-remove in turn.
 *
 *   faultremove START SIZE [NID]
 *
 * Adds [START, START + SIZE) through the test module and onlines it
 * movable, then removes it (the module's "remove": offline_and_remove_
 * memory()) with the N-th fault-injection point of this task failing
 * (/proc/thread-self/fail-nth; failslab and fail_page_alloc armed for
 * sleeping allocations of any order), for N = 1, 2, ... until a removal
 * passes fewer than N points. One KTAP test per N: the removal either
 * fails and leaves the range as it was (every block there, online in
 * the same zone, in the linear map, MemTotal unchanged), or succeeds
 * although an allocation failed (a fallback or a retry took over) and
 * leaves nothing behind; then the range is added and onlined again. The
 * last test: the removal with nothing failing works.
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
/* More points than any removal passes here; a sweep that gets there failed */
#define MAX_N	4000
#define MAX_BLOCKS	64

static uint64_t start, size, block;
static int nblocks;
static char nid[16];

static void read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static uint64_t get_hex(const char *path)
{
	char buf[64];

	read_str(path, buf, sizeof(buf));
	if (!*buf)
		ksft_exit_fail_msg("read %s: %s\n", path, strerror(errno));
	return strtoull(buf, NULL, 16);
}

static void block_path(char *path, size_t len, int i, const char *attr)
{
	snprintf(path, len, MEM "/memory%llu/%s",
		 (unsigned long long)((start + i * block) / block), attr);
}

/* "state zone" of each block ("" where the block is gone) */
static void snapshot(char st[][48])
{
	char path[96], state[16], zones[32];
	int i;

	for (i = 0; i < nblocks; i++) {
		block_path(path, sizeof(path), i, "state");
		read_str(path, state, sizeof(state));
		block_path(path, sizeof(path), i, "valid_zones");
		read_str(path, zones, sizeof(zones));
		if (*state)
			snprintf(st[i], 48, "%s %s", state, zones);
		else
			st[i][0] = '\0';
	}
}

static int blocks_present(void)
{
	char path[96];
	int i, n = 0;

	for (i = 0; i < nblocks; i++) {
		block_path(path, sizeof(path), i, "");
		n += !access(path, F_OK);
	}
	return n;
}

/* Blocks of the range that the linear map maps (whole) */
static int blocks_mapped(void)
{
	char cmd[64];
	int i, n = 0;

	for (i = 0; i < nblocks; i++) {
		snprintf(cmd, sizeof(cmd), "%#llx %#llx\n",
			 (unsigned long long)(start + i * block),
			 (unsigned long long)block);
		n += !write_file(MHT "/mapped", cmd);
	}
	return n;
}

/* Add the range and online every block movable; 0 or an errno */
static int add_online(void)
{
	char cmd[80], path[96];
	int i, ret;

	snprintf(cmd, sizeof(cmd), "%#llx %#llx%s%s\n", (unsigned long long)start,
		 (unsigned long long)size, *nid ? " " : "", nid);
	ret = write_file(MHT "/add", cmd);
	for (i = 0; !ret && i < nblocks; i++) {
		block_path(path, sizeof(path), i, "state");
		ret = write_file(path, "online_movable");
	}
	return ret;
}

/*
 * One removal with the n-th fault point failing (n = 0: none). Returns
 * the removal's errno; *hit says whether the n-th point was reached.
 */
static int remove_failing(int fnth, int n, bool *hit)
{
	char cmd[80];

	snprintf(cmd, sizeof(cmd), "%#llx %#llx\n", (unsigned long long)start,
		 (unsigned long long)size);
	return write_failing(fnth, MHT "/remove", cmd, n, hit);
}

int main(int argc, char **argv)
{
	static char before[MAX_BLOCKS][48], after[MAX_BLOCKS][48];
	int fnth, n, ret, present, mapped, same, i;
	long total, online_total;
	bool hit;

	if (argc < 3)
		ksft_exit_fail_msg("usage: faultremove START SIZE [NID]\n");
	start = strtoull(argv[1], NULL, 0);
	size = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		snprintf(nid, sizeof(nid), "%s", argv[3]);

	ksft_print_header();
	if (access(MHT "/remove", F_OK))
		ksft_exit_skip("no %s\n", MHT);
	fnth = fault_arm();
	block = get_hex(MEM "/block_size_bytes");
	if (!size || start % block || size % block || size / block > MAX_BLOCKS)
		ksft_exit_fail_msg("range %#llx+%#llx is not block aligned or too large\n",
				   (unsigned long long)start, (unsigned long long)size);
	nblocks = size / block;
	if (blocks_present())
		ksft_exit_fail_msg("the range is already (partly) added\n");
	total = memtotal();
	ret = add_online();
	if (ret)
		ksft_exit_fail_msg("add and online: %s\n", strerror(ret));
	online_total = memtotal();
	snapshot(before);

	for (n = 1; n <= MAX_N; n++) {
		ret = remove_failing(fnth, n, &hit);
		if (!hit)
			break;
		if (!ret) {
			/* An allocation failed and the removal still worked */
			present = blocks_present();
			mapped = blocks_mapped();
			ksft_print_msg("point %d: absorbed, %d blocks, %d mapped, MemTotal %+ld kB\n",
				       n, present, mapped, memtotal() - total);
			ksft_test_result(!present && !mapped && memtotal() == total,
					 "point_%d\n", n);
			ret = add_online();
			if (ret)
				ksft_exit_fail_msg("add and online again: %s\n",
						   strerror(ret));
			continue;
		}
		snapshot(after);
		for (i = 0, same = 0; i < nblocks; i++)
			same += !strcmp(before[i], after[i]);
		mapped = blocks_mapped();
		ksft_print_msg("point %d: %s, %d of %d blocks as before, %d mapped, MemTotal %+ld kB\n",
			       n, strerror(ret), same, nblocks, mapped,
			       memtotal() - online_total);
		for (i = 0; i < nblocks && same != nblocks; i++)
			if (strcmp(before[i], after[i]))
				ksft_print_msg("  block %d: '%s' -> '%s'\n", i,
					       before[i], after[i]);
		ksft_test_result(same == nblocks && mapped == nblocks &&
				 memtotal() == online_total, "point_%d\n", n);
	}
	if (n > MAX_N)
		ksft_exit_fail_msg("more than %d fault points in one removal\n", MAX_N);
	/* The n-th point was not reached: the removal passed n - 1 and is done */
	present = blocks_present();
	mapped = blocks_mapped();
	ksft_print_msg("removal passed %d fault points: %s, %d blocks left, %d mapped, MemTotal %+ld kB\n",
		       n - 1, strerror(ret), present, mapped, memtotal() - total);
	ksft_test_result(!ret && !present && !mapped && memtotal() == total,
			 "remove_unfailed\n");
	ksft_set_plan(n);
	ksft_finished();
}
