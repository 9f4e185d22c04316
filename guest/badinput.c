// SPDX-License-Identifier: GPL-2.0
/*
 * badinput: every bad write to the memory hotplug files gets a clear
 * errno and changes nothing.
 *
 *   badinput [FREE]
 *
 * One KTAP test per row of the table below: the file, what is written,
 * the errno(s) that count as a clear refusal. FREE is the physical
 * address of a memory block of RAM that is there but not added (hidden
 * with mem=): the rows that add, repeat and race use it. Files that the
 * kernel does not have (the probe interface, the test module's debugfs
 * files) skip their rows; with none of them the program exits 4.
 * After the table: the memory blocks, MemTotal and the free block's
 * absence are what they were before.
 *
 * For testing the tester: BADINPUT_DEBUG_WRONG=<row name> fails that row
 * whatever the kernel answered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "guest_util.h"

#define MEM	"/sys/devices/system/memory"
#define PROBE	MEM "/probe"
#define MHT	"/sys/kernel/debug/memory_hotplug_test"
#define NOBODY	65534

static uint64_t block, boot_start, free_start;
static long boot_block;
static char boot_state[64], boot_online[64];
static const char *wrong;

/* Writes s to path (as nobody if unpriv); 0 or the errno of open/write. */
static int put(const char *path, const char *s, bool unpriv)
{
	pid_t pid;
	int st;

	if (unpriv) {
		pid = fork();
		if (pid < 0)
			return errno;
		if (!pid) {
			if (setgid(NOBODY) || setuid(NOBODY))
				_exit(255);
			_exit(put(path, s, false));
		}
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
			return -1;
		return WEXITSTATUS(st) == 255 ? -1 : WEXITSTATUS(st);
	}
	return write_file(path, s);
}

static int blocks(void)
{
	struct dirent *de;
	DIR *d = opendir(MEM);
	int n = 0;

	if (!d)
		ksft_exit_fail_msg("opendir %s: %s\n", MEM, strerror(errno));
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, "memory", 6) && de->d_name[6] >= '0' &&
		     de->d_name[6] <= '9';
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

static bool free_block_absent(void)
{
	char path[96];

	if (!free_start)
		return true;
	snprintf(path, sizeof(path), MEM "/memory%llu",
		 (unsigned long long)(free_start / block));
	return !exists(path);
}

struct row {
	const char *name;
	const char *file;	/* PROBE, MHT "/add", ...; "state"/"online": a boot block's */
	const char *in;		/* {boot} {block} {free} {unaligned}: addresses in hex */
	int err[4];		/* any of these is a clear refusal */
	bool unpriv;
};

#define BAD(n, f, i, ...)	{ .name = n, .file = f, .in = i, .err = { __VA_ARGS__ } }
#define UNPRIV(n, f, i, ...)	{ .name = n, .file = f, .in = i, .err = { __VA_ARGS__ }, \
				  .unpriv = true }
/* Out of range: request_resource() says EEXIST where iomem_resource ends at the CPU's PA bits */
#define OOR	ERANGE, E2BIG, EEXIST

static const struct row rows[] = {
	BAD("probe_empty", PROBE, "\n", EINVAL),
	BAD("probe_not_a_number", PROBE, "memory\n", EINVAL),
	BAD("probe_negative", PROBE, "-{block}\n", EINVAL),
	BAD("probe_huge", PROBE, "0x10000000000000000\n", ERANGE),
	BAD("probe_trailing_garbage", PROBE, "{boot}g\n", EINVAL),
	BAD("probe_unaligned", PROBE, "{unaligned}\n", EINVAL),
	BAD("probe_boot_memory", PROBE, "{boot}\n", EEXIST),
	BAD("probe_out_of_range", PROBE, "0x4000000000000000\n", OOR),
	UNPRIV("probe_unprivileged", PROBE, "{boot}\n", EACCES, EPERM),
	BAD("add_empty", MHT "/add", "\n", EINVAL),
	BAD("add_no_size", MHT "/add", "{boot}\n", EINVAL),
	BAD("add_not_a_number", MHT "/add", "start {block}\n", EINVAL),
	BAD("add_zero_size", MHT "/add", "{boot} 0\n", EINVAL),
	BAD("add_unaligned_start", MHT "/add", "{unaligned} {block}\n", EINVAL),
	BAD("add_unaligned_size", MHT "/add", "{boot} 0x1000\n", EINVAL),
	BAD("add_wraps", MHT "/add", "0xfffffffff0000000 0x20000000\n", EINVAL),
	BAD("add_negative_node", MHT "/add", "{boot} {block} -1\n", EINVAL),
	BAD("add_no_such_node", MHT "/add", "{boot} {block} 99999\n", EINVAL),
	BAD("add_trailing_garbage", MHT "/add", "{boot} {block} 0 x\n", EINVAL),
	BAD("add_too_long", MHT "/add",
	    "{boot} {block} 00000000000000000000000000000000000"
	    "00000000000000000000000000000000000\n", EINVAL),
	BAD("add_boot_memory", MHT "/add", "{boot} {block}\n", EEXIST),
	BAD("add_out_of_range", MHT "/add", "0x4000000000000000 {block}\n", OOR),
	UNPRIV("add_unprivileged", MHT "/add", "{boot} {block}\n", EACCES, EPERM),
	BAD("remove_not_added", MHT "/remove", "{free} {block}\n", EPERM),
	BAD("remove_with_node", MHT "/remove", "{boot} {block} 0\n", EINVAL),
	UNPRIV("remove_unprivileged", MHT "/remove", "{boot} {block}\n", EACCES, EPERM),
	BAD("mapped_out_of_range", MHT "/mapped", "0x4000000000000000 {block}\n", ERANGE),
	BAD("mapped_not_mapped", MHT "/mapped", "{free} {block}\n", EFAULT),
	BAD("state_garbage", "state", "onlin\n", EINVAL),
	BAD("state_online_again", "state", "online\n", EINVAL),
	UNPRIV("state_unprivileged", "state", "offline\n", EACCES, EPERM),
	BAD("online_not_a_bool", "online", "2\n", EINVAL),
	UNPRIV("online_unprivileged", "online", "0\n", EACCES, EPERM),
};

/* The row's input with its {names} replaced; false if it needs FREE and there is none. */
static bool expand(const char *in, char *out, size_t len)
{
	static const char *const names[] = { "{boot}", "{block}", "{free}", "{unaligned}" };
	unsigned long long v[4] = { boot_start, block, free_start, boot_start + 4096 };
	size_t n = 0, k;

	out[0] = 0;
	while (*in && n + 24 < len) {
		for (k = 0; k < 4; k++)
			if (!strncmp(in, names[k], strlen(names[k])))
				break;
		if (k == 4) {
			out[n++] = *in++;
			out[n] = 0;
			continue;
		}
		if (k == 2 && !free_start)
			return false;
		n += snprintf(out + n, len - n, "%#llx", v[k]);
		in += strlen(names[k]);
	}
	return true;
}

static void path_of(const struct row *r, char *buf, size_t len)
{
	if (!strcmp(r->file, "state") || !strcmp(r->file, "online"))
		snprintf(buf, len, MEM "/memory%ld/%s", boot_block, r->file);
	else
		snprintf(buf, len, "%s", r->file);
}

static void one(const struct row *r)
{
	char path[128], in[160], why[64];
	int got, i;
	bool ok = false;

	path_of(r, path, sizeof(path));
	if (!exists(path)) {
		ksft_test_result_code(KSFT_SKIP, r->name, "no %s\n", path);
		return;
	}
	if (!expand(r->in, in, sizeof(in))) {
		ksft_test_result_code(KSFT_SKIP, r->name, "no free block given\n");
		return;
	}
	got = put(path, in, r->unpriv);
	for (i = 0; i < 4 && r->err[i]; i++)
		ok |= got == r->err[i];
	/* testing the tester: BADINPUT_DEBUG_WRONG=name fails that row */
	if (wrong && !strcmp(wrong, r->name))
		ok = false;
	snprintf(why, sizeof(why), "%s", got > 0 ? strerror(got) : got ? "?" : "accepted");
	ksft_print_msg("%s: '%.*s' to %s: %s%s%s\n", r->name, (int)strcspn(in, "\n"), in,
		       path, why, ok ? "" : ", want ", ok ? "" : strerror(r->err[0]));
	ksft_test_result(ok, "%s\n", r->name);
}

static uint64_t hex_file(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, sizeof(buf), f))
		ksft_exit_fail_msg("cannot read %s\n", path);
	fclose(f);
	return strtoull(buf, NULL, 16);
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f && fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
}

/* A boot block that is online and stays so: the first one, which holds the kernel or firmware. */
static void find_boot_block(void)
{
	char path[96];
	long i;

	for (i = 0; i < 1L << 16; i++) {
		snprintf(path, sizeof(path), MEM "/memory%ld/state", i);
		read_line(path, boot_state, sizeof(boot_state));
		if (!strcmp(boot_state, "online"))
			break;
	}
	if (i == 1L << 16)
		ksft_exit_fail_msg("no online memory block\n");
	boot_block = i;
	boot_start = (uint64_t)i * block;
	snprintf(path, sizeof(path), MEM "/memory%ld/online", i);
	read_line(path, boot_online, sizeof(boot_online));
}

struct race {
	char in[64];
	int err;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	r->err = put(MHT "/add", r->in, false);
	return NULL;
}

/* Two writers add the same block at once: one wins, the other gets EEXIST. */
static void race_and_repeat(void)
{
	struct race a, b;
	pthread_t ta, tb;
	char in[64];
	int err;

	if (!exists(MHT "/add") || !free_start) {
		ksft_test_result_code(KSFT_SKIP, "concurrent_add", "no test module or free block\n");
		ksft_test_result_code(KSFT_SKIP, "repeated_add", "no test module or free block\n");
		ksft_test_result_code(KSFT_SKIP, "repeated_remove", "no test module or free block\n");
		return;
	}
	snprintf(in, sizeof(in), "%#llx %#llx\n", (unsigned long long)free_start,
		 (unsigned long long)block);
	strcpy(a.in, in);
	strcpy(b.in, in);
	pthread_create(&ta, NULL, racer, &a);
	pthread_create(&tb, NULL, racer, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (!((!a.err && b.err == EEXIST) || (!b.err && a.err == EEXIST)))
		ksft_print_msg("concurrent_add: %s and %s\n", strerror(a.err), strerror(b.err));
	ksft_test_result((!a.err && b.err == EEXIST) || (!b.err && a.err == EEXIST),
			 "concurrent_add\n");
	err = put(MHT "/add", in, false);
	if (err != EEXIST)
		ksft_print_msg("repeated_add: %s\n", err ? strerror(err) : "accepted");
	ksft_test_result(err == EEXIST, "repeated_add\n");
	/* what was added goes again, once */
	err = put(MHT "/remove", in, false);
	if (err)
		ksft_print_msg("remove: %s\n", strerror(err));
	err = err ? err : put(MHT "/remove", in, false);
	if (err != EPERM)
		ksft_print_msg("repeated_remove: %s\n", err ? strerror(err) : "accepted");
	ksft_test_result(err == EPERM, "repeated_remove\n");
}

int main(int argc, char **argv)
{
	char path[96], now_state[64], now_online[64];
	long mt0, mt1;
	int nb0, nb1;
	size_t i;

	if (argc > 2 || (argc == 2 && !strtoull(argv[1], NULL, 0))) {
		fprintf(stderr, "usage: badinput [FREE]  (physical address of a free block)\n");
		return 2;
	}
	wrong = getenv("BADINPUT_DEBUG_WRONG");
	ksft_print_header();
	if (!exists(PROBE) && !exists(MHT "/add"))
		ksft_exit_skip("neither %s nor the test module's debugfs files\n", PROBE);
	block = hex_file(MEM "/block_size_bytes");
	free_start = argc == 2 ? strtoull(argv[1], NULL, 0) : 0;
	if (free_start % block)
		ksft_exit_fail_msg("FREE %#llx is not block aligned\n",
				   (unsigned long long)free_start);
	find_boot_block();
	mt0 = memtotal();
	nb0 = blocks();
	ksft_set_plan(sizeof(rows) / sizeof(rows[0]) + 3 + 3);

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		one(&rows[i]);
	race_and_repeat();

	mt1 = memtotal();
	nb1 = blocks();
	if (nb1 != nb0)
		ksft_print_msg("%d memory blocks before, %d after\n", nb0, nb1);
	ksft_test_result(nb1 == nb0, "same_blocks\n");
	if (mt1 != mt0)
		ksft_print_msg("MemTotal %ld kB before, %ld kB after\n", mt0, mt1);
	ksft_test_result(mt1 == mt0 && free_block_absent(), "same_memtotal\n");
	snprintf(path, sizeof(path), MEM "/memory%ld/state", boot_block);
	read_line(path, now_state, sizeof(now_state));
	snprintf(path, sizeof(path), MEM "/memory%ld/online", boot_block);
	read_line(path, now_online, sizeof(now_online));
	ksft_test_result(!strcmp(now_state, boot_state) && !strcmp(now_online, boot_online),
			 "boot_block_unchanged\n");
	ksft_finished();
}
