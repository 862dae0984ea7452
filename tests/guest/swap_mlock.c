/*
 * Locked memory under memory pressure: LOCK MiB (first argument) are
 * written and mlock()ed, then PRESSURE MiB (second argument) of other
 * anonymous memory are written and read back twice, more than the machine
 * holds. The locked pages must stay in memory (smaps: no Swap in their
 * VMA) while reclaim sends the others to swap; after munlock(), a second
 * round of pressure may take them too. Every page must read what was
 * written. Prints the locked VMA's swap in kB after each round and the
 * unevictable counters of /proc/vmstat; exits 0 when all is well, 1 on
 * a wrong byte or a locked page in swap, 2 when a call fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmstat.h"

#define PAGE 4096UL

/* The Swap: line of the VMA that starts at addr, in kB (-1: not found). */
static long vma_swap_kb(const void *addr)
{
	char line[256], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int inside = 0;
	long kb = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			inside = !strncmp(line, want, strlen(want));
		else if (inside && sscanf(line, "Swap: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void fill(uint64_t *mem, size_t pages, uint64_t seed)
{
	for (size_t i = 0; i < pages; i++)
		mem[i * (PAGE / 8)] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
}

static size_t bad_pages(const uint64_t *mem, size_t pages, uint64_t seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < pages; i++)
		bad += mem[i * (PAGE / 8)] != (seed ^ (i * 0x9e3779b97f4a7c15ULL));
	return bad;
}

int main(int argc, char **argv)
{
	size_t lock = (argc > 1 ? strtoul(argv[1], NULL, 0) : 4) << 20;
	size_t pressure = (argc > 2 ? strtoul(argv[2], NULL, 0) : 32) << 20;
	uint64_t *locked = mmap(NULL, lock, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *other = mmap(NULL, pressure, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t bad = 0;

	if (locked == MAP_FAILED || other == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	/*
	 * Small pages, so that the reclaim of each is seen; MADV_DONTFORK
	 * keeps the locked VMA from merging with the other once unlocked.
	 */
	madvise(locked, lock, MADV_NOHUGEPAGE);
	madvise(locked, lock, MADV_DONTFORK);
	madvise(other, pressure, MADV_NOHUGEPAGE);
	fill(locked, lock / PAGE, 0x10c4);
	if (mlock(locked, lock)) {
		perror("mlock");
		return 2;
	}
	for (int round = 0; round < 2; round++) {
		if (round == 1 && munlock(locked, lock)) {
			perror("munlock");
			return 2;
		}
		fill(other, pressure / PAGE, 0x07e4 + round);
		bad += bad_pages(other, pressure / PAGE, 0x07e4 + round);
		printf("round %d: locked VMA swap %ld kB\n", round, vma_swap_kb(locked));
	}
	bad += bad_pages(locked, lock / PAGE, 0x10c4);
	printf("unevictable_pgs_culled %lu unevictable_pgs_rescued %lu pswpout %lu\n", vmstat("unevictable_pgs_culled"),
	       vmstat("unevictable_pgs_rescued"), vmstat("pswpout"));
	printf("%zu bad pages\n", bad);
	return bad ? 1 : 0;
}
