/* SPDX-License-Identifier: GPL-2.0 */
/* What several of the guest programs read and write the same way. */
#ifndef MEMHP_GUEST_UTIL_H
#define MEMHP_GUEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Writes s to path: 0, or the errno of open() or write() */
static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ret;

	if (fd < 0)
		return errno;
	ret = write(fd, s, strlen(s)) < 0 ? errno : 0;
	close(fd);
	return ret;
}

/* MemTotal in kB, or -1 */
static inline long memtotal(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

#endif
