// SPDX-License-Identifier: GPL-2.0
/*
 * memload: keep checksummed data busy in memory while the memory under it
 * goes offline (its pages migrate) and online again.
 *
 * Maps N MiB of anonymous memory in chunks, fills every chunk with a
 * pattern of (seed, generation, word index) and keeps a 64-bit checksum of
 * each chunk in a separate table. Then, until SIGUSR1 or --seconds, it goes
 * round the chunks: verifies a chunk's checksum and rewrites it with the
 * next generation (new data, new checksum). SIGUSR2 prints a status line
 * (rounds, mismatches, pages in --range now). At the end every chunk is
 * verified against its checksum and its expected pattern. Output is KTAP.
 *
 * For testing the tester: MEMLOAD_DEBUG_FLIP=<word index> flips one bit of
 * that word right after the first fill, so the checks must fail.
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
#include <time.h>
#include <unistd.h>

#include "kselftest.h"

#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_PRESENT	(1ULL << 63)

static uint64_t *buf;
static uint64_t *sums;		/* checksum of each chunk */
static uint32_t *gens;		/* generation of each chunk's data */
static size_t nchunks, chunk_words, npages, page_size;
static uint64_t seed = 0x6d656d6c6f616431ULL;
static uint64_t range_start, range_end;
static bool have_range;
static volatile sig_atomic_t stop_req, status_req;

static __noreturn __printf(1, 2) void usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		fprintf(stderr, "memload: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fprintf(stderr,
		"usage: memload --mib N [--chunk-kib K] [--seconds S] [--seed S]\n"
		"               [--range START-END [--need-mib M]]\n"
		"  runs until SIGUSR1 (or S seconds); SIGUSR2 prints a status line\n"
		"  START, END: physical addresses in hex, END exclusive\n");
	exit(2);
}

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

/* splitmix64 of (seed, generation, word index) */
static inline uint64_t pattern(uint64_t gen, uint64_t i)
{
	uint64_t z = seed + (gen << 40) + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t checksum(const uint64_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static void write_chunk(size_t c)
{
	uint64_t *p = buf + c * chunk_words;
	uint64_t base = c * chunk_words;

	for (size_t i = 0; i < chunk_words; i++)
		p[i] = pattern(gens[c], base + i);
	sums[c] = checksum(p, chunk_words);
}

/* Counts the buffer's present pages in the range; -1 if pagemap fails. */
static long pages_in_range(void)
{
	uint64_t ent[512];
	size_t done = 0;
	off_t off = (uintptr_t)buf / page_size * sizeof(ent[0]);
	long hits = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	while (done < npages) {
		size_t n = npages - done < 512 ? npages - done : 512;
		ssize_t len = pread(fd, ent, n * sizeof(ent[0]),
				    off + done * sizeof(ent[0]));

		if (len != (ssize_t)(n * sizeof(ent[0]))) {
			close(fd);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t pa = (ent[i] & PM_PFN_MASK) * page_size;

			if ((ent[i] & PM_PRESENT) && (ent[i] & PM_PFN_MASK))
				hits += pa >= range_start && pa < range_end;
		}
		done += n;
	}
	close(fd);
	return hits;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR2)
		status_req = 1;
	else
		stop_req = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "chunk-kib", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "range", required_argument, NULL, 'r' },
		{ "need-mib", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t mib = 0, chunk_kib = 64, seconds = 600, need_mib = 0;
	uint64_t rounds = 0, checked = 0, rewritten = 0, bad_sum = 0;
	const char *flip = getenv("MEMLOAD_DEBUG_FLIP");
	size_t first_bad = SIZE_MAX, bad_final = 0, bad_pattern = 0;
	long start_hits = 0, hits;
	struct sigaction sa = { .sa_handler = on_signal };
	double t0, deadline;
	char *dash;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mib = parse_num(optarg, 0, "--mib");
			break;
		case 'c':
			chunk_kib = parse_num(optarg, 0, "--chunk-kib");
			break;
		case 't':
			seconds = parse_num(optarg, 0, "--seconds");
			break;
		case 's':
			seed = parse_num(optarg, 0, "--seed");
			break;
		case 'r':
			dash = strchr(optarg, '-');
			if (!dash)
				usage("--range %s: want START-END", optarg);
			*dash = '\0';
			range_start = parse_num(optarg, 16, "--range START");
			range_end = parse_num(dash + 1, 16, "--range END");
			if (range_end <= range_start)
				usage("--range: END must be above START");
			have_range = true;
			break;
		case 'n':
			need_mib = parse_num(optarg, 0, "--need-mib");
			break;
		case 'h':
			usage(NULL);
		default:
			usage("bad option (see --help)");
		}
	}
	if (optind < argc)
		usage("unexpected argument '%s'", argv[optind]);
	if (!mib || mib > SIZE_MAX >> 21)
		usage("--mib N (0 < N) is required");
	page_size = sysconf(_SC_PAGESIZE);
	if (!chunk_kib || (chunk_kib << 10) % page_size || (mib << 10) % chunk_kib)
		usage("--chunk-kib: a multiple of the page size that divides --mib");
	if (need_mib && !have_range)
		usage("--need-mib needs --range");

	nchunks = (mib << 10) / chunk_kib;
	chunk_words = (chunk_kib << 10) / sizeof(uint64_t);
	npages = (mib << 20) / page_size;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ksft_print_header();
	ksft_set_plan(2 + have_range * 2);
	buf = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sums = calloc(nchunks, sizeof(*sums));
	gens = calloc(nchunks, sizeof(*gens));
	if (buf == MAP_FAILED || !sums || !gens)
		ksft_exit_fail_msg("allocating %" PRIu64 " MiB: %s\n", mib,
				   strerror(errno));
	for (size_t i = 0; i < nchunks; i++)
		write_chunk(i);
	if (flip)
		buf[strtoull(flip, NULL, 0) % (nchunks * chunk_words)] ^= 1ULL << 33;
	if (have_range) {
		start_hits = pages_in_range();
		ksft_print_msg("%ld of %zu pages in range %#" PRIx64 "-%#" PRIx64
			       " at start\n", start_hits, npages, range_start,
			       range_end);
		ksft_test_result(start_hits >= 0 &&
				 (uint64_t)start_hits * page_size >= need_mib << 20,
				 "in_range_at_start\n");
	}
	printf("# memload: running pid %d, %zu chunks of %" PRIu64 " KiB\n",
	       (int)getpid(), nchunks, chunk_kib);
	fflush(stdout);

	t0 = now();
	deadline = t0 + seconds;
	while (!stop_req && now() < deadline) {
		for (size_t i = 0; i < nchunks && !stop_req; i++) {
			uint64_t *p = buf + i * chunk_words;

			if (checksum(p, chunk_words) != sums[i]) {
				if (!bad_sum++)
					first_bad = i;
				/* keep the table in step, count each once */
				sums[i] = checksum(p, chunk_words);
			}
			checked++;
			/* every other chunk gets new data this round */
			if ((i + rounds) & 1) {
				gens[i]++;
				write_chunk(i);
				rewritten++;
			}
			if (status_req) {
				status_req = 0;
				hits = have_range ? pages_in_range() : -1;
				printf("# status: rounds %" PRIu64 " checked %" PRIu64
				       " rewritten %" PRIu64 " mismatches %" PRIu64
				       " in_range %ld t %.1f\n", rounds, checked,
				       rewritten, bad_sum, hits, now() - t0);
				fflush(stdout);
			}
		}
		rounds++;
	}
	ksft_print_msg("%" PRIu64 " rounds in %.1fs: %" PRIu64 " chunk checks, %"
		       PRIu64 " rewrites\n", rounds, now() - t0, checked, rewritten);
	if (bad_sum)
		ksft_print_msg("%" PRIu64 " checksum mismatches under load, first in "
			       "chunk %zu\n", bad_sum, first_bad);
	ksft_test_result(bad_sum == 0 && rounds > 0, "checksums_under_load\n");

	for (size_t i = 0; i < nchunks; i++) {
		uint64_t *p = buf + i * chunk_words;
		uint64_t base = i * chunk_words;

		if (checksum(p, chunk_words) != sums[i])
			bad_final++;
		for (size_t w = 0; w < chunk_words; w++) {
			if (p[w] != pattern(gens[i], base + w)) {
				bad_pattern++;
				break;
			}
		}
	}
	if (bad_final || bad_pattern)
		ksft_print_msg("final: %zu chunks with a bad checksum, %zu with "
			       "unexpected data\n", bad_final, bad_pattern);
	ksft_test_result(!bad_final && !bad_pattern, "final_verify\n");
	if (have_range) {
		hits = pages_in_range();
		ksft_print_msg("%ld of %zu pages in range at the end\n", hits, npages);
		ksft_test_result(hits >= 0, "pagemap_at_end\n");
	}
	ksft_finished();
}
