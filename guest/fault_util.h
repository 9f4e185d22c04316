/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fault-injection sweep of faultadd and faultremove: the N-th
 * allocation of one write fails (/proc/thread-self/fail-nth).
 */
#ifndef MEMHP_FAULT_UTIL_H
#define MEMHP_FAULT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest.h"
#include "guest_util.h"

#define FAULT_DBG	"/sys/kernel/debug"

/*
 * Arms failslab and fail_page_alloc for sleeping allocations of any
 * order and returns this task's fail-nth file; skips when the kernel has
 * no fault injection.
 */
static inline int fault_arm(void)
{
	static const char *const knobs[][2] = {
		{ FAULT_DBG "/failslab/ignore-gfp-wait", "N" },
		{ FAULT_DBG "/fail_page_alloc/ignore-gfp-wait", "N" },
		{ FAULT_DBG "/fail_page_alloc/min-order", "0" },
		{ FAULT_DBG "/failslab/verbose", "1" },
		{ FAULT_DBG "/fail_page_alloc/verbose", "1" },
	};
	size_t i;
	int fd, ret;

	if (access(FAULT_DBG "/failslab", F_OK) ||
	    access(FAULT_DBG "/fail_page_alloc", F_OK))
		ksft_exit_skip("no failslab/fail_page_alloc in debugfs\n");
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fd < 0)
		ksft_exit_skip("no /proc/thread-self/fail-nth\n");
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		ret = write_file(knobs[i][0], knobs[i][1]);
		if (ret)
			ksft_exit_fail_msg("%s: %s\n", knobs[i][0], strerror(ret));
	}
	return fd;
}

/*
 * Writes cmd to path with the n-th fault point of the write failing
 * (n = 0: none). Returns the write's errno; *hit says whether the n-th
 * point was reached.
 */
static inline int write_failing(int fnth, const char *path, const char *cmd,
				int n, bool *hit)
{
	char num[16], left[16] = "";
	int fd, ret, len;

	/* Opened first: its own allocations are not part of the write */
	fd = open(path, O_WRONLY);
	if (fd < 0)
		ksft_exit_fail_msg("open %s: %s\n", path, strerror(errno));
	len = snprintf(num, sizeof(num), "%d", n);
	if (pwrite(fnth, num, len, 0) != len)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
	ret = write(fd, cmd, strlen(cmd)) < 0 ? errno : 0;
	/* The count left: 0 once the n-th point failed */
	if (pread(fnth, left, sizeof(left) - 1, 0) <= 0)
		ksft_exit_fail_msg("fail-nth read: %s\n", strerror(errno));
	if (pwrite(fnth, "0", 1, 0) != 1)
		ksft_exit_fail_msg("fail-nth off: %s\n", strerror(errno));
	close(fd);
	*hit = n && atoi(left) == 0;
	return ret;
}

#endif
