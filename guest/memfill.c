// SPDX-License-Identifier: GPL-2.0
/*
 * memfill: prove that memory is usable.
 *
 * Maps N MiB of anonymous memory, writes a pattern derived from (seed, word
 * index) to every 64-bit word and verifies it. Optionally counts how many of
 * the buffer's pages sit inside a physical address range (via
 * /proc/self/pagemap, root only), and can hold the buffer until SIGUSR1 so
 * that the memory under it can be offlined/migrated meanwhile, then verifies
 * again. Output is KTAP. --range may be given up to 8 times: each range is
 * then one test (in_range_1, ...), --need-mib applying to each.
 *
 * For testing the tester: MEMFILL_DEBUG_FLIP=<word index> flips one bit of
 * that word after filling, so "verify" must fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest.h"

#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_PRESENT	(1ULL << 63)

static uint64_t *buf;
static size_t nwords, npages, page_size;
static uint64_t seed = 0x6d656d68702d3031ULL;
#define MAX_RANGES	8
static uint64_t range_start[MAX_RANGES], range_end[MAX_RANGES];
static int nranges;
static bool quiet;

static __noreturn __printf(1, 2) void usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		fprintf(stderr, "memfill: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fprintf(stderr,
		"usage: memfill --mib N [--seed S] [--range START-END]... [--need-mib M]\n"
		"               [--hold] [--quiet]\n"
		"  START, END: physical addresses in hex, END exclusive (up to %d ranges)\n",
		MAX_RANGES);
	exit(2);
}

/* Parses a whole unsigned number; base 0 accepts decimal, 0x.. and 0.. */
static uint64_t parse_num(const char *s, int base, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || end == s || *end || *s == '-')
		usage("%s: not a number", what);
	return v;
}

/* One splitmix64 step from the word index: cheap, and no two words alike */
static inline uint64_t pattern(uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill(void)
{
	for (size_t i = 0; i < nwords; i++)
		buf[i] = pattern(i);
}

/* Returns the number of mismatching words and reports the first one. */
static size_t verify(void)
{
	size_t bad = 0, first = 0;

	for (size_t i = 0; i < nwords; i++) {
		if (buf[i] == pattern(i))
			continue;
		if (!bad++)
			first = i;
	}
	if (bad)
		ksft_print_msg("%zu of %zu words differ, first at %p (word %zu): %#" PRIx64
			       " instead of %#" PRIx64 "\n", bad, nwords,
			       (void *)&buf[first], first, buf[first], pattern(first));
	return bad;
}

/*
 * Counts the buffer's pages whose physical address is in each range
 * (hits[]). Returns -1 when pagemap cannot be used (no PFNs without
 * CAP_SYS_ADMIN), else 0.
 */
static int pages_in_range(long *hits)
{
	uint64_t ent[512];
	size_t done = 0, present = 0, pfn_seen = 0;
	off_t off = (uintptr_t)buf / page_size * sizeof(ent[0]);
	int fd;

	for (int r = 0; r < nranges; r++)
		hits[r] = 0;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0) {
		ksft_perror("open /proc/self/pagemap");
		return -1;
	}
	while (done < npages) {
		size_t n = npages - done < 512 ? npages - done : 512;
		ssize_t len = pread(fd, ent, n * sizeof(ent[0]),
				    off + done * sizeof(ent[0]));

		if (len != (ssize_t)(n * sizeof(ent[0]))) {
			ksft_perror("read /proc/self/pagemap");
			close(fd);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t pa = (ent[i] & PM_PFN_MASK) * page_size;

			if (!(ent[i] & PM_PRESENT))
				continue;
			present++;
			pfn_seen += !!(ent[i] & PM_PFN_MASK);
			for (int r = 0; r < nranges; r++)
				hits[r] += pa >= range_start[r] && pa < range_end[r];
		}
		done += n;
	}
	close(fd);
	if (present && !pfn_seen) {
		ksft_print_msg("pagemap shows no PFNs (needs CAP_SYS_ADMIN)\n");
		return -1;
	}
	for (int r = 0; r < nranges && !quiet; r++)
		ksft_print_msg("%ld of %zu pages (%zu of %zu present) in range %#" PRIx64
			       "-%#" PRIx64 ": %.1f MiB\n", hits[r], npages, present,
			       npages, range_start[r], range_end[r],
			       (double)hits[r] * page_size / (1 << 20));
	return 0;
}

/* Waits for SIGUSR1 (true) or SIGTERM (false); both are blocked already. */
static bool hold(const sigset_t *set)
{
	int sig;

	printf("# memfill: holding pid %d\n", (int)getpid());
	fflush(stdout);
	while (sigwait(set, &sig) == 0) {
		if (sig == SIGUSR1)
			return true;
		if (sig == SIGTERM) {
			ksft_print_msg("SIGTERM while holding\n");
			return false;
		}
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "range", required_argument, NULL, 'r' },
		{ "need-mib", required_argument, NULL, 'n' },
		{ "hold", no_argument, NULL, 'H' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t mib = 0, need_mib = 0, need_pages = 1;
	bool do_hold = false, need_set = false;
	long hits[MAX_RANGES];
	const char *flip = getenv("MEMFILL_DEBUG_FLIP");
	char *dash;
	sigset_t set;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mib = parse_num(optarg, 0, "--mib");
			break;
		case 's':
			seed = parse_num(optarg, 0, "--seed");
			break;
		case 'r':
			if (nranges == MAX_RANGES)
				usage("--range: at most %d", MAX_RANGES);
			dash = strchr(optarg, '-');
			if (!dash)
				usage("--range %s: want START-END", optarg);
			*dash = '\0';
			range_start[nranges] = parse_num(optarg, 16, "--range START");
			range_end[nranges] = parse_num(dash + 1, 16, "--range END");
			if (range_end[nranges] <= range_start[nranges])
				usage("--range: END must be above START");
			nranges++;
			break;
		case 'n':
			need_mib = parse_num(optarg, 0, "--need-mib");
			need_set = true;
			break;
		case 'H':
			do_hold = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(NULL);
		default:
			usage("bad option (see --help)");
		}
	}
	if (optind < argc)
		usage("unexpected argument '%s'", argv[optind]);
	if (!mib)
		usage("--mib N (N > 0) is required");
	if (mib > SIZE_MAX >> 21)
		usage("--mib: too large");
	if (need_set && !nranges)
		usage("--need-mib needs --range");
	if (need_mib > mib)
		usage("--need-mib larger than --mib");

	page_size = sysconf(_SC_PAGESIZE);
	nwords = mib << 17;
	npages = (mib << 20) / page_size;
	if (need_set)
		need_pages = (need_mib << 20) / page_size;

	/* Block the signals now so that none is lost before sigwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	ksft_print_header();
	ksft_set_plan(1 + nranges + do_hold);

	buf = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		ksft_exit_fail_msg("mmap %" PRIu64 " MiB: %s\n", mib, strerror(errno));
	fill();
	if (flip)
		buf[strtoull(flip, NULL, 0) % nwords] ^= 1ULL << 17;
	if (!quiet)
		ksft_print_msg("filled %" PRIu64 " MiB at %p, seed %#" PRIx64 "\n",
			       mib, (void *)buf, seed);

	if (nranges) {
		int ok = pages_in_range(hits);

		for (int r = 0; r < nranges; r++) {
			bool pass = ok == 0 && (size_t)hits[r] >= need_pages;

			if (nranges == 1)
				ksft_test_result(pass, "in_range\n");
			else
				ksft_test_result(pass, "in_range_%d\n", r + 1);
		}
	}
	ksft_test_result(verify() == 0, "verify\n");

	if (do_hold) {
		if (!hold(&set)) {
			ksft_test_result_fail("verify_after_hold\n");
			ksft_finished();
		}
		ksft_test_result(verify() == 0, "verify_after_hold\n");
		if (nranges)
			pages_in_range(hits);
	}
	ksft_finished();
}
