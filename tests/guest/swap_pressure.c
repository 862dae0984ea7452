/*
 * More anonymous memory than the machine has: MIB MiB (first argument) of
 * private anonymous memory, every page written with its own pattern, then
 * read back, newest first (the order that keeps the swap traffic to what
 * did not fit, so the test stays short where swap is slow). With "fork"
 * as the second argument, a child reads them all first, while the parent
 * still maps them (the pages are shared: reclaim takes them through the
 * swap cache), then the parent. With swap, the pages that do
 * not fit go to swap and come back; without enough memory and swap the
 * kernel's OOM killer ends the program. Prints the pages checked and, where
 * /proc/vmstat has them, the swap counters (pages out and in, major faults,
 * pages read ahead and those a fault found, pages reclaimed by kswapd and
 * directly); exits 0 when every page read what was written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmstat.h"

#define PAGE 4096UL

static uint64_t pattern(size_t page, size_t word)
{
	return ((uint64_t)page << 20) ^ (word * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a;
}

static size_t check(const uint64_t *mem, size_t pages, int reverse)
{
	size_t bad = 0;

	for (size_t n = 0; n < pages; n++) {
		size_t i = reverse ? pages - 1 - n : n;
		const uint64_t *p = mem + i * (PAGE / 8);
		/* The first, a middle and the last word of the page. */
		if (p[0] != pattern(i, 0) || p[255] != pattern(i, 255) || p[511] != pattern(i, 511)) {
			if (bad++ < 5)
				printf("page %zu reads %#llx, want %#llx\n", i, (unsigned long long)p[0], (unsigned long long)pattern(i, 0));
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 16;
	size_t pages = mib * (1 << 20) / PAGE;
	unsigned long out0 = vmstat("pswpout"), in0 = vmstat("pswpin"), maj0 = vmstat("pgmajfault");
	unsigned long ra0 = vmstat("swap_ra"), hit0 = vmstat("swap_ra_hit");
	unsigned long kswapd0 = vmstat("pgsteal_kswapd"), direct0 = vmstat("pgsteal_direct");
	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (size_t i = 0; i < pages; i++) {
		uint64_t *p = mem + i * (PAGE / 8);
		p[0] = pattern(i, 0);
		p[255] = pattern(i, 255);
		p[511] = pattern(i, 511);
	}
	if (argc > 2 && !strcmp(argv[2], "fork")) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0)
			_exit(check(mem, pages, 1) ? 1 : 0);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			printf("child: status %#x\n", status);
			return 1;
		}
		printf("child: %zu pages checked, 0 bad\n", pages);
	}
	size_t bad = check(mem, pages, 1);
	printf("%zu MiB: %zu pages checked, %zu bad\n", mib, pages, bad);
	printf("pswpout %lu pswpin %lu pgmajfault %lu swap_ra %lu swap_ra_hit %lu\n", vmstat("pswpout") - out0, vmstat("pswpin") - in0,
	       vmstat("pgmajfault") - maj0, vmstat("swap_ra") - ra0, vmstat("swap_ra_hit") - hit0);
	printf("pgsteal_kswapd %lu pgsteal_direct %lu\n", vmstat("pgsteal_kswapd") - kswapd0, vmstat("pgsteal_direct") - direct0);
	munmap(mem, pages * PAGE);
	return bad ? 1 : 0;
}
