// SPDX-License-Identifier: GPL-2.0
/*
 * memhp_bench: the guest side of `make bench`. Every time is taken here,
 * with CLOCK_MONOTONIC, so console and QMP round trips are not in it.
 *
 *   memhp_bench bw MIB
 *	write (memset) and copy (memcpy) bandwidth over MIB MiB, best of 5:
 *	the floors that hot-add/online and migration are compared with
 *   memhp_bench plug N TIMEOUT
 *	wait for a DIMM: from an empty ACPI memory slot's _STA turning
 *	present until the kernel has sent N more uevents (its N blocks)
 *   memhp_bench eject PNP0C80:NN TIMEOUT
 *	from writing the slot's eject until its _STA says it is empty
 *   memhp_bench uevents N TIMEOUT [DEV]
 *	from the next interrupt of virtio device DEV (virtio-mem's config
 *	change: the request arrived) or else the kernel's next uevent, until
 *	it has sent N uevents (the memory blocks coming or going)
 *   memhp_bench state STATE FIRST COUNT [down]
 *	write STATE to memoryFIRST .. memory(FIRST+COUNT-1)/state in turn
 *	(with "down", from the last block to the first)
 *
 * Output is "key=value" lines; times are in seconds. plug and uevents
 * print (and flush) "ready" once they watch, so the host can act then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "memhp_bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "%s%s\n", errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

static long number(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < 0)
		die("%s: not a number of 0 or more", what);
	return v;
}

static int bw(long mib)
{
	size_t len = (size_t)mib << 20;
	double best_w = 1e9, best_c = 1e9, t;
	char *a, *b;
	int i;

	a = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		die("mmap of %s MiB failed", "2 x MIB");
	for (i = 0; i < 5; i++) {
		t = now();
		memset(a, i + 1, len);
		t = now() - t;
		if (t < best_w)
			best_w = t;
		t = now();
		memcpy(b, a, len);
		t = now() - t;
		if (t < best_c)
			best_c = t;
	}
	/* Keep the copy from being optimised away. */
	if (b[len - 1] != 5)
		die("copy check failed%s", "");
	printf("write_mib_s=%.1f\ncopy_mib_s=%.1f\n", mib / best_w, mib / best_c);
	return 0;
}

/* A whole number read from a sysfs file; -1 if it cannot be read. */
static long long read_num(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

static void nap(void)
{
	struct timespec ts = { 0, 500000 };

	nanosleep(&ts, NULL);
}

#define SLOTS		"/sys/bus/acpi/devices"
#define MAX_SLOTS	64
#define STA_LEN		(sizeof(SLOTS) + NAME_MAX + 16)

/*
 * A DIMM arrives: from its ACPI slot's _STA turning present (QEMU has
 * plugged it) until the kernel has sent the uevents of all N of its
 * memory blocks (uevent_seqnum counts them without CONFIG_NET).
 */
static int plug(long want, long timeout)
{
	static char slot[MAX_SLOTS][NAME_MAX + 1], sta[MAX_SLOTS][STA_LEN];
	long long seq0, seq = 0;
	double first = 0, last = 0, deadline;
	int nslots = 0, i, hit = -1;
	struct dirent *de;
	DIR *d;

	d = opendir(SLOTS);
	if (!d)
		die("opendir %s", SLOTS);
	while ((de = readdir(d)) && nslots < MAX_SLOTS) {
		if (strncmp(de->d_name, "PNP0C80:", 8))
			continue;
		if (strlen(de->d_name) > NAME_MAX - 8)
			continue;
		snprintf(sta[nslots], STA_LEN, SLOTS "/%s/status", de->d_name);
		if (read_num(sta[nslots]) == 0)
			strcpy(slot[nslots++], de->d_name);
	}
	closedir(d);
	if (!nslots)
		die("no empty ACPI memory slot (PNP0C80 with _STA 0) in %s", SLOTS);
	seq0 = read_num("/sys/kernel/uevent_seqnum");
	if (seq0 < 0)
		die("cannot read %s", "/sys/kernel/uevent_seqnum");
	printf("ready\n");
	fflush(stdout);
	deadline = now() + timeout;
	while (hit < 0 && now() < deadline) {
		for (i = 0; i < nslots && hit < 0; i++) {
			if (read_num(sta[i]) > 0)
				hit = i;
		}
		if (hit < 0)
			nap();
	}
	first = now();
	while (hit >= 0 && now() < deadline) {
		seq = read_num("/sys/kernel/uevent_seqnum");
		if (seq - seq0 >= want) {
			last = now();
			break;
		}
		nap();
	}
	printf("slot=%s\nfirst=%.6f\nlast=%.6f\nuevents=%lld\n",
	       hit >= 0 ? slot[hit] : "", first, last, seq - seq0);
	printf("complete=%d\n", last > 0);
	return last > 0 ? 0 : 2;
}

/*
 * Interrupts taken so far by the /proc/interrupts lines named DEV-config
 * (MSI-X) or DEV (INTx), all CPUs; -1 if there is no such line.
 */
static long long irq_count(const char *dev)
{
	char line[1024], cfg[NAME_MAX + 8], *tok, *name, *end;
	long long sum = -1, v;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s-config", dev);
	f = fopen("/proc/interrupts", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		name = strrchr(line, ' ');
		if (!name || !strchr(line, ':') || (strcmp(name + 1, cfg) && strcmp(name + 1, dev)))
			continue;
		if (sum < 0)
			sum = 0;
		for (tok = strtok(strchr(line, ':') + 1, " "); tok; tok = strtok(NULL, " ")) {
			v = strtoll(tok, &end, 10);
			if (end == tok || *end)
				break;
			sum += v;
		}
	}
	fclose(f);
	return sum;
}

/* From DEV's next interrupt (or the next uevent) until N more uevents. */
static int uevents(long want, long timeout, const char *dev)
{
	long long seq0, seq, irq0 = -1;
	double first = 0, last = 0, deadline;

	if (dev && strchr(dev, '/'))
		die("%s: not a device name (virtioN)", dev);
	if (dev && (irq0 = irq_count(dev)) < 0)
		die("%s: no such line in /proc/interrupts", dev);
	seq0 = read_num("/sys/kernel/uevent_seqnum");
	if (seq0 < 0)
		die("cannot read %s", "/sys/kernel/uevent_seqnum");
	seq = seq0;
	printf("ready\n");
	fflush(stdout);
	deadline = now() + timeout;
	while (now() < deadline) {
		seq = read_num("/sys/kernel/uevent_seqnum");
		if (!first && (seq > seq0 || (dev && irq_count(dev) != irq0)))
			first = now();
		if (seq - seq0 >= want) {
			last = now();
			break;
		}
		nap();
	}
	printf("first=%.6f\nlast=%.6f\nuevents=%lld\n", first, last, seq - seq0);
	printf("complete=%d\n", last > 0);
	return last > 0 ? 0 : 2;
}

/* A DIMM leaves: from writing its slot's eject until _STA says empty. */
static int eject(const char *name, long timeout)
{
	char path[STA_LEN];
	double t0, deadline;
	int fd;

	if (strlen(name) > NAME_MAX || strchr(name, '/'))
		die("%s: not a slot name (PNP0C80:NN)", name);
	snprintf(path, sizeof(path), SLOTS "/%s/status", name);
	if (read_num(path) <= 0)
		die("%s: slot is empty or has no _STA", name);
	snprintf(path, sizeof(path), SLOTS "/%s/eject", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die("open %s", path);
	t0 = now();
	if (write(fd, "1", 1) < 0)
		die("write to %s", path);
	close(fd);
	snprintf(path, sizeof(path), SLOTS "/%s/status", name);
	deadline = t0 + timeout;
	while (read_num(path) != 0) {
		if (now() > deadline) {
			printf("complete=0\n");
			return 2;
		}
		nap();
	}
	printf("seconds=%.6f\ncomplete=1\n", now() - t0);
	return 0;
}

static int state(const char *st, long firstblk, long count, int down)
{
	char path[96];
	double t0 = now();
	long i, blk;
	int fd;

	for (i = 0; i < count; i++) {
		blk = down ? firstblk + count - 1 - i : firstblk + i;
		snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/state", blk);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			die("open %s", path);
		if (write(fd, st, strlen(st)) < 0)
			die("write to %s", path);
		close(fd);
	}
	printf("seconds=%.6f\nblocks=%ld\n", now() - t0, count);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "bw"))
		return bw(number(argv[2], "MIB") ?: 1);
	if (argc == 4 && !strcmp(argv[1], "plug"))
		return plug(number(argv[2], "N"), number(argv[3], "TIMEOUT"));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "uevents"))
		return uevents(number(argv[2], "N") ?: 1, number(argv[3], "TIMEOUT"),
			       argc == 5 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "eject"))
		return eject(argv[2], number(argv[3], "TIMEOUT"));
	if ((argc == 5 || (argc == 6 && !strcmp(argv[5], "down"))) &&
	    !strcmp(argv[1], "state"))
		return state(argv[2], number(argv[3], "FIRST"), number(argv[4], "COUNT"),
			     argc == 6);
	fprintf(stderr,
		"usage: memhp_bench bw MIB\n"
		"       memhp_bench plug N TIMEOUT\n"
		"       memhp_bench uevents N TIMEOUT [DEV]\n"
		"       memhp_bench eject PNP0C80:NN TIMEOUT\n"
		"       memhp_bench state STATE FIRST COUNT [down]\n");
	return 1;
}
